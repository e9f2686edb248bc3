//! The real RouteViews table (606,138 prefixes) loaded into a Dir24Table and checked
//! against the reference. Reads `$FIBRE_DATA/routeviews.txt` (`make data` makes it);
//! fails if FIBRE_DATA is set and the file is missing, skips if FIBRE_DATA is unset.

mod dir24_support;

use dir24_support::{rng, RefLpm};
use fib::dir24::{Dir24Table, LookupKernel, NO_ROUTE};
use fib::{
    CoveringRoute, EventKind, EventSink, FibEvent, ForwardingTables, Ipv4Prefix, Nexthop,
    NexthopId, TableId,
};
use rand::Rng;

const NEXTHOPS: u32 = 1024;

fn load() -> Option<Vec<(Ipv4Prefix, u32)>> {
    let Some(dir) = std::env::var_os("FIBRE_DATA") else {
        eprintln!("FIBRE_DATA is not set: skipping the RouteViews check (make test sets it)");
        return None;
    };
    let path = std::path::Path::new(&dir).join("routeviews.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "FIBRE_DATA is set but {} is unreadable: {e}",
            path.display()
        )
    });
    let routes: Vec<(Ipv4Prefix, u32)> = text
        .lines()
        .map(|line| {
            let (prefix, asn) = line.split_once('\t').expect("prefix<TAB>asn");
            let asn: u32 = asn.trim().parse().expect("asn");
            (prefix.parse().expect("prefix"), asn % NEXTHOPS)
        })
        .collect();
    assert_eq!(
        routes.len(),
        606_138,
        "{} is not the full table",
        path.display()
    );
    Some(routes)
}

#[test]
fn routeviews_table_replays_into_forwarding_tables_and_matches_reference() {
    let Some(routes) = load() else { return };
    let main = TableId::MAIN;
    let mut ft = ForwardingTables::default();
    let ev = |kind| FibEvent { seq: 1, kind };
    ft.apply_all(&ev(EventKind::ReplayBegin)).unwrap();
    for id in 0..NEXTHOPS {
        ft.apply_all(&ev(EventKind::NexthopSet {
            id: NexthopId(id),
            nexthop: Nexthop::Connected { port: id as u16 },
        }))
        .unwrap();
    }
    let mut reference = RefLpm::new();
    for &(prefix, nh) in &routes {
        reference.insert(prefix, nh);
        ft.apply_all(&ev(EventKind::RouteAdd {
            table: main,
            prefix,
            nexthop: NexthopId(nh),
        }))
        .unwrap();
    }
    ft.apply_all(&ev(EventKind::ReplayEnd)).unwrap();
    let table: &Dir24Table = ft.table(main).unwrap();
    let stats = table.stats();
    eprintln!("routeviews: {stats:?}");

    let check = |table: &Dir24Table, reference: &RefLpm| {
        let mut addrs: Vec<u32> = reference
            .intervals()
            .iter()
            .flat_map(|&(a, b, _)| [a, b])
            .collect();
        let mut g = rng(5);
        addrs.extend((0..200_000).map(|_| g.random::<u32>()));
        let mut out = vec![0; addrs.len()];
        for kernel in LookupKernel::available() {
            table.lookup_bulk_with(kernel, &addrs, &mut out);
            for (&a, &got) in addrs.iter().zip(&out) {
                assert_eq!(
                    got,
                    reference.lookup(a).unwrap_or(NO_ROUTE),
                    "{kernel:?} {a:#x}"
                );
            }
        }
    };
    check(table, &reference);

    // Delete every third route (longest first so covering routes are the FIB's),
    // as live events, and check again.
    let mut doomed: Vec<Ipv4Prefix> = routes.iter().step_by(3).map(|&(p, _)| p).collect();
    doomed.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for (seq, prefix) in doomed.into_iter().enumerate() {
        reference.remove(prefix);
        let covering = reference
            .covering(prefix)
            .map(|(prefix, nexthop)| CoveringRoute { prefix, nexthop });
        let mut budget = usize::MAX;
        ft.apply(
            &FibEvent {
                seq: 2 + seq as u64,
                kind: EventKind::RouteDel {
                    table: main,
                    prefix,
                    covering,
                },
            },
            &mut budget,
        )
        .unwrap();
    }
    check(ft.table(main).unwrap(), &reference);
}
