package io.tidewater.flink;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.VarCharType;
import org.apache.flink.types.RowKind;

/**
 * Real-Flink tests of the connector: each job runs on a local MiniCluster in this JVM against the
 * `tidewater serve` whose URL is the first argument (credentials from TIDEWATER_ACCESS_ID/_KEY).
 * Prints one line per test and `N passed, N failed`; exits non-zero on failure.
 */
public final class ConnectorTests {
    static String url;
    static TidewaterClient client;
    static final long JOB_TIMEOUT_S = 120;

    interface Body {
        void run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        url = args[0];
        String only = args.length > 1 ? args[1] : null;
        client = new TidewaterClient(new TidewaterClient.Config(url, System.getenv("TIDEWATER_ACCESS_ID"),
                System.getenv("TIDEWATER_ACCESS_KEY"), 3, java.time.Duration.ofSeconds(60)));
        Map<String, Body> tests = new LinkedHashMap<>();
        tests.put("bucket hash matches the Rust test vectors", ConnectorTests::hashVectors);
        tests.put("request signing matches the golden test", ConnectorTests::signingGolden);
        tests.put("sql: reference scenario (Danny 27, then 28)", ConnectorTests::sqlDanny);
        tests.put("sql: partitioned table with dd, hh (dynamic and static partitions)", ConnectorTests::sqlPartitioned);
        tests.put("sql: updating query (GROUP BY) into an upsert sink", ConnectorTests::sqlUpdatingQuery);
        tests.put("sql: type mapping and time zone", ConnectorTests::sqlTypes);
        tests.put("sql: bucket-number mismatch rejected at start", ConnectorTests::bucketMismatch);
        tests.put("sql: bad options rejected at start", ConnectorTests::badOptions);
        tests.put("committer: replayed commit is recognised, aborted session fails loudly",
                ConnectorTests::committerReplay);
        tests.put("datastream: checkpointed upserts and deletes", () -> streamModel(true, false));
        tests.put("datastream: failure and restart, upsert mode", () -> streamModel(true, true));
        tests.put("datastream: failure and restart, insert mode", () -> streamModel(false, true));
        int passed = 0;
        int failed = 0;
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        for (Map.Entry<String, Body> t : tests.entrySet()) {
            if (only != null && !t.getKey().contains(only)) {
                continue;
            }
            long start = System.nanoTime();
            Future<?> f = pool.submit(() -> {
                t.getValue().run();
                return null;
            });
            String outcome;
            try {
                f.get(4 * JOB_TIMEOUT_S, TimeUnit.SECONDS);
                passed++;
                outcome = "ok  ";
            } catch (TimeoutException e) {
                f.cancel(true);
                failed++;
                outcome = "FAIL (timeout)";
            } catch (java.util.concurrent.ExecutionException e) {
                failed++;
                outcome = "FAIL";
                e.getCause().printStackTrace(System.out);
            }
            System.out.printf("%s %s (%.1f s)%n", outcome, t.getKey(), (System.nanoTime() - start) / 1e9);
            System.out.flush();
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    // ---- helpers ----

    static void check(boolean cond, String what) {
        if (!cond) {
            throw new AssertionError(what);
        }
    }

    static void eq(Object expected, Object actual, String what) {
        if (expected == null ? actual != null : !expected.equals(actual)) {
            throw new AssertionError(what + ": expected " + expected + ", got " + actual);
        }
    }

    static Map<String, Object> sql(String sql) throws Exception {
        return client.sql(sql);
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> rows(String sql) throws Exception {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object r : (List<Object>) sql(sql).get("data")) {
            out.add((Map<String, Object>) r);
        }
        return out;
    }

    static Configuration conf(boolean restartOnce) {
        Map<String, String> m = new HashMap<>();
        m.put("parallelism.default", "2");
        m.put("taskmanager.numberOfTaskSlots", "4");
        m.put("rest.bind-port", "0");
        m.put("taskmanager.memory.network.min", "32m");
        m.put("taskmanager.memory.network.max", "32m");
        m.put("taskmanager.memory.managed.size", "32m");
        if (restartOnce) {
            m.put("restart-strategy.type", "fixed-delay");
            m.put("restart-strategy.fixed-delay.attempts", "1");
            m.put("restart-strategy.fixed-delay.delay", "200 ms");
        } else {
            m.put("restart-strategy.type", "none");
        }
        return Configuration.fromMap(m);
    }

    static TableEnvironment tableEnv() {
        return TableEnvironment.create(EnvironmentSettings.newInstance().inStreamingMode()
                .withConfiguration(conf(false)).build());
    }

    static String with(String table, String op, String... extra) {
        StringBuilder sb = new StringBuilder(" WITH ('connector' = 'tidewater', 'table.name' = '" + table + "', "
                + "'sink.operation' = '" + op + "', 'odps.end.point' = '" + url + "', "
                + "'odps.project.name' = 'default', "
                + "'odps.access.id' = '" + System.getenv("TIDEWATER_ACCESS_ID") + "', "
                + "'odps.access.key' = '" + System.getenv("TIDEWATER_ACCESS_KEY") + "'");
        for (int i = 0; i + 1 < extra.length; i += 2) {
            sb.append(", '").append(extra[i]).append("' = '").append(extra[i + 1]).append('\'');
        }
        return sb.append(')').toString();
    }

    static void await(TableResult r) throws Exception {
        try {
            r.await(JOB_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            r.getJobClient().ifPresent(JobClient::cancel);
            throw e;
        }
    }

    static String expectFailure(Body b) {
        try {
            b.run();
        } catch (Throwable e) {
            StringBuilder all = new StringBuilder();
            for (Throwable t = e; t != null; t = t.getCause()) {
                all.append(t.getMessage()).append(" | ");
            }
            return all.toString();
        }
        throw new AssertionError("expected a failure, but it succeeded");
    }

    // ---- unit tests ----

    static void hashVectors() {
        eq(357654460, BucketHash.hashLong(1), "BIGINT 1");
        eq(357653185, BucketHash.hashLong(-1), "BIGINT -1");
        eq(-718433742, BucketHash.hashLong(10), "BIGINT 10");
        eq(-1977349188, BucketHash.hashLong(Long.MAX_VALUE), "BIGINT MAX");
        eq(-1787473579, BucketHash.hashLong(Long.MIN_VALUE), "BIGINT MIN");
        eq(715307540, BucketHash.hashLong(2), "SMALLINT 2");
        eq(1072960876, BucketHash.hashLong(3), "INT 3");
        eq(-2140438327, BucketHash.hashString("1"), "STRING 1");
        eq(-866984865, BucketHash.hashString("a1b()2c3"), "STRING a1b()2c3");
        eq(1623550194, BucketHash.hashString("阿里巴巴云计算"), "STRING chinese");
        eq(388737479, BucketHash.hashBoolean(true), "BOOLEAN true");
        eq(-978963218, BucketHash.hashBoolean(false), "BOOLEAN false");
        eq(-670340059, BucketHash.hashDouble(1.99), "DOUBLE 1.99");
        eq(-818909319, BucketHash.hashDouble(-1.99), "DOUBLE -1.99");
        eq(-567953753, BucketHash.hashFloat(1.99f), "FLOAT 1.99");
        eq(405646127, BucketHash.hashFloat(-1.99f), "FLOAT -1.99");
        eq(1469401250, BucketHash.hashTimestampNanos(36_925_147_258_369L), "TIMESTAMP");
        eq(357654460, BucketHash.hashDatetime(1), "DATETIME 1 ms");
        eq(357654460, BucketHash.hashDecimal(BigInteger.ONE, 18), "DECIMAL 1 (18)");
        eq(357654460, BucketHash.hashDecimal(BigInteger.ONE, 19), "DECIMAL 1 (19)");
        eq(351389155, BucketHash.hashDecimal(new BigInteger("-999999999999999999"), 18), "DECIMAL -999..");
        eq(-1510883736, BucketHash.hashDecimal(BigInteger.valueOf(-12345), 10), "DECIMAL -12345");
        BigInteger big = new BigInteger("12345678901234567890123456789012345678");
        eq(1431001763, BucketHash.hashDecimal(big, 38), "DECIMAL big");
        eq(496592198, BucketHash.hashDecimal(big.negate(), 38), "DECIMAL -big");
        eq(979604186, BucketHash.combine(0, 0, 0, 0, 0, 0, 0, -978963218, 0, 0, 0, 0, 0), "combine nulls+false");
        eq(966550009, BucketHash.combine(357654460, 715307540, 1072960876, 357654460, 357654460, 357654460,
                357654460, 388737479, -567953753, -670340059, -2140438327, 1469401250, -1088782317), "combine row2");
        eq(563915101, BucketHash.combine(357653185, 715306435, 1072959681, 357653185, 357653185, 357653185,
                357653185, 388737479, 405646127, -818909319, -866984865, -64049556, -2054932282), "combine row3");
        eq(1115164659, BucketHash.combine(-1111111111), "combine single");
        eq(0, BucketHash.combine(Integer.MIN_VALUE, Integer.MIN_VALUE), "combine MIN+MIN");
        eq(1781095525, BucketHash.combine(BucketHash.hashLong(1), BucketHash.hashString("1")), "two-column key");
        eq(356781795 % 16, BucketHash.bucketOf(BucketHash.combine(BucketHash.hashLong(1)), 16), "bucket of 1");
        eq(9, BucketHash.bucketOf(966550009, 10), "bucket_of");
        eq(6, BucketHash.bucketOf(-1, 7), "bucket_of negative");
    }

    static void signingGolden() {
        String canonical = TidewaterClient.canonical("PUT",
                "/v1/projects/default/tables/t/sessions/s1/buckets/3/blocks/7", "b=2&a=1", "20261122T024251Z",
                TidewaterClient.sha256Hex(new byte[0]));
        eq("TW1-HMAC-SHA256\nPUT\n/v1/projects/default/tables/t/sessions/s1/buckets/3/blocks/7\na=1&b=2\n"
                + "20261122T024251Z\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", canonical,
                "canonical");
        eq("dc1639c99c11b5c4a2d778c23ffa6493e08f227e8a37c4f94d0eaf4817fa81ef",
                TidewaterClient.sign("secret", canonical), "signature");
    }

    // ---- SQL scenarios ----

    static void sqlDanny() throws Exception {
        sql("CREATE TABLE mf_flink_tt (id BIGINT NOT NULL, name STRING, age INT, status BOOLEAN, PRIMARY KEY (id)) "
                + "TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='64', 'acid.data.retain.hours'='12')");
        TableEnvironment t = tableEnv();
        t.executeSql("CREATE TABLE mf_flink (id BIGINT, name STRING, age INT, status BOOLEAN, "
                + "PRIMARY KEY (id) NOT ENFORCED)" + with("mf_flink_tt", "upsert", "upsert.write.bucket.num", "64"));
        await(t.executeSql("INSERT INTO mf_flink VALUES (1, 'Danny', 27, false)"));
        List<Map<String, Object>> r = rows("SELECT * FROM mf_flink_tt");
        eq(1, r.size(), "rows after the first insert");
        eq("Danny", r.get(0).get("name"), "name");
        eq(27, ((Number) r.get(0).get("age")).intValue(), "age");
        eq(false, r.get(0).get("status"), "status");
        await(t.executeSql("INSERT INTO mf_flink VALUES (1, 'Danny', 28, false)"));
        r = rows("SELECT * FROM mf_flink_tt");
        eq(1, r.size(), "rows after the upsert");
        eq(28, ((Number) r.get(0).get("age")).intValue(), "age after the upsert");
    }

    static void sqlPartitioned() throws Exception {
        sql("CREATE TABLE mf_flink_tt_part (id BIGINT NOT NULL, name STRING, age INT, status BOOLEAN, "
                + "PRIMARY KEY (id)) PARTITIONED BY (dd STRING, hh STRING) "
                + "TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='64', 'acid.data.retain.hours'='12')");
        TableEnvironment t = tableEnv();
        t.executeSql("CREATE TABLE mf_flink_part (id BIGINT, name STRING, age INT, status BOOLEAN, dd STRING, "
                + "hh STRING, PRIMARY KEY (id) NOT ENFORCED) PARTITIONED BY (`dd`, `hh`)"
                + with("mf_flink_tt_part", "upsert"));
        await(t.executeSql("INSERT INTO mf_flink_part VALUES (1, 'Danny', 27, false, '01', '01'), "
                + "(2, 'Eve', 30, true, '01', '02')"));
        List<Map<String, Object>> r = rows("SELECT * FROM mf_flink_tt_part WHERE dd = '01' AND hh = '01'");
        eq(1, r.size(), "rows in dd=01/hh=01");
        eq("Danny", r.get(0).get("name"), "name");
        eq("01", r.get(0).get("hh"), "hh");
        eq(2, rows("SELECT * FROM mf_flink_tt_part").size(), "rows in the table");
        // Static partition from the statement.
        await(t.executeSql("INSERT INTO mf_flink_part PARTITION (dd = '02', hh = '03') "
                + "SELECT 3, 'Zoe', 41, true"));
        r = rows("SELECT * FROM mf_flink_tt_part WHERE dd = '02' AND hh = '03'");
        eq(1, r.size(), "rows in dd=02/hh=03");
        eq(3L, ((Number) r.get(0).get("id")).longValue(), "id");
        // Static partition from sink.partition; the Flink table has no partition columns.
        t.executeSql("CREATE TABLE mf_flink_part_static (id BIGINT, name STRING, age INT, status BOOLEAN, "
                + "PRIMARY KEY (id) NOT ENFORCED)"
                + with("mf_flink_tt_part", "upsert", "sink.partition", "dd=03,hh=04"));
        await(t.executeSql("INSERT INTO mf_flink_part_static VALUES (4, 'Ann', 22, false)"));
        eq(1, rows("SELECT * FROM mf_flink_tt_part WHERE dd = '03' AND hh = '04'").size(), "rows in dd=03/hh=04");
    }

    static void sqlUpdatingQuery() throws Exception {
        sql("CREATE TABLE word_counts (word STRING NOT NULL, cnt BIGINT, PRIMARY KEY (word)) "
                + "TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='8')");
        TableEnvironment t = tableEnv();
        t.executeSql("CREATE TABLE counts (word STRING, cnt BIGINT, PRIMARY KEY (word) NOT ENFORCED)"
                + with("word_counts", "upsert"));
        await(t.executeSql("INSERT INTO counts SELECT w, COUNT(*) FROM (VALUES ('a'), ('b'), ('a'), ('c'), ('a'), "
                + "('b')) AS v(w) GROUP BY w"));
        Map<String, Long> got = new TreeMap<>();
        for (Map<String, Object> r : rows("SELECT * FROM word_counts")) {
            got.put((String) r.get("word"), ((Number) r.get("cnt")).longValue());
        }
        eq(Map.of("a", 3L, "b", 2L, "c", 1L), got, "word counts");
        // An updating query into an insert-mode sink is rejected by the planner.
        t.executeSql("CREATE TABLE counts_insert (word STRING, cnt BIGINT)" + with("word_counts", "insert"));
        String err = expectFailure(() -> await(t.executeSql(
                "INSERT INTO counts_insert SELECT w, COUNT(*) FROM (VALUES ('a')) AS v(w) GROUP BY w")));
        check(err.contains("update") || err.contains("Update") || err.contains("UPDATE"), "planner error: " + err);
    }

    static void sqlTypes() throws Exception {
        sql("CREATE TABLE typed (id BIGINT NOT NULL, amount DECIMAL(10,2), d DATE, ts TIMESTAMP, dt DATETIME, "
                + "ltz TIMESTAMP, b BINARY, arr ARRAY<INT>, m MAP<STRING,INT>, s STRUCT<x:INT,y:STRING>, "
                + "vc VARCHAR(10), f FLOAT, db DOUBLE, ti TINYINT, si SMALLINT, PRIMARY KEY (id)) "
                + "TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4')");
        TableEnvironment t = tableEnv();
        t.executeSql("CREATE TABLE typed_sink (id BIGINT, amount DECIMAL(10,2), d DATE, ts TIMESTAMP(9), "
                + "dt TIMESTAMP(3), ltz TIMESTAMP_LTZ(9), b BYTES, arr ARRAY<INT>, m MAP<STRING,INT>, "
                + "s ROW<x INT, y STRING>, vc VARCHAR(10), f FLOAT, db DOUBLE, ti TINYINT, si SMALLINT, "
                + "PRIMARY KEY (id) NOT ENFORCED)"
                + with("typed", "upsert", "sink.timestamp.time-zone", "Asia/Shanghai"));
        await(t.executeSql("INSERT INTO typed_sink VALUES (7, 12.50, DATE '2024-01-02', "
                + "TIMESTAMP '2024-01-02 11:04:05.123456789', TIMESTAMP '2024-01-02 11:04:05.123', "
                + "TO_TIMESTAMP_LTZ(1704164645123, 3), X'616263', ARRAY[1, 2], MAP['k', 1], ROW(1, 'q'), 'hello', "
                + "CAST(1.5 AS FLOAT), 2.25, CAST(3 AS TINYINT), CAST(4 AS SMALLINT))"));
        List<Map<String, Object>> r = rows("SELECT * FROM typed");
        eq(1, r.size(), "rows");
        Map<String, Object> row = r.get(0);
        eq(new java.math.BigDecimal("12.5"), row.get("amount"), "decimal");
        eq("2024-01-02", row.get("d"), "date");
        // TIMESTAMP(9) without zone, read in Asia/Shanghai (+08:00), stored as the instant.
        eq("2024-01-02T03:04:05.123456789Z", row.get("ts"), "timestamp");
        // TIMESTAMP(3) into DATETIME: the wall clock, unshifted.
        eq("2024-01-02T11:04:05.123", row.get("dt"), "datetime");
        eq("2024-01-02T03:04:05.123Z", row.get("ltz"), "timestamp_ltz");
        eq("616263", row.get("b"), "binary");
        eq("[1, 2]", String.valueOf(row.get("arr")).replace(",", ", ").replace(",  ", ", "), "array");
        eq("hello", row.get("vc"), "varchar");
        eq(1.5, ((Number) row.get("f")).doubleValue(), "float");
        eq(2.25, ((Number) row.get("db")).doubleValue(), "double");
        check(String.valueOf(row.get("m")).contains("k"), "map " + row.get("m"));
        check(String.valueOf(row.get("s")).contains("q"), "struct " + row.get("s"));
    }

    static void bucketMismatch() throws Exception {
        sql("CREATE TABLE mismatch (id BIGINT NOT NULL, v STRING, PRIMARY KEY (id)) "
                + "TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='16')");
        TableEnvironment t = tableEnv();
        t.executeSql("CREATE TABLE mm (id BIGINT, v STRING, PRIMARY KEY (id) NOT ENFORCED)"
                + with("mismatch", "upsert", "upsert.write.bucket.num", "64"));
        String err = expectFailure(() -> await(t.executeSql("INSERT INTO mm VALUES (1, 'x')")));
        check(err.contains("upsert.write.bucket.num is 64") && err.contains("write.bucket.num = 16"),
                "error names both bucket numbers: " + err);
        eq(0, rows("SELECT * FROM mismatch").size(), "nothing written");
    }

    static void badOptions() throws Exception {
        sql("CREATE TABLE opts (id BIGINT NOT NULL, v STRING, PRIMARY KEY (id)) "
                + "TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4')");
        sql("CREATE TABLE plain (id BIGINT, v STRING)");
        String[][] cases = {
            {"opts", "upsert", "sink.no-such-option", "1", "sink.no-such-option"},
            {"opts", "merge", "sink.parallelism", "1", "sink.operation must be 'insert' or 'upsert'"},
            {"opts", "upsert", "upsert.writer.buffer-size", "lots", "upsert.writer.buffer-size"},
            {"opts", "upsert", "upsert.commit.max-retries", "-1", "upsert.commit.max-retries"},
            {"opts", "upsert", "sink.timestamp.time-zone", "Mars/Olympus", "not a time zone"},
            {"no_such_table", "upsert", "sink.parallelism", "1", "does not exist"},
            {"plain", "upsert", "sink.parallelism", "1", "needs a Delta table"},
        };
        TableEnvironment t = tableEnv();
        int n = 0;
        for (String[] c : cases) {
            String name = "bad" + (n++);
            t.executeSql("CREATE TABLE " + name + " (id BIGINT, v STRING)" + with(c[0], c[1], c[2], c[3]));
            String err = expectFailure(() -> await(t.executeSql("INSERT INTO " + name + " VALUES (1, 'x')")));
            check(err.contains(c[4]), "case " + String.join(",", c) + ": error should mention '" + c[4] + "': "
                    + err);
        }
        // A Flink column the table does not have.
        t.executeSql("CREATE TABLE badcol (id BIGINT, nope STRING)" + with("opts", "upsert"));
        String err = expectFailure(() -> await(t.executeSql("INSERT INTO badcol VALUES (1, 'x')")));
        check(err.contains("'nope'"), "unknown column named: " + err);
        // The DataStream builder validates the same way.
        err = expectFailure(() -> TidewaterSink.builder().endpoint(url).table("opts").option("bogus", "1")
                .rowType(RowType.of(new LogicalType[] {new BigIntType()}, new String[] {"id"})).build());
        check(err.contains("unknown Tidewater sink option 'bogus'"), "builder: " + err);
    }

    /** A CommitRequest as Flink's committer operator hands it over. */
    static final class Request implements org.apache.flink.api.connector.sink2.Committer.CommitRequest<TidewaterCommittable> {
        final TidewaterCommittable c;
        String outcome = "pending";

        Request(TidewaterCommittable c) {
            this.c = c;
        }

        public TidewaterCommittable getCommittable() { return c; }
        public int getNumberOfRetries() { return 0; }
        public void signalFailedWithKnownReason(Throwable t) { outcome = "failed"; }
        public void signalFailedWithUnknownReason(Throwable t) { outcome = "failed"; }
        public void retryLater() { outcome = "retry"; }
        public void updateAndRetryLater(TidewaterCommittable x) { outcome = "retry"; }
        public void signalAlreadyCommitted() { outcome = "already"; }
    }

    static void committerReplay() throws Exception {
        sql("CREATE TABLE replay (id BIGINT NOT NULL, v STRING, PRIMARY KEY (id)) "
                + "TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='1')");
        sql("CREATE TABLE replay_std (id BIGINT, v STRING)");
        RowType rt = RowType.of(new LogicalType[] {new BigIntType(false), new VarCharType(VarCharType.MAX_LENGTH)},
                new String[] {"id", "v"});
        for (String table : new String[] {"replay", "replay_std"}) {
            TidewaterSink sink = TidewaterSink.builder().endpoint(url).table(table).rowType(rt).build();
            String id = (String) client.createSession("default", table, "insert", null, false, 1).get("session_id");
            client.putBlock("default", table, id, 0, 0, utf8("{\"id\":1,\"v\":\"a\"}\n{\"id\":2,\"v\":\"b\"}\n"));
            TidewaterCommitter committer = new TidewaterCommitter(sink.spec());
            TidewaterCommittable c = new TidewaterCommittable("default", table, id, 0, 2);
            committer.commit(List.of(new Request(c)));
            // A restored committer commits the same committable again: recognised, not re-applied.
            committer.commit(List.of(new Request(c)));
            eq(2, rows("SELECT * FROM " + table).size(), table + ": rows after a replayed commit");
            eq("committed", client.getSession("default", table, id).get("state"), "session state");
            // A session aborted before its commit: the committer fails the job rather than losing rows quietly.
            String aborted = (String) client.createSession("default", table, "insert", null, false, 1)
                    .get("session_id");
            client.putBlock("default", table, aborted, 0, 0, utf8("{\"id\":3,\"v\":\"c\"}\n"));
            client.abort("default", table, aborted);
            String err = expectFailure(() -> committer.commit(List.of(new Request(
                    new TidewaterCommittable("default", table, aborted, 0, 1)))));
            check(err.contains("aborted"), "error names the aborted session: " + err);
            committer.close();
        }
    }

    // ---- DataStream scenarios with a model ----

    static final int KEYS = 97;

    static long keyOf(long i) {
        return (i * 7919) % KEYS;
    }

    static boolean isDelete(long i) {
        return i % 5 == 4;
    }

    /** Generates op i: upsert (key, "v<i>", i) or delete key; in insert mode: (i, "v<i>", i). */
    static final class Ops implements GeneratorFunction<Long, RowData> {
        private static final long serialVersionUID = 1L;
        final boolean upsert;

        Ops(boolean upsert) {
            this.upsert = upsert;
        }

        @Override
        public RowData map(Long i) {
            if (!upsert) {
                return GenericRowData.of(i, StringData.fromString("v" + i), i);
            }
            GenericRowData r = GenericRowData.of(keyOf(i), StringData.fromString("v" + i), i);
            if (isDelete(i)) {
                r.setRowKind(RowKind.DELETE);
            }
            return r;
        }
    }

    static final AtomicInteger completedCheckpoints = new AtomicInteger();
    static final AtomicBoolean failedOnce = new AtomicBoolean();
    static final AtomicInteger seenAfterRestart = new AtomicInteger();
    static final AtomicInteger rowsSinceCheckpoint = new AtomicInteger();

    /** Throws once, after two checkpoints have completed; otherwise passes rows through. */
    static final class FailOnce extends RichMapFunction<RowData, RowData> implements CheckpointListener {
        private static final long serialVersionUID = 1L;
        final boolean enabled;

        FailOnce(boolean enabled) {
            this.enabled = enabled;
        }

        @Override
        public RowData map(RowData r) {
            // Fail in the middle of an interval: blocks of the open sessions are already uploaded.
            if (enabled && !failedOnce.get() && completedCheckpoints.get() >= 2
                    && rowsSinceCheckpoint.incrementAndGet() >= 150) {
                failedOnce.set(true);
                throw new RuntimeException("injected failure (test)");
            }
            if (failedOnce.get()) {
                seenAfterRestart.incrementAndGet();
            }
            return r;
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            rowsSinceCheckpoint.set(0);
            completedCheckpoints.incrementAndGet();
        }
    }

    static void streamModel(boolean upsert, boolean fail) throws Exception {
        String table = (upsert ? "stream_upsert" : "stream_insert") + (fail ? "_fail" : "");
        if (upsert) {
            sql("CREATE TABLE " + table + " (id BIGINT NOT NULL, v STRING, seq BIGINT, PRIMARY KEY (id)) "
                    + "TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='8')");
        } else {
            sql("CREATE TABLE " + table + " (id BIGINT, v STRING, seq BIGINT)");
        }
        final long n = 3000;
        completedCheckpoints.set(0);
        failedOnce.set(false);
        seenAfterRestart.set(0);
        rowsSinceCheckpoint.set(0);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf(fail));
        env.enableCheckpointing(250);
        RowType rowType = RowType.of(new LogicalType[] {new BigIntType(false), new VarCharType(VarCharType.MAX_LENGTH),
                new BigIntType()}, new String[] {"id", "v", "seq"});
        DataStream<RowData> ops = env.fromSource(new DataGeneratorSource<>(new Ops(upsert), n,
                RateLimiterStrategy.perSecond(1500), InternalTypeInfo.of(rowType)),
                WatermarkStrategy.noWatermarks(), "ops").setParallelism(1)
                .map(new FailOnce(fail)).returns(InternalTypeInfo.of(rowType)).setParallelism(1);
        TidewaterSink.builder().endpoint(url).table(table).operation(upsert ? "upsert" : "insert")
                .credentials(System.getenv("TIDEWATER_ACCESS_ID"), System.getenv("TIDEWATER_ACCESS_KEY"))
                .option("upsert.write.bucket.num", upsert ? "8" : "1")
                .option("upsert.writer.bucket.buffer-size", "1kb") // many blocks per session
                .option("sink.parallelism", "2")
                .rowType(rowType).sinkTo(ops);
        JobClient job = env.executeAsync(table);
        try {
            job.getJobExecutionResult().get(JOB_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            job.cancel();
            throw e;
        }
        if (fail) {
            check(failedOnce.get(), "the failure was injected");
            check(seenAfterRestart.get() > 0, "the job restarted");
        }
        check(completedCheckpoints.get() >= 2, "checkpoints completed: " + completedCheckpoints.get());
        List<Map<String, Object>> got = rows("SELECT id, v, seq FROM " + table);
        if (upsert) {
            Map<Long, String> model = new TreeMap<>();
            for (long i = 0; i < n; i++) {
                if (isDelete(i)) {
                    model.remove(keyOf(i));
                } else {
                    model.put(keyOf(i), "v" + i);
                }
            }
            Map<Long, String> actual = new TreeMap<>();
            for (Map<String, Object> r : got) {
                check(actual.put(((Number) r.get("id")).longValue(), (String) r.get("v")) == null,
                        "duplicate key " + r.get("id"));
            }
            eq(model, actual, "table vs model");
        } else {
            Set<Long> ids = new HashSet<>();
            for (Map<String, Object> r : got) {
                long id = ((Number) r.get("id")).longValue();
                check(ids.add(id), "duplicate row " + id);
                eq("v" + id, r.get("v"), "value of " + id);
            }
            eq((int) n, got.size(), "row count (exactly once)");
        }
        System.out.println("     (" + got.size() + " rows, " + completedCheckpoints.get() + " checkpoint notices"
                + (fail ? ", restarted after an injected failure" : "") + ")");
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
