//! Helpers shared by the DPDK integration tests (each test file is its own
//! process, because DPDK's EAL can be initialised once per process).
#![allow(dead_code)]

use dataplane::port::{Burst, Packet, Port, MAX_BURST};

/// EAL arguments for a test: no hugepages, no PCI, a file prefix unique to
/// the test and process (two DPDK processes must not share one), one lcore.
pub fn eal_args(test: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "-l",
        "0",
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-telemetry",
        "--log-level=lib.eal:warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("--file-prefix=fibre-{test}-{}", std::process::id()));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// A crafted Ethernet/IPv4/UDP frame, `len` bytes, content depending on `i`.
pub fn frame(i: u32, len: usize) -> Vec<u8> {
    assert!(len >= 42);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    let ip_len = (len - 14) as u16;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&i.to_be_bytes());
    for (j, b) in f[42..].iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(131).wrapping_add(j) as u8;
    }
    f
}

/// Sends all `frames`, retrying what the port does not accept, until done
/// or `timeout`. Returns how many were accepted.
pub fn send_all<P: Port>(port: &mut P, frames: &[Vec<u8>], timeout: std::time::Duration) -> usize {
    let deadline = std::time::Instant::now() + timeout;
    let mut next = 0;
    while next < frames.len() && std::time::Instant::now() < deadline {
        let mut b = Burst::new();
        for f in frames[next..].iter().take(MAX_BURST) {
            let mut p = port.alloc().expect("mempool has room");
            p.copy_from(f).expect("frame fits");
            b.push(p).unwrap();
        }
        next += port.tx_burst(&mut b);
    }
    next
}

/// Receives until `want` packets arrived or `timeout`; returns their bytes.
pub fn recv_n<P: Port>(port: &mut P, want: usize, timeout: std::time::Duration) -> Vec<Vec<u8>> {
    let deadline = std::time::Instant::now() + timeout;
    let mut out = Vec::new();
    let mut b = Burst::new();
    while out.len() < want && std::time::Instant::now() < deadline {
        if port.rx_burst(&mut b) == 0 {
            std::thread::sleep(std::time::Duration::from_micros(50));
            continue;
        }
        out.extend(b.iter().map(|p| p.data().to_vec()));
        b.clear();
    }
    out
}
