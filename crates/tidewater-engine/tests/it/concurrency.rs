//! Concurrent commits: many sessions (some through separate warehouse handles, as separate
//! processes would) commit at once; one session committed from two handles at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tidewater_engine::{SessionKind, Table, Warehouse};

use crate::env::{Person, Row, TestEnv, ids, persons_batch, scan_rows};
use crate::fault_store::FaultStore;

fn person(id: i64, writer: usize) -> Person {
    Person::new(
        id,
        Some(&format!("w{writer}")),
        Some(writer as i32),
        Some(writer.is_multiple_of(2)),
    )
}

fn expected(model: &BTreeMap<i64, Person>) -> Vec<Row> {
    model
        .values()
        .map(|p| Row {
            dd: String::new(),
            hh: String::new(),
            person: p.clone(),
        })
        .collect()
}

/// A handle on table `t` through its own warehouse; with `slow`, snapshot creation is delayed
/// so commits race longer.
async fn separate_handle(env: &TestEnv, slow: bool) -> Table {
    let store = FaultStore::new(env.local_store());
    if slow {
        store.delay_puts("/snapshot/", Duration::from_millis(3));
    }
    let w = Warehouse::with_store(env.location(), store).await.unwrap();
    w.table("default", "t").await.unwrap()
}

/// What one writer did: its own keys, the shared keys it upserted and deleted, its snapshot.
struct Writer {
    snapshot: u64,
    own: Vec<Person>,
    shared_upserts: Vec<Person>,
    shared_deletes: Vec<i64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sessions_all_commit_gap_free_and_the_last_committed_wins_shared_keys() {
    const WRITERS: usize = 8;
    for round in 0..3 {
        let env = TestEnv::new().await;
        let t = env.people("t", 4, false).await;
        if round == 2 {
            // Start from a non-empty table.
            let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
            s.upsert(&persons_batch(&[person(0, 99), person(5, 99)]))
                .await
                .unwrap();
            s.commit().await.unwrap();
        }
        let base = t.snapshot_ids().await.unwrap().len() as u64;
        let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let table = match w % 3 {
                0 => t.clone(),
                1 => separate_handle(&env, false).await,
                _ => separate_handle(&env, true).await,
            };
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                let mut b = table.session(SessionKind::Upsert);
                if w % 4 == 3 {
                    b = b.bucket_buffer_bytes(300);
                }
                let mut s = b.open().await.unwrap();
                let own: Vec<Person> = (0..40)
                    .map(|k| person(1000 * (w as i64 + 1) + k, w))
                    .collect();
                s.upsert(&persons_batch(&own)).await.unwrap();
                let shared_upserts: Vec<Person> = (0..24)
                    .filter(|k| (k + w as i64) % 3 != 0)
                    .map(|k| person(k, w))
                    .collect();
                s.upsert(&persons_batch(&shared_upserts)).await.unwrap();
                if w % 2 == 1 {
                    s.flush().await.unwrap();
                }
                let shared_deletes: Vec<i64> = if w % 2 == 1 {
                    (0..24).filter(|k| (k + w as i64) % 3 == 0).collect()
                } else {
                    Vec::new()
                };
                s.delete(&ids(&shared_deletes)).await.unwrap();
                barrier.wait().await;
                let snapshot = s.commit().await.unwrap().id;
                Writer {
                    snapshot,
                    own,
                    shared_upserts,
                    shared_deletes,
                }
            }));
        }
        let mut writers = Vec::new();
        for task in tasks {
            writers.push(task.await.unwrap());
        }
        writers.sort_by_key(|w| w.snapshot);
        let got: Vec<u64> = writers.iter().map(|w| w.snapshot).collect();
        let want: Vec<u64> = (base + 1..=base + WRITERS as u64).collect();
        assert_eq!(got, want, "round {round}: snapshot ids must be gap-free");
        assert_eq!(
            t.snapshot_ids().await.unwrap(),
            (1..=base + WRITERS as u64).collect::<Vec<_>>()
        );

        // Replay in commit order: the model of every snapshot.
        let mut model: BTreeMap<i64, Person> = BTreeMap::new();
        if round == 2 {
            model.insert(0, person(0, 99));
            model.insert(5, person(5, 99));
        }
        let fresh = env.reopen().await.table("default", "t").await.unwrap();
        for w in &writers {
            for p in w.own.iter().chain(&w.shared_upserts) {
                model.insert(p.id, p.clone());
            }
            for k in &w.shared_deletes {
                model.remove(k);
            }
            assert_eq!(
                scan_rows(fresh.scan().snapshot_id(w.snapshot)).await,
                expected(&model),
                "round {round}: snapshot {}",
                w.snapshot
            );
        }
        let rows = scan_rows(t.scan()).await;
        assert_eq!(rows, expected(&model), "round {round}");
        // Nothing lost: every writer's own rows are there.
        for w in &writers {
            for p in &w.own {
                assert!(rows.iter().any(|r| &r.person == p), "lost {p:?}");
            }
        }
        // Each shared key holds the value of the highest snapshot that wrote it.
        for k in 0..24 {
            let last = writers.iter().rev().find(|w| {
                w.shared_upserts.iter().any(|p| p.id == k) || w.shared_deletes.contains(&k)
            });
            let want = match last {
                Some(w) if w.shared_deletes.contains(&k) => None,
                Some(w) => w.shared_upserts.iter().find(|p| p.id == k).cloned(),
                None => None,
            };
            let got = rows
                .iter()
                .find(|r| r.person.id == k)
                .map(|r| r.person.clone());
            assert_eq!(got, want, "round {round}: key {k}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_session_committed_from_several_handles_at_once_makes_exactly_one_snapshot() {
    for round in 0..8 {
        let env = TestEnv::new().await;
        let t = env.people("t", 3, false).await;
        let mut model: BTreeMap<i64, Person> = BTreeMap::new();
        if round % 2 == 1 {
            let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
            let rows: Vec<Person> = (0..10).map(|k| person(k, 0)).collect();
            s.upsert(&persons_batch(&rows)).await.unwrap();
            s.commit().await.unwrap();
            for p in rows {
                model.insert(p.id, p);
            }
        }
        let base = t.snapshot_ids().await.unwrap().len() as u64;
        let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
        let rows: Vec<Person> = (5..25).map(|k| person(k, 1)).collect();
        s.upsert(&persons_batch(&rows)).await.unwrap();
        s.delete(&ids(&[0, 1])).await.unwrap();
        s.flush().await.unwrap();
        for p in rows {
            model.insert(p.id, p);
        }
        model.remove(&0);
        model.remove(&1);
        let id = s.id().to_string();

        // The original handle plus reopened handles in other warehouses (one slow).
        let handles = 1 + round % 3;
        let mut sessions = vec![s];
        for h in 0..handles {
            let table = separate_handle(&env, h == 0).await;
            sessions.push(table.open_session(&id).await.unwrap());
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(sessions.len()));
        let tasks: Vec<_> = sessions
            .into_iter()
            .map(|mut s| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.commit().await.unwrap().id
                })
            })
            .collect();
        let mut got = Vec::new();
        for task in tasks {
            got.push(task.await.unwrap());
        }
        assert!(
            got.iter().all(|id| *id == base + 1),
            "round {round}: commits returned {got:?}"
        );
        assert_eq!(
            t.snapshot_ids().await.unwrap(),
            (1..=base + 1).collect::<Vec<_>>(),
            "round {round}"
        );
        assert_eq!(scan_rows(t.scan()).await, expected(&model), "round {round}");
        // A later reopen agrees.
        let t2 = env.reopen().await.table("default", "t").await.unwrap();
        let mut again = t2.open_session(&id).await.unwrap();
        assert_eq!(again.committed_snapshot(), Some(base + 1));
        assert_eq!(again.commit().await.unwrap().id, base + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_futures_run_in_spawned_tasks() {
    // `tokio::spawn` needs `Send` futures: a server runs sessions and scans on worker threads.
    let env = TestEnv::new().await;
    let w = env.warehouse.clone();
    let t = tokio::spawn(async move { crate::env::people_table(&w, "t", 2, false).await })
        .await
        .unwrap();
    let table = t.clone();
    let id = tokio::spawn(async move {
        let mut s = table.session(SessionKind::Upsert).open().await.unwrap();
        s.upsert(&persons_batch(&[person(1, 1), person(2, 1)]))
            .await
            .unwrap();
        s.flush().await.unwrap();
        s.delete(&ids(&[2])).await.unwrap();
        s.id().to_string()
    })
    .await
    .unwrap();
    let table = t.clone();
    let snap = tokio::spawn(async move {
        let mut s = table.open_session(&id).await.unwrap();
        s.upsert(&persons_batch(&[person(3, 1)])).await.unwrap();
        s.commit().await.unwrap().id
    })
    .await
    .unwrap();
    assert_eq!(snap, 1);
    let table = t.clone();
    let aborted = tokio::spawn(async move {
        let mut s = table.session(SessionKind::Upsert).open().await.unwrap();
        s.upsert(&persons_batch(&[person(9, 9)])).await.unwrap();
        s.flush().await.unwrap();
        s.abort().await.unwrap();
        table.snapshot_ids().await.unwrap()
    })
    .await
    .unwrap();
    assert_eq!(aborted, [1]);
    let table = t.clone();
    let rows = tokio::spawn(async move {
        let at = table
            .latest_snapshot()
            .await
            .unwrap()
            .unwrap()
            .commit_time_ms;
        let batches = table.scan().as_of_ms(at).collect().await.unwrap();
        crate::env::scanned(&batches)
    })
    .await
    .unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.person.id).collect();
    // The delete of 2 was never flushed, so the reopened session did not have it.
    assert_eq!(ids, [1, 2, 3]);
    let w = env.warehouse.clone();
    tokio::spawn(async move { w.drop_table("default", "t", false).await.unwrap() })
        .await
        .unwrap();
    assert!(!env.warehouse.table_exists("default", "t").await.unwrap());
}

/// Ingest, compaction and readers at once: every commit adds 10 new keys and updates 5 old
/// ones; a compactor loops; readers check that every snapshot they pin holds exactly the keys
/// its commits added. Ingest never fails because of compaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_compaction_and_readers_run_together() {
    use tidewater_engine::CompactMode;
    use tidewater_format::SnapshotKind;

    let env = crate::env::TestEnv::new().await;
    let table = crate::env::people_table(&env.warehouse, "live", 2, false).await;
    const COMMITS: i64 = 30;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    let compactor = {
        let (table, stop) = (table.clone(), stop.clone());
        tokio::spawn(async move {
            let mut done = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mode = if done % 3 == 2 {
                    CompactMode::Major
                } else {
                    CompactMode::Minor
                };
                match table.compact(mode).run().await {
                    Ok(r) => done += r.snapshot.is_some() as u32,
                    Err(e) => assert_eq!(e.kind(), tidewater_engine::ErrorKind::Conflict, "{e}"),
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            done
        })
    };
    let reader = {
        let (table, stop) = (table.clone(), stop.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Some(latest) = table.latest_snapshot().await.unwrap() else {
                    tokio::task::yield_now().await;
                    continue;
                };
                let mut appends = 0;
                for id in 1..=latest.id {
                    appends +=
                        (table.snapshot(id).await.unwrap().kind == SnapshotKind::Append) as usize;
                }
                let rows = crate::env::scan_rows(table.scan().snapshot_id(latest.id)).await;
                assert_eq!(rows.len(), 10 * appends, "snapshot {}", latest.id);
                reads += 1;
            }
            reads
        })
    };
    for c in 0..COMMITS {
        let mut s = table.session(SessionKind::Upsert).open().await.unwrap();
        let mut rows: Vec<(i64, &str, i32, bool)> = (0..10)
            .map(|k| (c * 10 + k, "new", c as i32, true))
            .collect();
        rows.extend((0..5.min(c * 10)).map(|k| (k * 7 % (c * 10).max(1), "upd", c as i32, false)));
        s.upsert(&crate::env::people(&rows)).await.unwrap();
        s.commit().await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let compactions = compactor.await.unwrap();
    let reads = reader.await.unwrap();
    assert!(
        compactions > 0 && reads > 0,
        "compactions {compactions}, reads {reads}"
    );
    let rows = crate::env::scan_rows(table.scan()).await;
    assert_eq!(rows.len(), (COMMITS * 10) as usize);
}

/// `commits` upsert sessions of 20 rows each (keys overlapping across sessions) into `table`.
async fn overlapping_commits(table: &Table, commits: i64) {
    for c in 0..commits {
        let mut s = table.session(SessionKind::Upsert).open().await.unwrap();
        let rows: Vec<(i64, &str, i32, bool)> =
            (0..20).map(|k| (k * 3 + c, "v", c as i32, true)).collect();
        s.upsert(&crate::env::people(&rows)).await.unwrap();
        s.commit().await.unwrap();
    }
}

/// Manual compactions of separate processes racing each other (as `tidewater table compact`
/// races a server's compactions): the loser plans again on the winner's snapshot instead of
/// failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_manual_compactions_both_succeed() {
    use tidewater_engine::CompactMode;

    let env = crate::env::TestEnv::new().await;
    let table = crate::env::people_table(&env.warehouse, "race", 2, false).await;
    overlapping_commits(&table, 6).await;
    let expected = crate::env::scan_rows(table.scan()).await;
    // Handles through warehouses of their own: nothing in-process orders them.
    let other = env.reopen().await.table("default", "race").await.unwrap();
    let third = env.reopen().await.table("default", "race").await.unwrap();
    for _ in 0..3 {
        let (a, b, m) = tokio::join!(
            table.compact(CompactMode::Major).run(),
            other.compact(CompactMode::Major).run(),
            third.compact(CompactMode::Minor).run(),
        );
        for r in [a, b, m] {
            r.unwrap();
        }
        assert_eq!(crate::env::scan_rows(table.scan()).await, expected);
    }
    let latest = table.latest_snapshot().await.unwrap().unwrap();
    let files = table.files(&latest).await.unwrap();
    assert_eq!(tidewater_engine::compact::max_sorted_runs(&files), 1);
}

/// A one-bucket table with as many runs as the default trigger (so an automatic compaction has
/// work), whose data-file puts then turn slow, and an automatic compaction of it started 100 ms
/// ago — still writing. Also: the table's rows and latest snapshot before it.
async fn automatic_compaction_under_way(
    env: &TestEnv,
) -> (
    Table,
    Vec<Row>,
    u64,
    tokio::task::JoinHandle<tidewater_engine::Result<tidewater_engine::CompactReport>>,
) {
    let store = FaultStore::new(env.local_store());
    let w = Warehouse::with_store(env.location(), store.clone())
        .await
        .unwrap();
    let table = crate::env::people_table(&w, "t", 1, false).await;
    overlapping_commits(&table, 10).await;
    let rows = scan_rows(table.scan()).await;
    let latest = table.latest_snapshot().await.unwrap().unwrap().id;
    store.delay_puts("/data/", Duration::from_secs(1));
    let auto = tokio::spawn({
        let table = table.clone();
        async move {
            table
                .compact(tidewater_engine::CompactMode::Auto)
                .run()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    (table, rows, latest, auto)
}

/// In one process, a manual compaction stops a running automatic one of the same table instead
/// of racing it to a conflict: the automatic one fails with `CompactionSuperseded` and leaves no
/// files behind, the manual one commits the only compaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manual_compaction_stops_a_running_automatic_one() {
    use tidewater_engine::{CompactMode, ErrorKind};

    let env = TestEnv::new().await;
    let (table, expected, before, auto) = automatic_compaction_under_way(&env).await;
    let started = std::time::Instant::now();
    let major = table.compact(CompactMode::Major).run().await.unwrap();
    let auto = auto.await.unwrap().unwrap_err();
    assert!(
        matches!(auto, tidewater_engine::Error::CompactionSuperseded { .. }),
        "{auto}"
    );
    assert_eq!(auto.kind(), ErrorKind::Conflict);
    assert!(
        major.major && major.snapshot == Some(before + 1),
        "{major:?}"
    );
    // It waited for the automatic one's put in flight, not for a whole second merge.
    assert!(started.elapsed() < Duration::from_secs(5));

    assert_eq!(
        table.snapshot_ids().await.unwrap().last(),
        Some(&(before + 1))
    );
    assert_eq!(scan_rows(table.scan()).await, expected);
    // The automatic compaction's outputs are gone: nothing is left for garbage collection.
    let vacuum = table
        .vacuum(tidewater_engine::now_ms(), 0, true)
        .await
        .unwrap();
    assert_eq!(vacuum.files_deleted, 0, "{vacuum:?}");
}

/// Another automatic compaction of a table whose compaction is under way returns at once with
/// nothing done; a manual compaction given up while it waits for its turn (a dropped request)
/// no longer stops automatic ones: the running one finishes and a later one is not stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manual_compaction_given_up_while_waiting_stops_nothing() {
    use tidewater_engine::CompactMode;

    let env = TestEnv::new().await;
    let (table, _, _, auto) = automatic_compaction_under_way(&env).await;
    let other = table.compact(CompactMode::Auto).run().await.unwrap();
    assert_eq!(other, tidewater_engine::CompactReport::default());
    assert!(!auto.is_finished());
    let manual = table.compact(CompactMode::Major).run();
    assert!(
        tokio::time::timeout(Duration::from_millis(50), manual)
            .await
            .is_err()
    );
    let first = auto.await.unwrap().unwrap();
    assert!(first.snapshot.is_some() && !first.major, "{first:?}");
    // Not superseded (nothing left to merge either).
    let second = table.compact(CompactMode::Auto).run().await.unwrap();
    assert_eq!(second, tidewater_engine::CompactReport::default());
}
