//! `nexthop add|del|show`, and a nexthop's description for `route get`.

use super::{NexthopAdded, NexthopDel, NexthopInfo, NexthopSpec};
use crate::daemon::{Backend, Router};
use crate::neighbours::resolve;
use crate::proto::{Reply, Response};
use crate::routes::targets;
use fib::{Nexthop, NexthopId};
use std::time::Instant;

pub fn add<B: Backend>(r: &mut Router<B>, spec: NexthopSpec, now: Instant) -> Response {
    let nh = targets::nexthop_of_spec(r, &spec)?;
    let id = r.fib.add_nexthop(nh)?;
    if let Nexthop::Gateway { port, gateway } = nh {
        resolve::start(r, port, gateway, now);
    }
    Ok(Reply::NexthopAdded(NexthopAdded { id: id.0 }))
}

pub fn del<B: Backend>(r: &mut Router<B>, d: NexthopDel) -> Response {
    r.fib.del_nexthop(NexthopId(d.id))?;
    Ok(Reply::Done)
}

pub fn show<B: Backend>(r: &Router<B>) -> Response {
    Ok(Reply::Nexthops(
        r.fib
            .nexthops()
            .into_iter()
            .map(|(id, _, _)| info(r, id))
            .collect(),
    ))
}

/// A nexthop (or multipath group) as a reply shows it.
pub fn info<B: Backend>(r: &Router<B>, id: NexthopId) -> NexthopInfo {
    if let Some((_, refs)) = r.fib.group(id) {
        return NexthopInfo {
            id: id.0,
            kind: "multipath".into(),
            gateway: None,
            port: None,
            mac: None,
            refs,
        };
    }
    let (nh, refs) = r.fib.nexthop(id).unwrap_or((Nexthop::Blackhole, 0));
    let (kind, gateway, port) = match nh {
        Nexthop::Gateway { port, gateway } => {
            ("gateway", Some(gateway), Some(r.interfaces.name(port)))
        }
        Nexthop::Connected { port } => ("connected", None, Some(r.interfaces.name(port))),
        Nexthop::Local => ("local", None, None),
        Nexthop::Blackhole => ("blackhole", None, None),
    };
    NexthopInfo {
        id: id.0,
        kind: kind.into(),
        gateway,
        port,
        mac: r
            .fib
            .nexthop_mac(id)
            .map(dataplane::wire::ethernet::EthernetAddress),
        refs,
    }
}

/// A nexthop in words (`via 192.0.2.1 dev p0`), for `route show`.
pub fn via_text<B: Backend>(r: &Router<B>, nexthop: NexthopId) -> String {
    if let Some((group, _)) = r.fib.group(nexthop) {
        return group
            .members()
            .map(|m| format!("nexthop {}", via_text(r, m)))
            .collect::<Vec<_>>()
            .join(" ");
    }
    match r.fib.nexthop(nexthop) {
        Some((Nexthop::Gateway { port, gateway }, _)) => {
            format!("via {gateway} dev {}", r.interfaces.name(port))
        }
        Some((Nexthop::Connected { port }, _)) => format!("dev {}", r.interfaces.name(port)),
        Some((Nexthop::Local, _)) => "local".into(),
        Some((Nexthop::Blackhole, _)) => "blackhole".into(),
        None => format!("nexthop {nexthop} (gone)"),
    }
}
