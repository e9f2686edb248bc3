//! The listener side of registration: the ring a listener drains, the atomics it
//! publishes, and the seq checks that turn any gap into a resync.
//!
//! A [`Subscription`] belongs to the listener's own thread (a forwarding core). It
//! pops events from its SPSC ring, checks that they follow each other in seq order,
//! applies them to an [`EventSink`] within a work budget, and publishes the seq the
//! sink's serving state reflects. The control thread reads those atomics; it never
//! waits for them.

use crate::event::{EventKind, EventSink, FibEvent, Progress};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A registered listener's id, unique for the FIB's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub u32);

impl fmt::Display for ListenerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a listener is registered.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// A name for logs and status (e.g. `core 1`).
    pub name: String,
    /// Slots in the SPSC ring between the control thread and the listener.
    pub ring_capacity: usize,
    /// Live events the FIB holds for a listener whose ring is full (or that is still
    /// being replayed) before it gives up on the backlog and replays the listener
    /// again from a fresh snapshot.
    pub max_backlog: usize,
}

impl ListenerConfig {
    pub fn new(name: impl Into<String>) -> Self {
        ListenerConfig {
            name: name.into(),
            ring_capacity: 4096,
            max_backlog: 1 << 20,
        }
    }

    pub fn ring_capacity(mut self, n: usize) -> Self {
        self.ring_capacity = n;
        self
    }

    pub fn max_backlog(mut self, n: usize) -> Self {
        self.max_backlog = n;
        self
    }
}

/// State shared between the FIB (control thread) and one listener.
///
/// Written by the listener: `applied_seq`, `in_sync`, `replays_completed`,
/// `gaps`, `resync_requested`, `failure`. Written by the FIB: `detached`.
/// The listener-written words sit on their own cache line so the control thread's
/// reads do not bounce the core's hot line more than once per publish.
#[derive(Debug, Default)]
pub struct ListenerShared {
    applied_seq: CachePadded<AtomicU64>,
    /// When `applied_seq` last moved ([`monotonic_ns`]).
    applied_at_ns: AtomicU64,
    in_sync: AtomicBool,
    replays_completed: AtomicU64,
    gaps: AtomicU64,
    resync_requested: AtomicBool,
    failed: AtomicBool,
    /// Why the listener failed. Written once, on the failure path (never in steady
    /// state), so a mutex costs nothing that matters.
    failure: Mutex<Option<String>>,
    /// The FIB gave up on this listener (too many resyncs in a row) or it was unregistered.
    detached: AtomicBool,
    detach_reason: Mutex<Option<String>>,
    /// The subscription was dropped: the FIB forgets the listener at its next pump.
    closed: AtomicBool,
}

impl ListenerShared {
    /// The seq the listener's serving state reflects (0 before its first replay ended).
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq.load(Ordering::Acquire)
    }

    /// When the listener's applied seq last moved, in [`monotonic_ns`] (0: never).
    /// With the time a change committed, it says how long the listener took to
    /// apply it, measured inside the process.
    pub fn applied_at_ns(&self) -> u64 {
        self.applied_at_ns.load(Ordering::Acquire)
    }

    /// Has the listener completed a replay (so it holds a whole table)?
    pub fn in_sync(&self) -> bool {
        self.in_sync.load(Ordering::Acquire)
    }

    pub fn replays_completed(&self) -> u64 {
        self.replays_completed.load(Ordering::Acquire)
    }

    /// Gaps (or out-of-order events) the listener detected.
    pub fn gaps(&self) -> u64 {
        self.gaps.load(Ordering::Relaxed)
    }

    pub fn failure(&self) -> Option<String> {
        if self.failed.load(Ordering::Acquire) {
            self.failure.lock().map(|g| g.clone()).unwrap_or(None)
        } else {
            None
        }
    }

    pub fn detached(&self) -> Option<String> {
        if self.detached.load(Ordering::Acquire) {
            self.detach_reason.lock().map(|g| g.clone()).unwrap_or(None)
        } else {
            None
        }
    }

    pub(crate) fn take_resync_request(&self) -> bool {
        self.resync_requested.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn detach(&self, reason: String) {
        if let Ok(mut g) = self.detach_reason.lock() {
            *g = Some(reason);
        }
        self.detached.store(true, Ordering::Release);
    }
}

/// Where the listener is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a `ReplayBegin`: right after registering, or after a gap.
    AwaitingReplay,
    /// Applying a replay at snapshot seq `snapshot`.
    Replaying { snapshot: u64 },
    /// In step: the next event must carry `next`.
    Live { next: u64 },
    /// The sink refused an event; nothing more is applied.
    Failed,
}

/// What one [`Subscription::poll`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// Events fully applied.
    pub applied: usize,
    /// Events dropped while waiting for a replay after a gap.
    pub discarded: usize,
    /// The poll stopped in the middle of an event (budget spent); it resumes next poll.
    pub partial: bool,
    /// A replay ended during this poll: the serving state was replaced.
    pub replay_ended: bool,
}

/// The listener's end of a registration. Owned by the listener's thread.
pub struct Subscription {
    id: ListenerId,
    ring: Arc<ArrayQueue<FibEvent>>,
    shared: Arc<ListenerShared>,
    phase: Phase,
    /// An event already checked and partly applied, to resume first.
    pending: Option<FibEvent>,
    /// The serving state's seq, published at the end of each poll.
    applied: u64,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("phase", &self.phase)
            .field("applied", &self.applied)
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(
        id: ListenerId,
        ring: Arc<ArrayQueue<FibEvent>>,
        shared: Arc<ListenerShared>,
    ) -> Self {
        Subscription {
            id,
            ring,
            shared,
            phase: Phase::AwaitingReplay,
            pending: None,
            applied: 0,
        }
    }

    pub fn id(&self) -> ListenerId {
        self.id
    }

    pub fn shared(&self) -> &Arc<ListenerShared> {
        &self.shared
    }

    /// Has a replay completed, so the sink's serving state is a whole table?
    pub fn in_sync(&self) -> bool {
        self.shared.in_sync()
    }

    /// The seq the sink's serving state reflects.
    pub fn applied_seq(&self) -> u64 {
        self.applied
    }

    /// Is the listener applying a replay right now?
    pub fn replaying(&self) -> bool {
        matches!(self.phase, Phase::Replaying { .. })
    }

    pub fn failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    /// Whether the serving state is whole at [`applied_seq`](Self::applied_seq): no
    /// live event is half applied to it (a replay's half-applied events go to the
    /// shadow set, which does not serve).
    pub fn serving_is_whole(&self) -> bool {
        !(self.pending.is_some() && matches!(self.phase, Phase::Live { .. }))
    }

    /// Events waiting in the ring.
    pub fn queued(&self) -> usize {
        self.ring.len()
    }

    /// Drains the ring into `sink`, spending at most about `budget` units of work
    /// (each event costs at least one). Never blocks.
    pub fn poll<S: EventSink>(&mut self, sink: &mut S, budget: usize) -> PollOutcome {
        let mut out = PollOutcome::default();
        let mut budget = budget;
        while budget > 0 && self.phase != Phase::Failed {
            let event = match self.pending.take() {
                Some(e) => e,
                None => match self.ring.pop() {
                    Some(e) => match self.admit(e) {
                        Some(e) => e,
                        None => {
                            out.discarded += 1;
                            continue;
                        }
                    },
                    None => break,
                },
            };
            let before = budget;
            match sink.apply(&event, &mut budget) {
                Ok(Progress::Done) => {
                    if budget == before {
                        budget -= 1;
                    }
                    out.applied += 1;
                    self.applied_done(&event, &mut out);
                }
                Ok(Progress::Partial) => {
                    self.pending = Some(event);
                    out.partial = true;
                    break;
                }
                Err(e) => {
                    self.fail(format!(
                        "applying {:?} at seq {}: {e}",
                        event.kind, event.seq
                    ));
                    break;
                }
            }
        }
        // Stamp the time only when the applied seq moved: one clock read (vDSO, no
        // system call) per poll that applied changes, never per packet.
        if self.applied != self.shared.applied_seq.load(Ordering::Relaxed) {
            self.shared
                .applied_at_ns
                .store(monotonic_ns(), Ordering::Relaxed);
            self.shared
                .applied_seq
                .store(self.applied, Ordering::Release);
        }
        out
    }

    /// Checks an event's place in the stream. Returns it if it is to be applied.
    fn admit(&mut self, e: FibEvent) -> Option<FibEvent> {
        if e.kind == EventKind::ReplayBegin {
            // A replay (first, or a resync the FIB started) supersedes whatever came before.
            self.phase = Phase::Replaying { snapshot: e.seq };
            return Some(e);
        }
        match self.phase {
            Phase::AwaitingReplay | Phase::Failed => None,
            Phase::Replaying { snapshot } => {
                if e.seq == snapshot {
                    Some(e)
                } else {
                    self.gap();
                    None
                }
            }
            Phase::Live { next } => {
                if e.seq == next {
                    Some(e)
                } else {
                    self.gap();
                    None
                }
            }
        }
    }

    fn applied_done(&mut self, e: &FibEvent, out: &mut PollOutcome) {
        match (self.phase, e.kind) {
            (Phase::Replaying { snapshot }, EventKind::ReplayEnd) => {
                self.phase = Phase::Live { next: snapshot + 1 };
                self.applied = snapshot;
                self.shared.applied_seq.store(snapshot, Ordering::Release);
                self.shared.in_sync.store(true, Ordering::Release);
                self.shared.replays_completed.fetch_add(1, Ordering::AcqRel);
                out.replay_ended = true;
            }
            (Phase::Live { next }, _) => {
                self.applied = next;
                self.phase = Phase::Live { next: next + 1 };
            }
            _ => {}
        }
    }

    /// A seq out of place: never skip silently. Stop applying and ask for a replay;
    /// the serving state stays as it was (whole, at the last applied seq).
    fn gap(&mut self) {
        self.phase = Phase::AwaitingReplay;
        self.pending = None;
        self.shared.gaps.fetch_add(1, Ordering::Relaxed);
        self.shared.resync_requested.store(true, Ordering::Release);
    }

    fn fail(&mut self, reason: String) {
        self.phase = Phase::Failed;
        self.pending = None;
        if let Ok(mut g) = self.shared.failure.lock() {
            *g = Some(reason);
        }
        self.shared.failed.store(true, Ordering::Release);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

/// Nanoseconds on the process's monotonic clock, from its first use. Listeners stamp
/// their applied seq with it, and the FIB's owner stamps commits, so the two compare.
pub fn monotonic_ns() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}
