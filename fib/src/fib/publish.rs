//! What listeners see of the FIB, and how it reaches them.
//!
//! The change sequence lives here: `Fib::emit` is the one place a seq is taken,
//! and it queues the event for every listener. Registering takes a snapshot (one
//! per seq, shared by every listener replayed from it) and streams it as a replay;
//! [`Fib::pump`] pushes the rest of replays and backlogs into rings as they drain,
//! acts on what listeners report (gaps, failures, completed replays), and frees
//! nexthop ids every listener has moved past. Kept apart from the routing state so
//! the delivery rules (never block, resync on overflow or gap, give up after a
//! bounded number in a row) read in one place.

use super::{Fib, FibError};
use crate::event::{EventKind, FibEvent, MacAddr, Nexthop, NexthopGroup, NexthopId, TableId};
use crate::listener::{ListenerConfig, ListenerId, ListenerShared, Subscription};
use crate::prefix::Ipv4Prefix;
use crossbeam_queue::ArrayQueue;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A consistent copy of what listeners see, at one seq, shared by every listener
/// replayed from it.
#[derive(Debug)]
pub(super) struct Snapshot {
    seq: u64,
    nexthops: Vec<(NexthopId, Nexthop)>,
    /// Resolved nexthops, replayed right after the nexthops.
    resolved: Vec<(NexthopId, MacAddr)>,
    /// Multipath groups, replayed after the nexthops they are made of.
    groups: Vec<(NexthopId, NexthopGroup)>,
    routes: Vec<(TableId, Ipv4Prefix, NexthopId)>,
}

impl Snapshot {
    /// Events in a replay: begin, nexthops, their resolutions, groups, routes, end.
    fn len(&self) -> usize {
        self.nexthops.len() + self.resolved.len() + self.groups.len() + self.routes.len() + 2
    }

    fn event(&self, i: usize) -> FibEvent {
        let nh = self.nexthops.len();
        let grp = nh + self.resolved.len();
        let res = grp + self.groups.len();
        let kind = if i == 0 {
            EventKind::ReplayBegin
        } else if i <= nh {
            let (id, nexthop) = self.nexthops[i - 1];
            EventKind::NexthopSet { id, nexthop }
        } else if i <= grp {
            let (id, mac) = self.resolved[i - 1 - nh];
            EventKind::NexthopResolved { id, mac: Some(mac) }
        } else if i <= res {
            let (id, group) = self.groups[i - 1 - grp];
            EventKind::GroupSet { id, group }
        } else if i <= res + self.routes.len() {
            let (table, prefix, nexthop) = self.routes[i - 1 - res];
            EventKind::RouteAdd {
                table,
                prefix,
                nexthop,
            }
        } else {
            EventKind::ReplayEnd
        };
        FibEvent {
            seq: self.seq,
            kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SlotState {
    Active,
    Failed(String),
}

pub(super) struct ListenerSlot {
    id: ListenerId,
    name: String,
    ring: Arc<ArrayQueue<FibEvent>>,
    shared: Arc<ListenerShared>,
    /// The replay being streamed, and the index of its next event.
    replay: Option<(Arc<Snapshot>, usize)>,
    /// Live events waiting behind the replay or a full ring, in seq order.
    backlog: VecDeque<FibEvent>,
    max_backlog: usize,
    resyncs_in_a_row: u32,
    resyncs_total: u64,
    /// `shared.replays_completed` when the FIB last looked.
    replays_seen: u64,
    state: SlotState,
    /// Test hook: drop the next live event for this listener (to prove gaps are caught).
    #[cfg(feature = "test-hooks")]
    skip_next_live: bool,
}

/// Where a listener stands, for `fib status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerStatus {
    pub id: ListenerId,
    pub name: String,
    /// `replaying`, `live` or `failed`.
    pub state: &'static str,
    pub applied_seq: u64,
    /// When `applied_seq` last moved (`listener::monotonic_ns`; 0: never).
    pub applied_at_ns: u64,
    /// Committed changes the listener has not applied yet.
    pub lag: u64,
    /// Whether the listener's serving state is a whole table (a replay has ended).
    pub in_sync: bool,
    /// Replay events sent so far and in all, while replaying.
    pub replay_progress: Option<(usize, usize)>,
    pub ring_len: usize,
    pub backlog: usize,
    pub resyncs: u64,
    pub gaps: u64,
    pub failure: Option<String>,
}

impl Fib {
    /// Registers a listener. It is replayed the whole FIB as of now, then follows
    /// every change. The replay streams over later [`Fib::pump`] calls; this call
    /// costs one snapshot copy and never waits for the listener.
    pub fn register(&mut self, cfg: ListenerConfig) -> Result<Subscription, FibError> {
        if cfg.ring_capacity < 2 {
            return Err(FibError::InvalidListenerConfig(format!(
                "ring capacity {} is below 2",
                cfg.ring_capacity
            )));
        }
        let id = ListenerId(self.next_listener);
        self.next_listener += 1;
        let ring = Arc::new(ArrayQueue::new(cfg.ring_capacity));
        let shared = Arc::new(ListenerShared::default());
        let snapshot = self.snapshot();
        tracing::info!(listener = %id, name = %cfg.name, seq = snapshot.seq, events = snapshot.len(), "listener registered; replay starts");
        let mut slot = ListenerSlot {
            id,
            name: cfg.name,
            ring: ring.clone(),
            shared: shared.clone(),
            replay: Some((snapshot, 0)),
            backlog: VecDeque::new(),
            max_backlog: cfg.max_backlog,
            resyncs_in_a_row: 0,
            resyncs_total: 0,
            replays_seen: 0,
            state: SlotState::Active,
            #[cfg(feature = "test-hooks")]
            skip_next_live: false,
        };
        deliver(&mut slot);
        self.listeners.push(slot);
        Ok(Subscription::new(id, ring, shared))
    }

    /// Forgets a listener. The FIB and the other listeners are untouched.
    pub fn unregister(&mut self, id: ListenerId) -> Result<(), FibError> {
        let i = self
            .listeners
            .iter()
            .position(|s| s.id == id)
            .ok_or(FibError::UnknownListener(id))?;
        let slot = self.listeners.remove(i);
        slot.shared.detach("unregistered".into());
        tracing::info!(listener = %id, name = %slot.name, "listener unregistered");
        Ok(())
    }

    /// One turn of delivery: pushes replay and backlog events into every ring that
    /// has room, acts on resync requests and failures the listeners reported, forgets
    /// dropped subscriptions, and frees nexthop ids every listener has moved past.
    /// Call it on every turn of the control loop. Never blocks.
    pub fn pump(&mut self) {
        self.listeners.retain(|s| {
            if s.shared.is_closed() {
                tracing::info!(listener = %s.id, name = %s.name, "listener closed");
                false
            } else {
                true
            }
        });
        for i in 0..self.listeners.len() {
            let slot = &mut self.listeners[i];
            if slot.state != SlotState::Active {
                continue;
            }
            if slot.shared.is_failed() {
                let reason = slot.shared.failure().unwrap_or_default();
                fail_slot(slot, format!("listener failed: {reason}"));
                continue;
            }
            let completed = slot.shared.replays_completed();
            if completed > slot.replays_seen {
                slot.replays_seen = completed;
                slot.resyncs_in_a_row = 0;
            }
            if slot.shared.take_resync_request() {
                let snap = self.snapshot();
                resync(
                    &mut self.listeners[i],
                    snap,
                    self.cfg.max_resyncs_in_a_row,
                    "listener saw a gap in seqs",
                );
            }
            deliver(&mut self.listeners[i]);
        }
        let w = self.watermark();
        self.nexthops.reclaim(w);
        self.groups.reclaim(w);
    }

    /// Whether some active listener still has events the FIB could not push into
    /// its ring yet (a replay being streamed, or a backlog): the writer should pump
    /// again soon rather than idle.
    pub fn has_undelivered(&self) -> bool {
        self.listeners
            .iter()
            .any(|s| s.state == SlotState::Active && (s.replay.is_some() || !s.backlog.is_empty()))
    }

    /// The lowest seq every active listener has applied (the current seq if none).
    pub fn watermark(&self) -> u64 {
        self.listeners
            .iter()
            .filter(|s| s.state == SlotState::Active)
            .map(|s| s.shared.applied_seq())
            .min()
            .unwrap_or(self.seq)
    }

    /// The watermark and the latest time (`listener::monotonic_ns`) an active
    /// listener's applied seq moved: when the watermark reached a seq, at the
    /// latest. `None` without active listeners.
    pub fn watermark_at(&self) -> Option<(u64, u64)> {
        self.listeners
            .iter()
            .filter(|s| s.state == SlotState::Active)
            .map(|s| (s.shared.applied_seq(), s.shared.applied_at_ns()))
            .reduce(|(a, t), (b, u)| (a.min(b), t.max(u)))
    }

    /// Has every active listener applied `seq`?
    pub fn all_applied(&self, seq: u64) -> bool {
        self.watermark() >= seq
    }

    /// Pumps until every listener has applied `seq`, or `timeout` passes, or a
    /// listener fails. For callers that want to know a change is live on every core.
    pub fn sync(&mut self, seq: u64, timeout: Duration) -> Result<(), FibError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            if let Some(s) = self.listeners.iter().find(|s| s.state != SlotState::Active) {
                if let SlotState::Failed(reason) = &s.state {
                    return Err(FibError::ListenerFailed {
                        id: s.id,
                        name: s.name.clone(),
                        reason: reason.clone(),
                    });
                }
            }
            if self.all_applied(seq) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let lagging = self
                    .listeners
                    .iter()
                    .filter(|s| s.shared.applied_seq() < seq)
                    .map(|s| format!("{} ({}) at {}", s.id, s.name, s.shared.applied_seq()))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(FibError::Timeout { seq, lagging });
            }
            std::thread::yield_now();
        }
    }

    /// Where every listener stands.
    pub fn listeners(&self) -> Vec<ListenerStatus> {
        self.listeners
            .iter()
            .map(|s| {
                let applied = s.shared.applied_seq();
                let (state, failure) = match &s.state {
                    SlotState::Failed(r) => ("failed", Some(r.clone())),
                    SlotState::Active if s.replay.is_some() || !s.shared.in_sync() => {
                        ("replaying", None)
                    }
                    SlotState::Active => ("live", None),
                };
                ListenerStatus {
                    id: s.id,
                    name: s.name.clone(),
                    state,
                    applied_seq: applied,
                    applied_at_ns: s.shared.applied_at_ns(),
                    lag: self.seq.saturating_sub(applied),
                    in_sync: s.shared.in_sync(),
                    replay_progress: s.replay.as_ref().map(|(snap, i)| (*i, snap.len())),
                    ring_len: s.ring.len(),
                    backlog: s.backlog.len(),
                    resyncs: s.resyncs_total,
                    gaps: s.shared.gaps(),
                    failure,
                }
            })
            .collect()
    }

    /// Flushes listener `id` and replays the whole FIB to it again, as a gap would:
    /// what an audit does with a core whose table it found wrong. The listener keeps
    /// serving its old state until the replay ends.
    pub fn resync_listener(&mut self, id: ListenerId, reason: &str) -> Result<(), FibError> {
        let i = self
            .listeners
            .iter()
            .position(|s| s.id == id)
            .ok_or(FibError::UnknownListener(id))?;
        if let SlotState::Failed(reason) = &self.listeners[i].state {
            return Err(FibError::ListenerFailed {
                id,
                name: self.listeners[i].name.clone(),
                reason: reason.clone(),
            });
        }
        let snap = self.snapshot();
        resync(
            &mut self.listeners[i],
            snap,
            self.cfg.max_resyncs_in_a_row,
            reason,
        );
        deliver(&mut self.listeners[i]);
        Ok(())
    }

    /// Test hook: the next live event is not delivered to `id`, as if a ring had
    /// lost it. The listener must notice the gap and ask for a resync. Only with
    /// the `test-hooks` feature, so production builds carry no check for it.
    #[cfg(feature = "test-hooks")]
    pub fn drop_next_event_for(&mut self, id: ListenerId) -> Result<(), FibError> {
        let s = self
            .listeners
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(FibError::UnknownListener(id))?;
        s.skip_next_live = true;
        Ok(())
    }

    /// The snapshot at the current seq, built once and shared until the next change.
    fn snapshot(&mut self) -> Arc<Snapshot> {
        if let Some(s) = &self.snapshot_cache {
            if s.seq == self.seq {
                return s.clone();
            }
        }
        let nexthops = self.nexthops.sorted();
        let mut routes = self.installed();
        // Address order (a covering prefix before the ones under it): a DIR-24-8 table
        // built in this order writes each region of tbl24 while it is in cache, several
        // times faster than in hash order. Done once per snapshot, shared by listeners.
        routes.sort_unstable_by_key(|(t, p, _)| (t.0, p.addr(), p.len()));
        let s = Arc::new(Snapshot {
            seq: self.seq,
            nexthops: nexthops.iter().map(|(id, e)| (*id, e.nexthop)).collect(),
            resolved: nexthops
                .iter()
                .filter_map(|(id, e)| e.mac.map(|m| (*id, m)))
                .collect(),
            groups: self
                .groups
                .sorted()
                .into_iter()
                .map(|(id, e)| (id, e.nexthop))
                .collect(),
            routes,
        });
        self.snapshot_cache = Some(s.clone());
        s
    }

    /// Commits one change: takes the next seq and queues the event for every listener.
    pub(super) fn emit(&mut self, kind: EventKind) -> u64 {
        self.seq += 1;
        self.snapshot_cache = None;
        let event = FibEvent {
            seq: self.seq,
            kind,
        };
        self.touch(&kind);
        if let Some(tap) = &mut self.tap {
            tap.keep(event);
        }
        let mut overflowed = Vec::new();
        for (i, slot) in self.listeners.iter_mut().enumerate() {
            if slot.state != SlotState::Active {
                continue;
            }
            #[cfg(feature = "test-hooks")]
            if std::mem::take(&mut slot.skip_next_live) {
                continue;
            }
            if slot.replay.is_none() && slot.backlog.is_empty() {
                if let Err(e) = slot.ring.push(event) {
                    slot.backlog.push_back(e);
                }
            } else {
                slot.backlog.push_back(event);
                if slot.backlog.len() > slot.max_backlog {
                    overflowed.push(i);
                }
            }
        }
        for i in overflowed {
            let snap = self.snapshot();
            let slot = &mut self.listeners[i];
            let reason = format!("backlog over {} events", slot.max_backlog);
            resync(slot, snap, self.cfg.max_resyncs_in_a_row, &reason);
        }
        self.seq
    }
}

/// Pushes what fits: the rest of the replay first, then the backlog.
fn deliver(slot: &mut ListenerSlot) {
    if slot.state != SlotState::Active {
        return;
    }
    if let Some((snap, next)) = &mut slot.replay {
        let len = snap.len();
        while *next < len {
            if slot.ring.push(snap.event(*next)).is_err() {
                return;
            }
            *next += 1;
        }
        slot.replay = None;
    }
    while let Some(e) = slot.backlog.pop_front() {
        if let Err(e) = slot.ring.push(e) {
            slot.backlog.push_front(e);
            return;
        }
    }
}

/// Flushes a listener and replays it again from `snap`, or gives up on it.
fn resync(slot: &mut ListenerSlot, snap: Arc<Snapshot>, max_in_a_row: u32, reason: &str) {
    slot.backlog.clear();
    slot.backlog.shrink_to(1024);
    slot.resyncs_in_a_row += 1;
    slot.resyncs_total += 1;
    if slot.resyncs_in_a_row > max_in_a_row {
        fail_slot(
            slot,
            format!("gave up after {max_in_a_row} resyncs in a row; last: {reason}"),
        );
        return;
    }
    tracing::warn!(listener = %slot.id, name = %slot.name, seq = snap.seq, reason, "listener flushed; replaying again");
    slot.replay = Some((snap, 0));
}

fn fail_slot(slot: &mut ListenerSlot, reason: String) {
    tracing::error!(listener = %slot.id, name = %slot.name, %reason, "listener failed; it gets no more events");
    slot.replay = None;
    slot.backlog = VecDeque::new();
    slot.shared.detach(reason.clone());
    slot.state = SlotState::Failed(reason);
}

/// Route events kept for a reader that is not a listener: bounded, and counting
/// what it could not keep.
#[derive(Debug, Default)]
pub(super) struct EventTap {
    events: Vec<FibEvent>,
    cap: usize,
    lost: u64,
}

impl EventTap {
    fn keep(&mut self, event: FibEvent) {
        if !matches!(
            event.kind,
            EventKind::RouteAdd { .. }
                | EventKind::RouteReplace { .. }
                | EventKind::RouteDel { .. }
        ) {
            return;
        }
        if self.events.len() < self.cap {
            self.events.push(event);
        } else {
            self.lost += 1;
        }
    }
}

impl Fib {
    /// Keeps route events (add, replace, del) from now on, at most `cap` between
    /// two [`Self::take_tapped`]; `cap` 0 stops keeping them. For readers that want
    /// every route change with its seq without being a listener (no replay, no
    /// ring): the control plane's event monitor.
    pub fn tap_routes(&mut self, cap: usize) {
        if cap == 0 {
            self.tap = None;
        } else {
            self.tap.get_or_insert_with(EventTap::default).cap = cap;
        }
    }

    /// Whether route events are being kept.
    pub fn is_tapping(&self) -> bool {
        self.tap.is_some()
    }

    /// Moves the kept route events into `out`, in seq order; returns how many were
    /// not kept since the last call (the cap was reached).
    pub fn take_tapped(&mut self, out: &mut Vec<FibEvent>) -> u64 {
        match &mut self.tap {
            Some(t) => {
                out.append(&mut t.events);
                std::mem::take(&mut t.lost)
            }
            None => 0,
        }
    }
}
