//! The per-packet IPv4 forwarding decision of RFC 1812, as pure functions over frame bytes.
//!
//! Two steps, with the route lookup between them (done by the caller over a whole burst):
//!
//! 1. [`classify`] reads a received frame and says [`Verdict::Forward`] with the destination
//!    address to look up, or why not: [`Verdict::Punt`] to the control plane or
//!    [`Verdict::Drop`]. It validates as RFC 1812 §5.2.2 requires, then applies the address
//!    rules of §5.3.7 and §5.3.4. It does not write.
//! 2. [`rewrite`] takes the frame and the [`Adjacency`] the lookup resolved to: MTU check,
//!    TTL decrement with the RFC 1624 incremental checksum update, new Ethernet addresses.
//!    It touches bytes 0..12 of the frame and bytes 8 and 10..12 of the IPv4 header, nothing
//!    else; the payload is never read or written.
//!
//! [`forward`] chains both around a lookup closure, for software paths and tests.
//!
//! No function here allocates or panics, whatever the bytes: every length is checked before
//! a view reads at a fixed offset. The checks, in order (the first failing one decides):
//!
//! | step | condition | outcome |
//! |------|-----------|---------|
//! | L2 | frame < 14 bytes, or tagged and < 18 | drop `too_short` |
//! | L2 | ethertype ARP | punt `arp` |
//! | L2 | ethertype not IPv4 | drop `not_ipv4` |
//! | §5.2.2 | < 20 bytes after the Ethernet header | drop `too_short` |
//! | §5.2.2 | version ≠ 4 | drop `bad_version` |
//! | §5.2.2 | IHL < 5 | drop `bad_ihl` |
//! | §5.2.2 | IHL*4 > bytes after the Ethernet header | drop `too_short` |
//! | §5.2.2 | total length < IHL*4 or > bytes after the Ethernet header | drop `bad_total_length` |
//! | §5.2.2 | header checksum wrong | drop `bad_checksum` |
//! | §5.3.7 | source 0/8, 127/8, 224/4, 240/4 | drop `martian_source` |
//! | local | destination is ours | punt `local` |
//! | §5.3.5 | destination 255.255.255.255 | drop `limited_broadcast` |
//! | §5.3.7 | destination 224/4 | drop `multicast_destination` |
//! | §5.3.7 | destination 0/8, 127/8, other 240/4 | drop `martian_destination` |
//! | §5.3.4 | link-layer group destination MAC | drop `l2_multicast` |
//! | §5.3.1 | TTL ≤ 1 | punt `ttl_exceeded` |
//! | options | IHL > 5 | punt `ip_options` |
//! | rewrite | total length > egress MTU, DF set | punt `frag_needed` |
//! | rewrite | total length > egress MTU, DF clear | punt `fragment` |
//!
//! Decisions worth knowing:
//! - Fragments are forwarded like any datagram: a router does not reassemble.
//! - Directed broadcasts are not recognised here (that needs the interface subnets); the
//!   control plane can list them among the local addresses to have them punted.
//! - Ethernet padding after the IPv4 total length is allowed and kept.
//! - VLAN: a tagged frame keeps its tag unchanged (same VID and priority) on egress. Routing
//!   between VLANs, which pushes, pops or rewrites tags, is the port layer's job with the NIC's
//!   VLAN offloads (strip on receive, insert on transmit), where moving 4 bytes is free.
//! - The destination MAC of an ingress frame is not compared with the port's own: the NIC
//!   filters unicast frames for other stations unless promiscuous, and group-addressed frames
//!   are handled by the `l2_multicast` rule.

mod reason;

pub use reason::{DropReason, PuntReason};

use fib::PortId;

use crate::wire::checksum;
use crate::wire::ethernet::{EtherType, EthernetAddress, Frame as EthernetFrame};
use crate::wire::ipv4::{self, Packet as Ipv4Packet};

/// The router's own addresses, as [`classify`] asks about them (host-order `u32`).
///
/// Implemented for closures `Fn(u32) -> bool` and for slices of addresses (a linear scan,
/// fine for the handful a router has).
pub trait LocalAddresses {
    fn is_local(&self, addr: u32) -> bool;
}

impl<F: Fn(u32) -> bool> LocalAddresses for F {
    #[inline]
    fn is_local(&self, addr: u32) -> bool {
        self(addr)
    }
}

impl LocalAddresses for [u32] {
    #[inline]
    fn is_local(&self, addr: u32) -> bool {
        self.contains(&addr)
    }
}

/// What [`classify`] decided about a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Valid and forwardable: look up `dst` (host order), then [`rewrite`].
    Forward {
        dst: u32,
    },
    Punt(PuntReason),
    Drop(DropReason),
}

/// Where a forwarded frame goes: the resolved nexthop of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Adjacency {
    /// Egress port.
    pub port: PortId,
    /// The nexthop's MAC (the gateway's, or the destination host's when connected).
    pub dst_mac: EthernetAddress,
    /// The egress port's MAC.
    pub src_mac: EthernetAddress,
    /// The egress link's IP MTU: the largest IPv4 total length it carries.
    pub mtu: u16,
}

/// What [`rewrite`] (or [`forward`]) did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Rewritten in place; send it on `port`.
    Transmit { port: PortId },
    /// Left untouched; hand it to the control plane.
    Punt(PuntReason),
    /// Left untouched; count and free it.
    Drop(DropReason),
}

/// First octet of an address, for the class checks.
#[inline]
const fn first_octet(addr: u32) -> u32 {
    addr >> 24
}

/// RFC 1812 §5.3.7 sources a router must not forward from: 0/8 ("this network"), 127/8
/// (loopback), 224/4 (multicast) and 240/4 (class E, which includes 255.255.255.255).
#[inline]
pub const fn is_martian_source(src: u32) -> bool {
    let octet = first_octet(src);
    octet == 0 || octet == 127 || octet >= 224
}

/// RFC 1812 §5.3.7 destinations never forwarded as unicast: 0/8, 127/8 and class E
/// (240/4, except the limited broadcast, which has its own reason).
#[inline]
pub const fn is_martian_destination(dst: u32) -> bool {
    let octet = first_octet(dst);
    octet == 0 || octet == 127 || (octet >= 240 && dst != u32::MAX)
}

/// 224.0.0.0/4.
#[inline]
pub const fn is_multicast(addr: u32) -> bool {
    addr >> 28 == 0xe
}

/// Step 1: the RFC 1812 checks on a received Ethernet frame. Reads only; see the module docs
/// for the order of the checks.
#[inline]
pub fn classify<L: LocalAddresses + ?Sized>(frame: &[u8], local: &L) -> Verdict {
    let Ok(ethernet) = EthernetFrame::new_checked(frame) else {
        return Verdict::Drop(DropReason::TooShort);
    };
    let ethertype = ethernet.ethertype();
    if ethertype == EtherType::ARP {
        return Verdict::Punt(PuntReason::Arp);
    }
    if ethertype != EtherType::IPV4 {
        return Verdict::Drop(DropReason::NotIpv4);
    }
    let link_layer_group = ethernet.dst_addr().is_multicast();
    classify_ipv4(ethernet.payload(), link_layer_group, local)
}

/// Step 1 from the IPv4 header on: `packet` is everything after the Ethernet header;
/// `link_layer_group` says the frame's destination MAC was a group address.
#[inline]
pub fn classify_ipv4<L: LocalAddresses + ?Sized>(
    packet: &[u8],
    link_layer_group: bool,
    local: &L,
) -> Verdict {
    if packet.len() < ipv4::HEADER_LEN {
        return Verdict::Drop(DropReason::TooShort);
    }
    // 20 bytes present: the fixed-header getters below cannot go out of bounds.
    let ip = Ipv4Packet::new_unchecked(packet);
    if ip.version() != 4 {
        return Verdict::Drop(DropReason::BadVersion);
    }
    let header_len = ip.header_len();
    if header_len < ipv4::HEADER_LEN {
        return Verdict::Drop(DropReason::BadIhl);
    }
    let Some(header) = packet.get(..header_len) else {
        return Verdict::Drop(DropReason::TooShort);
    };
    let total_len = usize::from(ip.total_len());
    if total_len < header_len || total_len > packet.len() {
        return Verdict::Drop(DropReason::BadTotalLength);
    }
    // The common header without options gets a fixed-length sum the compiler unrolls;
    // the result is the same as `checksum::verify`.
    let checksum_ok = match <&[u8; ipv4::HEADER_LEN]>::try_from(header) {
        Ok(fixed) => verify_fixed_header(fixed),
        Err(_) => checksum::verify(header),
    };
    if !checksum_ok {
        return Verdict::Drop(DropReason::BadChecksum);
    }
    let src = ip.src_addr_u32();
    if is_martian_source(src) {
        return Verdict::Drop(DropReason::MartianSource);
    }
    let dst = ip.dst_addr_u32();
    if local.is_local(dst) {
        return Verdict::Punt(PuntReason::Local);
    }
    if dst == u32::MAX {
        return Verdict::Drop(DropReason::LimitedBroadcast);
    }
    if is_multicast(dst) {
        return Verdict::Drop(DropReason::MulticastDestination);
    }
    if is_martian_destination(dst) {
        return Verdict::Drop(DropReason::MartianDestination);
    }
    if link_layer_group {
        return Verdict::Drop(DropReason::L2Multicast);
    }
    if ip.ttl() <= 1 {
        return Verdict::Punt(PuntReason::TtlExceeded);
    }
    if header_len > ipv4::HEADER_LEN {
        return Verdict::Punt(PuntReason::IpOptions);
    }
    Verdict::Forward { dst }
}

/// RFC 1071 verification of an IPv4 header without options (checksum field included):
/// ten big-endian words summed in a `u32` (at most 10 * 0xffff, no overflow), folded
/// twice (enough for a sum below 2^20).
#[inline(always)]
fn verify_fixed_header(header: &[u8; ipv4::HEADER_LEN]) -> bool {
    let mut acc = 0u32;
    for word in header.chunks_exact(2) {
        acc += u32::from(u16::from_be_bytes([word[0], word[1]]));
    }
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc == 0xffff
}

/// Step 2: forward a frame [`classify`] said [`Verdict::Forward`] to, through `adjacency`.
///
/// Checks the egress MTU first, so a punted frame is left exactly as received (the ICMP error
/// quotes it as it arrived); then decrements the TTL with the incremental checksum update and
/// writes the new destination and source MACs. The VLAN tag, if any, is kept as it is.
///
/// Safe on any frame: one that was not classified gets `Drop(TooShort)` if it is too short
/// to hold the headers, and is otherwise treated as the IPv4 packet it claims to be; a TTL
/// of 0 or 1 is punted rather than decremented, so no frame ever leaves with TTL 0.
#[inline]
pub fn rewrite(frame: &mut [u8], adjacency: &Adjacency) -> Outcome {
    let l3_offset = match EthernetFrame::new_checked(&*frame) {
        Ok(ethernet) => ethernet.header_len(),
        Err(_) => return Outcome::Drop(DropReason::TooShort),
    };
    let Some(l3) = frame.get_mut(l3_offset..) else {
        return Outcome::Drop(DropReason::TooShort);
    };
    if l3.len() < ipv4::HEADER_LEN {
        return Outcome::Drop(DropReason::TooShort);
    }
    // 20 bytes present: the fixed-header accessors cannot go out of bounds.
    let mut ip = Ipv4Packet::new_unchecked(l3);
    if ip.total_len() > adjacency.mtu {
        return Outcome::Punt(if ip.dont_frag() {
            PuntReason::FragNeeded
        } else {
            PuntReason::Fragment
        });
    }
    if ip.ttl() <= 1 {
        return Outcome::Punt(PuntReason::TtlExceeded);
    }
    ip.decrement_ttl();
    // The Ethernet header was length-checked above; this view cannot fail.
    let mut ethernet = EthernetFrame::new_unchecked(frame);
    ethernet.set_dst_addr(adjacency.dst_mac);
    ethernet.set_src_addr(adjacency.src_mac);
    Outcome::Transmit {
        port: adjacency.port,
    }
}

/// Both steps around a lookup: `lookup(dst)` gives the adjacency for a destination, or `None`
/// for no route (punted as [`PuntReason::NoRoute`]). For software paths and tests; the
/// forwarding core runs the steps itself so it can look up a whole burst at once.
#[inline]
pub fn forward<L, F>(frame: &mut [u8], local: &L, lookup: F) -> Outcome
where
    L: LocalAddresses + ?Sized,
    F: FnOnce(u32) -> Option<Adjacency>,
{
    match classify(frame, local) {
        Verdict::Forward { dst } => match lookup(dst) {
            Some(adjacency) => rewrite(frame, &adjacency),
            None => Outcome::Punt(PuntReason::NoRoute),
        },
        Verdict::Punt(reason) => Outcome::Punt(reason),
        Verdict::Drop(reason) => Outcome::Drop(reason),
    }
}
