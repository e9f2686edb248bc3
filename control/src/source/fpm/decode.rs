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
mod tests {
    use super::super::build::*;
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Ipv4Prefix {
        s.parse().unwrap()
    }

    fn one(bytes: &[u8]) -> Result<Message, Skip> {
        let mut v = decode_frame(bytes);
        assert_eq!(v.len(), 1, "{v:?}");
        v.pop().unwrap()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Bodies captured from zebra 8.4 (`dplane_fpm_nl`, x86-64) with the headers
    /// rebuilt around them.
    #[test]
    fn messages_captured_from_zebra() {
        // Nexthop 8: via 192.0.2.1 dev ifindex 3.
        let m = one(&nlmsg(
            RTM_NEWNEXTHOP,
            &hex("02000b0000000000080001000800000008000600c00002010800050003000000"),
        ));
        assert_eq!(
            m,
            Ok(Message::NexthopNew {
                id: 8,
                nexthop: NexthopObject::Gateway(Ipv4Addr::new(192, 0, 2, 1))
            })
        );
        // Group 9 of 8 and 10.
        let m = one(&nlmsg(
            RTM_NEWNEXTHOP,
            &hex("00000b000000000008000100090000001400020008000000000000000a00000000000000"),
        ));
        assert_eq!(
            m,
            Ok(Message::NexthopNew {
                id: 9,
                nexthop: NexthopObject::Group(vec![8, 10])
            })
        );
        // Blackhole nexthop 2.
        let m = one(&nlmsg(
            RTM_NEWNEXTHOP,
            &hex("02000b0000000000080001000200000004000400"),
        ));
        assert_eq!(
            m,
            Ok(Message::NexthopNew {
                id: 2,
                nexthop: NexthopObject::Blackhole
            })
        );
        // Connected 192.0.2.0/24: nexthop 4 is ifindex 3 alone.
        let m = one(&nlmsg(
            RTM_NEWNEXTHOP,
            &hex("02000b000000000008000100040000000800050003000000"),
        ));
        assert_eq!(
            m,
            Ok(Message::NexthopNew {
                id: 4,
                nexthop: NexthopObject::Device
            })
        );
        // 10.1.0.0/16 nhid 9.
        let m = one(&nlmsg(
            RTM_NEWROUTE,
            &hex("02100000fec4000100000000080001000a010000080006001400000008001e0009000000"),
        ));
        assert_eq!(
            m,
            Ok(Message::RouteNew(Route {
                table: 254,
                prefix: p("10.1.0.0/16"),
                via: RouteVia::Object(9)
            }))
        );
        // blackhole 10.9.0.0/16 (no nexthop id).
        let m = one(&nlmsg(
            RTM_NEWROUTE,
            &hex("02100000fec4000600000000080001000a0900000800060014000000"),
        ));
        assert_eq!(
            m,
            Ok(Message::RouteNew(Route {
                table: 254,
                prefix: p("10.9.0.0/16"),
                via: RouteVia::Blackhole
            }))
        );
        // The delete half of an update.
        let m = one(&nlmsg(
            RTM_DELROUTE,
            &hex("02080000fec4000000000000080001000a0000000800060014000000"),
        ));
        assert_eq!(
            m,
            Ok(Message::RouteDel {
                table: 254,
                prefix: p("10.0.0.0/8")
            })
        );
        // fe80::/64: IPv6, skipped.
        let m = one(&nlmsg(
            RTM_NEWROUTE,
            &hex("0a400000fe0200010000000014000100fe800000000000000000000000000000080006001400000008001e000c000000"),
        ));
        assert_eq!(m, Err(Skip::Family(AF_INET6)));
    }

    #[test]
    fn built_routes_decode() {
        let g1 = Ipv4Addr::new(192, 0, 2, 1);
        let g2 = Ipv4Addr::new(192, 0, 2, 2);
        let cases = [
            (Via::Object(7), RouteVia::Object(7)),
            (Via::Gateway(g1), RouteVia::Gateways(vec![g1])),
            (
                Via::Multipath(vec![g1, g2]),
                RouteVia::Gateways(vec![g1, g2]),
            ),
            (Via::Oif(3), RouteVia::Refused(Refusal::NoGateway)),
            (Via::Type(RTN_BLACKHOLE), RouteVia::Blackhole),
            (Via::Type(RTN_UNREACHABLE), RouteVia::Blackhole),
        ];
        for (via, want) in cases {
            assert_eq!(
                one(&route(false, "0.0.0.0/0", &via)),
                Ok(Message::RouteNew(Route {
                    table: 254,
                    prefix: p("0.0.0.0/0"),
                    via: want
                })),
                "{via:?}"
            );
        }
        assert_eq!(
            one(&route(false, "10.0.0.0/8", &Via::Type(2))),
            Err(Skip::RouteType(2))
        );
        assert_eq!(one(&route6()), Err(Skip::Family(AF_INET6)));
        assert_eq!(one(&nexthop_del(5)), Ok(Message::NexthopDel { id: 5 }));
        assert_eq!(
            one(&nexthop(5, &NexthopObject::Unusable(Refusal::Ipv6Gateway))),
            Ok(Message::NexthopNew {
                id: 5,
                nexthop: NexthopObject::Unusable(Refusal::Ipv6Gateway)
            })
        );
        assert_eq!(one(&nlmsg(16, &[0; 16])), Err(Skip::MessageType(16)));
    }

    /// What the shared decoder refuses, FPM refuses too (before it, a TOS route
    /// or an encapsulated one was installed as a plain route, and dead hops used).
    #[test]
    fn refusals_shared_with_the_kernel_mirror() {
        use crate::source::netlink::build as rt;
        use netlink_packet_route::route::{RouteAttribute, RouteLwEnCapType};
        let new = |via| {
            Ok(Message::RouteNew(Route {
                table: 254,
                prefix: p("10.0.0.0/8"),
                via,
            }))
        };
        let mut tos = rt::unicast("10.0.0.0/8", 1);
        tos.header.tos = 0x10;
        assert_eq!(
            one(&route_message(&tos)),
            Err(Skip::Selector(Refusal::Tos(0x10)))
        );
        let mut tos_del = route_message(&tos);
        tos_del[4..6].copy_from_slice(&RTM_DELROUTE.to_ne_bytes());
        assert_eq!(one(&tos_del), Err(Skip::Selector(Refusal::Tos(0x10))));
        let mut encap = rt::unicast("10.0.0.0/8", 1);
        encap
            .attributes
            .push(RouteAttribute::EncapType(RouteLwEnCapType::Mpls));
        assert_eq!(
            one(&route_message(&encap)),
            new(RouteVia::Refused(Refusal::Encap))
        );
        let some_dead = rt::multipath(
            "10.0.0.0/8",
            vec![rt::hop(Some(1), true), rt::hop(Some(2), false)],
        );
        assert_eq!(
            one(&route_message(&some_dead)),
            new(RouteVia::Gateways(vec![rt::gw(2)]))
        );
        let all_dead = rt::multipath("10.0.0.0/8", vec![rt::hop(Some(1), true)]);
        assert_eq!(
            one(&route_message(&all_dead)),
            new(RouteVia::Refused(Refusal::AllHopsDead))
        );
        // Unlike the kernel mirror, a dev-only path among gateways leaves the rest.
        let partial = rt::multipath(
            "10.0.0.0/8",
            vec![rt::hop(None, false), rt::hop(Some(3), false)],
        );
        assert_eq!(
            one(&route_message(&partial)),
            new(RouteVia::Gateways(vec![rt::gw(3)]))
        );
        assert_eq!(
            one(&nexthop(5, &NexthopObject::Unusable(Refusal::AllHopsDead))),
            Ok(Message::NexthopNew {
                id: 5,
                nexthop: NexthopObject::Unusable(Refusal::AllHopsDead)
            })
        );
    }

    #[test]
    fn several_messages_per_frame_and_bad_lengths() {
        let mut f = route(true, "10.0.0.0/8", &Via::Object(1));
        f.extend(route(false, "10.0.0.0/8", &Via::Object(2)));
        let v = decode_frame(&f);
        assert_eq!(v.len(), 2);
        assert!(matches!(v[0], Ok(Message::RouteDel { .. })));
        assert!(matches!(v[1], Ok(Message::RouteNew(_))));

        // nlmsg_len past the frame's end, below the header, trailing bytes.
        let mut bad = route(false, "10.0.0.0/8", &Via::Object(1));
        bad[0] = 200;
        assert!(matches!(one(&bad), Err(Skip::Malformed(_))));
        bad[0..4].copy_from_slice(&4u32.to_ne_bytes());
        assert!(matches!(one(&bad), Err(Skip::Malformed(_))));
        let mut tail = route(false, "10.0.0.0/8", &Via::Object(1));
        tail.extend([0u8; 5]);
        let v = decode_frame(&tail);
        assert_eq!(v.len(), 2);
        assert!(v[0].is_ok() && matches!(v[1], Err(Skip::Malformed(_))));
        // A nexthop without an id; a group of a bad length; host bits in a prefix.
        let mut body = vec![AF_INET, 0, 11, 0, 0, 0, 0, 0];
        body.extend([4u8, 0, 4, 0]);
        assert!(matches!(
            one(&nlmsg(RTM_NEWNEXTHOP, &body)),
            Err(Skip::Malformed(_))
        ));
        let mut g = nexthop(3, &NexthopObject::Group(vec![1]));
        let n = g.len();
        g[n - 12] = 11; // NHA_GROUP length 11 (header 4 + 7)
        assert!(matches!(one(&g), Err(Skip::Malformed(_))));
        let mut host = route(false, "10.0.0.0/8", &Via::Object(1));
        host[NLMSG_HDRLEN + 12 + 4 + 3] = 1; // 10.0.0.1/8
        assert!(matches!(one(&host), Err(Skip::Malformed(_))));
    }

    proptest! {
        /// Arbitrary bytes, as a frame or as any message type's body, never panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                       kind in prop_oneof![Just(24u16), Just(25), Just(104), Just(105), any::<u16>()]) {
            let _ = decode_frame(&bytes);
            let _ = decode_message(kind, &bytes);
            let mut framed = nlmsg(kind, &bytes);
            let _ = decode_frame(&framed);
            // Corrupt valid messages byte by byte.
            if !bytes.is_empty() {
                let i = bytes[0] as usize % framed.len();
                framed[i] ^= bytes[bytes.len() - 1];
                let _ = decode_frame(&framed);
            }
        }

        /// Valid messages with random mutations never panic either.
        #[test]
        fn mutated_messages_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
            let g = Ipv4Addr::new(192, 0, 2, 1);
            for mut m in [
                route(false, "10.0.0.0/8", &Via::Multipath(vec![g, g])),
                route(false, "10.0.0.0/8", &Via::Object(4)),
                nexthop(9, &NexthopObject::Group(vec![1, 2, 3])),
                nexthop(9, &NexthopObject::Gateway(g)),
            ] {
                for (i, x) in &flips {
                    let n = m.len();
                    m[i % n] ^= x;
                }
                let _ = decode_frame(&m);
            }
        }

        /// Routes round-trip through the builders for any prefix and gateways.
        #[test]
        fn routes_round_trip(addr in any::<u32>(), len in 0u8..=32,
                             gws in proptest::collection::vec(any::<u32>(), 1..5)) {
            let pfx = Ipv4Prefix::truncate(addr, len).unwrap();
            let gws: Vec<Ipv4Addr> = gws.into_iter().map(Ipv4Addr::from).collect();
            let via = if gws.len() == 1 { Via::Gateway(gws[0]) } else { Via::Multipath(gws.clone()) };
            prop_assert_eq!(
                one(&route(false, &pfx.to_string(), &via)),
                Ok(Message::RouteNew(Route { table: 254, prefix: pfx, via: RouteVia::Gateways(gws) }))
            );
        }
    }
}
