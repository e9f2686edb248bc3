//! The exception path's answers, byte by byte, against frames built independently.

use control::interfaces::InterfaceAddr;
use control::slowpath::{Interface, SlowAction, SlowPath, ORIGINATED_TTL};
use dataplane::forward::PuntReason;
use dataplane::wire::arp::{Operation, Packet as ArpPacket, Repr as ArpRepr, PACKET_LEN};
use dataplane::wire::checksum;
use dataplane::wire::ethernet::{EtherType, EthernetAddress, Frame, Repr as EthRepr, VlanTag};
use dataplane::wire::icmpv4::{
    DstUnreachable, Packet as IcmpPacket, Repr as IcmpRepr, TimeExceeded,
};
use dataplane::wire::ipv4::{Packet as Ipv4Packet, Protocol, Repr as Ipv4Repr};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const HOST_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x99]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const HOST_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const FAR_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn slowpath() -> SlowPath {
    SlowPath::new(
        vec![Interface {
            port: 3,
            addr: InterfaceAddr {
                addr: OUR_IP,
                len: 24,
            },
            mac: OUR_MAC,
        }],
        100,
        10,
    )
}

fn eth(vlan: Option<VlanTag>, ethertype: EtherType, dst: EthernetAddress) -> EthRepr {
    EthRepr {
        src_addr: HOST_MAC,
        dst_addr: dst,
        vlan,
        ethertype,
    }
}

/// An IPv4 frame from `src` to `dst` with `payload` (already-built L4 bytes).
fn ip_frame(src: Ipv4Addr, dst: Ipv4Addr, proto: Protocol, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let e = eth(None, EtherType::IPV4, OUR_MAC);
    let ip = Ipv4Repr::new(src, dst, proto, payload.len(), ttl);
    let mut f = vec![0u8; e.header_len() + ip.buffer_len()];
    let hl = e.emit(&mut f).unwrap();
    let ihl = ip.emit(&mut f[hl..]).unwrap();
    f[hl + ihl..].copy_from_slice(payload);
    f
}

fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Vec<u8> {
    let r = IcmpRepr::EchoRequest {
        ident: 0x1234,
        seq_no: 7,
        data: b"fibre-ping-payload",
    };
    let mut icmp = vec![0u8; r.buffer_len()];
    r.emit(&mut icmp).unwrap();
    ip_frame(src, dst, Protocol::ICMP, ttl, &icmp)
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Vec<u8> {
    // 8-byte UDP header (checksum 0 = none) and a payload.
    let mut u = vec![0x82, 0x9a, 0x82, 0x9b, 0, 16, 0, 0];
    u.extend_from_slice(b"traceroute");
    ip_frame(src, dst, Protocol::UDP, ttl, &u)
}

fn sent(actions: &[SlowAction]) -> Vec<(u16, Vec<u8>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            SlowAction::Send { port, frame } => Some((*port, frame.clone())),
            _ => None,
        })
        .collect()
}

/// Checks the reply's L2 and L3 framing and returns its ICMP bytes.
fn icmp_reply(frame: &[u8], from: Ipv4Addr) -> Vec<u8> {
    let e = Frame::new_checked(frame).unwrap();
    assert_eq!(e.dst_addr(), HOST_MAC);
    assert_eq!(e.src_addr(), OUR_MAC);
    assert_eq!(e.ethertype(), EtherType::IPV4);
    let ip = Ipv4Packet::new_checked(e.payload()).unwrap();
    assert!(
        checksum::verify(&e.payload()[..ip.header_len()]),
        "IPv4 checksum"
    );
    assert_eq!(ip.src_addr(), from);
    assert_eq!(ip.dst_addr(), HOST_IP);
    assert_eq!(ip.ttl(), ORIGINATED_TTL);
    assert_eq!(ip.protocol(), Protocol::ICMP);
    assert_eq!(usize::from(ip.total_len()), e.payload().len());
    let icmp = ip.payload().to_vec();
    assert_eq!(checksum::checksum(&icmp), 0, "ICMP checksum");
    icmp
}

#[test]
fn arp_request_for_our_address_is_answered_and_sender_learned() {
    let mut sp = slowpath();
    let req = ArpRepr {
        operation: Operation::Request,
        source_hardware_addr: HOST_MAC,
        source_protocol_addr: HOST_IP,
        target_hardware_addr: EthernetAddress::ZERO,
        target_protocol_addr: OUR_IP,
    };
    let e = eth(None, EtherType::ARP, EthernetAddress::BROADCAST);
    let mut f = vec![0u8; 14 + PACKET_LEN];
    e.emit(&mut f).unwrap();
    req.emit(&mut ArpPacket::new_checked(&mut f[14..]).unwrap());
    let actions = sp.handle(3, PuntReason::Arp, 0, &f, Instant::now());
    assert!(actions.contains(&SlowAction::Learned {
        port: 3,
        addr: HOST_IP,
        mac: HOST_MAC
    }));
    let out = sent(&actions);
    assert_eq!(out.len(), 1);
    let (port, reply) = &out[0];
    assert_eq!(*port, 3);
    // Expected bytes, written out field by field.
    let mut want = Vec::new();
    want.extend_from_slice(&HOST_MAC.0);
    want.extend_from_slice(&OUR_MAC.0);
    want.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    want.extend_from_slice(&OUR_MAC.0);
    want.extend_from_slice(&OUR_IP.octets());
    want.extend_from_slice(&HOST_MAC.0);
    want.extend_from_slice(&HOST_IP.octets());
    assert_eq!(reply, &want);
    assert_eq!(sp.counters().arp_replies, 1);
}

#[test]
fn arp_for_another_host_is_learned_not_answered_and_off_subnet_ignored() {
    let mut sp = slowpath();
    let mk = |src: Ipv4Addr, target: Ipv4Addr, op| {
        let r = ArpRepr {
            operation: op,
            source_hardware_addr: HOST_MAC,
            source_protocol_addr: src,
            target_hardware_addr: EthernetAddress::ZERO,
            target_protocol_addr: target,
        };
        let mut f = vec![0u8; 14 + PACKET_LEN];
        eth(None, EtherType::ARP, EthernetAddress::BROADCAST)
            .emit(&mut f)
            .unwrap();
        r.emit(&mut ArpPacket::new_checked(&mut f[14..]).unwrap());
        f
    };
    let a = sp.handle(
        3,
        PuntReason::Arp,
        0,
        &mk(HOST_IP, Ipv4Addr::new(192, 0, 2, 20), Operation::Request),
        Instant::now(),
    );
    assert_eq!(
        a,
        vec![SlowAction::Learned {
            port: 3,
            addr: HOST_IP,
            mac: HOST_MAC
        }]
    );
    let b = sp.handle(
        3,
        PuntReason::Arp,
        0,
        &mk(FAR_IP, OUR_IP, Operation::Request),
        Instant::now(),
    );
    assert!(
        b.is_empty(),
        "a sender off our subnet is neither learned nor answered"
    );
    let c = sp.handle(
        4,
        PuntReason::Arp,
        0,
        &mk(HOST_IP, OUR_IP, Operation::Request),
        Instant::now(),
    );
    assert!(c.is_empty(), "no interface address on port 4");
    assert_eq!(sp.counters().arp_ignored, 2);
}

#[test]
fn echo_request_to_us_gets_an_echo_reply() {
    let mut sp = slowpath();
    let f = echo_request(HOST_IP, OUR_IP, 64);
    let out = sent(&sp.handle(3, PuntReason::Local, 0, &f, Instant::now()));
    assert_eq!(out.len(), 1);
    let icmp = icmp_reply(&out[0].1, OUR_IP);
    let p = IcmpPacket::new_checked(&icmp[..]).unwrap();
    assert_eq!(
        IcmpRepr::parse(&p).unwrap(),
        IcmpRepr::EchoReply {
            ident: 0x1234,
            seq_no: 7,
            data: b"fibre-ping-payload"
        }
    );
}

#[test]
fn ttl_expired_gets_time_exceeded_quoting_the_datagram() {
    let mut sp = slowpath();
    let f = udp(HOST_IP, FAR_IP, 1);
    let out = sent(&sp.handle(3, PuntReason::TtlExceeded, 0, &f, Instant::now()));
    assert_eq!(out.len(), 1);
    let icmp = icmp_reply(&out[0].1, OUR_IP);
    assert_eq!(icmp[0], 11);
    assert_eq!(icmp[1], TimeExceeded::TtlExpired as u8);
    // The quote: the offending datagram exactly as received (it is short, so whole).
    assert_eq!(&icmp[8..], &f[14..]);
}

#[test]
fn no_route_gets_net_unreachable_and_frag_needed_carries_the_mtu() {
    let mut sp = slowpath();
    let f = udp(HOST_IP, FAR_IP, 30);
    let icmp = icmp_reply(
        &sent(&sp.handle(3, PuntReason::NoRoute, 0, &f, Instant::now()))[0].1,
        OUR_IP,
    );
    assert_eq!(
        (icmp[0], icmp[1]),
        (3, DstUnreachable::NetUnreachable as u8)
    );
    let icmp = icmp_reply(
        &sent(&sp.handle(3, PuntReason::FragNeeded, 1400, &f, Instant::now()))[0].1,
        OUR_IP,
    );
    assert_eq!((icmp[0], icmp[1]), (3, DstUnreachable::FragRequired as u8));
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1400);
    assert_eq!(sp.counters().icmp_errors, 2);
}

#[test]
fn udp_to_us_gets_port_unreachable_from_that_address_tcp_is_dropped() {
    let mut sp = slowpath();
    let icmp = icmp_reply(
        &sent(&sp.handle(
            3,
            PuntReason::Local,
            0,
            &udp(HOST_IP, OUR_IP, 64),
            Instant::now(),
        ))[0]
            .1,
        OUR_IP,
    );
    assert_eq!(
        (icmp[0], icmp[1]),
        (3, DstUnreachable::PortUnreachable as u8)
    );
    let tcp = ip_frame(HOST_IP, OUR_IP, Protocol::TCP, 64, &[0u8; 20]);
    assert!(sp
        .handle(3, PuntReason::Local, 0, &tcp, Instant::now())
        .is_empty());
    assert_eq!(sp.counters().local_tcp_dropped, 1);
}

#[test]
fn never_an_error_about_an_error_or_a_martian_or_a_multicast() {
    let mut sp = slowpath();
    // An ICMP error (time exceeded) whose TTL expires here.
    let err = IcmpRepr::TimeExceeded {
        reason: TimeExceeded::TtlExpired,
        quote: &[0x45; 28],
    };
    let mut b = vec![0u8; err.buffer_len()];
    err.emit(&mut b).unwrap();
    let f = ip_frame(HOST_IP, FAR_IP, Protocol::ICMP, 1, &b);
    assert!(sp
        .handle(3, PuntReason::TtlExceeded, 0, &f, Instant::now())
        .is_empty());
    let f = udp(Ipv4Addr::new(127, 0, 0, 1), FAR_IP, 1);
    assert!(sp
        .handle(3, PuntReason::TtlExceeded, 0, &f, Instant::now())
        .is_empty());
    let f = udp(HOST_IP, Ipv4Addr::new(224, 1, 1, 1), 1);
    assert!(sp
        .handle(3, PuntReason::TtlExceeded, 0, &f, Instant::now())
        .is_empty());
    assert_eq!(sp.counters().error_suppressed, 3);
    assert_eq!(sp.counters().icmp_errors, 0);
}

#[test]
fn errors_are_rate_limited_and_refill() {
    let mut sp = slowpath(); // 100/s, burst 10
    let f = udp(HOST_IP, FAR_IP, 1);
    let t0 = Instant::now();
    let n = (0..50)
        .filter(|_| !sp.handle(3, PuntReason::TtlExceeded, 0, &f, t0).is_empty())
        .count();
    assert_eq!(n, 10, "the burst, then nothing");
    assert_eq!(sp.counters().rate_limited, 40);
    // 100 ms later, 10 more tokens.
    let t1 = t0 + Duration::from_millis(100);
    let n = (0..50)
        .filter(|_| !sp.handle(3, PuntReason::TtlExceeded, 0, &f, t1).is_empty())
        .count();
    assert_eq!(n, 10);
}

#[test]
fn vlan_tag_is_kept_on_the_reply() {
    let mut sp = slowpath();
    let tag = VlanTag::from_tci(0x2064);
    let inner = udp(HOST_IP, FAR_IP, 1);
    let mut f = vec![0u8; 18];
    eth(Some(tag), EtherType::IPV4, OUR_MAC)
        .emit(&mut f)
        .unwrap();
    f.extend_from_slice(&inner[14..]);
    let out = sent(&sp.handle(3, PuntReason::TtlExceeded, 0, &f, Instant::now()));
    let e = Frame::new_checked(&out[0].1[..]).unwrap();
    assert_eq!(e.vlan_tag(), Some(tag));
}

#[test]
fn unresolved_asks_for_resolution_and_unsupported_cases_are_counted() {
    let mut sp = slowpath();
    let f = udp(HOST_IP, FAR_IP, 30);
    assert_eq!(
        sp.handle(3, PuntReason::Unresolved, 0, &f, Instant::now()),
        vec![SlowAction::Resolve {
            port: 3,
            dst: FAR_IP
        }]
    );
    assert!(sp
        .handle(3, PuntReason::Fragment, 0, &f, Instant::now())
        .is_empty());
    assert!(sp
        .handle(3, PuntReason::IpOptions, 0, &f, Instant::now())
        .is_empty());
    assert!(sp
        .handle(3, PuntReason::TtlExceeded, 0, &f[..20], Instant::now())
        .is_empty());
    let c = sp.counters();
    assert_eq!(
        (
            c.resolve_requests,
            c.fragmentation_unsupported,
            c.ip_options_unsupported,
            c.malformed
        ),
        (1, 1, 1, 1)
    );
}

#[test]
fn arp_request_frame() {
    let sp = slowpath();
    let f = sp.arp_request(3, HOST_IP).unwrap();
    let e = Frame::new_checked(&f[..]).unwrap();
    assert_eq!(e.dst_addr(), EthernetAddress::BROADCAST);
    let r = ArpRepr::parse(&ArpPacket::new_checked(e.payload()).unwrap()).unwrap();
    assert_eq!(r.operation, Operation::Request);
    assert_eq!(
        (r.source_protocol_addr, r.target_protocol_addr),
        (OUR_IP, HOST_IP)
    );
    assert!(sp.arp_request(9, HOST_IP).is_none());
}

proptest::proptest! {
    /// Whatever a core punts, the slow path never panics, and what it sends is a
    /// well-formed frame out of the port the punt came from.
    #[test]
    fn arbitrary_punts_never_panic(frame in proptest::collection::vec(proptest::num::u8::ANY, 0..200), r in 0usize..9) {
        let mut sp = slowpath();
        let reason = PuntReason::from_index(r % PuntReason::COUNT).unwrap();
        for a in sp.handle(3, reason, 1500, &frame, Instant::now()) {
            if let SlowAction::Send { port, frame } = a {
                proptest::prop_assert_eq!(port, 3);
                proptest::prop_assert!(Frame::new_checked(&frame[..]).is_ok());
            }
        }
    }
}
