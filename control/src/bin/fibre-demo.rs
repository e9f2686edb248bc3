//! `fibre-demo`: the replay scenario alone, without fibred, packets or DPDK, on a
//! real route table (`cargo run --release -p control --bin fibre-demo -- data/routeviews.txt`).
//!
//! 1. Loads a route file (the 606k-prefix RouteViews table from `make data`) into the
//!    sequenced FIB.
//! 2. Starts forwarding-core listeners, each with its own DIR-24-8 tables on its
//!    own thread, and shows their replays streaming.
//! 3. Churns routes (adds, replaces, deletes, short prefixes included) while a
//!    late listener registers, is replayed the whole table under churn, and
//!    catches up.
//! 4. Stops, waits until every listener has applied the last seq, and checks every
//!    listener's DIR-24-8 answers against the FIB's own longest-prefix match on
//!    random addresses and on the first and last address of every prefix.

use anyhow::{bail, Context, Result};
use clap::Parser;
use fib::dir24::ForwardingTables;
use fib::routefile::parse_line;
use fib::{
    Fib, Ipv4Prefix, ListenerConfig, Nexthop, NexthopId, Protocol, Route, Subscription, TableId,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Replay a real route table to per-core DIR-24-8 listeners under churn")]
struct Args {
    /// RouteViews route file: `prefix/len<TAB>asn` lines (the AS picks one of 64 gateways).
    routes: std::path::PathBuf,
    /// Listeners started before the churn (each is a thread with its own tables).
    #[arg(long, default_value_t = 2)]
    cores: usize,
    /// Seconds of route churn.
    #[arg(long, default_value_t = 4)]
    churn_secs: u64,
    /// Route changes per second during the churn.
    #[arg(long, default_value_t = 50_000)]
    churn_rate: u64,
    /// Work budget per listener poll (table entries written between two bursts).
    #[arg(long, default_value_t = 16_384)]
    budget: usize,
}

struct Core {
    name: String,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(Subscription, ForwardingTables)>,
}

fn start_core(fib: &mut Fib, name: &str, budget: usize) -> Result<Core> {
    let mut sub = fib.register(ListenerConfig::new(name))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut tables = ForwardingTables::default();
            while !flag.load(Ordering::Acquire) {
                if sub.poll(&mut tables, budget).applied == 0 {
                    std::thread::yield_now();
                }
            }
            (sub, tables)
        })?;
    Ok(Core {
        name: name.into(),
        stop,
        handle,
    })
}

fn status_line(fib: &Fib) -> String {
    fib.listeners()
        .iter()
        .map(|s| match (s.state, s.replay_progress) {
            ("replaying", Some((i, n))) => format!(
                "{}: replay {:>3}% lag {}",
                s.name,
                i * 100 / n.max(1),
                s.lag
            ),
            _ => format!(
                "{}: {} lag {} resyncs {}",
                s.name, s.state, s.lag, s.resyncs
            ),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Pumps and prints status until every listener has applied the FIB's seq.
fn converge(fib: &mut Fib, what: &str) -> Result<Duration> {
    let start = Instant::now();
    let target = fib.seq();
    let mut last_print = Instant::now();
    loop {
        fib.pump();
        if let Some(s) = fib.listeners().iter().find(|s| s.state == "failed") {
            bail!(
                "listener {} failed: {}",
                s.name,
                s.failure.clone().unwrap_or_default()
            );
        }
        if fib.all_applied(target) {
            break;
        }
        if last_print.elapsed() > Duration::from_millis(250) {
            println!(
                "  [{:>6.2}s] {}",
                start.elapsed().as_secs_f64(),
                status_line(fib)
            );
            last_print = Instant::now();
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!(
                "{what}: listeners did not converge in 120 s: {}",
                status_line(fib)
            );
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let took = start.elapsed();
    println!("  [{:>6.2}s] {}", took.as_secs_f64(), status_line(fib));
    Ok(took)
}

fn main() -> Result<()> {
    let args = Args::parse();
    println!("fibre demo: sequenced FIB replayed to per-core DIR-24-8 listeners");

    // 1. Load the table.
    let text = std::fs::read_to_string(&args.routes).with_context(|| {
        format!(
            "reading {} (`make data` fetches the RouteViews table)",
            args.routes.display()
        )
    })?;
    let mut fib = Fib::default();
    let gateways: Vec<NexthopId> = (0..64u32)
        .map(|i| {
            fib.add_nexthop(Nexthop::Gateway {
                port: (i % 4) as u16,
                gateway: Ipv4Addr::new(10, (i % 4) as u8, 0, 1 + i as u8),
            })
        })
        .collect::<Result<_, _>>()?;
    for (i, g) in gateways.iter().enumerate() {
        let Nexthop::Gateway { port, gateway } = fib.nexthop(*g).unwrap().0 else {
            unreachable!()
        };
        fib.set_neighbour(port, gateway, Some([0x02, 0, 0, 0, port as u8, i as u8]));
    }
    let start = Instant::now();
    let mut loaded = 0usize;
    for (n, line) in text.lines().enumerate() {
        let Some(r) =
            parse_line(line).with_context(|| format!("{}:{}", args.routes.display(), n + 1))?
        else {
            continue;
        };
        // The origin AS picks one of the 64 gateways.
        let nexthop = gateways[(r.asn % 64) as usize];
        fib.replace_route(
            TableId::MAIN,
            r.prefix,
            Route::new(nexthop, Protocol::Static),
        )?;
        loaded += 1;
    }
    let took = start.elapsed();
    println!(
        "loaded {loaded} routes from {} in {:.0} ms ({:.2} M routes/s); FIB seq {}",
        args.routes.display(),
        took.as_secs_f64() * 1e3,
        loaded as f64 / took.as_secs_f64() / 1e6,
        fib.seq()
    );

    // 2. Cores register and are replayed the whole table.
    println!(
        "starting {} core listeners: each is replayed the whole FIB, then follows live",
        args.cores
    );
    let mut cores = Vec::new();
    for i in 0..args.cores {
        cores.push(start_core(&mut fib, &format!("core{i}"), args.budget)?);
    }
    let took = converge(&mut fib, "initial replay")?;
    println!(
        "all cores in step at seq {} after {:.0} ms",
        fib.seq(),
        took.as_secs_f64() * 1e3
    );

    // 3. Churn, with a late core joining in the middle.
    println!(
        "churn: {} changes/s for {} s; a late core registers halfway and is replayed under churn",
        args.churn_rate, args.churn_secs
    );
    let prefixes: Vec<Ipv4Prefix> = fib.installed().into_iter().map(|(_, p, _)| p).collect();
    let mut rng = SmallRng::seed_from_u64(2026);
    let churn_start = Instant::now();
    let mut changes = 0u64;
    let mut late_added = false;
    let mut last_print = Instant::now();
    let total = Duration::from_secs(args.churn_secs);
    while churn_start.elapsed() < total {
        let due = (churn_start.elapsed().as_secs_f64() * args.churn_rate as f64) as u64;
        while changes < due {
            let nh = gateways[rng.random_range(0..gateways.len())];
            let r = match rng.random_range(0..100) {
                // Short prefixes rewrite large parts of every core's tbl24.
                0 => {
                    let p = Ipv4Prefix::truncate(rng.random(), rng.random_range(8..=12))?;
                    if fib.route(TableId::MAIN, &p)?.is_some() && rng.random_bool(0.5) {
                        fib.del_route(TableId::MAIN, p, Protocol::Kernel)
                            .map(|_| ())
                    } else {
                        fib.replace_route(TableId::MAIN, p, Route::new(nh, Protocol::Kernel))
                            .map(|_| ())
                    }
                }
                1..=60 => {
                    let p = prefixes[rng.random_range(0..prefixes.len())];
                    fib.replace_route(TableId::MAIN, p, Route::new(nh, Protocol::Static))
                        .map(|_| ())
                }
                _ => {
                    // New more-specifics: /16-/24 anywhere, longer ones inside
                    // 100.64.0.0/10 (a few thousand /24s, as IGP and host routes are).
                    let p = if rng.random_bool(0.7) {
                        Ipv4Prefix::truncate(rng.random(), rng.random_range(16..=24))?
                    } else {
                        let addr = 0x6440_0000 | (rng.random::<u32>() & 0x003F_FFFF) & 0xFFF0_FFFF;
                        Ipv4Prefix::truncate(addr, rng.random_range(25..=32))?
                    };
                    match fib.route(TableId::MAIN, &p)? {
                        Some(e) if e.installed().protocol == Protocol::Frr => {
                            fib.del_route(TableId::MAIN, p, Protocol::Frr).map(|_| ())
                        }
                        _ => fib
                            .replace_route(TableId::MAIN, p, Route::new(nh, Protocol::Frr))
                            .map(|_| ()),
                    }
                }
            };
            r.or_else(|e| match e {
                fib::FibError::NoSuchRoute { .. } => Ok(()),
                e => Err(e),
            })?;
            changes += 1;
        }
        fib.pump();
        if let Some(s) = fib.listeners().iter().find(|s| s.state == "failed") {
            bail!(
                "listener {} failed: {}",
                s.name,
                s.failure.clone().unwrap_or_default()
            );
        }
        if !late_added && churn_start.elapsed() >= total / 2 {
            println!("  late core registers at seq {}", fib.seq());
            cores.push(start_core(&mut fib, "late", args.budget)?);
            late_added = true;
        }
        if last_print.elapsed() > Duration::from_millis(500) {
            println!(
                "  [{:>5.2}s] seq {} | {}",
                churn_start.elapsed().as_secs_f64(),
                fib.seq(),
                status_line(&fib)
            );
            last_print = Instant::now();
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    println!(
        "churn done: {changes} changes, FIB seq {}; waiting for every core",
        fib.seq()
    );
    let took = converge(&mut fib, "after churn")?;
    println!(
        "all cores in step at seq {} within {:.1} ms of the last change",
        fib.seq(),
        took.as_secs_f64() * 1e3
    );

    // 4. Check every core's tables against the FIB.
    let mut rng = SmallRng::seed_from_u64(7);
    let probes: Vec<u32> = (0..1_000_000)
        .map(|_| rng.random())
        .chain(
            fib.installed()
                .iter()
                .flat_map(|(_, p, _)| [p.first(), p.last()]),
        )
        .collect();
    let expected: Vec<Option<NexthopId>> = probes
        .iter()
        .map(|a| {
            fib.lookup(TableId::MAIN, Ipv4Addr::from(*a))
                .map(|r| r.map(|(_, r)| r.nexthop))
        })
        .collect::<Result<_, _>>()?;
    let mut failed = false;
    for core in cores {
        core.stop.store(true, Ordering::Release);
        let (sub, tables) = core.handle.join().expect("core thread");
        let bad = probes
            .iter()
            .zip(&expected)
            .filter(|(a, want)| tables.lookup(TableId::MAIN, **a) != **want)
            .count();
        println!(
            "{}: applied seq {}, {} replays, {bad} mismatches in {} lookups against the FIB",
            core.name,
            sub.applied_seq(),
            tables.replays_completed(),
            probes.len()
        );
        failed |= bad > 0;
    }
    if failed {
        bail!("a core's tables disagree with the FIB");
    }
    println!("every core forwards with exactly the FIB's table");
    Ok(())
}
