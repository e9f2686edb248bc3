//! The daemon: the one thread that owns the FIB.
//!
//! [`Router`] holds the FIB (the single writer) and each feature's state; the
//! features' handlers (`routes::handler`, `neighbours::handler`, ...) work on it.
//! The daemon itself keeps only what ties them together:
//!
//! - [`dispatch`]: the table from request to handler, and whether it is journaled;
//! - [`journal`]: runtime changes saved and replayed at start-up;
//! - [`serve`]: the control loop ([`Router::turn`], route sources, the socket);
//! - [`startup`]: from a validated configuration to a running router;
//! - [`logs`]: fibred's log output; [`notify`]: readiness for systemd;
//! - [`Backend`]: ports and cores — DPDK ([`dpdk`], feature `dpdk`) for `fibred`,
//!   or software ports in this process ([`soft`]) for tests.

pub mod backend;
pub mod dispatch;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod journal;
pub mod logs;
pub mod notify;
pub mod serve;
pub mod soft;
pub mod startup;

pub use crate::interfaces::{LinkState, PortMeta};
pub use backend::{Backend, CoreStart};

use crate::cores::Cores;
use crate::interfaces::Interfaces;
use crate::neighbours::{resolve, Neighbours};
use crate::proto::{Request, Response};
use crate::slowpath::SlowPath;
use crate::source::SourceHandle;
use crate::stats::RouterCounters;
use dataplane::worker::CoreHandle;
use fib::Fib;
use std::time::Instant;

/// How the router answers a control-socket request.
pub enum Answer {
    Now(Response),
    /// Produced as the client reads (see `server::ReplyStream`).
    Stream(Box<dyn crate::server::ReplyStream>),
    /// Answered on a later turn ([`Router::take_finished`] gives it back with this
    /// ticket): work that takes the cores' time, such as `fib audit`.
    Later(u64),
}

/// The daemon's state: the FIB, the backend, and each feature's own state.
pub struct Router<B: Backend> {
    pub(crate) fib: Fib,
    pub(crate) backend: B,
    pub(crate) interfaces: Interfaces,
    pub(crate) neighbours: Neighbours,
    pub(crate) slowpath: SlowPath,
    pub(crate) cores: Cores<B::Packet>,
    /// Route sources (kernel mirror, FPM server) feeding requests in.
    pub(crate) sources: Vec<SourceHandle>,
    pub(crate) counters: RouterCounters,
    pub(crate) started: Instant,
    /// Requests that changed state, for the journal; the daemon drains them.
    journal_out: Vec<Request>,
    /// Every route at one FIB generation, shared by `route show` replies.
    pub(crate) route_rows: Option<std::sync::Arc<crate::routes::stream::RouteRows>>,
    /// The FIB seq after the last piece of work that committed changes, and when
    /// that work ended (`fib::listener::monotonic_ns`), for `fib status`.
    pub(crate) last_commit: (u64, u64),
    pub(crate) audits: crate::audit::Audits,
    /// Requests by op, commit latency, the route count cache.
    pub(crate) metrics: crate::metrics::handler::MetricsState,
    /// `monitor` subscribers.
    pub(crate) monitor: crate::monitor::Monitor,
}

impl<B: Backend> Router<B> {
    /// A router over `ports` (index = `PortId`) with an empty FIB; each core's
    /// FIB listener gets a ring of `listener_ring` events.
    pub fn new(fib: Fib, backend: B, ports: Vec<PortMeta>, listener_ring: usize) -> Self {
        Router {
            fib,
            backend,
            interfaces: Interfaces::new(ports),
            neighbours: Neighbours::default(),
            slowpath: SlowPath::new(Vec::new(), 1000, 100),
            cores: Cores::new(listener_ring),
            sources: Vec::new(),
            counters: RouterCounters::default(),
            started: Instant::now(),
            journal_out: Vec::new(),
            route_rows: None,
            last_commit: (0, 0),
            audits: Default::default(),
            metrics: Default::default(),
            monitor: Default::default(),
        }
    }

    /// Answers one control-socket request. A refused request changes nothing; an
    /// accepted one that changed state is kept for the journal.
    pub fn handle(&mut self, request: Request) -> Response {
        let op = request.name();
        self.count_request(op);
        let copy = request.clone();
        let (response, journal) = dispatch::dispatch(self, request, Instant::now());
        if let Err(e) = &response {
            self.metrics.requests.error(op, e.kind);
        }
        self.note_commit();
        if response.is_ok() && journal == dispatch::Journal::Keep {
            self.journal_out.push(copy);
        }
        response
    }

    /// Answers request `id` for the control socket: like [`Self::handle`], but a
    /// reply that can be big (`route show`) comes back as a stream the server
    /// encodes as the client reads it.
    pub fn answer(&mut self, id: u64, request: Request) -> Answer {
        let op = request.name();
        match request {
            Request::RouteShow(filter) => {
                self.count_request(op);
                let rows = crate::routes::stream::rows(self);
                Answer::Stream(Box::new(crate::routes::stream::RouteShowStream::new(
                    id, rows, filter,
                )))
            }
            Request::FibAudit(a) => {
                self.count_request(op);
                let ticket = self.audits.new_ticket();
                match crate::audit::handler::start(self, a, Some(ticket)) {
                    Ok(_) => Answer::Later(ticket),
                    Err(e) => {
                        self.metrics.requests.error(op, e.kind);
                        Answer::Now(Err(e))
                    }
                }
            }
            Request::Monitor(m) => {
                self.count_request(op);
                let queue = self
                    .monitor
                    .subscribe(&m.topics, crate::monitor::bus::QUEUE_EVENTS);
                Answer::Stream(Box::new(crate::monitor::bus::MonitorStream::new(id, queue)))
            }
            other => Answer::Now(self.handle(other)),
        }
    }

    /// One control request of `op`, in the total and by op.
    fn count_request(&mut self, op: &'static str) {
        self.counters.requests += 1;
        self.metrics.requests.request(op);
    }

    /// Answers given [`Answer::Later`] that are ready: (ticket, response).
    pub fn take_finished(&mut self) -> Vec<(u64, Response)> {
        self.audits.take_finished()
    }

    /// Test hook: has core `core` overwrite what `addr` looks up to in its `table`
    /// (`fib::dir24::NO_ROUTE`: no route) behind the FIB's back, and waits until it
    /// has. Returns false if there is no such core or it did not do it in 1 s.
    #[cfg(feature = "test-hooks")]
    pub fn corrupt_core_table(
        &mut self,
        core: u32,
        table: fib::TableId,
        addr: std::net::Ipv4Addr,
        value: u32,
    ) -> bool {
        let Some(slot) = self.cores.slots.get(&core) else {
            return false;
        };
        if !slot.handle.corrupt_table(table, u32::from(addr), value) {
            return false;
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(1);
        while Instant::now() < deadline {
            if let Some(job) = slot.handle.take_audit() {
                if job.corrupt.is_none() && job.token == 0 {
                    return true;
                }
            }
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        false
    }

    /// Audits every core's tables every `interval` (`None`: only when asked).
    pub fn set_audit_interval(&mut self, interval: Option<std::time::Duration>) {
        self.audits.set_interval(interval, Instant::now());
    }

    /// Counts a turn of the control loop that took `took` (its work, not its sleep).
    pub fn note_turn(&mut self, took: std::time::Duration) {
        self.counters.turns.record(took);
        self.metrics.commits.observe(self.fib.watermark_at());
        crate::monitor::watch::turn(self);
    }

    /// One turn of the control loop's own work: FIB delivery, punted frames (at
    /// most `max_punts` per core), held frames' expiry, neighbour timers. Returns
    /// whether it found work.
    pub fn turn(&mut self, now: Instant, max_punts: usize) -> bool {
        self.fib.pump();
        // Events still waiting for room in a core's ring: come back soon.
        let mut busy = self.fib.has_undelivered();
        busy |= crate::slowpath::punts::handle(self, now, max_punts);
        if !self.neighbours.held.is_empty() {
            self.neighbours.held.expire(now);
        }
        let actions = self.neighbours.table.tick(now);
        busy |= !actions.is_empty();
        busy |= crate::audit::handler::step(self, now);
        resolve::apply(self, actions);
        self.note_commit();
        busy
    }

    /// Starts taking requests from a route source; [`Self::poll_sources`] applies them.
    pub fn add_source(&mut self, source: SourceHandle) {
        crate::source::handler::attach(self, source);
    }

    /// Applies up to `budget` pending requests from each route source. They are not
    /// journaled (the source sends them again after a restart). Returns whether
    /// there was work.
    pub fn poll_sources(&mut self, budget: usize) -> bool {
        let busy = crate::source::handler::poll(self, budget);
        self.note_commit();
        busy
    }

    /// What the control socket's server reports: clients connected now, and
    /// dropped so far (for `stats`).
    pub fn set_clients(&mut self, active: u64, dropped: u64) {
        self.counters.clients = active;
        self.counters.clients_dropped = dropped;
    }

    /// Stamps the end of work that committed changes (a request, source updates,
    /// a turn's neighbour changes).
    fn note_commit(&mut self) {
        let seq = self.fib.seq();
        if seq != self.last_commit.0 {
            self.last_commit = (seq, fib::listener::monotonic_ns());
            self.metrics.commits.commit(seq, self.last_commit.1);
        }
    }

    pub fn fib(&self) -> &Fib {
        &self.fib
    }

    pub fn fib_mut(&mut self) -> &mut Fib {
        &mut self.fib
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    pub fn counters(&self) -> RouterCounters {
        self.counters
    }

    /// Frames held for unresolved neighbours now.
    pub fn held_frames(&self) -> usize {
        self.neighbours.held.len()
    }

    /// Requests that changed state since the last call, for the journal.
    pub fn take_journal(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.journal_out)
    }

    pub fn core_ids(&self) -> Vec<u32> {
        self.cores.ids()
    }

    pub fn core_handle(&self, id: u32) -> Option<&CoreHandle<B::Packet>> {
        self.cores.slots.get(&id).map(|c| &c.handle)
    }

    /// Starts a forwarding core (see `cores::handler::start`).
    pub fn add_core(
        &mut self,
        cpu: Option<usize>,
    ) -> Result<(u32, Option<usize>), crate::proto::ErrorReply> {
        crate::cores::handler::start(self, cpu)
    }

    pub fn del_core(&mut self, id: u32) -> Result<(), crate::proto::ErrorReply> {
        crate::cores::handler::stop(self, id)
    }

    /// Stops every route source and every core (shutdown).
    pub fn stop_all(&mut self) {
        for mut s in self.sources.drain(..) {
            s.shutdown();
        }
        for id in self.core_ids() {
            let _ = self.del_core(id);
        }
    }
}
