package io.tidewater.flink;

import java.io.IOException;
import java.io.Serializable;
import java.time.Duration;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

/**
 * Everything a writer and committer need, resolved and validated once at start: options, the
 * table's layout as the server describes it, and how each Flink column maps onto it.
 */
public final class SinkSpec implements Serializable {
    private static final long serialVersionUID = 1L;

    final TidewaterClient.Config client;
    final TidewaterClient.Config commitClient;
    final String project;
    final String table;
    final boolean upsert;
    final boolean delta;
    final int bucketNum;
    final RowType rowType;
    /** Flink positions of the columns sent as data, and the server's names and types for them. */
    final int[] dataFields;
    final String[] dataNames;
    final String[] dataServerTypes;
    /** Server partition columns in order; Flink position of each (-1: fixed by sink.partition). */
    final String[] partitionNames;
    final int[] partitionFields;
    final Map<String, String> fixedPartition;
    /** Non-null when every partition column is fixed: the static session partition spec. */
    final String staticPartition;
    final String defaultPartitionValue;
    final int dynamicPartitionLimit;
    final boolean groupByPartition;
    /** Flink positions of the primary-key columns and their server types (Delta tables). */
    final int[] keyFields;
    final String[] keyServerTypes;
    final String timeZone;
    final long writerBufferBytes;
    final long bucketBufferBytes;
    final int lifecycleHours;
    final int commitMaxRetries;
    final Integer parallelism;

    private SinkSpec(Builder b, Map<String, Object> info) {
        this.client = b.client;
        this.commitClient = b.commitClient;
        this.project = b.project;
        this.table = b.table;
        this.upsert = b.upsert;
        this.rowType = b.rowType;
        this.timeZone = b.timeZone;
        this.writerBufferBytes = b.writerBufferBytes;
        this.bucketBufferBytes = b.bucketBufferBytes;
        this.lifecycleHours = b.lifecycleHours;
        this.commitMaxRetries = b.commitMaxRetries;
        this.defaultPartitionValue = b.defaultPartitionValue;
        this.dynamicPartitionLimit = b.dynamicPartitionLimit;
        this.groupByPartition = b.groupByPartition;
        this.parallelism = b.parallelism;
        String where = "table " + project + "." + table;

        this.delta = "delta".equals(info.get("kind"));
        this.bucketNum = ((Number) info.get("bucket_num")).intValue();
        if (upsert && !delta) {
            throw new IllegalArgumentException("sink.operation 'upsert' needs a Delta table (transactional, with a "
                    + "primary key), but " + where + " is a standard table: use 'insert'");
        }
        if (b.expectedBuckets != null && delta && b.expectedBuckets != bucketNum) {
            throw new IllegalArgumentException("upsert.write.bucket.num is " + b.expectedBuckets + " but " + where
                    + " has write.bucket.num = " + bucketNum + ": they must be equal");
        }
        Map<?, ?> schema = (Map<?, ?>) info.get("schema");
        // Server columns by lower-case name.
        Map<String, Map<?, ?>> columns = new LinkedHashMap<>();
        for (Object c : TidewaterClient.list(schema.get("columns"))) {
            Map<?, ?> col = (Map<?, ?>) c;
            columns.put(((String) col.get("name")).toLowerCase(Locale.ROOT), col);
        }
        List<String> partitions = new ArrayList<>();
        for (Object c : TidewaterClient.list(schema.get("partition_columns"))) {
            partitions.add((String) ((Map<?, ?>) c).get("name"));
        }
        List<String> key = new ArrayList<>();
        for (Object k : TidewaterClient.list(schema.get("primary_key"))) {
            key.add((String) k);
        }
        List<String> flinkNames = rowType.getFieldNames();
        Map<String, Integer> flinkIndex = new LinkedHashMap<>();
        for (int i = 0; i < flinkNames.size(); i++) {
            flinkIndex.put(flinkNames.get(i).toLowerCase(Locale.ROOT), i);
        }

        // Partitions: fixed values (sink.partition, INSERT ... PARTITION) or columns of the row.
        this.partitionNames = partitions.toArray(new String[0]);
        this.partitionFields = new int[partitions.size()];
        this.fixedPartition = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : b.fixedPartition.entrySet()) {
            String name = null;
            for (String p : partitions) {
                if (p.equalsIgnoreCase(e.getKey())) {
                    name = p;
                }
            }
            if (name == null) {
                throw new IllegalArgumentException("partition column '" + e.getKey() + "' (in sink.partition or "
                        + "PARTITION) is not a partition column of " + where + "; its partition columns are "
                        + partitions);
            }
            fixedPartition.put(name, e.getValue());
        }
        boolean allFixed = true;
        for (int p = 0; p < partitions.size(); p++) {
            String name = partitions.get(p);
            Integer f = flinkIndex.get(name.toLowerCase(Locale.ROOT));
            partitionFields[p] = f == null ? -1 : f;
            if (f != null && !isString(rowType.getTypeAt(f))) {
                throw new IllegalArgumentException("partition column '" + name + "' must be a STRING/VARCHAR/CHAR "
                        + "column in Flink, not " + rowType.getTypeAt(f));
            }
            if (!fixedPartition.containsKey(name)) {
                allFixed = false;
                if (f == null) {
                    throw new IllegalArgumentException(where + " is partitioned by " + partitions + ": the Flink "
                            + "table needs the column '" + name + "' or a value for it in sink.partition");
                }
            }
        }
        if (!partitions.isEmpty() && allFixed) {
            StringBuilder spec = new StringBuilder();
            for (String p : partitions) {
                if (spec.length() > 0) {
                    spec.append('/');
                }
                spec.append(p).append('=').append(fixedPartition.get(p));
            }
            this.staticPartition = spec.toString();
        } else {
            this.staticPartition = null;
        }

        // Data columns: every Flink column that is not a partition column must be a table column.
        List<Integer> dataF = new ArrayList<>();
        List<String> dataN = new ArrayList<>();
        List<String> dataT = new ArrayList<>();
        for (int i = 0; i < flinkNames.size(); i++) {
            String lower = flinkNames.get(i).toLowerCase(Locale.ROOT);
            boolean isPartition = partitions.stream().anyMatch(p -> p.equalsIgnoreCase(lower));
            if (isPartition) {
                continue;
            }
            Map<?, ?> col = columns.get(lower);
            if (col == null) {
                throw new IllegalArgumentException("column '" + flinkNames.get(i) + "' of the Flink table is not a "
                        + "column of " + where + " (its columns are " + columnNames(columns) + ", partition columns "
                        + partitions + ")");
            }
            String serverType = (String) col.get("type");
            LogicalType ft = rowType.getTypeAt(i);
            if (!compatible(ft, serverType)) {
                throw new IllegalArgumentException("column '" + flinkNames.get(i) + "' has Flink type " + ft
                        + ", which does not map to the table's type " + serverType
                        + " (see the type mapping in connectors/flink/README.md)");
            }
            dataF.add(i);
            dataN.add((String) col.get("name"));
            dataT.add(serverType);
        }
        for (Map<?, ?> col : columns.values()) {
            if (Boolean.FALSE.equals(col.get("nullable"))
                    && !flinkIndex.containsKey(((String) col.get("name")).toLowerCase(Locale.ROOT))) {
                throw new IllegalArgumentException("the NOT NULL column '" + col.get("name") + "' of " + where
                        + " is missing from the Flink table");
            }
        }
        this.dataFields = dataF.stream().mapToInt(Integer::intValue).toArray();
        this.dataNames = dataN.toArray(new String[0]);
        this.dataServerTypes = dataT.toArray(new String[0]);

        // Primary key: must agree with the Flink PRIMARY KEY when both exist.
        if (b.flinkPrimaryKey != null && !b.flinkPrimaryKey.isEmpty()) {
            if (!delta) {
                if (upsert) {
                    throw new IllegalArgumentException(where + " has no primary key");
                }
            } else if (!sameNames(b.flinkPrimaryKey, key)) {
                throw new IllegalArgumentException("the Flink PRIMARY KEY " + b.flinkPrimaryKey
                        + " differs from the primary key " + key + " of " + where);
            }
        }
        this.keyFields = new int[delta ? key.size() : 0];
        this.keyServerTypes = new String[keyFields.length];
        for (int k = 0; k < keyFields.length; k++) {
            Integer f = flinkIndex.get(key.get(k).toLowerCase(Locale.ROOT));
            keyFields[k] = f;
            keyServerTypes[k] = (String) columns.get(key.get(k).toLowerCase(Locale.ROOT)).get("type");
            if (!RowEncoder.hashable(keyServerTypes[k])) {
                throw new IllegalArgumentException("primary-key column '" + key.get(k) + "' has type "
                        + keyServerTypes[k] + ", which the connector cannot hash");
            }
        }
    }

    private static String columnNames(Map<String, Map<?, ?>> columns) {
        List<Object> names = new ArrayList<>();
        columns.values().forEach(c -> names.add(c.get("name")));
        return names.toString();
    }

    private static boolean sameNames(List<String> a, List<String> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (String x : a) {
            if (b.stream().noneMatch(y -> y.equalsIgnoreCase(x))) {
                return false;
            }
        }
        return true;
    }

    static boolean isString(LogicalType t) {
        return t.getTypeRoot() == LogicalTypeRoot.VARCHAR || t.getTypeRoot() == LogicalTypeRoot.CHAR;
    }

    /** Whether a Flink type may be written into a column of the given server type. */
    static boolean compatible(LogicalType t, String serverType) {
        String s = serverType.toUpperCase(Locale.ROOT);
        switch (t.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                return s.equals("STRING") || s.startsWith("VARCHAR") || s.startsWith("CHAR");
            case BOOLEAN: return s.equals("BOOLEAN");
            case TINYINT: return s.equals("TINYINT");
            case SMALLINT: return s.equals("SMALLINT");
            case INTEGER: return s.equals("INT");
            case BIGINT: return s.equals("BIGINT");
            case FLOAT: return s.equals("FLOAT");
            case DOUBLE: return s.equals("DOUBLE");
            case DECIMAL: return s.startsWith("DECIMAL");
            case DATE: return s.equals("DATE");
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                return s.equals("DATETIME") || s.equals("TIMESTAMP");
            case BINARY:
            case VARBINARY:
                return s.equals("BINARY");
            case ARRAY: return s.startsWith("ARRAY<");
            case MAP: return s.startsWith("MAP<");
            case ROW: return s.startsWith("STRUCT<");
            default: return false;
        }
    }

    boolean dynamicPartitions() {
        return partitionNames.length > 0 && staticPartition == null;
    }

    String sessionKind() {
        return upsert ? "upsert" : "insert";
    }

    /** Builds and validates a spec (calls the server's describe-table endpoint). */
    public static final class Builder {
        TidewaterClient.Config client;
        TidewaterClient.Config commitClient;
        String project;
        String table;
        boolean upsert;
        RowType rowType;
        List<String> flinkPrimaryKey;
        Map<String, String> fixedPartition = new LinkedHashMap<>();
        Integer expectedBuckets;
        String timeZone;
        long writerBufferBytes;
        long bucketBufferBytes;
        int lifecycleHours;
        int commitMaxRetries;
        String defaultPartitionValue;
        int dynamicPartitionLimit;
        boolean groupByPartition;
        Integer parallelism;

        /** Reads and checks the options (no server call). */
        public static Builder fromOptions(ReadableConfig o) {
            Builder b = new Builder();
            String tableName = o.get(TidewaterOptions.TABLE_NAME);
            if (tableName == null || tableName.isBlank()) {
                throw new IllegalArgumentException("the option 'table.name' is required ([project.]table)");
            }
            String[] parts = tableName.split("\\.");
            if (parts.length > 2) {
                throw new IllegalArgumentException("table.name '" + tableName + "' must be [project.]table");
            }
            String projectOpt = o.getOptional(TidewaterOptions.PROJECT).orElse(null);
            b.project = parts.length == 2 ? parts[0] : (projectOpt == null ? "default" : projectOpt);
            b.table = parts[parts.length - 1];
            checkName("project", b.project);
            checkName("table", b.table);
            String endpoint = o.getOptional(TidewaterOptions.ENDPOINT).orElse(null);
            if (endpoint == null || !(endpoint.startsWith("http://") || endpoint.startsWith("https://"))) {
                throw new IllegalArgumentException("the option 'endpoint' (or 'odps.end.point') must be an http:// "
                        + "or https:// URL, got " + (endpoint == null ? "nothing" : "'" + endpoint + "'"));
            }
            String id = o.getOptional(TidewaterOptions.ACCESS_ID).orElse(System.getenv("TIDEWATER_ACCESS_ID"));
            String key = o.getOptional(TidewaterOptions.ACCESS_KEY).orElse(System.getenv("TIDEWATER_ACCESS_KEY"));
            if (id == null || id.isEmpty() || key == null || key.isEmpty()) {
                throw new IllegalArgumentException("credentials missing: set 'access-id' and 'access-key' (or "
                        + "'odps.access.id' and 'odps.access.key', or the TIDEWATER_ACCESS_ID/_KEY environment)");
            }
            String op = o.get(TidewaterOptions.SINK_OPERATION).toLowerCase(Locale.ROOT);
            if (!op.equals("insert") && !op.equals("upsert")) {
                throw new IllegalArgumentException("sink.operation must be 'insert' or 'upsert', got '" + op + "'");
            }
            b.upsert = op.equals("upsert");
            int timeout = positive(o, TidewaterOptions.SINK_REQUEST_TIMEOUT);
            int writerRetries = nonNegative(o, TidewaterOptions.UPSERT_WRITER_MAX_RETRIES);
            b.client = new TidewaterClient.Config(endpoint, id, key, writerRetries, Duration.ofSeconds(timeout));
            b.commitMaxRetries = nonNegative(o, TidewaterOptions.UPSERT_COMMIT_MAX_RETRIES);
            int commitTimeout = positive(o, TidewaterOptions.UPSERT_COMMIT_TIMEOUT);
            b.commitClient = new TidewaterClient.Config(endpoint, id, key, b.commitMaxRetries,
                    Duration.ofSeconds(commitTimeout));
            b.fixedPartition = parsePartition(o.getOptional(TidewaterOptions.SINK_PARTITION).orElse(null));
            b.defaultPartitionValue = o.get(TidewaterOptions.SINK_PARTITION_DEFAULT_VALUE);
            b.dynamicPartitionLimit = positive(o, TidewaterOptions.SINK_DYNAMIC_PARTITION_LIMIT);
            b.groupByPartition = o.get(TidewaterOptions.SINK_GROUP_PARTITION_ENABLE);
            b.expectedBuckets = o.getOptional(TidewaterOptions.UPSERT_WRITE_BUCKET_NUM).orElse(null);
            if (b.expectedBuckets != null && b.expectedBuckets < 1) {
                throw new IllegalArgumentException("upsert.write.bucket.num must be at least 1");
            }
            b.timeZone = o.get(TidewaterOptions.SINK_TIME_ZONE);
            try {
                ZoneId.of(b.timeZone);
            } catch (Exception e) {
                throw new IllegalArgumentException("sink.timestamp.time-zone '" + b.timeZone + "' is not a time zone "
                        + "(e.g. UTC, Asia/Shanghai, +08:00)");
            }
            b.writerBufferBytes = (b.upsert ? o.get(TidewaterOptions.UPSERT_WRITER_BUFFER_SIZE)
                    : o.get(TidewaterOptions.INSERT_WRITER_BUFFER_SIZE)).getBytes();
            b.bucketBufferBytes = o.get(TidewaterOptions.UPSERT_WRITER_BUCKET_BUFFER_SIZE).getBytes();
            if (b.writerBufferBytes < 1 || b.bucketBufferBytes < 1) {
                throw new IllegalArgumentException("writer buffer sizes must be positive");
            }
            b.lifecycleHours = positive(o, TidewaterOptions.SINK_SESSION_LIFECYCLE_HOURS);
            if (b.lifecycleHours > 168) {
                throw new IllegalArgumentException("sink.session.lifecycle-hours must be in 1..=168");
            }
            b.parallelism = o.getOptional(TidewaterOptions.SINK_PARALLELISM).orElse(null);
            if (b.parallelism != null && b.parallelism < 1) {
                throw new IllegalArgumentException("sink.parallelism must be at least 1");
            }
            for (var opt : List.of(TidewaterOptions.FILE_CACHED_WRITER_NUM,
                    TidewaterOptions.UPSERT_WRITE_SLOT_NUM, TidewaterOptions.UPSERT_COMMIT_THREAD_NUM,
                    TidewaterOptions.UPSERT_MAJOR_COMPACT_MIN_COMMITS, TidewaterOptions.UPSERT_FLUSH_CONCURRENT,
                    TidewaterOptions.INSERT_COMMIT_THREAD_NUM)) {
                positive(o, opt);
            }
            nonNegative(o, TidewaterOptions.FILE_CACHED_WRITE_MAX_RETRIES);
            return b;
        }

        private static void checkName(String what, String name) {
            if (!name.matches("[A-Za-z_][A-Za-z0-9_]{0,127}")) {
                throw new IllegalArgumentException("invalid " + what + " name '" + name
                        + "' (1-128 ASCII letters, digits and '_', not starting with a digit)");
            }
        }

        private static int positive(ReadableConfig o, org.apache.flink.configuration.ConfigOption<Integer> opt) {
            int v = o.get(opt);
            if (v < 1) {
                throw new IllegalArgumentException("option '" + opt.key() + "' must be at least 1, got " + v);
            }
            return v;
        }

        private static int nonNegative(ReadableConfig o, org.apache.flink.configuration.ConfigOption<Integer> opt) {
            int v = o.get(opt);
            if (v < 0) {
                throw new IllegalArgumentException("option '" + opt.key() + "' must not be negative, got " + v);
            }
            return v;
        }

        static Map<String, String> parsePartition(String spec) {
            Map<String, String> m = new LinkedHashMap<>();
            if (spec == null || spec.isBlank()) {
                return m;
            }
            for (String part : spec.split("[/,]")) {
                int eq = part.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("sink.partition '" + spec + "' must look like dd=01/hh=02");
                }
                m.put(part.substring(0, eq).trim(), part.substring(eq + 1).trim().replaceAll("^'|'$", ""));
            }
            return m;
        }

        public Builder rowType(RowType rowType) {
            this.rowType = rowType;
            return this;
        }

        public Builder primaryKey(List<String> names) {
            this.flinkPrimaryKey = names;
            return this;
        }

        public Builder staticPartition(Map<String, String> values) {
            this.fixedPartition.putAll(values);
            return this;
        }

        /** Describes the table on the server and validates the mapping. */
        public SinkSpec build() {
            Map<String, Object> info;
            try (TidewaterClient c = new TidewaterClient(client)) {
                info = c.describeTable(project, table);
            } catch (TidewaterClient.ApiException e) {
                if (e.status == 404) {
                    throw new IllegalArgumentException("table " + project + "." + table + " does not exist on "
                            + client.endpoint + " (" + e.getMessage() + ")", e);
                }
                throw new IllegalArgumentException("cannot describe table " + project + "." + table + " on "
                        + client.endpoint + ": " + e.getMessage(), e);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot reach the Tidewater server at " + client.endpoint + ": "
                        + e, e);
            }
            return new SinkSpec(this, info);
        }
    }
}
