//! `forward::vector::fast_checks` (the core's checks over a whole burst, eight frames at a
//! time with AVX2) against `classify_fast`, one frame at a time: bit `i` of the mask is
//! set exactly when `classify_fast(frames[i])` is `Some`, on random bursts of valid,
//! damaged and arbitrary frames, short ones among them, received on ports with various
//! MACs (a group address included); the scalar fallback gives the same mask.

mod forward_support;

use dataplane::forward::classify_fast;
use dataplane::forward::vector::{fast_checks, fast_checks_scalar, MAX_FRAMES};
use dataplane::wire::EthernetAddress;
use forward_support::*;
use proptest::prelude::*;

/// What `fast_checks` must say: `classify_fast`'s answers as bits.
fn expected(frames: &[Vec<u8>], port_mac: EthernetAddress) -> u32 {
    frames
        .iter()
        .take(MAX_FRAMES)
        .enumerate()
        .map(|(i, f)| u32::from(classify_fast(f, port_mac).is_some()) << i)
        .sum()
}

/// Both implementations against the expected mask, on the frames as `Vec`s and as the
/// `&mut [u8]` the core passes.
fn check(frames: &mut [Vec<u8>], port_mac: EthernetAddress) -> Result<(), TestCaseError> {
    let want = expected(frames, port_mac);
    prop_assert_eq!(fast_checks(frames, port_mac), want, "vector");
    prop_assert_eq!(fast_checks_scalar(frames, port_mac), want, "scalar");
    let borrowed: Vec<&mut [u8]> = frames.iter_mut().map(|f| &mut f[..]).collect();
    prop_assert_eq!(
        fast_checks(&borrowed, port_mac),
        want,
        "vector on &mut [u8]"
    );
    Ok(())
}

/// A frame for the burst: mostly valid untagged frames to `port_mac` (so most bits are
/// set and a single failing check shows), some with header bytes changed and the
/// checksum fixed, some damaged anywhere, some tagged, some arbitrary bytes (short ones
/// too).
fn any_frame(port_mac: EthernetAddress) -> impl Strategy<Value = Vec<u8>> {
    let to_port = move |spec: Spec| {
        spec.with(|s| {
            s.dst_mac = port_mac;
            s.vlan = None;
        })
    };
    prop_oneof![
        4 => valid_spec().prop_map(move |spec| to_port(spec).build()),
        3 => (valid_spec(), proptest::collection::vec((0usize..20, any::<u8>()), 1..3))
            .prop_map(move |(spec, mutations)| {
                let mut frame = to_port(spec).build();
                mutate_header_fix_checksum(&mut frame, 14, &mutations);
                frame
            }),
        2 => (
            valid_spec(),
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..3),
            proptest::option::of(any::<prop::sample::Index>()),
        )
            .prop_map(move |(spec, mutations, truncate)| {
                let mut frame = to_port(spec).build();
                mutate(&mut frame, &mutations, truncate);
                frame
            }),
        1 => valid_spec().prop_map(|spec| spec.build()),
        1 => proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

/// The usual port MAC, any unicast one, or a group address (nothing passes then).
fn any_port_mac() -> impl Strategy<Value = EthernetAddress> {
    prop_oneof![
        6 => Just(INGRESS_MAC),
        2 => any::<[u8; 6]>().prop_map(|mut m| {
            m[0] &= !1;
            EthernetAddress(m)
        }),
        1 => Just(EthernetAddress([0x03, 0xf1, 0x00, 0x00, 0x00, 0x01])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Bursts of 0 to 40 frames (past `MAX_FRAMES`, whose bits do not exist).
    #[test]
    fn random_bursts(
        (port_mac, mut frames) in any_port_mac().prop_flat_map(|mac| {
            (Just(mac), proptest::collection::vec(any_frame(mac), 0..=40))
        }),
    ) {
        check(&mut frames, port_mac)?;
    }
}

/// Every byte of the 34 header bytes set to boundary values, checksum left or fixed,
/// in bursts of 32 so each frame lands in every position of a group of eight: the
/// checks' columns are told apart exactly.
#[test]
fn every_header_byte_at_boundary_values() {
    let values = [
        0x00u8, 0x01, 0x02, 0x05, 0x08, 0x13, 0x14, 0x45, 0x7e, 0x7f, 0x80, 0xdf, 0xe0, 0xef, 0xf0,
        0xfe, 0xff,
    ];
    let base = Spec::default().build();
    let mut frames = Vec::new();
    for at in 0..34 {
        for value in values {
            for fix in [false, true] {
                let mut frame = base.clone();
                frame[at] = value;
                if fix && (14..34).contains(&at) {
                    mutate_header_fix_checksum(&mut frame, 14, &[]);
                }
                frames.push(frame);
            }
        }
    }
    let mut passed = 0;
    for shift in 0..8 {
        frames.rotate_left(shift);
        for burst in frames.chunks_mut(32) {
            check(burst, INGRESS_MAC).unwrap();
            passed += expected(burst, INGRESS_MAC).count_ones();
        }
    }
    assert!(passed > 0, "some frames pass");
}

/// Every value of the checksum field, 32 frames a burst: the vector sum accepts exactly
/// what the scalar one does (both one's complement zeros included).
#[test]
fn every_checksum_value() {
    let base = Spec::default().build();
    let mut accepted = 0;
    let mut frames = vec![base; 32];
    for high in 0..=u16::MAX / 32 {
        for (low, frame) in frames.iter_mut().enumerate() {
            let value = high * 32 + low as u16;
            frame[24..26].copy_from_slice(&value.to_be_bytes());
        }
        check(&mut frames, INGRESS_MAC).unwrap();
        accepted += expected(&frames, INGRESS_MAC).count_ones();
    }
    assert!(accepted >= 1, "the valid checksum is accepted");
}

/// Frame lengths around the headers and the total length: short frames (which the
/// vector loads must not read past) in every position of a group of eight.
#[test]
fn lengths_around_the_headers() {
    let base = Spec::default().with(|s| s.ip.payload_len = 6).build();
    for len in 0..=base.len() + 2 {
        for position in 0..8 {
            let mut frames = vec![base.clone(); 16];
            let mut frame = base.clone();
            frame.resize(len, 0);
            frames[position] = frame.clone();
            frames[8 + position] = frame;
            check(&mut frames, INGRESS_MAC).unwrap();
        }
    }
}
