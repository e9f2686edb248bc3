//! Table audits: `fib audit [core N]`, and the periodic audit of `[fib]
//! audit_interval`.
//!
//! An audit proves that a core's DIR-24-8 tables hold what the FIB says they must,
//! while the core keeps forwarding. The core digests its table range by range
//! (`dataplane::worker::AuditJob`); the control plane computes the same digests
//! from the FIB's routes (`fib::Fib::audit_digest`) and walks every range that
//! differs down, /8 → /16 → /24 → addresses, to the addresses that are wrong. A
//! core found wrong is resynced (replayed the whole FIB again), counted and logged:
//! forwarding tables that drift from the FIB never stay wrong. How it works is in
//! `run`; the request, the periodic timer and the replies in `handler`.

pub mod handler;
mod run;

use fib::{Ipv4Prefix, TableId};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

pub use handler::Audits;

/// `fib audit [core N]`: every core, or one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<u32>,
}

/// `fib audit`'s answer: one entry per core audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReply {
    pub cores: Vec<CoreAudit>,
}

/// What an audit found in one core's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreAudit {
    pub core: u32,
    /// Tables (VRFs) audited.
    pub tables: Vec<u32>,
    /// Ranges whose digests were compared (a whole table is 256 /8s; each range
    /// that differs adds the 256 below it).
    pub ranges_compared: u64,
    /// Ranges that kept changing while the audit looked (each retried a few
    /// times), so could not be compared; they are checked again next time.
    pub unverified: u64,
    /// Addresses found wrong (`mismatches` lists them by route, up to a limit).
    pub wrong_addresses: u64,
    /// Ranges found wrong that were not walked down to addresses (past the limit).
    pub wrong_ranges_not_walked: u64,
    pub mismatches: Vec<AuditMismatch>,
    /// Whether the core was resynced because of what the audit found.
    pub resynced: bool,
    /// Why the core could not be audited (stopped, failed, not in sync yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub took_ms: u64,
}

impl CoreAudit {
    /// Whether the audit found the core's tables wrong.
    pub fn is_wrong(&self) -> bool {
        self.wrong_addresses > 0 || self.wrong_ranges_not_walked > 0
    }
}

/// Consecutive addresses a core looks up differently from the FIB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditMismatch {
    pub table: u32,
    /// The FIB's route for these addresses (`None`: the FIB has none).
    #[serde(with = "crate::proto::text::opt")]
    pub prefix: Option<Ipv4Prefix>,
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    /// The nexthop id the core's table gives (`None`: no route).
    pub found: Option<u32>,
    /// The nexthop id the FIB says it must give.
    pub expected: Option<u32>,
}

/// Audit counters since start, for `fib status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCounters {
    /// Cores audited (one per core per audit).
    pub core_audits: u64,
    /// Audits that found a core's tables wrong.
    pub found_wrong: u64,
    /// Resyncs an audit started.
    pub resyncs: u64,
    /// Ranges left unverified because they kept changing.
    pub unverified: u64,
}

impl AuditCounters {
    pub fn is_zero(&self) -> bool {
        *self == AuditCounters::default()
    }
}

/// The table ids of an audit, as on the wire.
fn table_ids(tables: &[TableId]) -> Vec<u32> {
    tables.iter().map(|t| t.0).collect()
}
