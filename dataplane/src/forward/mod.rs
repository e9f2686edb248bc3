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

/// Ethernet (untagged) plus an IPv4 header without options: what [`classify_fast`] reads.
const UNTAGGED_HEADERS: usize = 14 + ipv4::HEADER_LEN;

/// Step 1 for the common case, in one pass over the first 34 bytes: `Some(dst)` exactly
/// when the frame is untagged and `classify(frame, &[])` (no local addresses) says
/// `Verdict::Forward { dst }`; `None` for everything else, which the caller hands to
/// [`classify`] for the reason (a tagged frame, options, any failing check). The test
/// `forward_fast.rs` pins the equivalence.
///
/// The checks are those of the table above, evaluated without short-circuits: version
/// 4 and IHL 5 are one byte (`0x45`), the header checksum is summed as five native-order
/// 32-bit words (the one's complement sum does not depend on byte order, and `0xffff`
/// is its own byte swap).
#[inline(always)]
pub fn classify_fast(frame: &[u8]) -> Option<u32> {
    let h: &[u8; UNTAGGED_HEADERS] = frame.first_chunk()?;
    let ip_bytes = frame.len() - 14;
    let total_len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let src = u32::from_be_bytes([h[26], h[27], h[28], h[29]]);
    let dst = u32::from_be_bytes([h[30], h[31], h[32], h[33]]);
    let header: &[u8; ipv4::HEADER_LEN] = h.last_chunk().expect("34 >= 20");
    let ok = (h[12] == 0x08)
        & (h[13] == 0x00)
        & (h[14] == 0x45)
        & (total_len >= ipv4::HEADER_LEN)
        & (total_len <= ip_bytes)
        & verify_fixed_header_native(header)
        & !is_unforwardable_octet(src)
        & !is_unforwardable_octet(dst)
        & (h[0] & 1 == 0)
        & (h[22] > 1);
    ok.then_some(dst)
}

/// Whether an address's first octet is 0, 127 or 224 and above: the sources
/// [`is_martian_source`] refuses, and the destinations [`classify`] does not let through
/// to the lookup (0/8, 127/8, 224/4, 240/4 with the limited broadcast). Branch-free:
/// `octet - 1` wraps 0 to 255, so one unsigned compare covers 0 and 224..=255.
#[inline(always)]
const fn is_unforwardable_octet(addr: u32) -> bool {
    let octet = first_octet(addr);
    ((octet.wrapping_sub(1) & 0xff) >= 223) | (octet == 127)
}

/// [`verify_fixed_header`] over native-order 32-bit words, without the folds.
///
/// The 16-bit one's complement sum of the header folds to `0xffff` exactly when the
/// plain sum `S` of its words is a nonzero multiple of `0xffff` (folding keeps the value
/// mod `0xffff`, since `2^16 ≡ 1`, and maps a nonzero sum into `1..=0xffff`). A 32-bit
/// word `hi * 2^16 + lo` is `≡ hi + lo`, so the sum of five 32-bit words has the same
/// remainder; read in native (little-endian) order each 16-bit half is byte-swapped,
/// which swaps the folded sum (RFC 1071 §2(B)), and `0xffff` is its own swap.
#[inline(always)]
fn verify_fixed_header_native(header: &[u8; ipv4::HEADER_LEN]) -> bool {
    let mut acc = 0u64;
    for word in header.chunks_exact(4) {
        acc += u64::from(u32::from_ne_bytes([word[0], word[1], word[2], word[3]]));
    }
    (acc != 0) & acc.is_multiple_of(0xffff)
}

/// Step 2 for a frame step 1 said `Forward` to, without parsing it again: `l3` is where
/// its IPv4 header starts (14, or 18 when 802.1Q-tagged), `macs` the new destination then
/// source MAC (the frame's first 12 bytes after the rewrite), `mtu` the egress MTU.
///
/// Returns `true` when it forwarded the frame exactly as [`rewrite`] does (TTL − 1 with
/// the RFC 1624 update, the MACs). Returns `false`, leaving the frame untouched, in every
/// case where [`rewrite`] would not say `Transmit`: total length above `mtu`, TTL ≤ 1,
/// a frame shorter than the headers (which step 1 excludes) or an `l3` other than 14
/// or 18; the caller then asks [`rewrite`] why.
#[inline(always)]
pub fn rewrite_forwardable(frame: &mut [u8], l3: usize, macs: &[u8; 12], mtu: u16) -> bool {
    match l3 {
        14 => rewrite_at::<14>(frame, macs, mtu),
        18 => rewrite_at::<18>(frame, macs, mtu),
        _ => false,
    }
}

#[inline(always)]
fn rewrite_at<const L3: usize>(frame: &mut [u8], macs: &[u8; 12], mtu: u16) -> bool {
    let Some(h) = frame.get_mut(..L3 + ipv4::HEADER_LEN) else {
        return false;
    };
    let total_len = u16::from_be_bytes([h[L3 + 2], h[L3 + 3]]);
    let ttl = h[L3 + 8];
    if (total_len > mtu) | (ttl <= 1) {
        return false;
    }
    // RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), on the checksum and the TTL/protocol
    // word both read little-endian (one's complement sums commute with the byte swap):
    // there the TTL is the low byte, so m' = m - 1 (TTL >= 2: no borrow) and
    // ~m + m' = 0xfffe whatever m is. ~HC + 0xfffe < 2^17: one end-around carry folds
    // it. The same value `checksum::update_word` computes (tests/forward_fast.rs).
    let old_checksum = u16::from_le_bytes([h[L3 + 10], h[L3 + 11]]);
    let mut acc = u32::from(!old_checksum) + 0xfffe;
    acc = (acc & 0xffff) + (acc >> 16);
    let new_checksum = !(acc as u16);
    h[L3 + 8] = ttl - 1;
    h[L3 + 10..L3 + 12].copy_from_slice(&new_checksum.to_le_bytes());
    h[..12].copy_from_slice(macs);
    true
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
