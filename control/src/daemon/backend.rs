//! What the router needs from the machine: ports and forwarding cores. `fibred`
//! drives DPDK ports ([`super::dpdk`]); tests drive software ports in the same
//! process ([`super::soft`]), so the whole daemon runs without EAL or root.

use crate::interfaces::LinkState;
use dataplane::port::Packet;
use dataplane::worker::{CoreHandle, PortSetup};
use fib::{PortId, Subscription};

/// Ports and cores.
pub trait Backend {
    type Packet: Packet;

    /// What the backend drives ports with (`dpdk`, `soft`), for `link show`.
    fn kind(&self) -> &'static str;
    fn link(&self, port: PortId) -> LinkState;
    /// A packet buffer to build an injected frame in.
    fn alloc(&mut self) -> Option<Self::Packet>;
    /// Starts forwarding core `id` (pinned to `cpu` if given) following the FIB
    /// through `subscription`, with one queue pair on every port.
    fn start_core(
        &mut self,
        id: u32,
        cpu: Option<usize>,
        setups: Vec<PortSetup>,
        subscription: Subscription,
    ) -> Result<CoreHandle<Self::Packet>, String>;
    /// Stops core `id` and frees its queues.
    fn stop_core(&mut self, id: u32) -> Result<(), String>;
}
