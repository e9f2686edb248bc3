//! fibred's log output: `tracing` events on stderr, as text or JSON lines, at the
//! levels `RUST_LOG` (or `FIBRE_LOG`) selects.
//!
//! Under systemd, stderr goes to the journal, which is not a terminal: colour
//! escapes there are noise (`ESC[32m INFO`), so colour is on only when stderr is a
//! terminal and `NO_COLOR` is not set. JSON lines are for log shippers; they never
//! carry colour.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// `fibred --log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, fields (message included), target.
    Json,
}

/// The level when neither variable is set: start-up, shutdown, warnings.
pub const DEFAULT_FILTER: &str = "info";

/// The filter to use and the variable it came from: `FIBRE_LOG` wins over
/// `RUST_LOG` (fibre's own name, kept working for scripts that set it); an unset
/// or empty variable counts as absent.
pub fn filter_spec(fibre_log: Option<String>, rust_log: Option<String>) -> (String, &'static str) {
    let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    if let Some(s) = set(fibre_log) {
        (s, "FIBRE_LOG")
    } else if let Some(s) = set(rust_log) {
        (s, "RUST_LOG")
    } else {
        (DEFAULT_FILTER.to_owned(), "default")
    }
}

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(format: LogFormat) {
    let (spec, from) = filter_spec(
        std::env::var("FIBRE_LOG").ok(),
        std::env::var("RUST_LOG").ok(),
    );
    // A mistyped filter must not silence the daemon: log at the default level
    // and say why, once the subscriber is up.
    let (filter, bad) = match EnvFilter::try_new(&spec) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new(DEFAULT_FILTER), Some(e)),
    };
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colour).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
    if let Some(e) = bad {
        tracing::warn!(variable = from, filter = %spec, error = %e, "invalid log filter: logging at {DEFAULT_FILTER}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fibre_log_wins_then_rust_log_then_info() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            filter_spec(s("debug"), s("warn")),
            ("debug".into(), "FIBRE_LOG")
        );
        assert_eq!(filter_spec(None, s("warn")), ("warn".into(), "RUST_LOG"));
        assert_eq!(filter_spec(s(" "), s("warn")), ("warn".into(), "RUST_LOG"));
        assert_eq!(filter_spec(None, s("")), ("info".into(), "default"));
        assert_eq!(filter_spec(None, None), ("info".into(), "default"));
    }
}
