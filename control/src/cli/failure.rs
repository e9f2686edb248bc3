//! How a command failed, and so `fibrectl`'s exit code and message.

use super::ClientError;
use std::process::ExitCode;

/// How a command failed, and so the exit code.
pub enum Failure {
    /// The command line or an input is wrong; nothing was sent (exit 2).
    Usage(String),
    /// The daemon refused, or could not be reached (exit 1).
    Daemon(anyhow::Error),
}

impl Failure {
    /// Prints the message on stderr and gives the exit code.
    pub fn report(self) -> ExitCode {
        match self {
            Failure::Usage(msg) => {
                eprintln!("fibrectl: {msg}");
                ExitCode::from(2)
            }
            Failure::Daemon(e) => {
                eprintln!("fibrectl: {e:#}");
                ExitCode::from(1)
            }
        }
    }
}

impl Failure {
    /// The same failure, its message prefixed with where it happened
    /// (`FILE:LINE` of a batch).
    pub fn at(self, place: &str) -> Failure {
        match self {
            Failure::Usage(msg) => Failure::Usage(format!("{place}: {msg}")),
            Failure::Daemon(e) => Failure::Daemon(e.context(place.to_owned())),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Daemon(e.into())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Daemon(e)
    }
}

/// A wrong command line or input file.
pub fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

/// The daemon answered something this command cannot have asked for.
pub fn daemon(msg: impl std::fmt::Display) -> Failure {
    Failure::Daemon(anyhow::anyhow!("{msg}"))
}
