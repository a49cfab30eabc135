//! The checkpointed sink: a stream of records written to one table with exactly-once results,
//! in upsert and in insert mode, across crashes of the writer (or the server) at any moment.
//!
//! A source (files, a queue, a generator) hands records to [`Sink::upsert`] / [`Sink::delete`]
//! / [`Sink::insert`] and, from time to time, calls [`Sink::checkpoint`] with its read position
//! (any JSON value). After a restart, [`Sink::open`] resolves what the crash left behind and
//! [`Sink::resume_position`] says where the source must continue: the position of the last
//! committed checkpoint. Options are the reference connector's names ([`SinkOptions`]).
//!
//! ## Exactly-once design
//!
//! Each checkpoint's rows go into **one** write session (a dynamic-partition session on a
//! partitioned table, so one commit publishes every partition of the checkpoint atomically;
//! a static session with a full `sink.partition`). The server commits a session at most once,
//! idempotently by its id, and rows are routed by the frozen bucket hash, so each bucket's
//! blocks come from this one writer. A state file per job (`<state dir>/<job id>.json`,
//! replaced atomically and fsynced, locked by one process) orders the steps:
//!
//! ```text
//! first row of checkpoint n   create session S; state.open = [S]            (saved)
//! rows                        route by bucket hash, buffer, upload blocks (replace on retry)
//! checkpoint(n, position P)   flush S: every row is acknowledged (durable on the server)
//!                             state.pending = {n, [S], P}, open = []        (saved)  ← point of no return
//!                             commit S (idempotent; a lost answer is re-checked)
//!                             state.last = {n, [S], P, snapshot}, pending = none  (saved)
//! ```
//!
//! Recovery in [`Sink::open`]: a `pending` checkpoint is finished — each session is looked up:
//! committed → done; open → committed now (its blocks were all acknowledged before `pending`
//! was saved, and nothing is sent to it afterwards); aborted or expired (never committed) →
//! the checkpoint is dropped and the source re-reads from the previous position. Sessions in
//! `open` were never committed and never will be: they are aborted. The source then resumes
//! from `last.position`. So every row before the resume position is in exactly one committed
//! session and every row after it in none: no loss, no duplicate, in insert mode too. The
//! "commit recorded with (writer id, checkpoint id)" of the shared semantics is the state
//! file's `{job id, checkpoint n, session ids}`, checked against the server's session state.
//!
//! Where a crash can happen and what recovery does:
//!
//! | crash | state file | recovery |
//! |---|---|---|
//! | while writing rows | `open = [S]` | abort S; re-read from `last.position` |
//! | during the flush | `open = [S]` | same |
//! | after `pending` saved, before or during the commit | `pending = {n, [S], P}` | S open → commit; S committed → done; `last = P` |
//! | after the commit, before `last` saved | `pending` | S committed → done |
//!
//! A record that does not fit the table ([`SinkError::Record`]) is rejected before anything of
//! it is buffered, so skipping it is safe. Any other error leaves the sink unusable: drop it and
//! open a new one (recovery as above).

mod error;
mod options;
mod shape;
mod state;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use snafu::ResultExt;
use tidewater_format::api::{SessionState, TableInfo};

pub use error::SinkError;
pub use options::{Operation, SinkOptions, TimeZone, parse_duration, parse_size};
pub use state::{CheckpointRecord, SinkState};

use crate::client::{Client, Credentials};
use crate::session::{InsertSession, SessionBuilder, UpsertSession};
use error::{
    ClientSnafu, PartialCheckpointSnafu, PartitionLimitSnafu, RecordSnafu, Result, TableSnafu,
};
use shape::Shaper;
use state::{FORMAT_VERSION, StateFile};

/// The session of the running checkpoint.
#[derive(Debug)]
enum Writer {
    Upsert(UpsertSession),
    Insert(InsertSession),
}

impl Writer {
    fn session_id(&self) -> &str {
        match self {
            Writer::Upsert(s) => s.session_id(),
            Writer::Insert(s) => s.session_id(),
        }
    }

    async fn flush(&mut self) -> crate::Result<()> {
        match self {
            Writer::Upsert(s) => s.flush().await,
            Writer::Insert(s) => s.flush().await,
        }
    }

    async fn commit(&mut self) -> crate::Result<crate::CommitAck> {
        match self {
            Writer::Upsert(s) => s.commit().await,
            Writer::Insert(s) => s.commit().await,
        }
    }
}

/// What one record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Upsert by key (upsert mode) or append (insert mode).
    Upsert,
    /// Delete by key (upsert mode only).
    Delete,
}

/// A checkpointed, exactly-once writer into one table. See the module docs.
#[derive(Debug)]
pub struct Sink {
    client: Client,
    options: SinkOptions,
    table: TableInfo,
    shaper: Shaper,
    file: StateFile,
    state: SinkState,
    writer: Option<Writer>,
    /// Partitions written in the running checkpoint (dynamic partitions).
    partitions: HashSet<String>,
    rows_in_checkpoint: u64,
    /// A checkpoint is prepared (flushed, recorded) but not committed yet.
    prepared: bool,
    /// A non-record error happened: the sink must be reopened.
    failed: bool,
}

impl SinkOptions {
    /// A client for `endpoint` (or `fallback_endpoint` when the options name none), with the
    /// options' credentials or else those of the environment.
    pub fn client(&self, fallback_endpoint: Option<&str>) -> crate::Result<Client> {
        let endpoint = self
            .endpoint
            .as_deref()
            .or(fallback_endpoint)
            .ok_or_else(|| crate::Error::InvalidEndpoint {
                endpoint: String::new(),
                reason: "no endpoint: set the 'endpoint' (or 'odps.end.point') option".to_string(),
            })?;
        let credentials = match &self.credentials {
            Some(c) => c.clone(),
            None => Credentials::from_env()?,
        };
        Client::new(endpoint, credentials)
    }
}

impl Sink {
    /// Opens the sink of job `job_id` (its state in `state_dir`), checks the table against the
    /// options, and recovers from an earlier run of the job. Fails if another process runs it.
    pub async fn open(
        client: Client,
        options: SinkOptions,
        state_dir: &Path,
        job_id: &str,
    ) -> Result<Sink> {
        let table = client
            .describe_table(&options.project, &options.table)
            .await
            .context(ClientSnafu {
                op: format!("describing table {}.{}", options.project, options.table),
            })?;
        let table_error = |reason: String| {
            TableSnafu {
                project: &options.project,
                table: &options.table,
                reason,
            }
            .fail()
        };
        let delta = table.kind == "delta";
        if options.operation == Operation::Upsert && !delta {
            return table_error(
                "sink.operation=upsert needs a Delta table (transactional, with a primary key); use insert"
                    .to_string(),
            );
        }
        if let Some(n) = options.bucket_num
            && n != table.bucket_num
        {
            return table_error(format!(
                "upsert.write.bucket.num is {n} but the table's write.bucket.num is {}; they must be equal",
                table.bucket_num
            ));
        }
        if options.major_compact {
            tracing::warn!(
                "upsert.major-compact.enable: the server has no compaction API yet; ignored"
            );
        }
        let shaper = match Shaper::new(
            &table.schema,
            &options.partition,
            &options.partition_default_value,
            options.time_zone.clone(),
        ) {
            Ok(s) => s,
            Err(reason) => return table_error(format!("sink.partition: {reason}")),
        };
        let (file, existing) = StateFile::open(state_dir, job_id)?;
        let state = match existing {
            Some(state) => {
                if !state.project.eq_ignore_ascii_case(&options.project)
                    || !state.table.eq_ignore_ascii_case(&options.table)
                    || state.operation != options.operation.name()
                {
                    return error::StateSnafu {
                        path: file.path.clone(),
                        reason: format!(
                            "job '{job_id}' writes {}.{} ({}), not {}.{} ({}): use another job id",
                            state.project,
                            state.table,
                            state.operation,
                            options.project,
                            options.table,
                            options.operation.name()
                        ),
                    }
                    .fail();
                }
                state
            }
            None => SinkState {
                format_version: FORMAT_VERSION,
                job_id: job_id.to_string(),
                project: options.project.clone(),
                table: options.table.clone(),
                operation: options.operation.name().to_string(),
                last: None,
                pending: None,
                open: Vec::new(),
            },
        };
        let mut sink = Sink {
            client,
            options,
            table,
            shaper,
            file,
            state,
            writer: None,
            partitions: HashSet::new(),
            rows_in_checkpoint: 0,
            prepared: false,
            failed: false,
        };
        sink.recover().await?;
        Ok(sink)
    }

    /// Where the source continues: the position of the last committed checkpoint (`None`: from
    /// the start).
    pub fn resume_position(&self) -> Option<&Value> {
        self.state.last.as_ref().map(|c| &c.position)
    }

    /// The last committed checkpoint.
    pub fn last_checkpoint(&self) -> Option<&CheckpointRecord> {
        self.state.last.as_ref()
    }

    pub fn table(&self) -> &TableInfo {
        &self.table
    }

    pub fn options(&self) -> &SinkOptions {
        &self.options
    }

    pub fn state_path(&self) -> &PathBuf {
        &self.file.path
    }

    /// Rows accepted since the last checkpoint.
    pub fn rows_in_checkpoint(&self) -> u64 {
        self.rows_in_checkpoint
    }

    /// Finishes a pending checkpoint and aborts sessions of an unfinished one.
    async fn recover(&mut self) -> Result<()> {
        let (project, table) = (self.options.project.clone(), self.options.table.clone());
        if let Some(mut pending) = self.state.pending.clone() {
            let mut committed: Option<(u64, u64)> = None;
            let mut lost: Option<(String, SessionState)> = None;
            for id in &pending.sessions {
                let info = self
                    .client
                    .session_info(&project, &table, id)
                    .await
                    .context(ClientSnafu {
                        op: format!(
                            "looking up session {id} of checkpoint {}",
                            pending.checkpoint
                        ),
                    })?;
                match (info.state, info.snapshot_id) {
                    (SessionState::Committed, Some(snapshot)) => {
                        committed = Some((snapshot, info.rows));
                    }
                    (SessionState::Open, _) | (SessionState::Committed, None) => {
                        let ack = self.commit_by_id(id).await?;
                        committed = Some((ack.snapshot_id, ack.rows));
                    }
                    (state, _) => lost = Some((id.clone(), state)),
                }
            }
            match (lost, committed) {
                (None, c) => {
                    tracing::info!(
                        checkpoint = pending.checkpoint,
                        "recovered a checkpoint whose commit was cut short: committed"
                    );
                    if let Some((snapshot, rows)) = c {
                        pending.snapshot_id = Some(snapshot);
                        pending.rows = rows;
                    }
                    pending.committed_ms = Some(chrono::Utc::now().timestamp_millis());
                    self.state.last = Some(pending);
                }
                (Some((id, state)), None) => {
                    tracing::warn!(
                        checkpoint = pending.checkpoint,
                        session = %id,
                        ?state,
                        "a prepared checkpoint can no longer be committed: its rows are read again"
                    );
                }
                (Some((id, state)), Some(_)) => {
                    return PartialCheckpointSnafu {
                        checkpoint: pending.checkpoint,
                        session_id: id,
                        state: format!("{state:?}").to_lowercase(),
                        path: self.file.path.clone(),
                    }
                    .fail();
                }
            }
            self.state.pending = None;
        }
        let open = std::mem::take(&mut self.state.open);
        for id in open {
            // Never committed (not pending): abort, best effort; an open leftover expires anyway.
            if let Err(e) = self.abort_by_id(&id).await {
                tracing::warn!(session = %id, error = %e, "could not abort an unfinished session");
            }
        }
        self.file.save(&self.state)
    }

    async fn commit_by_id(&self, id: &str) -> Result<crate::CommitAck> {
        let (p, t) = (&self.options.project, &self.options.table);
        let op = || format!("committing session {id} of a prepared checkpoint");
        let ack = match self.options.operation {
            Operation::Upsert => {
                let b = self.tune(self.client.open_upsert_session(p, t, id));
                b.open()
                    .await
                    .context(ClientSnafu { op: op() })?
                    .commit()
                    .await
            }
            Operation::Insert => {
                let b = self.tune(self.client.open_insert_session(p, t, id));
                b.open()
                    .await
                    .context(ClientSnafu { op: op() })?
                    .commit()
                    .await
            }
        };
        ack.context(ClientSnafu { op: op() })
    }

    async fn abort_by_id(&self, id: &str) -> crate::Result<()> {
        let (p, t) = (&self.options.project, &self.options.table);
        let info = self.client.session_info(p, t, id).await?;
        if info.state != SessionState::Open {
            return Ok(());
        }
        match self.options.operation {
            Operation::Upsert => {
                self.client
                    .open_upsert_session(p, t, id)
                    .open()
                    .await?
                    .abort()
                    .await?;
            }
            Operation::Insert => {
                self.client
                    .open_insert_session(p, t, id)
                    .open()
                    .await?
                    .abort()
                    .await?;
            }
        }
        Ok(())
    }

    fn tune<S>(&self, b: SessionBuilder<S>) -> SessionBuilder<S> {
        let o = &self.options;
        b.bucket_buffer_bytes(o.bucket_buffer_bytes)
            .total_buffer_bytes(o.total_buffer_bytes)
            .flush_concurrency(o.flush_concurrent)
            .writer_retries(o.writer_retries)
            .commit_retries(o.commit_retries)
            .commit_timeout(o.commit_timeout)
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return error::StateSnafu {
                path: self.file.path.clone(),
                reason: "an earlier error stopped this sink: open it again to recover".to_string(),
            }
            .fail();
        }
        Ok(())
    }

    /// Upserts a record (insert mode: appends it).
    pub async fn upsert(&mut self, record: &Map<String, Value>) -> Result<()> {
        self.write(record, Change::Upsert).await
    }

    /// Appends a record (the same as [`Sink::upsert`]; reads better in insert mode).
    pub async fn insert(&mut self, record: &Map<String, Value>) -> Result<()> {
        self.write(record, Change::Upsert).await
    }

    /// Deletes by key (upsert mode only).
    pub async fn delete(&mut self, record: &Map<String, Value>) -> Result<()> {
        self.write(record, Change::Delete).await
    }

    /// Writes one record. [`SinkError::Record`] and [`SinkError::PartitionLimit`] leave the
    /// sink usable (nothing of the record was buffered); other errors do not.
    pub async fn write(&mut self, record: &Map<String, Value>, change: Change) -> Result<()> {
        self.check_usable()?;
        if self.prepared {
            return error::StateSnafu {
                path: self.file.path.clone(),
                reason: "a prepared checkpoint must be committed before more rows".to_string(),
            }
            .fail();
        }
        if change == Change::Delete && self.options.operation == Operation::Insert {
            return RecordSnafu {
                reason: "a delete needs sink.operation=upsert".to_string(),
            }
            .fail();
        }
        let (row, partition) = match self.shaper.shape(record) {
            Ok(shaped) => shaped,
            Err(reason) => return RecordSnafu { reason }.fail(),
        };
        if self.shaper.dynamic()
            && !self.partitions.contains(&partition)
            && self.partitions.len() >= self.options.dynamic_partition_limit
        {
            return PartitionLimitSnafu {
                partition,
                limit_plus_one: self.partitions.len() + 1,
            }
            .fail();
        }
        if self.writer.is_none() {
            self.start_session().await?;
        }
        let result = match (self.writer.as_mut(), change) {
            (Some(Writer::Upsert(s)), Change::Upsert) => s.upsert(&row).await,
            (Some(Writer::Upsert(s)), Change::Delete) => s.delete(&row).await,
            (Some(Writer::Insert(s)), _) => s.insert(&row).await,
            // start_session sets the writer or fails.
            (None, _) => return Ok(()),
        };
        match result {
            Ok(()) => {
                if self.shaper.dynamic() {
                    self.partitions.insert(partition);
                }
                self.rows_in_checkpoint += 1;
                Ok(())
            }
            // Checked before anything of the row was buffered.
            Err(crate::Error::InvalidValue { column, reason, .. }) => RecordSnafu {
                reason: format!("column '{column}': {reason}"),
            }
            .fail(),
            Err(crate::Error::InvalidInput { reason, .. }) => RecordSnafu { reason }.fail(),
            Err(e) => {
                self.failed = true;
                Err(e).context(ClientSnafu {
                    op: "writing rows".to_string(),
                })
            }
        }
    }

    async fn start_session(&mut self) -> Result<()> {
        let (p, t) = (&self.options.project, &self.options.table);
        let op = || format!("opening a write session on {p}.{t}");
        let writer = match self.options.operation {
            Operation::Upsert => {
                let mut b = self.tune(self.client.upsert_session(p, t));
                if let Some(spec) = &self.shaper.static_spec {
                    b = b.partition(spec.clone());
                } else if self.shaper.dynamic() {
                    b = b.dynamic_partitions();
                }
                Writer::Upsert(b.open().await.context(ClientSnafu { op: op() })?)
            }
            Operation::Insert => {
                let mut b = self.tune(self.client.insert_session(p, t));
                if let Some(spec) = &self.shaper.static_spec {
                    b = b.partition(spec.clone());
                } else if self.shaper.dynamic() {
                    b = b.dynamic_partitions();
                }
                Writer::Insert(b.open().await.context(ClientSnafu { op: op() })?)
            }
        };
        self.state.open = vec![writer.session_id().to_string()];
        self.writer = Some(writer);
        if let Err(e) = self.file.save(&self.state) {
            self.failed = true;
            return Err(e);
        }
        Ok(())
    }

    fn next_checkpoint_id(&self) -> u64 {
        self.state.last.as_ref().map_or(0, |c| c.checkpoint) + 1
    }

    /// Phase one of a checkpoint: flushes every row (all acknowledged by the server) and records
    /// the checkpoint, its sessions and `position` as pending. From here on the checkpoint
    /// is committed — now by [`Sink::commit_prepared`], or by the recovery of the next
    /// [`Sink::open`] if this process dies.
    pub async fn prepare(&mut self, position: Value) -> Result<()> {
        self.check_usable()?;
        if self.prepared {
            return Ok(());
        }
        let mut sessions = Vec::new();
        if let Some(writer) = self.writer.as_mut() {
            if let Err(e) = writer.flush().await {
                self.failed = true;
                return Err(e).context(ClientSnafu {
                    op: format!("flushing checkpoint {}", self.next_checkpoint_id()),
                });
            }
            sessions.push(writer.session_id().to_string());
        }
        self.state.pending = Some(CheckpointRecord {
            checkpoint: self.next_checkpoint_id(),
            sessions,
            position,
            snapshot_id: None,
            rows: 0,
            committed_ms: None,
        });
        self.state.open.clear();
        if let Err(e) = self.file.save(&self.state) {
            self.failed = true;
            return Err(e);
        }
        self.prepared = true;
        Ok(())
    }

    /// Phase two: commits the prepared checkpoint (one commit for all its partitions) and
    /// records it as the last one. Returns `None` if nothing was prepared.
    pub async fn commit_prepared(&mut self) -> Result<Option<CheckpointRecord>> {
        self.check_usable()?;
        let Some(mut record) = self.state.pending.clone().filter(|_| self.prepared) else {
            return Ok(None);
        };
        if let Some(mut writer) = self.writer.take() {
            match writer.commit().await {
                Ok(ack) => {
                    record.snapshot_id = Some(ack.snapshot_id);
                    record.rows = ack.rows;
                }
                Err(e) => {
                    // Outcome unknown or refused: the next open resolves it by session state.
                    self.failed = true;
                    return Err(e).context(ClientSnafu {
                        op: format!("committing checkpoint {}", record.checkpoint),
                    });
                }
            }
        }
        record.committed_ms = Some(chrono::Utc::now().timestamp_millis());
        self.state.last = Some(record.clone());
        self.state.pending = None;
        if let Err(e) = self.file.save(&self.state) {
            self.failed = true;
            return Err(e);
        }
        self.prepared = false;
        self.partitions.clear();
        self.rows_in_checkpoint = 0;
        Ok(Some(record))
    }

    /// A whole checkpoint: [`Sink::prepare`] then [`Sink::commit_prepared`]. `position` is
    /// what the source needs to resume after the last record written.
    pub async fn checkpoint(&mut self, position: Value) -> Result<CheckpointRecord> {
        self.prepare(position).await?;
        self.commit_prepared().await?.ok_or_else(|| {
            error::StateSnafu {
                path: self.file.path.clone(),
                reason: "the prepared checkpoint vanished".to_string(),
            }
            .build()
        })
    }
}
