package io.tidewater.flink;

import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.connector.sink.abilities.SupportsPartitioning;
import org.apache.flink.types.RowKind;

/** The SQL sink: insert-only or upsert changelog, written through {@link TidewaterSink}. */
final class TidewaterDynamicTableSink implements DynamicTableSink, SupportsPartitioning {
    private final String name;
    private final SinkSpec.Builder builder;
    private SinkSpec spec;
    private final Map<String, String> staticPartition = new LinkedHashMap<>();

    TidewaterDynamicTableSink(String name, SinkSpec.Builder builder, SinkSpec spec) {
        this.name = name;
        this.builder = builder;
        this.spec = spec;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requested) {
        // Insert-only input needs no upsert handling (and so no ON CONFLICT clause), even when the
        // table has a primary key: an insert of an existing key replaces it on a Delta table.
        if (!spec.upsert || requested.containsOnly(RowKind.INSERT)) {
            return ChangelogMode.insertOnly();
        }
        return ChangelogMode.newBuilder().addContainedKind(RowKind.INSERT).addContainedKind(RowKind.UPDATE_AFTER)
                .addContainedKind(RowKind.DELETE).build();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        return SinkV2Provider.of(new TidewaterSink(spec), spec.parallelism);
    }

    @Override
    public void applyStaticPartition(Map<String, String> partition) {
        if (partition.isEmpty()) {
            return;
        }
        staticPartition.putAll(partition);
        try {
            SinkSpec.Builder b = copyBuilder().staticPartition(staticPartition);
            spec = b.build();
        } catch (IllegalArgumentException e) {
            throw new ValidationException("Tidewater sink for '" + name + "': " + e.getMessage(), e);
        }
    }

    private SinkSpec.Builder copyBuilder() {
        SinkSpec.Builder b = new SinkSpec.Builder();
        b.client = builder.client;
        b.commitClient = builder.commitClient;
        b.project = builder.project;
        b.table = builder.table;
        b.upsert = builder.upsert;
        b.rowType = builder.rowType;
        b.flinkPrimaryKey = builder.flinkPrimaryKey;
        b.fixedPartition = new LinkedHashMap<>(builder.fixedPartition);
        b.expectedBuckets = builder.expectedBuckets;
        b.timeZone = builder.timeZone;
        b.writerBufferBytes = builder.writerBufferBytes;
        b.bucketBufferBytes = builder.bucketBufferBytes;
        b.lifecycleHours = builder.lifecycleHours;
        b.commitMaxRetries = builder.commitMaxRetries;
        b.defaultPartitionValue = builder.defaultPartitionValue;
        b.dynamicPartitionLimit = builder.dynamicPartitionLimit;
        b.groupByPartition = builder.groupByPartition;
        b.parallelism = builder.parallelism;
        return b;
    }

    @Override
    public DynamicTableSink copy() {
        TidewaterDynamicTableSink c = new TidewaterDynamicTableSink(name, builder, spec);
        c.staticPartition.putAll(staticPartition);
        return c;
    }

    @Override
    public String asSummaryString() {
        return "Tidewater(" + spec.project + "." + spec.table + ", " + spec.sessionKind() + ")";
    }
}
