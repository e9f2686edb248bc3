//! A forwarding core over DPDK net_pcap ports: crafted frames in a pcap, forwarded
//! (or punted, or dropped) by a core on its own thread, and the output pcaps compared
//! byte by byte with what RFC 1812 forwarding must produce. One test per file: the
//! EAL initialises once per process.
#![cfg(feature = "dpdk")]

mod core_support;
mod dpdk_util;

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use core_support::*;
use dataplane::dpdk::{Eal, PortConfig};
use dataplane::forward::{DropReason, PuntReason};
use dataplane::port::{Packet, Port};
use dataplane::wire::{EthernetAddress, VlanTag};
use dataplane::worker::{CoreConfig, ForwardingCore, IdlePolicy, PortSetup};
use dpdk_util::{read_pcap, write_pcap};
use fib::ListenerConfig;

/// What forwarding `before` through (dst_mac, src_mac) must give, computed here from
/// scratch: new MACs, TTL - 1, the header checksum recomputed over the new header.
fn expected_forward(before: &[u8], l2: usize, dst_mac: [u8; 6], src_mac: [u8; 6]) -> Vec<u8> {
    let mut f = before.to_vec();
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[l2 + 8] -= 1;
    let header_len = usize::from(f[l2] & 0xf) * 4;
    let sum = fresh_checksum(&f[l2..l2 + header_len]);
    f[l2 + 10..l2 + 12].copy_from_slice(&sum.to_be_bytes());
    f
}

#[test]
fn core_forwards_pcap_frames_byte_exact() {
    // Removed however the test ends.
    let dir = tempfile::Builder::new()
        .prefix("fibre-fwd-pcap-")
        .tempdir()
        .unwrap();
    let (in0, in1, out0, out1) = (
        dir.path().join("in0.pcap"),
        dir.path().join("in1.pcap"),
        dir.path().join("out0.pcap"),
        dir.path().join("out1.pcap"),
    );

    // Port 0 receives: forwardable frames (plain, tagged, various sizes and TTLs)
    // interleaved with exceptions that must not come out anywhere.
    let mut frames = Vec::new();
    let mut forwardable = Vec::new();
    for i in 0..64u16 {
        let spec = Spec::default().with(|s| {
            s.ip.ident = i;
            s.ip.ttl = 2 + (i % 200) as u8;
            s.ip.payload_len = 26 + usize::from(i) * 17;
            s.ip.dst_addr = Ipv4Addr::new(172, 16 + (i % 4) as u8, i as u8, 1);
            if i % 4 == 1 {
                s.vlan = Some(VlanTag {
                    pcp: 3,
                    dei: false,
                    vid: 100 + i,
                });
            }
        });
        let f = spec.build();
        forwardable.push((f.clone(), spec.l2_len()));
        frames.push(f);
        match i % 8 {
            2 => frames.push(Spec::default().with(|s| s.ip.ttl = 1).build()),
            3 => frames.push({
                let mut f = Spec::default().build();
                f[14 + 10] ^= 0xff;
                f
            }),
            5 => frames.push(
                Spec::default()
                    .with(|s| s.ip.dst_addr = Ipv4Addr::from(LOCAL[0]))
                    .build(),
            ),
            6 => frames.push(
                Spec::default()
                    .with(|s| s.ip.dst_addr = DST_NO_ROUTE)
                    .build(),
            ),
            // Valid, but addressed to another station on the segment.
            7 => frames.push(Spec::default().with(|s| s.dst_mac = SENDER_MAC).build()),
            _ => {}
        }
    }
    write_pcap(&in0, &frames);
    write_pcap(&in1, &[]);

    let vdevs = [
        format!(
            "--vdev=net_pcap0,rx_pcap={},tx_pcap={}",
            in0.display(),
            out0.display()
        ),
        format!(
            "--vdev=net_pcap1,rx_pcap={},tx_pcap={}",
            in1.display(),
            out1.display()
        ),
    ];
    let mut args: Vec<String> = [
        "-l",
        "0",
        "--no-huge",
        "-m",
        "1024",
        "--no-pci",
        "--no-telemetry",
        "--log-level=lib.eal:warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!(
        "--file-prefix=fibre-fwd-pcap-{}",
        std::process::id()
    ));
    args.extend(vdevs);
    let eal = Eal::init(&args).expect("EAL starts");
    let pool = eal.mempool("fwd_pcap_pool", 4095, 64, 2048 + 128).unwrap();
    let port0 = eal
        .start_port(
            eal.port_by_name("net_pcap0").unwrap(),
            pool,
            &PortConfig::default(),
        )
        .unwrap();
    let port1 = eal
        .start_port(
            eal.port_by_name("net_pcap1").unwrap(),
            pool,
            &PortConfig::default(),
        )
        .unwrap();
    assert_eq!(
        (port0.id(), port1.id()),
        (0, 1),
        "FIB port ids are the ethdev ids here"
    );
    // net_pcap replays a file and filters nothing; its own MAC (02:70:63:61:70:xx) is
    // not what the file's frames carry. The core is told port 0 has INGRESS_MAC, the
    // destination of the test frames (and not of the l2_other_host ones).
    let mac0 = INGRESS_MAC;
    let mac1 = EthernetAddress(port1.mac().unwrap());

    let TestFib { mut fib, .. } = test_fib();
    let sub = fib.register(ListenerConfig::new("pcap core")).unwrap();
    let config = CoreConfig::new(
        "pcap core",
        vec![PortSetup::new(mac0), PortSetup::new(mac1).mtu(EGRESS_MTU)],
    )
    .dir24(small_dir24())
    .idle(IdlePolicy::Yield);
    let queues = vec![port0.queue(0).unwrap(), port1.queue(0).unwrap()];
    let (mut core, handle) = ForwardingCore::new(config, queues, sub).unwrap();

    let stop = AtomicBool::new(false);
    let mut punted = Vec::new();
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| core.run(&stop));
        let deadline = Instant::now() + Duration::from_secs(20);
        // Pump the FIB until the core is in step, then wait for every frame.
        loop {
            fib.pump();
            while let Some(p) = handle.next_punt() {
                // Answer the first punt by injecting a frame out of port 0.
                if punted.is_empty() {
                    let mut reply = p.packet;
                    reply.data_mut()[0..6].copy_from_slice(&SENDER_MAC.0);
                    punted.push((p.reason, reply.data().to_vec()));
                    handle.inject(reply, 0).unwrap();
                } else {
                    punted.push((p.reason, p.packet.data().to_vec()));
                }
            }
            let stats = handle.stats();
            if stats.port(0).rx_packets == frames.len() as u64 && stats.injected == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "core stalled: {stats:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        worker.join().unwrap();
    });
    let stats = handle.stats();
    assert_eq!(stats.forwarded, 64, "{:?}", stats.reasons());
    assert_eq!(stats.punted(PuntReason::TtlExceeded), 8);
    assert_eq!(stats.punted(PuntReason::Local), 8);
    assert_eq!(stats.punted(PuntReason::NoRoute), 8);
    assert_eq!(stats.dropped(DropReason::BadChecksum), 8);
    assert_eq!(stats.dropped(DropReason::L2OtherHost), 8);
    assert_eq!(stats.port(1).tx_packets, 64);
    assert_eq!(stats.port(0).tx_packets, 1);
    assert_accounted(&stats);
    assert_eq!(punted.len(), 24);
    let injected = punted[0].1.clone();
    let queue_tx: Vec<u64> = core
        .ports()
        .iter()
        .map(|p| p.counters().tx_packets)
        .collect();
    assert_eq!(queue_tx, vec![1, 64]);
    // Closing the ports flushes and closes the tx_pcap dumpers.
    drop(handle);
    drop(core);
    drop(port0);
    drop(port1);
    drop(eal);

    let expected: Vec<Vec<u8>> = forwardable
        .iter()
        .map(|(f, l2)| expected_forward(f, *l2, NEXTHOP_MAC.0, mac1.0))
        .collect();
    let out = read_pcap(&out1);
    assert_eq!(out.len(), expected.len());
    for (i, (got, want)) in out.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "forwarded frame {i} differs");
    }
    assert_eq!(
        read_pcap(&out0),
        vec![injected],
        "port 0 sent only the injected frame"
    );
}
