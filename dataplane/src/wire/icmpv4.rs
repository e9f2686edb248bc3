//! ICMPv4 (RFC 792): echo, destination unreachable (with the RFC 1191 next-hop MTU),
//! time exceeded, and the builder the control plane uses for error replies.
//!
//! ```text
//! type(8) code(8) checksum(16)
//! echo:          ident(16) seq(16)          data...
//! unreachable:   unused(16) next-hop mtu(16) quoted datagram...
//! time exceeded: unused(32)                  quoted datagram...
//! ```
//!
//! The checksum covers the whole ICMP message, so a view's buffer must be exactly the
//! message: the IPv4 payload up to the total length (`Ipv4Packet::payload`).
//!
//! # How much of the offending datagram an error quotes
//!
//! RFC 792 asks for the IP header plus the first 64 bits of the payload; RFC 1812 §4.3.2.3
//! asks routers for as much of the original datagram as possible without the ICMP error
//! datagram exceeding 576 bytes. fibre does the latter: [`quote_of`] takes the offending
//! datagram up to its total length, capped at [`MAX_QUOTE_LEN`] = 576 − 20 (IPv4 header of
//! the error, which has no options) − 8 (ICMP header) = 548 bytes. Since the largest IPv4
//! header is 60 bytes, the quote always holds the whole header and at least the first 8
//! payload bytes whenever the original had them.

use core::fmt;
use core::net::Ipv4Addr;

use super::checksum;
use super::field::{read_u16, write_u16};
use super::ipv4::{self, Packet as Ipv4Packet, Protocol, Repr as Ipv4Repr};
use super::{Result, WireError};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQ: usize = 6;
    pub const NEXT_HOP_MTU: usize = 6;
    pub const UNUSED: usize = 4;
}

/// Length of the ICMP header (type, code, checksum, 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;
/// Largest ICMP error datagram a router sends (RFC 1812 §4.3.2.3).
pub const MAX_ERROR_DATAGRAM_LEN: usize = 576;
/// Most bytes of the offending datagram an error quotes: see the module docs.
pub const MAX_QUOTE_LEN: usize = MAX_ERROR_DATAGRAM_LEN - ipv4::HEADER_LEN - HEADER_LEN;

/// The ICMP type field.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Message(pub u8);

impl Message {
    pub const ECHO_REPLY: Message = Message(0);
    pub const DST_UNREACHABLE: Message = Message(3);
    pub const ECHO_REQUEST: Message = Message(8);
    pub const TIME_EXCEEDED: Message = Message(11);
    pub const PARAMETER_PROBLEM: Message = Message(12);

    /// `true` for the error messages (an error is never sent about one of these:
    /// RFC 1812 §4.3.2.7).
    pub const fn is_error(self) -> bool {
        matches!(self.0, 3 | 4 | 5 | 11 | 12)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Message::ECHO_REPLY => f.write_str("echo reply"),
            Message::DST_UNREACHABLE => f.write_str("destination unreachable"),
            Message::ECHO_REQUEST => f.write_str("echo request"),
            Message::TIME_EXCEEDED => f.write_str("time exceeded"),
            Message::PARAMETER_PROBLEM => f.write_str("parameter problem"),
            Message(other) => write!(f, "type {other}"),
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Destination unreachable codes (RFC 792, RFC 1812 §5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DstUnreachable {
    NetUnreachable = 0,
    HostUnreachable = 1,
    ProtoUnreachable = 2,
    PortUnreachable = 3,
    /// Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191).
    FragRequired = 4,
    SrcRouteFailed = 5,
    DstNetUnknown = 6,
    DstHostUnknown = 7,
    SrcHostIsolated = 8,
    NetProhibited = 9,
    HostProhibited = 10,
    NetUnreachableForTos = 11,
    HostUnreachableForTos = 12,
    CommProhibited = 13,
    HostPrecedenceViolation = 14,
    PrecedenceCutoff = 15,
}

impl TryFrom<u8> for DstUnreachable {
    type Error = WireError;

    fn try_from(code: u8) -> Result<Self> {
        use DstUnreachable::*;
        const CODES: [DstUnreachable; 16] = [
            NetUnreachable,
            HostUnreachable,
            ProtoUnreachable,
            PortUnreachable,
            FragRequired,
            SrcRouteFailed,
            DstNetUnknown,
            DstHostUnknown,
            SrcHostIsolated,
            NetProhibited,
            HostProhibited,
            NetUnreachableForTos,
            HostUnreachableForTos,
            CommProhibited,
            HostPrecedenceViolation,
            PrecedenceCutoff,
        ];
        CODES
            .get(usize::from(code))
            .copied()
            .ok_or(WireError::Unsupported(
                "unknown destination unreachable code",
            ))
    }
}

/// Time exceeded codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TimeExceeded {
    /// TTL reached zero in transit: what a router sends.
    TtlExpired = 0,
    FragReassemblyExpired = 1,
}

impl TryFrom<u8> for TimeExceeded {
    type Error = WireError;

    fn try_from(code: u8) -> Result<Self> {
        match code {
            0 => Ok(TimeExceeded::TtlExpired),
            1 => Ok(TimeExceeded::FragReassemblyExpired),
            _ => Err(WireError::Unsupported("unknown time exceeded code")),
        }
    }
}

/// A view of an ICMPv4 message in a byte buffer (exactly the message, see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
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

    /// Ensures the 8-byte header is present.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> Message {
        Message(self.buffer.as_ref()[field::TYPE])
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier (echo request/reply only).
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo sequence number (echo request/reply only).
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQ)
    }

    /// Next-hop MTU (destination unreachable, fragmentation required; RFC 1191).
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }

    /// Everything after the 8-byte header: echo data, or the quoted datagram of an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// `true` when the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, value: Message) {
        self.buffer.as_mut()[field::TYPE] = value.0;
    }

    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    pub fn set_echo_seq_no(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQ, value);
    }

    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU, value);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(sum);
    }
}

/// The high-level form of the ICMP messages fibre sends and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    DstUnreachable {
        reason: DstUnreachable,
        /// Meaningful with [`DstUnreachable::FragRequired`]; emitted as 0 otherwise.
        next_hop_mtu: u16,
        /// The quoted offending datagram (see [`quote_of`]).
        quote: &'a [u8],
    },
    TimeExceeded {
        reason: TimeExceeded,
        quote: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Parses a message whose checksum verifies; other types and codes are
    /// [`WireError::Unsupported`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        let message: &'a T = packet.buffer;
        let data = &message.as_ref()[HEADER_LEN..];
        match (packet.msg_type(), packet.msg_code()) {
            (Message::ECHO_REQUEST, 0) => Ok(Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Message::ECHO_REPLY, 0) => Ok(Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Message::DST_UNREACHABLE, code) => {
                let reason = DstUnreachable::try_from(code)?;
                let next_hop_mtu = match reason {
                    DstUnreachable::FragRequired => packet.next_hop_mtu(),
                    _ => 0,
                };
                Ok(Repr::DstUnreachable {
                    reason,
                    next_hop_mtu,
                    quote: data,
                })
            }
            (Message::TIME_EXCEEDED, code) => Ok(Repr::TimeExceeded {
                reason: TimeExceeded::try_from(code)?,
                quote: data,
            }),
            _ => Err(WireError::Unsupported("ICMP type/code not handled")),
        }
    }

    /// Length of the emitted message.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => data.len(),
                Repr::DstUnreachable { quote, .. } | Repr::TimeExceeded { quote, .. } => {
                    quote.len()
                }
            }
    }

    /// Writes the message, checksum filled, at the start of `buffer`; returns its length.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let need = self.buffer_len();
        let Some(message) = buffer.get_mut(..need) else {
            return Err(WireError::BufferTooSmall {
                need,
                have: buffer.len(),
            });
        };
        let mut packet = Packet::new_unchecked(message);
        let data = match *self {
            Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                let msg_type = if matches!(self, Repr::EchoRequest { .. }) {
                    Message::ECHO_REQUEST
                } else {
                    Message::ECHO_REPLY
                };
                packet.set_msg_type(msg_type);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                data
            }
            Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                quote,
            } => {
                packet.set_msg_type(Message::DST_UNREACHABLE);
                packet.set_msg_code(reason as u8);
                write_u16(packet.buffer, field::UNUSED, 0);
                let mtu = match reason {
                    DstUnreachable::FragRequired => next_hop_mtu,
                    _ => 0,
                };
                packet.set_next_hop_mtu(mtu);
                quote
            }
            Repr::TimeExceeded { reason, quote } => {
                packet.set_msg_type(Message::TIME_EXCEEDED);
                packet.set_msg_code(reason as u8);
                write_u16(packet.buffer, field::UNUSED, 0);
                write_u16(packet.buffer, field::UNUSED + 2, 0);
                quote
            }
        };
        packet.data_mut().copy_from_slice(data);
        packet.fill_checksum();
        Ok(need)
    }
}

/// The part of `offending` (an IPv4 datagram, from its header on) an ICMP error quotes:
/// the datagram up to its total length, at most [`MAX_QUOTE_LEN`] bytes. A buffer that is
/// not a consistent IPv4 packet is quoted as given, under the same cap.
pub fn quote_of(offending: &[u8]) -> &[u8] {
    let datagram_len = match Ipv4Packet::new_checked(offending) {
        Ok(packet) => usize::from(packet.total_len()),
        Err(_) => offending.len(),
    };
    let len = datagram_len.min(MAX_QUOTE_LEN);
    &offending[..len]
}

/// Whether RFC 1812 §4.3.2.7 lets a router send an ICMP error about `offending`: not about
/// an ICMP error, a non-first fragment, a datagram to a broadcast or multicast address, or one
/// whose source is not a unicast host (0/8, 127/8, 224/4 and up). Link-layer broadcast
/// reception is the caller's to check. The header must be checked and valid.
pub fn may_send_error_about<T: AsRef<[u8]>>(offending: &Ipv4Packet<T>) -> bool {
    if offending.frag_offset() != 0 {
        return false;
    }
    let src = offending.src_addr();
    let dst = offending.dst_addr();
    if dst.is_broadcast() || dst.is_multicast() {
        return false;
    }
    let src_first_octet = src.octets()[0];
    if src_first_octet == 0 || src_first_octet == 127 || src_first_octet >= 224 {
        return false;
    }
    if offending.protocol() == Protocol::ICMP {
        let payload = offending.payload();
        // An ICMP message whose type byte is missing cannot be told from an error: stay quiet.
        match payload.first() {
            Some(&msg_type) if !Message(msg_type).is_error() => {}
            _ => return false,
        }
    }
    true
}

/// What kind of error [`emit_error`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    DstUnreachable {
        reason: DstUnreachable,
        next_hop_mtu: u16,
    },
    TimeExceeded(TimeExceeded),
}

/// Builds the IPv4 datagram of an ICMP error about `offending` (an IPv4 datagram from its
/// header on) into `out`: IPv4 header from `router_addr` to the offending source with `ttl`,
/// then the ICMP message quoting [`quote_of`]`(offending)`. Returns the datagram length
/// (at most [`MAX_ERROR_DATAGRAM_LEN`]). Whether to send it at all is
/// [`may_send_error_about`]'s question and the caller's rate limit.
pub fn emit_error(
    kind: ErrorKind,
    offending: &[u8],
    router_addr: Ipv4Addr,
    ttl: u8,
    out: &mut [u8],
) -> Result<usize> {
    let original = Ipv4Packet::new_checked(offending)?;
    let quote = quote_of(offending);
    let icmp = match kind {
        ErrorKind::DstUnreachable {
            reason,
            next_hop_mtu,
        } => Repr::DstUnreachable {
            reason,
            next_hop_mtu,
            quote,
        },
        ErrorKind::TimeExceeded(reason) => Repr::TimeExceeded { reason, quote },
    };
    let ip = Ipv4Repr::new(
        router_addr,
        original.src_addr(),
        Protocol::ICMP,
        icmp.buffer_len(),
        ttl,
    );
    let need = ip.buffer_len();
    if out.len() < need {
        return Err(WireError::BufferTooSmall {
            need,
            have: out.len(),
        });
    }
    let header_len = ip.emit(out)?;
    icmp.emit(&mut out[header_len..need])?;
    Ok(need)
}
