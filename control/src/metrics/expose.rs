//! A [`MetricsReply`] as OpenMetrics text, through `prometheus-client`'s encoder
//! (a collector over the snapshot: the figures are the daemon's running totals,
//! not metrics this process increments).
//!
//! Naming follows Prometheus' conventions: every name starts with `fibre_`,
//! counters end in `_total` (the encoder adds it), units are in names
//! (`_bytes`, `_seconds`, `_packets`), and cores, ports, reasons, ops and states
//! are labels, never parts of names.

use super::MetricsReply;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::fmt::Error;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of [`classic`]'s text.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// OpenMetrics text in Prometheus' classic text format (0.0.4), for scrapers that
/// do not ask for OpenMetrics (and for `promtool check metrics`, which reads only
/// this one). The two differ in three places: a counter's family is named with
/// its `_total` (OpenMetrics names the family without it), there is no `# UNIT`
/// line, and no `# EOF`.
pub fn classic(openmetrics: &str) -> String {
    let lines: Vec<&str> = openmetrics.lines().collect();
    let mut counters = std::collections::HashSet::new();
    for l in &lines {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name);
            }
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for l in lines {
        if l.starts_with("# UNIT ") || l == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = l.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        match renamed {
            Some(r) => out.push_str(&r),
            None => out.push_str(l),
        }
        out.push('\n');
    }
    out
}

/// The snapshot as OpenMetrics text (ends with `# EOF`).
pub fn render(m: &MetricsReply) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot(m.clone())));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

#[derive(Debug)]
struct Snapshot(MetricsReply);

type Labels = Vec<(&'static str, String)>;

/// One metric family: its descriptor, then one sample per label set.
struct Family<'e>(MetricEncoder<'e>);

fn family<'e>(
    enc: &'e mut DescriptorEncoder,
    name: &'e str,
    help: &str,
    unit: Option<&'e Unit>,
    kind: MetricType,
) -> Result<Family<'e>, Error> {
    Ok(Family(enc.encode_descriptor(name, help, unit, kind)?))
}

impl Family<'_> {
    fn counter(&mut self, labels: &Labels, v: u64) -> Result<(), Error> {
        ConstCounter::new(v).encode(self.0.encode_family(labels)?)
    }

    fn gauge(&mut self, labels: &Labels, v: i64) -> Result<(), Error> {
        ConstGauge::new(v).encode(self.0.encode_family(labels)?)
    }
}

/// A count as a gauge value (saturating: no count reaches 2^63).
fn g(v: impl TryInto<i64>) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), Error> {
        let m = &self.0;
        let s = &m.stats;
        let bytes = Unit::Bytes;
        let seconds = Unit::Seconds;
        let none: Labels = Vec::new();

        let mut f = family(
            &mut e,
            "fibre_uptime",
            "Time since fibred started.",
            Some(&seconds),
            MetricType::Gauge,
        )?;
        f.gauge(&none, g(s.uptime_ms / 1000))?;

        // ---- per core and port: the cores' own counts of their queue pairs ----
        let core_port = |c: &super::CoreMetrics, p: &super::CorePortMetrics| -> Labels {
            vec![("core", c.name.clone()), ("port", p.port.clone())]
        };
        type PortField = fn(&super::CorePortMetrics) -> u64;
        let per_port: [(&str, &str, Option<&Unit>, PortField); 5] = [
            (
                "fibre_core_rx_packets",
                "Packets a core received on a port.",
                None,
                |p| p.rx_packets,
            ),
            (
                "fibre_core_rx",
                "Bytes a core received on a port (0 unless [cores] count_port_bytes).",
                Some(&bytes),
                |p| p.rx_bytes,
            ),
            (
                "fibre_core_tx_packets",
                "Packets a core sent on a port.",
                None,
                |p| p.tx_packets,
            ),
            (
                "fibre_core_tx",
                "Bytes a core sent on a port (0 unless [cores] count_port_bytes).",
                Some(&bytes),
                |p| p.tx_bytes,
            ),
            (
                "fibre_core_tx_dropped_packets",
                "Forwarded packets a port's full TX queue refused (freed).",
                None,
                |p| p.tx_dropped,
            ),
        ];
        for (name, help, unit, field) in per_port {
            let mut f = family(&mut e, name, help, unit, MetricType::Counter)?;
            for c in &m.cores {
                for p in &c.ports {
                    f.counter(&core_port(c, p), field(p))?;
                }
            }
        }
        let core = |c: &super::CoreMetrics| -> Labels { vec![("core", c.name.clone())] };
        let mut f = family(
            &mut e,
            "fibre_core_forwarded_packets",
            "Packets a core rewrote and handed to a TX burst.",
            None,
            MetricType::Counter,
        )?;
        for c in &s.cores {
            f.counter(&vec![("core", c.name.clone())], c.forwarded)?;
        }
        // The busy share is rate(busy) / (rate(busy) + rate(idle)); cycles per
        // packet rate(busy) / rate(fibre_core_rx_packets_total).
        type CoreField = fn(&crate::stats::CoreCounters) -> u64;
        let cycles: [(&str, &str, CoreField); 2] = [
            (
                "fibre_core_busy_cycles",
                "TSC cycles of a core's loop iterations that found work.",
                |c| c.busy_cycles,
            ),
            (
                "fibre_core_idle_cycles",
                "TSC cycles of a core's loop iterations that found none, with their wait.",
                |c| c.idle_cycles,
            ),
        ];
        for (name, help, field) in cycles {
            let mut f = family(&mut e, name, help, None, MetricType::Counter)?;
            for c in &s.cores {
                f.counter(&vec![("core", c.name.clone())], field(c))?;
            }
        }
        let mut f = family(
            &mut e,
            "fibre_core_dropped_packets",
            "Packets a core dropped, by reason.",
            None,
            MetricType::Counter,
        )?;
        for c in &m.cores {
            for (reason, n) in &c.drops {
                let mut l = core(c);
                l.push(("reason", reason.clone()));
                f.counter(&l, *n)?;
            }
        }
        let mut f = family(
            &mut e,
            "fibre_core_punted_packets",
            "Packets a core handed to the control plane, by reason.",
            None,
            MetricType::Counter,
        )?;
        for c in &m.cores {
            for (reason, n) in &c.punts {
                let mut l = core(c);
                l.push(("reason", reason.clone()));
                f.counter(&l, *n)?;
            }
        }
        let mut f = family(
            &mut e,
            "fibre_core_punt_ring_full_packets",
            "Punted packets freed because the punt ring to the control plane was full.",
            None,
            MetricType::Counter,
        )?;
        for c in &m.cores {
            f.counter(&core(c), c.punt_ring_full)?;
        }
        let mut f = family(
            &mut e,
            "fibre_core_busy_ratio",
            "Share of a core's time its loop found work (0 to 1), since the previous scrape.",
            None,
            MetricType::Gauge,
        )?;
        for c in &m.cores {
            f.0.encode_family(&core(c))?
                .encode_gauge(&(f64::from(c.busy_permille) / 1000.0))?;
        }
        let mut f = family(
            &mut e,
            "fibre_core_cycles_per_packet",
            "Busy TSC cycles per received packet, since the previous scrape (0: none).",
            None,
            MetricType::Gauge,
        )?;
        for c in &m.cores {
            f.gauge(&core(c), g(c.cycles_per_packet))?;
        }
        let mut f = family(
            &mut e,
            "fibre_core_tbl8_groups_used",
            "tbl8 groups a core's DIR-24-8 tables use.",
            None,
            MetricType::Gauge,
        )?;
        for c in &m.cores {
            f.gauge(&core(c), g(c.tbl8_groups_used))?;
        }
        let mut f = family(
            &mut e,
            "fibre_core_tbl8_groups_max",
            "tbl8 groups a core's DIR-24-8 tables may use.",
            None,
            MetricType::Gauge,
        )?;
        for c in &m.cores {
            f.gauge(&core(c), g(c.tbl8_groups_max))?;
        }

        // ---- per port: the devices' own counters (rte_eth_stats) ----
        type LinkField = fn(&crate::interfaces::LinkCounters) -> u64;
        let per_dev: [(&str, &str, Option<&Unit>, LinkField); 9] = [
            (
                "fibre_port_rx_packets",
                "Packets the port's device received.",
                None,
                |c| c.rx_packets,
            ),
            (
                "fibre_port_rx",
                "Bytes the port's device received.",
                Some(&bytes),
                |c| c.rx_bytes,
            ),
            (
                "fibre_port_tx_packets",
                "Packets the port's device sent.",
                None,
                |c| c.tx_packets,
            ),
            (
                "fibre_port_tx",
                "Bytes the port's device sent.",
                Some(&bytes),
                |c| c.tx_bytes,
            ),
            (
                "fibre_port_rx_dropped_packets",
                "Packets the device dropped on receive (missed + errors + no mbuf).",
                None,
                |c| c.rx_dropped,
            ),
            (
                "fibre_port_rx_missed_packets",
                "Packets the device dropped for want of room in an RX ring (imissed).",
                None,
                |c| c.rx_missed,
            ),
            (
                "fibre_port_rx_errors_packets",
                "Erroneous packets the device received (ierrors).",
                None,
                |c| c.rx_errors,
            ),
            (
                "fibre_port_rx_nombuf_packets",
                "Receives that failed for want of an mbuf (rx_nombuf).",
                None,
                |c| c.rx_nombuf,
            ),
            (
                "fibre_port_tx_errors_packets",
                "Packets the device failed to send (oerrors).",
                None,
                |c| c.tx_dropped,
            ),
        ];
        for (name, help, unit, field) in per_dev {
            let mut f = family(&mut e, name, help, unit, MetricType::Counter)?;
            for p in &s.ports {
                f.counter(&vec![("port", p.name.clone())], field(&p.counters))?;
            }
        }
        let mut f = family(
            &mut e,
            "fibre_port_up",
            "Whether the port's link is up.",
            None,
            MetricType::Gauge,
        )?;
        for p in &s.ports {
            f.gauge(&vec![("port", p.name.clone())], i64::from(p.up))?;
        }

        // ---- the FIB and its listeners ----
        let fib = &m.fib;
        for (name, help, v) in [
            (
                "fibre_fib_seq",
                "The FIB's change sequence number.",
                fib.seq,
            ),
            (
                "fibre_fib_watermark_seq",
                "The lowest seq every active listener (core) has applied.",
                fib.watermark,
            ),
            (
                "fibre_fib_prefixes",
                "Prefixes with a route, over all tables.",
                fib.prefixes as u64,
            ),
            (
                "fibre_fib_nexthops",
                "Nexthops in the FIB.",
                fib.nexthops as u64,
            ),
            (
                "fibre_fib_groups",
                "Multipath groups in the FIB.",
                fib.groups as u64,
            ),
        ] {
            family(&mut e, name, help, None, MetricType::Gauge)?.gauge(&none, g(v))?;
        }
        let listener =
            |l: &crate::stats::ListenerInfo| -> Labels { vec![("listener", l.name.clone())] };
        let mut f = family(
            &mut e,
            "fibre_fib_listener_applied_seq",
            "The FIB seq a listener's tables reflect.",
            None,
            MetricType::Gauge,
        )?;
        for l in &fib.listeners {
            f.gauge(&listener(l), g(l.applied_seq))?;
        }
        let mut f = family(
            &mut e,
            "fibre_fib_listener_lag_seq",
            "FIB changes a listener has not applied yet.",
            None,
            MetricType::Gauge,
        )?;
        for l in &fib.listeners {
            f.gauge(&listener(l), g(l.lag))?;
        }
        let mut f = family(
            &mut e,
            "fibre_fib_listener_in_sync",
            "Whether a listener serves a whole table.",
            None,
            MetricType::Gauge,
        )?;
        for l in &fib.listeners {
            f.gauge(&listener(l), i64::from(l.in_sync))?;
        }
        let mut f = family(
            &mut e,
            "fibre_fib_listener_resyncs",
            "Times a listener was replayed the whole FIB again.",
            None,
            MetricType::Counter,
        )?;
        for l in &fib.listeners {
            f.counter(&listener(l), l.resyncs)?;
        }
        let h = &m.commit_latency;
        let mut f = e.encode_descriptor(
            "fibre_fib_commit_latency",
            "From a change committing in the FIB to every core having applied it.",
            Some(&seconds),
            MetricType::Histogram,
        )?;
        let buckets: Vec<(f64, u64)> = h
            .buckets
            .iter()
            .map(|[le, n]| {
                // The encoder writes +Inf for f64::MAX (its own histograms' last bound).
                let le = if *le == u64::MAX {
                    f64::MAX
                } else {
                    *le as f64 / 1e9
                };
                (le, *n)
            })
            .collect();
        f.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            h.sum_ns as f64 / 1e9,
            h.count,
            &buckets,
            None,
        )?;
        family(
            &mut e,
            "fibre_fib_commits_unmeasured",
            "Commits not in the latency histogram (no core listened, or too many waited).",
            None,
            MetricType::Counter,
        )?
        .counter(&none, m.commits_unmeasured)?;
        let a = &fib.audit;
        for (name, help, v) in [
            (
                "fibre_fib_audit_core_audits",
                "Cores audited against the FIB (one per core per audit).",
                a.core_audits,
            ),
            (
                "fibre_fib_audit_found_wrong",
                "Audits that found a core's tables wrong.",
                a.found_wrong,
            ),
            (
                "fibre_fib_audit_resyncs",
                "Resyncs an audit started.",
                a.resyncs,
            ),
            (
                "fibre_fib_audit_unverified_ranges",
                "Audit ranges left unverified because they kept changing.",
                a.unverified,
            ),
        ] {
            family(&mut e, name, help, None, MetricType::Counter)?.counter(&none, v)?;
        }
        let mut f = family(
            &mut e,
            "fibre_routes",
            "Prefixes by table and by the protocol of their installed route.",
            None,
            MetricType::Gauge,
        )?;
        for r in &m.routes {
            f.gauge(
                &vec![
                    ("table", r.table.to_string()),
                    ("protocol", r.protocol.clone()),
                ],
                g(r.routes),
            )?;
        }
        let mut f = family(
            &mut e,
            "fibre_neighbours",
            "Neighbours (ARP entries) by state.",
            None,
            MetricType::Gauge,
        )?;
        for state in ["permanent", "reachable", "stale", "incomplete", "failed"] {
            let n = m.neighbours.get(state).copied().unwrap_or(0);
            f.gauge(&vec![("state", state.to_string())], g(n))?;
        }

        // ---- route sources ----
        let source = |s: &crate::source::handler::SourceInfo| -> Labels {
            vec![("source", s.name.clone()), ("protocol", s.protocol.clone())]
        };
        let mut f = family(
            &mut e,
            "fibre_source_connected",
            "Whether a route source is connected to its peer.",
            None,
            MetricType::Gauge,
        )?;
        for s in &m.sources {
            f.gauge(&source(s), i64::from(s.connected))?;
        }
        let mut f = family(
            &mut e,
            "fibre_source_routes",
            "Routes a source holds.",
            None,
            MetricType::Gauge,
        )?;
        for s in &m.sources {
            f.gauge(&source(s), g(s.routes))?;
        }
        type SourceField = fn(&crate::source::handler::SourceInfo) -> u64;
        let per_source: [(&str, &str, SourceField); 5] = [
            (
                "fibre_source_messages",
                "Messages a source received from its peer.",
                |s| s.messages,
            ),
            (
                "fibre_source_resyncs",
                "Whole-table resends (reconnects, re-dumps, dump retries).",
                |s| s.resyncs,
            ),
            (
                "fibre_source_dump_retries",
                "Inconsistent dumps taken again (the kernel's NLM_F_DUMP_INTR).",
                |s| s.dump_retries,
            ),
            (
                "fibre_source_ignored_messages",
                "Peer messages a source could not use.",
                |s| s.ignored,
            ),
            (
                "fibre_source_refused_requests",
                "Source changes the control thread refused.",
                |s| s.refused,
            ),
        ];
        for (name, help, field) in per_source {
            let mut f = family(&mut e, name, help, None, MetricType::Counter)?;
            for s in &m.sources {
                f.counter(&source(s), field(s))?;
            }
        }

        // ---- the control plane ----
        let mut f = family(
            &mut e,
            "fibre_control_requests",
            "Control-socket requests, by op.",
            None,
            MetricType::Counter,
        )?;
        for o in &m.requests {
            f.counter(&vec![("op", o.op.clone())], o.requests)?;
        }
        let mut f = family(
            &mut e,
            "fibre_control_errors",
            "Control-socket requests refused, by op and error kind.",
            None,
            MetricType::Counter,
        )?;
        for o in &m.requests {
            for (kind, n) in &o.errors {
                f.counter(&vec![("op", o.op.clone()), ("kind", kind.clone())], *n)?;
            }
        }
        let c = &s.control;
        family(
            &mut e,
            "fibre_control_clients",
            "Control-socket clients connected.",
            None,
            MetricType::Gauge,
        )?
        .gauge(&none, g(c.clients))?;
        for (name, help, v) in [
            (
                "fibre_control_clients_dropped",
                "Control-socket clients dropped for misbehaving.",
                c.clients_dropped,
            ),
            (
                "fibre_control_punts_handled",
                "Punted packets the control thread handled.",
                c.punts_handled,
            ),
            (
                "fibre_control_arp_requests_sent",
                "ARP requests the control thread sent.",
                c.arp_requests_sent,
            ),
        ] {
            family(&mut e, name, help, None, MetricType::Counter)?.counter(&none, v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{CoreMetrics, CorePortMetrics, OpCount, RouteCount};

    #[test]
    fn a_snapshot_renders_with_labels_units_and_totals() {
        let mut m = MetricsReply::default();
        m.cores.push(CoreMetrics {
            id: 0,
            name: "core0".into(),
            drops: [("no_route".to_string(), 7)].into(),
            ports: vec![CorePortMetrics {
                port: "p0".into(),
                rx_packets: 42,
                ..Default::default()
            }],
            tbl8_groups_used: 3,
            ..Default::default()
        });
        m.routes.push(RouteCount {
            table: 254,
            protocol: "static".into(),
            routes: 5,
        });
        m.requests.push(OpCount {
            op: "route_add".into(),
            requests: 2,
            errors: [("invalid_argument".to_string(), 1)].into(),
        });
        m.commit_latency = crate::metrics::CommitLatency::default().histogram();
        let text = render(&m);
        for line in [
            "# TYPE fibre_core_rx_packets counter",
            "fibre_core_rx_packets_total{core=\"core0\",port=\"p0\"} 42",
            "fibre_core_dropped_packets_total{core=\"core0\",reason=\"no_route\"} 7",
            "fibre_core_tbl8_groups_used{core=\"core0\"} 3",
            "fibre_core_busy_ratio{core=\"core0\"} 0.0",
            "# UNIT fibre_fib_commit_latency_seconds seconds",
            "fibre_fib_commit_latency_seconds_bucket{le=\"+Inf\"} 0",
            "fibre_routes{table=\"254\",protocol=\"static\"} 5",
            "fibre_control_errors_total{op=\"route_add\",kind=\"invalid_argument\"} 1",
            "fibre_neighbours{state=\"reachable\"} 0",
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in:\n{text}"
            );
        }
        let old = classic(&text);
        for line in [
            "# HELP fibre_core_rx_packets_total Packets a core received on a port.",
            "# TYPE fibre_core_rx_packets_total counter",
            "fibre_core_rx_packets_total{core=\"core0\",port=\"p0\"} 42",
            "# TYPE fibre_fib_commit_latency_seconds histogram",
            "# TYPE fibre_routes gauge",
        ] {
            assert!(
                old.lines().any(|l| l == line),
                "no line {line:?} in:\n{old}"
            );
        }
        assert!(!old.contains("# UNIT") && !old.contains("# EOF"), "{old}");
        assert_eq!(
            old.lines().filter(|l| !l.starts_with('#')).count(),
            text.lines().filter(|l| !l.starts_with('#')).count()
        );
    }
}
