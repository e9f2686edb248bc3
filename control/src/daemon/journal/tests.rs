use super::*;
use crate::config::JournalConfig;
use crate::daemon::soft::SoftBackend;
use crate::daemon::{dispatch, startup, PortMeta, Router};
use crate::interfaces::PortRef;
use crate::proto::*;
use dataplane::wire::ethernet::EthernetAddress;
use fib::{Protocol, TableId};
use std::net::Ipv4Addr;

type SoftRouter = Router<SoftBackend>;

fn router() -> SoftRouter {
    let metas = [("p0", 1u8), ("p1", 2u8)]
        .into_iter()
        .map(|(name, m)| PortMeta {
            name: name.into(),
            mac: EthernetAddress([2, 0xf0, 0, 0, 0, m]),
            mtu: 1500,
            table: TableId::MAIN,
        })
        .collect();
    let mut r = Router::new(
        fib::Fib::new(fib::FibConfig::default()),
        SoftBackend::new(2),
        metas,
        4096,
    );
    for (a, p) in [("192.0.2.1/24", "p0"), ("198.51.100.1/24", "p1")] {
        r.handle(Request::AddrAdd(AddrSpec {
            addr: a.parse().unwrap(),
            port: p.parse().unwrap(),
        }))
        .unwrap();
    }
    // A configured route, so the journal can delete and replace one.
    r.handle(route(false, "203.0.113.0/24", RouteTarget::Blackhole))
        .unwrap();
    r.take_journal();
    r
}

fn route(replace: bool, prefix: &str, target: RouteTarget) -> Request {
    let s = RouteSpec {
        table: TableId::MAIN.0,
        prefix: prefix.parse().unwrap(),
        target,
        protocol: Protocol::Static,
        distance: None,
    };
    if replace {
        Request::RouteReplace(s)
    } else {
        Request::RouteAdd(s)
    }
}

fn del(prefix: &str) -> Request {
    Request::RouteDel(RouteDel {
        table: TableId::MAIN.0,
        prefix: prefix.parse().unwrap(),
        protocol: Protocol::Static,
    })
}

fn via(last: u8) -> RouteTarget {
    RouteTarget::Via {
        gateway: Ipv4Addr::new(198, 51, 100, last),
        port: None,
    }
}

/// The state a client sees, with nexthop ids left out (a replay that creates
/// fewer nexthops on the way numbers them differently; routes say where they go
/// in `via`).
fn state(r: &mut SoftRouter) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for show in [
        Request::RouteShow(RouteFilter::default()),
        Request::NeighShow(PortFilter::default()),
        Request::AddrShow(PortFilter::default()),
        Request::NexthopShow,
    ] {
        let mut v = serde_json::to_value(r.handle(show).unwrap()).unwrap();
        if let Some(routes) = v.pointer_mut("/routes/routes") {
            for r in routes.as_array_mut().unwrap() {
                r.as_object_mut().unwrap().remove("nexthop");
            }
        }
        if let Some(nhs) = v.get_mut("nexthops") {
            let list = nhs.as_array_mut().unwrap();
            for n in list.iter_mut() {
                n.as_object_mut().unwrap().remove("id");
            }
            list.sort_by_key(|n| n.to_string());
        }
        out.push(v);
    }
    out
}

/// Applies `req` and returns its journal entry if it was journaled.
fn apply(r: &mut SoftRouter, req: Request) -> Option<Entry> {
    let response = r.handle(req);
    let kept = r.take_journal();
    assert!(kept.len() <= 1);
    kept.into_iter().next().map(|k| Entry::of(k, &response))
}

fn write(path: &Path, entries: &[Entry]) {
    let mut text = Vec::new();
    for e in entries {
        e.write_to(&mut text).unwrap();
        text.push(b'\n');
    }
    std::fs::write(path, text).unwrap();
}

fn never_compact() -> JournalConfig {
    JournalConfig {
        compact_bytes: 0,
        ..JournalConfig::default()
    }
}

#[test]
fn a_compacted_journal_replays_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut live = router();
    let mut entries = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    // Nexthop objects, one named by routes, one deleted, ids moving under them.
    let mut nexthops = Vec::new();
    for req in [
        Request::NexthopAdd(NexthopSpec::Blackhole),
        Request::NexthopAdd(NexthopSpec::Via {
            gateway: Ipv4Addr::new(198, 51, 100, 9),
            port: None,
        }),
        del("203.0.113.0/24"),
        Request::NeighAdd(NeighSpec {
            addr: Ipv4Addr::new(198, 51, 100, 2),
            port: PortRef::Name("p1".into()),
            mac: Some(EthernetAddress([2, 0xbb, 0, 0, 0, 2])),
        }),
    ] {
        let e = apply(&mut live, req).expect("applied");
        nexthops.extend(e.nexthop);
        entries.push(e);
    }
    for round in 0..400u64 {
        let p = format!("10.{}.{}.0/24", next(4), next(8));
        let target = match next(4) {
            0 => RouteTarget::Nexthop(nexthops[1]),
            1 => RouteTarget::Blackhole,
            _ => via(2 + next(3) as u8),
        };
        let req = match next(6) {
            0 | 1 => route(false, &p, target),
            2 => route(true, &p, target),
            3 => del(&p),
            4 => Request::RouteLoad(RouteBatch {
                table: TableId::MAIN.0,
                protocol: Protocol::Static,
                distance: None,
                // Adds: some are refused (already there), the reply names them.
                replace: next(2) == 0,
                routes: (0..1 + next(30))
                    .map(|_| BatchRoute {
                        prefix: format!("10.{}.{}.0/24", next(4), next(8)).parse().unwrap(),
                        target: via(2 + next(3) as u8),
                    })
                    .collect(),
            }),
            _ if round % 50 == 5 => Request::NexthopAdd(NexthopSpec::Blackhole),
            _ => route(true, "203.0.113.0/24", via(3)),
        };
        entries.extend(apply(&mut live, req));
    }
    // A nexthop object made and dropped mid-way, then one more named by a route.
    let e = apply(&mut live, Request::NexthopAdd(NexthopSpec::Blackhole)).unwrap();
    let dropped = e.nexthop.unwrap();
    entries.push(e);
    entries.extend(apply(
        &mut live,
        Request::NexthopDel(NexthopDel { id: dropped }),
    ));
    entries.extend(apply(&mut live, del("10.0.0.0/24")));
    entries.extend(apply(
        &mut live,
        route(true, "10.9.0.0/16", RouteTarget::Nexthop(nexthops[0])),
    ));

    let compacted = compact::compact(entries.clone());
    assert!(
        compacted.len() < entries.len() / 2,
        "{} of {}",
        compacted.len(),
        entries.len()
    );
    // Compacting again changes nothing more.
    assert_eq!(compact::compact(compacted.clone()).len(), compacted.len());

    let full_path = dir.path().join("full.journal");
    let compact_path = dir.path().join("compact.journal");
    write(&full_path, &entries);
    write(&compact_path, &compacted);
    let mut full = router();
    let _w = startup::restore_with(&mut full, &full_path, &never_compact()).unwrap();
    let mut small = router();
    let _w2 = startup::restore_with(&mut small, &compact_path, &never_compact()).unwrap();
    let want = state(&mut live);
    assert_eq!(state(&mut full), want);
    assert_eq!(state(&mut small), want);
    // Routes naming a nexthop id name the same nexthop after the replay.
    for r in [&mut full, &mut small] {
        let Ok(Reply::Routes(list)) = r.handle(Request::RouteShow(RouteFilter {
            prefix: Some("10.9.0.0/16".parse().unwrap()),
            ..RouteFilter::default()
        })) else {
            panic!("route show")
        };
        assert_eq!(list.routes[0].via, "blackhole", "{:?}", list.routes);
    }
}

#[test]
fn a_torn_last_line_is_dropped_and_a_corrupt_middle_line_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.journal");
    let a = Entry::bare(route(false, "10.0.0.0/8", RouteTarget::Blackhole));
    let b = Entry::bare(del("10.0.0.0/8"));
    let mut good = Vec::new();
    for e in [&a, &b] {
        e.write_to(&mut good).unwrap();
        good.push(b'\n');
    }
    for torn in [
        &b"{\"route_add\":{\"pre"[..],
        b"{\"route_del\":{}}\n",
        b"\0\0\0\0",
    ] {
        let mut text = good.clone();
        text.extend_from_slice(torn);
        std::fs::write(&path, &text).unwrap();
        let (mut j, loaded) = Journal::open_entries(&path, &JournalConfig::default()).unwrap();
        assert_eq!(loaded.entries, vec![a.clone(), b.clone()]);
        assert!(loaded.torn.is_some());
        // Truncated to the good lines, so appends start on a line of their own.
        assert_eq!(std::fs::read(&path).unwrap(), good);
        j.append_entries(std::slice::from_ref(&a)).unwrap();
        drop(j);
        let (loaded, _) = Journal::load(&path).unwrap();
        assert_eq!(loaded.entries, vec![a.clone(), b.clone(), a.clone()]);
        assert!(loaded.torn.is_none());
    }
    let mut text = good.clone();
    text.extend_from_slice(b"{\"route_add\": 5}\n");
    text.extend_from_slice(&good);
    std::fs::write(&path, &text).unwrap();
    let err = Journal::open_entries(&path, &JournalConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("state.journal:3: "), "{err}");
}

#[test]
fn a_journal_that_cannot_be_written_fails_and_stays_failed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.journal");
    let (j, _) = Journal::open_entries(&path, &JournalConfig::default()).unwrap();
    let w = JournalWriter::spawn(j).unwrap();
    let t1 = w.append(vec![del("10.0.0.0/8")]);
    assert_eq!(w.sync(), Durability::Durable);
    assert_eq!(w.durability(t1), Durability::Durable);
    drop(w);
    // The same journal on a device that is always full.
    let full = Journal {
        path: "/dev/full".into(),
        out: BufWriter::new(OpenOptions::new().append(true).open("/dev/full").unwrap()),
        entries: 0,
        fsync: Fsync::Always,
        len: 0,
    };
    let w = JournalWriter::spawn(full).unwrap();
    assert_eq!(w.durability(0), Durability::Durable);
    let t = w.append(vec![del("10.0.0.0/8")]);
    assert!(matches!(w.sync(), Durability::Failed(_)));
    assert!(matches!(w.durability(t), Durability::Failed(_)));
    assert!(
        w.failed().unwrap().contains("/dev/full"),
        "{:?}",
        w.failed()
    );
    let t2 = w.append(vec![del("10.0.0.0/8")]);
    assert!(matches!(w.sync(), Durability::Failed(_)));
    assert!(matches!(w.durability(t2), Durability::Failed(_)));
}

#[test]
fn the_writer_compacts_by_size_and_replies_only_when_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.journal");
    let cfg = JournalConfig {
        compact_bytes: 4096,
        ..JournalConfig::default()
    };
    let (j, _) = Journal::open_entries(&path, &cfg).unwrap();
    let w = JournalWriter::spawn_with(j, cfg).unwrap();
    // The same ten routes added and removed over and over.
    for i in 0..2000 {
        let p = format!("10.0.{}.0/24", i % 10);
        let req = if (i / 10) % 2 == 0 {
            route(false, &p, RouteTarget::Blackhole)
        } else {
            del(&p)
        };
        let t = w.append(vec![req]);
        assert!(t > 0);
    }
    assert_eq!(w.sync(), Durability::Durable);
    drop(w);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len < 3 * 4096, "{len}");
    // 2000 changes ending in deletes of routes the journal added: nearly nothing.
    let (loaded, _) = Journal::load(&path).unwrap();
    assert!(loaded.entries.len() < 200, "{}", loaded.entries.len());
    assert!(!dir.path().join("state.journal.compact").exists());
}

#[test]
fn journaled_agrees_with_the_dispatch_table() {
    let mut r = router();
    let port = || PortRef::Name("p1".into());
    for req in [
        Request::Hello,
        route(false, "10.0.0.0/8", RouteTarget::Blackhole),
        route(true, "10.0.0.0/8", RouteTarget::Blackhole),
        Request::RouteShow(RouteFilter::default()),
        Request::RouteGet(RouteGet {
            addr: Ipv4Addr::new(10, 0, 0, 1),
            table: TableId::MAIN.0,
            core: None,
        }),
        Request::RouteLoad(RouteBatch {
            table: TableId::MAIN.0,
            protocol: Protocol::Static,
            distance: None,
            replace: true,
            routes: vec![],
        }),
        del("10.0.0.0/8"),
        Request::NexthopAdd(NexthopSpec::Blackhole),
        Request::NexthopShow,
        Request::NeighAdd(NeighSpec {
            addr: Ipv4Addr::new(198, 51, 100, 7),
            port: port(),
            mac: Some(EthernetAddress([2, 0, 0, 0, 0, 7])),
        }),
        Request::NeighShow(PortFilter::default()),
        Request::NeighDel(NeighSpec {
            addr: Ipv4Addr::new(198, 51, 100, 7),
            port: port(),
            mac: None,
        }),
        Request::AddrAdd(AddrSpec {
            addr: "172.16.0.1/24".parse().unwrap(),
            port: port(),
        }),
        Request::AddrShow(PortFilter::default()),
        Request::AddrDel(AddrSpec {
            addr: "172.16.0.1/24".parse().unwrap(),
            port: port(),
        }),
        Request::LinkShow(PortFilter::default()),
        Request::CoreShow,
        Request::FibStatus,
        Request::Stats,
        Request::SourceShow,
    ] {
        let want = journaled(&req);
        let name = req.name();
        let (response, kept) = dispatch::dispatch(&mut r, req, std::time::Instant::now());
        assert!(response.is_ok(), "{name}: {response:?}");
        assert_eq!(want, kept == dispatch::Journal::Keep, "{name}");
    }
    // Nexthop ids are the last ones needing a reply to be journaled right.
    let id = match r.handle(Request::NexthopAdd(NexthopSpec::Blackhole)) {
        Ok(Reply::NexthopAdded(a)) => a.id,
        other => panic!("{other:?}"),
    };
    assert!(journaled(&Request::NexthopDel(NexthopDel { id })));
}
