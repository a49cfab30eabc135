//! Compaction of Delta tables (DESIGN §3, §7): per-bucket LSM sorted runs, which runs to merge,
//! the merge itself and its optimistic commit.
//!
//! **Sorted runs.** Every level-0 file (a session's file of one bucket, or a merge of the
//! newest level-0 runs) is a sorted run of its own; each level `1..=MAX_LEVEL` holds at most one sorted run (files with disjoint key ranges).
//! Runs are ordered newest first: level-0 files by sequence, then levels 1, 2, … — a run at a
//! higher level only holds older rows, because compaction output goes just above the newest run
//! it did not take.
//!
//! **Picking (universal compaction).** Per bucket, once its runs reach
//! `num-sorted-run.compaction-trigger`:
//! 1. *size amplification*: when the runs above the oldest add up to more than
//!    `compaction.max-size-amplification-percent` of it, everything is merged;
//! 2. *size ratio*: otherwise, from the newest run on, the next older run joins while it is not
//!    larger than the picked runs together (plus `compaction.size-ratio` percent);
//! 3. otherwise the newest runs are merged so that `trigger - 1` runs remain, extended by the
//!    size ratio as in 2 (so a small new run does not grow a mid-sized one commit by commit).
//!
//! The output goes one level above the newest run not taken, or stays at level 0 when that run
//! is at level 0 or 1: small new runs first merge among themselves. Only runs adjacent in time
//! merge, and a big old run is rewritten only when the newer data grew comparable to it — so
//! write amplification stays logarithmic. A merge of every run of a
//! bucket (or a *major* compaction) writes base files at `MAX_LEVEL`: the newest row per key and
//! no deletes. A minor merge keeps delete rows, since older versions of the key may remain below.
//!
//! **Commit.** One `compact` snapshot per run removes the input files and adds the outputs (whose
//! `_seq` column already holds global sequence numbers, `seq_offset` 0). Ingest commits only add
//! files, so they never conflict with compaction; a compaction whose inputs were removed meanwhile
//! (another compactor) fails with [`Error::CommitConflict`], deletes its outputs and is retried by
//! the caller. Earlier snapshots keep referencing the input files until retention expires them,
//! so time travel and incremental reads within retention are unaffected.
//!
//! **One at a time per table in a process** ([`CompactionGate`]): compactions of one table do
//! not race each other to a conflict. Manual ones (`ALTER TABLE … COMPACT`, `tidewater table
//! compact`) take turns, and one stops a running automatic one at its next batch — whose commit
//! would mostly conflict with it anyway — rather than waiting for it or wasting its cores. An
//! automatic one that finds another compaction of the table under way does nothing: that one
//! compacts the table, and the background service is not held up by it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use snafu::ResultExt;
use tidewater_format::schema::TableKind;
use tidewater_format::{CompactionSettings, DataFileMeta, PartitionSpec, Snapshot, SnapshotKind};

use crate::commit::{CommitRequest, commit};
use crate::error::{CompactionSupersededSnafu, Error, JoinSnafu, NotDeltaTableSnafu, Result};
use crate::scan::merge::read_split;
use crate::scan::{
    DEFAULT_BATCH_SIZE, Emitter, Output, PartitionFilter, ScanContext, Split, Versions,
};
use crate::table::Table;
use crate::write::{FileTarget, RollingWriter};

/// Attempts of a manual compaction that keeps losing races with other compactors.
pub const MANUAL_ATTEMPTS: u32 = 10;

/// Highest LSM level: where base files (full merges) go.
pub const MAX_LEVEL: u32 = 5;

/// What a compaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactMode {
    /// What the table needs: minor merges in buckets past the sorted-run trigger, or a major
    /// compaction when `upsert.major-compact.enable` is set and `min-commits` commits passed.
    Auto,
    /// Merge the newest runs of every bucket with two or more runs (the picking policy with a
    /// trigger of 2).
    Minor,
    /// Rewrite every bucket into base files.
    Major,
}

/// Turns of the compactions of one table in this process (shared by all its handles).
#[derive(Debug, Default)]
pub(crate) struct CompactionGate {
    turn: tokio::sync::Mutex<()>,
    /// Manual compactions waiting for their turn: an automatic one stops for them.
    manual_waiting: AtomicUsize,
}

impl CompactionGate {
    /// Whether an automatic compaction should stop and leave its turn to a manual one.
    fn superseded(&self) -> bool {
        self.manual_waiting.load(Ordering::Acquire) > 0
    }

    /// A manual compaction's turn: automatic ones stop while it waits for it — also when the
    /// waiting future is dropped midway, the count goes down again.
    async fn manual_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.manual_waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.manual_waiting);
        self.turn.lock().await
    }
}

/// What one compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// The `compact` snapshot, `None` when nothing needed compacting.
    pub snapshot: Option<u64>,
    pub major: bool,
    pub buckets: u64,
    pub files_in: u64,
    pub files_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rows_in: u64,
    pub rows_out: u64,
}

/// Files of one bucket to merge, and where the output goes.
#[derive(Debug, Clone)]
pub(crate) struct Pick {
    pub partition: PartitionSpec,
    pub bucket: u32,
    pub inputs: Vec<DataFileMeta>,
    pub level: u32,
    /// Every run of the bucket is merged: nothing older remains, deletes can go.
    pub full: bool,
}

struct Run<'a> {
    level: u32,
    files: Vec<&'a DataFileMeta>,
    size: u64,
}

/// The sorted runs of one bucket's files, newest first.
fn sorted_runs<'a>(files: &[&'a DataFileMeta]) -> Vec<Run<'a>> {
    let mut l0: Vec<&DataFileMeta> = files.iter().copied().filter(|f| f.level == 0).collect();
    l0.sort_by_key(|f| std::cmp::Reverse(f.max_seq));
    let mut runs: Vec<Run> = l0
        .into_iter()
        .map(|f| Run {
            level: 0,
            files: vec![f],
            size: f.size_bytes,
        })
        .collect();
    let mut levels: BTreeMap<u32, Vec<&DataFileMeta>> = BTreeMap::new();
    for f in files.iter().filter(|f| f.level > 0) {
        levels.entry(f.level.min(MAX_LEVEL)).or_default().push(f);
    }
    runs.extend(levels.into_iter().map(|(level, files)| Run {
        level,
        size: files.iter().map(|f| f.size_bytes).sum(),
        files,
    }));
    runs
}

/// How many newest runs to merge (0: none), following the module's policy.
fn pick_count(runs: &[Run], c: &CompactionSettings, trigger: usize) -> usize {
    let n = runs.len();
    if n < trigger.max(2) {
        return 0;
    }
    let oldest = runs[n - 1].size.max(1);
    let above: u64 = runs[..n - 1].iter().map(|r| r.size).sum();
    if above.saturating_mul(100) > oldest.saturating_mul(c.max_size_amp as u64) {
        return n;
    }
    let count = extend_by_ratio(runs, 1, c);
    if count >= 2 {
        return count;
    }
    extend_by_ratio(runs, n + 2 - trigger.max(2), c)
}

/// `count` newest runs, plus each next older run that is not larger than the runs taken so far
/// together (plus `compaction.size-ratio` percent).
fn extend_by_ratio(runs: &[Run], mut count: usize, c: &CompactionSettings) -> usize {
    let mut picked: u64 = runs[..count].iter().map(|r| r.size).sum();
    while count < runs.len()
        && picked.saturating_mul(100 + c.size_ratio as u64) / 100 >= runs[count].size
    {
        picked += runs[count].size;
        count += 1;
    }
    count
}

/// The merge for one bucket, if it needs one.
fn pick_bucket(files: &[&DataFileMeta], c: &CompactionSettings, major: bool) -> Option<Pick> {
    let first = files.first()?;
    let runs = sorted_runs(files);
    let count = if major {
        // Already one base run without deletes: nothing to do.
        let done = runs.len() == 1
            && runs[0].level == MAX_LEVEL
            && runs[0].files.iter().all(|f| f.delete_count == 0);
        if done { 0 } else { runs.len() }
    } else {
        pick_count(&runs, c, c.run_trigger as usize)
    };
    if count == 0 {
        return None;
    }
    // Output goes one level above the newest run not taken, or stays at level 0 (a level-0
    // file is a run of its own, ordered by sequence: the output is newer than every run left).
    let full = count == runs.len();
    let level = if full {
        MAX_LEVEL
    } else {
        runs[count].level.saturating_sub(1)
    };
    Some(Pick {
        partition: first.partition.clone(),
        bucket: first.bucket,
        inputs: runs[..count]
            .iter()
            .flat_map(|r| r.files.iter().map(|f| (*f).clone()))
            .collect(),
        level,
        full,
    })
}

/// Groups files by (partition, bucket).
fn by_bucket(files: &[DataFileMeta]) -> BTreeMap<(&PartitionSpec, u32), Vec<&DataFileMeta>> {
    let mut groups: BTreeMap<(&PartitionSpec, u32), Vec<&DataFileMeta>> = BTreeMap::new();
    for f in files {
        groups.entry((&f.partition, f.bucket)).or_default().push(f);
    }
    groups
}

/// The largest number of sorted runs of any bucket among `files` (0 for no files): what
/// back-pressure compares with `num-sorted-run.stop-trigger`.
pub fn max_sorted_runs(files: &[DataFileMeta]) -> usize {
    by_bucket(files)
        .values()
        .map(|f| sorted_runs(f).len())
        .max()
        .unwrap_or(0)
}

/// Builds and runs a compaction: `table.compact(CompactMode::Major).run().await`.
pub struct CompactBuilder {
    table: Table,
    mode: CompactMode,
    partition_filter: Option<PartitionFilter>,
    concurrency: usize,
}

impl Table {
    pub fn compact(&self, mode: CompactMode) -> CompactBuilder {
        CompactBuilder {
            table: self.clone(),
            mode,
            partition_filter: None,
            concurrency: 2,
        }
    }

    /// Append (ingest) commits since the last major compaction, counting up to `cap`.
    pub async fn commits_since_major(&self, latest: &Snapshot, cap: u64) -> Result<u64> {
        let mut count = 0;
        let mut s = Arc::new(latest.clone());
        loop {
            if s.kind == SnapshotKind::Compact && s.summary.major {
                return Ok(count);
            }
            if s.kind == SnapshotKind::Append {
                count += 1;
            }
            let Some(parent) = s.parent else {
                return Ok(count);
            };
            if count >= cap {
                return Ok(count);
            }
            s = match self.snapshot(parent).await {
                Ok(p) => p,
                Err(Error::SnapshotNotFound { .. } | Error::SnapshotExpired { .. }) => {
                    return Ok(count);
                }
                Err(e) => return Err(e),
            };
        }
    }
}

impl CompactBuilder {
    /// Only partitions accepted by `f`.
    pub fn partition_filter(mut self, f: PartitionFilter) -> Self {
        self.partition_filter = Some(f);
        self
    }

    /// Buckets merged at once (default 2).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The merges the latest snapshot needs, and whether they make a major compaction.
    pub(crate) async fn plan(&self) -> Result<Option<(Arc<Snapshot>, Vec<Pick>, bool)>> {
        let table = &self.table;
        if table.kind() != TableKind::Delta {
            return NotDeltaTableSnafu {
                table: table.full_name(),
                operation: "compaction",
            }
            .fail();
        }
        let Some(latest) = table.latest_snapshot().await? else {
            return Ok(None);
        };
        let settings = &table.metadata().properties.compaction;
        let major = match self.mode {
            CompactMode::Major => true,
            CompactMode::Minor => false,
            CompactMode::Auto => {
                let min = settings.major_min_commits as u64;
                settings.major_enable && table.commits_since_major(&latest, min).await? >= min
            }
        };
        let mut minor_settings = settings.clone();
        if self.mode == CompactMode::Minor {
            minor_settings.run_trigger = 2;
        }
        let mut files = table.files(&latest).await?;
        if let Some(f) = &self.partition_filter {
            files.retain(|file| f(&file.partition));
        }
        let picks: Vec<Pick> = by_bucket(&files)
            .values()
            .filter_map(|files| pick_bucket(files, &minor_settings, major))
            .collect();
        Ok(Some((latest, picks, major)))
    }

    /// Runs the compaction. A manual one (`Major`, `Minor`) that loses a race with another
    /// compactor (the background service) plans again on the new latest snapshot, up to
    /// [`MANUAL_ATTEMPTS`] times; `Auto` returns the conflict at once (the background service
    /// retries in its next round).
    ///
    /// Compactions of one table in this process do not overlap: manual ones take turns, a
    /// manual one stops a running `Auto` one, which then fails with
    /// [`Error::CompactionSuperseded`] (its outputs deleted), and an `Auto` one that finds
    /// another compaction of the table under way returns at once with nothing done.
    pub async fn run(self) -> Result<CompactReport> {
        let gate = self.table.inner.compaction.clone();
        let auto = self.mode == CompactMode::Auto;
        let _turn = if auto {
            let Ok(turn) = gate.turn.try_lock() else {
                return Ok(CompactReport::default());
            };
            self.check_superseded()?;
            turn
        } else {
            gate.manual_turn().await
        };
        let attempts = if auto { 1 } else { MANUAL_ATTEMPTS };
        let mut attempt = 1;
        loop {
            match self.run_once().await {
                Err(Error::CommitConflict { .. }) if attempt < attempts => attempt += 1,
                r => return r,
            }
        }
    }

    /// An `Auto` compaction fails once a manual one waits for its turn.
    fn check_superseded(&self) -> Result<()> {
        if self.mode == CompactMode::Auto && self.table.inner.compaction.superseded() {
            return CompactionSupersededSnafu {
                table: self.table.full_name(),
            }
            .fail();
        }
        Ok(())
    }

    async fn run_once(&self) -> Result<CompactReport> {
        let Some((latest, picks, major)) = self.plan().await? else {
            return Ok(CompactReport::default());
        };
        if picks.is_empty() {
            return Ok(CompactReport::default());
        }
        let table = &self.table;
        let _pin = table.pin(latest.id);
        // Owned items: a closure over `&Pick` makes this future not provably `Send`.
        let auto = self.mode == CompactMode::Auto;
        let results: Vec<Result<Vec<DataFileMeta>>> = futures::stream::iter(picks.clone())
            .map(|p| {
                let table = table.clone();
                async move { merge_bucket(&table, &p, auto).await }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut added = Vec::new();
        let mut failure = None;
        for r in results {
            match r {
                Ok(files) => added.extend(files),
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure.or_else(|| self.check_superseded().err()) {
            delete_files(table, &added).await;
            return Err(e);
        }
        let removed: Vec<DataFileMeta> = picks.iter().flat_map(|p| p.inputs.clone()).collect();
        let report = CompactReport {
            snapshot: None,
            major,
            buckets: picks.len() as u64,
            files_in: removed.len() as u64,
            files_out: added.len() as u64,
            bytes_in: removed.iter().map(|f| f.size_bytes).sum(),
            bytes_out: added.iter().map(|f| f.size_bytes).sum(),
            rows_in: removed.iter().map(|f| f.row_count).sum(),
            rows_out: added.iter().map(|f| f.row_count).sum(),
        };
        let request = CommitRequest {
            removed,
            seqs_global: true,
            major,
            ..CommitRequest::append(SnapshotKind::Compact, None, added.clone(), 0, latest.id)
        };
        match commit(table, request).await {
            Ok(s) => Ok(CompactReport {
                snapshot: Some(s.id),
                ..report
            }),
            Err(e) => {
                // A lost race (inputs gone) or a failed put: the outputs are not referenced.
                // An unknown outcome cannot happen here: a compaction carries no commit id and
                // only a created snapshot references the files.
                if matches!(e, Error::CommitConflict { .. }) {
                    delete_files(table, &added).await;
                }
                Err(e)
            }
        }
    }
}

async fn delete_files(table: &Table, files: &[DataFileMeta]) {
    let storage = table.storage();
    for f in files {
        if let Err(e) = storage.delete(&table.paths().data_file(&f.path)).await {
            tracing::warn!(path = %f.path, error = %e, "could not delete a compaction output; garbage collection will");
        }
    }
}

/// Merges one bucket's picked files into new files at the pick's level. An automatic
/// compaction (`auto`) stops at the next batch once a manual one waits for its turn.
async fn merge_bucket(table: &Table, pick: &Pick, auto: bool) -> Result<Vec<DataFileMeta>> {
    let schema = table.schema();
    let file_schema = schema.file_arrow_schema(TableKind::Delta);
    let read: Vec<usize> = (0..schema.columns.len()).collect();
    let ctx = Arc::new(ScanContext {
        storage: table.storage().clone(),
        table: table.clone(),
        kind: TableKind::Delta,
        file_schema: file_schema.clone(),
        outputs: read.iter().map(|i| Output::Data(*i)).collect(),
        read,
        key_indices: schema.key_indices(),
        probe: None,
        batch_size: DEFAULT_BATCH_SIZE,
        versions: Versions::Newest {
            drop_deletes: pick.full,
        },
        _pin: None,
    });
    let target = Arc::new(FileTarget {
        kind: TableKind::Delta,
        file_schema,
        key_indices: schema.key_indices(),
        partition: pick.partition.clone(),
        bucket: pick.bucket,
        total_buckets: table.bucket_num(),
        schema_id: table.metadata().schema_id,
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let split = Split {
        partition: pick.partition.clone(),
        bucket: pick.bucket,
        files: pick.inputs.clone(),
    };
    let reader = tokio::spawn(async move {
        let out = Emitter::raw(tx.clone(), ctx.clone(), split.partition.clone());
        if let Err(e) = read_split(&ctx, &split, &out).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    let level = pick.level;
    let target_size = table.metadata().properties.compaction.target_file_size;
    let storage = table.storage().clone();
    let paths = table.paths().clone();
    let handle = tokio::runtime::Handle::current();
    let gate = table.inner.compaction.clone();
    let full_name = table.full_name();
    let mut written: Vec<DataFileMeta> = Vec::new();
    let result = tokio::task::spawn_blocking(move || {
        let mut writer = RollingWriter::new(target, level, target_size);
        let mut put = |done: Option<(DataFileMeta, bytes::Bytes)>| -> Result<()> {
            if let Some((meta, bytes)) = done {
                handle.block_on(storage.put(&paths.data_file(&meta.path), bytes))?;
                written.push(meta);
            }
            Ok(())
        };
        let mut outcome = Ok(());
        while let Some(batch) = rx.blocking_recv() {
            if auto && gate.superseded() {
                outcome = CompactionSupersededSnafu { table: full_name }.fail();
                break;
            }
            outcome = batch.and_then(|b| put(writer.write(&b)?));
            if outcome.is_err() {
                break;
            }
        }
        if outcome.is_ok() {
            outcome = writer.finish().and_then(&mut put);
        }
        (outcome, written)
    })
    .await
    .context(JoinSnafu)?;
    reader.abort();
    let (outcome, written) = result;
    if let Err(e) = outcome {
        delete_files(table, &written).await;
        return Err(e);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(level: u32, size: u64, max_seq: u64) -> DataFileMeta {
        DataFileMeta {
            path: format!("data/bucket-0/{level}-{max_seq}.parquet"),
            partition: PartitionSpec::default(),
            bucket: 0,
            total_buckets: 1,
            level,
            row_count: 1,
            delete_count: 0,
            min_key: vec![],
            max_key: vec![],
            seq_offset: 0,
            min_seq: max_seq,
            max_seq,
            size_bytes: size,
            schema_id: 0,
            created_ms: 0,
        }
    }

    /// The picking policy at a sorted-run trigger of 5.
    fn pick(files: &[DataFileMeta], major: bool) -> Option<(usize, u32, bool)> {
        let refs: Vec<&DataFileMeta> = files.iter().collect();
        let settings = CompactionSettings {
            run_trigger: 5,
            ..Default::default()
        };
        pick_bucket(&refs, &settings, major).map(|p| (p.inputs.len(), p.level, p.full))
    }

    #[test]
    fn below_the_trigger_nothing_is_merged() {
        let files: Vec<_> = (0..4).map(|i| file(0, 10, i)).collect();
        assert_eq!(pick(&files, false), None);
    }

    #[test]
    fn equal_small_runs_merge_into_a_base_run() {
        let files: Vec<_> = (0..5).map(|i| file(0, 10, i)).collect();
        // Size amplification: 40 above 10 → everything, to the top level.
        assert_eq!(pick(&files, false), Some((5, MAX_LEVEL, true)));
    }

    #[test]
    fn new_small_runs_do_not_rewrite_a_big_base() {
        let mut files: Vec<_> = (1..=5).map(|i| file(0, 10, 100 + i)).collect();
        files.push(file(MAX_LEVEL, 1000, 50));
        // 50 above 1000 is below 200 %; the size ratio takes the five equal L0 runs, and the
        // output lands just above the base.
        assert_eq!(pick(&files, false), Some((5, MAX_LEVEL - 1, false)));
    }

    #[test]
    fn new_small_runs_merge_among_themselves_at_level_0() {
        let mut files: Vec<_> = (1..=4).map(|i| file(0, 10, 100 + i)).collect();
        files.push(file(0, 1000, 90));
        files.push(file(MAX_LEVEL, 100_000, 50));
        // The four small runs merge; the output stays at level 0, above the next level-0 run.
        assert_eq!(pick(&files, false), Some((4, 0, false)));
    }

    #[test]
    fn a_run_forced_by_the_count_takes_older_runs_within_the_ratio() {
        // A mid-sized run at level 2 above a smaller one at level 3: the count rule merges the
        // new run and the level-2 run, and the ratio adds level 3 (30 ≥ 20) but not level 4.
        let files = vec![
            file(0, 5, 9),
            file(2, 25, 5),
            file(3, 20, 4),
            file(4, 1000, 3),
            file(MAX_LEVEL, 100_000, 1),
        ];
        assert_eq!(pick(&files, false), Some((3, 3, false)));
    }

    #[test]
    fn a_big_new_run_stops_the_ratio_and_the_run_count_rule_applies() {
        let mut files = vec![file(0, 10, 9), file(0, 1000, 8)];
        files.push(file(3, 100_000, 5));
        files.push(file(4, 200_000, 4));
        files.push(file(MAX_LEVEL, 1_000_000, 1));
        // 5 runs, trigger 5: the two newest merge (so 4 remain); the next run is at level 3.
        assert_eq!(pick(&files, false), Some((2, 2, false)));
    }

    #[test]
    fn major_merges_everything_once() {
        let files = vec![file(0, 10, 2), file(MAX_LEVEL, 100, 1)];
        assert_eq!(pick(&files, true), Some((2, MAX_LEVEL, true)));
        assert_eq!(pick(&[file(MAX_LEVEL, 100, 1)], true), None);
        let mut with_deletes = file(MAX_LEVEL, 100, 1);
        with_deletes.delete_count = 1;
        assert_eq!(pick(&[with_deletes], true), Some((1, MAX_LEVEL, true)));
    }
}
