//! fibre's routing state and lookup.
//!
//! - [`prefix`]: IPv4 prefixes.
//! - [`route`]: routes as sources give them, with administrative distance.
//! - [`fib`]: the sequenced FIB, the single writer's state, and listener registration,
//!   replay, resync and nexthop reuse.
//! - [`listener`]: the listener's side: its ring, seq checks and published progress.
//! - [`routefile`]: RouteViews route files (`prefix/len<TAB>origin AS` lines).
//! - [`reference`](mod@reference): a plain reference listener that tests compare real ones against.
//! - [`audit`]: digests of address ranges, to check a core's table against the FIB.
//! - [`event`]: the sequenced events listeners receive, and the [`event::EventSink`]
//!   trait their state implements.
//!
//! `unsafe` is kept to the DIR-24-8 table's memory and lookups; every block says
//! why it is sound, and an unsafe fn's body gets no implicit unsafe block.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod audit;
pub mod dir24;
pub mod event;
pub mod fib;
pub mod listener;
mod nexthop;
pub mod prefix;
pub mod reference;
pub mod route;
pub mod routefile;
mod table;

pub use dir24::{Dir24Config, Dir24Error, Dir24Table, ForwardingTables};
pub use event::{
    is_group_id, CoveringRoute, EventKind, EventSink, FibEvent, MacAddr, Nexthop, NexthopGroup,
    NexthopId, PortId, Progress, TableId, GROUP_ID_BASE, MAX_GROUPS, MAX_NEXTHOP_ID, MAX_PATHS,
};
pub use fib::{Fib, FibConfig, FibError, FibStats, ListenerStatus, RouteEntry};
pub use listener::{ListenerConfig, ListenerId, ListenerShared, PollOutcome, Subscription};
pub use prefix::{Ipv4Prefix, PrefixError};
pub use route::{Protocol, Route};
