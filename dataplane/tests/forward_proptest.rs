//! Property tests of the forward path: no panic on any bytes, and anything transmitted is
//! valid by an independent check (`forward_support::check_forwarded`).

mod forward_support;

use dataplane::forward::{classify, forward, rewrite, Adjacency, Outcome, Verdict};
use dataplane::wire::EthernetAddress;
use forward_support::*;
use proptest::prelude::*;

fn lookup(_dst: u32) -> Option<Adjacency> {
    Some(adjacency())
}

/// Runs the path on `frame`; if it transmitted, checks the result independently; if not,
/// checks the frame was left alone.
fn run_and_check(frame: &[u8]) -> Result<Outcome, TestCaseError> {
    let mut buffer = frame.to_vec();
    let outcome = forward(&mut buffer, INGRESS_MAC, &LOCAL[..], lookup);
    match outcome {
        Outcome::Transmit { port } => {
            prop_assert_eq!(port, adjacency().port);
            if let Err(why) = check_forwarded(frame, &buffer, &adjacency()) {
                return Err(TestCaseError::fail(why));
            }
        }
        _ => prop_assert_eq!(&buffer[..], frame, "not forwarded but modified"),
    }
    Ok(outcome)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Arbitrary bytes: never a panic; anything transmitted is valid.
    #[test]
    fn arbitrary_bytes(frame in proptest::collection::vec(any::<u8>(), 0..120)) {
        run_and_check(&frame)?;
        let mut buffer = frame.clone();
        let _ = rewrite(&mut buffer, &adjacency());
    }

    /// Arbitrary bytes behind an IPv4 ethertype and a 0x45 first byte, so the random bytes
    /// reach the IPv4 checks instead of stopping at the ethertype.
    #[test]
    fn arbitrary_ipv4_ish(mut frame in proptest::collection::vec(any::<u8>(), 14..120), tagged in any::<bool>()) {
        frame[0] &= 0xfe;
        if tagged && frame.len() >= 18 {
            frame[12..14].copy_from_slice(&[0x81, 0x00]);
            frame[16..18].copy_from_slice(&[0x08, 0x00]);
        } else {
            frame[12..14].copy_from_slice(&[0x08, 0x00]);
        }
        let l2 = if tagged && frame.len() >= 18 { 18 } else { 14 };
        if let Some(byte) = frame.get_mut(l2) {
            *byte = 0x45;
        }
        run_and_check(&frame)?;
    }

    /// Valid frames are forwarded, and correctly.
    #[test]
    fn valid_frames_are_forwarded(spec in valid_spec()) {
        let frame = spec.build();
        prop_assert_eq!(
            classify(&frame, INGRESS_MAC, &LOCAL[..]),
            Verdict::Forward { dst: u32::from(spec.ip.dst_addr) }
        );
        let outcome = run_and_check(&frame)?;
        prop_assert_eq!(outcome, Outcome::Transmit { port: adjacency().port });
    }

    /// Valid frames with a few bytes overwritten: whatever gets through is valid.
    #[test]
    fn mutated_valid_frames(
        spec in valid_spec(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut frame = spec.build();
        mutate(&mut frame, &mutations, truncate);
        run_and_check(&frame)?;
    }

    /// Valid frames with the IPv4 header mutated and the checksum then fixed, so the
    /// mutation is judged on its merits rather than caught by the checksum.
    #[test]
    fn mutated_headers_with_fixed_checksum(
        spec in valid_spec(),
        mutations in proptest::collection::vec((0usize..20, any::<u8>()), 1..4),
    ) {
        let mut frame = spec.build();
        let l2 = spec.l2_len();
        mutate_header_fix_checksum(&mut frame, l2, &mutations);
        run_and_check(&frame)?;
    }

    /// Any adjacency, any MTU: a transmitted frame fits the MTU and carries the MACs.
    #[test]
    fn any_adjacency(spec in valid_spec(), mtu in any::<u16>(), dst_mac in any::<[u8; 6]>(), src_mac in any::<[u8; 6]>()) {
        let adjacency = Adjacency {
            port: 9,
            dst_mac: EthernetAddress(dst_mac),
            src_mac: EthernetAddress(src_mac),
            mtu,
        };
        let frame = spec.build();
        let mut buffer = frame.clone();
        match forward(&mut buffer, INGRESS_MAC, &LOCAL[..], |_| Some(adjacency)) {
            Outcome::Transmit { port } => {
                prop_assert_eq!(port, 9);
                prop_assert!(usize::from(mtu) >= spec.ip.buffer_len());
                if let Err(why) = check_forwarded(&frame, &buffer, &adjacency) {
                    return Err(TestCaseError::fail(why));
                }
            }
            other => {
                prop_assert!(usize::from(mtu) < spec.ip.buffer_len(), "{:?}", other);
                prop_assert_eq!(buffer, frame);
            }
        }
    }
}
