//! # tidewater-engine — storage
//!
//! | module | concept |
//! |---|---|
//! | [`store`] | the warehouse object store (local dirs fsynced, `file://`, `memory://`, `s3://`) |
//! | [`catalog`] | [`Warehouse`]: projects and tables |
//! | [`table`] | [`Table`]: metadata, snapshots, live files |
//! | [`metadata`] | versioned table metadata `schema/<n>`: `ALTER TABLE … SET\|UNSET TBLPROPERTIES` |
//! | [`session`] | [`Session`]: validated, bucketed, buffered writes; flush; commit; abort |
//! | [`tunnel`] | [`TunnelSession`]: sessions fed by numbered per-bucket blocks (the Tunnel API) |
//! | [`validate`] | row validation (types, NULL keys, lengths, partitions) |
//! | `write` | sorted, de-duplicated Parquet data files |
//! | `commit` | the optimistic, idempotent commit protocol |
//! | [`compact`] | per-bucket LSM sorted runs, minor and major compaction |
//! | [`scan`] | merge-on-read scans of one pinned snapshot |
//! | [`changes`] | incremental reads: the last state of every key changed in `(from, to]` |
//! | [`retention`] | snapshot expiry, vacuum of abandoned sessions and orphan files, pins |
//! | [`overwrite`] | `INSERT OVERWRITE` of standard tables: replace partitions in one snapshot |
//!
//! Write path: `Session::write` → validate → route to (partition, bucket) → buffer →
//! flush (sort, dedup, Parquet, durable put, block record) → `Session::commit` → snapshot.
//! Tunnel path: `TunnelSession::write_block` → validate, check bucket → sorted file per
//! partition → durable block record (ack) → `TunnelSession::commit` → snapshot.
//! Read path: `Table::scan` → pin snapshot → live files → prune → per-bucket merge → batches.

pub mod catalog;
pub mod changes;
mod commit;
pub mod compact;
pub mod error;
pub mod metadata;
pub mod overwrite;
pub mod retention;
pub mod scan;
pub mod session;
pub mod store;
pub mod table;
pub mod tunnel;
mod util;
pub mod validate;
mod write;

pub use catalog::{DEFAULT_PROJECT, Warehouse};
pub use changes::{ChangesBuilder, ChangesPlan};
pub use commit::MAX_MANIFESTS;
pub use compact::{CompactBuilder, CompactMode, CompactReport};
pub use error::{Error, ErrorKind, Result};
pub use overwrite::Overwrite;
pub use retention::{ExpireReport, SnapshotPin, VacuumReport};
pub use scan::{RecordBatchStream, ScanBuilder, ScanPlan, Split};
pub use session::{Session, SessionBuilder, SessionKind};
pub use table::{CommitListener, Table};
pub use tunnel::{BlockWritten, TunnelSession, TunnelState, TunnelStatus};
pub use util::now_ms;
pub use validate::RowOp;
