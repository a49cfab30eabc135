//! The basic write → commit → read cycle and session semantics.

use tidewater_engine::SessionKind;

use crate::env::{TestEnv, ids, people, rows_of};

#[tokio::test]
async fn upsert_replaces_and_delete_removes_across_commits() {
    let env = TestEnv::new().await;
    let t = env.people("t", 4, false).await;
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    s.upsert(&people(&[
        (1, "Danny", 27, false),
        (2, "Eve", 30, true),
        (3, "Bob", 40, true),
    ]))
    .await
    .unwrap();
    let s1 = s.commit().await.unwrap();
    assert_eq!(s1.id, 1);
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    s.upsert(&people(&[(1, "Danny", 28, false)])).await.unwrap();
    s.delete(&ids(&[2])).await.unwrap();
    let s2 = s.commit().await.unwrap();
    assert_eq!(s2.id, 2);
    let rows = rows_of(&t.scan().collect().await.unwrap());
    assert_eq!(rows, vec![(1, "Danny".into(), 28), (3, "Bob".into(), 40)]);
    // Time travel to snapshot 1.
    let rows = rows_of(&t.scan().snapshot_id(1).collect().await.unwrap());
    assert_eq!(
        rows,
        vec![
            (1, "Danny".into(), 27),
            (2, "Eve".into(), 30),
            (3, "Bob".into(), 40)
        ]
    );
}

#[tokio::test]
async fn within_a_session_the_last_write_of_a_key_wins_across_flushes() {
    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
    s.upsert(&people(&[(1, "a", 1, false)])).await.unwrap();
    s.flush().await.unwrap();
    s.delete(&ids(&[1])).await.unwrap();
    s.flush().await.unwrap();
    s.upsert(&people(&[(1, "c", 3, false), (1, "d", 4, false)]))
        .await
        .unwrap();
    let snap = s.commit().await.unwrap();
    assert_eq!(
        rows_of(&t.scan().collect().await.unwrap()),
        vec![(1, "d".into(), 4)]
    );
    // Committing again returns the same snapshot.
    assert_eq!(s.commit().await.unwrap().id, snap.id);
}

#[tokio::test]
async fn another_process_reopens_and_commits_a_session() {
    let env = TestEnv::new().await;
    let t = env.people("t", 4, true).await;
    let mut s = t
        .session(SessionKind::Upsert)
        .partition("dd=01/hh=02")
        .open()
        .await
        .unwrap();
    s.upsert(&people(&[(7, "x", 1, true), (8, "y", 2, true)]))
        .await
        .unwrap();
    s.flush().await.unwrap();
    let id = s.id().to_string();
    drop(s);
    let w2 = env.reopen().await;
    let t2 = w2.table("default", "t").await.unwrap();
    let mut s2 = t2.open_session(&id).await.unwrap();
    let snap = s2.commit().await.unwrap();
    let mut s3 = t2.open_session(&id).await.unwrap();
    assert_eq!(s3.commit().await.unwrap().id, snap.id);
    let batches = t.scan().partition_eq("dd", "01").collect().await.unwrap();
    assert_eq!(
        rows_of(&batches),
        vec![(7, "x".into(), 1), (8, "y".into(), 2)]
    );
    let hh = batches[0].column_by_name("hh").unwrap();
    assert_eq!(hh.len(), batches[0].num_rows());
}

/// The warehouse's commit listener hears every ingest commit through any handle — tables opened
/// before it was set included — and not the compactions.
#[tokio::test]
async fn the_commit_listener_hears_ingest_commits_only() {
    use std::sync::{Arc, Mutex};

    use tidewater_engine::CompactMode;
    use tidewater_format::SnapshotKind;

    let env = TestEnv::new().await;
    let t = env.people("t", 2, false).await;
    let heard: Arc<Mutex<Vec<(String, u64, SnapshotKind)>>> = Default::default();
    let sink = heard.clone();
    assert!(env.warehouse.on_commit(Arc::new(move |table, s| {
        sink.lock().unwrap().push((table.full_name(), s.id, s.kind));
    })));
    assert!(
        !env.warehouse.on_commit(Arc::new(|_, _| {})),
        "one listener per warehouse"
    );
    for i in 0..2 {
        let mut s = t.session(SessionKind::Upsert).open().await.unwrap();
        s.upsert(&people(&[(i, "a", 1, false)])).await.unwrap();
        s.commit().await.unwrap();
    }
    let report = t.compact(CompactMode::Major).run().await.unwrap();
    assert_eq!(report.snapshot, Some(3));
    let again = env.warehouse.table("default", "t").await.unwrap();
    let mut s = again.session(SessionKind::Upsert).open().await.unwrap();
    s.delete(&ids(&[0])).await.unwrap();
    s.commit().await.unwrap();
    assert_eq!(
        *heard.lock().unwrap(),
        vec![
            ("default.t".to_string(), 1, SnapshotKind::Append),
            ("default.t".to_string(), 2, SnapshotKind::Append),
            ("default.t".to_string(), 4, SnapshotKind::Append),
        ]
    );
}
