//! `fibrectl stats [-w]`: counters, or with `-w` rates refreshed every interval.

use super::failure::{daemon, usage, Failure};
use super::render::print_table;
use super::reply::print_json;
use super::session::Session;
use crate::proto::{Reply, Request, StatsReply};
use clap::Args;
use std::time::Duration;

#[derive(Args)]
pub struct StatsArgs {
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

pub fn run(args: StatsArgs, session: &Session) -> Result<(), Failure> {
    if args.watch {
        watch(args, session)
    } else {
        session.call(Request::Stats)
    }
}

/// Counters, or with a previous sample, rates per second.
pub fn print_stats(s: &StatsReply, prev: Option<&StatsReply>) {
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

/// One connection, a stats request every interval; rates from the previous answer.
fn watch(args: StatsArgs, session: &Session) -> Result<(), Failure> {
    if !(args.interval.is_finite() && args.interval >= 0.05) {
        return Err(usage("stats: --interval must be at least 0.05 seconds"));
    }
    let mut client = session.connect()?;
    let interval = Duration::from_secs_f64(args.interval);
    let mut prev: Option<StatsReply> = None;
    let mut shown = 0u64;
    loop {
        let Reply::Stats(now) = client.call(&Request::Stats)? else {
            return Err(daemon("fibred answered stats with something else"));
        };
        if session.json {
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
