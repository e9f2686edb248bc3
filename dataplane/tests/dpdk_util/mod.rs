//! Helpers shared by the DPDK integration tests (each test file is its own
//! process, because DPDK's EAL can be initialised once per process).
#![allow(dead_code)]

use dataplane::port::{Burst, Packet, Port, MAX_BURST};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use std::path::Path;

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

/// A spawned `dpdk-testpmd`: its output is collected on a thread, and it is
/// killed by PID (and reaped) when dropped, however the test ends.
pub struct Testpmd {
    child: Option<std::process::Child>,
    stdin: Option<std::process::ChildStdin>,
    output: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Testpmd {
    /// Starts `dpdk-testpmd` with EAL arguments `eal` and application
    /// arguments `app` (after `--`), non-interactive. With `--auto-start`,
    /// [`Testpmd::wait_forwarding`] returns once it forwards.
    pub fn spawn(eal: &[String], app: &[String]) -> Testpmd {
        use std::io::Read;
        use std::process::{Command, Stdio};
        // stdbuf: line-buffered stdout, so "Press enter to exit" (printed
        // once forwarding has started) can be waited for through the pipe.
        // stdbuf execs testpmd, so the child's PID is testpmd's.
        let mut child = Command::new("stdbuf")
            .arg("-oL")
            .arg("dpdk-testpmd")
            .args(eal)
            .arg("--")
            .args(app)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dpdk-testpmd runs (Debian package dpdk)");
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut readers = Vec::new();
        let outs: Vec<Box<dyn Read + Send>> = vec![
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for mut r in outs {
            let o = std::sync::Arc::clone(&output);
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    o.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
        }
        Testpmd {
            stdin: child.stdin.take(),
            child: Some(child),
            output,
            readers,
        }
    }

    /// Output so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output contains `needle`, or `timeout`.
    pub fn wait_for(&self, needle: &str, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.output().contains(needle) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// Waits until testpmd has started forwarding (it flushes its RX queues
    /// just before, so packets sent earlier would be lost).
    pub fn wait_forwarding(&self, timeout: std::time::Duration) -> bool {
        self.wait_for("Press enter to exit", timeout)
    }

    /// Asks testpmd to stop (Enter on stdin: it stops forwarding, prints its
    /// statistics and exits), waits up to `timeout`, kills it otherwise;
    /// returns everything it printed.
    pub fn stop(mut self, timeout: std::time::Duration) -> String {
        use std::io::Write;
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"\n");
        }
        let deadline = std::time::Instant::now() + timeout;
        let mut child = self.child.take().unwrap();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                _ if std::time::Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.output()
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Child::kill signals this child's own PID (SIGKILL).
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The number after `key` in testpmd's "Accumulated forward statistics for
/// all ports" block (e.g. `RX-packets:`).
pub fn testpmd_accumulated(output: &str, key: &str) -> Option<u64> {
    let block = &output[output.find("Accumulated forward statistics for all ports")?..];
    let rest = &block[block.find(key)? + key.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// A classic pcap (microsecond timestamps, Ethernet) of `frames`, one a second.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = PcapWriter::new(file).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let ts = std::time::Duration::from_secs(i as u64);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
    std::io::Write::flush(&mut w.into_writer()).unwrap();
}

/// The packets of a pcap file, each checked to be whole (not cut at the snaplen).
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let file = std::fs::File::open(path).unwrap();
    let mut r = PcapReader::new(std::io::BufReader::new(file)).expect("a pcap file");
    let mut pkts = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.expect("a whole pcap record");
        assert_eq!(
            p.data.len(),
            p.orig_len as usize,
            "packet truncated in pcap"
        );
        pkts.push(p.data.into_owned());
    }
    pkts
}
