//! Errors of SQL statements. Each says what was wrong with the statement in the user's words;
//! engine and DataFusion errors are carried with their own message (DataFusion's wrapping of our
//! own errors is peeled off so users read the engine's precise reason).

use datafusion::error::DataFusionError;
use snafu::Snafu;
pub use tidewater_format::ErrorKind;

#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum Error {
    #[snafu(display("{source}"))]
    Engine { source: tidewater_engine::Error },

    #[snafu(display("{source}"))]
    Format { source: tidewater_format::Error },

    #[snafu(display("{}", datafusion_message(source)))]
    DataFusion { source: DataFusionError },

    #[snafu(display("syntax error: {reason}"))]
    Syntax { reason: String },

    #[snafu(display("unsupported statement: {what}"))]
    Unsupported { what: String },

    #[snafu(display("{reason}"))]
    Invalid { reason: String },

    #[snafu(display("permission denied: {reason}"))]
    PermissionDenied { reason: String },

    #[snafu(display("column '{column}' is {expected}, but the value is {actual}{hint}"))]
    TypeMismatch {
        column: String,
        expected: String,
        actual: String,
        hint: String,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Engine { source } => source.kind(),
            Error::Format { source } => source.kind(),
            Error::DataFusion { source } => match root(source) {
                Root::Engine(e) => e.kind(),
                Root::Sql(e) => e.kind(),
                Root::Other => match source {
                    DataFusionError::ResourcesExhausted(_) => ErrorKind::ResourceExhausted,
                    DataFusionError::Internal(_) => ErrorKind::Internal,
                    _ => ErrorKind::InvalidArgument,
                },
            },
            Error::Syntax { .. }
            | Error::Unsupported { .. }
            | Error::Invalid { .. }
            | Error::TypeMismatch { .. } => ErrorKind::InvalidArgument,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Error {
        Error::Invalid {
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(what: impl Into<String>) -> Error {
        Error::Unsupported { what: what.into() }
    }

    pub(crate) fn syntax(reason: impl Into<String>) -> Error {
        Error::Syntax {
            reason: reason.into(),
        }
    }
}

impl From<tidewater_engine::Error> for Error {
    fn from(source: tidewater_engine::Error) -> Self {
        Error::Engine { source }
    }
}

impl From<tidewater_format::Error> for Error {
    fn from(source: tidewater_format::Error) -> Self {
        Error::Format { source }
    }
}

impl From<DataFusionError> for Error {
    fn from(source: DataFusionError) -> Self {
        match source {
            // Our own errors, passed through DataFusion: unwrap them.
            DataFusionError::External(e) => match e.downcast::<Error>() {
                Ok(e) => *e,
                Err(e) => match e.downcast::<tidewater_engine::Error>() {
                    Ok(e) => Error::Engine { source: *e },
                    Err(e) => Error::DataFusion {
                        source: DataFusionError::External(e),
                    },
                },
            },
            source => Error::DataFusion { source },
        }
    }
}

impl From<sqlparser_error::ParserError> for Error {
    fn from(e: sqlparser_error::ParserError) -> Self {
        let reason = match e {
            sqlparser_error::ParserError::TokenizerError(s)
            | sqlparser_error::ParserError::ParserError(s) => s,
            sqlparser_error::ParserError::RecursionLimitExceeded => {
                "the statement nests too deeply".to_string()
            }
        };
        Error::Syntax { reason }
    }
}

mod sqlparser_error {
    pub use datafusion::sql::sqlparser::parser::ParserError;
}

/// Wraps our error for DataFusion (table providers, execution plans).
pub(crate) fn to_df(e: impl Into<Error>) -> DataFusionError {
    DataFusionError::External(Box::new(e.into()))
}

enum Root<'a> {
    Engine(&'a tidewater_engine::Error),
    Sql(&'a Error),
    Other,
}

fn root(e: &DataFusionError) -> Root<'_> {
    match e.find_root() {
        DataFusionError::External(inner) => {
            if let Some(e) = inner.downcast_ref::<Error>() {
                Root::Sql(e)
            } else if let Some(e) = inner.downcast_ref::<tidewater_engine::Error>() {
                Root::Engine(e)
            } else {
                Root::Other
            }
        }
        _ => Root::Other,
    }
}

/// DataFusion's message without its wrapping of our own errors.
fn datafusion_message(e: &DataFusionError) -> String {
    match root(e) {
        Root::Engine(e) => e.to_string(),
        Root::Sql(e) => e.to_string(),
        Root::Other => e
            .find_root()
            .to_string()
            .trim_start_matches("Error during planning: ")
            .trim_start_matches("Execution error: ")
            .trim_start_matches("Schema error: ")
            .trim_start_matches("This feature is not implemented: ")
            .trim_start_matches("Arrow error: ")
            .to_string(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
