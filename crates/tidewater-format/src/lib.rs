//! # tidewater-format — the contract
//!
//! Everything that is persisted or crosses the wire is defined here, and nothing here does IO:
//!
//! | module | concept |
//! |---|---|
//! | [`api`] | the HTTP API's request and response bodies |
//! | [`auth`] | request signing (AccessKey id/secret, HMAC-SHA256) |
//! | [`types`] | the MaxCompute type system (DESIGN §2) and its mapping onto Arrow |
//! | [`schema`] | table schemas: columns, primary key, partition columns; the hidden `_seq`/`_op` columns |
//! | [`properties`] | table properties (`transactional`, `write.bucket.num`, `acid.data.retain.hours`) |
//! | [`key`] | typed primary-key values (file min/max keys, key pruning) |
//! | [`hash`] | the frozen MaxCompute-compatible bucket hash (DESIGN §4) |
//! | [`partition`] | partition specs (`dd=01/hh=01`), validated and escaped |
//! | [`path`] | validated names and the warehouse path layout (DESIGN §3) |
//! | [`snapshot`] | snapshots, manifests and data-file metadata, versioned with golden fixtures |
//!
//! When you change a persisted struct: add fields as `Option`/`#[serde(default)]`, never reuse an
//! enum tag, and add a golden fixture for the new format version under `testdata/`.

pub mod api;
pub mod auth;
pub mod error;
pub mod hash;
pub mod key;
pub mod partition;
pub mod path;
pub mod properties;
pub mod schema;
pub mod snapshot;
pub mod types;

pub use error::{Error, ErrorKind, Result};
pub use key::KeyValue;
pub use partition::PartitionSpec;
pub use properties::{CompactionSettings, TableProperties};
pub use schema::{Column, TableKind, TableSchema};
pub use snapshot::{
    CommitId, DataFileMeta, FileOp, Manifest, ManifestEntry, ManifestRef, Snapshot, SnapshotKind,
    SnapshotSummary,
};
pub use types::DataType;
