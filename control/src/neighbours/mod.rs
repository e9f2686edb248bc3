//! Neighbours: ARP resolution ([`table`]), the frames held while a neighbour
//! resolves ([`held`]), the /32 host routes of resolved hosts on connected subnets
//! ([`host_routes`]), and `neigh add|del|show` ([`handler`]).

pub mod handler;
pub mod held;
pub mod host_routes;
pub mod resolve;
pub mod table;

use crate::interfaces::PortRef;
use dataplane::wire::ethernet::EthernetAddress;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// `neigh add` (a static neighbour) / `neigh del` (`mac` ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighSpec {
    pub addr: Ipv4Addr,
    pub port: PortRef,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::proto::text::opt"
    )]
    pub mac: Option<EthernetAddress>,
}

/// A neighbour table entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighbourInfo {
    pub addr: Ipv4Addr,
    pub port: String,
    #[serde(default, with = "crate::proto::text::opt")]
    pub mac: Option<EthernetAddress>,
    /// `permanent` (static), `reachable`, `stale`, `incomplete` or `failed`.
    pub state: String,
}

/// The neighbours feature's state.
#[derive(Debug)]
pub struct Neighbours {
    pub table: table::NeighbourTable,
    pub held: held::HeldFrames,
    pub hosts: host_routes::HostRoutes,
}

impl Default for Neighbours {
    fn default() -> Self {
        Neighbours {
            table: table::NeighbourTable::new(table::NeighbourConfig::default()),
            held: held::HeldFrames::default(),
            hosts: host_routes::HostRoutes::default(),
        }
    }
}
