//! The dispatch table: which handler answers which request, and whether an
//! accepted request goes in the journal (it changed state an operator set up; the
//! daemon replays it after a restart). Adding a request is a variant in
//! [`Request`], its handler in its feature's folder, and one line here.

use crate::daemon::{Backend, Router};
use crate::proto::{self, HelloReply, Reply, Request, Response};
use crate::{audit, cores, interfaces, metrics, neighbours, nexthops, routes, source, stats};
use std::time::Instant;

/// Whether an accepted request is journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journal {
    Keep,
    Skip,
}

use Journal::{Keep, Skip};

/// Answers `request`; a refused request changes nothing.
pub fn dispatch<B: Backend>(
    r: &mut Router<B>,
    request: Request,
    now: Instant,
) -> (Response, Journal) {
    use interfaces::handler as ifaces;
    match request {
        Request::Hello => (hello(), Skip),
        Request::RouteAdd(s) => (routes::handler::set(r, s, false, now), Keep),
        Request::RouteReplace(s) => (routes::handler::set(r, s, true, now), Keep),
        Request::RouteDel(d) => (routes::handler::del(r, d), Keep),
        Request::RouteShow(f) => (routes::handler::show(r, f), Skip),
        Request::RouteGet(g) => (routes::handler::get(r, g), Skip),
        Request::RouteLoad(b) => (routes::handler::load(r, b, now), Keep),
        Request::NexthopAdd(s) => (nexthops::handler::add(r, s, now), Keep),
        Request::NexthopDel(d) => (nexthops::handler::del(r, d), Keep),
        Request::NexthopShow => (nexthops::handler::show(r), Skip),
        Request::NeighAdd(n) => (neighbours::handler::add(r, n), Keep),
        Request::NeighDel(n) => (neighbours::handler::del(r, n), Keep),
        Request::NeighShow(f) => (neighbours::handler::show(r, f), Skip),
        Request::AddrAdd(a) => (ifaces::addr_add(r, a), Keep),
        Request::AddrDel(a) => (ifaces::addr_del(r, a), Keep),
        Request::AddrShow(f) => (ifaces::addr_show(r, f), Skip),
        Request::LinkShow(f) => (ifaces::link_show(r, f), Skip),
        Request::CoreShow => (cores::handler::show(r, now), Skip),
        Request::CoreAdd(c) => (cores::handler::add(r, c), Skip),
        Request::CoreDel(c) => (cores::handler::del(r, c), Skip),
        Request::FibStatus => (stats::handler::fib_status(r), Skip),
        Request::FibAudit(a) => (audit::handler::run_now(r, a), Skip),
        Request::Stats => (stats::handler::stats(r), Skip),
        Request::SourceShow => (source::handler::show(r), Skip),
        Request::Metrics => (metrics::handler::metrics(r), Skip),
        // A stream: only the control socket's server can carry it (Router::answer).
        Request::Monitor(_) => (
            Err(proto::ErrorReply::new(
                proto::ErrorKind::Unsupported,
                "monitor is a subscription: send it over the control socket",
            )),
            Skip,
        ),
    }
}

fn hello() -> Response {
    Ok(Reply::Hello(HelloReply {
        protocol: proto::PROTOCOL_VERSION,
        daemon: format!("fibred {}", env!("CARGO_PKG_VERSION")),
    }))
}
