//! The control protocol's codec: every byte string decodes to a request or a clear
//! error (never a panic), and every request and response round-trips.

use control::proto::*;
use dataplane::wire::ethernet::EthernetAddress;
use fib::{Ipv4Prefix, Protocol};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

fn line(id: u64, r: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request(id, r, &mut out);
    out
}

fn decode_err(s: &str) -> DecodeError {
    decode_request(s.as_bytes()).expect_err(s)
}

#[test]
fn wire_form_is_documented_form() {
    let req = Request::RouteAdd(RouteSpec {
        table: main_table(),
        prefix: "10.0.0.0/8".parse().unwrap(),
        target: RouteTarget::Via {
            gateway: Ipv4Addr::new(192, 0, 2, 1),
            port: Some(PortRef::Name("p0".into())),
        },
        protocol: Protocol::Static,
        distance: None,
    });
    assert_eq!(
        String::from_utf8(line(7, &req)).unwrap(),
        "{\"v\":1,\"id\":7,\"request\":{\"route_add\":{\"prefix\":\"10.0.0.0/8\",\"target\":{\"via\":{\"gateway\":\"192.0.2.1\",\"port\":\"p0\"}}}}}\n"
    );
    assert_eq!(
        String::from_utf8(line(8, &Request::FibStatus)).unwrap(),
        "{\"v\":1,\"id\":8,\"request\":\"fib_status\"}\n"
    );
    let mut out = Vec::new();
    encode_response(
        Some(7),
        &Ok(Reply::RouteChanged(RouteChanged { seq: Some(42) })),
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"v\":1,\"id\":7,\"ok\":{\"route_changed\":{\"seq\":42}}}\n"
    );
    let mut out = Vec::new();
    encode_response(
        None,
        &Err(ErrorReply::new(ErrorKind::Malformed, "x")),
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"v\":1,\"id\":null,\"error\":{\"kind\":\"malformed\",\"message\":\"x\"}}\n"
    );
}

#[test]
fn defaults_apply_when_fields_are_omitted() {
    let (id, req) =
        decode_request(br#"{"v":1,"id":3,"request":{"route_del":{"prefix":"10.0.0.0/8"}}}"#)
            .unwrap();
    assert_eq!(id, 3);
    assert_eq!(
        req,
        Request::RouteDel(RouteDel {
            table: 254,
            prefix: "10.0.0.0/8".parse().unwrap(),
            protocol: Protocol::Static
        })
    );
    let (_, req) = decode_request(
        br#"{"v":1,"id":4,"request":{"route_load":{"protocol":"kernel","routes":[{"prefix":"1.0.0.0/24","target":{"nexthop":3}},{"prefix":"2.0.0.0/8","target":"blackhole"}]}}}"#,
    )
    .unwrap();
    let Request::RouteLoad(batch) = req else {
        panic!("{req:?}")
    };
    assert!(batch.replace);
    assert_eq!(batch.protocol, Protocol::Kernel);
    assert_eq!(batch.routes[0].target, RouteTarget::Nexthop(3));
    assert_eq!(batch.routes[1].target, RouteTarget::Blackhole);
}

#[test]
fn every_kind_of_bad_line_gets_a_clear_error() {
    let e = decode_err("hello\n");
    assert_eq!(e.error.kind, ErrorKind::Malformed);
    assert!(e.fatal);
    assert!(e.error.message.contains("malformed message"), "{e:?}");

    let e = decode_err(r#"{"v":2,"id":5,"request":"fib_status"}"#);
    assert_eq!(e.error.kind, ErrorKind::UnsupportedVersion);
    assert_eq!(e.id, Some(5));
    assert!(e.error.message.contains("unsupported protocol version 2"));

    // A future version's unknown request is refused for its version, not its body.
    let e = decode_err(r#"{"v":9,"id":5,"request":{"teleport":{}}}"#);
    assert_eq!(e.error.kind, ErrorKind::UnsupportedVersion);

    let e = decode_err(r#"{"id":5,"request":"fib_status"}"#);
    assert_eq!(e.error.kind, ErrorKind::Malformed);
    assert!(e.error.message.contains("missing \"v\""));

    let e = decode_err(r#"{"v":1,"request":"fib_status"}"#);
    assert!(e.error.message.contains("missing \"id\""));

    let e = decode_err(r#"{"v":1,"id":6}"#);
    assert_eq!(e.id, Some(6));
    assert!(e.error.message.contains("missing \"request\""));

    let e = decode_err(r#"{"v":1,"id":6,"request":"teleport"}"#);
    assert_eq!(e.error.kind, ErrorKind::UnknownRequest);
    assert!(!e.fatal);
    assert!(e.error.message.contains("teleport"), "{e:?}");

    let e = decode_err(r#"{"v":1,"id":6,"request":{"route_del":{"prefix":"10.1.0.0/8"}}}"#);
    assert_eq!(e.error.kind, ErrorKind::InvalidArgument);
    assert!(e.error.message.contains("host bits are set"), "{e:?}");

    let e = decode_err(
        r#"{"v":1,"id":6,"request":{"route_del":{"prefix":"10.0.0.0/8","protocol":"bgp"}}}"#,
    );
    assert!(e.error.message.contains("unknown protocol"), "{e:?}");

    let e =
        decode_err(r#"{"v":1,"id":6,"request":{"route_del":{"prefix":"10.0.0.0/8","tabel":3}}}"#);
    assert!(e.error.message.contains("unknown field `tabel`"), "{e:?}");

    let e = decode_err(
        r#"{"v":1,"id":6,"request":{"neigh_add":{"addr":"192.0.2.9","port":"p0","mac":"02:00"}}}"#,
    );
    assert!(e.error.message.contains("invalid MAC address"), "{e:?}");

    let e = decode_err(r#"{"v":1,"id":-1,"request":"stats"}"#);
    assert_eq!(e.error.kind, ErrorKind::Malformed);
}

#[test]
fn responses_round_trip() {
    let replies = vec![
        Ok(Reply::Done),
        Ok(Reply::Hello(HelloReply {
            protocol: 1,
            daemon: "fibred 0.1.0".into(),
        })),
        Ok(Reply::Routes(RouteList {
            routes: vec![RouteInfo {
                table: 254,
                prefix: "10.0.0.0/8".parse().unwrap(),
                protocol: Protocol::Frr,
                distance: 20,
                nexthop: 3,
                via: "via 192.0.2.1 dev p0".into(),
                installed: true,
            }],
            total: 1,
        })),
        Ok(Reply::RouteLookup(RouteLookup {
            addr: Ipv4Addr::new(10, 1, 2, 3),
            table: 254,
            core: Some(1),
            prefix: None,
            nexthop: Some(NexthopInfo {
                id: 3,
                kind: "gateway".into(),
                gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
                port: Some("p0".into()),
                mac: Some("02:00:00:00:00:09".parse().unwrap()),
                refs: 0,
            }),
            seq: 99,
        })),
        Ok(Reply::BatchApplied(BatchApplied {
            applied: 9_999,
            failed: 1,
            errors: vec![BatchError {
                index: 17,
                message: "nexthop 9 does not exist".into(),
            }],
            seq: 10_000,
        })),
        Ok(Reply::Cores(vec![CoreInfo {
            id: 0,
            name: "core0".into(),
            cpu: Some(1),
            state: "live".into(),
            applied_seq: 5,
            lag: 0,
            in_sync: true,
            rx_packets: 10,
            forwarded: 9,
            forwarded_pps: 1_000_000,
            drops: BTreeMap::from([("ttl_exceeded".to_string(), 1)]),
            punts: BTreeMap::new(),
            busy_cycles: 900,
            idle_cycles: 100,
            busy_permille: 900,
            cycles_per_packet: 90,
        }])),
        Ok(Reply::Stats(StatsReply::default())),
        Ok(Reply::Metrics(Box::default())),
        Ok(Reply::Event(control::monitor::MonitorEvent {
            seq: 12,
            event: control::monitor::Event::Neigh {
                port: "p1".into(),
                addr: "198.51.100.9".parse().unwrap(),
                from: "none".into(),
                to: "permanent".into(),
                mac: Some("02:00:00:00:00:09".into()),
            },
        })),
        Ok(Reply::Event(control::monitor::MonitorEvent {
            seq: 13,
            event: control::monitor::Event::Lost { events: 7 },
        })),
        Err(ErrorReply::new(
            ErrorKind::InUse,
            "nexthop 3 is in use by 2 route(s)",
        )),
    ];
    for (i, r) in replies.into_iter().enumerate() {
        let mut out = Vec::new();
        encode_response(Some(i as u64), &r, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(
            out.iter().filter(|&&b| b == b'\n').count(),
            1,
            "one line per message"
        );
        let (id, back) = decode_response(&out).unwrap();
        assert_eq!(id, Some(i as u64));
        assert_eq!(back, r);
    }
}

#[test]
fn unknown_error_kinds_and_extra_fields_are_tolerated_by_clients() {
    let (_, r) = decode_response(
        br#"{"v":1,"id":1,"error":{"kind":"quantum_flux","message":"m"},"extra":1}"#,
    )
    .unwrap();
    assert_eq!(r, Err(ErrorReply::new(ErrorKind::Other, "m")));
    assert!(decode_response(br#"{"v":1,"id":1}"#).is_err());
    assert!(matches!(
        decode_response(br#"{"v":3,"id":1,"ok":"done"}"#),
        Err(ResponseDecodeError::Version(3))
    ));
}

#[test]
fn fib_errors_map_to_kinds() {
    let e = ErrorReply::from(fib::FibError::UnknownNexthop(fib::NexthopId(4)));
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.message, "nexthop 4 does not exist");
    let e = ErrorReply::from(fib::FibError::NexthopInUse {
        id: fib::NexthopId(4),
        routes: 2,
    });
    assert_eq!(e.kind, ErrorKind::InUse);
}

#[test]
fn route_filter_matches() {
    let f = RouteFilter {
        table: Some(254),
        protocol: Some(Protocol::Static),
        prefix: Some("10.0.0.0/8".parse().unwrap()),
        limit: None,
    };
    let p = |s: &str| s.parse::<Ipv4Prefix>().unwrap();
    assert!(f.matches(254, &p("10.1.0.0/16"), Protocol::Static));
    assert!(f.matches(254, &p("10.0.0.0/8"), Protocol::Static));
    assert!(!f.matches(254, &p("0.0.0.0/0"), Protocol::Static));
    assert!(!f.matches(1, &p("10.1.0.0/16"), Protocol::Static));
    assert!(!f.matches(254, &p("10.1.0.0/16"), Protocol::Kernel));
    assert!(RouteFilter::default().matches(7, &p("0.0.0.0/0"), Protocol::Frr));
}

fn arb_prefix() -> impl Strategy<Value = Ipv4Prefix> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Ipv4Prefix::truncate(a, l).unwrap())
}

fn arb_port() -> impl Strategy<Value = PortRef> {
    prop_oneof![
        any::<u16>().prop_map(PortRef::Index),
        "[a-z][a-z0-9_]{0,7}".prop_map(PortRef::Name),
    ]
}

fn arb_target() -> impl Strategy<Value = RouteTarget> {
    prop_oneof![
        (any::<u32>(), proptest::option::of(arb_port())).prop_map(|(g, port)| RouteTarget::Via {
            gateway: Ipv4Addr::from(g),
            port
        }),
        arb_port().prop_map(RouteTarget::Dev),
        any::<u32>().prop_map(RouteTarget::Nexthop),
        Just(RouteTarget::Blackhole),
    ]
}

fn arb_protocol() -> impl Strategy<Value = Protocol> {
    proptest::sample::select(Protocol::ALL.to_vec())
}

fn arb_request() -> impl Strategy<Value = Request> {
    let spec = || {
        (
            any::<u32>(),
            arb_prefix(),
            arb_target(),
            arb_protocol(),
            proptest::option::of(any::<u8>()),
        )
            .prop_map(|(table, prefix, target, protocol, distance)| RouteSpec {
                table,
                prefix,
                target,
                protocol,
                distance,
            })
    };
    prop_oneof![
        spec().prop_map(Request::RouteAdd),
        spec().prop_map(Request::RouteReplace),
        (any::<u32>(), arb_prefix(), arb_protocol()).prop_map(|(table, prefix, protocol)| {
            Request::RouteDel(RouteDel {
                table,
                prefix,
                protocol,
            })
        }),
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(arb_protocol()),
            proptest::option::of(arb_prefix()),
            proptest::option::of(any::<usize>())
        )
            .prop_map(
                |(table, protocol, prefix, limit)| Request::RouteShow(RouteFilter {
                    table,
                    protocol,
                    prefix,
                    limit
                })
            ),
        (
            any::<u32>(),
            any::<u32>(),
            proptest::option::of(any::<u32>())
        )
            .prop_map(|(a, table, core)| Request::RouteGet(RouteGet {
                addr: Ipv4Addr::from(a),
                table,
                core
            })),
        (
            any::<u32>(),
            arb_protocol(),
            any::<bool>(),
            proptest::collection::vec((arb_prefix(), arb_target()), 0..20)
        )
            .prop_map(|(table, protocol, replace, routes)| Request::RouteLoad(
                RouteBatch {
                    table,
                    protocol,
                    distance: None,
                    replace,
                    routes: routes
                        .into_iter()
                        .map(|(prefix, target)| BatchRoute { prefix, target })
                        .collect()
                }
            )),
        (
            any::<u32>(),
            arb_port(),
            proptest::option::of(any::<[u8; 6]>())
        )
            .prop_map(|(a, port, mac)| Request::NeighAdd(NeighSpec {
                addr: Ipv4Addr::from(a),
                port,
                mac: mac.map(EthernetAddress)
            })),
        (any::<u32>(), 1u8..=32, arb_port()).prop_map(|(a, len, port)| Request::AddrAdd(
            AddrSpec {
                addr: InterfaceAddr {
                    addr: Ipv4Addr::from(a),
                    len
                },
                port
            }
        )),
        any::<u32>().prop_map(|id| Request::NexthopDel(NexthopDel { id })),
        any::<u32>().prop_map(|id| Request::CoreDel(CoreDel { id })),
        proptest::option::of(any::<usize>()).prop_map(|cpu| Request::CoreAdd(CoreAdd { cpu })),
        proptest::option::of(arb_port()).prop_map(|port| Request::LinkShow(PortFilter { port })),
        Just(Request::Hello),
        Just(Request::NexthopShow),
        Just(Request::CoreShow),
        Just(Request::FibStatus),
        Just(Request::Stats),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_request(&bytes);
        let _ = decode_response(&bytes);
    }

    #[test]
    fn requests_round_trip(id: u64, req in arb_request()) {
        let l = line(id, &req);
        prop_assert_eq!(l.iter().filter(|&&b| b == b'\n').count(), 1);
        let (back_id, back) = decode_request(&l).unwrap();
        prop_assert_eq!(back_id, id);
        prop_assert_eq!(back, req);
    }

    /// Valid lines with one byte changed, dropped or duplicated: an answer, never a panic.
    #[test]
    fn mutated_requests_never_panic(req in arb_request(), pos: usize, byte: u8, op in 0u8..3) {
        let mut l = line(1, &req);
        let i = pos % l.len();
        match op {
            0 => l[i] = byte,
            1 => { l.remove(i); }
            _ => l.insert(i, byte),
        }
        match decode_request(&l) {
            Ok(_) => {}
            Err(e) => prop_assert!(!e.error.message.is_empty()),
        }
    }
}
