//! `tidewater ingest` and the checkpointed sink against a real `tidewater serve` child process:
//! ingests killed with `kill -9` at random moments and started again with the same command
//! line end with exactly the input's rows (count == distinct, no row lost or doubled, in insert
//! mode too); sink writers dropped at every step of a checkpoint and reopened match a model;
//! bad records fail with file:line or go to the dead-letter file; bad options fail at start.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use serde_json::{Map, Value, json};
use tidewater_client::sink::{Sink, SinkOptions};
use tidewater_client::{Client, SqlOutput};

use crate::serve::{ID, KEY, Server};

/// A small deterministic generator (xorshift), seeded from the clock and printed so a failing
/// run can be repeated with `INGEST_TEST_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("INGEST_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("INGEST_TEST_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn sql(client: &Client, statement: &str) {
    client.sql("default", statement).await.unwrap();
}

async fn count_and_distinct(client: &Client, table: &str) -> (i64, i64) {
    let SqlOutput::Rows { batches, .. } = client
        .sql(
            "default",
            &format!("SELECT count(*), count(DISTINCT id) FROM {table}"),
        )
        .await
        .unwrap()
    else {
        panic!("expected rows")
    };
    let b = &batches[0];
    (
        b.column(0).as_primitive::<Int64Type>().value(0),
        b.column(1).as_primitive::<Int64Type>().value(0),
    )
}

/// `id → v` of a table with columns (id BIGINT, v BIGINT).
async fn contents(client: &Client, table: &str) -> BTreeMap<i64, Option<i64>> {
    let SqlOutput::Rows { batches, .. } = client
        .sql("default", &format!("SELECT id, v FROM {table}"))
        .await
        .unwrap()
    else {
        panic!("expected rows")
    };
    let mut out = BTreeMap::new();
    for b in batches {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let vs = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let v = (!vs.is_null(i)).then(|| vs.value(i));
            assert!(out.insert(ids.value(i), v).is_none(), "key twice");
        }
    }
    out
}

fn ingest(server: &Server, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidewater"));
    cmd.arg("ingest")
        .args(["--endpoint", &server.endpoint])
        .args(args)
        .env("TIDEWATER_ACCESS_ID", ID)
        .env("TIDEWATER_ACCESS_KEY", KEY)
        .env_remove("TIDEWATER_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the same command line until it finishes by itself, killing it with `kill -9` at a
/// random moment each time before that. Returns the number of kills.
fn run_until_done_killing(server: &Server, args: &[&str], rng: &mut Rng) -> usize {
    let mut kills = 0;
    for round in 0..40 {
        let mut child = ingest(server, args).stderr(Stdio::null()).spawn().unwrap();
        // The last rounds run to the end.
        let deadline =
            (round < 30).then(|| Instant::now() + Duration::from_millis(50 + rng.below(700)));
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                if status.success() {
                    return kills;
                }
                // A failure: run once more to see why.
                let out = ingest(server, args).output().unwrap();
                panic!("ingest failed ({status}): {}", stderr_of(&out));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    panic!("ingest did not finish in 40 runs");
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_killed_at_random_moments_resumes_exactly_once_in_insert_mode() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"));
    let client = server.client();
    // A standard table: a replayed row would be a duplicate.
    sql(
        &client,
        "CREATE TABLE logs (id BIGINT, msg STRING, at TIMESTAMP)",
    )
    .await;
    let n = 6000;
    let file = dir.path().join("logs.csv");
    let mut w = std::fs::File::create(&file).unwrap();
    writeln!(w, "id,msg,at").unwrap();
    for i in 0..n {
        // Quoted fields with commas and a newline inside: positions are CSV records, not lines.
        writeln!(
            w,
            "{i},\"line {i}, with \"\"quotes\"\"\nand a newline\",2026-11-22 10:00:{:02}",
            i % 60
        )
        .unwrap();
    }
    drop(w);
    let state = dir.path().join("state");
    let args = [
        "--table",
        "logs",
        "--operation",
        "insert",
        "--checkpoint-interval",
        "100ms",
        "--rows-per-second",
        "3000",
        "--state-dir",
        state.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    let mut rng = Rng::new();
    let kills = run_until_done_killing(&server, &args, &mut rng);
    eprintln!("killed {kills} times");
    assert_eq!(count_and_distinct(&client, "logs").await, (n, n));
    // Zone-less timestamps are read in UTC (the default sink.time-zone), never shifted.
    let SqlOutput::Rows { batches, .. } = client
        .sql("default", "SELECT min(at), max(at) FROM logs")
        .await
        .unwrap()
    else {
        panic!("expected rows")
    };
    let at = |c: usize| {
        batches[0]
            .column(c)
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
            .value(0)
    };
    let ten = 1_795_341_600_000_000_000i64; // 2026-11-22T10:00:00Z
    assert_eq!((at(0), at(1)), (ten, ten + 59_000_000_000));
    // Running the finished job again adds nothing.
    let out = ingest(&server, &args).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(count_and_distinct(&client, "logs").await, (n, n));
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_killed_at_random_moments_resumes_exactly_once_in_upsert_mode() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"));
    let client = server.client();
    sql(
        &client,
        "CREATE TABLE t (id BIGINT NOT NULL, v BIGINT, PRIMARY KEY (id)) PARTITIONED BY (dd STRING) \
         TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4')",
    )
    .await;
    // Upserts, later upserts of the same keys and deletes: the model is the last op per key.
    let n = 6000i64;
    let mut model: BTreeMap<i64, Option<i64>> = BTreeMap::new();
    let file = dir.path().join("changes.ndjson");
    let mut w = std::fs::File::create(&file).unwrap();
    for i in 0..n {
        let id = i % 2500;
        let dd = format!("d{}", id % 3);
        if i % 7 == 6 {
            writeln!(w, "{}", json!({"id": id, "dd": dd, "_op": "D"})).unwrap();
            model.remove(&id);
        } else {
            writeln!(w, "{}", json!({"id": id, "v": i, "dd": dd})).unwrap();
            model.insert(id, Some(i));
        }
    }
    drop(w);
    let state = dir.path().join("state");
    let args = [
        "--table",
        "t",
        "--checkpoint-interval",
        "100ms",
        "--rows-per-second",
        "3000",
        "--state-dir",
        state.to_str().unwrap(),
        "-o",
        "upsert.write.bucket.num=4",
        file.to_str().unwrap(),
    ];
    let mut rng = Rng::new();
    let kills = run_until_done_killing(&server, &args, &mut rng);
    eprintln!("killed {kills} times");
    assert_eq!(contents(&client, "t").await, model);
}

fn object(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// The sink directly: a writer dropped at every step of a checkpoint (mid-checkpoint, after
/// prepare, after the server committed but before the state file said so) and reopened with
/// the same job id ends equal to the model, in insert mode without duplicates.
#[tokio::test(flavor = "multi_thread")]
async fn sink_writers_dropped_at_any_step_and_reopened_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"));
    let client = server.client();
    sql(
        &client,
        "CREATE TABLE t (id BIGINT NOT NULL, v BIGINT, PRIMARY KEY (id)) \
         TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='3')",
    )
    .await;
    sql(&client, "CREATE TABLE s (id BIGINT, v BIGINT)").await;
    let mut rng = Rng::new();
    // The source: (key, Some(value) = upsert | None = delete), read by index.
    let ops: Vec<(i64, Option<i64>)> = (0..1500)
        .map(|i| {
            let key = rng.below(60) as i64;
            (key, (rng.below(5) != 0).then_some(i))
        })
        .collect();
    let inserts: Vec<i64> = (0..1500).collect();
    let state = dir.path().join("state");
    let options = |table: &str, op: &str| {
        SinkOptions::from_map(
            &[
                ("table.name".to_string(), table.to_string()),
                ("sink.operation".to_string(), op.to_string()),
                (
                    "upsert.writer.bucket.buffer-size".to_string(),
                    "2 KB".to_string(),
                ),
            ]
            .into(),
        )
        .unwrap()
    };
    let mut restarts = 0;
    for (table, op) in [("t", "upsert"), ("s", "insert")] {
        let total = if op == "upsert" {
            ops.len()
        } else {
            inserts.len()
        };
        loop {
            let mut sink = Sink::open(client.clone(), options(table, op), &state, table)
                .await
                .unwrap();
            let mut pos = sink
                .resume_position()
                .map_or(0, |p| p.as_u64().unwrap() as usize);
            if pos == total {
                break;
            }
            let end = (pos + 1 + rng.below(200) as usize).min(total);
            while pos < end {
                if op == "upsert" {
                    let (key, value) = ops[pos];
                    match value {
                        Some(v) => sink.upsert(&object(json!({"id": key, "v": v}))).await,
                        None => sink.delete(&object(json!({"id": key}))).await,
                    }
                    .unwrap();
                } else {
                    let i = inserts[pos];
                    sink.insert(&object(json!({"id": i, "v": i})))
                        .await
                        .unwrap();
                }
                pos += 1;
            }
            match rng.below(5) {
                // A clean checkpoint.
                0 | 1 => {
                    sink.checkpoint(json!(pos)).await.unwrap();
                }
                // Dropped with rows in flight: they are read again.
                2 => {}
                // Dropped after prepare: the next open commits.
                3 => sink.prepare(json!(pos)).await.unwrap(),
                // The commit landed, the state file was not updated: the next open sees it.
                _ => {
                    sink.prepare(json!(pos)).await.unwrap();
                    let state_file: Value =
                        serde_json::from_slice(&std::fs::read(sink.state_path()).unwrap()).unwrap();
                    let id = state_file["pending"]["sessions"][0]
                        .as_str()
                        .unwrap()
                        .to_string();
                    if op == "upsert" {
                        client
                            .open_upsert_session("default", table, &id)
                            .open()
                            .await
                            .unwrap()
                            .commit()
                            .await
                            .unwrap();
                    } else {
                        client
                            .open_insert_session("default", table, &id)
                            .open()
                            .await
                            .unwrap()
                            .commit()
                            .await
                            .unwrap();
                    }
                }
            }
            drop(sink);
            restarts += 1;
        }
    }
    eprintln!("{restarts} restarts");
    let mut model = BTreeMap::new();
    for (key, value) in &ops {
        match value {
            Some(v) => model.insert(*key, Some(*v)),
            None => model.remove(key),
        };
    }
    assert_eq!(contents(&client, "t").await, model);
    assert_eq!(count_and_distinct(&client, "s").await, (1500, 1500));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_records_fail_with_file_and_line_or_go_to_the_dead_letter_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"));
    let client = server.client();
    sql(
        &client,
        "CREATE TABLE t (id BIGINT NOT NULL, v BIGINT, PRIMARY KEY (id)) \
         TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='2')",
    )
    .await;
    let file = dir.path().join("in.ndjson");
    std::fs::write(
        &file,
        "{\"id\": 1, \"v\": 1}\n\
         {\"id\": 2, \"v\": 2}\n\
         {\"id\": 3, \"v\": \"three\"}\n\
         {\"id\": 4, \"v\": 4}\n\
         {\"id\": null, \"v\": 5}\n\
         \n\
         {\"id\": 6, \"v\": \n\
         {\"id\": 7, \"nope\": 1}\n\
         {\"id\": 8, \"v\": 8}\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let name = file.display().to_string();
    let common = [
        "--table",
        "t",
        "--state-dir",
        state.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    let out = ingest(&server, &common).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{name}:3: column 'v'")), "{err}");
    // What came before the bad record is committed.
    assert_eq!(count_and_distinct(&client, "t").await, (2, 2));

    let dead = dir.path().join("dead.ndjson");
    let mut args = common.to_vec();
    args.extend([
        "--on-error",
        "skip",
        "--dead-letter",
        dead.to_str().unwrap(),
        "--job-id",
        "skip",
    ]);
    let out = ingest(&server, &args).output().unwrap();
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("4 bad records"), "{err}");
    let lines: Vec<Value> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at: Vec<(String, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["file"].as_str().unwrap().to_string(),
                l["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        at,
        [3, 5, 7, 8].map(|line| (name.clone(), line)).to_vec(),
        "{lines:?}"
    );
    assert!(
        lines[1]["reason"].as_str().unwrap().contains("primary-key"),
        "{lines:?}"
    );
    assert!(
        lines[2]["reason"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{lines:?}"
    );
    assert!(
        lines[3]["reason"].as_str().unwrap().contains("nope"),
        "{lines:?}"
    );
    assert_eq!(count_and_distinct(&client, "t").await, (4, 4));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_options_and_bucket_mismatch_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"));
    let client = server.client();
    sql(
        &client,
        "CREATE TABLE t (id BIGINT NOT NULL, PRIMARY KEY (id)) \
         TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4')",
    )
    .await;
    sql(&client, "CREATE TABLE plain (id BIGINT)").await;
    let file = dir.path().join("in.ndjson");
    std::fs::write(&file, "{\"id\": 1}\n").unwrap();
    let state = dir.path().join("state");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--state-dir",
            state.to_str().unwrap(),
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ingest(&server, &args).output().unwrap()
    };
    let out = run(&["--table", "t", "-o", "upsert.write.bucket.num=8"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("upsert.write.bucket.num is 8") && err.contains("write.bucket.num is 4"),
        "{err}"
    );
    let out = run(&["--table", "t", "-o", "sink.flush.concurent=2"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unknown sink option 'sink.flush.concurent'"),
        "{err}"
    );
    let out = run(&["--table", "plain", "--operation", "upsert"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("needs a Delta table"), "{err}");
    assert_eq!(count_and_distinct(&client, "t").await, (0, 0));
}
