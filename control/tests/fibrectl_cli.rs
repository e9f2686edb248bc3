//! `fibrectl` as a process against a fake daemon: the real `Server` in a thread with
//! a canned handler (and, for `route load`, a real `fib::Fib` applying each batch in
//! one turn, as fibred's control loop will).
//!
//! Checked: bad command lines exit 2 with a message and send nothing; an unreachable
//! daemon and daemon errors exit 1; tables and JSON output; route load batching.

use control::proto::*;
use control::server::Server;
use fib::{Fib, FibConfig, Nexthop, NexthopId, Route, TableId};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A temp directory for one test, removed on drop.
fn temp_dir(tag: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("fibrectl-{tag}-"))
        .tempdir()
        .unwrap()
}

/// A fake fibred: records every request, answers from a real FIB for routes and
/// canned data for the rest.
struct FakeDaemon {
    dir: TempDir,
    sock: PathBuf,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Request>>>,
    thread: Option<std::thread::JoinHandle<Fib>>,
}

impl FakeDaemon {
    fn start() -> Self {
        let dir = temp_dir("fake");
        let sock = dir.path().join("fibred.sock");
        let server = Server::bind(&sock).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (flag, log) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut server = server;
            let mut fib = Fib::new(FibConfig::default());
            for i in 0..4u8 {
                fib.add_nexthop(Nexthop::Gateway {
                    port: 0,
                    gateway: Ipv4Addr::new(192, 0, 2, 10 + i),
                })
                .unwrap();
            }
            while !flag.load(Ordering::Acquire) {
                server.serve(|_, req| {
                    let r = answer(&mut fib, &req);
                    // Keep batches out of the log (a 600k-route load would be copied).
                    if !matches!(req, Request::RouteLoad(_)) {
                        log.lock().unwrap().push(req);
                    } else {
                        log.lock().unwrap().push(Request::Hello);
                    }
                    r
                });
                std::thread::sleep(Duration::from_micros(50));
            }
            fib
        });
        FakeDaemon {
            dir,
            sock,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        fibrectl(&self.sock, args)
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    fn finish(mut self) -> Fib {
        self.stop.store(true, Ordering::Release);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = &self.dir;
    }
}

fn nexthop_of(fib: &mut Fib, t: &RouteTarget) -> Result<NexthopId, ErrorReply> {
    match t {
        RouteTarget::Nexthop(id) => Ok(NexthopId(*id)),
        RouteTarget::Blackhole => Ok(fib.nexthop_for(Nexthop::Blackhole)?),
        RouteTarget::Via { gateway, .. } => Ok(fib.nexthop_for(Nexthop::Gateway {
            port: 0,
            gateway: *gateway,
        })?),
        RouteTarget::Dev(_) => Ok(fib.nexthop_for(Nexthop::Connected { port: 0 })?),
        RouteTarget::Multipath(_) => Err(ErrorReply::new(
            ErrorKind::Unsupported,
            "the fake daemon has no multipath",
        )),
    }
}

fn answer(fib: &mut Fib, req: &Request) -> Response {
    match req {
        Request::RouteAdd(spec) => {
            if spec.prefix.to_string() == "203.0.113.0/24" {
                return Err(ErrorReply::new(
                    ErrorKind::AlreadyExists,
                    "route 203.0.113.0/24 from static already exists in table main",
                ));
            }
            let nh = nexthop_of(fib, &spec.target)?;
            let seq = fib.add_route(
                TableId(spec.table),
                spec.prefix,
                Route::new(nh, spec.protocol),
            )?;
            Ok(Reply::RouteChanged(RouteChanged { seq }))
        }
        Request::RouteLoad(batch) => {
            let mut applied = 0;
            let mut errors = Vec::new();
            for (index, r) in batch.routes.iter().enumerate() {
                let res = nexthop_of(fib, &r.target).and_then(|nh| {
                    fib.replace_route(
                        TableId(batch.table),
                        r.prefix,
                        Route::new(nh, batch.protocol),
                    )
                    .map_err(ErrorReply::from)
                });
                match res {
                    Ok(_) => applied += 1,
                    Err(e) => errors.push(BatchError {
                        index,
                        message: e.message,
                    }),
                }
            }
            let failed = errors.len();
            errors.truncate(MAX_BATCH_ERRORS);
            Ok(Reply::BatchApplied(BatchApplied {
                applied,
                failed,
                errors,
                seq: fib.seq(),
            }))
        }
        Request::RouteShow(_) => Ok(Reply::Routes(RouteList {
            routes: vec![
                RouteInfo {
                    table: 254,
                    prefix: "0.0.0.0/0".parse().unwrap(),
                    protocol: fib::Protocol::Static,
                    distance: 1,
                    nexthop: 0,
                    via: "via 192.0.2.10 dev p0".into(),
                    installed: true,
                },
                RouteInfo {
                    table: 254,
                    prefix: "198.51.100.0/24".parse().unwrap(),
                    protocol: fib::Protocol::Kernel,
                    distance: 5,
                    nexthop: 12,
                    via: "blackhole".into(),
                    installed: false,
                },
            ],
            total: 2,
        })),
        Request::FibStatus => Ok(Reply::FibStatus(FibStatus::from_fib(fib))),
        Request::NexthopDel(NexthopDel { id }) => {
            Err(ErrorReply::from(fib::FibError::NexthopInUse {
                id: NexthopId(*id),
                routes: 3,
            }))
        }
        _ => Ok(Reply::Done),
    }
}

fn fibrectl(sock: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fibrectl"))
        .arg("-s")
        .arg(sock)
        .args(args)
        .env_remove("FIBRE_SOCKET")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_command_lines_exit_2_and_send_nothing() {
    let d = FakeDaemon::start();
    let cases: &[(&[&str], &str)] = &[
        (&["frobnicate"], "unrecognized subcommand"),
        (&["route"], "Usage"),
        (
            &["route", "add", "10.1.0.0/8", "via", "192.0.2.1"],
            "host bits are set (did you mean 10.0.0.0/8?)",
        ),
        (&["route", "add", "10.0.0.0/8"], "where to?"),
        (
            &["route", "add", "10.0.0.0/8", "via"],
            "`via` needs a value",
        ),
        (
            &["route", "add", "10.0.0.0/8", "via", "192.0.2.300"],
            "invalid via",
        ),
        (
            &[
                "route",
                "add",
                "10.0.0.0/8",
                "via",
                "192.0.2.1",
                "blackhole",
            ],
            "give one of",
        ),
        (
            &["route", "add", "10.0.0.0/8", "blackhole", "extra"],
            "unexpected argument \"extra\"",
        ),
        (
            &["route", "add", "10.0.0.0/8", "blackhole", "proto", "bgp"],
            "unknown protocol",
        ),
        (
            &["route", "add", "10.0.0.0/8", "blackhole", "table", "x"],
            "invalid table",
        ),
        (
            &["route", "add", "10.0.0.0/8", "blackhole", "metric", "300"],
            "invalid metric",
        ),
        (
            &["route", "del", "10.0.0.0/8", "via", "192.0.2.1"],
            "unexpected argument \"via\"",
        ),
        (&["route", "get", "10.0.0.300"], "invalid value"),
        (&["route", "show", "root", "10.0.0.1/8"], "host bits"),
        (
            &["neigh", "add", "192.0.2.9", "dev", "p0"],
            "lladdr MAC is required",
        ),
        (
            &["neigh", "add", "192.0.2.9", "lladdr", "zz", "dev", "p0"],
            "invalid MAC address",
        ),
        (&["addr", "add", "192.0.2.1/24"], "dev PORT is required"),
        (
            &["addr", "add", "192.0.2.1/40", "dev", "p0"],
            "the length must be 1..=32",
        ),
        (
            &["nexthop", "add", "nexthop", "3"],
            "unexpected argument \"nexthop\"",
        ),
        (&["nexthop", "del", "x"], "invalid value"),
        (&["core", "add", "cpu"], "`cpu` needs a value"),
        (&["stats", "--count", "2"], "--watch"),
        (&["route", "load", "/nonexistent/routes.txt"], "cannot read"),
    ];
    for (args, want) in cases {
        let o = d.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "{args:?}: wanted {want:?} in {}",
            stderr(&o)
        );
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
    // Give the server a moment: nothing must have arrived.
    std::thread::sleep(Duration::from_millis(50));
    assert!(d.requests().is_empty(), "{:?}", d.requests());
}

#[test]
fn a_bad_route_file_sends_nothing() {
    let d = FakeDaemon::start();
    let file = d.dir.path().join("routes.txt");
    std::fs::write(
        &file,
        "1.0.0.0/24\t13335\n1.0.4.0/22\t56203\n10.0.0.1/8\t1\n",
    )
    .unwrap();
    let o = d.run(&["route", "load", file.to_str().unwrap(), "--nexthop", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("routes.txt:3: invalid prefix 10.0.0.1/8: host bits are set"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&file, "1.0.0.0/24\t13335\n").unwrap();
    let o = d.run(&["route", "load", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("needs --nexthop ID or --via GW"),
        "{}",
        stderr(&o)
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(d.requests().is_empty());
}

#[test]
fn no_daemon_and_daemon_errors_exit_1() {
    let dir = temp_dir("none");
    let o = fibrectl(&dir.path().join("absent.sock"), &["fib", "status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot connect to fibred at"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("is fibred running?"));

    let d = FakeDaemon::start();
    let o = d.run(&["route", "add", "203.0.113.0/24", "blackhole"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        "fibrectl: route 203.0.113.0/24 from static already exists in table main"
    );
    let o = d.run(&["nexthop", "del", "3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nexthop 3 is in use by 3 route(s) or multipath group(s)"));
}

#[test]
fn requests_carry_what_the_command_line_says() {
    let d = FakeDaemon::start();
    let ok = |args: &[&str]| {
        let o = d.run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        o
    };
    let o = ok(&[
        "route",
        "add",
        "10.0.0.0/8",
        "via",
        "192.0.2.1",
        "dev",
        "p0",
        "proto",
        "kernel",
        "metric",
        "7",
    ]);
    // Four nexthops at start-up, the gateway's new nexthop, then the route.
    assert_eq!(stdout(&o).trim(), "seq 6");
    ok(&["route", "get", "10.1.2.3", "core", "1"]);
    ok(&[
        "neigh",
        "add",
        "192.0.2.9",
        "lladdr",
        "02:00:00:00:00:09",
        "dev",
        "p0",
    ]);
    ok(&["addr", "del", "192.0.2.1/24", "dev", "1"]);
    ok(&["core", "add", "cpu", "3"]);
    ok(&["link", "show", "p1"]);
    let reqs = d.requests();
    assert_eq!(
        reqs[0],
        Request::RouteAdd(RouteSpec {
            table: 254,
            prefix: "10.0.0.0/8".parse().unwrap(),
            target: RouteTarget::Via {
                gateway: Ipv4Addr::new(192, 0, 2, 1),
                port: Some(PortRef::Name("p0".into()))
            },
            protocol: fib::Protocol::Kernel,
            distance: Some(7),
        })
    );
    assert_eq!(
        reqs[1],
        Request::RouteGet(RouteGet {
            addr: Ipv4Addr::new(10, 1, 2, 3),
            table: 254,
            core: Some(1)
        })
    );
    assert_eq!(
        reqs[2],
        Request::NeighAdd(NeighSpec {
            addr: Ipv4Addr::new(192, 0, 2, 9),
            port: PortRef::Name("p0".into()),
            mac: Some("02:00:00:00:00:09".parse().unwrap())
        })
    );
    assert_eq!(
        reqs[3],
        Request::AddrDel(AddrSpec {
            addr: "192.0.2.1/24".parse().unwrap(),
            port: PortRef::Index(1)
        })
    );
    assert_eq!(reqs[4], Request::CoreAdd(CoreAdd { cpu: Some(3) }));
    assert_eq!(
        reqs[5],
        Request::LinkShow(PortFilter {
            port: Some(PortRef::Name("p1".into()))
        })
    );
}

#[test]
fn tables_are_aligned_and_json_is_the_payload() {
    let d = FakeDaemon::start();
    let o = d.run(&["route", "show"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    // Columns start at the same offset on every line.
    let col = |l: &str, word: &str| l.find(word).unwrap();
    assert_eq!(col(lines[0], "PREFIX"), col(lines[1], "0.0.0.0/0"));
    assert_eq!(col(lines[0], "PREFIX"), col(lines[2], "198.51.100.0/24"));
    assert_eq!(col(lines[0], "VIA"), col(lines[1], "via 192.0.2.10"));
    assert_eq!(col(lines[0], "VIA"), col(lines[2], "blackhole"));
    assert_eq!(col(lines[0], "PROTO"), col(lines[2], "kernel"));
    assert!(lines[1].starts_with('*'));

    let o = d.run(&["-j", "route", "show"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["total"], 2);
    assert_eq!(v["routes"][1]["prefix"], "198.51.100.0/24");
    assert_eq!(v["routes"][1]["protocol"], "kernel");

    let o = d.run(&["--json", "fib", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["tables"], 1);
    assert!(v["listeners"].as_array().unwrap().is_empty());

    let o = d.run(&["fib", "status"]);
    assert!(
        stdout(&o).starts_with("seq 4  watermark 4  tables 1"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("LISTENER"));

    // FIBRE_SOCKET is honoured when -s is absent.
    let o = Command::new(env!("CARGO_BIN_EXE_fibrectl"))
        .args(["-j", "fib", "status"])
        .env("FIBRE_SOCKET", &d.sock)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn route_load_batches_and_pipelines() {
    let d = FakeDaemon::start();
    let file = d.dir.path().join("routes.txt");
    let mut text = String::from("; a pyasn-style header\n");
    for i in 0..25_000u32 {
        text.push_str(&format!(
            "{}/24\t{}\n",
            Ipv4Addr::from((10 << 24) | (i << 8)),
            i
        ));
    }
    text.push_str("192.168.0.0/16 blackhole\n172.16.0.0/12 via 192.0.2.77 dev 0\n");
    std::fs::write(&file, text).unwrap();
    let o = d.run(&[
        "-j",
        "route",
        "load",
        file.to_str().unwrap(),
        "--nexthop",
        "1",
        "--nexthop",
        "2",
        "--batch",
        "10000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        o.stderr.is_empty(),
        "no progress bar when stderr is not a terminal: {}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["routes"], 25_002);
    assert_eq!(v["applied"], 25_002);
    assert_eq!(v["batches"], 3);
    assert_eq!(v["failed"], 0);
    // Three route_load messages arrived (logged as hello placeholders).
    assert_eq!(d.requests().len(), 3);

    // Text output says the rate.
    let o = d.run(&[
        "route",
        "load",
        file.to_str().unwrap(),
        "--via",
        "192.0.2.1",
        "--dev",
        "p0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("loaded 25002 of 25002 routes in 3 batches"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("routes/s"));

    let fib = d.finish();
    let hit = fib
        .lookup(TableId::MAIN, Ipv4Addr::new(10, 0, 3, 1))
        .unwrap()
        .unwrap();
    assert_eq!(hit.0.to_string(), "10.0.3.0/24");
    assert_eq!(fib.stats().prefixes, 25_002);
}

#[test]
fn refused_routes_in_a_batch_exit_1_with_reasons() {
    let d = FakeDaemon::start();
    let file = d.dir.path().join("routes.txt");
    // Nexthop 40 does not exist in the fake daemon's FIB.
    std::fs::write(&file, "1.0.0.0/24\t1\n2.0.0.0/24\t2\n").unwrap();
    let o = d.run(&["route", "load", file.to_str().unwrap(), "--nexthop", "40"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refused: 1.0.0.0/24: nexthop 40 does not exist"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("2 of 2 routes were refused"));
}

/// The real RouteViews table through fibrectl, the socket and a FIB applying each
/// batch in one turn (no forwarding cores). Runs when FIBRE_DATA is set (`make test`).
#[test]
fn routeviews_load_rate() {
    let Some(dir) = std::env::var_os("FIBRE_DATA") else {
        eprintln!("FIBRE_DATA is not set: skipping the RouteViews load");
        return;
    };
    let path = Path::new(&dir).join("routeviews.txt");
    let d = FakeDaemon::start();
    let t = Instant::now();
    let o = d.run(&[
        "-j",
        "route",
        "load",
        path.to_str().unwrap(),
        "--nexthop",
        "0",
        "--nexthop",
        "1",
        "--nexthop",
        "2",
        "--nexthop",
        "3",
    ]);
    let wall = t.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let routes = v["routes"].as_u64().unwrap();
    assert_eq!(v["applied"].as_u64(), Some(routes));
    eprintln!(
        "routeviews: {routes} routes, {} routes/s as fibrectl measured (send to last answer), {:.2}s wall including file parsing",
        v["routes_per_second"], wall.as_secs_f64()
    );
    let fib = d.finish();
    assert_eq!(fib.stats().prefixes as u64, routes);
}
