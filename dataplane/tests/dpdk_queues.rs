//! Several RX/TX queues per port, RSS where the device has it, one queue
//! handle per core on its own thread, and clear errors for what a device
//! cannot do.
#![cfg(feature = "dpdk")]

mod dpdk_util;

use dataplane::dpdk::{DpdkError, Eal, PortConfig};
use dataplane::port::{Burst, Port};

#[test]
fn multi_queue_rss_and_per_thread_queues() {
    let args = dpdk_util::eal_args("queues", &["--vdev=net_null0", "--vdev=net_ring0"]);
    let eal = Eal::init(&args).expect("EAL starts");
    let pool = eal.mempool("queues_pool", 8191, 128, 2048).unwrap();
    let two = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        ..PortConfig::default()
    };

    // More queues than the device has is an error naming the device, not a
    // silently smaller port (net_ring has at most 16).
    let ring = eal.port_by_name("net_ring0").unwrap();
    let many = PortConfig {
        rx_queues: 1024,
        tx_queues: 1024,
        ..PortConfig::default()
    };
    match eal.start_port(ring, pool, &many) {
        Err(e @ DpdkError::Unsupported { .. }) => {
            assert!(e.to_string().contains("net_ring0"), "{e}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("net_ring0 cannot have 1024 queues"),
    }

    // net_null has RSS hash types: two queues get RSS.
    let null = eal.port_by_name("net_null0").unwrap();
    let port = eal.start_port(null, pool, &two).unwrap();
    assert_eq!(port.queues(), (2, 2));
    assert!(port.rss(), "net_null reports RSS support");
    assert!(
        !port.spreads_flows(),
        "net_null's queues are separate channels: a spare one is not polled"
    );
    assert!(port.queue(2).is_err());

    let q0 = port.queue(0).unwrap();
    let q1 = port.queue(1).unwrap();
    // One core per queue: each handle moves to its own thread.
    let counts: Vec<(u64, u64)> = std::thread::scope(|s| {
        let hs: Vec<_> = [q0, q1]
            .into_iter()
            .map(|mut q| {
                let eal = &eal;
                s.spawn(move || {
                    // A registered thread gets an lcore id (mempool caches).
                    let reg = eal.register_thread().expect("rte_thread_register");
                    assert_ne!(reg.lcore_id(), u32::MAX);
                    assert_eq!(eal.lcore_id(), reg.lcore_id());
                    let mut b = Burst::new();
                    for _ in 0..1000 {
                        q.rx_burst(&mut b);
                        q.tx_burst(&mut b);
                    }
                    let c = q.counters();
                    (c.rx_packets, c.tx_packets)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (rx, tx) in &counts {
        assert!(*rx > 0, "every queue received: {counts:?}");
        assert_eq!(rx, tx, "net_null accepts everything");
    }
    let s = port.stats().unwrap();
    let total: u64 = counts.iter().map(|c| c.0).sum();
    assert_eq!(s.ipackets, total);
    assert_eq!(s.opackets, total);
    let xs = port.xstats().unwrap();
    assert!(
        xs.iter()
            .any(|x| x.name == "rx_good_packets" && x.value == total),
        "{xs:?}"
    );
    // Handles were released when the threads ended: they can be taken again.
    assert!(port.queue(0).is_ok());
    assert_eq!(pool.in_use(), 0, "mbufs leaked");
}
