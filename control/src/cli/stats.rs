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

/// Counters, or with a previous sample, rates per second: packets in pps/kpps/Mpps
/// and, from the byte counters, bits in bps/kbps/Mbps/Gbps (frame bits, without
/// preamble, FCS and gap; `-` when the daemon does not count bytes).
pub fn print_stats(s: &StatsReply, prev: Option<&StatsReply>) {
    let secs = prev
        .map(|p| s.uptime_ms.saturating_sub(p.uptime_ms) as f64 / 1000.0)
        .filter(|&dt| dt > 0.0);
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
    let Some(dt) = secs else {
        let rows: Vec<Vec<String>> = s
            .cores
            .iter()
            .map(|c| {
                vec![
                    c.id.to_string(),
                    c.name.clone(),
                    c.rx_packets.to_string(),
                    c.tx_packets.to_string(),
                    c.tx_dropped.to_string(),
                    c.forwarded.to_string(),
                    c.dropped.to_string(),
                    c.punted.to_string(),
                    c.applied_seq.to_string(),
                ]
            })
            .collect();
        print_table(
            &[
                "CORE",
                "NAME",
                "RX",
                "TX",
                "TX-FULL",
                "FORWARDED",
                "DROPPED",
                "PUNTED",
                "SEQ",
            ],
            &rows,
        );
        return;
    };
    let rows: Vec<Vec<String>> = s
        .cores
        .iter()
        .map(|c| {
            // A core that left (or restarted) since: its counters from zero.
            let p = prev
                .and_then(|p| p.cores.iter().find(|x| x.id == c.id))
                .cloned()
                .unwrap_or_default();
            let per_s = |now: u64, before: u64| now.saturating_sub(before) as f64 / dt;
            let bits = |bytes: u64, before: u64, packets: u64| {
                if bytes == 0 && packets > 0 {
                    "-".to_owned()
                } else {
                    bit_rate(per_s(bytes, before) * 8.0)
                }
            };
            vec![
                c.id.to_string(),
                c.name.clone(),
                packet_rate(per_s(c.rx_packets, p.rx_packets)),
                bits(c.rx_bytes, p.rx_bytes, c.rx_packets),
                packet_rate(per_s(c.tx_packets, p.tx_packets)),
                bits(c.tx_bytes, p.tx_bytes, c.tx_packets),
                packet_rate(per_s(c.tx_dropped, p.tx_dropped)),
                packet_rate(per_s(c.forwarded, p.forwarded)),
                packet_rate(per_s(c.dropped, p.dropped)),
                packet_rate(per_s(c.punted, p.punted)),
                busy_percent(c, &p),
                cycles_per_packet(c, &p),
                c.applied_seq.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "CORE",
            "NAME",
            "RX",
            "RX-BITS",
            "TX",
            "TX-BITS",
            "TX-FULL",
            "FORWARDED",
            "DROPPED",
            "PUNTED",
            "BUSY%",
            "CYC/PKT",
            "SEQ",
        ],
        &rows,
    );
}

/// The share of the interval a core's loop found work, from its busy and idle
/// cycles (`-` for a daemon that does not count them).
fn busy_percent(c: &crate::proto::CoreCounters, p: &crate::proto::CoreCounters) -> String {
    let busy = c.busy_cycles.saturating_sub(p.busy_cycles);
    let idle = c.idle_cycles.saturating_sub(p.idle_cycles);
    if busy + idle == 0 {
        return "-".into();
    }
    format!("{:.1}", busy as f64 * 100.0 / (busy + idle) as f64)
}

/// Busy cycles per received packet over the interval (`-` without packets, or
/// from a daemon that does not count cycles).
fn cycles_per_packet(c: &crate::proto::CoreCounters, p: &crate::proto::CoreCounters) -> String {
    let busy = c.busy_cycles.saturating_sub(p.busy_cycles);
    let counted = busy + c.idle_cycles.saturating_sub(p.idle_cycles) > 0;
    match c.rx_packets.saturating_sub(p.rx_packets) {
        rx if rx > 0 && counted => (busy / rx).to_string(),
        _ => "-".into(),
    }
}

/// Packets per second, 3 significant digits: `0 pps`, `12.5 pps`, `148 kpps`, `14.9 Mpps`.
pub fn packet_rate(per_second: f64) -> String {
    human(per_second, &["pps", "kpps", "Mpps"])
}

/// Bits per second, 3 significant digits: `0 bps`, `800 kbps`, `1.00 Mbps`, `9.87 Gbps`.
pub fn bit_rate(per_second: f64) -> String {
    human(per_second, &["bps", "kbps", "Mbps", "Gbps"])
}

/// `value` in the largest of `units` (each 1000 times the one before) that keeps it
/// at 1 or more, to 3 significant digits (more digits only beyond the last unit).
fn human(value: f64, units: &[&str]) -> String {
    if !value.is_finite() || value < 0.0005 {
        return format!("0 {}", units[0]);
    }
    let mut v = value;
    let mut unit = 0;
    // 999.5 rounds to 1000, which is the next unit's 1.00.
    while v >= 999.5 && unit + 1 < units.len() {
        v /= 1000.0;
        unit += 1;
    }
    let decimals = match v {
        v if v >= 99.95 => 0,
        v if v >= 9.995 => 1,
        v if v >= 0.9995 => 2,
        _ => 3,
    };
    format!("{v:.decimals$} {}", units[unit])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_have_three_significant_digits_and_a_unit() {
        let cases = [
            (0.0, "0 pps"),
            (1.0, "1.00 pps"),
            (0.5, "0.500 pps"),
            (12.34, "12.3 pps"),
            (999.0, "999 pps"),
            (999.4, "999 pps"),
            (999.6, "1.00 kpps"),
            (1234.0, "1.23 kpps"),
            (14_880_952.0, "14.9 Mpps"),
            (148_809_523.0, "149 Mpps"),
            // Beyond the last unit: more digits rather than a unit nobody reads.
            (2_500_000_000.0, "2500 Mpps"),
            (f64::NAN, "0 pps"),
            (-3.0, "0 pps"),
        ];
        for (v, want) in cases {
            assert_eq!(packet_rate(v), want, "{v}");
        }
        assert_eq!(bit_rate(0.0), "0 bps");
        assert_eq!(bit_rate(800.0), "800 bps");
        assert_eq!(bit_rate(64_000.0), "64.0 kbps");
        assert_eq!(bit_rate(999_999.0), "1.00 Mbps");
        assert_eq!(bit_rate(9_870_000_000.0), "9.87 Gbps");
        assert_eq!(bit_rate(100e9), "100 Gbps");
        assert_eq!(bit_rate(1.6e12), "1600 Gbps");
    }
}
