//! `CoreConfig::count_port_bytes`: a core over a DPDK net_ring loopback port counts the
//! bytes of what it sends and receives by default, and only the packets once it is
//! turned off (the device keeps its own counters). One test per file: the
//! EAL initialises once per process.
#![cfg(feature = "dpdk")]

mod core_support;
mod dpdk_util;

use std::time::{Duration, Instant};

use core_support::*;
use dataplane::dpdk::{Eal, PortConfig};
use dataplane::forward::DropReason;
use dataplane::port::{Packet, Port};
use dataplane::worker::{CoreConfig, ForwardingCore, PortSetup};
use dpdk_util::eal_args;
use fib::ListenerConfig;

#[test]
fn core_port_byte_counting_on_and_off() {
    let eal = Eal::init(&eal_args("core-count-bytes", &["--vdev=net_ring0"])).expect("EAL starts");
    let pool = eal
        .mempool("count_bytes_pool", 1023, 32, 2048 + 128)
        .unwrap();
    let port = eal
        .start_port(
            eal.port_by_name("net_ring0").unwrap(),
            pool,
            &PortConfig::default(),
        )
        .unwrap();
    // A frame to a blackholed destination: injected on port 0, it loops back into
    // port 0 and is dropped there. Port 0 sends it once and receives it once.
    let frame = Spec::default()
        .with(|s| s.ip.dst_addr = DST_BLACKHOLE)
        .build();
    let TestFib { mut fib, .. } = test_fib();
    let frames = 3u64;
    let bytes = frames * frame.len() as u64;
    for count in [true, false] {
        let sub = fib.register(ListenerConfig::new("count core")).unwrap();
        let config = CoreConfig::new("count core", vec![PortSetup::new(PORT_MACS[0])])
            .dir24(small_dir24())
            .count_port_bytes(count);
        let mut queue = port.queue(0).unwrap();
        let mut packets = Vec::new();
        for _ in 0..frames {
            let mut p = queue.alloc().expect("mbuf");
            p.copy_from(&frame).unwrap();
            packets.push(p);
        }
        let (mut core, handle) = ForwardingCore::new(config, vec![queue], sub).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(core.tables().is_complete() && core.subscription().applied_seq() == fib.seq()) {
            fib.pump();
            core.poll_once();
            assert!(Instant::now() < deadline, "core never caught up");
        }
        for p in packets {
            handle.inject(p, 0).unwrap();
        }
        while handle.stats().dropped(DropReason::Blackhole) < frames {
            core.poll_once();
            assert!(Instant::now() < deadline, "{:?}", handle.stats());
        }
        core.poll_once();
        let stats = handle.stats().port(0);
        assert_eq!((stats.tx_packets, stats.rx_packets), (frames, frames));
        let expected = if count { bytes } else { 0 };
        assert_eq!(
            (stats.tx_bytes, stats.rx_bytes),
            (expected, expected),
            "count {count}"
        );
        drop(core);
    }
    let device = port.stats().unwrap();
    assert_eq!((device.opackets, device.ipackets), (2 * frames, 2 * frames));
    drop(port);
    drop(eal);
}
