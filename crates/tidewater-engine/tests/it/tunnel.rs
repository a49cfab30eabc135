//! Tunnel sessions: a model test of numbered per-bucket blocks (replaced on retry, applied in
//! block order within a bucket, committed atomically, surviving a reload from the warehouse),
//! and the errors of bad blocks.
//!
//! Model rules: a block (bucket, number) written again replaces the earlier one; at commit the
//! blocks of each bucket apply in block-number order, rows within a block in order; an aborted
//! session leaves nothing; a reload (a new warehouse handle) keeps every acknowledged block.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Array, Int64Array, RecordBatch, UInt8Array};
use arrow::datatypes::{DataType as ArrowType, Field, Schema};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use tidewater_engine::{ErrorKind, SessionKind, Table, TunnelSession, TunnelState};
use tidewater_format::hash::bucket_columns;

use crate::env::{Person, TestEnv, people_table, persons_batch, scan_rows};

static REPLACED: AtomicUsize = AtomicUsize::new(0);
static COMMITS: AtomicUsize = AtomicUsize::new(0);
static RELOADS: AtomicUsize = AtomicUsize::new(0);

const KEYS: i64 = 30;

/// A block's rows: `(id, Some(age))` upserts, `(id, None)` deletes.
type BlockRows = Vec<(i64, Option<i32>)>;

#[derive(Debug, Clone)]
enum Op {
    /// Writes block `block` of the bucket of `pick` (the rows of other buckets are dropped).
    Block {
        pick: i64,
        block: u64,
        rows: BlockRows,
    },
    Commit,
    Abort,
    /// Loads the open session again through a new warehouse handle.
    Reload,
}

fn op() -> impl Strategy<Value = Op> {
    let row = (0..KEYS, prop::option::weighted(0.8, 0..100i32));
    prop_oneof![
        6 => (0..KEYS, 0..4u64, prop::collection::vec(row, 1..8))
            .prop_map(|(pick, block, rows)| Op::Block { pick, block, rows }),
        2 => Just(Op::Commit),
        1 => Just(Op::Abort),
        1 => Just(Op::Reload),
    ]
}

fn bucket_of(id: i64, buckets: u32) -> u32 {
    let keys = Int64Array::from(vec![id]);
    bucket_columns(&[&keys as &dyn Array], buckets).unwrap()[0]
}

/// The rows of a block with an `_op` column.
pub fn block_batch(rows: &[(i64, Option<i32>)]) -> RecordBatch {
    let persons: Vec<Person> = rows
        .iter()
        .map(|(id, age)| Person::new(*id, age.map(|_| "n"), *age, age.map(|_| true)))
        .collect();
    let base = persons_batch(&persons);
    let mut fields: Vec<Field> = base
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("_op", ArrowType::UInt8, false));
    let mut columns = base.columns().to_vec();
    columns.push(Arc::new(UInt8Array::from_iter_values(
        rows.iter().map(|(_, a)| u8::from(a.is_none())),
    )));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

async fn open(table: &Table) -> TunnelSession {
    table
        .create_tunnel_session(SessionKind::Upsert, None, false, 3_600_000)
        .await
        .unwrap()
}

async fn check(table: &Table, model: &BTreeMap<i64, i32>) {
    let rows = scan_rows(table.scan()).await;
    let got: BTreeMap<i64, i32> = rows
        .iter()
        .map(|r| (r.person.id, r.person.age.unwrap()))
        .collect();
    assert_eq!(got.len(), rows.len(), "a key appears twice");
    assert_eq!(&got, model);
}

async fn run_case(buckets: u32, ops: Vec<Op>) {
    let env = TestEnv::new().await;
    let mut table = people_table(&env.warehouse, "t", buckets, false).await;
    let mut model: BTreeMap<i64, i32> = BTreeMap::new();
    let mut session = open(&table).await;
    let mut pending: BTreeMap<(u32, u64), BlockRows> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Block { pick, block, rows } => {
                let bucket = bucket_of(pick, buckets);
                let rows: BlockRows = rows
                    .into_iter()
                    .filter(|(id, _)| bucket_of(*id, buckets) == bucket)
                    .collect();
                let written = session
                    .write_block(bucket, block, &block_batch(&rows))
                    .await
                    .unwrap();
                assert_eq!(written.rows, rows.len() as u64);
                assert_eq!(written.replaced, pending.contains_key(&(bucket, block)));
                if written.replaced {
                    REPLACED.fetch_add(1, Ordering::Relaxed);
                }
                pending.insert((bucket, block), rows);
            }
            Op::Commit => {
                let snapshot = session.commit().await.unwrap();
                // Idempotent: committing again returns the same snapshot.
                assert_eq!(session.commit().await.unwrap().id, snapshot.id);
                for rows in std::mem::take(&mut pending).into_values() {
                    for (id, age) in rows {
                        match age {
                            Some(a) => model.insert(id, a),
                            None => model.remove(&id),
                        };
                    }
                }
                check(&table, &model).await;
                let err = session
                    .write_block(0, 9, &block_batch(&[]))
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
                COMMITS.fetch_add(1, Ordering::Relaxed);
                session = open(&table).await;
            }
            Op::Abort => {
                session.abort().await.unwrap();
                pending.clear();
                check(&table, &model).await;
                session = open(&table).await;
            }
            Op::Reload => {
                let id = session.id().to_string();
                let warehouse = env.reopen().await;
                table = warehouse.table("default", "t").await.unwrap();
                session = table.load_tunnel_session(&id).await.unwrap();
                let status = session.status().await;
                assert_eq!(status.state, TunnelState::Open);
                assert_eq!(status.blocks, pending.len() as u64);
                RELOADS.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    session.commit().await.unwrap();
    for rows in pending.into_values() {
        for (id, age) in rows {
            match age {
                Some(a) => model.insert(id, a),
                None => model.remove(&id),
            };
        }
    }
    check(&table, &model).await;
}

#[test]
fn tunnel_blocks_match_the_model() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = Config {
        cases: 32,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/tunnel.txt",
        ))),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (1..4u32, prop::collection::vec(op(), 1..30));
    if let Err(e) = runner.run(&strategy, |(buckets, ops)| {
        rt.block_on(run_case(buckets, ops));
        Ok(())
    }) {
        panic!("{e}");
    }
    for (name, n) in [
        ("replaced blocks", &REPLACED),
        ("commits", &COMMITS),
        ("reloads", &RELOADS),
    ] {
        assert!(n.load(Ordering::Relaxed) > 0, "no {name} ran");
    }
}

#[tokio::test]
async fn a_row_sent_to_the_wrong_bucket_is_rejected_and_names_the_row() {
    let env = TestEnv::new().await;
    let table = people_table(&env.warehouse, "t", 4, false).await;
    let session = open(&table).await;
    let id = (0..100).find(|i| bucket_of(*i, 4) == 2).unwrap();
    let other = (0..100).find(|i| bucket_of(*i, 4) == 1).unwrap();
    let err = session
        .write_block(2, 0, &block_batch(&[(id, Some(1)), (other, Some(2))]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let msg = err.to_string();
    assert!(msg.contains("row 1") && msg.contains("bucket 1"), "{msg}");
    let err = session
        .write_block(4, 0, &block_batch(&[(id, Some(1))]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bucket 4 does not exist"), "{err}");
    // The session is still usable.
    session
        .write_block(2, 0, &block_batch(&[(id, Some(1))]))
        .await
        .unwrap();
    session.commit().await.unwrap();
    check(&table, &BTreeMap::from([(id, 1)])).await;
}

#[tokio::test]
async fn bad_op_values_and_nulls_in_upserted_rows_are_named() {
    let env = TestEnv::new().await;
    let table = people_table(&env.warehouse, "t", 1, false).await;
    let session = open(&table).await;
    let mut batch = block_batch(&[(1, Some(1)), (2, Some(2))]);
    let ops = Arc::new(UInt8Array::from(vec![0u8, 7]));
    batch = RecordBatch::try_new(batch.schema(), {
        let mut c = batch.columns().to_vec();
        c[4] = ops;
        c
    })
    .unwrap();
    let err = session.write_block(0, 0, &batch).await.unwrap_err();
    assert!(
        err.to_string().contains("row 1: column '_op' is 7"),
        "{err}"
    );
    // A delete may leave NOT NULL values out; only key columns are needed.
    let keys_only = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", ArrowType::Int64, false),
            Field::new("_op", ArrowType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(arrow::array::StringArray::from(vec!["D"])),
        ],
    )
    .unwrap();
    session.write_block(0, 0, &keys_only).await.unwrap();
    session.commit().await.unwrap();
    check(&table, &BTreeMap::new()).await;
}

#[tokio::test]
async fn insert_sessions_replace_retried_blocks_instead_of_duplicating() {
    let env = TestEnv::new().await;
    let table = env.standard_people("s", false).await;
    let session = table
        .create_tunnel_session(SessionKind::Insert, None, false, 3_600_000)
        .await
        .unwrap();
    let rows = persons_batch(&[Person::new(1, Some("a"), Some(1), None)]);
    session.write_block(0, 0, &rows).await.unwrap();
    assert!(session.write_block(0, 0, &rows).await.unwrap().replaced);
    session.write_block(0, 1, &rows).await.unwrap();
    session.commit().await.unwrap();
    assert_eq!(scan_rows(table.scan()).await.len(), 2);
    assert!(
        session
            .write_block(1, 0, &rows)
            .await
            .unwrap_err()
            .to_string()
            .contains("committed")
    );
}

#[tokio::test]
async fn an_expired_session_refuses_blocks_and_is_cleaned_up() {
    let env = TestEnv::new().await;
    let table = people_table(&env.warehouse, "t", 1, false).await;
    let session = table
        .create_tunnel_session(SessionKind::Upsert, None, false, 1)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let err = session
        .write_block(0, 0, &block_batch(&[(1, Some(1))]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(
        session
            .expire_if_due(tidewater_engine::now_ms())
            .await
            .unwrap()
    );
    let again = table.load_tunnel_session(session.id()).await.unwrap();
    assert_eq!(again.status().await.state, TunnelState::Expired);
}
