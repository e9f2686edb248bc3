//! The `metrics` request: one snapshot of every counter, and the state this feature
//! keeps in the router.

use super::{CommitLatency, CoreMetrics, CorePortMetrics, MetricsReply, RequestCounts, RouteCount};
use crate::daemon::{Backend, Router};
use crate::proto::{Reply, Response};
use crate::source::handler::infos;
use crate::stats::handler::{fib_status_reply, stats_reply};
use dataplane::forward::{DropReason, PuntReason};
use std::collections::BTreeMap;

/// The metrics feature's part of the router.
#[derive(Debug, Default)]
pub struct MetricsState {
    pub requests: RequestCounts,
    pub commits: CommitLatency,
    /// Prefixes by table and protocol, with the FIB seq they were counted at:
    /// counting walks every route (a few ms for a full table), so a scrape of an
    /// unchanged FIB reuses the last count.
    route_counts: Option<(u64, Vec<RouteCount>)>,
    /// Per core: (busy cycles, idle cycles, received packets) at the previous
    /// `metrics` request, for the interval's busy share and cycles per packet.
    cpu: std::collections::HashMap<u32, (u64, u64, u64)>,
}

pub fn metrics<B: Backend>(r: &mut Router<B>) -> Response {
    let stats = stats_reply(r);
    let fib = fib_status_reply(r);
    let mut cpu = std::collections::HashMap::new();
    let cores = r
        .cores
        .slots
        .iter()
        .map(|(id, slot)| {
            let st = slot.handle.stats();
            let now = (st.busy_cycles, st.idle_cycles, st.rx_packets());
            let (b0, i0, rx0) = r.metrics.cpu.get(id).copied().unwrap_or_default();
            let busy = now.0.saturating_sub(b0);
            let idle = now.1.saturating_sub(i0);
            let rx = now.2.saturating_sub(rx0);
            cpu.insert(*id, now);
            CoreMetrics {
                busy_permille: (busy * 1000).checked_div(busy + idle).unwrap_or(0) as u32,
                cycles_per_packet: busy.checked_div(rx).unwrap_or(0),
                id: *id,
                name: slot.handle.name().to_string(),
                drops: DropReason::ALL
                    .iter()
                    .map(|d| (d.name().to_string(), st.dropped(*d)))
                    .collect(),
                punts: PuntReason::ALL
                    .iter()
                    .map(|p| (p.name().to_string(), st.punted(*p)))
                    .collect(),
                punt_ring_full: st.punt_ring_full,
                tbl8_groups_used: st.tbl8_groups_used,
                tbl8_groups_max: st.tbl8_groups_max,
                ports: st
                    .ports
                    .iter()
                    .enumerate()
                    .map(|(i, p)| CorePortMetrics {
                        port: r.interfaces.name(i as fib::PortId),
                        rx_packets: p.rx_packets,
                        rx_bytes: p.rx_bytes,
                        tx_packets: p.tx_packets,
                        tx_bytes: p.tx_bytes,
                        tx_dropped: p.tx_dropped,
                    })
                    .collect(),
            }
        })
        .collect();
    r.metrics.cpu = cpu;
    let mut neighbours = BTreeMap::new();
    for n in r.neighbours.table.entries() {
        *neighbours.entry(n.state.name().to_string()).or_default() += 1;
    }
    let seq = r.fib.seq();
    let routes = match &r.metrics.route_counts {
        Some((at, counts)) if *at == seq => counts.clone(),
        _ => {
            let counts = count_routes(&r.fib);
            r.metrics.route_counts = Some((seq, counts.clone()));
            counts
        }
    };
    Ok(Reply::Metrics(Box::new(MetricsReply {
        stats,
        fib,
        cores,
        sources: infos(r),
        neighbours,
        routes,
        requests: r.metrics.requests.snapshot(),
        commit_latency: r.metrics.commits.histogram(),
        commits_unmeasured: r.metrics.commits.unmeasured,
    })))
}

/// Prefixes by table and by their installed route's protocol; every protocol of
/// every table appears, zeros included, so a series never vanishes.
fn count_routes(fib: &fib::Fib) -> Vec<RouteCount> {
    let mut out = Vec::new();
    for table in fib.table_ids() {
        let mut n = [0u64; fib::Protocol::ALL.len()];
        if let Ok(routes) = fib.routes(table) {
            for (_, e) in routes {
                if let Some(i) = fib::Protocol::ALL
                    .iter()
                    .position(|p| *p == e.installed().protocol)
                {
                    n[i] += 1;
                }
            }
        }
        out.extend(
            fib::Protocol::ALL
                .iter()
                .zip(n)
                .map(|(p, routes)| RouteCount {
                    table: table.0,
                    protocol: p.name().to_string(),
                    routes,
                }),
        );
    }
    out
}
