//! Routes: what each source says about a prefix, which one is installed, and
//! reading the tables back.
//!
//! Every source (`Protocol`) has at most one route per prefix; the one with the
//! lowest `(distance, protocol)` rank is installed and is all listeners see. So a
//! change here emits an event only when the installed nexthop changes, and always
//! after the state is updated, before any reference it dropped is released (a
//! group a route stopped using is deleted after that route's event).

use super::{Fib, FibError};
use crate::event::{CoveringRoute, EventKind, NexthopId, TableId};
use crate::prefix::Ipv4Prefix;
use crate::route::{Protocol, Route};
use crate::table::RouteEntry;
use std::net::Ipv4Addr;

impl Fib {
    fn check_route(&self, table: TableId, route: &Route) -> Result<(), FibError> {
        self.table(table)?;
        self.check_target(route.nexthop)
    }

    /// Adds `protocol`'s route for a prefix; refused if that source already has one
    /// (use [`Fib::replace_route`]). Returns the seq of the change listeners see,
    /// if they see one (a route that loses arbitration changes nothing they see).
    pub fn add_route(
        &mut self,
        table: TableId,
        prefix: Ipv4Prefix,
        route: Route,
    ) -> Result<Option<u64>, FibError> {
        self.check_route(table, &route)?;
        let t = self.tables.get(&table).expect("checked");
        if let Some(e) = t.get(&prefix) {
            if e.find(route.protocol).is_some() {
                return Err(FibError::RouteExists {
                    table,
                    prefix,
                    protocol: route.protocol,
                });
            }
        }
        Ok(self.upsert(table, prefix, route))
    }

    /// Adds or replaces `protocol`'s route for a prefix.
    pub fn replace_route(
        &mut self,
        table: TableId,
        prefix: Ipv4Prefix,
        route: Route,
    ) -> Result<Option<u64>, FibError> {
        self.check_route(table, &route)?;
        Ok(self.upsert(table, prefix, route))
    }

    /// Deletes `protocol`'s route for a prefix. If it was installed, the next best
    /// source's route is promoted (a replace), or the prefix goes (a delete carrying
    /// the covering route).
    pub fn del_route(
        &mut self,
        table: TableId,
        prefix: Ipv4Prefix,
        protocol: Protocol,
    ) -> Result<Option<u64>, FibError> {
        let t = self.table_mut(table)?;
        let missing = FibError::NoSuchRoute {
            table,
            prefix,
            protocol,
        };
        let entry = t.get_mut(&prefix).ok_or(missing.clone())?;
        let removed;
        let kind = if entry.installed.protocol == protocol {
            removed = entry.installed;
            if entry.alternates.is_empty() {
                t.remove(&prefix);
                let covering = t.covering(&prefix).map(|(p, r)| CoveringRoute {
                    prefix: p,
                    nexthop: r.nexthop,
                });
                Some(EventKind::RouteDel {
                    table,
                    prefix,
                    covering,
                })
            } else {
                entry.installed = entry.alternates.remove(0);
                (entry.installed.nexthop != removed.nexthop).then_some(EventKind::RouteReplace {
                    table,
                    prefix,
                    nexthop: entry.installed.nexthop,
                })
            }
        } else {
            let i = entry
                .alternates
                .iter()
                .position(|r| r.protocol == protocol)
                .ok_or(missing)?;
            removed = entry.alternates.remove(i);
            None
        };
        self.generation += 1;
        // The route event first: a group it released goes after the last route
        // that used it.
        let seq = kind.map(|k| self.emit(k));
        self.release(removed.nexthop);
        Ok(seq)
    }

    /// Deletes every route of a table (or only `protocol`'s). Returns how many.
    pub fn flush(&mut self, table: TableId, protocol: Option<Protocol>) -> Result<usize, FibError> {
        let t = self.table(table)?;
        let mut doomed: Vec<(Ipv4Prefix, Protocol)> = Vec::new();
        for (prefix, e) in t.iter() {
            for r in e.routes() {
                if protocol.is_none_or(|p| p == r.protocol) {
                    doomed.push((prefix, r.protocol));
                }
            }
        }
        // Longest prefixes first: each delete then restores a covering route that is
        // still there, and listeners rewrite each region once.
        doomed.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
        for (prefix, proto) in &doomed {
            self.del_route(table, *prefix, *proto)
                .expect("route listed above");
        }
        Ok(doomed.len())
    }

    fn upsert(&mut self, table: TableId, prefix: Ipv4Prefix, route: Route) -> Option<u64> {
        self.generation += 1;
        self.hold(route.nexthop);
        let t = self.tables.get_mut(&table).expect("checked");
        let Some(entry) = t.get_mut(&prefix) else {
            t.insert_new(prefix, route);
            return Some(self.emit(EventKind::RouteAdd {
                table,
                prefix,
                nexthop: route.nexthop,
            }));
        };
        let before = entry.installed.nexthop;
        // Take out this source's previous route, if any.
        let mut previous = None;
        if entry.installed.protocol == route.protocol {
            previous = Some(entry.installed);
            entry.installed = route;
        } else if let Some(i) = entry
            .alternates
            .iter()
            .position(|r| r.protocol == route.protocol)
        {
            previous = Some(entry.alternates.remove(i));
            insert_ranked(entry, route);
        } else {
            insert_ranked(entry, route);
        }
        // The source that was installed may have got worse than an alternate.
        if let Some(first) = entry.alternates.first() {
            if first.rank() < entry.installed.rank() {
                let best = entry.alternates.remove(0);
                let demoted = std::mem::replace(&mut entry.installed, best);
                insert_ranked_alternate(&mut entry.alternates, demoted);
            }
        }
        let after = entry.installed.nexthop;
        let seq = (before != after).then(|| {
            self.emit(EventKind::RouteReplace {
                table,
                prefix,
                nexthop: after,
            })
        });
        if let Some(p) = previous {
            self.release(p.nexthop);
        }
        seq
    }

    // ---- reading the tables ----

    /// The routes (installed first) every source gave for a prefix.
    pub fn route(
        &self,
        table: TableId,
        prefix: &Ipv4Prefix,
    ) -> Result<Option<&RouteEntry>, FibError> {
        Ok(self.table(table)?.get(prefix))
    }

    /// Longest-prefix match in the control plane's own state.
    pub fn lookup(
        &self,
        table: TableId,
        addr: Ipv4Addr,
    ) -> Result<Option<(Ipv4Prefix, Route)>, FibError> {
        Ok(self.table(table)?.lookup(u32::from(addr)))
    }

    /// Every prefix of a table with its routes, in no particular order.
    pub fn routes(
        &self,
        table: TableId,
    ) -> Result<impl Iterator<Item = (Ipv4Prefix, &RouteEntry)>, FibError> {
        Ok(self.table(table)?.iter())
    }

    /// The installed route of every prefix of every table: what listeners hold.
    pub fn installed(&self) -> Vec<(TableId, Ipv4Prefix, NexthopId)> {
        let mut v = Vec::with_capacity(self.stats().prefixes);
        for (id, t) in &self.tables {
            v.extend(t.iter().map(|(p, e)| (*id, p, e.installed.nexthop)));
        }
        v
    }

    pub fn prefix_count(&self, table: TableId) -> Result<usize, FibError> {
        Ok(self.table(table)?.len())
    }

    /// Sizes the table for `additional` more prefixes of length `len` (bulk loads).
    pub fn reserve(&mut self, table: TableId, len: u8, additional: usize) -> Result<(), FibError> {
        self.table_mut(table)?.reserve(len.min(32), additional);
        Ok(())
    }
}

/// Puts a source's route in its place by rank: installed if it beats the installed
/// one (which becomes an alternate), else among the alternates.
fn insert_ranked(entry: &mut RouteEntry, route: Route) {
    if route.rank() < entry.installed.rank() {
        let old = std::mem::replace(&mut entry.installed, route);
        insert_ranked_alternate(&mut entry.alternates, old);
    } else {
        insert_ranked_alternate(&mut entry.alternates, route);
    }
}

/// Inserts after every alternate of equal or better rank, keeping them best first.
fn insert_ranked_alternate(alternates: &mut Vec<Route>, route: Route) {
    let at = alternates.partition_point(|r| r.rank() <= route.rank());
    alternates.insert(at, route);
}
