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
//! | L2 | unicast destination MAC other than the ingress port's | drop `l2_other_host` |
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
//! - The destination MAC of an ingress frame is compared with the ingress port's own, for
//!   every frame (ARP and non-IPv4 included, as Linux drops `PACKET_OTHERHOST` before any
//!   protocol sees it): a NIC in promiscuous mode, a virtual device that does not filter, or
//!   a flooding switch delivers unicast frames meant for other stations, and routing them
//!   would duplicate traffic. Group-addressed frames (broadcast, multicast) pass this check
//!   and meet the IPv4 rules (`limited_broadcast`, `multicast_destination`, `l2_multicast`).

mod reason;
pub mod vector;

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

/// Step 1: the RFC 1812 checks on a received Ethernet frame. `port_mac` is the ingress
/// port's MAC: a unicast frame to any other is dropped `l2_other_host`. Reads only; see
/// the module docs for the order of the checks.
#[inline]
pub fn classify<L: LocalAddresses + ?Sized>(
    frame: &[u8],
    port_mac: EthernetAddress,
    local: &L,
) -> Verdict {
    let Ok(ethernet) = EthernetFrame::new_checked(frame) else {
        return Verdict::Drop(DropReason::TooShort);
    };
    let dst_mac = ethernet.dst_addr();
    if !dst_mac.is_multicast() && dst_mac != port_mac {
        return Verdict::Drop(DropReason::L2OtherHost);
    }
    let ethertype = ethernet.ethertype();
    if ethertype == EtherType::ARP {
        return Verdict::Punt(PuntReason::Arp);
    }
    if ethertype != EtherType::IPV4 {
        return Verdict::Drop(DropReason::NotIpv4);
    }
    let link_layer_group = dst_mac.is_multicast();
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
pub const UNTAGGED_HEADERS: usize = 14 + ipv4::HEADER_LEN;

/// Step 1 for the common case, in one pass over the first 34 bytes: `Some(dst)` exactly
/// when the frame is untagged and `classify(frame, port_mac, &[])` (no local addresses)
/// says `Verdict::Forward { dst }`; `None` for everything else, which the caller hands to
/// [`classify`] for the reason (a tagged frame, options, another station's MAC, any
/// failing check). The test `forward_fast.rs` pins the equivalence.
///
/// The checks are those of the table above, done on five little-endian words read once
/// (bytes 0..8, 12..20, 14..22, 22..30, 30..34) rather than field by field: the
/// destination MAC is one shift and compare with `port_mac` (a forwardable frame's is
/// the port's own, never a group address: a group-addressed frame is dropped
/// `l2_multicast` or earlier); EtherType 0x0800 and version 4 / IHL 5 are one masked compare of three
/// bytes; the header checksum is the sum of the three words covering bytes 14..34 (see
/// [`checksum_ok_words`]); the first octets of both addresses index
/// [`UNFORWARDABLE_OCTET`].
#[inline(always)]
pub fn classify_fast(frame: &[u8], port_mac: EthernetAddress) -> Option<u32> {
    let h: &[u8; UNTAGGED_HEADERS] = frame.first_chunk()?;
    passes_fast_checks(h, frame.len(), port_mac)
        .then(|| u32::from_be_bytes(*h.last_chunk::<4>().expect("34 >= 4")))
}

/// [`classify_fast`]'s checks on a frame of `frame_len` bytes whose first 34 are `h`.
#[inline(always)]
fn passes_fast_checks(
    h: &[u8; UNTAGGED_HEADERS],
    frame_len: usize,
    port_mac: EthernetAddress,
) -> bool {
    let ip_bytes = frame_len - 14;
    let word = |at: usize| u64::from_le_bytes(*h[at..].first_chunk::<8>().expect("at <= 26"));
    // The port's MAC in bytes 2..8 of a little-endian word, where `word(0) << 16` has
    // the frame's destination MAC. A port MAC with the group bit set (which classify
    // never forwards to) also gets bit 0, which no shifted word has: nothing matches it.
    // So one compare also covers the group bit of the frame's destination. Loop-
    // invariant: computed once per burst when inlined into the core's loop.
    let [m0, m1, m2, m3, m4, m5] = port_mac.0;
    let mac = u64::from_le_bytes([0, 0, m0, m1, m2, m3, m4, m5]) | u64::from(m0 & 1);
    // Bytes 12..20: EtherType (12, 13), version/IHL (14), DSCP (15), total length (16, 17).
    let w12 = word(12);
    // Bytes 22..30: TTL (22), protocol, checksum, source address (26..30).
    let w22 = word(22);
    // Bytes 30..34: destination address.
    let w30 = u32::from_le_bytes(*h.last_chunk::<4>().expect("34 >= 4"));
    let total_len = usize::from(((w12 >> 32) as u16).swap_bytes());
    let src_octet = (w22 >> 32) as u8;
    let dst_octet = w30 as u8;
    ((w12 & 0x00ff_ffff) == 0x0045_0008)
        // 20 <= total length <= the bytes after the Ethernet header (at least 20 here):
        // one compare, a total length below 20 wrapping around to a huge value.
        & (total_len.wrapping_sub(ipv4::HEADER_LEN) <= ip_bytes - ipv4::HEADER_LEN)
        & checksum_ok_words(word(14), w22, w30)
        & !(UNFORWARDABLE_OCTET[usize::from(src_octet)]
            | UNFORWARDABLE_OCTET[usize::from(dst_octet)])
        // Destination MAC: the port's own (bytes 6, 7 shifted out), hence not a group
        // address.
        & (word(0) << 16 == mac)
        & ((w22 as u8) > 1)
}

/// The fast branch whole, for a frame received on a port whose MAC is `port_mac`,
/// `macs` and `mtu` being the adjacency of the nexthop its destination (bytes 30..34)
/// was looked up to: forwards it in place and returns `true` exactly when
/// [`classify_fast`] passes it and [`rewrite_classified`] would then forward it (the
/// same bytes written); otherwise returns `false` and leaves it untouched
/// (tests/forward_fast.rs pins both). One parse of the 34 header bytes serves the
/// checks and the rewrite, and every check ends in one branch.
#[inline(always)]
pub fn forward_fast(
    frame: &mut [u8],
    port_mac: EthernetAddress,
    macs: &[u8; 12],
    mtu: u16,
) -> bool {
    let frame_len = frame.len();
    let Some(h) = frame.first_chunk_mut::<UNTAGGED_HEADERS>() else {
        return false;
    };
    let total_len = u16::from_be_bytes([h[16], h[17]]);
    if !(passes_fast_checks(h, frame_len, port_mac) & (total_len <= mtu)) {
        return false;
    }
    let (l2, ip) = h.split_at_mut(14);
    forward_in_place(&mut l2[..12], ip, macs);
    true
}

/// Whether an address's first octet is 0, 127 or 224 and above: the sources
/// [`is_martian_source`] refuses, and the destinations [`classify`] does not let through
/// to the lookup (0/8, 127/8, 224/4, 240/4 with the limited broadcast). `octet - 1`
/// wraps 0 to 255, so one unsigned compare covers 0 and 224..=255.
const fn is_unforwardable_first_octet(octet: u8) -> bool {
    (octet.wrapping_sub(1) >= 223) | (octet == 127)
}

/// [`is_unforwardable_first_octet`] of every octet: one load per address on the fast
/// path instead of two compares.
static UNFORWARDABLE_OCTET: [bool; 256] = {
    let mut table = [false; 256];
    let mut octet = 0;
    while octet < 256 {
        table[octet] = is_unforwardable_first_octet(octet as u8);
        octet += 1;
    }
    table
};

/// Whether the IPv4 header without options whose bytes are `a` (bytes 0..8, read
/// little-endian), `b` (8..16) and `c` (16..20) has a correct checksum, given that its
/// first byte is `0x45` (which the caller checks too).
///
/// The 16-bit one's complement sum of the header folds to `0xffff` exactly when the
/// plain sum `S` of its 16-bit words is a nonzero multiple of `0xffff` (folding keeps the
/// value mod `0xffff`, since `2^16 ≡ 1`, and maps a nonzero sum into `1..=0xffff`). A
/// wider word is `≡` the sum of its 16-bit parts, and `2^64 ≡ 1` too, so adding the three
/// words with end-around carries keeps `S mod 0xffff`; `S` is nonzero because the first
/// byte is. Read little-endian, each 16-bit part is byte-swapped, which swaps the folded
/// sum (RFC 1071 §2(B)), and `0xffff` is its own swap.
#[inline(always)]
fn checksum_ok_words(a: u64, b: u64, c: u32) -> bool {
    let (sum, carry) = a.overflowing_add(b);
    // With a carry, the wrapped sum is at most 2^64 - 2: adding it back cannot overflow.
    let sum = sum + u64::from(carry);
    let (sum, carry) = sum.overflowing_add(u64::from(c));
    let sum = sum + u64::from(carry);
    // `0xffff` is odd, so it divides `sum` exactly when `sum` times its inverse mod
    // 2^64 is at most (2^64 - 1) / 0xffff: one multiply and one compare.
    const INVERSE: u64 = 0xfffe_fffe_fffe_ffff;
    const LIMIT: u64 = u64::MAX / 0xffff;
    sum.wrapping_mul(INVERSE) <= LIMIT
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
    let (l2, ip) = h.split_at_mut(L3);
    forward_in_place(&mut l2[..12], ip, macs);
    true
}

/// The bytes forwarding changes, once the checks are done: TTL − 1 with the RFC 1624
/// checksum update, then the 12 MAC bytes. `ip` is the IPv4 header (at least 20 bytes)
/// with TTL ≥ 2, `l2` the frame's first 12 bytes.
///
/// RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), on the checksum and the TTL/protocol word
/// both read little-endian (one's complement sums commute with the byte swap): there the
/// TTL is the low byte, so m' = m - 1 (TTL >= 2: no borrow) and ~m + m' = 0xfffe whatever
/// m is. ~HC + 0xfffe carries exactly when HC <= 0xfffd, giving ~HC - 1 after the
/// end-around carry and so HC' = HC + 1; HC = 0xfffe gives 0 and 0xffff gives 1, that is
/// HC + 2 (mod 2^16). The same value `checksum::update_word` computes
/// (tests/forward_fast.rs, every checksum value).
#[inline(always)]
fn forward_in_place(l2: &mut [u8], ip: &mut [u8], macs: &[u8; 12]) {
    let old_checksum = u16::from_le_bytes([ip[10], ip[11]]);
    let new_checksum = old_checksum.wrapping_add(1 + u16::from(old_checksum >= 0xfffe));
    ip[8] = ip[8].wrapping_sub(1);
    ip[10..12].copy_from_slice(&new_checksum.to_le_bytes());
    l2.copy_from_slice(macs);
}

/// [`rewrite_forwardable`] for an untagged frame [`classify_fast`] passed, without the
/// checks that passing implies: the frame holds the 34 header bytes (checked anyway: one
/// compare) and its TTL is at least 2. Returns `true` when it forwarded the frame (TTL − 1
/// with the RFC 1624 update, the MACs), `false`, leaving it untouched, when its total
/// length is above `mtu` (`mtu` 0: no adjacency). On a frame `classify_fast` did not
/// pass it writes the same bytes as `rewrite_forwardable(frame, 14, ..)` whenever that
/// forwards, and never panics; it may then also "forward" a frame with TTL 0 or 1
/// (tests/forward_fast.rs pins both).
#[inline(always)]
pub fn rewrite_classified(frame: &mut [u8], macs: &[u8; 12], mtu: u16) -> bool {
    const L3: usize = 14;
    let Some(h) = frame.first_chunk_mut::<{ L3 + ipv4::HEADER_LEN }>() else {
        return false;
    };
    let total_len = u16::from_be_bytes([h[L3 + 2], h[L3 + 3]]);
    if total_len > mtu {
        return false;
    }
    let (l2, ip) = h.split_at_mut(L3);
    forward_in_place(&mut l2[..12], ip, macs);
    true
}

/// Both steps around a lookup, for a frame received on a port whose MAC is `port_mac`:
/// `lookup(dst)` gives the adjacency for a destination, or `None` for no route (punted as
/// [`PuntReason::NoRoute`]). For software paths and tests; the forwarding core runs the
/// steps itself so it can look up a whole burst at once.
#[inline]
pub fn forward<L, F>(frame: &mut [u8], port_mac: EthernetAddress, local: &L, lookup: F) -> Outcome
where
    L: LocalAddresses + ?Sized,
    F: FnOnce(u32) -> Option<Adjacency>,
{
    match classify(frame, port_mac, local) {
        Verdict::Forward { dst } => match lookup(dst) {
            Some(adjacency) => rewrite(frame, &adjacency),
            None => Outcome::Punt(PuntReason::NoRoute),
        },
        Verdict::Punt(reason) => Outcome::Punt(reason),
        Verdict::Drop(reason) => Outcome::Drop(reason),
    }
}
