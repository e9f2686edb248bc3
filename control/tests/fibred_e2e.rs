//! fibred as an operator runs it: a process on DPDK virtual devices, driven only
//! through fibrectl. Routes go in; every core's own DIR-24-8 table (`route get ADDR
//! core N`) agrees with a reference longest-prefix match; bad input of every kind is
//! refused with the state unchanged; a restart keeps what was configured at runtime;
//! a core added while traffic flows forwards once its replay has ended, and traffic
//! follows a route change.
#![cfg(feature = "dpdk")]

use control::proto::FibStatus;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const FIBRED: &str = env!("CARGO_BIN_EXE_fibred");
const FIBRECTL: &str = env!("CARGO_BIN_EXE_fibrectl");

/// A temp dir and a fibred process in it; both go when this is dropped.
struct Daemon {
    dir: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// A fresh directory for a test's daemon, removed when the test ends.
    fn dir(name: &str) -> TempDir {
        tempfile::Builder::new()
            .prefix(&format!("fibre-e2e-{name}-"))
            .tempdir()
            .unwrap()
    }

    fn start(dir: &Path, config: &str) -> Daemon {
        std::fs::write(dir.join("fibred.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join("fibred.log")).unwrap();
        let child = Command::new(FIBRED)
            .arg("-c")
            .arg(dir.join("fibred.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Daemon {
            dir: dir.to_owned(),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.ctl(&["fib", "status"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "fibred did not come up: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("fibred.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(FIBRECTL)
            .arg("-s")
            .arg(self.dir.join("fibred.sock"))
            .args(args)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["-j"];
        a.extend_from_slice(args);
        let out = self.ctl(&a);
        assert!(
            out.status.success(),
            "fibrectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn ok(&self, args: &[&str]) {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "fibrectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until every core has applied the FIB's current seq.
    fn converge(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let st = self.json(&["fib", "status"]);
            let status: FibStatus = serde_json::from_value(st.clone()).unwrap();
            if status.all_in_step() {
                return;
            }
            assert!(Instant::now() < deadline, "cores did not converge: {st}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> i32 {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on the pid of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("fibred did not stop on SIGTERM: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The directory goes with the test, so a failing test shows the log here.
        if std::thread::panicking() {
            eprintln!("---- fibred's log ----\n{}", self.log());
        }
    }
}

/// Two net_null ports that receive nothing, as `config`'s `ports`.
const NULL_PORTS: &str = r#", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1""#;

fn config(dir: &Path, prefix: &str, ports: &str, cores: usize) -> String {
    format!(
        r#"eal = ["--no-huge", "-m", "1024", "--no-pci", "--file-prefix={prefix}", "-l", "0"{ports}]
control_socket = "{dir}/fibred.sock"
state_file = "{dir}/state.journal"

[cores]
count = {cores}
idle = "yield"
rx_ring = 512
tx_ring = 512

[[port]]
name = "p0"
dpdk = "{p0}"
addr = "192.0.2.1/24"

[[port]]
name = "p1"
dpdk = "net_null1"
addr = "198.51.100.1/24"

[[neighbour]]
addr = "198.51.100.2"
mac = "02:00:00:00:00:02"
port = "p1"
"#,
        dir = dir.display(),
        p0 = if ports.contains("net_pcap0") {
            "net_pcap0"
        } else {
            "net_null0"
        },
    )
}

/// The reference: longest-prefix match over (prefix, gateway) pairs, the slow way.
fn reference(routes: &BTreeMap<(u32, u8), Ipv4Addr>, addr: u32) -> Option<Ipv4Addr> {
    (0..=32u8).rev().find_map(|len| {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        routes.get(&(addr & mask, len)).copied()
    })
}

#[test]
fn routes_agree_on_every_core_bad_input_changes_nothing_restart_keeps_them() {
    let tmp = Daemon::dir("routes");
    let dir = tmp.path();
    let cfg = config(dir, "e2e-routes", NULL_PORTS, 2);
    let d = Daemon::start(dir, &cfg);

    // Routes through four gateways on p1, every length from /8 to /32, overlapping.
    let mut rng = SmallRng::seed_from_u64(1812);
    let gws: Vec<Ipv4Addr> = (2..6).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect();
    let mut routes: BTreeMap<(u32, u8), Ipv4Addr> = BTreeMap::new();
    let mut file = String::new();
    while routes.len() < 3000 {
        let len: u8 = rng.random_range(8..=32);
        let addr = (rng.random::<u32>() & 0x0FFF_FFFF | 0x1000_0000) & (u32::MAX << (32 - len));
        let gw = gws[rng.random_range(0..gws.len())];
        if let std::collections::btree_map::Entry::Vacant(e) = routes.entry((addr, len)) {
            e.insert(gw);
            file.push_str(&format!("{}/{len} via {gw}\n", Ipv4Addr::from(addr)));
        }
    }
    std::fs::write(dir.join("routes.txt"), &file).unwrap();
    d.ok(&["route", "load", dir.join("routes.txt").to_str().unwrap()]);
    // A few more one by one: add, replace, delete.
    d.ok(&["route", "add", "172.16.0.0/12", "via", "198.51.100.3"]);
    routes.insert((0xAC10_0000, 12), gws[1]);
    d.ok(&["route", "replace", "172.16.0.0/12", "via", "198.51.100.4"]);
    routes.insert((0xAC10_0000, 12), gws[2]);
    let (&(a, l), _) = routes.iter().nth(100).unwrap();
    d.ok(&["route", "del", &format!("{}/{l}", Ipv4Addr::from(a))]);
    routes.remove(&(a, l));
    // A multipath route: both paths listed, each core resolves it to the group.
    d.ok(&[
        "route",
        "add",
        "100.64.0.0/10",
        "via",
        "198.51.100.2",
        "via",
        "198.51.100.3",
    ]);
    d.converge();
    let shown = d.json(&["route", "show", "root", "100.64.0.0/10"]);
    assert_eq!(
        shown["routes"][0]["via"].as_str(),
        Some("nexthop via 198.51.100.2 dev p1 nexthop via 198.51.100.3 dev p1"),
        "{shown}"
    );
    for core in ["0", "1"] {
        let got = d.json(&["route", "get", "100.64.1.1", "core", core]);
        assert_eq!(got["nexthop"]["kind"].as_str(), Some("multipath"), "{got}");
    }
    // The daemon stamps its last commit and each core's apply on one clock.
    let st = d.json(&["fib", "status"]);
    assert_eq!(st["committed_seq"], st["seq"], "{st}");
    let committed_at = st["committed_at_ns"].as_u64().unwrap();
    assert!(committed_at > 0, "{st}");
    for l in st["listeners"].as_array().unwrap() {
        assert!(
            l["applied_seq"].as_u64() >= st["committed_seq"].as_u64(),
            "{st}"
        );
        assert!(l["applied_at_ns"].as_u64().unwrap() > 0, "{st}");
    }
    let text = String::from_utf8(d.ctl(&["fib", "status"]).stdout).unwrap();
    assert!(text.contains("every listener applied it"), "{text}");
    // Each core's DPDK-fed table, audited against the FIB while it runs: equal.
    let audit = d.json(&["fib", "audit"]);
    let cores = audit["cores"].as_array().unwrap();
    assert_eq!(cores.len(), 2, "{audit}");
    for c in cores {
        assert_eq!(c["wrong_addresses"], 0, "{audit}");
        assert!(c["ranges_compared"].as_u64().unwrap() >= 256, "{audit}");
        assert!(
            c.get("error").is_none() && c["resynced"] == false,
            "{audit}"
        );
    }

    // Every core answers from its own table, exactly as the reference does.
    let mut probes: Vec<u32> = (0..60)
        .map(|_| rng.random::<u32>() & 0x0FFF_FFFF | 0x1000_0000)
        .collect();
    for (&(addr, len), _) in routes.iter().step_by(50) {
        probes.push(addr);
        probes.push(addr | if len == 32 { 0 } else { u32::MAX >> len });
    }
    for core in ["0", "1"] {
        for &p in &probes {
            let addr = Ipv4Addr::from(p).to_string();
            let got = d.json(&["route", "get", &addr, "core", core]);
            let gw = got["nexthop"]["gateway"]
                .as_str()
                .map(|g| g.parse::<Ipv4Addr>().unwrap());
            assert_eq!(gw, reference(&routes, p), "core {core}, {addr}: {got}");
        }
    }

    // Bad input of every kind: a clear error, a nonzero exit, and nothing changes.
    let before_routes = d.json(&["route", "show"]);
    let before_seq = d.json(&["fib", "status"])["seq"].clone();
    let bad: &[&[&str]] = &[
        &["route", "add", "10.0.0.1/8", "via", "198.51.100.2"],
        &["route", "add", "10.0.0.0/33", "via", "198.51.100.2"],
        &["route", "add", "10.0.0.0/8", "via", "203.0.113.1"],
        &[
            "route",
            "add",
            "10.0.0.0/8",
            "via",
            "198.51.100.2",
            "dev",
            "p9",
        ],
        &["route", "add", "10.0.0.0/8", "nexthop", "999"],
        &[
            "route",
            "add",
            "10.0.0.0/8",
            "via",
            "198.51.100.2",
            "table",
            "7",
        ],
        &["route", "add", "172.16.0.0/12", "via", "198.51.100.2"],
        &[
            "route",
            "add",
            "100.128.0.0/16",
            "via",
            "198.51.100.2",
            "via",
            "198.51.100.2",
        ],
        &[
            "route",
            "add",
            "100.128.0.0/16",
            "via",
            "198.51.100.2",
            "via",
            "203.0.113.1",
        ],
        &["route", "del", "203.0.113.0/24"],
        &["route", "get", "300.1.1.1"],
        &["route", "get", "10.1.1.1", "core", "9"],
        &["nexthop", "del", "0"],
        &[
            "neigh",
            "add",
            "198.51.100.9",
            "lladdr",
            "ff:ff:ff:ff:ff:ff",
            "dev",
            "p1",
        ],
        &["neigh", "del", "198.51.100.77", "dev", "p1"],
        &["addr", "del", "203.0.113.1/24", "dev", "p0"],
        &["core", "del", "42"],
        &["route", "frobnicate"],
    ];
    for args in bad {
        let out = d.ctl(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(!out.stderr.is_empty(), "{args:?} gave no error message");
    }
    let missing = dir.join("nope.txt");
    assert!(!d
        .ctl(&["route", "load", missing.to_str().unwrap()])
        .status
        .success());
    assert_eq!(d.json(&["route", "show"]), before_routes);
    assert_eq!(d.json(&["fib", "status"])["seq"], before_seq);

    // A restart keeps what was configured at runtime (the journal).
    assert_eq!(d.stop(), 0, "clean shutdown on SIGTERM");
    let d = Daemon::start(dir, &cfg);
    assert_eq!(d.json(&["route", "show"]), before_routes);
    d.converge();
    let probe = Ipv4Addr::from(probes[0]).to_string();
    let got = d.json(&["route", "get", &probe, "core", "1"]);
    assert_eq!(
        got["nexthop"]["gateway"]
            .as_str()
            .map(|g| g.parse::<Ipv4Addr>().unwrap()),
        reference(&routes, probes[0])
    );
    assert_eq!(d.stop(), 0);
}

/// 64-byte UDP frames from 192.0.2.10 to 10.i.x.1, in a pcap the generator replays.
fn write_pcap(path: &Path) {
    let mut out = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for i in 0..64u8 {
        let mut ip = vec![
            0x45,
            0,
            0,
            46,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
            192,
            0,
            2,
            10,
            10,
            i,
            i.wrapping_mul(7),
            1,
        ];
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        // To p0's MAC, which is net_pcap0's own (no `mac` configured): DPDK's pcap
        // driver names its first device 02:70:63:61:70:00 ("pcap"). The cores drop
        // unicast frames for any other MAC (l2_other_host).
        let mut frame = vec![2, 0x70, 0x63, 0x61, 0x70, 0, 2, 0, 0, 0, 0, 0x10, 8, 0];
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&[0x03, 0xe8, 0x07, 0xd0, 0, 26, 0, 0]);
        frame.resize(60, 0);
        out.write_packet(&PcapPacket::new(Duration::ZERO, frame.len() as u32, &frame))
            .unwrap();
    }
}

fn core_stats(d: &Daemon, id: u64) -> Value {
    d.json(&["core", "show"])
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"].as_u64() == Some(id))
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn core_added_under_traffic_forwards_after_its_replay_and_traffic_follows_routes() {
    let tmp = Daemon::dir("traffic");
    let dir = tmp.path();
    let pcap = dir.join("gen.pcap");
    write_pcap(&pcap);
    let p = pcap.display();
    // Two RX queues replaying the frames forever (one per core, plus the spare).
    let ports = format!(
        r#", "--vdev=net_pcap0,rx_pcap={p},rx_pcap={p},tx_pcap=/dev/null,tx_pcap=/dev/null,infinite_rx=1", "--vdev=net_null1,no-rx=1""#
    );
    let cfg = config(dir, "e2e-traffic", &ports, 1);
    let d = Daemon::start(dir, &cfg);
    d.ok(&["route", "add", "10.0.0.0/8", "via", "198.51.100.2"]);
    // A realistic table besides: 20k routes the core has to be replayed.
    let file: String = (0..20_000u32)
        .map(|i| {
            format!(
                "{}/24 via 198.51.100.3\n",
                Ipv4Addr::from(0x2000_0000 + (i << 8))
            )
        })
        .collect();
    std::fs::write(dir.join("bulk.txt"), file).unwrap();
    d.ok(&["route", "load", dir.join("bulk.txt").to_str().unwrap()]);
    d.converge();
    std::thread::sleep(Duration::from_millis(300));
    let c0 = core_stats(&d, 0);
    assert!(
        c0["forwarded"].as_u64().unwrap() > 0,
        "core 0 forwards: {c0}"
    );
    // Its CPU accounting over the interval since the last `core show`: a core that
    // received packets was busy some of the time, for some cycles per packet.
    let n = |c: &Value, k: &str| c[k].as_u64().unwrap();
    assert!(n(&c0, "busy_cycles") > 0, "{c0}");
    std::thread::sleep(Duration::from_millis(200));
    let c0 = core_stats(&d, 0);
    assert!(
        (1..=1000).contains(&n(&c0, "busy_permille")) && n(&c0, "cycles_per_packet") > 0,
        "{c0}"
    );

    // A core joins while traffic flows: replayed, then forwarding its own queue.
    let added = d.json(&["core", "add"]);
    assert_eq!(added["id"], 1);
    d.converge();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c1 = core_stats(&d, 1);
        if c1["forwarded"].as_u64().unwrap_or(0) > 1000 {
            assert_eq!(c1["in_sync"], true);
            assert!(
                c1["punts"].get("no_route").is_none(),
                "a partial table would punt: {c1}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "core 1 never forwarded: {c1}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Traffic follows a route change: to a blackhole, counted as such.
    d.ok(&["route", "replace", "10.0.0.0/8", "blackhole"]);
    d.converge();
    std::thread::sleep(Duration::from_millis(200));
    let f0 = core_stats(&d, 0)["forwarded"].as_u64().unwrap();
    let b0 = core_stats(&d, 0)["drops"]["blackhole"]
        .as_u64()
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(500));
    let after = core_stats(&d, 0);
    assert_eq!(
        after["forwarded"].as_u64().unwrap(),
        f0,
        "nothing forwarded after the blackhole"
    );
    assert!(
        after["drops"]["blackhole"].as_u64().unwrap() > b0,
        "{after}"
    );

    d.ok(&["core", "del", "1"]);
    assert_eq!(d.json(&["core", "show"]).as_array().unwrap().len(), 1);
    assert_eq!(d.stop(), 0);
}

#[test]
fn a_single_queue_device_runs_one_core_and_core_add_says_why() {
    let tmp = Daemon::dir("onequeue");
    let dir = tmp.path();
    let pcap = dir.join("gen.pcap");
    write_pcap(&pcap);
    let p = pcap.display();
    // One rx_pcap and one tx_pcap: net_pcap has a single queue pair. Two cores are
    // configured; fibred starts with the one the device allows.
    let ports = format!(
        r#", "--vdev=net_pcap0,rx_pcap={p},tx_pcap=/dev/null,infinite_rx=1", "--vdev=net_null1,no-rx=1""#
    );
    let cfg = config(dir, "e2e-onequeue", &ports, 2);
    let d = Daemon::start(dir, &cfg);
    d.ok(&["route", "add", "10.0.0.0/8", "via", "198.51.100.2"]);
    d.converge();
    let cores = d.json(&["core", "show"]);
    assert_eq!(cores.as_array().unwrap().len(), 1, "{cores}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while core_stats(&d, 0)["forwarded"].as_u64().unwrap_or(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "core 0 forwards on the one queue"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = d.ctl(&["core", "add"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no free queue pair") && err.contains("net_pcap0"),
        "core add names the limiting device: {err}"
    );
    assert!(d.log().contains("core not started"), "{}", d.log());
    assert_eq!(d.stop(), 0);
}

#[test]
fn an_invalid_configuration_exits_2_naming_file_line_and_column() {
    let tmp = Daemon::dir("badconfig");
    let dir = tmp.path();
    for (text, place) in [
        (
            "[fib]\nmax_tbl8_groups = 100000\n",
            ":2:19: fib.max_tbl8_groups",
        ),
        (
            "[cores]\ncpus = [100000]\n",
            ":2:9: CPU 100000 is not online",
        ),
    ] {
        let path = dir.join("fibred.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(FIBRED).arg("-c").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains(&format!("fibred.toml{place}")),
            "{text}: {err}"
        );
    }
}

/// A port nothing listens on now (the kernel's pick for port 0).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over HTTP/1.0: (status line and headers, body).
fn http_get(port: u16, path: &str) -> (String, String) {
    try_http_get(port, path, "*/*").unwrap()
}

/// The same with an Accept header; an error if nothing listens (yet).
fn try_http_get(port: u16, path: &str, accept: &str) -> std::io::Result<(String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Ok((head.to_string(), body.to_string()))
}

/// A Prometheus server of Debian's package, scraping `target` every second; killed
/// (by its PID) on drop.
struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, target: u16) -> Prometheus {
        let dir = dir.join("prometheus");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: fibred\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian's package; make deps installs it)");
        Prometheus { child, port, dir }
    }

    /// An instant query's single value, if the result has exactly one series.
    fn value(&self, query: &str) -> Option<f64> {
        let (head, body) =
            try_http_get(self.port, &format!("/api/v1/query?query={query}"), "*/*").ok()?;
        if !head.contains(" 200 ") {
            return None;
        }
        let v: Value = serde_json::from_str(&body).ok()?;
        let result = v["data"]["result"].as_array()?;
        match result.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The cores' forwarded packets, as `fibrectl -j stats` gives them.
fn forwarded(d: &Daemon) -> u64 {
    d.json(&["stats"])["cores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["forwarded"].as_u64().unwrap())
        .sum()
}

#[test]
fn prometheus_scrapes_the_metrics_endpoint_and_sees_what_fibrectl_sees() {
    let tmp = Daemon::dir("metrics");
    let dir = tmp.path();
    let pcap = dir.join("gen.pcap");
    write_pcap(&pcap);
    let ports = format!(
        r#", "--vdev=net_pcap0,rx_pcap={},tx_pcap=/dev/null", "--vdev=net_null1,no-rx=1""#,
        pcap.display()
    );
    let metrics = free_port();
    let cfg = config(dir, "e2e-metrics", &ports, 1)
        + &format!(
            "\n[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"198.51.100.2\"\n\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n"
        );
    let d = Daemon::start(dir, &cfg);
    // The pcap's 64 frames, read once, all forwarded by the configured route.
    let deadline = Instant::now() + Duration::from_secs(30);
    while forwarded(&d) < 64 {
        assert!(Instant::now() < deadline, "{}", d.json(&["stats"]));
        std::thread::sleep(Duration::from_millis(50));
    }

    // The endpoint: OpenMetrics to whom asks for it, as Prometheus does...
    let (head, body) = try_http_get(
        metrics,
        "/metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )
    .unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    for line in [
        "fibre_core_forwarded_packets_total{core=\"core0\"} 64",
        "fibre_core_rx_packets_total{core=\"core0\",port=\"p0\"} 64",
        "fibre_routes{table=\"254\",protocol=\"static\"} 1",
        "fibre_fib_listener_in_sync{listener=\"core0\"} 1",
        "fibre_source_connected{source=\"kernel\",protocol=\"kernel\"} 0",
    ] {
        if line.contains("source=") {
            // No route source is configured here: no source series at all.
            assert!(!body.contains("fibre_source_connected{"), "{body}");
            continue;
        }
        assert!(body.lines().any(|l| l == line), "no {line:?} in:\n{body}");
    }
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    // The core was busy with the 64 frames and has been idle since.
    let sample = |name: &str| -> u64 {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{{core=\"core0\"}} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{body}"))
    };
    assert!(sample("fibre_core_busy_cycles_total") > 0, "{body}");
    assert!(sample("fibre_core_idle_cycles_total") > 0, "{body}");
    // Since the daemon started (the first scrape): busy some of the time, for some
    // cycles per packet.
    assert!(sample("fibre_core_cycles_per_packet") > 0, "{body}");
    let ratio: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("fibre_core_busy_ratio{core=\"core0\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(ratio > 0.0 && ratio < 1.0, "{body}");
    // ...and the classic text format to others, which promtool checks.
    let (head, body) = http_get(metrics, "/metrics");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(
        body.lines()
            .any(|l| l == "fibre_core_forwarded_packets_total{core=\"core0\"} 64"),
        "{body}"
    );
    let check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(body.as_bytes())?;
            c.wait_with_output()
        })
        .expect("promtool (Debian's prometheus package)");
    assert!(
        check.status.success(),
        "promtool check metrics: {}{}\n{body}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let (head, _) = http_get(metrics, "/nothing");
    assert!(head.contains(" 404 "), "{head}");

    // A real Prometheus scraping every second: its value of the forwarded counter
    // is fibrectl's, read before and after the query (the counters are still: the
    // pcap was read once).
    let prom = Prometheus::start(dir, metrics);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let before = forwarded(&d);
        let scraped = prom.value("fibre_core_forwarded_packets_total");
        let after = forwarded(&d);
        if let Some(v) = scraped {
            assert_eq!(before, after, "the counters move without traffic");
            assert_eq!(v, before as f64, "Prometheus has {v}, fibrectl {before}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped fibred: {}",
            prom.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(prom.value("up"), Some(1.0), "{}", prom.log());
    drop(prom);
    assert_eq!(d.stop(), 0);
}

/// One command on DPDK's telemetry socket (`dpdk_telemetry.v2`, a SOCK_SEQPACKET
/// socket): the JSON answer.
fn telemetry(socket: &Path, cmd: &str) -> Value {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain socket calls on a descriptor this function owns and closes;
    // every buffer passed is valid for the length given.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let path = socket.as_os_str().as_bytes();
        assert!(path.len() < addr.sun_path.len());
        for (d, s) in addr.sun_path.iter_mut().zip(path) {
            *d = *s as libc::c_char;
        }
        let rc = libc::connect(
            fd,
            &addr as *const libc::sockaddr_un as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        );
        assert_eq!(
            rc,
            0,
            "connect {}: {}",
            socket.display(),
            std::io::Error::last_os_error()
        );
        let mut buf = vec![0u8; 1 << 16];
        // The greeting (version, pid, max output length), then the answer.
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        assert!(n > 0, "no greeting");
        let w = libc::write(fd, cmd.as_ptr().cast(), cmd.len());
        assert_eq!(w, cmd.len() as isize);
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        assert!(n > 0, "no answer to {cmd}");
        serde_json::from_slice(&buf[..n as usize]).unwrap()
    }
}

#[test]
fn dpdk_telemetry_answers_fibres_own_commands() {
    let tmp = Daemon::dir("telemetry");
    let dir = tmp.path();
    let cfg = config(dir, "e2e-telemetry", NULL_PORTS, 2) + "\n[metrics]\nenabled = false\n";
    let d = Daemon::start(dir, &cfg);
    d.ok(&["route", "add", "10.0.0.0/8", "via", "198.51.100.2"]);
    d.converge();
    let socket = Path::new("/var/run/dpdk/e2e-telemetry/dpdk_telemetry.v2");
    let listed = telemetry(socket, "/");
    let cmds = listed["/"].as_array().unwrap();
    for c in [
        "/fibre/cores",
        "/fibre/fib",
        "/fibre/routes/count",
        "/fibre/ports",
        "/ethdev/stats",
    ] {
        assert!(cmds.iter().any(|x| x == c), "{c} not in {listed}");
    }
    let cores = telemetry(socket, "/fibre/cores");
    let cores = &cores["/fibre/cores"];
    let fib = d.json(&["fib", "status"]);
    for name in ["core0", "core1"] {
        let c = &cores[name];
        assert_eq!(c["state"], "live", "{cores}");
        assert_eq!(c["applied_seq"], fib["seq"], "{cores} {fib}");
    }
    let routes = telemetry(socket, "/fibre/routes/count");
    assert_eq!(routes["/fibre/routes/count"]["static"], 1, "{routes}");
    assert_eq!(
        routes["/fibre/routes/count"]["total"], fib["prefixes"],
        "{routes}"
    );
    let ports = telemetry(socket, "/fibre/ports");
    assert_eq!(ports["/fibre/ports"]["p1"]["up"], 1, "{ports}");
    assert_eq!(d.stop(), 0);
}

/// A `monitor` subscription over the control socket, read with a timeout.
struct Subscription {
    client: control::cli::ControlClient,
    id: u64,
}

impl Subscription {
    fn new(d: &Daemon, topics: Vec<control::monitor::Topic>) -> Subscription {
        let mut client = control::cli::ControlClient::connect(d.dir.join("fibred.sock")).unwrap();
        client
            .set_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let id = client
            .send(&control::proto::Request::Monitor(
                control::monitor::MonitorRequest { topics },
            ))
            .unwrap();
        // Subscribed once a turn has passed: a request answered after it.
        d.ok(&["fib", "status"]);
        Subscription { client, id }
    }

    /// The next event, or None after the read timeout.
    fn next(&mut self) -> Option<control::monitor::MonitorEvent> {
        match self.client.recv() {
            Ok((id, Ok(control::proto::Reply::Event(e)))) => {
                assert_eq!(id, Some(self.id));
                Some(e)
            }
            Ok(other) => panic!("not an event: {other:?}"),
            Err(_) => None,
        }
    }
}

#[test]
fn monitor_sees_route_neighbour_core_and_replay_events_in_seq_order() {
    use control::monitor::Event;
    let tmp = Daemon::dir("monitor");
    let dir = tmp.path();
    let cfg = config(dir, "e2e-monitor", NULL_PORTS, 1) + "\n[metrics]\nenabled = false\n";
    let d = Daemon::start(dir, &cfg);
    d.converge();
    let mut sub = Subscription::new(&d, Vec::new());
    d.ok(&["route", "add", "10.1.0.0/16", "via", "198.51.100.2"]);
    d.ok(&["route", "add", "10.2.0.0/16", "via", "198.51.100.2"]);
    d.ok(&["route", "del", "10.1.0.0/16"]);
    d.ok(&[
        "neigh",
        "add",
        "198.51.100.9",
        "lladdr",
        "02:00:00:00:00:09",
        "dev",
        "p1",
    ]);
    d.ok(&["neigh", "del", "198.51.100.9", "dev", "p1"]);
    d.ok(&["core", "add"]);
    d.converge();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let wanted = |got: &[control::monitor::MonitorEvent]| {
        got.iter().any(|e| {
            matches!(&e.event, Event::Fib { listener, action, .. } if listener == "core1" && action == "replay_end")
        })
    };
    while !wanted(&got) {
        assert!(Instant::now() < deadline, "events so far: {got:#?}");
        if let Some(e) = sub.next() {
            got.push(e);
        }
    }
    let lines: Vec<String> = got.iter().map(|e| e.to_string()).collect();
    // In seq order, nothing lost.
    assert!(got.windows(2).all(|w| w[0].seq <= w[1].seq), "{lines:#?}");
    assert!(
        !got.iter().any(|e| matches!(e.event, Event::Lost { .. })),
        "{lines:#?}"
    );
    let routes: Vec<(String, String)> = got
        .iter()
        .filter_map(|e| match &e.event {
            // The static neighbour's host route (a /32) comes and goes too.
            Event::Route { prefix, action, .. } if prefix.starts_with("10.") => {
                Some((action.clone(), prefix.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("add".to_string(), "10.1.0.0/16".to_string()),
            ("add".into(), "10.2.0.0/16".into()),
            ("del".into(), "10.1.0.0/16".into()),
        ],
        "{lines:#?}"
    );
    // Route seqs are the FIB's: distinct and increasing.
    let seqs: Vec<u64> = got
        .iter()
        .filter(|e| matches!(e.event, Event::Route { .. }))
        .map(|e| e.seq)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{lines:#?}");
    let neigh: Vec<(String, String)> = got
        .iter()
        .filter_map(|e| match &e.event {
            Event::Neigh { addr, from, to, .. } if addr.to_string() == "198.51.100.9" => {
                Some((from.clone(), to.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        neigh,
        [
            ("none".to_string(), "permanent".to_string()),
            ("permanent".into(), "none".into()),
        ],
        "{lines:#?}"
    );
    let pos = |f: &dyn Fn(&Event) -> bool| got.iter().position(|e| f(&e.event));
    let started = pos(
        &|e| matches!(e, Event::Core { name, action, .. } if name == "core1" && action == "started"),
    );
    let begin = pos(
        &|e| matches!(e, Event::Fib { listener, action, .. } if listener == "core1" && action == "replay_begin"),
    );
    let end = pos(
        &|e| matches!(e, Event::Fib { listener, action, .. } if listener == "core1" && action == "replay_end"),
    );
    assert!(
        started.is_some() && begin.is_some() && end.is_some(),
        "{lines:#?}"
    );
    assert!(started <= begin && begin < end, "{lines:#?}");
    // The route events came before the core's, as the requests did.
    assert!(
        got.iter()
            .position(|e| matches!(e.event, Event::Route { .. }))
            < started,
        "{lines:#?}"
    );
    assert_eq!(d.stop(), 0);
}

#[test]
fn a_slow_monitor_subscriber_gets_a_lost_record_and_the_control_loop_stays_quick() {
    use control::monitor::{Event, Topic};
    let tmp = Daemon::dir("slowmon");
    let dir = tmp.path();
    let cfg = config(dir, "e2e-slowmon", NULL_PORTS, 1) + "\n[metrics]\nenabled = false\n";
    let d = Daemon::start(dir, &cfg);
    d.converge();
    let mut sub = Subscription::new(&d, vec![Topic::Route]);
    // 50,000 route changes the subscriber does not read meanwhile: far more than
    // its queue (4,096 events) and the socket's buffers hold.
    const N: u32 = 50_000;
    let file: String = (0..N)
        .map(|i| {
            format!(
                "{}/24 via 198.51.100.3\n",
                Ipv4Addr::from(0x2000_0000 + (i << 8))
            )
        })
        .collect();
    std::fs::write(dir.join("bulk.txt"), file).unwrap();
    d.ok(&["route", "load", dir.join("bulk.txt").to_str().unwrap()]);
    // While it does not read: the control loop answers at once.
    let mut client = control::cli::ControlClient::connect(dir.join("fibred.sock")).unwrap();
    let mut worst = Duration::ZERO;
    for _ in 0..200 {
        let t = Instant::now();
        client.call(&control::proto::Request::FibStatus).unwrap();
        worst = worst.max(t.elapsed());
    }
    let stats = d.json(&["stats"]);
    eprintln!(
        "slow subscriber: worst fib status round trip {worst:?} over 200; control turns (le_us, turns): {}",
        stats["control"]["turn_us"]
    );
    assert!(worst < Duration::from_millis(250), "{worst:?}");
    // Now it reads: some events, then one record of what it missed, and every
    // route change is either delivered or counted in it.
    let mut delivered = 0u64;
    let mut lost = 0u64;
    let mut last_seq = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered + lost < u64::from(N) {
        assert!(
            Instant::now() < deadline,
            "{delivered} delivered, {lost} lost"
        );
        let Some(e) = sub.next() else { continue };
        assert!(e.seq >= last_seq);
        last_seq = e.seq;
        match e.event {
            Event::Route { .. } => delivered += 1,
            Event::Lost { events } => lost += events,
            other => panic!("not a route event: {other:?}"),
        }
    }
    eprintln!("slow subscriber: {delivered} delivered, {lost} reported lost");
    assert_eq!(delivered + lost, u64::from(N));
    assert!(lost > 0 && delivered >= 4096, "{delivered} {lost}");
    // It is still subscribed, and hears what happens next.
    d.ok(&["route", "add", "10.9.0.0/16", "via", "198.51.100.2"]);
    let e = loop {
        assert!(Instant::now() < deadline);
        if let Some(e) = sub.next() {
            break e;
        }
    };
    assert!(
        matches!(&e.event, Event::Route { prefix, .. } if prefix == "10.9.0.0/16"),
        "{e}"
    );
    assert_eq!(d.stop(), 0);
}
