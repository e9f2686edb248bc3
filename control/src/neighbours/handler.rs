//! `neigh add|del|show`.

use super::{resolve, NeighSpec, NeighbourInfo};
use crate::daemon::{Backend, Router};
use crate::proto::{ErrorReply, PortFilter, Reply, Response};

/// A static neighbour.
pub fn add<B: Backend>(r: &mut Router<B>, n: NeighSpec) -> Response {
    let port = r.interfaces.port(&n.port)?;
    let mac = n
        .mac
        .ok_or_else(|| ErrorReply::invalid("a static neighbour needs a MAC (lladdr)"))?;
    let a = r
        .neighbours
        .table
        .add_static(port, n.addr, mac)
        .map_err(|e| ErrorReply::invalid(e.to_string()))?;
    resolve::apply(r, a);
    Ok(Reply::Done)
}

pub fn del<B: Backend>(r: &mut Router<B>, n: NeighSpec) -> Response {
    let port = r.interfaces.port(&n.port)?;
    let a = r
        .neighbours
        .table
        .remove(port, n.addr)
        .map_err(|e| ErrorReply::not_found(e.to_string()))?;
    resolve::apply(r, a);
    Ok(Reply::Done)
}

pub fn show<B: Backend>(r: &Router<B>, f: PortFilter) -> Response {
    let only = f.port.as_ref().map(|p| r.interfaces.port(p)).transpose()?;
    Ok(Reply::Neighbours(
        r.neighbours
            .table
            .entries()
            .into_iter()
            .filter(|n| only.is_none_or(|p| p == n.port))
            .map(|n| NeighbourInfo {
                addr: n.addr,
                port: r.interfaces.name(n.port),
                mac: n.mac,
                state: n.state.name().into(),
            })
            .collect(),
    ))
}
