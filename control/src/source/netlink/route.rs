//! One IPv4 route message, decoded into what fibre looks at, and classified: how
//! it forwards, or why fibre cannot install it.
//!
//! Decoding fails only where the message does not say what it is about (another
//! address family, a destination that is no IPv4 prefix). Everything else — the
//! route type, TOS, source prefix, encapsulation, the paths with their flags —
//! is decoded as is, so each source can decide what to skip silently and what to
//! count: the kernel's own `local` routes are expected, a TOS route from zebra is
//! not.

use crate::proto::RouteTarget;
use fib::Ipv4Prefix;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteNextHopFlags, RouteProtocol,
    RouteType, RouteVia,
};
use netlink_packet_route::AddressFamily;
use std::net::Ipv4Addr;

/// An IPv4 route message, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `RTA_TABLE`, else `rtm_table` (which cannot hold tables above 255).
    pub table: u32,
    pub prefix: Ipv4Prefix,
    pub kind: RouteType,
    pub protocol: RouteProtocol,
    /// The metric (`RTA_PRIORITY`; 0 without).
    pub priority: u32,
    pub tos: u8,
    /// Length of the source prefix (`rtm_src_len`): non-zero for a source-specific
    /// route.
    pub source_len: u8,
    /// `RTM_F_CLONED`: a cached clone, not a route of the table.
    pub cloned: bool,
    /// `RTA_ENCAP` / `RTA_ENCAP_TYPE`: a lightweight tunnel.
    pub encap: bool,
    /// `RTA_NH_ID`: the route forwards through a nexthop object.
    pub nexthop_id: Option<u32>,
    /// `RTA_MULTIPATH` was present: `hops` are its `rtnexthop`s. Otherwise `hops`
    /// is the one path of the top-level `RTA_GATEWAY` / `RTA_VIA` / `RTA_OIF`.
    pub multipath: bool,
    pub hops: Vec<Hop>,
}

/// One path of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub gateway: Gateway,
    /// Output interface index (0: none given).
    pub oif: u32,
    /// `rtnh_hops + 1` for a multipath hop, 1 otherwise. Neither source uses it:
    /// fibre spreads flows equally over a group.
    pub weight: u16,
    /// `RTNH_F_DEAD` on the hop (or on `rtm_flags` for a single path).
    pub dead: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    /// Out of the interface, on-link.
    None,
    V4(Ipv4Addr),
    /// An IPv6 gateway for an IPv4 route (`RTA_VIA`, RFC 5549): fibre has no IPv6
    /// neighbours to send to.
    Ipv6,
}

/// Why a message could not be decoded into an IPv4 route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecodable {
    /// Not IPv4: not fibre's business.
    Family(u8),
    Malformed(String),
}

impl std::fmt::Display for Undecodable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecodable::Family(x) => write!(f, "address family {x}"),
            Undecodable::Malformed(m) => write!(f, "malformed: {m}"),
        }
    }
}

/// How a route forwards, as far as the message alone tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarding {
    /// `blackhole`, `unreachable`, `prohibit` (fibre sends no ICMP for the last two).
    Blackhole,
    /// The live IPv4 gateways, in the message's order.
    Gateways(Vec<Ipv4Addr>),
    /// A nexthop object (`RTA_NH_ID`) and no gateway in the message itself: what
    /// the object holds is in other messages.
    Object(u32),
}

/// Why fibre cannot install a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A type fibre does not forward by (`local`, `broadcast`, `nat`...).
    RouteType(RouteType),
    /// `throw`: ends the lookup in this table, and fibre has no rules to go on with.
    Throw,
    /// Matches on TOS as well as the destination; fibre matches the destination only.
    Tos(u8),
    /// Matches on the source as well; same.
    SourceSpecific,
    Encap,
    /// Every path is dead: the kernel does not use the route either.
    AllHopsDead,
    Ipv6Gateway,
    /// A path out of an interface without a gateway: fibre does not know the
    /// source's interfaces (connected subnets, `ip route add ... dev eth1`).
    NoGateway,
    /// A unicast route with no path at all: no gateway, interface or nexthop id.
    NoNexthop,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::RouteType(t) => write!(f, "route type {t:?}"),
            Refusal::Throw => f.write_str("throw route (fibre has no rule lookup)"),
            Refusal::Tos(t) => write!(f, "TOS {t:#x} route"),
            Refusal::SourceSpecific => f.write_str("source-specific route"),
            Refusal::Encap => f.write_str("lightweight tunnel encapsulation"),
            Refusal::AllHopsDead => f.write_str("every nexthop is dead"),
            Refusal::Ipv6Gateway => f.write_str("IPv6 gateway (RTA_VIA)"),
            Refusal::NoGateway => {
                f.write_str("no gateway (connected, or out of an interface only)")
            }
            Refusal::NoNexthop => f.write_str("unicast route with no nexthop"),
        }
    }
}

/// What to do with a multipath route some of whose live paths fibre cannot use
/// (no gateway, an IPv6 one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialPaths {
    /// Refuse the route: forwarding over fewer paths than the source does is
    /// not mirroring it (the kernel mirror).
    Refuse,
    /// Install the usable paths (FPM, as it does for a group with unusable
    /// members).
    UseTheUsable,
}

/// The table a route message belongs to (`RTA_TABLE`, else `rtm_table`), without
/// decoding the rest: sources filter by table before anything else.
pub fn table_of(msg: &RouteMessage) -> u32 {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.table))
}

/// `RTA_DST` as an IPv4 address, if there is one.
pub fn destination_of(msg: &RouteMessage) -> Option<Ipv4Addr> {
    msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
        _ => None,
    })
}

fn malformed(what: impl std::fmt::Display) -> Undecodable {
    Undecodable::Malformed(what.to_string())
}

/// Decodes an IPv4 route message (either `RTM_NEWROUTE` or `RTM_DELROUTE`).
pub fn decode(msg: &RouteMessage) -> Result<Route, Undecodable> {
    let h = &msg.header;
    if h.address_family != AddressFamily::Inet {
        return Err(Undecodable::Family(u8::from(h.address_family)));
    }
    let len = h.destination_prefix_length;
    let mut dst = None;
    let mut priority = 0;
    let mut encap = false;
    let mut nexthop_id = None;
    let mut multipath = None;
    let mut top = Hop {
        gateway: Gateway::None,
        oif: 0,
        weight: 1,
        dead: h.flags.contains(RouteFlags::Dead),
    };
    for a in &msg.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = Some(*d),
            RouteAttribute::Destination(other) => {
                return Err(malformed(format!("RTA_DST {other:?}")))
            }
            RouteAttribute::Priority(p) => priority = *p,
            RouteAttribute::Encap(_) | RouteAttribute::EncapType(_) => encap = true,
            RouteAttribute::NhId(id) => nexthop_id = Some(*id),
            RouteAttribute::Oif(i) => top.oif = *i,
            RouteAttribute::MultiPath(hops) => {
                multipath = Some(
                    hops.iter()
                        .map(|nh| Hop {
                            gateway: gateway_of(&nh.attributes),
                            oif: nh.interface_index,
                            weight: u16::from(nh.hops) + 1,
                            dead: nh.flags.contains(RouteNextHopFlags::Dead),
                        })
                        .collect(),
                )
            }
            _ => {}
        }
    }
    top.gateway = gateway_of(&msg.attributes);
    let dst = match dst {
        Some(d) => d,
        None if len == 0 => Ipv4Addr::UNSPECIFIED,
        None => return Err(malformed(format!("/{len} route without RTA_DST"))),
    };
    let prefix = Ipv4Prefix::new(u32::from(dst), len)
        .map_err(|e| malformed(format!("bad destination {dst}/{len}: {e}")))?;
    Ok(Route {
        table: table_of(msg),
        prefix,
        kind: h.kind,
        protocol: h.protocol,
        priority,
        tos: h.tos,
        source_len: h.source_prefix_length,
        cloned: h.flags.contains(RouteFlags::Cloned),
        encap,
        nexthop_id,
        multipath: multipath.is_some(),
        hops: multipath.unwrap_or_else(|| vec![top]),
    })
}

/// A path's gateway: `RTA_GATEWAY` (IPv4) wins over `RTA_VIA`.
fn gateway_of(attrs: &[RouteAttribute]) -> Gateway {
    let mut gateway = Gateway::None;
    for a in attrs {
        match a {
            RouteAttribute::Gateway(RouteAddress::Inet(g))
            | RouteAttribute::Via(RouteVia::Inet(g)) => return Gateway::V4(*g),
            RouteAttribute::Gateway(_) | RouteAttribute::Via(_) => gateway = Gateway::Ipv6,
            _ => {}
        }
    }
    gateway
}

impl Route {
    /// A refusal for what the route matches besides its destination (TOS, source
    /// prefix): such a route is not the route of its prefix, so a source must not
    /// let it stand for one.
    pub fn selector_refusal(&self) -> Option<Refusal> {
        if self.tos != 0 {
            Some(Refusal::Tos(self.tos))
        } else if self.source_len != 0 {
            Some(Refusal::SourceSpecific)
        } else {
            None
        }
    }

    /// How the route forwards, or why fibre cannot install it. Checked in this
    /// order: the type, encapsulation, dead paths, a nexthop object, then each live
    /// path's gateway (`partial` says what one unusable path among usable ones
    /// does).
    pub fn forwarding(&self, partial: PartialPaths) -> Result<Forwarding, Refusal> {
        match self.kind {
            RouteType::BlackHole | RouteType::Unreachable | RouteType::Prohibit => {
                return Ok(Forwarding::Blackhole)
            }
            RouteType::Unicast => {}
            RouteType::Throw => return Err(Refusal::Throw),
            other => return Err(Refusal::RouteType(other)),
        }
        if self.encap {
            return Err(Refusal::Encap);
        }
        let live: Vec<&Hop> = self.hops.iter().filter(|h| !h.dead).collect();
        if live.is_empty() {
            return Err(Refusal::AllHopsDead);
        }
        if let Some(id) = self.nexthop_id {
            // With `nexthop_compat_mode` on, the kernel sends the object's gateways
            // beside its id; they are the route's, and used. Without, only the id.
            if live.iter().all(|h| h.gateway == Gateway::None) {
                return Ok(Forwarding::Object(id));
            }
        }
        let unusable = |h: &Hop| match h.gateway {
            Gateway::Ipv6 => Refusal::Ipv6Gateway,
            _ if !self.multipath && h.oif == 0 => Refusal::NoNexthop,
            _ => Refusal::NoGateway,
        };
        let mut gateways = Vec::with_capacity(live.len());
        for h in &live {
            match h.gateway {
                Gateway::V4(g) => gateways.push(g),
                _ if partial == PartialPaths::Refuse => return Err(unusable(h)),
                _ => {}
            }
        }
        if !gateways.is_empty() {
            return Ok(Forwarding::Gateways(gateways));
        }
        // Nothing usable: an IPv6 gateway says most about why.
        Err(if live.iter().any(|h| h.gateway == Gateway::Ipv6) {
            Refusal::Ipv6Gateway
        } else {
            unusable(live[0])
        })
    }
}

/// The fibre target over `gateways`: one is `via`; several are multipath, in
/// address order without repeats, so the same set in another order is the same
/// route and a repeated gateway is not a second path (the FIB wants 2 to 8
/// distinct ones). Each gateway's port is found by the control thread.
/// `gateways` is not empty ([`Forwarding::Gateways`] never is).
pub fn gateways_target(mut gateways: Vec<Ipv4Addr>) -> RouteTarget {
    gateways.sort_unstable();
    gateways.dedup();
    let via = |gateway| RouteTarget::Via {
        gateway,
        port: None,
    };
    if gateways.len() == 1 {
        via(gateways[0])
    } else {
        RouteTarget::Multipath(gateways.into_iter().map(via).collect())
    }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
