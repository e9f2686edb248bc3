//! fibre's control plane.
//!
//! - [`slowpath`]: what the control plane does with frames the cores punt (ARP,
//!   ICMP echo, RFC 1812 ICMP errors), rate limited.
//! - [`cli`]: the blocking client `fibrectl` talks to the daemon with.
//! - [`server`]: the control socket's non-blocking server the daemon's loop polls.
//! - [`config`]: `fibred`'s TOML configuration, validated with line numbers.
//! - [`proto`]: the control-socket protocol (newline-delimited JSON, versioned).

pub mod cli;
pub mod config;
pub mod proto;
pub mod server;
pub mod slowpath;
