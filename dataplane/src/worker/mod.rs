//! Forwarding cores: one pinned thread per core, run to completion over bursts.
//!
//! A [`ForwardingCore`] owns, for its whole life:
//! - its lookup state, a [`ForwardingTables`] that is a registered FIB listener (it
//!   drains its own [`Subscription`] with a bounded budget every loop iteration);
//! - one [`Port`] handle per port (its own RX/TX queue pair on each), monomorphised:
//!   no dynamic dispatch per packet or per burst. The core's port at index `i` is the
//!   FIB's `PortId` `i`;
//! - its rings to and from the control plane and its counters, shared through a
//!   [`CoreHandle`].
//!
//! One loop iteration ([`ForwardingCore::poll_once`]):
//! 1. take a step of a table audit if the control plane asked for one
//!    ([`AuditJob`]), then apply at most `fib_budget` units of pending FIB work
//!    (none while an audited range is half digested);
//! 2. only if the tables are complete (the first replay has ended): per port, receive
//!    a burst, run the pipeline over it (see below) and send it: as received when it
//!    all leaves by one port, else each egress port's share with one `tx_burst`. (Two
//!    bursts received before the first is forwarded, so that the second's lookups are
//!    prefetched meanwhile, measured no faster: docs/FORWARDING.md.);
//! 3. transmit up to one burst of frames the control plane injected, and answer route
//!    queries;
//! 4. publish the counters.
//!
//! Steps 1, 3 and 4 run in every iteration while the core is idle, and in every
//! [`PUBLISH_EVERY`]th while it forwards (a few microseconds apart), which took the
//! loop's own instructions from 10.7 to 7.2 a packet (docs/FORWARDING.md).
//!
//! The pipeline over a burst: read every frame's destination (prefetching its tbl24
//! entry), one `lookup_bulk` in the ingress port's table, then one pass that checks
//! each frame (RFC 1812), reads its nexthop's adjacency and rewrites it in place (MTU,
//! TTL, checksum, MACs); a burst that all leaves by one port is sent as received, else
//! sorted onto per-port TX bursts, the punt ring or the bin. See `docs/FORWARDING.md`
//! for the decision table.
//!
//! A core that has not finished its first replay does not poll RX at all (packets
//! wait in the device queue; none is forwarded with a partial table). A core that
//! resyncs keeps forwarding with its old tables: `ForwardingTables` builds the new
//! ones in a shadow and swaps at `ReplayEnd`.
//!
//! The packet path takes no lock, makes no system call and does not allocate
//! (`dataplane/tests/core_no_alloc.rs` checks the last with a counting allocator).
//! Applying FIB events can allocate when the tables grow (a new VRF, more nexthop
//! slots, tbl8 pool growth): that is the FIB listener's bounded work, not per packet.

mod counters;
pub mod cycles;
mod pipeline;
mod rings;
mod spare;

pub use crate::forward::vector::ChecksKernel;
pub use counters::{CoreCounters, CoreStats, PortStats};
pub use pipeline::PortSetup;
pub use rings::{AuditJob, CoreHandle, Injected, Punted, RouteAnswer, RouteQuery};
pub use spare::{SpareRx, MAX_ADOPTED};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_queue::ArrayQueue;
use fib::audit::RunDigest;
use fib::{Dir24Config, ForwardingTables, Subscription};

use crate::port::{Burst, Port, PortCounters, MAX_BURST};
use counters::LocalCounters;
use pipeline::{forward_burst, Adjacencies, Parsed, PipelineContext, Sent};

/// Busy loop iterations between two publications of the counters, and between two
/// rounds of the core's chores (FIB events, injects, queries; see `poll_once`).
const PUBLISH_EVERY: u32 = 16;

/// What a core does in an iteration that found no work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdlePolicy {
    /// Keep polling (a `pause` hint, no system call): the production setting.
    #[default]
    Spin,
    /// `std::thread::yield_now()`: a system call, for tests and demos sharing CPUs
    /// with other busy threads. Never for a dedicated core.
    Yield,
}

/// How to build a core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// For logs, the thread name and the FIB listener's name.
    pub name: String,
    /// The CPU to pin the core's thread to, when it runs; `None`: not pinned. A CPU
    /// that does not exist on this machine is not an error: the core runs unpinned
    /// (see [`CoreStats::pinned_cpu`]).
    pub cpu: Option<usize>,
    /// One entry per port handle, in the same order.
    pub ports: Vec<PortSetup>,
    /// Units of FIB work (about one table write each) per loop iteration.
    pub fib_budget: usize,
    /// Slots in the punt ring (core → control).
    pub punt_ring: usize,
    /// Slots in the inject ring (control → core).
    pub inject_ring: usize,
    /// Sizing of the core's DIR-24-8 tables.
    pub dir24: Dir24Config,
    pub idle: IdlePolicy,
    /// Whether the core's port handles count bytes; on by default (the handles' own
    /// setting is left alone). Off, the core turns it off ([`Port::set_count_bytes`]):
    /// that saves a per-packet length read on RX and on TX (DPDK queues) and
    /// leaves the per-port `rx_bytes`/`tx_bytes` of [`CoreStats`] at 0; the devices'
    /// own byte counters are unaffected.
    pub count_port_bytes: bool,
    /// Whether the core splits its time into busy and idle TSC cycles
    /// ([`cycles`]); on by default. Off, [`CoreStats::busy_cycles`] and
    /// `idle_cycles` stay 0; it exists so a benchmark can measure what it costs.
    pub cpu_accounting: bool,
    /// How the fast branch runs its RFC 1812 checks: frame by frame (the default) or
    /// eight frames at a time with AVX2, where the CPU has it.
    pub checks: ChecksKernel,
}

impl CoreConfig {
    pub fn new(name: impl Into<String>, ports: Vec<PortSetup>) -> Self {
        CoreConfig {
            name: name.into(),
            cpu: None,
            ports,
            fib_budget: 1024,
            punt_ring: 1024,
            inject_ring: 1024,
            dir24: Dir24Config::default(),
            idle: IdlePolicy::Spin,
            count_port_bytes: true,
            cpu_accounting: true,
            checks: ChecksKernel::Scalar,
        }
    }

    pub fn cpu(mut self, cpu: usize) -> Self {
        self.cpu = Some(cpu);
        self
    }

    pub fn fib_budget(mut self, budget: usize) -> Self {
        self.fib_budget = budget;
        self
    }

    pub fn punt_ring(mut self, slots: usize) -> Self {
        self.punt_ring = slots;
        self
    }

    pub fn inject_ring(mut self, slots: usize) -> Self {
        self.inject_ring = slots;
        self
    }

    pub fn dir24(mut self, config: Dir24Config) -> Self {
        self.dir24 = config;
        self
    }

    pub fn idle(mut self, idle: IdlePolicy) -> Self {
        self.idle = idle;
        self
    }

    pub fn count_port_bytes(mut self, on: bool) -> Self {
        self.count_port_bytes = on;
        self
    }

    pub fn cpu_accounting(mut self, on: bool) -> Self {
        self.cpu_accounting = on;
        self
    }

    pub fn checks(mut self, kernel: ChecksKernel) -> Self {
        self.checks = kernel;
        self
    }
}

/// Why a core could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("core {core}: {handles} port handles but {setups} port setups")]
    PortCountMismatch {
        core: String,
        handles: usize,
        setups: usize,
    },
    #[error("core {core}: no ports")]
    NoPorts { core: String },
    #[error("core {core}: {ports} ports, more than a port id can name")]
    TooManyPorts { core: String, ports: usize },
    #[error("core {core}: {what} must be at least 1")]
    ZeroSized { core: String, what: &'static str },
    #[error("core {core}: cannot spawn its thread: {source}")]
    Spawn {
        core: String,
        source: std::io::Error,
    },
}

/// One forwarding core. Build it with [`ForwardingCore::new`], then run it on a
/// thread of its own: [`ForwardingCore::spawn`] (owned ports), or
/// [`ForwardingCore::run`] inside `std::thread::scope` (ports that borrow, such as
/// DPDK's `PortQueue<'p>`).
pub struct ForwardingCore<P: Port> {
    name: Arc<str>,
    cpu: Option<usize>,
    idle: IdlePolicy,
    fib_budget: usize,
    ports: Vec<P>,
    setups: Vec<PortSetup>,
    tables: ForwardingTables,
    subscription: Subscription,
    /// One receive burst per port.
    rx: Vec<Burst<P::Packet>>,
    /// `forward_burst`'s per-packet arrays (one burst is forwarded at a time).
    parsed: Parsed,
    tx: Vec<Burst<P::Packet>>,
    adjacencies: Adjacencies,
    punts: Arc<ArrayQueue<Punted<P::Packet>>>,
    injects: Arc<ArrayQueue<Injected<P::Packet>>>,
    counters: Arc<CoreCounters>,
    local: LocalCounters,
    port_counters: Vec<PortCounters>,
    queries: Arc<rings::QueryRings>,
    /// The audit job being worked on, if any.
    audit: Option<Box<AuditJob>>,
    /// Spare queues offered to this core, and those it polls (receive only).
    spare: Arc<SpareRx<P>>,
    adopted: Vec<(u16, P)>,
    spare_rx: Burst<P::Packet>,
    /// What queues this core polled and gave back had counted, per port.
    spare_counted: Vec<PortCounters>,
    count_port_bytes: bool,
    cpu_accounting: bool,
    /// Run the checks with AVX2 ([`CoreConfig::checks`], and the CPU has it).
    vector_checks: bool,
    /// Iterations since the counters were last published (0: the last one did, so
    /// this one does the chores).
    unpublished: u32,
}

impl<P: Port> core::fmt::Debug for ForwardingCore<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ForwardingCore")
            .field("name", &self.name)
            .field("ports", &self.ports.len())
            .field("in_sync", &self.tables.is_complete())
            .field("applied_seq", &self.subscription.applied_seq())
            .finish()
    }
}

impl<P: Port> ForwardingCore<P> {
    /// A core over `ports` (handle `i` is FIB port `i`, described by
    /// `config.ports[i]`), following the FIB through `subscription` (from
    /// `Fib::register`). Returns the core and the control plane's handle on it.
    pub fn new(
        config: CoreConfig,
        mut ports: Vec<P>,
        subscription: Subscription,
    ) -> Result<(Self, CoreHandle<P::Packet>), CoreError> {
        let core = config.name.clone();
        if ports.len() != config.ports.len() {
            return Err(CoreError::PortCountMismatch {
                core,
                handles: ports.len(),
                setups: config.ports.len(),
            });
        }
        if ports.is_empty() {
            return Err(CoreError::NoPorts { core });
        }
        if ports.len() > usize::from(u16::MAX) {
            return Err(CoreError::TooManyPorts {
                core,
                ports: ports.len(),
            });
        }
        for (what, n) in [
            ("fib_budget", config.fib_budget),
            ("punt_ring", config.punt_ring),
            ("inject_ring", config.inject_ring),
        ] {
            if n == 0 {
                return Err(CoreError::ZeroSized { core, what });
            }
        }
        let name: Arc<str> = Arc::from(config.name.as_str());
        let punts = Arc::new(ArrayQueue::new(config.punt_ring));
        let injects = Arc::new(ArrayQueue::new(config.inject_ring));
        let counters = Arc::new(CoreCounters::new(ports.len()));
        let queries = Arc::new(rings::QueryRings::new());
        let handle = CoreHandle::new(
            Arc::clone(&name),
            Arc::clone(&punts),
            Arc::clone(&injects),
            Arc::clone(&counters),
            Arc::clone(subscription.shared()),
            Arc::clone(&queries),
        );
        if !config.count_port_bytes {
            for port in &mut ports {
                port.set_count_bytes(false);
            }
        }
        let n = ports.len();
        let core = ForwardingCore {
            name,
            cpu: config.cpu,
            idle: config.idle,
            fib_budget: config.fib_budget,
            tx: (0..n).map(|_| Burst::new()).collect(),
            port_counters: vec![PortCounters::default(); n],
            ports,
            setups: config.ports,
            tables: ForwardingTables::new(config.dir24),
            subscription,
            rx: (0..n).map(|_| Burst::new()).collect(),
            parsed: Parsed::new(),
            adjacencies: Adjacencies::new(),
            punts,
            injects,
            counters,
            local: LocalCounters::default(),
            queries,
            audit: None,
            spare: Arc::new(SpareRx::default()),
            adopted: Vec::with_capacity(MAX_ADOPTED),
            spare_rx: Burst::new(),
            spare_counted: vec![PortCounters::default(); n],
            count_port_bytes: config.count_port_bytes,
            cpu_accounting: config.cpu_accounting,
            vector_checks: config.checks == ChecksKernel::Avx2 && config.checks.is_available(),
            unpublished: 0,
        };
        Ok((core, handle))
    }

    /// The core's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The serving lookup state.
    pub fn tables(&self) -> &ForwardingTables {
        &self.tables
    }

    /// The core's FIB subscription.
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// The published counters (same as the handle's).
    pub fn counters(&self) -> &Arc<CoreCounters> {
        &self.counters
    }

    /// Where the daemon offers this core spare queues to poll, and takes them back
    /// (see [`SpareRx`]).
    pub fn spare_rx(&self) -> Arc<SpareRx<P>> {
        Arc::clone(&self.spare)
    }

    /// Spare queues this core polls now, by FIB port.
    pub fn adopted_ports(&self) -> Vec<u16> {
        self.adopted.iter().map(|(p, _)| *p).collect()
    }

    /// The port handles, in FIB port order.
    pub fn ports(&self) -> &[P] {
        &self.ports
    }

    /// The port handles, mutable (e.g. to feed a software port in a test).
    pub fn ports_mut(&mut self) -> &mut [P] {
        &mut self.ports
    }

    /// Gives the port handles back (the subscription is dropped: the FIB forgets the
    /// listener at its next pump).
    pub fn into_ports(self) -> Vec<P> {
        self.ports
    }

    /// One loop iteration (see the module docs). Returns the packets received plus
    /// the frames injected: 0 means it found no work.
    #[inline]
    pub fn poll_once(&mut self) -> usize {
        if self.cpu_accounting {
            self.local.cycles.tick(cycles::now());
        }
        // The chores — FIB events, audits, spare queues, injected frames, route
        // queries — wait while the core forwards: they run when the last iteration
        // published (it found no packets, or did chores), that is every iteration while
        // idle and every PUBLISH_EVERY under load (a few microseconds).
        let chores = self.unpublished == 0;
        let fib_work = chores && self.fib_chores();
        self.local.iterations += 1;
        if chores && self.spare.pending() {
            self.serve_spare();
        }
        let local = &mut self.local;
        let mut work = 0;
        if local.in_sync {
            let ctx = PipelineContext {
                tables: &self.tables,
                setups: &self.setups,
                punts: &self.punts,
                vector_checks: self.vector_checks,
            };
            // One burst per port, forwarded as soon as it is received.
            for (ingress, rx) in self.rx.iter_mut().enumerate() {
                let received = self.ports[ingress].rx_burst(rx);
                if received == 0 {
                    continue;
                }
                work += received;
                let sent = forward_burst(
                    &ctx,
                    ingress as u16,
                    rx,
                    &mut self.parsed,
                    &mut self.adjacencies,
                    &mut self.tx,
                    local,
                );
                transmit(&mut self.ports, &mut self.tx, rx, sent);
            }
            // Spare queues this core adopted: one burst each, forwarded likewise.
            for (port, queue) in self.adopted.iter_mut() {
                if queue.rx_burst(&mut self.spare_rx) == 0 {
                    continue;
                }
                work += self.spare_rx.len();
                let sent = forward_burst(
                    &ctx,
                    *port,
                    &mut self.spare_rx,
                    &mut self.parsed,
                    &mut self.adjacencies,
                    &mut self.tx,
                    local,
                );
                transmit(&mut self.ports, &mut self.tx, &mut self.spare_rx, sent);
            }
        }
        let received = work;
        if chores {
            work += self.drain_injects();
            self.answer_queries();
        }

        self.local.cycles.found(work > 0 || fib_work);
        // Publishing is ~60 stores: an iteration whose only work was forwarding
        // received packets publishes every PUBLISH_EVERY such iterations; every other
        // iteration publishes, so what readers see is exact as soon as traffic pauses.
        self.unpublished += 1;
        if received == 0 || work > received || fib_work || self.unpublished >= PUBLISH_EVERY {
            self.unpublished = 0;
            self.publish();
        }
        work
    }

    /// Audits and FIB events: a step of the table audit the control plane asked for,
    /// then at most `fib_budget` units of pending FIB work (none while an audited range
    /// is half digested). Returns whether it applied any.
    fn fib_chores(&mut self) -> bool {
        let audit_holds_fib =
            (self.audit.is_some() || !self.queries.audits.is_empty()) && self.audit_step();
        let outcome = if audit_holds_fib {
            fib::PollOutcome::default()
        } else {
            self.subscription.poll(&mut self.tables, self.fib_budget)
        };
        let fib_work = outcome.applied > 0;
        if fib_work {
            // Off the packet path: a walk of the core's few tables' pool counters.
            self.counters.set_tbl8_groups(self.tables.tbl8_groups());
        }
        let local = &mut self.local;
        local.events_applied += outcome.applied as u64;
        local.applied_seq = self.subscription.applied_seq();
        local.in_sync = self.tables.is_complete();
        fib_work
    }

    /// Publishes the core's and its ports' counters.
    fn publish(&mut self) {
        for (snapshot, port) in self.port_counters.iter_mut().zip(&self.ports) {
            *snapshot = port.counters();
        }
        if !self.adopted.is_empty() || self.spare_counted.iter().any(|c| c.rx_packets > 0) {
            self.count_spares();
        }
        self.counters.publish(&self.local, &self.port_counters);
    }

    /// Gives adopted queues back, or adopts offered ones (off the fast path: only
    /// when the daemon asked something).
    #[cold]
    #[inline(never)]
    fn serve_spare(&mut self) {
        if self.spare.take_release() {
            for (port, queue) in self.adopted.drain(..) {
                add_counters(
                    &mut self.spare_counted[usize::from(port)],
                    &queue.counters(),
                );
            }
            self.spare.ack_release();
        }
        let before = self.adopted.len();
        self.spare.adopt_into(&mut self.adopted);
        if !self.count_port_bytes {
            for (_, queue) in &mut self.adopted[before..] {
                queue.set_count_bytes(false);
            }
        }
    }

    /// Adds what spare queues received to their ports' published counters.
    #[cold]
    #[inline(never)]
    fn count_spares(&mut self) {
        for (snapshot, counted) in self.port_counters.iter_mut().zip(&self.spare_counted) {
            add_counters(snapshot, counted);
        }
        for (port, queue) in &self.adopted {
            if let Some(snapshot) = self.port_counters.get_mut(usize::from(*port)) {
                add_counters(snapshot, &queue.counters());
            }
        }
    }

    /// One step of the audit job at the head of the queue (see [`AuditJob`]):
    /// digests ranges for up to [`rings::AUDIT_STEP`] entries read. Returns whether
    /// a range is left half done, so FIB events must wait.
    #[cold]
    #[inline(never)]
    fn audit_step(&mut self) -> bool {
        let job = match &mut self.audit {
            Some(job) => job,
            None => match self.queries.audits.pop() {
                Some(job) => self.audit.insert(job),
                None => return false,
            },
        };
        #[cfg(feature = "test-hooks")]
        if let Some((addr, value)) = job.corrupt.take() {
            self.tables.corrupt(job.table, addr, value);
            job.done = job.ranges.count;
        }
        let mut budget = rings::AUDIT_STEP;
        while !job.is_done() && budget > 0 {
            let i = usize::from(job.done);
            let (start, size) = (job.ranges.start(i), job.ranges.size());
            let (from, digest) = match &mut job.cursor {
                Some((from, digest)) => (from, digest),
                None => {
                    if !self.subscription.serving_is_whole() {
                        // Let the FIB finish the event first.
                        return false;
                    }
                    job.seqs[i] = self.subscription.applied_seq();
                    job.in_sync[i] = self.tables.is_complete();
                    let (from, digest) = job.cursor.insert((start, RunDigest::new(start, size)));
                    (from, digest)
                }
            };
            let left = u64::from(start) + size - u64::from(*from);
            match self
                .tables
                .digest_range(job.table, *from, left, digest, &mut budget)
            {
                Some(next) => *from = next,
                None => {
                    job.digests[i] = digest.finish();
                    job.done += 1;
                    job.cursor = None;
                }
            }
        }
        if job.is_done() {
            let job = self.audit.take().expect("a job is running");
            // The control plane keeps at most AUDIT_JOBS jobs out: there is room.
            let _ = self.queries.audited.push(job);
            return false;
        }
        job.cursor.is_some()
    }

    /// Answers a few route queries from the serving tables (`route get ... core N`).
    #[inline]
    fn answer_queries(&mut self) {
        for _ in 0..rings::MAX_QUERIES_PER_POLL {
            let Some(q) = self.queries.queries.pop() else {
                break;
            };
            let answer = rings::RouteAnswer {
                token: q.token,
                nexthop: self.tables.lookup(q.table, q.addr),
                applied_seq: self.subscription.applied_seq(),
            };
            // A full answer ring means the asker gave up on earlier answers; drop.
            let _ = self.queries.answers.push(answer);
        }
    }

    /// Sends up to one burst of injected frames.
    fn drain_injects(&mut self) -> usize {
        let mut taken = 0;
        let mut any = false;
        while taken < MAX_BURST {
            let Some(Injected { packet, port }) = self.injects.pop() else {
                break;
            };
            taken += 1;
            match self.tx.get_mut(usize::from(port)) {
                Some(burst) => match burst.push(packet) {
                    Ok(()) => {
                        self.local.injected += 1;
                        any = true;
                    }
                    // Cannot happen (bursts are empty here and at most MAX_BURST
                    // are taken), but never panic on the fast path.
                    Err(packet) => {
                        drop(packet);
                        self.local.inject_dropped += 1;
                    }
                },
                None => {
                    drop(packet);
                    self.local.inject_dropped += 1;
                }
            }
        }
        if any {
            transmit_all(&mut self.ports, &mut self.tx);
        }
        taken
    }

    /// Runs the loop on the calling thread until `stop` is set, pinned to the
    /// configured CPU if it exists. Publishes the counters before returning.
    pub fn run(&mut self, stop: &AtomicBool) {
        let pinned = self.cpu.filter(|&cpu| pin_current_thread(cpu));
        self.counters.set_pinned(pinned);
        tracing::info!(core = %self.name, cpu = ?pinned, "forwarding core running");
        while !stop.load(Ordering::Relaxed) {
            if self.poll_once() == 0 {
                match self.idle {
                    IdlePolicy::Spin => core::hint::spin_loop(),
                    IdlePolicy::Yield => std::thread::yield_now(),
                }
            }
        }
        self.publish();
        // Spare queues go with the core: drop them now, so the daemon can hand
        // them to another core while this one's thread winds down.
        self.adopted.clear();
        self.spare.gone();
        tracing::info!(core = %self.name, "forwarding core stopped");
    }
}

fn add_counters(into: &mut PortCounters, c: &PortCounters) {
    into.rx_packets += c.rx_packets;
    into.rx_bytes += c.rx_bytes;
    into.tx_packets += c.tx_packets;
    into.tx_bytes += c.tx_bytes;
    into.tx_dropped += c.tx_dropped;
    into.alloc_failed += c.alloc_failed;
}

impl<P> ForwardingCore<P>
where
    P: Port + Send + 'static,
{
    /// Starts the core on a thread of its own; [`RunningCore::stop`] stops it and
    /// gives the core (and so its ports) back.
    pub fn spawn(mut self) -> Result<RunningCore<P>, CoreError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let name = self.name.to_string();
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                self.run(&flag);
                self
            })
            .map_err(|source| CoreError::Spawn { core: name, source })?;
        Ok(RunningCore {
            stop,
            thread: Some(thread),
        })
    }
}

/// Sends what `forward_burst` left: the received burst itself on its one egress port,
/// or every non-empty TX burst with one `tx_burst` on its port. Either way `rx` and
/// every TX burst are empty afterwards (a port's `tx_burst` frees what it cannot send).
#[inline]
fn transmit<P: Port>(
    ports: &mut [P],
    tx: &mut [Burst<P::Packet>],
    rx: &mut Burst<P::Packet>,
    sent: Sent,
) {
    match sent {
        Sent::Whole(port) => match ports.get_mut(usize::from(port)) {
            Some(port) => {
                port.tx_burst(rx);
            }
            // forward_burst only says Whole for a port the core has.
            None => rx.clear(),
        },
        Sent::Sorted => transmit_all(ports, tx),
    }
}

/// Sends every non-empty TX burst with one `tx_burst` on its port.
#[inline]
fn transmit_all<P: Port>(ports: &mut [P], tx: &mut [Burst<P::Packet>]) {
    for (port, burst) in ports.iter_mut().zip(tx.iter_mut()) {
        if !burst.is_empty() {
            port.tx_burst(burst);
        }
    }
}

/// Pins the calling thread to `cpu` if this machine has it.
fn pin_current_thread(cpu: usize) -> bool {
    // Straight to the CPU asked for, not only among the CPUs this thread inherited:
    // EAL pins the daemon's main thread to its main lcore and threads spawned from
    // it inherit that mask, so a core configured on another CPU would never be
    // pinned. The kernel itself refuses a CPU that is offline or outside the cpuset.
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
}

/// A core running on its own thread.
pub struct RunningCore<P: Port> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<ForwardingCore<P>>>,
}

impl<P: Port> RunningCore<P> {
    /// Whether the core's thread has ended (it only does when stopped, or on a panic).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops the core and waits for its thread; returns the core (its ports, tables
    /// and subscription). A panic on the core's thread is propagated.
    pub fn stop(mut self) -> ForwardingCore<P> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("joined only here");
        match thread.join() {
            Ok(core) => core,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl<P: Port> Drop for RunningCore<P> {
    fn drop(&mut self) {
        // Dropped without `stop`: stop the thread anyway, and drop the core with it.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
