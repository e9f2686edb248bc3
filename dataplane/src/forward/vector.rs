//! [`classify_fast`](super::classify_fast)'s checks over a whole burst, eight frames at a
//! time with AVX2 (x86-64, detected at run time), or frame by frame where AVX2 is missing.
//!
//! The scalar checks read five words of a frame's first 34 bytes and test them one packet
//! at a time. Here each 16-byte row of the headers of eight frames is loaded into the two
//! 128-bit lanes of four registers (frames 0–3 in the low lanes, 4–7 in the high ones),
//! transposed so that one register holds the same 32-bit column of every frame (bytes
//! 0..4, 4..8, 12..16, 16..20 …), and every check is then one vector operation for the
//! eight frames:
//!
//! | column | check |
//! |---|---|
//! | bytes 0..4, 4..6 | destination MAC = the port's (the group bit is never set in it) |
//! | bytes 12..15 | EtherType 0x0800, version 4 and IHL 5 |
//! | bytes 16..18 | 20 ≤ total length ≤ frame length − 14 |
//! | byte 22 | TTL ≥ 2 |
//! | bytes 26, 30 | first octet of source and destination not 0, 127 or ≥ 224 |
//! | bytes 14..34 | the ten header words sum to a nonzero multiple of 0xffff |
//!
//! The result is a bit mask, one bit per frame, equal bit for bit to `classify_fast`'s
//! answers (tests/forward_vector.rs checks it on random bursts, with the AVX2 path and
//! with the scalar one). A group of eight with a frame shorter than 34 bytes, and the
//! last `len % 8` frames of a burst, take the scalar checks.

use super::{passes_fast_checks, UNTAGGED_HEADERS};
use crate::wire::ethernet::EthernetAddress;

/// How a forwarding core runs the fast branch's checks (`CoreConfig::checks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksKernel {
    /// Frame by frame, fused with the rewrite on one read of the headers
    /// (`forward_fast`): the default, portable, and level with the AVX2 kernel in
    /// the measurements (docs/FORWARDING.md, "Vector checks").
    #[default]
    Scalar,
    /// Eight frames at a time with AVX2 ([`fast_checks`]'s kernel), each group's
    /// rewrites right after its checks. Where the CPU lacks AVX2 the core runs
    /// [`ChecksKernel::Scalar`].
    Avx2,
}

impl ChecksKernel {
    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            ChecksKernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            ChecksKernel::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            ChecksKernel::Avx2 => false,
        }
    }
}

/// Most frames one call checks: one bit each in the result.
pub const MAX_FRAMES: usize = 32;

/// Bit `i` of the result is set exactly when `classify_fast(frames[i], port_mac)`
/// is `Some`; frames past [`MAX_FRAMES`] are not looked at (their bits do not exist).
/// AVX2 when the CPU has it, otherwise [`fast_checks_scalar`].
#[inline]
pub fn fast_checks<F: AsRef<[u8]>>(frames: &[F], port_mac: EthernetAddress) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the one target feature `avx2::fast_checks` enables.
        return unsafe { avx2::fast_checks(frames, port_mac) };
    }
    fast_checks_scalar(frames, port_mac)
}

/// [`fast_checks`] one frame at a time, on any CPU.
pub fn fast_checks_scalar<F: AsRef<[u8]>>(frames: &[F], port_mac: EthernetAddress) -> u32 {
    frames
        .iter()
        .take(MAX_FRAMES)
        .enumerate()
        .fold(0, |mask, (i, frame)| {
            mask | u32::from(frame_passes(frame.as_ref(), port_mac)) << i
        })
}

#[inline(always)]
fn frame_passes(frame: &[u8], port_mac: EthernetAddress) -> bool {
    match frame.first_chunk::<UNTAGGED_HEADERS>() {
        Some(h) => passes_fast_checks(h, frame.len(), port_mac),
        None => false,
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use core::arch::x86_64::*;

    use super::{fast_checks_scalar, MAX_FRAMES, UNTAGGED_HEADERS};
    use crate::wire::ethernet::EthernetAddress;

    /// What the checks compare with, per burst.
    pub(crate) struct Expected {
        /// The port's MAC, for the frames that take the scalar checks.
        port_mac: EthernetAddress,
        /// Bytes 0..4 of the port's MAC, read little-endian, in every element.
        mac_0_4: __m256i,
        /// Bytes 4..6 of the port's MAC, little-endian; bit 16 also set when the port's
        /// MAC is a group address, which no masked column has: nothing then matches
        /// (`classify` forwards no group-addressed frame).
        mac_4_6: __m256i,
    }

    impl Expected {
        #[target_feature(enable = "avx2")]
        pub(crate) fn new(port_mac: EthernetAddress) -> Self {
            let [m0, m1, m2, m3, m4, m5] = port_mac.0;
            Expected {
                port_mac,
                mac_0_4: _mm256_set1_epi32(i32::from_le_bytes([m0, m1, m2, m3])),
                mac_4_6: _mm256_set1_epi32(
                    i32::from_le_bytes([m4, m5, 0, 0]) | (i32::from(m0 & 1) << 16),
                ),
            }
        }
    }

    /// [`super::fast_checks`] with AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) fn fast_checks<F: AsRef<[u8]>>(frames: &[F], port_mac: EthernetAddress) -> u32 {
        let frames = &frames[..frames.len().min(MAX_FRAMES)];
        let expected = Expected::new(port_mac);
        let mut mask = 0;
        let mut groups = frames.chunks_exact(8);
        let mut at = 0;
        for group in &mut groups {
            let group: &[F; 8] = group.try_into().expect("chunks of 8");
            mask |= checks_x8(group, &expected) << at;
            at += 8;
        }
        let rest = groups.remainder();
        // `at` is 32 after a whole burst of 32: no bits left, and no shift by 32.
        if !rest.is_empty() {
            mask |= fast_checks_scalar(rest, port_mac) << at;
        }
        mask
    }

    /// 16 bytes of frame `lo` (low lane) and of frame `hi` (high lane), from byte `at`.
    ///
    /// # Safety
    /// Both frames hold at least `at + 16` bytes.
    #[target_feature(enable = "avx2")]
    unsafe fn rows(lo: &[u8], hi: &[u8], at: usize) -> __m256i {
        // SAFETY: the caller guarantees 16 bytes from `at` in both; unaligned loads.
        unsafe {
            _mm256_loadu2_m128i(
                hi.as_ptr().add(at).cast::<__m128i>(),
                lo.as_ptr().add(at).cast::<__m128i>(),
            )
        }
    }

    /// The 16-byte rows from byte `at` of eight frames: frame `r` in the low lane of
    /// register `r`, frame `r + 4` in its high lane. Written out, not with a closure,
    /// which would not inherit the target feature and would call `rows` rather than
    /// inline it.
    ///
    /// # Safety
    /// Every frame holds at least `at + 16` bytes.
    #[target_feature(enable = "avx2")]
    unsafe fn rows_x8(f: &[&[u8]; 8], at: usize) -> [__m256i; 4] {
        // SAFETY: the caller guarantees 16 bytes from `at` in every frame.
        unsafe {
            [
                rows(f[0], f[4], at),
                rows(f[1], f[5], at),
                rows(f[2], f[6], at),
                rows(f[3], f[7], at),
            ]
        }
    }

    /// The four 32-bit columns of four registers of rows (row `r` of each lane in `r`):
    /// column `c` holds element `c` of every row, rows 0–3 in each lane's elements 0–3.
    #[target_feature(enable = "avx2")]
    fn transpose(r: [__m256i; 4]) -> [__m256i; 4] {
        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm256_unpacklo_epi32(r[2], r[3]);
        let t2 = _mm256_unpackhi_epi32(r[0], r[1]);
        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        [
            _mm256_unpacklo_epi64(t0, t1),
            _mm256_unpackhi_epi64(t0, t1),
            _mm256_unpacklo_epi64(t2, t3),
            _mm256_unpackhi_epi64(t2, t3),
        ]
    }

    /// All-ones where the first octet of an address (each element, 0..=255) is 0, 127
    /// or 224 and above: `octet - 1` wraps 0 to 255, so one compare covers 0 and
    /// 224..=255, as in the scalar table.
    #[target_feature(enable = "avx2")]
    fn unforwardable_octet(octet: __m256i) -> __m256i {
        let wrapped = _mm256_and_si256(
            _mm256_sub_epi32(octet, _mm256_set1_epi32(1)),
            _mm256_set1_epi32(0xff),
        );
        _mm256_or_si256(
            _mm256_cmpgt_epi32(wrapped, _mm256_set1_epi32(222)),
            _mm256_cmpeq_epi32(octet, _mm256_set1_epi32(127)),
        )
    }

    /// The two 16-bit halves of every element, added (each at most 0x1fffe).
    #[target_feature(enable = "avx2")]
    fn halves(column: __m256i) -> __m256i {
        _mm256_add_epi32(
            _mm256_and_si256(column, _mm256_set1_epi32(0xffff)),
            _mm256_srli_epi32::<16>(column),
        )
    }

    /// The checks of eight frames: bit `i` for `group[i]`.
    #[target_feature(enable = "avx2")]
    pub(crate) fn checks_x8<F: AsRef<[u8]>>(group: &[F; 8], expected: &Expected) -> u32 {
        let f = group.each_ref().map(AsRef::as_ref);
        let lens = f.map(<[u8]>::len);
        // A frame of 2 GiB or more (none is, but the slice type allows it) or one
        // shorter than the 34 header bytes: the scalar checks for the group. So the
        // lengths fit an i32, and the loads below stay inside every frame.
        let huge = lens.iter().fold(0, |acc, &len| acc | len) >> 31 != 0;
        let lens = _mm256_setr_epi32(
            lens[0] as i32,
            lens[1] as i32,
            lens[2] as i32,
            lens[3] as i32,
            lens[4] as i32,
            lens[5] as i32,
            lens[6] as i32,
            lens[7] as i32,
        );
        let short = _mm256_cmpgt_epi32(_mm256_set1_epi32(UNTAGGED_HEADERS as i32), lens);
        if huge | (_mm256_movemask_ps(_mm256_castsi256_ps(short)) != 0) {
            return fast_checks_scalar(group, expected.port_mac);
        }
        // SAFETY: every frame holds at least 34 bytes (just checked on their slices'
        // lengths, which fit an i32), so the rows at 0, 16 and 18 are inside each.
        let (a, b, c) = unsafe { (rows_x8(&f, 0), rows_x8(&f, 16), rows_x8(&f, 18)) };
        // Columns, little-endian: bytes 0..4, 4..8, 12..16.
        let [mac_0_4, mac_4_8, _, l2_12_16] = transpose(a);
        // Bytes 16..20 (total length, id), 20..24 (fragment, TTL, protocol),
        // 24..28 (checksum, source 26, 27), 28..32.
        let [ip_16_20, ip_20_24, ip_24_28, ip_28_32] = transpose(b);
        // Bytes 30..34: the destination address (the first three columns are unused).
        let [_, _, _, ip_30_34] = transpose(c);

        let ff = _mm256_set1_epi32(0xff);
        let mut ok = _mm256_cmpeq_epi32(mac_0_4, expected.mac_0_4);
        ok = _mm256_and_si256(
            ok,
            _mm256_cmpeq_epi32(
                _mm256_and_si256(mac_4_8, _mm256_set1_epi32(0xffff)),
                expected.mac_4_6,
            ),
        );
        ok = _mm256_and_si256(
            ok,
            _mm256_cmpeq_epi32(
                _mm256_and_si256(l2_12_16, _mm256_set1_epi32(0x00ff_ffff)),
                _mm256_set1_epi32(0x0045_0008),
            ),
        );

        // Total length (big-endian in the low 16 bits): 20 ..= frame length − 14.
        let total_len = _mm256_or_si256(
            _mm256_slli_epi32::<8>(_mm256_and_si256(ip_16_20, ff)),
            _mm256_and_si256(_mm256_srli_epi32::<8>(ip_16_20), ff),
        );
        let mut bad = _mm256_or_si256(
            _mm256_cmpgt_epi32(_mm256_set1_epi32(20), total_len),
            _mm256_cmpgt_epi32(total_len, _mm256_sub_epi32(lens, _mm256_set1_epi32(14))),
        );
        // TTL below 2.
        let ttl = _mm256_and_si256(_mm256_srli_epi32::<16>(ip_20_24), ff);
        bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(_mm256_set1_epi32(2), ttl));
        // Martian first octets: source (byte 26), destination (byte 30).
        let src_octet = _mm256_and_si256(_mm256_srli_epi32::<16>(ip_24_28), ff);
        let dst_octet = _mm256_and_si256(ip_30_34, ff);
        bad = _mm256_or_si256(bad, unforwardable_octet(src_octet));
        bad = _mm256_or_si256(bad, unforwardable_octet(dst_octet));

        // The header checksum: the ten 16-bit words of bytes 14..34 (each byte-swapped,
        // read little-endian, which swaps the folded sum and leaves 0xffff as it is)
        // sum to at most 10 * 0xffff, below 2^20; two folds bring that into
        // 0..=0xffff, where 0xffff means a nonzero multiple of 0xffff: a valid header
        // (RFC 1071), as `checksum_ok_words` decides it for a first byte of 0x45.
        let mut sum = _mm256_add_epi32(
            _mm256_srli_epi32::<16>(l2_12_16),
            _mm256_srli_epi32::<16>(ip_30_34),
        );
        for column in [ip_16_20, ip_20_24, ip_24_28, ip_28_32] {
            sum = _mm256_add_epi32(sum, halves(column));
        }
        sum = halves(halves(sum));
        ok = _mm256_and_si256(ok, _mm256_cmpeq_epi32(sum, _mm256_set1_epi32(0xffff)));

        let pass = _mm256_andnot_si256(bad, ok);
        _mm256_movemask_ps(_mm256_castsi256_ps(pass)) as u32
    }
}
