//! The sequenced FIB: the single writer's routing state, and the listeners it keeps
//! in step.
//!
//! Every change listeners can see gets the next seq and becomes one [`FibEvent`].
//! A listener registers with a bounded SPSC ring and is replayed the whole FIB as a
//! consistent snapshot at seq `S` (nexthops first), then gets the live events `S+1`,
//! `S+2`, ... in order. The control thread never blocks on a listener: what does not
//! fit in a ring waits in that listener's backlog and is pushed by [`Fib::pump`] on
//! later turns of the control loop. A backlog over its bound, or a gap the listener
//! reports, flushes the listener and replays it again, at most
//! [`FibConfig::max_resyncs_in_a_row`] times before it is reported as failed.

use crate::event::{
    is_group_id, CoveringRoute, EventKind, FibEvent, MacAddr, Nexthop, NexthopGroup, NexthopId,
    PortId, TableId, GROUP_ID_BASE, MAX_GROUPS, MAX_PATHS,
};
use crate::listener::{ListenerConfig, ListenerId, ListenerShared, Subscription};
use crate::nexthop::NexthopTable;
use crate::prefix::Ipv4Prefix;
use crate::route::{Protocol, Route};
use crate::table::RouteTable;
use crossbeam_queue::ArrayQueue;
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::table::RouteEntry;

/// Limits of a FIB.
#[derive(Debug, Clone)]
pub struct FibConfig {
    /// Nexthop ids are `0..max_nexthops`: what a lookup table entry can hold.
    pub max_nexthops: u32,
    /// Resyncs of one listener in a row (without a replay completing in between)
    /// before the FIB gives up on it. Linux retries its dump 5 times.
    pub max_resyncs_in_a_row: u32,
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig {
            // Every id must fit a DIR-24-8 entry.
            max_nexthops: GROUP_ID_BASE,
            max_resyncs_in_a_row: 5,
        }
    }
}

/// Why a FIB operation was refused. A refused operation changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FibError {
    #[error("table {0} does not exist")]
    UnknownTable(TableId),
    #[error("table {0} already exists")]
    TableExists(TableId),
    #[error("table {0} cannot be deleted")]
    TableProtected(TableId),
    #[error("table {table} still has {routes} routes; flush it first")]
    TableNotEmpty { table: TableId, routes: usize },
    #[error("nexthop {0} does not exist")]
    UnknownNexthop(NexthopId),
    #[error("nexthop {id} is in use by {routes} route(s) or multipath group(s)")]
    NexthopInUse { id: NexthopId, routes: u32 },
    #[error("invalid nexthop: {0}")]
    InvalidNexthop(String),
    #[error("no free nexthop id: all {capacity} are in use ({pending} released, waiting for listeners to catch up)")]
    NexthopIdsExhausted { capacity: u32, pending: usize },
    #[error("no free multipath group id: all {capacity} are in use ({pending} released, waiting for listeners to catch up)")]
    GroupIdsExhausted { capacity: u32, pending: usize },
    #[error("route {prefix} from {protocol} already exists in table {table}")]
    RouteExists {
        table: TableId,
        prefix: Ipv4Prefix,
        protocol: Protocol,
    },
    #[error("no route {prefix} from {protocol} in table {table}")]
    NoSuchRoute {
        table: TableId,
        prefix: Ipv4Prefix,
        protocol: Protocol,
    },
    #[error("listener {0} is not registered")]
    UnknownListener(ListenerId),
    #[error("invalid listener config: {0}")]
    InvalidListenerConfig(String),
    #[error("listener {id} ({name}) has failed: {reason}")]
    ListenerFailed {
        id: ListenerId,
        name: String,
        reason: String,
    },
    #[error("timed out waiting for listeners to reach seq {seq}: {lagging}")]
    Timeout { seq: u64, lagging: String },
}

/// A consistent copy of what listeners see, at one seq, shared by every listener
/// replayed from it.
#[derive(Debug)]
struct Snapshot {
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

struct ListenerSlot {
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

/// Counts for `fib status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FibStats {
    pub seq: u64,
    pub tables: usize,
    pub prefixes: usize,
    pub nexthops: usize,
    pub nexthop_ids_pending: usize,
    /// Multipath groups.
    pub groups: usize,
    pub listeners: usize,
}

/// The routing state. Owned by the one control thread; sources reach it through
/// that thread, so there is exactly one writer.
pub struct Fib {
    cfg: FibConfig,
    seq: u64,
    nexthops: NexthopTable,
    /// Multipath groups, ids from [`GROUP_ID_BASE`]. Created for the routes that
    /// use them and deleted with the last one.
    groups: NexthopTable<NexthopGroup>,
    /// Resolved neighbours: (port, address) -> MAC. New nexthops through a known
    /// neighbour start resolved.
    neighbours: HashMap<(PortId, Ipv4Addr), MacAddr>,
    tables: HashMap<TableId, RouteTable>,
    listeners: Vec<ListenerSlot>,
    next_listener: u32,
    snapshot_cache: Option<Arc<Snapshot>>,
}

impl Default for Fib {
    fn default() -> Self {
        Fib::new(FibConfig::default())
    }
}

impl std::fmt::Debug for Fib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fib").field("stats", &self.stats()).finish()
    }
}

impl Fib {
    /// An empty FIB with the `main` table.
    pub fn new(cfg: FibConfig) -> Self {
        let mut tables = HashMap::new();
        tables.insert(TableId::MAIN, RouteTable::default());
        Fib {
            nexthops: NexthopTable::new(cfg.max_nexthops),
            groups: NexthopTable::with_base(GROUP_ID_BASE, MAX_GROUPS),
            cfg,
            seq: 0,
            neighbours: HashMap::new(),
            tables,
            listeners: Vec::new(),
            next_listener: 0,
            snapshot_cache: None,
        }
    }

    /// The seq of the last committed change (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn config(&self) -> &FibConfig {
        &self.cfg
    }

    pub fn stats(&self) -> FibStats {
        FibStats {
            seq: self.seq,
            tables: self.tables.len(),
            prefixes: self.tables.values().map(RouteTable::len).sum(),
            nexthops: self.nexthops.len(),
            nexthop_ids_pending: self.nexthops.pending_len(),
            groups: self.groups.len(),
            listeners: self.listeners.len(),
        }
    }

    // ---- tables ----

    /// Creates an empty table (VRF).
    pub fn add_table(&mut self, table: TableId) -> Result<(), FibError> {
        if self.tables.contains_key(&table) {
            return Err(FibError::TableExists(table));
        }
        self.tables.insert(table, RouteTable::default());
        Ok(())
    }

    /// Deletes an empty table other than `main`.
    pub fn del_table(&mut self, table: TableId) -> Result<(), FibError> {
        let t = self
            .tables
            .get(&table)
            .ok_or(FibError::UnknownTable(table))?;
        if table == TableId::MAIN {
            return Err(FibError::TableProtected(table));
        }
        if t.len() > 0 {
            return Err(FibError::TableNotEmpty {
                table,
                routes: t.len(),
            });
        }
        self.tables.remove(&table);
        Ok(())
    }

    pub fn table_ids(&self) -> Vec<TableId> {
        let mut ids: Vec<_> = self.tables.keys().copied().collect();
        ids.sort();
        ids
    }

    // ---- nexthops ----

    fn check_nexthop(nexthop: &Nexthop) -> Result<(), FibError> {
        if let Nexthop::Gateway { gateway, .. } = nexthop {
            if gateway.is_unspecified() || gateway.is_broadcast() || gateway.is_multicast() {
                return Err(FibError::InvalidNexthop(format!(
                    "gateway {gateway} is not a unicast address"
                )));
            }
        }
        Ok(())
    }

    /// Creates a nexthop and returns its id (the lowest id free for reuse).
    pub fn add_nexthop(&mut self, nexthop: Nexthop) -> Result<NexthopId, FibError> {
        Self::check_nexthop(&nexthop)?;
        self.nexthops.reclaim(self.watermark());
        let id = self
            .nexthops
            .peek_free_id()
            .ok_or(FibError::NexthopIdsExhausted {
                capacity: self.nexthops.capacity(),
                pending: self.nexthops.pending_len(),
            })?;
        let mac = self.neighbour_of(&nexthop);
        self.nexthops.insert(id, nexthop, mac);
        self.emit(EventKind::NexthopSet { id, nexthop });
        if mac.is_some() {
            self.emit(EventKind::NexthopResolved { id, mac });
        }
        Ok(id)
    }

    fn neighbour_of(&self, nexthop: &Nexthop) -> Option<MacAddr> {
        match nexthop {
            Nexthop::Gateway { port, gateway } => self.neighbours.get(&(*port, *gateway)).copied(),
            _ => None,
        }
    }

    /// Records what neighbour resolution found for `addr` on `port` (`None`: it is
    /// unreachable or forgotten). Every nexthop through that gateway follows, in seq
    /// order with routes. Returns how many nexthops changed.
    pub fn set_neighbour(&mut self, port: PortId, addr: Ipv4Addr, mac: Option<MacAddr>) -> usize {
        match mac {
            Some(m) => self.neighbours.insert((port, addr), m),
            None => self.neighbours.remove(&(port, addr)),
        };
        let gateway = Nexthop::Gateway {
            port,
            gateway: addr,
        };
        let mut ids: Vec<NexthopId> = self
            .nexthops
            .iter()
            .filter(|(_, e)| e.nexthop == gateway && e.mac != mac)
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        for id in &ids {
            self.nexthops.set_mac(*id, mac);
            self.emit(EventKind::NexthopResolved { id: *id, mac });
        }
        ids.len()
    }

    /// Resolved neighbours, for `neigh show`.
    pub fn neighbours(&self) -> Vec<(PortId, Ipv4Addr, MacAddr)> {
        let mut v: Vec<_> = self
            .neighbours
            .iter()
            .map(|((p, a), m)| (*p, *a, *m))
            .collect();
        v.sort();
        v
    }

    /// A nexthop's resolved MAC, if known.
    pub fn nexthop_mac(&self, id: NexthopId) -> Option<MacAddr> {
        self.nexthops.get(id).and_then(|e| e.mac)
    }

    /// The id of a nexthop equal to `nexthop`, creating one if there is none.
    pub fn nexthop_for(&mut self, nexthop: Nexthop) -> Result<NexthopId, FibError> {
        match self.find_nexthop(&nexthop) {
            Some(id) => Ok(id),
            None => self.add_nexthop(nexthop),
        }
    }

    /// Points an existing nexthop elsewhere; every route using it follows.
    pub fn replace_nexthop(&mut self, id: NexthopId, nexthop: Nexthop) -> Result<(), FibError> {
        Self::check_nexthop(&nexthop)?;
        let old = self.nexthops.get(id).ok_or(FibError::UnknownNexthop(id))?;
        if old.nexthop == nexthop {
            return Ok(());
        }
        let mac = self.neighbour_of(&nexthop);
        self.nexthops.replace(id, nexthop, mac);
        self.emit(EventKind::NexthopSet { id, nexthop });
        if mac.is_some() {
            self.emit(EventKind::NexthopResolved { id, mac });
        }
        Ok(())
    }

    /// Deletes a nexthop no route uses.
    pub fn del_nexthop(&mut self, id: NexthopId) -> Result<(), FibError> {
        let e = self.nexthops.get(id).ok_or(FibError::UnknownNexthop(id))?;
        if e.refcount > 0 {
            return Err(FibError::NexthopInUse {
                id,
                routes: e.refcount,
            });
        }
        // State first, then the event: a listener that overflows on this very
        // event is resynced from a snapshot taken inside `emit`, which must not
        // hold the nexthop any more.
        self.nexthops.remove(id, self.seq + 1);
        let seq = self.emit(EventKind::NexthopDel { id });
        debug_assert_eq!(seq, self.seq);
        Ok(())
    }

    /// The id of a nexthop equal to `nexthop`, if there is one.
    pub fn find_nexthop(&self, nexthop: &Nexthop) -> Option<NexthopId> {
        self.nexthops.find(nexthop)
    }

    /// A nexthop and the number of routes using it.
    pub fn nexthop(&self, id: NexthopId) -> Option<(Nexthop, u32)> {
        self.nexthops.get(id).map(|e| (e.nexthop, e.refcount))
    }

    /// Every nexthop with its refcount, by id.
    pub fn nexthops(&self) -> Vec<(NexthopId, Nexthop, u32)> {
        let mut v: Vec<_> = self
            .nexthops
            .iter()
            .map(|(id, e)| (id, e.nexthop, e.refcount))
            .collect();
        v.sort_by_key(|x| x.0);
        v
    }

    // ---- routes ----

    fn check_route(&self, table: TableId, route: &Route) -> Result<(), FibError> {
        if !self.tables.contains_key(&table) {
            return Err(FibError::UnknownTable(table));
        }
        let known = if is_group_id(route.nexthop.0) {
            self.groups.get(route.nexthop).is_some()
        } else {
            self.nexthops.get(route.nexthop).is_some()
        };
        if !known {
            return Err(FibError::UnknownNexthop(route.nexthop));
        }
        Ok(())
    }

    /// Adds `protocol`'s route for a prefix; refused if that source already has one
    /// (use [`Fib::replace_route`]). Returns the seq of the change listeners see,
    /// if they see one (a route that loses arbitration changes nothing they see).
    pub fn add_route(
        &mut self,
        table: TableId,
        prefix: Ipv4Prefix,
        route: Route,
    ) -> Result<Option<u64>, FibError> {
        self.check_route(table, &route)?;
        let t = self.tables.get(&table).expect("checked");
        if let Some(e) = t.get(&prefix) {
            if e.find(route.protocol).is_some() {
                return Err(FibError::RouteExists {
                    table,
                    prefix,
                    protocol: route.protocol,
                });
            }
        }
        Ok(self.upsert(table, prefix, route))
    }

    /// Adds or replaces `protocol`'s route for a prefix.
    pub fn replace_route(
        &mut self,
        table: TableId,
        prefix: Ipv4Prefix,
        route: Route,
    ) -> Result<Option<u64>, FibError> {
        self.check_route(table, &route)?;
        Ok(self.upsert(table, prefix, route))
    }

    /// Deletes `protocol`'s route for a prefix. If it was installed, the next best
    /// source's route is promoted (a replace), or the prefix goes (a delete carrying
    /// the covering route).
    pub fn del_route(
        &mut self,
        table: TableId,
        prefix: Ipv4Prefix,
        protocol: Protocol,
    ) -> Result<Option<u64>, FibError> {
        let t = self
            .tables
            .get_mut(&table)
            .ok_or(FibError::UnknownTable(table))?;
        let missing = FibError::NoSuchRoute {
            table,
            prefix,
            protocol,
        };
        let entry = t.get_mut(&prefix).ok_or(missing.clone())?;
        let removed;
        let kind = if entry.installed.protocol == protocol {
            removed = entry.installed;
            if entry.alternates.is_empty() {
                t.remove(&prefix);
                let covering = t.covering(&prefix).map(|(p, r)| CoveringRoute {
                    prefix: p,
                    nexthop: r.nexthop,
                });
                Some(EventKind::RouteDel {
                    table,
                    prefix,
                    covering,
                })
            } else {
                entry.installed = entry.alternates.remove(0);
                (entry.installed.nexthop != removed.nexthop).then_some(EventKind::RouteReplace {
                    table,
                    prefix,
                    nexthop: entry.installed.nexthop,
                })
            }
        } else {
            let i = entry
                .alternates
                .iter()
                .position(|r| r.protocol == protocol)
                .ok_or(missing)?;
            removed = entry.alternates.remove(i);
            None
        };
        // The route event first: a group it released goes after the last route
        // that used it.
        let seq = kind.map(|k| self.emit(k));
        self.release(removed.nexthop);
        Ok(seq)
    }

    /// Deletes every route of a table (or only `protocol`'s). Returns how many.
    pub fn flush(&mut self, table: TableId, protocol: Option<Protocol>) -> Result<usize, FibError> {
        let t = self
            .tables
            .get(&table)
            .ok_or(FibError::UnknownTable(table))?;
        let mut doomed: Vec<(Ipv4Prefix, Protocol)> = Vec::new();
        for (prefix, e) in t.iter() {
            for r in e.routes() {
                if protocol.is_none_or(|p| p == r.protocol) {
                    doomed.push((prefix, r.protocol));
                }
            }
        }
        // Longest prefixes first: each delete then restores a covering route that is
        // still there, and listeners rewrite each region once.
        doomed.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
        for (prefix, proto) in &doomed {
            self.del_route(table, *prefix, *proto)
                .expect("route listed above");
        }
        Ok(doomed.len())
    }

    fn upsert(&mut self, table: TableId, prefix: Ipv4Prefix, route: Route) -> Option<u64> {
        self.hold(route.nexthop);
        let t = self.tables.get_mut(&table).expect("checked");
        let Some(entry) = t.get_mut(&prefix) else {
            t.insert_new(prefix, route);
            return Some(self.emit(EventKind::RouteAdd {
                table,
                prefix,
                nexthop: route.nexthop,
            }));
        };
        let before = entry.installed.nexthop;
        // Take out this source's previous route, if any.
        let mut previous = None;
        if entry.installed.protocol == route.protocol {
            previous = Some(entry.installed);
            entry.installed = route;
        } else if let Some(i) = entry
            .alternates
            .iter()
            .position(|r| r.protocol == route.protocol)
        {
            previous = Some(entry.alternates.remove(i));
            insert_ranked(entry, route);
        } else {
            insert_ranked(entry, route);
        }
        // The source that was installed may have got worse than an alternate.
        if let Some(first) = entry.alternates.first() {
            if first.rank() < entry.installed.rank() {
                let best = entry.alternates.remove(0);
                let demoted = std::mem::replace(&mut entry.installed, best);
                insert_ranked_alternate(&mut entry.alternates, demoted);
            }
        }
        let after = entry.installed.nexthop;
        let seq = (before != after).then(|| {
            self.emit(EventKind::RouteReplace {
                table,
                prefix,
                nexthop: after,
            })
        });
        if let Some(p) = previous {
            self.release(p.nexthop);
        }
        seq
    }

    /// A route takes a reference on its nexthop or group.
    fn hold(&mut self, id: NexthopId) {
        if is_group_id(id.0) {
            self.groups.hold(id);
        } else {
            self.nexthops.hold(id);
        }
    }

    /// A route drops its reference; a group no route uses any more is deleted
    /// (after the route event that stopped using it) and releases its members.
    fn release(&mut self, id: NexthopId) {
        if !is_group_id(id.0) {
            self.nexthops.put(id);
            return;
        }
        self.groups.put(id);
        let e = *self.groups.get(id).expect("held group");
        if e.refcount == 0 {
            // State before the event, as in `del_nexthop`.
            self.groups.remove(id, self.seq + 1);
            for m in e.nexthop.members() {
                self.nexthops.put(m);
            }
            self.emit(EventKind::GroupDel { id });
        }
    }

    // ---- multipath groups ----

    /// The id of the multipath group over `members` (2 to [`MAX_PATHS`] distinct
    /// plain nexthops, in any order), creating it if there is none. A group lives
    /// as long as routes use it: one no route has used is deleted by the next
    /// route change that releases it, or stays until then.
    pub fn group_for(&mut self, members: &[NexthopId]) -> Result<NexthopId, FibError> {
        for m in members {
            if is_group_id(m.0) {
                return Err(FibError::InvalidNexthop(format!(
                    "{m} is a multipath group; a group's members are plain nexthops"
                )));
            }
            if self.nexthops.get(*m).is_none() {
                return Err(FibError::UnknownNexthop(*m));
            }
        }
        let group = NexthopGroup::new(members).ok_or_else(|| {
            FibError::InvalidNexthop(format!(
                "a multipath group needs 2 to {MAX_PATHS} distinct nexthops, got {}",
                members.len()
            ))
        })?;
        if let Some(id) = self.groups.find(&group) {
            return Ok(id);
        }
        self.groups.reclaim(self.watermark());
        let id = self
            .groups
            .peek_free_id()
            .ok_or(FibError::GroupIdsExhausted {
                capacity: self.groups.capacity(),
                pending: self.groups.pending_len(),
            })?;
        self.groups.insert(id, group, None);
        for m in group.members() {
            self.nexthops.hold(m);
        }
        self.emit(EventKind::GroupSet { id, group });
        Ok(id)
    }

    /// A multipath group and the number of routes using it.
    pub fn group(&self, id: NexthopId) -> Option<(NexthopGroup, u32)> {
        self.groups.get(id).map(|e| (e.nexthop, e.refcount))
    }

    /// Every multipath group with its refcount, by id.
    pub fn groups(&self) -> Vec<(NexthopId, NexthopGroup, u32)> {
        let mut v: Vec<_> = self
            .groups
            .iter()
            .map(|(id, e)| (id, e.nexthop, e.refcount))
            .collect();
        v.sort_by_key(|x| x.0);
        v
    }

    /// The routes (installed first) every source gave for a prefix.
    pub fn route(
        &self,
        table: TableId,
        prefix: &Ipv4Prefix,
    ) -> Result<Option<&RouteEntry>, FibError> {
        let t = self
            .tables
            .get(&table)
            .ok_or(FibError::UnknownTable(table))?;
        Ok(t.get(prefix))
    }

    /// Longest-prefix match in the control plane's own state.
    pub fn lookup(
        &self,
        table: TableId,
        addr: Ipv4Addr,
    ) -> Result<Option<(Ipv4Prefix, Route)>, FibError> {
        let t = self
            .tables
            .get(&table)
            .ok_or(FibError::UnknownTable(table))?;
        Ok(t.lookup(u32::from(addr)))
    }

    /// Every prefix of a table with its routes, in no particular order.
    pub fn routes(
        &self,
        table: TableId,
    ) -> Result<impl Iterator<Item = (Ipv4Prefix, &RouteEntry)>, FibError> {
        let t = self
            .tables
            .get(&table)
            .ok_or(FibError::UnknownTable(table))?;
        Ok(t.iter())
    }

    /// The installed route of every prefix of every table: what listeners hold.
    pub fn installed(&self) -> Vec<(TableId, Ipv4Prefix, NexthopId)> {
        let mut v = Vec::with_capacity(self.stats().prefixes);
        for (id, t) in &self.tables {
            v.extend(t.iter().map(|(p, e)| (*id, p, e.installed.nexthop)));
        }
        v
    }

    pub fn prefix_count(&self, table: TableId) -> Result<usize, FibError> {
        Ok(self
            .tables
            .get(&table)
            .ok_or(FibError::UnknownTable(table))?
            .len())
    }

    /// Sizes the table for `additional` more prefixes of length `len` (bulk loads).
    pub fn reserve(&mut self, table: TableId, len: u8, additional: usize) -> Result<(), FibError> {
        self.tables
            .get_mut(&table)
            .ok_or(FibError::UnknownTable(table))?
            .reserve(len.min(32), additional);
        Ok(())
    }

    // ---- listeners ----

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
        let Fib {
            listeners,
            snapshot_cache,
            seq,
            tables,
            nexthops,
            groups,
            cfg,
            ..
        } = self;
        listeners.retain(|s| {
            if s.shared.is_closed() {
                tracing::info!(listener = %s.id, name = %s.name, "listener closed");
                false
            } else {
                true
            }
        });
        for slot in listeners.iter_mut() {
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
                let snap = snapshot(snapshot_cache, *seq, tables, nexthops, groups);
                resync(
                    slot,
                    snap,
                    cfg.max_resyncs_in_a_row,
                    "listener saw a gap in seqs",
                );
            }
            deliver(slot);
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

    /// Test hook: the next live event is not delivered to `id`, as if a ring had
    /// lost it. The listener must notice the gap and ask for a resync.
    #[doc(hidden)]
    pub fn drop_next_event_for(&mut self, id: ListenerId) -> Result<(), FibError> {
        let s = self
            .listeners
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(FibError::UnknownListener(id))?;
        s.skip_next_live = true;
        Ok(())
    }

    fn snapshot(&mut self) -> Arc<Snapshot> {
        snapshot(
            &mut self.snapshot_cache,
            self.seq,
            &self.tables,
            &self.nexthops,
            &self.groups,
        )
    }

    /// Commits one change: takes the next seq and queues the event for every listener.
    fn emit(&mut self, kind: EventKind) -> u64 {
        self.seq += 1;
        self.snapshot_cache = None;
        let event = FibEvent {
            seq: self.seq,
            kind,
        };
        let mut overflowed = Vec::new();
        for (i, slot) in self.listeners.iter_mut().enumerate() {
            if slot.state != SlotState::Active {
                continue;
            }
            if slot.skip_next_live {
                slot.skip_next_live = false;
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
            let snap = snapshot(
                &mut self.snapshot_cache,
                self.seq,
                &self.tables,
                &self.nexthops,
                &self.groups,
            );
            let slot = &mut self.listeners[i];
            let reason = format!("backlog over {} events", slot.max_backlog);
            resync(slot, snap, self.cfg.max_resyncs_in_a_row, &reason);
        }
        self.seq
    }
}

fn insert_ranked(entry: &mut RouteEntry, route: Route) {
    if route.rank() < entry.installed.rank() {
        let old = std::mem::replace(&mut entry.installed, route);
        insert_ranked_alternate(&mut entry.alternates, old);
    } else {
        insert_ranked_alternate(&mut entry.alternates, route);
    }
}

fn insert_ranked_alternate(alternates: &mut Vec<Route>, route: Route) {
    let at = alternates.partition_point(|r| r.rank() <= route.rank());
    alternates.insert(at, route);
}

/// The snapshot at `seq`, built once and shared until the next change.
fn snapshot(
    cache: &mut Option<Arc<Snapshot>>,
    seq: u64,
    tables: &HashMap<TableId, RouteTable>,
    nexthops: &NexthopTable,
    groups: &NexthopTable<NexthopGroup>,
) -> Arc<Snapshot> {
    if let Some(s) = cache {
        if s.seq == seq {
            return s.clone();
        }
    }
    let mut nhs: Vec<_> = nexthops.iter().map(|(id, e)| (id, e.nexthop)).collect();
    nhs.sort_by_key(|x| x.0);
    let mut resolved: Vec<_> = nexthops
        .iter()
        .filter_map(|(id, e)| e.mac.map(|m| (id, m)))
        .collect();
    resolved.sort_by_key(|x| x.0);
    let mut grps: Vec<_> = groups.iter().map(|(id, e)| (id, e.nexthop)).collect();
    grps.sort_by_key(|x| x.0);
    let total = tables.values().map(RouteTable::len).sum();
    let mut routes = Vec::with_capacity(total);
    for (id, t) in tables {
        routes.extend(t.iter().map(|(p, e)| (*id, p, e.installed.nexthop)));
    }
    // Address order (a covering prefix before the ones under it): a DIR-24-8 table
    // built in this order writes each region of tbl24 while it is in cache, several
    // times faster than in hash order. Done once per snapshot, shared by listeners.
    routes.sort_unstable_by_key(|(t, p, _)| (t.0, p.addr(), p.len()));
    let s = Arc::new(Snapshot {
        seq,
        nexthops: nhs,
        resolved,
        groups: grps,
        routes,
    });
    *cache = Some(s.clone());
    s
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
