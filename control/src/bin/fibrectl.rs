//! `fibrectl`: the operator's CLI for `fibred`, in the style of iproute2.
//!
//! ```text
//! fibrectl route add 10.0.0.0/8 via 192.0.2.1 [dev p0] [table main] [proto static] [metric 1]
//! fibrectl route show [table T] [proto P] [root PREFIX] [limit N]
//! fibrectl route get 10.1.2.3 [core 0] [table T]
//! fibrectl route load FILE [--nexthop ID]... [--via GW [--dev PORT]] [--batch N]
//! fibrectl stats -w
//! ```
//!
//! Exit codes: 0 done; 1 the daemon refused or could not be reached; 2 the
//! command line or an input file is wrong (nothing was sent).
//!
//! This file is the top level only; each feature's commands, requests and
//! output are in `control::cli`.

use clap::{Parser, Subcommand};
use control::cli::addr::{self, AddrCmd};
use control::cli::core::{self, CoreCmd};
use control::cli::fib::{self, FibCmd};
use control::cli::link::{self, LinkCmd};
use control::cli::monitor::{self, MonitorArgs};
use control::cli::neigh::{self, NeighCmd};
use control::cli::nexthop::{self, NexthopCmd};
use control::cli::route::{self, RouteCmd};
use control::cli::session::Session;
use control::cli::source::{self, SourceCmd};
use control::cli::stats::{self, StatsArgs};
use control::cli::DEFAULT_SOCKET;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fibrectl",
    version,
    about = "Control fibred, the fibre IPv4 router"
)]
struct Cli {
    /// fibred's control socket.
    #[arg(short, long, env = "FIBRE_SOCKET", default_value = DEFAULT_SOCKET, global = true)]
    socket: PathBuf,
    /// JSON output, for scripts.
    #[arg(short, long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Routes: add, del, replace, show, get, load.
    #[command(subcommand)]
    Route(RouteCmd),
    /// Nexthop objects.
    #[command(subcommand)]
    Nexthop(NexthopCmd),
    /// Neighbours (ARP entries; add/del are static entries).
    #[command(subcommand, alias = "neighbour")]
    Neigh(NeighCmd),
    /// Interface addresses.
    #[command(subcommand, alias = "address")]
    Addr(AddrCmd),
    /// Ports.
    #[command(subcommand)]
    Link(LinkCmd),
    /// Forwarding cores.
    #[command(subcommand)]
    Core(CoreCmd),
    /// The sequenced FIB and its listeners.
    #[command(subcommand)]
    Fib(FibCmd),
    /// Counters; with -w, rates refreshed every interval.
    Stats(StatsArgs),
    /// Route sources: the kernel table mirror and the FPM server for FRR.
    #[command(subcommand)]
    Source(SourceCmd),
    /// Events as they happen: route, neigh, core, fib, source (all by default).
    Monitor(MonitorArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // Help and version exit 0; every usage error exits 2.
        Err(e) => e.exit(),
    };
    let session = Session {
        socket: cli.socket,
        json: cli.json,
    };
    // Each feature builds its request before connecting, so a bad command line
    // sends nothing.
    let done = match cli.command {
        Command::Route(c) => route::run(c, &session),
        Command::Nexthop(c) => nexthop::run(c, &session),
        Command::Neigh(c) => neigh::run(c, &session),
        Command::Addr(c) => addr::run(c, &session),
        Command::Link(c) => link::run(c, &session),
        Command::Core(c) => core::run(c, &session),
        Command::Fib(c) => fib::run(c, &session),
        Command::Stats(args) => stats::run(args, &session),
        Command::Source(c) => source::run(c, &session),
        Command::Monitor(args) => monitor::run(args, &session),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
