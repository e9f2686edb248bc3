//! `route add|replace|del|show|get|load` against the FIB (and, for `route get
//! core N`, a core's own table).

use super::{
    stream, targets, BatchApplied, BatchError, RouteBatch, RouteChanged, RouteDel, RouteFilter,
    RouteGet, RouteLookup, RouteSpec, RouteTarget, MAX_BATCH_ERRORS,
};
use crate::daemon::{Backend, Router};
use crate::nexthops::handler::info;
use crate::proto::{ErrorKind, ErrorReply, Reply, Response};
use fib::{FibError, NexthopId, Route, TableId};
use std::time::{Duration, Instant};

/// `route add` (`replace`: false) and `route replace`.
pub fn set<B: Backend>(
    r: &mut Router<B>,
    spec: RouteSpec,
    replace: bool,
    now: Instant,
) -> Response {
    let table = TableId(spec.table);
    // Refuse before creating anything, so a bad request changes nothing.
    let existing = r.fib.route(table, &spec.prefix)?;
    if !replace && existing.is_some_and(|e| e.find(spec.protocol).is_some()) {
        return Err(FibError::RouteExists {
            table,
            prefix: spec.prefix,
            protocol: spec.protocol,
        }
        .into());
    }
    targets::check(r, &spec.target)?;
    let nexthop = targets::nexthop_id(r, &spec.target, now)?;
    let mut route = Route::new(nexthop, spec.protocol);
    if let Some(d) = spec.distance {
        route = route.with_distance(d);
    }
    let seq = if replace {
        r.fib.replace_route(table, spec.prefix, route)
    } else {
        r.fib.add_route(table, spec.prefix, route)
    }
    // Refused: a nexthop made for this route goes again.
    .inspect_err(|_| {
        r.fib.free_if_unused(nexthop);
    })?;
    Ok(Reply::RouteChanged(RouteChanged { seq }))
}

pub fn del<B: Backend>(r: &mut Router<B>, d: RouteDel) -> Response {
    let seq = r.fib.del_route(TableId(d.table), d.prefix, d.protocol)?;
    Ok(Reply::RouteChanged(RouteChanged { seq }))
}

/// `route load`: every route of the batch, each refused one counted (and the first
/// [`MAX_BATCH_ERRORS`] listed) without stopping the others.
pub fn load<B: Backend>(r: &mut Router<B>, batch: RouteBatch, now: Instant) -> Response {
    let table = TableId(batch.table);
    let mut applied = 0;
    let mut errors = Vec::new();
    let mut failed = 0;
    // Most routes of a file share a few targets: resolve each target once.
    let mut ids: Vec<(RouteTarget, NexthopId)> = Vec::new();
    for (index, route) in batch.routes.into_iter().enumerate() {
        let id = match ids.iter().find(|(t, _)| *t == route.target) {
            Some((_, id)) => Ok(*id),
            None => targets::nexthop_id(r, &route.target, now)
                .inspect(|id| ids.push((route.target.clone(), *id))),
        };
        let result = id.and_then(|nh| {
            let mut fib_route = Route::new(nh, batch.protocol);
            if let Some(d) = batch.distance {
                fib_route = fib_route.with_distance(d);
            }
            if batch.replace {
                r.fib.replace_route(table, route.prefix, fib_route)
            } else {
                r.fib.add_route(table, route.prefix, fib_route)
            }
            .map_err(ErrorReply::from)
        });
        match result {
            Ok(_) => applied += 1,
            Err(e) => {
                failed += 1;
                if errors.len() < MAX_BATCH_ERRORS {
                    errors.push(BatchError {
                        index,
                        message: e.message,
                    });
                }
            }
        }
    }
    // Nexthops made for routes that were all refused go again.
    for (_, id) in ids {
        r.fib.free_if_unused(id);
    }
    Ok(Reply::BatchApplied(BatchApplied {
        applied,
        failed,
        errors,
        seq: r.fib.seq(),
    }))
}

/// `route show`, from the rows shared with streamed replies (`super::stream`).
pub fn show<B: Backend>(r: &mut Router<B>, filter: RouteFilter) -> Response {
    let rows = stream::rows(r);
    Ok(Reply::Routes(stream::list(&rows, &filter)))
}

/// `route get ADDR [core N]`: the FIB's answer, or the core's own table's.
pub fn get<B: Backend>(r: &Router<B>, get: RouteGet) -> Response {
    let table = TableId(get.table);
    let (prefix, nexthop, seq) = match get.core {
        None => {
            let hit = r.fib.lookup(table, get.addr)?;
            (
                hit.map(|(p, _)| p),
                hit.map(|(_, route)| route.nexthop),
                r.fib.seq(),
            )
        }
        Some(core) => {
            let slot = r.cores.slot(core)?;
            let answer = slot
                .handle
                .query_route(table, u32::from(get.addr), Duration::from_millis(500))
                .ok_or_else(|| {
                    ErrorReply::new(ErrorKind::Busy, format!("core {core} did not answer"))
                })?;
            // The core answers with its own table: the prefix is the FIB's view
            // of the matching route at the core's seq (informational).
            let prefix = r.fib.lookup(table, get.addr)?.map(|(p, _)| p);
            (
                prefix.filter(|_| answer.nexthop.is_some()),
                answer.nexthop,
                answer.applied_seq,
            )
        }
    };
    Ok(Reply::RouteLookup(RouteLookup {
        addr: get.addr,
        table: get.table,
        core: get.core,
        prefix,
        nexthop: nexthop.map(|id| info(r, id)),
        seq,
    }))
}
