//! /32 routes for resolved hosts on connected subnets. Cores punt traffic that
//! matches a `Connected` route (they have no per-host MAC for it); once a host
//! there resolves, it gets a /32 through a gateway nexthop for itself, so cores
//! forward to it directly. The route goes when the neighbour fails or is deleted.

use fib::{Fib, Ipv4Prefix, Nexthop, PortId, Protocol, Route, TableId};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Host routes installed, and hosts waiting to resolve before theirs goes in.
#[derive(Debug, Default)]
pub struct HostRoutes {
    installed: BTreeSet<(PortId, Ipv4Addr)>,
    wanted: BTreeSet<(PortId, Ipv4Addr)>,
}

fn host_prefix(host: Ipv4Addr) -> Ipv4Prefix {
    Ipv4Prefix::truncate(u32::from(host), 32).expect("32 is a valid length")
}

impl HostRoutes {
    /// A host on a connected subnet is being resolved: its /32 goes in once it is.
    pub fn want(&mut self, port: PortId, host: Ipv4Addr) {
        self.wanted.insert((port, host));
    }

    /// Whether a route was wanted for the host (and no longer is).
    pub fn take_wanted(&mut self, port: PortId, host: Ipv4Addr) -> bool {
        self.wanted.remove(&(port, host))
    }

    pub fn installed(&self, port: PortId, host: Ipv4Addr) -> bool {
        self.installed.contains(&(port, host))
    }

    pub fn len(&self) -> usize {
        self.installed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.installed.is_empty()
    }

    /// Installs the host's /32 in `table`, through a gateway nexthop for itself.
    pub fn install(&mut self, fib: &mut Fib, table: TableId, port: PortId, host: Ipv4Addr) {
        if self.installed(port, host) {
            return;
        }
        let Ok(nh) = fib.nexthop_for(Nexthop::Gateway {
            port,
            gateway: host,
        }) else {
            return;
        };
        if fib
            .replace_route(
                table,
                host_prefix(host),
                Route::new(nh, Protocol::Connected),
            )
            .is_ok()
        {
            self.installed.insert((port, host));
        } else {
            fib.free_if_unused(nh);
        }
    }

    /// Removes the host's /32 (if installed); its nexthop goes with its last route.
    pub fn remove(&mut self, fib: &mut Fib, table: TableId, port: PortId, host: Ipv4Addr) {
        if !self.installed.remove(&(port, host)) {
            return;
        }
        let _ = fib.del_route(table, host_prefix(host), Protocol::Connected);
    }
}
