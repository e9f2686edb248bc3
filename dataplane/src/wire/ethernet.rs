//! Ethernet II frames, with an optional IEEE 802.1Q VLAN tag.
//!
//! ```text
//! untagged:  dst(6) src(6) ethertype(2)                      payload...
//! tagged:    dst(6) src(6) 0x8100(2) tci(2) ethertype(2)    payload...
//!                                    tci = pcp(3) dei(1) vid(12)
//! ```
//!
//! Only one tag is understood. A frame whose outer TPID is 0x8100 is viewed as tagged and its
//! [`Frame::ethertype`] is the inner one; stacked tags (0x88a8 outside, or 0x8100 twice) show up
//! as an ethertype of 0x88a8 / 0x8100, which the dataplane treats as "not IPv4". The FCS is not
//! part of the buffer (NICs strip it).

use core::fmt;
use core::str::FromStr;

use super::field::{read_u16, write_u16, Field};
use super::{Result, WireError};

/// A 48-bit IEEE MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);
    /// 00:00:00:00:00:00, as ARP requests carry in the target hardware address.
    pub const ZERO: EthernetAddress = EthernetAddress([0; 6]);

    /// The address in `bytes`, which must be exactly six bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Option<EthernetAddress> {
        bytes.try_into().ok().map(EthernetAddress)
    }

    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// The I/G bit: set for multicast and broadcast (group) addresses.
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    #[inline]
    pub const fn is_broadcast(&self) -> bool {
        u64::from_be_bytes([
            0, 0, self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5],
        ]) == 0xffff_ffff_ffff
    }

    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// The U/L bit: set for locally administered addresses.
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex bytes like 02:00:00:00:00:01")]
pub struct ParseEthernetAddressError(pub String);

impl FromStr for EthernetAddress {
    type Err = ParseEthernetAddressError;

    /// Parses `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (either case, one separator kind).
    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        let err = || ParseEthernetAddressError(s.to_owned());
        let separator = if s.contains('-') { '-' } else { ':' };
        let mut bytes = [0u8; 6];
        let mut parts = s.split(separator);
        for byte in &mut bytes {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 || !part.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(EthernetAddress(bytes))
    }
}

/// The EtherType field: what the payload is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EtherType(pub u16);

impl EtherType {
    pub const IPV4: EtherType = EtherType(0x0800);
    pub const ARP: EtherType = EtherType(0x0806);
    /// IEEE 802.1Q customer VLAN tag (TPID).
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IEEE 802.1ad service VLAN tag (QinQ outer TPID); not parsed, see the module docs.
    pub const QINQ: EtherType = EtherType(0x88a8);
    pub const IPV6: EtherType = EtherType(0x86dd);
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EtherType::IPV4 => f.write_str("ipv4"),
            EtherType::ARP => f.write_str("arp"),
            EtherType::VLAN => f.write_str("802.1q"),
            EtherType::QINQ => f.write_str("802.1ad"),
            EtherType::IPV6 => f.write_str("ipv6"),
            EtherType(other) => write!(f, "0x{other:04x}"),
        }
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

mod field {
    use super::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    /// The ethertype of an untagged frame, or the TPID of a tagged one.
    pub const OUTER_ETHERTYPE: usize = 12;
    pub const TCI: usize = 14;
    pub const INNER_ETHERTYPE: usize = 16;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Length of an 802.1Q-tagged Ethernet II header.
pub const VLAN_HEADER_LEN: usize = 18;

/// An 802.1Q tag control information field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VlanTag {
    /// Priority code point, 0..=7.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier, 0..=4095 (0 = priority-tagged only, 4095 reserved).
    pub vid: u16,
}

impl VlanTag {
    /// The tag in a 16-bit TCI; out-of-range `pcp`/`vid` bits are masked off.
    pub const fn from_tci(tci: u16) -> VlanTag {
        VlanTag {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }

    pub const fn to_tci(self) -> u16 {
        ((self.pcp as u16 & 0x7) << 13) | ((self.dei as u16) << 12) | (self.vid & 0x0fff)
    }
}

/// A view of an Ethernet II frame (optionally 802.1Q-tagged) in a byte buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps `buffer` without checking its length; see [`Frame::check_len`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps `buffer` after [`Frame::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Ensures the buffer holds the whole header, tag included when the TPID says there is one.
    /// After this, no getter or setter can go out of bounds.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.is_vlan_tagged() && buf.len() < VLAN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `true` when the outer ethertype is the 802.1Q TPID.
    #[inline]
    pub fn is_vlan_tagged(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::OUTER_ETHERTYPE) == EtherType::VLAN.0
    }

    /// Length of the header: 14, or 18 with a tag. The payload starts here.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_vlan_tagged() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        let mut addr = [0u8; 6];
        addr.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        EthernetAddress(addr)
    }

    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        let mut addr = [0u8; 6];
        addr.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        EthernetAddress(addr)
    }

    /// The ethertype at offset 12: the TPID (0x8100) when the frame is tagged.
    #[inline]
    pub fn outer_ethertype(&self) -> EtherType {
        EtherType(read_u16(self.buffer.as_ref(), field::OUTER_ETHERTYPE))
    }

    /// The tag, if the frame carries one.
    #[inline]
    pub fn vlan_tag(&self) -> Option<VlanTag> {
        self.is_vlan_tagged()
            .then(|| VlanTag::from_tci(read_u16(self.buffer.as_ref(), field::TCI)))
    }

    /// The VLAN id, if the frame is tagged.
    #[inline]
    pub fn vlan_id(&self) -> Option<u16> {
        self.vlan_tag().map(|tag| tag.vid)
    }

    /// The ethertype of the payload: the inner one when tagged.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        let at = if self.is_vlan_tagged() {
            field::INNER_ETHERTYPE
        } else {
            field::OUTER_ETHERTYPE
        };
        EtherType(read_u16(self.buffer.as_ref(), at))
    }

    /// Everything after the header (the FCS is not in the buffer).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    #[inline]
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.0);
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.0);
    }

    /// Sets the payload's ethertype: the inner one when the frame is tagged.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        let at = if self.is_vlan_tagged() {
            field::INNER_ETHERTYPE
        } else {
            field::OUTER_ETHERTYPE
        };
        write_u16(self.buffer.as_mut(), at, ethertype.0);
    }

    /// Replaces the tag's control information. Does nothing on an untagged frame: adding a
    /// tag moves the payload, which a view over a fixed buffer cannot do.
    #[inline]
    pub fn set_vlan_tag(&mut self, tag: VlanTag) {
        if self.is_vlan_tagged() {
            write_u16(self.buffer.as_mut(), field::TCI, tag.to_tci());
        }
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// The high-level form of an Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_addr: EthernetAddress,
    pub dst_addr: EthernetAddress,
    pub vlan: Option<VlanTag>,
    pub ethertype: EtherType,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            vlan: frame.vlan_tag(),
            ethertype: frame.ethertype(),
        })
    }

    /// Bytes the header takes: 14, or 18 with a tag.
    pub const fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header at the start of `buffer`, returning the header length. The payload
    /// goes after it (`&mut buffer[repr.header_len()..]`).
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let need = self.header_len();
        let Some(header) = buffer.get_mut(..need) else {
            return Err(WireError::BufferTooSmall {
                need,
                have: buffer.len(),
            });
        };
        header[field::DST].copy_from_slice(&self.dst_addr.0);
        header[field::SRC].copy_from_slice(&self.src_addr.0);
        match self.vlan {
            Some(tag) => {
                write_u16(header, field::OUTER_ETHERTYPE, EtherType::VLAN.0);
                write_u16(header, field::TCI, tag.to_tci());
                write_u16(header, field::INNER_ETHERTYPE, self.ethertype.0);
            }
            None => write_u16(header, field::OUTER_ETHERTYPE, self.ethertype.0),
        }
        Ok(need)
    }
}
