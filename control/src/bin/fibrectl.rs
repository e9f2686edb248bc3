//! `fibrectl`: the operator's CLI for `fibred`, in the style of iproute2.
//!
//! ```text
//! fibrectl route add 10.0.0.0/8 via 192.0.2.1 [dev p0] [table main] [proto static] [metric 1]
//! fibrectl route show [table T] [proto P] [root PREFIX] [limit N]
//! fibrectl route get 10.1.2.3 [core 0] [table T]
//! fibrectl route load FILE [--nexthop ID]... [--via GW [--dev PORT]] [--batch N]
//! fibrectl stats -w
//! fibrectl -b FILE [--force]          # one command per line, over one connection
//! fibrectl completion bash|zsh|fish
//! ```
//!
//! Exit codes: 0 done; 1 the daemon refused or could not be reached; 2 the
//! command line or an input file is wrong (nothing was sent).
//!
//! This file is the top level only; each feature's commands, requests and
//! output are in `control::cli`.

use clap::{CommandFactory, Parser, Subcommand};
use control::cli::addr::{self, AddrCmd};
use control::cli::core::{self, CoreCmd};
use control::cli::failure::{daemon, usage, Failure};
use control::cli::fib::{self, FibCmd};
use control::cli::link::{self, LinkCmd};
use control::cli::monitor::{self, MonitorArgs};
use control::cli::neigh::{self, NeighCmd};
use control::cli::nexthop::{self, NexthopCmd};
use control::cli::route::{self, RouteCmd};
use control::cli::session::Session;
use control::cli::source::{self, SourceCmd};
use control::cli::stats::{self, StatsArgs};
use control::cli::{batch, DEFAULT_SOCKET};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fibrectl",
    version,
    about = "Control fibred, the fibre IPv4 router",
    override_usage = "fibrectl [OPTIONS] <COMMAND>\n       fibrectl [OPTIONS] -b FILE [--force]"
)]
struct Cli {
    /// fibred's control socket.
    #[arg(short, long, env = "FIBRE_SOCKET", default_value = DEFAULT_SOCKET, global = true)]
    socket: PathBuf,
    /// JSON output, for scripts.
    #[arg(short, long, global = true)]
    json: bool,
    /// Run the commands in FILE (- for stdin), one per line, over one connection;
    /// stop at the first that fails.
    #[arg(short, long, value_name = "FILE")]
    batch: Option<PathBuf>,
    /// With -b: run every line even after one failed (the exit code is the first
    /// failure's).
    #[arg(long, requires = "batch")]
    force: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

// One line of a batch: a command without `fibrectl` and its options. (Not a doc
// comment: clap would show it as the help of `help` on a line.)
#[derive(Parser)]
#[command(name = "fibrectl", no_binary_name = true)]
struct BatchLine {
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
    /// A completion script for SHELL, on stdout (generated from these commands).
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // Help and version exit 0; every usage error exits 2.
        Err(e) => e.exit(),
    };
    let session = Session::new(cli.socket, cli.json);
    let done = match (cli.command, cli.batch) {
        (Some(command), None) => run(command, &session),
        (None, Some(file)) => return run_batch(&file, cli.force, &session),
        (Some(_), Some(_)) => Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "-b FILE runs the commands in FILE: none goes on the command line",
            )
            .exit(),
        (None, None) => {
            let mut cli = Cli::command();
            let names: Vec<String> = cli
                .get_subcommands()
                .map(|c| c.get_name().to_owned())
                .collect();
            let msg = format!(
                "a command (or -b FILE) is required\n  [commands: {}]",
                names.join(", ")
            );
            cli.error(clap::error::ErrorKind::MissingSubcommand, msg)
                .exit()
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

/// Runs one command. Each feature builds its request before connecting, so a
/// bad command line sends nothing.
fn run(command: Command, session: &Session) -> Result<(), Failure> {
    match command {
        Command::Route(c) => route::run(c, session),
        Command::Nexthop(c) => nexthop::run(c, session),
        Command::Neigh(c) => neigh::run(c, session),
        Command::Addr(c) => addr::run(c, session),
        Command::Link(c) => link::run(c, session),
        Command::Core(c) => core::run(c, session),
        Command::Fib(c) => fib::run(c, session),
        Command::Stats(args) => stats::run(args, session),
        Command::Source(c) => source::run(c, session),
        Command::Monitor(args) => monitor::run(args, session),
        Command::Completion { shell } => {
            // Into a buffer: clap_complete panics on a write error, and a pipe
            // closed early (`| head`) is one.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "fibrectl", &mut script);
            std::io::stdout()
                .write_all(&script)
                .map_err(|e| daemon(format!("writing the completion script: {e}")))
        }
    }
}

/// `-b FILE`: every line of FILE (`-`: stdin) as a command (see `cli::batch`).
fn run_batch(file: &Path, force: bool, session: &Session) -> ExitCode {
    let line = |words: Vec<String>| match BatchLine::try_parse_from(words) {
        Ok(l) => run(l.command, session),
        Err(e) if !e.use_stderr() => {
            // `help` on a line: the help text, on stdout.
            print!("{e}");
            Ok(())
        }
        Err(e) => Err(usage(clap_message(&e))),
    };
    if file == Path::new("-") {
        return batch::run(std::io::stdin().lock(), "stdin", force, session, line);
    }
    match std::fs::File::open(file) {
        Ok(f) => batch::run(
            std::io::BufReader::new(f),
            &file.display().to_string(),
            force,
            session,
            line,
        ),
        Err(e) => usage(format!("{}: {e}", file.display())).report(),
    }
}

/// A clap error as one message: its text before the usage and the hint, without
/// the `error: ` clap starts it with.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    text.split("\n\n")
        .next()
        .unwrap_or(text)
        .trim_end()
        .to_owned()
}
