//! fibre's control plane.
//!
//! - [`neighbour`]: ARP resolution states, retries and expiry.
//! - [`slowpath`]: what the control plane does with frames the cores punt (ARP,
//!   ICMP echo, RFC 1812 ICMP errors), rate limited.
//! - [`proto`]: the control-socket protocol (newline-delimited JSON, versioned).
//! - [`server`]: the control socket's non-blocking server the daemon's loop polls.
//! - [`cli`]: the blocking client `fibrectl` talks to the daemon with.
//! - [`daemon`]: `fibred`'s control thread (the FIB's single writer) and its journal.
//! - [`config`]: `fibred`'s TOML configuration, validated with line numbers.
//! - [`source`]: route sources outside fibred: the kernel's table (rtnetlink) and
//!   FRR's zebra (FPM).

pub mod cli;
pub mod config;
pub mod daemon;
pub mod neighbour;
pub mod proto;
pub mod server;
pub mod slowpath;
pub mod source;
