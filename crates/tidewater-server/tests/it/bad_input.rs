//! Bad input over HTTP: each gets a clear error naming what was wrong, and the server keeps
//! serving (a good block afterwards is acknowledged and committed).

use reqwest::Method;
use serde_json::Value;

use crate::env::{ROOT_ID, ROOT_KEY, TestServer, raw, session_path};

const ROOT: Option<(&str, &str)> = Some((ROOT_ID, ROOT_KEY));
const NDJSON: &str = "application/x-ndjson";
const ARROW: &str = "application/vnd.apache.arrow.stream";

async fn open_session(ts: &TestServer, table: &str) -> String {
    let (status, body) = raw(
        &ts.endpoint,
        Method::POST,
        &format!("/v1/projects/default/tables/{table}/sessions"),
        "application/json",
        br#"{"kind": "upsert"}"#.to_vec(),
        ROOT,
        0,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["session_id"].as_str().unwrap().to_string()
}

async fn put(
    ts: &TestServer,
    sid: &str,
    bucket: u32,
    block: u64,
    ct: &str,
    body: &[u8],
) -> (u16, String) {
    raw(
        &ts.endpoint,
        Method::PUT,
        &format!("{}/buckets/{bucket}/blocks/{block}", session_path("t", sid)),
        ct,
        body.to_vec(),
        ROOT,
        0,
    )
    .await
}

#[tokio::test]
async fn bad_blocks_get_clear_errors_and_the_session_stays_usable() {
    let ts = TestServer::start_with(|c| c.limits.max_block_bytes = 4096).await;
    ts.people("t", 1).await;
    let sid = open_session(&ts, "t").await;

    let (status, body) = put(&ts, &sid, 0, 0, ARROW, b"not arrow at all").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("malformed Arrow IPC"), "{body}");

    let (status, body) = put(&ts, &sid, 0, 0, NDJSON, b"{\"id\":1}\n{\"id\":\n").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("NDJSON line 2"), "{body}");

    let (status, body) = put(&ts, &sid, 0, 0, NDJSON, b"{\"id\":1,\"color\":\"red\"}\n").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("line 1") && body.contains("color"), "{body}");

    let (status, body) = put(&ts, &sid, 0, 0, NDJSON, b"{\"id\":\"one\"}\n").await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = put(&ts, &sid, 0, 0, NDJSON, b"{\"name\":\"no key\"}\n").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("row 0") && body.contains("'id'"), "{body}");

    let (status, body) = put(&ts, &sid, 1, 0, NDJSON, b"{\"id\":1}\n").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bucket 1 does not exist"), "{body}");

    let (status, body) = put(&ts, &sid, 0, 0, "text/plain", b"1,2,3").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unsupported Content-Type"), "{body}");

    let big = "{\"id\":1,\"name\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n".repeat(200);
    let (status, body) = put(&ts, &sid, 0, 0, NDJSON, big.as_bytes()).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("4096"), "{body}");

    let (status, body) = put(
        &ts,
        &sid,
        0,
        0,
        NDJSON,
        b"{\"id\":1,\"name\":\"ok\",\"age\":3}\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = raw(
        &ts.endpoint,
        Method::POST,
        &format!("{}/commit", session_path("t", &sid)),
        "application/json",
        vec![],
        ROOT,
        0,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ts.rows("t").await.len(), 1);
}

#[tokio::test]
async fn rows_sent_to_the_wrong_bucket_are_rejected() {
    let ts = TestServer::start().await;
    ts.people("t", 4).await;
    let sid = open_session(&ts, "t").await;
    // Ids 0..8 cannot all hash to one bucket.
    let rows: String = (0..8).map(|i| format!("{{\"id\":{i}}}\n")).collect();
    let mut rejected = 0;
    for bucket in 0..4 {
        let (status, body) = put(&ts, &sid, bucket, 0, NDJSON, rows.as_bytes()).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("not to bucket"), "{body}");
        rejected += 1;
    }
    assert_eq!(rejected, 4);
}

#[tokio::test]
async fn unknown_sessions_and_commits_after_abort_are_named() {
    let ts = TestServer::start().await;
    ts.people("t", 1).await;
    let e = &ts.endpoint;
    let unknown = "00000000-0000-4000-8000-000000000000";
    let (status, body) = raw(
        e,
        Method::GET,
        &session_path("t", unknown),
        "",
        vec![],
        ROOT,
        0,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains(unknown), "{body}");
    let (status, body) = raw(
        e,
        Method::GET,
        &session_path("t", "..%2F..%2Fetc"),
        "",
        vec![],
        ROOT,
        0,
    )
    .await;
    assert!(status == 400 || status == 404, "{status} {body}");

    let sid = open_session(&ts, "t").await;
    let (status, _) = raw(
        e,
        Method::POST,
        &format!("{}/abort", session_path("t", &sid)),
        "",
        vec![],
        ROOT,
        0,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = raw(
        e,
        Method::POST,
        &format!("{}/commit", session_path("t", &sid)),
        "",
        vec![],
        ROOT,
        0,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("aborted"), "{body}");
    let (status, body) = put(&ts, &sid, 0, 0, NDJSON, b"{\"id\":1}\n").await;
    assert_eq!(status, 409, "{body}");

    let (status, body) = raw(
        e,
        Method::GET,
        "/v1/projects/default/tables/missing",
        "",
        vec![],
        ROOT,
        0,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("default.missing"), "{body}");
    let (status, body) = raw(
        e,
        Method::POST,
        "/v1/sql",
        "application/json",
        b"{\"sql\": 1}".to_vec(),
        ROOT,
        0,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = raw(
        e,
        Method::POST,
        "/v1/sql",
        "application/json",
        br#"{"sql": "SELEC 1"}"#.to_vec(),
        ROOT,
        0,
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn session_limits_answer_429_with_a_retry_hint() {
    let ts = TestServer::start_with(|c| c.limits.max_sessions = 2).await;
    ts.people("t", 1).await;
    open_session(&ts, "t").await;
    open_session(&ts, "t").await;
    let (status, body) = raw(
        &ts.endpoint,
        Method::POST,
        "/v1/projects/default/tables/t/sessions",
        "application/json",
        br#"{"kind": "upsert"}"#.to_vec(),
        ROOT,
        0,
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body.contains("limit is 2") && body.contains("\"retryable\":true"),
        "{body}"
    );
}
