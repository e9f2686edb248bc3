//! From a route's target to a FIB nexthop. `via` without a port finds it from the
//! interface subnets; a multipath target becomes a group over its paths. Checking
//! ([`check`]) creates nothing, so a refused request changes nothing; [`nexthop_id`]
//! creates what is missing and starts resolving a new gateway.

use super::RouteTarget;
use crate::daemon::{Backend, Router};
use crate::neighbours::resolve;
use crate::nexthops::NexthopSpec;
use crate::proto::ErrorReply;
use fib::{Nexthop, NexthopId};
use std::time::Instant;

/// The nexthop a single-path target names (nothing is created).
pub fn nexthop_of<B: Backend>(r: &Router<B>, target: &RouteTarget) -> Result<Nexthop, ErrorReply> {
    Ok(match target {
        RouteTarget::Via { gateway, port } => Nexthop::Gateway {
            port: match port {
                Some(p) => r.interfaces.port(p)?,
                None => r.interfaces.port_for_gateway(*gateway)?,
            },
            gateway: *gateway,
        },
        RouteTarget::Dev(p) => Nexthop::Connected {
            port: r.interfaces.port(p)?,
        },
        RouteTarget::Blackhole => Nexthop::Blackhole,
        RouteTarget::Nexthop(id) => object(r, *id)?,
        RouteTarget::Multipath(_) => {
            return Err(ErrorReply::invalid(
                "a multipath route's target is a list of paths, not one nexthop",
            ))
        }
    })
}

/// The nexthop of a `nexthop add` spec (the targets it allows are a subset).
pub fn nexthop_of_spec<B: Backend>(
    r: &Router<B>,
    spec: &NexthopSpec,
) -> Result<Nexthop, ErrorReply> {
    nexthop_of(
        r,
        &match spec {
            NexthopSpec::Via { gateway, port } => RouteTarget::Via {
                gateway: *gateway,
                port: port.clone(),
            },
            NexthopSpec::Dev(p) => RouteTarget::Dev(p.clone()),
            NexthopSpec::Blackhole => RouteTarget::Blackhole,
        },
    )
}

/// Checks a multipath target without creating anything: 2 to `MAX_PATHS`
/// distinct `via`/`dev` paths. Returns each path's nexthop.
fn multipath<B: Backend>(r: &Router<B>, paths: &[RouteTarget]) -> Result<Vec<Nexthop>, ErrorReply> {
    let mut nexthops = Vec::with_capacity(paths.len());
    for p in paths {
        match p {
            RouteTarget::Via { .. } | RouteTarget::Dev(_) | RouteTarget::Nexthop(_) => {}
            other => {
                return Err(ErrorReply::invalid(format!(
                    "a multipath route's paths are via or dev targets, not {other}"
                )))
            }
        }
        let nh = nexthop_of(r, p)?;
        if !matches!(nh, Nexthop::Gateway { .. } | Nexthop::Connected { .. }) {
            return Err(ErrorReply::invalid(format!(
                "a multipath route's paths are via or dev targets, not {nh}"
            )));
        }
        if !nexthops.contains(&nh) {
            nexthops.push(nh);
        }
    }
    if nexthops.len() < 2 || nexthops.len() > fib::MAX_PATHS {
        return Err(ErrorReply::invalid(format!(
            "a multipath route needs 2 to {} distinct paths, got {}",
            fib::MAX_PATHS,
            nexthops.len()
        )));
    }
    Ok(nexthops)
}

/// Checks a route target without creating anything.
pub fn check<B: Backend>(r: &Router<B>, target: &RouteTarget) -> Result<(), ErrorReply> {
    match target {
        RouteTarget::Multipath(paths) => multipath(r, paths).map(|_| ()),
        t => nexthop_of(r, t).map(|_| ()),
    }
}

/// The nexthop id for a route target, creating the nexthop (and starting its
/// neighbour's resolution) if needed. For a multipath target: the group over its
/// paths' nexthops (created likewise).
pub fn nexthop_id<B: Backend>(
    r: &mut Router<B>,
    target: &RouteTarget,
    now: Instant,
) -> Result<NexthopId, ErrorReply> {
    match target {
        RouteTarget::Multipath(paths) => {
            multipath(r, paths)?;
            let mut members = Vec::with_capacity(paths.len());
            let group = paths
                .iter()
                .try_for_each(|p| nexthop_id(r, p, now).map(|id| members.push(id)))
                .and_then(|()| Ok(r.fib.group_for(&members)?));
            if group.is_err() {
                // Paths made for this target go again.
                for m in members {
                    r.fib.free_if_unused(m);
                }
            }
            group
        }
        RouteTarget::Nexthop(id) => object(r, *id).map(|_| NexthopId(*id)),
        single => {
            let nh = nexthop_of(r, single)?;
            let id = r.fib.nexthop_for(nh)?;
            if let Nexthop::Gateway { port, gateway } = nh {
                if r.fib.nexthop_mac(id).is_none() {
                    resolve::start(r, port, gateway, now);
                }
            }
            Ok(id)
        }
    }
}

/// The nexthop object `id` (`nexthop add`). A nexthop made for routes (`via`, `dev`,
/// `blackhole`) or a multipath group is not named by id: it goes with its last
/// route, and its id is another on the next run, so a route or a journal line naming
/// it could later name something else.
fn object<B: Backend>(r: &Router<B>, id: u32) -> Result<Nexthop, ErrorReply> {
    let (nexthop, _) = r
        .fib
        .nexthop(NexthopId(id))
        .ok_or_else(|| ErrorReply::not_found(format!("nexthop {id} does not exist")))?;
    if !r.fib.is_nexthop_object(NexthopId(id)) {
        return Err(ErrorReply::invalid(format!(
            "nexthop {id} ({nexthop}) is not a nexthop object (nexthop add) but one made for routes or addresses: name the target itself"
        )));
    }
    Ok(nexthop)
}
