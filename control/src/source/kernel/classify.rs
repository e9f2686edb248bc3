//! What one kernel route message means for the mirror: the alias it names and
//! what fibre does with it. The message itself is decoded by the shared decoder
//! ([`crate::source::netlink`]); this is the kernel mirror's policy on top of it:
//! which routes are expected and skipped silently (the kernel's own), which are
//! counted, and that a route is mirrored whole or not at all.

use crate::proto::RouteTarget;
use crate::source::netlink::route::{decode, gateways_target, table_of};
use crate::source::netlink::{Forwarding, Gateway, Hop, PartialPaths, Refusal, Route};
use fib::Ipv4Prefix;
use netlink_packet_route::route::{RouteFlags, RouteMessage, RouteProtocol, RouteType};
use netlink_packet_route::AddressFamily;
use std::net::Ipv4Addr;

/// What fibre does with one kernel route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// Mirrored with this target.
    Mirror(RouteTarget),
    /// In the table but not mirrored, as expected: the kernel's own routes
    /// (`proto kernel`, the connected subnets of its addresses; fibre has its own
    /// from the port addresses) and routes whose only nexthop is dead.
    Shadow(&'static str),
    /// In the table, cannot be mirrored, and not expected: counted in `ignored`.
    Unmirrorable(String),
}

/// The identity of a kernel alias within its prefix and metric: what an
/// `RTM_DELROUTE` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasKey {
    pub(super) kind: u8,
    pub(super) path: Path,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Path {
    None,
    /// (gateway, output interface index)
    One(Option<Ipv4Addr>, u32),
    Many(Box<[(Option<Ipv4Addr>, u32)]>),
}

/// A route message, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// Not part of the mirrored table's unicast lookups and not tracked: another
    /// address family or table, local/broadcast/anycast/multicast routes (the
    /// kernel's own, in table `local`), cached clones.
    Skip,
    /// Not tracked and counted in `ignored`: TOS or source-specific routes, `nat`
    /// and other obsolete types, malformed messages.
    Ignore(String),
    /// A route of the mirrored table.
    Route {
        prefix: Ipv4Prefix,
        /// The metric (`RTA_PRIORITY`).
        priority: u32,
        key: AliasKey,
        mapping: Mapping,
    },
}

/// What a route message means for the mirror of kernel table `table`.
pub fn classify(msg: &RouteMessage, table: u32) -> Classified {
    // The kernel mirror's own filter first, on the raw header: what is not part
    // of the mirrored table's unicast lookups is skipped even when malformed.
    let h = &msg.header;
    if h.address_family != AddressFamily::Inet || table_of(msg) != table {
        return Classified::Skip;
    }
    if h.flags.contains(RouteFlags::Cloned) {
        return Classified::Skip;
    }
    match h.kind {
        RouteType::Local | RouteType::Broadcast | RouteType::Anycast | RouteType::Multicast => {
            return Classified::Skip
        }
        RouteType::Unicast
        | RouteType::BlackHole
        | RouteType::Unreachable
        | RouteType::Prohibit
        | RouteType::Throw => {}
        other => return Classified::Ignore(Refusal::RouteType(other).to_string()),
    }
    let route = match decode(msg) {
        Ok(r) => r,
        Err(e) => return Classified::Ignore(e.to_string()),
    };
    if let Some(why) = route.selector_refusal() {
        return Classified::Ignore(why.to_string());
    }
    Classified::Route {
        prefix: route.prefix,
        priority: route.priority,
        key: AliasKey {
            kind: u8::from(route.kind),
            path: path_of(&route),
        },
        mapping: mapping_of(&route),
    }
}

/// The paths that, with the type, tell a prefix's aliases of one metric apart
/// (dead ones included: the kernel names them too).
fn path_of(route: &Route) -> Path {
    if route.kind != RouteType::Unicast {
        return Path::None;
    }
    let named = |h: &Hop| -> (Option<Ipv4Addr>, u32) {
        match h.gateway {
            Gateway::V4(g) => (Some(g), h.oif),
            _ => (None, h.oif),
        }
    };
    if route.multipath {
        Path::Many(route.hops.iter().map(named).collect())
    } else {
        let (gateway, oif) = route.hops.first().map_or((None, 0), named);
        Path::One(gateway, oif)
    }
}

fn mapping_of(route: &Route) -> Mapping {
    if route.kind == RouteType::Unicast && route.protocol == RouteProtocol::Kernel {
        return Mapping::Shadow("proto kernel");
    }
    match route.forwarding(PartialPaths::Refuse) {
        Ok(Forwarding::Blackhole) => Mapping::Mirror(RouteTarget::Blackhole),
        Ok(Forwarding::Gateways(g)) => Mapping::Mirror(gateways_target(g)),
        Ok(Forwarding::Object(_)) => Mapping::Unmirrorable(
            "nexthop object without its gateway (nexthop_compat_mode off)".into(),
        ),
        Err(Refusal::AllHopsDead) => Mapping::Shadow("every nexthop is dead"),
        // One message for both: a route with no gateway is a dev-only route here.
        Err(Refusal::NoNexthop) => Mapping::Unmirrorable(Refusal::NoGateway.to_string()),
        Err(why) => Mapping::Unmirrorable(why.to_string()),
    }
}
