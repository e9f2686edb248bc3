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

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use control::cli::{ClientError, ControlClient, DEFAULT_SOCKET};
use control::proto::*;
use dataplane::wire::ethernet::EthernetAddress as Mac;
use fib::routefile::{self, RouteLine};
use fib::{Ipv4Prefix, Protocol};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

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
}

#[derive(Subcommand)]
enum SourceCmd {
    /// Each source's state and counters.
    #[command(alias = "list")]
    Show,
}

/// Keyword arguments after a verb, iproute2 style (`via GW dev PORT table 7`).
#[derive(Args)]
struct Words {
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    words: Vec<String>,
}

#[derive(Subcommand)]
enum RouteCmd {
    /// PREFIX (via GW [dev PORT] | dev PORT | blackhole | nexthop ID) [table T] [proto P] [metric D]
    Add {
        prefix: Ipv4Prefix,
        #[command(flatten)]
        rest: Words,
    },
    /// PREFIX (as for add)
    Replace {
        prefix: Ipv4Prefix,
        #[command(flatten)]
        rest: Words,
    },
    /// PREFIX [table T] [proto P]
    Del {
        prefix: Ipv4Prefix,
        #[command(flatten)]
        rest: Words,
    },
    /// [table T] [proto P] [root PREFIX] [limit N]
    #[command(alias = "list")]
    Show(Words),
    /// ADDR [core N] [table T]: the route a core really forwards with
    Get {
        addr: Ipv4Addr,
        #[command(flatten)]
        rest: Words,
    },
    /// Bulk load a route file (RouteViews `prefix/len<TAB>asn` or `prefix via GW [dev N]` lines).
    Load(LoadArgs),
}

#[derive(Args)]
struct LoadArgs {
    file: PathBuf,
    /// Nexthop id for RouteViews lines (repeat to spread origin ASes over several: AS mod count).
    #[arg(long = "nexthop")]
    nexthops: Vec<u32>,
    /// Gateway for RouteViews lines (instead of --nexthop).
    #[arg(long, conflicts_with = "nexthops")]
    via: Option<Ipv4Addr>,
    /// Port of --via.
    #[arg(long, requires = "via")]
    dev: Option<String>,
    #[arg(long, default_value = "main", value_parser = parse_table)]
    table: u32,
    #[arg(long = "proto", default_value = "static")]
    protocol: Protocol,
    /// Routes per batch message.
    #[arg(long, default_value_t = DEFAULT_BATCH_ROUTES as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    /// Batches sent ahead of their answers.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    window: u64,
}

#[derive(Subcommand)]
enum NexthopCmd {
    /// (via GW [dev PORT] | dev PORT | blackhole)
    Add(Words),
    /// ID
    Del { id: u32 },
    #[command(alias = "list")]
    Show,
}

#[derive(Subcommand)]
enum NeighCmd {
    /// ADDR lladdr MAC dev PORT
    Add {
        addr: Ipv4Addr,
        #[command(flatten)]
        rest: Words,
    },
    /// ADDR dev PORT
    Del {
        addr: Ipv4Addr,
        #[command(flatten)]
        rest: Words,
    },
    /// [dev PORT]
    #[command(alias = "list")]
    Show(Words),
}

#[derive(Subcommand)]
enum AddrCmd {
    /// ADDR/LEN dev PORT
    Add {
        addr: InterfaceAddr,
        #[command(flatten)]
        rest: Words,
    },
    /// ADDR/LEN dev PORT
    Del {
        addr: InterfaceAddr,
        #[command(flatten)]
        rest: Words,
    },
    /// [dev PORT]
    #[command(alias = "list")]
    Show(Words),
}

#[derive(Subcommand)]
enum LinkCmd {
    /// [PORT]
    #[command(alias = "list")]
    Show { port: Option<PortRef> },
}

#[derive(Subcommand)]
enum CoreCmd {
    #[command(alias = "list")]
    Show,
    /// Start a forwarding core: [cpu N]
    Add(Words),
    /// Stop a forwarding core: ID
    Del { id: u32 },
}

#[derive(Subcommand)]
enum FibCmd {
    Status,
}

#[derive(Args)]
struct StatsArgs {
    /// Watch: refresh rates until Ctrl-C (or --count).
    #[arg(short, long)]
    watch: bool,
    /// Refreshes in watch mode before exiting.
    #[arg(short, long, requires = "watch")]
    count: Option<u64>,
    /// Seconds between refreshes.
    #[arg(short, long, default_value_t = 1.0, requires = "watch")]
    interval: f64,
}

/// How a command failed, and so the exit code.
enum Failure {
    /// The command line or an input is wrong; nothing was sent (exit 2).
    Usage(String),
    /// The daemon refused, or could not be reached (exit 1).
    Daemon(anyhow::Error),
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

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

fn parse_table(s: &str) -> Result<u32, String> {
    if s == "main" {
        return Ok(main_table());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid table {s:?}: expected main or a number"));
    }
    s.parse()
        .map_err(|_| format!("invalid table {s:?}: expected main or a number"))
}

/// The keyword words of one command, consumed as they are recognised.
struct KeyWords {
    words: std::vec::IntoIter<String>,
    verb: &'static str,
}

impl KeyWords {
    fn new(w: Words, verb: &'static str) -> Self {
        KeyWords {
            words: w.words.into_iter(),
            verb,
        }
    }

    fn value(&mut self, key: &str) -> Result<String, Failure> {
        self.words
            .next()
            .ok_or_else(|| usage(format!("{}: `{key}` needs a value", self.verb)))
    }

    fn parsed<T: std::str::FromStr>(&mut self, key: &str) -> Result<T, Failure>
    where
        T::Err: std::fmt::Display,
    {
        let v = self.value(key)?;
        v.parse()
            .map_err(|e| usage(format!("{}: invalid {key} {v:?}: {e}", self.verb)))
    }

    fn unexpected(&self, word: &str) -> Failure {
        usage(format!("{}: unexpected argument {word:?}", self.verb))
    }
}

/// The common keywords of route and nexthop commands.
#[derive(Default)]
struct RouteWords {
    via: Option<Ipv4Addr>,
    /// Every `via GW [dev PORT]` in order: more than one makes a multipath route.
    paths: Vec<(Ipv4Addr, Option<PortRef>)>,
    dev: Option<PortRef>,
    blackhole: bool,
    nexthop: Option<u32>,
    table: Option<u32>,
    protocol: Option<Protocol>,
    distance: Option<u8>,
    root: Option<Ipv4Prefix>,
    limit: Option<usize>,
    core: Option<u32>,
    lladdr: Option<Mac>,
    cpu: Option<usize>,
}

/// Parses `words` allowing only the keywords in `allowed`.
fn route_words(w: Words, verb: &'static str, allowed: &[&str]) -> Result<RouteWords, Failure> {
    let mut k = KeyWords::new(w, verb);
    let mut r = RouteWords::default();
    while let Some(word) = k.words.next() {
        let key = word.as_str();
        if !allowed.contains(&key) {
            return Err(k.unexpected(key));
        }
        match key {
            "via" => {
                let gateway = k.parsed("via")?;
                r.via.get_or_insert(gateway);
                r.paths.push((gateway, None));
            }
            "dev" => {
                let port: PortRef = k.parsed("dev")?;
                match r.paths.last_mut() {
                    Some((_, dev @ None)) => *dev = Some(port.clone()),
                    Some((gw, Some(_))) => {
                        return Err(usage(format!("{verb}: via {gw} has two devs")))
                    }
                    None => {}
                }
                if r.paths.len() <= 1 {
                    r.dev = Some(port);
                }
            }
            "blackhole" => r.blackhole = true,
            "nexthop" => r.nexthop = Some(k.parsed("nexthop")?),
            "table" => {
                let v = k.value("table")?;
                r.table = Some(parse_table(&v).map_err(|e| usage(format!("{verb}: {e}")))?)
            }
            "proto" => r.protocol = Some(k.parsed("proto")?),
            "metric" | "distance" => r.distance = Some(k.parsed("metric")?),
            "root" => r.root = Some(k.parsed("root")?),
            "limit" => r.limit = Some(k.parsed("limit")?),
            "core" => r.core = Some(k.parsed("core")?),
            "lladdr" => r.lladdr = Some(k.parsed("lladdr")?),
            "cpu" => r.cpu = Some(k.parsed("cpu")?),
            _ => return Err(k.unexpected(key)),
        }
    }
    Ok(r)
}

fn route_target(r: &RouteWords, verb: &str) -> Result<RouteTarget, Failure> {
    let kinds = [r.via.is_some(), r.blackhole, r.nexthop.is_some()]
        .iter()
        .filter(|&&b| b)
        .count();
    if kinds > 1 {
        return Err(usage(format!(
            "{verb}: give one of via, blackhole or nexthop"
        )));
    }
    if r.paths.len() > 1 {
        return Ok(RouteTarget::Multipath(
            r.paths
                .iter()
                .map(|(gateway, port)| RouteTarget::Via {
                    gateway: *gateway,
                    port: port.clone(),
                })
                .collect(),
        ));
    }
    Ok(match (r.via, &r.dev, r.blackhole, r.nexthop) {
        (Some(gateway), port, _, _) => RouteTarget::Via {
            gateway,
            port: port.clone(),
        },
        (None, Some(_), true, _) | (None, Some(_), _, Some(_)) => {
            return Err(usage(format!(
                "{verb}: dev goes with via, or alone for an on-link route"
            )))
        }
        (None, Some(p), false, None) => RouteTarget::Dev(p.clone()),
        (None, None, true, _) => RouteTarget::Blackhole,
        (None, None, false, Some(id)) => RouteTarget::Nexthop(id),
        (None, None, false, None) => {
            return Err(usage(format!(
                "{verb}: where to? give via GW [dev PORT], dev PORT, blackhole or nexthop ID"
            )))
        }
    })
}

fn port_required(r: &RouteWords, verb: &str) -> Result<PortRef, Failure> {
    r.dev
        .clone()
        .ok_or_else(|| usage(format!("{verb}: dev PORT is required")))
}

const TARGET_WORDS: &[&str] = &[
    "via",
    "dev",
    "blackhole",
    "nexthop",
    "table",
    "proto",
    "metric",
    "distance",
];

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // Help and version exit 0; every usage error exits 2.
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("fibrectl: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Daemon(e)) => {
            eprintln!("fibrectl: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Builds the request from the command line (before connecting, so a bad command
/// line sends nothing), then talks to the daemon.
fn run(cli: Cli) -> Result<(), Failure> {
    let json = cli.json;
    let request = match cli.command {
        Command::Route(RouteCmd::Load(args)) => return route_load(&cli.socket, args, json),
        Command::Stats(args) if args.watch => return stats_watch(&cli.socket, args, json),
        Command::Stats(_) => Request::Stats,
        Command::Source(SourceCmd::Show) => Request::SourceShow,
        Command::Route(RouteCmd::Add { prefix, rest }) => {
            Request::RouteAdd(route_spec(prefix, rest, "route add")?)
        }
        Command::Route(RouteCmd::Replace { prefix, rest }) => {
            Request::RouteReplace(route_spec(prefix, rest, "route replace")?)
        }
        Command::Route(RouteCmd::Del { prefix, rest }) => {
            let r = route_words(rest, "route del", &["table", "proto"])?;
            Request::RouteDel(RouteDel {
                table: r.table.unwrap_or_else(main_table),
                prefix,
                protocol: r.protocol.unwrap_or(Protocol::Static),
            })
        }
        Command::Route(RouteCmd::Show(rest)) => {
            let r = route_words(rest, "route show", &["table", "proto", "root", "limit"])?;
            Request::RouteShow(RouteFilter {
                table: r.table,
                protocol: r.protocol,
                prefix: r.root,
                limit: r.limit,
            })
        }
        Command::Route(RouteCmd::Get { addr, rest }) => {
            let r = route_words(rest, "route get", &["core", "table"])?;
            Request::RouteGet(RouteGet {
                addr,
                table: r.table.unwrap_or_else(main_table),
                core: r.core,
            })
        }
        Command::Nexthop(NexthopCmd::Add(rest)) => {
            let r = route_words(rest, "nexthop add", &["via", "dev", "blackhole"])?;
            Request::NexthopAdd(match route_target(&r, "nexthop add")? {
                RouteTarget::Via { gateway, port } => NexthopSpec::Via { gateway, port },
                RouteTarget::Dev(p) => NexthopSpec::Dev(p),
                RouteTarget::Blackhole => NexthopSpec::Blackhole,
                RouteTarget::Nexthop(_) => unreachable!("nexthop keyword not allowed"),
                RouteTarget::Multipath(_) => {
                    return Err(usage(
                        "nexthop add: one via per nexthop (multipath is a route's)",
                    ))
                }
            })
        }
        Command::Nexthop(NexthopCmd::Del { id }) => Request::NexthopDel(NexthopDel { id }),
        Command::Nexthop(NexthopCmd::Show) => Request::NexthopShow,
        Command::Neigh(NeighCmd::Add { addr, rest }) => {
            let r = route_words(rest, "neigh add", &["lladdr", "dev"])?;
            let mac = r
                .lladdr
                .ok_or_else(|| usage("neigh add: lladdr MAC is required"))?;
            Request::NeighAdd(NeighSpec {
                addr,
                port: port_required(&r, "neigh add")?,
                mac: Some(mac),
            })
        }
        Command::Neigh(NeighCmd::Del { addr, rest }) => {
            let r = route_words(rest, "neigh del", &["dev"])?;
            Request::NeighDel(NeighSpec {
                addr,
                port: port_required(&r, "neigh del")?,
                mac: None,
            })
        }
        Command::Neigh(NeighCmd::Show(rest)) => {
            let r = route_words(rest, "neigh show", &["dev"])?;
            Request::NeighShow(PortFilter { port: r.dev })
        }
        Command::Addr(AddrCmd::Add { addr, rest }) => {
            let r = route_words(rest, "addr add", &["dev"])?;
            Request::AddrAdd(AddrSpec {
                addr,
                port: port_required(&r, "addr add")?,
            })
        }
        Command::Addr(AddrCmd::Del { addr, rest }) => {
            let r = route_words(rest, "addr del", &["dev"])?;
            Request::AddrDel(AddrSpec {
                addr,
                port: port_required(&r, "addr del")?,
            })
        }
        Command::Addr(AddrCmd::Show(rest)) => {
            let r = route_words(rest, "addr show", &["dev"])?;
            Request::AddrShow(PortFilter { port: r.dev })
        }
        Command::Link(LinkCmd::Show { port }) => Request::LinkShow(PortFilter { port }),
        Command::Core(CoreCmd::Show) => Request::CoreShow,
        Command::Core(CoreCmd::Add(rest)) => {
            let r = route_words(rest, "core add", &["cpu"])?;
            Request::CoreAdd(CoreAdd { cpu: r.cpu })
        }
        Command::Core(CoreCmd::Del { id }) => Request::CoreDel(CoreDel { id }),
        Command::Fib(FibCmd::Status) => Request::FibStatus,
    };
    let mut client = ControlClient::connect(&cli.socket)?;
    let reply = client.call(&request)?;
    if json {
        print_json(&reply);
    } else {
        print_reply(&reply);
    }
    Ok(())
}

fn route_spec(prefix: Ipv4Prefix, rest: Words, verb: &'static str) -> Result<RouteSpec, Failure> {
    let r = route_words(rest, verb, TARGET_WORDS)?;
    Ok(RouteSpec {
        table: r.table.unwrap_or_else(main_table),
        prefix,
        target: route_target(&r, verb)?,
        protocol: r.protocol.unwrap_or(Protocol::Static),
        distance: r.distance,
    })
}

/// JSON for scripts: the payload alone (`{"routes": ...}` becomes `{...}`), `{}` for `done`.
fn print_json(reply: &Reply) {
    let value = match serde_json::to_value(reply) {
        Ok(serde_json::Value::Object(mut m)) if m.len() == 1 => {
            let key = m.keys().next().cloned().unwrap_or_default();
            m.remove(&key).unwrap_or_default()
        }
        Ok(serde_json::Value::String(_)) => serde_json::json!({}),
        Ok(v) => v,
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    println!("{value}");
}

/// Prints rows as columns aligned on the widest cell (numbers right-aligned).
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            !rows.is_empty()
                && rows.iter().all(|r| {
                    r.get(i).is_some_and(|c| {
                        !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    })
                })
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = (usize, &str)>| {
        let mut out = String::new();
        for (i, cell) in cells {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if numeric[i] {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        println!("{}", out.trim_end());
    };
    line(&mut headers.iter().copied().enumerate());
    for row in rows {
        line(&mut row.iter().map(String::as_str).enumerate());
    }
}

fn table_name(t: u32) -> String {
    fib::TableId(t).to_string()
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), T::to_string)
}

fn nexthop_words(n: &NexthopInfo) -> String {
    match (n.kind.as_str(), &n.gateway, &n.port) {
        ("gateway", Some(g), Some(p)) => format!("via {g} dev {p}"),
        ("connected", _, Some(p)) => format!("dev {p}"),
        (kind, _, _) => kind.to_owned(),
    }
}

fn print_reply(reply: &Reply) {
    match reply {
        Reply::Done => {}
        Reply::Hello(h) => println!("{} (protocol {})", h.daemon, h.protocol),
        Reply::RouteChanged(c) => {
            if let Some(seq) = c.seq {
                println!("seq {seq}");
            }
        }
        Reply::Routes(list) => {
            let rows: Vec<Vec<String>> = list
                .routes
                .iter()
                .map(|r| {
                    vec![
                        if r.installed { "*" } else { "" }.to_owned(),
                        r.prefix.to_string(),
                        r.via.clone(),
                        r.protocol.to_string(),
                        r.distance.to_string(),
                        r.nexthop.to_string(),
                        table_name(r.table),
                    ]
                })
                .collect();
            print_table(
                &["", "PREFIX", "VIA", "PROTO", "METRIC", "NEXTHOP", "TABLE"],
                &rows,
            );
            if list.total > list.routes.len() {
                println!("({} of {} routes shown)", list.routes.len(), list.total);
            }
        }
        Reply::RouteLookup(l) => {
            let source = match l.core {
                Some(c) => format!("core {c}"),
                None => "fib".to_owned(),
            };
            match &l.nexthop {
                Some(n) => {
                    let mut s = format!("{} ", l.addr);
                    if let Some(p) = &l.prefix {
                        s.push_str(&format!("from {p} "));
                    }
                    s.push_str(&nexthop_words(n));
                    s.push_str(&format!(" nexthop {}", n.id));
                    if let Some(m) = &n.mac {
                        s.push_str(&format!(" lladdr {m}"));
                    }
                    println!("{s} table {} {source} seq {}", table_name(l.table), l.seq);
                }
                None => println!(
                    "{} unreachable (no route) table {} {source} seq {}",
                    l.addr,
                    table_name(l.table),
                    l.seq
                ),
            }
        }
        Reply::BatchApplied(b) => {
            println!("applied {} failed {} seq {}", b.applied, b.failed, b.seq)
        }
        Reply::Nexthops(list) => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|n| {
                    vec![
                        n.id.to_string(),
                        n.kind.clone(),
                        opt(&n.gateway),
                        opt(&n.port),
                        opt(&n.mac),
                        n.refs.to_string(),
                    ]
                })
                .collect();
            print_table(&["ID", "KIND", "GATEWAY", "PORT", "LLADDR", "REFS"], &rows);
        }
        Reply::NexthopAdded(n) => println!("nexthop {}", n.id),
        Reply::Neighbours(list) => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|n| {
                    vec![
                        n.addr.to_string(),
                        n.port.clone(),
                        opt(&n.mac),
                        n.state.clone(),
                    ]
                })
                .collect();
            print_table(&["ADDRESS", "PORT", "LLADDR", "STATE"], &rows);
        }
        Reply::Addresses(list) => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|a| vec![a.port.clone(), a.addr.to_string()])
                .collect();
            print_table(&["PORT", "ADDRESS"], &rows);
        }
        Reply::Links(list) => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|l| {
                    vec![
                        l.index.to_string(),
                        l.name.clone(),
                        if l.up { "up" } else { "down" }.to_owned(),
                        l.mac.to_string(),
                        l.mtu.to_string(),
                        l.counters.rx_packets.to_string(),
                        l.counters.rx_bytes.to_string(),
                        l.counters.rx_dropped.to_string(),
                        l.counters.tx_packets.to_string(),
                        l.counters.tx_bytes.to_string(),
                        l.counters.tx_dropped.to_string(),
                        l.backend.clone(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "INDEX", "NAME", "LINK", "LLADDR", "MTU", "RX-PKTS", "RX-BYTES", "RX-DROP",
                    "TX-PKTS", "TX-BYTES", "TX-DROP", "BACKEND",
                ],
                &rows,
            );
        }
        Reply::Cores(list) => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|c| {
                    let drops: u64 = c.drops.values().sum();
                    let reasons: Vec<String> =
                        c.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    vec![
                        c.id.to_string(),
                        c.name.clone(),
                        opt(&c.cpu),
                        c.state.clone(),
                        c.applied_seq.to_string(),
                        c.lag.to_string(),
                        c.forwarded_pps.to_string(),
                        c.forwarded.to_string(),
                        drops.to_string(),
                        reasons.join(","),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "NAME",
                    "CPU",
                    "STATE",
                    "SEQ",
                    "LAG",
                    "FWD-PPS",
                    "FORWARDED",
                    "DROPS",
                    "DROP-REASONS",
                ],
                &rows,
            );
        }
        Reply::CoreAdded(c) => println!("core {} started (cpu {})", c.id, opt(&c.cpu)),
        Reply::FibStatus(s) => {
            println!(
                "seq {}  watermark {}  tables {}  prefixes {}  nexthops {}  nexthop ids pending {}  groups {}",
                s.seq, s.watermark, s.tables, s.prefixes, s.nexthops, s.nexthop_ids_pending, s.groups
            );
            if let Some(us) = in_step_after_us(s) {
                println!(
                    "last commit: seq {}; every listener applied it {us} µs after it committed",
                    s.committed_seq
                );
            }
            let rows: Vec<Vec<String>> = s
                .listeners
                .iter()
                .map(|l| {
                    vec![
                        l.id.to_string(),
                        l.name.clone(),
                        l.state.clone(),
                        l.applied_seq.to_string(),
                        l.lag.to_string(),
                        if l.in_sync { "yes" } else { "no" }.to_owned(),
                        l.replay_progress
                            .map_or_else(|| "-".into(), |(i, n)| format!("{i}/{n}")),
                        l.backlog.to_string(),
                        l.resyncs.to_string(),
                        l.gaps.to_string(),
                        l.failure.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID", "LISTENER", "STATE", "APPLIED", "LAG", "IN-SYNC", "REPLAY", "BACKLOG",
                    "RESYNCS", "GAPS", "FAILURE",
                ],
                &rows,
            );
        }
        Reply::Stats(s) => print_stats(s, None),
        Reply::Sources(list) => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.protocol.clone(),
                        if s.connected { "yes" } else { "no" }.to_owned(),
                        s.routes.to_string(),
                        s.messages.to_string(),
                        s.resyncs.to_string(),
                        s.ignored.to_string(),
                        s.refused.to_string(),
                        s.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "SOURCE",
                    "PROTO",
                    "CONNECTED",
                    "ROUTES",
                    "MESSAGES",
                    "RESYNCS",
                    "IGNORED",
                    "REFUSED",
                    "LAST-ERROR",
                ],
                &rows,
            );
        }
    }
}

/// How long after the last commit every active listener had applied it (µs, 0 if
/// they had before the request finished), once they all have.
fn in_step_after_us(s: &FibStatus) -> Option<i64> {
    let active: Vec<_> = s.listeners.iter().filter(|l| l.failure.is_none()).collect();
    if s.committed_seq == 0
        || active.is_empty()
        || active.iter().any(|l| l.applied_seq < s.committed_seq)
    {
        return None;
    }
    let last = active.iter().map(|l| l.applied_at_ns).max()?;
    Some(((last as i64 - s.committed_at_ns as i64) / 1000).max(0))
}

/// Counters, or with a previous sample, rates per second.
fn print_stats(s: &StatsReply, prev: Option<&StatsReply>) {
    let secs = prev.map(|p| s.uptime_ms.saturating_sub(p.uptime_ms) as f64 / 1000.0);
    let rate = |now: u64, before: Option<u64>| -> String {
        match (secs, before) {
            (Some(dt), Some(b)) if dt > 0.0 => format!("{:.0}", now.saturating_sub(b) as f64 / dt),
            _ => now.to_string(),
        }
    };
    println!(
        "fib seq {}  uptime {:.1}s  requests {}  clients {}{}",
        s.fib_seq,
        s.uptime_ms as f64 / 1000.0,
        s.control.requests,
        s.control.clients,
        if secs.is_some() {
            "  (rates per second)"
        } else {
            ""
        }
    );
    let rows: Vec<Vec<String>> = s
        .cores
        .iter()
        .map(|c| {
            let p = prev.and_then(|p| p.cores.iter().find(|x| x.id == c.id));
            vec![
                c.id.to_string(),
                c.name.clone(),
                rate(c.rx_packets, p.map(|p| p.rx_packets)),
                rate(c.tx_packets, p.map(|p| p.tx_packets)),
                rate(c.tx_dropped, p.map(|p| p.tx_dropped)),
                rate(c.forwarded, p.map(|p| p.forwarded)),
                rate(c.dropped, p.map(|p| p.dropped)),
                rate(c.punted, p.map(|p| p.punted)),
                c.applied_seq.to_string(),
            ]
        })
        .collect();
    let unit = if secs.is_some() { "/s" } else { "" };
    let h: Vec<String> = ["RX", "TX", "TX-FULL", "FORWARDED", "DROPPED", "PUNTED"]
        .iter()
        .map(|h| format!("{h}{unit}"))
        .collect();
    print_table(
        &[
            "CORE", "NAME", &h[0], &h[1], &h[2], &h[3], &h[4], &h[5], "SEQ",
        ],
        &rows,
    );
}

fn stats_watch(socket: &PathBuf, args: StatsArgs, json: bool) -> Result<(), Failure> {
    if !(args.interval.is_finite() && args.interval >= 0.05) {
        return Err(usage("stats: --interval must be at least 0.05 seconds"));
    }
    let mut client = ControlClient::connect(socket)?;
    let interval = Duration::from_secs_f64(args.interval);
    let mut prev: Option<StatsReply> = None;
    let mut shown = 0u64;
    loop {
        let Reply::Stats(now) = client.call(&Request::Stats)? else {
            return Err(Failure::Daemon(anyhow::anyhow!(
                "fibred answered stats with something else"
            )));
        };
        if json {
            print_json(&Reply::Stats(now.clone()));
        } else {
            if shown > 0 {
                println!();
            }
            print_stats(&now, prev.as_ref());
        }
        shown += 1;
        if args.count.is_some_and(|c| shown >= c) {
            return Ok(());
        }
        prev = Some(now);
        std::thread::sleep(interval);
    }
}

/// Parses the whole file first (a bad line sends nothing), then streams batches with
/// `window` of them in flight, so the daemon always has the next one to apply.
fn route_load(socket: &PathBuf, args: LoadArgs, json: bool) -> Result<(), Failure> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| {
        usage(format!(
            "route load: cannot read {}: {e}",
            args.file.display()
        ))
    })?;
    let dev: Option<PortRef> = args.dev.as_deref().map(|d| d.parse().expect("infallible"));
    let mut routes: Vec<BatchRoute> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let parsed = routefile::parse_line(line).map_err(|e| {
            usage(format!(
                "route load: {}:{}: {e}",
                args.file.display(),
                i + 1
            ))
        })?;
        let Some(RouteLine { prefix, target }) = parsed else {
            continue;
        };
        let target = match target {
            routefile::RouteTarget::OriginAs(asn) => {
                if let Some(gateway) = args.via {
                    RouteTarget::Via {
                        gateway,
                        port: dev.clone(),
                    }
                } else if !args.nexthops.is_empty() {
                    RouteTarget::Nexthop(args.nexthops[asn as usize % args.nexthops.len()])
                } else {
                    return Err(usage(format!(
                        "route load: {}:{}: a RouteViews line (prefix<TAB>AS) needs --nexthop ID or --via GW to say where its routes go",
                        args.file.display(),
                        i + 1
                    )));
                }
            }
            routefile::RouteTarget::Via { gateway, port } => RouteTarget::Via {
                gateway,
                port: port.map(PortRef::Index),
            },
            routefile::RouteTarget::Dev(p) => RouteTarget::Dev(PortRef::Index(p)),
            routefile::RouteTarget::Blackhole => RouteTarget::Blackhole,
        };
        routes.push(BatchRoute { prefix, target });
    }
    let total = routes.len();
    let mut client = ControlClient::connect(socket)?;
    let bar = if std::io::stderr().is_terminal() && !json {
        ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} routes  {per_sec}  eta {eta}")
            .context("progress style")?,
    );
    let started = Instant::now();
    let batch_len = args.batch as usize;
    let window = args.window as usize;
    // The batches in flight, oldest first: (id, index of its first route, routes).
    let mut in_flight: std::collections::VecDeque<(u64, usize, usize)> = Default::default();
    let mut applied = 0usize;
    let mut failed = 0usize;
    let mut errors: Vec<String> = Vec::new();
    let mut chunks = routes.chunks(batch_len).enumerate().peekable();
    let mut seq = 0;
    let mut batches = 0usize;
    while chunks.peek().is_some() || !in_flight.is_empty() {
        while in_flight.len() < window {
            let Some((i, chunk)) = chunks.next() else {
                break;
            };
            let req = Request::RouteLoad(RouteBatch {
                table: args.table,
                protocol: args.protocol,
                distance: None,
                replace: true,
                routes: chunk.to_vec(),
            });
            let id = client.send(&req)?;
            in_flight.push_back((id, i * batch_len, chunk.len()));
            batches += 1;
        }
        let Some((want, first, len)) = in_flight.pop_front() else {
            break;
        };
        let (got, response) = client.recv()?;
        if got != Some(want) {
            if let (None, Err(e)) = (got, &response) {
                return Err(ClientError::Daemon(e.clone()).into());
            }
            return Err(ClientError::UnexpectedId { want, got }.into());
        }
        match response {
            Ok(Reply::BatchApplied(b)) => {
                applied += b.applied;
                failed += b.failed;
                seq = b.seq;
                for e in b.errors {
                    if errors.len() < MAX_BATCH_ERRORS {
                        let r = routes.get(first + e.index);
                        errors.push(format!(
                            "{}: {}",
                            r.map_or_else(|| "?".into(), |r| r.prefix.to_string()),
                            e.message
                        ));
                    }
                }
            }
            Ok(other) => {
                return Err(Failure::Daemon(anyhow::anyhow!(
                    "fibred answered route_load with {other:?}"
                )))
            }
            Err(e) => {
                return Err(Failure::Daemon(anyhow::anyhow!(
                    "fibred refused a batch after {applied} routes: {e}"
                )))
            }
        }
        bar.inc(len as u64);
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let rate = if secs > 0.0 { total as f64 / secs } else { 0.0 };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "routes": total, "applied": applied, "failed": failed, "batches": batches,
                "seconds": secs, "routes_per_second": rate.round(), "seq": seq, "errors": errors,
            })
        );
    } else {
        println!(
            "loaded {applied} of {total} routes in {batches} batches in {secs:.2}s ({:.0} routes/s), seq {seq}",
            rate
        );
        for e in &errors {
            eprintln!("fibrectl: refused: {e}");
        }
    }
    if failed > 0 {
        return Err(Failure::Daemon(anyhow::anyhow!(
            "{failed} of {total} routes were refused"
        )));
    }
    Ok(())
}
