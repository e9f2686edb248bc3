//! net_pcap: the test writes a pcap of crafted frames, the port reads it
//! (rx_pcap=), the frames are sent to another pcap (tx_pcap=), and the bytes
//! of both files' packets are compared.
#![cfg(feature = "dpdk")]

mod dpdk_util;

use std::time::Duration;

use dataplane::dpdk::{Eal, PortConfig};
use dataplane::port::Packet;
use dataplane::port::{Burst, Port};
use dpdk_util::{eal_args, frame, read_pcap, write_pcap};

#[test]
fn pcap_in_to_pcap_out_bytes_equal() {
    // Removed however the test ends.
    let dir = tempfile::Builder::new()
        .prefix("fibre-pcap-")
        .tempdir()
        .unwrap();
    let rx = dir.path().join("in.pcap");
    let tx = dir.path().join("out.pcap");
    let frames: Vec<Vec<u8>> = (0..300u32)
        .map(|i| frame(i, 60 + (i as usize * 13) % 1450))
        .collect();
    write_pcap(&rx, &frames);
    assert_eq!(read_pcap(&rx), frames, "the pcap writer and reader agree");

    let vdev = format!(
        "--vdev=net_pcap0,rx_pcap={},tx_pcap={}",
        rx.display(),
        tx.display()
    );
    let eal = Eal::init(&eal_args("pcap", &[&vdev])).expect("EAL starts");
    let id = eal.port_by_name("net_pcap0").unwrap();
    let pool = eal.mempool("pcap_pool", 2047, 64, 2048).unwrap();
    let port = eal.start_port(id, pool, &PortConfig::default()).unwrap();
    let mut q = port.queue(0).unwrap();

    // Receive the file's packets and send each received burst back out
    // as it is: the mbufs themselves go to tx_pcap (zero copy).
    let mut got = Vec::new();
    let mut sent = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut burst = Burst::new();
    while got.len() < frames.len() && std::time::Instant::now() < deadline {
        if q.rx_burst(&mut burst) == 0 {
            continue;
        }
        got.extend(burst.iter().map(|p| p.data().to_vec()));
        sent += q.tx_burst(&mut burst);
    }
    drop(burst);
    assert_eq!(got.len(), frames.len(), "all packets of the pcap received");
    assert!(got == frames, "received bytes equal the file's");
    assert_eq!(sent, frames.len());
    let mut empty = Burst::new();
    assert_eq!(q.rx_burst(&mut empty), 0, "rx_pcap is exhausted");
    drop(empty);
    let c = q.counters();
    assert_eq!((c.rx_packets, c.tx_packets, c.tx_dropped), (300, 300, 0));
    drop(q);
    // Closing the port flushes and closes the tx_pcap dumper.
    drop(port);
    drop(eal);

    let out = read_pcap(&tx);
    assert_eq!(out.len(), frames.len());
    assert!(out == frames, "tx_pcap bytes equal the crafted frames");
}
