//! The behaviours Linux's netdevsim FIB offload selftests check
//! (tools/testing/selftests/drivers/net/netdevsim/fib.sh), for fibre's FIB and a
//! listener standing in for an offloading driver. Test names follow the selftest's.

mod common;

use common::{assert_in_step, drain, nh};
use fib::reference::ReferenceSink;
use fib::{EventKind, Fib, FibError, Ipv4Prefix, ListenerConfig, Protocol, Route, TableId};

const MAIN: TableId = TableId::MAIN;

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

fn listener(fib: &mut Fib) -> (fib::Subscription, ReferenceSink) {
    let mut sub = fib
        .register(ListenerConfig::new("test").ring_capacity(64))
        .unwrap();
    let mut sink = ReferenceSink::default();
    drain(fib, &mut sub, &mut sink);
    (sub, sink)
}

/// Identical prefixes from several sources: only the best is installed; removing it
/// promotes the next best as a replace, as Linux does.
#[test]
fn ipv4_identical_routes() {
    let mut fib = Fib::default();
    let (mut sub, mut sink) = listener(&mut fib);
    let a = nh(&mut fib, 0, 1);
    let b = nh(&mut fib, 1, 2);
    let c = nh(&mut fib, 2, 3);
    let pre = p("198.51.100.0/24");
    fib.add_route(MAIN, pre, Route::new(a, Protocol::Frr))
        .unwrap();
    fib.add_route(MAIN, pre, Route::new(b, Protocol::Static))
        .unwrap();
    // A worse source changes nothing listeners see: no event, no seq.
    let seq = fib.seq();
    assert_eq!(
        fib.add_route(
            MAIN,
            pre,
            Route::new(c, Protocol::Kernel).with_distance(200)
        )
        .unwrap(),
        None
    );
    assert_eq!(fib.seq(), seq);
    drain(&mut fib, &mut sub, &mut sink);
    assert_in_step(&fib, &sink);
    assert_eq!(
        sink.serving.as_ref().unwrap().routes.get(&(MAIN, pre)),
        Some(&b)
    );
    let e = fib.route(MAIN, &pre).unwrap().unwrap();
    assert_eq!(e.installed().protocol, Protocol::Static);
    assert_eq!(
        e.alternates()
            .iter()
            .map(|r| r.protocol)
            .collect::<Vec<_>>(),
        [Protocol::Frr, Protocol::Kernel]
    );

    // Removing the installed one promotes frr (distance 20) over kernel (200).
    fib.del_route(MAIN, pre, Protocol::Static).unwrap();
    drain(&mut fib, &mut sub, &mut sink);
    assert_eq!(
        sink.serving.as_ref().unwrap().routes.get(&(MAIN, pre)),
        Some(&a)
    );
    fib.del_route(MAIN, pre, Protocol::Frr).unwrap();
    fib.del_route(MAIN, pre, Protocol::Kernel).unwrap();
    drain(&mut fib, &mut sub, &mut sink);
    assert_in_step(&fib, &sink);
    assert!(sink.serving.as_ref().unwrap().routes.is_empty());
}

/// The same source twice is refused; replace swaps the nexthop in place.
#[test]
fn ipv4_replace() {
    let mut fib = Fib::default();
    let (mut sub, mut sink) = listener(&mut fib);
    let a = nh(&mut fib, 0, 1);
    let b = nh(&mut fib, 1, 2);
    let pre = p("203.0.113.0/24");
    fib.add_route(MAIN, pre, Route::new(a, Protocol::Static))
        .unwrap();
    let err = fib
        .add_route(MAIN, pre, Route::new(b, Protocol::Static))
        .unwrap_err();
    assert!(matches!(err, FibError::RouteExists { .. }), "{err}");
    let seq = fib
        .replace_route(MAIN, pre, Route::new(b, Protocol::Static))
        .unwrap()
        .unwrap();
    drain(&mut fib, &mut sub, &mut sink);
    assert_eq!(
        sink.serving.as_ref().unwrap().routes.get(&(MAIN, pre)),
        Some(&b)
    );
    assert_eq!(sink.live_seqs.last(), Some(&seq));
    // Refcounts moved with the replace.
    assert_eq!(fib.nexthop(a).unwrap().1, 0);
    assert_eq!(fib.nexthop(b).unwrap().1, 1);
    // Replace with the same nexthop is not a change.
    assert_eq!(
        fib.replace_route(MAIN, pre, Route::new(b, Protocol::Static))
            .unwrap(),
        None
    );
    assert_in_step(&fib, &sink);
}

/// Delete restores the covering route, which the event carries.
#[test]
fn ipv4_delete() {
    let mut fib = Fib::default();
    let (mut sub, mut sink) = listener(&mut fib);
    let a = nh(&mut fib, 0, 1);
    let b = nh(&mut fib, 1, 2);
    fib.add_route(MAIN, p("10.0.0.0/8"), Route::new(a, Protocol::Static))
        .unwrap();
    fib.add_route(MAIN, p("10.1.0.0/16"), Route::new(b, Protocol::Static))
        .unwrap();
    fib.add_route(MAIN, p("10.1.2.0/24"), Route::new(b, Protocol::Static))
        .unwrap();
    drain(&mut fib, &mut sub, &mut sink);
    fib.del_route(MAIN, p("10.1.2.0/24"), Protocol::Static)
        .unwrap();
    fib.del_route(MAIN, p("10.0.0.0/8"), Protocol::Static)
        .unwrap();
    // The reference sink checks each delete's covering route against its own state.
    drain(&mut fib, &mut sub, &mut sink);
    assert_in_step(&fib, &sink);
    let st = sink.serving.as_ref().unwrap();
    assert_eq!(
        st.lookup(MAIN, u32::from_be_bytes([10, 1, 2, 3])),
        Some((p("10.1.0.0/16"), b))
    );
    assert_eq!(st.lookup(MAIN, u32::from_be_bytes([10, 2, 0, 1])), None);
    let err = fib
        .del_route(MAIN, p("10.0.0.0/8"), Protocol::Static)
        .unwrap_err();
    assert!(matches!(err, FibError::NoSuchRoute { .. }));
}

/// Every prefix length, /0 and /32 included.
#[test]
fn ipv4_plen() {
    let mut fib = Fib::default();
    let (mut sub, mut sink) = listener(&mut fib);
    let a = nh(&mut fib, 0, 1);
    let addr = u32::from_be_bytes([172, 16, 85, 170]);
    for len in 0..=32u8 {
        let pre = Ipv4Prefix::truncate(addr, len).unwrap();
        fib.add_route(MAIN, pre, Route::new(a, Protocol::Static))
            .unwrap();
    }
    drain(&mut fib, &mut sub, &mut sink);
    assert_in_step(&fib, &sink);
    assert_eq!(fib.prefix_count(MAIN).unwrap(), 33);
    for len in (0..=32u8).rev() {
        let pre = Ipv4Prefix::truncate(addr, len).unwrap();
        fib.del_route(MAIN, pre, Protocol::Static).unwrap();
        drain(&mut fib, &mut sub, &mut sink);
        assert_in_step(&fib, &sink);
        let st = sink.serving.as_ref().unwrap();
        let expect = (len > 0).then(|| (Ipv4Prefix::truncate(addr, len - 1).unwrap(), a));
        assert_eq!(st.lookup(MAIN, addr), expect, "after deleting /{len}");
    }
}

/// A listener that registers late, or again, gets the whole FIB replayed.
#[test]
fn ipv4_replay() {
    let mut fib = Fib::default();
    let a = nh(&mut fib, 0, 1);
    fib.add_table(TableId(10)).unwrap();
    for i in 0..1000u32 {
        let pre = Ipv4Prefix::new(0x0A00_0000 | (i << 8), 24).unwrap();
        fib.add_route(MAIN, pre, Route::new(a, Protocol::Static))
            .unwrap();
        fib.add_route(TableId(10), pre, Route::new(a, Protocol::Static))
            .unwrap();
    }
    let (sub, sink) = listener(&mut fib);
    assert_in_step(&fib, &sink);
    assert_eq!(
        sink.serving.as_ref().unwrap().routes.len(),
        2000,
        "every table replayed"
    );
    assert_eq!(sink.last_replay, Some(fib.seq()));
    fib.unregister(sub.id()).unwrap();
    assert!(sub.shared().detached().is_some());
    drop(sub);
    // Changes while nobody listens, then a fresh registration sees them all.
    fib.del_route(MAIN, p("10.0.5.0/24"), Protocol::Static)
        .unwrap();
    let (_sub2, sink2) = listener(&mut fib);
    assert_in_step(&fib, &sink2);
    assert_eq!(sink2.serving.as_ref().unwrap().routes.len(), 1999);
}

/// Flushing a table deletes every route from every listener.
#[test]
fn ipv4_flush() {
    let mut fib = Fib::default();
    let (mut sub, mut sink) = listener(&mut fib);
    let a = nh(&mut fib, 0, 1);
    for len in [0u8, 8, 16, 24, 32] {
        let pre = Ipv4Prefix::truncate(0xC633_6401, len).unwrap();
        fib.add_route(MAIN, pre, Route::new(a, Protocol::Static))
            .unwrap();
        fib.add_route(MAIN, pre, Route::new(a, Protocol::Kernel))
            .unwrap();
    }
    drain(&mut fib, &mut sub, &mut sink);
    assert_eq!(fib.flush(MAIN, Some(Protocol::Kernel)).unwrap(), 5);
    drain(&mut fib, &mut sub, &mut sink);
    assert_eq!(sink.serving.as_ref().unwrap().routes.len(), 5);
    assert_eq!(fib.flush(MAIN, None).unwrap(), 5);
    drain(&mut fib, &mut sub, &mut sink);
    assert_in_step(&fib, &sink);
    assert!(sink.serving.as_ref().unwrap().routes.is_empty());
    assert_eq!(fib.nexthop(a).unwrap().1, 0);
}

/// A listener whose table fills up while being replayed fails, loudly; the FIB and
/// the other listeners are untouched.
#[test]
fn ipv4_error_path_replay() {
    let mut fib = Fib::default();
    let a = nh(&mut fib, 0, 1);
    for i in 0..100u32 {
        fib.add_route(
            MAIN,
            Ipv4Prefix::new(i << 24, 8).unwrap(),
            Route::new(a, Protocol::Static),
        )
        .unwrap();
    }
    let (mut good, mut good_sink) = listener(&mut fib);
    let before = fib.installed().len();
    let mut small = fib
        .register(ListenerConfig::new("small").ring_capacity(16))
        .unwrap();
    let mut small_sink = ReferenceSink::with_route_limit(50);
    drain(&mut fib, &mut small, &mut small_sink);
    assert!(small.failed());
    assert!(
        small_sink.serving.is_none(),
        "a failed replay never serves a partial table"
    );
    fib.pump();
    let st = fib.listeners();
    let s = st.iter().find(|s| s.id == small.id()).unwrap();
    assert_eq!(s.state, "failed");
    assert!(
        s.failure.as_ref().unwrap().contains("table full"),
        "{:?}",
        s.failure
    );
    // Live changes still reach the healthy listener; the failed one blocks nothing.
    fib.add_route(MAIN, p("192.0.2.0/24"), Route::new(a, Protocol::Static))
        .unwrap();
    drain(&mut fib, &mut good, &mut good_sink);
    assert_in_step(&fib, &good_sink);
    assert_eq!(fib.installed().len(), before + 1);
    fib.sync(fib.seq(), std::time::Duration::from_secs(1))
        .unwrap_err();
    fib.unregister(small.id()).unwrap();
    fib.sync(fib.seq(), std::time::Duration::from_secs(1))
        .unwrap();
}

/// A listener whose table fills up during live updates fails the same way.
#[test]
fn ipv4_error_path_live() {
    let mut fib = Fib::default();
    let a = nh(&mut fib, 0, 1);
    let (mut good, mut good_sink) = listener(&mut fib);
    let mut small = fib
        .register(ListenerConfig::new("small").ring_capacity(16))
        .unwrap();
    let mut small_sink = ReferenceSink::with_route_limit(10);
    drain(&mut fib, &mut small, &mut small_sink);
    assert!(small.in_sync());
    for i in 0..20u32 {
        fib.add_route(
            MAIN,
            Ipv4Prefix::new(i << 24, 8).unwrap(),
            Route::new(a, Protocol::Static),
        )
        .unwrap();
    }
    drain(&mut fib, &mut small, &mut small_sink);
    assert!(small.failed());
    // It keeps what it had applied (10 routes) and reports why it stopped.
    assert_eq!(small_sink.serving.as_ref().unwrap().routes.len(), 10);
    fib.pump();
    let failure = small
        .shared()
        .detached()
        .expect("FIB detached the failed listener");
    assert!(failure.contains("table full"), "{failure}");
    drain(&mut fib, &mut good, &mut good_sink);
    assert_in_step(&fib, &good_sink);
    assert_eq!(fib.prefix_count(MAIN).unwrap(), 20);
}

/// Replayed entries come first and nexthops before routes; live events follow
/// from S+1 with no gap.
#[test]
fn ipv4_replay_order() {
    let mut fib = Fib::default();
    let a = nh(&mut fib, 0, 1);
    fib.add_route(MAIN, p("10.0.0.0/8"), Route::new(a, Protocol::Static))
        .unwrap();
    let s = fib.seq();
    let sub = fib
        .register(ListenerConfig::new("raw").ring_capacity(64))
        .unwrap();
    fib.add_route(MAIN, p("11.0.0.0/8"), Route::new(a, Protocol::Static))
        .unwrap();
    fib.pump();
    // Read the ring through a recording sink.
    struct Record(Vec<fib::FibEvent>);
    impl fib::EventSink for Record {
        type Error = String;
        fn apply(&mut self, e: &fib::FibEvent, _: &mut usize) -> Result<fib::Progress, String> {
            self.0.push(*e);
            Ok(fib::Progress::Done)
        }
    }
    let mut sub = sub;
    let mut rec = Record(Vec::new());
    sub.poll(&mut rec, 100);
    let kinds: Vec<_> = rec
        .0
        .iter()
        .map(|e| (e.seq, std::mem::discriminant(&e.kind)))
        .collect();
    assert_eq!(kinds.len(), 5);
    assert_eq!(rec.0[0].kind, EventKind::ReplayBegin);
    assert_eq!(rec.0[0].seq, s);
    assert!(matches!(rec.0[1].kind, EventKind::NexthopSet { .. }));
    assert!(matches!(rec.0[2].kind, EventKind::RouteAdd { .. }));
    assert_eq!(rec.0[3].kind, EventKind::ReplayEnd);
    assert_eq!(rec.0[4].seq, s + 1);
    assert_eq!(sub.applied_seq(), s + 1);
}
