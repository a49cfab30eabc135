//! Write sessions: the unit of atomic visibility.
//!
//! A session belongs to one table and either one static partition or dynamic partitions (taken
//! from the rows). Rows are validated, routed to their bucket by the frozen hash, buffered per
//! (partition, bucket), and flushed into key-sorted Parquet files written straight to their final
//! place under `data/`. Nothing is visible until [`Session::commit`] publishes every staged file
//! in one snapshot.
//!
//! Durable state, under `session/<id>/`: `meta.json` (written by the first flush or commit), one
//! `block/<file>.json` record per file flushed by [`Session::flush`] (written before `flush`
//! returns: those rows are acknowledged), `commit.json` after a commit, `abort.json` after an
//! abort. Another process can [`crate::Table::open_session`] by id and commit.
//!
//! Invariants:
//! - every row gets a session-local sequence number in the order it was written; at commit the
//!   session takes `op_count` global sequence numbers, so within a session the last write of a
//!   key wins and across sessions the last committed wins;
//! - memory is bounded: a bucket is flushed when it holds `bucket_buffer_bytes`, the largest
//!   buckets are flushed while everything buffered or in flight exceeds `total_buffer_bytes`;
//! - a failed flush puts its rows back into the buffer: nothing written is dropped silently;
//! - a session commits at most once; committing again returns the same snapshot.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt8Array, UInt32Array, UInt64Array};
use arrow::compute::take_record_batch;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use snafu::ResultExt;
use tidewater_format::hash::bucket_columns;
use tidewater_format::path::validate_session_id;
use tidewater_format::schema::{OP_DELETE, OP_UPSERT, TableKind};
use tidewater_format::{CommitId, DataFileMeta, PartitionSpec, Snapshot, SnapshotKind};
use tokio::task::JoinHandle;

use crate::commit::{CommitRequest, commit};
use crate::error::{
    ArrowSnafu, Error, HashSnafu, InvalidInputSnafu, JoinSnafu, NotDeltaTableSnafu, Result,
    SessionAbortedSnafu, SessionCommittedSnafu, SessionNotFoundSnafu,
};
use crate::table::Table;
use crate::util::now_ms;
use crate::validate::{Ops, RowOp, validate_rows};
use crate::write::{FileTarget, SharedTarget, encode_file};

pub const DEFAULT_BUCKET_BUFFER_BYTES: usize = 1 << 20;
pub const DEFAULT_TOTAL_BUFFER_BYTES: usize = 64 << 20;
pub const DEFAULT_FLUSH_CONCURRENCY: usize = 2;
const SESSION_FORMAT_VERSION: u32 = 1;
/// Writer id recorded in snapshots committed by sessions.
pub const SESSION_WRITER: &str = "session";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// Upserts and deletes by primary key (Delta tables).
    Upsert,
    /// Appends rows as they are (any table); a replayed insert duplicates rows.
    Insert,
}

/// How a session is opened. Use [`Table::session`] to build one.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub kind: SessionKind,
    /// `None`: dynamic partitions (values taken from each row). Ignored for unpartitioned tables.
    pub partition: Option<String>,
    pub dynamic_partitions: bool,
    pub bucket_buffer_bytes: usize,
    pub total_buffer_bytes: usize,
    pub flush_concurrency: usize,
}

/// Builder of a session: `table.session(SessionKind::Upsert).partition("dd=01/hh=01").open()`.
pub struct SessionBuilder {
    table: Table,
    opts: SessionOptions,
}

impl SessionBuilder {
    pub(crate) fn new(table: Table, kind: SessionKind) -> Self {
        SessionBuilder {
            table,
            opts: SessionOptions {
                kind,
                partition: None,
                dynamic_partitions: false,
                bucket_buffer_bytes: DEFAULT_BUCKET_BUFFER_BYTES,
                total_buffer_bytes: DEFAULT_TOTAL_BUFFER_BYTES,
                flush_concurrency: DEFAULT_FLUSH_CONCURRENCY,
            },
        }
    }

    /// Writes one static partition, e.g. `dd=01/hh=01` or `dd='01',hh='01'`.
    pub fn partition(mut self, spec: impl Into<String>) -> Self {
        self.opts.partition = Some(spec.into());
        self.opts.dynamic_partitions = false;
        self
    }

    /// Takes partition values from the partition columns of every row.
    pub fn dynamic_partitions(mut self) -> Self {
        self.opts.partition = None;
        self.opts.dynamic_partitions = true;
        self
    }

    pub fn bucket_buffer_bytes(mut self, bytes: usize) -> Self {
        self.opts.bucket_buffer_bytes = bytes.max(1);
        self
    }

    pub fn total_buffer_bytes(mut self, bytes: usize) -> Self {
        self.opts.total_buffer_bytes = bytes.max(1);
        self
    }

    pub fn flush_concurrency(mut self, n: usize) -> Self {
        self.opts.flush_concurrency = n.max(1);
        self
    }

    pub(crate) fn options(&self) -> &SessionOptions {
        &self.opts
    }

    /// Creates the session. Its durable state is written by the first [`Session::flush`].
    pub async fn open(self) -> Result<Session> {
        Session::create(self.table, self.opts).await
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SessionMeta {
    pub format_version: u32,
    pub session_id: String,
    pub table_id: String,
    pub kind: SessionKind,
    /// `None` for dynamic partitions.
    pub partition: Option<PartitionSpec>,
    pub created_ms: i64,
    /// Latest snapshot when the session was created: its commit can only be newer.
    pub base_snapshot: Option<u64>,
    /// A Tunnel session ([`crate::tunnel`]): its rows arrive as numbered blocks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tunnel: bool,
    /// When an uncommitted session expires (Tunnel sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
}

impl SessionMeta {
    pub(crate) fn commit_id(&self) -> CommitId {
        CommitId {
            writer: SESSION_WRITER.to_string(),
            commit: self.session_id.clone(),
        }
    }

    /// The snapshot this session's commit landed in, found by its commit id (a commit whose
    /// answer was lost, or whose process died before writing the marker).
    pub(crate) async fn landed_commit(&self, table: &Table) -> Result<Option<u64>> {
        let found =
            crate::commit::find_commit(table, &self.commit_id(), self.base_snapshot.unwrap_or(0))
                .await?;
        Ok(found.map(|s| s.id))
    }

    /// Writes `commit.json`. Best effort: the snapshot itself records the commit, and a reload
    /// finds it there.
    pub(crate) async fn write_commit_marker(&self, table: &Table, snapshot_id: u64) {
        let marker = serde_json::to_vec(&CommitMarker { snapshot_id }).unwrap_or_default();
        let path = session_file(table, &self.session_id, "commit.json");
        if let Err(e) = table.storage().put(&path, marker).await {
            tracing::warn!(session = %self.session_id, error = %e, "could not write the commit marker");
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct BlockRecord {
    format_version: u32,
    file: DataFileMeta,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CommitMarker {
    pub snapshot_id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    Committed(u64),
    Aborted,
}

#[derive(Default)]
struct BucketBuffer {
    batches: Vec<RecordBatch>,
    bytes: usize,
}

type FlushResult = std::result::Result<DataFileMeta, (Error, Vec<RecordBatch>)>;

struct InFlight {
    key: (PartitionSpec, u32),
    bytes: usize,
    handle: JoinHandle<FlushResult>,
}

/// An open write session. Not shared: one owner writes, flushes and commits.
pub struct Session {
    table: Table,
    meta: SessionMeta,
    opts: SessionOptions,
    state: State,
    next_seq: u64,
    buffers: HashMap<(PartitionSpec, u32), BucketBuffer>,
    buffered_bytes: usize,
    in_flight: VecDeque<InFlight>,
    in_flight_bytes: usize,
    staged: Vec<DataFileMeta>,
    /// How many of `staged` (a prefix) have block records.
    recorded: usize,
    /// Whether `meta.json` was written (lazily, by the first `flush`).
    meta_written: bool,
    targets: HashMap<(PartitionSpec, u32), SharedTarget>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.meta.session_id)
            .field("table", &self.table.full_name())
            .field("state", &self.state)
            .finish()
    }
}

pub(crate) fn session_file(table: &Table, id: &str, name: &str) -> String {
    format!("{}/{name}", table.paths().session_dir(id))
}

/// The metadata of a new session: checks the session kind against the table and resolves the
/// partition (static, dynamic or none).
pub(crate) async fn new_session_meta(table: &Table, opts: &SessionOptions) -> Result<SessionMeta> {
    let schema = table.schema();
    if opts.kind == SessionKind::Upsert && table.kind() != TableKind::Delta {
        return NotDeltaTableSnafu {
            table: table.full_name(),
            operation: "an upsert session",
        }
        .fail();
    }
    let partition = if schema.partition_columns.is_empty() {
        if let Some(p) = &opts.partition
            && !p.trim().is_empty()
        {
            PartitionSpec::parse(p, &[])?;
        }
        Some(PartitionSpec::default())
    } else if opts.dynamic_partitions {
        None
    } else {
        match &opts.partition {
            Some(p) => Some(PartitionSpec::parse(p, &schema.partition_names())?),
            None => {
                return InvalidInputSnafu {
                        reason: format!(
                            "table '{}' is partitioned by ({}): give a partition such as '{}' or use dynamic partitions",
                            table.full_name(),
                            schema.partition_names().join(", "),
                            schema
                                .partition_names()
                                .iter()
                                .map(|c| format!("{c}=..."))
                                .collect::<Vec<_>>()
                                .join("/")
                        ),
                    }
                    .fail();
            }
        }
    };
    let base_snapshot = table.latest_snapshot().await?.map(|s| s.id);
    Ok(SessionMeta {
        format_version: SESSION_FORMAT_VERSION,
        session_id: uuid::Uuid::new_v4().to_string(),
        table_id: table.metadata().table_id.clone(),
        kind: opts.kind,
        partition,
        created_ms: now_ms(),
        base_snapshot,
        tunnel: false,
        expires_ms: None,
    })
}

/// Reads a session's metadata; `NotFound` unless it belongs to `table`.
pub(crate) async fn load_session_meta(table: &Table, id: &str) -> Result<SessionMeta> {
    validate_session_id(id)?;
    let not_found = || {
        SessionNotFoundSnafu {
            table: table.full_name(),
            session: id,
        }
        .build()
    };
    let meta_path = session_file(table, id, "meta.json");
    let bytes = table
        .storage()
        .get_opt(&meta_path)
        .await?
        .ok_or_else(not_found)?;
    let meta: SessionMeta = serde_json::from_slice(&bytes).map_err(|e| {
        crate::error::CorruptedSnafu {
            path: meta_path.clone(),
            reason: e.to_string(),
        }
        .build()
    })?;
    if meta.table_id != table.metadata().table_id {
        return Err(not_found());
    }
    Ok(meta)
}

/// A session's outcome as recorded in the warehouse: its markers, or its commit id in a snapshot
/// (committed, but the process died before writing the marker).
pub(crate) async fn load_session_state(table: &Table, meta: &SessionMeta) -> Result<State> {
    let storage = table.storage();
    let id = meta.session_id.as_str();
    if let Some(b) = storage
        .get_opt(&session_file(table, id, "commit.json"))
        .await?
        && let Ok(m) = serde_json::from_slice::<CommitMarker>(&b)
    {
        return Ok(State::Committed(m.snapshot_id));
    }
    if storage
        .exists(&session_file(table, id, "abort.json"))
        .await?
    {
        return Ok(State::Aborted);
    }
    if let Some(id) = meta.landed_commit(table).await? {
        return Ok(State::Committed(id));
    }
    Ok(State::Open)
}

impl Session {
    async fn create(table: Table, opts: SessionOptions) -> Result<Session> {
        let meta = new_session_meta(&table, &opts).await?;
        Ok(Session::from_parts(
            table,
            meta,
            opts,
            State::Open,
            Vec::new(),
        ))
    }

    fn from_parts(
        table: Table,
        meta: SessionMeta,
        opts: SessionOptions,
        state: State,
        staged: Vec<DataFileMeta>,
    ) -> Session {
        let next_seq = staged.iter().map(|f| f.max_seq + 1).max().unwrap_or(0);
        let recorded = staged.len();
        let meta_written = recorded > 0 || state != State::Open;
        Session {
            table,
            meta,
            opts,
            state,
            next_seq,
            buffers: HashMap::new(),
            buffered_bytes: 0,
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            staged,
            recorded,
            meta_written,
            targets: HashMap::new(),
        }
    }

    /// Reopens a session created by any process, with every block it acknowledged.
    pub(crate) async fn reopen(table: Table, id: &str) -> Result<Session> {
        let meta = load_session_meta(&table, id).await?;
        if meta.tunnel {
            return InvalidInputSnafu {
                reason: format!(
                    "session '{id}' is a Tunnel session: its blocks are committed through the Tunnel API"
                ),
            }
            .fail();
        }
        let state = load_session_state(&table, &meta).await?;
        let storage = table.storage().clone();
        let mut staged = Vec::new();
        for path in storage.list(&session_file(&table, id, "block")).await? {
            let bytes = storage.get(&path).await?;
            let record: BlockRecord = serde_json::from_slice(&bytes).map_err(|e| {
                crate::error::CorruptedSnafu {
                    path: path.clone(),
                    reason: e.to_string(),
                }
                .build()
            })?;
            staged.push(record.file);
        }
        let opts = SessionOptions {
            kind: meta.kind,
            partition: meta.partition.as_ref().map(|p| p.to_string()),
            dynamic_partitions: meta.partition.is_none(),
            bucket_buffer_bytes: DEFAULT_BUCKET_BUFFER_BYTES,
            total_buffer_bytes: DEFAULT_TOTAL_BUFFER_BYTES,
            flush_concurrency: DEFAULT_FLUSH_CONCURRENCY,
        };
        Ok(Session::from_parts(table, meta, opts, state, staged))
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

    /// The snapshot this session was committed as, if it was.
    pub fn committed_snapshot(&self) -> Option<u64> {
        match self.state {
            State::Committed(id) => Some(id),
            _ => None,
        }
    }

    /// Bytes currently held in memory (buffered plus being flushed).
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes + self.in_flight_bytes
    }

    /// Files staged so far (acknowledged blocks).
    pub fn staged_files(&self) -> &[DataFileMeta] {
        &self.staged
    }

    fn ensure_open(&self) -> Result<()> {
        match self.state {
            State::Open => Ok(()),
            State::Committed(snapshot) => SessionCommittedSnafu {
                session: self.id(),
                snapshot,
            }
            .fail(),
            State::Aborted => SessionAbortedSnafu { session: self.id() }.fail(),
        }
    }

    /// Upserts rows (Delta tables, upsert sessions).
    pub async fn upsert(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write(batch, RowOp::Upsert).await
    }

    /// Deletes rows by key (Delta tables, upsert sessions); only key columns are needed.
    pub async fn delete(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write(batch, RowOp::Delete).await
    }

    /// Appends rows (insert sessions).
    pub async fn insert(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write(batch, RowOp::Insert).await
    }

    /// Validates, routes and buffers rows; may flush full buckets. On error nothing of `batch`
    /// is buffered and the session stays usable.
    pub async fn write(&mut self, batch: &RecordBatch, op: RowOp) -> Result<()> {
        self.ensure_open()?;
        let allowed = match self.meta.kind {
            SessionKind::Upsert => op != RowOp::Insert,
            SessionKind::Insert => op == RowOp::Insert,
        };
        if !allowed {
            return InvalidInputSnafu {
                reason: format!(
                    "{op:?} rows cannot be written to a {:?} session (upsert sessions take upserts and deletes, insert sessions take inserts)",
                    self.meta.kind
                ),
            }
            .fail();
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let table = self.table.clone();
        let schema = table.schema();
        let rows = validate_rows(
            &table.full_name(),
            schema,
            batch,
            Ops::All(op),
            self.meta.partition.is_none(),
        )?;
        let by_partition = rows.rows_by_partition(schema, self.meta.partition.as_ref())?;
        let kind = table.kind();
        let n = rows.num_rows;
        let mut columns = rows.columns;
        if kind == TableKind::Delta {
            let first = self.next_seq;
            columns.push(Arc::new(UInt64Array::from_iter_values(
                first..first + n as u64,
            )));
            let op_code = if op == RowOp::Delete {
                OP_DELETE
            } else {
                OP_UPSERT
            };
            columns.push(Arc::new(UInt8Array::from_value(op_code, n)));
        }
        let file_schema = schema.file_arrow_schema(kind);
        let full = RecordBatch::try_new(file_schema, columns).context(ArrowSnafu {
            what: "assembling rows",
        })?;
        let buckets: Vec<u32> = if kind == TableKind::Delta {
            let key_cols: Vec<&dyn arrow::array::Array> = schema
                .key_indices()
                .iter()
                .map(|i| full.column(*i).as_ref())
                .collect();
            bucket_columns(&key_cols, table.bucket_num()).context(HashSnafu)?
        } else {
            vec![0; n]
        };
        // Group rows by (partition, bucket), keeping their order.
        let mut groups: Vec<((PartitionSpec, u32), Vec<u32>)> = Vec::new();
        for (spec, part_rows) in by_partition {
            let mut by_bucket: Vec<Vec<u32>> = vec![Vec::new(); table.bucket_num() as usize];
            for row in part_rows {
                by_bucket[buckets[row as usize] as usize].push(row);
            }
            for (b, idx) in by_bucket.into_iter().enumerate() {
                if !idx.is_empty() {
                    groups.push(((spec.clone(), b as u32), idx));
                }
            }
        }
        let mut parts = Vec::with_capacity(groups.len());
        let mut incoming = 0;
        for (key, idx) in groups {
            let part = if idx.len() == n {
                full.clone()
            } else {
                take_record_batch(&full, &UInt32Array::from(idx)).context(ArrowSnafu {
                    what: "routing rows to buckets",
                })?
            };
            let bytes = part.get_array_memory_size();
            incoming += bytes;
            parts.push((key, part, bytes));
        }
        // Everything that can fail happens before the rows are buffered: an error means
        // nothing of `batch` was taken, so the caller may simply send it again.
        self.make_room(incoming).await?;
        self.next_seq += n as u64;
        for (key, part, bytes) in parts {
            let buf = self.buffers.entry(key).or_default();
            buf.batches.push(part);
            buf.bytes += bytes;
            self.buffered_bytes += bytes;
        }
        self.start_full_flushes();
        Ok(())
    }

    fn target(&mut self, key: &(PartitionSpec, u32)) -> SharedTarget {
        let table = &self.table;
        self.targets
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(FileTarget {
                    kind: table.kind(),
                    file_schema: table.schema().file_arrow_schema(table.kind()),
                    key_indices: table.schema().key_indices(),
                    partition: key.0.clone(),
                    bucket: key.1,
                    total_buckets: table.bucket_num(),
                    schema_id: table.metadata().schema_id,
                })
            })
            .clone()
    }

    /// Waits for background flushes (reporting the failure of any finished one) and flushes
    /// the largest buckets until `incoming` more bytes fit into `total_buffer_bytes`.
    async fn make_room(&mut self, incoming: usize) -> Result<()> {
        while self
            .in_flight
            .front()
            .is_some_and(|f| f.handle.is_finished())
        {
            self.finish_oldest_flush().await?;
        }
        while self.buffered_bytes + self.in_flight_bytes + incoming > self.opts.total_buffer_bytes {
            let at_limit = self.in_flight.len() >= self.opts.flush_concurrency;
            if !self.in_flight.is_empty() && (at_limit || self.buffered_bytes == 0) {
                self.finish_oldest_flush().await?;
            } else if let Some(key) = self.largest_bucket(0) {
                self.spawn_flush(key);
            } else {
                // Nothing buffered or in flight: a single batch larger than the limit.
                break;
            }
        }
        Ok(())
    }

    fn largest_bucket(&self, at_least: usize) -> Option<(PartitionSpec, u32)> {
        self.buffers
            .iter()
            .filter(|(_, b)| b.bytes > 0 && b.bytes >= at_least)
            .max_by_key(|(_, b)| b.bytes)
            .map(|(k, _)| k.clone())
    }

    /// Starts background flushes of full buckets, as far as `flush_concurrency` allows. Never
    /// fails: errors of those flushes surface at the next write, flush or commit.
    fn start_full_flushes(&mut self) {
        while self.in_flight.len() < self.opts.flush_concurrency {
            match self.largest_bucket(self.opts.bucket_buffer_bytes) {
                Some(key) => self.spawn_flush(key),
                None => return,
            }
        }
    }

    /// Starts writing one bucket's buffer as a file in the background, after waiting for a
    /// free slot (at most `flush_concurrency` flushes run at once).
    async fn start_flush(&mut self, key: (PartitionSpec, u32)) -> Result<()> {
        while self.in_flight.len() >= self.opts.flush_concurrency {
            self.finish_oldest_flush().await?;
        }
        self.spawn_flush(key);
        Ok(())
    }

    fn spawn_flush(&mut self, key: (PartitionSpec, u32)) {
        let Some(buf) = self.buffers.remove(&key) else {
            return;
        };
        self.buffered_bytes -= buf.bytes;
        self.in_flight_bytes += buf.bytes;
        let target = self.target(&key);
        let table = self.table.clone();
        let batches = buf.batches;
        let handle = tokio::spawn(async move {
            match write_file(&table, target, &batches).await {
                Ok(meta) => Ok(meta),
                Err(e) => Err((e, batches)),
            }
        });
        self.in_flight.push_back(InFlight {
            key,
            bytes: buf.bytes,
            handle,
        });
    }

    /// Waits for the oldest background flush; `Ok(false)` if none was running.
    async fn finish_oldest_flush(&mut self) -> Result<bool> {
        let Some(f) = self.in_flight.pop_front() else {
            return Ok(false);
        };
        self.in_flight_bytes -= f.bytes;
        match f.handle.await.context(JoinSnafu)? {
            Ok(meta) => {
                self.staged.push(meta);
                Ok(true)
            }
            Err((e, batches)) => {
                // Put the rows back: they are retried by the next flush or commit.
                let buf = self.buffers.entry(f.key).or_default();
                buf.bytes += f.bytes;
                buf.batches.extend(batches);
                self.buffered_bytes += f.bytes;
                Err(e)
            }
        }
    }

    async fn drain(&mut self) -> Result<()> {
        let keys: Vec<(PartitionSpec, u32)> = self.buffers.keys().cloned().collect();
        let mut first_err = None;
        for key in keys {
            if let Err(e) = self.start_flush(key).await {
                first_err.get_or_insert(e);
            }
        }
        while !self.in_flight.is_empty() {
            if let Err(e) = self.finish_oldest_flush().await {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Makes every row written so far durable: when this returns, the rows are acknowledged and
    /// survive a crash; another process can reopen the session and commit them.
    pub async fn flush(&mut self) -> Result<()> {
        self.ensure_open()?;
        let meta = self.write_meta();
        self.drain().await?;
        self.await_meta(meta).await?;
        let storage = self.table.storage().clone();
        let table = &self.table;
        let id = self.meta.session_id.as_str();
        // Owned files: a closure over `&DataFileMeta` makes this future not provably `Send`.
        futures::stream::iter(self.staged[self.recorded..].to_vec())
            .map(|file| {
                let storage = storage.clone();
                async move {
                    let rec = serde_json::to_vec(&BlockRecord {
                        format_version: SESSION_FORMAT_VERSION,
                        file: file.clone(),
                    })
                    .unwrap_or_default();
                    let name = file
                        .path
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches(".parquet");
                    storage
                        .put(&session_file(table, id, &format!("block/{name}.json")), rec)
                        .await
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        self.recorded = self.staged.len();
        Ok(())
    }

    /// Starts writing `meta.json` in the background unless it was written already.
    fn write_meta(&self) -> Option<JoinHandle<Result<()>>> {
        if self.meta_written {
            return None;
        }
        let storage = self.table.storage().clone();
        let path = session_file(&self.table, self.id(), "meta.json");
        let bytes = serde_json::to_vec(&self.meta).unwrap_or_default();
        Some(tokio::spawn(async move { storage.put(&path, bytes).await }))
    }

    async fn await_meta(&mut self, task: Option<JoinHandle<Result<()>>>) -> Result<()> {
        if let Some(task) = task {
            task.await.context(JoinSnafu)??;
            self.meta_written = true;
        }
        Ok(())
    }

    /// Publishes everything written in this session as one new snapshot. Idempotent: committing
    /// a committed session returns its snapshot.
    pub async fn commit(&mut self) -> Result<Arc<Snapshot>> {
        match self.state {
            State::Committed(id) => return self.table.snapshot(id).await,
            State::Aborted => return SessionAbortedSnafu { session: self.id() }.fail(),
            State::Open => {}
        }
        // Files flushed as part of the commit need no block record: the snapshot records them,
        // and if the commit fails they stay staged in this session for a retry. `meta.json` is
        // written alongside, so another process can always look up this session's outcome.
        let meta = self.write_meta();
        self.drain().await?;
        self.await_meta(meta).await?;
        let snapshot = commit(
            &self.table,
            CommitRequest::append(
                SnapshotKind::Append,
                Some(self.meta.commit_id()),
                self.staged.clone(),
                self.next_seq,
                self.meta.base_snapshot.unwrap_or(0),
            ),
        )
        .await?;
        self.state = State::Committed(snapshot.id);
        self.meta
            .write_commit_marker(&self.table, snapshot.id)
            .await;
        Ok(snapshot)
    }

    /// Discards the session: its files are deleted and it can no longer commit.
    pub async fn abort(&mut self) -> Result<()> {
        match self.state {
            State::Aborted => return Ok(()),
            State::Committed(snapshot) => {
                return SessionCommittedSnafu {
                    session: self.id(),
                    snapshot,
                }
                .fail();
            }
            State::Open => {}
        }
        // A commit whose answer was lost ("outcome unknown") may have landed: then the files
        // belong to the table and must not be deleted.
        if let Some(id) = self.meta.landed_commit(&self.table).await? {
            self.state = State::Committed(id);
            return SessionCommittedSnafu {
                session: self.id(),
                snapshot: id,
            }
            .fail();
        }
        while let Some(f) = self.in_flight.pop_front() {
            if let Ok(Ok(meta)) = f.handle.await {
                self.staged.push(meta);
            }
        }
        self.in_flight_bytes = 0;
        self.buffers.clear();
        self.buffered_bytes = 0;
        let storage = self.table.storage().clone();
        storage
            .put(&session_file(&self.table, self.id(), "abort.json"), "{}")
            .await?;
        self.state = State::Aborted;
        for f in std::mem::take(&mut self.staged) {
            storage
                .delete(&self.table.paths().data_file(&f.path))
                .await?;
        }
        storage
            .delete_prefix(&session_file(&self.table, self.id(), "block"))
            .await
    }
}

async fn write_file(
    table: &Table,
    target: SharedTarget,
    batches: &[RecordBatch],
) -> Result<DataFileMeta> {
    let owned: Vec<RecordBatch> = batches.to_vec();
    let (meta, bytes) = tokio::task::spawn_blocking(move || encode_file(&target, &owned))
        .await
        .context(JoinSnafu)??;
    table
        .storage()
        .put(&table.paths().data_file(&meta.path), bytes)
        .await?;
    Ok(meta)
}

impl Table {
    /// Starts building a write session on this table.
    pub fn session(&self, kind: SessionKind) -> SessionBuilder {
        SessionBuilder::new(self.clone(), kind)
    }

    /// Reopens a session by id (from any process).
    pub async fn open_session(&self, id: &str) -> Result<Session> {
        Session::reopen(self.clone(), id).await
    }
}
