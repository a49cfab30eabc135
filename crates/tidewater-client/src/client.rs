//! The connection to one Tidewater server: AccessKey credentials, request signing, and the
//! admin, SQL and session calls of the Tunnel HTTP API.
//!
//! A [`Client`] is cheap to clone (one shared connection pool) and safe to use from many tasks.
//!
//! Invariants: every request carries the `Authorization`, `x-tw-date` and `x-tw-content-sha256`
//! headers of [`tidewater_format::auth`], computed over the path and query exactly as they are
//! sent (path segments are percent-encoded by [`reqwest::Url`] before signing) and a fresh date,
//! so a retried request is signed again; an error answer becomes [`Error::Api`] with the
//! server's kind, message, `retryable` flag and `Retry-After`, unchanged.

use std::fmt;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use snafu::{OptionExt, ResultExt};
use tidewater_format::api::{
    API_PREFIX, ARROW_STREAM, CreateProject, CreateTable, ErrorBody, ProjectList, SessionInfo,
    SqlRequest, SqlResult, TableInfo, TableList,
};
use tidewater_format::auth::{self, CONTENT_SHA256_HEADER, DATE_FORMAT, DATE_HEADER};

use crate::error::{
    ApiSnafu, BuildHttpClientSnafu, DecodeAnswerSnafu, DecodeArrowSnafu, EncodeJsonSnafu, Error,
    ErrorKind, InvalidEndpointSnafu, MissingCredentialsSnafu, Result, TransportSnafu,
    UnexpectedStatusSnafu,
};
use crate::session::{InsertSession, SessionBuilder, UpsertSession};

/// Environment variable holding the AccessKey id ([`Client::from_env`]).
pub const ACCESS_ID_ENV: &str = "TIDEWATER_ACCESS_ID";
/// Environment variable holding the AccessKey secret ([`Client::from_env`]).
pub const ACCESS_KEY_ENV: &str = "TIDEWATER_ACCESS_KEY";

const JSON: &str = "application/json";

/// An AccessKey: the id is sent with every request, the secret only signs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_id: String,
    pub access_key: String,
}

impl Credentials {
    pub fn new(access_id: impl Into<String>, access_key: impl Into<String>) -> Self {
        Credentials {
            access_id: access_id.into(),
            access_key: access_key.into(),
        }
    }

    /// Reads [`ACCESS_ID_ENV`] and [`ACCESS_KEY_ENV`].
    pub fn from_env() -> Result<Self> {
        let read = |var: &'static str, what: &'static str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .context(MissingCredentialsSnafu { var, what })
        };
        Ok(Credentials {
            access_id: read(ACCESS_ID_ENV, "id")?,
            access_key: read(ACCESS_KEY_ENV, "secret")?,
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret never reaches logs.
        f.debug_struct("Credentials")
            .field("access_id", &self.access_id)
            .field("access_key", &"<redacted>")
            .finish()
    }
}

/// Options of a [`Client`] beyond endpoint and credentials.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    endpoint: String,
    credentials: Credentials,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl ClientBuilder {
    /// Time to establish a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time limit of one request, answer included (default 5 min). Commits use the session's
    /// `commit_timeout` instead.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn build(self) -> Result<Client> {
        let base = parse_endpoint(&self.endpoint)?;
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .user_agent(concat!("tidewater-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .context(BuildHttpClientSnafu)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                credentials: self.credentials,
            }),
        })
    }
}

fn parse_endpoint(endpoint: &str) -> Result<Url> {
    let fail = |reason: &str| {
        InvalidEndpointSnafu {
            endpoint,
            reason: reason.to_string(),
        }
        .fail()
    };
    let url = match Url::parse(endpoint) {
        Ok(url) => url,
        Err(e) => return fail(&e.to_string()),
    };
    if url.scheme() != "http" && url.scheme() != "https" {
        return fail("the scheme must be http or https");
    }
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        return fail("expected a base URL such as http://host:8080 (no query, no fragment)");
    }
    Ok(url)
}

/// A signed connection to one Tidewater server. Clone it freely.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    credentials: Credentials,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.base.as_str())
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// What a SQL statement returned.
#[derive(Debug, Clone)]
pub enum SqlOutput {
    /// A result set (queries), decoded from the Arrow IPC stream answer.
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
    /// A statement without a result set: what it did and the rows it wrote.
    Done { message: String, rows: u64 },
}

/// One request: where it goes and what it carries.
pub(crate) struct Call<'a> {
    pub method: Method,
    /// Another base URL (a slot's endpoint) instead of the client's.
    pub base: Option<&'a Url>,
    pub segments: &'a [&'a str],
    pub body: Bytes,
    pub content_type: Option<&'a str>,
    pub accept: Option<&'a str>,
    pub timeout: Option<Duration>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, segments: &'a [&'a str]) -> Self {
        Call {
            method,
            base: None,
            segments,
            body: Bytes::new(),
            content_type: None,
            accept: None,
            timeout: None,
        }
    }

    pub fn json<T: Serialize>(mut self, what: &'static str, body: &T) -> Result<Self> {
        self.body = serde_json::to_vec(body)
            .context(EncodeJsonSnafu { what })?
            .into();
        self.content_type = Some(JSON);
        Ok(self)
    }
}

/// A successful answer, body read.
pub(crate) struct Answer {
    pub method: Method,
    pub path: String,
    pub content_type: String,
    pub body: Bytes,
}

impl Answer {
    pub fn decode<T: DeserializeOwned>(&self, what: &'static str) -> Result<T> {
        serde_json::from_slice(&self.body).context(DecodeAnswerSnafu {
            method: self.method.as_str(),
            path: self.path.clone(),
            what,
        })
    }
}

/// The `/v1` segment every API path starts with.
pub(crate) fn v1() -> &'static str {
    API_PREFIX.trim_start_matches('/')
}

impl Client {
    /// A client for `endpoint` (`http://host:port`, optionally with a base path).
    pub fn new(endpoint: impl Into<String>, credentials: Credentials) -> Result<Client> {
        Client::builder(endpoint, credentials).build()
    }

    /// A client whose credentials come from [`ACCESS_ID_ENV`] and [`ACCESS_KEY_ENV`].
    pub fn from_env(endpoint: impl Into<String>) -> Result<Client> {
        Client::new(endpoint, Credentials::from_env()?)
    }

    pub fn builder(endpoint: impl Into<String>, credentials: Credentials) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.into(),
            credentials,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
        }
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Url {
        &self.inner.base
    }

    /// `GET /health`: whether the server answers.
    pub async fn health(&self) -> Result<()> {
        self.send(Call::new(Method::GET, &["health"])).await?;
        Ok(())
    }

    pub async fn list_projects(&self) -> Result<Vec<String>> {
        let answer = self
            .send(Call::new(Method::GET, &[v1(), "projects"]))
            .await?;
        Ok(answer.decode::<ProjectList>("project list")?.projects)
    }

    /// Creates a project; with `if_not_exists` an existing one is not an error.
    pub async fn create_project(&self, name: &str, if_not_exists: bool) -> Result<()> {
        let body = CreateProject {
            name: name.to_string(),
            if_not_exists,
        };
        self.send(Call::new(Method::POST, &[v1(), "projects"]).json("project", &body)?)
            .await?;
        Ok(())
    }

    pub async fn drop_project(&self, name: &str) -> Result<()> {
        self.send(Call::new(Method::DELETE, &[v1(), "projects", name]))
            .await?;
        Ok(())
    }

    pub async fn list_tables(&self, project: &str) -> Result<Vec<String>> {
        let answer = self
            .send(Call::new(
                Method::GET,
                &[v1(), "projects", project, "tables"],
            ))
            .await?;
        Ok(answer.decode::<TableList>("table list")?.tables)
    }

    pub async fn create_table(&self, project: &str, table: &CreateTable) -> Result<TableInfo> {
        let segments = [v1(), "projects", project, "tables"];
        let call = Call::new(Method::POST, &segments).json("table", table)?;
        self.send(call).await?.decode("table info")
    }

    pub async fn describe_table(&self, project: &str, table: &str) -> Result<TableInfo> {
        self.send(Call::new(
            Method::GET,
            &[v1(), "projects", project, "tables", table],
        ))
        .await?
        .decode("table info")
    }

    pub async fn drop_table(&self, project: &str, table: &str) -> Result<()> {
        self.send(Call::new(
            Method::DELETE,
            &[v1(), "projects", project, "tables", table],
        ))
        .await?;
        Ok(())
    }

    /// Runs one SQL statement in `project`. Result sets come back as Arrow record batches.
    pub async fn sql(&self, project: &str, sql: &str) -> Result<SqlOutput> {
        let body = SqlRequest {
            sql: sql.to_string(),
            project: Some(project.to_string()),
        };
        let segments = [v1(), "sql"];
        let mut call = Call::new(Method::POST, &segments).json("SQL request", &body)?;
        call.accept = Some(ARROW_STREAM);
        let answer = self.send(call).await?;
        if answer.content_type.starts_with(ARROW_STREAM) {
            let reader = StreamReader::try_new(Cursor::new(answer.body.clone()), None).context(
                DecodeArrowSnafu {
                    method: answer.method.as_str(),
                    path: answer.path.clone(),
                },
            )?;
            let schema = reader.schema();
            let batches = reader
                .collect::<Result<Vec<_>, _>>()
                .context(DecodeArrowSnafu {
                    method: answer.method.as_str(),
                    path: answer.path.clone(),
                })?;
            Ok(SqlOutput::Rows { schema, batches })
        } else {
            let result: SqlResult = answer.decode("SQL result")?;
            Ok(SqlOutput::Done {
                message: result.message,
                rows: result.rows,
            })
        }
    }

    /// `GET …/sessions/{id}`: the state of a write session (e.g. after an unknown commit
    /// outcome: `state` committed and `snapshot_id` say it landed).
    pub async fn session_info(
        &self,
        project: &str,
        table: &str,
        session_id: &str,
    ) -> Result<SessionInfo> {
        let segments = session_path(project, table, session_id, &[]);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        self.send(Call::new(Method::GET, &segments))
            .await?
            .decode("session info")
    }

    /// A builder for a new upsert session (Delta tables): rows are upserted or deleted by key.
    pub fn upsert_session(&self, project: &str, table: &str) -> SessionBuilder<UpsertSession> {
        SessionBuilder::new(self.clone(), project, table, None)
    }

    /// A builder for a new insert session: rows are appended as they are.
    pub fn insert_session(&self, project: &str, table: &str) -> SessionBuilder<InsertSession> {
        SessionBuilder::new(self.clone(), project, table, None)
    }

    /// A builder that reopens an existing open upsert session, e.g. in another process after
    /// the first one flushed and stopped. See [`SessionBuilder::first_block_number`].
    pub fn open_upsert_session(
        &self,
        project: &str,
        table: &str,
        session_id: &str,
    ) -> SessionBuilder<UpsertSession> {
        SessionBuilder::new(self.clone(), project, table, Some(session_id.to_string()))
    }

    /// The insert-session equivalent of [`Client::open_upsert_session`].
    pub fn open_insert_session(
        &self,
        project: &str,
        table: &str,
        session_id: &str,
    ) -> SessionBuilder<InsertSession> {
        SessionBuilder::new(self.clone(), project, table, Some(session_id.to_string()))
    }

    /// Sends one signed request and reads the whole answer; error statuses become errors.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Answer> {
        let mut url = call.base.unwrap_or(&self.inner.base).clone();
        {
            let Ok(mut path) = url.path_segments_mut() else {
                // parse_endpoint and slot endpoints only admit base URLs.
                return InvalidEndpointSnafu {
                    endpoint: url.as_str(),
                    reason: "not a base URL",
                }
                .fail();
            };
            path.pop_if_empty().extend(call.segments);
        }
        let path = url.path().to_string();
        let method = call.method;
        let signed = sign(
            &self.inner.credentials,
            method.as_str(),
            &url,
            &call.body,
            chrono::Utc::now(),
        );
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, signed.authorization)
            .header(DATE_HEADER, signed.date)
            .header(CONTENT_SHA256_HEADER, signed.content_sha256);
        if let Some(ct) = call.content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        if let Some(accept) = call.accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some(timeout) = call.timeout {
            request = request.timeout(timeout);
        }
        if !call.body.is_empty() {
            request = request.body(call.body);
        }
        tracing::trace!(method = %method, path = %path, "tidewater request");
        let response = request.send().await.context(TransportSnafu {
            method: method.as_str(),
            path: path.clone(),
        })?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.context(TransportSnafu {
            method: method.as_str(),
            path: path.clone(),
        })?;
        if (200..300).contains(&status) {
            return Ok(Answer {
                method,
                path,
                content_type,
                body,
            });
        }
        Err(error_answer(
            method.as_str(),
            &path,
            status,
            &body,
            retry_after,
        ))
    }
}

/// The path segments of a session, plus `rest`.
pub(crate) fn session_path(
    project: &str,
    table: &str,
    session_id: &str,
    rest: &[&str],
) -> Vec<String> {
    [
        v1(),
        "projects",
        project,
        "tables",
        table,
        "sessions",
        session_id,
    ]
    .iter()
    .chain(rest)
    .map(|s| s.to_string())
    .collect()
}

/// Parses an endpoint of a slot (`Slot::endpoint`); empty means the client's own.
pub(crate) fn slot_endpoint(endpoint: &str) -> Result<Option<Url>> {
    if endpoint.is_empty() {
        Ok(None)
    } else {
        parse_endpoint(endpoint).map(Some)
    }
}

/// The signing headers of a request to `url` at `now`.
pub(crate) fn sign(
    credentials: &Credentials,
    method: &str,
    url: &Url,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> auth::SignedHeaders {
    let date = now.format(DATE_FORMAT).to_string();
    auth::sign_request(
        &credentials.access_id,
        &credentials.access_key,
        method,
        url.path(),
        url.query().unwrap_or(""),
        &date,
        body,
    )
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Tidewater servers).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn error_answer(
    method: &str,
    path: &str,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Error {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => ApiSnafu {
            method,
            path,
            status,
            kind: ErrorKind::from_wire(&error.kind).unwrap_or(ErrorKind::from_status(status)),
            message: error.message,
            retryable: error.retryable,
            retry_after,
        }
        .build(),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let body: String = text.chars().take(500).collect();
            UnexpectedStatusSnafu {
                method,
                path,
                status,
                body,
                retry_after,
            }
            .build()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn signing_covers_the_path_as_sent_and_verifies_with_the_secret() {
        let creds = Credentials::new("AK1", "secret");
        let client = Client::new("http://127.0.0.1:9/base/", creds.clone()).unwrap();
        let mut url = client.endpoint().clone();
        url.path_segments_mut()
            .unwrap()
            .pop_if_empty()
            .extend(["v1", "projects", "a b", "tables"]);
        assert_eq!(url.path(), "/base/v1/projects/a%20b/tables");
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 2, 42, 51)
            .unwrap();
        let h = sign(&creds, "GET", &url, b"", now);
        assert_eq!(h.date, "20261122T024251Z");
        assert_eq!(h.content_sha256, auth::content_sha256(b""));
        let (id, sig) = auth::parse_authorization(&h.authorization).unwrap();
        assert_eq!(id, "AK1");
        let canonical = auth::canonical_request(
            "GET",
            "/base/v1/projects/a%20b/tables",
            "",
            &h.date,
            &h.content_sha256,
        );
        assert!(auth::verify("secret", &canonical, sig));
        assert!(!auth::verify("other", &canonical, sig));
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let text = format!("{:?}", Credentials::new("AK1", "s3cr3t"));
        assert!(text.contains("AK1") && !text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn endpoints_must_be_base_urls() {
        for bad in ["localhost:8080", "ftp://x", "http://x/?a=1", "not a url"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
        assert!(parse_endpoint("http://127.0.0.1:8080").is_ok());
    }

    #[test]
    fn error_bodies_keep_the_servers_kind_message_and_flag() {
        let body =
            br#"{"error":{"kind":"ResourceExhausted","message":"slow down","retryable":true}}"#;
        let e = error_answer("PUT", "/v1/x", 429, body, Some(Duration::from_secs(3)));
        assert_eq!(e.kind(), ErrorKind::ResourceExhausted);
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(e.to_string().contains("slow down"), "{e}");
        let e = error_answer("GET", "/v1/x", 502, b"<html>bad gateway</html>", None);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        let e = error_answer("GET", "/v1/x", 404, b"", None);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(!e.is_retryable());
    }
}
