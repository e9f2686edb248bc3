//! Spare receive queues: a core polls the queues the daemon keeps spare (which a
//! device still spreads flows onto), forwards what arrives there like anything
//! else and counts it on its port, and gives them back on request before another
//! core takes them.

mod core_support;

use core_support::*;
use dataplane::port::soft::SoftPort;
use dataplane::port::Port;

#[test]
fn a_core_forwards_from_an_adopted_spare_queue_and_gives_it_back() {
    let mut rig = rig();
    let spare = rig.core.spare_rx();
    let (queue, mut wire) = SoftPort::pair(&rig.pool, 512);
    assert!(spare.offer(0, queue).is_ok());
    rig.core.poll_once();
    assert_eq!(rig.core.adopted_ports(), vec![0]);

    // Frames arriving on the spare queue of port 0 are forwarded as port 0's.
    let frame = Spec::default().build();
    let frames = vec![frame.clone(); 40];
    let mut sent = 0;
    for chunk in frames.chunks(32) {
        let mut burst = dataplane::port::Burst::new();
        for f in chunk {
            let mut p = rig.pool.alloc().unwrap();
            dataplane::port::Packet::copy_from(&mut p, f).unwrap();
            burst.push(p).unwrap();
        }
        sent += wire.tx_burst(&mut burst);
    }
    assert_eq!(sent, 40);
    for _ in 0..4 {
        rig.core.poll_once();
    }
    let out = rig.received(1);
    assert_eq!(out.len(), 40, "every frame from the spare queue forwarded");
    for after in &out {
        check_forwarded(&frame, after, &egress_adjacency()).unwrap();
    }
    let stats = rig.stats();
    assert_eq!(stats.port(0).rx_packets, 40, "counted on port 0");
    assert_eq!(stats.forwarded, 40);
    assert_accounted(&stats);

    // Released: the core drops the queue and says so; it polls it no more.
    spare.request_release();
    assert!(!spare.released());
    rig.core.poll_once();
    assert!(spare.released());
    assert!(rig.core.adopted_ports().is_empty());
    let stats = rig.stats();
    assert_eq!(
        stats.port(0).rx_packets,
        40,
        "a given-back queue's counts stay counted"
    );
    assert_accounted(&stats);
}
