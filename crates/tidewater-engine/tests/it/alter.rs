//! `ALTER TABLE … SET|UNSET TBLPROPERTIES`: versioned table metadata (`schema/<n>`), seen by
//! cached handles, fresh warehouses and `Table::refresh`; concurrent alters; data written
//! under older versions; bad alters.

use std::collections::{BTreeMap, BTreeSet};

use tidewater_engine::{CompactMode, Error, ErrorKind, SessionKind, Table, Warehouse};
use tidewater_format::schema::TableMetadata;

use crate::env::{TestEnv, people, rows_of};

fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn names(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// Version `id` of `default.<table>`'s metadata as stored, if it exists.
fn stored_version(env: &TestEnv, table: &str, id: u32) -> Option<TableMetadata> {
    let path = env.dir.path().join(format!("default/{table}/schema/{id}"));
    std::fs::read(path)
        .ok()
        .map(|b| TableMetadata::decode(&b).unwrap())
}

async fn alter(w: &Warehouse, table: &str, pairs: &[(&str, &str)]) -> Table {
    w.alter_table_properties("default", table, &set(pairs), &[])
        .await
        .unwrap()
}

async fn commit_rows(t: &Table, rows: &[(i64, &str, i32, bool)]) -> u64 {
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    s.upsert(&people(rows)).await.unwrap();
    s.commit().await.unwrap().id
}

#[tokio::test]
async fn an_alter_is_seen_by_cached_handles_fresh_warehouses_and_refresh() {
    let env = TestEnv::new().await;
    let t = env.people("t", 4, false).await;
    let other = env.reopen().await;
    let other_before = other.table("default", "t").await.unwrap();
    assert_eq!(other_before.metadata().schema_id, 0);

    let altered = alter(
        &env.warehouse,
        "t",
        &[
            ("acid.data.retain.hours", "60"),
            ("upsert.major-compact.enable", "true"),
            ("Upsert.Major-Compact.Min-Commits", "3"),
        ],
    )
    .await;
    let check = |t: &Table, version: u32| {
        let m = t.metadata();
        assert_eq!(m.schema_id, version);
        assert_eq!(m.properties.retain_hours, 60);
        assert!(m.properties.compaction.major_enable);
        assert_eq!(m.properties.compaction.major_min_commits, 3);
        assert_eq!(m.properties.bucket_num, 4);
        assert_eq!(m.table_id, t.metadata().table_id);
        assert_eq!(m.schema, *t.schema());
    };
    check(&altered, 1);
    assert_eq!(altered.metadata().table_id, t.metadata().table_id);
    assert_eq!(altered.metadata().created_ms, t.metadata().created_ms);
    assert_eq!(altered.schema(), t.schema());
    assert_eq!(stored_version(&env, "t", 1).unwrap(), *altered.metadata());
    // This process's cache, another warehouse's cached handle, a fresh warehouse.
    check(&env.warehouse.table("default", "t").await.unwrap(), 1);
    check(&other.table("default", "t").await.unwrap(), 1);
    check(&env.reopen().await.table("default", "t").await.unwrap(), 1);
    // Handles from before keep their version until refreshed.
    assert_eq!(t.metadata().schema_id, 0);
    assert_eq!(t.metadata().properties.retain_hours, 24);
    check(&t.refresh().await.unwrap(), 1);
    check(&other_before.refresh().await.unwrap(), 1);

    // UNSET returns a property to its default; the others stay.
    let unset = env
        .warehouse
        .alter_table_properties(
            "default",
            "t",
            &BTreeMap::new(),
            &names(&["acid.data.retain.hours"]),
        )
        .await
        .unwrap();
    assert_eq!(unset.metadata().schema_id, 2);
    assert_eq!(unset.metadata().properties.retain_hours, 24);
    assert!(unset.metadata().properties.compaction.major_enable);
    assert_eq!(
        other
            .table("default", "t")
            .await
            .unwrap()
            .metadata()
            .properties
            .retain_hours,
        24
    );

    // Changing nothing writes nothing.
    let same = alter(&env.warehouse, "t", &[("acid.data.retain.hours", "24")]).await;
    assert_eq!(same.metadata().schema_id, 2);
    assert!(stored_version(&env, "t", 3).is_none());
}

#[tokio::test]
async fn data_written_under_older_versions_reads_unchanged_and_time_travel_works() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    assert_eq!(
        commit_rows(&t, &[(1, "a", 1, true), (2, "b", 2, true)]).await,
        1
    );
    let before_ms = t.snapshot(1).await.unwrap().commit_time_ms;
    // A session opened before the alter commits after it.
    let mut old_session = t.session(SessionKind::Upsert).open().await.unwrap();
    old_session
        .upsert(&people(&[(3, "c", 3, true), (1, "a2", 10, true)]))
        .await
        .unwrap();

    let t1 = alter(
        &env.warehouse,
        "t",
        &[("num-sorted-run.compaction-trigger", "2")],
    )
    .await;
    assert_eq!(commit_rows(&t1, &[(4, "d", 4, true)]).await, 2);
    assert_eq!(old_session.commit().await.unwrap().id, 3);
    let t2 = alter(&env.warehouse, "t", &[("target-file-size", "2mb")]).await;
    assert_eq!(t2.metadata().schema_id, 2);

    let schema_ids: Vec<u32> = futures::future::join_all((1..=3).map(|id| t2.snapshot(id)))
        .await
        .into_iter()
        .map(|s| s.unwrap().schema_id)
        .collect();
    assert_eq!(schema_ids, [0, 1, 0]);
    let latest = vec![
        (1, "a2".to_string(), 10),
        (2, "b".to_string(), 2),
        (3, "c".to_string(), 3),
        (4, "d".to_string(), 4),
    ];
    let first = vec![(1, "a".to_string(), 1), (2, "b".to_string(), 2)];
    for handle in [&t, &t1, &t2] {
        assert_eq!(rows_of(&handle.scan().collect().await.unwrap()), latest);
        assert_eq!(
            rows_of(&handle.scan().snapshot_id(1).collect().await.unwrap()),
            first
        );
        assert_eq!(
            rows_of(&handle.scan().as_of_ms(before_ms).collect().await.unwrap()),
            first
        );
    }
    // A compaction under the newest version merges files of every version.
    let report = t2.compact(CompactMode::Major).run().await.unwrap();
    assert!(report.snapshot.is_some(), "{report:?}");
    assert_eq!(
        t2.snapshot(report.snapshot.unwrap())
            .await
            .unwrap()
            .schema_id,
        2
    );
    assert_eq!(rows_of(&t2.scan().collect().await.unwrap()), latest);
    assert_eq!(
        rows_of(&t.scan().snapshot_id(3).collect().await.unwrap()),
        latest
    );
    assert_eq!(
        rows_of(&t.scan().snapshot_id(1).collect().await.unwrap()),
        first
    );
}

#[tokio::test]
async fn altered_retention_applies_to_expiry_and_pins_are_shared_across_versions() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    for i in 0..3 {
        commit_rows(&t, &[(i, "x", 1, true)]).await;
    }
    // 24 hours: nothing is old enough.
    let r = t
        .expire_snapshots(tidewater_engine::now_ms(), false)
        .await
        .unwrap();
    assert!(r.expired.is_empty(), "{r:?}");
    let pin = t.pin(1);
    let t0 = alter(&env.warehouse, "t", &[("acid.data.retain.hours", "0")]).await;
    assert_eq!(t0.metadata().properties.retain_hours, 0);
    // The pin taken through the old handle holds for the new one.
    let now = tidewater_engine::now_ms() + 1000;
    let r = t0.expire_snapshots(now, false).await.unwrap();
    assert!(r.expired.is_empty(), "{r:?}");
    drop(pin);
    // Two first opens at once in another process share one handle's pins too.
    let w = env.reopen().await;
    let (a, b) = futures::future::join(w.table("default", "t"), w.table("default", "t")).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    let pin = a.pin(2);
    let r = b.expire_snapshots(now, false).await.unwrap();
    assert_eq!(r.expired, [1]);
    drop(pin);
    // Snapshot 4 records the first expiry; now everything before it may go.
    let r = t0.expire_snapshots(now, false).await.unwrap();
    assert_eq!(r.expired, [2, 3]);
    assert_eq!(
        rows_of(&t0.scan().collect().await.unwrap()).len(),
        3,
        "the latest snapshot still reads everything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_alters_from_several_processes_all_land_none_lost() {
    let env = TestEnv::new().await;
    env.people("t", 2, false).await;
    // Four "processes" (warehouses with their own caches), five alters each, every alter
    // setting its own retention value.
    let mut tasks = Vec::new();
    for p in 0..4u32 {
        let w = env.reopen().await;
        tasks.push(tokio::spawn(async move {
            let mut landed = Vec::new();
            for i in 0..5u32 {
                let value = (p * 5 + i + 1).to_string();
                let t = w
                    .alter_table_properties(
                        "default",
                        "t",
                        &set(&[("acid.data.retain.hours", &value)]),
                        &[],
                    )
                    .await
                    .unwrap();
                landed.push((t.metadata().schema_id, value));
            }
            landed
        }));
    }
    let mut landed = Vec::new();
    for task in tasks {
        landed.extend(task.await.unwrap());
    }
    let versions: BTreeSet<u32> = landed.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, (1..=20).collect::<BTreeSet<u32>>(), "{landed:?}");
    for (version, value) in &landed {
        let stored = stored_version(&env, "t", *version).unwrap();
        assert_eq!(stored.properties.retain_hours.to_string(), *value);
    }
    let t = env.warehouse.table("default", "t").await.unwrap();
    assert_eq!(t.metadata().schema_id, 20);

    // Concurrent alters of different properties: both take effect.
    let (a, b) = (env.reopen().await, env.reopen().await);
    let (ra, rb) = futures::future::join(
        a.alter_table_properties(
            "default",
            "t",
            &set(&[("upsert.major-compact.min-commits", "7")]),
            &[],
        ),
        b.alter_table_properties("default", "t", &set(&[("compaction.size-ratio", "9")]), &[]),
    )
    .await;
    let mut got = [
        ra.unwrap().metadata().schema_id,
        rb.unwrap().metadata().schema_id,
    ];
    got.sort();
    assert_eq!(got, [21, 22]);
    let c = &env.reopen().await.table("default", "t").await.unwrap();
    let c = &c.metadata().properties.compaction;
    assert_eq!((c.major_min_commits, c.size_ratio), (7, 9));
}

fn assert_err(err: &Error, kind: ErrorKind, needles: &[&str]) {
    let msg = err.to_string();
    assert_eq!(err.kind(), kind, "{msg}");
    for n in needles {
        assert!(msg.contains(n), "'{msg}' does not mention {n}");
    }
}

/// Table, properties set, properties unset, the error's kind, what its message names.
type Case = (
    &'static str,
    BTreeMap<String, String>,
    Vec<String>,
    ErrorKind,
    Vec<&'static str>,
);

#[tokio::test]
async fn bad_alters_name_the_problem_and_write_nothing() {
    let env = TestEnv::new().await;
    env.people("t", 4, false).await;
    env.standard_people("s", false).await;
    let w = &env.warehouse;
    let cases: Vec<Case> = vec![
        (
            "nope",
            set(&[("acid.data.retain.hours", "1")]),
            vec![],
            ErrorKind::NotFound,
            vec!["table 'default.nope' does not exist"],
        ),
        (
            "t",
            set(&[("write.bucket.num", "8")]),
            vec![],
            ErrorKind::InvalidArgument,
            vec!["'write.bucket.num'", "cannot be changed", "re-hash"],
        ),
        (
            "t",
            BTreeMap::new(),
            names(&["transactional"]),
            ErrorKind::InvalidArgument,
            vec!["'transactional'", "cannot be changed"],
        ),
        (
            "t",
            set(&[("acid.data.retain.hours", "abc")]),
            vec![],
            ErrorKind::InvalidArgument,
            vec!["'acid.data.retain.hours'", "'abc' is not a whole number"],
        ),
        (
            "t",
            set(&[("acid.data.retain.hours", "1000")]),
            vec![],
            ErrorKind::InvalidArgument,
            vec!["'acid.data.retain.hours'", "out of range 0..=168"],
        ),
        (
            "t",
            set(&[("retain.hours", "1")]),
            vec![],
            ErrorKind::InvalidArgument,
            vec!["'retain.hours': unknown property"],
        ),
        (
            "s",
            set(&[("upsert.major-compact.enable", "true")]),
            vec![],
            ErrorKind::InvalidArgument,
            vec!["'upsert.major-compact.enable'", "only Delta tables"],
        ),
    ];
    for (table, s, u, kind, needles) in cases {
        let err = w
            .alter_table_properties("default", table, &s, &u)
            .await
            .unwrap_err();
        assert_err(&err, kind, &needles);
    }
    let err = w
        .alter_table_properties(
            "elsewhere",
            "t",
            &set(&[("acid.data.retain.hours", "1")]),
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ProjectNotFound { .. }), "{err:?}");
    assert!(stored_version(&env, "t", 1).is_none());
    assert!(stored_version(&env, "s", 1).is_none());
    // Standard tables keep their retention adjustable.
    let s = alter(w, "s", &[("acid.data.retain.hours", "2")]).await;
    assert_eq!(s.metadata().properties.retain_hours, 2);
}

#[tokio::test]
async fn a_recreated_table_ignores_versions_of_the_dropped_one() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let old = alter(&env.warehouse, "t", &[("acid.data.retain.hours", "5")]).await;
    env.warehouse
        .drop_table("default", "t", false)
        .await
        .unwrap();
    assert!(stored_version(&env, "t", 1).is_none());
    assert!(stored_version(&env, "t", 0).is_none());

    let t2 = env.people("t", 2, false).await;
    assert_ne!(t2.metadata().table_id, t.metadata().table_id);
    assert_eq!(t2.metadata().schema_id, 0);
    assert_eq!(t2.metadata().properties.retain_hours, 24);
    let cached = env.warehouse.table("default", "t").await.unwrap();
    // An alter that raced the drop left a version of the old table behind.
    let mut leftover = old.metadata().clone();
    leftover.schema_id = 1;
    std::fs::write(
        env.dir.path().join("default/t/schema/1"),
        leftover.encode().unwrap(),
    )
    .unwrap();
    for w in [&env.warehouse, &env.reopen().await] {
        let t = w.table("default", "t").await.unwrap();
        assert_eq!(t.metadata().table_id, t2.metadata().table_id);
        assert_eq!(t.metadata().properties.retain_hours, 24);
    }
    let t3 = alter(&env.warehouse, "t", &[("acid.data.retain.hours", "7")]).await;
    assert_eq!(t3.metadata().schema_id, 2);
    assert_eq!(t3.metadata().table_id, t2.metadata().table_id);
    for t in [
        env.warehouse.table("default", "t").await.unwrap(),
        env.reopen().await.table("default", "t").await.unwrap(),
        cached.refresh().await.unwrap(),
    ] {
        assert_eq!(t.metadata().schema_id, 2);
        assert_eq!(t.metadata().properties.retain_hours, 7);
    }
}
