//! The sequenced FIB: the single writer's routing state, and the listeners it keeps
//! in step.
//!
//! Every change listeners can see gets the next seq and becomes one
//! [`FibEvent`](crate::event::FibEvent). A listener registers with a bounded SPSC
//! ring and is replayed the whole FIB as a consistent snapshot at seq `S` (nexthops
//! first), then gets the live events `S+1`, `S+2`, ... in order. The control thread
//! never blocks on a listener: what does not fit in a ring waits in that listener's
//! backlog and is pushed by [`Fib::pump`] on later turns of the control loop. A
//! backlog over its bound, or a gap the listener reports, flushes the listener and
//! replays it again, at most [`FibConfig::max_resyncs_in_a_row`] times before it is
//! reported as failed.
//!
//! [`Fib`] is one type with one writer; its methods are split by what they change,
//! so each part reads on its own:
//!
//! - this module: the state itself, its limits, errors and counts, and the tables
//!   (VRFs);
//! - `nexthops`: nexthops, their neighbours, multipath groups, and the references
//!   routes hold on them;
//! - `routes`: routes, arbitration between sources, and reading the tables back;
//! - `audit`: what a forwarding table must hold range by range, for audits;
//! - `publish`: what listeners see: the change sequence (`Fib::emit`, the one place
//!   a seq is taken), snapshots and replay, delivery, backlog, resync and failure.

use crate::event::{MacAddr, NexthopGroup, NexthopId, PortId, TableId};
use crate::event::{GROUP_ID_BASE, MAX_GROUPS};
use crate::listener::ListenerId;
use crate::nexthop::NexthopTable;
use crate::prefix::Ipv4Prefix;
use crate::route::Protocol;
use crate::table::RouteTable;
use hashbrown::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

mod audit;
mod nexthops;
mod publish;
mod routes;

use publish::{ListenerSlot, Snapshot};

pub use crate::table::RouteEntry;
pub use publish::ListenerStatus;

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
    /// Route events kept for a reader outside the listeners (`fibrectl monitor`),
    /// while one wants them: see [`Fib::tap_routes`].
    tap: Option<publish::EventTap>,
    /// Bumped by every change to a route, installed or not (a seq numbers only
    /// what listeners see), for readers that cache what they render.
    generation: u64,
    /// Per table, the seq of the last route event in each /8 (for audits).
    touched: HashMap<TableId, Box<[u64; 256]>>,
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
            tap: None,
            generation: 0,
            touched: HashMap::new(),
        }
    }

    /// The seq of the last committed change (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A number that changes whenever any route does, installed or not: a cache
    /// of `routes()` is valid while it stays the same.
    pub fn generation(&self) -> u64 {
        self.generation
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
        let t = self.table(table)?;
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
        self.generation += 1;
        Ok(())
    }

    pub fn table_ids(&self) -> Vec<TableId> {
        let mut ids: Vec<_> = self.tables.keys().copied().collect();
        ids.sort();
        ids
    }

    /// A table by id, or the error every caller reports for one that is not there.
    fn table(&self, table: TableId) -> Result<&RouteTable, FibError> {
        self.tables.get(&table).ok_or(FibError::UnknownTable(table))
    }

    fn table_mut(&mut self, table: TableId) -> Result<&mut RouteTable, FibError> {
        self.tables
            .get_mut(&table)
            .ok_or(FibError::UnknownTable(table))
    }
}
