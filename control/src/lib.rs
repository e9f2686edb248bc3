//! fibre's control plane, one folder per feature. Each feature holds its
//! request and reply types, its handlers and the state it owns:
//!
//! - [`routes`]: `route add|replace|del|show|get|load`, and route targets.
//! - [`nexthops`]: nexthop objects.
//! - [`neighbours`]: ARP resolution, frames held while a neighbour resolves, and
//!   host routes for resolved hosts on connected subnets.
//! - [`interfaces`]: ports, their addresses and links.
//! - [`cores`]: forwarding cores, each a FIB listener.
//! - [`stats`]: counters and `fib status`.
//! - [`audit`]: `fib audit`: each core's tables checked against the FIB, range by
//!   range while it forwards, and resynced when found wrong; also periodic.
//! - [`metrics`]: the metrics endpoint (OpenMetrics over HTTP, its own thread) and
//!   the counters it adds: requests by op, commit-to-applied latency.
//! - [`monitor`]: `fibrectl monitor`: route, neighbour, core, FIB listener and
//!   source events streamed to subscribers, each with a bounded queue.
//! - [`source`]: route sources outside fibred: the kernel's table (rtnetlink) and
//!   FRR's zebra (FPM).
//! - [`slowpath`]: what the control plane does with frames the cores punt (ARP,
//!   ICMP echo, RFC 1812 ICMP errors), rate limited.
//!
//! Around them:
//!
//! - [`proto`]: the control-socket protocol's envelope and codec (newline-delimited
//!   JSON, versioned); it lists every request and reply.
//! - [`daemon`]: `fibred`'s control thread (the FIB's single writer): the
//!   dispatch table from request to handler, the journal, the loop, start-up, and
//!   the backends (DPDK, and software ports for in-process tests).
//! - [`server`]: the control socket's non-blocking server the daemon's loop polls.
//! - [`cli`]: `fibrectl`'s commands, one module per feature, and the blocking
//!   client it talks to the daemon with.
//! - [`config`]: `fibred`'s TOML configuration, validated with line numbers.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod audit;
pub mod cli;
pub mod config;
pub mod cores;
pub mod daemon;
pub mod interfaces;
pub mod metrics;
pub mod monitor;
pub mod neighbours;
pub mod nexthops;
pub mod proto;
pub mod routes;
pub mod server;
pub mod slowpath;
pub mod source;
pub mod stats;
