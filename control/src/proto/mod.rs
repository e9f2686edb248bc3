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
//! This module is the envelope: the list of requests ([`Request`]) and replies
//! ([`Reply`]), the codec ([`codec`]), errors ([`error`]) and the text-form serde
//! helpers ([`text`]). Each request's arguments and each reply's payload are
//! defined by its feature (`routes`, `nexthops`, `neighbours`, `interfaces`,
//! `cores`, `stats`, `source`) and re-exported here, so a client names them all
//! as `proto::X`.
//!
//! `docs/PROTOCOL.md` documents every request and reply. Versioning rule: fields
//! may be added to replies within a version (clients ignore unknown fields); any
//! other change bumps `v`, and a server answers a version it does not speak with
//! an `unsupported_version` error rather than guessing. `control/tests/wire_compat.rs`
//! holds v1's answers byte for byte.

pub mod codec;
pub mod error;
pub mod text;

pub use codec::{
    decode_request, decode_response, encode_request, encode_response, DecodeError,
    ResponseDecodeError,
};
pub use error::{ErrorKind, ErrorReply};

pub use crate::cores::{CoreAdd, CoreAdded, CoreDel, CoreInfo};
pub use crate::interfaces::{
    AddrSpec, AddressInfo, InterfaceAddr, InterfaceAddrError, LinkInfo, PortFilter, PortRef,
};
pub use crate::neighbours::{NeighSpec, NeighbourInfo};
pub use crate::nexthops::{NexthopAdded, NexthopDel, NexthopInfo, NexthopSpec};
pub use crate::routes::{
    BatchApplied, BatchError, BatchRoute, RouteBatch, RouteChanged, RouteDel, RouteFilter,
    RouteGet, RouteInfo, RouteList, RouteLookup, RouteSpec, RouteTarget, DEFAULT_BATCH_ROUTES,
    MAX_BATCH_ERRORS,
};
pub use crate::source::handler::SourceInfo;
pub use crate::stats::{ControlCounters, CoreCounters, FibStatus, ListenerInfo, StatsReply};

use fib::{Protocol, TableId};
use serde::{Deserialize, Serialize};

/// The protocol version this code speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Every request a client can make. On the wire: `"request": {"route_add": {...}}`,
/// or `"request": "fib_status"` for those without arguments. `daemon::dispatch`
/// maps each to its feature's handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[strum(serialize_all = "snake_case")]
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
    NexthopDel(NexthopDel),
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
    CoreDel(CoreDel),
    FibStatus,
    /// Checks cores' forwarding tables against the FIB (answered when done).
    FibAudit(crate::audit::AuditRequest),
    Stats,
    /// The route sources (kernel mirror, FPM server) and their state.
    SourceShow,
    /// Every counter for the metrics endpoint, in one snapshot.
    Metrics,
    /// A subscription: events stream back with this request's id until the
    /// client closes the connection.
    Monitor(crate::monitor::MonitorRequest),
}

impl Request {
    /// The request's name on the wire, for logs.
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    pub protocol: u32,
    /// e.g. `fibred 0.1.0`.
    pub daemon: String,
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
    FibAudit(crate::audit::AuditReply),
    Stats(StatsReply),
    Sources(Vec<SourceInfo>),
    Metrics(Box<crate::metrics::MetricsReply>),
    Event(crate::monitor::MonitorEvent),
}

/// A response: the payload or the error.
pub type Response = Result<Reply, ErrorReply>;

/// The `main` table (254), the default of every request that takes a table.
pub fn main_table() -> u32 {
    TableId::MAIN.0
}

pub(crate) fn static_protocol() -> Protocol {
    Protocol::Static
}

pub(crate) fn is_main(t: &u32) -> bool {
    *t == TableId::MAIN.0
}

pub(crate) fn is_static(p: &Protocol) -> bool {
    *p == Protocol::Static
}

pub(crate) fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_names_are_their_wire_names() {
        for (r, name) in [
            (Request::Hello, "hello"),
            (Request::NexthopDel(NexthopDel { id: 3 }), "nexthop_del"),
            (Request::CoreDel(CoreDel { id: 1 }), "core_del"),
            (Request::FibStatus, "fib_status"),
            (Request::AddrShow(PortFilter::default()), "addr_show"),
        ] {
            assert_eq!(r.name(), name);
            let wire = serde_json::to_string(&r).unwrap();
            assert!(wire.contains(name), "{wire}");
        }
    }
}
