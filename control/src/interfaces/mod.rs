//! Interfaces: the router's ports (as the control plane knows them), their
//! addresses (`addr add|del|show`) and links (`link show`).

pub mod handler;

use dataplane::wire::ethernet::EthernetAddress;
use fib::{Ipv4Prefix, PortId, TableId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::proto::ErrorReply;

/// An interface address with its subnet length, `192.0.2.1/24` (host bits are the point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceAddr {
    pub addr: Ipv4Addr,
    pub len: u8,
}

crate::proto::text::serde_as_text!(InterfaceAddr);

impl InterfaceAddr {
    /// Whether `other` is on this address's subnet.
    pub fn on_subnet(&self, other: Ipv4Addr) -> bool {
        self.subnet().contains(u32::from(other))
    }

    /// The subnet the address is on (the connected route).
    pub fn subnet(&self) -> Ipv4Prefix {
        Ipv4Prefix::truncate(u32::from(self.addr), self.len).expect("len checked at parse")
    }

    /// The address alone, as a /32 (the local route).
    pub fn host(&self) -> Ipv4Prefix {
        Ipv4Prefix::truncate(u32::from(self.addr), 32).expect("32 is a valid length")
    }
}

impl fmt::Display for InterfaceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for InterfaceAddr {
    type Err = InterfaceAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| InterfaceAddrError::Syntax(s.into()))?;
        if l.is_empty() || l.len() > 2 || !l.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InterfaceAddrError::Syntax(s.into()));
        }
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| InterfaceAddrError::Syntax(s.into()))?;
        let len: u8 = l
            .parse()
            .map_err(|_| InterfaceAddrError::Syntax(s.into()))?;
        if !(1..=32).contains(&len) {
            return Err(InterfaceAddrError::Length(s.into()));
        }
        Ok(InterfaceAddr { addr, len })
    }
}

/// Why an interface address string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterfaceAddrError {
    #[error("invalid interface address {0:?}: expected a.b.c.d/len")]
    Syntax(String),
    #[error("invalid interface address {0:?}: the length must be 1..=32")]
    Length(String),
}

/// A port, by name (`"p0"`, as in the config) or by index (`0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    Index(u16),
    Name(String),
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRef::Index(i) => write!(f, "{i}"),
            PortRef::Name(n) => f.write_str(n),
        }
    }
}

impl FromStr for PortRef {
    type Err = std::convert::Infallible;

    /// All digits is an index, anything else a name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<u16>() {
            Ok(i) if s.bytes().all(|b| b.is_ascii_digit()) => PortRef::Index(i),
            _ => PortRef::Name(s.to_owned()),
        })
    }
}

/// `addr add|del ADDR/LEN dev PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddrSpec {
    pub addr: InterfaceAddr,
    pub port: PortRef,
}

/// An optional port filter (`neigh show dev p0`, `addr show`, `link show p0`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortRef>,
}

/// An interface address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressInfo {
    pub port: String,
    pub addr: InterfaceAddr,
}

/// A port, for `link show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    pub index: u16,
    pub name: String,
    /// `dpdk` devargs / PCI address, or `soft`.
    pub backend: String,
    pub up: bool,
    /// Link speed in Mbit/s, when known.
    pub speed_mbps: Option<u32>,
    #[serde(with = "crate::proto::text")]
    pub mac: EthernetAddress,
    pub mtu: u16,
    #[serde(flatten)]
    pub counters: LinkCounters,
}

/// The port whose interface subnet `gateway` is on, of `addrs` (the first that
/// matches): how a gateway without `dev` finds its port, in the configuration
/// file and in requests alike.
pub fn port_for_gateway<'a, P: Copy + 'a>(
    addrs: impl IntoIterator<Item = (P, &'a InterfaceAddr)>,
    gateway: Ipv4Addr,
) -> Option<P> {
    addrs
        .into_iter()
        .find(|(_, a)| a.on_subnet(gateway))
        .map(|(p, _)| p)
}

/// A port as the control plane knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMeta {
    pub name: String,
    pub mac: EthernetAddress,
    pub mtu: u16,
    pub table: TableId,
}

/// A port's own counters where its device has them (DPDK `rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    /// What makes up `rx_dropped`, as the device tells it (DPDK's `imissed`: no
    /// room in the RX ring; `ierrors`: bad frames; `rx_nombuf`: no mbuf). Absent
    /// when 0 and on software ports.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rx_missed: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rx_errors: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rx_nombuf: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a port looks like to `link show`, from its backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    pub up: bool,
    pub speed_mbps: Option<u32>,
    pub counters: LinkCounters,
}

/// The interfaces feature's state: the ports (index = `PortId`) and the addresses
/// configured on them.
#[derive(Debug, Default)]
pub struct Interfaces {
    pub ports: Vec<PortMeta>,
    pub addrs: Vec<(PortId, InterfaceAddr)>,
}

impl Interfaces {
    pub fn new(ports: Vec<PortMeta>) -> Self {
        Interfaces {
            ports,
            addrs: Vec::new(),
        }
    }

    /// The port a request names.
    pub fn port(&self, r: &PortRef) -> Result<PortId, ErrorReply> {
        match r {
            PortRef::Index(i) if (*i as usize) < self.ports.len() => Ok(*i),
            PortRef::Name(n) => self
                .ports
                .iter()
                .position(|p| &p.name == n)
                .map(|i| i as PortId)
                .ok_or_else(|| ErrorReply::not_found(format!("no port named {n:?}"))),
            PortRef::Index(i) => Err(ErrorReply::not_found(format!(
                "no port {i} (there are {})",
                self.ports.len()
            ))),
        }
    }

    /// A port's name (its index if it has none).
    pub fn name(&self, p: PortId) -> String {
        self.ports
            .get(p as usize)
            .map_or_else(|| p.to_string(), |m| m.name.clone())
    }

    /// The routing table a port's traffic is looked up in.
    pub fn table(&self, p: PortId) -> TableId {
        self.ports
            .get(p as usize)
            .map_or(TableId::MAIN, |m| m.table)
    }

    /// The port of the interface subnet `gateway` is on.
    pub fn port_for_gateway(&self, gateway: Ipv4Addr) -> Result<PortId, ErrorReply> {
        port_for_gateway(self.addrs.iter().map(|(p, a)| (*p, a)), gateway).ok_or_else(|| {
            ErrorReply::invalid(format!(
                "gateway {gateway} is not on any interface subnet; name the port (dev PORT)"
            ))
        })
    }

    /// Whether `addr` is a host (not our own address) on a subnet of `port`.
    pub fn on_connected_subnet(&self, port: PortId, addr: Ipv4Addr) -> bool {
        self.addrs
            .iter()
            .any(|(p, a)| *p == port && a.on_subnet(addr) && a.addr != addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_addr_parses_and_prints() {
        let a: InterfaceAddr = "192.0.2.1/24".parse().unwrap();
        assert_eq!(a.subnet().to_string(), "192.0.2.0/24");
        assert_eq!(a.to_string(), "192.0.2.1/24");
        assert!(a.on_subnet("192.0.2.200".parse().unwrap()));
        assert!(!a.on_subnet("192.0.3.1".parse().unwrap()));
        assert!("192.0.2.1/0".parse::<InterfaceAddr>().is_err());
        assert!("192.0.2.1/33".parse::<InterfaceAddr>().is_err());
        assert!("192.0.2.1".parse::<InterfaceAddr>().is_err());
    }

    #[test]
    fn port_ref_digits_are_indexes() {
        assert_eq!("3".parse::<PortRef>().unwrap(), PortRef::Index(3));
        assert_eq!("p0".parse::<PortRef>().unwrap(), PortRef::Name("p0".into()));
        assert_eq!("+3".parse::<PortRef>().unwrap(), PortRef::Name("+3".into()));
        assert_eq!(
            "70000".parse::<PortRef>().unwrap(),
            PortRef::Name("70000".into())
        );
    }

    #[test]
    fn a_gateway_finds_the_port_of_its_subnet() {
        let a: InterfaceAddr = "192.0.2.1/24".parse().unwrap();
        let b: InterfaceAddr = "198.51.100.1/24".parse().unwrap();
        let addrs = [(0u16, &a), (1u16, &b)];
        assert_eq!(
            port_for_gateway(addrs, "198.51.100.9".parse().unwrap()),
            Some(1)
        );
        assert_eq!(
            port_for_gateway(addrs, "203.0.113.1".parse().unwrap()),
            None
        );
    }
}
