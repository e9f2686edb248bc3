//! DIR-24-8 lookups, updates and full-table builds on the RouteViews table (if
//! present), a synthetic 1M-route table and a 10k one, with three address streams;
//! and lookups at DRAM scale (`lookup-dram`: 16.8M distinct addresses, RouteViews
//! and a 1M table with 30% of its routes longer than /24; docs/DIR24.md).
//!
//! `cargo bench -p benches --bench lookup` (add `--features dpdk` to compare with
//! DPDK's rte_lpm and rte_fib in the same process). Filter with a criterion regex,
//! e.g. `-- 'lookup/synthetic-1m/uniform'`.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use benches::addrs::AddressStream;
use benches::routes::{self, RouteEntry, DEFAULT_NEXTHOPS};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fib::dir24::{CompressedTbl24, Dir24Config, Dir24Table, LookupKernel};
use fib::{
    CoveringRoute, EventKind, EventSink, FibEvent, ForwardingTables, Ipv4Prefix, Nexthop,
    NexthopId, Progress, TableId,
};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

/// Addresses per measured iteration of a lookup bench.
const ADDRS: usize = 1 << 16;
/// Addresses per bulk call (a forwarding burst).
const BURST: usize = 32;
/// Addresses per DRAM-scale stream: 16.8M distinct, as `dpdk-test-fib` uses, so
/// that each lookup's tbl24 line is almost never in any cache.
const DRAM_ADDRS: usize = 1 << 24;
/// Work budget per apply call while building (about 20 us of work).
const BUILD_BUDGET: usize = 16_384;

fn tables() -> Vec<(&'static str, Vec<RouteEntry>)> {
    let mut t = Vec::new();
    let path = routes::routeviews_path();
    match routes::load_routeviews(&path, DEFAULT_NEXTHOPS) {
        Ok(r) => t.push(("routeviews-606k", r)),
        Err(e) => eprintln!("skipping RouteViews ({e}); `make data` fetches it"),
    }
    t.push(("synthetic-1m", routes::synthetic_1m()));
    t.push(("synthetic-10k", routes::synthetic_10k()));
    t
}

fn build(routes: &[RouteEntry]) -> Dir24Table {
    let mut t = Dir24Table::new(Dir24Config::default());
    for r in routes {
        t.insert(r.prefix, r.nexthop).expect("insert");
    }
    t
}

fn replay_events(routes: &[RouteEntry]) -> Vec<FibEvent> {
    let ev = |kind| FibEvent { seq: 1, kind };
    let mut v = vec![ev(EventKind::ReplayBegin)];
    v.extend((0..DEFAULT_NEXTHOPS).map(|id| {
        ev(EventKind::NexthopSet {
            id: NexthopId(id),
            nexthop: Nexthop::Connected { port: id as u16 },
        })
    }));
    v.extend(routes.iter().map(|r| {
        ev(EventKind::RouteAdd {
            table: TableId::MAIN,
            prefix: r.prefix,
            nexthop: r.nexthop,
        })
    }));
    v.push(ev(EventKind::ReplayEnd));
    v
}

fn apply_budgeted(ft: &mut ForwardingTables, e: &FibEvent) {
    loop {
        let mut budget = BUILD_BUDGET;
        if ft.apply(e, &mut budget).expect("apply") == Progress::Done {
            return;
        }
    }
}

fn bench_lookups(c: &mut Criterion) {
    for (name, routes) in tables() {
        let table = build(&routes);
        let stats = table.stats();
        eprintln!(
            "{name}: {} routes, tbl8 groups {}, lookup memory {:.1} MiB, total {:.1} MiB, tbl24 on {:?}",
            routes.len(),
            stats.tbl8_groups_used,
            stats.lookup_bytes as f64 / (1 << 20) as f64,
            stats.total_bytes as f64 / (1 << 20) as f64,
            table.tbl24_backing(),
        );
        #[cfg(feature = "dpdk")]
        let dpdk = dpdk_cmp::DpdkTables::build(name, &routes);
        for stream in AddressStream::ALL {
            let addrs = stream.generate(&routes, ADDRS, 42);
            let mut g = c.benchmark_group(format!("lookup/{name}/{}", stream.name()));
            g.throughput(Throughput::Elements(ADDRS as u64));
            g.sample_size(20);
            g.warm_up_time(Duration::from_millis(500));
            g.measurement_time(Duration::from_secs(2));
            g.bench_function("single", |b| {
                b.iter(|| {
                    let mut sum = 0u32;
                    for &a in &addrs {
                        sum = sum.wrapping_add(table.lookup_raw(black_box(a)));
                    }
                    sum
                })
            });
            #[cfg(feature = "dpdk")]
            dpdk.bench(&mut g, &addrs, BURST);
            bench_bulk(&mut g, &table, &addrs);
            g.finish();
        }
    }
}

/// Benchmark function `name`: `lookup` over `addrs` in bursts of [`BURST`], as the
/// forwarding core calls it.
fn bench_bursts(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: String,
    addrs: &[u32],
    lookup: impl Fn(&[u32], &mut [u32]),
) {
    bench_bursts_of(g, BURST, name, addrs, lookup)
}

/// [`bench_bursts`] in bursts of `burst` addresses.
fn bench_bursts_of(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    burst: usize,
    name: String,
    addrs: &[u32],
    lookup: impl Fn(&[u32], &mut [u32]),
) {
    let mut out = vec![0u32; addrs.len()];
    g.bench_function(name, |b| {
        b.iter(|| {
            for (a, o) in addrs.chunks(burst).zip(out.chunks_mut(burst)) {
                lookup(black_box(a), o);
            }
            black_box(&out);
        })
    });
}

/// `bulk32` (`lookup_bulk`, what the forwarding core calls) and `bulk32-<kernel>`
/// for every kernel this CPU has, over `addrs` in bursts.
fn bench_bulk(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    table: &Dir24Table,
    addrs: &[u32],
) {
    bench_bursts(g, format!("bulk{BURST}"), addrs, |a, o| {
        table.lookup_bulk(a, o)
    });
    for kernel in LookupKernel::available() {
        let name = format!("bulk{BURST}-{kernel:?}").to_lowercase();
        bench_bursts(g, name, addrs, |a, o| table.lookup_bulk_with(kernel, a, o));
    }
}

/// The pipelined kernel's prefetch distance swept (`bulk32-ahead<d>`): the pipeline
/// restarts at every burst, as it would in the forwarding core.
fn bench_ahead(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    table: &Dir24Table,
    addrs: &[u32],
) {
    for ahead in [4, 8, 16, 32] {
        let name = format!("bulk{BURST}-ahead{ahead}");
        bench_bursts(g, name, addrs, |a, o| table.lookup_bulk_ahead(ahead, a, o));
    }
}

/// Lookups where they cost: 16.8M distinct addresses per iteration (256 MiB of
/// tbl24 lines touched at random, far beyond L3), uniform over the space and from
/// the routes, over RouteViews and a 1M table with 30% of its routes longer than
/// /24; fibre's bulk lookup and DPDK's rte_lpm and rte_fib over the same buffers.
/// `cargo bench -p benches --features dpdk --bench lookup -- lookup-dram`.
fn bench_dram(c: &mut Criterion) {
    let mut t = Vec::new();
    if let Ok(r) = routes::load_routeviews(&routes::routeviews_path(), DEFAULT_NEXTHOPS) {
        t.push(("routeviews-606k", r));
    }
    t.push(("synthetic-1m-long30", routes::synthetic_long_1m()));
    #[cfg(feature = "dpdk")]
    eprintln!(
        "lookup-dram: TSC {} Hz (cycles = ns x GHz)",
        dpdk_cmp::tsc_hz()
    );
    for (name, routes) in t {
        let table = build(&routes);
        eprintln!(
            "lookup-dram {name}: {} routes, tbl8 groups {}, lookup memory {:.1} MiB",
            routes.len(),
            table.stats().tbl8_groups_used,
            table.stats().lookup_bytes as f64 / (1 << 20) as f64,
        );
        let compressed = CompressedTbl24::new(&table);
        eprintln!(
            "lookup-dram {name}: compressed tbl24 {} runs, {:.1} MiB",
            compressed.runs(),
            compressed.bytes() as f64 / (1 << 20) as f64,
        );
        // A short tag: DPDK's RIB names its mempool after the table, within 32 bytes.
        #[cfg(feature = "dpdk")]
        let dpdk = dpdk_cmp::DpdkTables::build(&format!("dram{}", routes.len()), &routes);
        for stream in [AddressStream::Uniform, AddressStream::FromRoutes] {
            let addrs = benches::addrs::distinct(stream, &routes, DRAM_ADDRS, 7);
            let mut g = c.benchmark_group(format!("lookup-dram/{name}/{}", stream.name()));
            g.throughput(Throughput::Elements(DRAM_ADDRS as u64));
            g.sample_size(10);
            g.warm_up_time(Duration::from_secs(1));
            g.measurement_time(Duration::from_secs(4));
            bench_bulk(&mut g, &table, &addrs);
            bench_ahead(&mut g, &table, &addrs);
            bench_bursts(&mut g, format!("compressed{BURST}"), &addrs, |a, o| {
                compressed.lookup_bulk(a, o)
            });
            #[cfg(feature = "dpdk")]
            dpdk.bench(&mut g, &addrs, BURST);
            g.finish();
            if stream == AddressStream::Uniform && name == "routeviews-606k" {
                let mut g = c.benchmark_group(format!("lookup-dram-batch/{name}/uniform"));
                g.throughput(Throughput::Elements(DRAM_ADDRS as u64));
                g.sample_size(10);
                g.warm_up_time(Duration::from_secs(1));
                g.measurement_time(Duration::from_secs(3));
                bench_batch_sizes(&mut g, &table, &compressed, &addrs);
                #[cfg(feature = "dpdk")]
                for burst in BATCH_SIZES {
                    dpdk.bench(&mut g, &addrs, burst);
                }
                g.finish();
            }
        }
    }
}

/// Batch sizes the DRAM sweep tries: a forwarding burst is 32 (`MAX_BURST`).
const BATCH_SIZES: [usize; 6] = [8, 16, 32, 64, 128, 256];

/// The batch size swept over the DRAM stream for fibre's scalar `lookup_bulk`
/// (`bulk<n>`), the AVX2 split kernel (`bulk<n>-avx2split`, where the CPU has it) and
/// the compressed tbl24 (`compressed<n>`): does a wider call keep more misses in
/// flight?
fn bench_batch_sizes(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    table: &Dir24Table,
    compressed: &CompressedTbl24,
    addrs: &[u32],
) {
    for burst in BATCH_SIZES {
        bench_bursts_of(g, burst, format!("bulk{burst}"), addrs, |a, o| {
            table.lookup_bulk(a, o)
        });
        if LookupKernel::Avx2Split.is_available() {
            bench_bursts_of(g, burst, format!("bulk{burst}-avx2split"), addrs, |a, o| {
                table.lookup_bulk_with(LookupKernel::Avx2Split, a, o)
            });
        }
        bench_bursts_of(g, burst, format!("compressed{burst}"), addrs, |a, o| {
            compressed.lookup_bulk(a, o)
        });
    }
}

/// For each sampled route, the covering route a FIB would put in its delete event.
fn coverings(routes: &[RouteEntry], sample: &[RouteEntry]) -> Vec<Option<CoveringRoute>> {
    let by_prefix: HashMap<Ipv4Prefix, NexthopId> =
        routes.iter().map(|r| (r.prefix, r.nexthop)).collect();
    sample
        .iter()
        .map(|r| {
            (0..r.prefix.len()).rev().find_map(|len| {
                let p = Ipv4Prefix::truncate(r.prefix.addr(), len).unwrap();
                by_prefix
                    .get(&p)
                    .map(|&nexthop| CoveringRoute { prefix: p, nexthop })
            })
        })
        .collect()
}

fn bench_updates(c: &mut Criterion) {
    let routes = routes::synthetic_1m();
    let mut table = build(&routes);
    // 10k routes spread over the table: deleted then inserted back each iteration.
    let sample: Vec<RouteEntry> = routes.iter().step_by(100).copied().collect();
    let covers = coverings(&routes, &sample);
    let mut g = c.benchmark_group("update/synthetic-1m");
    g.throughput(Throughput::Elements(sample.len() as u64));
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("delete", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = std::time::Instant::now();
                for (r, cover) in sample.iter().zip(&covers) {
                    let cover = cover.map(|c| (c.prefix, c.nexthop));
                    table.remove(r.prefix, cover).unwrap();
                }
                total += start.elapsed();
                for r in &sample {
                    table.insert(r.prefix, r.nexthop).unwrap();
                }
            }
            total
        })
    });
    g.bench_function("insert", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for (r, cover) in sample.iter().zip(&covers) {
                    let cover = cover.map(|c| (c.prefix, c.nexthop));
                    table.remove(r.prefix, cover).unwrap();
                }
                let start = std::time::Instant::now();
                for r in &sample {
                    table.insert(r.prefix, r.nexthop).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn bench_build(c: &mut Criterion) {
    for (name, routes) in tables() {
        let events = replay_events(&routes);
        let mut g = c.benchmark_group(format!("build/{name}"));
        g.throughput(Throughput::Elements(routes.len() as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(5));
        // A resync: the listener rebuilds its shadow (clearing the reused storage
        // first, budgeted) from a full replay, then swaps.
        let mut ft = ForwardingTables::default();
        g.bench_function("replay-resync", |b| {
            b.iter(|| {
                for e in &events {
                    apply_budgeted(&mut ft, e);
                }
            })
        });
        // A fresh table each time (includes first-touch page faults).
        g.bench_function("fresh-table", |b| {
            b.iter_batched(
                || Dir24Table::new(Dir24Config::default()),
                |mut t| {
                    for r in &routes {
                        t.insert(r.prefix, r.nexthop).unwrap();
                    }
                    t
                },
                BatchSize::PerIteration,
            )
        });
        // The same, with the routes in address order (as the RouteViews file is):
        // consecutive routes then touch neighbouring entries.
        let mut sorted = routes.clone();
        sorted.sort_by_key(|r| r.prefix);
        g.bench_function("fresh-table-address-order", |b| {
            b.iter_batched(
                || Dir24Table::new(Dir24Config::default()),
                |mut t| {
                    for r in &sorted {
                        t.insert(r.prefix, r.nexthop).unwrap();
                    }
                    t
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

/// DPDK's own rte_lpm and rte_fib (DIR24_8) on the same routes and addresses.
#[cfg(feature = "dpdk")]
mod dpdk_cmp {
    use benches::routes::RouteEntry;
    use criterion::measurement::WallTime;
    use criterion::BenchmarkGroup;
    use dpdk_sys as sys;
    use std::ffi::CString;
    use std::hint::black_box;
    use std::sync::Once;

    static EAL: Once = Once::new();

    /// EAL can start once per process: no hugepages, no PCI, AVX-512 allowed for rte_fib.
    fn eal_init() {
        EAL.call_once(|| {
            let args = [
                "fibre-bench",
                "--no-huge",
                "-m",
                "6144",
                "--no-pci",
                "--file-prefix=fibre-bench-lookup",
                "--force-max-simd-bitwidth=512",
                "--log-level=lib.eal:error",
            ];
            let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
            let mut argv: Vec<*mut std::ffi::c_char> =
                owned.iter().map(|a| a.as_ptr() as *mut _).collect();
            // SAFETY: argv holds argc pointers to NUL-terminated strings; the strings
            // and the array are both leaked below, so whatever EAL keeps of them (getopt
            // permutes the array in place) stays valid for the process; `Once` runs
            // this, the process's only rte_eal_init, exactly once.
            let rc = unsafe { sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
            assert!(rc >= 0, "rte_eal_init failed: {rc}");
            std::mem::forget(owned);
            std::mem::forget(argv);
        });
    }

    /// The TSC's rate, as DPDK measured it at EAL init.
    pub fn tsc_hz() -> u64 {
        eal_init();
        // SAFETY: EAL is up; the call only reads a value set at init.
        unsafe { sys::fibre_rte_get_tsc_hz() }
    }

    pub struct DpdkTables {
        lpm: *mut sys::rte_lpm,
        /// (label, fib, lookup type)
        fibs: Vec<(String, *mut sys::rte_fib, sys::rte_fib_lookup_type)>,
    }

    impl Drop for DpdkTables {
        fn drop(&mut self) {
            // SAFETY: each table was created by build() and is freed once, here.
            unsafe {
                sys::rte_lpm_free(self.lpm);
                let mut fibs: Vec<_> = self.fibs.iter().map(|f| f.1).collect();
                fibs.dedup();
                for fib in fibs {
                    sys::rte_fib_free(fib);
                }
            }
        }
    }

    impl DpdkTables {
        pub fn build(name: &str, routes: &[RouteEntry]) -> DpdkTables {
            eal_init();
            let cname = CString::new(format!("lpm-{name}")).unwrap();
            let config = sys::rte_lpm_config {
                max_rules: routes.len() as u32 + 16,
                number_tbl8s: 1 << 16,
                flags: 0,
            };
            // SAFETY: EAL is up; name and config are valid for the call.
            let lpm = unsafe { sys::rte_lpm_create(cname.as_ptr(), -1, &config) };
            assert!(!lpm.is_null(), "rte_lpm_create failed");
            for r in routes {
                if r.prefix.len() == 0 {
                    continue; // rte_lpm refuses /0
                }
                // SAFETY: lpm is a live table.
                let rc =
                    unsafe { sys::rte_lpm_add(lpm, r.prefix.addr(), r.prefix.len(), r.nexthop.0) };
                assert_eq!(rc, 0, "rte_lpm_add {}", r.prefix);
            }
            let mut fibs = Vec::new();
            for (sz, label, tbl8) in [
                (sys::RTE_FIB_DIR24_8_2B, "2b", (1u32 << 15) - 1),
                (sys::RTE_FIB_DIR24_8_4B, "4b", 1 << 16),
            ] {
                let cname = CString::new(format!("fib-{label}-{name}")).unwrap();
                let mut conf = sys::rte_fib_conf {
                    type_: sys::RTE_FIB_DIR24_8,
                    default_nh: 0x7fff,
                    max_routes: routes.len() as i32 + 16,
                    rib_ext_sz: 0,
                    __bindgen_anon_1: sys::rte_fib_conf__bindgen_ty_1 {
                        dir24_8: sys::rte_fib_conf__bindgen_ty_1__bindgen_ty_1 {
                            nh_sz: sz,
                            num_tbl8: tbl8,
                        },
                    },
                };
                // SAFETY: EAL is up; name and conf are valid for the call.
                let fib = unsafe { sys::rte_fib_create(cname.as_ptr(), -1, &mut conf) };
                assert!(!fib.is_null(), "rte_fib_create {label} failed");
                for r in routes {
                    // SAFETY: fib is live.
                    let rc = unsafe {
                        sys::rte_fib_add(fib, r.prefix.addr(), r.prefix.len(), r.nexthop.0 as u64)
                    };
                    assert_eq!(rc, 0, "rte_fib_add {}", r.prefix);
                }
                for (kind, ty) in [
                    ("scalar", sys::RTE_FIB_LOOKUP_DIR24_8_SCALAR_MACRO),
                    ("avx512", sys::RTE_FIB_LOOKUP_DIR24_8_VECTOR_AVX512),
                ] {
                    // SAFETY: fib is live; selecting an unsupported type just fails.
                    if unsafe { sys::rte_fib_select_lookup(fib, ty) } == 0 {
                        fibs.push((format!("{label}-{kind}"), fib, ty));
                    }
                }
            }
            DpdkTables { lpm, fibs }
        }

        pub fn bench(&self, g: &mut BenchmarkGroup<'_, WallTime>, addrs: &[u32], burst: usize) {
            let mut out32 = vec![0u32; addrs.len()];
            g.bench_function(format!("dpdk-rte_lpm-bulk{burst}"), |b| {
                b.iter(|| {
                    for (a, o) in addrs.chunks(burst).zip(out32.chunks_mut(burst)) {
                        // SAFETY: lpm is live; a and o have a.len() elements.
                        unsafe {
                            sys::fibre_rte_lpm_lookup_bulk(
                                self.lpm,
                                a.as_ptr(),
                                o.as_mut_ptr(),
                                a.len() as u32,
                            )
                        };
                    }
                    black_box(&out32);
                })
            });
            let mut ips = addrs.to_vec();
            let mut out64 = vec![0u64; addrs.len()];
            for (label, fib, ty) in &self.fibs {
                // SAFETY: fib is live; the type was accepted at build time.
                unsafe { sys::rte_fib_select_lookup(*fib, *ty) };
                g.bench_function(format!("dpdk-rte_fib-{label}-bulk{burst}"), |b| {
                    b.iter(|| {
                        for (a, o) in ips.chunks_mut(burst).zip(out64.chunks_mut(burst)) {
                            // SAFETY: fib is live; a and o have a.len() elements.
                            unsafe {
                                sys::rte_fib_lookup_bulk(
                                    *fib,
                                    a.as_mut_ptr(),
                                    o.as_mut_ptr(),
                                    a.len() as i32,
                                )
                            };
                        }
                        black_box(&out64);
                    })
                });
            }
        }
    }
}

criterion_group!(
    benches,
    bench_lookups,
    bench_dram,
    bench_updates,
    bench_build
);
criterion_main!(benches);
