//! The mirror from constructed messages: the mapping, the aliases and their
//! order, and the dump logic (see docs/KERNEL.md, "Tests").

use super::mirror::LINK_REDUMP_DELAY;
use super::rig::*;
use crate::proto::RouteTarget;
use crate::source::netlink::build::*;
use crate::source::netlink::route::table_of;
use crate::source::netlink::{NLMSG_ERROR, RTM_DELADDR};
use fib::Ipv4Prefix;
use netlink_packet_core::{NLM_F_APPEND, NLM_F_DUMP_INTR, NLM_F_REPLACE};
use netlink_packet_route::route::{RouteAttribute, RouteFlags, RouteProtocol, RouteType};
use netlink_packet_route::AddressFamily;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

#[test]
fn gateway_route_becomes_via_without_port() {
    let mut r = Rig::new(MAIN);
    let reqs = r.dump(vec![unicast("10.0.0.0/8", 1), unicast("0.0.0.0/0", 9)]);
    assert_eq!(
        replaced(&reqs),
        vec![("10.0.0.0/8".into(), via(1)), ("0.0.0.0/0".into(), via(9))]
    );
    assert!(deleted(&reqs).is_empty());
    assert_eq!(r.status.routes.load(Relaxed), 2);
    assert_eq!(r.ignored(), 0);
    // Replace notification: a new gateway.
    let reqs = r.notify_new(unicast("10.0.0.0/8", 2), NLM_F_REPLACE);
    assert_eq!(replaced(&reqs), vec![("10.0.0.0/8".into(), via(2))]);
    // Delete notification.
    let reqs = r.notify_del(unicast("10.0.0.0/8", 2));
    assert_eq!(deleted(&reqs), vec!["10.0.0.0/8"]);
    assert_eq!(r.m.routes(), 1);
}

#[test]
fn multipath_maps_live_hops_and_one_live_hop_is_a_plain_via() {
    let mut r = Rig::new(MAIN);
    let mut mp = route("198.51.100.0/24", MAIN, RouteType::Unicast);
    mp.attributes.push(RouteAttribute::MultiPath(vec![
        hop(Some(1), false),
        hop(Some(2), false),
        hop(Some(3), true),
    ]));
    let mut one = route("203.0.113.0/24", MAIN, RouteType::Unicast);
    one.attributes.push(RouteAttribute::MultiPath(vec![
        hop(Some(4), true),
        hop(Some(5), false),
    ]));
    let mut dead = route("203.0.113.128/25", MAIN, RouteType::Unicast);
    dead.attributes
        .push(RouteAttribute::MultiPath(vec![hop(Some(4), true)]));
    let mut devhop = route("192.0.2.128/25", MAIN, RouteType::Unicast);
    devhop.attributes.push(RouteAttribute::MultiPath(vec![
        hop(Some(1), false),
        hop(None, false),
    ]));
    let reqs = r.dump(vec![mp, one, dead, devhop]);
    assert_eq!(
        replaced(&reqs),
        vec![
            (
                "198.51.100.0/24".into(),
                RouteTarget::Multipath(vec![via(1), via(2)])
            ),
            ("203.0.113.0/24".into(), via(5)),
        ]
    );
    // The dev-only hop cannot be mirrored and is unexpected; dead hops are not.
    assert_eq!(r.ignored(), 1);
    // Hops in another order are the same route; one gateway twice (out of two
    // interfaces) is one path for fibre, not a group the FIB would refuse.
    let reordered = multipath(
        "198.51.100.0/24",
        vec![hop(Some(2), false), hop(Some(1), false)],
    );
    assert!(r.notify_new(reordered, NLM_F_REPLACE).is_empty());
    let twice = multipath(
        "192.0.2.0/25",
        vec![hop(Some(7), false), hop(Some(7), false)],
    );
    assert_eq!(
        replaced(&r.notify_new(twice, 0x600)),
        vec![("192.0.2.0/25".into(), via(7))]
    );
}

#[test]
fn blackhole_unreachable_prohibit_are_blackholes() {
    let mut r = Rig::new(MAIN);
    let reqs = r.dump(vec![
        route("10.1.0.0/16", MAIN, RouteType::BlackHole),
        route("10.2.0.0/16", MAIN, RouteType::Unreachable),
        route("10.3.0.0/16", MAIN, RouteType::Prohibit),
    ]);
    let got = replaced(&reqs);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|(_, t)| *t == RouteTarget::Blackhole));
    assert_eq!(r.ignored(), 0);
}

#[test]
fn what_is_not_mirrored_and_what_is_counted() {
    let mut r = Rig::new(MAIN);
    // Counted in `ignored`: a dev-only route, a TOS route, a throw route, `nat`.
    let mut dev = route("10.9.0.0/16", MAIN, RouteType::Unicast);
    dev.attributes.push(RouteAttribute::Oif(3));
    let mut tos = unicast("10.8.0.0/16", 1);
    tos.header.tos = 0x10;
    let throw = route("10.7.0.0/16", MAIN, RouteType::Throw);
    let nat = route("10.6.0.0/16", MAIN, RouteType::Nat);
    // Expected and silent: the kernel's connected route, local and broadcast
    // routes, a cached clone, another family.
    let mut connected = route("192.0.2.0/24", MAIN, RouteType::Unicast);
    connected.header.protocol = RouteProtocol::Kernel;
    connected.attributes.push(RouteAttribute::Oif(2));
    let mut kgw = unicast("10.5.0.0/16", 1);
    kgw.header.protocol = RouteProtocol::Kernel;
    let local = route("192.0.2.254/32", MAIN, RouteType::Local);
    let bcast = route("192.0.2.255/32", MAIN, RouteType::Broadcast);
    let mcast = route("224.0.0.0/4", MAIN, RouteType::Multicast);
    let mut clone = unicast("10.4.0.0/16", 1);
    clone.header.flags = RouteFlags::Cloned;
    let mut v6 = route("0.0.0.0/0", MAIN, RouteType::Unicast);
    v6.header.address_family = AddressFamily::Inet6;
    let reqs = r.dump(vec![
        dev, tos, throw, nat, connected, kgw, local, bcast, mcast, clone, v6,
    ]);
    assert!(reqs.is_empty(), "nothing is mirrored: {reqs:?}");
    assert_eq!(r.ignored(), 4);
    assert_eq!(r.status.messages.load(Relaxed), 12, "11 routes and DONE");
}

#[test]
fn an_unmirrorable_winner_hides_the_prefix() {
    // The kernel uses the metric-0 dev route; fibre must not use the metric-100
    // gateway route instead.
    let mut r = Rig::new(MAIN);
    let mut dev = route("10.9.0.0/16", MAIN, RouteType::Unicast);
    dev.attributes.push(RouteAttribute::Oif(3));
    let reqs = r.dump(vec![dev.clone(), metric(unicast("10.9.0.0/16", 1), 100)]);
    assert!(reqs.is_empty(), "{reqs:?}");
    let reqs = r.notify_del(dev);
    assert_eq!(replaced(&reqs), vec![("10.9.0.0/16".into(), via(1))]);
}

#[test]
fn table_filter_uses_rta_table() {
    let mut r = Rig::new(1000);
    let mine = route("10.0.0.0/8", 1000, RouteType::BlackHole);
    let main = route("10.1.0.0/16", MAIN, RouteType::BlackHole);
    let mut other = route("10.2.0.0/16", 1001, RouteType::BlackHole);
    // rtm_table says 252 (RT_TABLE_COMPAT) for both: only RTA_TABLE tells them apart.
    assert_eq!(other.header.table, 252);
    other.header.table = 252;
    let reqs = r.dump(vec![mine, main, other]);
    assert_eq!(
        replaced(&reqs),
        vec![("10.0.0.0/8".into(), RouteTarget::Blackhole)]
    );
    assert_eq!(r.ignored(), 0);
    // Without RTA_TABLE, rtm_table is the table.
    let mut r = Rig::new(100);
    let mut m = route("10.0.0.0/8", 100, RouteType::BlackHole);
    m.attributes
        .retain(|a| !matches!(a, RouteAttribute::Table(_)));
    assert_eq!(table_of(&m), 100);
    assert_eq!(replaced(&r.dump(vec![m])).len(), 1);
}

#[test]
fn lowest_metric_wins_and_deleting_it_promotes_the_next() {
    let mut r = Rig::new(MAIN);
    let reqs = r.dump(vec![
        metric(unicast("0.0.0.0/0", 20), 20),
        metric(unicast("0.0.0.0/0", 10), 10),
    ]);
    // The dump lists metric 20 first here: fibre gets it, then metric 10.
    assert_eq!(replaced(&reqs).last().unwrap().1, via(10));
    assert_eq!(r.m.routes(), 1);
    // A higher metric added: no change for fibre.
    assert!(r
        .notify_new(metric(unicast("0.0.0.0/0", 30), 30), NLM_F_APPEND)
        .is_empty());
    let reqs = r.notify_del(metric(unicast("0.0.0.0/0", 10), 10));
    assert_eq!(replaced(&reqs), vec![("0.0.0.0/0".into(), via(20))]);
    // Deleting a loser changes nothing.
    assert!(r
        .notify_del(metric(unicast("0.0.0.0/0", 30), 30))
        .is_empty());
    let reqs = r.notify_del(metric(unicast("0.0.0.0/0", 20), 20));
    assert_eq!(deleted(&reqs), vec!["0.0.0.0/0"]);
    assert!(r.m.kernel.is_empty());
}

#[test]
fn append_goes_last_prepend_first_replace_takes_the_first() {
    let mut r = Rig::new(MAIN);
    r.dump(vec![unicast("10.0.0.0/8", 1)]);
    // `ip route append`: the first stays the winner.
    assert!(r
        .notify_new(unicast("10.0.0.0/8", 2), NLM_F_APPEND)
        .is_empty());
    // `ip route prepend` (create without append): the new one is first.
    let reqs = r.notify_new(unicast("10.0.0.0/8", 3), 0x400);
    assert_eq!(replaced(&reqs), vec![("10.0.0.0/8".into(), via(3))]);
    // `ip route replace` replaces the first of the metric.
    let reqs = r.notify_new(unicast("10.0.0.0/8", 4), NLM_F_REPLACE);
    assert_eq!(replaced(&reqs), vec![("10.0.0.0/8".into(), via(4))]);
    let reqs = r.notify_del(unicast("10.0.0.0/8", 4));
    assert_eq!(replaced(&reqs), vec![("10.0.0.0/8".into(), via(1))]);
}

#[test]
fn a_redump_changes_only_what_differs_and_deletes_what_vanished() {
    let mut r = Rig::new(MAIN);
    r.dump(vec![
        unicast("10.0.0.0/8", 1),
        unicast("10.1.0.0/16", 1),
        route("10.2.0.0/16", MAIN, RouteType::BlackHole),
    ]);
    r.m.on_overflow(r.now);
    assert_eq!(r.counters.overflows.load(Relaxed), 1);
    assert!(r.status.last_error().unwrap().contains("ENOBUFS"));
    let reqs = r.dump(vec![
        unicast("10.0.0.0/8", 1),
        unicast("10.1.0.0/16", 2),
        unicast("10.3.0.0/16", 1),
    ]);
    // 10.1/16's new gateway wins once the sweep has dropped the old alias.
    let mut got = replaced(&reqs);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("10.1.0.0/16".into(), via(2)),
            ("10.3.0.0/16".into(), via(1))
        ]
    );
    assert_eq!(deleted(&reqs), vec!["10.2.0.0/16"]);
    assert_eq!(r.status.resyncs.load(Relaxed), 1);
    assert_eq!(r.counters.dumps.load(Relaxed), 2);
}

#[test]
fn notifications_during_a_dump_apply_in_order() {
    let mut r = Rig::redumping(vec![unicast("10.0.0.0/8", 1), unicast("10.1.0.0/16", 1)]);
    r.part(vec![unicast("10.0.0.0/8", 1)], 0);
    // Deleted after the dump passed it: the delete goes through now.
    assert_eq!(
        deleted(&r.notify_del(unicast("10.0.0.0/8", 1))),
        vec!["10.0.0.0/8"]
    );
    // Added ahead of the dump, then listed by it: one replace, no duplicate.
    assert_eq!(
        replaced(&r.notify_new(unicast("10.5.0.0/16", 5), 0x600)),
        vec![("10.5.0.0/16".into(), via(5))]
    );
    r.part(vec![unicast("10.5.0.0/16", 5)], 0);
    let reqs = r.done(0);
    // 10.1/16 was not listed: stale.
    assert_eq!(deleted(&reqs), vec!["10.1.0.0/16"]);
    assert!(replaced(&reqs).is_empty());
    let left: Vec<String> = r.m.view().routes().map(|x| x.prefix.to_string()).collect();
    assert_eq!(left, vec!["10.5.0.0/16"]);
}

/// The interleaving the churn test hit (Linux 6.18): the kernel builds IPv4
/// dump parts under RCU while `ip` deletes routes, and `fib_table_delete`
/// queues `RTM_DELROUTE` before it unlinks the route, so the delete arrives
/// ahead of the part that still lists the route. Applied in arrival order,
/// the part brought the deleted route back, for good (fibre kept routes the
/// kernel no longer had, with no re-dump).
#[test]
fn a_delete_notified_ahead_of_a_part_that_still_lists_the_route_stands() {
    let mut r = Rig::new(MAIN);
    r.begin();
    r.part(vec![unicast("10.0.0.0/24", 1)], 0);
    r.m.take_requests();
    assert!(r.notify_del(unicast("10.33.240.0/20", 22)).is_empty());
    r.part(
        vec![unicast("10.33.240.0/20", 22), unicast("10.40.0.0/24", 3)],
        0,
    );
    let reqs = r.done(0);
    assert!(deleted(&reqs).is_empty(), "{reqs:?}");
    let left: Vec<String> = r.m.view().routes().map(|x| x.prefix.to_string()).collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, vec!["10.0.0.0/24", "10.40.0.0/24"]);
    assert!(!r
        .m
        .kernel
        .contains_key(&"10.33.240.0/20".parse::<Ipv4Prefix>().unwrap()));
    assert_eq!(r.counters.stale_dump_entries.load(Relaxed), 1);
    // Nothing was guessed: no verifying dump.
    assert!(!r.m.dump_due(r.now));
    // Re-added later: a notification like any other.
    let reqs = r.notify_new(unicast("10.33.240.0/20", 23), 0x600);
    assert_eq!(replaced(&reqs), vec![("10.33.240.0/20".into(), via(23))]);
}

#[test]
fn a_replace_notified_ahead_of_a_part_listing_the_old_route_stands() {
    // The replaced route known from an earlier dump: the replace names both.
    let mut r = Rig::redumping(vec![unicast("10.1.0.0/24", 1)]);
    let reqs = r.notify_new(unicast("10.1.0.0/24", 2), NLM_F_REPLACE);
    assert_eq!(replaced(&reqs), vec![("10.1.0.0/24".into(), via(2))]);
    r.part(vec![unicast("10.1.0.0/24", 1)], 0);
    assert!(r.done(0).is_empty());
    assert_eq!(
        r.m.kernel[&"10.1.0.0/24".parse::<Ipv4Prefix>().unwrap()].len(),
        1
    );
    assert!(!r.m.dump_due(r.now));
    // Deleting the new route leaves nothing behind (the stale alias would have
    // been promoted).
    let reqs = r.notify_del(unicast("10.1.0.0/24", 2));
    assert_eq!(deleted(&reqs), vec!["10.1.0.0/24"]);

    // Not known yet (the first dump): the part's first alias of that metric
    // is taken for the replaced one, and a verifying dump follows.
    let mut r = Rig::new(MAIN);
    r.begin();
    let reqs = r.notify_new(
        route("10.2.0.0/24", MAIN, RouteType::Unreachable),
        NLM_F_REPLACE,
    );
    assert_eq!(
        replaced(&reqs),
        vec![("10.2.0.0/24".into(), RouteTarget::Blackhole)]
    );
    r.part(vec![unicast("10.2.0.0/24", 1)], 0);
    assert!(r.done(0).is_empty());
    assert_eq!(
        r.m.kernel[&"10.2.0.0/24".parse::<Ipv4Prefix>().unwrap()].len(),
        1
    );
    assert_eq!(r.counters.verifying_dumps.load(Relaxed), 1);
    assert!(r.m.dump_due(r.now), "a verifying dump at once");
    assert!(r
        .dump(vec![route("10.2.0.0/24", MAIN, RouteType::Unreachable)])
        .is_empty());
    assert!(!r.m.dump_due(r.now));

    // A replace the part already shows settles nothing to guess.
    let mut r = Rig::new(MAIN);
    r.begin();
    r.notify_new(unicast("10.3.0.0/24", 2), NLM_F_REPLACE);
    r.part(vec![unicast("10.3.0.0/24", 2)], 0);
    assert!(r.done(0).is_empty());
    assert!(!r.m.dump_due(r.now));
    assert_eq!(r.m.routes(), 1);
}

#[test]
fn a_part_ending_in_a_leaf_a_delete_changed_is_not_swept_and_verified() {
    // Leaf 10.0.0.0 holds /24 then /20. The kernel resumes inside a leaf by
    // position: the /24 deleted between the parts makes it skip the /20.
    let mut r = Rig::redumping(vec![unicast("10.0.0.0/24", 1), unicast("10.0.0.0/20", 2)]);
    r.part(vec![unicast("10.0.0.0/24", 1)], 0);
    assert_eq!(
        deleted(&r.notify_del(unicast("10.0.0.0/24", 1))),
        vec!["10.0.0.0/24"]
    );
    r.part(vec![unicast("10.1.0.0/16", 3)], 0);
    let reqs = r.done(0);
    assert!(deleted(&reqs).is_empty(), "the /20 is kept: {reqs:?}");
    assert_eq!(r.m.routes(), 2);
    assert!(r.m.dump_due(r.now), "a verifying dump at once");
    let reqs = r.dump(vec![unicast("10.1.0.0/16", 3)]);
    assert_eq!(deleted(&reqs), vec!["10.0.0.0/20"]);
    assert!(!r.m.dump_due(r.now));
}

#[test]
fn interrupted_dumps_are_retried_then_reported_and_never_sweep() {
    let mut r = Rig::new(MAIN);
    r.dump(vec![unicast("10.0.0.0/8", 1), unicast("10.1.0.0/16", 1)]);
    r.m.on_overflow(r.now);
    for attempt in 1..=5 {
        r.begin();
        r.part(vec![unicast("10.0.0.0/8", 1)], NLM_F_DUMP_INTR);
        let reqs = r.done(0);
        assert!(
            reqs.is_empty(),
            "an interrupted dump deletes nothing: {reqs:?}"
        );
        assert_eq!(r.counters.interrupted.load(Relaxed), attempt);
        if attempt < 5 {
            assert!(r.m.dump_due(r.now), "retried at once");
        }
    }
    // The fifth in a row: reported, retried later.
    assert!(!r.m.dump_due(r.now));
    assert!(r.m.dump_due(r.now + Duration::from_secs(1)));
    assert!(r
        .status
        .last_error()
        .unwrap()
        .contains("interrupted (NLM_F_DUMP_INTR) 5 times"));
    // The flag on DONE alone also counts.
    r.now += Duration::from_secs(1);
    r.begin();
    r.part(vec![unicast("10.0.0.0/8", 1)], 0);
    assert!(r.done(NLM_F_DUMP_INTR).is_empty());
    assert_eq!(r.counters.interrupted.load(Relaxed), 6);
    // `source show` and the metrics see them as dump retries.
    assert_eq!(r.status.dump_retries.load(Relaxed), 6);
    // A clean dump finally sweeps.
    let reqs = r.dump(vec![unicast("10.0.0.0/8", 1)]);
    assert_eq!(deleted(&reqs), vec!["10.1.0.0/16"]);
    assert_eq!(r.status.resyncs.load(Relaxed), 7);
}

#[test]
fn a_refused_dump_is_retried_later_and_link_events_schedule_a_redump() {
    let mut r = Rig::new(MAIN);
    r.begin();
    let mut b = done(0, r.seq, -libc::EBUSY);
    b[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
    r.m.on_datagram(&b, PORT, r.now);
    assert!(!r.m.dumping());
    assert!(!r.m.dump_due(r.now));
    assert!(r.status.last_error().unwrap().contains("dump failed"));
    r.now += Duration::from_secs(1);
    r.dump(vec![]);
    // RTM_DELADDR of an IPv4 address.
    let mut ev = vec![0u8; 24];
    ev[..4].copy_from_slice(&24u32.to_ne_bytes());
    ev[4..6].copy_from_slice(&RTM_DELADDR.to_ne_bytes());
    ev[16] = libc::AF_INET as u8;
    r.m.on_datagram(&ev, PORT, r.now);
    assert_eq!(r.counters.link_events.load(Relaxed), 1);
    assert!(!r.m.dump_due(r.now));
    assert!(r.m.dump_due(r.now + LINK_REDUMP_DELAY));
    // A truncated message: counted and treated as lost notifications.
    r.m.on_datagram(&ev[..10], PORT, r.now);
    assert_eq!(r.counters.overflows.load(Relaxed), 1);
    assert!(r.m.dump_due(r.now));
}
