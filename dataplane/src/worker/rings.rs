//! The exception path between a core and the control plane: two SPSC rings.
//!
//! - punts, core → control: [`Punted`] packets with the metadata the control plane
//!   needs to answer (ingress port, reason, egress MTU for `frag_needed`, nexthop).
//! - injects, control → core: [`Injected`] frames (ICMP errors, ARP replies, ...) the
//!   core transmits on the port they name, in its next loop iteration.
//!
//! Both are `crossbeam_queue::ArrayQueue`s of fixed capacity: neither side ever
//! blocks or allocates. A full punt ring makes the core free the packet and count it
//! (`punt_ring_full`); a full inject ring hands the frame back to the control plane.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use fib::audit::{RangeSet, RunDigest, AUDIT_FANOUT};
use fib::{ListenerShared, NexthopId, PortId, TableId};

use super::counters::{CoreCounters, CoreStats};
use crate::forward::PuntReason;

/// A packet a core handed to the control plane, as received (never rewritten).
#[derive(Debug)]
pub struct Punted<P> {
    /// The frame, exactly as it arrived.
    pub packet: P,
    /// The port (core-local index = FIB [`PortId`]) it arrived on.
    pub ingress: PortId,
    pub reason: PuntReason,
    /// For `frag_needed` and `fragment`: the egress link's MTU (the "next-hop MTU" of
    /// RFC 1191's ICMP). 0 otherwise.
    pub egress_mtu: u16,
    /// The nexthop the lookup resolved to, for the punts that come after a lookup
    /// (`local`, `unresolved`, `frag_needed`, `fragment`); `None` otherwise.
    pub nexthop: Option<NexthopId>,
}

/// A frame the control plane wants a core to transmit.
#[derive(Debug)]
pub struct Injected<P> {
    /// A complete Ethernet frame.
    pub packet: P,
    /// The egress port (core-local index = FIB [`PortId`]).
    pub port: PortId,
}

/// A route lookup the control plane asks a core to answer from its own tables
/// (`fibrectl route get ADDR core N`: what the core really forwards with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteQuery {
    pub token: u64,
    pub table: TableId,
    /// Host order.
    pub addr: u32,
}

/// A core's answer to a [`RouteQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteAnswer {
    pub token: u64,
    /// The nexthop the core's serving table gives (`None`: no route, or no complete
    /// table yet).
    pub nexthop: Option<NexthopId>,
    /// The FIB seq the core's serving tables reflect when it answered.
    pub applied_seq: u64,
}

/// Queries per core loop iteration at most (bounded work between bursts).
pub(crate) const MAX_QUERIES_PER_POLL: usize = 4;

/// An audit step's work per core loop iteration: table entries read. A whole
/// RouteViews table digests in ~52 ms (`cargo bench -p benches --bench fib --
/// fib/audit`, ~3 ns an entry), so a step is ~13 µs: a burst's worth of delay.
pub(crate) const AUDIT_STEP: usize = 4 * 1024;

/// Range digests the control plane asks a core to take from its serving tables
/// (`fibrectl fib audit`, see `fib::audit`): the digest of each range of `ranges`
/// in `table`, with the FIB seq the tables reflected while it was taken.
///
/// The control plane allocates the job and the core hands it back filled, so the
/// core never allocates. A range is digested in steps of [`AUDIT_STEP`] entries, one
/// step per loop iteration; while a range is half done the core applies no FIB
/// event, so each digest is of one seq's table. A range starts only while the
/// serving tables are whole (no live event half applied).
#[derive(Debug, Clone)]
pub struct AuditJob {
    pub token: u64,
    pub table: TableId,
    pub ranges: RangeSet,
    /// Filled by the core: range `i`'s digest …
    pub digests: [u64; AUDIT_FANOUT],
    /// … and the seq its tables reflected.
    pub seqs: [u64; AUDIT_FANOUT],
    /// Whether the core had a whole table (a replay had ended) when it took range `i`.
    pub in_sync: [bool; AUDIT_FANOUT],
    /// Ranges done.
    pub done: u16,
    /// The range being digested: the next address, and the digest so far.
    pub(crate) cursor: Option<(u32, RunDigest)>,
    /// Test hook: instead of digesting, corrupt what this address looks up to.
    #[cfg(feature = "test-hooks")]
    pub corrupt: Option<(u32, u32)>,
}

impl AuditJob {
    pub fn new(token: u64, table: TableId, ranges: RangeSet) -> Box<Self> {
        Box::new(AuditJob {
            token,
            table,
            ranges,
            digests: [0; AUDIT_FANOUT],
            seqs: [0; AUDIT_FANOUT],
            in_sync: [false; AUDIT_FANOUT],
            done: 0,
            cursor: None,
            #[cfg(feature = "test-hooks")]
            corrupt: None,
        })
    }

    /// Makes a returned job a new one (no allocation).
    pub fn reset(&mut self, token: u64, table: TableId, ranges: RangeSet) {
        self.token = token;
        self.table = table;
        self.ranges = ranges;
        self.done = 0;
        self.cursor = None;
    }

    /// Whether every range has its digest.
    pub fn is_done(&self) -> bool {
        self.done >= self.ranges.count
    }
}

/// Audit jobs queued to a core at most.
const AUDIT_JOBS: usize = 4;

/// The two small rings of route queries (control → core) and answers.
#[derive(Debug)]
pub(crate) struct QueryRings {
    pub queries: ArrayQueue<RouteQuery>,
    pub answers: ArrayQueue<RouteAnswer>,
    next_token: AtomicU64,
    /// Audit jobs (control → core) and the same jobs done (core → control).
    pub audits: ArrayQueue<Box<AuditJob>>,
    pub audited: ArrayQueue<Box<AuditJob>>,
}

impl QueryRings {
    pub(crate) fn new() -> Self {
        QueryRings {
            queries: ArrayQueue::new(16),
            answers: ArrayQueue::new(16),
            next_token: AtomicU64::new(1),
            audits: ArrayQueue::new(AUDIT_JOBS),
            audited: ArrayQueue::new(AUDIT_JOBS),
        }
    }
}

/// The control plane's side of one core: its rings, counters and FIB listener status.
/// Cheap to clone; all clones share the same rings.
///
/// The rings are single-producer single-consumer by design (one control thread per
/// core): `ArrayQueue` stays correct with more, but order is then only per producer.
pub struct CoreHandle<P> {
    name: Arc<str>,
    /// Punted packets, oldest first.
    pub punts: Arc<ArrayQueue<Punted<P>>>,
    /// Frames for the core to send.
    pub injects: Arc<ArrayQueue<Injected<P>>>,
    pub counters: Arc<CoreCounters>,
    /// The core's FIB listener status (applied seq, in sync, failure).
    pub listener: Arc<ListenerShared>,
    pub(crate) queries: Arc<QueryRings>,
}

impl<P> Clone for CoreHandle<P> {
    fn clone(&self) -> Self {
        CoreHandle {
            name: Arc::clone(&self.name),
            punts: Arc::clone(&self.punts),
            injects: Arc::clone(&self.injects),
            counters: Arc::clone(&self.counters),
            listener: Arc::clone(&self.listener),
            queries: Arc::clone(&self.queries),
        }
    }
}

impl<P> core::fmt::Debug for CoreHandle<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CoreHandle")
            .field("name", &self.name)
            .field("punts_queued", &self.punts.len())
            .field("injects_queued", &self.injects.len())
            .field("applied_seq", &self.listener.applied_seq())
            .finish()
    }
}

impl<P> CoreHandle<P> {
    pub(crate) fn new(
        name: Arc<str>,
        punts: Arc<ArrayQueue<Punted<P>>>,
        injects: Arc<ArrayQueue<Injected<P>>>,
        counters: Arc<CoreCounters>,
        listener: Arc<ListenerShared>,
        queries: Arc<QueryRings>,
    ) -> Self {
        CoreHandle {
            name,
            punts,
            injects,
            counters,
            listener,
            queries,
        }
    }

    /// Asks the core to look `addr` up in its own serving table and waits up to
    /// `timeout` for the answer (a running core answers within one loop iteration).
    /// For the control plane, never a core. `None` if the core did not answer.
    pub fn query_route(&self, table: TableId, addr: u32, timeout: Duration) -> Option<RouteAnswer> {
        let token = self.queries.next_token.fetch_add(1, Ordering::Relaxed);
        let q = RouteQuery { token, table, addr };
        if self.queries.queries.push(q).is_err() {
            return None;
        }
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(a) = self.queries.answers.pop() {
                // Answers to earlier queries that timed out are stale: skip them.
                if a.token == token {
                    return Some(a);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::yield_now();
        }
    }

    /// Queues an audit job for the core; gives it back if the core has
    /// [`AUDIT_JOBS`] queued already.
    pub fn submit_audit(&self, job: Box<AuditJob>) -> Result<(), Box<AuditJob>> {
        self.queries.audits.push(job)
    }

    /// An audit job the core has finished, if any.
    pub fn take_audit(&self) -> Option<Box<AuditJob>> {
        self.queries.audited.pop()
    }

    /// Test hook: has the core overwrite what `addr` looks up to in its serving
    /// `table` (`fib::dir24::NO_ROUTE`: no route) behind the FIB's back, at its next
    /// loop iteration; the job comes back through [`Self::take_audit`].
    #[cfg(feature = "test-hooks")]
    pub fn corrupt_table(&self, table: TableId, addr: u32, value: u32) -> bool {
        let mut job = AuditJob::new(0, table, RangeSet::WHOLE);
        job.corrupt = Some((addr, value));
        self.queries.audits.push(job).is_ok()
    }

    /// The core's name (as given in its [`CoreConfig`](super::CoreConfig)).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The oldest punted packet, if any.
    pub fn next_punt(&self) -> Option<Punted<P>> {
        self.punts.pop()
    }

    /// Queues `packet` for transmission on `port`; gives it back if the ring is full.
    pub fn inject(&self, packet: P, port: PortId) -> Result<(), Injected<P>> {
        self.injects.push(Injected { packet, port })
    }

    /// The core's counters as last published.
    pub fn stats(&self) -> CoreStats {
        self.counters.snapshot()
    }

    /// The FIB seq the core's serving tables reflect.
    pub fn applied_seq(&self) -> u64 {
        self.listener.applied_seq()
    }

    /// Whether the core has completed its first replay (and so forwards).
    pub fn in_sync(&self) -> bool {
        self.listener.in_sync()
    }
}
