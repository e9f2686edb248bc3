//! `fibrectl` as a process against a fake daemon: the real `Server` in a thread with
//! a canned handler (and, for `route load`, a real `fib::Fib` applying each batch in
//! one turn, as fibred's control loop will).
//!
//! Checked: bad command lines exit 2 with a message and send nothing; an unreachable
//! daemon and daemon errors exit 1; tables and JSON output; route load batching.

use control::proto::*;
use control::server::{ClientId, Server};
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
    /// The connection each of `seen` came on.
    clients: Arc<Mutex<Vec<ClientId>>>,
    thread: Option<std::thread::JoinHandle<Fib>>,
}

impl FakeDaemon {
    fn start() -> Self {
        Self::start_with(false)
    }

    /// `listeners`: `fib status` answers with canned listeners instead of the real FIB's none.
    fn start_with(listeners: bool) -> Self {
        let dir = temp_dir("fake");
        let sock = dir.path().join("fibred.sock");
        let server = Server::bind(&sock).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let clients = Arc::new(Mutex::new(Vec::new()));
        let (flag, log, conns) = (stop.clone(), seen.clone(), clients.clone());
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
                server.serve(|client, req| {
                    conns.lock().unwrap().push(client);
                    let r = if listeners && matches!(req, Request::FibStatus) {
                        Ok(canned_fib_status())
                    } else {
                        answer(&mut fib, &req)
                    };
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
            clients,
            thread: Some(thread),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        fibrectl(&self.sock, args)
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    /// How many connections the requests so far came on.
    fn connections(&self) -> usize {
        let mut c = self.clients.lock().unwrap().clone();
        c.sort();
        c.dedup();
        c.len()
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
        Request::RouteShow(filter) => Ok(Reply::Routes(RouteList {
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
            // With a limit, pretend there were more.
            total: if filter.limit.is_some() { 5 } else { 2 },
        })),
        Request::FibStatus => Ok(Reply::FibStatus(FibStatus::from_fib(fib))),
        Request::NexthopDel(NexthopDel { id }) => {
            Err(ErrorReply::from(fib::FibError::NexthopInUse {
                id: NexthopId(*id),
                routes: 3,
            }))
        }
        other => Ok(canned(other).unwrap_or(Reply::Done)),
    }
}

fn canned_fib_status() -> Reply {
    let json = r#"{"fib_status":{"seq":24,"tables":2,"prefixes":11,"nexthops":9,"nexthop_ids_pending":1,"groups":1,"watermark":24,"committed_seq":24,"committed_at_ns":1000000,"listeners":[{"id":0,"name":"core 0","state":"live","applied_seq":24,"applied_at_ns":1250000,"lag":0,"in_sync":true,"replay_progress":null,"ring_len":4096,"backlog":0,"resyncs":1,"gaps":0,"failure":null},{"id":1,"name":"core 1","state":"replaying","applied_seq":24,"applied_at_ns":1100000,"lag":0,"in_sync":false,"replay_progress":[300,11],"ring_len":4096,"backlog":3,"resyncs":0,"gaps":2,"failure":null},{"id":2,"name":"core 2","state":"failed","applied_seq":3,"lag":21,"in_sync":false,"replay_progress":null,"ring_len":4096,"backlog":0,"resyncs":5,"gaps":5,"failure":"too many resyncs"}]}}"#;
    serde_json::from_str(json).expect("a canned fib status")
}

/// Replies with something in every column, so the golden test sees each renderer
/// at work (JSON as fibred sends it; see `wire/v1.golden`).
fn canned(req: &Request) -> Option<Reply> {
    static STATS_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let json = match req {
        Request::RouteGet(g) if g.addr == Ipv4Addr::new(10, 9, 9, 9) => {
            r#"{"route_lookup":{"addr":"10.9.9.9","table":7,"core":null,"prefix":null,"nexthop":null,"seq":24}}"#.to_owned()
        }
        Request::RouteGet(g) if g.core.is_some() => {
            r#"{"route_lookup":{"addr":"10.1.2.3","table":254,"core":1,"prefix":"10.0.0.0/8","nexthop":{"id":8,"kind":"gateway","gateway":"198.51.100.7","port":"p1","mac":"02:00:00:00:00:07","refs":1},"seq":24}}"#.to_owned()
        }
        Request::RouteGet(_) => {
            r#"{"route_lookup":{"addr":"10.3.1.1","table":254,"core":null,"prefix":"10.3.0.0/16","nexthop":{"id":28671,"kind":"multipath","refs":1},"seq":24}}"#.to_owned()
        }
        Request::RouteReplace(_) => r#"{"route_changed":{"seq":31}}"#.to_owned(),
        Request::RouteDel(_) => r#"{"route_changed":{"seq":null}}"#.to_owned(),
        Request::NexthopAdd(_) => r#"{"nexthop_added":{"id":9}}"#.to_owned(),
        Request::FibAudit(_) => r#"{"fib_audit":{"cores":[{"core":0,"tables":[254],"ranges_compared":256,"unverified":0,"wrong_addresses":0,"wrong_ranges_not_walked":0,"mismatches":[],"resynced":false,"took_ms":31},{"core":1,"tables":[254,7],"ranges_compared":1793,"unverified":2,"wrong_addresses":257,"wrong_ranges_not_walked":1,"mismatches":[{"table":254,"prefix":"10.0.0.0/8","first":"10.1.2.0","last":"10.1.2.255","found":null,"expected":3},{"table":7,"prefix":null,"first":"12.0.0.20","last":"12.0.0.20","found":0,"expected":null}],"resynced":true,"took_ms":48},{"core":2,"tables":[],"ranges_compared":0,"unverified":0,"wrong_addresses":0,"wrong_ranges_not_walked":0,"mismatches":[],"resynced":false,"error":"the core has no whole table yet (its first replay has not ended)","took_ms":0}]}}"#.to_owned(),
        Request::NexthopShow => r#"{"nexthops":[{"id":0,"kind":"connected","port":"p0","refs":1},{"id":1,"kind":"local","refs":3},{"id":3,"kind":"gateway","gateway":"192.0.2.2","port":"p0","mac":"02:00:00:00:00:02","refs":12},{"id":6,"kind":"blackhole","refs":2}]}"#.to_owned(),
        Request::NeighShow(_) => r#"{"neighbours":[{"addr":"192.0.2.2","port":"p0","mac":"02:00:00:00:00:02","state":"permanent"},{"addr":"198.51.100.7","port":"p1","mac":null,"state":"incomplete"}]}"#.to_owned(),
        Request::AddrShow(_) => r#"{"addresses":[{"port":"p0","addr":"192.0.2.1/24"},{"port":"p1","addr":"198.51.100.1/24"}]}"#.to_owned(),
        Request::LinkShow(_) => r#"{"links":[{"index":0,"name":"p0","backend":"dpdk","up":true,"speed_mbps":10000,"mac":"02:00:00:00:f0:00","mtu":1500,"rx_packets":11,"rx_bytes":1100,"rx_dropped":1,"tx_packets":22,"tx_bytes":2200,"tx_dropped":2},{"index":1,"name":"p1","backend":"none","up":false,"speed_mbps":null,"mac":"02:00:00:00:f0:01","mtu":9000,"rx_packets":123456789,"rx_bytes":1100,"rx_dropped":0,"tx_packets":22,"tx_bytes":2200,"tx_dropped":2}]}"#.to_owned(),
        Request::CoreShow => r#"{"cores":[{"id":0,"name":"fwd0","cpu":2,"state":"forwarding","applied_seq":24,"lag":0,"in_sync":true,"rx_packets":1000,"forwarded":990,"forwarded_pps":14880952,"drops":{"no_route":7,"ttl":3},"punts":{"arp":2},"busy_cycles":900000,"idle_cycles":100000,"busy_permille":605,"cycles_per_packet":131},{"id":1,"name":"fwd1","cpu":null,"state":"replaying","applied_seq":10,"lag":14,"in_sync":false,"rx_packets":0,"forwarded":0,"forwarded_pps":0,"drops":{},"punts":{}}]}"#.to_owned(),
        Request::CoreAdd(c) => format!(r#"{{"core_added":{{"id":2,"cpu":{}}}}}"#, c.cpu.map_or("null".to_owned(), |c| c.to_string())),
        Request::SourceShow => r#"{"sources":[{"name":"kernel","protocol":"kernel","connected":true,"routes":20000,"messages":35000,"resyncs":1,"ignored":4,"refused":0,"last_error":null},{"name":"fpm","protocol":"frr","connected":false,"routes":0,"messages":0,"resyncs":0,"ignored":0,"refused":2,"last_error":"connection reset"}]}"#.to_owned(),
        Request::Stats => {
            // Each call one second and some packets later, so `stats -w` shows fixed
            // rates: fwd0 slow, with 1000-byte frames, busy 60% of its cycles;
            // fwd1 at line rate without byte counts (`count_bytes = false`) or
            // cycle counts (an older daemon).
            let n = STATS_CALLS.fetch_add(1, Ordering::Relaxed);
            format!(
                r#"{{"stats":{{"uptime_ms":{},"fib_seq":24,"cores":[{{"id":0,"name":"fwd0","rx_packets":{},"rx_bytes":{},"tx_packets":{},"tx_bytes":{},"tx_dropped":{},"forwarded":{},"dropped":{},"punted":{},"events_applied":24,"applied_seq":24,"busy_cycles":{},"idle_cycles":{}}},{{"id":1,"name":"fwd1","rx_packets":{},"rx_bytes":0,"tx_packets":{},"tx_bytes":0,"tx_dropped":0,"forwarded":{},"dropped":0,"punted":0,"events_applied":24,"applied_seq":24}}],"ports":[],"control":{{"requests":{},"clients":1,"clients_dropped":0,"punts_handled":0,"arp_requests_sent":2}}}}}}"#,
                5000 + n * 1000, 1000 + n * 500, (1000 + n * 500) * 1000, 990 + n * 490, (990 + n * 490) * 1000, n, 990 + n * 490, 10 + n * 10, n * 2,
                n * 600_000, n * 400_000,
                n * 14_880_952, n * 14_880_952, n * 14_880_952, 37 + n
            )
        }
        _ => return None,
    };
    Some(serde_json::from_str(&json).expect("a canned reply"))
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

#[test]
fn route_file_lines_become_their_targets() {
    let d = FakeDaemon::start();
    let file = d.dir.path().join("routes.txt");
    std::fs::write(
        &file,
        "# both forms in one file\n1.0.0.0/24\t13335\n1.0.4.0/22 56204\n\
         10.0.0.0/8 via 192.0.2.77\n10.1.0.0/16 via 192.0.2.78 dev 0\n\
         10.2.0.0/16 dev 1\n192.168.0.0/16 blackhole\n",
    )
    .unwrap();
    let o = d.run(&[
        "route",
        "load",
        file.to_str().unwrap(),
        "--nexthop",
        "2",
        "--nexthop",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let fib = d.finish();
    let nexthop_at = |a: [u8; 4]| {
        let (_, route) = fib
            .lookup(TableId::MAIN, Ipv4Addr::from(a))
            .unwrap()
            .unwrap();
        fib.nexthop(route.nexthop).unwrap().0
    };
    let gateway = |i: u8| Nexthop::Gateway {
        port: 0,
        gateway: Ipv4Addr::new(192, 0, 2, i),
    };
    // RouteViews lines: AS mod 2 picks --nexthop 2 (192.0.2.12) or 3 (192.0.2.13).
    assert_eq!(nexthop_at([1, 0, 0, 1]), gateway(13)); // 13335 is odd
    assert_eq!(nexthop_at([1, 0, 5, 1]), gateway(12)); // 56204 is even
    assert_eq!(nexthop_at([10, 9, 0, 1]), gateway(77));
    assert_eq!(nexthop_at([10, 1, 0, 1]), gateway(78));
    assert_eq!(nexthop_at([10, 2, 0, 1]), Nexthop::Connected { port: 0 });
    assert_eq!(nexthop_at([192, 168, 1, 1]), Nexthop::Blackhole);
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

/// Every command line below, run as a process: its exit code, stdout and stderr,
/// byte for byte as recorded in `fibrectl/golden.txt` (first from fibrectl as one
/// file, before it was split into `control::cli`). Set FIBRECTL_GOLDEN=record to
/// rewrite the file after an intended change, and read its diff.
#[test]
fn output_matches_the_golden_file() {
    let d = FakeDaemon::start_with(true);
    let dir = d.dir.path().to_str().unwrap().to_owned();
    let file = |name: &str, text: &str| {
        std::fs::write(d.dir.path().join(name), text).unwrap();
        format!("{dir}/{name}")
    };
    let rv = file(
        "rv.txt",
        "; pyasn header\n# comment\n\n1.0.0.0/24\t13335\n1.0.4.0/22\t56203\n1.0.8.0/21 4\n",
    );
    let mixed = file(
        "mixed.txt",
        "1.0.0.0/24\t13335\n10.0.0.0/8 via 192.0.2.1\n10.1.0.0/16 via 192.0.2.2 dev 0\n10.2.0.0/16 dev 1\n192.168.0.0/16 blackhole\n",
    );
    let refused = file("refused.txt", "1.0.0.0/24\t1\n2.0.0.0/24\t2\n");
    let bad: Vec<String> = [
        "10.0.0.1/8\t1",
        "10.0.0.0/8",
        "10.0.0.0/8 via",
        "10.0.0.0/8 via 300.1.1.1",
        "10.0.0.0/8 dev 70000",
        "10.0.0.0/8 dev +1",
        "10.0.0.0/8\t99999999999",
        "10.0.0.0/8 via 1.1.1.1 dev 1 extra",
        "10.0.0.0/33 blackhole",
        "x/8 blackhole",
    ]
    .iter()
    .enumerate()
    .map(|(i, line)| {
        file(
            &format!("bad{i}.txt"),
            &format!("1.0.0.0/24 blackhole\n{line}\n"),
        )
    })
    .collect();

    let mut cases: Vec<Vec<String>> = Vec::new();
    let mut add = |line: &str| {
        cases.push(
            line.split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    };
    // Help and version, at every level.
    for line in [
        "--help",
        "-h",
        "--version",
        "help",
        "help route",
        "route --help",
        "route add --help",
        "route replace --help",
        "route del --help",
        "route show --help",
        "route list --help",
        "route get --help",
        "route load --help",
        "nexthop --help",
        "nexthop add --help",
        "nexthop del --help",
        "nexthop show --help",
        "neigh --help",
        "neighbour add --help",
        "neigh del --help",
        "neigh show --help",
        "addr --help",
        "address add --help",
        "addr del --help",
        "addr show --help",
        "link --help",
        "link show --help",
        "core --help",
        "core show --help",
        "core add --help",
        "core del --help",
        "fib --help",
        "fib status --help",
        "fib audit --help",
        "stats --help",
        "completion --help",
        "source --help",
        "source show --help",
    ] {
        add(line);
    }
    // Every command, as a table and as JSON.
    for line in [
        "route add 10.0.0.0/8 via 192.0.2.1 dev p0 proto kernel metric 7",
        "route add 10.0.0.0/8 via 192.0.2.1 via 192.0.2.2 dev p1",
        "route add 10.0.0.0/8 dev p0 table 7",
        "route add 10.0.0.0/8 blackhole table main",
        "route add 10.0.0.0/8 nexthop 1 distance 3",
        "route add 203.0.113.0/24 blackhole",
        "route replace 10.0.0.0/8 blackhole",
        "route del 10.0.0.0/8 table 7 proto kernel",
        "route show",
        "route list table 7 proto static root 10.0.0.0/8",
        "route show limit 1",
        "route get 10.3.1.1",
        "route get 10.1.2.3 core 1",
        "route get 10.9.9.9 table 7",
        "nexthop add via 192.0.2.1 dev p0",
        "nexthop add dev 1",
        "nexthop add blackhole",
        "nexthop del 3",
        "nexthop show",
        "nexthop list",
        "neigh add 192.0.2.9 lladdr 02:00:00:00:00:09 dev p0",
        "neighbour del 192.0.2.9 dev p0",
        "neigh show",
        "neigh show dev p1",
        "addr add 192.0.2.1/24 dev p0",
        "address del 192.0.2.1/24 dev 1",
        "addr show",
        "addr list dev p0",
        "link show",
        "link show p1",
        "link list 1",
        "core show",
        "core add",
        "core add cpu 3",
        "core del 1",
        "fib status",
        "fib audit",
        "fib audit core 1",
        "fib audit core",
        "fib audit bogus",
        "stats",
        "stats -w -c 3 -i 0.05",
        "stats --watch --count 2 --interval 0.05",
        "source show",
        "source list",
    ] {
        add(line);
        add(&format!("-j {line}"));
    }
    // Route files.
    for line in [
        format!("route load {rv} --nexthop 1"),
        format!("route load {rv} --nexthop 1 --nexthop 2 --batch 2"),
        format!("route load {rv} --via 192.0.2.1 --dev p0 --window 1 --batch 1"),
        format!("route load {mixed} --nexthop 3 --table main --proto kernel"),
        format!("-j route load {mixed} --nexthop 3 --batch 2"),
        format!("route load {refused} --nexthop 40"),
        format!("-j route load {refused} --nexthop 40"),
        format!("route load {rv}"),
        format!("route load {mixed}"),
        format!("route load {rv} --nexthop 1 --via 192.0.2.1"),
        format!("route load {rv} --dev p0"),
        format!("route load {rv} --nexthop 1 --batch 0"),
        format!("route load {rv} --nexthop 1 --window 65"),
        format!("route load {rv} --nexthop 1 --table x"),
        format!("route load {rv} --nexthop 1 --proto bgp"),
        format!("route load {rv} --nexthop x"),
        format!("route load {dir}/absent.txt --nexthop 1"),
        format!("route load {dir} --nexthop 1"),
    ] {
        add(&line);
    }
    for b in &bad {
        add(&format!("route load {b} --nexthop 1"));
    }
    // Bad command lines.
    for line in [
        "",
        "frobnicate",
        "route",
        "route frob",
        "route add",
        "route add 10.1.0.0/8 via 192.0.2.1",
        "route add 10.0.0.0/33 via 192.0.2.1",
        "route add 10.0.0.0 via 192.0.2.1",
        "route add 10.0.0.0/8",
        "route add 10.0.0.0/8 via",
        "route add 10.0.0.0/8 via 192.0.2.300",
        "route add 10.0.0.0/8 via 192.0.2.1 blackhole",
        "route add 10.0.0.0/8 nexthop 1 blackhole",
        "route add 10.0.0.0/8 dev p0 blackhole",
        "route add 10.0.0.0/8 dev p0 nexthop 2",
        "route add 10.0.0.0/8 via 192.0.2.1 dev p0 dev p1",
        "route add 10.0.0.0/8 via 192.0.2.1 via 192.0.2.2 dev p1 dev p2",
        "route add 10.0.0.0/8 blackhole extra",
        "route add 10.0.0.0/8 blackhole proto bgp",
        "route add 10.0.0.0/8 blackhole table x",
        "route add 10.0.0.0/8 blackhole table -1",
        "route add 10.0.0.0/8 blackhole table 99999999999",
        "route add 10.0.0.0/8 blackhole metric 300",
        "route add 10.0.0.0/8 blackhole root 10.0.0.0/8",
        "route add 10.0.0.0/8 nexthop x",
        "route replace 10.0.0.0/8",
        "route del 10.0.0.0/8 via 192.0.2.1",
        "route del 10.0.0.0/8 table",
        "route show root 10.0.0.1/8",
        "route show limit x",
        "route show via 192.0.2.1",
        "route get 10.0.0.300",
        "route get 10.0.0.1 core x",
        "route get 10.0.0.1 proto static",
        "nexthop add",
        "nexthop add nexthop 3",
        "nexthop add via 192.0.2.1 via 192.0.2.2",
        "nexthop add via 192.0.2.1 blackhole",
        "nexthop add table 7 blackhole",
        "nexthop del x",
        "nexthop del",
        "neigh add 192.0.2.9 dev p0",
        "neigh add 192.0.2.9 lladdr zz dev p0",
        "neigh add 192.0.2.9 lladdr 02:00:00:00:00:09",
        "neigh add 192.0.2.x lladdr 02:00:00:00:00:09 dev p0",
        "neigh del 192.0.2.9",
        "neigh del 192.0.2.9 lladdr 02:00:00:00:00:09 dev p0",
        "neigh show via 192.0.2.1",
        "addr add 192.0.2.1/24",
        "addr add 192.0.2.1/40 dev p0",
        "addr add 192.0.2.1 dev p0",
        "addr del 192.0.2.1/24 via 192.0.2.1",
        "addr show dev",
        "link show p0 p1",
        "core add cpu",
        "core add cpu x",
        "core add core 1",
        "core del",
        "core del x",
        "fib",
        "fib frob",
        "stats --count 2",
        "stats --interval 2",
        "stats -w -i 0.01",
        "stats -w -i x",
        "source",
        "-s",
        "--json",
        "-x route show",
        "--force route show",
        "completion",
        "completion tcsh",
    ] {
        add(line);
    }
    let mut got = String::new();
    let sock = d.sock.clone();
    let absent = d.dir.path().join("absent.sock");
    let mut runs: Vec<(String, Output)> = cases
        .iter()
        .map(|args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            (args.join(" "), fibrectl(&sock, &args))
        })
        .collect();
    for args in [&["fib", "status"][..], &["-j", "route", "show"]] {
        runs.push((
            format!("(no daemon) {}", args.join(" ")),
            fibrectl(&absent, args),
        ));
    }
    for (line, o) in &runs {
        let clean = |b: &[u8]| mask_times(&String::from_utf8_lossy(b).replace(&dir, "$DIR"));
        got.push_str(&format!(
            "$ fibrectl {}\nexit {:?}\n--- stdout\n{}--- stderr\n{}\n",
            line.replace(&dir, "$DIR"),
            o.status.code(),
            clean(&o.stdout),
            clean(&o.stderr)
        ));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fibrectl/golden.txt");
    if std::env::var_os("FIBRECTL_GOLDEN").is_some_and(|v| v == "record") {
        std::fs::write(&path, &got).unwrap();
        eprintln!(
            "recorded {} command lines in {}",
            runs.len(),
            path.display()
        );
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap();
    let wanted: Vec<&str> = want.split("\n$ fibrectl ").collect();
    let gotten: Vec<&str> = got.split("\n$ fibrectl ").collect();
    for (w, g) in wanted.iter().zip(&gotten) {
        assert_eq!(g, w, "fibrectl's output changed");
    }
    assert_eq!(gotten.len(), wanted.len(), "a different number of cases");
    eprintln!("{} command lines match {}", runs.len(), path.display());
}

/// `route load` says how long it took: the only output that varies between runs.
fn mask_times(text: &str) -> String {
    text.lines()
        .map(|l| {
            let mut l = l.to_owned();
            if let (Some(a), Some(b)) = (l.find(" batches in "), l.find(" routes/s)")) {
                l.replace_range(a + " batches in ".len()..b, "TIME");
            }
            for key in ["\"seconds\":", "\"routes_per_second\":"] {
                if let Some(a) = l.find(key) {
                    let from = a + key.len();
                    let to = l[from..].find([',', '}']).map_or(l.len(), |n| from + n);
                    l.replace_range(from..to, "T");
                }
            }
            l + "\n"
        })
        .collect()
}

/// The prefixes of the `route add` requests the daemon saw.
fn added(d: &FakeDaemon) -> Vec<String> {
    d.requests()
        .iter()
        .filter_map(|r| match r {
            Request::RouteAdd(spec) => Some(spec.prefix.to_string()),
            _ => None,
        })
        .collect()
}

/// `fibrectl ARGS` with `input` on stdin.
fn fibrectl_stdin(sock: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fibrectl"))
        .arg("-s")
        .arg(sock)
        .args(args)
        .env_remove("FIBRE_SOCKET")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_batch_runs_its_lines_over_one_connection_and_stops_at_the_first_failure() {
    let d = FakeDaemon::start();
    let file = d.dir.path().join("lab routes.txt");
    let name = file.to_str().unwrap();
    std::fs::write(
        &file,
        "# the lab's routes\n\nroute add 10.0.0.0/8 via 192.0.2.1\n  route add 10.1.0.0/16 blackhole   # no comment\nroute add 203.0.113.0/24 blackhole\nroute add 10.2.0.0/16 blackhole\n",
    )
    .unwrap();
    let o = d.run(&["-b", name]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "as `route add` refused: {}",
        stderr(&o)
    );
    assert_eq!(
        stderr(&o),
        format!(
            "fibrectl: {name}:5: route 203.0.113.0/24 from static already exists in table main\n"
        )
    );
    assert_eq!(added(&d), ["10.0.0.0/8", "10.1.0.0/16", "203.0.113.0/24"]);
    assert_eq!(d.connections(), 1);
    // Each line printed what it prints alone: `seq N` for a route added.
    let out = stdout(&o);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("seq ")).count(),
        2,
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");

    // --force: every line runs; the exit code is still the failure's.
    let d = FakeDaemon::start();
    let o = d.run(&["-b", name, "--force"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(&format!("fibrectl: {name}:5: ")),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        added(&d),
        ["10.0.0.0/8", "10.1.0.0/16", "203.0.113.0/24", "10.2.0.0/16"]
    );
    assert_eq!(d.connections(), 2, "a new connection after the refusal");
}

#[test]
fn a_bad_batch_line_exits_2_and_sends_nothing_of_it() {
    let d = FakeDaemon::start();
    // Each case's first line adds a route of its own; the second is wrong.
    let cases = [
        (
            "route add 10.1.0.0/8 via 192.0.2.1\nroute add 10.200.0.0/16 blackhole",
            "host bits are set (did you mean 10.0.0.0/8?)",
        ),
        ("frobnicate", "unrecognized subcommand 'frobnicate'"),
        (
            "route add 'unclosed",
            "unclosed quote or trailing backslash",
        ),
        ("-j route show", "unexpected argument '-j'"),
    ];
    for (i, (second, want)) in cases.into_iter().enumerate() {
        let text = format!("route add 10.{i}.0.0/16 blackhole\n{second}\n");
        let line = 2;
        let before = added(&d).len();
        let o = fibrectl_stdin(&d.sock, &["-b", "-"], &text);
        assert_eq!(o.status.code(), Some(2), "{text:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.starts_with(&format!("fibrectl: stdin:{line}: ")) && err.contains(want),
            "{text:?}: {err}"
        );
        assert_eq!(
            added(&d).len(),
            before + 1,
            "{text:?}: only the first line was sent"
        );
    }
    // The file itself, or -b with a command, are usage errors too.
    let o = d.run(&["-b", "/nonexistent/batch.txt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/batch.txt: No such file"),
        "{}",
        stderr(&o)
    );
    let o = d.run(&["-b", "-", "route", "show"]);
    assert_eq!(o.status.code(), Some(2));
    let o = d.run(&["--force", "route", "show"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn batch_output_is_each_command_s_output_in_order() {
    let d = FakeDaemon::start();
    let lines = ["route show", "nexthop show", "fib status", "link show p1"];
    for json in [false, true] {
        let mut want = String::new();
        for l in lines {
            let mut args: Vec<&str> = if json { vec!["-j"] } else { vec![] };
            args.extend(l.split(' '));
            want.push_str(&stdout(&d.run(&args)));
        }
        let args: &[&str] = if json {
            &["-j", "-b", "-"]
        } else {
            &["-b", "-"]
        };
        let o = fibrectl_stdin(&d.sock, args, &(lines.join("\n") + "\n"));
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), want);
        assert_eq!(stderr(&o), "");
    }
}

#[test]
fn completion_scripts_for_each_shell_name_the_commands() {
    let none = Path::new("/nonexistent.sock");
    for shell in ["bash", "zsh", "fish"] {
        let o = fibrectl(none, &["completion", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for word in [
            "route",
            "nexthop",
            "neigh",
            "stats",
            "load",
            "socket",
            "completion",
        ] {
            assert!(script.contains(word), "{shell}: no {word:?} in\n{script}");
        }
    }
    // bash accepts the script and registers it for fibrectl.
    let o = fibrectl(none, &["completion", "bash"]);
    let dir = temp_dir("completion");
    let path = dir.path().join("fibrectl.bash");
    std::fs::write(&path, &o.stdout).unwrap();
    let bash = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p fibrectl",
            path.display()
        ))
        .output()
        .unwrap();
    assert!(bash.status.success(), "{}", stderr(&bash));
    assert!(stdout(&bash).contains("_fibrectl"), "{}", stdout(&bash));

    let o = fibrectl(none, &["completion", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}
