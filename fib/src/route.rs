//! Routes as sources give them: a nexthop, the source protocol and an
//! administrative distance that arbitrates between sources.

use crate::event::NexthopId;
use std::fmt;
use std::str::FromStr;

/// Where a route came from.
///
/// The order is the tie-break between sources of equal distance: earlier wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// An address of the router itself.
    Local,
    /// The subnet of an interface address.
    Connected,
    /// Configured by the operator (config file or `fibrectl route add`).
    Static,
    /// Mirrored from a Linux kernel routing table over rtnetlink.
    Kernel,
    /// Sent by FRR's zebra over FPM.
    Frr,
}

impl Protocol {
    pub const ALL: [Protocol; 5] = [
        Protocol::Local,
        Protocol::Connected,
        Protocol::Static,
        Protocol::Kernel,
        Protocol::Frr,
    ];

    /// The administrative distance a route of this source gets unless it says otherwise.
    /// Local, connected and static follow FRR (0, 0, 1); FRR routes carry their own
    /// (eBGP 20, OSPF 110, ...) and default to 20; kernel routes sit between static
    /// and dynamic protocols.
    pub const fn default_distance(self) -> u8 {
        match self {
            Protocol::Local => 0,
            Protocol::Connected => 0,
            Protocol::Static => 1,
            Protocol::Kernel => 5,
            Protocol::Frr => 20,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Local => "local",
            Protocol::Connected => "connected",
            Protocol::Static => "static",
            Protocol::Kernel => "kernel",
            Protocol::Frr => "frr",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("unknown protocol {s:?} (expected local, connected, static, kernel or frr)")
            })
    }
}

/// One source's route for a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub nexthop: NexthopId,
    pub protocol: Protocol,
    pub distance: u8,
}

impl Route {
    /// A route with its protocol's default distance.
    pub const fn new(nexthop: NexthopId, protocol: Protocol) -> Self {
        Route {
            nexthop,
            protocol,
            distance: protocol.default_distance(),
        }
    }

    pub const fn with_distance(mut self, distance: u8) -> Self {
        self.distance = distance;
        self
    }

    /// The arbitration key: lower is better.
    #[inline]
    pub(crate) fn rank(&self) -> (u8, Protocol) {
        (self.distance, self.protocol)
    }
}
