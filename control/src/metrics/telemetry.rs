//! fibre's own DPDK telemetry commands, beside DPDK's `/ethdev/*`, so that
//! `dpdk-telemetry.py` and DPDK telemetry exporters show fibre too:
//!
//! - `/fibre/cores`: each core's state, applied seq, lag, counters and CPU split;
//! - `/fibre/fib`: the FIB's seq, watermark and sizes;
//! - `/fibre/routes/count`: prefixes by protocol (over all tables), and in all;
//! - `/fibre/ports`: each port's device counters.
//!
//! Like the metrics endpoint, a command is a client of the control socket (it
//! asks for the same snapshot as a scrape), so DPDK's telemetry thread never
//! reads the FIB or a core's state behind the control thread's back.

use super::MetricsReply;
use crate::cli::ControlClient;
use crate::proto::{Reply, Request};
use dataplane::dpdk::telemetry::{register, TelData};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Registers the commands; they answer from the daemon at `control_socket`.
pub fn register_commands(control_socket: &Path) -> anyhow::Result<()> {
    type Fill = fn(&MetricsReply, &mut TelData);
    let commands: [(&str, &str, Fill); 4] = [
        (
            "/fibre/cores",
            "fibre's forwarding cores: state, seq, counters, busy/idle cycles",
            cores,
        ),
        (
            "/fibre/fib",
            "fibre's FIB: seq, watermark, prefixes, nexthops",
            fib,
        ),
        (
            "/fibre/routes/count",
            "fibre's prefixes by the protocol of their installed route",
            routes,
        ),
        ("/fibre/ports", "fibre's ports: device counters", ports),
    ];
    for (cmd, help, fill) in commands {
        let socket = control_socket.to_path_buf();
        register(
            cmd,
            help,
            Box::new(move |_params, out| {
                let m = snapshot(&socket)?;
                out.start_dict();
                fill(&m, out);
                Ok(())
            }),
        )?;
    }
    Ok(())
}

fn snapshot(socket: &PathBuf) -> Result<MetricsReply, String> {
    let mut c = ControlClient::connect(socket)
        .map_err(|e| format!("fibred's control socket: {e} (is it still starting?)"))?;
    c.set_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    match c.call(&Request::Metrics) {
        Ok(Reply::Metrics(m)) => Ok(*m),
        Ok(other) => Err(format!("unexpected reply {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

fn cores(m: &MetricsReply, out: &mut TelData) {
    for (c, l) in m.stats.cores.iter().zip(&m.cores) {
        out.add_dict(&c.name, |d| {
            d.add_u64("id", u64::from(c.id));
            let listener = m.fib.listeners.iter().find(|x| x.name == c.name);
            if let Some(l) = listener {
                d.add_str("state", &l.state);
                d.add_u64("lag", l.lag);
                d.add_u64("resyncs", l.resyncs);
            }
            d.add_u64("applied_seq", c.applied_seq);
            d.add_u64("rx_packets", c.rx_packets);
            d.add_u64("tx_packets", c.tx_packets);
            d.add_u64("forwarded", c.forwarded);
            d.add_u64("dropped", c.dropped);
            d.add_u64("punted", c.punted);
            d.add_u64("punt_ring_full", l.punt_ring_full);
            d.add_u64("tbl8_groups_used", l.tbl8_groups_used);
            d.add_u64("tbl8_groups_max", l.tbl8_groups_max);
            d.add_u64("busy_cycles", c.busy_cycles);
            d.add_u64("idle_cycles", c.idle_cycles);
        });
    }
}

fn fib(m: &MetricsReply, out: &mut TelData) {
    let f = &m.fib;
    out.add_u64("seq", f.seq);
    out.add_u64("watermark", f.watermark);
    out.add_u64("tables", f.tables as u64);
    out.add_u64("prefixes", f.prefixes as u64);
    out.add_u64("nexthops", f.nexthops as u64);
    out.add_u64("groups", f.groups as u64);
    out.add_u64("listeners", f.listeners.len() as u64);
    out.add_u64("commits_measured", m.commit_latency.count);
}

fn routes(m: &MetricsReply, out: &mut TelData) {
    let mut by: std::collections::BTreeMap<&str, u64> = Default::default();
    for r in &m.routes {
        *by.entry(&r.protocol).or_default() += r.routes;
    }
    out.add_u64("total", m.fib.prefixes as u64);
    for (p, n) in by {
        out.add_u64(p, n);
    }
}

fn ports(m: &MetricsReply, out: &mut TelData) {
    for p in &m.stats.ports {
        let c = &p.counters;
        out.add_dict(&p.name, |d| {
            d.add_u64("up", u64::from(p.up));
            d.add_u64("rx_packets", c.rx_packets);
            d.add_u64("rx_bytes", c.rx_bytes);
            d.add_u64("rx_dropped", c.rx_dropped);
            d.add_u64("rx_missed", c.rx_missed);
            d.add_u64("rx_errors", c.rx_errors);
            d.add_u64("rx_nombuf", c.rx_nombuf);
            d.add_u64("tx_packets", c.tx_packets);
            d.add_u64("tx_bytes", c.tx_bytes);
            d.add_u64("tx_errors", c.tx_dropped);
        });
    }
}
