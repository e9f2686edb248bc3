//! net_ring loopback: bursts go out and come back; counts and bytes equal.
#![cfg(feature = "dpdk")]

mod dpdk_util;

use std::time::Duration;

use dataplane::dpdk::{Eal, PortConfig};
use dataplane::port::Port;
use dpdk_util::{eal_args, frame, recv_n, send_all};

#[test]
fn ring_loopback_counts_and_bytes() {
    let eal = Eal::init(&eal_args("ring", &["--vdev=net_ring0"])).expect("EAL starts");
    assert_eq!(eal.vdev_ports().len(), 1);
    let id = eal.port_by_name("net_ring0").unwrap();
    assert_eq!(eal.vdev_ports()[0], ("net_ring0".to_string(), id));
    assert!(eal.ports().contains(&id));
    assert!(eal.port_by_name("net_ring9").is_err());

    let pool = eal.mempool("ring_pool", 4095, 256, 2048).unwrap();
    let port = eal.start_port(id, pool, &PortConfig::default()).unwrap();
    assert_eq!(port.name(), "net_ring0");
    assert!(port.link().unwrap().up);
    port.mac().unwrap();
    assert!(!port.xstats().unwrap().is_empty(), "net_ring has xstats");

    let mut q = port.queue(0).unwrap();
    assert!(port.queue(0).is_err(), "one handle per queue");

    // 2000 frames of varied sizes, in bursts, out and back; the ring holds
    // 1024, so send and receive in rounds.
    let frames: Vec<Vec<u8>> = (0..2000u32)
        .map(|i| frame(i, 60 + (i as usize * 7) % 1400))
        .collect();
    let mut got = Vec::new();
    for chunk in frames.chunks(500) {
        assert_eq!(send_all(&mut q, chunk, Duration::from_secs(5)), chunk.len());
        got.extend(recv_n(&mut q, chunk.len(), Duration::from_secs(5)));
    }
    assert_eq!(got.len(), frames.len());
    assert!(got == frames, "bytes differ after the ring loopback");

    let c = q.counters();
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    assert_eq!((c.tx_packets, c.rx_packets), (2000, 2000));
    assert_eq!((c.tx_bytes, c.rx_bytes), (bytes, bytes));
    assert_eq!(c.tx_dropped, 0);
    let s = port.stats().unwrap();
    assert_eq!((s.opackets, s.ipackets), (2000, 2000));

    // Every mbuf went back to the pool.
    drop(q);
    assert_eq!(pool.in_use(), 0, "mbufs leaked");
    drop(port);
    drop(eal);
}
