//! RFC 1071 checksum and RFC 1624 incremental update, against from-scratch recomputation.

use dataplane::wire::checksum::{checksum, fold, sum, update_word, verify};
use dataplane::wire::Ipv4Packet;
use proptest::prelude::*;

/// The header from RFC 1071's worked example family: a real IPv4 header whose checksum is
/// well known (0xb861).
const KNOWN_HEADER: [u8; 20] = [
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01,
    0xc0, 0xa8, 0x00, 0xc7,
];

#[test]
fn known_header_checksum() {
    let mut header = KNOWN_HEADER;
    assert!(verify(&header));
    header[10] = 0;
    header[11] = 0;
    assert_eq!(checksum(&header), 0xb861);
}

#[test]
fn rfc1071_example_sum() {
    // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 after folding.
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(fold(sum(&data)), 0xddf2);
    assert_eq!(checksum(&data), !0xddf2);
}

#[test]
fn odd_length_pads_with_zero() {
    assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    assert_eq!(sum(&[]), 0);
}

fn header_with(ttl: u8, ident: u16) -> [u8; 20] {
    let mut header = KNOWN_HEADER;
    header[8] = ttl;
    header[4..6].copy_from_slice(&ident.to_be_bytes());
    let mut packet = Ipv4Packet::new_unchecked(&mut header[..]);
    packet.fill_checksum();
    header
}

/// Every TTL from 1 to 255, and for each every 16-bit identification value, which makes
/// the checksum run through all the values it can take: the incremental update must equal
/// a from-scratch computation bit for bit (RFC 1624 eqn. 3 has no -0/+0 ambiguity).
#[test]
fn ttl_decrement_matches_recomputation_exhaustively() {
    let mut checksums_seen = vec![false; 1 << 16];
    for ttl in 1..=255u8 {
        for ident in 0..=u16::MAX {
            let mut header = header_with(ttl, ident);
            checksums_seen[usize::from(u16::from_be_bytes([header[10], header[11]]))] = true;
            let mut packet = Ipv4Packet::new_unchecked(&mut header[..]);
            assert_eq!(packet.decrement_ttl(), ttl - 1);
            let incremental = packet.checksum();
            packet.fill_checksum();
            assert_eq!(
                incremental,
                packet.checksum(),
                "ttl {ttl} ident {ident:#06x}"
            );
        }
    }
    // 0xffff never appears from scratch (it would mean an all-zero header sum).
    let missing: Vec<usize> = (0..1 << 16).filter(|&c| !checksums_seen[c]).collect();
    assert_eq!(missing, vec![0xffff]);
}

#[test]
fn update_word_of_unchanged_word_is_identity_on_valid_sums() {
    let header = header_with(64, 0x1234);
    let hc = u16::from_be_bytes([header[10], header[11]]);
    assert_eq!(update_word(hc, 0x4011, 0x4011), hc);
}

proptest! {
    /// Any 16-bit word of any header changed to any value: incremental equals from scratch.
    #[test]
    fn update_word_matches_recomputation(
        mut header in proptest::array::uniform20(any::<u8>()),
        word_index in 0usize..10,
        new_word in any::<u16>(),
    ) {
        prop_assume!(word_index != 5); // the checksum field itself
        header[10] = 0;
        header[11] = 0;
        let hc = checksum(&header);
        prop_assume!(sum(&header) != 0); // all-zero data has no canonical checksum
        header[10..12].copy_from_slice(&hc.to_be_bytes());
        let at = word_index * 2;
        let old_word = u16::from_be_bytes([header[at], header[at + 1]]);
        header[at..at + 2].copy_from_slice(&new_word.to_be_bytes());
        let incremental = update_word(hc, old_word, new_word);
        header[10] = 0;
        header[11] = 0;
        prop_assume!(sum(&header) != 0);
        prop_assert_eq!(incremental, checksum(&header));
    }

    #[test]
    fn filled_checksum_verifies(data in proptest::collection::vec(any::<u8>(), 2..200)) {
        let mut data = data;
        let len = data.len() & !1;
        data.truncate(len);
        data[0] = 0;
        data[1] = 0;
        let c = checksum(&data);
        data[0..2].copy_from_slice(&c.to_be_bytes());
        prop_assert!(verify(&data));
    }
}
