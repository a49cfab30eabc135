//! # tidewater-server — the Tunnel server
//!
//! `tidewater serve` runs [`start`]: an HTTP API (axum) over one warehouse. Routes and bodies are
//! documented in `docs/API.md`; the bodies themselves are [`tidewater_format::api`].
//!
//! | module | concept |
//! |---|---|
//! | [`config`] | [`ServerConfig`] and its [`config::Limits`] (TOML file, flags, environment) |
//! | [`auth`] | users, AccessKeys and grants; request signature checks |
//! | `routes` | the route table and the guard (concurrency, body limits, buffers, signature) |
//! | `routes/control` | projects and tables |
//! | `routes/sessions` | Tunnel sessions: create, status, blocks, commit, abort |
//! | `routes/sql` | SQL with the caller's grants; Arrow IPC or JSON answers |
//! | [`decode`] | block bodies: Arrow IPC streams and NDJSON |
//! | [`sessions`] | the process's open sessions, their limit and expiry sweep |
//! | [`maintenance`] | background compaction, snapshot expiry and vacuum; write back-pressure |
//! | [`metrics`] | Prometheus metrics |
//! | [`error`] | errors → status codes and JSON error bodies |
//!
//! Write path: `PUT …/buckets/{b}/blocks/{n}` → guard → decode → `TunnelSession::write_block`
//! (validate, bucket check, sorted Parquet file, durable record) → ack. `POST …/commit` →
//! `TunnelSession::commit` → snapshot. Session state lives in the warehouse, so a restarted
//! server (or another one sharing the warehouse) picks sessions up by id.

pub mod auth;
pub mod config;
pub mod decode;
pub mod error;
pub mod maintenance;
pub mod metrics;
mod routes;
pub mod server;
pub mod sessions;

pub use config::{Limits, ServerConfig};
pub use server::{AppState, RunningServer, start};
