//! fibre's control plane.
//!
//! - [`slowpath`]: what the control plane does with frames the cores punt (ARP,
//!   ICMP echo, RFC 1812 ICMP errors), rate limited.
//! - [`proto`]: the control-socket protocol (newline-delimited JSON, versioned).

pub mod proto;
pub mod slowpath;
