//! ForwardingTables as a FIB listener: shadow-and-swap on replay, live events after,
//! resumption under tiny budgets, and the errors the FIB turns into a failed listener.

mod dir24_support;

use dir24_support::{dense_regions, random_prefix, rng, RefLpm};
use fib::{
    CoveringRoute, Dir24Error, EventKind, EventSink, FibEvent, ForwardingTables, Ipv4Prefix,
    Nexthop, NexthopId, Progress, TableId,
};
use rand::Rng;

const MAIN: TableId = TableId::MAIN;
const OTHER: TableId = TableId(7);

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

fn nh_set(id: u32) -> EventKind {
    EventKind::NexthopSet {
        id: NexthopId(id),
        nexthop: Nexthop::Gateway {
            port: id as u16,
            gateway: std::net::Ipv4Addr::from(0x0a00_0000 + id),
        },
    }
}

fn add(table: TableId, prefix: &str, nh: u32) -> EventKind {
    EventKind::RouteAdd {
        table,
        prefix: p(prefix),
        nexthop: NexthopId(nh),
    }
}

/// Apply with `budget` per call, repeating on Partial, checking `during` between calls.
fn feed(
    ft: &mut ForwardingTables,
    seq: u64,
    kind: EventKind,
    budget: usize,
    mut during: impl FnMut(&ForwardingTables),
) -> Result<usize, Dir24Error> {
    let event = FibEvent { seq, kind };
    let mut calls = 0;
    loop {
        calls += 1;
        let mut b = budget;
        match ft.apply(&event, &mut b)? {
            Progress::Done => return Ok(calls),
            Progress::Partial => during(ft),
        }
    }
}

fn replay(ft: &mut ForwardingTables, seq: u64, events: &[EventKind], budget: usize) {
    feed(ft, seq, EventKind::ReplayBegin, budget, |_| {}).unwrap();
    for &e in events {
        feed(ft, seq, e, budget, |_| {}).unwrap();
    }
    feed(ft, seq, EventKind::ReplayEnd, budget, |_| {}).unwrap();
}

#[test]
fn nothing_is_served_before_the_first_replay_ends() {
    let mut ft = ForwardingTables::default();
    assert!(!ft.is_complete());
    feed(&mut ft, 5, EventKind::ReplayBegin, 100, |_| {}).unwrap();
    for e in [
        nh_set(1),
        add(MAIN, "0.0.0.0/0", 1),
        add(MAIN, "10.0.0.0/8", 1),
    ] {
        feed(&mut ft, 5, e, 100, |_| {}).unwrap();
        assert_eq!(ft.lookup(MAIN, 0x0a00_0001), None);
        assert!(!ft.is_complete());
        assert!(ft.is_replaying());
    }
    feed(&mut ft, 5, EventKind::ReplayEnd, 100, |_| {}).unwrap();
    assert!(ft.is_complete());
    assert_eq!(ft.lookup(MAIN, 0x0a00_0001), Some(NexthopId(1)));
    assert_eq!(ft.lookup(OTHER, 0x0a00_0001), None);
    assert!(matches!(
        ft.nexthop(NexthopId(1)),
        Some(Nexthop::Gateway { port: 1, .. })
    ));
}

#[test]
fn resync_builds_a_shadow_while_the_old_tables_serve_then_swaps() {
    for budget in [1usize, 2, 5, 300, usize::MAX] {
        let mut ft = ForwardingTables::default();
        replay(
            &mut ft,
            10,
            &[
                nh_set(1),
                nh_set(2),
                add(MAIN, "10.0.0.0/8", 1),
                add(MAIN, "10.1.1.1/32", 2),
                add(OTHER, "0.0.0.0/0", 2),
            ],
            budget,
        );
        assert_eq!(ft.lookup(MAIN, 0x0a01_0101), Some(NexthopId(2)));
        assert_eq!(ft.lookup(OTHER, 1), Some(NexthopId(2)));
        // Live events go to the serving tables.
        feed(&mut ft, 11, add(MAIN, "192.168.0.0/16", 2), budget, |_| {}).unwrap();
        assert_eq!(ft.lookup(MAIN, 0xc0a8_0001), Some(NexthopId(2)));

        // A resync at seq 20 with different contents: until it ends, lookups see
        // exactly the old tables, at every intermediate step.
        let old = |ft: &ForwardingTables| {
            assert_eq!(ft.lookup(MAIN, 0x0a01_0101), Some(NexthopId(2)));
            assert_eq!(ft.lookup(MAIN, 0x0a02_0000), Some(NexthopId(1)));
            assert_eq!(ft.lookup(MAIN, 0xc0a8_0001), Some(NexthopId(2)));
            assert_eq!(ft.lookup(MAIN, 0x0b00_0000), None);
            assert_eq!(ft.lookup(OTHER, 1), Some(NexthopId(2)));
        };
        let new_events = [
            nh_set(3),
            add(MAIN, "10.0.0.0/8", 3),
            add(MAIN, "11.0.0.0/8", 3),
            add(MAIN, "10.1.1.0/31", 3),
        ];
        feed(&mut ft, 20, EventKind::ReplayBegin, budget, old).unwrap();
        old(&ft);
        for e in new_events {
            feed(&mut ft, 20, e, budget, old).unwrap();
            old(&ft);
        }
        feed(&mut ft, 20, EventKind::ReplayEnd, budget, |_| {}).unwrap();
        assert_eq!(ft.replays_completed(), 2);
        assert_eq!(ft.lookup(MAIN, 0x0a01_0101), Some(NexthopId(3)));
        assert_eq!(ft.lookup(MAIN, 0x0a02_0000), Some(NexthopId(3)));
        assert_eq!(ft.lookup(MAIN, 0x0b00_0000), Some(NexthopId(3)));
        assert_eq!(ft.lookup(MAIN, 0xc0a8_0001), None, "stale route gone");
        assert_eq!(ft.lookup(OTHER, 1), None, "stale table emptied");
        assert_eq!(ft.nexthop(NexthopId(1)), None, "stale nexthop gone");

        // And a third replay reuses the storage of the first (cleared, budgeted).
        replay(
            &mut ft,
            30,
            &[nh_set(4), add(MAIN, "12.0.0.0/8", 4)],
            budget,
        );
        assert_eq!(ft.lookup(MAIN, 0x0c00_0000), Some(NexthopId(4)));
        assert_eq!(ft.lookup(MAIN, 0x0a02_0000), None);
        assert_eq!(ft.lookup(MAIN, 0x0a01_0101), None);
        assert_eq!(ft.lookup(MAIN, 0xc0a8_0001), None);
    }
}

#[test]
fn a_second_replay_begin_mid_replay_restarts_the_shadow() {
    for budget in [1usize, 3, usize::MAX] {
        let mut ft = ForwardingTables::default();
        replay(&mut ft, 1, &[nh_set(1), add(MAIN, "1.0.0.0/8", 1)], budget);
        feed(&mut ft, 2, EventKind::ReplayBegin, budget, |_| {}).unwrap();
        feed(&mut ft, 2, nh_set(2), budget, |_| {}).unwrap();
        feed(&mut ft, 2, add(MAIN, "2.0.0.0/8", 2), budget, |_| {}).unwrap();
        // Interrupt a partially applied /0 with a new ReplayBegin.
        let mut b = 1;
        let half = FibEvent {
            seq: 2,
            kind: add(MAIN, "0.0.0.0/0", 2),
        };
        assert_eq!(ft.apply(&half, &mut b).unwrap(), Progress::Partial);
        replay(&mut ft, 3, &[nh_set(3), add(MAIN, "3.0.0.0/8", 3)], budget);
        assert_eq!(ft.lookup(MAIN, 0x0300_0000), Some(NexthopId(3)));
        assert_eq!(ft.lookup(MAIN, 0x0200_0000), None);
        assert_eq!(ft.lookup(MAIN, 0x0100_0000), None);
        assert_eq!(ft.lookup(MAIN, 0x0400_0000), None);
    }
}

#[test]
fn clearing_a_used_shadow_is_budgeted() {
    let mut ft = ForwardingTables::default();
    replay(
        &mut ft,
        1,
        &[nh_set(1), add(MAIN, "0.0.0.0/0", 1)],
        usize::MAX,
    );
    replay(
        &mut ft,
        2,
        &[nh_set(1), add(MAIN, "0.0.0.0/0", 1)],
        usize::MAX,
    );
    // The shadow now holds a full /0 (2^24 written entries): clearing it at 16,384
    // units a call takes 1,024 calls (the last one finishes the clear and the event).
    let calls = feed(&mut ft, 3, EventKind::ReplayBegin, 16_384, |ft| {
        assert_eq!(ft.lookup(MAIN, 0x0102_0304), Some(NexthopId(1)))
    })
    .unwrap();
    assert_eq!(calls, 1024);
}

#[test]
fn random_live_churn_with_small_budgets_matches_reference() {
    for budget in [1usize, 4, 33, 4096] {
        let mut g = rng(budget as u64);
        let dense = dense_regions(&mut g, 2);
        let mut ft = ForwardingTables::default();
        let nexthops: Vec<EventKind> = (0..20).map(nh_set).collect();
        replay(&mut ft, 1, &nexthops, budget);
        let mut reference = RefLpm::new();
        let mut installed = Vec::new();
        let steps = if budget < 10 { 150 } else { 1500 };
        for seq in 2..steps {
            let kind = if g.random_bool(0.6) || installed.is_empty() {
                let prefix = random_prefix(&mut g, &dense);
                let nexthop = NexthopId(g.random_range(0..20));
                match reference.insert(prefix, nexthop.0) {
                    None => {
                        installed.push(prefix);
                        EventKind::RouteAdd {
                            table: MAIN,
                            prefix,
                            nexthop,
                        }
                    }
                    Some(_) => EventKind::RouteReplace {
                        table: MAIN,
                        prefix,
                        nexthop,
                    },
                }
            } else {
                let prefix = installed.swap_remove(g.random_range(0..installed.len()));
                reference.remove(prefix);
                let covering = reference
                    .covering(prefix)
                    .map(|(prefix, nexthop)| CoveringRoute { prefix, nexthop });
                EventKind::RouteDel {
                    table: MAIN,
                    prefix,
                    covering,
                }
            };
            feed(&mut ft, seq, kind, budget, |_| {}).unwrap();
        }
        for (first, last, nh) in reference.intervals() {
            assert_eq!(ft.lookup(MAIN, first).map(|n| n.0), nh);
            assert_eq!(ft.lookup(MAIN, last).map(|n| n.0), nh);
        }
    }
}

#[test]
fn bad_events_are_errors() {
    let mut ft = ForwardingTables::default();
    let ev = |seq, kind| FibEvent { seq, kind };
    let mut b = usize::MAX;
    assert!(matches!(
        ft.apply(&ev(1, add(MAIN, "1.0.0.0/8", 1)), &mut b),
        Err(Dir24Error::NotReplaying { .. })
    ));
    assert!(matches!(
        ft.apply(&ev(1, EventKind::ReplayEnd), &mut b),
        Err(Dir24Error::NotReplaying { .. })
    ));
    replay(&mut ft, 1, &[nh_set(1)], usize::MAX);
    assert_eq!(
        ft.apply(&ev(2, add(MAIN, "1.0.0.0/8", 9)), &mut b),
        Err(Dir24Error::UnknownNexthop { id: 9 })
    );
    let too_big = fib::MAX_NEXTHOP_ID + 1;
    assert_eq!(
        ft.apply(&ev(3, nh_set(too_big)), &mut b),
        Err(Dir24Error::NexthopOutOfRange { id: too_big })
    );
    assert_eq!(
        ft.apply(
            &ev(
                4,
                EventKind::RouteDel {
                    table: MAIN,
                    prefix: p("1.2.0.0/16"),
                    covering: Some(CoveringRoute {
                        prefix: p("1.0.0.0/8"),
                        nexthop: NexthopId(5)
                    }),
                }
            ),
            &mut b
        ),
        Err(Dir24Error::UnknownNexthop { id: 5 })
    );
    // An event other than the one left Partial is refused, not silently mixed in.
    let mut one = 1;
    assert_eq!(
        ft.apply(&ev(5, add(MAIN, "0.0.0.0/0", 1)), &mut one)
            .unwrap(),
        Progress::Partial
    );
    assert!(matches!(
        ft.apply(&ev(6, add(MAIN, "2.0.0.0/8", 1)), &mut b),
        Err(Dir24Error::InterruptedEvent { seq: 6, pending: 5 })
    ));
}
