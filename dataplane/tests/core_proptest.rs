//! Arbitrary and mutated frames through a forwarding core: it never panics, every
//! packet is accounted for, and whatever it transmits passes an independent check;
//! and a whole burst comes out as its frames do one at a time (same frames per port in
//! the same order, same punts in the same order, same counters), whichever of the
//! burst-level branches it takes (sent as received, or sorted per port and slow path),
//! and whichever checks kernel runs it.

mod core_support;

use core_support::*;
use dataplane::worker::ChecksKernel;
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

/// A destination routed in the main table through GATEWAY2, on port 2 (added by
/// [`two_egress_rig`]), so that one burst from port 0 can leave by two ports.
const DST2: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 51, 100, 7);

/// The test rig with DST2's route, its core's checks run by `checks`.
fn two_egress_rig(checks: ChecksKernel) -> Rig {
    let mut rig = rig_with(|c| c.checks(checks));
    let gateway2 = rig.ids.1;
    rig.fib
        .add_route(
            fib::TableId::MAIN,
            prefix("198.51.100.0/24"),
            fib::Route::new(gateway2, fib::Protocol::Static),
        )
        .unwrap();
    rig.sync();
    rig
}

/// What a rig gave out: frames per port in order, punts (reason, frame) in order.
type Output = (
    Vec<Vec<Vec<u8>>>,
    Vec<(dataplane::forward::PuntReason, Vec<u8>)>,
);

fn output(rig: &mut Rig) -> Output {
    let ports = (0..rig.wires.len()).map(|p| rig.received(p)).collect();
    let mut punts = Vec::new();
    while let Some(p) = rig.handle.next_punt() {
        punts.push((p.reason, dataplane::port::Packet::data(&p.packet).to_vec()));
    }
    (ports, punts)
}

/// `frames` (at most one burst) sent as one burst, and one at a time: the same output
/// and the same counters. The burst goes through a core with each checks kernel the
/// CPU has (AVX2 checks groups of eight); one at a time, through the default one.
fn burst_as_frames(frames: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let mut one_by_one = two_egress_rig(ChecksKernel::Scalar);
    let mut single: Output = (vec![Vec::new(); one_by_one.wires.len()], Vec::new());
    for frame in frames {
        one_by_one.send(0, std::slice::from_ref(frame));
        one_by_one.run();
        let (ports, punts) = output(&mut one_by_one);
        for (all, these) in single.0.iter_mut().zip(ports) {
            all.extend(these);
        }
        single.1.extend(punts);
    }
    for checks in [ChecksKernel::Scalar, ChecksKernel::Avx2] {
        if !checks.is_available() {
            continue;
        }
        let mut burst = two_egress_rig(checks);
        burst.send(0, frames);
        burst.run();
        let together = output(&mut burst);
        prop_assert_eq!(
            &together.0,
            &single.0,
            "frames out of each port ({:?})",
            checks
        );
        prop_assert_eq!(&together.1, &single.1, "punts ({:?})", checks);
        let (a, b) = (burst.stats(), one_by_one.stats());
        prop_assert_eq!(a.forwarded, b.forwarded);
        prop_assert_eq!(a.reasons(), b.reasons());
        assert_accounted(&a);
    }
    Ok(())
}

/// A valid frame to one of the interesting destinations, tagged or not.
fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
    let dsts = prop::sample::select(vec![
        DST,
        DST2,
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
    fn a_burst_comes_out_as_its_frames_one_at_a_time(
        frames in prop::collection::vec(
            (valid_frame(), prop::option::of((any::<prop::sample::Index>(), any::<u8>()))),
            1..=32,
        )
    ) {
        let frames: Vec<Vec<u8>> = frames.into_iter().map(|(mut f, flip)| {
            if let Some((at, byte)) = flip {
                let i = at.index(f.len());
                f[i] = byte;
            }
            f
        }).collect();
        burst_as_frames(&frames)?;
    }

    #[test]
    fn a_burst_to_one_port_comes_out_as_its_frames(n in 1usize..=32, ttl in 2u8..=255) {
        // Every frame forwarded by port 1: the branch that sends the burst as received.
        let frames: Vec<Vec<u8>> = (0..n)
            .map(|i| Spec::default().with(|s| { s.ip.ttl = ttl; s.ip.payload_len = i; }).build())
            .collect();
        burst_as_frames(&frames)?;
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
