//! The tbl8 pool: exhaustion is an error (never a misroute), the pool grows up to its
//! cap, groups fold back when their /24 becomes uniform, and freed groups are reused.

use fib::dir24::{Dir24Config, Dir24Error, Dir24Table, MAX_TBL8_GROUPS};
use fib::{Ipv4Prefix, NexthopId};

/// /32s each in its own /24, spread over the address space: the layout that needs
/// one tbl8 group per route.
fn scattered_host_routes(n: u32) -> Vec<Ipv4Prefix> {
    (0..n)
        .map(|i| {
            // Multiplying by an odd constant permutes the 2^24 /24s.
            let slash24 = i.wrapping_mul(0x9e3779b1) & 0x00ff_ffff;
            Ipv4Prefix::new((slash24 << 8) | (i & 0xff), 32).unwrap()
        })
        .collect()
}

#[test]
fn scattered_host_routes_that_exhaust_dpdk_defaults_fit_by_growing_the_pool() {
    // About 32,700 scattered /32s is where DPDK users report running out of tbl8s.
    let routes = scattered_host_routes(32_700);
    let mut t = Dir24Table::new(Dir24Config {
        tbl8_groups: 256,
        tbl8_groups_max: MAX_TBL8_GROUPS,
    });
    t.insert("0.0.0.0/0".parse().unwrap(), NexthopId(1))
        .unwrap();
    for (i, &p) in routes.iter().enumerate() {
        t.insert(p, NexthopId(2 + (i as u32 % 1000))).unwrap();
    }
    let stats = t.stats();
    assert_eq!(stats.tbl8_groups_used, 32_700);
    assert!(
        stats.tbl8_groups_allocated >= 32_700 && stats.tbl8_groups_allocated <= MAX_TBL8_GROUPS
    );
    for (i, &p) in routes.iter().enumerate() {
        assert_eq!(t.lookup(p.addr()), Some(NexthopId(2 + (i as u32 % 1000))));
        // The neighbours in the same /24 still follow the default route.
        assert_eq!(t.lookup(p.addr() ^ 1), Some(NexthopId(1)));
    }
}

#[test]
fn exhausting_a_capped_pool_is_an_error_and_misroutes_nothing() {
    let cap = 100;
    let routes = scattered_host_routes(cap + 20);
    let mut t = Dir24Table::new(Dir24Config {
        tbl8_groups: 16,
        tbl8_groups_max: cap,
    });
    let default: Ipv4Prefix = "0.0.0.0/0".parse().unwrap();
    t.insert(default, NexthopId(7)).unwrap();
    for (i, &p) in routes.iter().enumerate() {
        let result = t.insert(p, NexthopId(100 + i as u32));
        if i < cap as usize {
            result.unwrap();
        } else {
            assert_eq!(result, Err(Dir24Error::Tbl8Exhausted { cap }));
            // The refused route is not there: its address still follows the default.
            assert_eq!(t.lookup(p.addr()), Some(NexthopId(7)));
        }
    }
    assert_eq!(t.stats().tbl8_groups_used, cap);
    assert_eq!(t.stats().tbl8_groups_allocated, cap);
    // A longer prefix inside an existing group still fits: it needs no new group.
    let inside = Ipv4Prefix::new(routes[0].addr() & !0xff | 0x80, 25).unwrap();
    t.insert(inside, NexthopId(3)).unwrap();
    assert_eq!(t.lookup(inside.addr() | 1), Some(NexthopId(3)));
    // Short prefixes never need a group.
    t.insert("20.0.0.0/8".parse().unwrap(), NexthopId(4))
        .unwrap();
}

#[test]
fn groups_are_reclaimed_when_uniform_and_reused() {
    let routes = scattered_host_routes(500);
    let mut t = Dir24Table::new(Dir24Config {
        tbl8_groups: 500,
        tbl8_groups_max: 500,
    });
    let cover: Ipv4Prefix = "0.0.0.0/1".parse().unwrap();
    t.insert(cover, NexthopId(1)).unwrap();
    for round in 0..3u32 {
        for &p in &routes {
            t.insert(p, NexthopId(10 + round)).unwrap();
        }
        assert_eq!(t.stats().tbl8_groups_used, 500);
        // A second /32 in some of the same /24s uses no more groups.
        for &p in routes.iter().take(50) {
            t.insert(Ipv4Prefix::new(p.addr() ^ 0x80, 32).unwrap(), NexthopId(2))
                .unwrap();
        }
        assert_eq!(t.stats().tbl8_groups_used, 500);
        for &p in routes.iter().take(50) {
            let q = Ipv4Prefix::new(p.addr() ^ 0x80, 32).unwrap();
            let c = cover.contains(q.addr()).then_some((cover, NexthopId(1)));
            t.remove(q, c).unwrap();
        }
        for &p in &routes {
            let c = cover.contains(p.addr()).then_some((cover, NexthopId(1)));
            t.remove(p, c).unwrap();
        }
        assert_eq!(t.stats().tbl8_groups_used, 0, "round {round}");
        for &p in &routes {
            let expect = cover.contains(p.addr()).then_some(NexthopId(1));
            assert_eq!(t.lookup(p.addr()), expect);
        }
    }
    // Adding a /24 over a group's /24 keeps the group (a /32 is still inside);
    // removing the /32 then folds it into the /24's entry.
    let host = routes[0];
    let slash24 = Ipv4Prefix::truncate(host.addr(), 24).unwrap();
    t.insert(host, NexthopId(5)).unwrap();
    t.insert(slash24, NexthopId(6)).unwrap();
    assert_eq!(t.stats().tbl8_groups_used, 1);
    assert_eq!(t.lookup(host.addr()), Some(NexthopId(5)));
    assert_eq!(t.lookup(host.addr() ^ 1), Some(NexthopId(6)));
    t.remove(host, Some((slash24, NexthopId(6)))).unwrap();
    assert_eq!(t.stats().tbl8_groups_used, 0);
    assert_eq!(t.lookup(host.addr()), Some(NexthopId(6)));
}
