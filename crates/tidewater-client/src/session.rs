//! Write sessions: an [`UpsertSession`] or [`InsertSession`] streams rows into one table (one
//! static partition, or dynamic partitions taken from each row) and publishes them with one
//! commit.
//!
//! Write path: rows (JSON objects or Arrow batches) are checked against the table
//! (`layout`, `rows`), routed to buckets with the frozen hash (`route`), buffered per bucket,
//! and uploaded as numbered blocks (`block`) by background tasks, at most `flush_concurrency`
//! at a time. A bucket is sent when its buffer reaches `bucket_buffer_bytes`; when all buffers
//! together exceed `total_buffer_bytes` the largest buckets are sent first.
//!
//! Invariants:
//! - Order: rows of one bucket go out in write order, within a block and across blocks (block
//!   numbers increase per bucket in send order, and the server lets a later number win), so a
//!   key upserted then deleted ends deleted.
//! - Durability: when [`UpsertSession::flush`] returns `Ok`, every row written before it was
//!   acknowledged by the server (durable there) and survives a client or server crash.
//! - Memory: buffered rows ≤ `total_buffer_bytes` plus the call being processed, plus at most
//!   `flush_concurrency` encoded blocks in flight.
//! - Bad input (unknown column, wrong type, missing key) is rejected before anything of the
//!   call is buffered.
//! - Failure: a block that fails for good (non-retryable, or retries exhausted) fails the
//!   session: its rows are gone from the client, so every later call returns
//!   [`Error::SessionFailed`]; abort and start over.
//! - Dropping a session drops its buffered rows and cancels uploads in flight: only flushed
//!   rows are acknowledged (another process can reopen the session by id and commit them).
//! - Commit happens at most once and is never re-applied: a lost answer is re-checked with
//!   `GET …/sessions/{id}` (the server's commit is idempotent too).
//! - Block numbers: a new session numbers each bucket's blocks from 0. A reopened session numbers
//!   them from `max(first_block_number, unix_ms × 1024)`, which is above every number an earlier
//!   writer used as long as that writer ran on a clock not ahead of this one's (it could not
//!   send 1024 blocks to one bucket per millisecond). Pass
//!   [`SessionBuilder::first_block_number`] with the last writer's
//!   [`UpsertSession::next_block_number`] (saved after its last flush) to not depend on clocks.

mod block;
mod layout;
mod route;
mod rows;

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use reqwest::Method;
use snafu::{IntoError, ensure};
use tidewater_format::api::{CommitAck, CreateSession, SessionInfo, SessionKind, SessionState};
use tokio::task::JoinSet;

pub use rows::JsonRow;

use crate::client::{Call, Client, session_path, slot_endpoint};
use crate::error::{
    BlockTaskSnafu, CommitOutcomeUnknownSnafu, EncodeBlockSnafu, Error, ErrorKind,
    InvalidOptionSnafu, Result, SessionFailedSnafu, SessionNotOpenSnafu,
};
use crate::retry::Backoff;
use block::Uploader;
use layout::{Layout, RowOp};
use route::{BucketBuffers, split_by_bucket};
use rows::{RowBuffer, parse_row};

/// JSON rows are converted to Arrow in groups of at most this many.
const PENDING_ROWS: usize = 4096;

#[derive(Debug, Clone)]
struct Options {
    bucket_buffer_bytes: usize,
    total_buffer_bytes: usize,
    flush_concurrency: usize,
    writer_retries: u32,
    commit_retries: u32,
    commit_timeout: Duration,
    backoff: Backoff,
    first_block_number: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bucket_buffer_bytes: 1 << 20,
            total_buffer_bytes: 64 << 20,
            flush_concurrency: 4,
            writer_retries: 3,
            commit_retries: 3,
            commit_timeout: Duration::from_secs(60),
            backoff: Backoff::default(),
            first_block_number: None,
        }
    }
}

/// Builds (or reopens) a write session; `S` is [`UpsertSession`] or [`InsertSession`].
#[derive(Debug)]
#[must_use = "a session builder does nothing until `open` is awaited"]
pub struct SessionBuilder<S> {
    client: Client,
    project: String,
    table: String,
    resume: Option<String>,
    create: CreateSession,
    options: Options,
    _session: PhantomData<fn() -> S>,
}

impl<S> SessionBuilder<S> {
    pub(crate) fn new(client: Client, project: &str, table: &str, resume: Option<String>) -> Self {
        SessionBuilder {
            client,
            project: project.to_string(),
            table: table.to_string(),
            resume,
            create: CreateSession {
                kind: SessionKind::Upsert,
                partition: None,
                dynamic_partitions: false,
                lifecycle_hours: None,
            },
            options: Options::default(),
            _session: PhantomData,
        }
    }

    /// Writes one static partition, e.g. `dd=01/hh=02` (new sessions only).
    pub fn partition(mut self, spec: impl Into<String>) -> Self {
        self.create.partition = Some(spec.into());
        self
    }

    /// Every row carries its partition columns (new sessions only).
    pub fn dynamic_partitions(mut self) -> Self {
        self.create.dynamic_partitions = true;
        self
    }

    /// Hours until the uncommitted session expires on the server (1..=168, default
    /// [`tidewater_format::api::DEFAULT_LIFECYCLE_HOURS`]; new sessions only).
    pub fn lifecycle_hours(mut self, hours: u32) -> Self {
        self.create.lifecycle_hours = Some(hours);
        self
    }

    /// A bucket's buffer is sent as a block when it reaches this size (default 1 MiB; capped
    /// by the server's `max_block_bytes`).
    pub fn bucket_buffer_bytes(mut self, bytes: usize) -> Self {
        self.options.bucket_buffer_bytes = bytes;
        self
    }

    /// Bound of all buffers together; above it the largest buckets are sent (default 64 MiB).
    pub fn total_buffer_bytes(mut self, bytes: usize) -> Self {
        self.options.total_buffer_bytes = bytes;
        self
    }

    /// Blocks uploaded at the same time (default 4).
    pub fn flush_concurrency(mut self, blocks: usize) -> Self {
        self.options.flush_concurrency = blocks;
        self
    }

    /// Retries of a block upload after a transient failure (default 3).
    pub fn writer_retries(mut self, retries: u32) -> Self {
        self.options.writer_retries = retries;
        self
    }

    /// Retries of the commit after a transient failure or lost answer (default 3).
    pub fn commit_retries(mut self, retries: u32) -> Self {
        self.options.commit_retries = retries;
        self
    }

    /// How long one commit request may take before its outcome is treated as unknown and
    /// re-checked (default 60 s).
    pub fn commit_timeout(mut self, timeout: Duration) -> Self {
        self.options.commit_timeout = timeout;
        self
    }

    /// Backoff between retries (default 100 ms doubling up to 10 s; `Retry-After` honored).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.options.backoff = backoff;
        self
    }

    /// Reopened sessions: number new blocks from at least `n` — the earlier writer's
    /// [`UpsertSession::next_block_number`] after its last flush. See the module docs.
    pub fn first_block_number(mut self, n: u64) -> Self {
        self.options.first_block_number = Some(n);
        self
    }

    async fn open_writer(mut self, kind: SessionKind) -> Result<Writer> {
        let o = &self.options;
        let check = |ok: bool, option: &'static str, reason: &str| {
            ensure!(
                ok,
                InvalidOptionSnafu {
                    option,
                    reason: reason.to_string()
                }
            );
            Ok(())
        };
        check(
            o.bucket_buffer_bytes > 0,
            "bucket_buffer_bytes",
            "must be at least 1",
        )?;
        check(
            o.total_buffer_bytes >= o.bucket_buffer_bytes,
            "total_buffer_bytes",
            "must be at least bucket_buffer_bytes",
        )?;
        check(
            o.flush_concurrency > 0,
            "flush_concurrency",
            "must be at least 1",
        )?;
        check(
            !o.commit_timeout.is_zero(),
            "commit_timeout",
            "must be longer than 0",
        )?;
        let (info, first_block) = match self.resume.take() {
            None => {
                self.create.kind = kind;
                let segments = [
                    crate::client::v1(),
                    "projects",
                    &self.project,
                    "tables",
                    &self.table,
                    "sessions",
                ];
                let call = Call::new(Method::POST, &segments).json("session", &self.create)?;
                let info: SessionInfo = self.client.send(call).await?.decode("session info")?;
                (info, self.options.first_block_number.unwrap_or(0))
            }
            Some(id) => {
                check(
                    self.create.partition.is_none()
                        && !self.create.dynamic_partitions
                        && self.create.lifecycle_hours.is_none(),
                    "partition",
                    "partition, dynamic_partitions and lifecycle_hours are fixed when a session is created; a reopened session keeps its own",
                )?;
                let info = self
                    .client
                    .session_info(&self.project, &self.table, &id)
                    .await?;
                let clock = u64::try_from(chrono::Utc::now().timestamp_millis())
                    .unwrap_or(0)
                    .saturating_mul(1024);
                let first = self.options.first_block_number.unwrap_or(0).max(clock);
                (info, first)
            }
        };
        ensure!(
            info.kind == kind,
            SessionNotOpenSnafu {
                session_id: info.session_id.clone(),
                state: format!("an {:?} session", info.kind).to_lowercase(),
                reason: "reopen it with the matching call (open_upsert_session / open_insert_session)",
            }
        );
        // A committed session opens too: its `commit()` returns the snapshot it landed in (the
        // outcome of a commit whose answer was lost); writing to it is refused.
        let committed = match (info.state, info.snapshot_id) {
            (SessionState::Open, _) => None,
            (SessionState::Committed, Some(snapshot_id)) => Some(CommitAck {
                session_id: info.session_id.clone(),
                snapshot_id,
                rows: info.rows,
            }),
            (state, _) => {
                return SessionNotOpenSnafu {
                    session_id: info.session_id.clone(),
                    state: state_name(state),
                    reason: "only open sessions take rows",
                }
                .fail();
            }
        };
        let mut writer = Writer::new(self.client, info, self.options, first_block)?;
        if let Some(ack) = committed {
            writer.lifecycle = Lifecycle::Committed(ack);
        }
        Ok(writer)
    }
}

impl SessionBuilder<UpsertSession> {
    /// Creates (or reopens) the session on the server.
    pub async fn open(self) -> Result<UpsertSession> {
        Ok(UpsertSession {
            writer: self.open_writer(SessionKind::Upsert).await?,
        })
    }
}

impl SessionBuilder<InsertSession> {
    /// Creates (or reopens) the session on the server.
    pub async fn open(self) -> Result<InsertSession> {
        Ok(InsertSession {
            writer: self.open_writer(SessionKind::Insert).await?,
        })
    }
}

fn state_name(state: SessionState) -> String {
    match state {
        SessionState::Open => "open",
        SessionState::Committed => "committed",
        SessionState::Aborted => "aborted",
        SessionState::Expired => "expired",
    }
    .to_string()
}

/// Where a session's lifecycle stands on this client.
#[derive(Debug)]
enum Lifecycle {
    Open,
    Failed { kind: ErrorKind, message: String },
    Committed(CommitAck),
    Aborted,
}

/// The machinery shared by both session kinds.
#[derive(Debug)]
struct Writer {
    info: SessionInfo,
    layout: Arc<Layout>,
    options: Options,
    uploader: Arc<Uploader>,
    /// Largest block the server takes.
    max_block_bytes: u64,
    /// A bucket is sent when it holds this much.
    bucket_limit: usize,
    rows: RowBuffer,
    rows_written: usize,
    buckets: BucketBuffers,
    next_block: HashMap<u32, u64>,
    first_block: u64,
    in_flight: JoinSet<Result<tidewater_format::api::BlockAck>>,
    lifecycle: Lifecycle,
}

impl std::fmt::Debug for RowBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowBuffer")
            .field("rows", &self.rows())
            .finish()
    }
}

impl Writer {
    fn new(client: Client, info: SessionInfo, options: Options, first_block: u64) -> Result<Self> {
        let layout = Arc::new(Layout::new(&info)?);
        let mut slot_endpoints = HashMap::new();
        for slot in &info.slots {
            if let Some(url) = slot_endpoint(&slot.endpoint)? {
                for bucket in &slot.buckets {
                    slot_endpoints.insert(*bucket, url.clone());
                }
            }
        }
        let uploader = Arc::new(Uploader {
            client,
            session_path: session_path(&info.project, &info.table, &info.session_id, &[]),
            slot_endpoints,
            retries: options.writer_retries,
            backoff: options.backoff,
        });
        let max_block_bytes = info.max_block_bytes.max(1);
        // Arrow memory and IPC size are close; leave room so most blocks need no split.
        let cap = usize::try_from(max_block_bytes / 4 * 3)
            .unwrap_or(usize::MAX)
            .max(1);
        Ok(Writer {
            rows: RowBuffer::new(&layout),
            buckets: BucketBuffers::new(layout.bucket_num),
            bucket_limit: options.bucket_buffer_bytes.min(cap),
            layout,
            uploader,
            max_block_bytes,
            info,
            options,
            rows_written: 0,
            next_block: HashMap::new(),
            first_block,
            in_flight: JoinSet::new(),
            lifecycle: Lifecycle::Open,
        })
    }

    fn check_open(&self) -> Result<()> {
        match &self.lifecycle {
            Lifecycle::Open => Ok(()),
            Lifecycle::Failed { kind, message } => SessionFailedSnafu {
                session_id: &self.info.session_id,
                kind: *kind,
                message,
            }
            .fail(),
            Lifecycle::Committed(_) => SessionNotOpenSnafu {
                session_id: &self.info.session_id,
                state: "committed",
                reason: "a committed session takes no more rows",
            }
            .fail(),
            Lifecycle::Aborted => SessionNotOpenSnafu {
                session_id: &self.info.session_id,
                state: "aborted",
                reason: "an aborted session takes no more rows",
            }
            .fail(),
        }
    }

    /// Records a failure that loses rows: the session cannot be committed any more.
    fn fail(&mut self, error: Error) -> Error {
        if matches!(self.lifecycle, Lifecycle::Open) {
            self.lifecycle = Lifecycle::Failed {
                kind: error.kind(),
                message: error.to_string(),
            };
            self.buckets.clear();
            self.in_flight.abort_all();
        }
        error
    }

    async fn write_rows<R: JsonRow + ?Sized>(&mut self, rows: &[&R], op: RowOp) -> Result<()> {
        self.check_open()?;
        let single = rows.len() == 1;
        let mut parsed = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            // Single rows are numbered by their position in the session, slices by their index.
            let number = if single { self.rows_written } else { i };
            parsed.push(parse_row(&self.layout, *row, op, number)?);
        }
        self.rows_written += rows.len();
        self.rows.append(parsed);
        if self.rows.rows() >= PENDING_ROWS || self.rows.bytes() >= self.bucket_limit {
            self.route_pending().await?;
        }
        Ok(())
    }

    async fn write_batch(&mut self, batch: &RecordBatch, op: RowOp) -> Result<()> {
        self.check_open()?;
        let conformed = self.layout.conform(batch, op)?;
        // Rows written before this batch go first.
        self.route_pending().await?;
        self.rows_written += batch.num_rows();
        self.route(&conformed).await
    }

    async fn route_pending(&mut self) -> Result<()> {
        let bucket = 0u32;
        let batch = match self.rows.take_batch(&self.layout) {
            Ok(b) => b,
            Err(e) => return Err(self.fail(EncodeBlockSnafu { bucket }.into_error(e))),
        };
        match batch {
            Some(batch) => self.route(&batch).await,
            None => Ok(()),
        }
    }

    async fn route(&mut self, batch: &RecordBatch) -> Result<()> {
        let parts = match split_by_bucket(&self.layout, batch) {
            Ok(parts) => parts,
            // The rows may have left the JSON row buffer already: they are lost.
            Err(e) => return Err(self.fail(e)),
        };
        for (bucket, part) in parts {
            if self.buckets.push(bucket, part) >= self.bucket_limit {
                self.send_bucket(bucket).await?;
            }
        }
        while self.buckets.total_bytes() > self.options.total_buffer_bytes {
            let Some(largest) = self.buckets.largest() else {
                break;
            };
            self.send_bucket(largest).await?;
        }
        Ok(())
    }

    /// Encodes the buffer of `bucket` into blocks and starts their uploads.
    async fn send_bucket(&mut self, bucket: u32) -> Result<()> {
        let batches = self.buckets.take(bucket);
        if batches.is_empty() {
            return Ok(());
        }
        let blocks =
            match block::encode_blocks(&self.layout.schema, bucket, &batches, self.max_block_bytes)
            {
                Ok(blocks) => blocks,
                Err(e) => return Err(self.fail(e)),
            };
        drop(batches);
        for body in blocks {
            while self.in_flight.len() >= self.options.flush_concurrency {
                self.join_one().await?;
            }
            let next = self.next_block.entry(bucket).or_insert(self.first_block);
            let number = *next;
            *next += 1;
            tracing::debug!(
                session = %self.info.session_id,
                bucket,
                block = number,
                bytes = body.len(),
                "sending block"
            );
            self.in_flight
                .spawn(self.uploader.clone().put(bucket, number, body));
        }
        Ok(())
    }

    /// Waits for one upload; a failure fails the session.
    async fn join_one(&mut self) -> Result<()> {
        let Some(joined) = self.in_flight.join_next().await else {
            return Ok(());
        };
        let result = match joined {
            Ok(result) => result,
            Err(e) => Err(BlockTaskSnafu {
                session_id: &self.info.session_id,
            }
            .into_error(e)),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    async fn flush(&mut self) -> Result<()> {
        self.check_open()?;
        self.route_pending().await?;
        for bucket in self.buckets.non_empty() {
            self.send_bucket(bucket).await?;
        }
        while !self.in_flight.is_empty() {
            self.join_one().await?;
        }
        Ok(())
    }

    fn next_block_number(&self) -> u64 {
        self.next_block
            .values()
            .copied()
            .max()
            .unwrap_or(self.first_block)
            .max(self.first_block)
    }

    fn segments(&self, rest: &[&str]) -> Vec<String> {
        session_path(
            &self.info.project,
            &self.info.table,
            &self.info.session_id,
            rest,
        )
    }

    async fn info(&self) -> Result<SessionInfo> {
        let uploader = &self.uploader;
        uploader
            .client
            .session_info(&self.info.project, &self.info.table, &self.info.session_id)
            .await
    }

    async fn commit(&mut self) -> Result<CommitAck> {
        if let Lifecycle::Committed(ack) = &self.lifecycle {
            return Ok(ack.clone());
        }
        self.flush().await?;
        let ack = self.commit_with_retries().await?;
        tracing::info!(session = %ack.session_id, snapshot = ack.snapshot_id, rows = ack.rows, "committed");
        self.lifecycle = Lifecycle::Committed(ack.clone());
        Ok(ack)
    }

    /// The commit loop: POST commit; after a failure that may have landed, check the session
    /// state first and only POST again while it is still open.
    async fn commit_with_retries(&self) -> Result<CommitAck> {
        let segments = self.segments(&["commit"]);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let client = &self.uploader.client;
        let retries = self.options.commit_retries;
        let mut attempt: u32 = 0;
        // Whether an earlier POST may have committed without us hearing of it.
        let mut maybe_landed = false;
        loop {
            if maybe_landed {
                match self.info().await {
                    Ok(info) => {
                        if let Some(ack) = self.committed(&info)? {
                            return Ok(ack);
                        }
                    }
                    Err(e) if e.is_retryable() && attempt < retries => {
                        tokio::time::sleep(self.options.backoff.delay(attempt, e.retry_after()))
                            .await;
                        attempt += 1;
                        continue;
                    }
                    Err(e) => return Err(self.unknown(attempt + 1, e)),
                }
            }
            let mut call = Call::new(Method::POST, &segments);
            call.timeout = Some(self.options.commit_timeout);
            match client.send(call).await {
                Ok(answer) => return answer.decode("commit ack"),
                Err(e) if e.is_retryable() => {
                    maybe_landed = true;
                    if attempt >= retries {
                        // One last look: did it land after all?
                        if let Ok(info) = self.info().await
                            && let Some(ack) = self.committed(&info)?
                        {
                            return Ok(ack);
                        }
                        return Err(self.unknown(attempt + 1, e));
                    }
                    tracing::debug!(attempt, error = %e, "retrying commit");
                    tokio::time::sleep(self.options.backoff.delay(attempt, e.retry_after())).await;
                    attempt += 1;
                }
                Err(e) if maybe_landed => {
                    // E.g. the session is no longer open because our lost commit landed.
                    if let Ok(info) = self.info().await
                        && let Some(ack) = self.committed(&info)?
                    {
                        return Ok(ack);
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The commit ack if `info` says the session is committed; an error if it cannot be any
    /// more; `None` while it is open.
    fn committed(&self, info: &SessionInfo) -> Result<Option<CommitAck>> {
        match (info.state, info.snapshot_id) {
            (SessionState::Committed, Some(snapshot_id)) => Ok(Some(CommitAck {
                session_id: info.session_id.clone(),
                snapshot_id,
                rows: info.rows,
            })),
            (SessionState::Open, _) | (SessionState::Committed, None) => Ok(None),
            (state, _) => SessionNotOpenSnafu {
                session_id: &info.session_id,
                state: state_name(state),
                reason: "it cannot be committed",
            }
            .fail(),
        }
    }

    fn unknown(&self, attempts: u32, source: Error) -> Error {
        CommitOutcomeUnknownSnafu {
            session_id: &self.info.session_id,
            attempts,
        }
        .into_error(source)
    }

    async fn abort(&mut self) -> Result<SessionInfo> {
        if let Lifecycle::Committed(_) = self.lifecycle {
            return SessionNotOpenSnafu {
                session_id: &self.info.session_id,
                state: "committed",
                reason: "a committed session cannot be aborted",
            }
            .fail();
        }
        self.in_flight.abort_all();
        self.buckets.clear();
        let _ = self.rows.take_batch(&self.layout);
        let segments = self.segments(&["abort"]);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let mut attempt = 0;
        loop {
            match self
                .uploader
                .client
                .send(Call::new(Method::POST, &segments))
                .await
            {
                Ok(answer) => {
                    self.lifecycle = Lifecycle::Aborted;
                    return answer.decode("session info");
                }
                Err(e) if e.is_retryable() && attempt < self.options.writer_retries => {
                    tokio::time::sleep(self.options.backoff.delay(attempt, e.retry_after())).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

macro_rules! common_session_methods {
    () => {
        /// The session id (to reopen the session elsewhere).
        pub fn session_id(&self) -> &str {
            &self.writer.info.session_id
        }

        /// The session as the server described it when it was opened.
        pub fn opened_info(&self) -> &SessionInfo {
            &self.writer.info
        }

        /// The Arrow schema of blocks: the data columns (plus partition columns with dynamic
        /// partitions) and, for upsert sessions, `_op`. `write_batch` takes the same columns
        /// without `_op`, in any order, matched by name.
        pub fn block_schema(&self) -> SchemaRef {
            self.writer.layout.schema.clone()
        }

        /// Sends every buffered row and waits until all of them are acknowledged: when this
        /// returns `Ok`, every row written so far is durable on the server.
        pub async fn flush(&mut self) -> Result<()> {
            self.writer.flush().await
        }

        /// Flushes, then commits: the rows become one new snapshot. Idempotent: calling it again
        /// returns the same answer. A lost answer is re-checked, never re-applied; if that is
        /// impossible the error is [`Error::CommitOutcomeUnknown`].
        pub async fn commit(&mut self) -> Result<CommitAck> {
            self.writer.commit().await
        }

        /// Drops buffered rows and aborts the session on the server.
        pub async fn abort(&mut self) -> Result<SessionInfo> {
            self.writer.abort().await
        }

        /// The session's current state on the server (`GET …/sessions/{id}`).
        pub async fn info(&self) -> Result<SessionInfo> {
            self.writer.info().await
        }

        /// A block number above every block this writer has used: save it with the session id
        /// after a flush, and give it to [`SessionBuilder::first_block_number`] when reopening.
        pub fn next_block_number(&self) -> u64 {
            self.writer.next_block_number()
        }
    };
}

/// A session that upserts and deletes rows by primary key (Delta tables).
///
/// Rows are JSON objects (see the [crate docs](crate#json-rows) for value conventions) or
/// Arrow batches. Within the session the last write of a key wins.
#[derive(Debug)]
pub struct UpsertSession {
    writer: Writer,
}

impl UpsertSession {
    common_session_methods!();

    /// Upserts one row (a JSON object keyed by column name; missing columns are NULL).
    pub async fn upsert(&mut self, row: &(impl JsonRow + ?Sized)) -> Result<()> {
        self.writer.write_rows(&[row], RowOp::Upsert).await
    }

    /// Deletes one row by key: only the key columns (and partition columns with dynamic
    /// partitions) are read; other columns are ignored.
    pub async fn delete(&mut self, row: &(impl JsonRow + ?Sized)) -> Result<()> {
        self.writer.write_rows(&[row], RowOp::Delete).await
    }

    /// Upserts many rows; all or nothing if one is invalid (errors give its index).
    pub async fn upsert_rows<R: JsonRow>(&mut self, rows: &[R]) -> Result<()> {
        let refs: Vec<&R> = rows.iter().collect();
        self.writer.write_rows(&refs, RowOp::Upsert).await
    }

    /// Deletes many rows by key; all or nothing if one is invalid.
    pub async fn delete_rows<R: JsonRow>(&mut self, rows: &[R]) -> Result<()> {
        let refs: Vec<&R> = rows.iter().collect();
        self.writer.write_rows(&refs, RowOp::Delete).await
    }

    /// Upserts every row of an Arrow batch (the fast path). Columns are matched by name; the
    /// table's data columns are required (plus partition columns with dynamic partitions).
    pub async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write_batch(batch, RowOp::Upsert).await
    }

    /// Deletes every row of an Arrow batch by key: only key (and dynamic partition) columns
    /// are needed; other columns are ignored.
    pub async fn delete_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write_batch(batch, RowOp::Delete).await
    }
}

/// A session that appends rows as they are (standard tables). Replaying rows duplicates them.
#[derive(Debug)]
pub struct InsertSession {
    writer: Writer,
}

impl InsertSession {
    common_session_methods!();

    /// Inserts one row (a JSON object keyed by column name; missing columns are NULL).
    pub async fn insert(&mut self, row: &(impl JsonRow + ?Sized)) -> Result<()> {
        self.writer.write_rows(&[row], RowOp::Insert).await
    }

    /// Inserts many rows; all or nothing if one is invalid (errors give its index).
    pub async fn insert_rows<R: JsonRow>(&mut self, rows: &[R]) -> Result<()> {
        let refs: Vec<&R> = rows.iter().collect();
        self.writer.write_rows(&refs, RowOp::Insert).await
    }

    /// Inserts every row of an Arrow batch; columns are matched by name.
    pub async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write_batch(batch, RowOp::Insert).await
    }
}
