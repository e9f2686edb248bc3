//! The whole daemon in this process: a `Router` on the software backend
//! (`control::daemon::soft`), driven by the same requests `fibrectl` sends, with
//! real forwarding cores on threads and frames sent and read on the software
//! links' far ends. No DPDK, no root: plain `cargo test -p control`.
//!
//! Every check reads what came out of a wire byte by byte (through the wire
//! module's parsers, which verify checksums), or the router's own replies.

use control::config::Config;
use control::daemon::journal::{Journal, JournalWriter};
use control::daemon::soft::SoftBackend;
use control::daemon::{startup, PortMeta, Router};
use control::proto::*;
use dataplane::port::soft::SoftPacket;
use dataplane::port::{Burst, Packet, Port};
use dataplane::wire::arp::{Operation, Packet as ArpPacket, Repr as ArpRepr, PACKET_LEN};
use dataplane::wire::ethernet::{EtherType, EthernetAddress, Frame, Repr as EthRepr};
use dataplane::wire::icmpv4::{Packet as IcmpPacket, Repr as IcmpRepr};
use dataplane::wire::ipv4::{Packet as Ipv4Packet, Protocol as IpProtocol, Repr as Ipv4Repr};
use fib::{Ipv4Prefix, Protocol, TableId};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const P0_MAC: EthernetAddress = EthernetAddress([0x02, 0xf1, 0, 0, 0, 0]);
const P1_MAC: EthernetAddress = EthernetAddress([0x02, 0xf1, 0, 0, 0, 1]);
const HOST_MAC: EthernetAddress = EthernetAddress([0x02, 0xaa, 0, 0, 0, 1]);
const GW_MAC: EthernetAddress = EthernetAddress([0x02, 0xbb, 0, 0, 0, 2]);
const GW2_MAC: EthernetAddress = EthernetAddress([0x02, 0xbb, 0, 0, 0, 3]);
const P0_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const P1_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const HOST_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const GW_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const GW2_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 3);

type SoftRouter = Router<SoftBackend>;

fn metas() -> Vec<PortMeta> {
    [("p0", P0_MAC), ("p1", P1_MAC)]
        .into_iter()
        .map(|(name, mac)| PortMeta {
            name: name.into(),
            mac,
            mtu: 1500,
            table: TableId::MAIN,
        })
        .collect()
}

/// Two ports with an address each, no cores.
fn router() -> SoftRouter {
    let mut r = Router::new(
        fib::Fib::new(fib::FibConfig::default()),
        SoftBackend::new(2),
        metas(),
        4096,
    );
    ok(&mut r, addr_add("192.0.2.1/24", "p0"));
    ok(&mut r, addr_add("198.51.100.1/24", "p1"));
    r
}

fn addr_add(addr: &str, port: &str) -> Request {
    Request::AddrAdd(AddrSpec {
        addr: addr.parse().unwrap(),
        port: port.parse().unwrap(),
    })
}

fn prefix(p: &str) -> Ipv4Prefix {
    p.parse().unwrap()
}

fn route_via(p: &str, gateway: Ipv4Addr) -> Request {
    Request::RouteAdd(RouteSpec {
        table: TableId::MAIN.0,
        prefix: prefix(p),
        target: RouteTarget::Via {
            gateway,
            port: None,
        },
        protocol: Protocol::Static,
        distance: None,
    })
}

/// `route load` of static routes into main (replacing), as fibrectl sends it.
fn load(r: &mut SoftRouter, routes: Vec<BatchRoute>) -> BatchApplied {
    let batch = Request::RouteLoad(RouteBatch {
        table: TableId::MAIN.0,
        protocol: Protocol::Static,
        distance: None,
        replace: true,
        routes,
    });
    match ok(r, batch) {
        Reply::BatchApplied(b) => b,
        other => panic!("{other:?}"),
    }
}

fn neigh(addr: Ipv4Addr, mac: EthernetAddress) -> Request {
    Request::NeighAdd(NeighSpec {
        addr,
        port: PortRef::Name("p1".into()),
        mac: Some(mac),
    })
}

fn ok(r: &mut SoftRouter, req: Request) -> Reply {
    let name = req.name();
    r.handle(req)
        .unwrap_or_else(|e| panic!("{name} refused: {}", e.message))
}

/// Turns the control loop until `done` holds (or fails after 10 s).
fn turn_until(r: &mut SoftRouter, what: &str, mut done: impl FnMut(&mut SoftRouter) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(r) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        r.turn(Instant::now(), 64);
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn fib_status(r: &mut SoftRouter) -> FibStatus {
    match ok(r, Request::FibStatus) {
        Reply::FibStatus(s) => s,
        other => panic!("{other:?}"),
    }
}

/// Adds a core and waits until every listener holds the FIB's whole table.
fn add_core_in_step(r: &mut SoftRouter) -> u32 {
    let Reply::CoreAdded(c) = ok(r, Request::CoreAdd(CoreAdd::default())) else {
        panic!("no core_added");
    };
    wait_in_step(r);
    c.id
}

fn wait_in_step(r: &mut SoftRouter) {
    turn_until(r, "every core in step with the FIB", |r| {
        replayed(&fib_status(r))
    });
}

/// Every core serves a whole table at the FIB's seq, and has applied every event
/// sent to it (a resync's replay included: until it ends, the old table serves).
fn replayed(s: &FibStatus) -> bool {
    s.all_in_step()
        && s.listeners
            .iter()
            .all(|l| l.replay_progress.is_none() && l.ring_len == 0 && l.backlog == 0)
}

/// An IPv4/UDP frame from a host behind p0 to `dst`, addressed to p0.
fn udp_frame(dst: Ipv4Addr, ttl: u8, ident: u16) -> Vec<u8> {
    let e = EthRepr {
        src_addr: HOST_MAC,
        dst_addr: P0_MAC,
        vlan: None,
        ethertype: EtherType::IPV4,
    };
    let mut ip = Ipv4Repr::new(HOST_IP, dst, IpProtocol::UDP, 26, ttl);
    ip.ident = ident;
    let mut f = vec![0u8; e.header_len() + ip.buffer_len()];
    let l3 = e.emit(&mut f).unwrap();
    let ihl = ip.emit(&mut f[l3..]).unwrap();
    for (i, b) in f[l3 + ihl..].iter_mut().enumerate() {
        *b = i as u8;
    }
    f
}

fn echo_request(dst: Ipv4Addr) -> Vec<u8> {
    let icmp = IcmpRepr::EchoRequest {
        ident: 7,
        seq_no: 1,
        data: b"fibre",
    };
    let e = EthRepr {
        src_addr: HOST_MAC,
        dst_addr: P0_MAC,
        vlan: None,
        ethertype: EtherType::IPV4,
    };
    let ip = Ipv4Repr::new(HOST_IP, dst, IpProtocol::ICMP, icmp.buffer_len(), 64);
    let mut f = vec![0u8; e.header_len() + ip.buffer_len()];
    let l3 = e.emit(&mut f).unwrap();
    let ihl = ip.emit(&mut f[l3..]).unwrap();
    icmp.emit(&mut f[l3 + ihl..]).unwrap();
    f
}

/// An ARP reply from `addr`/`mac` to port p1.
fn arp_reply(addr: Ipv4Addr, mac: EthernetAddress) -> Vec<u8> {
    let mut f = vec![0u8; 14 + PACKET_LEN];
    EthRepr {
        src_addr: mac,
        dst_addr: P1_MAC,
        vlan: None,
        ethertype: EtherType::ARP,
    }
    .emit(&mut f)
    .unwrap();
    ArpRepr {
        operation: Operation::Reply,
        source_hardware_addr: mac,
        source_protocol_addr: addr,
        target_hardware_addr: P1_MAC,
        target_protocol_addr: P1_IP,
    }
    .emit(&mut ArpPacket::new_checked(&mut f[14..]).unwrap());
    f
}

/// Sends frames into `port` on core `core`'s link.
fn send(r: &mut SoftRouter, core: u32, port: u16, frames: &[Vec<u8>]) {
    let backend = r.backend_mut();
    let pool = backend.pool().clone();
    let wire = backend.wire(core, port).expect("the core runs");
    let mut burst: Burst<SoftPacket> = Burst::new();
    for chunk in frames.chunks(burst.remaining()) {
        for f in chunk {
            let mut p = pool.alloc().expect("a buffer");
            p.copy_from(f).unwrap();
            burst.push(p).unwrap();
        }
        assert_eq!(wire.tx_burst(&mut burst), chunk.len(), "the link took them");
    }
}

/// Appends what the wire received, in order.
fn drain(r: &mut SoftRouter, core: u32, port: u16, out: &mut Vec<Vec<u8>>) {
    let mut burst: Burst<SoftPacket> = Burst::new();
    r.backend_mut()
        .wire(core, port)
        .expect("the core runs")
        .rx_burst(&mut burst);
    out.extend(burst.iter().map(|p| p.data().to_vec()));
}

/// Reads what core `core` sent on `port`, until `n` frames came (or 5 s passed),
/// turning the control loop meanwhile (punts, held frames, ARP).
fn recv(r: &mut SoftRouter, core: u32, port: u16, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        r.turn(Instant::now(), 64);
        drain(r, core, port, &mut out);
        std::thread::sleep(Duration::from_micros(200));
    }
    out
}

/// Nothing more comes out of `port` within a short while.
fn quiet(r: &mut SoftRouter, core: u32, port: u16) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        r.turn(Instant::now(), 64);
        drain(r, core, port, &mut out);
        std::thread::sleep(Duration::from_micros(200));
    }
    out
}

/// The frame `udp_frame` becomes once forwarded to `mac` on p1: new MACs, TTL − 1
/// with its checksum updated, the rest byte for byte.
fn forwarded(sent: &[u8], mac: EthernetAddress) -> Vec<u8> {
    let mut f = sent.to_vec();
    f[0..6].copy_from_slice(&mac.0);
    f[6..12].copy_from_slice(&P1_MAC.0);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.set_ttl(ip.ttl() - 1);
    ip.fill_checksum();
    f
}

/// The ICMP message a frame carries, with its IPv4 source and destination.
fn icmp_of(frame: &[u8]) -> (Ipv4Addr, Ipv4Addr, Vec<u8>) {
    let eth = Frame::new_checked(frame).unwrap();
    assert_eq!(eth.ethertype(), EtherType::IPV4);
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let repr = Ipv4Repr::parse(&ip).unwrap();
    assert_eq!(repr.protocol, IpProtocol::ICMP);
    let icmp = IcmpPacket::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(), "ICMP checksum");
    (repr.src_addr, repr.dst_addr, ip.payload().to_vec())
}

/// `route show` of the routes inside `p`.
fn routes_under(r: &mut SoftRouter, p: &str) -> RouteList {
    match ok(
        r,
        Request::RouteShow(RouteFilter {
            prefix: Some(prefix(p)),
            ..RouteFilter::default()
        }),
    ) {
        Reply::Routes(list) => list,
        other => panic!("{other:?}"),
    }
}

/// A router forwarding 10.0.0.0/8 to a static neighbour on p1, with core 0.
fn forwarding_router() -> SoftRouter {
    let mut r = router();
    ok(&mut r, neigh(GW_IP, GW_MAC));
    ok(&mut r, route_via("10.0.0.0/8", GW_IP));
    add_core_in_step(&mut r);
    r
}

#[test]
fn a_route_added_by_request_forwards_frames_byte_exact() {
    let mut r = forwarding_router();
    let frames: Vec<_> = (0..32)
        .map(|i| udp_frame(Ipv4Addr::new(10, 1, 2, i), 64, u16::from(i)))
        .collect();
    send(&mut r, 0, 0, &frames);
    let got = recv(&mut r, 0, 1, frames.len());
    assert_eq!(got.len(), frames.len());
    for (sent, got) in frames.iter().zip(&got) {
        assert_eq!(got, &forwarded(sent, GW_MAC));
    }
}

#[test]
fn route_get_on_the_core_answers_from_its_own_table() {
    let mut r = forwarding_router();
    let Reply::RouteLookup(l) = ok(
        &mut r,
        Request::RouteGet(RouteGet {
            addr: Ipv4Addr::new(10, 9, 9, 9),
            table: TableId::MAIN.0,
            core: Some(0),
        }),
    ) else {
        panic!("no lookup");
    };
    assert_eq!(l.prefix, Some(prefix("10.0.0.0/8")));
    let nh = l.nexthop.expect("a nexthop");
    assert_eq!((nh.kind.as_str(), nh.gateway), ("gateway", Some(GW_IP)));
    assert_eq!(l.seq, r.fib().seq());
}

#[test]
fn a_deleted_route_is_answered_with_network_unreachable() {
    let mut r = forwarding_router();
    ok(
        &mut r,
        Request::RouteDel(RouteDel {
            table: TableId::MAIN.0,
            prefix: prefix("10.0.0.0/8"),
            protocol: Protocol::Static,
        }),
    );
    wait_in_step(&mut r);
    let sent = udp_frame(Ipv4Addr::new(10, 1, 1, 1), 64, 1);
    send(&mut r, 0, 0, std::slice::from_ref(&sent));
    let back = recv(&mut r, 0, 0, 1);
    assert_eq!(back.len(), 1, "an ICMP error back to the sender");
    assert_eq!(&back[0][0..6], &HOST_MAC.0);
    let (src, dst, icmp) = icmp_of(&back[0]);
    assert_eq!((src, dst), (P0_IP, HOST_IP));
    assert_eq!(
        (icmp[0], icmp[1]),
        (3, 0),
        "destination network unreachable"
    );
    // It quotes the offending datagram's header and first 8 bytes.
    assert_eq!(&icmp[8..8 + 28], &sent[14..14 + 28]);
    assert!(quiet(&mut r, 0, 1).is_empty(), "nothing forwarded");
}

#[test]
fn a_ttl_expiring_frame_gets_time_exceeded_from_the_ingress_address() {
    let mut r = forwarding_router();
    send(&mut r, 0, 0, &[udp_frame(Ipv4Addr::new(10, 1, 1, 1), 1, 9)]);
    let back = recv(&mut r, 0, 0, 1);
    assert_eq!(back.len(), 1);
    let (src, dst, icmp) = icmp_of(&back[0]);
    assert_eq!((src, dst), (P0_IP, HOST_IP));
    assert_eq!((icmp[0], icmp[1]), (11, 0), "time exceeded in transit");
}

#[test]
fn an_echo_to_the_router_is_answered() {
    let mut r = forwarding_router();
    send(&mut r, 0, 0, &[echo_request(P0_IP)]);
    let back = recv(&mut r, 0, 0, 1);
    assert_eq!(back.len(), 1);
    let (src, dst, icmp) = icmp_of(&back[0]);
    assert_eq!((src, dst), (P0_IP, HOST_IP));
    assert_eq!(icmp[0], 0, "echo reply");
    assert_eq!(&icmp[8..], b"fibre");
}

#[test]
fn arp_resolves_a_gateway_and_the_held_first_frame_is_sent() {
    let mut r = router();
    ok(&mut r, route_via("10.0.0.0/8", GW_IP));
    add_core_in_step(&mut r);
    // The route's gateway was asked for when the route came in; drop that ARP.
    let asked = recv(&mut r, 0, 1, 1);
    assert_eq!(asked.len(), 1, "an ARP request for the gateway");
    let arp = ArpRepr::parse(&ArpPacket::new_checked(&asked[0][14..]).unwrap()).unwrap();
    assert_eq!(arp.operation, Operation::Request);
    assert_eq!(
        (arp.source_protocol_addr, arp.target_protocol_addr),
        (P1_IP, GW_IP)
    );

    let first = udp_frame(Ipv4Addr::new(10, 0, 0, 1), 64, 1);
    send(&mut r, 0, 0, std::slice::from_ref(&first));
    turn_until(&mut r, "the frame held", |r| r.held_frames() == 1);
    send(&mut r, 0, 1, &[arp_reply(GW_IP, GW_MAC)]);
    let out = recv(&mut r, 0, 1, 1);
    assert_eq!(
        out,
        vec![forwarded(&first, GW_MAC)],
        "the held frame, rewritten"
    );
    assert_eq!(r.held_frames(), 0);
    // The core now has the MAC: the next frame is forwarded by the core itself.
    wait_in_step(&mut r);
    let next = udp_frame(Ipv4Addr::new(10, 0, 0, 2), 64, 2);
    send(&mut r, 0, 0, std::slice::from_ref(&next));
    assert_eq!(recv(&mut r, 0, 1, 1), vec![forwarded(&next, GW_MAC)]);
    let Reply::Neighbours(n) = ok(&mut r, Request::NeighShow(PortFilter::default())) else {
        panic!();
    };
    assert!(n
        .iter()
        .any(|n| n.addr == GW_IP && n.mac == Some(GW_MAC) && n.state == "reachable"));
}

#[test]
fn a_resolved_host_on_a_connected_subnet_gets_a_host_route() {
    let mut r = router();
    add_core_in_step(&mut r);
    let host = Ipv4Addr::new(198, 51, 100, 9);
    let mac = EthernetAddress([0x02, 0xcc, 0, 0, 0, 9]);
    let first = udp_frame(host, 64, 1);
    send(&mut r, 0, 0, std::slice::from_ref(&first));
    let asked = recv(&mut r, 0, 1, 1);
    assert_eq!(asked.len(), 1, "an ARP request for the host");
    send(&mut r, 0, 1, &[arp_reply(host, mac)]);
    assert_eq!(recv(&mut r, 0, 1, 1), vec![forwarded(&first, mac)]);
    let list = routes_under(&mut r, "198.51.100.9/32");
    assert_eq!(list.routes.len(), 1);
    assert_eq!(list.routes[0].protocol, Protocol::Connected);
    assert_eq!(list.routes[0].via, "via 198.51.100.9 dev p1");
    // Deleting the neighbour takes its host route away.
    ok(
        &mut r,
        Request::NeighDel(NeighSpec {
            addr: host,
            port: PortRef::Name("p1".into()),
            mac: None,
        }),
    );
    let list = routes_under(&mut r, "198.51.100.9/32");
    assert!(list.routes.is_empty());
}

#[test]
fn held_frames_of_an_unanswered_neighbour_expire() {
    let mut r = router();
    ok(&mut r, route_via("10.0.0.0/8", GW_IP));
    add_core_in_step(&mut r);
    send(
        &mut r,
        0,
        0,
        &[udp_frame(Ipv4Addr::new(10, 0, 0, 1), 64, 1)],
    );
    turn_until(&mut r, "the frame held", |r| r.held_frames() == 1);
    // The control loop is told the time: four seconds on, the frame is gone.
    r.turn(Instant::now() + Duration::from_secs(4), 64);
    assert_eq!(r.held_frames(), 0);
    send(&mut r, 0, 1, &[arp_reply(GW_IP, GW_MAC)]);
    let late: Vec<_> = quiet(&mut r, 0, 1)
        .into_iter()
        .filter(|f| f[12..14] == [0x08, 0x00])
        .collect();
    assert!(late.is_empty(), "an expired frame is not sent late");
}

#[test]
fn a_late_core_gets_the_whole_table_replayed() {
    let mut r = forwarding_router();
    let routes = (0..2000u32)
        .map(|i| BatchRoute {
            prefix: Ipv4Prefix::new(0x0b00_0000 | (i << 8), 24).unwrap(),
            target: RouteTarget::Via {
                gateway: GW_IP,
                port: None,
            },
        })
        .collect();
    let b = load(&mut r, routes);
    assert_eq!((b.applied, b.failed), (2000, 0));
    let late = add_core_in_step(&mut r);
    assert_eq!(late, 1);
    for i in [0u32, 777, 1999] {
        let addr = Ipv4Addr::from(0x0b00_0000 | (i << 8) | 5);
        let Reply::RouteLookup(l) = ok(
            &mut r,
            Request::RouteGet(RouteGet {
                addr,
                table: TableId::MAIN.0,
                core: Some(late),
            }),
        ) else {
            panic!();
        };
        assert_eq!(l.nexthop.and_then(|n| n.gateway), Some(GW_IP), "{addr}");
    }
    let f = udp_frame(Ipv4Addr::new(11, 3, 9, 1), 64, 3);
    send(&mut r, late, 0, std::slice::from_ref(&f));
    assert_eq!(recv(&mut r, late, 1, 1), vec![forwarded(&f, GW_MAC)]);
}

#[test]
fn core_del_stops_the_core_and_unregisters_it() {
    let mut r = forwarding_router();
    add_core_in_step(&mut r);
    assert_eq!(fib_status(&mut r).listeners.len(), 2);
    assert_eq!(ok(&mut r, Request::CoreDel(CoreDel { id: 0 })), Reply::Done);
    assert_eq!(r.backend().running(), vec![1]);
    let status = fib_status(&mut r);
    assert_eq!(status.listeners.len(), 1);
    assert_eq!(status.listeners[0].name, "core1");
    let Reply::Cores(cores) = ok(&mut r, Request::CoreShow) else {
        panic!();
    };
    assert_eq!(cores.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1]);
    let e = r.handle(Request::CoreDel(CoreDel { id: 0 })).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    // The FIB goes on; the remaining core follows it.
    ok(&mut r, route_via("172.16.0.0/12", GW_IP));
    wait_in_step(&mut r);
    let f = udp_frame(Ipv4Addr::new(172, 16, 0, 1), 64, 4);
    send(&mut r, 1, 0, std::slice::from_ref(&f));
    assert_eq!(recv(&mut r, 1, 1, 1), vec![forwarded(&f, GW_MAC)]);
}

#[test]
fn a_multipath_route_spreads_destinations_over_its_gateways() {
    let mut r = router();
    ok(&mut r, neigh(GW_IP, GW_MAC));
    ok(&mut r, neigh(GW2_IP, GW2_MAC));
    let via = |gateway| RouteTarget::Via {
        gateway,
        port: None,
    };
    ok(
        &mut r,
        Request::RouteAdd(RouteSpec {
            table: TableId::MAIN.0,
            prefix: prefix("10.0.0.0/8"),
            target: RouteTarget::Multipath(vec![via(GW_IP), via(GW2_IP)]),
            protocol: Protocol::Static,
            distance: None,
        }),
    );
    add_core_in_step(&mut r);
    let frames: Vec<_> = (0..64u8)
        .map(|i| udp_frame(Ipv4Addr::new(10, i, 7, i), 64, u16::from(i)))
        .collect();
    send(&mut r, 0, 0, &frames);
    let got = recv(&mut r, 0, 1, frames.len());
    assert_eq!(got.len(), frames.len());
    let to = |mac: EthernetAddress| got.iter().filter(|f| f[0..6] == mac.0).count();
    assert_eq!(to(GW_MAC) + to(GW2_MAC), frames.len());
    assert!(
        to(GW_MAC) > 0 && to(GW2_MAC) > 0,
        "both paths carry traffic"
    );
    for (sent, got) in frames.iter().zip(&got) {
        let mac = EthernetAddress::from_bytes(&got[0..6]).unwrap();
        assert_eq!(got, &forwarded(sent, mac));
    }
}

#[test]
fn link_show_and_stats_count_what_the_wires_carried() {
    let mut r = forwarding_router();
    let frames: Vec<_> = (0..10)
        .map(|i| udp_frame(Ipv4Addr::new(10, 0, 0, i), 64, 0))
        .collect();
    send(&mut r, 0, 0, &frames);
    assert_eq!(recv(&mut r, 0, 1, 10).len(), 10);
    let Reply::Links(links) = ok(&mut r, Request::LinkShow(PortFilter::default())) else {
        panic!();
    };
    assert_eq!(links.len(), 2);
    assert_eq!(
        (links[0].name.as_str(), links[0].backend.as_str()),
        ("p0", "soft")
    );
    assert_eq!(links[0].mac, P0_MAC);
    assert_eq!(links[0].counters.rx_packets, 10);
    assert_eq!(links[1].counters.tx_packets, 10);
    r.backend_mut().set_link(1, false);
    let Reply::Stats(s) = ok(&mut r, Request::Stats) else {
        panic!();
    };
    assert!(!s.ports[1].up);
    assert_eq!(s.cores.len(), 1);
    assert_eq!(s.cores[0].forwarded, 10);
    assert_eq!(s.cores[0].rx_packets, 10);
    assert!(s.control.requests >= 6, "{:?}", s.control);
}

#[test]
fn a_refused_request_changes_nothing_and_is_not_journaled() {
    let mut r = router();
    r.take_journal();
    let seq = r.fib().seq();
    let e = r
        .handle(route_via("10.0.0.0/8", Ipv4Addr::new(203, 0, 113, 1)))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    let e = r.handle(addr_add("192.0.2.1/24", "p1")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    let e = r.handle(addr_add("10.0.0.1/8", "p7")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(r.fib().seq(), seq);
    assert!(r.take_journal().is_empty());
    // Reads are answered and not journaled either; changes are.
    ok(&mut r, Request::RouteShow(RouteFilter::default()));
    ok(&mut r, neigh(GW_IP, GW_MAC));
    assert_eq!(r.take_journal(), vec![neigh(GW_IP, GW_MAC)]);
}

#[test]
fn the_journal_restores_runtime_state_on_a_new_router() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.journal");
    let mut first = router();
    let (journal, saved) = Journal::open(&path).unwrap();
    assert!(saved.is_empty());
    let writer = JournalWriter::spawn(journal).unwrap();
    first.take_journal();
    for req in [
        neigh(GW_IP, GW_MAC),
        route_via("10.0.0.0/8", GW_IP),
        route_via("172.16.0.0/12", GW_IP),
        Request::RouteDel(RouteDel {
            table: TableId::MAIN.0,
            prefix: prefix("172.16.0.0/12"),
            protocol: Protocol::Static,
        }),
        Request::NexthopAdd(NexthopSpec::Blackhole),
    ] {
        ok(&mut first, req);
    }
    writer.append(first.take_journal());
    drop(writer);

    // A new router with the same configured state, then the journal over it.
    let mut second = router();
    let _writer = startup::restore(&mut second, &path).unwrap();
    for show in [
        Request::RouteShow(RouteFilter::default()),
        Request::NeighShow(PortFilter::default()),
        Request::AddrShow(PortFilter::default()),
        Request::NexthopShow,
    ] {
        assert_eq!(
            ok(&mut first, show.clone()),
            ok(&mut second, show.clone()),
            "{}",
            show.name()
        );
    }
    add_core_in_step(&mut second);
    let f = udp_frame(Ipv4Addr::new(10, 2, 3, 4), 64, 5);
    send(&mut second, 0, 0, std::slice::from_ref(&f));
    assert_eq!(recv(&mut second, 0, 1, 1), vec![forwarded(&f, GW_MAC)]);
}

const CONFIG: &str = r#"
[[port]]
name = "p0"
dpdk = "net_null0"
mac = "02:f1:00:00:00:00"
addr = "192.0.2.1/24"

[[port]]
name = "p1"
dpdk = "net_null1"
mac = "02:f1:00:00:00:01"
addr = "198.51.100.1/24"

[[nexthop]]
name = "gw"
via = "198.51.100.2"

[[route]]
prefix = "10.0.0.0/8"
nexthop = "gw"

[[route]]
prefix = "192.168.0.0/16"
blackhole = true

[[neighbour]]
addr = "198.51.100.2"
mac = "02:bb:00:00:00:02"
port = "p1"
"#;

#[test]
fn the_configuration_file_builds_a_forwarding_router() {
    let cfg = Config::parse(CONFIG, "t.toml").unwrap();
    let mut r = startup::configured_router(&cfg, SoftBackend::new(2), metas()).unwrap();
    assert!(
        r.take_journal().is_empty(),
        "configured state is not journaled"
    );
    let Reply::Routes(list) = ok(&mut r, Request::RouteShow(RouteFilter::default())) else {
        panic!();
    };
    let vias: Vec<_> = list
        .routes
        .iter()
        .map(|r| format!("{} {}", r.prefix, r.via))
        .collect();
    assert!(
        vias.contains(&"10.0.0.0/8 via 198.51.100.2 dev p1".to_string()),
        "{vias:?}"
    );
    assert!(
        vias.contains(&"192.168.0.0/16 blackhole".to_string()),
        "{vias:?}"
    );
    for cpu in startup::core_cpus(&cfg) {
        r.add_core(cpu).unwrap();
    }
    wait_in_step(&mut r);
    let f = udp_frame(Ipv4Addr::new(10, 0, 0, 1), 64, 1);
    send(&mut r, 0, 0, std::slice::from_ref(&f));
    assert_eq!(recv(&mut r, 0, 1, 1), vec![forwarded(&f, GW_MAC)]);
    send(
        &mut r,
        0,
        0,
        &[udp_frame(Ipv4Addr::new(192, 168, 1, 1), 64, 2)],
    );
    assert!(quiet(&mut r, 0, 1).is_empty(), "blackholed");
}

#[test]
fn the_daemon_loop_serves_clients_and_counts_them() {
    use control::cli::ControlClient;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("fibred.sock");
    let state = dir.path().join("state.journal");
    let text = format!(
        "control_socket = {:?}\nstate_file = {:?}\n[cores]\ncount = 1\nidle = \"yield\"\n{CONFIG}",
        socket.display().to_string(),
        state.display().to_string()
    );
    let cfg = Config::parse(&text, "t.toml").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let daemon = {
        let (cfg, stop) = (cfg.clone(), Arc::clone(&stop));
        std::thread::spawn(move || startup::run(&cfg, SoftBackend::new(2), metas(), &stop))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut clients = Vec::new();
    while clients.len() < 3 {
        match ControlClient::connect(&socket) {
            Ok(c) => clients.push(c),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("no daemon: {e}"),
        }
    }
    let Reply::Hello(h) = clients[0].call(&Request::Hello).unwrap() else {
        panic!();
    };
    assert_eq!(h.protocol, PROTOCOL_VERSION);
    clients[1].call(&route_via("172.16.0.0/12", GW_IP)).unwrap();
    // Every client has been accepted by the time the loop answers this one.
    let Reply::Stats(s) = clients[2].call(&Request::Stats).unwrap() else {
        panic!();
    };
    assert_eq!(s.control.clients, 3);
    assert_eq!(s.control.clients_dropped, 0);
    assert_eq!(s.cores.len(), 1);
    drop(clients);
    stop.store(true, Ordering::SeqCst);
    daemon.join().unwrap().unwrap();
    // The route added at runtime was journaled; the configured ones were not.
    let (_, saved) = Journal::open(&state).unwrap();
    assert_eq!(saved, vec![route_via("172.16.0.0/12", GW_IP)]);
}

#[test]
fn tables_the_file_names_are_created() {
    // CONFIG, with p1 in table 7, a route there, and the kernel mirror into table 9.
    let text = CONFIG.replace(
        "addr = \"198.51.100.1/24\"",
        "addr = \"198.51.100.1/24\"\ntable = 7",
    ) + "\n[[route]]\ntable = 7\nprefix = \"10.0.0.0/8\"\nvia = \"198.51.100.2\"\n\n[kernel]\ninto_table = 9\n";
    let cfg = Config::parse(&text, "t.toml").unwrap();
    let mut ports = metas();
    ports[1].table = TableId(cfg.ports[1].table);
    let mut r = startup::configured_router(&cfg, SoftBackend::new(2), ports).unwrap();
    let Reply::Routes(list) = ok(
        &mut r,
        Request::RouteShow(RouteFilter {
            table: Some(7),
            ..RouteFilter::default()
        }),
    ) else {
        panic!();
    };
    let prefixes: Vec<String> = list.routes.iter().map(|r| r.prefix.to_string()).collect();
    assert!(prefixes.contains(&"10.0.0.0/8".to_string()), "{prefixes:?}");
    assert!(
        prefixes.contains(&"198.51.100.0/24".to_string()),
        "{prefixes:?}"
    );
    let tables = r.fib().table_ids();
    assert!(
        tables.contains(&TableId(9)),
        "the kernel mirror's table: {tables:?}"
    );
}

#[test]
fn a_journal_entry_refused_at_restore_is_dropped_and_the_next_restart_agrees() {
    // Found by the journal_replay fuzz target: the third line is refused (the route
    // exists), and a rewrite that kept it made the next restart blackhole 10/8.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.journal");
    std::fs::write(
        &path,
        concat!(
            r#"{"request":{"nexthop_add":"blackhole"},"nexthop":2}"#,
            "\n",
            r#"{"route_add":{"prefix":"10.0.0.0/8","target":{"via":{"gateway":"198.51.100.2"}}}}"#,
            "\n",
            r#"{"route_add":{"prefix":"10.0.0.0/8","target":"blackhole"}}"#,
            "\n",
        ),
    )
    .unwrap();
    let mut first = router();
    drop(startup::restore(&mut first, &path).unwrap());
    let mut second = router();
    drop(startup::restore(&mut second, &path).unwrap());
    let show = Request::RouteShow(RouteFilter::default());
    assert_eq!(ok(&mut first, show.clone()), ok(&mut second, show));
    let list = routes_under(&mut second, "10.0.0.0/8");
    assert_eq!(list.routes[0].via, "via 198.51.100.2 dev p1");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("\"blackhole\"}}"),
        "the refused add is gone: {text}"
    );
}

fn audit(r: &mut SoftRouter, core: Option<u32>) -> Vec<control::audit::CoreAudit> {
    match ok(r, Request::FibAudit(control::audit::AuditRequest { core })) {
        Reply::FibAudit(a) => a.cores,
        other => panic!("{other:?}"),
    }
}

/// 10.0.0.0/8 via GW on core 0, and 2,000 /24s under 11/8 via GW2 (tbl24 runs), and
/// 64 /28s under 12.0.0.0/16 (tbl8 groups).
fn audited_router() -> SoftRouter {
    let mut r = forwarding_router();
    ok(&mut r, neigh(GW2_IP, GW2_MAC));
    for (base, len, n) in [(0x0b00_0000u32, 24u8, 2000u32), (0x0c00_0000, 28, 64)] {
        let routes = (0..n)
            .map(|i| BatchRoute {
                prefix: Ipv4Prefix::new(base | (i << (32 - len)), len).unwrap(),
                target: RouteTarget::Via {
                    gateway: GW2_IP,
                    port: None,
                },
            })
            .collect();
        assert_eq!(load(&mut r, routes).failed, 0);
    }
    wait_in_step(&mut r);
    r
}

#[test]
fn fib_audit_finds_a_corrupted_range_and_the_resync_heals_it() {
    let mut r = audited_router();
    let clean = audit(&mut r, None);
    assert_eq!(clean.len(), 1);
    let c = &clean[0];
    assert!(!c.is_wrong() && c.error.is_none(), "{c:?}");
    assert!(c.ranges_compared >= 256 && !c.resynced, "{c:?}");

    // 10.1.2.0/24's tbl24 entry now says "no route", behind the FIB's back: frames
    // there are dropped. And one address of a tbl8 group points at a wrong nexthop.
    assert!(r.corrupt_core_table(0, TableId::MAIN, Ipv4Addr::new(10, 1, 2, 0), u32::MAX));
    let f = udp_frame(Ipv4Addr::new(10, 1, 2, 9), 64, 1);
    send(&mut r, 0, 0, std::slice::from_ref(&f));
    assert!(
        quiet(&mut r, 0, 1).is_empty(),
        "a corrupted entry forwards nothing"
    );
    let Reply::RouteLookup(before) = ok(
        &mut r,
        Request::RouteGet(RouteGet {
            addr: Ipv4Addr::new(12, 0, 0, 20),
            table: TableId::MAIN.0,
            core: None,
        }),
    ) else {
        panic!()
    };
    let gw_id = before.nexthop.as_ref().unwrap().id;

    let wrong_id = match ok(&mut r, Request::NexthopShow) {
        Reply::Nexthops(list) => list.iter().map(|n| n.id).find(|&id| id != gw_id).unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(r.corrupt_core_table(0, TableId::MAIN, Ipv4Addr::new(12, 0, 0, 20), wrong_id));

    let found = audit(&mut r, Some(0));
    let c = &found[0];
    assert!(c.is_wrong() && c.resynced, "{c:?}");
    assert_eq!(c.wrong_addresses, 256 + 1, "{c:?}");
    let m = &c.mismatches;
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[0].prefix, Some(prefix("10.0.0.0/8")));
    assert_eq!(
        (m[0].first, m[0].last),
        (Ipv4Addr::new(10, 1, 2, 0), Ipv4Addr::new(10, 1, 2, 255))
    );
    assert_eq!(m[0].found, None);
    assert!(m[0].expected.is_some());
    assert_eq!(m[1].prefix, Some(prefix("12.0.0.16/28")));
    assert_eq!(
        (m[1].first, m[1].last),
        (Ipv4Addr::new(12, 0, 0, 20), Ipv4Addr::new(12, 0, 0, 20))
    );
    assert_eq!((m[1].found, m[1].expected), (Some(wrong_id), Some(gw_id)));
    assert_eq!(fib_status(&mut r).audit.resyncs, 1);

    // The resync replays the whole FIB: the core forwards there again, and a new
    // audit finds nothing.
    wait_in_step(&mut r);
    let healed = audit(&mut r, Some(0));
    assert!(!healed[0].is_wrong(), "{:?}", healed[0]);
    send(&mut r, 0, 0, std::slice::from_ref(&f));
    assert_eq!(recv(&mut r, 0, 1, 1), vec![forwarded(&f, GW_MAC)]);
    let status = fib_status(&mut r);
    assert_eq!((status.audit.core_audits, status.audit.found_wrong), (3, 1));
}

#[test]
fn the_periodic_audit_heals_a_corrupted_core_within_one_interval_while_it_forwards() {
    let mut r = audited_router();
    let interval = Duration::from_millis(500);
    r.set_audit_interval(Some(interval));
    assert!(r.corrupt_core_table(0, TableId::MAIN, Ipv4Addr::new(10, 200, 0, 0), u32::MAX));
    let corrupted = Instant::now();
    // Frames to a range the corruption did not touch keep being forwarded, every
    // one, while the audit walks the table and the core is replayed.
    let mut sent = 0;
    let mut got = Vec::new();
    let mut ident = 0u16;
    let healed = loop {
        let f = udp_frame(Ipv4Addr::new(10, 9, 9, (ident % 250) as u8), 64, ident);
        ident = ident.wrapping_add(1);
        send(&mut r, 0, 0, std::slice::from_ref(&f));
        sent += 1;
        r.turn(Instant::now(), 64);
        drain(&mut r, 0, 1, &mut got);
        let s = fib_status(&mut r);
        if s.audit.resyncs == 1 && replayed(&s) {
            break corrupted.elapsed();
        }
        assert!(
            corrupted.elapsed() < Duration::from_secs(10),
            "never healed: {:?}",
            s.audit
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    got.extend(recv(&mut r, 0, 1, sent - got.len()));
    assert_eq!(
        got.len(),
        sent,
        "every frame forwarded during the audit and the resync"
    );
    // Within one interval of the corruption, plus the audit's walk and the replay
    // (generous for a loaded 2-CPU machine).
    assert!(
        healed < interval + Duration::from_secs(3),
        "healed after {healed:?}"
    );
    let status = fib_status(&mut r);
    assert_eq!(status.audit.found_wrong, 1);
    let f = udp_frame(Ipv4Addr::new(10, 200, 0, 7), 64, 9);
    send(&mut r, 0, 0, std::slice::from_ref(&f));
    assert_eq!(recv(&mut r, 0, 1, 1), vec![forwarded(&f, GW_MAC)]);
}

#[test]
fn a_nexthop_made_for_routes_goes_with_them_so_a_restart_agrees() {
    // Found by the journal_replay fuzz target: a gateway's nexthop, made for a
    // route that was then deleted (or refused: table 100 does not exist), stayed
    // with no route using it; the compacted journal holds no such route, so the next
    // restart had one nexthop less. Nexthops made for routes now go with them.
    for lines in [
        vec![
            r#"{"route_add":{"prefix":"10.0.0.0/8","target":{"via":{"gateway":"198.51.100.2"}}}}"#,
            r#"{"route_del":{"prefix":"10.0.0.0/8"}}"#,
            r#"{"route_add":{"table":100,"prefix":"10.5.0.0/16","target":"blackhole"}}"#,
        ],
        vec![
            r#"{"route_load":{"table":100,"routes":[{"prefix":"172.17.0.0/16","target":{"via":{"gateway":"198.51.100.9"}}}]}}"#,
            r#"{"route_add":{"table":100,"prefix":"10.5.0.0/16","target":"blackhole"}}"#,
        ],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.journal");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let mut first = router();
        drop(startup::restore(&mut first, &path).unwrap());
        let mut second = router();
        drop(startup::restore(&mut second, &path).unwrap());
        let shown = ok(&mut first, Request::NexthopShow);
        assert_eq!(shown, ok(&mut second, Request::NexthopShow));
        let Reply::Nexthops(list) = shown else {
            panic!()
        };
        assert!(list.iter().all(|n| n.refs > 0), "{list:?}");
    }
    // At run time likewise: a refused multipath route leaves no path behind.
    let mut r = router();
    let before = ok(&mut r, Request::NexthopShow);
    let refused = r.handle(Request::RouteAdd(RouteSpec {
        table: 100,
        prefix: prefix("10.0.0.0/8"),
        target: RouteTarget::Multipath(vec![
            RouteTarget::Via {
                gateway: GW_IP,
                port: None,
            },
            RouteTarget::Via {
                gateway: GW2_IP,
                port: None,
            },
        ]),
        protocol: Protocol::Static,
        distance: None,
    }));
    assert!(refused.is_err());
    ok(&mut r, route_via("10.0.0.0/8", GW_IP));
    ok(
        &mut r,
        Request::RouteDel(RouteDel {
            table: TableId::MAIN.0,
            prefix: prefix("10.0.0.0/8"),
            protocol: Protocol::Static,
        }),
    );
    assert_eq!(ok(&mut r, Request::NexthopShow), before);
}
