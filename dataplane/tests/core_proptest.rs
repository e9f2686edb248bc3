//! Arbitrary and mutated frames through a forwarding core: it never panics, every
//! packet is accounted for, and whatever it transmits passes an independent check.

mod core_support;

use core_support::*;
use proptest::prelude::*;

/// Sends frames one at a time (so each output is matched to its input) and checks
/// every transmitted frame against the frame it came from.
fn run_frames(frames: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let mut rig = rig();
    for before in frames {
        let out = rig.through(before);
        prop_assert!(out.len() <= 1);
        if let Some((port, after)) = out.first() {
            prop_assert_eq!(*port, 1, "only port 1 has a resolved route from port 0");
            if let Err(e) = check_forwarded(before, after, &egress_adjacency()) {
                return Err(TestCaseError::fail(format!(
                    "{e}: {before:02x?} -> {after:02x?}"
                )));
            }
        }
        while let Some(p) = rig.handle.next_punt() {
            prop_assert_eq!(
                dataplane::port::Packet::data(&p.packet),
                &before[..],
                "punted frame modified"
            );
        }
    }
    let stats = rig.stats();
    prop_assert_eq!(stats.rx_packets(), frames.len() as u64);
    assert_accounted(&stats);
    Ok(())
}

/// A valid frame to one of the interesting destinations, tagged or not.
fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
    let dsts = prop::sample::select(vec![
        DST,
        DST_UNRESOLVED,
        DST_CONNECTED,
        DST_BLACKHOLE,
        DST_NO_ROUTE,
        std::net::Ipv4Addr::from(LOCAL[0]),
    ]);
    (
        dsts,
        any::<bool>(),
        0u8..=255,
        0usize..200,
        any::<bool>(),
        0usize..8,
    )
        .prop_map(|(dst, tagged, ttl, payload, df, padding)| {
            Spec::default()
                .with(|s| {
                    s.ip.dst_addr = dst;
                    s.ip.ttl = ttl;
                    s.ip.payload_len = payload;
                    s.ip.dont_frag = df;
                    s.padding = padding;
                    if tagged {
                        s.vlan = Some(dataplane::wire::VlanTag::default());
                    }
                })
                .build()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames(frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..128), 1..16)) {
        run_frames(&frames)?;
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_ethernet_ipv4_start(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 20..100), 1..16)
    ) {
        // Ethertype IPv4 and version/IHL 0x45 make the arbitrary part reach the deeper checks.
        let frames: Vec<Vec<u8>> = frames.into_iter().map(|rest| {
            let mut f = Spec::default().build()[..14].to_vec();
            f.extend_from_slice(&rest);
            f[14] = 0x45;
            f
        }).collect();
        run_frames(&frames)?;
    }

    #[test]
    fn mutated_valid_frames(
        frames in prop::collection::vec(
            (valid_frame(), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4), any::<prop::sample::Index>()),
            1..16,
        )
    ) {
        let frames: Vec<Vec<u8>> = frames.into_iter().map(|(mut f, flips, cut)| {
            for (at, byte) in flips {
                let i = at.index(f.len());
                f[i] = byte;
            }
            // Sometimes truncate.
            let keep = f.len() - cut.index(f.len()) / 4;
            f.truncate(keep);
            f
        }).collect();
        run_frames(&frames)?;
    }
}
