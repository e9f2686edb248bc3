//! Nexthop objects: `nexthop add|del|show`, and how a nexthop (or a multipath
//! group) is described in `route get` and `nexthop show`.

pub mod handler;

use crate::interfaces::PortRef;
use dataplane::wire::ethernet::EthernetAddress;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// A nexthop object as `nexthop add` creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NexthopSpec {
    Via {
        gateway: Ipv4Addr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<PortRef>,
    },
    Dev(PortRef),
    Blackhole,
}

/// A nexthop object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexthopInfo {
    pub id: u32,
    /// `gateway`, `connected`, `local`, `blackhole` or `multipath` (a group).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// The gateway's resolved MAC, if any.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::proto::text::opt"
    )]
    pub mac: Option<EthernetAddress>,
    /// Routes holding it (0 in a `route get` answer from a core).
    pub refs: u32,
}

/// `nexthop add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexthopAdded {
    pub id: u32,
}

/// `nexthop del`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NexthopDel {
    pub id: u32,
}
