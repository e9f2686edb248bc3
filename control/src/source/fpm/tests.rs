//! The server thread against a fake zebra over TCP: resync, garbage, hold.

use super::build::{self, Via};
use super::decode::NexthopObject;
use super::framing::encode;
use super::*;
use crate::proto::Request;
use crate::source::netlink::build::gw;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

fn timing() -> Timing {
    Timing {
        quiet: Duration::from_millis(150),
        settle: Duration::from_millis(300),
        max: Duration::from_secs(5),
        hold: Duration::from_millis(600),
    }
}

fn start(t: Timing) -> (SourceHandle, std::net::SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (spawn_on(l, Some(40), t).unwrap(), addr)
}

fn frame(msgs: &[Vec<u8>]) -> Vec<u8> {
    encode(1, &msgs.concat())
}

/// A frame with one new route to `prefix` via 192.0.2.1.
fn via_gw1(prefix: &str) -> Vec<u8> {
    frame(&[build::route(false, prefix, &Via::Gateway(gw(1)))])
}

/// Requests until none came for `idle`, as words.
fn collect(h: &SourceHandle, idle: Duration) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(r) = h.requests.recv_timeout(idle) {
        out.push(match r {
            Request::RouteReplace(s) => {
                assert_eq!(s.distance, Some(40));
                format!("replace {} {}", s.prefix, s.target)
            }
            Request::RouteDel(d) => format!("del {}", d.prefix),
            other => panic!("unexpected {other:?}"),
        });
    }
    out
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn dump(s: &mut TcpStream, routes: &[(&str, u32)]) {
    let mut msgs = vec![
        build::nexthop(1, &NexthopObject::Gateway(gw(1))),
        build::nexthop(2, &NexthopObject::Gateway(gw(2))),
        build::nexthop(3, &NexthopObject::Group(vec![1, 2])),
    ];
    msgs.extend(
        routes
            .iter()
            .map(|(p, id)| build::route(false, p, &Via::Object(*id))),
    );
    // One frame per message, written in uneven pieces.
    let bytes: Vec<u8> = msgs
        .iter()
        .flat_map(|m| frame(std::slice::from_ref(m)))
        .collect();
    for piece in bytes.chunks(37) {
        s.write_all(piece).unwrap();
    }
}

#[test]
fn bind_error_is_a_start_up_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = FpmSourceConfig {
        listen: taken.local_addr().unwrap(),
        distance: None,
    };
    let e = spawn(&cfg).err().expect("binding a port in use must fail");
    assert!(format!("{e:#}").contains("cannot listen"), "{e:#}");
}

#[test]
fn reconnect_resends_everything_stale_routes_go_unchanged_ones_cost_nothing() {
    let (h, addr) = start(timing());
    let mut z = TcpStream::connect(addr).unwrap();
    dump(
        &mut z,
        &[("10.0.0.0/8", 1), ("10.1.0.0/16", 3), ("10.2.0.0/16", 2)],
    );
    let first = collect(&h, Duration::from_millis(500));
    assert_eq!(
        first,
        vec![
            "replace 10.0.0.0/8 via 192.0.2.1",
            "replace 10.1.0.0/16 nexthop via 192.0.2.1 nexthop via 192.0.2.2",
            "replace 10.2.0.0/16 via 192.0.2.2",
        ]
    );
    assert!(h.status.connected.load(Relaxed));
    assert_eq!(h.status.routes.load(Relaxed), 3);

    // zebra restarts: the old connection goes, a new one resends all but 10.2/16,
    // plus 10.3/16. Nothing for the unchanged routes; 10.2/16 goes once the
    // connection has been quiet.
    drop(z);
    wait_for("disconnect", || !h.status.connected.load(Relaxed));
    let mut z = TcpStream::connect(addr).unwrap();
    dump(
        &mut z,
        &[("10.0.0.0/8", 1), ("10.1.0.0/16", 3), ("10.3.0.0/16", 1)],
    );
    let t0 = Instant::now();
    let second = collect(&h, Duration::from_millis(800));
    assert_eq!(
        second,
        vec!["replace 10.3.0.0/16 via 192.0.2.1", "del 10.2.0.0/16"]
    );
    assert!(
        t0.elapsed() >= timing().settle,
        "the sweep waited for the settle time"
    );
    assert_eq!(h.status.resyncs.load(Relaxed), 2);
    assert_eq!(h.status.routes.load(Relaxed), 3);

    // Live updates after the resync: an update (delete + new in one frame) is one
    // replace; a nexthop change moves the routes using it; a delete deletes.
    z.write_all(&frame(&[
        build::route(true, "10.0.0.0/8", &Via::Object(1)),
        build::route(false, "10.0.0.0/8", &Via::Object(2)),
    ]))
    .unwrap();
    z.write_all(&frame(&[build::nexthop(1, &NexthopObject::Gateway(gw(9)))]))
        .unwrap();
    z.write_all(&frame(&[build::route(
        true,
        "10.3.0.0/16",
        &Via::Object(1),
    )]))
    .unwrap();
    assert_eq!(
        collect(&h, Duration::from_millis(400)),
        vec![
            "replace 10.0.0.0/8 via 192.0.2.2",
            "replace 10.1.0.0/16 nexthop via 192.0.2.2 nexthop via 192.0.2.9",
            "replace 10.3.0.0/16 via 192.0.2.9",
            "del 10.3.0.0/16",
        ]
    );
}

#[test]
fn garbage_drops_the_connection_skipped_frames_and_ipv6_are_counted() {
    let (h, addr) = start(timing());
    let mut z = TcpStream::connect(addr).unwrap();
    let mut bytes = encode(2, b"protobuf, not spoken");
    bytes.extend(frame(&[build::route6()]));
    bytes.extend(via_gw1("10.0.0.0/8"));
    z.write_all(&bytes).unwrap();
    assert_eq!(
        collect(&h, Duration::from_millis(300)),
        vec!["replace 10.0.0.0/8 via 192.0.2.1"]
    );
    assert_eq!(h.status.ignored.load(Relaxed), 2);
    assert_eq!(h.status.messages.load(Relaxed), 2);

    // A header of version 7: the stream is lost; the connection is dropped.
    z.write_all(&[7, 1, 0, 8, 0, 0, 0, 0]).unwrap();
    wait_for("the garbage connection to be dropped", || {
        !h.status.connected.load(Relaxed)
    });
    assert!(h.status.last_error().unwrap().contains("version 7"));
    let mut buf = [0u8; 1];
    z.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        std::io::Read::read(&mut z, &mut buf).unwrap_or(0),
        0,
        "closed"
    );

    // zebra reconnects within the hold time and resends: the route stays, no request.
    let mut z = TcpStream::connect(addr).unwrap();
    z.write_all(&via_gw1("10.0.0.0/8")).unwrap();
    assert!(collect(&h, Duration::from_millis(700)).is_empty());
    assert!(h.status.connected.load(Relaxed));
    assert_eq!(h.status.routes.load(Relaxed), 1);
}

#[test]
fn routes_go_when_zebra_stays_away_past_the_hold_time() {
    let (h, addr) = start(timing());
    let mut z = TcpStream::connect(addr).unwrap();
    dump(&mut z, &[("10.0.0.0/8", 1), ("10.1.0.0/16", 3)]);
    assert_eq!(collect(&h, Duration::from_millis(300)).len(), 2);
    let t0 = Instant::now();
    drop(z);
    let gone = collect(&h, Duration::from_millis(1500));
    assert_eq!(gone, vec!["del 10.0.0.0/8", "del 10.1.0.0/16"]);
    assert!(t0.elapsed() >= timing().hold);
    assert_eq!(h.status.routes.load(Relaxed), 0);
}

#[test]
fn a_second_connection_replaces_the_first() {
    let (h, addr) = start(timing());
    let mut a = TcpStream::connect(addr).unwrap();
    a.write_all(&via_gw1("10.0.0.0/8")).unwrap();
    assert_eq!(collect(&h, Duration::from_millis(200)).len(), 1);
    let mut b = TcpStream::connect(addr).unwrap();
    b.write_all(&via_gw1("10.1.0.0/16")).unwrap();
    assert_eq!(
        collect(&h, Duration::from_millis(700)),
        vec!["replace 10.1.0.0/16 via 192.0.2.1", "del 10.0.0.0/8"]
    );
    assert_eq!(h.status.resyncs.load(Relaxed), 2);
    // The first connection was closed.
    let mut buf = [0u8; 1];
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(std::io::Read::read(&mut a, &mut buf).unwrap_or(0), 0);
}
