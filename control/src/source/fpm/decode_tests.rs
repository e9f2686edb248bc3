//! The FPM decoder: messages captured from zebra, built ones of every kind, the
//! refusals shared with the kernel mirror, bad lengths, and bytes of any shape.

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
