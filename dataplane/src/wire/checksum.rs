//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! The checksum is the one's complement of the one's complement sum of the data taken as
//! big-endian 16-bit words (an odd trailing byte is padded with zero). A receiver verifies
//! by summing the data *including* the checksum field: a correct packet sums to `0xffff`.

/// One's complement sum of `data` as big-endian 16-bit words, not yet folded.
///
/// Accumulates in a `u64`, so any buffer that fits in memory can be summed without
/// losing carries; [`fold`] turns the result into 16 bits.
#[inline]
pub fn sum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        acc += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

/// Folds the carries of a wide one's complement sum back into 16 bits (end-around carry).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The Internet checksum of `data`: the value to store in a zeroed checksum field.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// `true` when `data`, checksum field included, sums to `0xffff` (RFC 1071 verification).
#[inline]
pub fn verify(data: &[u8]) -> bool {
    fold(sum(data)) == 0xffff
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word of the summed data changed from
/// `old_word` to `new_word`, given the old checksum `old_checksum`.
///
/// `HC' = ~(~HC + ~m + m')`. Unlike the older RFC 1141 form (`HC' = HC + m - m'`) this never
/// produces `0x0000` where a from-scratch computation would give `0xffff` or vice versa,
/// because the complement is taken after the sum (no "minus zero" left in the field).
#[inline]
pub fn update_word(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let acc = u64::from(!old_checksum) + u64::from(!old_word) + u64::from(new_word);
    !fold(acc)
}
