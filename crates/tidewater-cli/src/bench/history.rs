//! How the table's files evolved during the run, read back from its snapshot history: files and
//! sorted runs per bucket after every ingest commit (do they stay bounded while the stream goes
//! on?), the compactions that ran, and their write amplification (bytes compaction wrote / bytes
//! ingest wrote).
//!
//! Computed after the run from the stored snapshots, so it costs the timed phases nothing and
//! reads the same in both modes (served: the warehouse of the server the run started).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use snafu::ResultExt;
use tidewater_engine::Table;
use tidewater_engine::compact::max_sorted_runs;
use tidewater_format::SnapshotKind;

use crate::error::{EngineSnafu, Result};

/// The history of snapshots `1..=upto`; the first `bulk_commits` ingest commits are phase A.
pub async fn stream_history(table: &Table, bulk_commits: u32, upto: u64) -> Result<Value> {
    let engine = |op: &str| EngineSnafu { op: op.to_string() };
    let mut files_per_bucket = Vec::new();
    let mut sorted_runs = Vec::new();
    let (mut ingest_commits, mut compactions, mut majors) = (0u64, 0u64, 0u64);
    let (mut bytes_ingested, mut bytes_compacted) = (0u64, 0u64);
    let (mut b_max_files, mut b_max_runs) = (0usize, 0usize);
    let mut end_files = 0;
    let ids = table
        .snapshot_ids()
        .await
        .context(engine("listing snapshots"))?;
    for id in ids.into_iter().filter(|id| *id <= upto) {
        let s = table
            .snapshot(id)
            .await
            .context(engine("reading a snapshot"))?;
        match s.kind {
            SnapshotKind::Append => {
                ingest_commits += 1;
                bytes_ingested += s.summary.bytes_added;
            }
            SnapshotKind::Compact => {
                compactions += 1;
                majors += u64::from(s.summary.major);
                bytes_compacted += s.summary.bytes_added;
            }
            _ => continue,
        }
        let files = table
            .files(&s)
            .await
            .context(engine("listing a snapshot's files"))?;
        let mut per_bucket: BTreeMap<_, usize> = BTreeMap::new();
        for f in &files {
            *per_bucket.entry((&f.partition, f.bucket)).or_default() += 1;
        }
        let most = per_bucket.values().copied().max().unwrap_or(0);
        let runs = max_sorted_runs(&files);
        end_files = most;
        if ingest_commits > u64::from(bulk_commits) {
            b_max_files = b_max_files.max(most);
            b_max_runs = b_max_runs.max(runs);
        }
        if s.kind == SnapshotKind::Append {
            files_per_bucket.push(most);
            sorted_runs.push(runs);
        }
    }
    Ok(json!({
        "ingest_commits": ingest_commits,
        "compactions": compactions,
        "major_compactions": majors,
        "phase_b_max_files_per_bucket": b_max_files,
        "phase_b_max_sorted_runs": b_max_runs,
        "end_files_per_bucket": end_files,
        "bytes_ingested": bytes_ingested,
        "bytes_compacted": bytes_compacted,
        "write_amplification": bytes_compacted as f64 / bytes_ingested.max(1) as f64,
        "files_per_bucket": files_per_bucket,
        "sorted_runs": sorted_runs,
    }))
}
