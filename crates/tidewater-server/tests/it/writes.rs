//! Writes through the SDK, reads through SQL: single and concurrent sessions, dynamic
//! partitions, insert sessions, and a seeded random run against a model across server restarts.

use std::collections::BTreeMap;

use serde_json::json;
use tidewater_client::SqlOutput;

use crate::env::{TestServer, rows_of};

#[tokio::test]
async fn rows_written_through_the_sdk_are_read_through_sql() {
    let ts = TestServer::start().await;
    ts.people("t", 4).await;
    let client = ts.root();
    let mut s = client.upsert_session("default", "t").open().await.unwrap();
    assert_eq!(s.opened_info().bucket_num, 4);
    for id in 0..100i64 {
        s.upsert(&json!({"id": id, "name": format!("n{id}"), "age": id}))
            .await
            .unwrap();
    }
    s.upsert(&json!({"id": 5, "name": "Danny", "age": 28}))
        .await
        .unwrap();
    s.delete(&json!({"id": 7})).await.unwrap();
    let ack = s.commit().await.unwrap();
    // Committing again returns the same snapshot.
    assert_eq!(s.commit().await.unwrap().snapshot_id, ack.snapshot_id);
    let rows = ts.rows("t").await;
    assert_eq!(rows.len(), 99);
    assert_eq!(rows[&5], (Some("Danny".into()), Some(28)));
    assert!(!rows.contains_key(&7));
}

#[tokio::test]
async fn concurrent_sessions_on_one_table_all_land() {
    let ts = TestServer::start().await;
    ts.people("t", 4).await;
    let mut tasks = Vec::new();
    for w in 0..6i64 {
        let client = ts.root();
        tasks.push(tokio::spawn(async move {
            let mut s = client
                .upsert_session("default", "t")
                .bucket_buffer_bytes(512)
                .open()
                .await
                .unwrap();
            for i in 0..200i64 {
                s.upsert(&json!({"id": w * 1000 + i, "name": "x", "age": w}))
                    .await
                    .unwrap();
            }
            s.commit().await.unwrap().snapshot_id
        }));
    }
    let mut snapshots = Vec::new();
    for t in tasks {
        snapshots.push(t.await.unwrap());
    }
    snapshots.sort();
    snapshots.dedup();
    assert_eq!(snapshots.len(), 6, "every session got its own snapshot");
    let rows = ts.rows("t").await;
    assert_eq!(rows.len(), 1200);
    for w in 0..6i64 {
        assert_eq!(rows[&(w * 1000 + 199)].1, Some(w as i32));
    }
}

#[tokio::test]
async fn dynamic_partitions_and_insert_sessions_work_over_http() {
    let ts = TestServer::start().await;
    ts.sql(
        "CREATE TABLE p (id BIGINT NOT NULL, name STRING, age INT, PRIMARY KEY (id)) \
         PARTITIONED BY (dd STRING, hh STRING) \
         TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='2')",
    )
    .await;
    let client = ts.root();
    let mut s = client
        .upsert_session("default", "p")
        .dynamic_partitions()
        .open()
        .await
        .unwrap();
    s.upsert(&json!({"id": 1, "name": "Danny", "age": 27, "dd": "01", "hh": "01"}))
        .await
        .unwrap();
    s.upsert(&json!({"id": 1, "name": "Danny", "age": 28, "dd": "01", "hh": "02"}))
        .await
        .unwrap();
    s.commit().await.unwrap();
    let out = ts.sql("SELECT dd, hh, age FROM p ORDER BY hh").await;
    let SqlOutput::Rows { batches, .. } = out else {
        panic!()
    };
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

    ts.sql("CREATE TABLE logs (id BIGINT, msg STRING)").await;
    let mut s = client
        .insert_session("default", "logs")
        .open()
        .await
        .unwrap();
    for i in 0..10 {
        s.insert(&json!({"id": i % 3, "msg": "m"})).await.unwrap();
    }
    s.commit().await.unwrap();
    let SqlOutput::Rows { batches, .. } = ts.sql("SELECT count(*) FROM logs").await else {
        panic!()
    };
    let n =
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(batches[0].column(0))
            .value(0);
    assert_eq!(n, 10, "insert sessions keep duplicates of keys as they are");
}

/// Rows written only through SQL (`POST /v1/sql`) wake the background compaction as Tunnel
/// commits do: the table is compacted long before the next retention round (600 s) would find it.
#[tokio::test]
async fn sql_writes_are_compacted_in_the_background() {
    let ts = TestServer::start().await;
    ts.sql(
        "CREATE TABLE t (id BIGINT NOT NULL, name STRING, age INT, PRIMARY KEY (id)) \
         TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='1', \
         'num-sorted-run.compaction-trigger'='3')",
    )
    .await;
    let mut model = BTreeMap::new();
    for i in 0..4i64 {
        ts.sql(&format!(
            "INSERT INTO t VALUES ({i}, 'n{i}', {i}), (100, 'shared', {i})"
        ))
        .await;
        model.insert(i, (Some(format!("n{i}")), Some(i as i32)));
        model.insert(100, (Some("shared".to_string()), Some(i as i32)));
    }
    let mut kinds = Vec::new();
    for _ in 0..200 {
        let SqlOutput::Rows { batches, .. } = ts.sql("SHOW SNAPSHOTS t").await else {
            panic!("SHOW SNAPSHOTS returns rows")
        };
        kinds = batches
            .iter()
            .flat_map(|b| {
                let kinds = arrow::array::AsArray::as_string::<i32>(
                    b.column_by_name("kind").expect("a kind column"),
                );
                kinds
                    .iter()
                    .map(|k| k.unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        if kinds.iter().any(|k| k.starts_with("compact")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        kinds.iter().any(|k| k.starts_with("compact")),
        "no compaction after 4 SQL commits with a trigger of 3: {kinds:?}"
    );
    assert_eq!(ts.rows("t").await, model);
}

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn random_sessions_match_the_model_across_server_restarts() {
    let mut ts = TestServer::start().await;
    ts.people("t", 3).await;
    let mut rng = Lcg(42);
    let mut model: BTreeMap<i64, i32> = BTreeMap::new();
    let mut restarts = 0;
    for round in 0..12 {
        let client = ts.root();
        let mut s = client
            .upsert_session("default", "t")
            .bucket_buffer_bytes(256)
            .open()
            .await
            .unwrap();
        let mut pending: Vec<(i64, Option<i32>)> = Vec::new();
        for _ in 0..rng.next(60) + 1 {
            let id = rng.next(50) as i64;
            if rng.next(4) == 0 {
                s.delete(&json!({"id": id})).await.unwrap();
                pending.push((id, None));
            } else {
                let age = rng.next(1000) as i32;
                s.upsert(&json!({"id": id, "name": "r", "age": age}))
                    .await
                    .unwrap();
                pending.push((id, Some(age)));
            }
        }
        let session_id = s.session_id().to_string();
        let action = rng.next(4);
        if action == 0 {
            s.abort().await.unwrap();
            pending.clear();
        } else if action == 1 {
            // Acknowledge everything, restart the server, commit from a new client.
            s.flush().await.unwrap();
            let next = s.next_block_number();
            drop(s);
            let config = ts.server.as_ref().unwrap().state.config.clone();
            ts.server.take().unwrap().shutdown().await.unwrap();
            let server = tidewater_server::start(
                config,
                Some((crate::env::ROOT_ID.into(), crate::env::ROOT_KEY.into())),
            )
            .await
            .unwrap();
            ts.endpoint = server.endpoint();
            ts.server = Some(server);
            restarts += 1;
            let mut again = ts
                .root()
                .open_upsert_session("default", "t", &session_id)
                .first_block_number(next)
                .open()
                .await
                .unwrap();
            again.commit().await.unwrap();
        } else {
            s.commit().await.unwrap();
        }
        for (id, age) in pending {
            match age {
                Some(a) => model.insert(id, a),
                None => model.remove(&id),
            };
        }
        let got: BTreeMap<i64, i32> = rows_of(ts.sql("SELECT id, name, age FROM t").await)
            .into_iter()
            .map(|(k, (_, age))| (k, age.unwrap()))
            .collect();
        assert_eq!(got, model, "round {round}");
    }
    assert!(restarts > 0, "the seed never restarted the server");
}
