//! SQL behaviour the `.slt` files cannot see: exact commit times for `TIMESTAMP AS OF`, the
//! history `SHOW SNAPSHOTS` and `DESC EXTENDED` print, the scan plan (one partition per bucket,
//! pruning), atomicity of large failing statements, and the printed formats.

use std::path::Path;
use std::time::Duration;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampMillisecondType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use tidewater_engine::Warehouse;
use tidewater_sql::{OutputFormat, SqlEngine, format::write_output};

struct Env {
    dir: tempfile::TempDir,
    sql: SqlEngine,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    Env {
        sql: SqlEngine::new(wh),
        dir,
    }
}

/// Every row as strings (NULL as "NULL").
fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::new().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let f: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(f.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out
}

impl Env {
    async fn exec(&self, sql: &str) -> Vec<Vec<String>> {
        match self.sql.execute(sql).await {
            Ok(b) => rows(&b),
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// The message of a statement without a result set.
    async fn message(&self, sql: &str) -> String {
        match self.sql.run(sql).await {
            Ok(tidewater_sql::StatementOutput::Done { message, .. }) => message,
            Ok(_) => panic!("{sql} returned rows"),
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    async fn one(&self, sql: &str) -> String {
        let r = self.exec(sql).await;
        assert_eq!(r.len(), 1, "{sql}: {r:?}");
        r[0][0].clone()
    }

    async fn fails(&self, sql: &str) -> String {
        match self.sql.execute(sql).await {
            Ok(b) => panic!("{sql} succeeded: {:?}", rows(&b)),
            Err(e) => e.to_string(),
        }
    }

    /// Commit times (ms) of every snapshot, from SHOW SNAPSHOTS.
    async fn commit_times(&self, table: &str) -> Vec<i64> {
        let batches = self
            .sql
            .execute(&format!("SHOW SNAPSHOTS {table}"))
            .await
            .unwrap();
        batches
            .iter()
            .flat_map(|b| {
                b.column(1)
                    .as_primitive::<TimestampMillisecondType>()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    fn parquet_files(&self) -> usize {
        fn walk(p: &Path) -> usize {
            std::fs::read_dir(p)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| {
                            let p = e.path();
                            if p.is_dir() {
                                walk(&p)
                            } else {
                                usize::from(p.extension().is_some_and(|x| x == "parquet"))
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(self.dir.path())
    }
}

const PEOPLE: &str = r#"CREATE TABLE t (id BIGINT NOT NULL, name STRING, age INT, PRIMARY KEY (id))
    TBLPROPERTIES ("transactional"="true", "write.bucket.num"="8")"#;

fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

#[tokio::test]
async fn timestamp_as_of_reads_the_snapshot_committed_at_or_before_the_instant() {
    let e = env().await;
    e.exec(PEOPLE).await;
    e.exec("INSERT INTO t VALUES (1, 'a', 1)").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    e.exec("INSERT INTO t VALUES (1, 'b', 2), (2, 'x', 3)")
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    e.exec("DELETE FROM t WHERE id = 2").await;
    let times = e.commit_times("t").await;
    assert_eq!(times.len(), 3);
    assert!(times[0] < times[1] && times[1] < times[2], "{times:?}");

    let at = |ms: i64| {
        format!(
            "SELECT id, name FROM t TIMESTAMP AS OF '{}' ORDER BY id",
            utc(ms)
        )
    };
    assert_eq!(e.exec(&at(times[0])).await, vec![vec!["1", "a"]]);
    assert_eq!(e.exec(&at(times[1] - 1)).await, vec![vec!["1", "a"]]);
    assert_eq!(
        e.exec(&at(times[1])).await,
        vec![vec!["1", "b"], vec!["2", "x"]]
    );
    assert_eq!(e.exec(&at(times[2])).await, vec![vec!["1", "b"]]);
    let before = e.fails(&at(times[0] - 1)).await;
    assert!(before.contains("has no snapshot at or before"), "{before}");

    // An offset is honoured; a zone-less instant is UTC.
    let t1 = chrono::DateTime::from_timestamp_millis(times[1])
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339();
    assert_eq!(
        e.one(&format!("SELECT count(*) FROM t TIMESTAMP AS OF '{t1}'"))
            .await,
        "2"
    );

    // Changes in (t0, t1]: only what the second commit did.
    let between = format!(
        "SELECT id, name, _op FROM t TIMESTAMP BETWEEN '{}' AND '{}' ORDER BY id",
        utc(times[0]),
        utc(times[1])
    );
    assert_eq!(
        e.exec(&between).await,
        vec![vec!["1", "b", "upsert"], vec!["2", "x", "upsert"]]
    );
    // From before the first commit: everything, in its last state.
    let all = format!(
        "SELECT id, name, _op FROM t TIMESTAMP BETWEEN '2000-01-01' AND '{}' ORDER BY id",
        utc(times[2])
    );
    assert_eq!(
        e.exec(&all).await,
        vec![vec!["1", "b", "upsert"], vec!["2", "NULL", "delete"]]
    );
}

#[tokio::test]
async fn show_snapshots_and_desc_extended_describe_the_history() {
    let e = env().await;
    e.exec(PEOPLE).await;
    e.exec("INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2)")
        .await;
    e.exec("DELETE FROM t WHERE id = 1").await;
    e.exec("UPDATE t SET age = 5").await;
    let snaps = e.exec("SHOW SNAPSHOTS t").await;
    let summary: Vec<Vec<&str>> = snaps
        .iter()
        .map(|r| vec![r[0].as_str(), r[2].as_str(), r[3].as_str(), r[4].as_str()])
        .collect();
    assert_eq!(
        summary,
        vec![
            vec!["1", "append", "2", "0"],
            vec!["2", "append", "0", "1"],
            vec!["3", "append", "1", "0"],
        ]
    );
    let desc = e.exec("DESC EXTENDED t").await;
    let detail = |k: &str| {
        desc.iter()
            .find(|r| r[0] == format!("# {k}"))
            .map(|r| r[1].clone())
            .unwrap_or_else(|| panic!("no {k} in {desc:?}"))
    };
    assert_eq!(detail("type"), "delta");
    assert_eq!(detail("primary key"), "id");
    assert_eq!(detail("buckets"), "8");
    assert_eq!(detail("snapshots"), "3");
    assert_eq!(detail("latest snapshot"), "3");
    assert_eq!(detail("stored rows"), "4");
    assert!(detail("size bytes").parse::<u64>().unwrap() > 0);
    assert!(
        detail("properties").contains("write.bucket.num=8"),
        "{}",
        detail("properties")
    );
}

fn plan_text(batches: &[RecordBatch]) -> String {
    rows(batches)
        .into_iter()
        .map(|r| r.join(": "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn scans_run_one_partition_per_bucket_and_prune_partitions_and_keys() {
    let e = env().await;
    e.exec(
        r#"CREATE TABLE p (id BIGINT NOT NULL, v INT, PRIMARY KEY (id)) PARTITIONED BY (dd STRING)
           TBLPROPERTIES ("transactional"="true", "write.bucket.num"="8")"#,
    )
    .await;
    e.exec("INSERT INTO p SELECT value, 1, '01' FROM range(200)")
        .await;
    e.exec("INSERT INTO p SELECT value, 2, '02' FROM range(200)")
        .await;

    let all = plan_text(&e.sql.execute("EXPLAIN SELECT * FROM p").await.unwrap());
    assert!(all.contains("splits=16, partitions=16"), "{all}");
    let one = plan_text(
        &e.sql
            .execute("EXPLAIN SELECT * FROM p WHERE dd = '02'")
            .await
            .unwrap(),
    );
    assert!(one.contains("splits=8, partitions=8"), "{one}");
    let key = plan_text(
        &e.sql
            .execute("EXPLAIN SELECT * FROM p WHERE id = 7 AND dd = '01'")
            .await
            .unwrap(),
    );
    assert!(key.contains("key lookup, splits=1"), "{key}");
    assert_eq!(
        e.one("SELECT v FROM p WHERE id = 7 AND dd = '01'").await,
        "1"
    );
    assert_eq!(e.one("SELECT count(*) FROM p WHERE id = 7").await, "2");
    assert_eq!(e.one("SELECT sum(v) FROM p").await, "600");
}

#[tokio::test]
async fn large_statements_stream_and_upsert_in_one_commit() {
    let e = env().await;
    e.exec(PEOPLE).await;
    e.exec("INSERT INTO t SELECT value, concat('n', CAST(value AS STRING)), 1 FROM range(100000)")
        .await;
    assert_eq!(e.one("SELECT count(*) FROM t").await, "100000");
    e.exec("UPDATE t SET age = 2 WHERE id % 2 = 0").await;
    assert_eq!(e.one("SELECT sum(age) FROM t").await, "150000");
    assert_eq!(e.exec("SHOW SNAPSHOTS t").await.len(), 2);
    assert_eq!(e.one("SELECT name FROM t WHERE id = 99999").await, "n99999");
}

#[tokio::test]
async fn a_statement_failing_late_writes_nothing_and_leaves_no_files() {
    let e = env().await;
    e.exec(
        r#"CREATE TABLE t (id BIGINT NOT NULL, name STRING, PRIMARY KEY (id))
           TBLPROPERTIES ("transactional"="true", "write.bucket.num"="1")"#,
    )
    .await;
    e.exec("INSERT INTO t VALUES (1, 'kept')").await;
    let files = e.parquet_files();
    // Enough rows to flush files before the bad row arrives (buckets flush at 1 MiB).
    let err = e
        .fails(
            "INSERT INTO t SELECT CASE WHEN value = 299999 THEN NULL ELSE value END, \
             repeat('x', 40) FROM range(300000)",
        )
        .await;
    assert!(err.contains("primary-key column 'id' is NULL"), "{err}");
    assert_eq!(e.exec("SHOW SNAPSHOTS t").await.len(), 1);
    assert_eq!(e.one("SELECT count(*) FROM t").await, "1");
    assert_eq!(
        e.parquet_files(),
        files,
        "the aborted session's files are deleted"
    );
}

#[tokio::test]
async fn scripts_run_in_order_and_keep_the_current_project() {
    let e = env().await;
    let out = e
        .exec(
            "CREATE PROJECT p; USE p; CREATE TABLE x (a INT); INSERT INTO x VALUES (1), (2); \
             SELECT sum(a) FROM x",
        )
        .await;
    assert_eq!(out, vec![vec!["3"]]);
    assert_eq!(e.sql.current_project(), "p");
    assert_eq!(e.one("SELECT count(*) FROM p.x").await, "2");
}

async fn printed(e: &Env, sql: &str, format: OutputFormat) -> String {
    let output = e.sql.run(sql).await.unwrap();
    let mut out = Vec::new();
    let mut messages = Vec::new();
    write_output(&mut out, &mut messages, format, output)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn results_print_as_table_csv_and_json() {
    let e = env().await;
    e.exec(PEOPLE).await;
    e.exec("INSERT INTO t VALUES (1, 'Danny', 27), (2, NULL, NULL)")
        .await;
    let q = "SELECT id, name, age, id = 1 AS first FROM t ORDER BY id";
    assert_eq!(
        printed(&e, q, OutputFormat::Csv).await,
        "id,name,age,first\n1,Danny,27,true\n2,,,false\n"
    );
    assert_eq!(
        printed(&e, q, OutputFormat::Json).await,
        "{\"id\":1,\"name\":\"Danny\",\"age\":27,\"first\":true}\n\
         {\"id\":2,\"name\":null,\"age\":null,\"first\":false}\n"
    );
    let table = printed(&e, q, OutputFormat::Table).await;
    assert_eq!(
        table,
        "+----+-------+------+-------+\n\
         | id | name  | age  | first |\n\
         +----+-------+------+-------+\n\
         | 1  | Danny | 27   | true  |\n\
         | 2  | NULL  | NULL | false |\n\
         +----+-------+------+-------+\n"
    );
    // Statements without a result set print nothing to the data output.
    assert_eq!(
        printed(&e, "INSERT INTO t VALUES (3, 'c', 1)", OutputFormat::Csv).await,
        ""
    );
    // An empty result still has its header.
    assert_eq!(
        printed(&e, "SELECT id FROM t WHERE id < 0", OutputFormat::Csv).await,
        "id\n"
    );
}

#[tokio::test]
async fn alter_table_compact_rewrites_files_and_keeps_every_answer() {
    let e = env().await;
    e.exec(
        r#"CREATE TABLE p (id BIGINT NOT NULL, v STRING, PRIMARY KEY (id))
           PARTITIONED BY (dd STRING) TBLPROPERTIES ("transactional"="true", "write.bucket.num"="2")"#,
    )
    .await;
    for i in 0..6 {
        e.exec(&format!(
            "INSERT INTO p PARTITION (dd='a') VALUES ({i}, 'a{i}'), ({}, 'x{i}')",
            i + 100
        ))
        .await;
        e.exec(&format!(
            "INSERT INTO p PARTITION (dd='b') VALUES ({i}, 'b{i}')"
        ))
        .await;
    }
    e.exec("DELETE FROM p WHERE id = 100").await;
    let before = e.exec("SELECT id, v, dd FROM p ORDER BY dd, id").await;
    let files_before = e.parquet_files();

    let msg = e
        .message("ALTER TABLE p PARTITION (dd='a') COMPACT MINOR")
        .await;
    assert!(msg.contains("compacted"), "{msg}");
    e.exec("ALTER TABLE p COMPACT MAJOR").await;
    assert_eq!(
        e.exec("SELECT id, v, dd FROM p ORDER BY dd, id").await,
        before
    );
    // Old snapshots still read as they were (their files stay until retention expires them).
    assert_eq!(e.one("SELECT count(*) FROM p VERSION AS OF 2").await, "3");
    assert!(e.parquet_files() > files_before);
    let kinds: Vec<String> = e
        .exec("SHOW SNAPSHOTS p")
        .await
        .iter()
        .map(|r| r[2].clone())
        .collect();
    assert_eq!(kinds[kinds.len() - 2..], ["compact", "compact major"]);
    // Nothing left to do.
    let msg = e.message("ALTER TABLE p COMPACT MAJOR").await;
    assert!(msg.contains("needs no compaction"), "{msg}");

    for (sql, needle) in [
        ("ALTER TABLE p COMPACT", "expected MAJOR or MINOR"),
        (
            "ALTER TABLE p PARTITION (zz='a') COMPACT MAJOR",
            "'zz' is not a partition column",
        ),
        (
            "ALTER TABLE p RENAME TO q",
            "ALTER TABLE supports only … [PARTITION (…)] COMPACT MAJOR|MINOR, … SET TBLPROPERTIES",
        ),
    ] {
        let err = e.fails(sql).await;
        assert!(err.contains(needle), "{sql}: {err}");
    }
}

/// The `# properties` detail row of `DESC EXTENDED`, as a map.
async fn properties(sql: &SqlEngine, table: &str) -> std::collections::BTreeMap<String, String> {
    let desc = rows(
        &sql.execute(&format!("DESC EXTENDED {table}"))
            .await
            .unwrap(),
    );
    let row = desc
        .iter()
        .find(|r| r[0] == "# properties")
        .unwrap_or_else(|| panic!("no properties in {desc:?}"));
    row[1]
        .split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[tokio::test]
async fn alter_table_set_and_unset_tblproperties_show_in_desc() {
    let e = env().await;
    e.exec(PEOPLE).await;
    e.exec("INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2)")
        .await;
    let p = properties(&e.sql, "t").await;
    assert_eq!(p["acid.data.retain.hours"], "24");
    assert_eq!(p["upsert.major-compact.enable"], "false");

    let msg = e
        .message(
            r#"ALTER TABLE default.t SET TBLPROPERTIES ("acid.data.retain.hours"="60", 'upsert.major-compact.enable'='true', "Upsert.Major-Compact.Min-Commits"='5', 'num-sorted-run.compaction-trigger'="3", "target-file-size"="64mb")"#,
        )
        .await;
    assert_eq!(
        msg,
        "altered table default.t: acid.data.retain.hours=60, num-sorted-run.compaction-trigger=3, \
         target-file-size=67108864, upsert.major-compact.enable=true, \
         upsert.major-compact.min-commits=5 (metadata version 1)"
    );
    let p = properties(&e.sql, "t").await;
    for (k, v) in [
        ("acid.data.retain.hours", "60"),
        ("upsert.major-compact.enable", "true"),
        ("upsert.major-compact.min-commits", "5"),
        ("num-sorted-run.compaction-trigger", "3"),
        ("num-sorted-run.stop-trigger", "6"),
        ("target-file-size", "67108864"),
        ("write.bucket.num", "8"),
        ("transactional", "true"),
    ] {
        assert_eq!(p[k], v, "{k} in {p:?}");
    }
    // A fresh connection (another process) sees the same.
    let other = SqlEngine::new(
        Warehouse::open(e.dir.path().to_str().unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(properties(&other, "t").await, p);

    let msg = e
        .message("ALTER TABLE t UNSET TBLPROPERTIES ('acid.data.retain.hours', \"num-sorted-run.compaction-trigger\")")
        .await;
    assert_eq!(
        msg,
        "altered table default.t: acid.data.retain.hours=24, \
         num-sorted-run.compaction-trigger=10 (metadata version 2)"
    );
    let p = properties(&other, "t").await;
    assert_eq!(p["acid.data.retain.hours"], "24");
    assert_eq!(p["num-sorted-run.compaction-trigger"], "10");
    assert_eq!(p["num-sorted-run.stop-trigger"], "20");
    assert_eq!(p["upsert.major-compact.enable"], "true");
    // The data and its history read as before.
    assert_eq!(
        e.exec("SELECT id, name FROM t ORDER BY id").await,
        vec![vec!["1", "a"], vec!["2", "b"]]
    );
    assert_eq!(e.one("SELECT count(*) FROM t VERSION AS OF 1").await, "2");
    // Standard tables: retention only.
    e.exec("CREATE TABLE logs (line STRING)").await;
    e.exec("INSERT INTO logs VALUES ('x')").await;
    e.exec("ALTER TABLE logs SET TBLPROPERTIES ('acid.data.retain.hours'='1')")
        .await;
    assert_eq!(
        properties(&e.sql, "logs").await,
        [
            ("acid.data.retain.hours".to_string(), "1".to_string()),
            ("transactional".to_string(), "false".to_string())
        ]
        .into()
    );
    assert_eq!(e.one("SELECT line FROM logs").await, "x");
}

#[tokio::test]
async fn major_compaction_enabled_by_alter_runs_after_min_commits() {
    use tidewater_engine::CompactMode;
    let e = env().await;
    e.exec(PEOPLE).await;
    let wh = e.sql.warehouse().clone();
    // The table fetched again each time, as the server's maintenance does each round.
    let auto = || async {
        let t = wh.table("default", "t").await.unwrap();
        t.compact(CompactMode::Auto).run().await.unwrap()
    };
    for i in 0..3 {
        e.exec(&format!(
            "INSERT INTO t VALUES ({i}, 'n{i}', {i}), ({}, 'm{i}', {i})",
            i + 10
        ))
        .await;
    }
    // Defaults: no major compaction, and 3 runs per bucket are below the minor trigger (5).
    let r = auto().await;
    assert_eq!(r.snapshot, None, "{r:?}");

    e.exec(
        r#"ALTER TABLE t SET TBLPROPERTIES ("upsert.major-compact.enable"="true", "upsert.major-compact.min-commits"="4")"#,
    )
    .await;
    // 3 commits < min-commits 4: still nothing.
    let t = wh.table("default", "t").await.unwrap();
    assert!(t.metadata().properties.compaction.major_enable);
    let r = auto().await;
    assert_eq!(r.snapshot, None, "{r:?}");
    e.exec("INSERT INTO t VALUES (1, 'again', 1)").await;
    // The 4th commit: compacts major.
    let before = e.exec("SELECT id, name, age FROM t ORDER BY id").await;
    let r = auto().await;
    assert!(r.major, "{r:?}");
    assert_eq!(r.snapshot, Some(5));
    assert_eq!(
        e.exec("SELECT id, name, age FROM t ORDER BY id").await,
        before
    );
    let kinds: Vec<String> = e
        .exec("SHOW SNAPSHOTS t")
        .await
        .iter()
        .map(|r| r[2].clone())
        .collect();
    assert_eq!(kinds.last().map(String::as_str), Some("compact major"));
    // No commits since: nothing more to do.
    let r = auto().await;
    assert_eq!(r.snapshot, None, "{r:?}");
}

#[tokio::test]
async fn bad_alter_table_properties_name_what_was_wrong() {
    let e = env().await;
    e.exec(PEOPLE).await;
    e.exec("CREATE TABLE logs (line STRING)").await;
    for (sql, needle) in [
        (
            "ALTER TABLE t SET TBLPROPERTIES ('acid.data.retain.hour'='1')",
            "table property 'acid.data.retain.hour': unknown property (known: transactional, ",
        ),
        (
            "ALTER TABLE t UNSET TBLPROPERTIES ('no.such.thing')",
            "table property 'no.such.thing': unknown property",
        ),
        (
            "ALTER TABLE t SET TBLPROPERTIES ('acid.data.retain.hours'='abc')",
            "table property 'acid.data.retain.hours': 'abc' is not a whole number",
        ),
        (
            "ALTER TABLE t SET TBLPROPERTIES ('acid.data.retain.hours'='169')",
            "table property 'acid.data.retain.hours': 169 is out of range 0..=168",
        ),
        (
            "ALTER TABLE t SET TBLPROPERTIES ('upsert.major-compact.enable'='yes')",
            "'upsert.major-compact.enable': 'yes' is not 'true' or 'false'",
        ),
        (
            r#"ALTER TABLE t SET TBLPROPERTIES ("write.bucket.num"="16")"#,
            "table property 'write.bucket.num': cannot be changed after the table is created: \
             the bucket count is fixed",
        ),
        (
            "ALTER TABLE t UNSET TBLPROPERTIES ('write.bucket.num')",
            "'write.bucket.num': cannot be changed",
        ),
        (
            "ALTER TABLE t SET TBLPROPERTIES ('transactional'='false')",
            "table property 'transactional': cannot be changed after the table is created",
        ),
        (
            "ALTER TABLE logs SET TBLPROPERTIES ('upsert.major-compact.enable'='true')",
            "'upsert.major-compact.enable': only Delta tables (\"transactional\"=\"true\") are compacted",
        ),
        (
            "ALTER TABLE nope SET TBLPROPERTIES ('acid.data.retain.hours'='1')",
            "table 'default.nope' does not exist",
        ),
        (
            "ALTER TABLE elsewhere.t SET TBLPROPERTIES ('acid.data.retain.hours'='1')",
            "project 'elsewhere' does not exist",
        ),
        ("ALTER TABLE t RENAME TO q", "supports only"),
    ] {
        let err = e.fails(sql).await;
        assert!(err.contains(needle), "{sql}: {err}");
    }
    // Nothing changed.
    let p = properties(&e.sql, "t").await;
    assert_eq!(
        (
            p["acid.data.retain.hours"].as_str(),
            p["write.bucket.num"].as_str()
        ),
        ("24", "8")
    );

    // Without write access.
    let readonly = SqlEngine::with_access(
        e.sql.warehouse().clone(),
        std::sync::Arc::new(|project: &str, access: tidewater_sql::Access| {
            if access <= tidewater_sql::Access::Read {
                Ok(())
            } else {
                Err(format!("only read access to project '{project}'"))
            }
        }),
    );
    let err = readonly
        .execute("ALTER TABLE t SET TBLPROPERTIES ('acid.data.retain.hours'='1')")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), tidewater_sql::ErrorKind::PermissionDenied);
    assert_eq!(
        err.to_string(),
        "permission denied: only read access to project 'default'"
    );
    assert_eq!(
        properties(&e.sql, "t").await["acid.data.retain.hours"],
        "24"
    );
}
