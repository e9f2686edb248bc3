//! Errors of the DPDK layer: each names the device or object and carries
//! `rte_errno`'s text (`rte_strerror`).

/// A DPDK failure.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// DPDK allows one `rte_eal_init` per process, even after cleanup.
    #[error(
        "the DPDK EAL was already initialised in this process (DPDK allows it once per process)"
    )]
    EalAlreadyInitialised,
    /// `rte_telemetry_register_cmd` refused a command.
    #[error("registering telemetry command {cmd:?} failed: {msg} (errno {errno})")]
    Telemetry {
        /// The command.
        cmd: String,
        /// errno (positive).
        errno: i32,
        /// rte_strerror text.
        msg: String,
    },
    /// `rte_eal_init` failed.
    #[error("rte_eal_init failed: {msg} (rte_errno {errno}); EAL arguments: {args}")]
    EalInit {
        /// rte_errno.
        errno: i32,
        /// rte_strerror text.
        msg: String,
        /// The arguments given.
        args: String,
    },
    /// Devices asked for on the EAL command line did not become ports.
    #[error("DPDK device(s) failed to probe (see the EAL log above for why): {devices}")]
    DeviceNotProbed {
        /// The devices that are missing.
        devices: String,
    },
    /// No ethdev port of that name.
    #[error("no DPDK port named {name:?}: {msg}")]
    NoSuchPort {
        /// The name looked up.
        name: String,
        /// rte_strerror text.
        msg: String,
    },
    /// `rte_pktmbuf_pool_create` failed.
    #[error("creating mempool {name:?} failed: {msg} (rte_errno {errno})")]
    Mempool {
        /// Pool name.
        name: String,
        /// rte_errno.
        errno: i32,
        /// rte_strerror text.
        msg: String,
    },
    /// An ethdev call failed on a port.
    #[error("port {port} ({device}): {op} failed: {msg} (errno {errno})")]
    Port {
        /// Port id.
        port: u16,
        /// Device name.
        device: String,
        /// The DPDK function that failed.
        op: &'static str,
        /// errno (positive).
        errno: i32,
        /// rte_strerror text.
        msg: String,
    },
    /// A request the device cannot satisfy (e.g. more queues than it has).
    #[error("port {port} ({device}): {what}")]
    Unsupported {
        /// Port id.
        port: u16,
        /// Device name.
        device: String,
        /// What is not possible.
        what: String,
    },
    /// A queue handle was asked for twice.
    #[error("port {port} ({device}): queue {queue} is already in use by another handle")]
    QueueInUse {
        /// Port id.
        port: u16,
        /// Device name.
        device: String,
        /// Queue id.
        queue: u16,
    },
    /// `rte_thread_register` failed (e.g. no free lcore id).
    #[error("registering the thread with DPDK failed: {msg} (rte_errno {errno})")]
    ThreadRegister {
        /// rte_errno.
        errno: i32,
        /// rte_strerror text.
        msg: String,
    },
    /// An argument DPDK cannot take (e.g. an interior NUL byte).
    #[error("invalid argument for DPDK: {0:?}")]
    BadArgument(String),
}
