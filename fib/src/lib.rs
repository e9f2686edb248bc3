//! fibre's routing state and lookup.
//!
//! - [`prefix`]: IPv4 prefixes.
//! - [`event`]: the sequenced events listeners receive, and the [`event::EventSink`]
//!   trait their state implements.

pub mod event;
pub mod prefix;

pub use event::{
    CoveringRoute, EventKind, EventSink, FibEvent, Nexthop, NexthopId, PortId, Progress, TableId,
};
pub use prefix::{Ipv4Prefix, PrefixError};
