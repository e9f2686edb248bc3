//! Per-core counters: written by the core only, read by anyone while it runs.
//!
//! The core counts into plain `u64`s of its own ([`LocalCounters`]) and publishes them
//! with one Relaxed store per word at the end of each loop iteration. Only the core
//! writes, so a store of its own running total is enough (no read-modify-write); a
//! reader sees each word as it was at some publish. Each group sits on its own cache
//! line(s) so a reader polling one group does not pull the others away from the core.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;
use fib::PortId;

use crate::forward::{DropReason, PuntReason};
use crate::port::PortCounters;

/// Core-wide words, one cache line.
#[derive(Debug, Default)]
struct CoreCells {
    iterations: AtomicU64,
    events_applied: AtomicU64,
    applied_seq: AtomicU64,
    in_sync: AtomicU64,
    forwarded: AtomicU64,
    punt_ring_full: AtomicU64,
    injected: AtomicU64,
    inject_dropped: AtomicU64,
    busy_cycles: AtomicU64,
    idle_cycles: AtomicU64,
}

/// Egress-port misconfiguration words (rare), kept off the hot line.
#[derive(Debug, Default)]
struct RareCells {
    bad_egress_port: AtomicU64,
    pinned_cpu: AtomicU64,
    tbl8_groups_used: AtomicU64,
    tbl8_groups_max: AtomicU64,
}

/// One port's words as this core sees them (its own queue pair on that port).
#[derive(Debug, Default)]
struct PortCells {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
}

/// A forwarding core's published counters. Shared (`Arc`) between the core, which
/// writes, and the control plane, which reads with [`CoreCounters::snapshot`].
#[derive(Debug)]
pub struct CoreCounters {
    core: CachePadded<CoreCells>,
    rare: CachePadded<RareCells>,
    drops: CachePadded<[AtomicU64; DropReason::COUNT]>,
    punts: CachePadded<[AtomicU64; PuntReason::COUNT]>,
    ports: Box<[CachePadded<PortCells>]>,
}

/// `pinned_cpu` value meaning "not pinned".
const NOT_PINNED: u64 = u64::MAX;

impl CoreCounters {
    pub(crate) fn new(ports: usize) -> Self {
        let rare = RareCells::default();
        rare.pinned_cpu.store(NOT_PINNED, Relaxed);
        CoreCounters {
            core: CachePadded::new(CoreCells::default()),
            rare: CachePadded::new(rare),
            drops: CachePadded::new(core::array::from_fn(|_| AtomicU64::new(0))),
            punts: CachePadded::new(core::array::from_fn(|_| AtomicU64::new(0))),
            ports: (0..ports)
                .map(|_| CachePadded::new(PortCells::default()))
                .collect(),
        }
    }

    /// Everything, as last published. Allocates (the per-port vector): for the
    /// control plane, never called by the core.
    pub fn snapshot(&self) -> CoreStats {
        let c = &self.core;
        let pinned = self.rare.pinned_cpu.load(Relaxed);
        CoreStats {
            iterations: c.iterations.load(Relaxed),
            events_applied: c.events_applied.load(Relaxed),
            applied_seq: c.applied_seq.load(Relaxed),
            in_sync: c.in_sync.load(Relaxed) != 0,
            forwarded: c.forwarded.load(Relaxed),
            punt_ring_full: c.punt_ring_full.load(Relaxed),
            injected: c.injected.load(Relaxed),
            inject_dropped: c.inject_dropped.load(Relaxed),
            busy_cycles: c.busy_cycles.load(Relaxed),
            idle_cycles: c.idle_cycles.load(Relaxed),
            bad_egress_port: self.rare.bad_egress_port.load(Relaxed),
            tbl8_groups_used: self.rare.tbl8_groups_used.load(Relaxed),
            tbl8_groups_max: self.rare.tbl8_groups_max.load(Relaxed),
            pinned_cpu: (pinned != NOT_PINNED).then_some(pinned as usize),
            drops: core::array::from_fn(|i| self.drops[i].load(Relaxed)),
            punts: core::array::from_fn(|i| self.punts[i].load(Relaxed)),
            ports: self
                .ports
                .iter()
                .map(|p| PortStats {
                    rx_packets: p.rx_packets.load(Relaxed),
                    rx_bytes: p.rx_bytes.load(Relaxed),
                    tx_packets: p.tx_packets.load(Relaxed),
                    tx_bytes: p.tx_bytes.load(Relaxed),
                    tx_dropped: p.tx_dropped.load(Relaxed),
                })
                .collect(),
        }
    }

    /// The core's applied FIB seq, as last published (cheap: one load).
    pub fn applied_seq(&self) -> u64 {
        self.core.applied_seq.load(Relaxed)
    }

    /// Loop iterations so far (cheap: one load). A reader that sees it move knows
    /// the core is alive and has published at least once since.
    pub fn iterations(&self) -> u64 {
        self.core.iterations.load(Relaxed)
    }

    /// The serving tables' tbl8 groups in use and their most; the core stores them
    /// after an iteration that applied FIB events (they change only then).
    pub(crate) fn set_tbl8_groups(&self, (used, max): (u64, u64)) {
        self.rare.tbl8_groups_used.store(used, Relaxed);
        self.rare.tbl8_groups_max.store(max, Relaxed);
    }

    pub(crate) fn set_pinned(&self, cpu: Option<usize>) {
        let v = cpu.map_or(NOT_PINNED, |c| c as u64);
        self.rare.pinned_cpu.store(v, Relaxed);
    }

    /// Stores the core's running totals. Only the owning core calls this.
    #[inline]
    pub(crate) fn publish(&self, local: &LocalCounters, ports: &[PortCounters]) {
        let c = &self.core;
        c.iterations.store(local.iterations, Relaxed);
        c.events_applied.store(local.events_applied, Relaxed);
        c.applied_seq.store(local.applied_seq, Relaxed);
        c.in_sync.store(u64::from(local.in_sync), Relaxed);
        c.forwarded.store(local.forwarded, Relaxed);
        c.punt_ring_full.store(local.punt_ring_full, Relaxed);
        c.injected.store(local.injected, Relaxed);
        c.inject_dropped.store(local.inject_dropped, Relaxed);
        c.busy_cycles.store(local.cycles.busy, Relaxed);
        c.idle_cycles.store(local.cycles.idle, Relaxed);
        if local.bad_egress_port != 0 {
            self.rare
                .bad_egress_port
                .store(local.bad_egress_port, Relaxed);
        }
        for (cell, &v) in self.drops.iter().zip(&local.drops) {
            cell.store(v, Relaxed);
        }
        for (cell, &v) in self.punts.iter().zip(&local.punts) {
            cell.store(v, Relaxed);
        }
        for (cell, p) in self.ports.iter().zip(ports) {
            cell.rx_packets.store(p.rx_packets, Relaxed);
            cell.rx_bytes.store(p.rx_bytes, Relaxed);
            cell.tx_packets.store(p.tx_packets, Relaxed);
            cell.tx_bytes.store(p.tx_bytes, Relaxed);
            cell.tx_dropped.store(p.tx_dropped, Relaxed);
        }
    }
}

/// The core's own running totals (plain integers, core-private).
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalCounters {
    pub iterations: u64,
    pub events_applied: u64,
    pub applied_seq: u64,
    pub in_sync: bool,
    pub forwarded: u64,
    pub punt_ring_full: u64,
    pub injected: u64,
    pub inject_dropped: u64,
    pub bad_egress_port: u64,
    pub drops: [u64; DropReason::COUNT],
    pub punts: [u64; PuntReason::COUNT],
    pub cycles: super::cycles::Cycles,
}

/// A port's counters as one core sees them (its queue pair).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Accepted by the device.
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Refused by the device (TX queue full) and freed.
    pub tx_dropped: u64,
}

/// A snapshot of a core's counters.
///
/// Accounting: every received packet is counted once, as `forwarded` (handed to a TX
/// burst), in one `drops` reason, or in one `punts` reason; `punt_ring_full` counts
/// the punted packets of those that the control plane never got because its ring was
/// full (they were freed), and `bad_egress_port` the ones whose nexthop named a port
/// this core does not have (freed, not in `drops`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreStats {
    /// Loop iterations.
    pub iterations: u64,
    /// FIB events fully applied (replays included).
    pub events_applied: u64,
    /// The FIB seq the core's serving tables reflect.
    pub applied_seq: u64,
    /// The core has completed a replay (it polls RX only then).
    pub in_sync: bool,
    /// Packets rewritten and handed to a TX burst (see the ports' `tx_dropped`).
    pub forwarded: u64,
    /// Punted packets freed because the punt ring was full.
    pub punt_ring_full: u64,
    /// Frames the control plane injected and the core put on a TX burst.
    pub injected: u64,
    /// Injected frames for a port the core does not have (freed).
    pub inject_dropped: u64,
    /// Packets whose nexthop's port is not one of this core's (freed).
    pub bad_egress_port: u64,
    /// TSC cycles of loop iterations that found work, and of those that did not
    /// (with their idle wait): see [`super::cycles`].
    pub busy_cycles: u64,
    pub idle_cycles: u64,
    /// tbl8 groups the serving tables use, and the most they may (summed over
    /// the core's tables), as of the last iteration that applied FIB events.
    pub tbl8_groups_used: u64,
    pub tbl8_groups_max: u64,
    /// The CPU the core's thread is pinned to, if it is.
    pub pinned_cpu: Option<usize>,
    pub drops: [u64; DropReason::COUNT],
    pub punts: [u64; PuntReason::COUNT],
    /// Per port, indexed by [`PortId`].
    pub ports: Vec<PortStats>,
}

impl CoreStats {
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    pub fn punted(&self, reason: PuntReason) -> u64 {
        self.punts[reason.index()]
    }

    pub fn total_dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub fn total_punted(&self) -> u64 {
        self.punts.iter().sum()
    }

    pub fn port(&self, port: PortId) -> PortStats {
        self.ports
            .get(usize::from(port))
            .copied()
            .unwrap_or_default()
    }

    pub fn rx_packets(&self) -> u64 {
        self.ports.iter().map(|p| p.rx_packets).sum()
    }

    pub fn tx_packets(&self) -> u64 {
        self.ports.iter().map(|p| p.tx_packets).sum()
    }

    /// The non-zero drop and punt counters by name (for displays and test messages).
    pub fn reasons(&self) -> Vec<(&'static str, u64)> {
        let drops = DropReason::ALL.iter().map(|r| (r.name(), self.dropped(*r)));
        let punts = PuntReason::ALL.iter().map(|r| (r.name(), self.punted(*r)));
        drops.chain(punts).filter(|(_, n)| *n != 0).collect()
    }
}
