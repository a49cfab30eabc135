//! Errors of the engine. Each variant names the operation and the object it failed on, and maps
//! to a coarse [`ErrorKind`] that the server turns into a status and clients use to decide on
//! retries (only `Unavailable` and `Conflict` are worth retrying as they are).

use snafu::Snafu;
pub use tidewater_format::ErrorKind;

#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum Error {
    #[snafu(display("{source}"))]
    Format { source: tidewater_format::Error },

    #[snafu(display("object store {op} of '{path}' failed: {source}"))]
    Store {
        op: &'static str,
        path: String,
        source: object_store::Error,
    },

    #[snafu(display("cannot open warehouse '{location}': {reason}"))]
    InvalidLocation { location: String, reason: String },

    #[snafu(display("parquet {op} of '{path}' failed: {source}"))]
    Parquet {
        op: &'static str,
        path: String,
        source: parquet::errors::ParquetError,
    },

    #[snafu(display("{what} failed: {source}"))]
    Arrow {
        what: String,
        source: arrow_schema::ArrowError,
    },

    #[snafu(display("'{path}' is corrupted: {reason}"))]
    Corrupted { path: String, reason: String },

    #[snafu(display("project '{project}' does not exist"))]
    ProjectNotFound { project: String },

    #[snafu(display("project '{project}' already exists"))]
    ProjectExists { project: String },

    #[snafu(display("project '{project}' still holds tables ({tables}); drop them first"))]
    ProjectNotEmpty { project: String, tables: String },

    #[snafu(display("table '{project}.{table}' does not exist"))]
    TableNotFound { project: String, table: String },

    #[snafu(display("table '{project}.{table}' already exists"))]
    TableExists { project: String, table: String },

    #[snafu(display("table '{table}' has no snapshot {id}"))]
    SnapshotNotFound { table: String, id: u64 },

    #[snafu(display(
        "snapshot {id} of table '{table}' has expired: snapshots are kept for {retain_hours} hours \
         (acid.data.retain.hours); the oldest kept is {oldest}"
    ))]
    SnapshotExpired {
        table: String,
        id: u64,
        oldest: u64,
        retain_hours: u32,
    },

    #[snafu(display(
        "table '{table}' has no snapshot at or before {timestamp_ms} ms since the epoch (oldest kept: {oldest})"
    ))]
    NoSnapshotAt {
        table: String,
        timestamp_ms: i64,
        oldest: String,
    },

    #[snafu(display(
        "session '{session}' of table '{table}' does not exist (it may have expired)"
    ))]
    SessionNotFound { table: String, session: String },

    #[snafu(display(
        "session '{session}' was already committed as snapshot {snapshot}; it accepts no more rows"
    ))]
    SessionCommitted { session: String, snapshot: u64 },

    #[snafu(display("session '{session}' was aborted"))]
    SessionAborted { session: String },

    #[snafu(display(
        "{operation} needs a Delta table, and '{table}' is a standard table (create it with a PRIMARY KEY and \"transactional\"=\"true\")"
    ))]
    NotDeltaTable { table: String, operation: String },

    #[snafu(display("invalid input: {reason}"))]
    InvalidInput { reason: String },

    #[snafu(display("column '{column}': expected {expected}, got {actual}"))]
    WrongType {
        column: String,
        expected: String,
        actual: String,
    },

    #[snafu(display(
        "column '{column}' is missing from the written rows (columns are: {expected})"
    ))]
    MissingColumn { column: String, expected: String },

    #[snafu(display("column '{column}' is not a column of table '{table}'"))]
    UnknownColumn { table: String, column: String },

    #[snafu(display("row {row}: primary-key column '{column}' is NULL"))]
    NullKey { column: String, row: usize },

    #[snafu(display("row {row}: column '{column}' is declared NOT NULL but the value is NULL"))]
    NullValue { column: String, row: usize },

    #[snafu(display(
        "row {row}: column '{column}' is {declared}, but the value has {chars} characters"
    ))]
    ValueTooLong {
        column: String,
        row: usize,
        declared: String,
        chars: usize,
    },

    #[snafu(display("row {row}: partition column '{column}' {reason}"))]
    BadPartitionValue {
        column: String,
        row: usize,
        reason: String,
    },

    #[snafu(display(
        "file '{path}' was written for {file_buckets} buckets but table '{table}' has {table_buckets}"
    ))]
    BucketMismatch {
        table: String,
        path: String,
        file_buckets: u32,
        table_buckets: u32,
    },

    #[snafu(display("key hashing failed: {source}"))]
    Hash {
        source: tidewater_format::hash::HashError,
    },

    #[snafu(display("background task failed: {source}"))]
    Join { source: tokio::task::JoinError },

    #[snafu(display(
        "commit of {what} gave up after {attempts} attempts lost to concurrent commits"
    ))]
    TooManyConflicts { what: String, attempts: u32 },

    #[snafu(display(
        "commit to '{table}' conflicts: file '{path}' it replaces is no longer live (a concurrent \
         compaction or overwrite replaced it)"
    ))]
    CommitConflict { table: String, path: String },

    #[snafu(display(
        "automatic compaction of '{table}' stopped: a manual compaction of the table started"
    ))]
    CompactionSuperseded { table: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        use Error::*;
        match self {
            Format { source } => source.kind(),
            Store { source, .. } => match source {
                object_store::Error::NotFound { .. } => ErrorKind::NotFound,
                object_store::Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
                object_store::Error::Precondition { .. } => ErrorKind::Conflict,
                _ => ErrorKind::Unavailable,
            },
            InvalidLocation { .. } => ErrorKind::InvalidArgument,
            // A store error while reading a data file is the store's kind, not corruption.
            Parquet {
                source: parquet::errors::ParquetError::External(e),
                ..
            } => match e.downcast_ref::<object_store::Error>() {
                Some(object_store::Error::NotFound { .. }) => ErrorKind::NotFound,
                Some(_) => ErrorKind::Unavailable,
                None => ErrorKind::Corrupted,
            },
            Parquet { .. } | Corrupted { .. } => ErrorKind::Corrupted,
            Arrow { .. } | Join { .. } => ErrorKind::Internal,
            ProjectNotFound { .. } | TableNotFound { .. } | SnapshotNotFound { .. } => {
                ErrorKind::NotFound
            }
            NoSnapshotAt { .. } | SessionNotFound { .. } | SnapshotExpired { .. } => {
                ErrorKind::NotFound
            }
            ProjectExists { .. } | TableExists { .. } => ErrorKind::AlreadyExists,
            ProjectNotEmpty { .. } | SessionCommitted { .. } | SessionAborted { .. } => {
                ErrorKind::Conflict
            }
            TooManyConflicts { .. } | CommitConflict { .. } | CompactionSuperseded { .. } => {
                ErrorKind::Conflict
            }
            NotDeltaTable { .. }
            | InvalidInput { .. }
            | WrongType { .. }
            | MissingColumn { .. }
            | UnknownColumn { .. }
            | NullKey { .. }
            | NullValue { .. }
            | ValueTooLong { .. }
            | BadPartitionValue { .. }
            | BucketMismatch { .. }
            | Hash { .. } => ErrorKind::InvalidArgument,
        }
    }
}

impl From<tidewater_format::Error> for Error {
    fn from(source: tidewater_format::Error) -> Self {
        Error::Format { source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
