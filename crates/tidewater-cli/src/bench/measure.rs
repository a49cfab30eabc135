//! The timed phases and the checks, the same for every mode: a mode is a [`Target`] (one commit
//! of a session, the reads of phase C), and phases A, B and C drive it identically, so the modes'
//! figures compare and every answer is checked against the model by the same code.
//!
//! Every commit is one session: open → upsert (→ delete) → commit, timed from the open to the
//! return of the commit, so a commit's latency is what a writer waits for. Batches are handed
//! over by value and dropped once committed, as a writer would. Phase C queries run three times
//! each on the latest snapshot; their median counts, and each of the three answers is checked.

use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType};

use super::phase_mark;
use super::workload::{Expected, ExpectedRow, StreamCommit};
use crate::error::Result;

/// Times of one commit, from the session open to the commit's return.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitTiming {
    pub open: Duration,
    pub upsert: Duration,
    pub delete: Duration,
    /// Sending what is still buffered and waiting for its acknowledgement (served mode; zero
    /// where the commit does it itself).
    pub flush: Duration,
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
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            let what = what();
            eprintln!("WRONG ANSWER: {what}");
            self.failures.push(what);
        }
    }

    pub fn equal<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, expected: T) {
        let ok = got == expected;
        self.check(ok, || format!("{what}: got {got:?}, expected {expected:?}"));
    }

    pub fn merge(&mut self, other: Checks) {
        self.passed += other.passed;
        self.failures.extend(other.failures);
    }

    pub fn all_passed(&self) -> bool {
        self.failures.is_empty() && self.passed > 0
    }
}

/// What the latest snapshot holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableStats {
    pub snapshots: u64,
    pub live_data_files: u64,
    /// Rows stored in live files, before merging; `None` where the mode cannot see it.
    pub stored_rows: Option<u64>,
}

/// Everything measured in one run.
#[derive(Debug, Default)]
pub struct Measured {
    /// Embedded mode: reads after a major compaction and on one Parquet file.
    pub after_compaction: Option<serde_json::Value>,
    /// Files per bucket over the run, compactions and write amplification ([`super::history`]).
    pub stream_history: Option<serde_json::Value>,
    pub phase_a: WritePhase,
    /// The major compaction between phases A and B.
    pub load_compaction_s: f64,
    pub phase_b: WritePhase,
    pub count: Query,
    pub point: Query,
    pub avg: Query,
    pub stats: TableStats,
    pub checks: Checks,
}

/// Rows, sum(id) and sum(age) of a full scan, added up batch by batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FullSums {
    pub rows: u64,
    pub sum_id: i128,
    pub sum_age: i128,
}

impl FullSums {
    /// Adds a batch whose first two columns are `id` (BIGINT) and `age` (INT).
    pub fn add(&mut self, b: &RecordBatch) {
        self.rows += b.num_rows() as u64;
        if let Some(ids) = b.column(0).as_primitive_opt::<Int64Type>() {
            self.sum_id += ids.iter().flatten().map(i128::from).sum::<i128>();
        }
        if let Some(ages) = b.column(1).as_primitive_opt::<Int32Type>() {
            self.sum_age += ages.iter().flatten().map(i128::from).sum::<i128>();
        }
    }
}

/// Where the workload runs: the engine in this process, or a server.
pub(crate) trait Target {
    /// One session: open, upsert `upserts`, delete `deletes` (keys), commit.
    async fn commit(
        &self,
        upserts: Option<RecordBatch>,
        deletes: Option<RecordBatch>,
    ) -> Result<CommitTiming>;
    /// `SELECT count(*)`.
    async fn count(&self) -> Result<u64>;
    /// `SELECT * WHERE id = <id>`.
    async fn point(&self, id: i64) -> Result<Vec<RecordBatch>>;
    /// `SELECT avg(score)`, and the rows averaged where the mode counts them itself.
    async fn avg_score(&self) -> Result<(f64, Option<u64>)>;
    /// A full scan of `id` and `age` (untimed).
    async fn full_sums(&self) -> Result<FullSums>;
    /// What the latest snapshot holds.
    async fn stats(&self) -> Result<TableStats>;
    /// `ALTER TABLE … COMPACT MAJOR`.
    async fn compact_major(&self) -> Result<()>;
}

/// Phase A: one commit per batch.
pub async fn phase_a(target: &impl Target, bulk: Vec<RecordBatch>) -> Result<WritePhase> {
    let n = bulk.len();
    let rows = bulk.iter().map(|b| b.num_rows() as u64).sum();
    let mut phase = WritePhase {
        rows,
        ..Default::default()
    };
    let start = Instant::now();
    for (i, batch) in bulk.into_iter().enumerate() {
        phase.commits.push(target.commit(Some(batch), None).await?);
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
pub async fn phase_b(target: &impl Target, stream: Vec<StreamCommit>) -> Result<WritePhase> {
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
        phase.commits.push(target.commit(upserts, deletes).await?);
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

/// Phase A, a major compaction, phase B; the caller runs phase C (after letting background compaction settle).
pub async fn run_writes(
    target: &impl Target,
    bulk: Vec<RecordBatch>,
    stream: Vec<StreamCommit>,
) -> Result<Measured> {
    phase_mark("a", "begin");
    let mut m = Measured {
        phase_a: phase_a(target, bulk).await?,
        ..Default::default()
    };
    phase_mark("a", "end");
    eprintln!("phase A: {:.3} M rows/s", m.phase_a.rows_per_s() / 1e6);
    // What a pipeline does after a bulk load: compact it into base files, so the stream starts
    // on a settled table and phase B measures the stream, not the bulk load's compaction debt.
    let start = Instant::now();
    target.compact_major().await?;
    m.load_compaction_s = start.elapsed().as_secs_f64();
    eprintln!(
        "after phase A: major compaction in {:.2} s",
        m.load_compaction_s
    );
    phase_mark("b", "begin");
    m.phase_b = phase_b(target, stream).await?;
    phase_mark("b", "end");
    eprintln!("phase B: {:.3} M rows/s", m.phase_b.rows_per_s() / 1e6);
    Ok(m)
}

/// Compares the rows of a point lookup with the expected row.
pub fn check_point(checks: &mut Checks, batches: &[RecordBatch], e: &ExpectedRow) {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    checks.equal(&format!("rows for id {}", e.id), rows, 1);
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return;
    };
    let col = |name: &str| b.column_by_name(name);
    let got = (|| {
        let name = col("name")?;
        let name = match name.as_string_opt::<i32>() {
            Some(s) => s.value(0).to_string(),
            None => name.as_string_view_opt()?.value(0).to_string(),
        };
        Some(ExpectedRow {
            id: col("id")?.as_primitive_opt::<Int64Type>()?.value(0),
            name,
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
pub async fn phase_c(
    target: &impl Target,
    expected: &Expected,
    measured: &mut Measured,
) -> Result<()> {
    const RUNS: usize = 3;
    let checks = &mut measured.checks;
    phase_mark("c_count", "begin");
    for _ in 0..RUNS {
        let t = Instant::now();
        let n = target.count().await?;
        measured.count.runs_s.push(t.elapsed().as_secs_f64());
        checks.equal("count(*)", n, expected.count);
    }
    phase_mark("c_count", "end");
    phase_mark("c_point", "begin");
    for _ in 0..RUNS {
        let t = Instant::now();
        let rows = target.point(expected.probe.id).await?;
        measured.point.runs_s.push(t.elapsed().as_secs_f64());
        check_point(checks, &rows, &expected.probe);
    }
    phase_mark("c_point", "end");
    phase_mark("c_avg", "begin");
    for _ in 0..RUNS {
        let t = Instant::now();
        let (avg, n) = target.avg_score().await?;
        measured.avg.runs_s.push(t.elapsed().as_secs_f64());
        if let Some(n) = n {
            checks.equal("rows averaged by avg(score)", n, expected.count);
        }
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
        let rows: usize = target.point(id).await?.iter().map(|b| b.num_rows()).sum();
        checks.equal(&format!("rows for deleted id {id}"), rows, 0);
    }
    let sums = target.full_sums().await?;
    checks.equal("full scan rows", sums.rows, expected.count);
    checks.equal("full scan sum(id)", sums.sum_id, expected.sum_id);
    checks.equal("full scan sum(age)", sums.sum_age, expected.sum_age);
    phase_mark("verify", "end");
    measured.stats = target.stats().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};

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

    #[test]
    fn full_sums_add_up_batches() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("age", DataType::Int32, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(Int32Array::from(vec![Some(10), None, Some(5)])),
            ],
        )
        .unwrap();
        let mut sums = FullSums::default();
        sums.add(&batch);
        sums.add(&batch);
        assert_eq!(
            sums,
            FullSums {
                rows: 6,
                sum_id: 12,
                sum_age: 30
            }
        );
    }
}
