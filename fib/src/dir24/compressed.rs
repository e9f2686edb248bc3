//! A compressed, read-only copy of a table's tbl24, for lookups at DRAM scale.
//!
//! tbl24 is 2^24 two-byte entries, 32 MiB: a random address's entry is almost never
//! in cache, and each lookup waits on DRAM. Most neighbouring entries are equal (a
//! /16 route fills 256 of them), so [`CompressedTbl24`] keeps tbl24 as runs: per chunk
//! of 64 entries, a 64-bit map with a bit set where a run starts (bit 0 always), and
//! the index of the chunk's first run in one array of run values. An entry is the
//! value of the run it is in: `leaves[base + popcount(map & bits 0..=j) - 1]`. Two
//! dependent loads instead of one, both in arrays small enough to stay in L3 (for
//! RouteViews, about 4 MiB of chunks and ~3 MiB of runs: `docs/DIR24.md`). Extended
//! entries continue in the table's own tbl8, as in [`Dir24Table`].
//!
//! It is a snapshot: built from a table in one pass over tbl24, not updated with it.
//! The forwarding cores do not use it (a route change would need its chunk's runs
//! rebuilt and moved); it measures what the layout buys.

use super::table::{resolve, Dir24Table};
use super::TBL24_LEN;

/// Entries per chunk: one bit each in the chunk's run map.
const CHUNK: usize = 64;

/// One chunk of 64 tbl24 entries: 16 bytes, four per cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
struct Chunk {
    /// Bit `j` set: entry `j` starts a run (differs from entry `j - 1`); bit 0 always.
    runs: u64,
    /// Index in `leaves` of the chunk's first run.
    base: u32,
}

/// tbl24 as runs (see the module docs), borrowing the table for its tbl8.
#[derive(Debug)]
pub struct CompressedTbl24<'t> {
    table: &'t Dir24Table,
    chunks: Vec<Chunk>,
    /// The value of every run, chunk after chunk.
    leaves: Vec<u16>,
}

impl<'t> CompressedTbl24<'t> {
    /// The runs of `table`'s tbl24 as it is now.
    pub fn new(table: &'t Dir24Table) -> Self {
        let tbl24 = table.tbl24_ptr();
        let mut chunks = Vec::with_capacity(TBL24_LEN / CHUNK);
        let mut leaves = Vec::new();
        for c in 0..TBL24_LEN / CHUNK {
            let base = leaves.len() as u32;
            let mut runs = 0u64;
            let mut last = None;
            for j in 0..CHUNK {
                // SAFETY: c * 64 + j < 2^24 <= tbl24's length.
                let e = unsafe { *tbl24.add(c * CHUNK + j) };
                if last != Some(e) {
                    runs |= 1 << j;
                    leaves.push(e);
                    last = Some(e);
                }
            }
            chunks.push(Chunk { runs, base });
        }
        leaves.shrink_to_fit();
        CompressedTbl24 {
            table,
            chunks,
            leaves,
        }
    }

    /// Bytes of lookup memory besides the table's tbl8: chunks and runs.
    pub fn bytes(&self) -> usize {
        self.chunks.len() * size_of::<Chunk>() + self.leaves.len() * size_of::<u16>()
    }

    /// How many runs tbl24 has.
    pub fn runs(&self) -> usize {
        self.leaves.len()
    }

    /// What [`Dir24Table::lookup_raw`] gives for `addr`.
    pub fn lookup_raw(&self, addr: u32) -> u32 {
        let mut out = [0];
        self.lookup_bulk(&[addr], &mut out);
        out[0]
    }

    /// Look up every address of `addrs` into `out`, as [`Dir24Table::lookup_bulk`].
    ///
    /// # Panics
    /// If `out` is shorter than `addrs`.
    pub fn lookup_bulk(&self, addrs: &[u32], out: &mut [u32]) {
        assert!(out.len() >= addrs.len(), "output shorter than input");
        let out = &mut out[..addrs.len()];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU has POPCNT (checked just above).
            return unsafe { self.bulk_popcnt(addrs, out) };
        }
        self.bulk(addrs, out)
    }

    /// The loop with `count_ones` as one POPCNT instruction.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    unsafe fn bulk_popcnt(&self, addrs: &[u32], out: &mut [u32]) {
        self.bulk(addrs, out)
    }

    #[inline(always)]
    fn bulk(&self, addrs: &[u32], out: &mut [u32]) {
        let chunks = self.chunks.as_ptr();
        let leaves = self.leaves.as_ptr();
        let tbl8 = self.table.tbl8_ptr();
        for (&a, o) in addrs.iter().zip(out.iter_mut()) {
            let i = (a >> 8) as usize;
            // SAFETY: i >> 6 < 2^18, the number of chunks. Bit 0 of every map is set
            // and the mask keeps it, so the count is at least 1, and base + count - 1
            // is one of this chunk's runs, inside `leaves`. An extended entry names an
            // allocated group of the table (as in `Dir24Table::lookup_raw`), so its
            // tbl8 index is in range; the borrow keeps the table unchanged.
            *o = unsafe {
                let c = *chunks.add(i >> 6);
                let below = c.runs & (u64::MAX >> (63 - (i & 63)));
                let e = *leaves.add(c.base as usize + below.count_ones() as usize - 1);
                resolve(tbl8, e, a)
            };
        }
    }
}
