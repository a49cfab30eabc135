//! The commit protocol (DESIGN §5): optimistic, idempotent, one snapshot per commit.
//!
//! ```text
//! loop {
//!   latest = newest snapshot
//!   if a snapshot in (search_from, latest] carries our commit id → return it   (idempotence)
//!   check conflicts (files to remove must still be live)
//!   write manifest/<uuid> (our files, seq_offset = latest.next_seq)
//!   create snapshot/<latest+1> if absent                                        (the atomic step)
//!   created → done;  lost the race → delete our manifest, retry
//! }
//! ```
//!
//! Invariants: snapshot ids are gap-free; a commit takes `seq_count` sequence numbers starting at
//! the parent's `next_seq`; losing a race is not an error; a commit id appears in at most one
//! snapshot. When a snapshot would reference more than [`MAX_MANIFESTS`] manifests, the live set
//! is rewritten into one manifest, so commit cost does not grow with the number of commits.

use std::collections::HashSet;
use std::sync::Arc;

use tidewater_format::snapshot::SNAPSHOT_FORMAT_VERSION;
use tidewater_format::{
    CommitId, DataFileMeta, FileOp, Manifest, ManifestEntry, ManifestRef, Snapshot, SnapshotKind,
    SnapshotSummary,
};

use crate::error::{
    BucketMismatchSnafu, CommitConflictSnafu, Error, Result, TooManyConflictsSnafu,
};
use crate::table::Table;
use crate::util::now_ms;

/// Manifests one snapshot may reference before they are merged into one.
pub const MAX_MANIFESTS: usize = 64;
const MAX_ATTEMPTS: u32 = 1000;

pub(crate) struct CommitRequest {
    pub commit_id: Option<CommitId>,
    pub kind: SnapshotKind,
    /// New files; their `seq_offset`, `min_seq` and `max_seq` are relative to this commit's first
    /// sequence number (usually 0) and are made global here.
    pub added: Vec<DataFileMeta>,
    /// Live files this commit removes (compaction, overwrite).
    pub removed: Vec<DataFileMeta>,
    /// How many sequence numbers the added files use.
    pub seq_count: u64,
    /// The commit id cannot be in snapshots up to this id (exclusive lower bound of the search).
    pub search_from: u64,
    /// The added files already carry global sequence numbers (compaction output).
    pub seqs_global: bool,
    /// Recorded in the summary of the snapshot.
    pub major: bool,
    pub expired_snapshots: u64,
}

impl CommitRequest {
    /// A commit of new rows: `added` with sequence numbers relative to the commit.
    pub(crate) fn append(
        kind: SnapshotKind,
        commit_id: Option<CommitId>,
        added: Vec<DataFileMeta>,
        seq_count: u64,
        search_from: u64,
    ) -> Self {
        CommitRequest {
            commit_id,
            kind,
            added,
            removed: Vec::new(),
            seq_count,
            search_from,
            seqs_global: false,
            major: false,
            expired_snapshots: 0,
        }
    }
}

/// Finds the snapshot in `(after, latest]` carrying `commit_id`.
pub(crate) async fn find_commit(
    table: &Table,
    commit_id: &CommitId,
    after: u64,
) -> Result<Option<Arc<Snapshot>>> {
    let Some(latest) = table.latest_snapshot().await? else {
        return Ok(None);
    };
    search(table, commit_id, after, latest.id).await
}

async fn search(
    table: &Table,
    commit_id: &CommitId,
    after: u64,
    upto: u64,
) -> Result<Option<Arc<Snapshot>>> {
    for id in (after + 1..=upto).rev() {
        match table.snapshot(id).await {
            Ok(s) if s.commit.as_ref() == Some(commit_id) => return Ok(Some(s)),
            Ok(_) => {}
            // Expired meanwhile: it cannot be ours, we are newer than the retention window.
            Err(Error::SnapshotNotFound { .. } | Error::SnapshotExpired { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

pub(crate) async fn commit(table: &Table, req: CommitRequest) -> Result<Arc<Snapshot>> {
    for f in &req.added {
        if f.total_buckets != table.bucket_num() {
            return BucketMismatchSnafu {
                table: table.full_name(),
                path: f.path.clone(),
                file_buckets: f.total_buckets,
                table_buckets: table.bucket_num(),
            }
            .fail();
        }
    }
    let storage = table.storage();
    let mut searched = req.search_from;
    for _attempt in 0..MAX_ATTEMPTS {
        let latest = table.latest_snapshot().await?;
        let latest_id = latest.as_ref().map_or(0, |s| s.id);
        if let Some(cid) = &req.commit_id
            && let Some(s) = search(table, cid, searched, latest_id).await?
        {
            return Ok(s);
        }
        searched = searched.max(latest_id);
        let next_seq = latest.as_ref().map_or(0, |s| s.next_seq);
        let seq_base = if req.seqs_global { 0 } else { next_seq };
        let mut entries: Vec<ManifestEntry> = req
            .added
            .iter()
            .map(|f| {
                let mut f = f.clone();
                f.seq_offset += seq_base;
                f.min_seq += seq_base;
                f.max_seq += seq_base;
                ManifestEntry {
                    op: FileOp::Add,
                    file: f,
                }
            })
            .collect();
        if !req.removed.is_empty() {
            let live: HashSet<String> = match &latest {
                Some(s) => table.files(s).await?.into_iter().map(|f| f.path).collect(),
                None => HashSet::new(),
            };
            if let Some(gone) = req.removed.iter().find(|f| !live.contains(&f.path)) {
                return CommitConflictSnafu {
                    table: table.full_name(),
                    path: gone.path.clone(),
                }
                .fail();
            }
            entries.extend(req.removed.iter().map(|f| ManifestEntry {
                op: FileOp::Remove,
                file: f.clone(),
            }));
        }
        let mut summary = SnapshotSummary {
            files_added: req.added.len() as u64,
            files_removed: req.removed.len() as u64,
            major: req.major,
            expired_snapshots: req.expired_snapshots,
            ..Default::default()
        };
        for f in &req.added {
            summary.rows_added += f.row_count - f.delete_count;
            summary.rows_deleted += f.delete_count;
            summary.bytes_added += f.size_bytes;
        }
        let prev = latest
            .as_ref()
            .map(|s| s.summary.clone())
            .unwrap_or_default();
        let removed_bytes: u64 = req.removed.iter().map(|f| f.size_bytes).sum();
        let removed_rows: u64 = req.removed.iter().map(|f| f.row_count).sum();
        summary.total_files = prev.total_files + summary.files_added - summary.files_removed;
        summary.total_bytes = prev.total_bytes + summary.bytes_added - removed_bytes;
        summary.total_stored_rows = prev.total_stored_rows
            + req.added.iter().map(|f| f.row_count).sum::<u64>()
            - removed_rows;

        let mut manifests = latest
            .as_ref()
            .map(|s| s.manifests.clone())
            .unwrap_or_default();
        let mut written = Vec::new();
        if manifests.len() + 1 > MAX_MANIFESTS {
            // Fold the whole live set and this commit into one manifest.
            let mut files = match &latest {
                Some(s) => table.files(s).await?,
                None => Vec::new(),
            };
            let removed: HashSet<&str> = req.removed.iter().map(|f| f.path.as_str()).collect();
            files.retain(|f| !removed.contains(f.path.as_str()));
            let adds: Vec<ManifestEntry> = files
                .into_iter()
                .map(|file| ManifestEntry {
                    op: FileOp::Add,
                    file,
                })
                .chain(entries.into_iter().filter(|e| e.op == FileOp::Add))
                .collect();
            let added = adds.len() as u64;
            let name = write_manifest(table, Manifest::new(adds)).await?;
            written.push(name.clone());
            manifests = vec![ManifestRef {
                name,
                added_files: added,
                removed_files: 0,
            }];
        } else if !entries.is_empty() {
            let name = write_manifest(table, Manifest::new(entries)).await?;
            written.push(name.clone());
            manifests.push(ManifestRef {
                name,
                added_files: req.added.len() as u64,
                removed_files: req.removed.len() as u64,
            });
        }
        let snapshot = Snapshot {
            format_version: SNAPSHOT_FORMAT_VERSION,
            id: latest_id + 1,
            parent: latest.as_ref().map(|s| s.id),
            commit_time_ms: now_ms().max(latest.as_ref().map_or(0, |s| s.commit_time_ms)),
            schema_id: table.metadata().schema_id,
            kind: req.kind,
            commit: req.commit_id.clone(),
            manifests,
            next_seq: next_seq + req.seq_count,
            summary,
        };
        let path = table.paths().snapshot(snapshot.id);
        if storage.put_if_absent(&path, snapshot.encode()?).await? {
            let snapshot = Arc::new(snapshot);
            table.remember_snapshot(snapshot.clone());
            if matches!(
                snapshot.kind,
                SnapshotKind::Append | SnapshotKind::Overwrite
            ) {
                table.inner.listener.notify(table, &snapshot);
            }
            return Ok(snapshot);
        }
        // Lost the race: someone else created this id. Not an error; clean up and retry.
        for name in written {
            storage.delete(&table.paths().manifest(&name)).await?;
        }
    }
    TooManyConflictsSnafu {
        what: table.full_name(),
        attempts: MAX_ATTEMPTS,
    }
    .fail()
}

async fn write_manifest(table: &Table, manifest: Manifest) -> Result<String> {
    let name = uuid::Uuid::new_v4().to_string();
    table
        .storage()
        .put(&table.paths().manifest(&name), manifest.encode()?)
        .await?;
    table.remember_manifest(&name, Arc::new(manifest));
    Ok(name)
}
