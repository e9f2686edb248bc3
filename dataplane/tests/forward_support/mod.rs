//! Frames, adjacencies and an independent validity check shared by the forward tests.
//! (A directory module, so cargo does not build it as a test of its own.)

#![allow(dead_code)]

use std::net::Ipv4Addr;

use dataplane::forward::Adjacency;
use dataplane::wire::{EtherType, EthernetAddress, EthernetRepr, IpProtocol, Ipv4Repr, VlanTag};

/// The MAC of the host that sent the frame, and of the router port it arrived on.
pub const SENDER_MAC: EthernetAddress = EthernetAddress([0x02, 0x5e, 0x00, 0x00, 0x00, 0x01]);
pub const INGRESS_MAC: EthernetAddress = EthernetAddress([0x02, 0xf1, 0x00, 0x00, 0x00, 0x01]);
/// The nexthop's MAC, and the egress router port's.
pub const NEXTHOP_MAC: EthernetAddress = EthernetAddress([0x02, 0x4e, 0x00, 0x00, 0x00, 0x02]);
pub const EGRESS_MAC: EthernetAddress = EthernetAddress([0x02, 0xf1, 0x00, 0x00, 0x00, 0x02]);

/// The router's own addresses.
pub const LOCAL: [u32; 2] = [0xc000_0201, 0xc633_6401]; // 192.0.2.1, 198.51.100.1

pub const SRC: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
pub const DST: Ipv4Addr = Ipv4Addr::new(172, 16, 5, 6);

pub fn adjacency() -> Adjacency {
    Adjacency {
        port: 3,
        dst_mac: NEXTHOP_MAC,
        src_mac: EGRESS_MAC,
        mtu: 1500,
    }
}

/// What a test frame looks like; `Spec::default()` is a valid, forwardable UDP datagram.
#[derive(Debug, Clone)]
pub struct Spec {
    pub dst_mac: EthernetAddress,
    pub vlan: Option<VlanTag>,
    pub ethertype: EtherType,
    pub ip: Ipv4Repr,
    /// Bytes after the IPv4 total length (Ethernet padding).
    pub padding: usize,
}

impl Default for Spec {
    fn default() -> Self {
        let mut ip = Ipv4Repr::new(SRC, DST, IpProtocol::UDP, 26, 64);
        ip.ident = 0x4242;
        ip.dont_frag = true;
        Spec {
            dst_mac: INGRESS_MAC,
            vlan: None,
            ethertype: EtherType::IPV4,
            ip,
            padding: 0,
        }
    }
}

impl Spec {
    pub fn with(mut self, edit: impl FnOnce(&mut Spec)) -> Spec {
        edit(&mut self);
        self
    }

    /// The frame bytes, payload bytes counting 0, 1, 2, ...
    pub fn build(&self) -> Vec<u8> {
        let ethernet = EthernetRepr {
            src_addr: SENDER_MAC,
            dst_addr: self.dst_mac,
            vlan: self.vlan,
            ethertype: self.ethertype,
        };
        let l2 = ethernet.header_len();
        let mut bytes = vec![0u8; l2 + self.ip.buffer_len() + self.padding];
        ethernet.emit(&mut bytes).unwrap();
        self.ip.emit(&mut bytes[l2..]).unwrap();
        let payload_end = l2 + self.ip.buffer_len();
        for (i, byte) in bytes[l2 + 20..payload_end].iter_mut().enumerate() {
            *byte = i as u8;
        }
        bytes
    }

    pub fn l2_len(&self) -> usize {
        if self.vlan.is_some() {
            18
        } else {
            14
        }
    }
}

/// Internet checksum computed the plain way, independently of `wire::checksum`.
pub fn reference_checksum_ok(header: &[u8]) -> bool {
    let mut sum: u32 = 0;
    for pair in header.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = u32::from(*pair.get(1).unwrap_or(&0));
        sum += hi | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

/// Checks a frame the forward path transmitted, from raw bytes and without the wire views:
/// new MACs, a well-formed IPv4 header with a correct checksum, TTL one less and at least 1,
/// consistent lengths, forwardable addresses, and every other byte as received.
pub fn check_forwarded(before: &[u8], after: &[u8], adjacency: &Adjacency) -> Result<(), String> {
    if before.len() != after.len() {
        return Err("frame length changed".into());
    }
    if after.len() < 14 {
        return Err("forwarded a frame shorter than an Ethernet header".into());
    }
    if after[0..6] != adjacency.dst_mac.0 || after[6..12] != adjacency.src_mac.0 {
        return Err("MACs not rewritten".into());
    }
    let l2 = match [after[12], after[13]] {
        [0x08, 0x00] => 14,
        [0x81, 0x00] if after.len() >= 18 && after[16..18] == [0x08, 0x00] => 18,
        _ => return Err("forwarded a frame that is not IPv4".into()),
    };
    let ip = &after[l2..];
    if ip.len() < 20 {
        return Err("forwarded a frame too short for IPv4".into());
    }
    if ip[0] != 0x45 {
        return Err(format!("forwarded version/IHL byte {:#04x}", ip[0]));
    }
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total_len < 20 || total_len > ip.len() {
        return Err(format!(
            "forwarded total length {total_len} in {} bytes",
            ip.len()
        ));
    }
    if total_len > usize::from(adjacency.mtu) {
        return Err("forwarded a datagram over the egress MTU".into());
    }
    if !reference_checksum_ok(&ip[..20]) {
        return Err("forwarded header checksum wrong".into());
    }
    let ttl_before = before[l2 + 8];
    let ttl_after = ip[8];
    if ttl_before < 2 || ttl_after != ttl_before - 1 {
        return Err(format!("TTL {ttl_before} became {ttl_after}"));
    }
    let src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
    let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
    let first = |a: u32| a >> 24;
    if matches!(first(src), 0 | 127 | 224..) {
        return Err(format!(
            "forwarded from martian source {}",
            Ipv4Addr::from(src)
        ));
    }
    if matches!(first(dst), 0 | 127 | 224..) || LOCAL.contains(&dst) {
        return Err(format!("forwarded to {}", Ipv4Addr::from(dst)));
    }
    if before[0] & 1 != 0 {
        return Err("forwarded a frame received as link-layer multicast".into());
    }
    // Everything but the MACs, the TTL and the checksum is as received.
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        let rewritten = i < 12 || i == l2 + 8 || i == l2 + 10 || i == l2 + 11;
        if !rewritten && b != a {
            return Err(format!("byte {i} changed"));
        }
    }
    Ok(())
}

/// Unicast addresses a router forwards (not 0/8, loopback, class D/E, nor the
/// router's own), for property tests.
pub fn unicast_addr() -> impl proptest::strategy::Strategy<Value = Ipv4Addr> {
    use proptest::prelude::*;
    (1u32..224)
        .prop_filter("not loopback", |o| *o != 127)
        .prop_flat_map(|first| (Just(first), any::<[u8; 3]>()))
        .prop_map(|(first, rest)| Ipv4Addr::new(first as u8, rest[0], rest[1], rest[2]))
        .prop_filter("not local", |a| !LOCAL.contains(&u32::from(*a)))
}

/// A valid, forwardable frame (untagged or 802.1Q-tagged), for property tests.
pub fn valid_spec() -> impl proptest::strategy::Strategy<Value = Spec> {
    use proptest::prelude::*;
    (
        (
            unicast_addr(),
            unicast_addr(),
            2u8..=255,
            0usize..200,
            0usize..8,
        ),
        (any::<u8>(), any::<u16>(), any::<bool>(), 0u8..64),
        proptest::option::of((0u8..8, any::<bool>(), 0u16..4096)),
    )
        .prop_map(
            |((src, dst, ttl, payload_len, padding), (protocol, ident, dont_frag, dscp), vlan)| {
                Spec::default().with(|s| {
                    s.ip.src_addr = src;
                    s.ip.dst_addr = dst;
                    s.ip.ttl = ttl;
                    s.ip.payload_len = payload_len;
                    s.ip.protocol = IpProtocol(protocol);
                    s.ip.ident = ident;
                    s.ip.dont_frag = dont_frag;
                    s.ip.dscp = dscp;
                    s.padding = padding;
                    s.vlan = vlan.map(|(pcp, dei, vid)| VlanTag { pcp, dei, vid });
                })
            },
        )
}

/// Overwrites bytes of `frame` (each index taken modulo the length) and truncates
/// it if asked: a valid frame damaged the way property tests want.
pub fn mutate(
    frame: &mut Vec<u8>,
    mutations: &[(proptest::sample::Index, u8)],
    truncate: Option<proptest::sample::Index>,
) {
    for (at, value) in mutations {
        let i = at.index(frame.len());
        frame[i] = *value;
    }
    if let Some(at) = truncate {
        let len = at.index(frame.len() + 1);
        frame.truncate(len);
    }
}

/// Overwrites bytes of the IPv4 header at `l2` (offsets below 20, never the
/// checksum's), then sets a correct header checksum, so every later check is
/// reached and the mutation is judged on its merits.
pub fn mutate_header_fix_checksum(frame: &mut [u8], l2: usize, mutations: &[(usize, u8)]) {
    for &(at, value) in mutations {
        if at != 10 && at != 11 {
            frame[l2 + at] = value;
        }
    }
    let header_len = (usize::from(frame[l2] & 0x0f) * 4).clamp(20, frame.len() - l2);
    frame[l2 + 10] = 0;
    frame[l2 + 11] = 0;
    let sum = dataplane::wire::checksum::checksum(&frame[l2..l2 + header_len]);
    frame[l2 + 10..l2 + 12].copy_from_slice(&sum.to_be_bytes());
}
