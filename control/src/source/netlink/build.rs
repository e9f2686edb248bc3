//! `RouteMessage`s as the kernel sends them, for the tests of the decoder and of
//! the kernel mirror. Gateways are 192.0.2.`last`, out of interface 2.

use fib::Ipv4Prefix;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteNextHopFlags,
    RouteProtocol, RouteType,
};
use netlink_packet_route::AddressFamily;
use std::net::Ipv4Addr;

/// The kernel's main table.
pub const MAIN: u32 = 254;

pub fn gw(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, last)
}

/// A route message of `kind` for `prefix` in table `table` (`proto static`), with
/// `RTA_TABLE` and, unless the prefix is /0, `RTA_DST` — no path.
pub fn route(prefix: &str, table: u32, kind: RouteType) -> RouteMessage {
    let p: Ipv4Prefix = prefix.parse().unwrap();
    let mut m = RouteMessage::default();
    m.header = RouteHeader {
        address_family: AddressFamily::Inet,
        destination_prefix_length: p.len(),
        table: u8::try_from(table).unwrap_or(252),
        protocol: RouteProtocol::Static,
        kind,
        ..RouteHeader::default()
    };
    m.attributes.push(RouteAttribute::Table(table));
    if p.len() > 0 {
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(p.network())));
    }
    m
}

/// A unicast route in `main` via 192.0.2.`last` out of interface 2.
pub fn unicast(prefix: &str, last: u8) -> RouteMessage {
    let mut m = route(prefix, MAIN, RouteType::Unicast);
    m.attributes
        .push(RouteAttribute::Gateway(RouteAddress::Inet(gw(last))));
    m.attributes.push(RouteAttribute::Oif(2));
    m
}

/// `m` with metric `priority`.
pub fn metric(mut m: RouteMessage, priority: u32) -> RouteMessage {
    m.attributes.push(RouteAttribute::Priority(priority));
    m
}

/// A unicast route in `main` over `hops` (`RTA_MULTIPATH`).
pub fn multipath(prefix: &str, hops: Vec<RouteNextHop>) -> RouteMessage {
    let mut m = route(prefix, MAIN, RouteType::Unicast);
    m.attributes.push(RouteAttribute::MultiPath(hops));
    m
}

/// A multipath hop out of interface 2, via 192.0.2.`last` (or none).
pub fn hop(last: Option<u8>, dead: bool) -> RouteNextHop {
    let mut h = RouteNextHop::default();
    h.interface_index = 2;
    if dead {
        h.flags = RouteNextHopFlags::Dead;
    }
    if let Some(l) = last {
        h.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gw(l))));
    }
    h
}
