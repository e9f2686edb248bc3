//! Zero-copy views of the packets fibre forwards, in the style of smoltcp's `wire` module.
//!
//! Two levels, as there:
//!
//! - **Views** (`Packet<T: AsRef<[u8]>>` / `Frame<T>`) wrap a byte buffer without copying it.
//!   `new_checked` validates the lengths once, after which every field getter is a fixed-offset
//!   read that cannot go out of bounds. Setters exist when `T: AsMut<[u8]>`. `new_unchecked`
//!   skips the validation; on a buffer that has not been checked, getters may panic, so the
//!   dataplane only uses it after its own explicit length checks.
//! - **Reprs** (`ArpRepr`, `Ipv4Repr`, `Icmpv4Repr`, `EthernetRepr`) are owned, high-level
//!   forms for the control plane and tests: `parse` from a checked view, `emit` into one.
//!
//! Multi-byte fields are big-endian on the wire. IPv4 addresses are [`Ipv4Addr`]
//! (`core::net`), which is a plain `[u8; 4]` inside.
//!
//! [`Ipv4Addr`]: core::net::Ipv4Addr

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;

pub use arp::{Operation as ArpOperation, Packet as ArpPacket, Repr as ArpRepr};
pub use ethernet::{
    EtherType, EthernetAddress, Frame as EthernetFrame, ParseEthernetAddressError,
    Repr as EthernetRepr, VlanTag,
};
pub use icmpv4::{
    DstUnreachable, Message as Icmpv4Message, Packet as Icmpv4Packet, Repr as Icmpv4Repr,
    TimeExceeded,
};
pub use ipv4::{Packet as Ipv4Packet, Protocol as IpProtocol, Repr as Ipv4Repr};

/// Why a buffer could not be viewed or parsed as the packet asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the header (or the lengths the header declares).
    #[error("buffer too short for the packet's headers or declared length")]
    Truncated,
    /// A field holds a value the format does not allow (e.g. IPv4 version 6, IHL 3).
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// A well-formed packet of a kind fibre does not handle (e.g. ARP over Token Ring).
    #[error("unsupported packet: {0}")]
    Unsupported(&'static str),
    /// The checksum does not verify.
    #[error("checksum does not verify")]
    BadChecksum,
    /// The output buffer is too small for what is being emitted.
    #[error("output buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall { need: usize, have: usize },
}

/// Result of wire parsing and emitting.
pub type Result<T> = core::result::Result<T, WireError>;

/// Big-endian field access over byte slices whose length has already been checked.
///
/// Each helper takes a fixed-size array reference so the bounds check happens once, at the
/// `try_into`, and the compiler sees constant offsets.
pub(crate) mod field {
    pub type Field = core::ops::Range<usize>;

    #[inline]
    pub fn read_u16(buf: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([buf[at], buf[at + 1]])
    }

    #[inline]
    pub fn write_u16(buf: &mut [u8], at: usize, value: u16) {
        buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn read_u32(buf: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
    }

    #[inline]
    pub fn write_u32(buf: &mut [u8], at: usize, value: u32) {
        buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }
}
