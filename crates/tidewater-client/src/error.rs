//! Errors of the client. Every error says which call failed on what, and has a coarse
//! [`ErrorKind`] plus [`Error::is_retryable`], which the client's own retry loops use and callers
//! can use the same way.
//!
//! Invariants: an error built from a server answer carries the server's kind, message and
//! `retryable` flag unchanged; an error after a commit request was sent but before its answer
//! arrived is never reported as a plain failure — it is re-checked, and if that is impossible it
//! is [`Error::CommitOutcomeUnknown`].

use std::time::Duration;

use snafu::Snafu;

/// Coarse error kinds: those of [`tidewater_format::ErrorKind`] plus the two authentication
/// outcomes only a server produces.
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
    /// Missing or bad signature, unknown access id, clock skew (HTTP 401).
    Unauthenticated,
    /// The access id may not do this (HTTP 403).
    PermissionDenied,
}

impl ErrorKind {
    /// The kind named by an [`tidewater_format::api::ErrorDetail::kind`] string.
    pub fn from_wire(kind: &str) -> Option<Self> {
        Some(match kind {
            "NotFound" => ErrorKind::NotFound,
            "AlreadyExists" => ErrorKind::AlreadyExists,
            "InvalidArgument" => ErrorKind::InvalidArgument,
            "Conflict" => ErrorKind::Conflict,
            "Unavailable" => ErrorKind::Unavailable,
            "ResourceExhausted" => ErrorKind::ResourceExhausted,
            "Corrupted" => ErrorKind::Corrupted,
            "Internal" => ErrorKind::Internal,
            "Unauthenticated" => ErrorKind::Unauthenticated,
            "PermissionDenied" => ErrorKind::PermissionDenied,
            _ => return None,
        })
    }

    /// The kind an HTTP error status stands for, when the body does not say.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 413 | 422 => ErrorKind::InvalidArgument,
            401 => ErrorKind::Unauthenticated,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            429 => ErrorKind::ResourceExhausted,
            502..=504 => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}

impl From<tidewater_format::ErrorKind> for ErrorKind {
    fn from(kind: tidewater_format::ErrorKind) -> Self {
        use tidewater_format::ErrorKind as F;
        match kind {
            F::NotFound => ErrorKind::NotFound,
            F::AlreadyExists => ErrorKind::AlreadyExists,
            F::InvalidArgument => ErrorKind::InvalidArgument,
            F::Conflict => ErrorKind::Conflict,
            F::Unavailable => ErrorKind::Unavailable,
            F::ResourceExhausted => ErrorKind::ResourceExhausted,
            F::Corrupted => ErrorKind::Corrupted,
            F::Internal => ErrorKind::Internal,
            F::PermissionDenied => ErrorKind::PermissionDenied,
        }
    }
}

#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum Error {
    #[snafu(display("invalid endpoint '{endpoint}': {reason}"))]
    InvalidEndpoint { endpoint: String, reason: String },

    #[snafu(display("environment variable {var} is not set (the AccessKey {what})"))]
    MissingCredentials {
        var: &'static str,
        what: &'static str,
    },

    #[snafu(display("cannot build the HTTP client: {source}"))]
    BuildHttpClient { source: reqwest::Error },

    #[snafu(display("{method} {path}: request failed before an answer arrived: {source}"))]
    Transport {
        method: String,
        path: String,
        source: reqwest::Error,
    },

    /// The server answered with an error body.
    #[snafu(display("{method} {path}: {status} {kind:?}: {message}"))]
    Api {
        method: String,
        path: String,
        status: u16,
        kind: ErrorKind,
        message: String,
        retryable: bool,
        retry_after: Option<Duration>,
    },

    /// The server (or a proxy) answered with an error status and a body that is not an
    /// [`tidewater_format::api::ErrorBody`].
    #[snafu(display("{method} {path}: HTTP {status}: {body}"))]
    UnexpectedStatus {
        method: String,
        path: String,
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },

    #[snafu(display("{method} {path}: cannot decode the answer ({what}): {source}"))]
    DecodeAnswer {
        method: String,
        path: String,
        what: &'static str,
        source: serde_json::Error,
    },

    #[snafu(display("{method} {path}: cannot decode the Arrow answer: {source}"))]
    DecodeArrow {
        method: String,
        path: String,
        source: arrow::error::ArrowError,
    },

    #[snafu(display("cannot encode {what} as JSON: {source}"))]
    EncodeJson {
        what: &'static str,
        source: serde_json::Error,
    },

    #[snafu(display("cannot encode a block of bucket {bucket}: {source}"))]
    EncodeBlock {
        bucket: u32,
        source: arrow::error::ArrowError,
    },

    #[snafu(display(
        "one row of bucket {bucket} encodes to {bytes} bytes, more than the server's block limit of {max} bytes"
    ))]
    RowTooLarge { bucket: u32, bytes: usize, max: u64 },

    /// A value of a row (JSON or Arrow) does not fit the table. Nothing of the call that
    /// passed it was buffered.
    #[snafu(display("row {row}: column '{column}': {reason}"))]
    InvalidValue {
        row: usize,
        column: String,
        reason: String,
    },

    /// A row or batch does not fit the table as a whole (not a JSON object, unknown or missing
    /// column). Nothing of the call that passed it was buffered.
    #[snafu(display("invalid input for table '{table}': {reason}"))]
    InvalidInput { table: String, reason: String },

    #[snafu(display("cannot route rows of table '{table}' to buckets: {reason}"))]
    Routing { table: String, reason: String },

    #[snafu(display("session option {option}: {reason}"))]
    InvalidOption {
        option: &'static str,
        reason: String,
    },

    #[snafu(display("session {session_id} is {state}: {reason}"))]
    SessionNotOpen {
        session_id: String,
        state: String,
        reason: &'static str,
    },

    /// An earlier block of this session failed for good (its rows are lost on the client side),
    /// so the session cannot be committed correctly. Abort it and write again.
    #[snafu(display(
        "session {session_id} cannot continue: an earlier block failed ({kind:?}): {message}"
    ))]
    SessionFailed {
        session_id: String,
        kind: ErrorKind,
        message: String,
    },

    #[snafu(display("a background block upload of session {session_id} stopped: {source}"))]
    BlockTask {
        session_id: String,
        source: tokio::task::JoinError,
    },

    /// The commit may or may not have happened: its answer was lost and re-checking failed.
    /// Check with [`crate::Client::session_info`] (`state` and `snapshot_id`) before
    /// doing anything else; committing the same session again is safe (it is idempotent).
    #[snafu(display(
        "commit of session {session_id}: outcome unknown after {attempts} attempts: {source}"
    ))]
    CommitOutcomeUnknown {
        session_id: String,
        attempts: u32,
        #[snafu(source(from(Error, Box::new)))]
        source: Box<Error>,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidEndpoint { .. }
            | Error::MissingCredentials { .. }
            | Error::InvalidValue { .. }
            | Error::InvalidInput { .. }
            | Error::InvalidOption { .. }
            | Error::RowTooLarge { .. } => ErrorKind::InvalidArgument,
            Error::Routing { .. } => ErrorKind::InvalidArgument,
            Error::BuildHttpClient { .. }
            | Error::EncodeJson { .. }
            | Error::EncodeBlock { .. }
            | Error::BlockTask { .. } => ErrorKind::Internal,
            Error::Transport { .. } | Error::CommitOutcomeUnknown { .. } => ErrorKind::Unavailable,
            Error::Api { kind, .. } | Error::SessionFailed { kind, .. } => *kind,
            Error::UnexpectedStatus { status, .. } => ErrorKind::from_status(*status),
            Error::DecodeAnswer { .. } | Error::DecodeArrow { .. } => ErrorKind::Corrupted,
            Error::SessionNotOpen { .. } => ErrorKind::Conflict,
        }
    }

    /// Whether sending the same request again may succeed: transport errors, HTTP 429 and 503
    /// always; other server errors when the server says so (never 400/401/403/404/409/413).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { source, .. } => !source.is_builder(),
            Error::Api {
                status, retryable, ..
            } => status_is_retryable(*status, *retryable),
            Error::UnexpectedStatus { status, .. } => status_is_retryable(*status, false),
            _ => false,
        }
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } | Error::UnexpectedStatus { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The HTTP status of a server answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::UnexpectedStatus { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn status_is_retryable(status: u16, server_says: bool) -> bool {
    match status {
        429 | 502 | 503 | 504 => true,
        400..=499 => false,
        _ => server_says,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, retryable: bool) -> Error {
        Error::Api {
            method: "PUT".into(),
            path: "/v1/x".into(),
            status,
            kind: ErrorKind::from_status(status),
            message: "m".into(),
            retryable,
            retry_after: None,
        }
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        assert!(api(429, false).is_retryable());
        assert!(api(503, false).is_retryable());
        assert!(api(500, true).is_retryable());
        assert!(!api(500, false).is_retryable());
        for status in [400, 401, 403, 404, 409, 413] {
            assert!(!api(status, true).is_retryable(), "{status}");
        }
    }

    #[test]
    fn wire_kinds_round_trip() {
        for k in [
            "NotFound",
            "AlreadyExists",
            "InvalidArgument",
            "Conflict",
            "Unavailable",
            "ResourceExhausted",
            "Corrupted",
            "Internal",
            "Unauthenticated",
            "PermissionDenied",
        ] {
            let kind = ErrorKind::from_wire(k).unwrap();
            assert_eq!(format!("{kind:?}"), k);
        }
        assert_eq!(ErrorKind::from_wire("Nope"), None);
    }
}
