//! What the FIB tells its listeners: sequenced events, and the trait a listener's
//! state implements to apply them.
//!
//! The stream a listener receives after registering is
//! `ReplayBegin(S)`, every nexthop and every route as of `S` (each carrying seq `S`),
//! `ReplayEnd(S)`, then live events `S+1`, `S+2`, ... A later `ReplayBegin` (a resync)
//! starts the same sequence again: the listener builds its state afresh from it.

use crate::prefix::Ipv4Prefix;
use std::fmt;
use std::net::Ipv4Addr;

/// A routing table (VRF) id. Table 254 is `main`, as in Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId(pub u32);

impl TableId {
    pub const MAIN: TableId = TableId(254);
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == TableId::MAIN {
            f.write_str("main")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// A nexthop object id. Ids are small and dense (lowest free first) so a core can
/// index its nexthop array with them and a lookup table entry can hold one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NexthopId(pub u32);

impl fmt::Display for NexthopId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A forwarding port (NIC) index.
pub type PortId = u16;

/// An Ethernet (MAC) address, as the FIB carries it (the dataplane has the typed view).
pub type MacAddr = [u8; 6];

/// Where a route sends packets. The neighbour's MAC is resolved separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nexthop {
    /// Via a gateway on a port: the gateway's MAC is the frame's destination.
    Gateway { port: PortId, gateway: Ipv4Addr },
    /// The destination is on the port's link: its own MAC is the frame's destination.
    Connected { port: PortId },
    /// An address of the router itself: packets go to the control plane.
    Local,
    /// Dropped on purpose (and counted).
    Blackhole,
}

impl fmt::Display for Nexthop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Nexthop::Gateway { port, gateway } => write!(f, "via {gateway} dev {port}"),
            Nexthop::Connected { port } => write!(f, "dev {port}"),
            Nexthop::Local => f.write_str("local"),
            Nexthop::Blackhole => f.write_str("blackhole"),
        }
    }
}

// ---- the nexthop id space ----
//
// Ids travel in events and end up in every core's lookup table entries, so the
// space is defined here, with the vocabulary that carries them, and the table
// layouts (`dir24`) are built to hold it:
//
//   0 ..= GROUP_ID_BASE - 1               plain nexthops (28,671 ids)
//   GROUP_ID_BASE ..= MAX_NEXTHOP_ID      multipath groups (MAX_GROUPS = 4,096 ids)

/// The largest nexthop id: 32,767 ids in all (`0 ..= 32_766`), what a DIR-24-8
/// entry's 15-bit value holds as `id + 1` with 0 left for "no route".
pub const MAX_NEXTHOP_ID: u32 = (1 << 15) - 2;

/// Most paths a multipath group holds.
pub const MAX_PATHS: usize = 8;

/// Groups most a FIB holds at once.
pub const MAX_GROUPS: u32 = 4096;

/// Multipath group ids are the top [`MAX_GROUPS`] ids of the space, so a
/// forwarding core tells a group from a plain nexthop with one compare (never
/// true for a table without multipath routes). Plain nexthops use the ids below
/// (28,671 of them, [`FibConfig`](crate::FibConfig)'s default capacity).
pub const GROUP_ID_BASE: u32 = MAX_NEXTHOP_ID + 1 - MAX_GROUPS;

/// Whether a nexthop id (or lookup result) names a multipath group.
#[inline(always)]
pub const fn is_group_id(id: u32) -> bool {
    id >= GROUP_ID_BASE && id <= MAX_NEXTHOP_ID
}

/// An equal-cost multipath group: 2 to [`MAX_PATHS`] distinct plain nexthops, kept
/// sorted so equal sets compare equal (and share one group id). Traffic is spread
/// over the members by a flow hash ([`NexthopGroup::select`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NexthopGroup {
    len: u8,
    /// Member ids (all below [`GROUP_ID_BASE`], so they fit 16 bits); unused slots 0.
    members: [u16; MAX_PATHS],
}

impl NexthopGroup {
    /// A group of the distinct ids among `members` (order and repeats do not
    /// matter). `None` unless there are 2 to [`MAX_PATHS`] distinct ids, none of
    /// them a group.
    pub fn new(members: &[NexthopId]) -> Option<NexthopGroup> {
        let mut ids: Vec<u32> = members.iter().map(|m| m.0).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() < 2 || ids.len() > MAX_PATHS || ids.iter().any(|&i| i >= GROUP_ID_BASE) {
            return None;
        }
        let mut g = NexthopGroup {
            len: ids.len() as u8,
            members: [0; MAX_PATHS],
        };
        for (slot, id) in g.members.iter_mut().zip(ids) {
            *slot = id as u16;
        }
        Some(g)
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn members(&self) -> impl Iterator<Item = NexthopId> + '_ {
        self.members[..self.len()]
            .iter()
            .map(|&m| NexthopId(u32::from(m)))
    }

    /// The member a flow with this hash takes: the same flow always takes the
    /// same member while the group is unchanged.
    #[inline(always)]
    pub fn select(&self, hash: u32) -> NexthopId {
        // Multiply-shift maps the hash onto 0..len without a division.
        let i = ((u64::from(hash) * u64::from(self.len)) >> 32) as usize;
        NexthopId(u32::from(self.members[i & (MAX_PATHS - 1)]))
    }
}

impl fmt::Display for NexthopGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("group")?;
        for m in self.members() {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

/// The route that covers a deleted prefix, carried by the delete so a listener can
/// restore it without keeping a rule table of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoveringRoute {
    pub prefix: Ipv4Prefix,
    pub nexthop: NexthopId,
}

/// One change, as listeners see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A replay of the whole FIB as of this event's seq starts. The listener starts a
    /// fresh state (a shadow) and keeps serving its old one until `ReplayEnd`.
    ReplayBegin,
    /// The replay is complete: the fresh state is now exactly the FIB at this seq.
    ReplayEnd,
    /// A nexthop appears, or changes where it points (same id). Its neighbour is
    /// unresolved until a `NexthopResolved` for it follows.
    NexthopSet { id: NexthopId, nexthop: Nexthop },
    /// The link-layer address of a nexthop's neighbour (the gateway) is now known
    /// (`Some`), or no longer (`None`). Only ever about a nexthop the listener has:
    /// adjacencies travel the same ordered ring as routes, so a route never points at
    /// an adjacency a listener has not seen.
    NexthopResolved { id: NexthopId, mac: Option<MacAddr> },
    /// A nexthop is gone; no route uses it any more.
    NexthopDel { id: NexthopId },
    /// A multipath group appears (its id is at or above [`GROUP_ID_BASE`]); its
    /// members are nexthops the listener already has.
    GroupSet { id: NexthopId, group: NexthopGroup },
    /// A group is gone; no route uses it any more.
    GroupDel { id: NexthopId },
    /// A prefix with no installed route gets one.
    RouteAdd {
        table: TableId,
        prefix: Ipv4Prefix,
        nexthop: NexthopId,
    },
    /// An installed prefix now uses another nexthop (a better source won, the best
    /// source changed its route, or the best one left and the next best was promoted).
    RouteReplace {
        table: TableId,
        prefix: Ipv4Prefix,
        nexthop: NexthopId,
    },
    /// An installed prefix is gone; addresses under it now follow `covering`
    /// (the longest shorter prefix still installed), or no route if `None`.
    RouteDel {
        table: TableId,
        prefix: Ipv4Prefix,
        covering: Option<CoveringRoute>,
    },
}

/// A sequenced event. Replayed items carry the replay's snapshot seq; live events
/// carry the seq of the change that made them, one more than the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FibEvent {
    pub seq: u64,
    pub kind: EventKind,
}

/// How far an [`EventSink::apply`] call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The event is fully applied.
    Done,
    /// The work budget ran out; call `apply` again with the same event to go on.
    Partial,
}

/// The state a listener builds from events: a forwarding core's lookup tables, or a
/// reference model in tests.
///
/// `budget` counts units of work (roughly: table entries written); an implementation
/// decrements it and returns [`Progress::Partial`] when it runs out in the middle of
/// an event, so a forwarding core can bound the time it spends between bursts.
/// Applying the same replayed entry twice must be harmless.
pub trait EventSink {
    type Error: fmt::Display;

    fn apply(&mut self, event: &FibEvent, budget: &mut usize) -> Result<Progress, Self::Error>;
}
