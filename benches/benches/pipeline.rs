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
//!   from a 16M-address stream, its TTL back (one incremental checksum update) and the
//!   receiving port's MAC as destination MAC (the core checks it), so
//!   lookups keep missing the caches as real traffic does. Those writes leave the frame
//!   lines in this core's caches, as a NIC writing into the last-level cache (DDIO)
//!   would leave them in L3.
//! - `synthetic-1m/cached-dst/64B`: the same with 4096 destinations cycled, whose
//!   tbl24 lines stay cached: the pipeline's cost without the lookup's cache misses.
//! - `synthetic-1m/random-dst/64B+generator`: the same, but the TX side re-addresses
//!   each frame as it is sent (2 × 1024 frames in flight), inside the timed loop.
//! - `generator-only`: that generator's own work (the same rings with no routing).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod pipeline_support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::port::soft::SoftPool;
use dataplane::port::{Burst, Port, MAX_BURST};
use pipeline_support::*;

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
