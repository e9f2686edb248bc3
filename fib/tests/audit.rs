//! Audits: a DIR-24-8 listener's range digests equal the FIB's, computed from its
//! routes, at every level (/8 down to addresses) and after churn; a corrupted entry
//! changes exactly the digests of the ranges holding it; `unchanged_since` says when
//! a digest taken at an older seq still compares.

mod common;
mod dir24_support;

use dir24_support::{dense_regions, random_prefix, rng, RefLpm};
use fib::audit::{RangeSet, RunDigest};
use fib::dir24::NO_ROUTE;
use fib::{
    Fib, ForwardingTables, Ipv4Prefix, ListenerConfig, Nexthop, NexthopId, Protocol, Route,
    Subscription, TableId,
};
use rand::Rng;

const MAIN: TableId = TableId::MAIN;

/// Polls the listener until it has applied everything the FIB committed.
fn drain(fib: &mut Fib, sub: &mut Subscription, tables: &mut ForwardingTables) {
    common::drain(fib, sub, tables);
    assert!(!sub.failed(), "listener failed: {sub:?}");
}

/// The listener's digest of range `i` of `set`, taken in small budgeted steps as a
/// core takes it.
fn table_digest(t: &ForwardingTables, set: RangeSet, i: usize) -> u64 {
    let mut d = RunDigest::new(set.start(i), set.size());
    let (mut from, end) = (set.start(i), u64::from(set.start(i)) + set.size());
    while let Some(next) = t.digest_range(MAIN, from, end - u64::from(from), &mut d, &mut 700) {
        from = next;
    }
    d.finish()
}

/// The digest of range `i` from the reference's intervals (a third computation).
fn reference_digest(intervals: &[(u32, u32, Option<u32>)], set: RangeSet, i: usize) -> u64 {
    let (lo, hi) = (
        u64::from(set.start(i)),
        u64::from(set.start(i)) + set.size(),
    );
    let mut d = RunDigest::new(set.start(i), set.size());
    let from = intervals.partition_point(|&(_, last, _)| u64::from(last) < lo);
    for &(first, last, nh) in &intervals[from..] {
        if u64::from(first) >= hi {
            break;
        }
        let (a, b) = (u64::from(first).max(lo), (u64::from(last) + 1).min(hi));
        if a < b {
            d.push(a as u32, b - a, nh.unwrap_or(NO_ROUTE));
        }
    }
    d.finish()
}

/// Walks mismatching ranges down to addresses, as `fibrectl fib audit` does.
fn mismatching(fib: &Fib, t: &ForwardingTables, set: RangeSet, out: &mut Vec<u32>) {
    for i in 0..usize::from(set.count) {
        if table_digest(t, set, i) == fib.audit_digest(MAIN, set.start(i), set.shift).unwrap() {
            continue;
        }
        match set.split(i) {
            Some(sub) => mismatching(fib, t, sub, out),
            None => out.push(set.start(i)),
        }
    }
}

struct Setup {
    fib: Fib,
    sub: Subscription,
    tables: ForwardingTables,
    reference: RefLpm,
    nexthops: Vec<NexthopId>,
}

fn setup(seed: u64, routes: usize) -> Setup {
    let mut rng = rng(seed);
    let mut fib = Fib::default();
    let nexthops: Vec<NexthopId> = (0..20u8)
        .map(|i| {
            fib.add_nexthop(Nexthop::Gateway {
                port: 0,
                gateway: std::net::Ipv4Addr::new(10, 0, 0, i + 1),
            })
            .unwrap()
        })
        .collect();
    let dense = dense_regions(&mut rng, 6);
    let mut reference = RefLpm::new();
    for _ in 0..routes {
        let p = random_prefix(&mut rng, &dense);
        let nh = nexthops[rng.random_range(0..nexthops.len())];
        if fib
            .add_route(MAIN, p, Route::new(nh, Protocol::Static))
            .is_ok()
        {
            reference.insert(p, nh.0);
        }
    }
    let mut sub = fib.register(ListenerConfig::new("audited")).unwrap();
    let mut tables = ForwardingTables::default();
    drain(&mut fib, &mut sub, &mut tables);
    Setup {
        fib,
        sub,
        tables,
        reference,
        nexthops,
    }
}

#[test]
fn table_fib_and_reference_agree_at_every_level() {
    for seed in 0..4 {
        let s = setup(seed, 3_000);
        let intervals = s.reference.intervals();
        let whole = RangeSet::WHOLE;
        for i in 0..256 {
            let fib = s.fib.audit_digest(MAIN, whole.start(i), 24).unwrap();
            assert_eq!(table_digest(&s.tables, whole, i), fib, "seed {seed} /8 {i}");
            assert_eq!(reference_digest(&intervals, whole, i), fib);
        }
        // Down one busy /8 to its addresses, along routes' first addresses.
        let mut rng = rng(seed + 100);
        for (p, _) in s.reference.prefixes().iter().take(40) {
            let a = p.first() | (rng.random::<u32>() & !p.first() & 0xff);
            let l16 = RangeSet::WHOLE.split((a >> 24) as usize).unwrap();
            let l24 = l16.split(((a >> 16) & 0xff) as usize).unwrap();
            let l32 = l24.split(((a >> 8) & 0xff) as usize).unwrap();
            for set in [l16, l24, l32] {
                for i in 0..256 {
                    let fib = s.fib.audit_digest(MAIN, set.start(i), set.shift).unwrap();
                    assert_eq!(table_digest(&s.tables, set, i), fib, "{set:?} {i}");
                    assert_eq!(reference_digest(&intervals, set, i), fib);
                }
            }
            for i in 0..256 {
                let want = s.reference.lookup(l32.start(i)).unwrap_or(NO_ROUTE);
                assert_eq!(
                    s.fib.audit_digest(MAIN, l32.start(i), 0).unwrap(),
                    u64::from(want)
                );
            }
        }
    }
}

#[test]
fn after_churn_the_digests_still_agree() {
    let mut s = setup(7, 2_000);
    let mut rng = rng(77);
    let dense = dense_regions(&mut rng, 4);
    for _ in 0..1_500 {
        let prefixes = s.reference.prefixes();
        if rng.random_bool(0.4) && !prefixes.is_empty() {
            let (p, _) = prefixes[rng.random_range(0..prefixes.len())];
            s.fib.del_route(MAIN, p, Protocol::Static).unwrap();
            s.reference.remove(p);
        } else {
            let p = random_prefix(&mut rng, &dense);
            let nh = s.nexthops[rng.random_range(0..s.nexthops.len())];
            s.fib
                .replace_route(MAIN, p, Route::new(nh, Protocol::Static))
                .unwrap();
            s.reference.insert(p, nh.0);
        }
    }
    drain(&mut s.fib, &mut s.sub, &mut s.tables);
    let intervals = s.reference.intervals();
    for i in 0..256 {
        let fib = s
            .fib
            .audit_digest(MAIN, RangeSet::WHOLE.start(i), 24)
            .unwrap();
        assert_eq!(table_digest(&s.tables, RangeSet::WHOLE, i), fib);
        assert_eq!(reference_digest(&intervals, RangeSet::WHOLE, i), fib);
    }
}

#[test]
fn a_corrupted_entry_is_found_and_nothing_else() {
    let mut s = setup(3, 3_000);
    let mut rng = rng(33);
    let mut corrupted = Vec::new();
    for _ in 0..5 {
        let a: u32 = rng.random();
        let now = s.tables.lookup(MAIN, a).map_or(NO_ROUTE, |n| n.0);
        let wrong = if now == NO_ROUTE {
            s.nexthops[0].0
        } else {
            NO_ROUTE
        };
        s.tables.corrupt(MAIN, a, wrong);
        corrupted.push(a);
    }
    let mut found = Vec::new();
    mismatching(&s.fib, &s.tables, RangeSet::WHOLE, &mut found);
    // A tbl24 entry stands for a whole /24: every address whose lookup changed is
    // found, and only those.
    let wrong: Vec<u32> = corrupted
        .iter()
        .flat_map(|a| (a & !0xff)..=(a | 0xff))
        .filter(|&a| s.tables.lookup(MAIN, a).map(|n| n.0) != s.reference.lookup(a))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(corrupted.iter().all(|a| wrong.contains(a)));
    assert_eq!(found, wrong);
}

#[test]
fn a_digest_compares_only_while_its_range_is_unchanged() {
    let mut s = setup(5, 500);
    let at = s.fib.seq();
    let p: Ipv4Prefix = "10.20.0.0/16".parse().unwrap();
    s.fib
        .add_route(MAIN, p, Route::new(s.nexthops[1], Protocol::Static))
        .unwrap();
    let ten = 10u32 << 24;
    assert!(!s.fib.unchanged_since(MAIN, ten, ten | 0xff_ffff, at));
    assert!(s
        .fib
        .unchanged_since(MAIN, 11 << 24, (11 << 24) | 0xff_ffff, at));
    assert!(s
        .fib
        .unchanged_since(MAIN, ten, ten | 0xff_ffff, s.fib.seq()));
    // A short prefix touches every /8 it spans.
    let short: Ipv4Prefix = "64.0.0.0/3".parse().unwrap();
    let before = s.fib.seq();
    s.fib
        .add_route(MAIN, short, Route::new(s.nexthops[2], Protocol::Static))
        .unwrap();
    assert!(!s.fib.unchanged_since(MAIN, 95 << 24, 95 << 24, before));
    assert!(s.fib.unchanged_since(MAIN, 96 << 24, 96 << 24, before));
    // The listener, not yet caught up, differs in 10/8; it agrees once drained.
    let ten8 = RangeSet::WHOLE.single(10);
    assert_ne!(
        table_digest(&s.tables, ten8, 0),
        s.fib.audit_digest(MAIN, ten, 24).unwrap()
    );
    drain(&mut s.fib, &mut s.sub, &mut s.tables);
    assert_eq!(
        table_digest(&s.tables, ten8, 0),
        s.fib.audit_digest(MAIN, ten, 24).unwrap()
    );
}

#[test]
fn a_resync_heals_a_corrupted_table() {
    let mut s = setup(9, 1_000);
    let a = 0x0a14_0001;
    s.tables.corrupt(MAIN, a, s.nexthops[3].0);
    let mut found = Vec::new();
    mismatching(&s.fib, &s.tables, RangeSet::WHOLE, &mut found);
    assert!(!found.is_empty());
    let id = s.sub.id();
    s.fib.resync_listener(id, "audit").unwrap();
    drain(&mut s.fib, &mut s.sub, &mut s.tables);
    found.clear();
    mismatching(&s.fib, &s.tables, RangeSet::WHOLE, &mut found);
    assert!(found.is_empty(), "{found:x?}");
}

#[test]
fn one_wrong_tbl24_entry_under_a_slash8_route_changes_its_digest() {
    let mut fib = Fib::default();
    let nh = fib.add_nexthop(Nexthop::Blackhole).unwrap();
    fib.add_route(
        MAIN,
        "10.0.0.0/8".parse().unwrap(),
        Route::new(nh, Protocol::Static),
    )
    .unwrap();
    let mut sub = fib.register(ListenerConfig::new("x")).unwrap();
    let mut t = ForwardingTables::default();
    drain(&mut fib, &mut sub, &mut t);
    let w = RangeSet::WHOLE;
    assert_eq!(
        table_digest(&t, w, 10),
        fib.audit_digest(MAIN, 10 << 24, 24).unwrap()
    );
    t.corrupt(MAIN, 0x0a01_0200, NO_ROUTE);
    assert_eq!(t.lookup(MAIN, 0x0a01_0209), None);
    assert_ne!(
        table_digest(&t, w, 10),
        fib.audit_digest(MAIN, 10 << 24, 24).unwrap()
    );
}
