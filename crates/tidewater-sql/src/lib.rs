//! # tidewater-sql — SQL over Tidewater tables with Apache DataFusion
//!
//! ```no_run
//! # async fn demo() -> tidewater_sql::Result<()> {
//! let warehouse = tidewater_engine::Warehouse::open("./warehouse").await?;
//! let sql = tidewater_sql::SqlEngine::new(warehouse);
//! sql.execute(r#"CREATE TABLE t (id BIGINT NOT NULL, name STRING, PRIMARY KEY (id))
//!                TBLPROPERTIES ("transactional"="true", "write.bucket.num"="4")"#).await?;
//! sql.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')").await?;
//! let batches = sql.execute("SELECT * FROM t VERSION AS OF 1 WHERE id = 1").await?;
//! # Ok(()) }
//! ```
//!
//! | module | concept |
//! |---|---|
//! | [`engine`] | [`SqlEngine`]: a connection — DataFusion context, current project, statement dispatch |
//! | [`catalog`] | projects as DataFusion schemas; resolving a name pins the table's latest snapshot |
//! | [`provider`] | `TableProvider`s: a pinned snapshot (merge-on-read), the changes between two snapshots; filter pushdown |
//! | [`exec`] | `SplitScanExec`: one DataFusion partition per engine split (partition × bucket) |
//! | `parse` | splitting scripts; the MaxCompute DDL, `SHOW`, `DESC`, `USE` statements |
//! | `timetravel` | `TIMESTAMP\|VERSION AS OF` / `BETWEEN` rewritten into pinned temporary tables |
//! | `ddl` | administrative statements and what `SHOW` / `DESC` print |
//! | `dml` | `INSERT` (upsert / append / overwrite), `DELETE`, `UPDATE`: one writer, one commit |
//! | `coerce` | implicit conversion of written values to column types |
//! | [`format`] | printing result sets as table, CSV or JSON lines |
//!
//! Read path: statement → (time-travel rewrite) → DataFusion plan; table names resolve through
//! [`catalog::WarehouseCatalog`] to a [`provider::SnapshotTable`] pinned to the latest snapshot;
//! `scan` plans an engine scan with the projection, the partition predicate and the key lookup
//! pushed down, and returns a [`exec::SplitScanExec`] whose partition `i` streams the engine's
//! `ScanPlan::execute_split` — merge-on-read per bucket, in parallel.
//!
//! Write path: DML → a DataFusion query over the pinned snapshot → batches coerced to the table's
//! types → one engine session (upsert or insert) or overwrite → one commit at the end; any error
//! aborts the writer, so a statement is all or nothing.
//!
//! Invariants: one snapshot per table per statement; one commit per write statement; names are
//! case-insensitive (lower-cased); nothing a user typed becomes a path except through the
//! engine's validated names.
//!
//! When you change the statements accepted, update the `.slt` tests under `tests/slt/` and the
//! README's SQL section; when you change what `SHOW`/`DESC` print, the `ddl` module table.

pub mod access;
pub mod catalog;
mod coerce;
mod ddl;
mod dml;
pub mod engine;
pub mod error;
pub mod exec;
pub mod format;
mod parse;
pub mod provider;
mod timetravel;

pub use access::{Access, AccessCheck};
pub use engine::{SqlEngine, StatementOutput};
pub use error::{Error, ErrorKind, Result};
pub use format::OutputFormat;
pub use parse::{is_complete, split_statements};
