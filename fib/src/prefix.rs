//! IPv4 prefixes: `a.b.c.d/len`, every length 0..=32.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Why a prefix string or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("invalid prefix {0:?}: expected a.b.c.d/len")]
    Syntax(String),
    #[error("invalid prefix length {0}: must be 0..=32")]
    Length(u32),
    #[error("invalid prefix {addr}/{len}: host bits are set (did you mean {net}/{len}?)")]
    HostBits {
        addr: Ipv4Addr,
        len: u8,
        net: Ipv4Addr,
    },
}

/// An IPv4 network prefix with no host bits set.
///
/// Ordered by address then length, so a sorted list walks the address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Prefix {
    addr: u32,
    len: u8,
}

/// The netmask of a prefix length, as a host-order `u32`.
#[inline]
pub const fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

impl Ipv4Prefix {
    /// The default route, `0.0.0.0/0`.
    pub const DEFAULT: Ipv4Prefix = Ipv4Prefix { addr: 0, len: 0 };

    /// A prefix from a host-order address and a length; refuses host bits, as `ip route` does.
    pub fn new(addr: u32, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::Length(len as u32));
        }
        if addr & !mask(len) != 0 {
            return Err(PrefixError::HostBits {
                addr: Ipv4Addr::from(addr),
                len,
                net: Ipv4Addr::from(addr & mask(len)),
            });
        }
        Ok(Ipv4Prefix { addr, len })
    }

    /// The prefix of length `len` that contains `addr` (host bits cleared).
    pub fn truncate(addr: u32, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::Length(len as u32));
        }
        Ok(Ipv4Prefix {
            addr: addr & mask(len),
            len,
        })
    }

    /// The network address, host order.
    #[inline]
    pub const fn addr(&self) -> u32 {
        self.addr
    }

    /// The prefix length, 0..=32 (a length in bits, not a container size).
    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub const fn len(&self) -> u8 {
        self.len
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }

    /// First address covered (the network address).
    #[inline]
    pub const fn first(&self) -> u32 {
        self.addr
    }

    /// Last address covered.
    #[inline]
    pub const fn last(&self) -> u32 {
        self.addr | !mask(self.len)
    }

    /// Does this prefix cover `addr`?
    #[inline]
    pub const fn contains(&self, addr: u32) -> bool {
        addr & mask(self.len) == self.addr
    }

    /// Does this prefix cover all of `other`?
    #[inline]
    pub const fn covers(&self, other: &Ipv4Prefix) -> bool {
        self.len <= other.len && self.contains(other.addr)
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}

impl FromStr for Ipv4Prefix {
    type Err = PrefixError;

    /// Parses `a.b.c.d/len`. A bare address is read as a /32, as `ip route` does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => {
                // u8::from_str accepts a leading '+'; prefix lengths are plain digits.
                if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) || l.len() > 3 {
                    return Err(PrefixError::Syntax(s.to_owned()));
                }
                let len: u32 = l.parse().map_err(|_| PrefixError::Syntax(s.to_owned()))?;
                (a, len)
            }
            None => (s, 32),
        };
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| PrefixError::Syntax(s.to_owned()))?;
        if len > 32 {
            return Err(PrefixError::Length(len));
        }
        Ipv4Prefix::new(u32::from(addr), len as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_every_length() {
        for len in 0..=32u8 {
            let p = Ipv4Prefix::truncate(0xC0A8_0101, len).unwrap();
            let s = p.to_string();
            assert_eq!(s.parse::<Ipv4Prefix>().unwrap(), p, "{s}");
            assert_eq!(p.len(), len);
        }
        assert_eq!(
            "0.0.0.0/0".parse::<Ipv4Prefix>().unwrap(),
            Ipv4Prefix::DEFAULT
        );
        assert_eq!(
            "10.0.0.1".parse::<Ipv4Prefix>().unwrap().to_string(),
            "10.0.0.1/32"
        );
    }

    #[test]
    fn refuses_host_bits_like_ip_route() {
        let err = "10.1.2.3/8".parse::<Ipv4Prefix>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid prefix 10.1.2.3/8: host bits are set (did you mean 10.0.0.0/8?)"
        );
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "/",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0.0/+8",
            "10.0.0/8",
            "10.0.0.0/8/8",
            "10.0.0.256/32",
            "a.b.c.d/1",
            "10.0.0.0/-1",
            " 10.0.0.0/8",
            "10.0.0.0/0008",
        ] {
            assert!(bad.parse::<Ipv4Prefix>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bounds_and_containment() {
        let p: Ipv4Prefix = "10.0.0.0/8".parse().unwrap();
        assert_eq!(p.first(), 0x0A00_0000);
        assert_eq!(p.last(), 0x0AFF_FFFF);
        assert!(p.contains(0x0A12_3456));
        assert!(!p.contains(0x0B00_0000));
        assert_eq!(Ipv4Prefix::DEFAULT.last(), u32::MAX);
        let h: Ipv4Prefix = "10.1.1.1/32".parse().unwrap();
        assert!(p.covers(&h));
        assert!(!h.covers(&p));
    }

    proptest! {
        #[test]
        fn display_parse_roundtrip(addr: u32, len in 0u8..=32) {
            let p = Ipv4Prefix::truncate(addr, len).unwrap();
            prop_assert_eq!(p.to_string().parse::<Ipv4Prefix>().unwrap(), p);
            prop_assert!(p.contains(addr));
            prop_assert!(p.first() <= p.last());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = s.parse::<Ipv4Prefix>();
        }
    }
}
