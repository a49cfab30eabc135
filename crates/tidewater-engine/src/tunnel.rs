//! Tunnel sessions: write sessions whose rows arrive as numbered blocks, one bucket per block —
//! the data plane of the Tunnel HTTP API (DESIGN §5).
//!
//! A client routes rows to buckets with the frozen hash and sends each bucket's rows as blocks
//! numbered 0, 1, 2, … . Every block is validated (types, keys, NOT NULL, and that every row
//! belongs to the bucket it was sent to), sorted and de-duplicated by key, and written as one
//! Parquet file per partition straight to `data/`; its record
//! `session/<id>/tblock/<bucket>-<block>.json` is written before the block is acknowledged, so
//! an acknowledged block survives a crash. The session's `meta.json` is written at creation:
//! any process sharing the warehouse can load the session, take blocks and commit it.
//!
//! Invariants:
//! - a block is identified by (session, bucket, block number): writing it again replaces the
//!   earlier one (its record is overwritten, then its old files deleted), so a retry never
//!   duplicates rows;
//! - within a bucket a higher block number is newer: at commit, each block's rows get sequence
//!   numbers after those of every lower-numbered block of the same bucket; within a block the
//!   last row of a key wins;
//! - a commit contains exactly the blocks acknowledged before it: block writes hold the
//!   session's state lock shared, commit and abort hold it exclusively;
//! - a session commits at most once (idempotent by its commit id, as [`crate::Session`]);
//!   an expired session is aborted and its files deleted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, RecordBatch, UInt8Array, UInt32Array, UInt64Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::DataType as ArrowType;
use arrow_array::cast::AsArray;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use snafu::ResultExt;
use tidewater_format::hash::bucket_columns;
use tidewater_format::schema::{OP_DELETE, OP_UPSERT, TableKind};
use tidewater_format::{DataFileMeta, KeyValue, Snapshot, SnapshotKind};
use tokio::sync::RwLock;

use crate::commit::{CommitRequest, commit};
use crate::error::{
    ArrowSnafu, HashSnafu, InvalidInputSnafu, JoinSnafu, Result, SessionAbortedSnafu,
    SessionCommittedSnafu,
};
use crate::session::{
    SessionKind, SessionMeta, SessionOptions, State, load_session_meta, load_session_state,
    new_session_meta, session_file,
};
use crate::table::Table;
use crate::util::now_ms;
use crate::validate::{Ops, validate_rows};
use crate::write::{FileTarget, encode_file};

const RECORD_FORMAT_VERSION: u32 = 1;
/// Name of the optional operation column of a block.
pub const OP_FIELD: &str = "_op";

/// What a block record says: the files one acknowledged block became.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TunnelBlockRecord {
    format_version: u32,
    bucket: u32,
    block: u64,
    /// Rows sent (before de-duplication): the block's span of sequence numbers.
    rows: u64,
    files: Vec<DataFileMeta>,
}

/// Where a Tunnel session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelState {
    Open,
    Committed(u64),
    Aborted,
    Expired,
}

/// A summary of a session for status answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelStatus {
    pub state: TunnelState,
    pub blocks: u64,
    pub rows: u64,
}

/// What a written block became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockWritten {
    pub rows: u64,
    /// An earlier block with the same number was replaced.
    pub replaced: bool,
}

/// One lock per block number, so retries of one block serialize while blocks of other buckets
/// are written in parallel.
type BlockSlot = Arc<tokio::sync::Mutex<Option<TunnelBlockRecord>>>;

/// A Tunnel session. Shared (`Arc`) by every request that touches it.
pub struct TunnelSession {
    table: Table,
    meta: SessionMeta,
    state: RwLock<TunnelState>,
    blocks: Mutex<BTreeMap<(u32, u64), BlockSlot>>,
}

impl std::fmt::Debug for TunnelSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelSession")
            .field("id", &self.meta.session_id)
            .field("table", &self.table.full_name())
            .finish()
    }
}

fn record_name(bucket: u32, block: u64) -> String {
    format!("tblock/{bucket}-{block}.json")
}

impl Table {
    /// Creates a Tunnel session: `partition` is a static partition (`None` on unpartitioned
    /// tables), or `dynamic_partitions` takes partition values from the rows. It expires
    /// `lifecycle_ms` from now unless committed.
    pub async fn create_tunnel_session(
        &self,
        kind: SessionKind,
        partition: Option<&str>,
        dynamic_partitions: bool,
        lifecycle_ms: i64,
    ) -> Result<TunnelSession> {
        let mut builder = self.session(kind);
        if dynamic_partitions {
            builder = builder.dynamic_partitions();
        } else if let Some(p) = partition {
            builder = builder.partition(p);
        }
        let opts: &SessionOptions = builder.options();
        let mut meta = new_session_meta(self, opts).await?;
        meta.tunnel = true;
        meta.expires_ms = Some(meta.created_ms.saturating_add(lifecycle_ms));
        let bytes = serde_json::to_vec(&meta).unwrap_or_default();
        self.storage()
            .put(&session_file(self, &meta.session_id, "meta.json"), bytes)
            .await?;
        Ok(TunnelSession::new(
            self.clone(),
            meta,
            TunnelState::Open,
            Vec::new(),
        ))
    }

    /// Loads a Tunnel session created by any process, with every block it acknowledged.
    pub async fn load_tunnel_session(&self, id: &str) -> Result<TunnelSession> {
        let meta = load_session_meta(self, id).await?;
        if !meta.tunnel {
            return InvalidInputSnafu {
                reason: format!("session '{id}' is not a Tunnel session"),
            }
            .fail();
        }
        let state = match load_session_state(self, &meta).await? {
            State::Open => TunnelState::Open,
            State::Committed(s) => TunnelState::Committed(s),
            State::Aborted => {
                let marker = self
                    .storage()
                    .get_opt(&session_file(self, id, "abort.json"))
                    .await?
                    .unwrap_or_default();
                if marker.as_ref() == EXPIRED_MARKER.as_bytes() {
                    TunnelState::Expired
                } else {
                    TunnelState::Aborted
                }
            }
        };
        let mut records = Vec::new();
        if state == TunnelState::Open {
            let storage = self.storage();
            for path in storage.list(&session_file(self, id, "tblock")).await? {
                let bytes = storage.get(&path).await?;
                let record: TunnelBlockRecord = serde_json::from_slice(&bytes).map_err(|e| {
                    crate::error::CorruptedSnafu {
                        path: path.clone(),
                        reason: e.to_string(),
                    }
                    .build()
                })?;
                records.push(record);
            }
        }
        Ok(TunnelSession::new(self.clone(), meta, state, records))
    }
}

const ABORT_MARKER: &str = "{}";
const EXPIRED_MARKER: &str = "{\"reason\":\"expired\"}";

impl TunnelSession {
    fn new(
        table: Table,
        meta: SessionMeta,
        state: TunnelState,
        records: Vec<TunnelBlockRecord>,
    ) -> Self {
        let blocks = records
            .into_iter()
            .map(|r| {
                (
                    (r.bucket, r.block),
                    Arc::new(tokio::sync::Mutex::new(Some(r))),
                )
            })
            .collect();
        TunnelSession {
            table,
            meta,
            state: RwLock::new(state),
            blocks: Mutex::new(blocks),
        }
    }

    pub fn id(&self) -> &str {
        &self.meta.session_id
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn kind(&self) -> SessionKind {
        self.meta.kind
    }

    /// The static partition (`dd=01/hh=02`), if the session writes one.
    pub fn partition(&self) -> Option<String> {
        self.meta
            .partition
            .as_ref()
            .filter(|p| !p.0.is_empty())
            .map(|p| p.to_string())
    }

    pub fn dynamic_partitions(&self) -> bool {
        self.meta.partition.is_none()
    }

    pub fn created_ms(&self) -> i64 {
        self.meta.created_ms
    }

    pub fn expires_ms(&self) -> i64 {
        self.meta.expires_ms.unwrap_or(i64::MAX)
    }

    /// Buckets a block may address: the table's buckets, or only bucket 0 on standard tables.
    pub fn bucket_num(&self) -> u32 {
        match self.table.kind() {
            TableKind::Delta => self.table.bucket_num(),
            TableKind::Standard => 1,
        }
    }

    fn slots(&self) -> Vec<BlockSlot> {
        self.blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn slot(&self, bucket: u32, block: u64) -> BlockSlot {
        self.blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((bucket, block))
            .or_default()
            .clone()
    }

    /// State, blocks and rows acknowledged so far.
    pub async fn status(&self) -> TunnelStatus {
        let state = *self.state.read().await;
        let (mut blocks, mut rows) = (0, 0);
        for slot in self.slots() {
            if let Ok(guard) = slot.try_lock()
                && let Some(r) = guard.as_ref()
            {
                blocks += 1;
                rows += r.rows;
            }
        }
        TunnelStatus {
            state,
            blocks,
            rows,
        }
    }

    fn ensure_open(&self, state: TunnelState) -> Result<()> {
        match state {
            TunnelState::Open if now_ms() > self.expires_ms() => InvalidInputSnafu {
                reason: format!(
                    "session '{}' expired at {} (its lifecycle ended); open a new session",
                    self.id(),
                    self.expires_ms()
                ),
            }
            .fail(),
            TunnelState::Open => Ok(()),
            TunnelState::Committed(snapshot) => SessionCommittedSnafu {
                session: self.id(),
                snapshot,
            }
            .fail(),
            TunnelState::Aborted => SessionAbortedSnafu { session: self.id() }.fail(),
            TunnelState::Expired => InvalidInputSnafu {
                reason: format!(
                    "session '{}' expired and was cleaned up; open a new session",
                    self.id()
                ),
            }
            .fail(),
        }
    }

    /// Writes one block of `bucket`. The rows are the table's data columns by name (plus the
    /// partition columns with dynamic partitions) and an optional [`OP_FIELD`] column. When this
    /// returns the block is durable; the same block written again replaces it.
    pub async fn write_block(
        &self,
        bucket: u32,
        block: u64,
        batch: &RecordBatch,
    ) -> Result<BlockWritten> {
        let state = self.state.read().await;
        self.ensure_open(*state)?;
        if bucket >= self.bucket_num() {
            return InvalidInputSnafu {
                reason: format!(
                    "bucket {bucket} does not exist: table '{}' has {} bucket(s) (0..{})",
                    self.table.full_name(),
                    self.bucket_num(),
                    self.bucket_num() - 1
                ),
            }
            .fail();
        }
        let files = self.encode_block(bucket, batch).await?;
        let storage = self.table.storage().clone();
        futures::stream::iter(files.iter().map(Ok))
            .try_for_each_concurrent(8, |(meta, bytes)| {
                let storage = storage.clone();
                let path = self.table.paths().data_file(&meta.path);
                async move { storage.put(&path, bytes.clone()).await }
            })
            .await?;
        let record = TunnelBlockRecord {
            format_version: RECORD_FORMAT_VERSION,
            bucket,
            block,
            rows: batch.num_rows() as u64,
            files: files.into_iter().map(|(m, _)| m).collect(),
        };
        let slot = self.slot(bucket, block);
        let mut current = slot.lock().await;
        let record_path = session_file(&self.table, self.id(), &record_name(bucket, block));
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        if let Err(e) = storage.put(&record_path, bytes).await {
            // Not acknowledged: the new files are garbage, the earlier block (if any) stays.
            for f in &record.files {
                let _ = storage.delete(&self.table.paths().data_file(&f.path)).await;
            }
            return Err(e);
        }
        let written = BlockWritten {
            rows: record.rows,
            replaced: current.is_some(),
        };
        if let Some(old) = current.replace(record) {
            for f in &old.files {
                if let Err(e) = storage.delete(&self.table.paths().data_file(&f.path)).await {
                    tracing::warn!(file = %f.path, error = %e, "could not delete a replaced block's file");
                }
            }
        }
        Ok(written)
    }

    /// Validates a block and encodes its files (one per partition), off the async workers.
    async fn encode_block(
        &self,
        bucket: u32,
        batch: &RecordBatch,
    ) -> Result<Vec<(DataFileMeta, bytes::Bytes)>> {
        let table = self.table.clone();
        let schema = table.schema();
        let kind = table.kind();
        let (data, ops) = split_ops(batch)?;
        match (self.meta.kind, &ops) {
            (SessionKind::Insert, Some(ops)) if ops.contains(&OP_DELETE) => {
                return InvalidInputSnafu {
                    reason: "an insert session takes no deletes: '_op' must be upsert (0, 'U') in every row",
                }
                .fail();
            }
            _ => {}
        }
        let n = data.num_rows();
        let ops = ops.unwrap_or_else(|| vec![OP_UPSERT; n]);
        let rows = validate_rows(
            &table.full_name(),
            schema,
            &data,
            Ops::PerRow(&ops),
            self.meta.partition.is_none(),
        )?;
        let by_partition = rows.rows_by_partition(schema, self.meta.partition.as_ref())?;
        let mut columns = rows.columns;
        if kind == TableKind::Delta {
            let key_indices = schema.key_indices();
            let keys: Vec<&dyn Array> = key_indices.iter().map(|i| columns[*i].as_ref()).collect();
            let buckets = bucket_columns(&keys, table.bucket_num()).context(HashSnafu)?;
            if let Some(row) = buckets.iter().position(|b| *b != bucket) {
                let key = KeyValue::key_of_row(&keys, row)
                    .map(|k| format!("{k:?}"))
                    .unwrap_or_default();
                return InvalidInputSnafu {
                    reason: format!(
                        "row {row} (key {key}) belongs to bucket {}, not to bucket {bucket} it was sent to: route rows with the session's hash",
                        buckets[row]
                    ),
                }
                .fail();
            }
            columns.push(Arc::new(UInt64Array::from_iter_values(0..n as u64)));
            columns.push(Arc::new(UInt8Array::from(ops)));
        }
        let file_schema = schema.file_arrow_schema(kind);
        let full = RecordBatch::try_new(file_schema.clone(), columns).context(ArrowSnafu {
            what: "assembling a block",
        })?;
        let targets: Vec<(FileTarget, RecordBatch)> = by_partition
            .into_iter()
            .map(|(spec, idx)| {
                let part = if idx.len() == n {
                    full.clone()
                } else {
                    take_record_batch(&full, &UInt32Array::from(idx)).context(ArrowSnafu {
                        what: "splitting a block by partition",
                    })?
                };
                let target = FileTarget {
                    kind,
                    file_schema: file_schema.clone(),
                    key_indices: schema.key_indices(),
                    partition: spec,
                    bucket,
                    total_buckets: table.bucket_num(),
                    schema_id: table.metadata().schema_id,
                };
                Ok((target, part))
            })
            .collect::<Result<_>>()?;
        tokio::task::spawn_blocking(move || {
            targets
                .iter()
                .map(|(t, b)| encode_file(t, std::slice::from_ref(b)))
                .collect::<Result<Vec<_>>>()
        })
        .await
        .context(JoinSnafu)?
    }

    /// Publishes every acknowledged block as one snapshot. Idempotent: committing a committed
    /// session returns its snapshot.
    pub async fn commit(&self) -> Result<Arc<Snapshot>> {
        let mut state = self.state.write().await;
        if let TunnelState::Committed(id) = *state {
            return self.table.snapshot(id).await;
        }
        self.ensure_open(*state)?;
        let mut records = Vec::new();
        for slot in self.slots() {
            if let Some(r) = slot.lock().await.as_ref() {
                records.push(r.clone());
            }
        }
        records.sort_by_key(|r| (r.bucket, r.block));
        // Later blocks of a bucket get later sequence numbers.
        let mut added = Vec::new();
        let mut offset = 0u64;
        for r in records {
            for mut f in r.files {
                f.seq_offset += offset;
                f.min_seq += offset;
                f.max_seq += offset;
                added.push(f);
            }
            offset += r.rows;
        }
        let snapshot = commit(
            &self.table,
            CommitRequest::append(
                SnapshotKind::Append,
                Some(self.meta.commit_id()),
                added,
                offset,
                self.meta.base_snapshot.unwrap_or(0),
            ),
        )
        .await?;
        *state = TunnelState::Committed(snapshot.id);
        self.meta
            .write_commit_marker(&self.table, snapshot.id)
            .await;
        Ok(snapshot)
    }

    /// Discards the session and deletes its files.
    pub async fn abort(&self) -> Result<()> {
        self.discard(ABORT_MARKER, TunnelState::Aborted).await
    }

    /// Aborts the session if its lifecycle ended; `true` if it did.
    pub async fn expire_if_due(&self, now_ms: i64) -> Result<bool> {
        if now_ms <= self.expires_ms() || *self.state.read().await != TunnelState::Open {
            return Ok(false);
        }
        self.discard(EXPIRED_MARKER, TunnelState::Expired).await?;
        Ok(true)
    }

    async fn discard(&self, marker: &'static str, to: TunnelState) -> Result<()> {
        let mut state = self.state.write().await;
        match *state {
            TunnelState::Aborted | TunnelState::Expired => return Ok(()),
            TunnelState::Committed(snapshot) => {
                return SessionCommittedSnafu {
                    session: self.id(),
                    snapshot,
                }
                .fail();
            }
            TunnelState::Open => {}
        }
        // A commit whose answer was lost may have landed: then the files belong to the table.
        if let Some(id) = self.meta.landed_commit(&self.table).await? {
            *state = TunnelState::Committed(id);
            return SessionCommittedSnafu {
                session: self.id(),
                snapshot: id,
            }
            .fail();
        }
        let storage = self.table.storage().clone();
        storage
            .put(&session_file(&self.table, self.id(), "abort.json"), marker)
            .await?;
        *state = to;
        for slot in self.slots() {
            if let Some(r) = slot.lock().await.take() {
                for f in r.files {
                    storage
                        .delete(&self.table.paths().data_file(&f.path))
                        .await?;
                }
            }
        }
        storage
            .delete_prefix(&session_file(&self.table, self.id(), "tblock"))
            .await
    }
}

/// Splits the optional [`OP_FIELD`] column off a block: integers 0/1, or strings
/// `U`/`D`/`upsert`/`delete` (any case); NULL is an upsert, like a missing column.
fn split_ops(batch: &RecordBatch) -> Result<(RecordBatch, Option<Vec<u8>>)> {
    let Some(idx) = batch
        .schema_ref()
        .fields()
        .iter()
        .position(|f| f.name().eq_ignore_ascii_case(OP_FIELD))
    else {
        return Ok((batch.clone(), None));
    };
    let column = batch.column(idx);
    let bad = |row: usize, what: String| {
        InvalidInputSnafu {
            reason: format!(
                "row {row}: column '{OP_FIELD}' is {what}; expected 0 or 'U' (upsert), 1 or 'D' (delete)"
            ),
        }
        .fail()
    };
    let mut ops = Vec::with_capacity(column.len());
    let as_strings: Option<ArrayRef> = match column.data_type() {
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => Some(
            arrow::compute::cast(column, &ArrowType::Utf8).context(ArrowSnafu {
                what: "reading the '_op' column",
            })?,
        ),
        _ => None,
    };
    if let Some(strings) = as_strings {
        let strings = strings.as_string::<i32>();
        for row in 0..strings.len() {
            if strings.is_null(row) {
                ops.push(OP_UPSERT);
                continue;
            }
            match strings.value(row).to_ascii_lowercase().as_str() {
                "u" | "upsert" | "i" | "insert" => ops.push(OP_UPSERT),
                "d" | "delete" => ops.push(OP_DELETE),
                other => return bad(row, format!("'{other}'")),
            }
        }
    } else if column.data_type().is_integer() {
        let ints = arrow::compute::cast(column, &ArrowType::Int64).context(ArrowSnafu {
            what: "reading the '_op' column",
        })?;
        let ints = ints.as_primitive::<arrow::datatypes::Int64Type>();
        for row in 0..ints.len() {
            if ints.is_null(row) {
                ops.push(OP_UPSERT);
                continue;
            }
            match ints.value(row) {
                0 => ops.push(OP_UPSERT),
                1 => ops.push(OP_DELETE),
                other => return bad(row, other.to_string()),
            }
        }
    } else {
        return InvalidInputSnafu {
            reason: format!(
                "column '{OP_FIELD}' has type {}; expected an integer (0 upsert, 1 delete) or a string ('U', 'D')",
                column.data_type()
            ),
        }
        .fail();
    }
    let mut data = batch.clone();
    data.remove_column(idx);
    Ok((data, Some(ops)))
}
