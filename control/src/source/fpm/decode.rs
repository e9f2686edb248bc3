//! The netlink messages inside an FPM frame: routes (`RTM_NEWROUTE` /
//! `RTM_DELROUTE`: parsed by `netlink-packet-route`, decoded by the decoder the
//! kernel mirror shares, [`crate::source::netlink`]) and nexthop objects
//! (`RTM_NEWNEXTHOP` / `RTM_DELNEXTHOP`, decoded here: `netlink-packet-route` 0.34,
//! the newest, has no nexthop-object messages).
//!
//! zebra writes these messages in the host's byte order (it is the same host, or
//! at least the same kind of host, as the FPM server); so does this decoder.

use crate::source::netlink::route::{decode, Forwarding, PartialPaths, Refusal, Undecodable};
use fib::Ipv4Prefix;
use netlink_packet_core::Parseable;
use netlink_packet_route::route::{RouteMessage, RouteType};
use std::net::Ipv4Addr;

pub use crate::source::netlink::{
    AF_INET, AF_INET6, AF_UNSPEC, NLMSG_HDRLEN, RTM_DELNEXTHOP, RTM_DELROUTE, RTM_NEWNEXTHOP,
    RTM_NEWROUTE,
};

/// `struct nhmsg`: family, scope, protocol, reserved, flags (u32).
pub const NHMSG_LEN: usize = 8;
pub const NHA_ID: u16 = 1;
pub const NHA_GROUP: u16 = 2;
pub const NHA_BLACKHOLE: u16 = 4;
pub const NHA_OIF: u16 = 5;
pub const NHA_GATEWAY: u16 = 6;
pub const NHA_ENCAP: u16 = 8;
/// `RTNH_F_DEAD` in `nhmsg`'s flags.
const RTNH_F_DEAD: u32 = 1;
/// Attribute type bits that are flags (`NLA_F_NESTED`, `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// A decoded message fibre can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    RouteNew(Route),
    RouteDel { table: u32, prefix: Ipv4Prefix },
    NexthopNew { id: u32, nexthop: NexthopObject },
    NexthopDel { id: u32 },
}

/// An IPv4 route as zebra states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub table: u32,
    pub prefix: Ipv4Prefix,
    pub via: RouteVia,
}

/// Where a route goes, before nexthop objects are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteVia {
    /// `RTA_NH_ID`: a nexthop object (zebra's default, `fpm use-next-hop-groups`).
    Object(u32),
    /// `RTA_GATEWAY`, or the gateways of `RTA_MULTIPATH`.
    Gateways(Vec<Ipv4Addr>),
    /// A blackhole, unreachable or prohibit route.
    Blackhole,
    /// A route for the prefix that fibre cannot install: no gateway (a connected
    /// subnet, a static route to an interface), only IPv6 gateways, an
    /// encapsulation, only dead paths. It still replaces the prefix's route.
    Refused(Refusal),
}

/// A nexthop object (`RTM_NEWNEXTHOP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NexthopObject {
    Gateway(Ipv4Addr),
    Blackhole,
    /// `NHA_GROUP`: member ids (weights are not used: fibre spreads equally).
    Group(Vec<u32>),
    /// `NHA_OIF` alone: on-link out of an interface.
    Device,
    /// Something fibre cannot forward to (an IPv6 gateway, an encapsulation, a
    /// dead nexthop).
    Unusable(Refusal),
}

/// Why a message was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// An IPv6 (or other non-IPv4) route: not fibre's business.
    Family(u8),
    /// A route type fibre does not install (local, broadcast, multicast, throw...).
    RouteType(u8),
    /// A TOS or source-specific route: not the route of its destination prefix.
    Selector(Refusal),
    /// A netlink message type other than routes and nexthops.
    MessageType(u16),
    Malformed(String),
}

impl Skip {
    /// Whether this is an expected part of zebra's stream (logged at debug level),
    /// rather than something wrong (logged as a warning).
    pub fn expected(&self) -> bool {
        !matches!(self, Skip::Malformed(_))
    }
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::Family(AF_INET6) => f.write_str("IPv6 route"),
            Skip::Family(x) => write!(f, "address family {x}"),
            Skip::RouteType(t) => write!(f, "route type {t}"),
            Skip::Selector(r) => r.fmt(f),
            Skip::MessageType(t) => write!(f, "netlink message type {t}"),
            Skip::Malformed(m) => write!(f, "malformed: {m}"),
        }
    }
}

/// Every netlink message of a frame's payload, decoded or with the reason it was
/// skipped. A bad `nlmsg_len` ends the frame (its remaining bytes cannot be found).
pub fn decode_frame(payload: &[u8]) -> Vec<Result<Message, Skip>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let rest = &payload[at..];
        if rest.len() < NLMSG_HDRLEN {
            out.push(Err(Skip::Malformed(format!(
                "{} trailing bytes, shorter than a netlink header",
                rest.len()
            ))));
            break;
        }
        let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            out.push(Err(Skip::Malformed(format!(
                "nlmsg_len {len} with {} bytes left in the frame",
                rest.len()
            ))));
            break;
        }
        let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
        out.push(decode_message(kind, &rest[NLMSG_HDRLEN..len]));
        at += (len + 3) & !3;
    }
    out
}

/// One netlink message's body.
pub fn decode_message(kind: u16, body: &[u8]) -> Result<Message, Skip> {
    match kind {
        RTM_NEWROUTE | RTM_DELROUTE => decode_route(kind == RTM_DELROUTE, body),
        RTM_NEWNEXTHOP | RTM_DELNEXTHOP => decode_nexthop(kind == RTM_DELNEXTHOP, body),
        other => Err(Skip::MessageType(other)),
    }
}

fn malformed(what: impl std::fmt::Display) -> Skip {
    Skip::Malformed(what.to_string())
}

fn decode_route(del: bool, body: &[u8]) -> Result<Message, Skip> {
    // The family first: an IPv6 route is skipped as such even if the crate would
    // not parse it.
    let family = *body.first().ok_or_else(|| malformed("empty rtmsg"))?;
    if family != AF_INET {
        return Err(Skip::Family(family));
    }
    let msg = RouteMessage::parse(body).map_err(|e| malformed(format!("rtmsg: {e}")))?;
    let route = decode(&msg).map_err(|e| match e {
        Undecodable::Family(f) => Skip::Family(f),
        Undecodable::Malformed(m) => Skip::Malformed(m),
    })?;
    // Before the delete: a TOS route's delete must not take the prefix's route.
    if let Some(why) = route.selector_refusal() {
        return Err(Skip::Selector(why));
    }
    let (table, prefix) = (route.table, route.prefix);
    if del {
        return Ok(Message::RouteDel { table, prefix });
    }
    // A multipath route with some unusable paths forwards over the others, as a
    // group with unusable members does (`state`).
    let via = match route.forwarding(PartialPaths::UseTheUsable) {
        Ok(Forwarding::Blackhole) => RouteVia::Blackhole,
        Ok(Forwarding::Object(id)) => RouteVia::Object(id),
        Ok(Forwarding::Gateways(g)) => RouteVia::Gateways(g),
        Err(Refusal::RouteType(t)) => return Err(Skip::RouteType(u8::from(t))),
        Err(Refusal::Throw) => return Err(Skip::RouteType(u8::from(RouteType::Throw))),
        Err(Refusal::NoNexthop) => return Err(malformed("unicast route with no nexthop")),
        Err(why) => RouteVia::Refused(why),
    };
    Ok(Message::RouteNew(Route { table, prefix, via }))
}

/// Netlink attributes: (type without flag bits, value).
fn attributes(mut buf: &[u8]) -> Result<Vec<(u16, &[u8])>, Skip> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        if buf.len() < 4 {
            return Err(malformed(format!(
                "{} bytes after the last attribute",
                buf.len()
            )));
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return Err(malformed(format!(
                "attribute {kind} of length {len} with {} bytes left",
                buf.len()
            )));
        }
        out.push((kind, &buf[4..len]));
        buf = &buf[((len + 3) & !3).min(buf.len())..];
    }
    Ok(out)
}

fn u32_of(kind: &str, v: &[u8]) -> Result<u32, Skip> {
    Ok(u32::from_ne_bytes(v.try_into().map_err(|_| {
        malformed(format!("{kind} of {} bytes", v.len()))
    })?))
}

fn decode_nexthop(del: bool, body: &[u8]) -> Result<Message, Skip> {
    if body.len() < NHMSG_LEN {
        return Err(malformed(format!("nhmsg of {} bytes", body.len())));
    }
    let family = body[0];
    let dead = u32::from_ne_bytes(body[4..8].try_into().unwrap()) & RTNH_F_DEAD != 0;
    let mut id = None;
    let mut group = None;
    let mut blackhole = false;
    let mut oif = false;
    let mut gateway = None;
    let mut encap = false;
    for (kind, v) in attributes(&body[NHMSG_LEN..])? {
        match kind {
            NHA_ID => id = Some(u32_of("NHA_ID", v)?),
            NHA_GROUP => {
                if v.len() % 8 != 0 {
                    return Err(malformed(format!("NHA_GROUP of {} bytes", v.len())));
                }
                group = Some(
                    v.chunks_exact(8)
                        .map(|e| u32::from_ne_bytes(e[0..4].try_into().unwrap()))
                        .collect::<Vec<u32>>(),
                );
            }
            NHA_BLACKHOLE => blackhole = true,
            NHA_OIF => oif = true,
            NHA_GATEWAY => gateway = Some(v),
            NHA_ENCAP => encap = true,
            _ => {}
        }
    }
    let id = id.ok_or_else(|| malformed("nexthop without NHA_ID"))?;
    if id == 0 {
        return Err(malformed("nexthop id 0"));
    }
    if del {
        return Ok(Message::NexthopDel { id });
    }
    let nexthop = if let Some(g) = group {
        NexthopObject::Group(g)
    } else if blackhole {
        NexthopObject::Blackhole
    } else if encap {
        NexthopObject::Unusable(Refusal::Encap)
    } else if dead {
        NexthopObject::Unusable(Refusal::AllHopsDead)
    } else if let Some(g) = gateway {
        match (family, g.len()) {
            (AF_INET, 4) => NexthopObject::Gateway(Ipv4Addr::new(g[0], g[1], g[2], g[3])),
            (AF_INET6, 16) => NexthopObject::Unusable(Refusal::Ipv6Gateway),
            (f, n) => return Err(malformed(format!("family {f} gateway of {n} bytes"))),
        }
    } else if oif {
        NexthopObject::Device
    } else {
        return Err(malformed(format!(
            "nexthop {id} with no gateway, device or group"
        )));
    };
    Ok(Message::NexthopNew { id, nexthop })
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
