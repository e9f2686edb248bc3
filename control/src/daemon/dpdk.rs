//! The DPDK backend `fibred` runs on: EAL, the configured ports started with one
//! queue pair per core (plus a spare, so `core add` works at runtime), and
//! forwarding cores on scoped threads registered with EAL.

use super::backend::{Backend, CoreStart};
use super::{startup, PortMeta};
use crate::config::Config;
use crate::interfaces::{LinkCounters, LinkState};
use anyhow::{Context, Result};
use dataplane::dpdk::{Eal, EthPort, Mbuf, PortConfig as DpdkPortConfig, PortQueue};
use dataplane::wire::ethernet::EthernetAddress;
use dataplane::worker::{CoreConfig, CoreHandle, ForwardingCore, IdlePolicy, SpareRx};
use fib::dir24::Dir24Config;
use fib::{PortId, TableId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

/// Runs `fibred` on DPDK until `stop` is set.
pub fn run(cfg: &Config, stop: &AtomicBool) -> Result<()> {
    let (args, names) = eal_args(cfg);
    let eal = Eal::init(&args).context("starting DPDK (EAL)")?;
    crate::metrics::telemetry::register_commands(&cfg.control_socket)
        .context("DPDK telemetry commands")?;
    let cores = startup::core_cpus(cfg).len();
    // One queue pair per core, and one spare so `core add` works at runtime; a
    // device with fewer gets what it has, and cores are limited to that.
    let (ports, metas) = start_ports(&eal, cfg, &names, cores as u16 + 1)?;
    let queues = ports.iter().map(queue_pairs).min().unwrap_or(0);
    let (_, dir24) = startup::fib_configs(cfg);
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
        startup::run(cfg, backend, metas, stop)
    })?;
    drop(ports);
    tracing::info!("stopped");
    Ok(())
}

/// The queue pairs a started port has.
fn queue_pairs(p: &EthPort) -> u16 {
    let (rx, tx) = p.queues();
    rx.min(tx)
}

/// Starts every configured port with `queues` queue pairs (or as many as its
/// device has, if fewer) and its own mempool.
fn start_ports<'eal>(
    eal: &'eal Eal,
    cfg: &Config,
    names: &[String],
    queues: u16,
) -> Result<(Vec<EthPort<'eal>>, Vec<PortMeta>)> {
    let mut ports = Vec::new();
    let mut metas = Vec::new();
    for (p, name) in cfg.ports.iter().zip(names) {
        let id = eal
            .port_by_name(name)
            .with_context(|| format!("port {}: device {name}", p.name))?;
        let (max_rx, max_tx) = eal
            .max_queues(id)
            .with_context(|| format!("port {}: device {name}", p.name))?;
        let queues = queues.min(max_rx).min(max_tx).max(1);
        if queues <= startup::core_cpus(cfg).len() as u16 {
            tracing::warn!(
                port = %p.name,
                device = %name,
                queue_pairs = queues,
                "the device has {queues} queue pair(s): at most {queues} core(s), none added at runtime"
            );
        }
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
            promiscuous: p.promiscuous,
        };
        let port = eal
            .start_port(id, pool, &pc)
            .with_context(|| format!("port {} ({name})", p.name))?;
        let device_mac = EthernetAddress(
            port.mac()
                .with_context(|| format!("port {}: MAC", p.name))?,
        );
        let mac = p.mac.unwrap_or(device_mac);
        // The cores take unicast frames for `mac` only. A NIC filters by its own MAC
        // unless promiscuous; virtual devices (net_*) filter nothing.
        if mac != device_mac && !p.promiscuous && !name.starts_with("net_") {
            tracing::warn!(
                port = %p.name,
                device = %name,
                %mac,
                %device_mac,
                "the port's mac differs from the device's and promiscuous is off: a NIC that filters by MAC drops the frames for {mac} (set promiscuous = true)"
            );
        }
        tracing::info!(port = %p.name, device = %name, %mac, queues, "port started");
        metas.push(PortMeta {
            name: p.name.clone(),
            mac,
            mtu: p.mtu,
            table: TableId(p.table),
        });
        ports.push(port);
    }
    Ok((ports, metas))
}

/// EAL arguments: the configured ones plus a `--vdev`/`-a` for every port whose
/// device the configured ones do not already name.
pub fn eal_args(cfg: &Config) -> (Vec<String>, Vec<String>) {
    let mut args = cfg.eal.clone();
    let mut names = Vec::new();
    for p in &cfg.ports {
        let dev = &p.device;
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
    (args, names)
}

/// Forwarding cores on scoped threads, each with one queue pair on every port.
pub struct DpdkBackend<'scope, 'env, 'eal> {
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
            counters: LinkCounters {
                rx_packets: stats.ipackets,
                rx_bytes: stats.ibytes,
                rx_dropped: stats.imissed + stats.ierrors + stats.rx_nombuf,
                tx_packets: stats.opackets,
                tx_bytes: stats.obytes,
                tx_dropped: stats.oerrors,
                rx_missed: stats.imissed,
                rx_errors: stats.ierrors,
                rx_nombuf: stats.rx_nombuf,
            },
        }
    }

    fn alloc(&mut self) -> Option<Mbuf<'env>> {
        self.ports.first()?.mempool().alloc()
    }

    fn start_core(&mut self, core: CoreStart) -> Result<CoreHandle<Mbuf<'env>>, String> {
        // The new core may take the spare queue pair: get it back from the core
        // polling it first, and offer what is left spare afterwards.
        self.reclaim_spares()?;
        let started = self.start_core_on_free_queue(core);
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
        // Per port: a device may have more queues than the fewest of any port.
        for (port, p) in self.ports.iter().enumerate() {
            if !p.spreads_flows() {
                continue;
            }
            for q in (0..queue_pairs(p)).filter(|q| !used.contains(q)) {
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
        core: CoreStart,
    ) -> Result<CoreHandle<Mbuf<'env>>, String> {
        let id = core.id;
        let used: Vec<u16> = self.running.values().map(|(q, _, _)| *q).collect();
        let queue = (0..self.queues)
            .find(|q| !used.contains(q))
            .ok_or_else(|| {
                // Name the port that limits the cores: each needs a pair on every port.
                let limit = self
                    .ports
                    .iter()
                    .min_by_key(|p| queue_pairs(p))
                    .map(|p| format!(" (device {}, driver {})", p.name(), p.driver()))
                    .unwrap_or_default();
                format!(
                    "no free queue pair: every core needs one on every port, and the \
                     ports have {} usable pair(s){limit}, all in use",
                    self.queues
                )
            })?;
        let handles = self
            .ports
            .iter()
            .map(|p| p.queue(queue))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let mut config = CoreConfig::new(format!("core{id}"), core.setups)
            .fib_budget(self.fib_budget)
            .dir24(self.dir24)
            .idle(self.idle)
            .count_port_bytes(self.count_bytes);
        if let Some(c) = core.cpu {
            config = config.cpu(c);
        }
        let (mut core, handle) =
            ForwardingCore::new(config, handles, core.subscription).map_err(|e| e.to_string())?;
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
