//! Administrative-distance arbitration, nexthop refcounts and the reuse rule, resync
//! on gaps and overflow, and every bad input refused with nothing changed.

mod common;

use common::{assert_in_step, drain, gw, nh};
use fib::reference::{expected_state, ReferenceSink};
use fib::{
    Fib, FibConfig, FibError, Ipv4Prefix, ListenerConfig, Nexthop, NexthopId, Protocol, Route,
    TableId,
};
use std::net::Ipv4Addr;
use std::time::Duration;

const MAIN: TableId = TableId::MAIN;

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

#[test]
fn lower_distance_wins_whatever_the_order() {
    let mut fib = Fib::default();
    let (a, b, c) = (nh(&mut fib, 0, 1), nh(&mut fib, 1, 2), nh(&mut fib, 2, 3));
    let pre = p("10.0.0.0/8");
    fib.add_route(MAIN, pre, Route::new(a, Protocol::Frr))
        .unwrap();
    fib.add_route(MAIN, pre, Route::new(b, Protocol::Kernel))
        .unwrap();
    fib.add_route(MAIN, pre, Route::new(c, Protocol::Static))
        .unwrap();
    let e = fib.route(MAIN, &pre).unwrap().unwrap();
    assert_eq!(*e.installed(), Route::new(c, Protocol::Static));
    // An explicit distance overrides the protocol default.
    fib.replace_route(MAIN, pre, Route::new(a, Protocol::Frr).with_distance(0))
        .unwrap();
    assert_eq!(
        fib.route(MAIN, &pre).unwrap().unwrap().installed().nexthop,
        a
    );
    // Equal distance: the protocol order breaks the tie (static before frr).
    fib.replace_route(MAIN, pre, Route::new(c, Protocol::Static).with_distance(0))
        .unwrap();
    assert_eq!(
        fib.route(MAIN, &pre).unwrap().unwrap().installed().nexthop,
        c
    );
    // The installed source getting worse demotes it.
    fib.replace_route(
        MAIN,
        pre,
        Route::new(c, Protocol::Static).with_distance(250),
    )
    .unwrap();
    assert_eq!(
        fib.route(MAIN, &pre).unwrap().unwrap().installed().nexthop,
        a
    );
    let order: Vec<_> = fib
        .route(MAIN, &pre)
        .unwrap()
        .unwrap()
        .routes()
        .map(|r| r.protocol)
        .collect();
    assert_eq!(order, [Protocol::Frr, Protocol::Kernel, Protocol::Static]);
}

#[test]
fn nexthop_in_use_cannot_be_deleted_and_says_by_how_many() {
    let mut fib = Fib::default();
    let a = nh(&mut fib, 0, 1);
    for i in 0..3u32 {
        fib.add_route(
            MAIN,
            Ipv4Prefix::new(i << 24, 8).unwrap(),
            Route::new(a, Protocol::Static),
        )
        .unwrap();
    }
    fib.add_route(MAIN, p("0.0.0.0/8"), Route::new(a, Protocol::Kernel))
        .unwrap();
    let err = fib.del_nexthop(a).unwrap_err();
    assert_eq!(err, FibError::NexthopInUse { id: a, routes: 4 });
    assert_eq!(
        err.to_string(),
        "nexthop 0 is in use by 4 route(s) or multipath group(s)"
    );
    fib.flush(MAIN, None).unwrap();
    assert_eq!(fib.nexthop(a).unwrap().1, 0);
    fib.del_nexthop(a).unwrap();
    assert_eq!(fib.del_nexthop(a).unwrap_err(), FibError::UnknownNexthop(a));
}

#[test]
fn released_nexthop_id_waits_for_every_listener() {
    let mut fib = Fib::default();
    let (mut fast, mut fast_sink) = {
        let mut s = fib.register(ListenerConfig::new("fast")).unwrap();
        let mut k = ReferenceSink::default();
        drain(&mut fib, &mut s, &mut k);
        (s, k)
    };
    let mut slow = fib.register(ListenerConfig::new("slow")).unwrap();
    let mut slow_sink = ReferenceSink::default();
    drain(&mut fib, &mut slow, &mut slow_sink);

    let a = nh(&mut fib, 0, 1);
    let b = nh(&mut fib, 0, 2);
    assert_eq!((a, b), (NexthopId(0), NexthopId(1)));
    fib.del_nexthop(a).unwrap();
    let released_at = fib.seq();
    drain(&mut fib, &mut fast, &mut fast_sink);
    // The slow listener has not applied the release: id 0 must not come back.
    assert!(slow.applied_seq() < released_at);
    let c = nh(&mut fib, 0, 3);
    assert_eq!(
        c,
        NexthopId(2),
        "id 0 reused before every listener passed its release"
    );
    assert_eq!(fib.stats().nexthop_ids_pending, 1);
    drain(&mut fib, &mut slow, &mut slow_sink);
    drain(&mut fib, &mut fast, &mut fast_sink);
    let d = nh(&mut fib, 0, 4);
    assert_eq!(
        d,
        NexthopId(0),
        "lowest free id once everyone has passed the release"
    );
    drain(&mut fib, &mut slow, &mut slow_sink);
    assert_in_step(&fib, &slow_sink);
}

#[test]
fn nexthop_ids_run_out_with_a_clear_error() {
    let mut fib = Fib::new(FibConfig {
        max_nexthops: 4,
        ..FibConfig::default()
    });
    for i in 0..4 {
        nh(&mut fib, 0, i + 1);
    }
    let seq = fib.seq();
    let err = fib.add_nexthop(gw(0, 9)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no free nexthop id: all 4 are in use (0 released, waiting for listeners to catch up)"
    );
    assert_eq!(fib.seq(), seq);
}

#[test]
fn nexthop_for_shares_equal_nexthops() {
    let mut fib = Fib::default();
    let a = fib.nexthop_for(gw(1, 1)).unwrap();
    let b = fib.nexthop_for(gw(1, 1)).unwrap();
    let c = fib.nexthop_for(gw(2, 1)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    fib.replace_nexthop(a, gw(3, 3)).unwrap();
    assert_eq!(fib.nexthop_for(gw(3, 3)).unwrap(), a);
}

/// Every bad input returns a clear error and changes nothing: same seq, same state,
/// no event to any listener.
#[test]
fn bad_input_changes_nothing() {
    let mut fib = Fib::default();
    let a = nh(&mut fib, 0, 1);
    fib.add_route(MAIN, p("10.0.0.0/8"), Route::new(a, Protocol::Static))
        .unwrap();
    let mut sub = fib.register(ListenerConfig::new("l")).unwrap();
    let mut sink = ReferenceSink::default();
    drain(&mut fib, &mut sub, &mut sink);
    let before = expected_state(&fib);
    let seq = fib.seq();
    let refs = fib.nexthop(a).unwrap().1;

    let unknown = NexthopId(999);
    let errors = vec![
        fib.add_route(MAIN, p("11.0.0.0/8"), Route::new(unknown, Protocol::Static))
            .unwrap_err(),
        fib.replace_route(MAIN, p("10.0.0.0/8"), Route::new(unknown, Protocol::Static))
            .unwrap_err(),
        fib.add_route(TableId(7), p("11.0.0.0/8"), Route::new(a, Protocol::Static))
            .unwrap_err(),
        fib.add_route(MAIN, p("10.0.0.0/8"), Route::new(a, Protocol::Static))
            .unwrap_err(),
        fib.del_route(MAIN, p("10.0.0.0/8"), Protocol::Kernel)
            .unwrap_err(),
        fib.del_route(MAIN, p("12.0.0.0/8"), Protocol::Static)
            .unwrap_err(),
        fib.del_route(TableId(7), p("10.0.0.0/8"), Protocol::Static)
            .unwrap_err(),
        fib.flush(TableId(7), None).unwrap_err(),
        fib.del_nexthop(unknown).unwrap_err(),
        fib.del_nexthop(a).unwrap_err(),
        fib.replace_nexthop(unknown, gw(0, 1)).unwrap_err(),
        fib.add_nexthop(Nexthop::Gateway {
            port: 0,
            gateway: Ipv4Addr::UNSPECIFIED,
        })
        .unwrap_err(),
        fib.add_nexthop(Nexthop::Gateway {
            port: 0,
            gateway: Ipv4Addr::BROADCAST,
        })
        .unwrap_err(),
        fib.add_nexthop(Nexthop::Gateway {
            port: 0,
            gateway: Ipv4Addr::new(224, 0, 0, 1),
        })
        .unwrap_err(),
        fib.replace_nexthop(
            a,
            Nexthop::Gateway {
                port: 0,
                gateway: Ipv4Addr::UNSPECIFIED,
            },
        )
        .unwrap_err(),
        fib.del_table(MAIN).unwrap_err(),
        fib.del_table(TableId(7)).unwrap_err(),
        fib.add_table(MAIN).unwrap_err(),
        fib.unregister(fib::ListenerId(99)).unwrap_err(),
        fib.register(ListenerConfig::new("tiny").ring_capacity(1))
            .unwrap_err(),
    ];
    let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    for t in &texts {
        assert!(!t.is_empty());
    }
    assert_eq!(texts[0], "nexthop 999 does not exist");
    assert_eq!(texts[2], "table 7 does not exist");
    assert_eq!(
        texts[3],
        "route 10.0.0.0/8 from static already exists in table main"
    );
    assert_eq!(texts[4], "no route 10.0.0.0/8 from kernel in table main");
    assert_eq!(
        texts[9],
        "nexthop 0 is in use by 1 route(s) or multipath group(s)"
    );
    assert_eq!(
        texts[11],
        "invalid nexthop: gateway 0.0.0.0 is not a unicast address"
    );
    assert_eq!(texts[15], "table main cannot be deleted");
    // Malformed prefixes never reach the FIB: the parser refuses them.
    assert!("10.0.0.1/8".parse::<Ipv4Prefix>().is_err());
    assert!("10.0.0.0/33".parse::<Ipv4Prefix>().is_err());

    assert_eq!(fib.seq(), seq);
    assert_eq!(expected_state(&fib), before);
    assert_eq!(fib.nexthop(a).unwrap().1, refs);
    assert_eq!(fib.table_ids(), vec![MAIN]);
    drain(&mut fib, &mut sub, &mut sink);
    assert_eq!(sink.live_seqs.len(), 0, "no event reached the listener");
    // A table with routes cannot be deleted either.
    fib.add_table(TableId(7)).unwrap();
    fib.add_route(TableId(7), p("10.0.0.0/8"), Route::new(a, Protocol::Static))
        .unwrap();
    assert_eq!(
        fib.del_table(TableId(7)).unwrap_err().to_string(),
        "table 7 still has 1 routes; flush it first"
    );
}

/// A listener that sees a gap asks for a resync, keeps serving its old table
/// meanwhile, and ends up exactly in step.
#[test]
fn gap_triggers_resync_never_a_silent_skip() {
    let mut fib = Fib::default();
    let a = nh(&mut fib, 0, 1);
    let mut sub = fib.register(ListenerConfig::new("l")).unwrap();
    let mut sink = ReferenceSink::default();
    drain(&mut fib, &mut sub, &mut sink);
    fib.drop_next_event_for(sub.id()).unwrap();
    fib.add_route(MAIN, p("10.0.0.0/8"), Route::new(a, Protocol::Static))
        .unwrap(); // lost
    fib.add_route(MAIN, p("11.0.0.0/8"), Route::new(a, Protocol::Static))
        .unwrap();
    fib.pump();
    sub.poll(&mut sink, 100);
    assert_eq!(sub.shared().gaps(), 1);
    assert!(!sub.replaying(), "the out-of-order event was not applied");
    // The serving table is whole but old: neither route.
    assert_eq!(sink.serving.as_ref().unwrap().routes.len(), 0);
    drain(&mut fib, &mut sub, &mut sink);
    assert_in_step(&fib, &sink);
    assert_eq!(sink.replays, 2);
    assert_eq!(fib.listeners()[0].resyncs, 1);
}

/// A listener whose backlog overflows is flushed and replayed; after
/// `max_resyncs_in_a_row` failed attempts it is reported failed, and everything
/// else carries on.
#[test]
fn overflow_resyncs_then_gives_up_loudly() {
    let mut fib = Fib::default();
    let a = nh(&mut fib, 0, 1);
    let mut ok = fib
        .register(
            ListenerConfig::new("ok")
                .ring_capacity(8)
                .max_backlog(1 << 20),
        )
        .unwrap();
    let mut ok_sink = ReferenceSink::default();
    let stuck = fib
        .register(ListenerConfig::new("stuck").ring_capacity(4).max_backlog(8))
        .unwrap();
    // "stuck" never polls. Each burst of changes overflows its backlog.
    for round in 0..7u32 {
        for i in 0..20u32 {
            let pre = Ipv4Prefix::new((round << 24) | (i << 16), 16).unwrap();
            fib.add_route(MAIN, pre, Route::new(a, Protocol::Static))
                .unwrap();
        }
        fib.pump();
    }
    let st = fib.listeners();
    let s = st.iter().find(|s| s.id == stuck.id()).unwrap();
    assert_eq!(s.state, "failed");
    assert_eq!(s.resyncs, 6);
    assert!(
        s.failure
            .as_ref()
            .unwrap()
            .contains("gave up after 5 resyncs in a row"),
        "{:?}",
        s.failure
    );
    assert!(stuck.shared().detached().is_some());
    drain(&mut fib, &mut ok, &mut ok_sink);
    assert_in_step(&fib, &ok_sink);
    assert_eq!(
        fib.listeners()
            .iter()
            .find(|s| s.id == ok.id())
            .unwrap()
            .resyncs,
        0
    );
}

/// A resync that completes resets the count: a listener that falls behind now and
/// then is never given up on.
#[test]
fn completed_replay_resets_the_resync_count() {
    let mut fib = Fib::default();
    let a = nh(&mut fib, 0, 1);
    let mut sub = fib
        .register(ListenerConfig::new("l").ring_capacity(4).max_backlog(4))
        .unwrap();
    let mut sink = ReferenceSink::default();
    for round in 0..20u32 {
        for i in 0..10u32 {
            let pre = Ipv4Prefix::new((round << 24) | (i << 16), 16).unwrap();
            fib.add_route(MAIN, pre, Route::new(a, Protocol::Static))
                .unwrap();
        }
        drain(&mut fib, &mut sub, &mut sink);
        assert!(!sub.failed());
    }
    assert_in_step(&fib, &sink);
    assert!(fib.listeners()[0].resyncs >= 19);
}

#[test]
fn watermark_lag_and_sync() {
    let mut fib = Fib::default();
    assert_eq!(fib.watermark(), 0);
    let a = nh(&mut fib, 0, 1);
    let mut sub = fib.register(ListenerConfig::new("l")).unwrap();
    let mut sink = ReferenceSink::default();
    fib.add_route(MAIN, p("10.0.0.0/8"), Route::new(a, Protocol::Static))
        .unwrap();
    let st = &fib.listeners()[0];
    assert_eq!((st.state, st.lag, st.in_sync), ("replaying", 2, false));
    assert!(fib.sync(fib.seq(), Duration::from_millis(20)).is_err());
    let seq = fib.seq();
    let h = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while sub.applied_seq() < seq && start.elapsed() < Duration::from_secs(10) {
            sub.poll(&mut sink, 64);
        }
        (sub, sink)
    });
    fib.sync(seq, Duration::from_secs(10)).unwrap();
    let (_sub, sink) = h.join().unwrap();
    assert_in_step(&fib, &sink);
    let st = &fib.listeners()[0];
    assert_eq!(
        (st.state, st.lag, st.in_sync, st.applied_seq),
        ("live", 0, true, seq)
    );
    assert_eq!(fib.watermark(), seq);
}

#[test]
fn dropped_subscription_is_forgotten() {
    let mut fib = Fib::default();
    let sub = fib.register(ListenerConfig::new("l")).unwrap();
    drop(sub);
    fib.pump();
    assert!(fib.listeners().is_empty());
    // Nothing is held back for it.
    let a = nh(&mut fib, 0, 1);
    fib.del_nexthop(a).unwrap();
    assert_eq!(nh(&mut fib, 0, 2), a);
}

/// Neighbour resolution reaches listeners as `NexthopResolved`, in order with routes,
/// and is part of every replay.
#[test]
fn neighbour_resolution_follows_nexthops() {
    let mut fib = Fib::default();
    let mut sub = fib.register(ListenerConfig::new("l")).unwrap();
    let mut sink = ReferenceSink::default();
    let gw1 = Ipv4Addr::new(192, 0, 2, 1);
    let a = fib
        .add_nexthop(Nexthop::Gateway {
            port: 0,
            gateway: gw1,
        })
        .unwrap();
    let b = fib
        .add_nexthop(Nexthop::Gateway {
            port: 1,
            gateway: gw1,
        })
        .unwrap();
    assert_eq!(fib.set_neighbour(0, gw1, Some([2, 0, 0, 0, 0, 1])), 1);
    assert_eq!(fib.nexthop_mac(a), Some([2, 0, 0, 0, 0, 1]));
    assert_eq!(
        fib.nexthop_mac(b),
        None,
        "same address on another port is another neighbour"
    );
    // A nexthop created through a known neighbour starts resolved.
    fib.del_nexthop(a).unwrap();
    drain(&mut fib, &mut sub, &mut sink);
    let c = fib
        .add_nexthop(Nexthop::Gateway {
            port: 0,
            gateway: gw1,
        })
        .unwrap();
    assert_eq!(fib.nexthop_mac(c), Some([2, 0, 0, 0, 0, 1]));
    drain(&mut fib, &mut sub, &mut sink);
    assert_in_step(&fib, &sink);
    assert_eq!(
        sink.serving.as_ref().unwrap().macs.get(&c),
        Some(&[2, 0, 0, 0, 0, 1])
    );
    // A replay carries the resolutions.
    let mut late = fib.register(ListenerConfig::new("late")).unwrap();
    let mut late_sink = ReferenceSink::default();
    drain(&mut fib, &mut late, &mut late_sink);
    assert_in_step(&fib, &late_sink);
    // Forgetting the neighbour unresolves its nexthops; repointing a nexthop does too.
    assert_eq!(fib.set_neighbour(0, gw1, None), 1);
    fib.set_neighbour(1, Ipv4Addr::new(192, 0, 2, 9), Some([2, 0, 0, 0, 0, 9]));
    fib.replace_nexthop(
        b,
        Nexthop::Gateway {
            port: 1,
            gateway: Ipv4Addr::new(192, 0, 2, 9),
        },
    )
    .unwrap();
    assert_eq!(fib.nexthop_mac(b), Some([2, 0, 0, 0, 0, 9]));
    drain(&mut fib, &mut sub, &mut sink);
    assert_in_step(&fib, &sink);
    assert_eq!(
        fib.neighbours(),
        vec![(1, Ipv4Addr::new(192, 0, 2, 9), [2, 0, 0, 0, 0, 9])]
    );
}

/// A listener whose backlog overflows on the very event that deletes a nexthop is
/// resynced from a snapshot taken at that event's seq: the snapshot must not hold
/// the deleted nexthop (found by the churn proptest once groups were added).
#[test]
fn overflow_on_a_nexthop_delete_resyncs_without_the_deleted_nexthop() {
    let mut fib = Fib::default();
    let mut s = fib
        .register(ListenerConfig::new("tiny").ring_capacity(2).max_backlog(1))
        .unwrap();
    let mut k = ReferenceSink::default();
    drain(&mut fib, &mut s, &mut k);
    let a = nh(&mut fib, 0, 1);
    nh(&mut fib, 0, 2);
    nh(&mut fib, 0, 3);
    fib.del_nexthop(a).unwrap();
    let status = fib.listeners();
    assert_eq!(status[0].resyncs, 1, "the delete overflowed the backlog");
    drain(&mut fib, &mut s, &mut k);
    assert_in_step(&fib, &k);
}

/// A listener stamps the time its applied seq moves (on the process's monotonic
/// clock), so the daemon can say how long after a commit every core had applied it.
#[test]
fn applied_at_is_stamped_when_the_applied_seq_moves() {
    let mut fib = Fib::default();
    let mut s = fib.register(ListenerConfig::new("stamped")).unwrap();
    let mut k = ReferenceSink::default();
    drain(&mut fib, &mut s, &mut k);
    let before = fib::listener::monotonic_ns();
    nh(&mut fib, 0, 1);
    drain(&mut fib, &mut s, &mut k);
    let st = fib.listeners()[0].clone();
    assert_eq!(st.applied_seq, fib.seq());
    assert!(st.applied_at_ns >= before, "{st:?}");
    assert!(st.applied_at_ns <= fib::listener::monotonic_ns());
    // Nothing new applied: the stamp stays.
    s.poll(&mut k, 16);
    assert_eq!(fib.listeners()[0].applied_at_ns, st.applied_at_ns);
}
