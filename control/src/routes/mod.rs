//! Routes: `route add|replace|del|show|get|load`. The request and reply types are
//! here; [`handler`] applies them to the FIB, and [`targets`] turns a route's
//! target (a gateway, a port, a nexthop id, a multipath list) into a FIB nexthop,
//! for this feature and for `nexthop add`.

pub mod handler;
pub mod stream;
pub mod targets;

use crate::interfaces::PortRef;
use crate::nexthops::NexthopInfo;
use fib::{Ipv4Prefix, Protocol};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

/// Routes per `route_load` batch `fibrectl` sends by default: large enough that
/// per-message costs vanish, small enough that one batch is a short turn of the
/// daemon's control loop.
pub const DEFAULT_BATCH_ROUTES: usize = 10_000;

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RouteTarget {
    /// Via a gateway; the port is found from the interface subnets when omitted.
    Via {
        gateway: Ipv4Addr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<PortRef>,
    },
    /// On-link on a port.
    Dev(PortRef),
    /// An existing nexthop object, by id.
    Nexthop(u32),
    Blackhole,
    /// Equal-cost multipath: traffic is spread over the paths by flow (a hash of
    /// the addresses), each a `via` or `dev` target.
    Multipath(Vec<RouteTarget>),
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTarget::Via {
                gateway,
                port: Some(p),
            } => write!(f, "via {gateway} dev {p}"),
            RouteTarget::Via {
                gateway,
                port: None,
            } => write!(f, "via {gateway}"),
            RouteTarget::Dev(p) => write!(f, "dev {p}"),
            RouteTarget::Nexthop(id) => write!(f, "nexthop {id}"),
            RouteTarget::Blackhole => f.write_str("blackhole"),
            RouteTarget::Multipath(paths) => {
                for (i, p) in paths.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "nexthop {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// `route add` / `route replace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    #[serde(
        default = "crate::proto::main_table",
        skip_serializing_if = "crate::proto::is_main"
    )]
    pub table: u32,
    #[serde(with = "crate::proto::text")]
    pub prefix: Ipv4Prefix,
    pub target: RouteTarget,
    #[serde(
        default = "crate::proto::static_protocol",
        skip_serializing_if = "crate::proto::is_static",
        with = "crate::proto::text"
    )]
    pub protocol: Protocol,
    /// Administrative distance; the protocol's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<u8>,
}

/// `route del`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDel {
    #[serde(
        default = "crate::proto::main_table",
        skip_serializing_if = "crate::proto::is_main"
    )]
    pub table: u32,
    #[serde(with = "crate::proto::text")]
    pub prefix: Ipv4Prefix,
    #[serde(
        default = "crate::proto::static_protocol",
        skip_serializing_if = "crate::proto::is_static",
        with = "crate::proto::text"
    )]
    pub protocol: Protocol,
}

/// `route show` filters; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::proto::text::opt"
    )]
    pub protocol: Option<Protocol>,
    /// Only prefixes inside this one (itself included), like `ip route show root`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::proto::text::opt"
    )]
    pub prefix: Option<Ipv4Prefix>,
    /// At most this many routes in the reply (`total` says how many matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl RouteFilter {
    /// Whether a route passes the filter (the daemon's side of `route show`).
    pub fn matches(&self, table: u32, prefix: &Ipv4Prefix, protocol: Protocol) -> bool {
        self.table.is_none_or(|t| t == table)
            && self.protocol.is_none_or(|p| p == protocol)
            && self.prefix.is_none_or(|f| f.covers(prefix))
    }
}

/// `route get ADDR [core N]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteGet {
    pub addr: Ipv4Addr,
    #[serde(
        default = "crate::proto::main_table",
        skip_serializing_if = "crate::proto::is_main"
    )]
    pub table: u32,
    /// Answer from this core's own DIR-24-8 table; the control plane's FIB when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<u32>,
}

/// One route of a [`RouteBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRoute {
    #[serde(with = "crate::proto::text")]
    pub prefix: Ipv4Prefix,
    pub target: RouteTarget,
}

/// `route load`: many routes in one message, applied by the daemon in one turn of
/// its control loop. Every route is added or replaced (`replace`) for `protocol` in
/// `table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteBatch {
    #[serde(
        default = "crate::proto::main_table",
        skip_serializing_if = "crate::proto::is_main"
    )]
    pub table: u32,
    #[serde(
        default = "crate::proto::static_protocol",
        skip_serializing_if = "crate::proto::is_static",
        with = "crate::proto::text"
    )]
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<u8>,
    /// Replace a route this protocol already has for a prefix instead of refusing it.
    #[serde(default = "crate::proto::yes")]
    pub replace: bool,
    pub routes: Vec<BatchRoute>,
}

/// A route as `route show` lists it: one per (table, prefix, protocol).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    pub table: u32,
    #[serde(with = "crate::proto::text")]
    pub prefix: Ipv4Prefix,
    #[serde(with = "crate::proto::text")]
    pub protocol: Protocol,
    pub distance: u8,
    pub nexthop: u32,
    /// The nexthop in words (`via 192.0.2.1 dev p0`), filled by the daemon.
    pub via: String,
    /// Whether this is the route listeners hold (it won arbitration).
    pub installed: bool,
}

/// `route show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteList {
    pub routes: Vec<RouteInfo>,
    /// Routes that matched the filter (more than `routes.len()` when a limit cut it).
    pub total: usize,
}

/// `route get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteLookup {
    pub addr: Ipv4Addr,
    pub table: u32,
    /// The core whose table answered; `None`: the control plane's FIB.
    pub core: Option<u32>,
    /// The matching prefix (the FIB knows it; a DIR-24-8 table does not, so `None` there).
    #[serde(with = "crate::proto::text::opt", default)]
    pub prefix: Option<Ipv4Prefix>,
    /// `None`: no route (the packet would be dropped as unreachable).
    pub nexthop: Option<NexthopInfo>,
    /// The seq of the table that answered (the core's applied seq, or the FIB's).
    pub seq: u64,
}

/// `route add|replace|del`: the seq of the change, if listeners see one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteChanged {
    pub seq: Option<u64>,
}

/// One refused route of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchError {
    /// Index in the batch's `routes`.
    pub index: usize,
    pub message: String,
}

/// `route load` (one batch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchApplied {
    /// Routes committed.
    pub applied: usize,
    /// Routes refused (each changes nothing).
    pub failed: usize,
    /// The first refusals (at most [`MAX_BATCH_ERRORS`]).
    pub errors: Vec<BatchError>,
    /// The FIB seq after the batch.
    pub seq: u64,
}

/// How many refusals a [`BatchApplied`] lists.
pub const MAX_BATCH_ERRORS: usize = 16;
