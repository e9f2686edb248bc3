//! The forwarding core's pipeline alone, packets in memory: 64-byte IPv4 frames to
//! random destinations of the 1M-route synthetic table, through one core's
//! `poll_once` (FIB poll, RX, classify, one bulk lookup per burst, resolve, rewrite,
//! TX per egress port, counter publish). Reported per packet (Throughput::Elements).
//!
//! `cargo bench -p benches --bench pipeline`
//!
//! The ports are in-memory rings (`MemPort`, below) with no atomics.
//!
//! - `synthetic-1m/random-dst/64B`: the pipeline alone. Each port holds 1024 frames
//!   already in memory (a NIC RX ring's worth); the timed part runs `poll_once` until
//!   every frame has been received and forwarded once (the TX side only keeps the
//!   frames). Then, untimed, the "wire" gives every frame a new random destination
//!   from a 16M-address stream and its TTL back (one incremental checksum update), so
//!   lookups keep missing the caches as real traffic does. Those writes leave the frame
//!   lines in this core's caches, as a NIC writing into the last-level cache (DDIO)
//!   would leave them in L3.
//! - `synthetic-1m/cached-dst/64B`: the same with 4096 destinations cycled, whose
//!   tbl24 lines stay cached: the pipeline's cost without the lookup's cache misses.
//! - `synthetic-1m/random-dst/64B+generator`: the same, but the TX side re-addresses
//!   each frame as it is sent (2 × 1024 frames in flight), inside the timed loop.
//! - `generator-only`: that generator's own work (the same rings with no routing).

use std::collections::VecDeque;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use benches::addrs::AddressStream;
use benches::routes::{self, DEFAULT_NEXTHOPS};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::port::soft::{SoftPacket, SoftPool};
use dataplane::port::{Burst, Packet, Port, PortCounters, MAX_BURST};
use dataplane::wire::EthernetAddress;
use dataplane::worker::{CoreConfig, ForwardingCore, PortSetup};
use fib::{Fib, FibConfig, ListenerConfig, Nexthop, Protocol, Route, TableId};

/// Frames in flight per port with the inline generator (a NIC RX ring's worth).
const FRAMES_PER_PORT: usize = 1024;
/// Frames per port already in memory for the pipeline-alone bench.
const MEM_FRAMES_PER_PORT: usize = 1024;
const PORTS: usize = 2;
/// Destinations the generator cycles through.
const STREAM: usize = 1 << 24;

/// One's-complement checksum update of RFC 1624 eqn. 3 for one 16-bit word.
#[inline(always)]
fn csum_update(hc: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// An in-memory port: a loopback ring without atomics, whose TX side re-addresses
/// each frame (see the module docs).
struct MemPort {
    ring: VecDeque<SoftPacket>,
    /// Re-address frames as they are sent (else keep them in `sent`).
    regen_on_tx: bool,
    sent: Vec<SoftPacket>,
    stream: std::sync::Arc<Vec<u32>>,
    next: usize,
    counters: PortCounters,
}

impl MemPort {
    #[inline(always)]
    fn regenerate(&mut self, data: &mut [u8]) {
        let dst = self.stream[self.next];
        self.next = (self.next + 1) & (STREAM - 1);
        let ip = &mut data[14..34];
        let mut hc = u16::from_be_bytes([ip[10], ip[11]]);
        // TTL back to 64 (the router took one off).
        let old_ttl_word = u16::from_be_bytes([ip[8], ip[9]]);
        let new_ttl_word = (64 << 8) | u16::from(ip[9]);
        hc = csum_update(hc, old_ttl_word, new_ttl_word);
        let old_hi = u16::from_be_bytes([ip[16], ip[17]]);
        let old_lo = u16::from_be_bytes([ip[18], ip[19]]);
        hc = csum_update(hc, old_hi, (dst >> 16) as u16);
        hc = csum_update(hc, old_lo, dst as u16);
        ip[8] = 64;
        ip[16..20].copy_from_slice(&dst.to_be_bytes());
        ip[10..12].copy_from_slice(&hc.to_be_bytes());
    }
}

impl Port for MemPort {
    type Packet = SoftPacket;

    #[inline]
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

    #[inline]
    fn tx_burst(&mut self, burst: &mut Burst<SoftPacket>) -> usize {
        let n = burst.len();
        if self.regen_on_tx {
            while let Some(mut p) = burst.pop() {
                self.regenerate(p.data_mut());
                self.ring.push_back(p);
            }
        } else {
            while let Some(p) = burst.pop() {
                self.sent.push(p);
            }
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

fn frame(dst: u32) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[0..6].copy_from_slice(&[0x02, 0xf1, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[0x02, 0x5e, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&50u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[10, 1, 2, 3]);
    ip[16..20].copy_from_slice(&dst.to_be_bytes());
    let sum = dataplane::wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f
}

/// A core over two MemPorts, in sync with a FIB holding the 1M-route table whose
/// 1024 nexthops are resolved gateways alternating between the ports.
fn core_with_1m_routes(
    pool: &SoftPool,
    frames_per_port: usize,
    regen_on_tx: bool,
    distinct_dsts: usize,
) -> (Fib, ForwardingCore<MemPort>) {
    let table = routes::synthetic_1m();
    let mut fib = Fib::new(FibConfig::default());
    for i in 0..DEFAULT_NEXTHOPS {
        let port = (i % PORTS as u32) as u16;
        let gateway = Ipv4Addr::from(0x0a00_0000 | (i + 1));
        let mac = [0x02, 0x4e, 0, 0, (i >> 8) as u8, i as u8];
        fib.set_neighbour(port, gateway, Some(mac));
        let id = fib.add_nexthop(Nexthop::Gateway { port, gateway }).unwrap();
        assert_eq!(id.0, i);
    }
    for r in &table {
        fib.add_route(
            TableId::MAIN,
            r.prefix,
            Route::new(r.nexthop, Protocol::Static),
        )
        .unwrap();
    }
    let mut stream = AddressStream::FromRoutes.generate(&table, STREAM, 7);
    // Cycle through the first `distinct_dsts` destinations only (all of them: STREAM).
    for i in distinct_dsts..STREAM {
        stream[i] = stream[i % distinct_dsts];
    }
    let stream = std::sync::Arc::new(stream);
    let ports: Vec<MemPort> = (0..PORTS)
        .map(|p| {
            let mut ring = VecDeque::with_capacity(frames_per_port * PORTS);
            for i in 0..frames_per_port {
                let mut pkt = pool.alloc().unwrap();
                pkt.copy_from(&frame(stream[(p * frames_per_port + i) % STREAM]))
                    .unwrap();
                ring.push_back(pkt);
            }
            MemPort {
                ring,
                regen_on_tx,
                sent: Vec::with_capacity(frames_per_port * PORTS),
                stream: stream.clone(),
                next: p * (STREAM / PORTS),
                counters: PortCounters::default(),
            }
        })
        .collect();
    let setups = (0..PORTS)
        .map(|p| PortSetup::new(EthernetAddress([0x02, 0xf1, 0, 0, 0, p as u8])))
        .collect();
    let sub = fib.register(ListenerConfig::new("bench core")).unwrap();
    let config = CoreConfig::new("bench core", setups).fib_budget(1 << 16);
    let (mut core, _handle) = ForwardingCore::new(config, ports, sub).unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !(core.tables().is_complete() && core.subscription().applied_seq() == fib.seq()) {
        fib.pump();
        core.poll_once();
        assert!(Instant::now() < deadline, "replay too slow");
    }
    (fib, core)
}

/// Gives every frame a port has sent a new destination and its TTL back, and queues
/// it for receiving again (the wire, untimed).
fn refill(core: &mut ForwardingCore<MemPort>) {
    for port in core.ports_mut() {
        let mut sent = std::mem::take(&mut port.sent);
        for mut p in sent.drain(..) {
            port.regenerate(p.data_mut());
            port.ring.push_back(p);
        }
        port.sent = sent;
    }
}

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(MAX_BURST as u64));
    group.measurement_time(Duration::from_secs(5));

    // Pipeline alone, packets in memory. One "iteration" is one burst of 32 frames.
    // `random-dst`: every destination new; `cached-dst`: 4096 destinations cycled
    // (their tbl24 lines stay cached: the pipeline's cost without the lookup misses,
    // as in scripts/bench-forward-core, whose pcap holds 8192 frames).
    for (name, distinct) in [("random-dst", STREAM), ("cached-dst", 4096)] {
        let pool = SoftPool::new(MEM_FRAMES_PER_PORT * PORTS + 64);
        let (_fib, mut core) = core_with_1m_routes(&pool, MEM_FRAMES_PER_PORT, false, distinct);
        group.bench_function(format!("synthetic-1m/{name}/64B"), |b| {
            b.iter_custom(|iters| {
                let want = iters * MAX_BURST as u64;
                let before = core.counters().snapshot().forwarded;
                let mut elapsed = Duration::ZERO;
                let mut done = 0u64;
                while done < want {
                    refill(&mut core);
                    let start = Instant::now();
                    loop {
                        let n = core.poll_once() as u64;
                        if n == 0 {
                            break;
                        }
                        done += n;
                    }
                    elapsed += start.elapsed();
                }
                let forwarded = core.counters().snapshot().forwarded - before;
                // Every frame routes: nothing may be punted or dropped on the way.
                assert_eq!(
                    forwarded,
                    done,
                    "{:?}",
                    core.counters().snapshot().reasons()
                );
                elapsed.mul_f64(want as f64 / done.max(1) as f64)
            })
        });
    }

    let pool = SoftPool::new(FRAMES_PER_PORT * PORTS + 64);
    let (_fib, mut core) = core_with_1m_routes(&pool, FRAMES_PER_PORT, true, STREAM);
    // One "iteration" is one burst of 32 frames; a poll_once handles one per port.
    group.bench_function("synthetic-1m/random-dst/64B+generator", |b| {
        b.iter_custom(|iters| {
            let want = iters * MAX_BURST as u64;
            let before = core.counters().snapshot().forwarded;
            let start = Instant::now();
            let mut done = 0u64;
            while done < want {
                done += core.poll_once() as u64;
            }
            let elapsed = start.elapsed();
            let forwarded = core.counters().snapshot().forwarded - before;
            // Every frame routes: nothing may be punted or dropped on the way.
            assert_eq!(
                forwarded,
                done,
                "{:?}",
                core.counters().snapshot().reasons()
            );
            elapsed * (want as u32).max(1) / (done as u32).max(1)
        })
    });

    // The same rings and re-addressing with no routing, for the difference.
    let mut ports = core.into_ports();
    group.bench_function("generator-only", |b| {
        b.iter_custom(|iters| {
            let want = iters * MAX_BURST as u64;
            let start = Instant::now();
            let mut done = 0u64;
            let mut burst = Burst::new();
            while done < want {
                for port in ports.iter_mut() {
                    let n = port.rx_burst(&mut burst);
                    black_box(&mut burst);
                    port.tx_burst(&mut burst);
                    done += n as u64;
                }
            }
            start.elapsed() * (want as u32).max(1) / (done as u32).max(1)
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
