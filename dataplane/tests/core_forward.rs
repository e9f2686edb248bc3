//! A forwarding core over software ports: byte-exact forwarding, VRFs, the
//! exception rings, and what a core does before its first replay ends.

mod core_support;

use std::net::Ipv4Addr;

use core_support::*;
use dataplane::forward::PuntReason;
use dataplane::port::Packet;
use dataplane::wire::{EthernetAddress, VlanTag};
use fib::{Protocol, Route, TableId};

/// Asserts `after` is `before` forwarded through `adjacency`, byte by byte.
fn assert_forwarded_exactly(
    before: &[u8],
    after: &[u8],
    l2: usize,
    dst_mac: EthernetAddress,
    src_mac: EthernetAddress,
) {
    assert_eq!(after.len(), before.len());
    assert_eq!(&after[0..6], &dst_mac.0, "destination MAC");
    assert_eq!(&after[6..12], &src_mac.0, "source MAC");
    assert_eq!(&after[12..l2], &before[12..l2], "ethertype / VLAN tag kept");
    let (ip_before, ip_after) = (&before[l2..], &after[l2..]);
    assert_eq!(ip_after[8], ip_before[8] - 1, "TTL decremented");
    let header_len = usize::from(ip_after[0] & 0xf) * 4;
    let checksum = u16::from_be_bytes([ip_after[10], ip_after[11]]);
    assert_eq!(
        checksum,
        fresh_checksum(&ip_after[..header_len]),
        "checksum from scratch"
    );
    // Every IPv4 byte but TTL and checksum unchanged, the payload included.
    for i in 0..ip_before.len() {
        if i != 8 && i != 10 && i != 11 {
            assert_eq!(ip_after[i], ip_before[i], "IPv4 byte {i} changed");
        }
    }
}

#[test]
fn forwards_byte_exact() {
    let mut rig = rig();
    let before = Spec::default().build();
    let out = rig.through(&before);
    assert_eq!(out.len(), 1);
    let (port, after) = &out[0];
    assert_eq!(*port, 1);
    assert_forwarded_exactly(&before, after, 14, NEXTHOP_MAC, EGRESS_MAC);
    check_forwarded(&before, after, &egress_adjacency()).unwrap();
    let stats = rig.stats();
    assert_eq!(stats.forwarded, 1);
    assert_eq!(stats.port(0).rx_packets, 1);
    assert_eq!(stats.port(1).tx_packets, 1);
    assert_eq!(stats.port(1).tx_bytes, before.len() as u64);
    assert_accounted(&stats);
}

#[test]
fn forwards_tagged_frame_byte_exact_keeping_its_tag() {
    let mut rig = rig();
    let tag = VlanTag {
        pcp: 5,
        dei: false,
        vid: 42,
    };
    let spec = Spec::default().with(|s| s.vlan = Some(tag));
    let before = spec.build();
    let out = rig.through(&before);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 1);
    assert_forwarded_exactly(&before, &out[0].1, 18, NEXTHOP_MAC, EGRESS_MAC);
    check_forwarded(&before, &out[0].1, &egress_adjacency()).unwrap();
}

#[test]
fn forwards_every_ttl_and_length_with_a_correct_checksum() {
    let mut rig = rig();
    let mut frames = Vec::new();
    for ttl in [2u8, 3, 64, 128, 255] {
        for payload in [0usize, 1, 26, 27, 1000, usize::from(EGRESS_MTU) - 20] {
            frames.push(
                Spec::default()
                    .with(|s| {
                        s.ip.ttl = ttl;
                        s.ip.payload_len = payload;
                        s.ip.ident = u16::from(ttl) << 8 | payload as u16;
                    })
                    .build(),
            );
        }
    }
    rig.send(0, &frames);
    rig.run();
    let out = rig.received(1);
    assert_eq!(out.len(), frames.len(), "{:?}", rig.stats().reasons());
    // One ingress port, one egress port: order is kept.
    for (before, after) in frames.iter().zip(&out) {
        assert_forwarded_exactly(before, after, 14, NEXTHOP_MAC, EGRESS_MAC);
    }
}

#[test]
fn a_burst_is_split_by_egress_port_in_arrival_order() {
    let mut rig = rig();
    let via = |dst: Ipv4Addr, ident: u16| {
        Spec::default()
            .with(|s| {
                s.ip.dst_addr = dst;
                s.ip.ident = ident;
            })
            .build()
    };
    // 172.23/16 goes out of port 2 through GATEWAY2.
    rig.fib
        .add_route(
            TableId::MAIN,
            prefix("172.23.0.0/16"),
            Route::new(rig.ids.1, Protocol::Static),
        )
        .unwrap();
    rig.sync();
    let frames: Vec<Vec<u8>> = (0..32u16)
        .map(|i| {
            if i % 3 == 0 {
                via(Ipv4Addr::new(172, 23, 0, 1), i)
            } else {
                via(DST, i)
            }
        })
        .collect();
    rig.send(0, &frames);
    rig.run();
    let port1 = rig.received(1);
    let port2 = rig.received(2);
    assert_eq!(port1.len() + port2.len(), 32);
    let idents = |v: &[Vec<u8>]| -> Vec<u16> {
        v.iter()
            .map(|f| u16::from_be_bytes([f[18], f[19]]))
            .collect()
    };
    assert_eq!(
        idents(&port2),
        (0..32).filter(|i| i % 3 == 0).collect::<Vec<_>>()
    );
    assert_eq!(
        idents(&port1),
        (0..32).filter(|i| i % 3 != 0).collect::<Vec<_>>()
    );
    for f in &port2 {
        assert_eq!(&f[0..6], &GATEWAY2_MAC.0);
        assert_eq!(&f[6..12], &PORT_MACS[2].0);
    }
}

#[test]
fn ingress_port_vrf_selects_the_table() {
    let mut rig = rig();
    // Port 2 is in VRF 100, where DST goes through GATEWAY2 back out of port 2. Frames
    // sent to it carry its MAC.
    let before = Spec::default().with(|s| s.dst_mac = PORT_MACS[2]).build();
    rig.send(2, std::slice::from_ref(&before));
    rig.run();
    let out = rig.received(2);
    assert_eq!(out.len(), 1, "{:?}", rig.stats().reasons());
    assert_forwarded_exactly(&before, &out[0], 14, GATEWAY2_MAC, PORT_MACS[2]);
    // A destination only in the main table (the router's own address there) has no
    // route in the VRF.
    rig.send(
        2,
        &[Spec::default()
            .with(|s| {
                s.dst_mac = PORT_MACS[2];
                s.ip.dst_addr = Ipv4Addr::from(LOCAL[0]);
            })
            .build()],
    );
    rig.run();
    assert_eq!(rig.handle.next_punt().unwrap().reason, PuntReason::NoRoute);
}

#[test]
fn unresolved_gateway_is_punted_until_its_neighbour_is_known() {
    let mut rig = rig();
    let frame = Spec::default()
        .with(|s| s.ip.dst_addr = DST_UNRESOLVED)
        .build();
    assert!(rig.through(&frame).is_empty());
    let punted = rig.handle.next_punt().unwrap();
    assert_eq!(punted.reason, PuntReason::Unresolved);
    assert!(punted.nexthop.is_some());
    let mac = EthernetAddress([0x02, 0x4e, 0, 0, 0, 0x10]);
    rig.fib
        .set_neighbour(1, Ipv4Addr::new(10, 9, 9, 10), Some(mac.0));
    rig.sync();
    let out = rig.through(&frame);
    assert_eq!(out.len(), 1);
    assert_forwarded_exactly(&frame, &out[0].1, 14, mac, EGRESS_MAC);
}

#[test]
fn connected_host_forwards_once_control_installs_its_host_route() {
    let mut rig = rig();
    let frame = Spec::default()
        .with(|s| s.ip.dst_addr = DST_CONNECTED)
        .build();
    assert!(rig.through(&frame).is_empty());
    assert_eq!(
        rig.handle.next_punt().unwrap().reason,
        PuntReason::Unresolved
    );
    // What the control plane does after ARP: a /32 through a gateway nexthop for the host.
    let host_mac = EthernetAddress([0x02, 0x4e, 0, 0, 0, 0x21]);
    rig.fib.set_neighbour(1, DST_CONNECTED, Some(host_mac.0));
    let nh = rig
        .fib
        .add_nexthop(fib::Nexthop::Gateway {
            port: 1,
            gateway: DST_CONNECTED,
        })
        .unwrap();
    let host = fib::Ipv4Prefix::new(u32::from(DST_CONNECTED), 32).unwrap();
    rig.fib
        .add_route(TableId::MAIN, host, Route::new(nh, Protocol::Kernel))
        .unwrap();
    rig.sync();
    let out = rig.through(&frame);
    assert_eq!(out.len(), 1);
    assert_forwarded_exactly(&frame, &out[0].1, 14, host_mac, EGRESS_MAC);
}

#[test]
fn full_punt_ring_is_a_counted_drop() {
    let mut rig = rig_with(|c| c.punt_ring(4));
    let frames: Vec<Vec<u8>> = (0..10)
        .map(|_| Spec::default().with(|s| s.ip.ttl = 1).build())
        .collect();
    rig.send(0, &frames);
    rig.run();
    let stats = rig.stats();
    assert_eq!(stats.punted(PuntReason::TtlExceeded), 10);
    assert_eq!(stats.punt_ring_full, 6);
    assert_eq!(rig.handle.punts.len(), 4);
    assert_accounted(&stats);
}

#[test]
fn injected_frames_go_out_of_the_port_they_name() {
    let mut rig = rig();
    let mut sent = Vec::new();
    for port in [0u16, 2, 1] {
        let mut p = rig.pool.alloc().unwrap();
        let bytes: Vec<u8> = (0..60).map(|i| i as u8 ^ port as u8).collect();
        p.copy_from(&bytes).unwrap();
        rig.handle.inject(p, port).unwrap();
        sent.push((usize::from(port), bytes));
    }
    let mut bad = rig.pool.alloc().unwrap();
    bad.copy_from(&[0u8; 60]).unwrap();
    rig.handle.inject(bad, 7).unwrap();
    rig.core.poll_once();
    let mut out = rig.received_all();
    out.sort();
    sent.sort();
    assert_eq!(out, sent);
    let stats = rig.stats();
    assert_eq!(stats.injected, 3);
    assert_eq!(stats.inject_dropped, 1);
}

#[test]
fn punted_frame_can_be_answered_through_the_inject_ring() {
    // The control plane's round trip: take the punt, build a reply in the same
    // buffer, inject it back out of the ingress port.
    let mut rig = rig();
    let frame = Spec::default().with(|s| s.ip.ttl = 1).build();
    rig.through(&frame);
    let mut punted = rig.handle.next_punt().unwrap();
    punted.packet.data_mut()[0..6].copy_from_slice(&SENDER_MAC.0);
    rig.handle.inject(punted.packet, punted.ingress).unwrap();
    rig.core.poll_once();
    let out = rig.received(0);
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][0..6], &SENDER_MAC.0);
}

#[test]
fn core_before_its_first_replay_polls_no_rx() {
    let TestFib { mut fib, .. } = test_fib();
    let pool = dataplane::port::soft::SoftPool::new(256);
    let (ports, mut wires): (Vec<_>, Vec<_>) = (0..3)
        .map(|_| dataplane::port::soft::SoftPort::pair(&pool, 64))
        .unzip();
    let sub = fib.register(fib::ListenerConfig::new("late core")).unwrap();
    let config = dataplane::worker::CoreConfig::new("late core", setups())
        .dir24(small_dir24())
        .fib_budget(1);
    let (mut core, handle) = dataplane::worker::ForwardingCore::new(config, ports, sub).unwrap();
    let mut burst = dataplane::port::Burst::new();
    for _ in 0..4 {
        let mut p = pool.alloc().unwrap();
        p.copy_from(&Spec::default().build()).unwrap();
        burst.push(p).unwrap();
    }
    dataplane::port::Port::tx_burst(&mut wires[0], &mut burst);
    // One unit of FIB work per iteration: the replay takes many iterations, during
    // which the frames must stay in the RX queue.
    let mut iterations = 0;
    while !core.tables().is_complete() {
        fib.pump();
        core.poll_once();
        iterations += 1;
        if !core.tables().is_complete() {
            assert_eq!(
                core.ports()[0].rx_pending(),
                4,
                "polled RX before the replay ended"
            );
            assert!(!handle.stats().in_sync);
        }
        assert!(iterations < 100_000);
    }
    assert!(iterations > 5, "replay took {iterations} iterations");
    core.poll_once();
    assert_eq!(core.ports()[0].rx_pending(), 0);
    let mut out = dataplane::port::Burst::new();
    assert_eq!(dataplane::port::Port::rx_burst(&mut wires[1], &mut out), 4);
    assert!(handle.stats().in_sync);
}

#[test]
fn construction_errors_are_reported() {
    use dataplane::worker::{CoreConfig, CoreError, ForwardingCore};
    let TestFib { mut fib, .. } = test_fib();
    let pool = dataplane::port::soft::SoftPool::new(8);
    let port = || dataplane::port::soft::SoftPort::loopback(&pool, 4);
    let sub = fib.register(fib::ListenerConfig::new("x")).unwrap();
    let err = ForwardingCore::new(CoreConfig::new("x", setups()), vec![port()], sub).unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::PortCountMismatch {
                handles: 1,
                setups: 3,
                ..
            }
        ),
        "{err}"
    );
    let sub = fib.register(fib::ListenerConfig::new("y")).unwrap();
    let err = ForwardingCore::<dataplane::port::soft::SoftPort>::new(
        CoreConfig::new("y", vec![]),
        vec![],
        sub,
    )
    .unwrap_err();
    assert!(matches!(err, CoreError::NoPorts { .. }), "{err}");
    let sub = fib.register(fib::ListenerConfig::new("z")).unwrap();
    let config = CoreConfig::new("z", setups()[..1].to_vec()).punt_ring(0);
    let err = ForwardingCore::new(config, vec![port()], sub).unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::ZeroSized {
                what: "punt_ring",
                ..
            }
        ),
        "{err}"
    );
}
