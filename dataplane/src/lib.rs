//! fibre's dataplane: packets, ports and forwarding cores.

pub mod port;

#[cfg(feature = "dpdk")]
pub mod dpdk;

pub mod forward;
pub mod wire;
pub mod worker;
