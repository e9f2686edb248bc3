//! Where the events come from: once per control-loop turn, and only while someone
//! subscribes. Each source is read in one place, in one order (routes, cores, FIB
//! listeners, neighbours, sources), so a subscriber sees seqs that never go back.

use super::{Event, Topic};
use crate::daemon::{Backend, Router};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

/// Most route events kept between two turns; more are reported as lost.
const TAP_EVENTS: usize = 1 << 16;

/// What the watchers saw last, to report changes only.
#[derive(Debug, Default)]
pub struct Seen {
    cores: BTreeMap<u32, String>,
    /// Listener id → (name, state, resyncs).
    listeners: BTreeMap<u32, (String, &'static str, u64)>,
    /// Source index → (connected, resyncs).
    sources: Vec<(bool, u64)>,
}

/// One turn's events. Cheap when nobody subscribes: a check of the subscriber list.
pub fn turn<B: Backend>(r: &mut Router<B>) {
    if r.monitor.subscribers() == 0 {
        return;
    }
    if !r.monitor.refresh() {
        // The last subscriber left: stop the taps.
        r.fib.tap_routes(0);
        r.neighbours.table.watch(false);
        return;
    }
    if !r.monitor.primed {
        // The first subscriber: the present state is the baseline, not news.
        let seen = look(r);
        r.monitor.last = seen;
        r.monitor.primed = true;
    }
    routes(r);
    let now = look(r);
    let seq = r.fib.seq();
    let last = std::mem::take(&mut r.monitor.last);
    let m = &mut r.monitor;
    if m.wants(Topic::Core) {
        for (id, name) in &now.cores {
            if !last.cores.contains_key(id) {
                m.emit(seq, core(*id, name, "started"));
            }
        }
        for (id, name) in &last.cores {
            if !now.cores.contains_key(id) {
                m.emit(seq, core(*id, name, "stopped"));
            }
        }
    }
    if m.wants(Topic::Fib) {
        let failures: BTreeMap<u32, Option<String>> = r
            .fib
            .listeners()
            .into_iter()
            .map(|l| (l.id.0, l.failure))
            .collect();
        for (id, (name, state, resyncs)) in &now.listeners {
            let before = last.listeners.get(id);
            let fib = |action: &str, detail: Option<String>| Event::Fib {
                listener: name.clone(),
                action: action.into(),
                detail,
            };
            if before.is_some_and(|b| *resyncs > b.2) {
                m.emit(
                    seq,
                    fib("resync", Some(format!("resync {resyncs} of this listener"))),
                );
            }
            let was = before.map(|b| b.1);
            if was == Some(*state) {
                continue;
            }
            match *state {
                "replaying" => m.emit(seq, fib("replay_begin", None)),
                "live" => {
                    if was.is_none() {
                        m.emit(seq, fib("replay_begin", None));
                    }
                    m.emit(seq, fib("replay_end", None));
                }
                "failed" => m.emit(seq, fib("failed", failures.get(id).cloned().flatten())),
                _ => {}
            }
        }
    }
    if m.wants(Topic::Neigh) {
        r.neighbours.table.watch(true);
        for c in r.neighbours.table.take_changes() {
            r.monitor.emit(
                seq,
                Event::Neigh {
                    port: r.interfaces.name(c.port),
                    addr: c.addr,
                    from: c.from.into(),
                    to: c.to.into(),
                    mac: c.mac.map(|m| m.to_string()),
                },
            );
        }
    } else {
        r.neighbours.table.watch(false);
    }
    let m = &mut r.monitor;
    if m.wants(Topic::Source) {
        for (i, (connected, resyncs)) in now.sources.iter().enumerate() {
            let s = &r.sources[i];
            let before = last.sources.get(i).copied().unwrap_or((false, 0));
            let source = |action: &str, detail: Option<String>| Event::Source {
                source: s.name.to_string(),
                action: action.into(),
                detail,
            };
            if *connected != before.0 {
                let (action, detail) = if *connected {
                    ("connected", None)
                } else {
                    ("disconnected", s.status.last_error())
                };
                m.emit(seq, source(action, detail));
            }
            if *resyncs > before.1 {
                m.emit(seq, source("resync", None));
            }
        }
    }
    r.monitor.last = now;
}

/// Route changes since the last turn, from the FIB's tap (started with the first
/// route subscriber, stopped with the last).
fn routes<B: Backend>(r: &mut Router<B>) {
    if !r.monitor.wants(Topic::Route) {
        r.fib.tap_routes(0);
        return;
    }
    if !r.fib.is_tapping() {
        r.fib.tap_routes(TAP_EVENTS);
        return;
    }
    let mut events = Vec::new();
    let lost = r.fib.take_tapped(&mut events);
    for e in events {
        let (table, prefix, action, nexthop) = match e.kind {
            fib::EventKind::RouteAdd {
                table,
                prefix,
                nexthop,
            } => (table, prefix, "add", Some(nexthop.0)),
            fib::EventKind::RouteReplace {
                table,
                prefix,
                nexthop,
            } => (table, prefix, "replace", Some(nexthop.0)),
            fib::EventKind::RouteDel { table, prefix, .. } => (table, prefix, "del", None),
            _ => continue,
        };
        r.monitor.emit(
            e.seq,
            Event::Route {
                table: table.0,
                prefix: prefix.to_string(),
                action: action.into(),
                nexthop,
            },
        );
    }
    if lost > 0 {
        r.monitor.lost(r.fib.seq(), Topic::Route, lost);
    }
}

fn core(id: u32, name: &str, action: &str) -> Event {
    Event::Core {
        core: id,
        name: name.to_string(),
        action: action.into(),
    }
}

/// The cores, listeners and sources as they are now.
fn look<B: Backend>(r: &Router<B>) -> Seen {
    Seen {
        cores: r
            .cores
            .slots
            .iter()
            .map(|(id, s)| (*id, s.handle.name().to_string()))
            .collect(),
        listeners: r
            .fib
            .listeners()
            .into_iter()
            .map(|l| (l.id.0, (l.name, l.state, l.resyncs)))
            .collect(),
        sources: r
            .sources
            .iter()
            .map(|s| {
                (
                    s.status.connected.load(Relaxed),
                    s.status.resyncs.load(Relaxed),
                )
            })
            .collect(),
    }
}
