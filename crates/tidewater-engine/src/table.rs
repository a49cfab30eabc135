//! One table: its metadata, its snapshots and the live files of each snapshot.
//!
//! A [`Table`] is a cheap handle; clones share caches of immutable snapshots and manifests
//! (bounded) and the highest snapshot id seen. Finding the latest snapshot costs one read of
//! `snapshot/<known+1>` (a miss) once the id is known; the first time, the snapshot directory is
//! listed. Snapshots are immutable, so cached entries never go stale.
//!
//! A handle carries one version of the table's metadata (`schema/<schema_id>`, see
//! [`crate::metadata`]) for its whole life, so one operation sees one set of properties.
//! [`crate::Warehouse::table`] and [`Table::refresh`] hand out a handle on the newest version;
//! handles on different versions of one table share their caches, snapshot pins and
//! compaction gate.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use tidewater_format::path::TablePaths;
use tidewater_format::schema::{TableKind, TableMetadata};
use tidewater_format::{DataFileMeta, FileOp, Manifest, Snapshot, TableSchema};

use crate::error::{NoSnapshotAtSnafu, Result, SnapshotExpiredSnafu, SnapshotNotFoundSnafu};
use crate::scan::FooterCache;
use crate::store::Storage;

const SNAPSHOT_CACHE: usize = 1024;
const MANIFEST_CACHE: usize = 8192;

#[derive(Clone, Debug)]
pub struct Table {
    pub(crate) inner: Arc<TableInner>,
}

#[derive(Debug)]
pub(crate) struct TableInner {
    pub(crate) project: String,
    pub(crate) name: String,
    pub(crate) paths: TablePaths,
    pub(crate) storage: Storage,
    pub(crate) meta: TableMetadata,
    // Shared by the handles on every metadata version of this table (see `with_metadata`).
    snapshots: Arc<Mutex<SnapshotCache>>,
    manifests: Arc<Mutex<HashMap<String, Arc<Manifest>>>>,
    footers: Arc<FooterCache>,
    pub(crate) pins: Arc<crate::retention::Pins>,
    pub(crate) compaction: Arc<crate::compact::CompactionGate>,
    /// The warehouse's commit listener (see [`crate::Warehouse::on_commit`]).
    pub(crate) listener: Arc<CommitListenerSlot>,
}

/// Called after every ingest commit (new rows: sessions, SQL DML, overwrites) of any table of a
/// warehouse, with the table and the new snapshot.
pub type CommitListener = Arc<dyn Fn(&Table, &Snapshot) + Send + Sync>;

/// The warehouse's listener, shared by every table handle it gave out.
#[derive(Default)]
pub(crate) struct CommitListenerSlot(std::sync::OnceLock<CommitListener>);

impl std::fmt::Debug for CommitListenerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "CommitListener"
        } else {
            "NoCommitListener"
        })
    }
}

impl CommitListenerSlot {
    /// Sets the listener; `false` when one was already set.
    pub(crate) fn set(&self, listener: CommitListener) -> bool {
        self.0.set(listener).is_ok()
    }

    pub(crate) fn notify(&self, table: &Table, snapshot: &Snapshot) {
        if let Some(l) = self.0.get() {
            l(table, snapshot);
        }
    }
}

#[derive(Debug, Default)]
struct SnapshotCache {
    latest_known: Option<u64>,
    by_id: BTreeMap<u64, Arc<Snapshot>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Table {
    pub(crate) fn new(
        project: &str,
        name: &str,
        paths: TablePaths,
        storage: Storage,
        meta: TableMetadata,
        listener: Arc<CommitListenerSlot>,
    ) -> Self {
        Table {
            inner: Arc::new(TableInner {
                project: project.to_string(),
                name: name.to_string(),
                paths,
                storage,
                meta,
                snapshots: Default::default(),
                manifests: Default::default(),
                footers: Arc::new(FooterCache::default()),
                pins: Default::default(),
                compaction: Default::default(),
                listener,
            }),
        }
    }

    /// A handle on another metadata version of this table (same `table_id`), sharing this
    /// handle's caches and snapshot pins.
    pub(crate) fn with_metadata(&self, meta: TableMetadata) -> Table {
        let i = &self.inner;
        Table {
            inner: Arc::new(TableInner {
                project: i.project.clone(),
                name: i.name.clone(),
                paths: i.paths.clone(),
                storage: i.storage.clone(),
                meta,
                snapshots: i.snapshots.clone(),
                manifests: i.manifests.clone(),
                footers: i.footers.clone(),
                pins: i.pins.clone(),
                compaction: i.compaction.clone(),
                listener: i.listener.clone(),
            }),
        }
    }

    pub fn project(&self) -> &str {
        &self.inner.project
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// `project.table`
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.inner.project, self.inner.name)
    }

    /// The metadata version this handle was opened with (`schema_id`); a newer one written
    /// since by `ALTER TABLE` is seen through [`Table::refresh`] or [`crate::Warehouse::table`].
    pub fn metadata(&self) -> &TableMetadata {
        &self.inner.meta
    }

    pub fn schema(&self) -> &TableSchema {
        &self.inner.meta.schema
    }

    pub fn kind(&self) -> TableKind {
        self.inner.meta.kind()
    }

    pub fn bucket_num(&self) -> u32 {
        self.inner.meta.properties.bucket_num
    }

    pub(crate) fn footers(&self) -> Arc<FooterCache> {
        self.inner.footers.clone()
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub(crate) fn paths(&self) -> &TablePaths {
        &self.inner.paths
    }

    pub(crate) fn remember_snapshot(&self, s: Arc<Snapshot>) {
        let mut c = lock(&self.inner.snapshots);
        c.latest_known = Some(c.latest_known.map_or(s.id, |l| l.max(s.id)));
        c.by_id.insert(s.id, s);
        while c.by_id.len() > SNAPSHOT_CACHE {
            c.by_id.pop_first();
        }
    }

    pub(crate) fn forget_snapshot(&self, id: u64) {
        lock(&self.inner.snapshots).by_id.remove(&id);
    }

    async fn read_snapshot(&self, id: u64) -> Result<Option<Arc<Snapshot>>> {
        if let Some(s) = lock(&self.inner.snapshots).by_id.get(&id) {
            return Ok(Some(s.clone()));
        }
        let Some(bytes) = self.storage().get_opt(&self.paths().snapshot(id)).await? else {
            return Ok(None);
        };
        let s = Arc::new(Snapshot::decode(&bytes)?);
        self.remember_snapshot(s.clone());
        Ok(Some(s))
    }

    /// Snapshot `id`.
    pub async fn snapshot(&self, id: u64) -> Result<Arc<Snapshot>> {
        if let Some(s) = self.read_snapshot(id).await? {
            return Ok(s);
        }
        match self.snapshot_ids().await?.first() {
            Some(&oldest) if id < oldest => SnapshotExpiredSnafu {
                table: self.full_name(),
                id,
                oldest,
                retain_hours: self.metadata().properties.retain_hours,
            }
            .fail(),
            _ => SnapshotNotFoundSnafu {
                table: self.full_name(),
                id,
            }
            .fail(),
        }
    }

    /// Ids of all snapshots still stored, ascending.
    pub async fn snapshot_ids(&self) -> Result<Vec<u64>> {
        let (_, files) = self
            .storage()
            .list_dir(&self.paths().snapshot_dir())
            .await?;
        let mut ids: Vec<u64> = files.iter().filter_map(|f| f.parse().ok()).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The newest snapshot, or `None` for a table nothing was committed to.
    pub async fn latest_snapshot(&self) -> Result<Option<Arc<Snapshot>>> {
        let known = lock(&self.inner.snapshots).latest_known;
        let mut id = match known {
            Some(id) => id,
            None => match self.snapshot_ids().await?.last() {
                Some(id) => *id,
                None => return Ok(None),
            },
        };
        let mut latest = self.snapshot(id).await?;
        // Commits by other handles or processes: probe forward.
        loop {
            id += 1;
            match self.read_snapshot(id).await? {
                Some(s) => latest = s,
                None => return Ok(Some(latest)),
            }
        }
    }

    /// The newest snapshot committed at or before `timestamp_ms`.
    pub async fn snapshot_at(&self, timestamp_ms: i64) -> Result<Arc<Snapshot>> {
        let ids = self.snapshot_ids().await?;
        for id in ids.iter().rev() {
            if let Some(s) = self.read_snapshot(*id).await?
                && s.commit_time_ms <= timestamp_ms
            {
                return Ok(s);
            }
        }
        let oldest = match ids.first() {
            Some(id) => {
                let s = self.snapshot(*id).await?;
                format!(
                    "snapshot {id} at {} ms; snapshots are kept for {} hours \
                     (acid.data.retain.hours)",
                    s.commit_time_ms,
                    self.metadata().properties.retain_hours
                )
            }
            None => "none, the table is empty".to_string(),
        };
        NoSnapshotAtSnafu {
            table: self.full_name(),
            timestamp_ms,
            oldest,
        }
        .fail()
    }

    pub(crate) async fn manifest(&self, name: &str) -> Result<Arc<Manifest>> {
        if let Some(m) = lock(&self.inner.manifests).get(name) {
            return Ok(m.clone());
        }
        let bytes = self.storage().get(&self.paths().manifest(name)).await?;
        let m = Arc::new(Manifest::decode(&bytes)?);
        let mut cache = lock(&self.inner.manifests);
        if cache.len() >= MANIFEST_CACHE {
            cache.clear();
        }
        cache.insert(name.to_string(), m.clone());
        Ok(m)
    }

    pub(crate) fn remember_manifest(&self, name: &str, m: Arc<Manifest>) {
        let mut cache = lock(&self.inner.manifests);
        if cache.len() >= MANIFEST_CACHE {
            cache.clear();
        }
        cache.insert(name.to_string(), m);
    }

    /// The live data files of a snapshot, in the order they were added.
    pub async fn files(&self, snapshot: &Snapshot) -> Result<Vec<DataFileMeta>> {
        // Owned names: a closure over `&ManifestRef` makes this future not provably `Send`.
        let names: Vec<String> = snapshot.manifests.iter().map(|r| r.name.clone()).collect();
        let manifests: Vec<Arc<Manifest>> = futures::stream::iter(names)
            .map(|name| async move { self.manifest(&name).await })
            .buffered(16)
            .try_collect()
            .await?;
        let removed: HashSet<&str> = manifests
            .iter()
            .flat_map(|m| &m.entries)
            .filter(|e| e.op == FileOp::Remove)
            .map(|e| e.file.path.as_str())
            .collect();
        Ok(manifests
            .iter()
            .flat_map(|m| &m.entries)
            .filter(|e| e.op == FileOp::Add && !removed.contains(e.file.path.as_str()))
            .map(|e| e.file.clone())
            .collect())
    }
}
