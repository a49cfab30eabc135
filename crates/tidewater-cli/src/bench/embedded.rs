//! The workload run against the engine in this process: phases A (bulk), B (stream) and C
//! (reads), timed, with every answer checked against the workload's model.
//!
//! Every commit is one session: open → upsert (→ delete) → commit, timed from the open to the
//! return of the commit, so a commit's latency is what a writer waits for. Batches are handed
//! over by value and dropped once committed, as a writer would. Phase C queries run three times
//! each on the latest snapshot; their median counts, and each of the three answers is checked.

use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType};
use futures::StreamExt;
use snafu::ResultExt;
use tidewater_engine::{SessionKind, Table};
use tidewater_format::KeyValue;

use super::phase_mark;
use super::workload::{Expected, ExpectedRow, NeumaierSum, StreamCommit};
use crate::error::{EngineSnafu, Result};

/// Times of one commit, from the session open to the commit's return.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitTiming {
    pub open: Duration,
    pub upsert: Duration,
    pub delete: Duration,
    pub commit: Duration,
    pub total: Duration,
}

/// A write phase: wall time over all its commits and each commit's times.
#[derive(Debug, Clone, Default)]
pub struct WritePhase {
    pub rows: u64,
    pub wall: Duration,
    pub commits: Vec<CommitTiming>,
}

impl WritePhase {
    /// Rows per second of wall time; NaN (`null` in JSON) for a phase that wrote nothing.
    pub fn rows_per_s(&self) -> f64 {
        if self.rows == 0 {
            return f64::NAN;
        }
        self.rows as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// One read query: the time of each run (seconds).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub runs_s: Vec<f64>,
}

impl Query {
    pub fn median_s(&self) -> f64 {
        super::report::percentile(&self.runs_s, 50.0)
    }
}

/// Answers that did not match the model, and how many did.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub passed: u32,
    pub failures: Vec<String>,
}

impl Checks {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            let what = what();
            eprintln!("WRONG ANSWER: {what}");
            self.failures.push(what);
        }
    }

    fn equal<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, expected: T) {
        let ok = got == expected;
        self.check(ok, || format!("{what}: got {got:?}, expected {expected:?}"));
    }

    pub fn all_passed(&self) -> bool {
        self.failures.is_empty() && self.passed > 0
    }
}

/// Everything measured in one embedded run.
#[derive(Debug, Default)]
pub struct Measured {
    pub phase_a: WritePhase,
    pub phase_b: WritePhase,
    pub count: Query,
    pub point: Query,
    pub avg: Query,
    pub snapshots: u64,
    pub live_data_files: u64,
    pub stored_rows: u64,
    pub checks: Checks,
}

fn engine(op: impl Into<String>) -> EngineSnafu<String> {
    EngineSnafu { op: op.into() }
}

/// One session: upserts, then deletes, then commit.
async fn commit_one(
    table: &Table,
    upserts: Option<RecordBatch>,
    deletes: Option<RecordBatch>,
) -> Result<CommitTiming> {
    let start = Instant::now();
    let mut session = table
        .session(SessionKind::Upsert)
        .open()
        .await
        .context(engine("opening a session"))?;
    let opened = Instant::now();
    if let Some(b) = upserts {
        session.upsert(&b).await.context(engine("upsert"))?;
    }
    let upserted = Instant::now();
    if let Some(b) = deletes {
        session.delete(&b).await.context(engine("delete"))?;
    }
    let deleted = Instant::now();
    session.commit().await.context(engine("commit"))?;
    let done = Instant::now();
    Ok(CommitTiming {
        open: opened - start,
        upsert: upserted - opened,
        delete: deleted - upserted,
        commit: done - deleted,
        total: done - start,
    })
}

/// Phase A: one commit per batch.
pub async fn phase_a(table: &Table, bulk: Vec<RecordBatch>) -> Result<WritePhase> {
    let n = bulk.len();
    let rows = bulk.iter().map(|b| b.num_rows() as u64).sum();
    let mut phase = WritePhase {
        rows,
        ..Default::default()
    };
    let start = Instant::now();
    for (i, batch) in bulk.into_iter().enumerate() {
        phase
            .commits
            .push(commit_one(table, Some(batch), None).await?);
        if (i + 1) % 10 == 0 || i + 1 == n {
            eprintln!(
                "phase A: {}/{n} commits, {:.2} s",
                i + 1,
                start.elapsed().as_secs_f64()
            );
        }
    }
    phase.wall = start.elapsed();
    Ok(phase)
}

/// Phase B: one commit of upserts and deletes per stream commit.
pub async fn phase_b(table: &Table, stream: Vec<StreamCommit>) -> Result<WritePhase> {
    let n = stream.len();
    let rows = stream
        .iter()
        .map(|c| (c.upserts.num_rows() + c.deletes.num_rows()) as u64)
        .sum();
    let mut phase = WritePhase {
        rows,
        ..Default::default()
    };
    let start = Instant::now();
    for (i, c) in stream.into_iter().enumerate() {
        let upserts = (c.upserts.num_rows() > 0).then_some(c.upserts);
        let deletes = (c.deletes.num_rows() > 0).then_some(c.deletes);
        phase
            .commits
            .push(commit_one(table, upserts, deletes).await?);
        if (i + 1) % 10 == 0 || i + 1 == n {
            eprintln!(
                "phase B: {}/{n} commits, {:.2} s",
                i + 1,
                start.elapsed().as_secs_f64()
            );
        }
    }
    phase.wall = start.elapsed();
    Ok(phase)
}

/// `SELECT count(*)`: a scan with no columns, counting rows.
async fn count(table: &Table) -> Result<u64> {
    let mut stream = table
        .scan()
        .project::<&str>(&[])
        .execute()
        .await
        .context(engine("planning the count scan"))?;
    let mut n = 0;
    while let Some(b) = stream.next().await {
        n += b.context(engine("count scan"))?.num_rows() as u64;
    }
    Ok(n)
}

/// `SELECT * WHERE id = <id>`.
async fn point(table: &Table, id: i64) -> Result<Vec<RecordBatch>> {
    table
        .scan()
        .key_eq(vec![KeyValue::Int(id)])
        .collect()
        .await
        .context(engine(format!("point lookup of id {id}")))
}

/// `SELECT avg(score)`: (average, rows averaged).
async fn avg_score(table: &Table) -> Result<(f64, u64)> {
    let mut stream = table
        .scan()
        .project(&["score"])
        .execute()
        .await
        .context(engine("planning the avg scan"))?;
    let mut sum = NeumaierSum::default();
    let mut n = 0u64;
    while let Some(b) = stream.next().await {
        let b = b.context(engine("avg scan"))?;
        let scores = b.column(0).as_primitive::<Float64Type>();
        if scores.null_count() == 0 {
            for v in scores.values() {
                sum.add(*v);
            }
            n += scores.len() as u64;
        } else {
            for v in scores.iter().flatten() {
                sum.add(v);
                n += 1;
            }
        }
    }
    Ok((
        if n == 0 {
            f64::NAN
        } else {
            sum.sum() / n as f64
        },
        n,
    ))
}

/// A full scan of `id` and `age`: (rows, sum(id), sum(age)).
async fn full_sums(table: &Table) -> Result<(u64, i128, i128)> {
    let mut stream = table
        .scan()
        .project(&["id", "age"])
        .execute()
        .await
        .context(engine("planning the full scan"))?;
    let (mut n, mut sum_id, mut sum_age) = (0u64, 0i128, 0i128);
    while let Some(b) = stream.next().await {
        let b = b.context(engine("full scan"))?;
        n += b.num_rows() as u64;
        sum_id += b
            .column(0)
            .as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .map(i128::from)
            .sum::<i128>();
        sum_age += b
            .column(1)
            .as_primitive::<Int32Type>()
            .iter()
            .flatten()
            .map(i128::from)
            .sum::<i128>();
    }
    Ok((n, sum_id, sum_age))
}

/// Compares the rows of a point lookup with the expected row.
fn check_point(checks: &mut Checks, batches: &[RecordBatch], e: &ExpectedRow) {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    checks.equal(&format!("rows for id {}", e.id), rows, 1);
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return;
    };
    let col = |name: &str| b.column_by_name(name);
    let got = (|| {
        Some(ExpectedRow {
            id: col("id")?.as_primitive_opt::<Int64Type>()?.value(0),
            name: col("name")?.as_string_opt::<i32>()?.value(0).to_string(),
            age: col("age")?.as_primitive_opt::<Int32Type>()?.value(0),
            status: col("status")?.as_boolean_opt()?.value(0),
            score: col("score")?.as_primitive_opt::<Float64Type>()?.value(0),
            ts_ns: col("ts")?
                .as_primitive_opt::<TimestampNanosecondType>()?
                .value(0),
        })
    })();
    match got {
        Some(got) => checks.equal(&format!("row of id {}", e.id), &got, e),
        None => checks.check(false, || {
            format!(
                "row of id {}: columns or types differ from the table's: {:?}",
                e.id,
                b.schema()
            )
        }),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || a == b
}

/// Phase C, and the untimed full-scan checks.
pub async fn phase_c(table: &Table, expected: &Expected, measured: &mut Measured) -> Result<()> {
    const RUNS: usize = 3;
    let checks = &mut measured.checks;
    phase_mark("c_count", "begin");
    for _ in 0..RUNS {
        let t = Instant::now();
        let n = count(table).await?;
        measured.count.runs_s.push(t.elapsed().as_secs_f64());
        checks.equal("count(*)", n, expected.count);
    }
    phase_mark("c_count", "end");
    phase_mark("c_point", "begin");
    for _ in 0..RUNS {
        let t = Instant::now();
        let rows = point(table, expected.probe.id).await?;
        measured.point.runs_s.push(t.elapsed().as_secs_f64());
        check_point(checks, &rows, &expected.probe);
    }
    phase_mark("c_point", "end");
    phase_mark("c_avg", "begin");
    for _ in 0..RUNS {
        let t = Instant::now();
        let (avg, n) = avg_score(table).await?;
        measured.avg.runs_s.push(t.elapsed().as_secs_f64());
        checks.equal("rows averaged by avg(score)", n, expected.count);
        checks.check(close(avg, expected.avg_score), || {
            format!("avg(score): got {avg}, expected {}", expected.avg_score)
        });
    }
    phase_mark("c_avg", "end");
    eprintln!(
        "phase C: count {:.3} s, point {:.2} ms, avg {:.3} s (medians of {RUNS})",
        measured.count.median_s(),
        measured.point.median_s() * 1e3,
        measured.avg.median_s()
    );
    // Untimed: the deleted id is gone, and a full scan agrees with the model.
    phase_mark("verify", "begin");
    if let Some(id) = expected.deleted {
        let rows: usize = point(table, id).await?.iter().map(|b| b.num_rows()).sum();
        checks.equal(&format!("rows for deleted id {id}"), rows, 0);
    }
    let (n, sum_id, sum_age) = full_sums(table).await?;
    checks.equal("full scan rows", n, expected.count);
    checks.equal("full scan sum(id)", sum_id, expected.sum_id);
    checks.equal("full scan sum(age)", sum_age, expected.sum_age);
    phase_mark("verify", "end");

    let snapshot = table
        .latest_snapshot()
        .await
        .context(engine("reading the latest snapshot"))?;
    if let Some(s) = snapshot {
        measured.live_data_files = s.summary.total_files;
        measured.stored_rows = s.summary.total_stored_rows;
    }
    measured.snapshots = table
        .snapshot_ids()
        .await
        .context(engine("listing snapshots"))?
        .len() as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_accepts_rounding_and_rejects_real_differences() {
        assert!(close(500.0, 500.0 + 1e-8));
        assert!(!close(500.0, 500.001));
        assert!(!close(f64::NAN, 500.0));
    }

    #[test]
    fn checks_without_any_check_are_not_a_pass() {
        let mut c = Checks::default();
        assert!(!c.all_passed());
        c.equal("x", 1, 1);
        assert!(c.all_passed());
        c.equal("y", 1, 2);
        assert!(!c.all_passed());
        assert_eq!(c.failures, vec!["y: got 1, expected 2".to_string()]);
    }
}
