package io.tidewater.flink;

import java.io.IOException;
import java.util.Objects;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/** A flushed write session, handed from a writer to the committer at a checkpoint. */
public final class TidewaterCommittable {
    public final String project;
    public final String table;
    public final String sessionId;
    public final int subtask;
    public final long rows;

    public TidewaterCommittable(String project, String table, String sessionId, int subtask, long rows) {
        this.project = project;
        this.table = table;
        this.sessionId = sessionId;
        this.subtask = subtask;
        this.rows = rows;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TidewaterCommittable && ((TidewaterCommittable) o).sessionId.equals(sessionId);
    }

    @Override
    public int hashCode() {
        return Objects.hash(sessionId);
    }

    @Override
    public String toString() {
        return "session " + sessionId + " of " + project + "." + table + " (subtask " + subtask + ", " + rows
                + " rows)";
    }

    /** Version 1: project, table, session id, subtask, rows. */
    public static final class Serializer implements SimpleVersionedSerializer<TidewaterCommittable> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(TidewaterCommittable c) throws IOException {
            DataOutputSerializer out = new DataOutputSerializer(128);
            out.writeUTF(c.project);
            out.writeUTF(c.table);
            out.writeUTF(c.sessionId);
            out.writeInt(c.subtask);
            out.writeLong(c.rows);
            return out.getCopyOfBuffer();
        }

        @Override
        public TidewaterCommittable deserialize(int version, byte[] bytes) throws IOException {
            if (version != 1) {
                throw new IOException("unknown Tidewater committable version " + version);
            }
            DataInputDeserializer in = new DataInputDeserializer(bytes);
            return new TidewaterCommittable(in.readUTF(), in.readUTF(), in.readUTF(), in.readInt(), in.readLong());
        }
    }
}
