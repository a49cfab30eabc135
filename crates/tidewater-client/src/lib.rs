//! # tidewater-client — the Rust SDK of Tidewater's Tunnel HTTP API
//!
//! Admin calls (projects, tables), SQL, and write sessions that route rows to hash buckets on the
//! client, as MaxCompute Tunnel clients do. Every request is signed with an AccessKey
//! ([`tidewater_format::auth`]). Depends on `tidewater-format` only (never on the engine).
//!
//! | module | concept |
//! |---|---|
//! | [`client`] | [`Client`]: endpoint, [`Credentials`], signing, admin and SQL calls, session builders |
//! | [`session`] | [`UpsertSession`] / [`InsertSession`]: check, route, buffer, upload blocks, flush, commit |
//! | `session::layout` | the block schema of a session; checking and converting Arrow batches |
//! | `session::rows` | JSON rows → Arrow, with the value conventions below |
//! | `session::route` | the frozen bucket hash per row; per-bucket buffers |
//! | `session::block` | Arrow IPC encoding of blocks; upload with retries under the same number |
//! | [`sink`] | [`Sink`]: checkpointed, exactly-once writes of a record stream (options of the reference connector, state file, recovery) |
//! | [`retry`] | exponential backoff honoring `Retry-After` |
//! | [`error`] | [`Error`], [`ErrorKind`], retryability |
//!
//! ## Example
//!
//! ```no_run
//! use serde_json::json;
//! use tidewater_client::{Client, Credentials, SqlOutput};
//!
//! # async fn run() -> Result<(), tidewater_client::Error> {
//! let client = Client::new("http://127.0.0.1:8080", Credentials::new("AK1", "secret"))?;
//! // or: Client::from_env("http://127.0.0.1:8080")? with TIDEWATER_ACCESS_ID / _KEY
//! client.health().await?;
//! client.sql("default", "CREATE TABLE t (id BIGINT NOT NULL, name STRING, PRIMARY KEY (id)) \
//!     PARTITIONED BY (dd STRING) TBLPROPERTIES (\"transactional\"=\"true\")").await?;
//!
//! let mut session = client.upsert_session("default", "t").partition("dd=01").open().await?;
//! session.upsert(&json!({"id": 1, "name": "Danny"})).await?;
//! session.upsert(&json!({"id": 2, "name": "Eve"})).await?;
//! session.delete(&json!({"id": 2})).await?;     // the later write of key 2 wins
//! // session.write_batch(&record_batch).await?; // Arrow fast path
//! session.flush().await?;                       // everything so far is durable on the server
//! let ack = session.commit().await?;            // one snapshot
//! println!("snapshot {}", ack.snapshot_id);
//!
//! if let SqlOutput::Rows { batches, .. } = client.sql("default", "SELECT * FROM t").await? {
//!     println!("{} batches", batches.len());
//! }
//! # Ok(()) }
//! ```
//!
//! ## JSON rows
//!
//! A row is a JSON object keyed by column name (case-insensitive); a missing key or `null` is
//! NULL. Integers are JSON integers, DECIMAL a string (`"12.30"`), BINARY base64, DATE
//! `"YYYY-MM-DD"`, DATETIME `"YYYY-MM-DD HH:MM:SS[.fff]"`, TIMESTAMP RFC 3339 with an offset;
//! the full table is in `session::rows` (see [`JsonRow`]). Errors name the column and the row.
//!
//! ## Write path
//!
//! ```text
//! upsert/delete/insert(row) ─ parse + check (nothing buffered on error) ─┐
//! write_batch(batch) ─ conform to the block schema + check ──────────────┤ (JSON rows first
//!                                                                        │  gathered, 4096 at a time)
//!   bucket = frozen hash(key columns) % bucket_num; split per bucket (order kept)
//!   buffer per bucket ─ ≥ bucket_buffer_bytes, or all > total_buffer_bytes (largest first)
//!   → Arrow IPC block (+ `_op`) → PUT …/buckets/{b}/blocks/{n} (n increasing per bucket),
//!     ≤ flush_concurrency in flight, retried under the same n
//! flush: send all, wait for every ack      commit: flush, POST commit, re-check a lost answer
//! ```
//!
//! ## When you change X, also change Y
//!
//! - The wire bodies live in `tidewater_format::api`, shared with the server: change them
//!   there, never copy them here.
//! - The JSON value conventions (`session::rows`) are user-facing: update the table in its docs
//!   and `docs/API.md` together.
//! - Block numbering on reopened sessions (`session` docs) must stay above any number an earlier
//!   writer used: the server replaces a block re-sent under the same number.

pub mod client;
pub mod error;
pub mod retry;
pub mod session;
pub mod sink;

pub use client::{ACCESS_ID_ENV, ACCESS_KEY_ENV, Client, ClientBuilder, Credentials, SqlOutput};
pub use error::{Error, ErrorKind, Result};
pub use retry::Backoff;
pub use session::{InsertSession, JsonRow, SessionBuilder, UpsertSession};
pub use sink::{Sink, SinkError, SinkOptions};
/// The wire bodies (`TableInfo`, `SessionInfo`, `CommitAck`, …), shared with the server.
pub use tidewater_format::api;
pub use tidewater_format::api::{CommitAck, CreateTable, SessionInfo, SessionState, TableInfo};
pub use tidewater_format::{Column, DataType, TableSchema};
