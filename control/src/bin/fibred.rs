//! `fibred`: the fibre daemon. One control thread (the FIB's single writer, the
//! control socket, the slow path, neighbour resolution) and one forwarding core per
//! configured CPU, on DPDK ports. The daemon itself is `control::daemon` (start-up
//! in `daemon::startup`, the DPDK backend in `daemon::dpdk`); this binary parses
//! arguments, loads the configuration and runs it.
//!
//! Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for an invalid
//! configuration, 1 for any other start-up or runtime failure.

use clap::Parser;
use control::config::Config;
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FIBRE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fibred: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    install_signal_handlers();
    match control::daemon::dpdk::run(&cfg, &STOP) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fibred: {e:#}");
            ExitCode::from(1)
        }
    }
}
