//! fibre's dataplane: packets, ports and forwarding cores.

pub mod forward;
pub mod wire;
