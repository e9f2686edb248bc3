//! fibred as a service manager runs it: stderr to a file (the journal), levels from
//! `RUST_LOG` or `FIBRE_LOG`, text without colour or JSON lines, and readiness
//! (`READY=1`, then `STOPPING=1` on SIGTERM) on the `NOTIFY_SOCKET` datagram socket
//! systemd's `Type=notify` listens on; and `fibrectl -b` against it. Each fibred
//! runs on a null device with no hugepages and its own EAL file prefix, so the
//! tests run side by side.
#![cfg(feature = "dpdk")]

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const FIBRED: &str = env!("CARGO_BIN_EXE_fibred");

fn dir(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("fibre-service-{name}-"))
        .tempdir()
        .unwrap()
}

fn config(dir: &Path, prefix: &str) -> String {
    format!(
        r#"eal = ["--no-huge", "-m", "512", "--no-pci", "--file-prefix=svc-{prefix}", "-l", "0", "--vdev=net_null0,no-rx=1"]
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
"#,
        dir = dir.display()
    )
}

/// How to listen for fibred's notifications.
enum Notify {
    Path,
    /// In the abstract namespace: `NOTIFY_SOCKET=@name`.
    Abstract,
}

/// A fibred started with `NOTIFY_SOCKET` set, stderr to `fibred.log`.
struct Run {
    dir: TempDir,
    child: Option<Child>,
    notify: UnixDatagram,
}

impl Run {
    /// Starts fibred with `env` (every other log variable removed) and `args`, and
    /// waits for `READY=1`; returns it and the whole datagram.
    fn start(name: &str, notify: Notify, env: &[(&str, &str)], args: &[&str]) -> (Run, String) {
        let dir = dir(name);
        let cfg = dir.path().join("fibred.toml");
        std::fs::write(&cfg, config(dir.path(), name)).unwrap();
        let (socket, var) = match notify {
            Notify::Path => {
                let p = dir.path().join("notify.sock");
                (UnixDatagram::bind(&p).unwrap(), p.display().to_string())
            }
            Notify::Abstract => {
                let n = format!("fibre-test-{name}-{}", std::process::id());
                let a = SocketAddr::from_abstract_name(n.as_bytes()).unwrap();
                (UnixDatagram::bind_addr(&a).unwrap(), format!("@{n}"))
            }
        };
        socket
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let log = std::fs::File::create(dir.path().join("fibred.log")).unwrap();
        let child = Command::new(FIBRED)
            .arg("-c")
            .arg(&cfg)
            .args(args)
            .env_remove("FIBRE_LOG")
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .env("NOTIFY_SOCKET", var)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let run = Run {
            dir,
            child: Some(child),
            notify: socket,
        };
        let ready = run.recv();
        (run, ready)
    }

    fn recv(&self) -> String {
        let mut buf = [0u8; 4096];
        match self.notify.recv(&mut buf) {
            Ok(n) => String::from_utf8(buf[..n].to_vec()).unwrap(),
            Err(e) => panic!("no notification from fibred ({e}): {}", self.log()),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("fibred.log")).unwrap_or_default()
    }

    /// SIGTERM by pid; checks `STOPPING=1` and a clean exit; returns the log.
    fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on the pid of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let stopping = self.recv();
        assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("fibred did not stop on SIGTERM: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0), "{}", self.log());
        self.log()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- fibred's log ----\n{}", self.log());
        }
    }
}

/// Lines DPDK's libraries print themselves (`EAL: ...`, `TELEMETRY: ...`), not
/// through fibred's logger.
fn from_dpdk(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(tag, _)| {
        !tag.is_empty()
            && tag
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

#[test]
fn ready_and_stopping_reach_the_notify_socket() {
    let (run, ready) = Run::start("notify", Notify::Path, &[], &[]);
    let sock = run.dir.path().join("fibred.sock");
    // Ready means served: the control socket exists, and the status says so.
    assert_eq!(
        ready,
        format!("READY=1\nSTATUS=serving {} with 2 routes\n", sock.display())
    );
    assert!(sock.exists());
    run.stop();
}

#[test]
fn text_logs_carry_no_colour_escapes_into_a_file() {
    let (run, _) = Run::start("text", Notify::Abstract, &[], &[]);
    let log = run.stop();
    let ready = log
        .lines()
        .find(|l| l.contains("fibred ready"))
        .unwrap_or_else(|| panic!("no ready line: {log}"));
    assert!(ready.contains(" INFO "), "{ready}");
    assert!(ready.contains("routes=2"), "{ready}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains('\x1b'), "an escape byte in {log:?}");
}

#[test]
fn rust_log_sets_levels_and_fibre_log_wins() {
    // RUST_LOG=warn: the info lines are gone (readiness still arrives).
    let (run, _) = Run::start("warn", Notify::Path, &[("RUST_LOG", "warn")], &[]);
    let log = run.stop();
    assert!(!log.contains("fibred ready"), "{log}");
    assert!(!log.contains(" INFO "), "{log}");

    // FIBRE_LOG, when set, is used instead: debug shows the notifications sent.
    let env = [("RUST_LOG", "warn"), ("FIBRE_LOG", "info,control=debug")];
    let (run, _) = Run::start("debug", Notify::Path, &env, &[]);
    let log = run.stop();
    assert!(log.contains("fibred ready"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("DEBUG") && l.contains("service manager notified")),
        "{log}"
    );

    // A filter that does not parse logs at info, and says so.
    let (run, _) = Run::start(
        "bad",
        Notify::Path,
        &[("RUST_LOG", "info,control=loud")],
        &[],
    );
    let log = run.stop();
    assert!(log.contains("invalid log filter"), "{log}");
    assert!(log.contains("fibred ready"), "{log}");
}

#[test]
fn json_log_lines_are_json_objects() {
    let (run, _) = Run::start("json", Notify::Path, &[], &["--log-format", "json"]);
    let sock = run.dir.path().join("fibred.sock");
    let log = run.stop();
    let mut events = Vec::new();
    for line in log.lines() {
        if from_dpdk(line) {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?} in\n{log}"));
        assert!(v["timestamp"].is_string(), "{line}");
        events.push(v);
    }
    let ready = events
        .iter()
        .find(|v| v["fields"]["message"] == "fibred ready")
        .unwrap_or_else(|| panic!("no ready event: {log}"));
    assert_eq!(ready["level"], "INFO");
    assert_eq!(ready["target"], "control::daemon::startup");
    assert_eq!(ready["fields"]["socket"], sock.display().to_string());
    assert_eq!(ready["fields"]["routes"], 2);
    assert!(events
        .iter()
        .any(|v| v["fields"]["message"] == "shutting down"));
    assert!(!log.contains('\x1b'));
}

#[test]
fn a_refused_configuration_is_one_json_error_line() {
    let d = dir("refused");
    let cfg = d.path().join("fibred.toml");
    std::fs::write(&cfg, "[[port]]\nname = \"p0\"\n").unwrap();
    let run = |format: &str| {
        Command::new(FIBRED)
            .arg("-c")
            .arg(&cfg)
            .args(["--log-format", format])
            .env_remove("FIBRE_LOG")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let out = run("json");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["level"], "ERROR");
    assert_eq!(v["fields"]["message"], "invalid configuration");
    let error = v["fields"]["error"].as_str().unwrap();
    assert!(
        error.contains("fibred.toml:2:8: ") && error.contains("needs dpdk"),
        "{error}"
    );

    // Text: the same message as before there was a JSON mode.
    let out = run("text");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("fibred: invalid configuration: ") && err.contains("needs dpdk"),
        "{err}"
    );
}

#[test]
fn a_batch_file_configures_a_running_fibred_up_to_its_first_failure() {
    let (run, _) = Run::start("batch", Notify::Path, &[], &[]);
    let sock = run.dir.path().join("fibred.sock");
    let batch = run.dir.path().join("routes.batch");
    std::fs::write(
        &batch,
        "# lab\nroute add 10.0.0.0/8 via 192.0.2.2\nroute add 10.1.0.0/16 blackhole\n\nroute add 10.0.0.0/8 blackhole\nroute add 10.2.0.0/16 blackhole\n",
    )
    .unwrap();
    let ctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fibrectl"))
            .arg("-s")
            .arg(&sock)
            .args(args)
            .output()
            .unwrap()
    };
    let o = ctl(&["-b", batch.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!("fibrectl: {}:5: ", batch.display())) && err.contains("exists"),
        "{err}"
    );
    let o = ctl(&["-j", "route", "show"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let prefixes: Vec<&str> = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prefix"].as_str().unwrap())
        .collect();
    assert!(prefixes.contains(&"10.0.0.0/8") && prefixes.contains(&"10.1.0.0/16"));
    assert!(!prefixes.contains(&"10.2.0.0/16"), "{prefixes:?}");
    run.stop();
}
