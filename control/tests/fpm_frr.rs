//! fibred fed by real FRR: zebra (`-M dplane_fpm_nl`) and staticd from Debian's
//! `frr` package run in a network namespace as user frr, next to fibred. fibre's
//! `frr` routes must equal zebra's selected routes (`show ip route json`), ECMP and
//! blackholes included, and must converge across a zebra restart with a changed
//! static configuration: stale routes go, new ones come, unchanged ones are never
//! missing (sampled continuously) and are not removed by the resync (fibred's own
//! account of what it swept). And when the FPM connection is cut twice in the
//! middle of zebra's dump of a changed table (`ss -K`, with the namespace's
//! loopback rate limited so the dump takes seconds), fibre ends equal to zebra, with
//! one resync, after the whole dump, sweeping exactly the routes zebra dropped.
#![cfg(feature = "dpdk")]

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FIBRED: &str = env!("CARGO_BIN_EXE_fibred");
const FIBRECTL: &str = env!("CARGO_BIN_EXE_fibrectl");
const ZEBRA: &str = "/usr/lib/frr/zebra";
const STATICD: &str = "/usr/lib/frr/staticd";

/// The namespace, the temp dir and every process started; all go on drop, test
/// failure included.
struct Lab {
    ns: String,
    dir: PathBuf,
    procs: Vec<(&'static str, Child)>,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Lab {
    /// A lab named after the process and `tag` (tests of one file run at once).
    fn new(tag: &str) -> Lab {
        let pid = std::process::id();
        let ns = format!("fibre-fpm-{pid}-{tag}");
        let dir = std::env::temp_dir().join(format!("fibre-fpm-{pid}-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            ns,
            dir,
            procs: Vec::new(),
        };
        run(Command::new("ip").args(["netns", "add", &lab.ns]));
        for args in [
            "link set lo up",
            // zebra's side of the fibre ports' subnet: the gateways below are on it,
            // so staticd's routes through them are active.
            "link add d0 type veth peer name d1",
            "addr add 192.0.2.254/24 dev d0",
            "link set d0 up",
            "link set d1 up",
        ] {
            run(Command::new("ip")
                .args(["-n", &lab.ns])
                .args(args.split(' ')));
        }
        run(Command::new("chown").args(["-R", "frr:frr"]).arg(&lab.dir));
        lab
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }

    fn spawn(&mut self, name: &'static str, program: &str, args: &[String]) {
        let log = std::fs::File::create(self.path(&format!("{name}.out"))).unwrap();
        // `ip netns exec` execs the program: the child's pid is the program's.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, program])
            .args(args)
            .env("FIBRE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.procs.push((name, child));
    }

    /// SIGTERM to one process started here, and wait for it.
    fn stop(&mut self, name: &str) {
        let i = self.procs.iter().position(|(n, _)| *n == name).unwrap();
        let (_, mut child) = self.procs.remove(i);
        // SAFETY: kill(2) on the pid of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn frr_args(&self, daemon: &str) -> Vec<String> {
        let d = self.dir.display();
        let mut a: Vec<String> = ["-u", "frr", "-g", "frr", "-A", "127.0.0.1", "-P", "0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend([
            format!("--vty_socket={d}"),
            format!("-z{d}/zserv.api"),
            format!("-f{d}/{daemon}.conf"),
            format!("-i{d}/{daemon}.pid"),
            format!("--log=file:{d}/{daemon}.log"),
        ]);
        a
    }

    fn write_frr_conf(&self, daemon: &str, text: &str) {
        let p = self.path(&format!("{daemon}.conf"));
        std::fs::write(&p, text).unwrap();
        run(Command::new("chown").args(["frr:frr"]).arg(&p));
    }

    fn start_frr(&mut self, statics: &str) {
        self.start_frr_with(statics, true);
    }

    /// zebra and staticd; zebra connects to fibred's FPM server at once when
    /// `fpm`, and only on [`Lab::connect_fpm`] otherwise.
    fn start_frr_with(&mut self, statics: &str, fpm: bool) {
        let fpm = if fpm { FPM_ADDRESS } else { "" };
        self.write_frr_conf("zebra", &format!("hostname fibre-fpm-test\n{fpm}\n"));
        self.write_frr_conf("staticd", statics);
        let mut z = self.frr_args("zebra");
        z.extend(["-M".into(), "dplane_fpm_nl".into()]);
        self.spawn("zebra", ZEBRA, &z);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.path("zserv.api").exists() {
            assert!(
                Instant::now() < deadline,
                "zebra did not start: {}",
                self.file("zebra.out") + &self.file("zebra.log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let s = self.frr_args("staticd");
        self.spawn("staticd", STATICD, &s);
    }

    /// zebra first: stopping staticd first would make zebra withdraw staticd's
    /// routes (over FPM too) before it goes, which is not a restart.
    fn stop_frr(&mut self) {
        self.stop("zebra");
        self.stop("staticd");
        let _ = std::fs::remove_file(self.path("zserv.api"));
    }

    /// A file of the temp dir, without terminal colour sequences.
    fn file(&self, f: &str) -> String {
        let raw = std::fs::read_to_string(self.path(f)).unwrap_or_default();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // ESC [ ... letter
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Gives a zebra started without it the FPM address: it connects then.
    fn connect_fpm(&self) {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns, "vtysh"])
            .arg(format!("--vty_socket={}", self.dir.display()))
            .args(["-c", "configure terminal", "-c", FPM_ADDRESS]));
    }

    fn vtysh_routes(&self) -> Value {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "vtysh"])
            .arg(format!("--vty_socket={}", self.dir.display()))
            .args(["-c", "show ip route json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// fibred in the lab's namespace with the FPM server, plus `extra` config.
    fn start_fibred(&mut self, extra: &str) {
        let cfg = format!(
            r#"eal = ["--no-huge", "-m", "512", "--no-pci", "--file-prefix={ns}", "-l", "0", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"]
control_socket = "{dir}/fibred.sock"

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

[fpm]
listen = "127.0.0.1:2620"
{extra}"#,
            ns = self.ns,
            dir = self.dir.display()
        );
        std::fs::write(self.path("fibred.toml"), cfg).unwrap();
        let args = vec![
            "-c".to_string(),
            self.path("fibred.toml").display().to_string(),
        ];
        self.spawn("fibred", FIBRED, &args);
        let deadline = Instant::now() + Duration::from_secs(30);
        while ctl(&self.dir, &["fib", "status"]).is_none() {
            assert!(
                Instant::now() < deadline,
                "fibred did not come up: {}",
                self.file("fibred.out")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, c) in self.procs.iter_mut().rev() {
            // SAFETY: kill(2) on the pid of our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        for (_, c) in self.procs.iter_mut().rev() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("logs kept in {}", self.dir.display());
        }
    }
}

/// `fibrectl -j ARGS`, or `None` if it failed.
fn ctl(dir: &Path, args: &[&str]) -> Option<Value> {
    let out = Command::new(FIBRECTL)
        .arg("-s")
        .arg(dir.join("fibred.sock"))
        .arg("-j")
        .args(args)
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// A route as both sides can say it: prefix -> sorted gateways, or "blackhole".
type Table = BTreeMap<String, String>;

fn gateways_in(words: &str) -> Vec<String> {
    let w: Vec<&str> = words.split_whitespace().collect();
    let mut g: Vec<String> = w
        .windows(2)
        .filter(|p| p[0] == "via")
        .map(|p| p[1].to_string())
        .collect();
    g.sort();
    g.dedup();
    g
}

fn fibre_table(dir: &Path) -> Option<Table> {
    let v = ctl(dir, &["route", "show", "proto", "frr"])?;
    let list = v
        .as_array()
        .cloned()
        .or_else(|| v["routes"].as_array().cloned())
        .unwrap_or_else(|| panic!("route show: {v}"));
    Some(
        list.iter()
            .filter(|r| r["installed"] == true)
            .map(|r| {
                let via = r["via"].as_str().unwrap_or_default();
                let g = gateways_in(via);
                let t = if g.is_empty() {
                    via.trim().to_string()
                } else {
                    g.join(",")
                };
                (r["prefix"].as_str().unwrap().to_string(), t)
            })
            .collect(),
    )
}

/// zebra's selected routes other than connected/kernel/local ones.
fn zebra_table(v: &Value) -> Table {
    let mut t = Table::new();
    let Some(map) = v.as_object() else {
        return t;
    };
    for (prefix, entries) in map {
        for e in entries.as_array().into_iter().flatten() {
            let proto = e["protocol"].as_str().unwrap_or_default();
            if e["selected"] != true || ["connected", "kernel", "local"].contains(&proto) {
                continue;
            }
            let nhs = e["nexthops"].as_array().cloned().unwrap_or_default();
            let mut g: Vec<String> = nhs
                .iter()
                .filter(|n| n["active"] == true)
                .filter_map(|n| n["ip"].as_str().map(str::to_string))
                .collect();
            g.sort();
            g.dedup();
            let target = if g.is_empty() && nhs.iter().any(|n| n["ip"].is_null()) {
                "blackhole".to_string()
            } else {
                g.join(",")
            };
            t.insert(prefix.clone(), target);
        }
    }
    t
}

fn expect_table(rows: &[(&str, &str)]) -> Table {
    rows.iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

/// Waits until fibre's frr routes equal zebra's and the expected table.
fn converge(lab: &Lab, want: &Table, what: &str) -> Duration {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(40);
    loop {
        let z = zebra_table(&lab.vtysh_routes());
        let f = fibre_table(&lab.dir).unwrap_or_default();
        if &z == want && &f == want {
            return t0.elapsed();
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: not converged\nwant   {want:?}\nzebra  {z:?}\nfibre  {f:?}\nsources {}\nfibred log:\n{}\nzebra log:\n{}",
                ctl(&lab.dir, &["source", "show"]).unwrap_or_default(),
                lab.file("fibred.out"),
                lab.file("zebra.log")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// fibred's "FPM resync complete" log lines.
fn resync_lines(lab: &Lab) -> Vec<String> {
    lab.file("fibred.out")
        .lines()
        .filter(|l| l.contains("FPM resync complete"))
        .map(str::to_string)
        .collect()
}

const STATICS_1: &str = "\
ip route 0.0.0.0/0 192.0.2.10
ip route 10.0.0.0/8 192.0.2.10
ip route 10.1.0.0/16 192.0.2.10
ip route 10.1.0.0/16 192.0.2.11
ip route 10.2.0.0/16 192.0.2.12
ip route 10.9.0.0/16 blackhole
ip route 172.16.0.0/12 192.0.2.11
";

/// After the restart: 10.2/16 and 172.16/12 vanish, 10.3/16 and 10.10/16 are new,
/// the rest is unchanged.
const STATICS_2: &str = "\
ip route 0.0.0.0/0 192.0.2.10
ip route 10.0.0.0/8 192.0.2.10
ip route 10.1.0.0/16 192.0.2.10
ip route 10.1.0.0/16 192.0.2.11
ip route 10.3.0.0/16 192.0.2.12
ip route 10.9.0.0/16 blackhole
ip route 10.10.0.0/16 blackhole
";

const UNCHANGED: [&str; 4] = ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.9.0.0/16"];

#[test]
fn fibre_follows_zebra_across_a_restart() {
    let t_start = Instant::now();
    let mut lab = Lab::new("restart");
    lab.start_fibred("");
    lab.start_frr(STATICS_1);

    let first = expect_table(&[
        ("0.0.0.0/0", "192.0.2.10"),
        ("10.0.0.0/8", "192.0.2.10"),
        ("10.1.0.0/16", "192.0.2.10,192.0.2.11"),
        ("10.2.0.0/16", "192.0.2.12"),
        ("10.9.0.0/16", "blackhole"),
        ("172.16.0.0/12", "192.0.2.11"),
    ]);
    let took = converge(&lab, &first, "first dump");
    eprintln!("first dump converged in {took:?}");
    let src = ctl(&lab.dir, &["source", "show"]).unwrap();
    let fpm = src
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "fpm"))
        .cloned()
        .or_else(|| {
            src["sources"]
                .as_array()
                .and_then(|a| a.iter().find(|s| s["name"] == "fpm").cloned())
        })
        .unwrap_or_else(|| panic!("source show: {src}"));
    assert_eq!(fpm["connected"], true, "{fpm}");
    assert_eq!(fpm["routes"], 6, "{fpm}");
    assert_eq!(fpm["refused"], 0, "{fpm}");
    assert!(
        fpm["ignored"].as_u64().unwrap() >= 1,
        "the connected route (and IPv6) are counted as ignored: {fpm}"
    );

    // Sample fibre's table continuously across the restart: an unchanged route
    // must never be missing.
    let stop = Arc::new(AtomicBool::new(false));
    let missing = Arc::new(Mutex::new(Vec::<String>::new()));
    let samples = Arc::new(Mutex::new(0usize));
    let sampler = {
        let (dir, stop, missing, samples) = (
            lab.dir.clone(),
            stop.clone(),
            missing.clone(),
            samples.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(t) = fibre_table(&dir) {
                    *samples.lock().unwrap() += 1;
                    for p in UNCHANGED {
                        if !t.contains_key(p) {
                            missing.lock().unwrap().push(format!("{p} in {t:?}"));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let resyncs_before = resync_lines(&lab).len();
    let restart = Instant::now();
    lab.stop_frr();
    std::thread::sleep(Duration::from_millis(500));
    lab.start_frr(STATICS_2);
    let second = expect_table(&[
        ("0.0.0.0/0", "192.0.2.10"),
        ("10.0.0.0/8", "192.0.2.10"),
        ("10.1.0.0/16", "192.0.2.10,192.0.2.11"),
        ("10.3.0.0/16", "192.0.2.12"),
        ("10.9.0.0/16", "blackhole"),
        ("10.10.0.0/16", "blackhole"),
    ]);
    let took = converge(&lab, &second, "after the zebra restart");
    // The stale routes go only when the resync ends: wait for fibred to say so.
    let deadline = Instant::now() + Duration::from_secs(20);
    let resync_line = loop {
        let lines = resync_lines(&lab);
        if lines.len() > resyncs_before {
            break lines.last().unwrap().clone();
        }
        assert!(
            Instant::now() < deadline,
            "no resync end after the restart: {}",
            lab.file("fibred.out")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    eprintln!(
        "restart converged {took:?} after zebra came back, {:?} after the stop; {} samples",
        restart.elapsed(),
        samples.lock().unwrap()
    );
    let missing = missing.lock().unwrap();
    assert!(
        missing.is_empty(),
        "unchanged routes were missing: {missing:?}"
    );
    assert!(*samples.lock().unwrap() > 20, "the sampler ran");
    // fibred's account of the resync: exactly the vanished routes were swept.
    assert!(
        resync_line.contains("removed=2")
            && resync_line.contains("removed_prefixes=[10.2.0.0/16, 172.16.0.0/12]"),
        "{resync_line}"
    );
    assert_eq!(
        fibre_table(&lab.dir).unwrap(),
        second,
        "still converged after the sweep"
    );
    drop(lab);
    let total = t_start.elapsed();
    eprintln!("fpm_frr total {total:?}");
    assert!(total < Duration::from_secs(90), "took {total:?}");
}

#[test]
fn gateways_are_read_from_route_words() {
    assert_eq!(
        gateways_in("nexthop via 192.0.2.11 dev p0 nexthop via 192.0.2.10 dev p0"),
        vec!["192.0.2.10", "192.0.2.11"]
    );
    assert!(gateways_in("blackhole").is_empty());
    let z: Value = serde_json::json!({
        "10.0.0.0/8": [{"protocol": "static", "selected": true,
                         "nexthops": [{"ip": "192.0.2.10", "active": true}]}],
        "192.0.2.0/24": [{"protocol": "connected", "selected": true, "nexthops": [{"active": true}]}],
        "10.9.0.0/16": [{"protocol": "static", "selected": true,
                          "nexthops": [{"blackhole": true, "active": true}]}]
    });
    assert_eq!(
        zebra_table(&z),
        expect_table(&[("10.0.0.0/8", "192.0.2.10"), ("10.9.0.0/16", "blackhole")])
    );
}

/// The installed route of `prefix` and every source's route for it, as
/// (protocol, gateways or target, installed), in the order `route show` gives.
fn sources_of(dir: &Path, prefix: &str) -> Vec<(String, String, bool)> {
    let Some(v) = ctl(dir, &["route", "show", "root", prefix]) else {
        return Vec::new();
    };
    v["routes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| r["prefix"] == prefix)
        .map(|r| {
            let via = r["via"].as_str().unwrap_or_default();
            let g = gateways_in(via);
            (
                r["protocol"].as_str().unwrap_or_default().to_string(),
                if g.is_empty() {
                    via.to_string()
                } else {
                    g.join(",")
                },
                r["installed"] == true,
            )
        })
        .collect()
}

/// Waits until `route show` for `prefix` is exactly `want`.
fn await_sources(lab: &Lab, prefix: &str, want: &[(&str, &str, bool)]) {
    let want: Vec<(String, String, bool)> = want
        .iter()
        .map(|(p, g, i)| (p.to_string(), g.to_string(), *i))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = sources_of(&lab.dir, prefix);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{prefix}: want {want:?}, got {got:?}\nsources {}\nfibred log:\n{}",
            ctl(&lab.dir, &["source", "show"]).unwrap_or_default(),
            lab.file("fibred.out")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Static, kernel and FRR routes for the same prefixes: the lowest administrative
/// distance is installed (static 1, kernel 5, frr 20), `route show` names every
/// route's source, and when the installed one goes the next best takes over.
#[test]
fn static_kernel_and_frr_routes_are_arbitrated_by_distance() {
    let mut lab = Lab::new("arbitration");
    // Kernel routes in table 100 of the lab's namespace (zebra installs its own
    // routes in main: those are not mirrored).
    for args in [
        "route add 10.77.0.0/16 via 192.0.2.5 table 100",
        "route add 10.78.0.0/16 via 192.0.2.5 table 100",
    ] {
        run(Command::new("ip")
            .args(["-n", &lab.ns])
            .args(args.split(' ')));
    }
    lab.start_fibred(
        r#"
[kernel]
table = 100

[[route]]
prefix = "10.77.0.0/16"
via = "198.51.100.2"
"#,
    );
    lab.start_frr(
        "ip route 10.77.0.0/16 192.0.2.9\nip route 10.78.0.0/16 192.0.2.9\nip route 10.79.0.0/16 192.0.2.9\n",
    );
    await_sources(
        &lab,
        "10.77.0.0/16",
        &[
            ("static", "198.51.100.2", true),
            ("kernel", "192.0.2.5", false),
            ("frr", "192.0.2.9", false),
        ],
    );
    await_sources(
        &lab,
        "10.78.0.0/16",
        &[("kernel", "192.0.2.5", true), ("frr", "192.0.2.9", false)],
    );
    await_sources(&lab, "10.79.0.0/16", &[("frr", "192.0.2.9", true)]);
    let sources = ctl(&lab.dir, &["source", "show"]).unwrap();
    for s in sources.as_array().unwrap() {
        assert_eq!(s["connected"], true, "{sources}");
        assert_eq!(s["refused"], 0, "{sources}");
    }

    // The installed route goes: the next best is promoted, the others stay.
    assert!(ctl(&lab.dir, &["route", "del", "10.77.0.0/16"]).is_some());
    await_sources(
        &lab,
        "10.77.0.0/16",
        &[("kernel", "192.0.2.5", true), ("frr", "192.0.2.9", false)],
    );
    run(Command::new("ip")
        .args(["-n", &lab.ns])
        .args("route del 10.78.0.0/16 table 100".split(' ')));
    await_sources(&lab, "10.78.0.0/16", &[("frr", "192.0.2.9", true)]);
    // A core forwards with what won: 10.78/16 now goes to FRR's gateway.
    let got = ctl(&lab.dir, &["route", "get", "10.78.1.1", "core", "0"]).unwrap();
    assert_eq!(got["nexthop"]["gateway"], "192.0.2.9", "{got}");
    lab.stop_frr();
    lab.stop("fibred");
}

/// zebra's configuration line that makes it connect to fibred.
const FPM_ADDRESS: &str = "fpm address 127.0.0.1 port 2620";

/// Routes zebra streams in the mid-stream test. staticd reads its configuration in
/// time quadratic in its lines (3,000 routes took it 9 minutes); 500 are read in
/// seconds, and a rate limit on the namespace's loopback stretches their dump.
const MANY: usize = 500;

/// `base` and MANY /24s under 20/8, each through one of three gateways; `then`
/// moves every route to the next gateway, drops every tenth (50 of the MANY) and
/// adds 45 new ones.
fn many_statics(base: &str, then: bool) -> String {
    let mut s = String::from(base);
    for n in 0..MANY + if then { 50 } else { 0 } {
        if then && n % 10 == 0 {
            continue;
        }
        let gw = 10 + (n + usize::from(then)) % 3;
        s.push_str(&format!(
            "ip route 20.{}.{}.0/24 192.0.2.{gw}\n",
            n / 256,
            n % 256
        ));
    }
    s
}

/// Kills fibred's FPM TCP connection from inside the namespace (`ss -K`, the
/// kernel's SOCK_DESTROY), as a reset on the path would. Returns whether there was
/// one to kill.
fn kill_fpm_connection(lab: &Lab) -> bool {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns,
            "ss",
            "-K",
            "-t",
            "state",
            "established",
        ])
        .args(["(", "sport", "=", ":2620", ")"])
        .output()
        .unwrap();
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("2620")
}

/// The FPM source's line of `source show`.
fn fpm_source(lab: &Lab) -> Value {
    let src = ctl(&lab.dir, &["source", "show"]).unwrap_or_default();
    src.as_array()
        .or_else(|| src["sources"].as_array())
        .and_then(|a| a.iter().find(|s| s["name"] == "fpm").cloned())
        .unwrap_or(Value::Null)
}

/// zebra's table once it holds `n` routes (staticd reads its file slowly).
fn zebra_holds(lab: &Lab, n: usize) -> Table {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let z = zebra_table(&lab.vtysh_routes());
        if z.len() == n {
            return z;
        }
        assert!(
            Instant::now() < deadline,
            "zebra has {} of {n} routes: {}",
            z.len(),
            lab.file("staticd.log") + &lab.file("zebra.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits for zebra to connect and start streaming, then kills the connection once
/// fibred has some of the dump and not all of it. Returns the messages it had.
fn kill_mid_stream(lab: &Lab, total: u64) -> u64 {
    let before = fpm_source(lab)["messages"].as_u64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let f = fpm_source(lab);
        let got = f["messages"].as_u64().unwrap_or(0) - before;
        if f["connected"] == true && got > 0 {
            assert!(kill_fpm_connection(lab), "an FPM connection to kill");
            assert!(
                got < total,
                "the dump was over ({got} messages) before the kill"
            );
            return got;
        }
        assert!(Instant::now() < deadline, "zebra did not stream again: {f}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn fibre_equals_zebra_after_the_fpm_connection_drops_mid_stream() {
    let mut lab = Lab::new("midstream");
    lab.start_fibred("");
    lab.start_frr(&many_statics(STATICS_1, false));
    let first_table = zebra_holds(&lab, 6 + MANY);
    converge(&lab, &first_table, "first dump");

    // 256 kbit/s on the namespace's loopback (zebra -> fibred is TCP there; vtysh
    // and fibrectl use unix sockets): a dump of the table takes over a second. tbf
    // drops every packet larger than its bucket, and TCP on a 64k-MTU loopback
    // sends segments of up to 64k: the MTU goes down to 1500 first, or zebra's
    // dump would stall (as it did, with 'Connection timed out' in zebra's log).
    run(Command::new("ip").args(["-n", &lab.ns, "link", "set", "lo", "mtu", "1500"]));
    run(Command::new("ip")
        .args([
            "netns", "exec", &lab.ns, "tc", "qdisc", "add", "dev", "lo", "root",
        ])
        .args(["tbf", "rate", "256kbit", "burst", "4kb", "latency", "2s"]));
    // zebra restarts with a changed table (every 20/8 route through another
    // gateway, 50 gone, 50 new, 10.2/16 and 172.16/12 gone, two new) and streams it;
    // the connection is killed in the middle of that stream, and again in the
    // middle of the next (zebra reconnects on its own). The FPM source holds its
    // routes meanwhile; only a whole dump may end the resync.
    // zebra is given the FPM address only once it holds its whole table: a zebra
    // that connects while staticd is still reading its file streams part of the
    // table, and fibred ends that resync (rightly) after 3 s of quiet.
    let resyncs_before = resync_lines(&lab).len();
    lab.stop_frr();
    lab.start_frr_with(&many_statics(STATICS_2, true), false);
    let total = (6 + MANY + 50 - (MANY + 50) / 10) as u64;
    zebra_holds(&lab, total as usize);
    lab.connect_fpm();
    let first = kill_mid_stream(&lab, total);
    let second = kill_mid_stream(&lab, total);
    run(Command::new("ip").args([
        "netns", "exec", &lab.ns, "tc", "qdisc", "del", "dev", "lo", "root",
    ]));
    let want = zebra_holds(&lab, total as usize);
    assert_ne!(want, first_table);
    let took = converge(&lab, &want, "after the connection drops");
    let f = fpm_source(&lab);
    eprintln!(
        "killed after {first} and {second} of {total} messages; converged {took:?} after; FPM resyncs {} -> {}; {f}",
        resyncs_before,
        resync_lines(&lab).len()
    );
    assert_eq!(f["connected"], true, "{f}");
    assert_eq!(f["routes"].as_u64(), Some(total), "{f}");
    // Exactly one resync ended — after the whole dump, not after a cut-off part of
    // it — and it swept exactly what zebra no longer has: the 50 dropped 20/8
    // routes, 10.2/16 and 172.16/12.
    let lines = resync_lines(&lab);
    assert_eq!(lines.len(), resyncs_before + 1, "{lines:?}");
    assert!(lines.last().unwrap().contains("removed=52"), "{lines:?}");
}
