//! net_pcap: the test writes a pcap of crafted frames, the port reads it
//! (rx_pcap=), the frames are sent to another pcap (tx_pcap=), and the bytes
//! of both files' packets are compared.
#![cfg(feature = "dpdk")]

mod dpdk_util;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dataplane::dpdk::{Eal, PortConfig};
use dataplane::port::Packet;
use dataplane::port::{Burst, Port};
use dpdk_util::{eal_args, frame};

/// Removes the test's directory however the test ends.
struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Classic libpcap format, microsecond timestamps, Ethernet link type.
fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // magic
    out.extend_from_slice(&2u16.to_le_bytes()); // version major
    out.extend_from_slice(&4u16.to_le_bytes()); // version minor
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(i as u32).to_le_bytes()); // ts sec
        out.extend_from_slice(&0u32.to_le_bytes()); // ts usec
        out.extend_from_slice(&(f.len() as u32).to_le_bytes()); // incl_len
        out.extend_from_slice(&(f.len() as u32).to_le_bytes()); // orig_len
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// Packets of a pcap file (either byte order; micro- or nanosecond magic).
fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let d = std::fs::read(path).unwrap();
    assert!(d.len() >= 24, "pcap header missing");
    let magic = u32::from_le_bytes(d[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => panic!("not a pcap file: magic {m:#x}"),
    };
    let u32_at = |o: usize| {
        let b: [u8; 4] = d[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let mut pkts = Vec::new();
    let mut off = 24;
    while off + 16 <= d.len() {
        let incl = u32_at(off + 8) as usize;
        let orig = u32_at(off + 12) as usize;
        assert_eq!(incl, orig, "packet truncated in pcap");
        pkts.push(d[off + 16..off + 16 + incl].to_vec());
        off += 16 + incl;
    }
    assert_eq!(off, d.len(), "trailing bytes in pcap");
    pkts
}

#[test]
fn pcap_in_to_pcap_out_bytes_equal() {
    let dir = TempDir(std::env::temp_dir().join(format!("fibre-pcap-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let rx = dir.0.join("in.pcap");
    let tx = dir.0.join("out.pcap");
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
