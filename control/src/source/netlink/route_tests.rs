//! The shared decoder: built messages → decoded routes, and each refusal.

use super::super::build::*;
use super::super::AF_INET;
use super::*;
use netlink_packet_core::{Emitable, Parseable};
use netlink_packet_route::route::RouteLwEnCapType;
use proptest::prelude::*;
use std::net::Ipv6Addr;

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

fn one_path(gateway: Gateway, oif: u32) -> Vec<Hop> {
    vec![Hop {
        gateway,
        oif,
        weight: 1,
        dead: false,
    }]
}

/// How `m` forwards under both policies, which must agree.
fn forwarding(m: &RouteMessage) -> Result<Forwarding, Refusal> {
    let r = decode(m).unwrap();
    let strict = r.forwarding(PartialPaths::Refuse);
    assert_eq!(strict, r.forwarding(PartialPaths::UseTheUsable), "{m:?}");
    strict
}

#[test]
fn a_gateway_route_decodes_whole() {
    let r = decode(&metric(unicast("10.0.0.0/8", 1), 20)).unwrap();
    assert_eq!(
        r,
        Route {
            table: MAIN,
            prefix: p("10.0.0.0/8"),
            kind: RouteType::Unicast,
            protocol: RouteProtocol::Static,
            priority: 20,
            tos: 0,
            source_len: 0,
            cloned: false,
            encap: false,
            nexthop_id: None,
            multipath: false,
            hops: one_path(Gateway::V4(gw(1)), 2),
        }
    );
    assert_eq!(r.selector_refusal(), None);
    assert_eq!(
        r.forwarding(PartialPaths::Refuse),
        Ok(Forwarding::Gateways(vec![gw(1)]))
    );
}

#[test]
fn a_default_route_needs_no_destination_and_the_table_attribute_wins() {
    let mut m = route("0.0.0.0/0", 1000, RouteType::BlackHole);
    assert_eq!(
        m.header.table, 252,
        "RT_TABLE_COMPAT: only RTA_TABLE says 1000"
    );
    let r = decode(&m).unwrap();
    assert_eq!((r.table, r.prefix), (1000, p("0.0.0.0/0")));
    assert_eq!(destination_of(&m), None);
    m.attributes
        .retain(|a| !matches!(a, RouteAttribute::Table(_)));
    m.header.table = 100;
    assert_eq!(table_of(&m), 100);
    assert_eq!(decode(&m).unwrap().table, 100);
}

#[test]
fn multipath_hops_keep_their_order_weights_and_dead_flags() {
    let mut weighted = hop(Some(2), false);
    weighted.hops = 2;
    let m = multipath(
        "198.51.100.0/24",
        vec![hop(Some(3), false), weighted, hop(Some(1), true)],
    );
    let r = decode(&m).unwrap();
    assert!(r.multipath);
    let got: Vec<(Gateway, u16, bool)> = r
        .hops
        .iter()
        .map(|h| (h.gateway, h.weight, h.dead))
        .collect();
    assert_eq!(
        got,
        vec![
            (Gateway::V4(gw(3)), 1, false),
            (Gateway::V4(gw(2)), 3, false),
            (Gateway::V4(gw(1)), 1, true),
        ]
    );
    assert_eq!(forwarding(&m), Ok(Forwarding::Gateways(vec![gw(3), gw(2)])));
}

#[test]
fn blackhole_kinds_forward_nowhere_and_other_types_are_refused() {
    for kind in [
        RouteType::BlackHole,
        RouteType::Unreachable,
        RouteType::Prohibit,
    ] {
        assert_eq!(
            forwarding(&route("10.0.0.0/8", MAIN, kind)),
            Ok(Forwarding::Blackhole)
        );
    }
    assert_eq!(
        forwarding(&route("10.0.0.0/8", MAIN, RouteType::Throw)),
        Err(Refusal::Throw)
    );
    for kind in [
        RouteType::Local,
        RouteType::Broadcast,
        RouteType::Multicast,
        RouteType::Nat,
    ] {
        assert_eq!(
            forwarding(&route("10.0.0.0/8", MAIN, kind)),
            Err(Refusal::RouteType(kind))
        );
    }
}

#[test]
fn tos_and_source_specific_routes_match_more_than_their_destination() {
    let mut tos = unicast("10.0.0.0/8", 1);
    tos.header.tos = 0x10;
    assert_eq!(
        decode(&tos).unwrap().selector_refusal(),
        Some(Refusal::Tos(0x10))
    );
    let mut src = unicast("10.0.0.0/8", 1);
    src.header.source_prefix_length = 24;
    assert_eq!(
        decode(&src).unwrap().selector_refusal(),
        Some(Refusal::SourceSpecific)
    );
    // Both still decode: a source may count them, or skip them.
    assert_eq!(Refusal::Tos(0x10).to_string(), "TOS 0x10 route");
}

#[test]
fn each_path_refusal() {
    let mut encap = unicast("10.0.0.0/8", 1);
    encap
        .attributes
        .push(RouteAttribute::EncapType(RouteLwEnCapType::Mpls));
    assert_eq!(forwarding(&encap), Err(Refusal::Encap));

    let mut dead = unicast("10.0.0.0/8", 1);
    dead.header.flags = RouteFlags::Dead;
    assert_eq!(forwarding(&dead), Err(Refusal::AllHopsDead));
    let all_dead = multipath("10.0.0.0/8", vec![hop(Some(1), true), hop(Some(2), true)]);
    assert_eq!(forwarding(&all_dead), Err(Refusal::AllHopsDead));
    assert_eq!(
        forwarding(&multipath("10.0.0.0/8", vec![])),
        Err(Refusal::AllHopsDead)
    );

    let mut v6 = route("10.0.0.0/8", MAIN, RouteType::Unicast);
    v6.attributes
        .push(RouteAttribute::Via(RouteVia::Inet6(Ipv6Addr::LOCALHOST)));
    v6.attributes.push(RouteAttribute::Oif(2));
    assert_eq!(decode(&v6).unwrap().hops, one_path(Gateway::Ipv6, 2));
    assert_eq!(forwarding(&v6), Err(Refusal::Ipv6Gateway));

    let mut dev = route("10.0.0.0/8", MAIN, RouteType::Unicast);
    dev.attributes.push(RouteAttribute::Oif(3));
    assert_eq!(forwarding(&dev), Err(Refusal::NoGateway));
    let nothing = route("10.0.0.0/8", MAIN, RouteType::Unicast);
    assert_eq!(forwarding(&nothing), Err(Refusal::NoNexthop));
}

#[test]
fn a_nexthop_id_without_gateways_is_an_object_with_them_the_gateways() {
    let mut obj = route("10.0.0.0/8", MAIN, RouteType::Unicast);
    obj.attributes.push(RouteAttribute::NhId(9));
    assert_eq!(forwarding(&obj), Ok(Forwarding::Object(9)));
    // nexthop_compat_mode: the kernel sends the object's gateway too.
    let mut compat = unicast("10.0.0.0/8", 1);
    compat.attributes.push(RouteAttribute::NhId(9));
    assert_eq!(forwarding(&compat), Ok(Forwarding::Gateways(vec![gw(1)])));
}

#[test]
fn unusable_paths_among_usable_ones_follow_the_policy() {
    let m = multipath("10.0.0.0/8", vec![hop(Some(1), false), hop(None, false)]);
    let r = decode(&m).unwrap();
    assert_eq!(r.forwarding(PartialPaths::Refuse), Err(Refusal::NoGateway));
    assert_eq!(
        r.forwarding(PartialPaths::UseTheUsable),
        Ok(Forwarding::Gateways(vec![gw(1)]))
    );
    // Nothing usable: the IPv6 gateway is the reason given, under both.
    let mut v6 = hop(None, false);
    v6.attributes
        .push(RouteAttribute::Via(RouteVia::Inet6(Ipv6Addr::LOCALHOST)));
    let m = multipath("10.0.0.0/8", vec![hop(None, false), v6]);
    let r = decode(&m).unwrap();
    assert_eq!(r.forwarding(PartialPaths::Refuse), Err(Refusal::NoGateway));
    assert_eq!(
        r.forwarding(PartialPaths::UseTheUsable),
        Err(Refusal::Ipv6Gateway)
    );
}

#[test]
fn what_does_not_decode() {
    let mut v6 = unicast("10.0.0.0/8", 1);
    v6.header.address_family = AddressFamily::Inet6;
    assert_eq!(decode(&v6), Err(Undecodable::Family(10)));
    let mut no_dst = unicast("10.0.0.0/8", 1);
    no_dst
        .attributes
        .retain(|a| !matches!(a, RouteAttribute::Destination(_)));
    assert!(matches!(decode(&no_dst), Err(Undecodable::Malformed(_))));
    let mut host_bits = unicast("10.0.0.0/8", 1);
    host_bits.header.destination_prefix_length = 4;
    assert!(matches!(decode(&host_bits), Err(Undecodable::Malformed(_))));
    let mut dst6 = route("0.0.0.0/0", MAIN, RouteType::Unicast);
    dst6.attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet6(
            Ipv6Addr::LOCALHOST,
        )));
    assert!(matches!(decode(&dst6), Err(Undecodable::Malformed(_))));
}

#[test]
fn gateways_become_one_target_in_address_order_without_repeats() {
    let via = |l| RouteTarget::Via {
        gateway: gw(l),
        port: None,
    };
    assert_eq!(gateways_target(vec![gw(2), gw(2)]), via(2));
    assert_eq!(
        gateways_target(vec![gw(9), gw(1), gw(9)]),
        RouteTarget::Multipath(vec![via(1), via(9)])
    );
}

/// A message through the wire format and back decodes the same.
#[test]
fn messages_round_trip_through_their_bytes() {
    for m in [
        metric(unicast("10.0.0.0/8", 1), 7),
        multipath("10.1.0.0/16", vec![hop(Some(1), false), hop(Some(2), true)]),
        route("0.0.0.0/0", 1000, RouteType::Unreachable),
    ] {
        let mut buf = vec![0u8; m.buffer_len()];
        m.emit(&mut buf);
        let back = RouteMessage::parse(&buf[..]).unwrap();
        assert_eq!(decode(&back), decode(&m));
    }
}

proptest! {
    /// Whatever the crate parses from arbitrary bytes decodes and classifies
    /// without panicking.
    #[test]
    fn arbitrary_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 12..300)) {
        let mut bytes = bytes;
        bytes[0] = AF_INET;
        if let Ok(m) = RouteMessage::parse(&bytes[..]) {
            if let Ok(r) = decode(&m) {
                let _ = r.selector_refusal();
                let _ = r.forwarding(PartialPaths::Refuse);
                let _ = r.forwarding(PartialPaths::UseTheUsable);
            }
        }
    }
}
