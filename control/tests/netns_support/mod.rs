//! A small lab for `netns_hosts.rs`: fibred on DPDK `net_tap` ports, each tap moved
//! into a network namespace that plays a host. Everything the lab makes (the
//! namespaces, the taps, fibred and every process started in a namespace) is removed
//! when it is dropped, however the test ends.
//!
//! ```text
//!   ns A ── a  10.99.1.0/24 ─┐
//!   ns B ── b1 10.99.2.0/24 ─┤
//!      └─── b2 10.99.3.0/24 ─┼── fibred (.1 on every subnet)
//!   ns C ── c  10.99.4.0/24 ─┘   (port c and host C: MTU 1400)
//!   hosts are .2; B also has 10.99.100.1/32 on lo (reached by a route via b1 or b2)
//! ```

use control::proto::FibStatus;
use serde_json::Value;
use std::io::Read;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const FIBRED: &str = env!("CARGO_BIN_EXE_fibred");
pub const FIBRECTL: &str = env!("CARGO_BIN_EXE_fibrectl");

/// B's address behind either of its two links.
pub const SERVICE: &str = "10.99.100.1";

/// One link: a fibred port and the host's interface on it.
#[derive(Debug, Clone)]
pub struct Link {
    /// fibred's port name.
    pub port: &'static str,
    /// The host's namespace key (`a`, `b`, `c`).
    pub host: &'static str,
    pub fibre_addr: Ipv4Addr,
    pub host_addr: Ipv4Addr,
    pub host_mac: &'static str,
    pub mtu: u16,
    /// The tap's name (unique per lab).
    pub iface: String,
}

/// The topology above.
fn links(tag: &str) -> Vec<Link> {
    let l = |i: usize, port, host, mac, mtu| Link {
        port,
        host,
        fibre_addr: Ipv4Addr::new(10, 99, i as u8 + 1, 1),
        host_addr: Ipv4Addr::new(10, 99, i as u8 + 1, 2),
        host_mac: mac,
        mtu,
        iface: format!("fn{tag}{i}"),
    };
    vec![
        l(0, "a", "a", "02:00:0a:63:01:02", 1500),
        l(1, "b1", "b", "02:00:0a:63:02:02", 1500),
        l(2, "b2", "b", "02:00:0a:63:03:02", 1500),
        l(3, "c", "c", "02:00:0a:63:04:02", 1400),
    ]
}

/// Fails, naming the Debian package, if a tool the suite drives is missing.
pub fn require_tools() {
    for (tool, arg, package) in [
        ("ip", "-V", "iproute2"),
        ("ping", "-V", "iputils-ping"),
        ("iperf3", "--version", "iperf3"),
        ("traceroute", "--version", "traceroute"),
        ("ss", "-V", "iproute2"),
    ] {
        match Command::new(tool).arg(arg).output() {
            Ok(_) => {}
            Err(e) => panic!(
                "`{tool}` is needed by this suite and cannot be run ({e}): install the Debian package `{package}` (make deps)"
            ),
        }
    }
}

/// The tests share the machine's two CPUs with fibred's cores: one lab at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `cmd` to completion, killing it (by its pid) if it takes longer than `limit`.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{desc}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{desc} did not finish within {limit:?}: {}",
                String::from_utf8_lossy(&t_out.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// `ip ARGS`, which must succeed.
pub fn ip(args: &[&str]) -> Output {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (Debian package iproute2) runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What `ping` reported.
#[derive(Debug)]
pub struct PingResult {
    pub transmitted: u32,
    pub received: u32,
    pub text: String,
}

/// Parses ping's summary line ("5 packets transmitted, 5 received, ...").
pub fn parse_ping(text: &str) -> PingResult {
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary in:\n{text}"));
    let num = |word: &str| -> u32 {
        let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let i = words.iter().position(|w| *w == word).unwrap();
        words[i - 1].parse().unwrap()
    };
    PingResult {
        transmitted: num("packets"),
        received: num("received"),
        text: text.to_string(),
    }
}

/// A running lab. Drop removes everything it made.
pub struct Lab {
    pub dir: PathBuf,
    /// Removes `dir` when the lab is dropped, after `Drop` has stopped everything in it.
    _tmp: tempfile::TempDir,
    /// DPDK's runtime directory for fibred's EAL file prefix.
    eal_dir: PathBuf,
    pub links: Vec<Link>,
    /// Namespace name per host key.
    namespaces: Vec<(&'static str, String)>,
    fibred: Option<Child>,
    procs: Vec<Child>,
}

impl Lab {
    /// Starts fibred on four taps, moves each into its host's namespace and sets the
    /// host up (address, MAC, MTU, default route via fibre; B's service address).
    /// With `warm`, every host first pings fibre's address on each of its links, so
    /// fibre has learned them all by ARP.
    pub fn start(warm: bool) -> Lab {
        require_tools();
        static N: AtomicUsize = AtomicUsize::new(0);
        let pid = std::process::id();
        let k = N.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{pid}{k}");
        let tmp = tempfile::Builder::new()
            .prefix(&format!("fibre-netns-{pid}-{k}-"))
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_owned();
        let links = links(&tag);
        let mut lab = Lab {
            dir: dir.clone(),
            _tmp: tmp,
            eal_dir: PathBuf::from(format!("/var/run/dpdk/fibre-netns-{pid}-{k}")),
            namespaces: ["a", "b", "c"]
                .iter()
                .map(|h| (*h, format!("fibre-{pid}-{k}-{h}")))
                .collect(),
            links,
            fibred: None,
            procs: Vec::new(),
        };

        let mut cfg = format!(
            r#"eal = ["--no-huge", "-m", "1024", "--no-pci", "--file-prefix=fibre-netns-{pid}-{k}", "-l", "0"]
control_socket = "{dir}/fibred.sock"

[cores]
count = 2
idle = "yield"
rx_ring = 512
tx_ring = 512
"#,
            dir = dir.display()
        );
        for (i, l) in lab.links.iter().enumerate() {
            cfg.push_str(&format!(
                "\n[[port]]\nname = \"{}\"\ndpdk = \"net_tap{i},iface={}\"\naddr = \"{}/24\"\nmtu = {}\n",
                l.port, l.iface, l.fibre_addr, l.mtu
            ));
        }
        std::fs::write(dir.join("fibred.toml"), cfg).unwrap();
        let log = std::fs::File::create(dir.join("fibred.log")).unwrap();
        lab.fibred = Some(
            Command::new(FIBRED)
                .arg("-c")
                .arg(dir.join("fibred.toml"))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("fibred starts"),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !lab.ctl(&["fib", "status"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "fibred did not come up: {}",
                lab.log()
            );
            if let Some(st) = lab.fibred.as_mut().unwrap().try_wait().unwrap() {
                panic!("fibred exited ({st}): {}", lab.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }

        for (_, ns) in &lab.namespaces {
            ip(&["netns", "add", ns]);
        }
        for (_, ns) in &lab.namespaces {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            // No IPv6 chatter: the counters the tests read are IPv4 only.
            lab.sh(ns, "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter");
        }
        for l in lab.links.clone() {
            let ns = lab.ns(l.host).to_string();
            ip(&["link", "set", &l.iface, "netns", &ns]);
            // DPDK's tap gives the kernel interface the port's own MAC; a host has its own.
            ip(&["-n", &ns, "link", "set", &l.iface, "address", l.host_mac]);
            ip(&[
                "-n",
                &ns,
                "link",
                "set",
                &l.iface,
                "mtu",
                &l.mtu.to_string(),
            ]);
            let addr = format!("{}/24", l.host_addr);
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &l.iface]);
            ip(&["-n", &ns, "link", "set", &l.iface, "up"]);
        }
        for l in lab.links.clone() {
            // B's default route is its first link, b1.
            if l.port != "b2" {
                let ns = lab.ns(l.host).to_string();
                ip(&[
                    "-n",
                    &ns,
                    "route",
                    "add",
                    "default",
                    "via",
                    &l.fibre_addr.to_string(),
                ]);
            }
        }
        let b = lab.ns("b").to_string();
        ip(&[
            "-n",
            &b,
            "addr",
            "add",
            &format!("{SERVICE}/32"),
            "dev",
            "lo",
        ]);

        // fibred gives each port one queue pair per core plus a spare for `core add`,
        // and a tap spreads the host's flows over all of its queues by flow hash:
        // the spare gets flows too, and core 0 polls it (adopted spare queues).
        lab.converge();

        if warm {
            for l in lab.links.clone() {
                let r = lab.ping(
                    l.host,
                    &["-c", "1", "-W", "2", "-I", &l.iface],
                    l.fibre_addr,
                );
                assert_eq!(
                    r.received,
                    1,
                    "host {} reaches fibre on {}:\n{}\n{}",
                    l.host,
                    l.port,
                    r.text,
                    lab.log()
                );
            }
        }
        lab
    }

    pub fn link(&self, port: &str) -> &Link {
        self.links.iter().find(|l| l.port == port).unwrap()
    }

    pub fn ns(&self, host: &str) -> &str {
        &self.namespaces.iter().find(|(h, _)| *h == host).unwrap().1
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("fibred.log")).unwrap_or_default()
    }

    fn sh(&self, ns: &str, script: &str) {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `ip netns exec NS ARGS...` as a command.
    pub fn exec(&self, host: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns(host)]).args(args);
        c
    }

    /// Runs a command in a host's namespace, bounded.
    pub fn run(&self, host: &str, args: &[&str], limit: Duration) -> Output {
        run_bounded(self.exec(host, args), limit)
    }

    /// Starts a background process in a host's namespace; the lab kills it on drop.
    /// Returns its index for [`Lab::wait`].
    pub fn spawn(&mut self, host: &str, args: &[&str], out: &Path) -> usize {
        let f = std::fs::File::create(out).unwrap();
        let child = self
            .exec(host, args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        self.procs.push(child);
        self.procs.len() - 1
    }

    /// Waits for a background process to exit (killing it after `limit`).
    pub fn wait(&mut self, i: usize, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.procs[i].try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.procs[i].kill();
                let _ = self.procs[i].wait();
                panic!("process {i} did not finish within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until a TCP port listens in a host's namespace.
    pub fn wait_listening(&self, host: &str, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let filter = format!("sport = :{port}");
        loop {
            let out = self.run(host, &["ss", "-Hltn", &filter], Duration::from_secs(5));
            if !out.stdout.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nothing listens on {port} in {host}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ping ARGS DST` from a host; bounded by ping's own deadline plus a margin.
    pub fn ping(&self, host: &str, args: &[&str], dst: Ipv4Addr) -> PingResult {
        let dst = dst.to_string();
        let mut a = vec!["ping", "-n"];
        a.extend_from_slice(args);
        a.push(&dst);
        let out = self.run(host, &a, Duration::from_secs(30));
        parse_ping(
            &(String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr)),
        )
    }

    /// A host interface's kernel counters (`rx`/`tx`, `bytes`/`packets`).
    pub fn host_counter(&self, port: &str, dir: &str, what: &str) -> u64 {
        let l = self.link(port);
        let out = ip(&[
            "-n",
            self.ns(l.host),
            "-j",
            "-s",
            "link",
            "show",
            "dev",
            &l.iface,
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["stats64"][dir][what]
            .as_u64()
            .unwrap_or_else(|| panic!("no stats64.{dir}.{what} in {v}"))
    }

    // ---- fibrectl ----

    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(FIBRECTL)
            .arg("-s")
            .arg(self.dir.join("fibred.sock"))
            .args(args)
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "fibrectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn json(&self, args: &[&str]) -> Value {
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

    /// Waits until every core has applied the FIB's current seq.
    pub fn converge(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let st = self.json(&["fib", "status"]);
            let status: FibStatus = serde_json::from_value(st.clone()).unwrap();
            if status.all_in_step() {
                return;
            }
            assert!(Instant::now() < deadline, "cores did not converge: {st}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Packets forwarded by all cores.
    pub fn forwarded(&self) -> u64 {
        self.json(&["core", "show"])
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["forwarded"].as_u64().unwrap())
            .sum()
    }

    /// Punts of one reason, summed over cores.
    pub fn punts(&self, reason: &str) -> u64 {
        self.json(&["core", "show"])
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["punts"][reason].as_u64().unwrap_or(0))
            .sum()
    }

    /// A fibred port's device counter (`link show`: `tx_packets`, `rx_bytes`, ...).
    pub fn port_counter(&self, port: &str, field: &str) -> u64 {
        let links = self.json(&["link", "show"]);
        links
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == port)
            .and_then(|l| l[field].as_u64())
            .unwrap_or_else(|| panic!("no {field} for port {port}: {links}"))
    }

    /// SIGTERM to fibred; its exit code.
    pub fn stop_fibred(&mut self) -> i32 {
        let Some(mut child) = self.fibred.take() else {
            return -1;
        };
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
                return -1;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Names of what this lab created, to check they are gone after drop.
    pub fn created(&self) -> (Vec<String>, Vec<String>) {
        (
            self.namespaces.iter().map(|(_, n)| n.clone()).collect(),
            self.links.iter().map(|l| l.iface.clone()).collect(),
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
        if self.fibred.is_some() {
            self.stop_fibred();
        }
        for (_, ns) in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        if std::thread::panicking() {
            eprintln!("---- fibred's log ----\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.eal_dir);
    }
}

/// Runs `f` on a thread inside a host's network namespace (setns on that thread only).
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns(2) with a valid namespace fd; it changes this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}
