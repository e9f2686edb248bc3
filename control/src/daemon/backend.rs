//! What the router needs from the machine: ports and forwarding cores. `fibred`
//! drives DPDK ports ([`super::dpdk`]); tests drive software ports in the same
//! process ([`super::soft`]), so the whole daemon runs without EAL or root.

use crate::interfaces::LinkState;
use dataplane::port::Packet;
use dataplane::worker::{CoreHandle, PortSetup};
use fib::{PortId, Subscription};

/// What a backend needs to start a forwarding core.
pub struct CoreStart {
    pub id: u32,
    /// Pin the core's thread to this CPU.
    pub cpu: Option<usize>,
    /// Each port as the core sees it (index = `PortId`).
    pub setups: Vec<PortSetup>,
    /// The core's FIB listener, registered by the router.
    pub subscription: Subscription,
}

/// Ports and cores.
pub trait Backend {
    type Packet: Packet;

    /// What the backend drives ports with (`dpdk`, `soft`), for `link show`.
    fn kind(&self) -> &'static str;
    fn link(&self, port: PortId) -> LinkState;
    /// A packet buffer to build an injected frame in.
    fn alloc(&mut self) -> Option<Self::Packet>;
    /// Starts a forwarding core with one queue pair on every port.
    fn start_core(&mut self, core: CoreStart) -> Result<CoreHandle<Self::Packet>, String>;
    /// Stops core `id` and frees its queues.
    fn stop_core(&mut self, id: u32) -> Result<(), String>;
}
