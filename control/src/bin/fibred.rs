//! `fibred`: the fibre daemon. One control thread (the FIB's single writer, the
//! control socket, the slow path, neighbour resolution) and one forwarding core per
//! configured CPU, on DPDK ports.
//!
//! Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for an invalid
//! configuration, 1 for any other start-up or runtime failure.

use anyhow::{bail, Context, Result};
use clap::Parser;
use control::config::{Config, CoreSet, PortBackend, Target};
use control::daemon::journal::{Journal, JournalWriter};
use control::daemon::{Backend, LinkState, PortMeta, Router};
use control::proto::{self, AddrSpec, NeighSpec, PortRef, Request, RouteSpec, RouteTarget};
use control::server::Server;
use dataplane::dpdk::{Eal, EthPort, Mbuf, PortConfig as DpdkPortConfig, PortQueue};
use dataplane::wire::ethernet::EthernetAddress;
use dataplane::worker::{CoreConfig, CoreHandle, ForwardingCore, IdlePolicy, PortSetup, SpareRx};
use fib::dir24::Dir24Config;
use fib::{Fib, FibConfig, PortId, Protocol, Subscription, TableId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    version,
    about = "fibre: IPv4 forwarding daemon (DPDK, per-core DIR-24-8 tables kept in step by FIB replay)"
)]
struct Args {
    /// Configuration file (TOML; see docs/CONFIG.md).
    #[arg(short, long, default_value = "/etc/fibre/fibred.toml")]
    config: PathBuf,
}

/// Set by SIGINT/SIGTERM; the control loop polls it.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FIBRE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fibred: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    install_signal_handlers();
    match run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fibred: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// EAL arguments: the configured ones plus a `--vdev`/`-a` for every port whose
/// device the configured ones do not already name.
fn eal_args(cfg: &Config) -> Result<(Vec<String>, Vec<String>)> {
    let mut args = cfg.eal.clone();
    let mut names = Vec::new();
    for p in &cfg.ports {
        let PortBackend::Dpdk(dev) = &p.backend else {
            bail!(
                "port {}: software ports are for in-process tests; fibred drives DPDK ports",
                p.name
            );
        };
        let name = dev.split(',').next().unwrap_or(dev).to_string();
        if !args.iter().any(|a| a.contains(&name)) {
            if name.starts_with("net_") {
                args.push(format!("--vdev={dev}"));
            } else {
                args.push("-a".into());
                args.push(dev.clone());
            }
        }
        names.push(name);
    }
    Ok((args, names))
}

/// Forwarding cores on scoped threads, each with one queue pair on every port.
struct DpdkBackend<'scope, 'env, 'eal> {
    scope: &'scope Scope<'scope, 'env>,
    eal: &'env Eal,
    ports: &'env [EthPort<'eal>],
    /// Queue index of each running core, its stop flag and thread.
    running: HashMap<u32, (u16, Arc<AtomicBool>, ScopedJoinHandle<'scope, ()>)>,
    /// Each running core's spare-queue hand-over.
    spares: HashMap<u32, Arc<SpareRx<PortQueue<'env>>>>,
    /// The core polling the spare queues, if any.
    spare_holder: Option<u32>,
    queues: u16,
    dir24: Dir24Config,
    fib_budget: usize,
    idle: IdlePolicy,
    count_bytes: bool,
}

impl<'scope, 'env: 'scope, 'eal: 'env> Backend for DpdkBackend<'scope, 'env, 'eal> {
    type Packet = Mbuf<'env>;

    fn kind(&self) -> &'static str {
        "dpdk"
    }

    fn link(&self, port: PortId) -> LinkState {
        let Some(p) = self.ports.get(port as usize) else {
            return LinkState::default();
        };
        let link = p.link().ok();
        let stats = p.stats().unwrap_or_default();
        LinkState {
            up: link.is_some_and(|l| l.up),
            speed_mbps: link.map(|l| l.speed_mbps).filter(|s| *s > 0),
            rx_packets: stats.ipackets,
            rx_bytes: stats.ibytes,
            rx_dropped: stats.imissed + stats.ierrors + stats.rx_nombuf,
            tx_packets: stats.opackets,
            tx_bytes: stats.obytes,
            tx_dropped: stats.oerrors,
        }
    }

    fn alloc(&mut self) -> Option<Mbuf<'env>> {
        self.ports.first()?.mempool().alloc()
    }

    fn start_core(
        &mut self,
        id: u32,
        cpu: Option<usize>,
        setups: Vec<PortSetup>,
        subscription: Subscription,
    ) -> Result<CoreHandle<Mbuf<'env>>, String> {
        // The new core may take the spare queue pair: get it back from the core
        // polling it first, and offer what is left spare afterwards.
        self.reclaim_spares()?;
        let started = self.start_core_on_free_queue(id, cpu, setups, subscription);
        self.offer_spares();
        started
    }

    fn stop_core(&mut self, id: u32) -> Result<(), String> {
        self.reclaim_spares()?;
        self.spares.remove(&id);
        let (_, stop, thread) = self
            .running
            .remove(&id)
            .ok_or_else(|| format!("no core {id}"))?;
        stop.store(true, Ordering::Release);
        let joined = thread.join().map_err(|_| format!("core {id} panicked"));
        self.offer_spares();
        joined
    }
}

impl<'scope, 'env: 'scope, 'eal: 'env> DpdkBackend<'scope, 'env, 'eal> {
    /// Asks the core polling the spare queues to drop them, and waits (briefly: it
    /// answers between bursts) until it has.
    fn reclaim_spares(&mut self) -> Result<(), String> {
        let Some(holder) = self.spare_holder.take() else {
            return Ok(());
        };
        let Some(spare) = self.spares.get(&holder) else {
            return Ok(());
        };
        spare.request_release();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !spare.released() {
            if Instant::now() > deadline {
                return Err(format!(
                    "core {holder} did not give the spare queues back within 2 s"
                ));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    /// Offers every queue no core owns to the running core with the lowest id, so
    /// flows a device spreads onto them (RSS, tap) are forwarded, not lost.
    fn offer_spares(&mut self) {
        let Some(&holder) = self.running.keys().min() else {
            return;
        };
        let Some(spare) = self.spares.get(&holder) else {
            return;
        };
        let used: Vec<u16> = self.running.values().map(|(q, _, _)| *q).collect();
        let mut offered = 0;
        for q in (0..self.queues).filter(|q| !used.contains(q)) {
            for (port, p) in self.ports.iter().enumerate() {
                if !p.spreads_flows() {
                    continue;
                }
                match p.queue(q) {
                    Ok(handle) => {
                        if spare.offer(port as u16, handle).is_ok() {
                            offered += 1;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "spare queue not offered"),
                }
            }
        }
        if offered > 0 {
            self.spare_holder = Some(holder);
            tracing::debug!(
                core = holder,
                queues = offered,
                "spare queues polled by core"
            );
        }
    }

    fn start_core_on_free_queue(
        &mut self,
        id: u32,
        cpu: Option<usize>,
        setups: Vec<PortSetup>,
        subscription: Subscription,
    ) -> Result<CoreHandle<Mbuf<'env>>, String> {
        let used: Vec<u16> = self.running.values().map(|(q, _, _)| *q).collect();
        let queue = (0..self.queues)
            .find(|q| !used.contains(q))
            .ok_or_else(|| {
                format!(
                    "all {} queue pairs of the ports are in use: no room for another core",
                    self.queues
                )
            })?;
        let handles = self
            .ports
            .iter()
            .map(|p| p.queue(queue))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let mut config = CoreConfig::new(format!("core{id}"), setups)
            .fib_budget(self.fib_budget)
            .dir24(self.dir24)
            .idle(self.idle)
            .count_port_bytes(self.count_bytes);
        if let Some(c) = cpu {
            config = config.cpu(c);
        }
        let (mut core, handle) =
            ForwardingCore::new(config, handles, subscription).map_err(|e| e.to_string())?;
        self.spares.insert(id, core.spare_rx());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let eal = self.eal;
        let thread = std::thread::Builder::new()
            .name(format!("core{id}"))
            .spawn_scoped(self.scope, move || {
                let _registration = eal.register_thread();
                core.run(&flag);
            })
            .map_err(|e| format!("cannot start core thread: {e}"))?;
        self.running.insert(id, (queue, stop, thread));
        Ok(handle)
    }
}

fn port_ref(i: u16) -> PortRef {
    PortRef::Index(i)
}

fn route_target(cfg: &Config, t: &Target) -> RouteTarget {
    match *t {
        Target::Via { gateway, port } => RouteTarget::Via {
            gateway,
            port: Some(port_ref(port)),
        },
        Target::Dev { port } => RouteTarget::Dev(port_ref(port)),
        Target::Blackhole => RouteTarget::Blackhole,
        Target::Nexthop(i) => route_target(cfg, &cfg.nexthops[i].target),
    }
}

/// The configuration file's state, as the requests that build it.
fn config_requests(cfg: &Config) -> Vec<Request> {
    let mut out = Vec::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        for a in &p.addrs {
            out.push(Request::AddrAdd(AddrSpec {
                addr: *a,
                port: port_ref(i as u16),
            }));
        }
    }
    for n in &cfg.neighbours {
        out.push(Request::NeighAdd(NeighSpec {
            addr: n.addr,
            port: port_ref(n.port),
            mac: Some(n.mac),
        }));
    }
    for r in &cfg.routes {
        out.push(Request::RouteReplace(RouteSpec {
            table: r.table,
            prefix: r.prefix,
            target: route_target(cfg, &r.target),
            protocol: Protocol::Static,
            distance: r.distance,
        }));
    }
    out
}

fn run(cfg: Config) -> Result<()> {
    let (args, names) = eal_args(&cfg)?;
    let eal = Eal::init(&args).context("starting DPDK (EAL)")?;
    let core_cpus: Vec<Option<usize>> = match &cfg.cores.set {
        CoreSet::Cpus(c) => c.iter().map(|c| Some(*c)).collect(),
        CoreSet::Count(n) => (0..*n).map(|_| None).collect(),
    };
    // One queue pair per core, and one spare so `core add` works at runtime.
    let queues = core_cpus.len() as u16 + 1;
    let mut ports = Vec::new();
    let mut metas = Vec::new();
    for (p, name) in cfg.ports.iter().zip(&names) {
        let id = eal
            .port_by_name(name)
            .with_context(|| format!("port {}: device {name}", p.name))?;
        let descs = cfg.cores.rx_ring + cfg.cores.tx_ring;
        let pool = eal
            .mempool(
                &format!("pool_{}", p.name),
                (descs * u32::from(queues) + 8192).next_power_of_two() - 1,
                256,
                2048,
            )
            .with_context(|| format!("port {}: mempool", p.name))?;
        let pc = DpdkPortConfig {
            rx_queues: queues,
            tx_queues: queues,
            rx_desc: cfg.cores.rx_ring as u16,
            tx_desc: cfg.cores.tx_ring as u16,
            promiscuous: true,
        };
        let port = eal
            .start_port(id, pool, &pc)
            .with_context(|| format!("port {} ({name})", p.name))?;
        let mac = match p.mac {
            Some(m) => EthernetAddress(m.0),
            None => EthernetAddress(
                port.mac()
                    .with_context(|| format!("port {}: MAC", p.name))?,
            ),
        };
        tracing::info!(port = %p.name, device = %name, %mac, queues, "port started");
        metas.push(PortMeta {
            name: p.name.clone(),
            mac,
            mtu: p.mtu,
            table: TableId(p.table),
        });
        ports.push(port);
    }
    let mut fib_cfg = FibConfig::default();
    if let Some(n) = cfg.fib.max_nexthops {
        fib_cfg.max_nexthops = n.min(fib_cfg.max_nexthops);
    }
    if let Some(n) = cfg.fib.max_resyncs_in_a_row {
        fib_cfg.max_resyncs_in_a_row = n;
    }
    let mut dir24 = Dir24Config::default();
    if let Some(g) = cfg.fib.max_tbl8_groups {
        if g > fib::dir24::MAX_TBL8_GROUPS {
            bail!(
                "fib.max_tbl8_groups = {g}: the DIR-24-8 layout addresses at most {}",
                fib::dir24::MAX_TBL8_GROUPS
            );
        }
        dir24.tbl8_groups_max = g;
    }
    let ring = cfg.fib.ring_size.unwrap_or(4096);
    let ports_ref: &[EthPort] = &ports;
    let eal_ref = &eal;
    std::thread::scope(|scope| -> Result<()> {
        let backend = DpdkBackend {
            scope,
            eal: eal_ref,
            ports: ports_ref,
            running: HashMap::new(),
            spares: HashMap::new(),
            spare_holder: None,
            queues,
            dir24,
            fib_budget: 16_384,
            count_bytes: cfg.cores.count_bytes,
            idle: if cfg.cores.yield_when_idle {
                IdlePolicy::Yield
            } else {
                IdlePolicy::Spin
            },
        };
        let mut router = Router::new(Fib::new(fib_cfg), backend, metas, ring);
        for r in config_requests(&cfg) {
            let name = r.name();
            router
                .handle(r)
                .map_err(|e| anyhow::anyhow!("configuration {name}: {}", e.message))?;
        }
        router.take_journal();
        let journal = match &cfg.state_file {
            Some(path) => {
                let (j, saved) = Journal::open(path)?;
                let n = saved.len();
                let mut refused = 0;
                for r in saved {
                    if let Err(e) = router.handle(r) {
                        refused += 1;
                        tracing::warn!(error = %e.message, "journal entry no longer applies");
                    }
                }
                router.take_journal();
                tracing::info!(path = %path.display(), entries = n, refused, "runtime state restored");
                Some(JournalWriter::spawn(j).context("starting the journal writer")?)
            }
            None => None,
        };
        for cpu in &core_cpus {
            router
                .add_core(*cpu)
                .map_err(|e| anyhow::anyhow!("starting a core: {}", e.message))?;
        }
        // Route sources start once the cores are listening, so their first dump
        // already flows to the cores as live changes.
        if let Some(k) = &cfg.kernel {
            router.add_source(control::source::kernel::spawn(k).context("[kernel] route mirror")?);
        }
        if let Some(f) = &cfg.fpm {
            router.add_source(control::source::fpm::spawn(f).context("[fpm] server")?);
        }
        let mut server = Server::bind(&cfg.control_socket)
            .with_context(|| format!("control socket {}", cfg.control_socket.display()))?;
        tracing::info!(socket = %cfg.control_socket.display(), routes = router.fib().stats().prefixes, "fibred ready");
        let mut incoming = Vec::new();
        let mut idle_since: Option<Instant> = None;
        while !STOP.load(Ordering::SeqCst) {
            let now = Instant::now();
            let mut busy = router.turn(now, 64);
            busy |= router.poll_sources(4096);
            incoming.clear();
            server.poll(&mut incoming);
            busy |= !incoming.is_empty();
            for inc in incoming.drain(..) {
                let response: proto::Response = router.handle(inc.request);
                server.reply(inc.client, inc.id, &response);
            }
            if let Some(j) = &journal {
                j.append(router.take_journal());
            }
            if busy {
                idle_since = None;
            } else {
                // The control thread shares the machine with spinning cores: idle
                // rather than spin. Briefly at first (a burst of requests or punts
                // usually continues); after 10 ms of nothing, 1 ms at a time, so an
                // idle daemon wakes 1,000 times a second, not 5,000.
                let idle_for = now.duration_since(*idle_since.get_or_insert(now));
                std::thread::sleep(if idle_for < Duration::from_millis(10) {
                    Duration::from_micros(200)
                } else {
                    Duration::from_millis(1)
                });
            }
        }
        tracing::info!("shutting down");
        router.stop_all();
        drop(server);
        // Flushes what is queued for the journal.
        drop(journal);
        Ok(())
    })?;
    drop(ports);
    tracing::info!("stopped");
    Ok(())
}
