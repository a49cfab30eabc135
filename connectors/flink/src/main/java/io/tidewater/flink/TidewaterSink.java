package io.tidewater.flink;

import java.io.IOException;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.Partitioner;
import org.apache.flink.api.connector.sink2.Committer;
import org.apache.flink.api.connector.sink2.CommitterInitContext;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.api.connector.sink2.SupportsCommitter;
import org.apache.flink.api.connector.sink2.SupportsWriterState;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.streaming.api.connector.sink2.SupportsPreWriteTopology;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamSink;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.logical.RowType;

/**
 * The Tidewater sink (Sink V2, two-phase): rows are routed by the frozen bucket hash so that each
 * bucket has exactly one writer; writers flush one session per checkpoint and the committer
 * commits it after the checkpoint completes. Exactly-once in insert and upsert mode.
 */
public final class TidewaterSink implements Sink<RowData>, SupportsCommitter<TidewaterCommittable>,
        SupportsWriterState<RowData, TidewaterWriterState>, SupportsPreWriteTopology<RowData> {
    private static final long serialVersionUID = 1L;
    private final SinkSpec spec;

    public TidewaterSink(SinkSpec spec) {
        this.spec = spec;
    }

    public SinkSpec spec() {
        return spec;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public TidewaterWriter createWriter(WriterInitContext context) throws IOException {
        return new TidewaterWriter(spec, context.getTaskInfo().getIndexOfThisSubtask(), Collections.emptyList());
    }

    @Override
    public StatefulSinkWriter<RowData, TidewaterWriterState> restoreWriter(WriterInitContext context,
            Collection<TidewaterWriterState> states) throws IOException {
        return new TidewaterWriter(spec, context.getTaskInfo().getIndexOfThisSubtask(), states);
    }

    @Override
    public SimpleVersionedSerializer<TidewaterWriterState> getWriterStateSerializer() {
        return new TidewaterWriterState.Serializer();
    }

    @Override
    public Committer<TidewaterCommittable> createCommitter(CommitterInitContext context) {
        return new TidewaterCommitter(spec);
    }

    @Override
    public SimpleVersionedSerializer<TidewaterCommittable> getCommittableSerializer() {
        return new TidewaterCommittable.Serializer();
    }

    @Override
    public DataStream<RowData> addPreWriteTopology(DataStream<RowData> input) {
        if (!spec.delta) {
            // Standard tables have no key and one bucket: any writer may append any row.
            return input;
        }
        return input.partitionCustom(new ModuloPartitioner(), new RouteKey(spec));
    }

    /** Writer index = routing key mod parallelism. */
    static final class ModuloPartitioner implements Partitioner<Integer> {
        private static final long serialVersionUID = 1L;

        @Override
        public int partition(Integer key, int numPartitions) {
            return Math.floorMod(key, numPartitions);
        }
    }

    /** The bucket of a row (or, with sink.group-partition.enable, a hash of its partition). */
    static final class RouteKey implements KeySelector<RowData, Integer> {
        private static final long serialVersionUID = 1L;
        private final SinkSpec spec;
        private transient RowEncoder encoder;

        RouteKey(SinkSpec spec) {
            this.spec = spec;
        }

        @Override
        public Integer getKey(RowData row) {
            if (encoder == null) {
                encoder = new RowEncoder(spec);
            }
            if (spec.groupByPartition && spec.dynamicPartitions()) {
                return encoder.partitionSpec(row).hashCode() & Integer.MAX_VALUE;
            }
            return encoder.bucket(row);
        }
    }

    /**
     * DataStream builder: {@code TidewaterSink.builder().option("endpoint", url).option("table.name", "t")
     * .option("sink.operation", "upsert").rowType(rowType).build()}, then {@link #sinkTo}. Options
     * are those of the SQL connector; unknown or invalid ones fail at {@link #build()}.
     */
    public static final class Builder {
        private final Map<String, String> options = new LinkedHashMap<>();
        private RowType rowType;
        private List<String> primaryKey;

        public Builder option(String key, String value) {
            options.put(key, value);
            return this;
        }

        public Builder options(Map<String, String> all) {
            options.putAll(all);
            return this;
        }

        public Builder endpoint(String url) {
            return option(TidewaterOptions.ENDPOINT.key(), url);
        }

        public Builder table(String name) {
            return option(TidewaterOptions.TABLE_NAME.key(), name);
        }

        public Builder credentials(String accessId, String accessKey) {
            option(TidewaterOptions.ACCESS_ID.key(), accessId);
            return option(TidewaterOptions.ACCESS_KEY.key(), accessKey);
        }

        public Builder operation(String op) {
            return option(TidewaterOptions.SINK_OPERATION.key(), op);
        }

        /** The Flink row type of the stream's RowData (names must match the table's columns). */
        public Builder rowType(RowType type) {
            this.rowType = type;
            return this;
        }

        /** Optional: checked against the table's primary key. */
        public Builder primaryKey(List<String> names) {
            this.primaryKey = names;
            return this;
        }

        public TidewaterSink build() {
            List<String> known = TidewaterOptions.allKeys();
            for (String k : options.keySet()) {
                if (!known.contains(k)) {
                    throw new IllegalArgumentException("unknown Tidewater sink option '" + k + "'; supported: "
                            + String.join(", ", known));
                }
            }
            if (rowType == null) {
                throw new IllegalArgumentException("the row type of the stream is required (rowType(...))");
            }
            Configuration conf = Configuration.fromMap(options);
            for (ConfigOption<?> o : TidewaterOptions.optional()) {
                try {
                    conf.getOptional(o);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("invalid value for option '" + o.key() + "': "
                            + e.getMessage(), e);
                }
            }
            SinkSpec.Builder b = SinkSpec.Builder.fromOptions(conf).rowType(rowType).primaryKey(primaryKey);
            return new TidewaterSink(b.build());
        }

        /** Builds the sink and attaches it to {@code stream} (with sink.parallelism if set). */
        public DataStreamSink<RowData> sinkTo(DataStream<RowData> stream) {
            TidewaterSink sink = build();
            DataStreamSink<RowData> out = stream.sinkTo(sink).name("Tidewater: " + sink.spec.project + "."
                    + sink.spec.table);
            if (sink.spec.parallelism != null) {
                out.setParallelism(sink.spec.parallelism);
            }
            return out;
        }
    }
}
