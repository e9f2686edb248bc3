//! fibre's dataplane: packets, ports and forwarding cores.
//!
//! `unsafe` is kept to the DPDK layer (`dpdk`, over `dpdk-sys`), the software
//! port's buffers, the pipeline's unchecked indexing and the AVX2 checks' header
//! loads and calls (`forward::vector`); every block says why it is sound, and an
//! unsafe fn's body gets no implicit unsafe block.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod port;

#[cfg(feature = "dpdk")]
pub mod dpdk;

pub mod forward;
pub mod wire;
pub mod worker;
