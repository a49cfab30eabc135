//! Credentials and permissions: unsigned, badly signed, expired and unauthorized requests get
//! 401/403 with a clear message; grants are per project; only `/health` is open.

use reqwest::Method;
use tidewater_engine::Warehouse;
use tidewater_server::auth::{Role, Users};

use crate::env::{ROOT_ID, ROOT_KEY, TestServer, raw};

const SQL: &str = "application/json";

#[tokio::test]
async fn only_health_is_open_and_bad_signatures_are_rejected_with_a_reason() {
    let ts = TestServer::start().await;
    let e = &ts.endpoint;
    let (status, body) = raw(e, Method::GET, "/health", "", vec![], None, 0).await;
    assert_eq!((status, body.contains("ok")), (200, true));

    for path in ["/v1/projects", "/metrics", "/v1/nothing-here"] {
        let (status, body) = raw(e, Method::GET, path, "", vec![], None, 0).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("missing Authorization"), "{body}");
    }
    let (status, body) = raw(
        e,
        Method::GET,
        "/v1/projects",
        "",
        vec![],
        Some((ROOT_ID, "wrong-secret")),
        0,
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("signature does not match"), "{body}");
    let (status, body) = raw(
        e,
        Method::GET,
        "/v1/projects",
        "",
        vec![],
        Some(("TWNOBODY", "x")),
        0,
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("unknown AccessKey id 'TWNOBODY'"), "{body}");
    let (status, body) = raw(
        e,
        Method::GET,
        "/v1/projects",
        "",
        vec![],
        Some((ROOT_ID, ROOT_KEY)),
        -3600,
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("expired") && body.contains("900 s"), "{body}");
    // A correctly signed request works, and /metrics shows the failures counted.
    let (status, body) = raw(
        e,
        Method::GET,
        "/metrics",
        "",
        vec![],
        Some((ROOT_ID, ROOT_KEY)),
        0,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("tidewater_request_errors_total{status=\"401\"}"),
        "{body}"
    );
}

#[tokio::test]
async fn grants_decide_what_each_user_may_do() {
    let ts = TestServer::start().await;
    ts.people("t", 2).await;
    let warehouse = Warehouse::open(ts.warehouse()).await.unwrap();
    let mut users = Users::load(warehouse.storage()).await.unwrap();
    let reader = users.add("reader", false).unwrap().clone();
    users.grant("reader", "default", Role::Read).unwrap();
    let nobody = users.add("nobody", false).unwrap().clone();
    users.save(warehouse.storage()).await.unwrap();
    let as_reader = Some((reader.access_id.as_str(), reader.access_key.as_str()));
    let as_nobody = Some((nobody.access_id.as_str(), nobody.access_key.as_str()));
    let e = &ts.endpoint;

    let select = br#"{"sql": "SELECT count(*) AS n FROM t"}"#.to_vec();
    let (status, body) = raw(
        e,
        Method::POST,
        "/v1/sql",
        SQL,
        select.clone(),
        as_reader,
        0,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"n\":0"), "{body}");
    let (status, body) = raw(e, Method::POST, "/v1/sql", SQL, select, as_nobody, 0).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("user 'nobody' has no read grant on project 'default'"),
        "{body}"
    );
    let insert = br#"{"sql": "INSERT INTO t VALUES (1, 'a', 1)"}"#.to_vec();
    let (status, body) = raw(e, Method::POST, "/v1/sql", SQL, insert, as_reader, 0).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no write grant"), "{body}");
    let session = br#"{"kind": "upsert"}"#.to_vec();
    let path = "/v1/projects/default/tables/t/sessions";
    let (status, body) = raw(e, Method::POST, path, SQL, session, as_reader, 0).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = raw(e, Method::GET, "/v1/projects", "", vec![], as_nobody, 0).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"projects\":[]"), "{body}");
    let create = br#"{"name": "sales"}"#.to_vec();
    let (status, _) = raw(e, Method::POST, "/v1/projects", SQL, create, as_reader, 0).await;
    assert_eq!(status, 403);

    // A grant added while the server runs is picked up.
    users.grant("nobody", "default", Role::Write).unwrap();
    users.save(warehouse.storage()).await.unwrap();
    tokio::time::sleep(tidewater_server::auth::RELOAD_EVERY).await;
    let insert = br#"{"sql": "INSERT INTO t VALUES (1, 'a', 1)"}"#.to_vec();
    let (status, body) = raw(e, Method::POST, "/v1/sql", SQL, insert, as_nobody, 0).await;
    assert_eq!(status, 200, "{body}");
}
