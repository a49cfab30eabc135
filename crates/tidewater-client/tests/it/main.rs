//! Session behaviour against a mock Tunnel server (axum, in-process on 127.0.0.1:0): routing,
//! ordering, retries under the same block number, commit re-checks, signatures. End-to-end tests
//! against the real server live in `tidewater-server`.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray, cast::AsArray};
use arrow::datatypes::{Int64Type, UInt8Type};
use arrow::ipc::reader::StreamReader;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;
use tidewater_client::api::{
    BlockAck, CommitAck, ErrorBody, ErrorDetail, HASH_NAME, HashSpec, SessionInfo, SessionKind,
    SessionState,
};
use tidewater_client::{Backoff, Client, Credentials, ErrorKind, TableSchema};
use tidewater_format::auth;
use tidewater_format::hash::bucket_columns;
use tidewater_format::{Column, DataType};

const BUCKETS: u32 = 4;

#[derive(Default)]
struct Mock {
    state: Option<SessionState>,
    /// Stored blocks by (bucket, block): a re-sent number replaces.
    blocks: BTreeMap<(u32, u64), RecordBatch>,
    puts: usize,
    /// Fail the next PUTs with this status.
    fail_puts: Vec<u16>,
    commit_calls: usize,
    /// Commit, but answer 503 (the answer is "lost").
    lose_commit_answer: bool,
    bad_signatures: usize,
}

type Shared = Arc<Mutex<Mock>>;

fn info(state: SessionState) -> SessionInfo {
    SessionInfo {
        session_id: "s1".into(),
        project: "default".into(),
        table: "t".into(),
        kind: SessionKind::Upsert,
        state,
        partition: None,
        dynamic_partitions: false,
        schema: TableSchema::new(
            vec![
                Column::new("id", DataType::BigInt),
                Column::new("name", DataType::String),
            ],
            vec!["id".into()],
            vec![],
        )
        .unwrap(),
        bucket_num: BUCKETS,
        hash: HashSpec {
            name: HASH_NAME.into(),
            key_columns: vec!["id".into()],
            bucket_num: BUCKETS,
        },
        slots: vec![],
        created_ms: 0,
        expires_ms: 0,
        blocks: 0,
        rows: 0,
        snapshot_id: (state == SessionState::Committed).then_some(7),
        max_block_bytes: 1 << 20,
    }
}

fn error(status: u16, kind: &str, retryable: bool) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            kind: kind.into(),
            message: format!("mock says {status}"),
            retryable,
        },
    };
    let status = StatusCode::from_u16(status).unwrap();
    (status, [("retry-after", "0")], axum::Json(body)).into_response()
}

fn check_signature(mock: &Shared, method: &str, uri: &Uri, headers: &HeaderMap, body: &[u8]) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ok = auth::parse_authorization(h("authorization")).is_ok_and(|(id, sig)| {
        let canonical = auth::canonical_request(
            method,
            uri.path(),
            uri.query().unwrap_or(""),
            h(auth::DATE_HEADER),
            &auth::content_sha256(body),
        );
        id == "AK1"
            && h(auth::CONTENT_SHA256_HEADER) == auth::content_sha256(body)
            && auth::verify("secret", &canonical, sig)
    });
    if !ok {
        mock.lock().unwrap().bad_signatures += 1;
    }
}

async fn create(State(m): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    check_signature(&m, "POST", &uri, &headers, &body);
    m.lock().unwrap().state = Some(SessionState::Open);
    (StatusCode::CREATED, axum::Json(info(SessionState::Open))).into_response()
}

async fn describe(State(m): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    check_signature(&m, "GET", &uri, &headers, b"");
    let state = m.lock().unwrap().state.unwrap_or(SessionState::Open);
    axum::Json(info(state)).into_response()
}

async fn put_block(
    State(m): State<Shared>,
    Path((_p, _t, _s, bucket, block)): Path<(String, String, String, u32, u64)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    check_signature(&m, "PUT", &uri, &headers, &body);
    let mut mock = m.lock().unwrap();
    mock.puts += 1;
    if !mock.fail_puts.is_empty() {
        let status = mock.fail_puts.remove(0);
        let kind = if status == 400 {
            "InvalidArgument"
        } else {
            "Unavailable"
        };
        return error(status, kind, status != 400);
    }
    assert_eq!(
        headers["content-type"],
        "application/vnd.apache.arrow.stream"
    );
    let reader = StreamReader::try_new(Cursor::new(body), None).unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let rows = batch.num_rows() as u64;
    let replaced = mock.blocks.insert((bucket, block), batch).is_some();
    axum::Json(BlockAck {
        bucket,
        block,
        rows,
        replaced,
    })
    .into_response()
}

async fn commit(State(m): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    check_signature(&m, "POST", &uri, &headers, b"");
    let mut mock = m.lock().unwrap();
    mock.commit_calls += 1;
    mock.state = Some(SessionState::Committed);
    if mock.lose_commit_answer {
        mock.lose_commit_answer = false;
        return error(503, "Unavailable", true);
    }
    axum::Json(CommitAck {
        session_id: "s1".into(),
        snapshot_id: 7,
        rows: 0,
    })
    .into_response()
}

async fn start(mock: Mock) -> (Client, Shared) {
    let shared = Arc::new(Mutex::new(mock));
    let s = "/v1/projects/{p}/tables/{t}/sessions";
    let app = Router::new()
        .route(s, post(create))
        .route(&format!("{s}/{{id}}"), get(describe))
        .route(&format!("{s}/{{id}}/commit"), post(commit))
        .route(
            &format!("{s}/{{id}}/buckets/{{bucket}}/blocks/{{block}}"),
            put(put_block),
        )
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new(format!("http://{addr}"), Credentials::new("AK1", "secret")).unwrap();
    (client, shared)
}

fn fast() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        max: Duration::from_millis(5),
    }
}

/// The table the server's blocks produce: blocks of a bucket applied in number order.
fn replay(mock: &Mock) -> BTreeMap<i64, String> {
    let mut table = BTreeMap::new();
    for ((bucket, _), batch) in &mock.blocks {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let names = batch.column(1).as_string::<i32>();
        let ops = batch.column(2).as_primitive::<UInt8Type>();
        let buckets = bucket_columns(&[ids as &dyn Array], BUCKETS).unwrap();
        for (row, b) in buckets.iter().enumerate() {
            assert_eq!(b, bucket, "row routed to the wrong bucket");
            if ops.value(row) == 1 {
                table.remove(&ids.value(row));
            } else {
                table.insert(ids.value(row), names.value(row).to_string());
            }
        }
    }
    table
}

#[tokio::test]
async fn upserts_and_deletes_land_in_order_despite_retries_and_a_lost_commit_answer() {
    let (client, mock) = start(Mock {
        fail_puts: vec![503, 503, 429],
        lose_commit_answer: true,
        ..Mock::default()
    })
    .await;
    let mut session = client
        .upsert_session("default", "t")
        .bucket_buffer_bytes(2048)
        .total_buffer_bytes(8192)
        .flush_concurrency(3)
        .backoff(fast())
        .open()
        .await
        .unwrap();
    let mut model = BTreeMap::new();
    for i in 0..3000i64 {
        let id = i % 97;
        if i % 7 == 0 {
            session.delete(&json!({"id": id})).await.unwrap();
            model.remove(&id);
        } else {
            let name = format!("v{i}");
            session
                .upsert(&json!({"id": id, "name": name}))
                .await
                .unwrap();
            model.insert(id, name);
        }
        if i % 500 == 0 {
            // Interleave the Arrow path: it must stay ordered after the buffered JSON rows.
            let ids: Vec<i64> = (0..20).collect();
            let names: Vec<String> = ids.iter().map(|k| format!("b{i}-{k}")).collect();
            let batch = RecordBatch::try_from_iter(vec![
                ("id", Arc::new(Int64Array::from(ids.clone())) as ArrayRef),
                ("name", Arc::new(StringArray::from(names.clone()))),
            ])
            .unwrap();
            session.write_batch(&batch).await.unwrap();
            for (k, n) in ids.iter().zip(names) {
                model.insert(*k, n);
            }
            let deletes = RecordBatch::try_from_iter(vec![(
                "id",
                Arc::new(Int64Array::from(vec![3])) as ArrayRef,
            )])
            .unwrap();
            session.delete_batch(&deletes).await.unwrap();
            model.remove(&3);
        }
    }
    session.flush().await.unwrap();
    {
        let m = mock.lock().unwrap();
        assert!(m.blocks.len() > 4, "{} blocks", m.blocks.len());
        assert_eq!(
            m.puts,
            m.blocks.len() + 3,
            "retries re-send the same block number"
        );
        assert_eq!(replay(&m), model);
    }
    let ack = session.commit().await.unwrap();
    assert_eq!(ack.snapshot_id, 7);
    // Committing again answers the same without asking the server.
    assert_eq!(session.commit().await.unwrap().snapshot_id, 7);
    {
        let m = mock.lock().unwrap();
        assert_eq!(
            m.commit_calls, 1,
            "a landed commit is re-checked, not re-sent"
        );
        assert_eq!(m.bad_signatures, 0);
    }
    let err = session.upsert(&json!({"id": 1})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn a_rejected_block_fails_the_session_with_the_servers_message() {
    let (client, mock) = start(Mock {
        fail_puts: vec![400],
        ..Mock::default()
    })
    .await;
    let mut session = client
        .upsert_session("default", "t")
        .backoff(fast())
        .open()
        .await
        .unwrap();
    session
        .upsert(&json!({"id": 1, "name": "a"}))
        .await
        .unwrap();
    let err = session.flush().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("mock says 400"), "{err}");
    assert_eq!(mock.lock().unwrap().puts, 1, "400 is not retried");
    let err = session.upsert(&json!({"id": 2})).await.unwrap_err();
    assert!(err.to_string().contains("an earlier block failed"), "{err}");
}

#[tokio::test]
async fn bad_rows_are_rejected_before_anything_is_buffered() {
    let (client, mock) = start(Mock::default()).await;
    let mut session = client.upsert_session("default", "t").open().await.unwrap();
    let rows = [json!({"id": 1, "name": "a"}), json!({"id": "x"})];
    let err = session.upsert_rows(&rows).await.unwrap_err();
    assert!(err.to_string().contains("row 1: column 'id'"), "{err}");
    session.flush().await.unwrap();
    assert_eq!(
        mock.lock().unwrap().puts,
        0,
        "nothing of the failed call was buffered"
    );
}

#[tokio::test]
async fn reopened_sessions_number_blocks_above_earlier_writers() {
    let (client, mock) = start(Mock::default()).await;
    let mut first = client.upsert_session("default", "t").open().await.unwrap();
    first
        .upsert(&json!({"id": 1, "name": "old"}))
        .await
        .unwrap();
    first.flush().await.unwrap();
    let watermark = first.next_block_number();
    assert_eq!(watermark, 1);
    let mut second = client
        .open_upsert_session("default", "t", first.session_id())
        .first_block_number(watermark)
        .open()
        .await
        .unwrap();
    second
        .upsert(&json!({"id": 1, "name": "new"}))
        .await
        .unwrap();
    second.flush().await.unwrap();
    assert!(second.next_block_number() > watermark);
    let m = mock.lock().unwrap();
    assert_eq!(replay(&m)[&1], "new");
    assert_eq!(m.blocks.len(), 2);
}
