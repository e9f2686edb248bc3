//! A profiling harness for the forwarding core's pipeline, not a test of behaviour:
//! `#[ignore]`d, run by hand under callgrind, whose instruction counts are repeatable on
//! a shared machine where timings are not.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-perf cargo test --release -p dataplane --test core_profile --no-run
//! valgrind --tool=callgrind --toggle-collect='core_profile::timed_pass' \
//!     target/release/deps/core_profile-* --ignored --exact pipeline_profile --nocapture
//! ```
//! Instructions per packet = the collected `Ir` / the packets it prints. Only
//! `timed_pass` is collected (the core's `poll_once` until both in-memory ports are
//! drained: FIB poll, RX, the pipeline, TX, counters); the setup and the untimed
//! re-addressing of the frames between passes are not. The table is 65,536 random /24s
//! over 16 resolved gateways alternating between the two ports, 64-byte frames.

use std::collections::VecDeque;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dataplane::port::soft::{SoftPacket, SoftPool};
use dataplane::port::{Burst, Packet, Port, PortCounters};
use dataplane::wire::EthernetAddress;
use dataplane::worker::{CoreConfig, ForwardingCore, PortSetup};
use fib::{Fib, FibConfig, Ipv4Prefix, ListenerConfig, Nexthop, Protocol, Route, TableId};

const PORTS: usize = 2;
const FRAMES_PER_PORT: usize = 1024;
const ROUTES: u32 = 1 << 16;

/// An in-memory port without atomics: RX pops frames queued by the harness, TX keeps
/// them for the next pass.
struct MemPort {
    ring: VecDeque<SoftPacket>,
    sent: Vec<SoftPacket>,
    counters: PortCounters,
}

impl Port for MemPort {
    type Packet = SoftPacket;

    fn rx_burst(&mut self, burst: &mut Burst<SoftPacket>) -> usize {
        let mut n = 0;
        while !burst.is_full() {
            let Some(p) = self.ring.pop_front() else {
                break;
            };
            let _ = burst.push(p);
            n += 1;
        }
        self.counters.rx_packets += n as u64;
        n
    }

    fn tx_burst(&mut self, burst: &mut Burst<SoftPacket>) -> usize {
        let n = burst.len();
        while let Some(p) = burst.pop() {
            self.sent.push(p);
        }
        self.counters.tx_packets += n as u64;
        n
    }

    fn alloc(&mut self) -> Option<SoftPacket> {
        None
    }

    fn counters(&self) -> PortCounters {
        self.counters
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

fn frame(dst: u32) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[0..6].copy_from_slice(&[0x02, 0xf1, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[0x02, 0x5e, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[192, 0, 2, 99]);
    f[30..34].copy_from_slice(&dst.to_be_bytes());
    let sum = dataplane::wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f
}

/// One timed pass: poll until the ports are drained. The function callgrind collects.
#[inline(never)]
fn timed_pass(core: &mut ForwardingCore<MemPort>) -> u64 {
    let mut done = 0;
    loop {
        let n = core.poll_once() as u64;
        if n == 0 {
            return done;
        }
        done += n;
    }
}

/// Gives every sent frame a new destination and TTL 64 again (recomputing the
/// checksum), and queues it for receiving.
#[inline(never)]
fn refill(core: &mut ForwardingCore<MemPort>, dsts: &[u32], next: &mut usize) {
    for port in core.ports_mut() {
        let mut sent = std::mem::take(&mut port.sent);
        for mut p in sent.drain(..) {
            let dst = dsts[*next % dsts.len()];
            *next += 1;
            p.copy_from(&frame(dst)).unwrap();
            port.ring.push_back(p);
        }
        port.sent = sent;
    }
}

#[test]
#[ignore = "a profiling harness: run by hand (see the module docs)"]
fn pipeline_profile() {
    let passes: usize = std::env::var("PROFILE_PASSES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut fib = Fib::new(FibConfig::default());
    let mut nexthops = Vec::new();
    for i in 0..16u32 {
        let port = (i % PORTS as u32) as u16;
        let gateway = Ipv4Addr::from(0x0a01_0000 | (i + 1));
        fib.set_neighbour(port, gateway, Some([0x02, 0x4e, 0, 0, 0, i as u8]));
        nexthops.push(fib.add_nexthop(Nexthop::Gateway { port, gateway }).unwrap());
    }
    let mut rng = Rng(7);
    let mut nets = Vec::new();
    while nets.len() < ROUTES as usize {
        let first = 1 + rng.next() % 223;
        if first == 10 || first == 127 {
            continue;
        }
        let net = (first << 24) | (rng.next() & 0x00ff_ff00);
        let nh = nexthops[nets.len() % nexthops.len()];
        let prefix = Ipv4Prefix::new(net, 24).unwrap();
        if fib
            .add_route(TableId::MAIN, prefix, Route::new(nh, Protocol::Static))
            .is_ok()
        {
            nets.push(net);
        }
    }
    let dsts: Vec<u32> = (0..1 << 16)
        .map(|_| nets[rng.next() as usize % nets.len()] | (1 + rng.next() % 254))
        .collect();
    let pool = SoftPool::new(FRAMES_PER_PORT * PORTS + 64);
    let ports = (0..PORTS)
        .map(|_| {
            let mut sent = Vec::with_capacity(FRAMES_PER_PORT * PORTS);
            for _ in 0..FRAMES_PER_PORT {
                sent.push(pool.alloc().unwrap());
            }
            MemPort {
                ring: VecDeque::with_capacity(FRAMES_PER_PORT * PORTS),
                sent,
                counters: PortCounters::default(),
            }
        })
        .collect();
    let setups = (0..PORTS)
        .map(|p| PortSetup::new(EthernetAddress([0x02, 0xf1, 0, 0, 0, p as u8])))
        .collect();
    let sub = fib.register(ListenerConfig::new("profile core")).unwrap();
    let config = CoreConfig::new("profile core", setups).fib_budget(1 << 16);
    let (mut core, _handle) = ForwardingCore::new(config, ports, sub).unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !(core.tables().is_complete() && core.subscription().applied_seq() == fib.seq()) {
        fib.pump();
        core.poll_once();
        assert!(Instant::now() < deadline, "replay too slow");
    }
    let mut next = 0;
    let mut packets = 0u64;
    let mut elapsed = Duration::ZERO;
    for _ in 0..passes {
        refill(&mut core, &dsts, &mut next);
        let start = Instant::now();
        packets += black_box(timed_pass(&mut core));
        elapsed += start.elapsed();
    }
    let stats = core.counters().snapshot();
    assert_eq!(stats.forwarded, packets, "{:?}", stats.reasons());
    println!(
        "pipeline_profile: {packets} packets in {passes} passes, {:.1} ns/packet",
        elapsed.as_nanos() as f64 / packets as f64
    );
}
