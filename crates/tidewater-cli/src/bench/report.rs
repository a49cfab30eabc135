//! The result of one run: one JSON object (`--json`) or a readable table.
//!
//! Field names are stable: runners that put systems side by side read them. Rates are rows per
//! second of wall time, latencies milliseconds, query times seconds (medians), memory MiB.

use serde::Serialize;

use super::measure::{CommitTiming, Measured, WritePhase};
use super::workload::{Expected, WorkloadSize};

/// Nearest-rank percentile of `values` (`p` in 0..=100); NaN when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median milliseconds of each step of a phase's commits.
#[derive(Debug, Clone, Serialize)]
pub struct CommitBreakdown {
    pub open_p50_ms: f64,
    pub upsert_p50_ms: f64,
    pub delete_p50_ms: f64,
    /// Served mode: sending the last blocks and waiting for their acks (0 embedded).
    pub flush_p50_ms: f64,
    pub commit_p50_ms: f64,
    pub total_p50_ms: f64,
}

impl CommitBreakdown {
    fn of(commits: &[CommitTiming]) -> Self {
        let p50 = |f: fn(&CommitTiming) -> std::time::Duration| {
            percentile(&commits.iter().map(|c| ms(f(c))).collect::<Vec<_>>(), 50.0)
        };
        CommitBreakdown {
            open_p50_ms: p50(|c| c.open),
            upsert_p50_ms: p50(|c| c.upsert),
            delete_p50_ms: p50(|c| c.delete),
            flush_p50_ms: p50(|c| c.flush),
            commit_p50_ms: p50(|c| c.commit),
            total_p50_ms: p50(|c| c.total),
        }
    }
}

/// The report of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub system: &'static str,
    pub workload: &'static str,
    pub mode: &'static str,
    // Parameters.
    pub rows_a: u64,
    pub commits_a: u32,
    pub stream_commits: u32,
    pub stream_upserts: u32,
    pub stream_updates: u32,
    pub stream_new: u32,
    pub stream_deletes: u32,
    pub buckets: u32,
    pub seed: u64,
    pub quick: bool,
    // Phase A.
    pub phase_a_s: f64,
    pub phase_a_rows_per_s: f64,
    pub phase_a_commit_p50_ms: f64,
    pub phase_a_breakdown: CommitBreakdown,
    /// The major compaction between phases A and B (untimed in either).
    pub load_compaction_s: f64,
    // Phase B.
    pub rows_b: u64,
    pub phase_b_s: f64,
    pub phase_b_rows_per_s: f64,
    pub commit_p50_ms: f64,
    pub commit_p99_ms: f64,
    pub commit_max_ms: f64,
    pub phase_b_breakdown: CommitBreakdown,
    /// Latency of every phase B commit, in order (is it flat as commits pile up?).
    pub commit_ms: Vec<f64>,
    // Phase C (medians of 3 runs; every run listed).
    pub c_count_s: f64,
    pub c_point_s: f64,
    pub c_avg_s: f64,
    pub c_count_runs_s: Vec<f64>,
    pub c_point_runs_s: Vec<f64>,
    pub c_avg_runs_s: Vec<f64>,
    /// Background compaction during the write phases: `auto` or `off` (`--compaction`).
    pub compaction: &'static str,
    /// Embedded mode: the reads after a major compaction and on one Parquet file (`null` served).
    pub after_compaction: Option<serde_json::Value>,
    /// Files and sorted runs per bucket after every ingest commit, compactions, write
    /// amplification (`null` behind `--endpoint`).
    pub stream_history: Option<serde_json::Value>,
    // Resources.
    /// Peak resident set of the timed run (`VmHWM`, reset after generating the data), MiB; in
    /// served mode that of the client (this process).
    pub peak_rss_mb: Option<f64>,
    /// Served mode: peak resident set of the server process over its life, MiB (`null`
    /// embedded, or when the server was not started by the run).
    pub server_peak_rss_mb: Option<f64>,
    /// Resident set when the timed run started (holding the generated data), MiB.
    pub rss_after_generate_mb: Option<f64>,
    /// Whether the peak was reset after generation; if not, `peak_rss_mb` includes it.
    pub peak_rss_reset: bool,
    /// Every file below the table directory (`null` when the warehouse is not a directory).
    pub bytes_on_disk: Option<u64>,
    pub files_on_disk: Option<u64>,
    /// `*.parquet` files below the table directory (including replaced ones not yet removed).
    pub data_files: Option<u64>,
    pub data_bytes: Option<u64>,
    /// Data files the latest snapshot references.
    pub live_data_files: u64,
    /// Rows stored in live files, before merging (updates and deletes count too); `null` in
    /// served mode (the API does not show it).
    pub stored_rows: Option<u64>,
    pub snapshots: u64,
    // Correctness.
    pub correct: bool,
    pub checks_passed: u32,
    pub wrong_answers: Vec<String>,
    pub expected_count: u64,
    pub expected_sum_id: i128,
    pub expected_sum_age: i128,
    pub expected_avg_score: f64,
    pub probe_id: i64,
    pub deleted_id: Option<i64>,
    // Context.
    pub generate_s: f64,
    /// Where the table is, when it was kept.
    pub warehouse: Option<String>,
    pub version: &'static str,
}

/// What the caller of the run adds to the measurements.
pub struct RunContext {
    pub mode: &'static str,
    pub compaction: &'static str,
    pub quick: bool,
    pub generate_s: f64,
    pub rss_after_generate_mb: Option<f64>,
    pub peak_rss_reset: bool,
    pub peak_rss_mb: Option<f64>,
    pub server_peak_rss_mb: Option<f64>,
    pub disk: Option<super::resources::DiskUsage>,
    pub warehouse: Option<String>,
}

fn commit_ms(p: &WritePhase) -> Vec<f64> {
    p.commits.iter().map(|c| ms(c.total)).collect()
}

impl Report {
    pub fn new(size: &WorkloadSize, e: &Expected, m: &Measured, ctx: RunContext) -> Report {
        let b_ms = commit_ms(&m.phase_b);
        Report {
            system: match ctx.mode {
                "served" => "tidewater-served",
                _ => "tidewater-embedded",
            },
            workload: "upsert-stream",
            mode: ctx.mode,
            rows_a: size.rows,
            commits_a: size.commits,
            stream_commits: size.stream_commits,
            stream_upserts: size.stream_upserts,
            stream_updates: size.stream_updates(),
            stream_new: size.stream_new(),
            stream_deletes: size.stream_deletes,
            buckets: size.buckets,
            seed: size.seed,
            quick: ctx.quick,
            phase_a_s: m.phase_a.wall.as_secs_f64(),
            phase_a_rows_per_s: m.phase_a.rows_per_s(),
            phase_a_commit_p50_ms: percentile(&commit_ms(&m.phase_a), 50.0),
            phase_a_breakdown: CommitBreakdown::of(&m.phase_a.commits),
            load_compaction_s: m.load_compaction_s,
            rows_b: m.phase_b.rows,
            phase_b_s: m.phase_b.wall.as_secs_f64(),
            phase_b_rows_per_s: m.phase_b.rows_per_s(),
            commit_p50_ms: percentile(&b_ms, 50.0),
            commit_p99_ms: percentile(&b_ms, 99.0),
            commit_max_ms: percentile(&b_ms, 100.0),
            phase_b_breakdown: CommitBreakdown::of(&m.phase_b.commits),
            commit_ms: b_ms,
            c_count_s: m.count.median_s(),
            c_point_s: m.point.median_s(),
            c_avg_s: m.avg.median_s(),
            c_count_runs_s: m.count.runs_s.clone(),
            c_point_runs_s: m.point.runs_s.clone(),
            c_avg_runs_s: m.avg.runs_s.clone(),
            compaction: ctx.compaction,
            after_compaction: m.after_compaction.clone(),
            stream_history: m.stream_history.clone(),
            peak_rss_mb: ctx.peak_rss_mb,
            server_peak_rss_mb: ctx.server_peak_rss_mb,
            rss_after_generate_mb: ctx.rss_after_generate_mb,
            peak_rss_reset: ctx.peak_rss_reset,
            bytes_on_disk: ctx.disk.map(|d| d.bytes),
            files_on_disk: ctx.disk.map(|d| d.files),
            data_files: ctx.disk.map(|d| d.parquet_files),
            data_bytes: ctx.disk.map(|d| d.parquet_bytes),
            live_data_files: m.stats.live_data_files,
            stored_rows: m.stats.stored_rows,
            snapshots: m.stats.snapshots,
            correct: m.checks.all_passed(),
            checks_passed: m.checks.passed,
            wrong_answers: m.checks.failures.clone(),
            expected_count: e.count,
            expected_sum_id: e.sum_id,
            expected_sum_age: e.sum_age,
            expected_avg_score: e.avg_score,
            probe_id: e.probe.id,
            deleted_id: e.deleted,
            generate_s: ctx.generate_s,
            warehouse: ctx.warehouse,
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// The report as a readable table.
    pub fn to_table(&self) -> String {
        let mb = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.0} MiB"));
        let rate = |r: f64| format!("{:.3} M rows/s", r / 1e6);
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "{} — workload {} (seed {}, {} buckets{})",
            self.system,
            self.workload,
            self.seed,
            self.buckets,
            if self.quick { ", quick size" } else { "" }
        ));
        line(format!(
            "  phase A  bulk    {:>10} rows in {} commits   {:>18}   {:.2} s   commit p50 {:.1} ms",
            self.rows_a,
            self.commits_a,
            rate(self.phase_a_rows_per_s),
            self.phase_a_s,
            self.phase_a_commit_p50_ms
        ));
        line(format!(
            "  then     major compaction of the bulk load in {:.2} s",
            self.load_compaction_s
        ));
        line(format!(
            "  phase B  stream  {:>10} rows in {} commits   {:>18}   {:.2} s   commit p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            self.rows_b,
            self.stream_commits,
            rate(self.phase_b_rows_per_s),
            self.phase_b_s,
            self.commit_p50_ms,
            self.commit_p99_ms,
            self.commit_max_ms
        ));
        line(format!(
            "  phase C  count {:.4} s   point {:.2} ms   avg {:.4} s   (medians of 3)",
            self.c_count_s,
            self.c_point_s * 1e3,
            self.c_avg_s
        ));
        line(format!(
            "  memory   peak RSS {}{} (at start of the timed run {}{})",
            if self.server_peak_rss_mb.is_some() {
                "client "
            } else {
                ""
            },
            mb(self.peak_rss_mb),
            mb(self.rss_after_generate_mb),
            if self.peak_rss_reset {
                ""
            } else {
                "; peak includes data generation"
            }
        ));
        if let Some(server) = self.server_peak_rss_mb {
            line(format!(
                "           peak RSS server {} (the `tidewater serve` process)",
                mb(Some(server))
            ));
        }
        let disk = match (self.bytes_on_disk, self.files_on_disk, self.data_files) {
            (Some(bytes), Some(files), Some(data)) => format!(
                "{:.1} MiB in {files} files; {data} data files",
                bytes as f64 / (1024.0 * 1024.0)
            ),
            _ => "not measured".to_string(),
        };
        line(format!(
            "  disk     {disk} ({} live); {} snapshots",
            self.live_data_files, self.snapshots
        ));
        if let Some(h) = &self.stream_history {
            let n = |k: &str| h.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
            line(format!(
                "  files    compaction {}: {} compactions ({} major); phase B at most {} files and {} sorted runs per bucket, {} at the end; write amplification {:.2}",
                self.compaction,
                n("compactions"),
                n("major_compactions"),
                n("phase_b_max_files_per_bucket"),
                n("phase_b_max_sorted_runs"),
                n("end_files_per_bucket"),
                n("write_amplification")
            ));
        }
        if let Some(a) = &self.after_compaction {
            let n = |k: &str| a.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
            line(format!(
                "  major    {} → {} files in {:.2} s; count {:.4} s  point {:.2} ms  avg {:.4} s = {:.2}× / {:.2}× / {:.2}× one Parquet file",
                n("files_in"),
                n("files_out"),
                n("compact_s"),
                n("c_count_s"),
                n("c_point_s") * 1e3,
                n("c_avg_s"),
                n("ratio_count"),
                n("ratio_point"),
                n("ratio_avg")
            ));
        }
        if self.correct {
            line(format!(
                "  correct  yes ({} checks against the model)",
                self.checks_passed
            ));
        } else {
            line(format!(
                "  correct  NO: {} wrong answer(s)",
                self.wrong_answers.len()
            ));
            for w in &self.wrong_answers {
                line(format!("    - {w}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=50).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 25.0);
        assert_eq!(percentile(&v, 99.0), 50.0);
        assert_eq!(percentile(&v, 100.0), 50.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
