//! Netlink messages as zebra sends them over FPM, for the decoder's tests and the
//! fake zebra of the server's tests. Routes are the shared builders' messages
//! ([`crate::source::netlink::build`]) as zebra fills them in (table 254, `proto
//! static` 196, metric 20), serialized by `netlink-packet-route`; nexthop objects,
//! which that crate does not have, are written by hand.

use super::decode::NexthopObject;
use crate::source::netlink::build as rt;
use crate::source::netlink::route::Refusal;
use crate::source::netlink::{
    AF_INET, AF_INET6, AF_UNSPEC, NLMSG_HDRLEN, RTM_DELNEXTHOP, RTM_DELROUTE, RTM_NEWNEXTHOP,
    RTM_NEWROUTE,
};
use netlink_packet_core::Emitable;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteNextHop, RouteProtocol, RouteType,
};
use netlink_packet_route::AddressFamily;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::decode::{NHA_BLACKHOLE, NHA_GATEWAY, NHA_GROUP, NHA_ID, NHA_OIF};

fn attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend(((value.len() + 4) as u16).to_ne_bytes());
    out.extend(kind.to_ne_bytes());
    out.extend(value);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// A netlink message: header (flags REQUEST|REPLACE|CREATE as zebra) and body.
pub fn nlmsg(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(((body.len() + NLMSG_HDRLEN) as u32).to_ne_bytes());
    out.extend(kind.to_ne_bytes());
    out.extend(0x501u16.to_ne_bytes());
    out.extend(0u32.to_ne_bytes());
    out.extend(0u32.to_ne_bytes());
    out.extend(body);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out
}

pub const RTN_UNICAST: u8 = 1;
pub const RTN_BLACKHOLE: u8 = 6;
pub const RTN_UNREACHABLE: u8 = 7;

/// zebra's `proto static`.
const RTPROT_ZEBRA_STATIC: u8 = 196;

/// What a route message carries besides its prefix.
#[derive(Debug, Clone)]
pub enum Via {
    Object(u32),
    Gateway(Ipv4Addr),
    Multipath(Vec<Ipv4Addr>),
    Oif(u32),
    Type(u8),
}

fn body(m: &RouteMessage) -> Vec<u8> {
    let mut b = vec![0u8; m.buffer_len()];
    m.emit(&mut b);
    b
}

/// An IPv4 `RTM_NEWROUTE` / `RTM_DELROUTE` in table 254.
pub fn route(del: bool, prefix: &str, via: &Via) -> Vec<u8> {
    let kind = match via {
        Via::Type(t) => RouteType::from(*t),
        _ => RouteType::Unicast,
    };
    let mut m = rt::route(prefix, rt::MAIN, kind);
    m.header.protocol = RouteProtocol::from(RTPROT_ZEBRA_STATIC);
    // zebra names the table in the header only.
    m.attributes
        .retain(|a| !matches!(a, RouteAttribute::Table(_)));
    m = rt::metric(m, 20);
    if !del {
        match via {
            Via::Object(id) => m.attributes.push(RouteAttribute::NhId(*id)),
            Via::Gateway(g) => m
                .attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(*g))),
            Via::Oif(i) => m.attributes.push(RouteAttribute::Oif(*i)),
            Via::Multipath(gs) => {
                let hops = gs
                    .iter()
                    .map(|g| {
                        let mut h = RouteNextHop::default();
                        h.interface_index = 3;
                        h.attributes
                            .push(RouteAttribute::Gateway(RouteAddress::Inet(*g)));
                        h
                    })
                    .collect();
                m.attributes.push(RouteAttribute::MultiPath(hops));
            }
            Via::Type(_) => {}
        }
    }
    nlmsg(if del { RTM_DELROUTE } else { RTM_NEWROUTE }, &body(&m))
}

/// Any route message, as a new route.
pub fn route_message(m: &RouteMessage) -> Vec<u8> {
    nlmsg(RTM_NEWROUTE, &body(m))
}

/// An IPv6 route (to be skipped).
pub fn route6() -> Vec<u8> {
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet6;
    m.header.destination_prefix_length = 64;
    m.header.table = 254;
    m.header.protocol = RouteProtocol::Kernel;
    m.header.kind = RouteType::Unicast;
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet6(
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        )));
    nlmsg(RTM_NEWROUTE, &body(&m))
}

/// An `RTM_NEWNEXTHOP` body.
pub fn nexthop(id: u32, nh: &NexthopObject) -> Vec<u8> {
    let family = match nh {
        NexthopObject::Group(_) => AF_UNSPEC,
        _ => AF_INET,
    };
    let mut body = vec![family, 0, 11, 0];
    body.extend(0u32.to_ne_bytes());
    attr(&mut body, NHA_ID, &id.to_ne_bytes());
    match nh {
        NexthopObject::Gateway(g) => {
            attr(&mut body, NHA_GATEWAY, &g.octets());
            attr(&mut body, NHA_OIF, &3u32.to_ne_bytes());
        }
        NexthopObject::Blackhole => attr(&mut body, NHA_BLACKHOLE, &[]),
        NexthopObject::Device => attr(&mut body, NHA_OIF, &3u32.to_ne_bytes()),
        NexthopObject::Group(ids) => {
            let mut g = Vec::new();
            for i in ids {
                g.extend(i.to_ne_bytes());
                g.extend([0u8; 4]);
            }
            attr(&mut body, NHA_GROUP, &g);
        }
        NexthopObject::Unusable(Refusal::AllHopsDead) => {
            // rtnh flags RTNH_F_DEAD in nhmsg's flags.
            body[4..8].copy_from_slice(&1u32.to_ne_bytes());
            attr(&mut body, NHA_GATEWAY, &[192, 0, 2, 1]);
            attr(&mut body, NHA_OIF, &3u32.to_ne_bytes());
        }
        NexthopObject::Unusable(_) => {
            body[0] = AF_INET6;
            attr(
                &mut body,
                NHA_GATEWAY,
                &Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1).octets(),
            );
            attr(&mut body, NHA_OIF, &3u32.to_ne_bytes());
        }
    }
    nlmsg(RTM_NEWNEXTHOP, &body)
}

pub fn nexthop_del(id: u32) -> Vec<u8> {
    let mut body = vec![AF_UNSPEC, 0, 11, 0];
    body.extend(0u32.to_ne_bytes());
    attr(&mut body, NHA_ID, &id.to_ne_bytes());
    nlmsg(RTM_DELNEXTHOP, &body)
}
