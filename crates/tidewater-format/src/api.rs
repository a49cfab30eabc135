//! The HTTP API's request and response bodies (`docs/API.md` documents them with examples).
//!
//! Shared by the server and the Rust client so the two cannot drift apart. New fields are added
//! as optional with defaults; nothing is renamed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::TableSchema;

/// Every API path starts with this.
pub const API_PREFIX: &str = "/v1";
/// Content type of Arrow IPC stream bodies (blocks, SQL results).
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
/// Content type of newline-delimited JSON bodies.
pub const NDJSON: &str = "application/x-ndjson";
/// Optional column of a block marking each row's operation: `0`/`'U'`/`"upsert"` or
/// `1`/`'D'`/`"delete"`. Without it every row is an upsert (upsert sessions) or an insert.
pub const OP_FIELD: &str = "_op";
/// Name of the frozen bucket hash (DESIGN §4) in session answers.
pub const HASH_NAME: &str = "maxcompute-default";
/// Default session lifetime, as in the reference product (24 hours).
pub const DEFAULT_LIFECYCLE_HOURS: u32 = 24;

/// The error body of every failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `NotFound`, `AlreadyExists`, `InvalidArgument`, `Conflict`, `Unavailable`,
    /// `ResourceExhausted`, `Corrupted`, `Internal`, `Unauthenticated`, `PermissionDenied`.
    pub kind: String,
    pub message: String,
    /// Whether sending the same request again may succeed.
    pub retryable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateProject {
    pub name: String,
    #[serde(default)]
    pub if_not_exists: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectList {
    pub projects: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableList {
    pub tables: Vec<String>,
}

/// `POST /v1/projects/{p}/tables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTable {
    pub name: String,
    pub schema: TableSchema,
    /// Table properties, e.g. `transactional`, `write.bucket.num`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub if_not_exists: bool,
}

/// `GET /v1/projects/{p}/tables/{t}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInfo {
    pub project: String,
    pub name: String,
    /// `delta` or `standard`.
    pub kind: String,
    pub schema: TableSchema,
    pub properties: BTreeMap<String, String>,
    pub bucket_num: u32,
    pub latest_snapshot: Option<u64>,
}

/// `POST /v1/sql`. The answer is an Arrow IPC stream when the request accepts
/// [`ARROW_STREAM`] and the statement returns rows, a [`SqlResult`] otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlRequest {
    pub sql: String,
    /// The project unqualified names refer to (`default` when absent).
    #[serde(default)]
    pub project: Option<String>,
}

/// JSON answer of `POST /v1/sql`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SqlResult {
    /// What a statement without a result set did ("created table …").
    #[serde(default)]
    pub message: String,
    /// Rows written (DML) or returned (queries).
    pub rows: u64,
    /// Result columns (queries only).
    #[serde(default)]
    pub columns: Vec<String>,
    /// Result rows as JSON objects (queries only).
    #[serde(default)]
    pub data: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The kind of a write session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Upsert,
    Insert,
}

/// `POST /v1/projects/{p}/tables/{t}/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSession {
    pub kind: SessionKind,
    /// A static partition (`dd=01/hh=02`); absent with `dynamic_partitions` or on unpartitioned
    /// tables.
    #[serde(default)]
    pub partition: Option<String>,
    /// Partition values come from the partition columns of each row.
    #[serde(default)]
    pub dynamic_partitions: bool,
    /// Hours until an uncommitted session expires and its blocks are deleted (1..=168, default 24).
    #[serde(default)]
    pub lifecycle_hours: Option<u32>,
}

/// How rows are routed to buckets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashSpec {
    /// [`HASH_NAME`]: the frozen MaxCompute-compatible hash of DESIGN §4.
    pub name: String,
    /// Key columns hashed, in order (empty: every row goes to bucket 0).
    pub key_columns: Vec<String>,
    pub bucket_num: u32,
}

/// A slot: a set of buckets and the endpoint that takes their blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub slot_id: u32,
    pub buckets: Vec<u32>,
    /// Base URL; empty means "the endpoint the session was created on".
    #[serde(default)]
    pub endpoint: String,
}

/// The state of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Open,
    Committed,
    Aborted,
    Expired,
}

/// Answer of session creation and `GET …/sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub session_id: String,
    pub project: String,
    pub table: String,
    pub kind: SessionKind,
    pub state: SessionState,
    /// Static partition, if any.
    #[serde(default)]
    pub partition: Option<String>,
    pub dynamic_partitions: bool,
    pub schema: TableSchema,
    pub bucket_num: u32,
    pub hash: HashSpec,
    pub slots: Vec<Slot>,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// Blocks acknowledged so far and the rows they hold.
    pub blocks: u64,
    pub rows: u64,
    /// The snapshot the session was committed as.
    #[serde(default)]
    pub snapshot_id: Option<u64>,
    /// Largest block body the server takes, in bytes.
    pub max_block_bytes: u64,
}

/// Answer of `PUT …/buckets/{b}/blocks/{n}`: the block is durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAck {
    pub bucket: u32,
    pub block: u64,
    pub rows: u64,
    /// Whether an earlier block with the same number was replaced.
    pub replaced: bool,
}

/// Answer of `POST …/sessions/{id}/commit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitAck {
    pub session_id: String,
    pub snapshot_id: u64,
    pub rows: u64,
}
