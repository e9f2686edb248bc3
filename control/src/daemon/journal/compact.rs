//! Compaction: a journal rewritten as the fewest entries that replay, on top of
//! the same configuration, to the same state.
//!
//! Routes are what a journal is mostly made of, and they are compacted: per key
//! (table, prefix, protocol) only the last change is kept, at the place of that
//! change. Every journaled request succeeded, which tells what the key held before
//! the journal (the configuration's state): a first `route add` means nothing, a
//! first `route del` means a route. So
//!
//! - last change a set (add, replace, a `route_load` route): kept, as a replace
//!   (the same state whether the key held a route or not);
//! - last change a delete: dropped with all the rest if the key's first change was
//!   an add (the journal created and removed it), otherwise kept as a `route del`;
//! - a key some `uncertain` batch touched (its refused routes unknown): every
//!   change kept as it was.
//!
//! Addresses, neighbours and nexthop objects are kept as they are, in place: they
//! are few, and routes depend on them (a gateway on an address's subnet, a
//! `nexthop` id), so every route replays among the same addresses and nexthop
//! objects as when it was applied. Surviving routes next to each other are joined
//! into `route_load` batches (replace, up to [`BATCH`] routes) — the fastest to
//! replay.

use super::Entry;
use crate::proto::{BatchRoute, Request, RouteBatch, RouteDel, RouteTarget};
use fib::{Ipv4Prefix, Protocol};
use std::collections::HashMap;

/// Routes per `route_load` a compacted journal holds at most.
pub const BATCH: usize = 10_000;

type Key = (u32, Ipv4Prefix, Protocol);

/// What routes must share to go in one batch: table, protocol, distance,
/// replace, uncertain.
type BatchSettings = (u32, Protocol, Option<u8>, bool, bool);

#[derive(Debug, Clone)]
enum Op {
    Set {
        target: RouteTarget,
        distance: Option<u8>,
        replace: bool,
    },
    Del,
}

enum Unit {
    Verbatim(Entry),
    Route { key: Key, op: Op, certain: bool },
}

fn units(entries: Vec<Entry>) -> Vec<Unit> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let replace = matches!(e.request, Request::RouteReplace(_));
        match e.request {
            Request::RouteAdd(s) | Request::RouteReplace(s) if !e.uncertain => {
                out.push(Unit::Route {
                    key: (s.table, s.prefix, s.protocol),
                    op: Op::Set {
                        target: s.target,
                        distance: s.distance,
                        replace,
                    },
                    certain: true,
                })
            }
            Request::RouteDel(d) if !e.uncertain => out.push(Unit::Route {
                key: (d.table, d.prefix, d.protocol),
                op: Op::Del,
                certain: true,
            }),
            Request::RouteLoad(b) => {
                for r in b.routes {
                    out.push(Unit::Route {
                        key: (b.table, r.prefix, b.protocol),
                        op: Op::Set {
                            target: r.target,
                            distance: b.distance,
                            replace: b.replace,
                        },
                        certain: !e.uncertain,
                    });
                }
            }
            _ => out.push(Unit::Verbatim(e)),
        }
    }
    out
}

/// The compacted form of `entries` (see the module's documentation).
pub fn compact(entries: Vec<Entry>) -> Vec<Entry> {
    let mut units = units(entries);
    // Each key's changes, in order.
    let mut by_key: HashMap<Key, Vec<usize>> = HashMap::new();
    for (i, u) in units.iter().enumerate() {
        if let Unit::Route { key, .. } = u {
            by_key.entry(*key).or_default().push(i);
        }
    }
    let mut keep = vec![false; units.len()];
    for (i, u) in units.iter().enumerate() {
        keep[i] = matches!(u, Unit::Verbatim(_));
    }
    for changes in by_key.values() {
        let certain = changes
            .iter()
            .all(|&i| matches!(units[i], Unit::Route { certain: true, .. }));
        if !certain {
            changes.iter().for_each(|&i| keep[i] = true);
            continue;
        }
        let (first, last) = (changes[0], changes[changes.len() - 1]);
        let created = matches!(
            units[first],
            Unit::Route {
                op: Op::Set { replace: false, .. },
                ..
            }
        );
        match &mut units[last] {
            Unit::Route {
                op: Op::Set { replace, .. },
                ..
            } => {
                *replace = true;
                keep[last] = true;
            }
            Unit::Route { op: Op::Del, .. } => keep[last] = !created,
            Unit::Verbatim(_) => unreachable!("a key's changes are routes"),
        }
    }
    let mut out: Vec<Entry> = Vec::new();
    // The output entry still taking routes: (index, its batch's settings).
    let mut open: Option<(usize, BatchSettings)> = None;
    for (u, kept) in units.into_iter().zip(keep) {
        if !kept {
            continue;
        }
        match u {
            Unit::Verbatim(e) => {
                open = None;
                out.push(e);
            }
            Unit::Route {
                key: (table, prefix, protocol),
                op: Op::Del,
                ..
            } => {
                open = None;
                out.push(Entry::bare(Request::RouteDel(RouteDel {
                    table,
                    prefix,
                    protocol,
                })));
            }
            Unit::Route {
                key: (table, prefix, protocol),
                op:
                    Op::Set {
                        target,
                        distance,
                        replace,
                    },
                certain,
            } => {
                let settings = (table, protocol, distance, replace, !certain);
                let route = BatchRoute { prefix, target };
                if let Some((i, s)) = open {
                    if s == settings {
                        if let Request::RouteLoad(b) = &mut out[i].request {
                            if b.routes.len() < BATCH {
                                b.routes.push(route);
                                continue;
                            }
                        }
                    }
                }
                out.push(Entry {
                    request: Request::RouteLoad(RouteBatch {
                        table,
                        protocol,
                        distance,
                        replace,
                        routes: vec![route],
                    }),
                    nexthop: None,
                    uncertain: !certain,
                });
                open = Some((out.len() - 1, settings));
            }
        }
    }
    out
}
