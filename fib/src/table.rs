//! One routing table (VRF): prefix -> the routes every source gave for it.
//!
//! Prefixes are kept in one hash map per length, so finding the route that covers a
//! deleted prefix (which the delete event carries) costs at most 32 probes, never a
//! scan of all routes.

use crate::prefix::{mask, Ipv4Prefix};
use crate::route::{Protocol, Route};
use hashbrown::HashMap;
use std::collections::BTreeSet;

/// The routes for one prefix: the installed (best) one and the others, best first.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub(crate) installed: Route,
    /// Other sources' routes, sorted by rank (best first). Usually empty, which
    /// costs no allocation.
    pub(crate) alternates: Vec<Route>,
}

impl RouteEntry {
    /// The route listeners see: the best source's.
    pub fn installed(&self) -> &Route {
        &self.installed
    }

    /// The other sources' routes, best first; one is promoted if the installed one goes.
    pub fn alternates(&self) -> &[Route] {
        &self.alternates
    }

    /// All routes for the prefix, best first.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        std::iter::once(&self.installed).chain(self.alternates.iter())
    }

    pub fn find(&self, protocol: Protocol) -> Option<&Route> {
        self.routes().find(|r| r.protocol == protocol)
    }
}

#[derive(Debug)]
pub(crate) struct RouteTable {
    by_len: [HashMap<u32, RouteEntry>; 33],
    /// Bit `l` set when some prefix of length `l` exists: covering lookups skip empty lengths.
    lengths: u64,
    prefixes: usize,
    /// Every prefix in address order (then by length), as [`order_key`]: what an
    /// audit walks to compute, range by range, what a forwarding table must hold.
    order: BTreeSet<u64>,
}

/// A prefix's place in address order: containing prefixes before contained ones.
fn order_key(addr: u32, len: u8) -> u64 {
    u64::from(addr) << 6 | u64::from(len)
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable {
            by_len: std::array::from_fn(|_| HashMap::new()),
            lengths: 0,
            prefixes: 0,
            order: BTreeSet::new(),
        }
    }
}

impl RouteTable {
    /// Number of prefixes with at least one route.
    pub fn len(&self) -> usize {
        self.prefixes
    }

    pub fn get(&self, prefix: &Ipv4Prefix) -> Option<&RouteEntry> {
        self.by_len[prefix.len() as usize].get(&prefix.addr())
    }

    pub fn get_mut(&mut self, prefix: &Ipv4Prefix) -> Option<&mut RouteEntry> {
        self.by_len[prefix.len() as usize].get_mut(&prefix.addr())
    }

    pub fn insert_new(&mut self, prefix: Ipv4Prefix, route: Route) {
        let len = prefix.len() as usize;
        let old = self.by_len[len].insert(
            prefix.addr(),
            RouteEntry {
                installed: route,
                alternates: Vec::new(),
            },
        );
        debug_assert!(old.is_none());
        self.order.insert(order_key(prefix.addr(), prefix.len()));
        self.lengths |= 1 << len;
        self.prefixes += 1;
    }

    pub fn remove(&mut self, prefix: &Ipv4Prefix) -> Option<RouteEntry> {
        let len = prefix.len() as usize;
        let e = self.by_len[len].remove(&prefix.addr())?;
        self.order.remove(&order_key(prefix.addr(), prefix.len()));
        if self.by_len[len].is_empty() {
            self.lengths &= !(1 << len);
        }
        self.prefixes -= 1;
        Some(e)
    }

    /// The installed route of the longest prefix strictly shorter than `prefix` that covers it.
    pub fn covering(&self, prefix: &Ipv4Prefix) -> Option<(Ipv4Prefix, Route)> {
        let below = self.lengths & ((1u64 << prefix.len()) - 1);
        let mut lens = below;
        while lens != 0 {
            let len = 63 - lens.leading_zeros() as u8;
            lens &= !(1 << len);
            let addr = prefix.addr() & mask(len);
            if let Some(e) = self.by_len[len as usize].get(&addr) {
                let p = Ipv4Prefix::new(addr, len).expect("masked address");
                return Some((p, e.installed));
            }
        }
        None
    }

    /// The installed route for `addr` by longest-prefix match (the control plane's view).
    pub fn lookup(&self, addr: u32) -> Option<(Ipv4Prefix, Route)> {
        let mut lens = self.lengths;
        while lens != 0 {
            let len = 63 - lens.leading_zeros() as u8;
            lens &= !(1 << len);
            let net = addr & mask(len);
            if let Some(e) = self.by_len[len as usize].get(&net) {
                return Some((Ipv4Prefix::new(net, len).expect("masked"), e.installed));
            }
        }
        None
    }

    /// The installed route of the longest prefix that covers `prefix` or is it.
    pub fn covering_or_equal(&self, prefix: &Ipv4Prefix) -> Option<(Ipv4Prefix, Route)> {
        match self.get(prefix) {
            Some(e) => Some((*prefix, e.installed)),
            None => self.covering(prefix),
        }
    }

    /// The prefixes whose first address is in `from ..= last`, in address order, a
    /// containing prefix before those it contains.
    pub fn starting_in(
        &self,
        from: u32,
        last: u32,
    ) -> impl Iterator<Item = (Ipv4Prefix, &RouteEntry)> + '_ {
        self.order
            .range(order_key(from, 0)..=order_key(last, 32))
            .map(move |k| {
                let (addr, len) = ((k >> 6) as u32, (k & 63) as u8);
                let e = &self.by_len[len as usize][&addr];
                (Ipv4Prefix::new(addr, len).expect("stored prefix"), e)
            })
    }

    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Prefix, &RouteEntry)> {
        self.by_len.iter().enumerate().flat_map(|(len, m)| {
            m.iter().map(move |(addr, e)| {
                (Ipv4Prefix::new(*addr, len as u8).expect("stored prefix"), e)
            })
        })
    }

    pub fn reserve(&mut self, len: u8, additional: usize) {
        self.by_len[len as usize].reserve(additional);
    }
}
