//! `fibred`: the fibre daemon. One control thread (the FIB's single writer, the
//! control socket, the slow path, neighbour resolution) and one forwarding core per
//! configured CPU, on DPDK ports. The daemon itself is `control::daemon` (start-up
//! in `daemon::startup`, the DPDK backend in `daemon::dpdk`); this binary parses
//! arguments, loads the configuration and runs it.
//!
//! Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for an invalid
//! configuration, 1 for any other start-up or runtime failure.
//!
//! Logs go to stderr (`daemon::logs`): levels from `RUST_LOG` (or `FIBRE_LOG`,
//! which wins), text or `--log-format json`. Under systemd (`NOTIFY_SOCKET` set)
//! fibred reports readiness (`daemon::notify`).

use clap::Parser;
use control::config::Config;
use control::daemon::logs::{self, LogFormat};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser)]
#[command(
    version,
    about = "fibre: IPv4 forwarding daemon (DPDK, per-core DIR-24-8 tables kept in step by FIB replay)"
)]
struct Args {
    /// Configuration file (TOML; see docs/CONFIG.md).
    #[arg(short, long, default_value = "/etc/fibre/fibred.toml")]
    config: PathBuf,
    /// Log lines on stderr as text or JSON objects (levels: RUST_LOG or FIBRE_LOG).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// Set by SIGINT/SIGTERM; the control loop polls it.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// Why fibred stops, as the last line on stderr: plain text as it always was, or
/// in JSON mode a JSON line like every other, so a log shipper reads them all.
/// `what`: what failed, when the error does not say it itself.
fn fatal(format: LogFormat, what: Option<&str>, error: impl std::fmt::Display) {
    match (format, what) {
        (LogFormat::Text, Some(what)) => eprintln!("fibred: {what}: {error}"),
        (LogFormat::Text, None) => eprintln!("fibred: {error}"),
        (LogFormat::Json, what) => {
            tracing::error!(error = %error, "{}", what.unwrap_or("fibred stopped"))
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    logs::init(args.log_format);
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            fatal(args.log_format, Some("invalid configuration"), e);
            return ExitCode::from(2);
        }
    };
    install_signal_handlers();
    match control::daemon::dpdk::run(&cfg, &STOP) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(args.log_format, None, format_args!("{e:#}"));
            ExitCode::from(1)
        }
    }
}
