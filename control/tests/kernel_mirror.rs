//! The kernel route mirror against a real kernel: a fresh network namespace with
//! veth interfaces, routes churned with `ip -batch` (also while the first dump
//! runs), a `Router` in this process taking the mirror's requests, and fibre's FIB
//! compared with `ip -j route show table N` — every prefix, every gateway, every
//! blackhole. Also: an `ENOBUFS` forced with a tiny receive buffer ends in a full
//! re-dump; routes the kernel flushes silently (link down) go too; a namespace
//! that does not exist is a clear error.
//!
//! Needs root (network namespaces), as `make test` runs in CI.

use control::config::KernelSourceConfig;
use control::daemon::soft::SoftBackend;
use control::daemon::{PortMeta, Router};
use control::proto::{AddrSpec, PortRef, Request};
use control::source::kernel::{spawn_with, KernelCounters, KernelOptions};
use dataplane::wire::ethernet::EthernetAddress;
use fib::{Fib, FibConfig, Ipv4Prefix, Nexthop, Protocol, TableId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The kernel table mirrored, and the fibre table it goes into.
const KTABLE: u32 = 100;
const FTABLE: u32 = 254;

/// A network namespace, deleted on drop.
struct Netns(String);

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip").args(args).output().expect("running ip")
}

fn ip_ok(args: &[&str]) {
    let out = ip(args);
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    /// `fibre-km-TAG-PID` with `v0` 192.0.2.254/24 and `v1` 198.51.100.254/24, up
    /// (veth pairs with both ends in the namespace; this kernel has no `dummy`).
    fn new(tag: &str) -> Netns {
        let name = format!("fibre-km-{tag}-{}", std::process::id());
        let _ = ip(&["netns", "del", &name]);
        ip_ok(&["netns", "add", &name]);
        let ns = Netns(name);
        ns.batch(&[
            "link set lo up".into(),
            "link add v0 type veth peer name v0peer".into(),
            "addr add 192.0.2.254/24 dev v0".into(),
            "link set v0peer up".into(),
            "link set v0 up".into(),
            "link add v1 type veth peer name v1peer".into(),
            "addr add 198.51.100.254/24 dev v1".into(),
            "link set v1peer up".into(),
            "link set v1 up".into(),
        ]);
        ns
    }

    fn batch(&self, lines: &[String]) {
        batch(&self.0, lines);
    }

    /// The kernel's table `table` as fibre should hold it: per prefix, the route the
    /// kernel uses (lowest metric, first listed), when fibre mirrors that kind.
    fn expected(&self, table: u32) -> BTreeMap<Ipv4Prefix, Want> {
        let out = ip(&[
            "-n",
            &self.0,
            "-j",
            "route",
            "show",
            "table",
            &table.to_string(),
        ]);
        assert!(out.status.success());
        let routes: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        // (metric, listing order) of the winner so far, and what it maps to.
        let mut best: BTreeMap<Ipv4Prefix, ((u64, usize), Option<Want>)> = BTreeMap::new();
        for (i, r) in routes.iter().enumerate() {
            let dst = r["dst"].as_str().unwrap();
            let prefix: Ipv4Prefix = match dst {
                "default" => "0.0.0.0/0".parse().unwrap(),
                d if d.contains('/') => d.parse().unwrap(),
                d => format!("{d}/32").parse().unwrap(),
            };
            let rank = (r["metric"].as_u64().unwrap_or(0), i);
            let kind = r["type"].as_str().unwrap_or("unicast");
            let want = match kind {
                "blackhole" | "unreachable" | "prohibit" => Some(Want::Blackhole),
                "unicast" if r["protocol"] == "kernel" => None,
                "unicast" => {
                    if let Some(hops) = r["nexthops"].as_array() {
                        // The live hops' gateways, in address order without
                        // repeats: one is a plain via.
                        let dead = |h: &serde_json::Value| {
                            h["flags"]
                                .as_array()
                                .is_some_and(|f| f.iter().any(|x| x == "dead"))
                        };
                        let mut gws: Vec<Ipv4Addr> = hops
                            .iter()
                            .filter(|h| !dead(h))
                            .map(|h| h["gateway"].as_str().unwrap().parse().unwrap())
                            .collect();
                        gws.sort();
                        gws.dedup();
                        match gws.len() {
                            0 => None,
                            1 => Some(Want::Via(gws[0])),
                            _ => Some(Want::Multipath(gws)),
                        }
                    } else {
                        r["gateway"].as_str().map(|g| Want::Via(g.parse().unwrap()))
                    }
                }
                // local, broadcast...: never mirrored, never in lookups of this table.
                _ => continue,
            };
            let e = best.entry(prefix).or_insert((rank, want.clone()));
            if rank < e.0 {
                *e = (rank, want);
            }
        }
        best.into_iter()
            .filter_map(|(p, (_, w))| w.map(|w| (p, w)))
            .collect()
    }
}

/// Runs `ip -n NS -batch` over `lines`; every line must succeed.
fn batch(ns: &str, lines: &[String]) {
    let path = std::env::temp_dir().join(format!("{ns}-{}.batch", rand_tag()));
    let mut f = std::fs::File::create(&path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let out = ip(&["-n", ns, "-batch", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "ip -batch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

fn rand_tag() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(1);
    h.finish()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    Via(Ipv4Addr),
    Blackhole,
    /// The gateways, sorted.
    Multipath(Vec<Ipv4Addr>),
}

/// An in-process Router with two addressed ports, fed by a kernel mirror.
struct Rig {
    /// No cores are started: the mirror only needs the FIB and the interface subnets.
    router: Router<SoftBackend>,
    counters: Arc<KernelCounters>,
}

/// `FIBRE_LOG=debug` shows the mirror's log (dumps, stale dump entries) in the
/// test's output.
fn init_log() {
    if let Ok(f) = tracing_subscriber::EnvFilter::try_from_env("FIBRE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(f)
            .with_test_writer()
            .try_init();
    }
}

impl Rig {
    fn new(ns: &Netns, opts: KernelOptions) -> Rig {
        init_log();
        let meta = |name: &str, last: u8| PortMeta {
            name: name.into(),
            mac: EthernetAddress([2, 0, 0, 0, 0, last]),
            mtu: 1500,
            table: TableId(FTABLE),
        };
        let mut router = Router::new(
            Fib::new(FibConfig::default()),
            SoftBackend::new(2),
            vec![meta("p0", 1), meta("p1", 2)],
            4096,
        );
        for (port, addr) in [("p0", "192.0.2.1/24"), ("p1", "198.51.100.1/24")] {
            router
                .handle(Request::AddrAdd(AddrSpec {
                    addr: addr.parse().unwrap(),
                    port: PortRef::Name(port.into()),
                }))
                .unwrap();
        }
        let cfg = KernelSourceConfig {
            netns: Some(ns.0.clone()),
            table: KTABLE,
            into_table: FTABLE,
            distance: None,
        };
        let (handle, counters) = spawn_with(&cfg, opts).expect("starting the mirror");
        router.add_source(handle);
        Rig { router, counters }
    }

    /// Lets the control thread apply what the mirror sent for a while.
    fn run_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            let busy = self.router.turn(Instant::now(), 64) | self.router.poll_sources(4096);
            if !busy {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// fibre's kernel routes in table FTABLE.
    fn fibre(&self) -> BTreeMap<Ipv4Prefix, Want> {
        let fib = self.router.fib();
        let mut out = BTreeMap::new();
        for (prefix, entry) in fib.routes(TableId(FTABLE)).unwrap() {
            for r in entry.routes() {
                if r.protocol != Protocol::Kernel {
                    continue;
                }
                let gateway = |id| match fib.nexthop(id) {
                    Some((Nexthop::Gateway { gateway, .. }, _)) => gateway,
                    other => panic!("{prefix}: nexthop {id:?} is {other:?}"),
                };
                let w = if let Some((group, _)) = fib.group(r.nexthop) {
                    let mut gws: Vec<Ipv4Addr> = group.members().map(gateway).collect();
                    gws.sort();
                    Want::Multipath(gws)
                } else {
                    match fib.nexthop(r.nexthop) {
                        Some((Nexthop::Blackhole, _)) => Want::Blackhole,
                        _ => Want::Via(gateway(r.nexthop)),
                    }
                };
                out.insert(prefix, w);
            }
        }
        out
    }

    fn source(&mut self) -> control::proto::SourceInfo {
        match self.router.handle(Request::SourceShow) {
            Ok(control::proto::Reply::Sources(s)) => s.into_iter().next().expect("one source"),
            other => panic!("source show: {other:?}"),
        }
    }

    /// Waits until fibre's kernel routes equal the kernel's table (and stay equal
    /// while the mirror has nothing more to say); panics with the difference.
    fn converge(&mut self, ns: &Netns, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            self.run_for(Duration::from_millis(100));
            let want = ns.expected(KTABLE);
            let got = self.fibre();
            if want == got {
                self.run_for(Duration::from_millis(300));
                if ns.expected(KTABLE) == self.fibre() {
                    return want.len();
                }
                continue;
            }
            if Instant::now() > deadline {
                let missing: Vec<_> = want
                    .iter()
                    .filter(|(p, w)| got.get(p) != Some(w))
                    .take(10)
                    .collect();
                let extra: Vec<_> = got
                    .iter()
                    .filter(|(p, _)| !want.contains_key(p))
                    .take(10)
                    .collect();
                panic!(
                    "fibre did not converge on the kernel's table ({} vs {} routes): \
                     missing or different {missing:?}, extra {extra:?}; source {:?}",
                    want.len(),
                    got.len(),
                    self.source()
                );
            }
        }
    }
}

/// `ip -batch` lines churning table KTABLE: adds, gateway replaces, replaces to a
/// blackhole, deletes, over /24s in 10.0.0.0/9 plus some /32s and /20s.
fn churn(
    rng: &mut SmallRng,
    present: &mut BTreeSet<(u32, u8)>,
    n: usize,
    adds_only: bool,
) -> Vec<String> {
    let gw = |rng: &mut SmallRng| -> String {
        if rng.random_bool(0.8) {
            format!("192.0.2.{}", rng.random_range(2..=60))
        } else {
            format!("198.51.100.{}", rng.random_range(2..=20))
        }
    };
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        let roll = rng.random_range(0..100);
        if adds_only || roll < 55 || present.is_empty() {
            let len = [24u8, 24, 24, 32, 20][rng.random_range(0..5)];
            let addr = (10u32 << 24) | (rng.random_range(0..1u32 << 23) & fib::prefix::mask(len));
            if !present.insert((addr, len)) {
                continue;
            }
            let p = format!("{}/{len}", Ipv4Addr::from(addr));
            if rng.random_bool(0.05) {
                lines.push(format!("route add blackhole {p} table {KTABLE}"));
            } else {
                lines.push(format!("route add {p} via {} table {KTABLE}", gw(rng)));
            }
        } else {
            let i = rng.random_range(0..present.len());
            let (addr, len) = *present.iter().nth(i).unwrap();
            let p = format!("{}/{len}", Ipv4Addr::from(addr));
            if roll < 80 {
                lines.push(format!("route replace {p} via {} table {KTABLE}", gw(rng)));
            } else if roll < 83 {
                lines.push(format!("route replace unreachable {p} table {KTABLE}"));
            } else {
                present.remove(&(addr, len));
                lines.push(format!("route del {p} table {KTABLE}"));
            }
        }
    }
    lines
}

#[test]
fn mirror_follows_churn_during_and_after_the_dump_and_matches_the_kernel() {
    let t0 = Instant::now();
    let ns = Netns::new("churn");
    let mut rng = SmallRng::seed_from_u64(7);
    let mut present = BTreeSet::new();
    // A table of 20,000 routes before the mirror starts, and routes of every kind
    // around them.
    ns.batch(&churn(&mut rng, &mut present, 20_000, true));
    ns.batch(&[
        // Metrics: fibre takes the lowest; deleting it promotes the next.
        format!("route add default via 192.0.2.2 metric 10 table {KTABLE}"),
        format!("route add default via 192.0.2.3 metric 20 table {KTABLE}"),
        format!("route add prohibit 172.16.0.0/12 table {KTABLE}"),
        // Not mirrored and counted: a dev-only route.
        format!("route add 10.200.0.0/16 dev v0 table {KTABLE}"),
        // Hidden by a dev-only route of a lower metric.
        format!("route add 10.201.0.0/16 dev v0 metric 5 table {KTABLE}"),
        format!("route add 10.201.0.0/16 via 192.0.2.9 metric 50 table {KTABLE}"),
        // Multipath.
        format!(
            "route add 203.0.113.0/24 table {KTABLE} nexthop via 192.0.2.10 nexthop via 192.0.2.11"
        ),
        // One gateway twice: one path for fibre (a group of one distinct nexthop
        // would be refused by the FIB).
        format!(
            "route add 203.0.113.128/25 table {KTABLE} nexthop via 192.0.2.12 nexthop via 192.0.2.12"
        ),
        // Other tables are not mirrored.
        "route add 10.250.0.0/16 via 192.0.2.5".into(),
        "route add 10.251.0.0/16 via 192.0.2.5 table 101".into(),
    ]);
    // Churn starts with the mirror, so it runs while the first dump does.
    let during = churn(&mut rng, &mut present, 15_000, false);
    let ns_name = ns.0.clone();
    let churner = std::thread::spawn(move || batch(&ns_name, &during));
    std::thread::sleep(Duration::from_millis(30));
    let mut rig = Rig::new(&ns, KernelOptions::default());
    churner.join().unwrap();
    let n = rig.converge(&ns, Duration::from_secs(20));
    assert!(n > 15_000, "the table is mirrored: {n} routes");
    let fibre = rig.fibre();
    let dflt: Ipv4Prefix = "0.0.0.0/0".parse().unwrap();
    assert_eq!(fibre[&dflt], Want::Via("192.0.2.2".parse().unwrap()));
    assert!(!fibre.contains_key(&"10.200.0.0/16".parse().unwrap()));
    assert!(!fibre.contains_key(&"10.201.0.0/16".parse().unwrap()));
    assert!(!fibre.contains_key(&"10.250.0.0/16".parse().unwrap()));
    let s = rig.source();
    assert!(s.connected, "{s:?}");
    assert!(
        rig.counters.changes_during_dump.load(Relaxed) > 0,
        "the churn overlapped the first dump"
    );
    assert_eq!(s.routes as usize, n, "{s:?}");
    assert_eq!(s.refused, 0, "{s:?}");
    assert!(s.ignored >= 2, "the dev-only routes are counted: {s:?}");
    assert_eq!(
        fibre[&"203.0.113.0/24".parse().unwrap()],
        Want::Multipath(vec![
            "192.0.2.10".parse().unwrap(),
            "192.0.2.11".parse().unwrap()
        ])
    );
    assert_eq!(
        fibre[&"203.0.113.128/25".parse().unwrap()],
        Want::Via("192.0.2.12".parse().unwrap())
    );
    eprintln!(
        "initial sync with churn: {n} routes in {:?}, dumps {}, changes during the dump {}, interrupted {}, source {s:?}",
        t0.elapsed(),
        rig.counters.dumps.load(Relaxed),
        rig.counters.changes_during_dump.load(Relaxed),
        rig.counters.interrupted.load(Relaxed)
    );

    // Live churn: notifications only.
    let t1 = Instant::now();
    let dumps = rig.counters.dumps.load(Relaxed);
    let mut live = churn(&mut rng, &mut present, 6_000, false);
    live.push(format!(
        "route del default via 192.0.2.2 metric 10 table {KTABLE}"
    ));
    live.push(format!(
        "route del 10.201.0.0/16 dev v0 metric 5 table {KTABLE}"
    ));
    ns.batch(&live);
    let n = rig.converge(&ns, Duration::from_secs(15));
    let fibre = rig.fibre();
    assert_eq!(fibre[&dflt], Want::Via("192.0.2.3".parse().unwrap()));
    assert_eq!(
        fibre[&"10.201.0.0/16".parse().unwrap()],
        Want::Via("192.0.2.9".parse().unwrap())
    );
    assert_eq!(
        rig.counters.dumps.load(Relaxed),
        dumps,
        "live changes need no dump"
    );
    eprintln!("live churn: {n} routes in {:?}", t1.elapsed());

    // A link going down: the kernel flushes the routes through it without an
    // RTM_DELROUTE each; the link event makes the mirror dump again.
    let t2 = Instant::now();
    let through_v1 = rig
        .fibre()
        .values()
        .filter(|w| matches!(w, Want::Via(g) if g.octets()[0] == 198))
        .count();
    assert!(through_v1 > 100, "{through_v1} routes via v1");
    ns.batch(&["link set v1 down".into()]);
    let n = rig.converge(&ns, Duration::from_secs(15));
    assert!(rig
        .fibre()
        .values()
        .all(|w| !matches!(w, Want::Via(g) if g.octets()[0] == 198)));
    assert!(rig.counters.link_events.load(Relaxed) >= 1);
    assert!(rig.counters.dumps.load(Relaxed) > dumps);
    eprintln!(
        "link down: {through_v1} routes flushed, {n} left, in {:?}; total {:?}",
        t2.elapsed(),
        t0.elapsed()
    );
}

#[test]
fn enobufs_forces_a_full_redump_that_converges() {
    let t0 = Instant::now();
    let ns = Netns::new("nobufs");
    let mut rng = SmallRng::seed_from_u64(1812);
    let mut present = BTreeSet::new();
    ns.batch(&churn(&mut rng, &mut present, 3_000, true));
    // The smallest buffer the kernel allows: a burst overflows it.
    let mut rig = Rig::new(
        &ns,
        KernelOptions {
            rcvbuf: 1,
            ..KernelOptions::default()
        },
    );
    rig.converge(&ns, Duration::from_secs(15));
    let dumps = rig.counters.dumps.load(Relaxed);
    assert_eq!(rig.source().resyncs, 0);
    // Bursts until the socket overflows (the first one practically always does).
    for _ in 0..5 {
        ns.batch(&churn(&mut rng, &mut present, 4_000, false));
        rig.run_for(Duration::from_millis(200));
        if rig.counters.overflows.load(Relaxed) > 0 {
            break;
        }
    }
    assert!(
        rig.counters.overflows.load(Relaxed) > 0,
        "no ENOBUFS with a minimal receive buffer"
    );
    let n = rig.converge(&ns, Duration::from_secs(20));
    let s = rig.source();
    assert!(
        rig.counters.dumps.load(Relaxed) > dumps,
        "a re-dump followed"
    );
    assert!(s.resyncs >= 1, "{s:?}");
    assert_eq!(s.routes as usize, n, "{s:?}");
    eprintln!(
        "ENOBUFS: {} overflows, {} dumps, {n} routes converged; total {:?}",
        rig.counters.overflows.load(Relaxed),
        rig.counters.dumps.load(Relaxed),
        t0.elapsed()
    );
}

#[test]
fn a_missing_namespace_is_a_clear_error() {
    let cfg = KernelSourceConfig {
        netns: Some(format!("fibre-km-none-{}", std::process::id())),
        table: KTABLE,
        into_table: FTABLE,
        distance: None,
    };
    let err = match spawn_with(&cfg, KernelOptions::default()) {
        Ok(_) => panic!("a missing namespace was accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("network namespace") && err.contains("/var/run/netns/fibre-km-none"),
        "{err}"
    );
    let cfg = KernelSourceConfig {
        netns: Some("../etc".into()),
        ..cfg
    };
    assert!(spawn_with(&cfg, KernelOptions::default()).is_err());
}
