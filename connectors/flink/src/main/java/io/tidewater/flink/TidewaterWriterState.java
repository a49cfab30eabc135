package io.tidewater.flink;

import java.io.IOException;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/**
 * A writer's checkpointed state: the session it writes the rows that follow the checkpoint into.
 * That session is opened before the checkpoint is taken, so after a restore from this checkpoint
 * the new writer knows it and aborts it: its blocks belong to an attempt that never reached a
 * completed checkpoint and must never be committed.
 */
public final class TidewaterWriterState {
    public final String project;
    public final String table;
    public final String openSessionId;

    public TidewaterWriterState(String project, String table, String openSessionId) {
        this.project = project;
        this.table = table;
        this.openSessionId = openSessionId;
    }

    /** Version 1: project, table, open session id. */
    public static final class Serializer implements SimpleVersionedSerializer<TidewaterWriterState> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(TidewaterWriterState s) throws IOException {
            DataOutputSerializer out = new DataOutputSerializer(96);
            out.writeUTF(s.project);
            out.writeUTF(s.table);
            out.writeUTF(s.openSessionId);
            return out.getCopyOfBuffer();
        }

        @Override
        public TidewaterWriterState deserialize(int version, byte[] bytes) throws IOException {
            if (version != 1) {
                throw new IOException("unknown Tidewater writer state version " + version);
            }
            DataInputDeserializer in = new DataInputDeserializer(bytes);
            return new TidewaterWriterState(in.readUTF(), in.readUTF(), in.readUTF());
        }
    }
}
