//! Multipath groups: their own id range, sharing by value, refcounts (a group holds
//! its members, a route its group), deletion after the last route that used it,
//! replay to late listeners, and path selection in the DIR-24-8 listener.

mod common;

use common::{assert_in_step, drain, nh};
use fib::reference::ReferenceSink;
use fib::{
    is_group_id, EventKind, Fib, FibError, ForwardingTables, Ipv4Prefix, ListenerConfig,
    NexthopGroup, NexthopId, Protocol, Route, Subscription, TableId, GROUP_ID_BASE, MAX_PATHS,
};
use std::collections::BTreeMap;

const MAIN: TableId = TableId::MAIN;

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

/// Polls a DIR-24-8 listener until it has applied everything.
fn drain_tables(fib: &mut Fib, sub: &mut Subscription, tables: &mut ForwardingTables) {
    drain(fib, sub, tables);
    assert!(!sub.failed(), "listener failed: {sub:?}");
}

/// Every event the listener was sent, recorded by a sink that keeps them.
#[derive(Default)]
struct Recorder(Vec<EventKind>);

impl fib::EventSink for Recorder {
    type Error = String;
    fn apply(
        &mut self,
        event: &fib::FibEvent,
        _budget: &mut usize,
    ) -> Result<fib::Progress, String> {
        self.0.push(event.kind);
        Ok(fib::Progress::Done)
    }
}

#[test]
fn groups_are_canonical_and_validated() {
    let a = NexthopGroup::new(&[NexthopId(3), NexthopId(1), NexthopId(3)]).unwrap();
    let b = NexthopGroup::new(&[NexthopId(1), NexthopId(3)]).unwrap();
    assert_eq!(a, b, "order and repeats do not matter");
    assert_eq!(
        a.members().collect::<Vec<_>>(),
        vec![NexthopId(1), NexthopId(3)]
    );
    assert!(
        NexthopGroup::new(&[NexthopId(1)]).is_none(),
        "one path is not multipath"
    );
    assert!(NexthopGroup::new(&[NexthopId(1), NexthopId(1)]).is_none());
    let nine: Vec<NexthopId> = (0..=MAX_PATHS as u32).map(NexthopId).collect();
    assert!(NexthopGroup::new(&nine).is_none(), "more than MAX_PATHS");
    assert!(NexthopGroup::new(&[NexthopId(1), NexthopId(GROUP_ID_BASE)]).is_none());

    // Every member is taken by some hash, each in a fair share, and a hash always
    // takes the same member.
    let members: Vec<NexthopId> = (10..13).map(NexthopId).collect();
    let g = NexthopGroup::new(&members).unwrap();
    let mut counts = BTreeMap::new();
    for h in 0..30_000u32 {
        let hash = h.wrapping_mul(0x9e37_79b9);
        let m = g.select(hash);
        assert_eq!(m, g.select(hash));
        *counts.entry(m).or_insert(0u32) += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(
        counts.values().all(|&c| (9_000..11_000).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn group_for_shares_refuses_bad_members_and_changes_nothing_when_refused() {
    let mut fib = Fib::default();
    let a = nh(&mut fib, 0, 1);
    let b = nh(&mut fib, 0, 2);
    let seq = fib.seq();
    assert!(matches!(
        fib.group_for(&[a]),
        Err(FibError::InvalidNexthop(_))
    ));
    assert!(matches!(
        fib.group_for(&[a, NexthopId(77)]),
        Err(FibError::UnknownNexthop(NexthopId(77)))
    ));
    assert_eq!(fib.seq(), seq, "a refused group commits nothing");
    let g = fib.group_for(&[b, a]).unwrap();
    assert!(is_group_id(g.0) && g.0 >= GROUP_ID_BASE);
    assert_eq!(fib.group_for(&[a, b]).unwrap(), g, "same set, same group");
    assert!(matches!(
        fib.group_for(&[a, g]),
        Err(FibError::InvalidNexthop(_))
    ));
    // The group holds its members: they cannot be deleted under it.
    assert!(matches!(
        fib.del_nexthop(a),
        Err(FibError::NexthopInUse { .. })
    ));
    assert_eq!(fib.stats().groups, 1);
}

#[test]
fn routes_over_groups_replay_and_follow_changes_in_order() {
    let mut fib = Fib::default();
    let mut early = fib.register(ListenerConfig::new("early")).unwrap();
    let mut early_sink = ReferenceSink::default();
    let mut rec_sub = fib.register(ListenerConfig::new("recorder")).unwrap();
    let mut rec = Recorder::default();
    let a = nh(&mut fib, 0, 1);
    let b = nh(&mut fib, 1, 2);
    let c = nh(&mut fib, 2, 3);
    let ab = fib.group_for(&[a, b]).unwrap();
    let abc = fib.group_for(&[a, b, c]).unwrap();
    fib.add_route(MAIN, p("10.0.0.0/8"), Route::new(ab, Protocol::Frr))
        .unwrap();
    fib.add_route(MAIN, p("10.1.0.0/16"), Route::new(abc, Protocol::Frr))
        .unwrap();
    fib.add_route(MAIN, p("10.2.0.0/16"), Route::new(ab, Protocol::Frr))
        .unwrap();
    drain(&mut fib, &mut early, &mut early_sink);
    assert_in_step(&fib, &early_sink);

    // A listener that registers now gets the groups replayed before the routes.
    let mut late = fib.register(ListenerConfig::new("late")).unwrap();
    let mut late_sink = ReferenceSink::default();
    drain(&mut fib, &mut late, &mut late_sink);
    assert_in_step(&fib, &late_sink);
    let mut tables = ForwardingTables::default();
    let mut tables_sub = fib.register(ListenerConfig::new("dir24")).unwrap();
    drain_tables(&mut fib, &mut tables_sub, &mut tables);

    // Lookups land on the group; each flow hash picks a member, all members used.
    let dst = u32::from(std::net::Ipv4Addr::new(10, 1, 2, 3));
    let id = tables.lookup(MAIN, dst).unwrap();
    assert_eq!(id, abc);
    let mut seen: Vec<u32> = (0..64u32)
        .map(|h| tables.select_path(id.0, h.wrapping_mul(0x9e37_79b9)))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, vec![a.0, b.0, c.0]);
    assert_eq!(
        tables.select_path(a.0, 12345),
        a.0,
        "plain ids pass through"
    );

    // Moving the last routes off `ab` deletes it, after the route events.
    fib.replace_route(MAIN, p("10.0.0.0/8"), Route::new(c, Protocol::Frr))
        .unwrap();
    assert!(fib.group(ab).is_some(), "10.2/16 still uses ab");
    fib.del_route(MAIN, p("10.2.0.0/16"), Protocol::Frr)
        .unwrap();
    assert!(fib.group(ab).is_none(), "no route uses ab: gone");
    assert_eq!(fib.groups().len(), 1);
    for (sub, sink) in [(&mut early, &mut early_sink), (&mut late, &mut late_sink)] {
        drain(&mut fib, sub, sink);
        assert_in_step(&fib, sink);
    }
    drain_tables(&mut fib, &mut tables_sub, &mut tables);
    assert_eq!(
        tables.group(ab),
        None,
        "the DIR-24-8 listener dropped the group"
    );
    assert_eq!(
        tables.lookup(MAIN, u32::from(std::net::Ipv4Addr::new(10, 0, 0, 1))),
        Some(c)
    );

    fib.pump();
    rec_sub.poll(&mut rec, usize::MAX);
    let pos = |want: &dyn Fn(&EventKind) -> bool| rec.0.iter().position(want).unwrap();
    let group_set = pos(&|e| matches!(e, EventKind::GroupSet { id, .. } if *id == ab));
    let first_route = pos(&|e| matches!(e, EventKind::RouteAdd { nexthop, .. } if *nexthop == ab));
    let last_use = pos(
        &|e| matches!(e, EventKind::RouteDel { prefix, .. } if prefix.to_string() == "10.2.0.0/16"),
    );
    let group_del = pos(&|e| matches!(e, EventKind::GroupDel { id } if *id == ab));
    assert!(
        group_set < first_route && last_use < group_del,
        "{:?}",
        rec.0
    );

    // With the group gone its members are free again.
    fib.del_route(MAIN, p("10.1.0.0/16"), Protocol::Frr)
        .unwrap();
    fib.del_route(MAIN, p("10.0.0.0/8"), Protocol::Frr).unwrap();
    fib.del_nexthop(a).unwrap();
    assert_eq!(fib.stats().groups, 0);
    drain(&mut fib, &mut late, &mut late_sink);
    assert_in_step(&fib, &late_sink);
}
