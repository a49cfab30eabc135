//! Errors of the `tidewater` command. Each variant says which operation failed on what; usage
//! errors (bad parameters, a mode that does not exist yet) exit with 2 like clap's own usage
//! errors, everything else with 1.

use std::path::PathBuf;

use snafu::Snafu;

#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum Error {
    #[snafu(display("{what} is not available yet: {reason}"))]
    NotAvailable { what: String, reason: String },

    #[snafu(display("invalid bench parameters: {reason}"))]
    InvalidParams { reason: String },

    #[snafu(display("{op} failed: {source}"))]
    Engine {
        op: String,
        #[snafu(source(from(tidewater_engine::Error, Box::new)))]
        source: Box<tidewater_engine::Error>,
    },

    #[snafu(display("{op} failed: {source}"))]
    Format {
        op: String,
        #[snafu(source(from(tidewater_format::Error, Box::new)))]
        source: Box<tidewater_format::Error>,
    },

    #[snafu(display("{op} failed: {source}"))]
    Client {
        op: String,
        #[snafu(source(from(tidewater_client::Error, Box::new)))]
        source: Box<tidewater_client::Error>,
    },

    #[snafu(display("the answer to `{query}` is not what the workload expects: {reason}"))]
    Answer { query: String, reason: String },

    #[snafu(display("starting `tidewater serve` failed: {reason}"))]
    ServerStart { reason: String },

    #[snafu(display("{what} failed: {source}"))]
    Arrow {
        what: String,
        source: arrow_schema::ArrowError,
    },

    #[snafu(display("{op} '{}' failed: {source}", path.display()))]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[snafu(display("starting the async runtime failed: {source}"))]
    Runtime { source: std::io::Error },

    #[snafu(display("encoding the report failed: {source}"))]
    Json { source: serde_json::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotAvailable { .. } | Error::InvalidParams { .. } => 2,
            _ => 1,
        }
    }
}
