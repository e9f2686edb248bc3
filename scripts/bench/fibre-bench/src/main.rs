//! `fibre-bench`: helpers for `scripts/bench-forward`.
//!
//! ```text
//! fibre-bench synth OUT                 the benches' 1M synthetic table as a route file
//! fibre-bench churn SOCKET TABLE [options]   route churn against a running fibred,
//!                                       timing how long until every core is in step
//! ```
//!
//! `churn` keeps one control connection. Each burst is one `route_load` message
//! moving `--size` routes of TABLE between two gateways (every one a real change),
//! plus `--short` short prefixes (/8 by default) that are added in one burst and
//! deleted (`route_del`, pipelined) in the next. The burst's seq is the highest seq
//! the daemon reports; from its last answer, `fib_status` is asked in a loop until
//! every active listener is in sync with `applied_seq >= seq`. One TSV line per
//! burst on stdout: `burst changes cores send_to_commit_us commit_to_in_step_us polls`.
//! With `--core-add-after K`, a core is added (`core_add`) after burst K, and the
//! time until it is in sync is printed as a `core_add` line.

use anyhow::{bail, Context, Result};
use clap::Parser;
use fib::Ipv4Prefix;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A minimal client of fibred's control protocol (docs/PROTOCOL.md: one JSON object
/// per line, pipelined, answered in order). Kept apart from `control::cli` so the
/// benchmark speaks the documented wire format only.
struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    line: String,
}

impl Client {
    fn connect(path: &str) -> Result<Self> {
        let s = UnixStream::connect(path).with_context(|| format!("connecting to {path}"))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            writer: s.try_clone()?,
            reader: BufReader::new(s),
            next_id: 1,
            line: String::new(),
        })
    }

    fn send(&mut self, request: Value) -> Result<()> {
        let mut text = json!({"v": 1, "id": self.next_id, "request": request}).to_string();
        self.next_id += 1;
        text.push('\n');
        self.writer.write_all(text.as_bytes())?;
        Ok(())
    }

    /// The next answer's `ok` payload, or the daemon's error as an error.
    fn recv(&mut self) -> Result<Value> {
        self.line.clear();
        if self.reader.read_line(&mut self.line)? == 0 {
            bail!("fibred closed the connection");
        }
        let mut v: Value = serde_json::from_str(&self.line)?;
        if let Some(e) = v.get("error") {
            bail!("fibred: {e}");
        }
        Ok(v["ok"].take())
    }

    fn call(&mut self, request: Value) -> Result<Value> {
        self.send(request)?;
        self.recv()
    }
}

#[derive(Parser)]
#[command(name = "fibre-bench", about = "Helpers for scripts/bench-forward")]
enum Cli {
    /// The benches' 1M synthetic table as a route file.
    Synth { out: String },
    /// fibred's counters as `key<TAB>value` lines.
    Counters { socket: String },
    /// Waits (at most SECONDS) until every core is in step with the daemon's seq.
    WaitSync { socket: String, seconds: u64 },
    /// Route churn against a running fibred, timing how long until every core is in step.
    Churn {
        socket: String,
        table: String,
        #[command(flatten)]
        args: ChurnArgs,
    },
}

fn main() -> Result<()> {
    match Cli::parse() {
        Cli::Synth { out } => synth(&out),
        Cli::Counters { socket } => counters(&socket),
        Cli::WaitSync { socket, seconds } => {
            let mut c = Client::connect(&socket)?;
            let seq = fib_status(&mut c)?["seq"].as_u64().unwrap_or(0);
            let t = Instant::now();
            wait_in_step(&mut c, seq, Duration::from_secs(seconds))?;
            eprintln!(
                "fibre-bench: every core in step at seq {seq} after {:?}",
                t.elapsed()
            );
            Ok(())
        }
        Cli::Churn {
            socket,
            table,
            args,
        } => {
            args.check()?;
            churn(&socket, &table, args)
        }
    }
}

fn synth(out: &str) -> Result<()> {
    let routes = benches::routes::synthetic_1m();
    let mut text = String::with_capacity(routes.len() * 20);
    for r in &routes {
        text.push_str(&format!("{}\t{}\n", r.prefix, r.nexthop.0));
    }
    std::fs::write(out, text).with_context(|| format!("writing {out}"))?;
    eprintln!("fibre-bench: {} synthetic routes -> {out}", routes.len());
    Ok(())
}

/// fibred's counters as `key<TAB>value` lines, for the script to subtract:
/// `rx`, `forwarded` (all cores), `drop.REASON`, `punt.REASON` (all cores),
/// `port.NAME.{rx_packets,tx_packets,rx_dropped,tx_dropped}`.
fn counters(socket: &str) -> Result<()> {
    let mut c = Client::connect(socket)?;
    let cores = c.call(json!("core_show"))?["cores"].take();
    let links = c.call(json!({"link_show": {}}))?["links"].take();
    let mut sums: std::collections::BTreeMap<String, u64> = Default::default();
    for core in cores.as_array().into_iter().flatten() {
        *sums.entry("rx".into()).or_default() += core["rx_packets"].as_u64().unwrap_or(0);
        *sums.entry("forwarded".into()).or_default() += core["forwarded"].as_u64().unwrap_or(0);
        for kind in ["drops", "punts"] {
            for (reason, n) in core[kind].as_object().into_iter().flatten() {
                let key = format!("{}.{reason}", &kind[..kind.len() - 1]);
                *sums.entry(key).or_default() += n.as_u64().unwrap_or(0);
            }
        }
    }
    for link in links.as_array().into_iter().flatten() {
        let name = link["name"].as_str().unwrap_or("?");
        for k in ["rx_packets", "tx_packets", "rx_dropped", "tx_dropped"] {
            sums.insert(format!("port.{name}.{k}"), link[k].as_u64().unwrap_or(0));
        }
    }
    let mut out = std::io::stdout().lock();
    for (k, v) in sums {
        writeln!(out, "{k}\t{v}")?;
    }
    Ok(())
}

#[derive(clap::Args)]
struct ChurnArgs {
    /// Bursts to send.
    #[arg(long, value_name = "N", default_value_t = 10)]
    bursts: usize,
    /// Route changes per burst, the short prefixes included.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    size: usize,
    /// Short prefixes added in one burst and deleted in the next.
    #[arg(long, value_name = "N", default_value_t = 10)]
    short: usize,
    /// Length of the short prefixes.
    #[arg(long, value_name = "L", default_value_t = 8)]
    short_len: u8,
    /// Time from the start of one burst to the next.
    #[arg(long = "interval-ms", value_name = "MS", default_value = "1000", value_parser = millis)]
    interval: Duration,
    /// Gateways to move routes between (at least two).
    #[arg(long = "via", value_name = "GW")]
    vias: Vec<Ipv4Addr>,
    /// Add a core (`core_add`) after burst K and time its replay.
    #[arg(long, value_name = "K")]
    core_add_after: Option<usize>,
    /// CPU for that core.
    #[arg(long, value_name = "C")]
    core_cpu: Option<usize>,
    /// Seed of the shuffles.
    #[arg(long, value_name = "S", default_value_t = 0xC4A2)]
    seed: u64,
}

fn millis(s: &str) -> Result<Duration, std::num::ParseIntError> {
    s.parse().map(Duration::from_millis)
}

impl ChurnArgs {
    fn check(&self) -> Result<()> {
        if self.vias.len() < 2 {
            bail!("churn needs two --via gateways to move routes between");
        }
        if self.short > self.size {
            bail!("--short must not exceed --size");
        }
        Ok(())
    }
}

fn fib_status(c: &mut Client) -> Result<Value> {
    let mut v = c.call(json!("fib_status"))?;
    Ok(v["fib_status"].take())
}

/// The daemon's own measure: from the end of the request that committed `seq` to
/// the last listener's apply of it (µs, 0 if before), from `fib_status`'s
/// `committed_at_ns` and the listeners' `applied_at_ns` (one monotonic clock).
/// `None` if something else committed after `seq` (the stamps are of that).
fn daemon_in_step_us(s: &Value, seq: u64) -> Option<i64> {
    if s["committed_seq"].as_u64()? != seq {
        return None;
    }
    let committed = s["committed_at_ns"].as_i64()?;
    let last = s["listeners"]
        .as_array()?
        .iter()
        .filter(|l| l["failure"].is_null())
        .map(|l| l["applied_at_ns"].as_i64().unwrap_or(0))
        .max()?;
    Some(((last - committed) / 1000).max(0))
}

/// Every active listener in sync at `seq` or later; returns (polls, active listeners).
fn wait_in_step(c: &mut Client, seq: u64, timeout: Duration) -> Result<(u64, usize)> {
    let start = Instant::now();
    let mut polls = 0;
    loop {
        let s = fib_status(c)?;
        polls += 1;
        let listeners = s["listeners"].as_array().cloned().unwrap_or_default();
        let active: Vec<_> = listeners
            .iter()
            .filter(|l| l["failure"].is_null())
            .collect();
        if !active.is_empty()
            && active.iter().all(|l| {
                l["in_sync"].as_bool() == Some(true)
                    && l["applied_seq"].as_u64().unwrap_or(0) >= seq
            })
        {
            return Ok((polls, active.len()));
        }
        if start.elapsed() > timeout {
            bail!(
                "listeners not in step at seq {seq} after {timeout:?}: {}",
                s["listeners"]
            );
        }
    }
}

fn churn(socket: &str, table: &str, a: ChurnArgs) -> Result<()> {
    let text = std::fs::read_to_string(table).with_context(|| format!("reading {table}"))?;
    let mut prefixes = Vec::new();
    for line in text.lines() {
        if let Some(r) = fib::routefile::parse_line(line).map_err(|e| anyhow::anyhow!("{e}"))? {
            prefixes.push(r.prefix);
        }
    }
    let present: HashSet<Ipv4Prefix> = prefixes.iter().copied().collect();
    let mut rng = SmallRng::seed_from_u64(a.seed);
    // Routes that move: table prefixes longer than the short ones, shuffled.
    let mut movers: Vec<Ipv4Prefix> = prefixes
        .iter()
        .copied()
        .filter(|p| p.len() > a.short_len)
        .collect();
    movers.shuffle(&mut rng);
    let moves_per_burst = a.size - a.short;
    if movers.len() < moves_per_burst {
        bail!("{table} has only {} routes to move", movers.len());
    }
    // Short prefixes not in the table (so adding and deleting them never touches a
    // table route), away from 0/8, 10/8, 127/8 and class D/E.
    let mut shorts: Vec<Ipv4Prefix> = (1u32..224)
        .filter(|b| *b != 10 && *b != 127)
        .filter_map(|b| Ipv4Prefix::truncate(b << 24, a.short_len).ok())
        .filter(|p| !present.contains(p))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    shorts.sort_by_key(|p| (p.network(), p.len()));
    shorts.shuffle(&mut rng);
    shorts.truncate(a.short);
    if shorts.len() < a.short {
        bail!(
            "only {} /{} prefixes free of the table",
            shorts.len(),
            a.short_len
        );
    }

    let mut c = Client::connect(socket)?;
    let mut out = std::io::stdout().lock();
    // The resolution of "in step": one fib_status round trip, measured idle.
    let mut rtts: Vec<u128> = (0..50)
        .map(|_| {
            let t = Instant::now();
            fib_status(&mut c).map(|_| t.elapsed().as_micros())
        })
        .collect::<Result<_>>()?;
    rtts.sort_unstable();
    writeln!(
        out,
        "#rtt_us\t{}\t{}\t{}",
        rtts[0],
        rtts[rtts.len() / 2],
        rtts[rtts.len() - 1]
    )?;
    writeln!(
        out,
        "#burst\tchanges\tcores\tsend_to_commit_us\tcommit_to_in_step_us\tpolls\tdaemon_in_step_us"
    )?;
    let mut next_mover = 0usize;
    let mut flip = 0usize;
    let mut shorts_in = false;
    let timeout = Duration::from_secs(10);
    for burst in 1..=a.bursts {
        let tick = Instant::now();
        let mut routes = Vec::with_capacity(a.size);
        for _ in 0..moves_per_burst {
            if next_mover == movers.len() {
                next_mover = 0;
                flip += 1;
            }
            // Each pass over the movers uses the next gateway: a real change every time.
            let gw = a.vias[(flip + 1) % a.vias.len()];
            routes.push(json!({"prefix": movers[next_mover].to_string(), "target": {"via": {"gateway": gw.to_string()}}}));
            next_mover += 1;
        }
        let mut dels = Vec::new();
        if shorts_in {
            dels = shorts.clone();
        } else {
            for p in &shorts {
                routes.push(json!({"prefix": p.to_string(), "target": {"via": {"gateway": a.vias[0].to_string()}}}));
            }
        }
        shorts_in = !shorts_in;
        let changes = routes.len() + dels.len();
        let t0 = Instant::now();
        c.send(json!({"route_load": {"replace": true, "routes": routes}}))?;
        for p in &dels {
            c.send(json!({"route_del": {"prefix": p.to_string()}}))?;
        }
        let mut seq = 0u64;
        for _ in 0..1 + dels.len() {
            let v = c.recv()?;
            if let Some(b) = v.get("batch_applied") {
                if b["failed"].as_u64() != Some(0) {
                    bail!("burst {burst}: routes refused: {b}");
                }
                seq = seq.max(b["seq"].as_u64().unwrap_or(0));
            } else if let Some(r) = v.get("route_changed") {
                seq = seq.max(r["seq"].as_u64().unwrap_or(0));
            } else {
                bail!("unexpected answer {v}");
            }
        }
        let committed = Instant::now();
        let (polls, cores) = wait_in_step(&mut c, seq, timeout)?;
        let in_step = committed.elapsed();
        let daemon = daemon_in_step_us(&fib_status(&mut c)?, seq)
            .map_or_else(|| "-".to_string(), |us| us.to_string());
        writeln!(
            out,
            "{burst}\t{changes}\t{cores}\t{}\t{}\t{polls}\t{daemon}",
            (committed - t0).as_micros(),
            in_step.as_micros()
        )?;
        out.flush()?;
        if a.core_add_after == Some(burst) {
            let t = Instant::now();
            let req = match a.core_cpu {
                Some(cpu) => json!({"core_add": {"cpu": cpu}}),
                None => json!({"core_add": {}}),
            };
            let v = c.call(req)?;
            let id = v["core_added"]["id"]
                .as_u64()
                .with_context(|| format!("core_add answered {v}"))?;
            let started = t.elapsed();
            let seq = fib_status(&mut c)?["seq"].as_u64().unwrap_or(0);
            let (polls, cores) = wait_in_step(&mut c, seq, Duration::from_secs(60))?;
            writeln!(
                out,
                "core_add\tcore {id}\t{cores}\t{}\t{}\t{polls}",
                started.as_micros(),
                t.elapsed().as_micros()
            )?;
            out.flush()?;
        }
        if let Some(rest) = a.interval.checked_sub(tick.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    Ok(())
}
