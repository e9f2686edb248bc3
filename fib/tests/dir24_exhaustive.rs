//! Every one of the 2^32 addresses looked up in a randomized table and compared with
//! the reference. Opt-in: runs only with FIBRE_EXHAUSTIVE=1, in release mode
//! (`make test` runs `FIBRE_EXHAUSTIVE=1 cargo test --release -p fib --test dir24_exhaustive`).

mod dir24_support;

use dir24_support::{dense_regions, random_prefix, rng, RefLpm};
use fib::dir24::{Dir24Config, Dir24Table, NO_ROUTE};
use fib::NexthopId;
use rand::Rng;

#[test]
fn every_address_matches_reference() {
    if std::env::var("FIBRE_EXHAUSTIVE").as_deref() != Ok("1") {
        eprintln!("FIBRE_EXHAUSTIVE is not 1: skipping the 2^32-address sweep");
        return;
    }
    let mut g = rng(2024);
    let dense = dense_regions(&mut g, 16);
    let mut table = Dir24Table::new(Dir24Config::default());
    let mut reference = RefLpm::new();
    let mut installed = Vec::new();
    // Build with adds, replaces and deletes so every update path shaped the table.
    for _ in 0..60_000 {
        if g.random_bool(0.8) || installed.is_empty() {
            let prefix = random_prefix(&mut g, &dense);
            let nh = g.random_range(0..=fib::MAX_NEXTHOP_ID);
            if reference.insert(prefix, nh).is_none() {
                installed.push(prefix);
            }
            table.insert(prefix, NexthopId(nh)).unwrap();
        } else {
            let prefix = installed.swap_remove(g.random_range(0..installed.len()));
            reference.remove(prefix);
            table.remove(prefix, reference.covering(prefix)).unwrap();
        }
    }
    // Sweep the address space in order against the reference's sorted runs, a block
    // of 64 Ki addresses per bulk lookup, on two threads.
    let intervals = reference.intervals();
    eprintln!(
        "{} routes, {} runs, {:?}",
        reference.len(),
        intervals.len(),
        table.stats()
    );
    const BLOCK: u64 = 1 << 16;
    let halves = [(0u64, 1u64 << 31), (1u64 << 31, 1u64 << 32)];
    std::thread::scope(|s| {
        for (start, end) in halves {
            let table = &table;
            let intervals = &intervals;
            s.spawn(move || {
                let mut run = intervals.partition_point(|&(_, last, _)| (last as u64) < start);
                let mut addrs = vec![0u32; BLOCK as usize];
                let mut out = vec![0u32; BLOCK as usize];
                let mut base = start;
                while base < end {
                    for (i, a) in addrs.iter_mut().enumerate() {
                        *a = (base + i as u64) as u32;
                    }
                    table.lookup_bulk(&addrs, &mut out);
                    for (&a, &got) in addrs.iter().zip(&out) {
                        while intervals[run].1 < a {
                            run += 1;
                        }
                        let want = intervals[run].2.unwrap_or(NO_ROUTE);
                        assert_eq!(got, want, "address {}", std::net::Ipv4Addr::from(a));
                    }
                    base += BLOCK;
                }
            });
        }
    });
}
