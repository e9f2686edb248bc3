//! One fibre forwarding core end to end on DPDK ports, for `scripts/bench-forward-core`.
//!
//! ```text
//! fwd_core gen-pcap PATH FRAMES [TABLE]
//!     writes FRAMES 64-byte IPv4/UDP frames to random destinations of the table,
//!     addressed to MAC 02:f1:00:00:00:00 (port 0's MAC for `run` on net_pcap)
//! fwd_core gen-routes PATH [TABLE]
//!     writes the table's prefixes, one `a.b.c.d/len` a line (for DPDK's l3fwd, say)
//! fwd_core run [--seconds N] [TABLE] [--cpu C] [--no-cpu-accounting] [--checks scalar|avx2] [--mbufs N] -- EAL-ARGS...
//!     port 0 receives (e.g. net_pcap with infinite_rx=1), every route leaves by
//!     port 1 (e.g. net_null); prints "fwd_core: rx-pps N" each second (port 0's
//!     rte_eth_stats ipackets, what testpmd's Rx-pps counts) and the core's counters;
//!     --no-cpu-accounting leaves out the core's busy/idle cycle split (its cost);
//!     --checks avx2 runs the RFC 1812 checks eight frames at a time (to compare)
//! fwd_core floor --stage mac|lookup [--seconds N] [TABLE] [--cpu C] -- EAL-ARGS...
//!     not the forwarding core but the least a forwarder does, over the same ports,
//!     for telling the cost of the devices from the cost of routing: `mac` writes
//!     both Ethernet addresses of every frame and sends it on (testpmd's mac mode,
//!     through fibre's port layer); `lookup` takes the destination MAC from a
//!     DIR-24-8 lookup of the destination in TABLE, batched as the core does it (the
//!     table read every LPM router pays for a packet). No checks, no TTL.
//! ```
//! TABLE is `[--routes N] [--seed S]`: N distinct random /24s (and a /16 under each
//! 256th), built from the seed (default 100000, 1); or `--route-file PATH [--seed S]`:
//! the prefixes of a route file (fib's formats, e.g. RouteViews `prefix/len<TAB>asn`).
//! Either way over 16 resolved gateways on port 1, so every mode agrees on it; the
//! frames' destinations are random addresses inside random prefixes of the table.

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use dataplane::dpdk::{Eal, EthPort, PortConfig, PortQueue};
use dataplane::port::{Burst, Packet, Port, MAX_BURST};
use dataplane::wire::{EtherType, EthernetAddress, EthernetRepr, IpProtocol, Ipv4Repr};
use dataplane::worker::{ChecksKernel, CoreConfig, ForwardingCore, PortSetup};
use fib::{
    Dir24Config, Dir24Table, Fib, FibConfig, Ipv4Prefix, ListenerConfig, Nexthop, NexthopId,
    Protocol, Route, TableId,
};
use pcap_file::pcap::{PcapPacket, PcapWriter};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The table's /24 networks (host order), deterministic for a seed.
fn networks(routes: usize, seed: u64) -> Vec<u32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut seen = std::collections::HashSet::with_capacity(routes);
    let mut out = Vec::with_capacity(routes);
    while out.len() < routes {
        let first: u32 = rng.random_range(1..224);
        if first == 10 || first == 127 {
            continue;
        }
        let net = (first << 24) | (rng.random::<u32>() & 0x00ff_ff00);
        if seen.insert(net) {
            out.push(net);
        }
    }
    out
}

/// The destination MAC of `gen-pcap`'s frames, which `run` gives port 0 when it replays
/// a file (net_pcap): the core drops unicast frames to any MAC but the ingress port's.
const FRAME_DST_MAC: EthernetAddress = EthernetAddress([0x02, 0xf1, 0, 0, 0, 0]);

/// A 64-byte IPv4/UDP frame to `dst` (TTL 64, total length 50, ident `i`), as the wire
/// module emits it, addressed to [`FRAME_DST_MAC`].
fn frame(dst: u32, i: u32) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    let ethernet = EthernetRepr {
        dst_addr: FRAME_DST_MAC,
        src_addr: EthernetAddress([0x02, 0x5e, 0, 0, 0, 1]),
        vlan: None,
        ethertype: EtherType::IPV4,
    };
    let l3 = ethernet.emit(&mut f).expect("64 bytes hold the headers");
    let mut ip = Ipv4Repr::new(
        Ipv4Addr::new(192, 0, 2, 99),
        Ipv4Addr::from(dst),
        IpProtocol::UDP,
        30,
        64,
    );
    ip.ident = i as u16;
    ip.emit(&mut f[l3..]).expect("64 bytes hold the headers");
    f
}

fn gen_pcap(path: &str, frames: usize, table: &Table, seed: u64) -> Result<()> {
    let prefixes = table.prefixes()?;
    if prefixes.is_empty() {
        bail!("the table is empty");
    }
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(0x9e37));
    let file = std::fs::File::create(path).with_context(|| format!("creating {path}"))?;
    // Classic pcap: microsecond timestamps (all zero), Ethernet.
    let mut out = PcapWriter::new(std::io::BufWriter::new(file))?;
    for i in 0..frames as u32 {
        let (net, len) = prefixes[rng.random_range(0..prefixes.len())];
        // A host inside the prefix (not its first address, where there is room).
        let host_bits = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        let host = if host_bits > 1 {
            rng.random_range(1..=host_bits)
        } else {
            0
        };
        let dst = net | host;
        let f = frame(dst, i);
        out.write_packet(&PcapPacket::new(Duration::ZERO, f.len() as u32, &f))
            .with_context(|| format!("writing {path}"))?;
    }
    out.into_writer()
        .flush()
        .with_context(|| format!("writing {path}"))
}

/// Where the routes come from.
enum Table {
    /// `routes` random /24s (and a /16 under every 256th) from `seed`.
    Synthetic { routes: usize, seed: u64 },
    /// The prefixes of a route file.
    File(String),
}

impl Table {
    /// The table's prefixes in the order `build_fib` adds them (network, length).
    fn prefixes(&self) -> Result<Vec<(u32, u8)>> {
        match self {
            Table::Synthetic { routes, seed } => {
                let mut out = Vec::with_capacity(routes + routes / 256 + 1);
                let mut sixteens = std::collections::HashSet::new();
                for (k, net) in networks(*routes, *seed).into_iter().enumerate() {
                    out.push((net, 24));
                    if k % 256 == 0 && sixteens.insert(net & 0xffff_0000) {
                        out.push((net & 0xffff_0000, 16));
                    }
                }
                Ok(out)
            }
            Table::File(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
                let lines = fib::routefile::parse_str(&text).with_context(|| path.clone())?;
                let mut seen = std::collections::HashSet::with_capacity(lines.len());
                Ok(lines
                    .into_iter()
                    .map(|l| (l.prefix.addr(), l.prefix.len()))
                    .filter(|p| seen.insert(*p))
                    .collect())
            }
        }
    }
}

fn gen_routes(path: &str, table: &Table) -> Result<()> {
    let text: String = table
        .prefixes()?
        .into_iter()
        .map(|(net, len)| format!("{}/{len}\n", Ipv4Addr::from(net)))
        .collect();
    std::fs::write(path, text).with_context(|| format!("writing {path}"))
}

fn build_fib(table: &Table) -> Result<Fib> {
    let mut fib = Fib::new(FibConfig::default());
    let mut nexthops = Vec::new();
    for i in 0..16u32 {
        let gateway = Ipv4Addr::from(0x0a01_0000 | (i + 1));
        fib.set_neighbour(1, gateway, Some([0x02, 0x4e, 0, 0, 0, i as u8]));
        nexthops.push(fib.add_nexthop(Nexthop::Gateway { port: 1, gateway })?);
    }
    for (k, (net, len)) in table.prefixes()?.into_iter().enumerate() {
        let nh = nexthops[k % nexthops.len()];
        fib.add_route(
            TableId::MAIN,
            Ipv4Prefix::new(net, len)?,
            Route::new(nh, Protocol::Static),
        )?;
    }
    Ok(fib)
}

/// The two ports every mode uses: port 0 receives, port 1 sends; one pool for both.
fn start_ports(eal: &Eal, mbufs: u32) -> Result<(EthPort<'_>, EthPort<'_>)> {
    let ports = eal.ports();
    if ports.len() != 2 {
        bail!("need exactly 2 ports (rx, tx), have {}", ports.len());
    }
    let pool = eal.mempool("fwd_core_pool", mbufs, 256, 2048 + 128)?;
    let rx = eal.start_port(ports[0], pool, &PortConfig::default())?;
    let tx = eal.start_port(ports[1], pool, &PortConfig::default())?;
    Ok((rx, tx))
}

fn run(args: RunArgs) -> Result<()> {
    let (seconds, cpu, cpu_accounting) = (args.seconds, args.cpu, !args.no_cpu_accounting);
    let table = &args.table.table();
    let eal = Eal::init(&args.eal).context("EAL")?;
    let (rx, tx) = start_ports(&eal, args.mbufs)?;
    // The MAC the core accepts unicast frames for on port 0: the device's own, but
    // net_pcap replays a file (gen-pcap's, addressed to FRAME_DST_MAC) and filters
    // nothing, and its own MAC is one the file cannot know.
    let rx_mac = if rx.driver() == "net_pcap" {
        FRAME_DST_MAC
    } else {
        EthernetAddress(rx.mac()?)
    };
    println!(
        "fwd_core: port 0 ({}) takes frames for {rx_mac}",
        rx.driver()
    );
    let setups = vec![
        PortSetup::new(rx_mac),
        PortSetup::new(EthernetAddress(tx.mac()?)),
    ];
    let mut fib = build_fib(table)?;
    let sub = fib.register(ListenerConfig::new("core 0"))?;
    // Byte counts per core are not needed here (the devices count bytes too), and
    // reading every packet's length costs 10-16% end to end (docs/FORWARDING.md).
    let config = CoreConfig::new("core 0", setups)
        .cpu(cpu)
        .count_port_bytes(false)
        .cpu_accounting(cpu_accounting)
        .checks(match args.checks {
            Checks::Scalar => ChecksKernel::Scalar,
            Checks::Avx2 if ChecksKernel::Avx2.is_available() => ChecksKernel::Avx2,
            Checks::Avx2 => bail!("--checks avx2: this CPU has no AVX2"),
        });
    let queues = vec![rx.queue(0)?, tx.queue(0)?];
    let (mut core, handle) = ForwardingCore::new(config, queues, sub)?;
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<()> {
        let worker = scope.spawn(|| -> Result<()> {
            // An EAL lcore id gives this thread the mempool's per-lcore cache: without
            // one, net_null's free of every sent mbuf goes to the pool's ring (about 55
            // instructions a packet, callgrind; docs/FORWARDING.md). fibred does the same.
            let _registration = eal.register_thread()?;
            core.run(&stop);
            Ok(())
        });
        let started = Instant::now();
        while !handle.in_sync() {
            fib.pump();
            std::thread::sleep(Duration::from_millis(1));
            if started.elapsed() > Duration::from_secs(120) {
                stop.store(true, Ordering::Relaxed);
                bail!("core never finished its replay");
            }
        }
        println!(
            "fwd_core: replay of {} routes took {:?}",
            fib.installed().len(),
            started.elapsed()
        );
        let sampled = print_rates(&rx, seconds);
        stop.store(true, Ordering::Relaxed);
        sampled?;
        worker.join().expect("core thread")?;
        Ok(())
    })?;
    let s = handle.stats();
    println!(
        "fwd_core: forwarded {} dropped {} punted {} punt_ring_full {} pinned {:?} reasons {:?} tx_dropped {}",
        s.forwarded,
        s.total_dropped(),
        s.total_punted(),
        s.punt_ring_full,
        s.pinned_cpu,
        s.reasons(),
        s.port(1).tx_dropped
    );
    drop(handle);
    drop(core);
    Ok(())
}

/// What `floor` does to every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Stage {
    /// Both Ethernet addresses written: testpmd's mac mode.
    Mac,
    /// The destination MAC chosen by a DIR-24-8 lookup of the destination, done as
    /// the core does it: the burst's destinations read and their tbl24 entries
    /// prefetched, then one `lookup_bulk`.
    Lookup,
}

/// The table of `table` as a bare DIR-24-8 (nexthop `k % 16` for the k-th prefix, as
/// `build_fib` assigns them).
fn build_dir24(table: &Table) -> Result<Dir24Table> {
    let mut t = Dir24Table::new(Dir24Config::default());
    for (k, (net, len)) in table.prefixes()?.into_iter().enumerate() {
        t.insert(Ipv4Prefix::new(net, len)?, NexthopId((k % 16) as u32))?;
    }
    Ok(t)
}

/// The floor's loop: bursts of 32 from `rx`, rewritten in place, all sent on `tx`.
/// Returns how many frames `tx` took.
fn floor_loop<'p>(
    stage: Stage,
    table: &Dir24Table,
    rx: &mut PortQueue<'p>,
    tx: &mut PortQueue<'p>,
    stop: &AtomicBool,
) -> u64 {
    // The frame's first 12 bytes by nexthop id (the 16 gateways of build_fib, then
    // one for no route).
    let mut macs = [[0u8; 12]; 17];
    for (i, m) in macs.iter_mut().enumerate() {
        m[..6].copy_from_slice(&[0x02, 0x4e, 0, 0, 0, i as u8]);
        m[6..].copy_from_slice(&[0x02, 0x5e, 0, 0, 1, 1]);
    }
    let mut burst = Burst::new();
    let mut sent = 0u64;
    let mut dsts = [0u32; MAX_BURST];
    let mut ids = [0u32; MAX_BURST];
    while !stop.load(Ordering::Relaxed) {
        let n = rx.rx_burst(&mut burst);
        if n == 0 {
            continue;
        }
        match stage {
            Stage::Mac => ids[..n].fill(0),
            Stage::Lookup => {
                for (packet, d) in burst.iter().zip(dsts.iter_mut()) {
                    *d = match packet.data().first_chunk::<34>() {
                        Some(h) => u32::from_be_bytes([h[30], h[31], h[32], h[33]]),
                        None => 0,
                    };
                    table.prefetch(*d);
                }
                table.lookup_bulk(&dsts[..n], &mut ids[..n]);
            }
        }
        for (packet, &id) in burst.iter_mut().zip(ids.iter()) {
            if let Some(head) = packet.data_mut().first_chunk_mut::<12>() {
                head.copy_from_slice(&macs[(id as usize).min(16)]);
            }
        }
        sent += tx.tx_burst(&mut burst) as u64;
    }
    sent
}

fn floor(stage: Stage, args: RunArgs) -> Result<()> {
    let (seconds, cpu) = (args.seconds, args.cpu);
    let table = &args.table.table();
    let eal = Eal::init(&args.eal).context("EAL")?;
    let (rx, tx) = start_ports(&eal, args.mbufs)?;
    let dir24 = build_dir24(table)?;
    let (mut rxq, mut txq) = (rx.queue(0)?, tx.queue(0)?);
    rxq.set_count_bytes(false);
    txq.set_count_bytes(false);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<()> {
        let worker = scope.spawn(|| -> Result<u64> {
            // As for the core: an EAL lcore id (the mempool cache), pinned like it.
            let _registration = eal.register_thread()?;
            core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
            Ok(floor_loop(stage, &dir24, &mut rxq, &mut txq, &stop))
        });
        let sampled = print_rates(&rx, seconds);
        stop.store(true, Ordering::Relaxed);
        let sent = worker.join().expect("floor thread")?;
        sampled?;
        println!("fwd_core: floor {stage:?} sent {sent}");
        Ok(())
    })
}

/// Prints port `rx`'s received packets per second, `seconds` times.
fn print_rates(rx: &EthPort<'_>, seconds: u64) -> Result<()> {
    let mut last = rx.stats()?.ipackets;
    for _ in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        let now = rx.stats()?.ipackets;
        println!("fwd_core: rx-pps {}", now - last);
        last = now;
    }
    Ok(())
}

#[derive(Parser)]
#[command(
    about = "One fibre forwarding core end to end on DPDK ports (scripts/bench-forward-core)"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Writes FRAMES 64-byte IPv4/UDP frames to random destinations of the table.
    GenPcap {
        path: String,
        frames: usize,
        #[command(flatten)]
        table: TableArgs,
    },
    /// Writes the table's prefixes, one `a.b.c.d/len` a line (for DPDK's l3fwd, say).
    GenRoutes {
        path: String,
        #[command(flatten)]
        table: TableArgs,
    },
    /// Forwards from port 0 to port 1 with one forwarding core, printing port 0's
    /// rx-pps each second and the core's counters at the end.
    Run(RunArgs),
    /// Not the forwarding core but the least a forwarder does, over the same ports.
    Floor {
        /// `mac`: rewrite both MACs; `lookup`: the destination MAC from a DIR-24-8 lookup.
        #[arg(long, value_enum)]
        stage: Stage,
        #[command(flatten)]
        run: RunArgs,
    },
}

/// Where the routes come from (see the module's documentation).
#[derive(Args)]
struct TableArgs {
    /// Distinct random /24s (and a /16 under every 256th).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100_000,
        conflicts_with = "route_file"
    )]
    routes: usize,
    /// Seed of the random table and of the frames' destinations.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// The prefixes of a route file instead (fib's formats).
    #[arg(long, value_name = "PATH")]
    route_file: Option<String>,
}

impl TableArgs {
    fn table(self) -> Table {
        match self.route_file {
            Some(path) => Table::File(path),
            None => Table::Synthetic {
                routes: self.routes,
                seed: self.seed,
            },
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Checks {
    Scalar,
    Avx2,
}

#[derive(Args)]
struct RunArgs {
    /// Seconds to sample port 0's receive rate.
    #[arg(long, value_name = "N", default_value_t = 5)]
    seconds: u64,
    #[command(flatten)]
    table: TableArgs,
    /// CPU to pin the core's thread to.
    #[arg(long, value_name = "C", default_value_t = 1)]
    cpu: usize,
    /// `run`: the core without its busy/idle cycle accounting (to measure its cost).
    #[arg(long)]
    no_cpu_accounting: bool,
    /// How the core runs its RFC 1812 checks: frame by frame, or eight frames at a
    /// time with AVX2 (to compare them).
    #[arg(long, value_enum, default_value_t = Checks::Scalar)]
    checks: Checks,
    /// Mbufs in the ports' pool: net_pcap's infinite_rx holds one per frame of its
    /// file, so a pcap of many frames needs more than the default.
    #[arg(long, value_name = "N", default_value_t = 16383)]
    mbufs: u32,
    /// DPDK EAL arguments: two ports, port 0 receives and port 1 sends.
    #[arg(last = true, value_name = "EAL-ARGS")]
    eal: Vec<String>,
}

fn main() -> Result<()> {
    match Cli::parse().mode {
        Mode::GenPcap {
            path,
            frames,
            table,
        } => {
            let seed = table.seed;
            gen_pcap(&path, frames, &table.table(), seed)
        }
        Mode::GenRoutes { path, table } => gen_routes(&path, &table.table()),
        Mode::Run(r) => run(r),
        Mode::Floor { stage, run: r } => floor(stage, r),
    }
}
