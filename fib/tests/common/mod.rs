//! Helpers shared by the FIB's integration tests.
#![allow(dead_code)]

use fib::reference::{expected_state, ReferenceSink};
use fib::{EventSink, Fib, Nexthop, NexthopId, Subscription};
use std::net::Ipv4Addr;

/// Pumps the FIB and polls the listener (single-threaded) until it has applied
/// everything the FIB committed. Panics if that takes unreasonably many turns.
pub fn drain<S: EventSink>(fib: &mut Fib, sub: &mut Subscription, sink: &mut S) {
    for _ in 0..1_000_000 {
        fib.pump();
        sub.poll(sink, 4096);
        if sub.failed() || (sub.in_sync() && sub.applied_seq() == fib.seq() && sub.queued() == 0) {
            fib.pump();
            return;
        }
    }
    panic!("listener did not catch up: {:?} vs seq {}", sub, fib.seq());
}

/// Asserts that a listener serves exactly what the FIB holds.
pub fn assert_in_step(fib: &Fib, sink: &ReferenceSink) {
    let want = expected_state(fib);
    let got = sink.serving.as_ref().expect("listener has a table");
    assert_eq!(got.nexthops, want.nexthops, "nexthops differ");
    assert_eq!(got.macs, want.macs, "neighbour resolutions differ");
    assert_eq!(got.groups, want.groups, "multipath groups differ");
    if got.routes != want.routes {
        let extra: Vec<_> = got
            .routes
            .iter()
            .filter(|(k, v)| want.routes.get(k) != Some(v))
            .take(5)
            .collect();
        let missing: Vec<_> = want
            .routes
            .iter()
            .filter(|(k, v)| got.routes.get(k) != Some(v))
            .take(5)
            .collect();
        panic!("routes differ: listener has {extra:?} the FIB has not; FIB has {missing:?} the listener has not");
    }
}

pub fn gw(port: u16, last: u8) -> Nexthop {
    Nexthop::Gateway {
        port,
        gateway: Ipv4Addr::new(192, 0, 2, last),
    }
}

pub fn nh(fib: &mut Fib, port: u16, last: u8) -> NexthopId {
    fib.add_nexthop(gw(port, last)).unwrap()
}
