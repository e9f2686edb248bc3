//! fibre's control plane.
//!
//! - [`slowpath`]: what the control plane does with frames the cores punt (ARP,
//!   ICMP echo, RFC 1812 ICMP errors), rate limited.

pub mod slowpath;
