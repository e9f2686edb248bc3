//! Hostile control-socket clients against a running fibred, and what a
//! well-behaved client sees meanwhile (`scripts/hostile-clients` runs it).
//!
//! `--clients N` connections each ask `route show` of the whole table and never
//! read the answer. Meanwhile one client sends `hello` every 20 ms and times each
//! answer. At the end it prints the hello latencies, fibred's resident memory
//! (now and peak, from /proc), and the control loop's longest turn during the run
//! (from `stats`' turn histogram, taken before and after).

use clap::Parser;
use control::cli::ControlClient;
use control::proto::{encode_request, Reply, Request, RouteFilter};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// fibred's control socket.
    #[arg(short, long)]
    socket: PathBuf,
    /// fibred's pid, for its memory.
    #[arg(long)]
    pid: u32,
    /// Clients that dump the table and never read.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How long to keep them connected, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// `VmRSS` and `VmHWM` of a process, in MiB.
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kib("VmRSS:") / 1024, kib("VmHWM:") / 1024)
}

/// The control loop's turn histogram (`[le_us, turns]`).
fn turns(client: &mut ControlClient) -> Vec<[u64; 2]> {
    match client.call(&Request::Stats).expect("stats") {
        Reply::Stats(s) => s.control.turn_us,
        other => panic!("stats answered {other:?}"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args = Args::parse();
    let mut good = ControlClient::connect(&args.socket).expect("connecting");
    let total = match good
        .call(&Request::RouteShow(RouteFilter {
            limit: Some(0),
            ..RouteFilter::default()
        }))
        .expect("route show")
    {
        Reply::Routes(l) => l.total,
        other => panic!("route show answered {other:?}"),
    };
    let before = turns(&mut good);
    let (rss0, _) = memory_mib(args.pid);

    let mut hostile = Vec::new();
    let mut line = Vec::new();
    for i in 0..args.clients {
        let mut s = UnixStream::connect(&args.socket).expect("connecting a hostile client");
        line.clear();
        encode_request(
            i as u64,
            &Request::RouteShow(RouteFilter::default()),
            &mut line,
        );
        s.write_all(&line).expect("sending route show");
        hostile.push(s);
    }

    let mut latencies = Vec::new();
    let mut failures = 0;
    let end = Instant::now() + Duration::from_secs(args.seconds);
    while Instant::now() < end {
        let t = Instant::now();
        match good.call(&Request::Hello) {
            Ok(_) => latencies.push(t.elapsed()),
            Err(e) => {
                failures += 1;
                eprintln!("hello failed: {e}");
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (rss, peak) = memory_mib(args.pid);
    let after = turns(&mut good);
    drop(hostile);

    latencies.sort();
    // The longest turn during the run: the highest bucket whose count grew.
    let worst = after
        .iter()
        .zip(before.iter().chain(std::iter::repeat(&[0, 0])))
        .filter(|(a, b)| a[1] > b[1])
        .map(|(a, _)| a[0])
        .max()
        .unwrap_or(0);
    let turns_during: u64 =
        after.iter().map(|b| b[1]).sum::<u64>() - before.iter().map(|b| b[1]).sum::<u64>();
    println!(
        "hostile clients: {} dumping {total} routes each, never reading, for {} s",
        args.clients, args.seconds
    );
    println!(
        "hello from a well-behaved client: {} answered, {failures} failed; latency p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    println!("fibred memory: {rss0} MiB before, {rss} MiB at the end, {peak} MiB peak (VmHWM)");
    if worst == u64::MAX {
        println!("control loop: {turns_during} turns, the longest over 1 s");
    } else {
        println!("control loop: {turns_during} turns, the longest at most {worst} us");
    }
}
