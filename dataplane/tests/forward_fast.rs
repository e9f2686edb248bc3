//! The forwarding core's one-parse fast path against the reference functions:
//! `classify_fast` says `Some(dst)` exactly when the frame is untagged and `classify`
//! (no local addresses, the same ingress port MAC) says `Forward { dst }`, whatever the
//! frame's destination MAC (the port's, another station's, broadcast, multicast); `rewrite_forwardable` on a classified
//! frame forwards exactly when `rewrite` says `Transmit`, leaving the same bytes, and
//! leaves the frame untouched otherwise; `rewrite_classified` (the core's fast branch,
//! for frames `classify_fast` passed) writes the same bytes as `rewrite_forwardable`
//! at offset 14 on those frames, and never panics on any other; `forward_fast` (the
//! two in one pass, what the core runs) forwards exactly when `classify_fast` passes a
//! frame and `rewrite_classified` then forwards it, with the same bytes, and leaves it
//! untouched otherwise.

mod forward_support;

use std::net::Ipv4Addr;

use dataplane::forward::{
    classify, classify_fast, forward_fast, rewrite, rewrite_classified, rewrite_forwardable,
    Adjacency, DropReason, Outcome, Verdict,
};
use dataplane::wire::ethernet::Frame as EthernetFrame;
use dataplane::wire::{EthernetAddress, VlanTag};
use forward_support::*;
use proptest::prelude::*;

const NO_LOCAL: [u32; 0] = [];

fn untagged(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x08, 0x00][..])
}

/// The destination MAC of a frame, if it has one.
fn dst_mac(frame: &[u8]) -> Option<EthernetAddress> {
    Some(EthernetAddress(*frame.first_chunk::<6>()?))
}

/// [`check_port`] with the ingress port's MAC `port_mac`, and again as received on a
/// port whose MAC is the frame's destination MAC, so arbitrary frames reach the checks
/// after the MAC's too.
fn check(
    frame: &[u8],
    port_mac: EthernetAddress,
    adjacency: &Adjacency,
) -> Result<(), TestCaseError> {
    check_port(frame, port_mac, adjacency)?;
    if let Some(own) = dst_mac(frame) {
        if own != port_mac {
            check_port(frame, own, adjacency)?;
        }
    }
    Ok(())
}

/// Both checks of the module docs, for one frame received on a port whose MAC is
/// `port_mac`, and one adjacency.
fn check_port(
    frame: &[u8],
    port_mac: EthernetAddress,
    adjacency: &Adjacency,
) -> Result<(), TestCaseError> {
    let verdict = classify(frame, port_mac, &NO_LOCAL[..]);
    let fast_dst = classify_fast(frame, port_mac);
    // A whole Ethernet header (14 bytes, 18 tagged; else `too_short` first) to another
    // unicast MAC: dropped, whatever follows.
    if let Ok(ethernet) = EthernetFrame::new_checked(frame) {
        let mac = ethernet.dst_addr();
        if !mac.is_multicast() && mac != port_mac {
            prop_assert_eq!(verdict, Verdict::Drop(DropReason::L2OtherHost));
        }
    }
    match verdict {
        Verdict::Forward { dst } if untagged(frame) => prop_assert_eq!(fast_dst, Some(dst)),
        _ => prop_assert_eq!(fast_dst, None, "classify said {:?}", verdict),
    }
    if let Verdict::Forward { .. } = verdict {
        let l3 = if untagged(frame) { 14 } else { 18 };
        let mut macs = [0; 12];
        macs[..6].copy_from_slice(&adjacency.dst_mac.0);
        macs[6..].copy_from_slice(&adjacency.src_mac.0);
        let mut reference = frame.to_vec();
        let outcome = rewrite(&mut reference, adjacency);
        let mut fast = frame.to_vec();
        let forwarded = rewrite_forwardable(&mut fast, l3, &macs, adjacency.mtu);
        prop_assert_eq!(
            forwarded,
            outcome
                == Outcome::Transmit {
                    port: adjacency.port
                },
            "rewrite said {:?}",
            outcome
        );
        if forwarded {
            prop_assert_eq!(&fast, &reference);
        } else {
            prop_assert_eq!(&fast[..], frame, "not forwarded but modified");
        }
        if fast_dst.is_some() {
            let mut classified = frame.to_vec();
            let sent = rewrite_classified(&mut classified, &macs, adjacency.mtu);
            prop_assert_eq!(sent, forwarded);
            prop_assert_eq!(&classified, &fast);
        }
    }
    // Any offset on any bytes: no panic, and a refusal leaves the frame alone.
    for l3 in [0, 14, 18, 100] {
        let mut buffer = frame.to_vec();
        if !rewrite_forwardable(&mut buffer, l3, &[0xab; 12], adjacency.mtu) {
            prop_assert_eq!(&buffer[..], frame);
        }
    }
    // `forward_fast` is `classify_fast` then `rewrite_classified`, on any bytes.
    let mut macs = [0; 12];
    macs[..6].copy_from_slice(&adjacency.dst_mac.0);
    macs[6..].copy_from_slice(&adjacency.src_mac.0);
    let mut fused = frame.to_vec();
    let fused_sent = forward_fast(&mut fused, port_mac, &macs, adjacency.mtu);
    let mut staged = frame.to_vec();
    let staged_sent = classify_fast(frame, port_mac).is_some()
        && rewrite_classified(&mut staged, &macs, adjacency.mtu);
    prop_assert_eq!(fused_sent, staged_sent);
    prop_assert_eq!(&fused, &staged);
    // `rewrite_classified` on any bytes: no panic; a refusal leaves the frame alone;
    // and wherever `rewrite_forwardable` forwards at 14, the same bytes.
    let mut buffer = frame.to_vec();
    let sent = rewrite_classified(&mut buffer, &[0xab; 12], adjacency.mtu);
    let mut reference = frame.to_vec();
    if rewrite_forwardable(&mut reference, 14, &[0xab; 12], adjacency.mtu) {
        prop_assert!(sent);
        prop_assert_eq!(&buffer, &reference);
    } else if !sent {
        prop_assert_eq!(&buffer[..], frame);
    }
    Ok(())
}

/// A destination MAC from each class the check tells apart: the port's own, another
/// unicast station's (random, or the port's with one bit of one byte flipped), broadcast,
/// multicast (random with the group bit set).
fn any_dst_mac(port_mac: EthernetAddress) -> impl Strategy<Value = EthernetAddress> {
    prop_oneof![
        Just(port_mac),
        any::<[u8; 6]>().prop_map(|mut m| {
            m[0] &= !1;
            EthernetAddress(m)
        }),
        (0usize..6, 0u32..8).prop_map(move |(byte, bit)| {
            let mut m = port_mac.0;
            // Bit 0 of byte 0 is the group bit: flip bit 1 there instead.
            m[byte] ^= 1 << if byte == 0 { bit.max(1) } else { bit };
            EthernetAddress(m)
        }),
        Just(EthernetAddress::BROADCAST),
        any::<[u8; 6]>().prop_map(|mut m| {
            m[0] |= 1;
            EthernetAddress(m)
        }),
    ]
}

/// A port MAC: the test frames' usual one, or any unicast address.
fn any_port_mac() -> impl Strategy<Value = EthernetAddress> {
    prop_oneof![
        Just(INGRESS_MAC),
        any::<[u8; 6]>().prop_map(|mut m| {
            m[0] &= !1;
            EthernetAddress(m)
        }),
    ]
}

prop_compose! {
    fn any_adjacency()(mtu in any::<u16>(), dst_mac in any::<[u8; 6]>(), src_mac in any::<[u8; 6]>()) -> Adjacency {
        Adjacency { port: 3, dst_mac: EthernetAddress(dst_mac), src_mac: EthernetAddress(src_mac), mtu }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(frame in proptest::collection::vec(any::<u8>(), 0..80), adjacency in any_adjacency()) {
        check(&frame, INGRESS_MAC, &adjacency)?;
    }

    /// Arbitrary bytes behind an IPv4 ethertype and a 0x45 first byte.
    #[test]
    fn arbitrary_ipv4_ish(mut frame in proptest::collection::vec(any::<u8>(), 14..80), adjacency in any_adjacency()) {
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        if let Some(byte) = frame.get_mut(14) {
            *byte = 0x45;
        }
        check(&frame, INGRESS_MAC, &adjacency)?;
    }

    #[test]
    fn valid_frames(spec in valid_spec(), adjacency in any_adjacency()) {
        check(&spec.build(), INGRESS_MAC, &adjacency)?;
    }

    /// Valid frames (and valid frames with a mutated header) to every class of
    /// destination MAC, received on ports with various MACs: both paths agree, and a
    /// unicast frame for another MAC is dropped `l2_other_host`.
    #[test]
    fn valid_frames_any_destination_mac(
        (port_mac, dst) in any_port_mac().prop_flat_map(|p| (Just(p), any_dst_mac(p))),
        spec in valid_spec(),
        adjacency in any_adjacency(),
        mutations in proptest::collection::vec((0usize..20, any::<u8>()), 0..3),
    ) {
        let spec = spec.with(|s| s.dst_mac = dst);
        let mut frame = spec.build();
        mutate_header_fix_checksum(&mut frame, spec.l2_len(), &mutations);
        check_port(&frame, port_mac, &adjacency)?;
    }

    /// Valid frames with a few bytes overwritten (or truncated).
    #[test]
    fn mutated_valid_frames(
        spec in valid_spec(),
        adjacency in any_adjacency(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut frame = spec.build();
        mutate(&mut frame, &mutations, truncate);
        check(&frame, INGRESS_MAC, &adjacency)?;
    }

    /// Valid frames with header bytes (the first 12 too) mutated and the checksum then
    /// fixed, so every later check is reached.
    #[test]
    fn mutated_headers_with_fixed_checksum(
        spec in valid_spec(),
        adjacency in any_adjacency(),
        mutations in proptest::collection::vec((0usize..20, any::<u8>()), 1..4),
        mac_bit in any::<bool>(),
    ) {
        let mut frame = spec.build();
        let l2 = spec.l2_len();
        if mac_bit {
            frame[0] |= 1;
        }
        mutate_header_fix_checksum(&mut frame, l2, &mutations);
        check(&frame, INGRESS_MAC, &adjacency)?;
    }
}

/// Boundary values in the fields the checks read (TTL, version/IHL, total length,
/// first octets of the addresses, the group bit, every byte of the destination MAC and
/// the source MAC's first two, which the fast path's MAC word also reads, the ethertype),
/// checksum fixed after.
#[test]
fn boundary_fields() {
    let octets = [0u8, 1, 126, 127, 128, 223, 224, 239, 240, 254, 255];
    let mut cases: Vec<(usize, u8)> = Vec::new();
    for ttl in 0..=3 {
        cases.push((14 + 8, ttl));
    }
    for vihl in [0x44, 0x45, 0x46, 0x4f, 0x35, 0x55, 0x05] {
        cases.push((14, vihl));
    }
    for octet in octets {
        cases.push((14 + 12, octet));
        cases.push((14 + 16, octet));
    }
    for len_lo in [0u8, 19, 20, 25, 26, 27, 45, 46, 47, 255] {
        cases.push((14 + 3, len_lo));
    }
    for et in [0x00u8, 0x06, 0x08, 0x81, 0x86] {
        cases.push((12, et));
        cases.push((13, et));
    }
    for mac0 in [0x00u8, 0x01, 0x02, 0x03, 0xff] {
        cases.push((0, mac0));
    }
    for at in 1..8 {
        for value in [0x00u8, 0x01, 0x5a, 0xff] {
            cases.push((at, value));
        }
    }
    let adjacency = adjacency();
    for padding in [0, 1, 20] {
        let base = Spec::default().with(|s| s.padding = padding).build();
        for &(at, value) in &cases {
            for last in [0u8, 1, 255] {
                let mut frame = base.clone();
                frame[at] = value;
                // A second byte of the same field for the address and length cases.
                if at == 14 + 15 || at == 14 + 19 {
                    frame[at] = last;
                }
                frame[24] = 0;
                frame[25] = 0;
                let ihl = (usize::from(frame[14] & 0x0f) * 4).clamp(20, frame.len() - 14);
                let sum = dataplane::wire::checksum::checksum(&frame[14..14 + ihl]);
                frame[24..26].copy_from_slice(&sum.to_be_bytes());
                check(&frame, INGRESS_MAC, &adjacency).unwrap();
            }
        }
    }
}

/// Every value of the checksum field of a few headers: the fast sum accepts exactly the
/// values the reference accepts (including the two one's complement zeros).
#[test]
fn every_checksum_value() {
    let specs = [
        Spec::default(),
        Spec::default().with(|s| {
            s.ip.src_addr = Ipv4Addr::new(1, 0, 0, 0);
            s.ip.dst_addr = Ipv4Addr::new(1, 0, 0, 1);
            s.ip.ttl = 2;
            s.ip.payload_len = 0;
        }),
        Spec::default().with(|s| {
            s.ip.src_addr = Ipv4Addr::new(223, 255, 255, 255);
            s.ip.dst_addr = Ipv4Addr::new(223, 255, 255, 254);
            s.ip.ttl = 255;
            s.ip.ident = 0xffff;
            s.ip.payload_len = 1400;
        }),
    ];
    let adjacency = adjacency();
    for spec in specs {
        let mut frame = spec.build();
        let mut accepted = 0;
        for value in 0..=u16::MAX {
            frame[24..26].copy_from_slice(&value.to_be_bytes());
            check(&frame, INGRESS_MAC, &adjacency).unwrap();
            accepted += usize::from(classify_fast(&frame, INGRESS_MAC).is_some());
        }
        assert!(accepted >= 1, "the valid checksum is accepted");
    }
}

/// Every value of the checksum field with TTLs 0..=3 and 255, untagged and tagged:
/// `rewrite_forwardable` writes the same bytes as `rewrite` (whose RFC 1624 update is
/// `checksum::update_word`), or refuses exactly where `rewrite` does not transmit.
#[test]
fn rewrite_every_checksum_value() {
    let adjacency = adjacency();
    let mut macs = [0; 12];
    macs[..6].copy_from_slice(&adjacency.dst_mac.0);
    macs[6..].copy_from_slice(&adjacency.src_mac.0);
    for vlan in [
        None,
        Some(VlanTag {
            pcp: 1,
            dei: false,
            vid: 7,
        }),
    ] {
        let spec = Spec::default().with(|s| s.vlan = vlan);
        let l3 = spec.l2_len();
        for ttl in [0u8, 1, 2, 3, 255] {
            let mut frame = spec.build();
            frame[l3 + 8] = ttl;
            for value in 0..=u16::MAX {
                frame[l3 + 10..l3 + 12].copy_from_slice(&value.to_be_bytes());
                let mut reference = frame.clone();
                let outcome = rewrite(&mut reference, &adjacency);
                let mut fast = frame.clone();
                let forwarded = rewrite_forwardable(&mut fast, l3, &macs, adjacency.mtu);
                assert_eq!(
                    forwarded,
                    outcome
                        == Outcome::Transmit {
                            port: adjacency.port
                        },
                    "ttl {ttl} checksum {value:#06x}: {outcome:?}"
                );
                assert_eq!(fast, reference, "ttl {ttl} checksum {value:#06x}");
                if vlan.is_none() && ttl >= 2 {
                    // What the core's fast branch writes for a frame step 1 passed
                    // (TTL >= 2 is one of its checks).
                    let mut classified = frame.clone();
                    assert!(rewrite_classified(&mut classified, &macs, adjacency.mtu));
                    assert_eq!(
                        classified, reference,
                        "classified: ttl {ttl} checksum {value:#06x}"
                    );
                }
            }
        }
    }
}
