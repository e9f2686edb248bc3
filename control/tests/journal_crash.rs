//! No acknowledged change lost, nothing half-applied: fibred is SIGKILLed at a
//! random moment while a client streams `route load` batches and route add/del
//! churn, then restarted on the same state file, round after round. Every change
//! that got an `ok` must be there; the one request in flight when the daemon died
//! may or may not be, but a batch is all or nothing (its journal entry is one
//! line: a torn line is dropped whole at start-up).
//!
//! Each round loads a 200,000-route table again (batches of 5,000, replacing every
//! route through that round's gateway) with churn between batches, and is killed at
//! a random moment in its first 1.5 s (every fifth round: in the churn after the
//! whole load); 20 rounds (`FIBRE_CRASH_ROUNDS` to change).
//! Compaction is set to 256 KiB so restarts and runs compact too.
#![cfg(feature = "dpdk")]

use control::cli::ControlClient;
use control::proto::{
    BatchRoute, Reply, Request, RouteBatch, RouteDel, RouteFilter, RouteSpec, RouteTarget,
};
use fib::{Ipv4Prefix, Protocol, TableId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FIBRED: &str = env!("CARGO_BIN_EXE_fibred");
/// Routes in the table each round loads again (as in a RouteViews-sized load).
const LOAD_ROUTES: usize = 200_000;
/// Routes per `route_load` request (fibrectl's default batch).
const BATCH: usize = 5_000;

fn config(dir: &Path) -> String {
    format!(
        r#"eal = ["--no-huge", "-m", "512", "--no-pci", "--file-prefix=fibre-crash-{pid}", "-l", "0", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"]
control_socket = "{dir}/fibred.sock"
state_file = "{dir}/state.journal"

[journal]
fsync = "always"
compact_bytes = 262144

[cores]
count = 1
idle = "yield"
rx_ring = 512
tx_ring = 512

[[port]]
name = "p0"
dpdk = "net_null0"
addr = "192.0.2.1/24"

[[port]]
name = "p1"
dpdk = "net_null1"
addr = "198.51.100.1/24"
"#,
        dir = dir.display(),
        pid = std::process::id(),
    )
}

struct Fibred(Child);

impl Fibred {
    fn start(dir: &Path) -> (Fibred, ControlClient) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("fibred.log"))
            .unwrap();
        let child = Command::new(FIBRED)
            .arg("-c")
            .arg(dir.join("fibred.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut d = Fibred(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut c) = ControlClient::connect(dir.join("fibred.sock")) {
                if c.call(&Request::Hello).is_ok() {
                    return (d, c);
                }
            }
            if let Some(st) = d.0.try_wait().unwrap() {
                panic!("fibred exited ({st}): {}", log_of(dir));
            }
            assert!(
                Instant::now() < deadline,
                "fibred did not come up: {}",
                log_of(dir)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sigkill(mut self) {
        // SAFETY: kill(2) on the pid of our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

impl Drop for Fibred {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("fibred.log")).unwrap_or_default()
}

/// Rounds are killed within this many ms of the first change, mostly while the
/// load streams; every fifth round only once the whole load is acknowledged.
const KILL_WITHIN_MS: u64 = 1_500;

/// The `n`th prefix of the loaded table: /24s from 10.0.0.0 up (four /8s).
fn load_prefix(n: usize) -> Ipv4Prefix {
    Ipv4Prefix::new(0x0a00_0000 + ((n as u32) << 8), 24).expect("aligned")
}

/// A random replace or delete of one of 64 /24s in 172.16/16.
fn churn_change(rng: &mut SmallRng) -> Change {
    let p: Ipv4Prefix = format!("172.16.{}.0/24", rng.random_range(0..64u8))
        .parse()
        .unwrap();
    if rng.random_bool(0.4) {
        Change {
            request: Request::RouteDel(RouteDel {
                table: TableId::MAIN.0,
                prefix: p,
                protocol: Protocol::Static,
            }),
            routes: vec![(p, None)],
        }
    } else {
        let g = gw(rng.random_range(2..6));
        Change {
            request: Request::RouteReplace(RouteSpec {
                table: TableId::MAIN.0,
                prefix: p,
                target: RouteTarget::Via {
                    gateway: g,
                    port: None,
                },
                protocol: Protocol::Static,
                distance: None,
            }),
            routes: vec![(p, Some(g))],
        }
    }
}

/// A change the client made: the routes it sets (`Some(gateway)`) or deletes.
#[derive(Debug, Clone)]
struct Change {
    routes: Vec<(Ipv4Prefix, Option<Ipv4Addr>)>,
    request: Request,
}

fn gw(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, last)
}

/// The static routes in main, prefix → gateway.
fn routes(c: &mut ControlClient) -> BTreeMap<Ipv4Prefix, Ipv4Addr> {
    let reply = c
        .call(&Request::RouteShow(RouteFilter {
            table: Some(TableId::MAIN.0),
            protocol: Some(Protocol::Static),
            ..RouteFilter::default()
        }))
        .unwrap();
    let Reply::Routes(list) = reply else {
        panic!("{reply:?}")
    };
    list.routes
        .into_iter()
        .map(|r| {
            let g = r
                .via
                .split_whitespace()
                .nth(1)
                .and_then(|g| g.parse().ok())
                .unwrap_or_else(|| panic!("route via {:?}", r.via));
            (r.prefix, g)
        })
        .collect()
}

#[test]
fn sigkill_at_random_loses_no_acknowledged_change_and_half_applies_nothing() {
    let rounds: usize = std::env::var("FIBRE_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::Builder::new()
        .prefix("fibre-journal-crash-")
        .tempdir()
        .unwrap();
    std::fs::write(dir.path().join("fibred.toml"), config(dir.path())).unwrap();
    let mut rng = SmallRng::seed_from_u64(0x6a6f_7572);
    // What the daemon must hold: every acknowledged change applied in order.
    let mut model: BTreeMap<Ipv4Prefix, Ipv4Addr> = BTreeMap::new();
    let started = Instant::now();
    let (mut acked_total, mut unsure_total, mut most_loaded) = (0, 0, 0);
    for round in 0..rounds {
        let (daemon, mut client) = Fibred::start(dir.path());
        let have = routes(&mut client);
        assert_eq!(have, model, "round {round}: state after restart");
        // A stream of changes on its own thread; SIGKILL at a random moment: the
        // whole route table loaded again (replacing every route, through this
        // round's gateway) in batches, as `fibrectl route load` sends it, with
        // churn between the batches and after them.
        let load_gw = gw(2 + (round % 3) as u8);
        let mut changes: Vec<Change> = Vec::new();
        for b in 0..LOAD_ROUTES / BATCH {
            let routes: Vec<_> = (b * BATCH..(b + 1) * BATCH)
                .map(|n| (load_prefix(n), Some(load_gw)))
                .collect();
            changes.push(Change {
                request: Request::RouteLoad(RouteBatch {
                    table: TableId::MAIN.0,
                    protocol: Protocol::Static,
                    distance: None,
                    replace: true,
                    routes: routes
                        .iter()
                        .map(|(p, _)| BatchRoute {
                            prefix: *p,
                            target: RouteTarget::Via {
                                gateway: load_gw,
                                port: None,
                            },
                        })
                        .collect(),
                }),
                routes,
            });
            let churn = if b + 1 == LOAD_ROUTES / BATCH { 200 } else { 4 };
            changes.extend((0..churn).map(|_| churn_change(&mut rng)));
        }
        // Acknowledged: index of the last change that got `ok` (+1); the one after
        // it may have been in flight.
        let acked = Arc::new(Mutex::new(0usize));
        let a = acked.clone();
        let todo = changes.clone();
        let sender = std::thread::spawn(move || {
            for (i, c) in todo.iter().enumerate() {
                match client.call(&c.request) {
                    Ok(_) => *a.lock().unwrap() = i + 1,
                    // A del of a route not there is refused and changes nothing.
                    Err(control::cli::ClientError::Daemon(_)) => *a.lock().unwrap() = i + 1,
                    Err(_) => return,
                }
            }
        });
        if round % 5 == 4 {
            // Every fifth round: killed in the churn after the whole load is in.
            let whole = changes
                .iter()
                .rposition(|c| matches!(c.request, Request::RouteLoad(_)))
                .expect("a load")
                + 1;
            let deadline = Instant::now() + Duration::from_secs(120);
            while *acked.lock().unwrap() < whole && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(rng.random_range(0..100)));
        } else {
            std::thread::sleep(Duration::from_millis(rng.random_range(20..KILL_WITHIN_MS)));
        }
        daemon.sigkill();
        sender.join().unwrap();
        let n = *acked.lock().unwrap();
        acked_total += n;
        let loaded = changes[..n]
            .iter()
            .filter(|c| matches!(c.request, Request::RouteLoad(_)))
            .count()
            * BATCH;
        most_loaded = most_loaded.max(loaded);
        for c in &changes[..n] {
            for (p, g) in &c.routes {
                match g {
                    Some(g) => model.insert(*p, *g),
                    None => model.remove(p),
                };
            }
        }
        // The change in flight: all of it, or none of it.
        if let Some(c) = changes.get(n) {
            let (daemon, mut client) = Fibred::start(dir.path());
            let have = routes(&mut client);
            let mut with = model.clone();
            for (p, g) in &c.routes {
                match g {
                    Some(g) => with.insert(*p, *g),
                    None => with.remove(p),
                };
            }
            assert!(
                have == model || have == with,
                "round {round}: the change in flight ({}) is half-applied or an acknowledged one is lost: {} routes, want {} or {}",
                c.request.name(),
                have.len(),
                model.len(),
                with.len()
            );
            if have == with {
                model = with;
            }
            unsure_total += 1;
            drop(client);
            daemon.sigkill();
        }
    }
    let (daemon, mut client) = Fibred::start(dir.path());
    assert_eq!(routes(&mut client), model);
    drop(client);
    daemon.sigkill();
    // DPDK's runtime directory for the file prefix (a killed EAL leaves it).
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/fibre-crash-{}", std::process::id()));
    eprintln!(
        "{rounds} rounds, {acked_total} acknowledged changes, {unsure_total} in flight at the kill, at most {most_loaded} of the {LOAD_ROUTES} load routes acknowledged in a round, {} routes at the end, {:?}",
        model.len(),
        started.elapsed()
    );
    // The kills landed across the load, and some round got all of it through.
    assert!(
        most_loaded == LOAD_ROUTES,
        "no round loaded the whole table: {most_loaded}"
    );
}
