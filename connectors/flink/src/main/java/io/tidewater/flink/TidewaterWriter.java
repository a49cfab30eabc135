package io.tidewater.flink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.flink.api.connector.sink2.CommittingSinkWriter;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.table.data.RowData;
import org.apache.flink.types.RowKind;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the rows of its buckets into one write session per checkpoint interval: rows are
 * buffered per bucket and uploaded as numbered NDJSON blocks; at a checkpoint every buffer is
 * flushed and the session is handed to the committer, which commits it once the checkpoint has
 * completed.
 */
final class TidewaterWriter implements CommittingSinkWriter<RowData, TidewaterCommittable>,
        StatefulSinkWriter<RowData, TidewaterWriterState> {
    private static final Logger LOG = LoggerFactory.getLogger(TidewaterWriter.class);
    /** Replace an unused session this long before it expires. */
    private static final long EXPIRY_MARGIN_MS = 30 * 60 * 1000L;

    private final SinkSpec spec;
    private final int subtask;
    private final TidewaterClient client;
    private final RowEncoder encoder;
    private final StringBuilder[] buffers;
    private final long[] nextBlock;
    private long buffered;
    private final Set<String> partitions = new HashSet<>();

    private String sessionId;
    private long sessionExpiresMs;
    private long sessionRows;
    private boolean sessionHasBlocks;

    TidewaterWriter(SinkSpec spec, int subtask, Collection<TidewaterWriterState> restored) throws IOException {
        this.spec = spec;
        this.subtask = subtask;
        this.client = new TidewaterClient(spec.client);
        this.encoder = new RowEncoder(spec);
        this.buffers = new StringBuilder[spec.bucketNum];
        this.nextBlock = new long[spec.bucketNum];
        for (TidewaterWriterState s : restored) {
            abortQuietly(s.project, s.table, s.openSessionId, "restored from a checkpoint");
        }
        openSession();
    }

    private void openSession() throws IOException {
        Map<String, Object> info = client.createSession(spec.project, spec.table, spec.sessionKind(),
                spec.staticPartition, spec.dynamicPartitions(), spec.lifecycleHours);
        sessionId = (String) info.get("session_id");
        sessionExpiresMs = ((Number) info.get("expires_ms")).longValue();
        sessionRows = 0;
        sessionHasBlocks = false;
        java.util.Arrays.fill(nextBlock, 0);
        partitions.clear();
        LOG.info("subtask {} opened {} session {} on {}.{}", subtask, spec.sessionKind(), sessionId, spec.project,
                spec.table);
    }

    private void abortQuietly(String project, String table, String id, String why) {
        try {
            client.abort(project, table, id);
            LOG.info("subtask {} aborted session {} ({})", subtask, id, why);
        } catch (IOException e) {
            // Committed (409), unknown or expired sessions: nothing to undo.
            LOG.info("subtask {} did not abort session {} ({}): {}", subtask, id, why, e.getMessage());
        }
    }

    @Override
    public void write(RowData row, Context context) throws IOException {
        RowKind kind = row.getRowKind();
        if (kind == RowKind.UPDATE_BEFORE) {
            return; // the UPDATE_AFTER that follows carries the new row
        }
        boolean delete = kind == RowKind.DELETE;
        if (delete && !spec.upsert) {
            throw new IOException("sink.operation 'insert' cannot apply a DELETE to " + spec.project + "."
                    + spec.table + ": use 'upsert'");
        }
        if (sessionId == null) {
            openSession();
        }
        if (spec.dynamicPartitions() && partitions.add(encoder.partitionSpec(row))
                && partitions.size() > spec.dynamicPartitionLimit) {
            throw new IOException("more than sink.dynamic-partition.limit = " + spec.dynamicPartitionLimit
                    + " partitions written by one writer within one checkpoint");
        }
        int bucket = encoder.bucket(row);
        StringBuilder buf = buffers[bucket];
        if (buf == null) {
            buf = buffers[bucket] = new StringBuilder(4096);
        }
        int before = buf.length();
        encoder.appendLine(buf, row, delete);
        buffered += buf.length() - before;
        sessionRows++;
        if (buf.length() >= spec.bucketBufferBytes) {
            flushBucket(bucket);
        }
        if (buffered >= spec.writerBufferBytes) {
            flushAll();
        }
    }

    private void flushBucket(int bucket) throws IOException {
        StringBuilder buf = buffers[bucket];
        if (buf == null || buf.length() == 0) {
            return;
        }
        byte[] body = buf.toString().getBytes(StandardCharsets.UTF_8);
        client.putBlock(spec.project, spec.table, sessionId, bucket, nextBlock[bucket], body);
        nextBlock[bucket]++;
        sessionHasBlocks = true;
        buffered -= buf.length();
        buf.setLength(0);
    }

    private void flushAll() throws IOException {
        for (int b = 0; b < buffers.length; b++) {
            flushBucket(b);
        }
        buffered = 0;
    }

    @Override
    public void flush(boolean endOfInput) throws IOException {
        flushAll();
    }

    @Override
    public Collection<TidewaterCommittable> prepareCommit() throws IOException {
        flushAll();
        if (!sessionHasBlocks) {
            return Collections.emptyList(); // keep using the empty session
        }
        TidewaterCommittable c = new TidewaterCommittable(spec.project, spec.table, sessionId, subtask, sessionRows);
        sessionId = null;
        return List.of(c);
    }

    @Override
    public List<TidewaterWriterState> snapshotState(long checkpointId) throws IOException {
        if (sessionId != null && !sessionHasBlocks && System.currentTimeMillis() > sessionExpiresMs - EXPIRY_MARGIN_MS) {
            abortQuietly(spec.project, spec.table, sessionId, "unused and about to expire");
            sessionId = null;
        }
        if (sessionId == null) {
            openSession(); // before the checkpoint, so a restore knows (and aborts) it
        }
        List<TidewaterWriterState> out = new ArrayList<>(1);
        out.add(new TidewaterWriterState(spec.project, spec.table, sessionId));
        return out;
    }

    @Override
    public void close() {
        if (sessionId != null) {
            abortQuietly(spec.project, spec.table, sessionId, "writer closed");
            sessionId = null;
        }
        client.close();
    }
}
