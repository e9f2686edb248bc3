//! Raw bindings to the system DPDK (22.11 LTS or newer), generated at build
//! time by bindgen from the headers found through `pkg-config libdpdk`.
//!
//! Besides DPDK's exported functions, the `fibre_rte_*` functions wrap the
//! static-inline fast path (`rte_eth_rx_burst`, `rte_eth_tx_burst`, mbuf
//! alloc/free, `rte_errno`, `rte_lcore_id`, `rte_lpm_lookup_bulk`, ...), which
//! has no linkable symbol of its own; see `shim.h`.
//!
//! Everything here is `unsafe` and unchecked; `dataplane`'s `dpdk` module is
//! the safe layer.

#![no_std]
// For the hand-written code here: the generated bindings opt out below.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

/// bindgen's output, kept in its own module so the lints that do not fit
/// generated C bindings (naming, layout tests, its unsafe accessors with no
/// `// SAFETY:` comments) are allowed there only.
#[allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    improper_ctypes,
    unnecessary_transmutes,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks,
    rustdoc::all
)]
mod bindings {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub use bindings::*;
