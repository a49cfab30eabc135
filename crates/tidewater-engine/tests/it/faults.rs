//! Faults: object-store failures during flush and commit, before and after the write landed.
//!
//! After every fault: no partial snapshot is visible, the session stays usable, a retry (on the
//! same handle, or on a session reopened in a fresh warehouse) does not apply anything twice,
//! and snapshot ids stay gap-free.

use std::collections::BTreeMap;
use std::sync::Arc;

use tidewater_engine::{ErrorKind, Session, SessionKind, Table, Warehouse};

use crate::env::{Person, Row, TestEnv, ids, people_table, persons_batch, scan_rows};
use crate::fault_store::{Call, Fault, FaultStore};

/// A warehouse whose store injects faults, on a temp dir that a plain warehouse can reopen.
struct Fx {
    env: TestEnv,
    store: Arc<FaultStore>,
    table: Table,
}

impl Fx {
    async fn new(standard: bool) -> Fx {
        let env = TestEnv::new().await;
        let store = FaultStore::new(env.local_store());
        let w = Warehouse::with_store(env.location(), store.clone())
            .await
            .unwrap();
        let table = if standard {
            env.standard_people("t", false).await;
            w.table("default", "t").await.unwrap()
        } else {
            people_table(&w, "t", 3, false).await
        };
        Fx { env, store, table }
    }

    /// The table through a fresh, fault-free warehouse (another process).
    async fn fresh_table(&self) -> Table {
        self.env.reopen().await.table("default", "t").await.unwrap()
    }
}

fn person(id: i64, v: i32) -> Person {
    Person::new(id, Some(&format!("p{id}v{v}")), Some(v), Some(id % 2 == 0))
}

pub(crate) fn persons(ids: impl IntoIterator<Item = i64>, v: i32) -> Vec<Person> {
    ids.into_iter().map(|i| person(i, v)).collect()
}

fn upsert_into(model: &mut BTreeMap<i64, Person>, rows: &[Person]) {
    for p in rows {
        model.insert(p.id, p.clone());
    }
}

pub(crate) fn expected(model: &BTreeMap<i64, Person>) -> Vec<Row> {
    let mut rows: Vec<Row> = model
        .values()
        .map(|p| Row {
            dd: String::new(),
            hh: String::new(),
            person: p.clone(),
        })
        .collect();
    rows.sort();
    rows
}

fn expected_list(rows: &[Person]) -> Vec<Row> {
    let mut out: Vec<Row> = rows
        .iter()
        .map(|p| Row {
            dd: String::new(),
            hh: String::new(),
            person: p.clone(),
        })
        .collect();
    out.sort();
    out
}

/// Commits one session upserting `rows` and returns the snapshot id.
async fn commit_rows(table: &Table, rows: &[Person]) -> u64 {
    let mut s = table.session(SessionKind::Upsert).open().await.unwrap();
    s.upsert(&persons_batch(rows)).await.unwrap();
    s.commit().await.unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_put_during_commit_leaves_no_partial_snapshot_and_retry_applies_once() {
    for target in ["/data/", "/manifest/", "/snapshot/"] {
        let fx = Fx::new(false).await;
        let mut model = BTreeMap::new();
        let first = persons(0..20, 1);
        assert_eq!(commit_rows(&fx.table, &first).await, 1);
        upsert_into(&mut model, &first);
        let before = expected(&model);

        let mut s = fx.table.session(SessionKind::Upsert).open().await.unwrap();
        let second = persons(10..30, 2);
        s.upsert(&persons_batch(&second)).await.unwrap();
        s.delete(&ids(&[0, 1, 2])).await.unwrap();
        fx.store.fail_put(1, target, Fault::Before);
        let err = s.commit().await.unwrap_err();
        assert_eq!(fx.store.fired().len(), 1, "{target}");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{target}: {err}");
        assert!(err.to_string().contains(target), "{target}: {err}");
        assert_eq!(s.committed_snapshot(), None);

        // Nothing of the failed commit is visible, to this handle or another process.
        assert_eq!(fx.table.snapshot_ids().await.unwrap(), [1], "{target}");
        assert_eq!(scan_rows(fx.table.scan()).await, before, "{target}");
        let other = fx.fresh_table().await;
        assert_eq!(other.latest_snapshot().await.unwrap().unwrap().id, 1);
        assert_eq!(scan_rows(other.scan()).await, before, "{target}");

        // The retry on the same session applies everything exactly once.
        let snap = s.commit().await.unwrap();
        assert_eq!(snap.id, 2, "{target}");
        upsert_into(&mut model, &second);
        for id in [0, 1, 2] {
            model.remove(&id);
        }
        assert_eq!(
            scan_rows(fx.table.scan()).await,
            expected(&model),
            "{target}"
        );
        assert_eq!(scan_rows(other.scan()).await, expected(&model), "{target}");
        assert_eq!(fx.table.snapshot_ids().await.unwrap(), [1, 2], "{target}");
        assert_eq!(s.commit().await.unwrap().id, 2, "{target}");
        assert_eq!(
            scan_rows(fx.table.scan().snapshot_id(1)).await,
            before,
            "{target}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_that_landed_but_reported_failure_is_returned_by_the_retry() {
    let fx = Fx::new(false).await;
    let mut model = BTreeMap::new();
    let first = persons(0..10, 1);
    commit_rows(&fx.table, &first).await;
    upsert_into(&mut model, &first);

    let mut s = fx.table.session(SessionKind::Upsert).open().await.unwrap();
    let second = persons(5..15, 2);
    s.upsert(&persons_batch(&second)).await.unwrap();
    fx.store.fail_put(1, "/snapshot/", Fault::After);
    let err = s.commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    // The snapshot did land: the outcome is unknown to the caller, not to the table.
    assert_eq!(fx.table.snapshot_ids().await.unwrap(), [1, 2]);
    upsert_into(&mut model, &second);
    let after_second = expected(&model);
    assert_eq!(scan_rows(fx.table.scan()).await, after_second);

    // Another writer commits before the retry: the retry still finds snapshot 2.
    let third = persons(12..20, 3);
    assert_eq!(commit_rows(&fx.table, &third).await, 3);
    upsert_into(&mut model, &third);

    let snap = s.commit().await.unwrap();
    assert_eq!(snap.id, 2);
    assert_eq!(s.committed_snapshot(), Some(2));
    assert_eq!(fx.table.snapshot_ids().await.unwrap(), [1, 2, 3]);
    assert_eq!(scan_rows(fx.table.scan()).await, expected(&model));
    assert_eq!(
        scan_rows(fx.table.scan().snapshot_id(2)).await,
        after_second
    );
    let err = s.upsert(&persons_batch(&first)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_session_finds_the_commit_whose_outcome_was_unknown() {
    let fx = Fx::new(false).await;
    let mut model = BTreeMap::new();
    let first = persons(0..10, 1);
    commit_rows(&fx.table, &first).await;
    upsert_into(&mut model, &first);

    let mut s = fx.table.session(SessionKind::Upsert).open().await.unwrap();
    let second = persons(5..15, 2);
    s.upsert(&persons_batch(&second)).await.unwrap();
    s.flush().await.unwrap();
    let id = s.id().to_string();
    fx.store.fail_put(1, "/snapshot/", Fault::After);
    s.commit().await.unwrap_err();
    drop(s);
    upsert_into(&mut model, &second);

    let t2 = fx.fresh_table().await;
    let mut s2 = t2.open_session(&id).await.unwrap();
    assert_eq!(s2.committed_snapshot(), Some(2));
    assert_eq!(s2.commit().await.unwrap().id, 2);
    assert_eq!(t2.snapshot_ids().await.unwrap(), [1, 2]);
    assert_eq!(scan_rows(t2.scan()).await, expected(&model));
    let err = s2.upsert(&persons_batch(&first)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_unflushed_session_finds_the_commit_whose_outcome_was_unknown() {
    // DESIGN §5: commit is idempotent by session and any node can serve any session.
    let fx = Fx::new(false).await;
    let mut s = fx.table.session(SessionKind::Upsert).open().await.unwrap();
    let rows = persons(0..10, 1);
    s.upsert(&persons_batch(&rows)).await.unwrap();
    let id = s.id().to_string();
    fx.store.fail_put(1, "/snapshot/", Fault::After);
    s.commit().await.unwrap_err();
    drop(s);
    let t2 = fx.fresh_table().await;
    assert_eq!(t2.snapshot_ids().await.unwrap(), [1]);
    let mut s2 = t2.open_session(&id).await.unwrap();
    assert_eq!(s2.committed_snapshot(), Some(1));
    assert_eq!(s2.commit().await.unwrap().id, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_session_commits_once_after_a_commit_that_did_not_land() {
    let fx = Fx::new(false).await;
    let mut model = BTreeMap::new();
    let first = persons(0..10, 1);
    commit_rows(&fx.table, &first).await;
    upsert_into(&mut model, &first);

    let mut s = fx.table.session(SessionKind::Upsert).open().await.unwrap();
    let second = persons(5..15, 2);
    s.upsert(&persons_batch(&second)).await.unwrap();
    s.flush().await.unwrap();
    let id = s.id().to_string();
    fx.store.fail_put(1, "/snapshot/", Fault::Before);
    s.commit().await.unwrap_err();
    drop(s);

    let t2 = fx.fresh_table().await;
    assert_eq!(t2.snapshot_ids().await.unwrap(), [1]);
    let mut s2 = t2.open_session(&id).await.unwrap();
    assert_eq!(s2.committed_snapshot(), None);
    assert_eq!(s2.commit().await.unwrap().id, 2);
    upsert_into(&mut model, &second);
    assert_eq!(t2.snapshot_ids().await.unwrap(), [1, 2]);
    assert_eq!(scan_rows(t2.scan()).await, expected(&model));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_a_commit_with_unknown_outcome_keeps_the_committed_rows_readable() {
    let fx = Fx::new(false).await;
    let mut s = fx.table.session(SessionKind::Upsert).open().await.unwrap();
    let rows = persons(0..10, 1);
    s.upsert(&persons_batch(&rows)).await.unwrap();
    fx.store.fail_put(1, "/snapshot/", Fault::After);
    s.commit().await.unwrap_err();
    // The caller gives up; but the commit landed, so the abort must not destroy its files.
    let err = s.abort().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(s.committed_snapshot(), Some(1));
    assert_eq!(fx.table.snapshot_ids().await.unwrap(), [1]);
    let t2 = fx.fresh_table().await;
    assert_eq!(scan_rows(t2.scan()).await, expected_list(&rows));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_put_during_flush_keeps_the_session_usable_and_commits_each_row_once() {
    for target in ["/data/", "/meta.json", "/block/"] {
        for fault in [Fault::Before, Fault::After] {
            for reopen in [false, true] {
                let what = format!("{target} {fault:?} reopen={reopen}");
                let fx = Fx::new(false).await;
                let mut model = BTreeMap::new();
                let mut s = fx.table.session(SessionKind::Upsert).open().await.unwrap();
                let a = persons(0..30, 1);
                s.upsert(&persons_batch(&a)).await.unwrap();
                fx.store.fail_put(1, target, fault);
                let err = s.flush().await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Unavailable, "{what}: {err}");
                assert_eq!(fx.store.fired().len(), 1, "{what}");
                upsert_into(&mut model, &a);
                // Still usable: more rows, a second flush, a commit.
                let b = persons(20..40, 2);
                s.upsert(&persons_batch(&b)).await.unwrap();
                s.delete(&ids(&[0, 39])).await.unwrap();
                upsert_into(&mut model, &b);
                model.remove(&0);
                model.remove(&39);
                s.flush().await.unwrap();
                let table = if reopen {
                    let id = s.id().to_string();
                    drop(s);
                    let t2 = fx.fresh_table().await;
                    s = t2.open_session(&id).await.unwrap();
                    t2
                } else {
                    fx.table.clone()
                };
                assert_eq!(s.commit().await.unwrap().id, 1, "{what}");
                assert_eq!(table.snapshot_ids().await.unwrap(), [1], "{what}");
                assert_eq!(scan_rows(table.scan()).await, expected(&model), "{what}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_flush_after_an_unknown_block_outcome_does_not_duplicate_inserts_on_reopen() {
    for target in ["/data/", "/block/"] {
        let fx = Fx::new(true).await;
        let mut s = fx.table.session(SessionKind::Insert).open().await.unwrap();
        let a = persons(0..10, 1);
        s.insert(&persons_batch(&a)).await.unwrap();
        fx.store.fail_put(1, target, Fault::After);
        s.flush().await.unwrap_err();
        // The second flush acknowledges the rows; each was sent once, so each must appear once.
        s.flush().await.unwrap();
        let id = s.id().to_string();
        drop(s);
        let t2 = fx.fresh_table().await;
        let mut s2 = t2.open_session(&id).await.unwrap();
        s2.commit().await.unwrap();
        assert_eq!(scan_rows(t2.scan()).await, expected_list(&a), "{target}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_rows_once_when_the_same_handle_retries_a_failed_flush_and_commit() {
    for target in ["/data/", "/block/", "/manifest/", "/snapshot/"] {
        for fault in [Fault::Before, Fault::After] {
            let fx = Fx::new(true).await;
            let mut s = fx.table.session(SessionKind::Insert).open().await.unwrap();
            let a = persons(0..10, 1);
            s.insert(&persons_batch(&a)).await.unwrap();
            fx.store.fail_put(1, target, fault);
            while s.flush().await.is_err() {}
            let b = persons(0..10, 2);
            s.insert(&persons_batch(&b)).await.unwrap();
            while s.commit().await.is_err() {}
            assert_eq!(fx.store.fired().len(), 1, "{target} {fault:?}");
            let all: Vec<Person> = a.iter().chain(&b).cloned().collect();
            assert_eq!(
                scan_rows(fx.fresh_table().await.scan()).await,
                expected_list(&all),
                "{target} {fault:?}"
            );
            assert_eq!(fx.table.snapshot_ids().await.unwrap(), [1]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_reads_are_unavailable_and_retryable() {
    let fx = Fx::new(false).await;
    let rows = persons(0..10, 1);
    commit_rows(&fx.table, &rows).await;
    // A read failing while the commit looks for the newest snapshot.
    let mut s = fx.table.session(SessionKind::Upsert).open().await.unwrap();
    s.upsert(&persons_batch(&persons(5..15, 2))).await.unwrap();
    fx.store.fail(Call::Get, 1, "/snapshot/", Fault::Before);
    let err = s.commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert_eq!(fx.store.pending_traps(), 0);
    assert_eq!(s.commit().await.unwrap().id, 2);
    // A data file read failing during a scan (fresh handle: no cached footers) is a transient
    // store error, not corruption: clients retry Unavailable, never Corrupted.
    let t = fx.fresh_table().await;
    let store = FaultStore::new(fx.env.local_store());
    let w = Warehouse::with_store(fx.env.location(), store.clone())
        .await
        .unwrap();
    let t2 = w.table("default", "t").await.unwrap();
    store.fail(Call::Get, 1, "/data/", Fault::Before);
    let err = t2.scan().collect().await.unwrap_err();
    assert_eq!(store.fired().len(), 1);
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let mut model = BTreeMap::new();
    upsert_into(&mut model, &rows);
    upsert_into(&mut model, &persons(5..15, 2));
    assert_eq!(scan_rows(t2.scan()).await, expected(&model));
    assert_eq!(scan_rows(t.scan()).await, expected(&model));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_returns_an_error_has_buffered_nothing_of_its_batch() {
    // `Session::write` documents: "On error nothing of `batch` is buffered and the session
    // stays usable." A client therefore re-sends a batch whose write failed.
    let fx = Fx::new(true).await;
    let mut s = fx
        .table
        .session(SessionKind::Insert)
        .bucket_buffer_bytes(1)
        .flush_concurrency(1)
        .open()
        .await
        .unwrap();
    fx.store.fail_put(1, "/data/", Fault::Before);
    let mut sent = Vec::new();
    for i in 0..6 {
        let rows = persons(i * 10..i * 10 + 10, 1);
        if s.insert(&persons_batch(&rows)).await.is_err() {
            s.insert(&persons_batch(&rows)).await.unwrap();
        }
        sent.extend(rows);
    }
    // The failed background flush surfaces at a later write or at the commit (timing decides
    // which); either way the rows it held went back into the buffer and are written once.
    if s.commit().await.is_err() {
        s.commit().await.unwrap();
    }
    assert_eq!(fx.store.fired().len(), 1);
    let rows = scan_rows(fx.table.scan()).await;
    let twice: Vec<i64> = rows
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].person.id)
        .collect();
    assert!(twice.is_empty(), "rows written twice: {twice:?}");
    assert_eq!(rows, expected_list(&sent));
}

// ---------------------------------------------------------------------------------------------
// The sweep: fail every put of a small workload in turn.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Retry {
    /// Retry the failed call on the same session handle.
    SameHandle,
    /// Crash: reopen the warehouse and the session, re-send everything not acknowledged, retry.
    Reopen,
}

/// One batch the client sent.
#[derive(Clone)]
enum Sent {
    Upsert(Vec<Person>),
    Delete(Vec<i64>),
    Insert(Vec<Person>),
}

/// A well-behaved client: it re-sends what was not acknowledged, and after an error it never
/// re-applies a commit blindly (a reopened session tells whether the commit landed).
struct Client<'a> {
    fx: &'a Fx,
    table: Table,
    retry: Retry,
    kind: SessionKind,
    /// Batches acknowledged by a flush of the current session.
    acked: Vec<Sent>,
}

impl Client<'_> {
    async fn open(&mut self) -> Session {
        self.acked.clear();
        loop {
            match self.table.session(self.kind).open().await {
                Ok(s) => return s,
                Err(e) => assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}"),
            }
        }
    }

    async fn send(s: &mut Session, batches: &[Sent]) {
        for b in batches {
            match b {
                Sent::Upsert(rows) => s.upsert(&persons_batch(rows)).await.unwrap(),
                Sent::Delete(keys) => s.delete(&ids(keys)).await.unwrap(),
                Sent::Insert(rows) => s.insert(&persons_batch(rows)).await.unwrap(),
            }
        }
    }

    /// Reopens the session in a fresh process and re-sends `pending`. A session that never
    /// acknowledged a flush left nothing durable: it is replaced by a new one that gets every
    /// batch again.
    async fn crash_and_reopen(&mut self, s: &mut Session, pending: &[Sent]) {
        let id = s.id().to_string();
        self.table = self.fx.fresh_table().await;
        match self.table.open_session(&id).await {
            Ok(reopened) => {
                *s = reopened;
                if s.committed_snapshot().is_none() {
                    Self::send(s, pending).await;
                }
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                assert!(self.acked.is_empty(), "an acknowledged session vanished");
                *s = self.open().await;
                Self::send(s, pending).await;
            }
        }
    }

    /// Sends `pending` and flushes until acknowledged.
    async fn flush(&mut self, s: &mut Session, pending: &[Sent]) {
        Self::send(s, pending).await;
        while let Err(e) = s.flush().await {
            assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
            if self.retry == Retry::Reopen {
                self.crash_and_reopen(s, pending).await;
            }
        }
        self.acked.extend(pending.iter().cloned());
    }

    /// Sends `pending` and commits until the snapshot is known.
    async fn commit(&mut self, s: &mut Session, pending: &[Sent]) -> u64 {
        Self::send(s, pending).await;
        loop {
            match s.commit().await {
                Ok(snap) => return snap.id,
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
                    if self.retry == Retry::Reopen {
                        self.crash_and_reopen(s, pending).await;
                    }
                }
            }
        }
    }
}

/// Runs the workload, failing the `fail_nth` put (0: none). Returns the number of puts the
/// workload made and the expected table contents after snapshots 1 and 2.
async fn run_workload(
    standard: bool,
    retry: Retry,
    fault: Fault,
    fail_nth: usize,
) -> (usize, Vec<Vec<Row>>) {
    let fx = Fx::new(standard).await;
    let puts_before = fx.store.put_count();
    if fail_nth > 0 {
        fx.store.fail_put(fail_nth, "", fault);
    }
    let kind = if standard {
        SessionKind::Insert
    } else {
        SessionKind::Upsert
    };
    let mut c = Client {
        fx: &fx,
        table: fx.table.clone(),
        retry,
        kind,
        acked: Vec::new(),
    };
    let what = format!("standard={standard} {retry:?} {fault:?} put #{fail_nth}");
    let a = persons(0..12, 1);
    let b = persons(6..18, 2);
    let d = persons(3..9, 3);
    let mut states = Vec::new();

    // Session 1: a flush, more rows, a commit. Session 2: a flush, then a commit.
    let mut s = c.open().await;
    let ids = if standard {
        let mut all = a.clone();
        c.flush(&mut s, &[Sent::Insert(a.clone())]).await;
        all.extend(b.iter().cloned());
        let id1 = c.commit(&mut s, &[Sent::Insert(b.clone())]).await;
        states.push(expected_list(&all));
        let mut s2 = c.open().await;
        c.flush(&mut s2, &[Sent::Insert(d.clone())]).await;
        let id2 = c.commit(&mut s2, &[]).await;
        all.extend(d.iter().cloned());
        states.push(expected_list(&all));
        (id1, id2)
    } else {
        let mut model = BTreeMap::new();
        c.flush(&mut s, &[Sent::Upsert(a.clone())]).await;
        upsert_into(&mut model, &a);
        let id1 = c
            .commit(
                &mut s,
                &[Sent::Upsert(b.clone()), Sent::Delete(vec![0, 1, 17])],
            )
            .await;
        upsert_into(&mut model, &b);
        for k in [0, 1, 17] {
            model.remove(&k);
        }
        states.push(expected(&model));
        let mut s2 = c.open().await;
        c.flush(&mut s2, &[Sent::Upsert(d.clone())]).await;
        let id2 = c.commit(&mut s2, &[]).await;
        upsert_into(&mut model, &d);
        states.push(expected(&model));
        (id1, id2)
    };
    assert_eq!(ids, (1, 2), "{what}");
    if fail_nth > 0 {
        assert_eq!(fx.store.fired().len(), 1, "{what}: the fault never fired");
    } else {
        // The sweep covers every kind of write a session makes.
        let puts = fx.store.puts();
        for kind in [
            "/meta.json",
            "/data/",
            "/block/",
            "/manifest/",
            "/snapshot/",
            "/commit.json",
        ] {
            assert!(puts.iter().any(|p| p.contains(kind)), "no {kind} put");
        }
    }
    let t = fx.fresh_table().await;
    assert_eq!(t.snapshot_ids().await.unwrap(), [1, 2], "{what}");
    for (i, state) in states.iter().enumerate() {
        let got = scan_rows(t.scan().snapshot_id(i as u64 + 1)).await;
        assert_eq!(&got, state, "{what}: snapshot {}", i + 1);
    }
    (fx.store.put_count() - puts_before, states)
}

async fn sweep(standard: bool, retry: Retry, fault: Fault) {
    let (puts, clean) = run_workload(standard, retry, fault, 0).await;
    assert!(puts >= 8, "the workload made only {puts} puts");
    for n in 1..=puts {
        let (_, states) = run_workload(standard, retry, fault, n).await;
        assert_eq!(states, clean);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_put_of_an_upsert_workload_is_retried_on_the_same_handle_without_loss() {
    sweep(false, Retry::SameHandle, Fault::Before).await;
    sweep(false, Retry::SameHandle, Fault::After).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_put_of_an_upsert_workload_is_retried_after_a_crash_without_loss() {
    sweep(false, Retry::Reopen, Fault::Before).await;
    sweep(false, Retry::Reopen, Fault::After).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_put_of_an_insert_workload_is_retried_without_duplicates() {
    sweep(true, Retry::SameHandle, Fault::Before).await;
    sweep(true, Retry::SameHandle, Fault::After).await;
}
