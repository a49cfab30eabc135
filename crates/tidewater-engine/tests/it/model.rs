//! Model test: random sequences of upserts, deletes, flushes, commits, aborts, restarts,
//! compactions (minor, major, automatic) and snapshot expiry with vacuum on one Delta table, through two interleaved sessions, compared after every commit with a
//! `BTreeMap` model at every snapshot.
//!
//! Model rules: within a session the last write of a key wins; across sessions the session
//! committed last wins; a restart keeps only what `flush()` acknowledged (a session that never
//! flushed left nothing durable and is gone); snapshot ids are 1, 2, 3… without gaps; a
//! compaction or expiry snapshot holds the same rows as its parent; every snapshot kept by
//! expiry still reads as the model says, older ones fail naming the retention window, and a
//! vacuum with no safety window deletes nothing a kept snapshot or an open session needs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use tidewater_engine::compact::{self, CompactMode};
use tidewater_engine::{ErrorKind, Session, SessionKind, Table};

use crate::env::{
    Person, Row, TestEnv, ids, people_table, persons_batch, scan_rows, with_partitions,
};

/// How often the interesting paths ran, over all cases (so the test cannot pass vacuously).
static COMMITS: AtomicUsize = AtomicUsize::new(0);
static ABORTS: AtomicUsize = AtomicUsize::new(0);
static REOPENED: AtomicUsize = AtomicUsize::new(0);
static LOST_UNFLUSHED: AtomicUsize = AtomicUsize::new(0);
static SMALL_BUFFER_COMMITS: AtomicUsize = AtomicUsize::new(0);
static COMPACTIONS: AtomicUsize = AtomicUsize::new(0);
static EXPIRED: AtomicUsize = AtomicUsize::new(0);

/// Partitions of the partitioned variant, as (dd, hh).
const PARTS: [(&str, &str); 3] = [("a", "1"), ("a", "2"), ("b", "1")];
const KEYS: i64 = 40;

#[derive(Debug, Clone)]
enum Op {
    /// Rows `(id, partition index)`; the partition index matters for dynamic partitions, and
    /// the first row's picks the static partition of a session opened by this op.
    Upsert {
        slot: usize,
        rows: Vec<(i64, usize)>,
        nulls: bool,
    },
    Delete {
        slot: usize,
        rows: Vec<(i64, usize)>,
    },
    Flush {
        slot: usize,
    },
    Commit {
        slot: usize,
    },
    Abort {
        slot: usize,
    },
    /// Drop every handle and open a new warehouse; reopen the open sessions by id.
    Restart,
    Compact {
        mode: u8,
    },
    /// Expire everything retention allows a day from now (optionally with the oldest kept
    /// snapshot pinned by a reader), then vacuum (with no safety window when no session is open).
    Expire {
        pin: bool,
    },
}

#[derive(Debug, Clone)]
struct Case {
    buckets: u32,
    partitioned: bool,
    dynamic: bool,
    bucket_buffer_bytes: Option<usize>,
    ops: Vec<Op>,
}

fn rows(max: usize) -> impl Strategy<Value = Vec<(i64, usize)>> {
    prop::collection::vec((0..KEYS, 0..PARTS.len()), 1..max)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..2usize, rows(12), any::<bool>())
            .prop_map(|(slot, rows, nulls)| Op::Upsert { slot, rows, nulls }),
        4 => (0..2usize, rows(6)).prop_map(|(slot, rows)| Op::Delete { slot, rows }),
        3 => (0..2usize).prop_map(|slot| Op::Flush { slot }),
        4 => (0..2usize).prop_map(|slot| Op::Commit { slot }),
        1 => (0..2usize).prop_map(|slot| Op::Abort { slot }),
        1 => Just(Op::Restart),
        2 => (0..3u8).prop_map(|mode| Op::Compact { mode }),
        1 => any::<bool>().prop_map(|pin| Op::Expire { pin }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        2..=4u32,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(None), Just(Some(200usize)), Just(Some(2000usize))],
        prop::collection::vec(op(), 1..40),
    )
        .prop_map(
            |(buckets, partitioned, dynamic, bucket_buffer_bytes, ops)| Case {
                buckets,
                partitioned,
                dynamic: partitioned && dynamic,
                bucket_buffer_bytes,
                ops,
            },
        )
}

type Key = (String, String, i64);

#[derive(Debug, Clone)]
enum Write {
    Put(Key, Person),
    Del(Key),
}

fn apply(state: &mut BTreeMap<Key, Person>, writes: &[Write]) {
    for w in writes {
        match w {
            Write::Put(k, p) => {
                state.insert(k.clone(), p.clone());
            }
            Write::Del(k) => {
                state.remove(k);
            }
        }
    }
}

fn expected(state: &BTreeMap<Key, Person>) -> Vec<Row> {
    // Keys sort as (dd, hh, id), the same order as `Row`.
    state
        .iter()
        .map(|((dd, hh, _), p)| Row {
            dd: dd.clone(),
            hh: hh.clone(),
            person: p.clone(),
        })
        .collect()
}

/// One open session and what the model knows about it.
struct Slot {
    session: Session,
    id: String,
    /// Index into `PARTS` of a static partition.
    partition: Option<usize>,
    acked: Vec<Write>,
    pending: Vec<Write>,
    /// Whether a `flush()` succeeded (only then is the session durable).
    flushed: bool,
}

/// A session across a restart: its handle is gone.
struct Parked {
    id: String,
    partition: Option<usize>,
    acked: Vec<Write>,
    flushed: bool,
}

struct Run {
    case: Case,
    env: TestEnv,
    table: Table,
    slots: [Option<Slot>; 2],
    committed: BTreeMap<Key, Person>,
    /// The model state of snapshot `i + 1`.
    history: Vec<BTreeMap<Key, Person>>,
    /// Snapshots below this id have expired.
    first_kept: u64,
    version: i32,
}

impl Run {
    fn key(&self, slot: &Slot, id: i64, part: usize) -> Key {
        let p = match (self.case.partitioned, self.case.dynamic) {
            (false, _) => return (String::new(), String::new(), id),
            (true, true) => part,
            (true, false) => slot.partition.unwrap_or(0),
        };
        (PARTS[p].0.to_string(), PARTS[p].1.to_string(), id)
    }

    async fn open(&mut self, slot: usize, part: usize) {
        if self.slots[slot].is_some() {
            return;
        }
        let mut b = self.table.session(SessionKind::Upsert);
        let mut partition = None;
        if self.case.partitioned {
            if self.case.dynamic {
                b = b.dynamic_partitions();
            } else {
                partition = Some(part);
                b = b.partition(format!("dd={}/hh={}", PARTS[part].0, PARTS[part].1));
            }
        }
        if let Some(n) = self.case.bucket_buffer_bytes {
            b = b.bucket_buffer_bytes(n);
        }
        let session = b.open().await.unwrap();
        self.slots[slot] = Some(Slot {
            id: session.id().to_string(),
            session,
            partition,
            acked: Vec::new(),
            pending: Vec::new(),
            flushed: false,
        });
    }

    fn partitions<'a>(&self, rows: &'a [(i64, usize)]) -> Vec<(&'a str, &'a str)> {
        rows.iter().map(|(_, p)| PARTS[*p]).collect()
    }

    async fn upsert(&mut self, slot: usize, rows: &[(i64, usize)], nulls: bool) {
        self.open(slot, rows[0].1).await;
        self.version += 1;
        let v = self.version;
        let persons: Vec<Person> = rows
            .iter()
            .enumerate()
            .map(|(i, (id, _))| {
                let name = format!("v{v}r{i}");
                let null = nulls && (id + i as i64) % 3 == 0;
                Person::new(
                    *id,
                    (!null).then_some(name.as_str()),
                    Some(v * 100 + i as i32),
                    if null {
                        None
                    } else {
                        Some((id + v as i64) % 2 == 0)
                    },
                )
            })
            .collect();
        let mut batch = persons_batch(&persons);
        if self.case.dynamic {
            batch = with_partitions(&batch, &self.partitions(rows));
        }
        let s = self.slots[slot].as_ref().unwrap();
        let writes: Vec<Write> = rows
            .iter()
            .zip(persons)
            .map(|((id, part), p)| Write::Put(self.key(s, *id, *part), p))
            .collect();
        let s = self.slots[slot].as_mut().unwrap();
        s.session.upsert(&batch).await.unwrap();
        s.pending.extend(writes);
    }

    async fn delete(&mut self, slot: usize, rows: &[(i64, usize)]) {
        self.open(slot, rows[0].1).await;
        let keys: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let mut batch = ids(&keys);
        if self.case.dynamic {
            batch = with_partitions(&batch, &self.partitions(rows));
        }
        let s = self.slots[slot].as_ref().unwrap();
        let writes: Vec<Write> = rows
            .iter()
            .map(|(id, part)| Write::Del(self.key(s, *id, *part)))
            .collect();
        let s = self.slots[slot].as_mut().unwrap();
        s.session.delete(&batch).await.unwrap();
        s.pending.extend(writes);
    }

    async fn flush(&mut self, slot: usize) {
        let Some(s) = self.slots[slot].as_mut() else {
            return;
        };
        s.session.flush().await.unwrap();
        s.flushed = true;
        let pending = std::mem::take(&mut s.pending);
        s.acked.extend(pending);
    }

    async fn commit(&mut self, slot: usize) {
        // Committing an empty slot commits an empty session: it still makes a snapshot.
        self.open(slot, 0).await;
        let mut s = self.slots[slot].take().unwrap();
        let snap = s.session.commit().await.unwrap();
        let want = self.history.len() as u64 + 1;
        assert_eq!(snap.id, want, "snapshot ids must be gap-free");
        assert_eq!(s.session.committed_snapshot(), Some(want));
        apply(&mut self.committed, &s.acked);
        apply(&mut self.committed, &s.pending);
        self.history.push(self.committed.clone());
        COMMITS.fetch_add(1, Ordering::Relaxed);
        if self.case.bucket_buffer_bytes.is_some() && !s.pending.is_empty() {
            SMALL_BUFFER_COMMITS.fetch_add(1, Ordering::Relaxed);
        }
        // Idempotent, and closed for writes.
        assert_eq!(s.session.commit().await.unwrap().id, want);
        let err = s.session.upsert(&persons_batch(&[])).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        let err = s.session.flush().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        self.verify().await;
    }

    async fn abort(&mut self, slot: usize) {
        let Some(mut s) = self.slots[slot].take() else {
            return;
        };
        s.session.abort().await.unwrap();
        ABORTS.fetch_add(1, Ordering::Relaxed);
        let err = s.session.commit().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert_eq!(
            self.table.snapshot_ids().await.unwrap().len() as u64,
            self.history.len() as u64 + 1 - self.first_kept
        );
    }

    async fn restart(&mut self) {
        // What survives a crash of the writer: the session ids and what the model knows.
        let parked: Vec<Option<Parked>> = self
            .slots
            .iter_mut()
            .map(|s| {
                s.take().map(|s| Parked {
                    id: s.id,
                    partition: s.partition,
                    acked: s.acked,
                    flushed: s.flushed,
                })
            })
            .collect();
        // Every session handle is gone; now the warehouse and table handles too.
        let warehouse = self.env.reopen().await;
        self.table = warehouse.table("default", "t").await.unwrap();
        for (i, entry) in parked.into_iter().enumerate() {
            let Some(Parked {
                id,
                partition,
                acked,
                flushed,
            }) = entry
            else {
                continue;
            };
            match self.table.open_session(&id).await {
                Ok(session) => {
                    assert!(flushed, "a session that never flushed was reopened");
                    assert_eq!(session.committed_snapshot(), None);
                    REOPENED.fetch_add(1, Ordering::Relaxed);
                    self.slots[i] = Some(Slot {
                        session,
                        id,
                        partition,
                        acked,
                        pending: Vec::new(),
                        flushed,
                    });
                }
                Err(e) => {
                    assert!(!flushed, "a flushed session was lost: {e}");
                    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                    LOST_UNFLUSHED.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.verify().await;
    }

    async fn compact(&mut self, mode: u8) {
        let mode = [CompactMode::Auto, CompactMode::Minor, CompactMode::Major][mode as usize];
        let report = self.table.compact(mode).run().await.unwrap();
        if let Some(id) = report.snapshot {
            assert_eq!(id, self.history.len() as u64 + 1);
            assert!(report.rows_in >= report.rows_out, "{report:?}");
            self.history.push(self.committed.clone());
            COMPACTIONS.fetch_add(1, Ordering::Relaxed);
            if mode == CompactMode::Major {
                // Base files only: one run per bucket, no deletes.
                let latest = self.table.latest_snapshot().await.unwrap().unwrap();
                let files = self.table.files(&latest).await.unwrap();
                assert!(
                    files
                        .iter()
                        .all(|f| f.level == compact::MAX_LEVEL && f.delete_count == 0)
                );
                assert!(compact::max_sorted_runs(&files) <= 1);
            }
        }
        self.verify().await;
    }

    async fn expire(&mut self, pin: bool) {
        let n = self.history.len() as u64;
        if n == 0 {
            return;
        }
        // A reader holding the oldest-but-one kept snapshot keeps it and everything newer.
        let pinned = (pin && n > self.first_kept).then(|| self.first_kept + 1);
        let guard = pinned.map(|id| self.table.pin(id));
        let day = 25 * 3_600_000;
        let report = self
            .table
            .expire_snapshots(tidewater_engine::now_ms() + day, false)
            .await
            .unwrap();
        let keep = pinned.unwrap_or(n);
        assert_eq!(report.expired, (self.first_kept..keep).collect::<Vec<_>>());
        if let Some(id) = report.snapshot {
            assert_eq!(id, n + 1);
            self.history.push(self.committed.clone());
        }
        if !report.expired.is_empty() {
            EXPIRED.fetch_add(1, Ordering::Relaxed);
            self.first_kept = keep;
            let err = self
                .table
                .scan()
                .snapshot_id(keep - 1)
                .plan()
                .await
                .err()
                .unwrap();
            assert!(err.to_string().contains("acid.data.retain.hours"), "{err}");
        }
        drop(guard);
        // Files an open session buffered and wrote but has not recorded yet are protected only
        // by the safety window: no window while nothing is open.
        let safety = if self.slots.iter().any(|s| s.is_some()) {
            3_600_000
        } else {
            0
        };
        self.table
            .vacuum(tidewater_engine::now_ms(), safety, false)
            .await
            .unwrap();
        self.verify().await;
    }

    /// Snapshot ids are first_kept..=n; the latest and every kept snapshot match the model.
    async fn verify(&self) {
        let n = self.history.len() as u64;
        assert_eq!(
            self.table.snapshot_ids().await.unwrap(),
            (self.first_kept.min(n.max(1))..=n).collect::<Vec<_>>()
        );
        assert_eq!(
            self.table.latest_snapshot().await.unwrap().map(|s| s.id),
            (n > 0).then_some(n)
        );
        assert_eq!(
            scan_rows(self.table.scan()).await,
            expected(&self.committed),
            "latest"
        );
        for (i, state) in self.history.iter().enumerate() {
            let id = i as u64 + 1;
            if id < self.first_kept {
                continue;
            }
            assert_eq!(
                scan_rows(self.table.scan().snapshot_id(id)).await,
                expected(state),
                "snapshot {id}"
            );
        }
    }
}

async fn run_case(case: Case) {
    let env = TestEnv::new().await;
    let table = people_table(&env.warehouse, "t", case.buckets, case.partitioned).await;
    let ops = case.ops.clone();
    let mut run = Run {
        case,
        env,
        table,
        slots: [None, None],
        committed: BTreeMap::new(),
        history: Vec::new(),
        first_kept: 1,
        version: 0,
    };
    for op in &ops {
        match op {
            Op::Upsert { slot, rows, nulls } => run.upsert(*slot, rows, *nulls).await,
            Op::Delete { slot, rows } => run.delete(*slot, rows).await,
            Op::Flush { slot } => run.flush(*slot).await,
            Op::Commit { slot } => run.commit(*slot).await,
            Op::Abort { slot } => run.abort(*slot).await,
            Op::Restart => run.restart().await,
            Op::Compact { mode } => run.compact(*mode).await,
            Op::Expire { pin } => run.expire(*pin).await,
        }
    }
    // Commit whatever is still open, so every case ends with its writes checked.
    for slot in 0..2 {
        if run.slots[slot].is_some() {
            run.commit(slot).await;
        }
    }
}

#[test]
fn random_operation_sequences_match_a_btreemap_model_at_every_snapshot() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = Config {
        cases: 48,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/model.txt",
        ))),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |case| {
        rt.block_on(run_case(case));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let counts = [
        &COMMITS,
        &ABORTS,
        &REOPENED,
        &LOST_UNFLUSHED,
        &SMALL_BUFFER_COMMITS,
        &COMPACTIONS,
        &EXPIRED,
    ]
    .map(|c| c.load(Ordering::Relaxed));
    assert!(
        counts.iter().all(|c| *c > 0),
        "some paths never ran: commits, aborts, reopened, lost unflushed, small-buffer commits, \
         compactions, expiries = {counts:?}"
    );
}
