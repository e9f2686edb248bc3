//! `addr add|del|show` and `link show`. An address brings the connected route for
//! its subnet, a local /32, and the slow path answering ARP and ICMP for it.

use super::{AddrSpec, AddressInfo, LinkInfo, PortFilter};
use crate::daemon::{Backend, Router};
use crate::proto::{ErrorKind, ErrorReply, Reply, Response};
use crate::slowpath::Interface;
use fib::{Nexthop, PortId, Protocol, Route};

pub fn addr_add<B: Backend>(r: &mut Router<B>, a: AddrSpec) -> Response {
    let port = r.interfaces.port(&a.port)?;
    if r.interfaces
        .addrs
        .iter()
        .any(|(_, x)| x.addr == a.addr.addr)
    {
        return Err(ErrorReply::new(
            ErrorKind::AlreadyExists,
            format!("address {} is already configured", a.addr.addr),
        ));
    }
    let table = r.interfaces.table(port);
    // Both routes or neither; the nexthops made for them go again if refused.
    let fib = &mut r.fib;
    let connected = fib.nexthop_for(Nexthop::Connected { port })?;
    let added = fib.nexthop_for(Nexthop::Local).and_then(|local| {
        fib.route(table, &a.addr.subnet())?;
        fib.route(table, &a.addr.host())?;
        fib.replace_route(
            table,
            a.addr.subnet(),
            Route::new(connected, Protocol::Connected),
        )?;
        fib.replace_route(table, a.addr.host(), Route::new(local, Protocol::Local))
    });
    if let Err(e) = added {
        fib.free_if_unused(connected);
        if let Some(local) = fib.find_nexthop(&Nexthop::Local) {
            fib.free_if_unused(local);
        }
        return Err(e.into());
    }
    r.interfaces.addrs.push((port, a.addr));
    sync_slowpath(r);
    Ok(Reply::Done)
}

pub fn addr_del<B: Backend>(r: &mut Router<B>, a: AddrSpec) -> Response {
    let port = r.interfaces.port(&a.port)?;
    let i = r
        .interfaces
        .addrs
        .iter()
        .position(|(p, x)| *p == port && *x == a.addr)
        .ok_or_else(|| {
            ErrorReply::not_found(format!(
                "address {} is not on port {}",
                a.addr,
                r.interfaces.name(port)
            ))
        })?;
    r.interfaces.addrs.remove(i);
    let table = r.interfaces.table(port);
    // Another address may share the subnet: keep its connected route then.
    if !r
        .interfaces
        .addrs
        .iter()
        .any(|(p, x)| *p == port && x.subnet() == a.addr.subnet())
    {
        let _ = r.fib.del_route(table, a.addr.subnet(), Protocol::Connected);
    }
    let _ = r.fib.del_route(table, a.addr.host(), Protocol::Local);
    sync_slowpath(r);
    Ok(Reply::Done)
}

pub fn addr_show<B: Backend>(r: &Router<B>, f: PortFilter) -> Response {
    let only = f.port.as_ref().map(|p| r.interfaces.port(p)).transpose()?;
    Ok(Reply::Addresses(
        r.interfaces
            .addrs
            .iter()
            .filter(|(p, _)| only.is_none_or(|o| o == *p))
            .map(|(p, a)| AddressInfo {
                port: r.interfaces.name(*p),
                addr: *a,
            })
            .collect(),
    ))
}

pub fn link_show<B: Backend>(r: &Router<B>, f: PortFilter) -> Response {
    let only = f.port.as_ref().map(|p| r.interfaces.port(p)).transpose()?;
    Ok(Reply::Links(
        (0..r.interfaces.ports.len() as PortId)
            .filter(|p| only.is_none_or(|o| o == *p))
            .map(|p| link_info(r, p))
            .collect(),
    ))
}

/// One port, as `link show` and `stats` list it.
pub fn link_info<B: Backend>(r: &Router<B>, p: PortId) -> LinkInfo {
    let meta = &r.interfaces.ports[p as usize];
    let link = r.backend.link(p);
    LinkInfo {
        index: p,
        name: meta.name.clone(),
        backend: r.backend.kind().into(),
        up: link.up,
        speed_mbps: link.speed_mbps,
        mac: meta.mac,
        mtu: meta.mtu,
        counters: link.counters,
    }
}

/// The slow path answers for exactly the configured addresses.
fn sync_slowpath<B: Backend>(r: &mut Router<B>) {
    let ifaces = r
        .interfaces
        .addrs
        .iter()
        .map(|(p, a)| Interface {
            port: *p,
            addr: *a,
            mac: r.interfaces.ports[*p as usize].mac,
        })
        .collect();
    r.slowpath.set_interfaces(ifaces);
}
