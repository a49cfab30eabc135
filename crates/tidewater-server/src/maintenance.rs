//! The background maintenance service (DESIGN §7): compaction, snapshot expiry and vacuum of
//! the tables of the warehouse, off the write path.
//!
//! - Every ingest commit — Tunnel, SQL DML or the engine in this process: the service listens on
//!   the warehouse ([`Warehouse::on_commit`]) — marks its table *dirty*; the service wakes, and
//!   compacts dirty tables ([`CompactMode::Auto`]: minor merges where a bucket passed
//!   `num-sorted-run.compaction-trigger`, a major compaction when `upsert.major-compact.*` asks
//!   for one), `compaction_concurrency` at a time. Compaction commits optimistically: ingest
//!   commits never wait for it and never fail because of it; a compaction that lost its inputs to
//!   another compactor is dropped and the table stays dirty for the next round.
//! - After each ingest commit and each compaction, a Delta table's largest sorted-run count is
//!   recorded. Block writes to a Delta table whose count reached `num-sorted-run.stop-trigger`
//!   wait (up to `max_stall_ms`) until a compaction brings it down: writers are slowed, not
//!   failed. Standard tables are never compacted, so never wait.
//! - The service runs on its own runtime, `compaction_threads` threads at nice
//!   `compaction_nice` (see [`spawn`]).
//! - Every `retention_interval_secs` (and at start), every table's snapshots are expired by
//!   `acid.data.retain.hours` and the table is vacuumed with a safety window of
//!   `orphan_safety_secs` — which also expires sessions of crashed servers no one touches again.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidewater_engine::compact::max_sorted_runs;
use tidewater_engine::{CompactMode, Error as EngineError, Table, Warehouse, now_ms};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::config::MaintenanceConfig;

type TableKey = (String, String);

/// How often a writer waiting at the stop trigger reads the table's run count again.
const STALL_RECHECK: Duration = Duration::from_millis(250);

/// Shared between the service and the request handlers.
#[derive(Debug, Default)]
pub struct Maintenance {
    dirty: Mutex<HashSet<TableKey>>,
    wake: Notify,
    /// Largest sorted-run count of any bucket, per table, after its last compaction or commit.
    runs: Mutex<HashMap<TableKey, usize>>,
    /// Signalled after every compaction.
    compacted: Notify,
    /// The service runs: without it nothing would lower the run counts, so writes never wait.
    active: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Maintenance {
    /// A commit landed on `project.table`, or a round found it needs another.
    fn touch(&self, project: &str, table: &str) {
        lock(&self.dirty).insert((project.to_string(), table.to_string()));
        self.wake.notify_one();
    }

    /// A commit landed on `table` (the warehouse's commit listener, see [`spawn`]): marks it
    /// dirty and refreshes its sorted-run count in the background (so back-pressure sees the
    /// runs the commit added, not only the count left by the last compaction).
    fn committed(self: &Arc<Self>, table: &Table) {
        self.touch(table.project(), table.name());
        if !compacted(table) {
            return;
        }
        let (service, table) = (self.clone(), table.clone());
        tokio::spawn(async move { service.record_runs(&table).await });
    }

    /// Waits while the table's sorted runs are at the stop trigger, at most `max_stall`.
    /// Tables compaction does not merge (standard tables) never wait.
    ///
    /// The count recorded after the last commit or compaction decides at once when it is below
    /// the stop trigger. Otherwise it is read again from the table before every wait — it may be
    /// stale after a compaction the service did not make (a manual one, here or in another
    /// process) — and the wait ends at the service's next compaction or after
    /// [`STALL_RECHECK`], whichever comes first.
    pub async fn wait_for_room(&self, table: &Table, max_stall: Duration) {
        let stop = table.metadata().properties.compaction.run_stop as usize;
        if !self.active.load(Ordering::Relaxed) || !compacted(table) {
            return;
        }
        let key = (table.project().to_string(), table.name().to_string());
        let recorded = || lock(&self.runs).get(&key).copied().unwrap_or(0);
        if recorded() < stop {
            return;
        }
        let deadline = tokio::time::Instant::now() + max_stall;
        loop {
            // Listening before reading: a compaction finishing meanwhile is not missed.
            let notified = self.compacted.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.record_runs(table).await;
            let runs = recorded();
            if runs < stop {
                return;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                tracing::warn!(table = %table.full_name(), runs, stop, "writes stalled for compaction; going on");
                return;
            }
            let _ = tokio::time::timeout_at((now + STALL_RECHECK).min(deadline), notified).await;
        }
    }

    async fn record_runs(&self, table: &Table) {
        let Ok(Some(latest)) = table.latest_snapshot().await else {
            return;
        };
        if let Ok(files) = table.files(&latest).await {
            let key = (table.project().to_string(), table.name().to_string());
            lock(&self.runs).insert(key, max_sorted_runs(&files));
        }
    }
}

/// Starts the service; it stops when `stop` turns true (or its sender is dropped), and the
/// handle completes once it stopped.
///
/// The service runs on a runtime of its own whose threads have the lower CPU priority
/// `compaction_nice` (Linux; elsewhere normal priority), as RocksDB runs its compactions: when
/// writers and queries need every core, compaction yields, and it runs on what they leave idle.
/// Should it fall behind, back-pressure at `num-sorted-run.stop-trigger` slows the writers.
pub fn spawn(
    warehouse: Warehouse,
    service: Arc<Maintenance>,
    config: MaintenanceConfig,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    if config.enabled {
        // Every ingest commit, whatever path made it (Tunnel, SQL DML, the engine in-process).
        let listener = service.clone();
        if !warehouse.on_commit(Arc::new(move |table, _| listener.committed(table))) {
            tracing::warn!(
                "the warehouse already reports its commits elsewhere; background compaction only sees tables in its retention rounds"
            );
        }
    }
    tokio::spawn(async move {
        if !config.enabled {
            return;
        }
        service.active.store(true, Ordering::Relaxed);
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let nice = config.compaction_nice;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.compaction_threads.max(1))
            .thread_name("tidewater-maintenance")
            .on_thread_start(move || lower_priority(nice))
            .enable_all()
            .build();
        let runtime = match runtime {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the maintenance runtime; no background compaction");
                service.active.store(false, Ordering::Relaxed);
                return;
            }
        };
        let thread_service = service.clone();
        let spawned = std::thread::Builder::new()
            .name("tidewater-maintenance".into())
            .spawn(move || {
                runtime.block_on(run(warehouse, thread_service, config, stop));
                // Work still queued on it (nothing of ours) is not waited for.
                runtime.shutdown_background();
                drop(done);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the maintenance thread; no background compaction");
        } else {
            let _ = finished.await;
        }
        service.active.store(false, Ordering::Relaxed);
        service.compacted.notify_waiters();
    })
}

/// Lowers the calling thread's CPU priority to `nice` (Linux: the nice value is per thread).
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        let nice = nice.clamp(0, 19);
        // SAFETY: `gettid` has no preconditions; `setpriority` on our own thread id only
        // changes this thread's nice value (raising it needs no privilege).
        let r = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
        };
        if r != 0 {
            tracing::debug!(nice, error = %std::io::Error::last_os_error(), "cannot lower the maintenance thread priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// The service loop, on the maintenance runtime.
async fn run(
    warehouse: Warehouse,
    service: Arc<Maintenance>,
    config: MaintenanceConfig,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.compaction_concurrency.max(1)));
    let retention_every = Duration::from_secs(config.retention_interval_secs.max(1));
    let mut next_retention = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_retention {
            retention(&warehouse, &service, &config).await;
            next_retention = tokio::time::Instant::now() + retention_every;
        }
        let dirty: Vec<TableKey> = lock(&service.dirty).drain().collect();
        let mut tasks = Vec::new();
        for (project, name) in dirty {
            let Ok(table) = warehouse.table(&project, &name).await else {
                continue;
            };
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let service = service.clone();
            tasks.push(tokio::spawn(async move {
                compact(&service, &table).await;
                drop(permit);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        tokio::select! {
            _ = service.wake.notified() => {}
            _ = tokio::time::sleep_until(next_retention) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Whether compaction merges this table's files: Delta tables only.
fn compacted(table: &Table) -> bool {
    table.kind() == tidewater_format::schema::TableKind::Delta
}

async fn compact(service: &Maintenance, table: &Table) {
    if !compacted(table) {
        return;
    }
    match table.compact(CompactMode::Auto).run().await {
        Ok(r) if r.snapshot.is_some() => tracing::info!(
            table = %table.full_name(),
            snapshot = r.snapshot,
            major = r.major,
            buckets = r.buckets,
            files_in = r.files_in,
            files_out = r.files_out,
            bytes_in = r.bytes_in,
            bytes_out = r.bytes_out,
            "compacted"
        ),
        Ok(_) => {}
        Err(
            e @ (EngineError::CommitConflict { .. } | EngineError::CompactionSuperseded { .. }),
        ) => {
            tracing::info!(table = %table.full_name(), error = %e, "compaction dropped; retrying");
            service.touch(table.project(), table.name());
        }
        Err(e) => tracing::warn!(table = %table.full_name(), error = %e, "compaction failed"),
    }
    service.record_runs(table).await;
    service.compacted.notify_waiters();
}

async fn retention(warehouse: &Warehouse, service: &Maintenance, config: &MaintenanceConfig) {
    let Ok(projects) = warehouse.list_projects().await else {
        return;
    };
    for project in projects {
        let Ok(tables) = warehouse.list_tables(&project).await else {
            continue;
        };
        for name in tables {
            let Ok(table) = warehouse.table(&project, &name).await else {
                continue;
            };
            let now = now_ms();
            match table.expire_snapshots(now, false).await {
                Ok(r) if !r.expired.is_empty() => tracing::info!(
                    table = %table.full_name(), expired = r.expired.len(),
                    files = r.files_deleted, bytes = r.bytes_deleted, "snapshots expired"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(table = %table.full_name(), error = %e, "expiry failed"),
            }
            let safety = config.orphan_safety_secs as i64 * 1000;
            match table.vacuum(now, safety, false).await {
                Ok(r) if r.files_deleted + r.sessions_expired + r.manifests_deleted > 0 => {
                    tracing::info!(
                        table = %table.full_name(), sessions = r.sessions_expired,
                        files = r.files_deleted, manifests = r.manifests_deleted, "vacuumed"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(table = %table.full_name(), error = %e, "vacuum failed"),
            }
            // Tables written before this start get compacted too.
            service.touch(&project, &name);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{Int64Array, RecordBatch};
    use tidewater_engine::SessionKind;
    use tidewater_format::{Column, DataType, TableProperties, TableSchema};

    use super::*;

    /// A Delta or standard table with 10 commits (10 files) in its one bucket; the Delta
    /// table's sorted-run triggers are 5 (compaction) and 8 (stop).
    async fn table_with_commits(warehouse: &Warehouse, name: &str, delta: bool) -> Table {
        let key = if delta { vec!["id".into()] } else { vec![] };
        let schema =
            TableSchema::new(vec![Column::new("id", DataType::BigInt)], key, vec![]).unwrap();
        let mut props = BTreeMap::new();
        if delta {
            props.insert("transactional".to_string(), "true".to_string());
            props.insert("write.bucket.num".to_string(), "1".to_string());
            props.insert("num-sorted-run.compaction-trigger".into(), "5".into());
            props.insert("num-sorted-run.stop-trigger".into(), "8".into());
        }
        let props = TableProperties::from_map(&props).unwrap();
        let table = warehouse
            .create_table("default", name, schema, props, false)
            .await
            .unwrap();
        let kind = if delta {
            SessionKind::Upsert
        } else {
            SessionKind::Insert
        };
        for i in 0..10 {
            let mut s = table.session(kind).open().await.unwrap();
            let batch = RecordBatch::try_new(
                table.schema().arrow_schema(),
                vec![Arc::new(Int64Array::from(vec![i]))],
            )
            .unwrap();
            if delta {
                s.upsert(&batch).await.unwrap();
            } else {
                s.insert(&batch).await.unwrap();
            }
            s.commit().await.unwrap();
        }
        table
    }

    /// A warehouse in a temporary directory and a service marked running (no loop: nothing
    /// compacts unless a test does).
    async fn warehouse_and_active_service() -> (tempfile::TempDir, Warehouse, Arc<Maintenance>) {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        let service = Arc::new(Maintenance::default());
        service.active.store(true, Ordering::Relaxed);
        (dir, warehouse, service)
    }

    /// Back-pressure: a Delta table past its stop trigger makes writers wait (here the whole
    /// `max_stall`, nothing compacts it); a standard table, which compaction never merges, never.
    #[tokio::test]
    async fn only_delta_tables_past_the_stop_trigger_make_writers_wait() {
        let (_dir, warehouse, service) = warehouse_and_active_service().await;
        let stall = Duration::from_millis(300);
        for (name, delta) in [("d", true), ("s", false)] {
            let table = table_with_commits(&warehouse, name, delta).await;
            service.committed(&table);
            // The run count is refreshed in the background (for Delta tables only: give a
            // standard table's the same time to appear).
            for _ in 0..50 {
                if lock(&service.runs).contains_key(&("default".into(), name.into())) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let start = std::time::Instant::now();
            service.wait_for_room(&table, stall).await;
            let waited = start.elapsed();
            if delta {
                assert!(waited >= stall, "{name}: waited {waited:?}");
            } else {
                assert!(waited < stall, "{name}: waited {waited:?}");
            }
        }
    }

    /// A writer waiting at the stop trigger goes on once any compaction — here a manual one the
    /// service knows nothing of — brought the runs down, not only after the service's own; and
    /// a stale recorded count does not make it wait.
    #[tokio::test]
    async fn a_stalled_writer_goes_on_after_a_manual_compaction() {
        let (_dir, warehouse, service) = warehouse_and_active_service().await;
        let table = table_with_commits(&warehouse, "d", true).await;
        service.record_runs(&table).await;
        let stall = Duration::from_secs(30);
        let waiting = tokio::spawn({
            let (service, table) = (service.clone(), table.clone());
            async move {
                let start = std::time::Instant::now();
                service.wait_for_room(&table, stall).await;
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished());
        table.compact(CompactMode::Major).run().await.unwrap();
        let waited = waiting.await.unwrap();
        assert!(waited < Duration::from_secs(10), "waited {waited:?}");

        // A count recorded before that compaction is read again at once, not after a wait.
        let key = ("default".to_string(), "d".to_string());
        lock(&service.runs).insert(key, 10);
        let start = std::time::Instant::now();
        service.wait_for_room(&table, stall).await;
        let waited = start.elapsed();
        assert!(waited < STALL_RECHECK, "waited {waited:?}");
    }
}
