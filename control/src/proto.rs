//! The control-socket protocol between `fibred` and its clients (`fibrectl`).
//!
//! Newline-delimited JSON over a Unix stream socket; every message is one line
//! and carries `"v": 1`. A request names an `id` its response echoes, so a client
//! may pipeline many requests and match answers as they come:
//!
//! ```text
//! > {"v":1,"id":7,"request":{"route_add":{"prefix":"10.0.0.0/8","target":{"via":{"gateway":"192.0.2.1"}}}}}
//! < {"v":1,"id":7,"ok":{"route_changed":{"seq":42}}}
//! > {"v":1,"id":8,"request":"fib_status"}
//! < {"v":1,"id":8,"error":{"kind":"not_found","message":"no route 10.0.0.0/8 from static in table main"}}
//! ```
//!
//! `docs/PROTOCOL.md` documents every request and reply. Versioning rule: fields
//! may be added to replies within a version (clients ignore unknown fields); any
//! other change bumps `v`, and a server answers a version it does not speak with
//! an `unsupported_version` error rather than guessing.
//!
//! Decoding never panics: any byte string yields a request or an [`ErrorReply`]
//! (fuzzed in `control/tests/proto_decode.rs`).

use fib::{FibError, Ipv4Prefix, ListenerStatus, Protocol, TableId};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// The protocol version this code speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Routes per `route_load` batch `fibrectl` sends by default: large enough that
/// per-message costs vanish, small enough that one batch is a short turn of the
/// daemon's control loop.
pub const DEFAULT_BATCH_ROUTES: usize = 10_000;

// ---------------------------------------------------------------------------
// Value types shared by requests, replies and the config file.
// ---------------------------------------------------------------------------

/// A MAC address, written `02:00:00:00:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

/// Why a MAC address string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex bytes like 02:00:00:00:00:01")]
pub struct MacError(pub String);

impl Mac {
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for Mac {
    type Err = MacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(|| MacError(s.into()))?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(MacError(s.into()));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| MacError(s.into()))?;
        }
        if parts.next().is_some() {
            return Err(MacError(s.into()));
        }
        Ok(Mac(out))
    }
}

/// An interface address with its subnet length, `192.0.2.1/24` (host bits are the point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceAddr {
    pub addr: Ipv4Addr,
    pub len: u8,
}

/// Why an interface address string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterfaceAddrError {
    #[error("invalid interface address {0:?}: expected a.b.c.d/len")]
    Syntax(String),
    #[error("invalid interface address {0:?}: the length must be 1..=32")]
    Length(String),
}

impl InterfaceAddr {
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

/// Serde through `Display`/`FromStr`: the string form is the wire form.
macro_rules! serde_as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(D::Error::custom)
            }
        }
    };
}
serde_as_string!(Mac);
serde_as_string!(InterfaceAddr);

/// Serde for [`Ipv4Prefix`] (the `fib` crate has no serde): `"10.0.0.0/8"`.
pub mod prefix_str {
    use super::*;

    pub fn serialize<S: Serializer>(p: &Ipv4Prefix, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(p)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ipv4Prefix, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

/// Serde for `Option<Ipv4Prefix>`.
pub mod opt_prefix_str {
    use super::*;

    pub fn serialize<S: Serializer>(p: &Option<Ipv4Prefix>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.collect_str(p),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ipv4Prefix>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| s.parse().map_err(D::Error::custom)).transpose()
    }
}

/// Serde for [`Protocol`]: its name, `"static"`.
pub mod protocol_str {
    use super::*;

    pub fn serialize<S: Serializer>(p: &Protocol, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

/// Serde for `Option<Protocol>`.
pub mod opt_protocol_str {
    use super::*;

    pub fn serialize<S: Serializer>(p: &Option<Protocol>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_str(p.name()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Protocol>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| s.parse().map_err(D::Error::custom)).transpose()
    }
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

/// The `main` table (254), the default of every request that takes a table.
pub fn main_table() -> u32 {
    TableId::MAIN.0
}

fn static_protocol() -> Protocol {
    Protocol::Static
}

fn is_main(t: &u32) -> bool {
    *t == TableId::MAIN.0
}

fn is_static(p: &Protocol) -> bool {
    *p == Protocol::Static
}

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RouteTarget {
    /// Via a gateway; the port is found from the interface subnets when omitted.
    Via {
        gateway: Ipv4Addr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<PortRef>,
    },
    /// On-link on a port.
    Dev(PortRef),
    /// An existing nexthop object, by id.
    Nexthop(u32),
    Blackhole,
    /// Equal-cost multipath: traffic is spread over the paths by flow (a hash of
    /// the addresses), each a `via` or `dev` target.
    Multipath(Vec<RouteTarget>),
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTarget::Via {
                gateway,
                port: Some(p),
            } => write!(f, "via {gateway} dev {p}"),
            RouteTarget::Via {
                gateway,
                port: None,
            } => write!(f, "via {gateway}"),
            RouteTarget::Dev(p) => write!(f, "dev {p}"),
            RouteTarget::Nexthop(id) => write!(f, "nexthop {id}"),
            RouteTarget::Blackhole => f.write_str("blackhole"),
            RouteTarget::Multipath(paths) => {
                for (i, p) in paths.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "nexthop {p}")?;
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Requests.
// ---------------------------------------------------------------------------

/// `route add` / `route replace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    #[serde(default = "main_table", skip_serializing_if = "is_main")]
    pub table: u32,
    #[serde(with = "prefix_str")]
    pub prefix: Ipv4Prefix,
    pub target: RouteTarget,
    #[serde(
        default = "static_protocol",
        skip_serializing_if = "is_static",
        with = "protocol_str"
    )]
    pub protocol: Protocol,
    /// Administrative distance; the protocol's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<u8>,
}

/// `route del`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDel {
    #[serde(default = "main_table", skip_serializing_if = "is_main")]
    pub table: u32,
    #[serde(with = "prefix_str")]
    pub prefix: Ipv4Prefix,
    #[serde(
        default = "static_protocol",
        skip_serializing_if = "is_static",
        with = "protocol_str"
    )]
    pub protocol: Protocol,
}

/// `route show` filters; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_protocol_str"
    )]
    pub protocol: Option<Protocol>,
    /// Only prefixes inside this one (itself included), like `ip route show root`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_prefix_str"
    )]
    pub prefix: Option<Ipv4Prefix>,
    /// At most this many routes in the reply (`total` says how many matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl RouteFilter {
    /// Whether a route passes the filter (the daemon's side of `route show`).
    pub fn matches(&self, table: u32, prefix: &Ipv4Prefix, protocol: Protocol) -> bool {
        self.table.is_none_or(|t| t == table)
            && self.protocol.is_none_or(|p| p == protocol)
            && self.prefix.is_none_or(|f| f.covers(prefix))
    }
}

/// `route get ADDR [core N]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteGet {
    pub addr: Ipv4Addr,
    #[serde(default = "main_table", skip_serializing_if = "is_main")]
    pub table: u32,
    /// Answer from this core's own DIR-24-8 table; the control plane's FIB when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<u32>,
}

/// One route of a [`RouteBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRoute {
    #[serde(with = "prefix_str")]
    pub prefix: Ipv4Prefix,
    pub target: RouteTarget,
}

/// `route load`: many routes in one message, applied by the daemon in one turn of
/// its control loop. Every route is added or replaced (`replace`) for `protocol` in
/// `table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteBatch {
    #[serde(default = "main_table", skip_serializing_if = "is_main")]
    pub table: u32,
    #[serde(
        default = "static_protocol",
        skip_serializing_if = "is_static",
        with = "protocol_str"
    )]
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<u8>,
    /// Replace a route this protocol already has for a prefix instead of refusing it.
    #[serde(default = "yes")]
    pub replace: bool,
    pub routes: Vec<BatchRoute>,
}

fn yes() -> bool {
    true
}

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

/// `neigh add` (a static neighbour) / `neigh del` (`mac` ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighSpec {
    pub addr: Ipv4Addr,
    pub port: PortRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
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

/// `core add [cpu N]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreAdd {
    /// Pin the new core to this CPU; the daemon picks a free one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<usize>,
}

/// Every request a client can make. On the wire: `"request": {"route_add": {...}}`,
/// or `"request": "fib_status"` for those without arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Version handshake; also how `Server::bind` tells a live daemon from a stale socket.
    Hello,
    RouteAdd(RouteSpec),
    RouteReplace(RouteSpec),
    RouteDel(RouteDel),
    RouteShow(RouteFilter),
    RouteGet(RouteGet),
    RouteLoad(RouteBatch),
    NexthopAdd(NexthopSpec),
    NexthopDel {
        id: u32,
    },
    NexthopShow,
    NeighAdd(NeighSpec),
    NeighDel(NeighSpec),
    NeighShow(PortFilter),
    AddrAdd(AddrSpec),
    AddrDel(AddrSpec),
    AddrShow(PortFilter),
    LinkShow(PortFilter),
    CoreShow,
    CoreAdd(CoreAdd),
    CoreDel {
        id: u32,
    },
    FibStatus,
    Stats,
    /// The route sources (kernel mirror, FPM server) and their state.
    SourceShow,
}

impl Request {
    /// The request's name on the wire, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Hello => "hello",
            Request::RouteAdd(_) => "route_add",
            Request::RouteReplace(_) => "route_replace",
            Request::RouteDel(_) => "route_del",
            Request::RouteShow(_) => "route_show",
            Request::RouteGet(_) => "route_get",
            Request::RouteLoad(_) => "route_load",
            Request::NexthopAdd(_) => "nexthop_add",
            Request::NexthopDel { .. } => "nexthop_del",
            Request::NexthopShow => "nexthop_show",
            Request::NeighAdd(_) => "neigh_add",
            Request::NeighDel(_) => "neigh_del",
            Request::NeighShow(_) => "neigh_show",
            Request::AddrAdd(_) => "addr_add",
            Request::AddrDel(_) => "addr_del",
            Request::AddrShow(_) => "addr_show",
            Request::LinkShow(_) => "link_show",
            Request::CoreShow => "core_show",
            Request::CoreAdd(_) => "core_add",
            Request::CoreDel { .. } => "core_del",
            Request::FibStatus => "fib_status",
            Request::Stats => "stats",
            Request::SourceShow => "source_show",
        }
    }
}

// ---------------------------------------------------------------------------
// Replies.
// ---------------------------------------------------------------------------

/// `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    pub protocol: u32,
    /// e.g. `fibred 0.1.0`.
    pub daemon: String,
}

/// A route as `route show` lists it: one per (table, prefix, protocol).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    pub table: u32,
    #[serde(with = "prefix_str")]
    pub prefix: Ipv4Prefix,
    #[serde(with = "protocol_str")]
    pub protocol: Protocol,
    pub distance: u8,
    pub nexthop: u32,
    /// The nexthop in words (`via 192.0.2.1 dev p0`), filled by the daemon.
    pub via: String,
    /// Whether this is the route listeners hold (it won arbitration).
    pub installed: bool,
}

/// `route show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteList {
    pub routes: Vec<RouteInfo>,
    /// Routes that matched the filter (more than `routes.len()` when a limit cut it).
    pub total: usize,
}

/// `route get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteLookup {
    pub addr: Ipv4Addr,
    pub table: u32,
    /// The core whose table answered; `None`: the control plane's FIB.
    pub core: Option<u32>,
    /// The matching prefix (the FIB knows it; a DIR-24-8 table does not, so `None` there).
    #[serde(with = "opt_prefix_str", default)]
    pub prefix: Option<Ipv4Prefix>,
    /// `None`: no route (the packet would be dropped as unreachable).
    pub nexthop: Option<NexthopInfo>,
    /// The seq of the table that answered (the core's applied seq, or the FIB's).
    pub seq: u64,
}

/// `route add|replace|del`: the seq of the change, if listeners see one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteChanged {
    pub seq: Option<u64>,
}

/// One refused route of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchError {
    /// Index in the batch's `routes`.
    pub index: usize,
    pub message: String,
}

/// `route load` (one batch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchApplied {
    /// Routes committed.
    pub applied: usize,
    /// Routes refused (each changes nothing).
    pub failed: usize,
    /// The first refusals (at most [`MAX_BATCH_ERRORS`]).
    pub errors: Vec<BatchError>,
    /// The FIB seq after the batch.
    pub seq: u64,
}

/// How many refusals a [`BatchApplied`] lists.
pub const MAX_BATCH_ERRORS: usize = 16;

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
    /// Routes holding it (0 in a `route get` answer from a core).
    pub refs: u32,
}

/// `nexthop add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexthopAdded {
    pub id: u32,
}

/// A neighbour table entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighbourInfo {
    pub addr: Ipv4Addr,
    pub port: String,
    pub mac: Option<Mac>,
    /// `permanent` (static), `reachable`, `stale`, `incomplete` or `failed`.
    pub state: String,
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
    pub mac: Mac,
    pub mtu: u16,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
}

/// A forwarding core, for `core show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreInfo {
    pub id: u32,
    pub name: String,
    pub cpu: Option<usize>,
    /// The core's FIB listener state: `replaying`, `live` or `failed`.
    pub state: String,
    pub applied_seq: u64,
    pub lag: u64,
    pub in_sync: bool,
    pub rx_packets: u64,
    pub forwarded: u64,
    /// Packets per second forwarded over the daemon's last sampling interval.
    pub forwarded_pps: u64,
    /// Dropped packets by reason (`ttl_exceeded`, `no_route`, ...), non-zero ones only.
    pub drops: BTreeMap<String, u64>,
    /// Punted packets by reason (`arp`, `local`, ...), non-zero ones only.
    pub punts: BTreeMap<String, u64>,
}

/// `core add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreAdded {
    pub id: u32,
    pub cpu: Option<usize>,
}

/// A FIB listener, for `fib status`; see [`fib::ListenerStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerInfo {
    pub id: u32,
    pub name: String,
    pub state: String,
    pub applied_seq: u64,
    /// When `applied_seq` last moved, on the daemon's monotonic clock (ns; 0: never).
    /// Compare with `FibStatus::committed_at_ns`.
    #[serde(default)]
    pub applied_at_ns: u64,
    pub lag: u64,
    pub in_sync: bool,
    /// Replay events sent so far and in all, while replaying.
    pub replay_progress: Option<(usize, usize)>,
    pub ring_len: usize,
    pub backlog: usize,
    pub resyncs: u64,
    pub gaps: u64,
    pub failure: Option<String>,
}

impl From<&ListenerStatus> for ListenerInfo {
    fn from(s: &ListenerStatus) -> Self {
        ListenerInfo {
            id: s.id.0,
            name: s.name.clone(),
            state: s.state.to_owned(),
            applied_seq: s.applied_seq,
            applied_at_ns: s.applied_at_ns,
            lag: s.lag,
            in_sync: s.in_sync,
            replay_progress: s.replay_progress,
            ring_len: s.ring_len,
            backlog: s.backlog,
            resyncs: s.resyncs,
            gaps: s.gaps,
            failure: s.failure.clone(),
        }
    }
}

/// `fib status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibStatus {
    pub seq: u64,
    pub tables: usize,
    pub prefixes: usize,
    pub nexthops: usize,
    pub nexthop_ids_pending: usize,
    /// Multipath groups.
    #[serde(default)]
    pub groups: usize,
    /// The lowest applied seq of all active listeners.
    pub watermark: u64,
    /// The last request (or source update, or neighbour change) that committed
    /// changes ended with `committed_seq`, at `committed_at_ns` on the daemon's
    /// monotonic clock: a listener with `applied_seq` ≥ it was in step
    /// `applied_at_ns - committed_at_ns` after (≤ 0: before the request finished).
    #[serde(default)]
    pub committed_seq: u64,
    #[serde(default)]
    pub committed_at_ns: u64,
    pub listeners: Vec<ListenerInfo>,
}

impl FibStatus {
    /// Whether there are listeners and every one serves a whole table at the FIB's
    /// current seq.
    pub fn all_in_step(&self) -> bool {
        !self.listeners.is_empty()
            && self
                .listeners
                .iter()
                .all(|l| l.in_sync && l.applied_seq == self.seq)
    }

    /// From the FIB's own numbers.
    pub fn from_fib(fib: &fib::Fib) -> Self {
        let s = fib.stats();
        FibStatus {
            seq: s.seq,
            tables: s.tables,
            prefixes: s.prefixes,
            nexthops: s.nexthops,
            nexthop_ids_pending: s.nexthop_ids_pending,
            groups: s.groups,
            watermark: fib.watermark(),
            committed_seq: 0,
            committed_at_ns: 0,
            listeners: fib.listeners().iter().map(ListenerInfo::from).collect(),
        }
    }
}

/// One core's counters in a [`StatsReply`]: running totals, rates are the client's job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreCounters {
    pub id: u32,
    pub name: String,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Forwarded frames the devices' TX queues refused (full) and that were freed.
    #[serde(default)]
    pub tx_dropped: u64,
    pub forwarded: u64,
    pub dropped: u64,
    pub punted: u64,
    pub events_applied: u64,
    pub applied_seq: u64,
}

/// The control plane's own counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlCounters {
    pub requests: u64,
    pub clients: u64,
    pub clients_dropped: u64,
    pub punts_handled: u64,
    pub arp_requests_sent: u64,
}

/// `stats`: every counter with the time it was read, so a client computes rates from
/// two replies (`fibrectl stats -w`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReply {
    /// Milliseconds since the daemon started (a monotonic clock).
    pub uptime_ms: u64,
    pub fib_seq: u64,
    pub cores: Vec<CoreCounters>,
    pub ports: Vec<LinkInfo>,
    pub control: ControlCounters,
}

/// The payload of a successful response; which variant answers which request is
/// listed in `docs/PROTOCOL.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Success with nothing to say (`route del` without a visible change, `neigh add`, ...).
    Done,
    Hello(HelloReply),
    RouteChanged(RouteChanged),
    Routes(RouteList),
    RouteLookup(RouteLookup),
    BatchApplied(BatchApplied),
    Nexthops(Vec<NexthopInfo>),
    NexthopAdded(NexthopAdded),
    Neighbours(Vec<NeighbourInfo>),
    Addresses(Vec<AddressInfo>),
    Links(Vec<LinkInfo>),
    Cores(Vec<CoreInfo>),
    CoreAdded(CoreAdded),
    FibStatus(FibStatus),
    Stats(StatsReply),
    Sources(Vec<SourceInfo>),
}

/// One route source, as `source show` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `kernel` or `fpm`.
    pub name: String,
    /// The protocol its routes carry (`kernel`, `frr`).
    pub protocol: String,
    pub connected: bool,
    pub routes: u64,
    pub messages: u64,
    pub resyncs: u64,
    pub ignored: u64,
    pub refused: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The machine-readable class of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not JSON, or not the envelope (`v`, `id`, `request`).
    Malformed,
    /// `v` is not a version this daemon speaks.
    UnsupportedVersion,
    /// The request name is not known.
    UnknownRequest,
    /// The request's arguments are wrong (type, range, unknown field, unknown port).
    InvalidArgument,
    NotFound,
    AlreadyExists,
    InUse,
    /// A capacity is exhausted (nexthop ids, table memory, clients).
    Limit,
    /// The line exceeded the server's maximum length.
    TooLong,
    /// The daemon cannot do this now (e.g. a core is still starting); retrying may help.
    Busy,
    /// Known but not implemented by this daemon.
    Unsupported,
    Internal,
    /// A kind newer than this client; the message still says what happened.
    #[serde(other)]
    Other,
}

/// An error response's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ErrorReply {
    pub kind: ErrorKind,
    pub message: String,
}

impl ErrorReply {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorReply {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
}

impl From<&FibError> for ErrorReply {
    fn from(e: &FibError) -> Self {
        let kind = match e {
            FibError::UnknownTable(_)
            | FibError::UnknownNexthop(_)
            | FibError::NoSuchRoute { .. }
            | FibError::UnknownListener(_) => ErrorKind::NotFound,
            FibError::TableExists(_) | FibError::RouteExists { .. } => ErrorKind::AlreadyExists,
            FibError::NexthopInUse { .. }
            | FibError::TableNotEmpty { .. }
            | FibError::TableProtected(_) => ErrorKind::InUse,
            FibError::InvalidNexthop(_) | FibError::InvalidListenerConfig(_) => {
                ErrorKind::InvalidArgument
            }
            FibError::NexthopIdsExhausted { .. } | FibError::GroupIdsExhausted { .. } => {
                ErrorKind::Limit
            }
            FibError::Timeout { .. } => ErrorKind::Busy,
            FibError::ListenerFailed { .. } => ErrorKind::Internal,
        };
        ErrorReply::new(kind, e.to_string())
    }
}

impl From<FibError> for ErrorReply {
    fn from(e: FibError) -> Self {
        ErrorReply::from(&e)
    }
}

/// A response: the payload or the error.
pub type Response = Result<Reply, ErrorReply>;

// ---------------------------------------------------------------------------
// Envelopes and codec.
// ---------------------------------------------------------------------------

#[derive(Serialize)]
struct RequestOut<'a> {
    v: u32,
    id: u64,
    request: &'a Request,
}

/// The envelope read in a first pass: the request body stays raw so a version this
/// code does not speak is refused before its body is interpreted.
#[derive(Deserialize)]
struct RequestIn<'a> {
    v: Option<u32>,
    id: Option<u64>,
    #[serde(borrow)]
    request: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    v: u32,
    id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<&'a Reply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ErrorReply>,
}

#[derive(Deserialize)]
struct ResponseIn {
    v: Option<u32>,
    id: Option<u64>,
    ok: Option<Reply>,
    error: Option<ErrorReply>,
}

/// A request line that could not be decoded, with what to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The request's id, when the envelope was readable enough to find it.
    pub id: Option<u64>,
    pub error: ErrorReply,
    /// Whether the peer is not speaking this protocol at all (not JSON, wrong
    /// version): the server answers and then closes the connection.
    pub fatal: bool,
}

/// Appends one request line (with its `\n`) to `out`.
pub fn encode_request(id: u64, request: &Request, out: &mut Vec<u8>) {
    let msg = RequestOut {
        v: PROTOCOL_VERSION,
        id,
        request,
    };
    // Serializing these types into a Vec cannot fail: no maps with non-string keys,
    // no fallible Serialize impls.
    serde_json::to_writer(&mut *out, &msg).expect("requests always serialize");
    out.push(b'\n');
}

/// Appends one response line (with its `\n`) to `out`. `id` is `None` only for a
/// request whose id could not be read.
pub fn encode_response(id: Option<u64>, response: &Response, out: &mut Vec<u8>) {
    let msg = ResponseOut {
        v: PROTOCOL_VERSION,
        id,
        ok: response.as_ref().ok(),
        error: response.as_ref().err(),
    };
    serde_json::to_writer(&mut *out, &msg).expect("responses always serialize");
    out.push(b'\n');
}

/// Decodes one request line (without or with its trailing newline).
pub fn decode_request(line: &[u8]) -> Result<(u64, Request), DecodeError> {
    let fatal = |id, kind, message: String| DecodeError {
        id,
        error: ErrorReply::new(kind, message),
        fatal: true,
    };
    let env: RequestIn = serde_json::from_slice(line).map_err(|e| {
        fatal(
            None,
            ErrorKind::Malformed,
            format!("malformed message: {e} (expected one JSON object per line with \"v\", \"id\" and \"request\")"),
        )
    })?;
    match env.v {
        Some(PROTOCOL_VERSION) => {}
        Some(v) => {
            return Err(fatal(
                env.id,
                ErrorKind::UnsupportedVersion,
                format!("unsupported protocol version {v}: this daemon speaks version {PROTOCOL_VERSION}"),
            ))
        }
        None => {
            return Err(fatal(
                env.id,
                ErrorKind::Malformed,
                format!("missing \"v\": every message carries the protocol version (\"v\": {PROTOCOL_VERSION})"),
            ))
        }
    }
    let Some(id) = env.id else {
        return Err(fatal(
            None,
            ErrorKind::Malformed,
            "missing \"id\": every request carries an id its response echoes".into(),
        ));
    };
    let Some(raw) = env.request else {
        return Err(fatal(
            Some(id),
            ErrorKind::Malformed,
            "missing \"request\"".into(),
        ));
    };
    serde_json::from_str::<Request>(raw.get())
        .map(|r| (id, r))
        .map_err(|e| {
            let message = e.to_string();
            // serde's message for an unknown variant names the known ones.
            let kind = if message.starts_with("unknown variant") {
                ErrorKind::UnknownRequest
            } else {
                ErrorKind::InvalidArgument
            };
            DecodeError {
                id: Some(id),
                error: ErrorReply::new(kind, format!("invalid request: {message}")),
                fatal: false,
            }
        })
}

/// Why a response line could not be decoded (the client's side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseDecodeError {
    #[error("malformed response from the daemon: {0}")]
    Malformed(String),
    #[error("the daemon speaks protocol version {0}, this client version {PROTOCOL_VERSION}")]
    Version(u32),
}

/// Decodes one response line: the id it answers and the response.
pub fn decode_response(line: &[u8]) -> Result<(Option<u64>, Response), ResponseDecodeError> {
    let env: ResponseIn =
        serde_json::from_slice(line).map_err(|e| ResponseDecodeError::Malformed(e.to_string()))?;
    match env.v {
        Some(PROTOCOL_VERSION) => {}
        Some(v) => return Err(ResponseDecodeError::Version(v)),
        None => return Err(ResponseDecodeError::Malformed("missing \"v\"".into())),
    }
    match (env.ok, env.error) {
        (Some(ok), None) => Ok((env.id, Ok(ok))),
        (None, Some(err)) => Ok((env.id, Err(err))),
        _ => Err(ResponseDecodeError::Malformed(
            "expected exactly one of \"ok\" and \"error\"".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_and_interface_addr_parse_and_print() {
        let m: Mac = "02:00:0a:FF:00:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:00:0a:ff:00:01");
        for bad in [
            "",
            "02:00:0a:ff:00",
            "02:00:0a:ff:00:01:02",
            "2:0:a:f:0:1",
            "zz:00:00:00:00:00",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
        let a: InterfaceAddr = "192.0.2.1/24".parse().unwrap();
        assert_eq!(a.subnet().to_string(), "192.0.2.0/24");
        assert_eq!(a.to_string(), "192.0.2.1/24");
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
}
