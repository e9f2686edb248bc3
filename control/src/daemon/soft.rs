//! The in-process backend: software ports (`dataplane::port::soft`) and cores on
//! ordinary threads, so a whole [`Router`](super::Router) runs under plain
//! `cargo test`, without DPDK or root.
//!
//! Each core gets, on every port, one end of a software link; the other end (the
//! "wire") stays here for the test to send frames into the router and read what
//! it forwarded, as a packet generator on a NIC would. Cores yield when idle: the
//! test and the control loop share the machine with them.

use super::backend::{Backend, CoreStart};
use crate::interfaces::LinkState;
use dataplane::port::soft::{SoftPacket, SoftPool, SoftPort};
use dataplane::port::Port;
use dataplane::worker::{CoreConfig, CoreHandle, ForwardingCore, IdlePolicy};
use fib::dir24::Dir24Config;
use fib::PortId;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Packets each direction of a software link holds.
const LINK_DEPTH: usize = 1024;
/// Buffers in the shared pool.
const POOL_BUFFERS: usize = 16 * 1024;

struct SoftCore {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    /// The far end of the core's link on each port.
    wires: Vec<SoftPort>,
}

/// Software ports and threads for cores.
pub struct SoftBackend {
    pool: SoftPool,
    ports: usize,
    links_up: Vec<bool>,
    dir24: Dir24Config,
    cores: BTreeMap<u32, SoftCore>,
}

impl SoftBackend {
    /// A backend with `ports` ports (all up) and small DIR-24-8 tables.
    pub fn new(ports: usize) -> Self {
        Self::with_dir24(ports, Dir24Config::default())
    }

    pub fn with_dir24(ports: usize, dir24: Dir24Config) -> Self {
        SoftBackend {
            pool: SoftPool::new(POOL_BUFFERS),
            ports,
            links_up: vec![true; ports],
            dir24,
            cores: BTreeMap::new(),
        }
    }

    /// The pool frames to send are allocated from.
    pub fn pool(&self) -> &SoftPool {
        &self.pool
    }

    /// The wire end of core `core`'s link on `port`: what is sent on it, the core
    /// receives on `port`; what the core transmits on `port`, it receives.
    pub fn wire(&mut self, core: u32, port: PortId) -> Option<&mut SoftPort> {
        self.cores.get_mut(&core)?.wires.get_mut(usize::from(port))
    }

    /// Sets what `link show` reports for a port.
    pub fn set_link(&mut self, port: PortId, up: bool) {
        if let Some(l) = self.links_up.get_mut(usize::from(port)) {
            *l = up;
        }
    }

    /// The ids of the running cores.
    pub fn running(&self) -> Vec<u32> {
        self.cores.keys().copied().collect()
    }
}

impl Backend for SoftBackend {
    type Packet = SoftPacket;

    fn kind(&self) -> &'static str {
        "soft"
    }

    /// The port's counters seen from the wires: what the wires sent, the router
    /// received, and the other way round.
    fn link(&self, port: PortId) -> LinkState {
        let mut link = LinkState {
            up: self
                .links_up
                .get(usize::from(port))
                .copied()
                .unwrap_or(false),
            ..LinkState::default()
        };
        for core in self.cores.values() {
            if let Some(w) = core.wires.get(usize::from(port)) {
                let (c, l) = (w.counters(), &mut link.counters);
                l.rx_packets += c.tx_packets;
                l.rx_bytes += c.tx_bytes;
                l.rx_dropped += c.tx_dropped;
                l.tx_packets += c.rx_packets;
                l.tx_bytes += c.rx_bytes;
            }
        }
        link
    }

    fn alloc(&mut self) -> Option<SoftPacket> {
        self.pool.alloc()
    }

    fn start_core(&mut self, core: CoreStart) -> Result<CoreHandle<SoftPacket>, String> {
        let (id, setups) = (core.id, core.setups);
        if setups.len() != self.ports {
            return Err(format!(
                "{} port setups for {} ports",
                setups.len(),
                self.ports
            ));
        }
        let (mut ends, mut wires) = (Vec::new(), Vec::new());
        for _ in 0..self.ports {
            let (core_end, wire_end) = SoftPort::pair(&self.pool, LINK_DEPTH);
            ends.push(core_end);
            wires.push(wire_end);
        }
        let mut config = CoreConfig::new(format!("core{id}"), setups)
            .dir24(self.dir24)
            .idle(IdlePolicy::Yield)
            .count_port_bytes(true);
        if let Some(c) = core.cpu {
            config = config.cpu(c);
        }
        let (mut core, handle) =
            ForwardingCore::new(config, ends, core.subscription).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("core{id}"))
            .spawn(move || core.run(&flag))
            .map_err(|e| format!("cannot start core thread: {e}"))?;
        self.cores.insert(
            id,
            SoftCore {
                stop,
                thread,
                wires,
            },
        );
        Ok(handle)
    }

    fn stop_core(&mut self, id: u32) -> Result<(), String> {
        let core = self
            .cores
            .remove(&id)
            .ok_or_else(|| format!("no core {id}"))?;
        core.stop.store(true, Ordering::Release);
        core.thread
            .join()
            .map_err(|_| format!("core {id} panicked"))
    }
}

impl Drop for SoftBackend {
    fn drop(&mut self) {
        for id in self.running() {
            let _ = self.stop_core(id);
        }
    }
}
