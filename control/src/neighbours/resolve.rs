//! What the router does as neighbours resolve: it asks (ARP requests through a
//! core), tells the FIB each neighbour's MAC (which reaches every core's
//! adjacency), sends the frames it held, and installs or removes host routes.

use super::table::NeighbourAction;
use crate::daemon::{Backend, Router};
use dataplane::forward::{self, Adjacency, Outcome};
use dataplane::wire::ethernet::EthernetAddress;
use fib::{Nexthop, PortId};
use std::net::Ipv4Addr;
use std::time::Instant;

/// A packet to `dst` (received on `port`) is waiting on an unresolved neighbour:
/// resolve the gateway of its route, or the host itself on a connected subnet,
/// holding `frame` (if given) until it resolves.
pub fn resolve_for<B: Backend>(
    r: &mut Router<B>,
    port: PortId,
    dst: Ipv4Addr,
    frame: Option<&[u8]>,
    now: Instant,
) {
    let table = r.interfaces.table(port);
    let Ok(Some((_, route))) = r.fib.lookup(table, dst) else {
        return;
    };
    let (egress, target) = match r.fib.nexthop(route.nexthop) {
        Some((Nexthop::Gateway { port, gateway }, _)) => (port, gateway),
        Some((Nexthop::Connected { port }, _)) => {
            r.neighbours.hosts.want(port, dst);
            (port, dst)
        }
        _ => return,
    };
    if let Some(f) = frame {
        r.neighbours.held.hold(egress, target, f, now);
    }
    start(r, egress, target, now);
    // Already resolved (a core punted before it applied the MAC): send now.
    if let Some(mac) = r.neighbours.table.mac(egress, target) {
        send_held(r, egress, target, mac);
    }
}

/// Starts resolving `addr` on `port` (nothing if it is known or under way).
pub fn start<B: Backend>(r: &mut Router<B>, port: PortId, addr: Ipv4Addr, now: Instant) {
    let actions = r.neighbours.table.resolve(port, addr, now);
    apply(r, actions);
}

/// Carries out what the neighbour table decided.
pub fn apply<B: Backend>(r: &mut Router<B>, actions: Vec<NeighbourAction>) {
    for a in actions {
        match a {
            NeighbourAction::SendArp { port, target } => {
                if let Some(frame) = r.slowpath.arp_request(port, target) {
                    r.counters.arp_requests_sent += 1;
                    crate::cores::inject(r, None, port, &frame);
                }
            }
            NeighbourAction::Resolved { port, addr, mac } => {
                r.fib.set_neighbour(port, addr, Some(mac.0));
                send_held(r, port, addr, mac);
                if r.neighbours.hosts.take_wanted(port, addr)
                    || r.interfaces.on_connected_subnet(port, addr)
                {
                    let table = r.interfaces.table(port);
                    r.neighbours.hosts.install(&mut r.fib, table, port, addr);
                }
            }
            NeighbourAction::Unresolved { port, addr } => {
                r.fib.set_neighbour(port, addr, None);
                r.neighbours.held.forget(port, addr);
                let table = r.interfaces.table(port);
                r.neighbours.hosts.remove(&mut r.fib, table, port, addr);
            }
        }
    }
}

/// Sends the frames held for a neighbour that now has a MAC, rewritten as a core
/// would have (`dataplane::forward::rewrite`: RFC 1812 TTL decrement, new MACs).
/// One the rewrite refuses (too big, TTL) is dropped and counted.
pub fn send_held<B: Backend>(
    r: &mut Router<B>,
    port: PortId,
    addr: Ipv4Addr,
    mac: EthernetAddress,
) {
    let frames = r.neighbours.held.take(port, addr);
    let Some(meta) = r.interfaces.ports.get(port as usize) else {
        return;
    };
    let adjacency = Adjacency {
        port,
        dst_mac: mac,
        src_mac: meta.mac,
        mtu: meta.mtu,
    };
    for mut f in frames {
        match forward::rewrite(&mut f, &adjacency) {
            Outcome::Transmit { port } => crate::cores::inject(r, None, port, &f),
            Outcome::Punt(_) | Outcome::Drop(_) => r.counters.injects_dropped += 1,
        }
    }
}
