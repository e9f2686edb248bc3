//! How a request is refused: a machine-readable [`ErrorKind`] and a message for
//! the operator. FIB errors map onto kinds here, once, for every handler.

use fib::FibError;
use serde::{Deserialize, Serialize};

/// The machine-readable class of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not JSON, or not the envelope (`v`, `id`, `request`).
    Malformed,
    /// `v` is not a version this daemon speaks.
    UnsupportedVersion,
    /// The request name is not known.
    UnknownRequest,
    /// The request's arguments are wrong (type, range, unknown field, unknown port).
    InvalidArgument,
    NotFound,
    AlreadyExists,
    InUse,
    /// A capacity is exhausted (nexthop ids, table memory, clients).
    Limit,
    /// The line exceeded the server's maximum length.
    TooLong,
    /// The daemon cannot do this now (e.g. a core is still starting); retrying may help.
    Busy,
    /// Known but not implemented by this daemon.
    Unsupported,
    Internal,
    /// A kind newer than this client; the message still says what happened.
    #[serde(other)]
    Other,
}

/// An error response's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ErrorReply {
    pub kind: ErrorKind,
    pub message: String,
}

impl ErrorReply {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorReply {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
}

impl From<&FibError> for ErrorReply {
    fn from(e: &FibError) -> Self {
        let kind = match e {
            FibError::UnknownTable(_)
            | FibError::UnknownNexthop(_)
            | FibError::NoSuchRoute { .. }
            | FibError::UnknownListener(_) => ErrorKind::NotFound,
            FibError::TableExists(_) | FibError::RouteExists { .. } => ErrorKind::AlreadyExists,
            FibError::NexthopInUse { .. }
            | FibError::TableNotEmpty { .. }
            | FibError::TableProtected(_) => ErrorKind::InUse,
            FibError::InvalidNexthop(_) | FibError::InvalidListenerConfig(_) => {
                ErrorKind::InvalidArgument
            }
            FibError::NexthopIdsExhausted { .. } | FibError::GroupIdsExhausted { .. } => {
                ErrorKind::Limit
            }
            FibError::Timeout { .. } => ErrorKind::Busy,
            FibError::ListenerFailed { .. } => ErrorKind::Internal,
        };
        ErrorReply::new(kind, e.to_string())
    }
}

impl From<FibError> for ErrorReply {
    fn from(e: FibError) -> Self {
        ErrorReply::from(&e)
    }
}
