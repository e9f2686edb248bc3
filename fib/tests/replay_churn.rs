//! Replay under concurrent churn: listeners on their own threads register and
//! unregister at random moments while the control thread commits at least 100k
//! random adds, replaces and deletes through small rings that force overflow and
//! resync. Afterwards every listener serves exactly the FIB, and after its last
//! replay the seqs it applied have no gap. A proptest explores interleavings
//! deterministically on one thread.

mod common;

use common::{assert_in_step, drain};
use fib::reference::ReferenceSink;
use fib::{
    Fib, FibConfig, FibError, Ipv4Prefix, ListenerConfig, Nexthop, NexthopId, Protocol, Route,
    Subscription, TableId,
};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const TABLES: [TableId; 2] = [TableId::MAIN, TableId(100)];
const PROTOCOLS: [Protocol; 3] = [Protocol::Static, Protocol::Kernel, Protocol::Frr];

/// Random FIB changes over a small prefix space, so adds, replaces and deletes of
/// the same prefixes and overlapping ones keep happening.
struct Churn {
    rng: SmallRng,
    nexthops: Vec<NexthopId>,
}

impl Churn {
    fn new(fib: &mut Fib, seed: u64) -> Self {
        fib.add_table(TABLES[1]).unwrap();
        let nexthops = (0..16u8)
            .map(|i| {
                fib.add_nexthop(Nexthop::Gateway {
                    port: u16::from(i % 4),
                    gateway: Ipv4Addr::new(192, 0, 2, i + 1),
                })
                .unwrap()
            })
            .collect();
        Churn {
            rng: SmallRng::seed_from_u64(seed),
            nexthops,
        }
    }

    fn prefix(&mut self) -> Ipv4Prefix {
        // Lengths everywhere, /0 and /32 included; addresses from a few /8s so
        // prefixes overlap a lot.
        let len = match self.rng.random_range(0..10) {
            0 => self.rng.random_range(0..=8),
            1..=3 => self.rng.random_range(9..=23),
            4..=6 => 24,
            _ => self.rng.random_range(25..=32),
        };
        let addr = (self.rng.random_range(10u32..13) << 24) | self.rng.random_range(0..1 << 24);
        Ipv4Prefix::truncate(addr & 0xFF0F_F0FF, len).unwrap()
    }

    /// One random change; returns whether it committed (errors are part of the mix).
    fn step(&mut self, fib: &mut Fib) -> bool {
        let table = TABLES[self.rng.random_range(0..2)];
        let proto = PROTOCOLS[self.rng.random_range(0..3)];
        let prefix = self.prefix();
        let mut nh = self.nexthops[self.rng.random_range(0..self.nexthops.len())];
        if self.rng.random_range(0..5) == 0 {
            // A multipath route: a group of 2 or 3 distinct nexthops (shared by
            // every route over the same set, deleted with the last of them).
            let n = self.rng.random_range(2..=3);
            let mut members = Vec::new();
            while members.len() < n {
                let m = self.nexthops[self.rng.random_range(0..self.nexthops.len())];
                if !members.contains(&m) {
                    members.push(m);
                }
            }
            nh = fib.group_for(&members).unwrap();
        }
        let distance = self.rng.random_range(0..30);
        let route = Route::new(nh, proto).with_distance(distance);
        let r = match self.rng.random_range(0..100) {
            0..=44 => fib.add_route(table, prefix, route),
            45..=64 => fib.replace_route(table, prefix, route),
            65..=98 => {
                // Delete something that exists most of the time.
                let existing = fib.lookup(table, prefix.network()).unwrap();
                match existing {
                    Some((p, r)) => fib.del_route(table, p, r.protocol),
                    None => fib.del_route(table, prefix, proto),
                }
            }
            99 if self.rng.random_bool(0.5) => {
                // Neighbour churn: a gateway resolves, changes MAC or is forgotten.
                let last = self.rng.random_range(1..=16u8);
                let port = u16::from((last - 1) % 4);
                let mac = self
                    .rng
                    .random_bool(0.7)
                    .then(|| [2, 0, 0, 0, 0, self.rng.random()]);
                fib.set_neighbour(port, Ipv4Addr::new(192, 0, 2, last), mac);
                Ok(Some(fib.seq()))
            }
            _ => {
                // Nexthop churn: replace one's gateway (every route follows).
                let gw = Ipv4Addr::new(198, 51, 100, self.rng.random_range(1..255));
                let plain = self.nexthops[self.rng.random_range(0..self.nexthops.len())];
                fib.replace_nexthop(
                    plain,
                    Nexthop::Gateway {
                        port: 1,
                        gateway: gw,
                    },
                )
                .map(|_| Some(fib.seq()))
            }
        };
        match r {
            Ok(_) => true,
            Err(FibError::RouteExists { .. } | FibError::NoSuchRoute { .. }) => false,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<(Subscription, ReferenceSink)>,
}

/// A listener thread: polls with random budgets and random stalls (so rings fill
/// and backlogs overflow), until told to stop.
fn spawn_listener(mut sub: Subscription, seed: u64) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = thread::spawn(move || {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut sink = ReferenceSink::default();
        while !flag.load(Ordering::Acquire) {
            sub.poll(&mut sink, rng.random_range(1..64));
            assert!(
                !sub.failed(),
                "listener failed: {:?}",
                sub.shared().failure()
            );
            if rng.random_range(0..100) < 3 {
                thread::sleep(Duration::from_micros(rng.random_range(0..300)));
            } else {
                thread::yield_now();
            }
        }
        (sub, sink)
    });
    Running { stop, handle }
}

#[test]
fn replay_under_churn_converges_exactly() {
    let mut fib = Fib::new(FibConfig {
        // Small rings overflow constantly; a listener may need many tries to get a
        // replay through while the churn goes on. What is checked is convergence.
        max_resyncs_in_a_row: u32::MAX,
        ..FibConfig::default()
    });
    let mut churn = Churn::new(&mut fib, 0xF1B0);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut running: Vec<Running> = Vec::new();
    let mut committed = 0u64;
    let mut registrations = 0u32;
    let mut unregistrations = 0u32;
    let target = 100_000u64;
    while committed < target {
        for _ in 0..50 {
            if churn.step(&mut fib) {
                committed += 1;
            }
        }
        fib.pump();
        // Listeners come and go at random moments (at most 3 at once on 2 cores).
        let r = rng.random_range(0..1000);
        if r < 8 && running.len() < 3 {
            let cfg = ListenerConfig::new(format!("l{registrations}"))
                .ring_capacity(rng.random_range(2..64))
                .max_backlog(rng.random_range(1..256));
            let sub = fib.register(cfg).unwrap();
            running.push(spawn_listener(sub, u64::from(registrations)));
            registrations += 1;
        } else if r < 12 && running.len() > 1 {
            let victim = running.swap_remove(rng.random_range(0..running.len()));
            victim.stop.store(true, Ordering::Release);
            let (sub, _) = victim.handle.join().unwrap();
            if rng.random_bool(0.5) {
                fib.unregister(sub.id()).unwrap();
            } // else: dropping the subscription closes it
            unregistrations += 1;
        }
    }
    while running.len() < 2 {
        let sub = fib
            .register(
                ListenerConfig::new("late")
                    .ring_capacity(16)
                    .max_backlog(32),
            )
            .unwrap();
        running.push(spawn_listener(sub, 99 + running.len() as u64));
    }
    fib.sync(fib.seq(), Duration::from_secs(60))
        .expect("listeners converge");
    let resyncs: u64 = fib.listeners().iter().map(|s| s.resyncs).sum();
    for r in running {
        r.stop.store(true, Ordering::Release);
        let (sub, sink) = r.handle.join().unwrap();
        assert_eq!(sub.applied_seq(), fib.seq());
        assert_in_step(&fib, &sink);
        // After the last replay (taken at S), live seqs run S+1, S+2, ... with no gap.
        let s = sink.last_replay.expect("replayed");
        for (i, seq) in sink.live_seqs.iter().enumerate() {
            assert_eq!(*seq, s + 1 + i as u64);
        }
        assert_eq!(s + sink.live_seqs.len() as u64, fib.seq());
    }
    println!(
        "{committed} changes, seq {}, {registrations} registrations, {unregistrations} unregistrations, {resyncs} resyncs",
        fib.seq()
    );
    assert!(registrations >= 5, "the run exercised registration");
    assert!(fib.stats().prefixes > 100);
}

#[derive(Debug, Clone)]
enum Op {
    Change(u64),
    Register { ring: usize, backlog: usize },
    Unregister(usize),
    Poll { listener: usize, budget: usize },
    Pump,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u64>().prop_map(Op::Change),
        1 => (2usize..16, 1usize..32).prop_map(|(ring, backlog)| Op::Register { ring, backlog }),
        1 => (0usize..4).prop_map(Op::Unregister),
        4 => (0usize..4, 1usize..16).prop_map(|(listener, budget)| Op::Poll { listener, budget }),
        2 => Just(Op::Pump),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any interleaving of changes, registrations, unregistrations, polls with any
    /// budget and pumps ends with every listener exactly in step.
    #[test]
    fn any_interleaving_converges(ops in proptest::collection::vec(op(), 1..300), seed: u64) {
        let mut fib = Fib::new(FibConfig { max_resyncs_in_a_row: u32::MAX, ..FibConfig::default() });
        let mut churn = Churn::new(&mut fib, seed);
        let mut ls: Vec<(Subscription, ReferenceSink)> = Vec::new();
        for op in ops {
            match op {
                Op::Change(n) => {
                    for _ in 0..(n % 8) + 1 {
                        churn.step(&mut fib);
                    }
                }
                Op::Register { ring, backlog } => {
                    if ls.len() < 4 {
                        let s = fib.register(ListenerConfig::new("p").ring_capacity(ring).max_backlog(backlog)).unwrap();
                        ls.push((s, ReferenceSink::default()));
                    }
                }
                Op::Unregister(i) => {
                    if !ls.is_empty() {
                        let (s, _) = ls.remove(i % ls.len());
                        fib.unregister(s.id()).unwrap();
                    }
                }
                Op::Poll { listener, budget } => {
                    if !ls.is_empty() {
                        let n = ls.len();
                        let (s, k) = &mut ls[listener % n];
                        s.poll(k, budget);
                        prop_assert!(!s.failed());
                    }
                }
                Op::Pump => fib.pump(),
            }
        }
        for (s, k) in ls.iter_mut() {
            drain(&mut fib, s, k);
            prop_assert_eq!(s.applied_seq(), fib.seq());
            assert_in_step(&fib, k);
        }
    }
}
