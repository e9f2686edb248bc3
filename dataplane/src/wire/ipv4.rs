//! IPv4 headers (RFC 791).
//!
//! ```text
//!  0      ver(4) ihl(4) | dscp(6) ecn(2) | total length(16)
//!  4      identification(16)             | flags(3) fragment offset(13)
//!  8      ttl(8) | protocol(8)           | header checksum(16)
//! 12      source address(32)
//! 16      destination address(32)
//! 20      options (ihl*4 - 20 bytes)
//! ```
//!
//! [`Packet::check_len`] checks what every getter relies on: 20 bytes present, IHL ≥ 5,
//! the IHL*4-byte header present, and `IHL*4 ≤ total length ≤ buffer length`. It does not
//! check the version or the checksum: those are field *values*, for the caller to judge
//! ([`Packet::version`], [`Packet::verify_checksum`]). Bytes past the total length (Ethernet
//! padding) are allowed and ignored by [`Packet::payload`].

use core::fmt;
use core::net::Ipv4Addr;

use super::checksum;
use super::field::{read_u16, read_u32, write_u16, write_u32};
use super::{Result, WireError};

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    /// The 16-bit word the TTL shares with the protocol, as the checksum sees it.
    pub const TTL_PROTOCOL_WORD: usize = 8;
}

/// Length of a header without options (IHL 5).
pub const HEADER_LEN: usize = 20;
/// Longest header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// The IP protocol number of the payload.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Protocol(pub u8);

impl Protocol {
    pub const ICMP: Protocol = Protocol(1);
    pub const TCP: Protocol = Protocol(6);
    pub const UDP: Protocol = Protocol(17);
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Protocol::ICMP => f.write_str("icmp"),
            Protocol::TCP => f.write_str("tcp"),
            Protocol::UDP => f.write_str("udp"),
            Protocol(other) => write!(f, "{other}"),
        }
    }
}

impl fmt::Debug for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A view of an IPv4 packet (header and payload) in a byte buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` unchecked. The fixed-header getters and setters (offsets below 20) are
    /// safe once the buffer is 20 bytes long; [`Packet::options`], [`Packet::payload`] and
    /// [`Packet::verify_checksum`] also need the IHL/total length checks of `check_len`.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// See the module docs for what this guarantees.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(WireError::Malformed("IHL below 5"));
        }
        if header_len > len {
            return Err(WireError::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(WireError::Malformed("total length shorter than the header"));
        }
        if total_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The IHL field: header length in 32-bit words.
    #[inline]
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] & 0x0f
    }

    /// Header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length of the datagram in bytes, header included.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    #[inline]
    fn flags_frag(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG)
    }

    /// The reserved (evil) bit, which must be zero.
    #[inline]
    pub fn reserved_flag(&self) -> bool {
        self.flags_frag() & 0x8000 != 0
    }

    /// Don't Fragment.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// More Fragments.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }

    /// `true` for any fragment: MF set or a non-zero offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> Protocol {
        Protocol(self.buffer.as_ref()[field::PROTOCOL])
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_addr_u32())
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_addr_u32())
    }

    /// Source address as a host-order integer, the form route lookups take.
    #[inline]
    pub fn src_addr_u32(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SRC)
    }

    /// Destination address as a host-order integer, the form route lookups take.
    #[inline]
    pub fn dst_addr_u32(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::DST)
    }

    /// The whole header, options included. Needs `check_len`.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// The options region (empty when IHL is 5). Needs `check_len`.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// `true` when the header's checksum verifies (RFC 1071). Needs `check_len`.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.header())
    }

    /// The payload, up to the total length (padding excluded). Needs `check_len`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let byte = &mut self.buffer.as_mut()[field::VER_IHL];
        *byte = (*byte & 0x0f) | (version << 4);
    }

    /// Sets the IHL field (32-bit words, 0..=15).
    #[inline]
    pub fn set_ihl(&mut self, ihl: u8) {
        let byte = &mut self.buffer.as_mut()[field::VER_IHL];
        *byte = (*byte & 0xf0) | (ihl & 0x0f);
    }

    #[inline]
    pub fn set_dscp(&mut self, dscp: u8) {
        let byte = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *byte = (*byte & 0x03) | (dscp << 2);
    }

    #[inline]
    pub fn set_ecn(&mut self, ecn: u8) {
        let byte = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *byte = (*byte & 0xfc) | (ecn & 0x03);
    }

    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::TOTAL_LEN, len);
    }

    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    #[inline]
    fn set_flags_frag(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::FLAGS_FRAG, value);
    }

    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        let raw = self.flags_frag();
        self.set_flags_frag(if value { raw | FLAG_DF } else { raw & !FLAG_DF });
    }

    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let raw = self.flags_frag();
        self.set_flags_frag(if value { raw | FLAG_MF } else { raw & !FLAG_MF });
    }

    /// Sets the fragment offset in bytes; the low 3 bits are dropped (8-byte units).
    #[inline]
    pub fn set_frag_offset(&mut self, offset: u16) {
        let raw = self.flags_frag();
        self.set_flags_frag((raw & !FRAG_OFFSET_MASK) | ((offset >> 3) & FRAG_OFFSET_MASK));
    }

    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    #[inline]
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol.0;
    }

    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        write_u32(self.buffer.as_mut(), field::SRC, addr.to_bits());
    }

    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        write_u32(self.buffer.as_mut(), field::DST, addr.to_bits());
    }

    /// Recomputes the header checksum from scratch. Needs `check_len` (or at least IHL*4
    /// bytes in the buffer).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(self.header());
        self.set_checksum(sum);
    }

    /// Decrements the TTL by one and updates the checksum incrementally (RFC 1624 eqn. 3),
    /// touching only bytes 8 and 10..12. Returns the new TTL.
    ///
    /// The caller must have checked the TTL is at least 1 (a router checks it is at least 2);
    /// a TTL of 0 wraps to 255 with a checksum that matches it, so the header stays consistent
    /// either way. Safe on any buffer of 20 bytes or more.
    #[inline]
    pub fn decrement_ttl(&mut self) -> u8 {
        let buf = self.buffer.as_ref();
        let old_word = read_u16(buf, field::TTL_PROTOCOL_WORD);
        let new_word = old_word.wrapping_sub(0x0100);
        let updated = checksum::update_word(self.checksum(), old_word, new_word);
        write_u16(self.buffer.as_mut(), field::TTL_PROTOCOL_WORD, new_word);
        self.set_checksum(updated);
        (new_word >> 8) as u8
    }

    /// The options region, mutable. Needs `check_len`.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// The payload up to the total length, mutable. Needs `check_len`.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let end = usize::from(self.total_len());
        &mut self.buffer.as_mut()[start..end]
    }
}

/// The high-level form of an IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: Protocol,
    /// Payload length in bytes; the total length is this plus the header length.
    pub payload_len: usize,
    pub ttl: u8,
    pub dscp: u8,
    pub ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In bytes; a multiple of 8.
    pub frag_offset: u16,
}

impl Repr {
    /// A plain unfragmented datagram header with DSCP/ECN 0, ident 0 and DF clear.
    pub const fn new(
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        protocol: Protocol,
        payload_len: usize,
        ttl: u8,
    ) -> Repr {
        Repr {
            src_addr,
            dst_addr,
            protocol,
            payload_len,
            ttl,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// Parses a header: version 4 and a verifying checksum required. Options, if present,
    /// are skipped (the Repr has none; `payload_len` excludes them).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(WireError::Malformed("IP version is not 4"));
        }
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// The header length this Repr emits (no options).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the 20-byte header, checksum filled, at the start of `buffer`; the payload goes
    /// at `buffer[20..]`. Fails if the datagram would exceed 65535 bytes or the buffer.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let total_len = u16::try_from(self.buffer_len())
            .map_err(|_| WireError::Malformed("datagram longer than 65535 bytes"))?;
        let Some(header) = buffer.get_mut(..HEADER_LEN) else {
            return Err(WireError::BufferTooSmall {
                need: HEADER_LEN,
                have: buffer.len(),
            });
        };
        let mut packet = Packet::new_unchecked(header);
        packet.set_version(4);
        packet.set_ihl(5);
        packet.set_dscp(self.dscp);
        packet.set_ecn(self.ecn);
        packet.set_total_len(total_len);
        packet.set_ident(self.ident);
        packet.set_flags_frag(0);
        packet.set_dont_frag(self.dont_frag);
        packet.set_more_frags(self.more_frags);
        packet.set_frag_offset(self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(HEADER_LEN)
    }
}
