//! Counters and status: `stats` (every counter, for rates between two replies)
//! and `fib status` (the FIB's seq and its listeners).

pub mod handler;

use crate::interfaces::LinkInfo;
use fib::ListenerStatus;
use serde::{Deserialize, Serialize};

/// A FIB listener, for `fib status`; see [`fib::ListenerStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerInfo {
    pub id: u32,
    pub name: String,
    pub state: String,
    pub applied_seq: u64,
    /// When `applied_seq` last moved, on the daemon's monotonic clock (ns; 0: never).
    /// Compare with `FibStatus::committed_at_ns`.
    #[serde(default)]
    pub applied_at_ns: u64,
    pub lag: u64,
    pub in_sync: bool,
    /// Replay events sent so far and in all, while replaying.
    pub replay_progress: Option<(usize, usize)>,
    pub ring_len: usize,
    pub backlog: usize,
    pub resyncs: u64,
    pub gaps: u64,
    pub failure: Option<String>,
}

impl From<&ListenerStatus> for ListenerInfo {
    fn from(s: &ListenerStatus) -> Self {
        ListenerInfo {
            id: s.id.0,
            name: s.name.clone(),
            state: s.state.to_owned(),
            applied_seq: s.applied_seq,
            applied_at_ns: s.applied_at_ns,
            lag: s.lag,
            in_sync: s.in_sync,
            replay_progress: s.replay_progress,
            ring_len: s.ring_len,
            backlog: s.backlog,
            resyncs: s.resyncs,
            gaps: s.gaps,
            failure: s.failure.clone(),
        }
    }
}

/// `fib status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibStatus {
    pub seq: u64,
    pub tables: usize,
    pub prefixes: usize,
    pub nexthops: usize,
    pub nexthop_ids_pending: usize,
    /// Multipath groups.
    #[serde(default)]
    pub groups: usize,
    /// The lowest applied seq of all active listeners.
    pub watermark: u64,
    /// The last request (or source update, or neighbour change) that committed
    /// changes ended with `committed_seq`, at `committed_at_ns` on the daemon's
    /// monotonic clock: a listener with `applied_seq` ≥ it was in step
    /// `applied_at_ns - committed_at_ns` after (≤ 0: before the request finished).
    #[serde(default)]
    pub committed_seq: u64,
    #[serde(default)]
    pub committed_at_ns: u64,
    pub listeners: Vec<ListenerInfo>,
    /// Table audits so far (absent until the first).
    #[serde(default, skip_serializing_if = "crate::audit::AuditCounters::is_zero")]
    pub audit: crate::audit::AuditCounters,
}

impl FibStatus {
    /// Whether there are listeners and every one serves a whole table at the FIB's
    /// current seq.
    pub fn all_in_step(&self) -> bool {
        !self.listeners.is_empty()
            && self
                .listeners
                .iter()
                .all(|l| l.in_sync && l.applied_seq == self.seq)
    }

    /// From the FIB's own numbers.
    pub fn from_fib(fib: &fib::Fib) -> Self {
        let s = fib.stats();
        FibStatus {
            seq: s.seq,
            tables: s.tables,
            prefixes: s.prefixes,
            nexthops: s.nexthops,
            nexthop_ids_pending: s.nexthop_ids_pending,
            groups: s.groups,
            watermark: fib.watermark(),
            committed_seq: 0,
            committed_at_ns: 0,
            listeners: fib.listeners().iter().map(ListenerInfo::from).collect(),
            audit: Default::default(),
        }
    }
}

/// One core's counters in a [`StatsReply`]: running totals, rates are the client's job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreCounters {
    pub id: u32,
    pub name: String,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Forwarded frames the devices' TX queues refused (full) and that were freed.
    #[serde(default)]
    pub tx_dropped: u64,
    pub forwarded: u64,
    pub dropped: u64,
    pub punted: u64,
    pub events_applied: u64,
    pub applied_seq: u64,
    /// TSC cycles of loop iterations that found work and of those that did not
    /// (`core show` explains); a client's two replies give the busy share and
    /// cycles per packet over its interval.
    #[serde(default)]
    pub busy_cycles: u64,
    #[serde(default)]
    pub idle_cycles: u64,
}

/// The control plane's own counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlCounters {
    pub requests: u64,
    pub clients: u64,
    pub clients_dropped: u64,
    pub punts_handled: u64,
    pub arp_requests_sent: u64,
    /// How long the control loop's turns took (work only, not its idle sleeps):
    /// `[le_us, turns]` per bucket, a turn counted in the first bucket whose bound
    /// it does not exceed (the last bound is `u64::MAX`). Absent before the loop's
    /// first turn (an in-process router has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub turn_us: Vec<[u64; 2]>,
}

/// Upper bounds (µs) of the turn-duration buckets.
pub const TURN_BUCKETS_US: [u64; 12] = [
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    1_000_000,
    u64::MAX,
];

/// Turn durations, bucketed ([`TURN_BUCKETS_US`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnHistogram {
    counts: [u64; TURN_BUCKETS_US.len()],
}

impl TurnHistogram {
    pub fn record(&mut self, turn: std::time::Duration) {
        let us = u64::try_from(turn.as_micros()).unwrap_or(u64::MAX);
        let i = TURN_BUCKETS_US.partition_point(|&le| le < us);
        self.counts[i.min(TURN_BUCKETS_US.len() - 1)] += 1;
    }

    /// The buckets, none if no turn was counted.
    pub fn buckets(&self) -> Vec<[u64; 2]> {
        if self.counts.iter().all(|&n| n == 0) {
            return Vec::new();
        }
        TURN_BUCKETS_US
            .iter()
            .zip(self.counts)
            .map(|(&le, n)| [le, n])
            .collect()
    }
}

/// `stats`: every counter with the time it was read, so a client computes rates from
/// two replies (`fibrectl stats -w`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReply {
    /// Milliseconds since the daemon started (a monotonic clock).
    pub uptime_ms: u64,
    pub fib_seq: u64,
    pub cores: Vec<CoreCounters>,
    pub ports: Vec<LinkInfo>,
    pub control: ControlCounters,
}

/// Counters of the control plane's own work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterCounters {
    pub requests: u64,
    pub punts_handled: u64,
    pub arp_requests_sent: u64,
    pub injects_dropped: u64,
    /// Control-socket clients connected now, and dropped so far (misbehaving:
    /// too long a line, garbage, too slow to read), as the server last reported.
    pub clients: u64,
    pub clients_dropped: u64,
    /// The control loop's turns, by duration.
    pub turns: TurnHistogram,
}
