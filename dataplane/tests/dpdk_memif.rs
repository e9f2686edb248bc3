//! net_memif against Debian's `dpdk-testpmd` in a second process: testpmd in
//! txonly mode generates and our port receives and counts; then our port
//! sends and testpmd in rxonly mode counts.
#![cfg(feature = "dpdk")]

mod dpdk_util;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dataplane::dpdk::{Eal, PortConfig};
use dataplane::port::{Burst, Port};
use dpdk_util::{eal_args, frame, send_all, testpmd_accumulated, Testpmd};

/// Removes the memif socket file however the test ends.
struct SocketFile(PathBuf);
impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn testpmd_args(sock: &str, tag: &str, mode: &str) -> (Vec<String>, Vec<String>) {
    // Two lcores on CPU 1 (testpmd needs a main and a forwarding lcore; CPU
    // 0 is this process's).
    let eal = [
        "--lcores=0@1,1@1",
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-telemetry",
        &format!("--file-prefix=fibre-testpmd-{tag}-{}", std::process::id()),
        &format!("--vdev=net_memif0,role=client,socket={sock},socket-abstract=no"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let app = [
        &format!("--forward-mode={mode}"),
        "--auto-start",
        "--nb-cores=1",
        "--total-num-mbufs=8192",
        "--txpkts=64",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    (eal, app)
}

#[test]
fn memif_with_testpmd_both_directions() {
    let sock =
        SocketFile(std::env::temp_dir().join(format!("fibre-memif-{}.sock", std::process::id())));
    let _ = std::fs::remove_file(&sock.0);
    let sock_s = sock.0.display().to_string();
    let vdev = format!("--vdev=net_memif0,role=server,socket={sock_s},socket-abstract=no");
    let eal = Eal::init(&eal_args("memif", &[&vdev])).expect("EAL starts");
    let id = eal.port_by_name("net_memif0").unwrap();
    let pool = eal.mempool("memif_pool", 8191, 256, 2048).unwrap();
    let port = eal.start_port(id, pool, &PortConfig::default()).unwrap();
    let mut q = port.queue(0).unwrap();

    // Phase 1: testpmd generates, we receive and count.
    let (e, a) = testpmd_args(&sock_s, "tx", "txonly");
    let t_spawn = Instant::now();
    let gen = Testpmd::spawn(&e, &a);
    let link = port.wait_link_up(Duration::from_secs(20)).unwrap();
    println!("link up after {:?}", t_spawn.elapsed());
    assert!(
        link.up,
        "memif link up with testpmd; testpmd said:\n{}",
        gen.output()
    );
    let mut received = 0u64;
    let mut burst = Burst::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        received += q.rx_burst(&mut burst) as u64;
        burst.clear();
    }
    let ts = Instant::now();
    let out = gen.stop(Duration::from_secs(20));
    println!("testpmd stop took {:?}", ts.elapsed());
    // Drain what is still in the ring until testpmd's disconnect is seen.
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_millis(500) {
        received += q.rx_burst(&mut burst) as u64;
        burst.clear();
    }
    let tx = testpmd_accumulated(&out, "TX-packets:")
        .unwrap_or_else(|| panic!("testpmd stats missing:\n{out}"));
    println!("testpmd txonly sent {tx}, we received {received}");
    assert!(received > 10_000, "received only {received} of {tx}");
    assert!(received <= tx, "received {received} > sent {tx}");
    // At most one memif ring (1024 slots) can be lost when testpmd leaves.
    assert!(tx - received <= 1024, "lost {} of {tx}", tx - received);
    assert_eq!(q.counters().rx_packets, received);

    // Phase 2: we send, testpmd counts.
    let (e, a) = testpmd_args(&sock_s, "rx", "rxonly");
    let sink = Testpmd::spawn(&e, &a);
    // Wait until testpmd forwards: it flushes its RX queues when it starts
    // forwarding, which would discard packets sent before.
    assert!(
        sink.wait_forwarding(Duration::from_secs(20)),
        "testpmd rxonly did not start:\n{}",
        sink.output()
    );
    port.wait_link_up(Duration::from_secs(20)).unwrap();
    let n = 20_000;
    let frames: Vec<Vec<u8>> = (0..n as u32)
        .map(|i| frame(i, 64 + (i as usize % 64)))
        .collect();
    let sent = send_all(&mut q, &frames, Duration::from_secs(20));
    assert_eq!(sent, n, "all frames accepted by the memif ring");
    // Let testpmd drain the ring before it is told to stop.
    std::thread::sleep(Duration::from_millis(500));
    let out = sink.stop(Duration::from_secs(20));
    let rx = testpmd_accumulated(&out, "RX-packets:")
        .unwrap_or_else(|| panic!("testpmd stats missing:\n{out}"));
    println!("we sent {sent}, testpmd rxonly received {rx}");
    assert_eq!(rx, n as u64, "testpmd counted every packet we sent");
    assert_eq!(q.counters().tx_packets, n as u64);
}
