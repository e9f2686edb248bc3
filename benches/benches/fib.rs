//! The sequenced FIB: route inserts per second on one thread, a full replay
//! delivered to a new listener through its ring, and the ring's own throughput.
//!
//! `cargo bench -p benches --bench fib`. Tables: the RouteViews table (606,138
//! prefixes, when `make data` has fetched it) and a synthetic 1M-route table with
//! today's prefix-length distribution.
//!
//! Targets (issue 2): at least 2M inserts/s; a full replay of 1M routes delivered
//! to a new listener in under 250 ms.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use benches::routes::{self, RouteEntry, DEFAULT_NEXTHOPS};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use fib::{
    EventSink, Fib, FibEvent, ListenerConfig, Nexthop, NexthopId, Progress, Protocol, Route,
    TableId,
};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn tables() -> Vec<(&'static str, Vec<RouteEntry>)> {
    let mut t = Vec::new();
    match routes::load_routeviews(&routes::routeviews_path(), DEFAULT_NEXTHOPS) {
        Ok(r) => t.push(("routeviews-606k", r)),
        Err(e) => eprintln!("skipping RouteViews ({e}); `make data` fetches it"),
    }
    t.push(("synthetic-1m", routes::synthetic_1m()));
    t
}

/// A FIB with the data set's nexthops (ids 0..DEFAULT_NEXTHOPS) and no routes.
fn fib_with_nexthops() -> Fib {
    let mut fib = Fib::default();
    for i in 0..DEFAULT_NEXTHOPS {
        let id = fib
            .add_nexthop(Nexthop::Gateway {
                port: (i % 4) as u16,
                gateway: Ipv4Addr::from(0x0A00_0001 + i),
            })
            .unwrap();
        assert_eq!(id, NexthopId(i));
    }
    fib
}

fn load(fib: &mut Fib, routes: &[RouteEntry]) {
    for r in routes {
        fib.add_route(
            TableId::MAIN,
            r.prefix,
            Route::new(r.nexthop, Protocol::Static),
        )
        .unwrap();
    }
}

fn inserts(c: &mut Criterion) {
    let mut g = c.benchmark_group("fib/insert");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for (name, routes) in tables() {
        g.throughput(Throughput::Elements(routes.len() as u64));
        g.bench_function(name, |b| {
            b.iter_batched(
                fib_with_nexthops,
                |mut fib| {
                    load(&mut fib, &routes);
                    fib
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// Counts what it is given: the cost of delivery, not of building a table.
#[derive(Default)]
struct CountingSink(u64);

impl EventSink for CountingSink {
    type Error = String;
    fn apply(&mut self, e: &FibEvent, budget: &mut usize) -> Result<Progress, String> {
        self.0 += black_box(e.seq) & 1;
        *budget -= 1;
        Ok(Progress::Done)
    }
}

/// Commits a change so the next registration builds its snapshot afresh (a cached
/// snapshot would hide that cost).
fn invalidate_snapshot(fib: &mut Fib) {
    let p: fib::Ipv4Prefix = "198.18.0.0/15".parse().unwrap();
    if fib.route(TableId::MAIN, &p).unwrap().is_some() {
        fib.del_route(TableId::MAIN, p, Protocol::Static).unwrap();
    } else {
        fib.add_route(TableId::MAIN, p, Route::new(NexthopId(0), Protocol::Static))
            .unwrap();
    }
}

/// Registers a listener on a FIB holding `routes` and pumps until a consumer thread
/// has applied the whole replay. Returns the time from register to in-sync.
fn replay_once(fib: &mut Fib) -> Duration {
    invalidate_snapshot(fib);
    let start = Instant::now();
    let mut sub = fib
        .register(ListenerConfig::new("bench").ring_capacity(4096))
        .unwrap();
    let target = fib.seq();
    let consumer = std::thread::spawn(move || {
        let mut sink = CountingSink::default();
        while !sub.in_sync() || sub.applied_seq() < target {
            sub.poll(&mut sink, 4096);
        }
        sub
    });
    while !fib.all_applied(target) {
        fib.pump();
    }
    let took = start.elapsed();
    let sub = consumer.join().unwrap();
    fib.unregister(sub.id()).unwrap();
    took
}

/// The same replay with the FIB's pump and the listener's poll taking turns on one
/// thread: the whole CPU cost of a replay, free of thread scheduling (on a loaded
/// 2-CPU machine the two-thread figure mostly measures who gets a CPU when).
fn replay_one_thread(fib: &mut Fib) -> Duration {
    invalidate_snapshot(fib);
    let start = Instant::now();
    let mut sub = fib
        .register(ListenerConfig::new("bench").ring_capacity(4096))
        .unwrap();
    let target = fib.seq();
    let mut sink = CountingSink::default();
    while !sub.in_sync() || sub.applied_seq() < target {
        fib.pump();
        sub.poll(&mut sink, 4096);
    }
    let took = start.elapsed();
    fib.unregister(sub.id()).unwrap();
    took
}

fn replay(c: &mut Criterion) {
    let mut g = c.benchmark_group("fib/replay");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for (name, routes) in tables() {
        let mut fib = fib_with_nexthops();
        load(&mut fib, &routes);
        // Events delivered: begin, nexthops, routes, end.
        g.throughput(Throughput::Elements(
            (routes.len() + DEFAULT_NEXTHOPS as usize + 2) as u64,
        ));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| replay_once(&mut fib)).sum())
        });
        g.bench_function(format!("{name}/one-thread"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| replay_one_thread(&mut fib)).sum())
        });
    }
    g.finish();
}

/// Events through one SPSC ring between two threads, as the FIB uses it.
fn ring(c: &mut Criterion) {
    const N: u64 = 1 << 20;
    let mut g = c.benchmark_group("fib/ring");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(N));
    g.bench_function("spsc-4096", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let q = Arc::new(ArrayQueue::<FibEvent>::new(4096));
                let done = Arc::new(AtomicBool::new(false));
                let (qc, dc) = (q.clone(), done.clone());
                let consumer = std::thread::spawn(move || {
                    let mut n = 0u64;
                    while n < N {
                        if let Some(e) = qc.pop() {
                            black_box(e);
                            n += 1;
                        }
                    }
                    dc.store(true, Ordering::Release);
                });
                let start = Instant::now();
                let mut seq = 0u64;
                while seq < N {
                    let e = FibEvent {
                        seq,
                        kind: fib::EventKind::ReplayEnd,
                    };
                    if q.push(e).is_ok() {
                        seq += 1;
                    }
                }
                while !done.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                total += start.elapsed();
                consumer.join().unwrap();
            }
            total
        })
    });
    g.finish();
}

/// A table audit's two sides over a whole table (docs/AUDIT.md): the FIB's digest
/// of every /8 from its routes (what the control loop computes, one /8 at a time
/// within its turn budget; the slowest /8 is printed), and a DIR-24-8 table's
/// digest of every /8 (what a core computes in 16k-entry steps).
fn audit(c: &mut Criterion) {
    use fib::audit::{RangeSet, RunDigest};
    let mut g = c.benchmark_group("fib/audit");
    g.sample_size(10).measurement_time(Duration::from_secs(6));
    for (name, routes) in tables() {
        let mut fib = fib_with_nexthops();
        load(&mut fib, &routes);
        let mut tables = fib::ForwardingTables::default();
        let mut sub = fib.register(fib::ListenerConfig::new("audited")).unwrap();
        while !(sub.in_sync() && sub.applied_seq() == fib.seq() && sub.queued() == 0) {
            fib.pump();
            sub.poll(&mut tables, 1 << 16);
        }
        let whole = RangeSet::WHOLE;
        let slowest = (0..256)
            .map(|i| {
                let t = Instant::now();
                black_box(fib.audit_digest(TableId::MAIN, whole.start(i), 24).unwrap());
                (t.elapsed(), i)
            })
            .max()
            .unwrap();
        eprintln!(
            "{name}: slowest /8 for the FIB's side: {}/8 in {:?}",
            slowest.1, slowest.0
        );
        g.bench_function(format!("fib-side/{name}"), |b| {
            b.iter(|| {
                (0..256)
                    .map(|i| fib.audit_digest(TableId::MAIN, whole.start(i), 24).unwrap())
                    .fold(0u64, |a, d| a ^ d)
            })
        });
        g.bench_function(format!("table-side/{name}"), |b| {
            b.iter(|| {
                let mut x = 0u64;
                for i in 0..256 {
                    let mut d = RunDigest::new(whole.start(i), whole.size());
                    let mut budget = usize::MAX;
                    let done = tables.digest_range(
                        TableId::MAIN,
                        whole.start(i),
                        whole.size(),
                        &mut d,
                        &mut budget,
                    );
                    assert!(done.is_none());
                    x ^= d.finish();
                }
                x
            })
        });
    }
    g.finish();
}

criterion_group!(benches, inserts, replay, ring, audit);
criterion_main!(benches);
