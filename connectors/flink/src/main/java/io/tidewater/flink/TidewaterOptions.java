package io.tidewater.flink;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;

/** Options of the Tidewater sink (SQL {@code WITH} clause and DataStream builder). */
public final class TidewaterOptions {
    private TidewaterOptions() {}

    public static final ConfigOption<String> TABLE_NAME = ConfigOptions.key("table.name").stringType()
            .noDefaultValue().withDescription("Target table, [project.]table.");
    public static final ConfigOption<String> ENDPOINT = ConfigOptions.key("endpoint").stringType()
            .noDefaultValue().withFallbackKeys("odps.end.point")
            .withDescription("Base URL of the Tidewater server, e.g. http://127.0.0.1:8470.");
    public static final ConfigOption<String> PROJECT = ConfigOptions.key("project").stringType()
            .noDefaultValue().withFallbackKeys("odps.project.name")
            .withDescription("Project of the table when table.name has none (default: 'default').");
    public static final ConfigOption<String> ACCESS_ID = ConfigOptions.key("access-id").stringType()
            .noDefaultValue().withFallbackKeys("odps.access.id")
            .withDescription("Access id (default: the TIDEWATER_ACCESS_ID environment variable).");
    public static final ConfigOption<String> ACCESS_KEY = ConfigOptions.key("access-key").stringType()
            .noDefaultValue().withFallbackKeys("odps.access.key")
            .withDescription("Access key secret (default: the TIDEWATER_ACCESS_KEY environment variable).");

    public static final ConfigOption<String> SINK_OPERATION = ConfigOptions.key("sink.operation").stringType()
            .defaultValue("insert").withDescription("insert or upsert (Delta tables only).");
    public static final ConfigOption<Integer> SINK_PARALLELISM = ConfigOptions.key("sink.parallelism").intType()
            .noDefaultValue();
    public static final ConfigOption<String> SINK_PARTITION = ConfigOptions.key("sink.partition").stringType()
            .noDefaultValue().withDescription("Static partition (dd=01/hh=02 or dd=01,hh=02), or its parent.");
    public static final ConfigOption<String> SINK_PARTITION_DEFAULT_VALUE =
            ConfigOptions.key("sink.partition.default-value").stringType().defaultValue("__DEFAULT_PARTITION__");
    public static final ConfigOption<Integer> SINK_DYNAMIC_PARTITION_LIMIT =
            ConfigOptions.key("sink.dynamic-partition.limit").intType().defaultValue(100);
    public static final ConfigOption<Boolean> SINK_GROUP_PARTITION_ENABLE =
            ConfigOptions.key("sink.group-partition.enable").booleanType().defaultValue(false);
    public static final ConfigOption<String> SINK_TIME_ZONE = ConfigOptions.key("sink.timestamp.time-zone")
            .stringType().defaultValue("UTC")
            .withDescription("Zone in which zone-less TIMESTAMP values are read when the column is an instant.");
    public static final ConfigOption<Integer> SINK_SESSION_LIFECYCLE_HOURS =
            ConfigOptions.key("sink.session.lifecycle-hours").intType().defaultValue(24);
    public static final ConfigOption<Integer> SINK_REQUEST_TIMEOUT =
            ConfigOptions.key("sink.request.timeout").intType().defaultValue(120)
                    .withDescription("Timeout of one HTTP request, in seconds.");

    public static final ConfigOption<Boolean> FILE_CACHED_ENABLE =
            ConfigOptions.key("sink.file-cached.enable").booleanType().defaultValue(false);
    public static final ConfigOption<String> FILE_CACHED_TMP_DIRS =
            ConfigOptions.key("sink.file-cached.tmp.dirs").stringType().defaultValue("./local");
    public static final ConfigOption<Integer> FILE_CACHED_WRITER_NUM =
            ConfigOptions.key("sink.file-cached.writer.num").intType().defaultValue(16);
    public static final ConfigOption<MemorySize> FILE_CACHED_ROLLING_MAX_SIZE =
            ConfigOptions.key("sink.file-cached.rolling.max-size").memoryType().defaultValue(MemorySize.parse("16m"));
    public static final ConfigOption<MemorySize> FILE_CACHED_MEMORY =
            ConfigOptions.key("sink.file-cached.memory").memoryType().defaultValue(MemorySize.parse("64m"));
    public static final ConfigOption<Integer> FILE_CACHED_WRITE_MAX_RETRIES =
            ConfigOptions.key("sink.file-cached.write.max-retries").intType().defaultValue(3);

    public static final ConfigOption<Integer> UPSERT_WRITE_BUCKET_NUM =
            ConfigOptions.key("upsert.write.bucket.num").intType().noDefaultValue()
                    .withDescription("Must equal the table's write.bucket.num (checked at start).");
    public static final ConfigOption<Integer> UPSERT_WRITER_MAX_RETRIES =
            ConfigOptions.key("upsert.writer.max-retries").intType().defaultValue(3);
    public static final ConfigOption<MemorySize> UPSERT_WRITER_BUFFER_SIZE =
            ConfigOptions.key("upsert.writer.buffer-size").memoryType().defaultValue(MemorySize.parse("64m"));
    public static final ConfigOption<MemorySize> UPSERT_WRITER_BUCKET_BUFFER_SIZE =
            ConfigOptions.key("upsert.writer.bucket.buffer-size").memoryType().defaultValue(MemorySize.parse("1m"));
    public static final ConfigOption<Integer> UPSERT_WRITE_SLOT_NUM =
            ConfigOptions.key("upsert.write.slot-num").intType().defaultValue(1);
    public static final ConfigOption<Integer> UPSERT_COMMIT_MAX_RETRIES =
            ConfigOptions.key("upsert.commit.max-retries").intType().defaultValue(3);
    public static final ConfigOption<Integer> UPSERT_COMMIT_THREAD_NUM =
            ConfigOptions.key("upsert.commit.thread-num").intType().defaultValue(16);
    public static final ConfigOption<Integer> UPSERT_COMMIT_TIMEOUT =
            ConfigOptions.key("upsert.commit.timeout").intType().defaultValue(600)
                    .withDescription("Timeout of one commit request, in seconds.");
    public static final ConfigOption<Boolean> UPSERT_MAJOR_COMPACT_ENABLE =
            ConfigOptions.key("upsert.major-compact.enable").booleanType().defaultValue(false);
    public static final ConfigOption<Integer> UPSERT_MAJOR_COMPACT_MIN_COMMITS =
            ConfigOptions.key("upsert.major-compact.min-commits").intType().defaultValue(100);
    public static final ConfigOption<Integer> UPSERT_FLUSH_CONCURRENT =
            ConfigOptions.key("upsert.flush.concurrent").intType().defaultValue(2);
    public static final ConfigOption<Integer> INSERT_COMMIT_THREAD_NUM =
            ConfigOptions.key("insert.commit.thread-num").intType().defaultValue(16);
    public static final ConfigOption<MemorySize> INSERT_WRITER_BUFFER_SIZE =
            ConfigOptions.key("insert.writer.buffer-size").memoryType().defaultValue(MemorySize.parse("64m"));

    public static Set<ConfigOption<?>> required() {
        return new LinkedHashSet<>(List.of(TABLE_NAME, ENDPOINT));
    }

    public static Set<ConfigOption<?>> optional() {
        return new LinkedHashSet<>(Arrays.asList(PROJECT, ACCESS_ID, ACCESS_KEY, SINK_OPERATION, SINK_PARALLELISM,
                SINK_PARTITION, SINK_PARTITION_DEFAULT_VALUE, SINK_DYNAMIC_PARTITION_LIMIT,
                SINK_GROUP_PARTITION_ENABLE, SINK_TIME_ZONE, SINK_SESSION_LIFECYCLE_HOURS, SINK_REQUEST_TIMEOUT,
                FILE_CACHED_ENABLE, FILE_CACHED_TMP_DIRS, FILE_CACHED_WRITER_NUM, FILE_CACHED_ROLLING_MAX_SIZE,
                FILE_CACHED_MEMORY, FILE_CACHED_WRITE_MAX_RETRIES, UPSERT_WRITE_BUCKET_NUM,
                UPSERT_WRITER_MAX_RETRIES, UPSERT_WRITER_BUFFER_SIZE, UPSERT_WRITER_BUCKET_BUFFER_SIZE,
                UPSERT_WRITE_SLOT_NUM, UPSERT_COMMIT_MAX_RETRIES, UPSERT_COMMIT_THREAD_NUM, UPSERT_COMMIT_TIMEOUT,
                UPSERT_MAJOR_COMPACT_ENABLE, UPSERT_MAJOR_COMPACT_MIN_COMMITS, UPSERT_FLUSH_CONCURRENT,
                INSERT_COMMIT_THREAD_NUM, INSERT_WRITER_BUFFER_SIZE));
    }

    /** Every key the sink understands (with the reference aliases). */
    public static List<String> allKeys() {
        List<String> keys = new ArrayList<>();
        for (ConfigOption<?> o : required()) {
            keys.add(o.key());
            o.fallbackKeys().forEach(k -> keys.add(k.getKey()));
        }
        for (ConfigOption<?> o : optional()) {
            keys.add(o.key());
            o.fallbackKeys().forEach(k -> keys.add(k.getKey()));
        }
        return keys;
    }
}
