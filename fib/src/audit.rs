//! Auditing a forwarding table against the FIB, without stopping it.
//!
//! Both sides reduce an address range to one 64-bit *digest* of what it maps to:
//! the range cut into maximal runs of addresses with the same lookup result (a
//! nexthop id, or [`NO_ROUTE`]), each run hashed with its offset in the range. A
//! forwarding core computes it from its DIR-24-8 entries
//! ([`Dir24Table::digest_range`](crate::Dir24Table::digest_range), in budgeted
//! steps); the control plane computes it from the FIB's prefixes in address order
//! ([`Fib::audit_digests`](crate::Fib::audit_digests)), with no table of its own.
//! The two are different algorithms over the same definition, so a digest that
//! differs means the table is wrong there — and the ranges are walked down, /8 →
//! /16 → /24 → addresses, to the mismatching addresses.
//!
//! A core's digest is taken at the seq its serving table reflects; the FIB's is
//! taken now. They compare when no route event touched the range in between, which
//! [`Fib::unchanged_since`](crate::Fib::unchanged_since) answers per /8.

use crate::dir24::NO_ROUTE;

/// Ranges per audit request: a range set splits its parent range in 256.
pub const AUDIT_FANOUT: usize = 256;

/// `count` consecutive, equal, aligned address ranges of `2^shift` addresses from
/// `base`: `/8`s (shift 24) down to single addresses (shift 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RangeSet {
    pub base: u32,
    /// 0, 8, 16 or 24.
    pub shift: u8,
    /// 1 ..= [`AUDIT_FANOUT`].
    pub count: u16,
}

impl RangeSet {
    /// The 256 /8s of the whole address space.
    pub const WHOLE: RangeSet = RangeSet {
        base: 0,
        shift: 24,
        count: AUDIT_FANOUT as u16,
    };

    /// Whether the set is well formed: a supported shift, a count of 1 to 256, the
    /// base aligned to the ranges, and the last range inside the address space.
    pub fn is_valid(&self) -> bool {
        matches!(self.shift, 0 | 8 | 16 | 24)
            && (1..=AUDIT_FANOUT as u16).contains(&self.count)
            && self.base & self.size().wrapping_sub(1) as u32 == 0
            && u64::from(self.base) + u64::from(self.count) * self.size() <= 1 << 32
    }

    /// Addresses per range.
    pub fn size(&self) -> u64 {
        1 << self.shift
    }

    /// The first address of range `i`.
    pub fn start(&self, i: usize) -> u32 {
        self.base + ((i as u32) << self.shift)
    }

    /// Range `i`'s 256 sub-ranges (one level down), or `None` for single addresses.
    pub fn split(&self, i: usize) -> Option<RangeSet> {
        (self.shift > 0).then(|| RangeSet {
            base: self.start(i),
            shift: self.shift - 8,
            count: AUDIT_FANOUT as u16,
        })
    }

    /// Range `i` alone.
    pub fn single(&self, i: usize) -> RangeSet {
        RangeSet {
            base: self.start(i),
            shift: self.shift,
            count: 1,
        }
    }
}

/// The digest of one range, fed its runs in address order.
///
/// Adjacent runs with the same value merge, so how a side happens to cut the range
/// (tbl24 entries, tbl8 entries, prefixes) does not change the digest. A range of a
/// single address digests to its value itself, so the last level of an audit
/// carries the lookup results to report.
#[derive(Debug, Clone, Copy)]
pub struct RunDigest {
    start: u32,
    single: bool,
    hash: u64,
    /// The run being extended: (offset in the range, value), if any.
    open: Option<(u64, u32)>,
}

impl RunDigest {
    /// A digest of the range starting at `start`, of `size` addresses.
    pub fn new(start: u32, size: u64) -> Self {
        RunDigest {
            start,
            single: size == 1,
            hash: 0x9e37_79b9_7f4a_7c15,
            open: None,
        }
    }

    /// Addresses `addr .. addr + len` map to `value` (a nexthop id or [`NO_ROUTE`]).
    /// Calls must follow each other without gaps, from the range's start.
    #[inline]
    pub fn push(&mut self, addr: u32, len: u64, value: u32) {
        debug_assert!(len > 0);
        let offset = u64::from(addr - self.start);
        match self.open {
            Some((_, v)) if v == value => {}
            Some((at, v)) => {
                self.mix(at, v);
                self.open = Some((offset, value));
            }
            None => self.open = Some((offset, value)),
        }
    }

    fn mix(&mut self, offset: u64, value: u32) {
        let word = offset << 32 | u64::from(value);
        self.hash = splitmix(self.hash ^ splitmix(word));
    }

    /// The digest (for a single address: its value).
    pub fn finish(mut self) -> u64 {
        if self.single {
            return u64::from(self.open.map_or(NO_ROUTE, |(_, v)| v));
        }
        if let Some((at, v)) = self.open.take() {
            self.mix(at, v);
        }
        self.hash
    }
}

/// SplitMix64's finaliser: every input bit moves every output bit.
#[inline]
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_a_range_is_cut_does_not_change_its_digest() {
        let mut a = RunDigest::new(0x0a00_0000, 1 << 24);
        a.push(0x0a00_0000, 1 << 16, 3);
        a.push(0x0a01_0000, (1 << 24) - (1 << 16), NO_ROUTE);
        let mut b = RunDigest::new(0x0a00_0000, 1 << 24);
        for i in 0..256u32 {
            b.push(0x0a00_0000 + (i << 8), 256, 3);
        }
        b.push(0x0a01_0000, 1 << 20, NO_ROUTE);
        b.push(0x0a11_0000, (1 << 24) - (1 << 20) - (1 << 16), NO_ROUTE);
        assert_eq!(a.finish(), b.finish());
    }

    #[test]
    fn a_moved_boundary_or_value_changes_the_digest() {
        let digest = |split: u32, second: u32| {
            let mut d = RunDigest::new(0, 1 << 16);
            d.push(0, u64::from(split), 1);
            d.push(split, (1 << 16) - u64::from(split), second);
            d.finish()
        };
        assert_ne!(digest(256, 2), digest(512, 2));
        assert_ne!(digest(256, 2), digest(256, 3));
        assert_ne!(digest(256, 2), digest(256, NO_ROUTE));
    }

    #[test]
    fn a_single_address_digests_to_its_value() {
        let mut d = RunDigest::new(7, 1);
        d.push(7, 1, 42);
        assert_eq!(d.finish(), 42);
    }

    #[test]
    fn range_sets_split_down_to_addresses() {
        assert!(RangeSet::WHOLE.is_valid());
        let s = RangeSet::WHOLE.split(10).unwrap();
        assert_eq!((s.base, s.shift), (0x0a00_0000, 16));
        let a = s.split(1).unwrap().split(2).unwrap();
        assert_eq!(
            (a.base, a.shift, a.start(255)),
            (0x0a01_0200, 0, 0x0a01_02ff)
        );
        assert!(a.is_valid() && a.split(0).is_none());
        assert!(!RangeSet {
            base: 1,
            shift: 8,
            count: 1
        }
        .is_valid());
        assert!(!RangeSet {
            base: 0xff00_0000,
            shift: 24,
            count: 2
        }
        .is_valid());
        assert!(!RangeSet {
            base: 0,
            shift: 4,
            count: 1
        }
        .is_valid());
    }
}
