//! Nexthop objects: ids, refcounts held by routes, and the reuse rule.
//!
//! Like the kernel's `fib_info_hold()`, every route (installed or not) holds a
//! reference on its nexthop, and a nexthop in use cannot be deleted. An id released
//! at seq `R` is not handed out again until every listener has applied past `R`, so
//! no core can ever confuse the old nexthop with a new one under the same id.

//!
//! The same table holds multipath groups (`NexthopTable<NexthopGroup>`), in their
//! own id range: a group holds a reference on each member, a route on its group.

use crate::event::{MacAddr, Nexthop, NexthopId};
use hashbrown::HashMap;
use std::collections::{BTreeSet, VecDeque};
use std::hash::Hash;

#[derive(Debug, Clone, Copy)]
pub(crate) struct NexthopEntry<V = Nexthop> {
    pub nexthop: V,
    /// The gateway's MAC, once neighbour resolution found it (plain nexthops only).
    pub mac: Option<MacAddr>,
    pub refcount: u32,
    /// Created for a route's target (`Fib::nexthop_for`), not as an object of its
    /// own: it lives while routes use it, and goes with the last.
    pub implicit: bool,
}

#[derive(Debug)]
pub(crate) struct NexthopTable<V = Nexthop> {
    entries: HashMap<NexthopId, NexthopEntry<V>>,
    /// Reverse index of the implicit entries, so routes that name a nexthop by
    /// value share one; an explicit object is only ever named by its id.
    by_value: HashMap<V, NexthopId>,
    /// Ids below `next_fresh` that are free to reuse, lowest first.
    free: BTreeSet<u32>,
    /// Ids never handed out start here.
    next_fresh: u32,
    /// Released ids waiting for every listener to pass their release seq, in seq order.
    pending: VecDeque<(NexthopId, u64)>,
    /// Ids are `base..base + capacity`.
    base: u32,
    capacity: u32,
}

impl<V: Copy + Eq + Hash> NexthopTable<V> {
    pub fn new(capacity: u32) -> Self {
        Self::with_base(0, capacity)
    }

    /// A table handing out ids `base..base + capacity`.
    pub fn with_base(base: u32, capacity: u32) -> Self {
        NexthopTable {
            entries: HashMap::new(),
            by_value: HashMap::new(),
            free: BTreeSet::new(),
            next_fresh: base,
            pending: VecDeque::new(),
            base,
            capacity,
        }
    }

    pub fn get(&self, id: NexthopId) -> Option<&NexthopEntry<V>> {
        self.entries.get(&id)
    }

    pub fn find(&self, nexthop: &V) -> Option<NexthopId> {
        self.by_value.get(nexthop).copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The lowest id free for reuse, without taking it.
    pub fn peek_free_id(&self) -> Option<NexthopId> {
        match self.free.first() {
            Some(&id) => Some(NexthopId(id)),
            None if self.next_fresh - self.base < self.capacity => Some(NexthopId(self.next_fresh)),
            None => None,
        }
    }

    pub fn insert(&mut self, id: NexthopId, nexthop: V, mac: Option<MacAddr>, implicit: bool) {
        if !self.free.remove(&id.0) {
            debug_assert_eq!(id.0, self.next_fresh);
            self.next_fresh += 1;
        }
        self.entries.insert(
            id,
            NexthopEntry {
                nexthop,
                mac,
                refcount: 0,
                implicit,
            },
        );
        if implicit {
            self.by_value.entry(nexthop).or_insert(id);
        }
    }

    pub fn replace(&mut self, id: NexthopId, nexthop: V, mac: Option<MacAddr>) {
        let entry = self
            .entries
            .get_mut(&id)
            .expect("replace of a known nexthop");
        entry.mac = mac;
        let old = std::mem::replace(&mut entry.nexthop, nexthop);
        if !entry.implicit {
            return;
        }
        if self.by_value.get(&old) == Some(&id) {
            self.by_value.remove(&old);
        }
        self.by_value.entry(nexthop).or_insert(id);
    }

    /// Removes an unused nexthop; its id becomes reusable once listeners pass `seq`.
    pub fn remove(&mut self, id: NexthopId, seq: u64) {
        let entry = self.entries.remove(&id).expect("remove of a known nexthop");
        debug_assert_eq!(entry.refcount, 0);
        if self.by_value.get(&entry.nexthop) == Some(&id) {
            self.by_value.remove(&entry.nexthop);
        }
        self.pending.push_back((id, seq));
    }

    pub fn set_mac(&mut self, id: NexthopId, mac: Option<MacAddr>) {
        self.entries
            .get_mut(&id)
            .expect("resolve of a known nexthop")
            .mac = mac;
    }

    pub fn hold(&mut self, id: NexthopId) {
        self.entries
            .get_mut(&id)
            .expect("hold of a known nexthop")
            .refcount += 1;
    }

    pub fn put(&mut self, id: NexthopId) {
        let e = self.entries.get_mut(&id).expect("put of a known nexthop");
        debug_assert!(e.refcount > 0);
        e.refcount -= 1;
    }

    /// Frees every pending id whose release seq every listener has applied.
    pub fn reclaim(&mut self, watermark: u64) {
        while let Some(&(id, seq)) = self.pending.front() {
            if seq > watermark {
                break;
            }
            self.pending.pop_front();
            self.free.insert(id.0);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (NexthopId, &NexthopEntry<V>)> {
        self.entries.iter().map(|(id, e)| (*id, e))
    }

    /// Every entry, by id: the order listings and replays give them in.
    pub fn sorted(&self) -> Vec<(NexthopId, NexthopEntry<V>)> {
        let mut v: Vec<_> = self.entries.iter().map(|(id, e)| (*id, *e)).collect();
        v.sort_unstable_by_key(|(id, _)| *id);
        v
    }
}
