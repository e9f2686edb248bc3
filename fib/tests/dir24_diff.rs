//! Dir24Table against a plain reference LPM: random route sets at every depth,
//! overlaps, /0, /32, dense regions beyond /24, and random add/replace/delete runs.

mod dir24_support;

use dir24_support::{dense_regions, random_prefix, rng, RefLpm};
use fib::dir24::{CompressedTbl24, Dir24Config, Dir24Error, Dir24Table, LookupKernel, NO_ROUTE};
use fib::{Ipv4Prefix, NexthopId, Progress};
use proptest::prelude::*;
use rand::Rng;

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

/// Check the table against the reference at the first and last address of every
/// run of the reference's address space (so every prefix's first and last address,
/// and every boundary between routes), plus `random` random addresses.
fn check(table: &Dir24Table, reference: &RefLpm, random: usize, seed: u64) {
    let mut addrs = Vec::new();
    for (first, last, _) in reference.intervals() {
        addrs.push(first);
        addrs.push(last);
    }
    let mut r = rng(seed);
    addrs.extend((0..random).map(|_| r.random::<u32>()));
    let mut bulk = vec![0u32; addrs.len()];
    for &a in &addrs {
        assert_eq!(
            table.lookup(a).map(|n| n.0),
            reference.lookup(a),
            "address {}",
            std::net::Ipv4Addr::from(a)
        );
    }
    for kernel in LookupKernel::available() {
        table.lookup_bulk_with(kernel, &addrs, &mut bulk);
        assert_bulk(reference, &addrs, &bulk, &format!("{kernel:?} bulk"));
    }
    // The compressed copy of tbl24 (built from the table as it is now).
    let compressed = CompressedTbl24::new(table);
    compressed.lookup_bulk(&addrs, &mut bulk);
    assert_bulk(reference, &addrs, &bulk, "compressed");
    for (&a, &got) in addrs.iter().zip(&bulk) {
        assert_eq!(compressed.lookup_raw(a), got);
    }
    // The pipelined kernel at every distance, over runs shorter and longer than it.
    for ahead in [0, 1, 2, 3, 8, 33] {
        for chunk in [1, 5, 32, addrs.len().max(1)] {
            for (a, o) in addrs.chunks(chunk).zip(bulk.chunks_mut(chunk)) {
                table.lookup_bulk_ahead(ahead, a, o);
            }
            let what = format!("pipelined (ahead {ahead}, runs of {chunk})");
            assert_bulk(reference, &addrs, &bulk, &what);
        }
    }
}

/// Every result of a bulk lookup of `addrs` (`got`) is the reference's.
fn assert_bulk(reference: &RefLpm, addrs: &[u32], got: &[u32], what: &str) {
    for (&a, &got) in addrs.iter().zip(got) {
        assert_eq!(
            got,
            reference.lookup(a).unwrap_or(NO_ROUTE),
            "{what} lookup of {}",
            std::net::Ipv4Addr::from(a)
        );
    }
}

#[test]
fn empty_table_has_no_route_anywhere() {
    let t = Dir24Table::new(Dir24Config::default());
    for a in [0, 1, 0x0a00_0001, u32::MAX] {
        assert_eq!(t.lookup(a), None);
    }
    let mut out = [0u32; 40];
    t.lookup_bulk(&[7u32; 40], &mut out);
    assert!(out.iter().all(|&x| x == NO_ROUTE));
}

#[test]
fn default_route_host_routes_and_their_deletes() {
    let mut t = Dir24Table::new(Dir24Config::default());
    let mut r = RefLpm::new();
    let routes = [
        ("0.0.0.0/0", 1),
        ("255.255.255.255/32", 2),
        ("0.0.0.0/32", 3),
        ("10.0.0.0/8", 4),
        ("10.1.2.128/25", 5),
        ("10.1.2.129/32", 6),
        ("10.1.0.0/16", 7),
        ("128.0.0.0/1", 8),
    ];
    for (s, nh) in routes {
        t.insert(p(s), NexthopId(nh)).unwrap();
        r.insert(p(s), nh);
        check(&t, &r, 1000, nh as u64);
    }
    assert_eq!(t.lookup(0x0a01_0281), Some(NexthopId(6)));
    assert_eq!(t.lookup(0x0a01_0280), Some(NexthopId(5)));
    assert_eq!(t.lookup(0x0a01_0201), Some(NexthopId(7)));
    // Delete in an order that exercises every covering case, /0 last.
    for (s, _) in [
        routes[5], routes[4], routes[6], routes[1], routes[2], routes[3], routes[7], routes[0],
    ] {
        let prefix = p(s);
        let cover = r.covering(prefix);
        r.remove(prefix);
        t.remove(prefix, cover).unwrap();
        check(&t, &r, 1000, 99);
    }
    assert_eq!(t.stats().tbl8_groups_used, 0);
    assert_eq!(t.lookup(0), None);
}

#[test]
fn random_route_sets_match_reference() {
    for seed in 0..6u64 {
        let mut g = rng(seed);
        let dense = dense_regions(&mut g, 4);
        let mut t = Dir24Table::new(Dir24Config::default());
        let mut r = RefLpm::new();
        let n = if seed < 3 { 300 } else { 6000 };
        for _ in 0..n {
            let prefix = random_prefix(&mut g, &dense);
            let nh = g.random_range(0..5000);
            r.insert(prefix, nh);
            t.insert(prefix, NexthopId(nh)).unwrap();
        }
        check(&t, &r, 50_000, seed);
    }
}

#[test]
fn random_add_replace_delete_sequences_match_reference() {
    for seed in 10..14u64 {
        let mut g = rng(seed);
        let dense = dense_regions(&mut g, 3);
        let mut t = Dir24Table::new(Dir24Config::default());
        let mut r = RefLpm::new();
        let mut installed: Vec<Ipv4Prefix> = Vec::new();
        for step in 0..6000 {
            let roll = g.random_range(0..10);
            let touched = if roll < 5 || installed.is_empty() {
                let prefix = random_prefix(&mut g, &dense);
                let nh = g.random_range(0..300);
                if r.insert(prefix, nh).is_none() {
                    installed.push(prefix);
                }
                t.insert(prefix, NexthopId(nh)).unwrap();
                prefix
            } else if roll < 7 {
                let prefix = installed[g.random_range(0..installed.len())];
                let nh = g.random_range(0..300);
                r.insert(prefix, nh);
                t.insert(prefix, NexthopId(nh)).unwrap();
                prefix
            } else {
                let prefix = installed.swap_remove(g.random_range(0..installed.len()));
                let cover = r.covering(prefix);
                r.remove(prefix);
                t.remove(prefix, cover).unwrap();
                prefix
            };
            for a in [touched.first(), touched.last(), g.random()] {
                assert_eq!(
                    t.lookup(a).map(|n| n.0),
                    r.lookup(a),
                    "seed {seed} step {step} after {touched}, address {}",
                    std::net::Ipv4Addr::from(a)
                );
            }
        }
        check(&t, &r, 20_000, seed);
        // Delete everything that is left, longest first (any order is valid, this
        // one keeps covering routes present until their subprefixes are gone).
        installed.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for prefix in installed {
            let cover = r.covering(prefix);
            r.remove(prefix);
            t.remove(prefix, cover).unwrap();
        }
        assert_eq!(r.len(), 0);
        check(&t, &r, 1000, seed);
        assert_eq!(t.stats().tbl8_groups_used, 0, "every group folded back");
    }
}

/// Apply with a small budget, calling again on Partial; returns the number of calls.
fn drive(mut step: impl FnMut(&mut usize) -> Result<Progress, Dir24Error>, budget: usize) -> usize {
    let mut calls = 0;
    loop {
        calls += 1;
        let mut b = budget;
        match step(&mut b).unwrap() {
            Progress::Done => return calls,
            Progress::Partial => assert!(calls < 100_000_000, "no progress"),
        }
    }
}

#[test]
fn budgeted_updates_resume_to_the_same_table() {
    for budget in [1usize, 2, 3, 7, 64, 1000] {
        let mut g = rng(budget as u64);
        let dense = dense_regions(&mut g, 2);
        let mut t = Dir24Table::new(Dir24Config::default());
        let mut r = RefLpm::new();
        let mut installed = Vec::new();
        let mut partials = 0;
        let count = if budget < 8 { 150 } else { 1500 };
        for _ in 0..count {
            if g.random_bool(0.7) || installed.is_empty() {
                let mut prefix = random_prefix(&mut g, &dense);
                if g.random_bool(0.05) {
                    prefix = Ipv4Prefix::truncate(g.random(), g.random_range(0..=10)).unwrap();
                }
                let nh = NexthopId(g.random_range(0..100));
                if r.insert(prefix, nh.0).is_none() {
                    installed.push(prefix);
                }
                partials += drive(|b| t.add(prefix, nh, b), budget) - 1;
            } else {
                let prefix = installed.swap_remove(g.random_range(0..installed.len()));
                let cover = r.covering(prefix);
                r.remove(prefix);
                partials += drive(|b| t.delete(prefix, cover, b), budget) - 1;
            }
        }
        assert!(partials > 0, "budget {budget} never split an update");
        check(&t, &r, 20_000, budget as u64);
        let calls = drive(|b| Ok(t.clear(b)), budget);
        assert!(calls > 1 || budget >= 1000);
        assert!(t.is_empty());
        check(&t, &RefLpm::new(), 20_000, 1);
    }
}

#[test]
fn a_slash_8_takes_many_bounded_calls() {
    let mut t = Dir24Table::new(Dir24Config::default());
    t.insert(p("10.20.30.0/24"), NexthopId(9)).unwrap();
    t.insert(p("10.20.30.7/32"), NexthopId(8)).unwrap();
    let calls = drive(|b| t.add(p("10.0.0.0/8"), NexthopId(1), b), 4096);
    // 65,536 tbl24 entries and one 256-entry group at 4,096 units per call.
    assert!((16..=18).contains(&calls), "{calls} calls");
    assert_eq!(t.lookup(0x0a14_1e07), Some(NexthopId(8)));
    assert_eq!(t.lookup(0x0a14_1e08), Some(NexthopId(9)));
    assert_eq!(t.lookup(0x0a00_0000), Some(NexthopId(1)));
    assert_eq!(t.lookup(0x0aff_ffff), Some(NexthopId(1)));
    assert_eq!(t.lookup(0x0b00_0000), None);
}

#[test]
fn nexthop_ids_above_the_layout_limit_are_refused() {
    let mut t = Dir24Table::new(Dir24Config::default());
    let max = fib::MAX_NEXTHOP_ID;
    assert!(max >= 1 << 14);
    t.insert(p("1.0.0.0/8"), NexthopId(max)).unwrap();
    assert_eq!(t.lookup(0x0100_0001), Some(NexthopId(max)));
    assert_eq!(
        t.insert(p("2.0.0.0/8"), NexthopId(max + 1)),
        Err(Dir24Error::NexthopOutOfRange { id: max + 1 })
    );
    assert_eq!(t.lookup(0x0200_0001), None);
}

/// Random operations: (kind, address, length, nexthop).
fn ops_strategy() -> impl Strategy<Value = Vec<(u8, u32, u8, u16)>> {
    // Addresses from a small pool of regions so that ops overlap a lot.
    let addr = prop_oneof![
        any::<u32>(),
        (0u32..4, any::<u16>()).prop_map(|(r, low)| (r << 30) | 0x0a0b_0000 | low as u32),
    ];
    prop::collection::vec((0u8..3, addr, 0u8..=32, 0u16..50), 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn proptest_ops_match_reference(ops in ops_strategy()) {
        let mut t = Dir24Table::new(Dir24Config { tbl8_groups: 2, tbl8_groups_max: 1 << 15 });
        let mut r = RefLpm::new();
        for (kind, addr, len, nh) in ops {
            let prefix = Ipv4Prefix::truncate(addr, len).unwrap();
            if kind < 2 {
                r.insert(prefix, nh as u32);
                t.insert(prefix, NexthopId(nh as u32)).unwrap();
            } else if r.get(prefix).is_some() {
                let cover = r.covering(prefix);
                r.remove(prefix);
                t.remove(prefix, cover).unwrap();
            }
        }
        for (first, last, nh) in r.intervals() {
            prop_assert_eq!(t.lookup(first).map(|n| n.0), nh);
            prop_assert_eq!(t.lookup(last).map(|n| n.0), nh);
        }
    }
}
