//! Errors of the sink. Options and table checks fail at start; a bad record is its own variant
//! ([`SinkError::Record`]) so a caller can skip it (nothing of it was buffered) while every other
//! error stops the writer — a restarted sink recovers from its state file.

use std::path::PathBuf;

use snafu::Snafu;

#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum SinkError {
    #[snafu(display("unknown sink option '{option}'{hint}"))]
    UnknownOption { option: String, hint: String },

    #[snafu(display("sink option '{option}': {reason}"))]
    InvalidOption { option: String, reason: String },

    /// The table does not fit the options (upsert on a standard table, bucket numbers, …).
    #[snafu(display("table {project}.{table}: {reason}"))]
    Table {
        project: String,
        table: String,
        reason: String,
    },

    /// One record cannot be written: nothing of it was buffered; the sink goes on.
    #[snafu(display("{reason}"))]
    Record { reason: String },

    /// The record would make this checkpoint write more than `sink.dynamic-partition.limit`
    /// partitions: checkpoint, then write it again. Nothing of it was buffered.
    #[snafu(display(
        "partition {partition} would be partition number {limit_plus_one} of this checkpoint (sink.dynamic-partition.limit): checkpoint first"
    ))]
    PartitionLimit {
        partition: String,
        limit_plus_one: usize,
    },

    #[snafu(display("{op}: {source}"))]
    Client {
        op: String,
        #[snafu(source(from(crate::Error, Box::new)))]
        source: Box<crate::Error>,
    },

    #[snafu(display("{op} '{}': {source}", path.display()))]
    StateIo {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[snafu(display("sink state '{}': {reason}", path.display()))]
    State { path: PathBuf, reason: String },

    /// Recovery found a checkpoint some of whose sessions committed while others can no
    /// longer be: exactly-once cannot be restored automatically.
    #[snafu(display(
        "checkpoint {checkpoint} is partly committed: session {session_id} is {state}; the state file '{}' needs a person",
        path.display()
    ))]
    PartialCheckpoint {
        checkpoint: u64,
        session_id: String,
        state: String,
        path: PathBuf,
    },
}

impl SinkError {
    /// Whether the error is about one record only (skip it and go on).
    pub fn is_record_error(&self) -> bool {
        matches!(self, SinkError::Record { .. })
    }
}

pub type Result<T, E = SinkError> = std::result::Result<T, E>;
