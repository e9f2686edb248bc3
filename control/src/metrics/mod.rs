//! Metrics: what a monitoring system scrapes. `fibred` serves OpenMetrics text on
//! `[metrics] listen` (127.0.0.1:9464 by default) from its own thread.
//!
//! - [`handler`]: the `metrics` request: one snapshot of every counter the
//!   control thread and the cores keep, taken in one turn of the control loop.
//! - [`expose`]: that snapshot as OpenMetrics text (`prometheus-client`'s
//!   encoder: `_total` counters, units in names, labels for cores, ports, reasons).
//! - [`http`]: the endpoint's thread. It asks the daemon for a snapshot over the
//!   control socket, like `fibrectl`, so a scrape never touches a forwarding core
//!   and sees exactly what `fibrectl -j stats` would.
//! - `telemetry` (DPDK builds): fibre's DPDK telemetry commands (`/fibre/cores`,
//!   ...), answered from the same snapshot.
//! - [`RequestCounts`] and [`CommitLatency`]: the two counters this feature adds
//!   to the control thread (requests by op and error, and how long a committed
//!   change took to reach every core).
//!
//! The metric names are listed in `docs/OPERATIONS.md`.

pub mod expose;
pub mod handler;
pub mod http;
#[cfg(feature = "dpdk")]
pub mod telemetry;

use crate::proto::ErrorKind;
use crate::source::handler::SourceInfo;
use crate::stats::{FibStatus, StatsReply};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The `metrics` reply: every figure of a scrape, from one turn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsReply {
    /// Counters per core and port, the control thread's own, the ports' devices.
    pub stats: StatsReply,
    pub fib: FibStatus,
    /// Per core: drops and punts by reason (every reason, zeros included), tbl8.
    pub cores: Vec<CoreMetrics>,
    pub sources: Vec<SourceInfo>,
    /// Neighbours by state (`reachable`, `stale`, ...).
    pub neighbours: BTreeMap<String, u64>,
    /// Prefixes by table and by the protocol of their installed route.
    pub routes: Vec<RouteCount>,
    /// Control requests by op, and the errors they got by kind.
    pub requests: Vec<OpCount>,
    /// Commit → every core applied.
    pub commit_latency: Histogram,
    /// Commits not measured (no core listened, or too many waited).
    pub commits_unmeasured: u64,
}

/// One core's figures that `stats` does not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreMetrics {
    pub id: u32,
    pub name: String,
    pub drops: BTreeMap<String, u64>,
    pub punts: BTreeMap<String, u64>,
    pub punt_ring_full: u64,
    pub tbl8_groups_used: u64,
    pub tbl8_groups_max: u64,
    /// Over the interval since the previous `metrics` request (with one scraper,
    /// its scrape interval): the busy share in thousandths, and busy cycles per
    /// received packet.
    pub busy_permille: u32,
    pub cycles_per_packet: u64,
    /// Per port of this core (its queue pair on it).
    pub ports: Vec<CorePortMetrics>,
}

/// A core's traffic on one port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorePortMetrics {
    pub port: String,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
}

/// Prefixes of one table whose installed route has one protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteCount {
    pub table: u32,
    pub protocol: String,
    pub routes: u64,
}

/// Requests of one op, and its errors by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCount {
    pub op: String,
    pub requests: u64,
    pub errors: BTreeMap<String, u64>,
}

/// A histogram of durations as Prometheus has them: cumulative counts per upper
/// bound, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// `[le_ns, observations ≤ le_ns]`, in bound order; the last bound is
    /// `u64::MAX` (+Inf).
    pub buckets: Vec<[u64; 2]>,
    pub sum_ns: u64,
    pub count: u64,
}

/// Requests counted by op, and errors by op and kind.
#[derive(Debug, Default)]
pub struct RequestCounts {
    by_op: BTreeMap<&'static str, (u64, BTreeMap<ErrorKind, u64>)>,
}

impl RequestCounts {
    pub fn request(&mut self, op: &'static str) {
        self.by_op.entry(op).or_default().0 += 1;
    }

    pub fn error(&mut self, op: &'static str, kind: ErrorKind) {
        *self.by_op.entry(op).or_default().1.entry(kind).or_default() += 1;
    }

    pub fn snapshot(&self) -> Vec<OpCount> {
        self.by_op
            .iter()
            .map(|(op, (n, errors))| OpCount {
                op: op.to_string(),
                requests: *n,
                errors: errors.iter().map(|(k, n)| (kind_name(*k), *n)).collect(),
            })
            .collect()
    }
}

/// An error kind's wire name (`not_found`).
fn kind_name(k: ErrorKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{k:?}"))
}

/// Upper bounds (ns) of the commit-latency buckets: 10 µs to 1 s.
pub const COMMIT_BUCKETS_NS: [u64; 14] = [
    10_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
];

/// Commits waiting to be measured at most; beyond, the oldest is dropped
/// unmeasured (counted) rather than the queue growing without bound.
const PENDING_MAX: usize = 4096;

/// How long each committed change (one request, source update or neighbour
/// change that moved the FIB seq) took until every core's tables had it.
///
/// The control thread notes each commit `(seq, when)`; each turn it looks at the
/// FIB's watermark and, for the commits at or below it, records the latest time a
/// core's applied seq moved (the cores stamp it) minus the commit's. A turn lasts
/// microseconds to a millisecond, so a commit is measured within one turn of the
/// cores applying it; the time is the cores' own stamp, not the turn's.
#[derive(Debug, Default)]
pub struct CommitLatency {
    pending: VecDeque<(u64, u64)>,
    /// Observations per bucket of [`COMMIT_BUCKETS_NS`], then the +Inf one.
    counts: [u64; COMMIT_BUCKETS_NS.len() + 1],
    sum_ns: u64,
    /// Commits dropped from a full queue, or made while no core listened.
    pub unmeasured: u64,
}

impl CommitLatency {
    /// A change that committed `seq` at `at_ns` (`fib::listener::monotonic_ns`).
    pub fn commit(&mut self, seq: u64, at_ns: u64) {
        if self.pending.len() == PENDING_MAX {
            self.pending.pop_front();
            self.unmeasured += 1;
        }
        self.pending.push_back((seq, at_ns));
    }

    /// Measures the commits the listeners have all applied: `watermark` is the
    /// FIB's ([`fib::Fib::watermark_at`]), `None` without listeners.
    pub fn observe(&mut self, watermark: Option<(u64, u64)>) {
        let Some((applied, at_ns)) = watermark else {
            self.unmeasured += self.pending.len() as u64;
            self.pending.clear();
            return;
        };
        while let Some(&(seq, committed_ns)) = self.pending.front() {
            if seq > applied {
                break;
            }
            self.pending.pop_front();
            // A listener already past `seq` when the request ended stamped before
            // it: that commit took no time after the request.
            self.record(at_ns.saturating_sub(committed_ns));
        }
    }

    fn record(&mut self, ns: u64) {
        let i = COMMIT_BUCKETS_NS
            .iter()
            .position(|le| ns <= *le)
            .unwrap_or(COMMIT_BUCKETS_NS.len());
        self.counts[i] += 1;
        self.sum_ns += ns;
    }

    pub fn histogram(&self) -> Histogram {
        let mut total = 0;
        let buckets = COMMIT_BUCKETS_NS
            .iter()
            .chain(std::iter::once(&u64::MAX))
            .zip(self.counts)
            .map(|(le, n)| {
                total += n;
                [*le, total]
            })
            .collect();
        Histogram {
            buckets,
            sum_ns: self.sum_ns,
            count: total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_measured_when_the_watermark_passes_them() {
        let mut c = CommitLatency::default();
        c.commit(5, 1_000_000);
        c.commit(9, 2_000_000);
        // The cores are at 7 since 1.03 ms: the first commit took 30 µs.
        c.observe(Some((7, 1_030_000)));
        let h = c.histogram();
        assert_eq!(h.count, 1);
        assert_eq!(h.buckets[0], [10_000, 0]);
        assert_eq!(h.buckets[1], [50_000, 1]);
        assert_eq!(h.buckets.last().unwrap()[1], 1);
        assert_eq!(h.sum_ns, 30_000);
        // Then at 9, 2 s after the second: only the +Inf bucket has it.
        c.observe(Some((9, 2_002_000_000)));
        let h = c.histogram();
        assert_eq!(h.count, 2);
        assert_eq!(h.buckets[COMMIT_BUCKETS_NS.len() - 1][1], 1);
        assert_eq!(h.buckets[COMMIT_BUCKETS_NS.len()], [u64::MAX, 2]);
        assert_eq!(c.unmeasured, 0);
    }

    #[test]
    fn without_listeners_or_with_a_full_queue_commits_go_unmeasured() {
        let mut c = CommitLatency::default();
        c.commit(1, 0);
        c.observe(None);
        assert_eq!((c.unmeasured, c.histogram().count), (1, 0));
        for seq in 0..PENDING_MAX as u64 + 3 {
            c.commit(seq, 0);
        }
        assert_eq!(c.unmeasured, 4);
    }

    #[test]
    fn requests_and_errors_are_counted_by_op_and_kind() {
        let mut r = RequestCounts::default();
        r.request("route_add");
        r.request("route_add");
        r.error("route_add", ErrorKind::InvalidArgument);
        r.request("stats");
        let s = r.snapshot();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].op, "route_add");
        assert_eq!(s[0].requests, 2);
        assert_eq!(s[0].errors["invalid_argument"], 1);
        assert_eq!((s[1].op.as_str(), s[1].requests), ("stats", 1));
        assert!(s[1].errors.is_empty());
    }
}
