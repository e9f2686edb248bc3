//! Bulk lookups: several addresses per call, with their memory accesses overlapped.
//!
//! Nearly every tbl24 read of a random address misses the caches, so throughput is
//! set by how many misses are in flight at once. [`Dir24Table::lookup_bulk`] is the
//! plain scalar loop without bounds checks, inlined into its caller: each lookup's
//! loads depend only on its own address, so the out-of-order core overlaps them, and
//! a call costs no kernel dispatch. The other kernels (a staged two-pass loop, AVX2
//! and AVX-512 gathers) are kept for comparison through
//! [`Dir24Table::lookup_bulk_with`]; `docs/DIR24.md` has the measurements.

use super::table::{decode, resolve, Dir24Table};
use super::EXT;

/// Hints the CPU to bring the line at `ptr` into L1. Never faults.
#[inline(always)]
fn prefetch(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing architecturally and never faults,
    // whatever the address; SSE is part of the x86-64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// An implementation of [`Dir24Table::lookup_bulk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKernel {
    /// Portable: one lookup after another, overlapped by the CPU's out-of-order core.
    Scalar,
    /// Portable, two passes over each batch of 32: every tbl24 read first (no branch
    /// between them), then the tbl8 reads of the extended entries and the decode.
    Staged,
    /// 8 addresses per `vpgatherdd` (x86-64 with AVX2).
    Avx2,
    /// AVX2 gathers for tbl24 only; the few extended entries read their tbl8
    /// entry with plain loads, which stay independent of each other (a masked
    /// second gather waits for the whole first one, and is microcoded).
    Avx2Split,
    /// 16 addresses per `vpgatherdd` (x86-64 with AVX-512F).
    Avx512,
    /// Portable, software-pipelined: the scalar loop with the tbl24 line of the
    /// address [`AHEAD`] places ahead prefetched. Measured slower than the plain
    /// loop at every distance (docs/DIR24.md): kept for the sweep.
    Pipelined,
}

impl LookupKernel {
    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            LookupKernel::Scalar | LookupKernel::Staged | LookupKernel::Pipelined => true,
            #[cfg(target_arch = "x86_64")]
            LookupKernel::Avx2 | LookupKernel::Avx2Split => std::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            LookupKernel::Avx512 => std::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every kernel this CPU can run.
    pub fn available() -> impl Iterator<Item = LookupKernel> {
        [
            LookupKernel::Scalar,
            LookupKernel::Staged,
            LookupKernel::Avx2,
            LookupKernel::Avx2Split,
            LookupKernel::Avx512,
            LookupKernel::Pipelined,
        ]
        .into_iter()
        .filter(|k| k.is_available())
    }
}

/// Addresses per batch of the staged kernel (a forwarding burst).
const BATCH: usize = 32;

/// How many addresses ahead [`LookupKernel::Pipelined`] prefetches tbl24 lines
/// (docs/DIR24.md has the sweep that chose it).
pub const AHEAD: usize = 16;

impl Dir24Table {
    /// Look up every address of `addrs` (host byte order) into `out`: the nexthop id,
    /// or [`NO_ROUTE`](super::NO_ROUTE). Always the plain scalar loop
    /// ([`LookupKernel::Scalar`], what [`default_kernel`](Self::default_kernel)
    /// reports), whatever the CPU: it measured fastest, and inlined into the caller
    /// it costs no dispatch and no CPU feature check. The other kernels are only
    /// reached through [`lookup_bulk_with`](Self::lookup_bulk_with).
    ///
    /// # Panics
    /// If `out` is shorter than `addrs`.
    #[inline(always)]
    pub fn lookup_bulk(&self, addrs: &[u32], out: &mut [u32]) {
        assert!(out.len() >= addrs.len(), "output shorter than input");
        let out = &mut out[..addrs.len()];
        // Measured on AMD EPYC (Zen 4, docs/DIR24.md): the plain scalar loop, inlined,
        // is the fastest kernel here (the gathers are microcoded and serialise more
        // than the out-of-order core does with plain loads).
        self.bulk_scalar(addrs, out)
    }

    /// The kernel [`lookup_bulk`](Self::lookup_bulk) uses: [`LookupKernel::Scalar`]
    /// on every CPU.
    #[inline]
    pub fn default_kernel() -> LookupKernel {
        LookupKernel::Scalar
    }

    /// [`lookup_bulk`](Self::lookup_bulk) with a chosen kernel; an unavailable one
    /// falls back to [`LookupKernel::Scalar`].
    pub fn lookup_bulk_with(&self, kernel: LookupKernel, addrs: &[u32], out: &mut [u32]) {
        assert!(out.len() >= addrs.len(), "output shorter than input");
        let out = &mut out[..addrs.len()];
        match kernel {
            #[cfg(target_arch = "x86_64")]
            LookupKernel::Avx512 if kernel.is_available() => {
                // SAFETY: AVX-512F is present (checked just above).
                unsafe { self.bulk_avx512(addrs, out) }
            }
            #[cfg(target_arch = "x86_64")]
            LookupKernel::Avx2 if kernel.is_available() => {
                // SAFETY: AVX2 is present (checked just above).
                unsafe { self.bulk_avx2(addrs, out) }
            }
            #[cfg(target_arch = "x86_64")]
            LookupKernel::Avx2Split if kernel.is_available() => {
                // SAFETY: AVX2 is present (checked just above).
                unsafe { self.bulk_avx2_split(addrs, out) }
            }
            LookupKernel::Staged => self.bulk_staged(addrs, out),
            LookupKernel::Pipelined => self.bulk_pipelined(AHEAD, addrs, out),
            _ => self.bulk_scalar(addrs, out),
        }
    }

    /// [`LookupKernel::Pipelined`] with the prefetch distance `ahead` (0 is taken as
    /// 1), for the benchmark's sweep.
    pub fn lookup_bulk_ahead(&self, ahead: usize, addrs: &[u32], out: &mut [u32]) {
        assert!(out.len() >= addrs.len(), "output shorter than input");
        self.bulk_pipelined(ahead.max(1), addrs, &mut out[..addrs.len()]);
    }

    /// The software-pipelined loop: the tbl24 line of `addrs[i + ahead]` prefetched
    /// before `addrs[i]` is looked up (see [`LookupKernel::Pipelined`]).
    /// `out.len() == addrs.len()`, `ahead >= 1`.
    #[inline(always)]
    fn bulk_pipelined(&self, ahead: usize, addrs: &[u32], out: &mut [u32]) {
        debug_assert_eq!(addrs.len(), out.len());
        let tbl24 = self.tbl24_ptr();
        let tbl8 = self.tbl8_ptr();
        // Every pointer below stays inside the tables: a >> 8 < 2^24 <= tbl24's
        // length, and an extended entry names an allocated group, so its tbl8 index is
        // below tbl8's length (as in `lookup_raw`; dir24_diff compares every kernel
        // with the reference over random tables).
        let tbl24_line = |a: u32| {
            // SAFETY: in range, as said above.
            unsafe { tbl24.add((a >> 8) as usize) }
        };
        let fetch_tbl24 = |a: u32| prefetch(tbl24_line(a).cast());
        for &a in addrs.iter().take(ahead) {
            fetch_tbl24(a);
        }
        for (i, (&a, o)) in addrs.iter().zip(out.iter_mut()).enumerate() {
            if let Some(&far) = addrs.get(i + ahead) {
                fetch_tbl24(far);
            }
            // SAFETY: in range, as said above.
            *o = unsafe { resolve(tbl8, *tbl24_line(a), a) };
        }
    }

    /// The plain loop, without bounds checks: each lookup's loads depend only on its
    /// own address, so the out-of-order core keeps many tbl24 misses in flight.
    /// `out.len() == addrs.len()`.
    #[inline(always)]
    fn bulk_scalar(&self, addrs: &[u32], out: &mut [u32]) {
        debug_assert_eq!(addrs.len(), out.len());
        let tbl24 = self.tbl24_ptr();
        let tbl8 = self.tbl8_ptr();
        for (&a, o) in addrs.iter().zip(out.iter_mut()) {
            // SAFETY: as in `lookup_raw`: a >> 8 < 2^24 <= tbl24's length, and an
            // extended entry names an allocated group, so the tbl8 index is below
            // groups * 256 <= tbl8's length (dir24_diff compares every kernel with the
            // reference over random tables).
            *o = unsafe { resolve(tbl8, *tbl24.add((a >> 8) as usize), a) };
        }
    }

    /// Two passes per batch: the tbl24 entries of the whole batch into `out`, then the
    /// tbl8 reads and the decode. `out.len() == addrs.len()`.
    #[inline(always)]
    fn bulk_staged(&self, addrs: &[u32], out: &mut [u32]) {
        debug_assert_eq!(addrs.len(), out.len());
        let tbl24 = self.tbl24_ptr();
        let tbl8 = self.tbl8_ptr();
        for (a, o) in addrs.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            for (&a, o) in a.iter().zip(o.iter_mut()) {
                // SAFETY: a >> 8 < 2^24 <= tbl24's length.
                *o = u32::from(unsafe { *tbl24.add((a >> 8) as usize) });
            }
            for (&a, o) in a.iter().zip(o.iter_mut()) {
                // SAFETY: `o` holds this table's tbl24 entry of `a` (the pass above).
                *o = unsafe { resolve(tbl8, *o as u16, a) };
            }
        }
    }

    // The AVX-512 intrinsics are stable since Rust 1.89, the workspace's MSRV.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn bulk_avx512(&self, addrs: &[u32], out: &mut [u32]) {
        use std::arch::x86_64::*;
        let tbl24 = self.tbl24_ptr() as *const i32;
        let tbl8 = self.tbl8_ptr() as *const i32;
        let low16 = _mm512_set1_epi32(0xffff);
        let ext = _mm512_set1_epi32(EXT as i32);
        let low8 = _mm512_set1_epi32(0xff);
        let one = _mm512_set1_epi32(1);
        let whole = addrs.len() / 16 * 16;
        let mut i = 0;
        while i < whole {
            // SAFETY: i + 16 <= addrs.len() == out.len(). The gathers read 4 bytes at
            // byte offset 2 * index: tbl24 is padded by 2 entries past 2^24 and tbl8 by
            // 2 entries past its last group, so every read stays inside the buffers;
            // the tbl8 gather is masked to extended lanes, whose index is in range by
            // the table invariant.
            unsafe {
                let a = _mm512_loadu_si512(addrs.as_ptr().add(i) as *const _);
                let idx = _mm512_srli_epi32::<8>(a);
                let mut e = _mm512_and_si512(_mm512_i32gather_epi32::<2>(idx, tbl24), low16);
                let m = _mm512_test_epi32_mask(e, ext);
                if m != 0 {
                    let idx8 = _mm512_or_si512(
                        _mm512_slli_epi32::<8>(_mm512_srli_epi32::<1>(e)),
                        _mm512_and_si512(a, low8),
                    );
                    e = _mm512_mask_i32gather_epi32::<2>(e, m, idx8, tbl8);
                    e = _mm512_and_si512(e, low16);
                }
                let r = _mm512_sub_epi32(_mm512_srli_epi32::<1>(e), one);
                _mm512_storeu_si512(out.as_mut_ptr().add(i) as *mut _, r);
            }
            i += 16;
        }
        self.bulk_scalar(&addrs[whole..], &mut out[whole..]);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn bulk_avx2(&self, addrs: &[u32], out: &mut [u32]) {
        use std::arch::x86_64::*;
        let tbl24 = self.tbl24_ptr() as *const i32;
        let tbl8 = self.tbl8_ptr() as *const i32;
        let low16 = _mm256_set1_epi32(0xffff);
        let ext = _mm256_set1_epi32(EXT as i32);
        let low8 = _mm256_set1_epi32(0xff);
        let one = _mm256_set1_epi32(1);
        let whole = addrs.len() / 8 * 8;
        let mut i = 0;
        while i < whole {
            // SAFETY: as in bulk_avx512 (same padding argument), 8 lanes.
            unsafe {
                let a = _mm256_loadu_si256(addrs.as_ptr().add(i) as *const __m256i);
                let idx = _mm256_srli_epi32::<8>(a);
                let mut e = _mm256_and_si256(_mm256_i32gather_epi32::<2>(tbl24, idx), low16);
                let m = _mm256_cmpeq_epi32(_mm256_and_si256(e, ext), ext);
                if _mm256_movemask_epi8(m) != 0 {
                    let idx8 = _mm256_or_si256(
                        _mm256_slli_epi32::<8>(_mm256_srli_epi32::<1>(e)),
                        _mm256_and_si256(a, low8),
                    );
                    e = _mm256_mask_i32gather_epi32::<2>(e, tbl8, idx8, m);
                    e = _mm256_and_si256(e, low16);
                }
                let r = _mm256_sub_epi32(_mm256_srli_epi32::<1>(e), one);
                _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut __m256i, r);
            }
            i += 8;
        }
        self.bulk_scalar(&addrs[whole..], &mut out[whole..]);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn bulk_avx2_split(&self, addrs: &[u32], out: &mut [u32]) {
        use std::arch::x86_64::*;
        let tbl24_16 = self.tbl24_ptr();
        let tbl8 = self.tbl8_ptr();
        let tbl24 = tbl24_16 as *const i32;
        let low16 = _mm256_set1_epi32(0xffff);
        let ext = _mm256_set1_epi32(EXT as i32);
        let one = _mm256_set1_epi32(1);
        let whole = addrs.len() / 8 * 8;
        let mut i = 0;
        while i < whole {
            // SAFETY: as in bulk_avx2 for the gather and the store (8 lanes inside
            // both slices, tbl24 padded past 2^24); a lane's tbl24 entry is read
            // again at index a >> 8 < 2^24, and an extended entry names an allocated
            // group, so its tbl8 index is in range (as in `lookup_raw`).
            unsafe {
                let a = _mm256_loadu_si256(addrs.as_ptr().add(i) as *const __m256i);
                let idx = _mm256_srli_epi32::<8>(a);
                let e = _mm256_and_si256(_mm256_i32gather_epi32::<2>(tbl24, idx), low16);
                let m = _mm256_cmpeq_epi32(_mm256_and_si256(e, ext), ext);
                let r = _mm256_sub_epi32(_mm256_srli_epi32::<1>(e), one);
                _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut __m256i, r);
                let mut lanes = _mm256_movemask_ps(_mm256_castsi256_ps(m)) as u32;
                while lanes != 0 {
                    let k = i + lanes.trailing_zeros() as usize;
                    lanes &= lanes - 1;
                    let a = *addrs.get_unchecked(k);
                    // In L1: the gather just read it.
                    let e = *tbl24_16.add((a >> 8) as usize);
                    *out.get_unchecked_mut(k) =
                        decode(*tbl8.add(((e as usize >> 1) << 8) | (a as usize & 0xff)));
                }
            }
            i += 8;
        }
        self.bulk_scalar(&addrs[whole..], &mut out[whole..]);
    }
}
