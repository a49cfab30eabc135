//! Errors of the format crate. Every error names what was wrong and where (column, property,
//! name), and has a coarse [`ErrorKind`] that servers map to a status and clients use to decide on
//! retries.

use snafu::Snafu;

/// Coarse error kinds shared by every Tidewater crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidArgument,
    Conflict,
    Unavailable,
    ResourceExhausted,
    Corrupted,
    Internal,
    /// The caller's credentials do not allow the operation.
    PermissionDenied,
}

#[derive(Debug, Snafu)]
#[snafu(visibility(pub))]
pub enum Error {
    #[snafu(display("invalid type '{text}': {reason}"))]
    InvalidType { text: String, reason: String },

    #[snafu(display("invalid {what} name '{name}': {reason}"))]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },

    #[snafu(display("invalid schema: {reason}"))]
    InvalidSchema { reason: String },

    #[snafu(display("table property '{property}': {reason}"))]
    InvalidProperty { property: String, reason: String },

    #[snafu(display("invalid partition spec '{spec}': {reason}"))]
    InvalidPartition { spec: String, reason: String },

    #[snafu(display("cannot decode {what}: {source}"))]
    Decode {
        what: String,
        source: serde_json::Error,
    },

    #[snafu(display("cannot encode {what}: {source}"))]
    Encode {
        what: String,
        source: serde_json::Error,
    },

    #[snafu(display(
        "{what} has format version {version}, newer than this build supports ({supported})"
    ))]
    UnsupportedVersion {
        what: String,
        version: u32,
        supported: u32,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Decode { .. } | Error::UnsupportedVersion { .. } => ErrorKind::Corrupted,
            Error::Encode { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
