//! RX-to-TX forwarding loop over DPDK ports, the counterpart of
//! `dpdk-testpmd --forward-mode=io`: packets received on port 2k go out of
//! port 2k+1 and vice versa (one port forwards to itself), untouched.
//!
//! Used by `scripts/bench-io` to measure what the `Port` layer costs against
//! testpmd on the same virtual devices.
//!
//! ```text
//! io_fwd [--seconds N] [--tx-first] [--count-bytes] -- EAL-ARGS...
//! ```
//! Each second it prints the packets per second the ports received (summed
//! `rte_eth_stats` ipackets, the same counter testpmd's `Rx-pps` uses) and at
//! the end the median over the run, skipping the first second.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use dataplane::dpdk::{Eal, EthPort, PortConfig, PortQueue};
use dataplane::port::{Burst, Packet, Port, MAX_BURST};

#[derive(Parser)]
#[command(about = "RX-to-TX loop over DPDK ports (port 2k <-> 2k+1), like testpmd's io mode")]
struct Args {
    /// How long to forward.
    #[arg(long, default_value_t = 5, value_name = "N")]
    seconds: u64,
    /// Send one burst of 64-byte frames on every port first (for ring ports).
    #[arg(long)]
    tx_first: bool,
    /// Count bytes per queue (reads every packet's length).
    #[arg(long)]
    count_bytes: bool,
    /// DPDK EAL arguments (ports as --vdev=... or -a ...).
    #[arg(last = true, value_name = "EAL-ARGS")]
    eal: Vec<String>,
}

/// One burst of 64-byte frames, like testpmd's `--tx-first`, so ring ports
/// (which produce nothing by themselves) have packets to forward.
fn tx_first(q: &mut PortQueue<'_>) -> Result<()> {
    let mut b = Burst::new();
    for i in 0..MAX_BURST {
        let mut p = q.alloc().context("mempool empty")?;
        p.set_len(64)?;
        let d = p.data_mut();
        d.fill(0);
        d[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
        d[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        d[12..14].copy_from_slice(&[0x08, 0x00]);
        d[14] = 0x45;
        d[33] = i as u8;
        b.push(p).map_err(|_| anyhow::anyhow!("burst full"))?;
    }
    q.tx_burst(&mut b);
    Ok(())
}

/// The forwarding loop, generic over the port backend (monomorphised).
#[inline(never)]
fn forward<P: Port>(queues: &mut [P], peer: &[usize], mut stop: impl FnMut() -> bool) {
    let mut burst = Burst::new();
    loop {
        for _ in 0..1024 {
            for i in 0..queues.len() {
                if queues[i].rx_burst(&mut burst) == 0 {
                    continue;
                }
                queues[peer[i]].tx_burst(&mut burst);
            }
        }
        if stop() {
            return;
        }
    }
}

fn rx_total(ports: &[EthPort<'_>]) -> Result<u64> {
    let mut t = 0;
    for p in ports {
        t += p.stats()?.ipackets;
    }
    Ok(t)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let eal = Eal::init(&args.eal)?;
    let ids = eal.ports();
    if ids.is_empty() {
        bail!("no DPDK ports: give --vdev=... or -a ... in the EAL arguments");
    }
    // The same pool as testpmd's (--total-num-mbufs=16384, cache 250, 2048
    // bytes of data room), so the two loops differ only in their own code.
    let pool = eal.mempool("io_fwd_pool", 16384, 250, 2048)?;
    let ports: Vec<EthPort<'_>> = ids
        .iter()
        .map(|&id| eal.start_port(id, pool, &PortConfig::default()))
        .collect::<Result<_, _>>()?;
    let mut queues: Vec<PortQueue<'_>> =
        ports.iter().map(|p| p.queue(0)).collect::<Result<_, _>>()?;
    // Like testpmd's io mode, the loop does not touch the mbufs unless asked
    // to count bytes per handle (the device counts them regardless).
    for q in &mut queues {
        q.set_count_bytes(args.count_bytes);
    }
    // Pairs (0,1), (2,3), ...; a last odd port forwards to itself.
    let peer: Vec<usize> = (0..queues.len())
        .map(|i| if i ^ 1 < queues.len() { i ^ 1 } else { i })
        .collect();
    let names: Vec<&str> = ports.iter().map(|p| p.name()).collect();
    eprintln!(
        "io_fwd: ports {names:?}, lcore {}, {} s",
        eal.lcore_id(),
        args.seconds
    );
    if args.tx_first {
        for q in &mut queues {
            tx_first(q)?;
        }
    }

    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut samples = Vec::new();
    let mut last_t = start;
    let mut last_rx = rx_total(&ports)?;
    let mut next = start + Duration::from_secs(1);
    let mut err = None;
    forward(&mut queues, &peer, || {
        let now = Instant::now();
        if now < next {
            return false;
        }
        match rx_total(&ports) {
            Ok(rx) => {
                let pps = (rx - last_rx) as f64 / (now - last_t).as_secs_f64();
                println!("io_fwd: rx-pps {pps:.0}");
                samples.push(pps);
                last_rx = rx;
                last_t = now;
            }
            Err(e) => {
                err = Some(e);
                return true;
            }
        }
        next += Duration::from_secs(1);
        now >= end
    });
    if let Some(e) = err {
        return Err(e);
    }
    let mut dropped = 0;
    for q in &queues {
        dropped += q.counters().tx_dropped;
    }
    let mut s: Vec<f64> = samples.iter().skip(1).copied().collect();
    if s.is_empty() {
        s = samples.clone();
    }
    s.sort_by(f64::total_cmp);
    let median = s.get(s.len() / 2).copied().unwrap_or(0.0);
    println!(
        "io_fwd: median rx-pps {median:.0} ({:.2} Mpps), tx dropped {dropped}",
        median / 1e6
    );
    drop(queues);
    drop(ports);
    drop(eal);
    Ok(())
}
