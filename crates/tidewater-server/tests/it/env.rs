//! `TestServer`: a server on a temp warehouse with known root credentials, and helpers.

use std::collections::BTreeMap;

use tidewater_client::{Client, Credentials, SqlOutput};
use tidewater_server::{RunningServer, ServerConfig};

pub const ROOT_ID: &str = "TWROOTTEST";
pub const ROOT_KEY: &str = "root-secret";

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub server: Option<RunningServer>,
    pub endpoint: String,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig {
            warehouse: dir.path().to_str().unwrap().to_string(),
            listen: "127.0.0.1:0".into(),
            ..ServerConfig::default()
        };
        configure(&mut config);
        let server = tidewater_server::start(config, Some((ROOT_ID.into(), ROOT_KEY.into())))
            .await
            .unwrap();
        let endpoint = server.endpoint();
        TestServer {
            dir,
            server: Some(server),
            endpoint,
        }
    }

    pub fn root(&self) -> Client {
        Client::new(&self.endpoint, Credentials::new(ROOT_ID, ROOT_KEY)).unwrap()
    }

    pub fn warehouse(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// Creates `t (id BIGINT PK, name STRING, age INT)` with `buckets` buckets.
    pub async fn people(&self, name: &str, buckets: u32) {
        self.sql(&format!(
            "CREATE TABLE {name} (id BIGINT NOT NULL, name STRING, age INT, PRIMARY KEY (id)) \
             TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='{buckets}')"
        ))
        .await;
    }

    pub async fn sql(&self, sql: &str) -> SqlOutput {
        self.root().sql("default", sql).await.unwrap()
    }

    /// `id → (name, age)` of a people table, through SQL.
    pub async fn rows(&self, table: &str) -> BTreeMap<i64, (Option<String>, Option<i32>)> {
        rows_of(
            self.sql(&format!("SELECT id, name, age FROM {table}"))
                .await,
        )
    }
}

pub fn rows_of(out: SqlOutput) -> BTreeMap<i64, (Option<String>, Option<i32>)> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int32Type, Int64Type};
    let SqlOutput::Rows { batches, .. } = out else {
        panic!("expected rows");
    };
    let mut out = BTreeMap::new();
    let mut n = 0;
    for b in &batches {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let names = b.column(1).as_string::<i32>();
        let ages = b.column(2).as_primitive::<Int32Type>();
        for i in 0..b.num_rows() {
            n += 1;
            out.insert(
                ids.value(i),
                (
                    names.is_valid(i).then(|| names.value(i).to_string()),
                    ages.is_valid(i).then(|| ages.value(i)),
                ),
            );
        }
    }
    assert_eq!(n, out.len(), "a key was returned twice");
    out
}

/// A raw HTTP request signed with `(id, key)` (or unsigned when `creds` is `None`), dated
/// `skew_secs` from now.
pub async fn raw(
    endpoint: &str,
    method: reqwest::Method,
    path_and_query: &str,
    content_type: &str,
    body: Vec<u8>,
    creds: Option<(&str, &str)>,
    skew_secs: i64,
) -> (u16, String) {
    use tidewater_format::auth;
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let client = reqwest::Client::new();
    let mut req = client
        .request(method.clone(), format!("{endpoint}{path_and_query}"))
        .header("content-type", content_type);
    if let Some((id, key)) = creds {
        let date = (chrono::Utc::now() + chrono::Duration::seconds(skew_secs))
            .format(auth::DATE_FORMAT)
            .to_string();
        let h = auth::sign_request(id, key, method.as_str(), path, query, &date, &body);
        req = req
            .header("authorization", h.authorization)
            .header(auth::DATE_HEADER, h.date)
            .header(auth::CONTENT_SHA256_HEADER, h.content_sha256);
    }
    let resp = req.body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// Path of a session's resources.
pub fn session_path(table: &str, session: &str) -> String {
    format!("/v1/projects/default/tables/{table}/sessions/{session}")
}
