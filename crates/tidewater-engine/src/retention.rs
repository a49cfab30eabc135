//! Retention and garbage collection (DESIGN §7): snapshot expiry by `acid.data.retain.hours`,
//! and `vacuum` of abandoned sessions and orphan files.
//!
//! **Expiry.** The snapshot that was current at `now - retention` (the newest committed at or
//! before it) and everything newer stay, so time travel to any moment of the window works; the
//! newest snapshot always stays, and so does every snapshot pinned by a running query of this
//! process and everything after it. Older snapshots expire: an `expire` snapshot records it (only
//! when something besides earlier expire snapshots went), then — metadata before data — the
//! expired snapshot files (oldest first), the manifests only they referenced, and the data files
//! no kept snapshot references are deleted. A file's life is a contiguous range of snapshots, so
//! the files to delete are exactly those live in snapshot `s - 1` and not in `s`, for `s` up to
//! the oldest kept. A crash part-way leaves a shorter prefix of snapshots and orphan files, which
//! the next expiry and `vacuum` finish.
//!
//! **Vacuum.** Open sessions past their lifecycle (Tunnel sessions; embedded sessions after
//! [`EMBEDDED_SESSION_LIFETIME_MS`]) are expired and their files deleted — unless a stored
//! snapshot holds one of their files: such a session committed, and its snapshot expired before
//! its commit marker was written, so it counts as finished. Finished session directories older
//! than the retention window are removed, `meta.json` first (a removal that stops part-way leaves
//! a directory no session opens from, removed by the next vacuum). Then data files that no stored
//! snapshot holds live and no open session references, and manifests no stored snapshot
//! references, older than the safety window, are deleted: leftovers of crashed sessions,
//! compactions and expiries (an expiry that stopped after deleting snapshots leaves files that
//! only removal entries still name). The safety window must exceed the longest write in flight
//! (a compaction writes its files before it commits them).

use std::collections::{BTreeMap, HashSet};

use futures::StreamExt;
use tidewater_format::{DataFileMeta, FileOp, SnapshotKind};

use crate::commit::{CommitRequest, commit};
use crate::error::{Error, Result};
use crate::session::{Session, SessionMeta, State, load_session_meta, load_session_state};
use crate::table::{Table, lock};

/// An embedded session (no lifecycle of its own) left open this long is considered abandoned.
pub const EMBEDDED_SESSION_LIFETIME_MS: i64 = 24 * 3_600_000;
/// Default safety window of [`Table::vacuum`]: unreferenced files younger than this stay.
pub const DEFAULT_ORPHAN_SAFETY_MS: i64 = 24 * 3_600_000;

/// Keeps a snapshot (and every newer one) from expiring while a read uses it.
#[derive(Debug)]
pub struct SnapshotPin {
    table: Table,
    id: u64,
}

impl Table {
    /// Pins snapshot `id` until the returned guard is dropped.
    pub fn pin(&self, id: u64) -> SnapshotPin {
        *lock(&self.inner.pins).entry(id).or_insert(0) += 1;
        SnapshotPin {
            table: self.clone(),
            id,
        }
    }

    fn oldest_pin(&self) -> Option<u64> {
        lock(&self.inner.pins).keys().next().copied()
    }
}

impl Drop for SnapshotPin {
    fn drop(&mut self) {
        let mut pins = lock(&self.table.inner.pins);
        if let Some(n) = pins.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.id);
            }
        }
    }
}

/// What an expiry did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireReport {
    pub expired: Vec<u64>,
    /// The `expire` snapshot recording it.
    pub snapshot: Option<u64>,
    pub manifests_deleted: u64,
    pub files_deleted: u64,
    pub bytes_deleted: u64,
    pub dry_run: bool,
}

/// What a vacuum did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VacuumReport {
    pub sessions_expired: u64,
    pub session_dirs_removed: u64,
    pub files_deleted: u64,
    pub bytes_deleted: u64,
    pub manifests_deleted: u64,
    pub dry_run: bool,
}

impl Table {
    /// Expires the snapshots that fell out of the retention window as of `now_ms`.
    pub async fn expire_snapshots(&self, now_ms: i64, dry_run: bool) -> Result<ExpireReport> {
        let mut report = ExpireReport {
            dry_run,
            ..Default::default()
        };
        let ids = self.snapshot_ids().await?;
        let (Some(&first), Some(&latest)) = (ids.first(), ids.last()) else {
            return Ok(report);
        };
        let cutoff = now_ms - self.metadata().properties.retain_hours as i64 * 3_600_000;
        let mut keep_from = None;
        for &id in ids.iter().rev() {
            if self.snapshot(id).await?.commit_time_ms <= cutoff {
                keep_from = Some(id);
                break;
            }
        }
        let Some(mut keep_from) = keep_from else {
            return Ok(report);
        };
        keep_from = keep_from.min(latest);
        if let Some(p) = self.oldest_pin() {
            keep_from = keep_from.min(p);
        }
        if keep_from <= first {
            return Ok(report);
        }
        report.expired = (first..keep_from).collect();

        // Data files: live in s - 1 and gone in s, for s up to the oldest kept.
        let mut dead: Vec<DataFileMeta> = Vec::new();
        let mut prev: Vec<DataFileMeta> = self.files(&*self.snapshot(first).await?).await?;
        let mut manifests: HashSet<String> = HashSet::new();
        for id in first + 1..=keep_from {
            let s = self.snapshot(id - 1).await?;
            manifests.extend(s.manifests.iter().map(|m| m.name.clone()));
            let next = self.files(&*self.snapshot(id).await?).await?;
            let live: HashSet<&str> = next.iter().map(|f| f.path.as_str()).collect();
            dead.extend(
                prev.iter()
                    .filter(|f| !live.contains(f.path.as_str()))
                    .cloned(),
            );
            prev = next;
        }
        for m in &self.snapshot(keep_from).await?.manifests {
            manifests.remove(&m.name);
        }
        report.manifests_deleted = manifests.len() as u64;
        report.files_deleted = dead.len() as u64;
        report.bytes_deleted = dead.iter().map(|f| f.size_bytes).sum();
        if dry_run {
            return Ok(report);
        }

        let mut data_expired = false;
        for &id in &report.expired {
            data_expired |= self.snapshot(id).await?.kind != SnapshotKind::Expire;
        }
        if data_expired {
            let request = CommitRequest {
                expired_snapshots: report.expired.len() as u64,
                ..CommitRequest::append(SnapshotKind::Expire, None, Vec::new(), 0, latest)
            };
            report.snapshot = Some(commit(self, request).await?.id);
        }
        let storage = self.storage();
        for &id in &report.expired {
            storage.delete(&self.paths().snapshot(id)).await?;
            self.forget_snapshot(id);
        }
        let paths = self.paths();
        // Owned paths: closures over borrowed items make this future not provably `Send`.
        let doomed: Vec<String> = manifests
            .iter()
            .map(|m| paths.manifest(m))
            .chain(dead.iter().map(|f| paths.data_file(&f.path)))
            .collect();
        futures::stream::iter(doomed)
            .map(|p| async move { storage.delete(&p).await })
            .buffer_unordered(16)
            .collect::<Vec<Result<()>>>()
            .await
            .into_iter()
            .collect::<Result<Vec<()>>>()?;
        Ok(report)
    }

    /// Expires abandoned sessions and deletes unreferenced files older than `safety_ms`.
    pub async fn vacuum(&self, now_ms: i64, safety_ms: i64, dry_run: bool) -> Result<VacuumReport> {
        let mut report = VacuumReport {
            dry_run,
            ..Default::default()
        };
        let storage = self.storage();
        let retain_ms = (self.metadata().properties.retain_hours as i64 * 3_600_000).max(3_600_000);
        // Sessions first: a session committing meanwhile is then found through its snapshot
        // below, so its files are never taken for orphans.
        let mut open: Vec<(SessionMeta, Vec<String>)> = Vec::new();
        let mut finished: Vec<String> = Vec::new();
        let (session_ids, _) = storage.list_dir(&self.paths().sessions_dir()).await?;
        for id in session_ids {
            let dir = self.paths().session_dir(&id);
            let meta = match load_session_meta(self, &id).await {
                Ok(m) => m,
                Err(Error::SessionNotFound { .. }) => {
                    // No `meta.json`: what a removal that stopped part-way left, or an abort
                    // before the first flush. No session can be opened from it.
                    let deadline = now_ms - retain_ms;
                    let objects = storage.list_modified(&dir).await?;
                    if !objects.is_empty() && objects.iter().all(|(_, m)| *m < deadline) {
                        finished.push(dir);
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(session = %id, error = %e, "vacuum skips an unreadable session");
                    continue;
                }
            };
            match load_session_state(self, &meta).await? {
                State::Open => {
                    let mut files = Vec::new();
                    for path in storage.list(&dir).await? {
                        if let Some(bytes) = storage.get_opt(&path).await? {
                            files.extend(
                                recorded_files(&bytes)
                                    .iter()
                                    .map(|p| self.paths().data_file(p)),
                            );
                        }
                    }
                    open.push((meta, files));
                }
                State::Committed(_) | State::Aborted => {
                    if meta.created_ms + retain_ms < now_ms {
                        finished.push(dir);
                    }
                }
            }
        }

        let (manifests, referenced) = self.referenced_files().await?;

        // What open sessions still hold is protected, what abandoned ones held becomes orphan.
        let mut protected: HashSet<String> = HashSet::new();
        for (meta, files) in open {
            if files.iter().any(|f| referenced.contains(f)) {
                // Committed, though neither its marker nor its snapshot (expired) says so: its
                // files belong to the table, and aborting it would delete them.
                if meta.created_ms + retain_ms < now_ms {
                    finished.push(self.paths().session_dir(&meta.session_id));
                }
                continue;
            }
            let expires = meta
                .expires_ms
                .unwrap_or(meta.created_ms + EMBEDDED_SESSION_LIFETIME_MS);
            if now_ms <= expires {
                protected.extend(files);
                continue;
            }
            report.sessions_expired += 1;
            if !dry_run {
                if meta.tunnel {
                    self.load_tunnel_session(&meta.session_id)
                        .await?
                        .expire_if_due(now_ms)
                        .await?;
                } else {
                    Session::reopen(self.clone(), &meta.session_id)
                        .await?
                        .abort()
                        .await?;
                }
            }
        }
        report.session_dirs_removed = finished.len() as u64;
        if !dry_run {
            for dir in &finished {
                // `meta.json` first: a removal that stops part-way leaves nothing that looks
                // like an open session, and the next vacuum removes the rest.
                storage.delete(&format!("{dir}/meta.json")).await?;
                storage.delete_prefix(dir).await?;
            }
        }

        let deadline = now_ms - safety_ms;
        let mut doomed: Vec<String> = Vec::new();
        for (path, modified) in storage.list_modified(&self.paths().data_dir()).await? {
            if modified < deadline && !referenced.contains(&path) && !protected.contains(&path) {
                doomed.push(path);
            }
        }
        report.files_deleted = doomed.len() as u64;
        let referenced_manifests: HashSet<String> =
            manifests.iter().map(|m| self.paths().manifest(m)).collect();
        for (path, modified) in storage.list_modified(&self.paths().manifest_dir()).await? {
            if modified < deadline && !referenced_manifests.contains(&path) {
                report.manifests_deleted += 1;
                doomed.push(path);
            }
        }
        if !dry_run {
            for p in &doomed {
                storage.delete(p).await?;
            }
        }
        Ok(report)
    }

    /// The manifests of every stored snapshot, and the data files live in any of them (full
    /// paths). A file lives in a contiguous range of snapshots, so these are the live files of
    /// the oldest plus the files each later snapshot added: the `Add` entries of the manifests
    /// it references and its parent did not. Files only removed entries still name — the
    /// leftovers of an expiry that stopped after deleting snapshots — are not among them.
    async fn referenced_files(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        let mut manifests: HashSet<String> = HashSet::new();
        let mut files: HashSet<String> = HashSet::new();
        let mut parent: Option<(u64, HashSet<String>)> = None;
        for id in self.snapshot_ids().await? {
            let s = match self.snapshot(id).await {
                Ok(s) => s,
                // Expired meanwhile by someone else.
                Err(Error::SnapshotNotFound { .. } | Error::SnapshotExpired { .. }) => continue,
                Err(e) => return Err(e),
            };
            let names: HashSet<String> = s.manifests.iter().map(|m| m.name.clone()).collect();
            match &parent {
                Some((p, parent_names)) if p + 1 == id => {
                    for name in names.difference(parent_names) {
                        for e in &self.manifest(name).await?.entries {
                            if e.op == FileOp::Add {
                                files.insert(self.paths().data_file(&e.file.path));
                            }
                        }
                    }
                }
                _ => files.extend(
                    self.files(&s)
                        .await?
                        .iter()
                        .map(|f| self.paths().data_file(&f.path)),
                ),
            }
            manifests.extend(names.iter().cloned());
            parent = Some((id, names));
        }
        Ok((manifests, files))
    }
}

/// The table-relative data files a session record (`{"file": …}` or `{"files": […]}`) lists.
fn recorded_files(bytes: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    let files = v.get("file").into_iter().chain(
        v.get("files")
            .and_then(|f| f.as_array())
            .into_iter()
            .flatten(),
    );
    files
        .filter_map(|f| f.get("path").and_then(|p| p.as_str()).map(str::to_string))
        .collect()
}

/// Pin counts by snapshot id, shared by the handles of one table.
pub(crate) type Pins = std::sync::Mutex<BTreeMap<u64, usize>>;
