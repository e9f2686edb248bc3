//! Multipath routes through a forwarding core: flows spread over the group's
//! members, each packet rewritten byte-exactly for the member it took, a flow
//! always takes the same member, and a route moved off the group follows.

mod core_support;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use core_support::*;
use dataplane::forward::Adjacency;
use fib::{Protocol, Route, TableId};

/// The adjacency of the second gateway (port 2).
fn second_adjacency() -> Adjacency {
    Adjacency {
        port: 2,
        dst_mac: GATEWAY2_MAC,
        src_mac: PORT_MACS[2],
        mtu: 1500,
    }
}

fn frames_to(dsts: &[Ipv4Addr]) -> Vec<Vec<u8>> {
    dsts.iter()
        .map(|d| Spec::default().with(|s| s.ip.dst_addr = *d).build())
        .collect()
}

#[test]
fn flows_spread_over_the_group_byte_exact_and_stick_to_their_path() {
    let mut rig = rig();
    let (gateway, gateway2, _) = rig.ids;
    let group = rig.fib.group_for(&[gateway, gateway2]).unwrap();
    rig.fib
        .add_route(
            TableId::MAIN,
            prefix("198.18.0.0/15"),
            Route::new(group, Protocol::Frr),
        )
        .unwrap();
    rig.sync();

    let dsts: Vec<Ipv4Addr> = (0..512u32)
        .map(|i| Ipv4Addr::from(0xc612_0000 + i * 251))
        .collect();
    let frames = frames_to(&dsts);
    rig.send(0, &frames);
    rig.run();
    let mut by_port: BTreeMap<usize, usize> = BTreeMap::new();
    let mut path_of: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
    for port in [1usize, 2] {
        for after in rig.received(port) {
            // Which frame this was: the destination address is untouched.
            let dst = Ipv4Addr::new(after[30], after[31], after[32], after[33]);
            let i = dsts
                .iter()
                .position(|d| *d == dst)
                .expect("a frame we sent");
            let adjacency = if port == 1 {
                egress_adjacency()
            } else {
                second_adjacency()
            };
            check_forwarded(&frames[i], &after, &adjacency).unwrap();
            assert!(path_of.insert(dst, port).is_none(), "{dst} forwarded twice");
            *by_port.entry(port).or_default() += 1;
        }
    }
    assert_eq!(path_of.len(), dsts.len(), "every frame forwarded once");
    for port in [1, 2] {
        let n = by_port.get(&port).copied().unwrap_or(0);
        assert!(
            n > dsts.len() / 4,
            "port {port} got {n} of {} flows: {by_port:?}",
            dsts.len()
        );
    }
    let stats = rig.stats();
    assert_eq!(stats.forwarded, dsts.len() as u64);
    assert_accounted(&stats);

    // The same flows again take the same paths.
    rig.send(0, &frames);
    rig.run();
    for port in [1usize, 2] {
        for after in rig.received(port) {
            let dst = Ipv4Addr::new(after[30], after[31], after[32], after[33]);
            assert_eq!(path_of[&dst], port, "{dst} changed path");
        }
    }

    // Moved off the group: every flow takes the one nexthop left, and the group
    // is gone from the core once no route uses it.
    rig.fib
        .replace_route(
            TableId::MAIN,
            prefix("198.18.0.0/15"),
            Route::new(gateway2, Protocol::Frr),
        )
        .unwrap();
    rig.sync();
    assert!(rig.fib.group(group).is_none());
    assert!(rig.core.tables().group(group).is_none());
    rig.send(0, &frames);
    rig.run();
    assert_eq!(rig.received(1).len(), 0);
    assert_eq!(rig.received(2).len(), dsts.len());
}
