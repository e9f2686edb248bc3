//! A forwarding core's listener state: its lookup tables and nexthops, kept in step
//! with the FIB by applying events, with shadow-and-swap on replay.

use super::table::{Dir24Config, Dir24Error, Dir24Table};
use super::NO_ROUTE;
use crate::audit::RunDigest;
use crate::event::{
    is_group_id, EventKind, EventSink, FibEvent, MacAddr, Nexthop, NexthopGroup, NexthopId,
    Progress, TableId, GROUP_ID_BASE, MAX_NEXTHOP_ID,
};
use hashbrown::HashMap;

/// One complete forwarding state: a table per VRF and the nexthops they point to.
#[derive(Default)]
struct TableSet {
    tables: HashMap<TableId, Dir24Table>,
    nexthops: Vec<Option<Nexthop>>,
    /// The resolved neighbour MAC of each nexthop (same index), if known.
    macs: Vec<Option<MacAddr>>,
    /// Multipath groups, indexed by `id - GROUP_ID_BASE`.
    groups: Vec<Option<NexthopGroup>>,
}

impl TableSet {
    fn has_nexthop(&self, id: NexthopId) -> bool {
        matches!(self.nexthops.get(id.0 as usize), Some(Some(_)))
    }

    fn group(&self, id: u32) -> Option<&NexthopGroup> {
        self.groups
            .get(id.wrapping_sub(GROUP_ID_BASE) as usize)?
            .as_ref()
    }

    /// A route may point at a nexthop or a group the set holds.
    fn has_target(&self, id: NexthopId) -> bool {
        if is_group_id(id.0) {
            self.group(id.0).is_some()
        } else {
            self.has_nexthop(id)
        }
    }
}

/// Where a [`ForwardingTables`] is in the event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No replay started yet.
    Fresh,
    /// Between ReplayBegin and ReplayEnd: events go to the shadow set.
    Replaying,
    /// After ReplayEnd: events go to the active set.
    Live,
}

/// A forwarding core's FIB listener state: what it looks routes up in.
///
/// Implements [`EventSink`]. A `ReplayBegin` starts building a fresh *shadow* set
/// (clearing the storage of the previous one, in budgeted steps) while the *active*
/// set keeps serving lookups; replayed events go to the shadow; `ReplayEnd` swaps
/// them. Live events then go to the active set. A `ReplayBegin` during a replay
/// restarts the shadow. Before the first `ReplayEnd` every lookup finds no route
/// ([`is_complete`](Self::is_complete) is false).
///
/// After a swap the old set is kept, so the next resync reuses its memory instead of
/// mapping 48 MiB per table again; [`release_spare`](Self::release_spare) frees it.
pub struct ForwardingTables {
    active: TableSet,
    shadow: TableSet,
    phase: Phase,
    complete: bool,
    config: Dir24Config,
    /// The event last answered with `Partial`, which the next call must continue.
    pending: Option<FibEvent>,
    /// While a ReplayBegin is clearing the shadow: tables of it already cleared.
    clearing: Vec<TableId>,
    replays: u64,
    /// Bumped whenever the serving nexthops or neighbour MACs may have changed.
    nexthop_generation: u64,
    /// What each of the last [`NEXTHOP_LOG`] generations changed: a nexthop id, or
    /// [`ALL_NEXTHOPS`] (a swap, or a change of the whole set).
    nexthop_log: Box<[u32; NEXTHOP_LOG]>,
}

/// Generations of nexthop changes [`ForwardingTables::nexthop_changes_since`] can list.
const NEXTHOP_LOG: usize = 256;
/// A log entry for "everything may have changed".
const ALL_NEXTHOPS: u32 = u32::MAX;

impl Default for ForwardingTables {
    fn default() -> Self {
        Self::new(Dir24Config::default())
    }
}

impl ForwardingTables {
    /// Empty state; every table created later uses `config`.
    pub fn new(config: Dir24Config) -> Self {
        ForwardingTables {
            active: TableSet::default(),
            shadow: TableSet::default(),
            phase: Phase::Fresh,
            complete: false,
            config,
            pending: None,
            clearing: Vec::new(),
            replays: 0,
            nexthop_generation: 0,
            nexthop_log: Box::new([ALL_NEXTHOPS; NEXTHOP_LOG]),
        }
    }

    /// Whether a replay has completed, so the tables are the FIB's (at some seq).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Whether a replay is in progress (the active set keeps serving meanwhile).
    pub fn is_replaying(&self) -> bool {
        self.phase == Phase::Replaying
    }

    /// Completed replays so far (swaps).
    pub fn replays_completed(&self) -> u64 {
        self.replays
    }

    /// The table serving lookups for `table`, if it has one (resolve once per burst,
    /// then use [`Dir24Table::lookup_bulk`]).
    #[inline]
    pub fn table(&self, table: TableId) -> Option<&Dir24Table> {
        self.active.tables.get(&table)
    }

    /// Longest-prefix match in `table` (host-order address).
    #[inline]
    pub fn lookup(&self, table: TableId, addr: u32) -> Option<NexthopId> {
        self.table(table)?.lookup(addr)
    }

    /// Look up every address of `addrs` in `table` into `out` (nexthop id or
    /// [`NO_ROUTE`]).
    pub fn lookup_bulk(&self, table: TableId, addrs: &[u32], out: &mut [u32]) {
        match self.table(table) {
            Some(t) => t.lookup_bulk(addrs, out),
            None => out[..addrs.len()].fill(NO_ROUTE),
        }
    }

    /// The nexthop an id stands for in the serving set.
    #[inline]
    pub fn nexthop(&self, id: NexthopId) -> Option<&Nexthop> {
        self.active.nexthops.get(id.0 as usize)?.as_ref()
    }

    /// A multipath group of the serving set.
    #[inline]
    pub fn group(&self, id: NexthopId) -> Option<&NexthopGroup> {
        self.active.group(id.0)
    }

    /// The plain nexthop a lookup result stands for, for a flow with `hash`: the
    /// result itself unless it is a multipath group, else the group member the
    /// flow takes (or `NO_ROUTE` for a group the set does not hold, which the
    /// listener never lets a route point at). One compare for tables without
    /// multipath routes.
    #[inline(always)]
    pub fn select_path(&self, id: u32, hash: u32) -> u32 {
        if !is_group_id(id) {
            return id;
        }
        self.select_member(id, hash)
    }

    #[inline(never)]
    fn select_member(&self, id: u32, hash: u32) -> u32 {
        self.active.group(id).map_or(NO_ROUTE, |g| g.select(hash).0)
    }

    /// The resolved MAC of a nexthop's neighbour in the serving set, if known.
    #[inline]
    pub fn neighbour_mac(&self, id: NexthopId) -> Option<MacAddr> {
        *self.active.macs.get(id.0 as usize)?
    }

    /// A counter that changes whenever what [`nexthop`](Self::nexthop) or
    /// [`neighbour_mac`](Self::neighbour_mac) answer may have changed (a nexthop
    /// event, or the swap at the end of a replay). A forwarding core caches per-nexthop
    /// adjacencies and rebuilds them when this moves.
    #[inline]
    pub fn nexthop_generation(&self) -> u64 {
        self.nexthop_generation
    }

    /// The nexthop ids changed after generation `since` up to the current one (an id
    /// may repeat), or `None` when that is not known — more than 256 generations ago,
    /// a replay swap, or `since` from the future: then everything may have changed.
    pub fn nexthop_changes_since(
        &self,
        since: u64,
    ) -> Option<impl Iterator<Item = NexthopId> + '_> {
        let behind = self.nexthop_generation.checked_sub(since)?;
        if behind > NEXTHOP_LOG as u64 {
            return None;
        }
        let changed = (since + 1..=self.nexthop_generation)
            .map(|g| self.nexthop_log[(g % NEXTHOP_LOG as u64) as usize]);
        if changed.clone().any(|id| id == ALL_NEXTHOPS) {
            return None;
        }
        Some(changed.map(NexthopId))
    }

    /// How many nexthop slots the serving set has (ids below this may be set).
    #[inline]
    pub fn nexthop_slots(&self) -> usize {
        self.active.nexthops.len()
    }

    /// tbl8 groups in use and the most the serving tables may use, summed over
    /// them (each table has its own pool of `tbl8_groups_max`).
    pub fn tbl8_groups(&self) -> (u64, u64) {
        self.active.tables.values().fold((0, 0), |(used, max), t| {
            let s = t.stats();
            (
                used + u64::from(s.tbl8_groups_used),
                max + u64::from(s.tbl8_groups_max),
            )
        })
    }

    /// Ids of the serving tables.
    pub fn table_ids(&self) -> impl Iterator<Item = TableId> + '_ {
        self.active.tables.keys().copied()
    }

    /// Feeds `digest` what `table` maps addresses `from .. from + len` to in the
    /// serving set, within about `budget` entries read: see
    /// [`Dir24Table::digest_range`]. A table the set does not have maps every
    /// address to no route.
    pub fn digest_range(
        &self,
        table: TableId,
        from: u32,
        len: u64,
        digest: &mut RunDigest,
        budget: &mut usize,
    ) -> Option<u32> {
        match self.table(table) {
            Some(t) => t.digest_range(from, len, digest, budget),
            None => {
                digest.push(from, len, NO_ROUTE);
                None
            }
        }
    }

    /// Test hook: corrupts what `addr` looks up to in the serving `table` (see
    /// [`Dir24Table::corrupt`]). Does nothing if the set has no such table.
    #[cfg(feature = "test-hooks")]
    pub fn corrupt(&mut self, table: TableId, addr: u32, value: u32) {
        if let Some(t) = self.active.tables.get_mut(&table) {
            t.corrupt(addr, value);
        }
    }

    /// Free the memory of the set kept for the next resync.
    pub fn release_spare(&mut self) {
        if self.phase != Phase::Replaying {
            self.shadow = TableSet::default();
        }
    }

    /// Apply one event with no work bound (tests, tools).
    pub fn apply_all(&mut self, event: &FibEvent) -> Result<(), Dir24Error> {
        let mut budget = usize::MAX;
        self.apply(event, &mut budget).map(|_| ())
    }

    fn target(&mut self) -> &mut TableSet {
        if self.phase == Phase::Replaying {
            &mut self.shadow
        } else {
            &mut self.active
        }
    }

    fn check_nexthop(set: &TableSet, id: NexthopId) -> Result<(), Dir24Error> {
        if set.has_target(id) {
            Ok(())
        } else {
            Err(Dir24Error::UnknownNexthop { id: id.0 })
        }
    }

    fn table_mut(set: &mut TableSet, config: Dir24Config, id: TableId) -> &mut Dir24Table {
        set.tables
            .entry(id)
            .or_insert_with(|| Dir24Table::new(config))
    }

    fn begin_replay(&mut self, budget: &mut usize) -> Progress {
        if self.phase != Phase::Replaying {
            self.phase = Phase::Replaying;
        }
        // Clear every table of the shadow (only their written ranges), budgeted.
        let ids: Vec<TableId> = self.shadow.tables.keys().copied().collect();
        for id in ids {
            if self.clearing.contains(&id) {
                continue;
            }
            let t = self.shadow.tables.get_mut(&id).expect("listed");
            if t.clear(budget) == Progress::Partial {
                return Progress::Partial;
            }
            self.clearing.push(id);
        }
        self.clearing.clear();
        self.shadow.nexthops.clear();
        self.shadow.macs.clear();
        self.shadow.groups.clear();
        Progress::Done
    }

    fn apply_inner(
        &mut self,
        event: &FibEvent,
        budget: &mut usize,
    ) -> Result<Progress, Dir24Error> {
        let not_replaying = |what| Dir24Error::NotReplaying {
            what,
            seq: event.seq,
        };
        match event.kind {
            EventKind::ReplayBegin => Ok(self.begin_replay(budget)),
            EventKind::ReplayEnd => {
                if self.phase != Phase::Replaying {
                    return Err(not_replaying("ReplayEnd"));
                }
                std::mem::swap(&mut self.active, &mut self.shadow);
                self.phase = Phase::Live;
                self.complete = true;
                self.replays += 1;
                *budget = budget.saturating_sub(1);
                Ok(Progress::Done)
            }
            _ if self.phase == Phase::Fresh => Err(not_replaying("a route or nexthop event")),
            EventKind::NexthopSet { id, nexthop } => {
                if id.0 > MAX_NEXTHOP_ID {
                    return Err(Dir24Error::NexthopOutOfRange { id: id.0 });
                }
                let set = self.target();
                let i = id.0 as usize;
                if set.nexthops.len() <= i {
                    set.nexthops.resize(i + 1, None);
                    set.macs.resize(i + 1, None);
                }
                set.nexthops[i] = Some(nexthop);
                set.macs[i] = None;
                *budget = budget.saturating_sub(1);
                Ok(Progress::Done)
            }
            EventKind::NexthopResolved { id, mac } => {
                let set = self.target();
                let i = id.0 as usize;
                if !set.has_nexthop(id) {
                    return Err(Dir24Error::UnknownNexthop { id: id.0 });
                }
                set.macs[i] = mac;
                *budget = budget.saturating_sub(1);
                Ok(Progress::Done)
            }
            EventKind::NexthopDel { id } => {
                let set = self.target();
                if let Some(slot) = set.nexthops.get_mut(id.0 as usize) {
                    *slot = None;
                    set.macs[id.0 as usize] = None;
                }
                *budget = budget.saturating_sub(1);
                Ok(Progress::Done)
            }
            EventKind::GroupSet { id, group } => {
                if !is_group_id(id.0) {
                    return Err(Dir24Error::NexthopOutOfRange { id: id.0 });
                }
                let set = self.target();
                if let Some(m) = group.members().find(|m| !set.has_nexthop(*m)) {
                    return Err(Dir24Error::UnknownNexthop { id: m.0 });
                }
                let i = (id.0 - GROUP_ID_BASE) as usize;
                if set.groups.len() <= i {
                    set.groups.resize(i + 1, None);
                }
                set.groups[i] = Some(group);
                *budget = budget.saturating_sub(1);
                Ok(Progress::Done)
            }
            EventKind::GroupDel { id } => {
                let set = self.target();
                if let Some(slot) = set
                    .groups
                    .get_mut(id.0.wrapping_sub(GROUP_ID_BASE) as usize)
                {
                    *slot = None;
                }
                *budget = budget.saturating_sub(1);
                Ok(Progress::Done)
            }
            EventKind::RouteAdd {
                table,
                prefix,
                nexthop,
            }
            | EventKind::RouteReplace {
                table,
                prefix,
                nexthop,
            } => {
                let config = self.config;
                let set = self.target();
                Self::check_nexthop(set, nexthop)?;
                Self::table_mut(set, config, table).add(prefix, nexthop, budget)
            }
            EventKind::RouteDel {
                table,
                prefix,
                covering,
            } => {
                let config = self.config;
                let set = self.target();
                let covering = match covering {
                    Some(c) => {
                        Self::check_nexthop(set, c.nexthop)?;
                        Some((c.prefix, c.nexthop))
                    }
                    None => None,
                };
                match set.tables.get_mut(&table) {
                    Some(t) => t.delete(prefix, covering, budget),
                    // A delete in a table this core never had: nothing to remove.
                    None => {
                        let _ = config;
                        Ok(Progress::Done)
                    }
                }
            }
        }
    }
}

impl EventSink for ForwardingTables {
    type Error = Dir24Error;

    /// Apply `event` within `budget` units of work (about one table entry each).
    fn apply(&mut self, event: &FibEvent, budget: &mut usize) -> Result<Progress, Dir24Error> {
        if let Some(pending) = self.pending.take() {
            if pending != *event {
                if event.kind == EventKind::ReplayBegin {
                    // A resync abandons whatever was half done: the shadow restarts.
                    self.clearing.clear();
                } else {
                    return Err(Dir24Error::InterruptedEvent {
                        seq: event.seq,
                        pending: pending.seq,
                    });
                }
            }
        } else if event.kind == EventKind::ReplayBegin {
            self.clearing.clear();
        }
        let changed = match event.kind {
            // Only the serving set matters: a replay's nexthops arrive with its swap.
            EventKind::NexthopSet { id, .. }
            | EventKind::NexthopResolved { id, .. }
            | EventKind::NexthopDel { id }
                if self.phase != Phase::Replaying =>
            {
                Some(id.0)
            }
            EventKind::ReplayEnd => Some(ALL_NEXTHOPS),
            _ => None,
        };
        if let Some(id) = changed {
            // Before applying, so even an event refused half-way cannot leave a
            // cache built on the old state looking current.
            self.nexthop_generation += 1;
            self.nexthop_log[(self.nexthop_generation % NEXTHOP_LOG as u64) as usize] = id;
        }
        let progress = self.apply_inner(event, budget)?;
        if progress == Progress::Partial {
            self.pending = Some(*event);
        }
        Ok(progress)
    }
}

impl std::fmt::Debug for ForwardingTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardingTables")
            .field("phase", &self.phase)
            .field("complete", &self.complete)
            .field("tables", &self.active.tables.len())
            .field("replays", &self.replays)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64, kind: EventKind) -> FibEvent {
        FibEvent { seq, kind }
    }

    fn set(id: u32) -> EventKind {
        EventKind::NexthopSet {
            id: NexthopId(id),
            nexthop: Nexthop::Blackhole,
        }
    }

    #[test]
    fn nexthop_changes_are_listed_until_a_swap_or_a_long_gap() {
        let mut ft = ForwardingTables::default();
        ft.apply_all(&ev(1, EventKind::ReplayBegin)).unwrap();
        let g0 = ft.nexthop_generation();
        // Replayed nexthops go to the shadow: the serving set is unchanged.
        ft.apply_all(&ev(1, set(0))).unwrap();
        assert_eq!(ft.nexthop_generation(), g0);
        ft.apply_all(&ev(1, EventKind::ReplayEnd)).unwrap();
        // The swap changes everything.
        assert!(ft.nexthop_changes_since(g0).is_none());
        let g1 = ft.nexthop_generation();
        assert_eq!(ft.nexthop_changes_since(g1).unwrap().count(), 0);
        ft.apply_all(&ev(2, set(3))).unwrap();
        ft.apply_all(&ev(
            3,
            EventKind::NexthopResolved {
                id: NexthopId(3),
                mac: Some([2, 0, 0, 0, 0, 1]),
            },
        ))
        .unwrap();
        ft.apply_all(&ev(4, EventKind::NexthopDel { id: NexthopId(0) }))
            .unwrap();
        let changed: Vec<u32> = ft
            .nexthop_changes_since(g1)
            .unwrap()
            .map(|id| id.0)
            .collect();
        assert_eq!(changed, [3, 3, 0]);
        // A generation from the future, or one too far behind: unknown.
        assert!(ft
            .nexthop_changes_since(ft.nexthop_generation() + 1)
            .is_none());
        for i in 0..NEXTHOP_LOG as u64 {
            ft.apply_all(&ev(5 + i, set(1))).unwrap();
        }
        assert!(ft.nexthop_changes_since(g1).is_none());
        let g2 = ft.nexthop_generation() - NEXTHOP_LOG as u64;
        assert_eq!(ft.nexthop_changes_since(g2).unwrap().count(), NEXTHOP_LOG);
    }
}
