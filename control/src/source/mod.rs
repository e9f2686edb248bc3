//! Route sources: software outside fibred that owns some of its routes — the Linux
//! kernel's routing table ([`kernel`], over rtnetlink) and FRR's zebra ([`fpm`], over
//! the FPM socket).
//!
//! Each source runs on its own thread, speaks its peer's protocol, and hands the
//! control thread plain requests (`route replace` / `route del` with the source's
//! [`Protocol`]) over a channel. The control thread applies them like any other
//! request, except that they are not journaled: after a restart the source sends
//! them again, and journaling them would bring back routes the peer has since
//! removed.
//!
//! Both peers sometimes resend everything — the kernel after a dump was interrupted
//! (`NLM_F_DUMP_INTR`) or the socket overflowed (`ENOBUFS`), zebra after every
//! reconnect. [`SourceView`] turns a full resend into the smallest set of changes:
//! it remembers what the source installed, marks everything stale when a resend
//! begins ([`SourceView::begin_resync`]), and when it ends
//! ([`SourceView::end_resync`]) deletes exactly the routes the peer did not send
//! again. Routes that did not change produce no request at all, so a resync of an
//! unchanged table costs the cores nothing.

pub mod fpm;
pub mod handler;
pub mod kernel;
pub mod netlink;

use crate::proto::{Request, RouteDel, RouteSpec, RouteTarget};
use fib::{Ipv4Prefix, Protocol};
use hashbrown::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

/// A route as a source states it: the whole of it, every time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRoute {
    /// fibre table (VRF) id.
    pub table: u32,
    pub prefix: Ipv4Prefix,
    /// One target, or several for a multipath route
    /// ([`RouteTarget::Multipath`]).
    pub target: RouteTarget,
    /// Administrative distance; the source protocol's default when `None`.
    pub distance: Option<u8>,
}

/// What one source has installed, and the bookkeeping of a full resend.
#[derive(Debug)]
pub struct SourceView {
    protocol: Protocol,
    routes: HashMap<(u32, Ipv4Prefix), SourceRoute>,
    /// During a resync: the keys the peer has sent again since it began.
    seen: Option<HashSet<(u32, Ipv4Prefix)>>,
}

impl SourceView {
    pub fn new(protocol: Protocol) -> Self {
        SourceView {
            protocol,
            routes: HashMap::new(),
            seen: None,
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Routes the source currently holds.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn get(&self, table: u32, prefix: &Ipv4Prefix) -> Option<&SourceRoute> {
        self.routes.get(&(table, *prefix))
    }

    pub fn routes(&self) -> impl Iterator<Item = &SourceRoute> {
        self.routes.values()
    }

    pub fn resyncing(&self) -> bool {
        self.seen.is_some()
    }

    /// The peer is about to send everything again. Until [`Self::end_resync`], every
    /// route it does not send is considered stale. Beginning again while a resync is
    /// under way restarts it (what was seen so far may be gone again).
    pub fn begin_resync(&mut self) {
        self.seen = Some(HashSet::with_capacity(self.routes.len()));
    }

    /// The peer sent (or resent) a route. The request to make the FIB agree, or
    /// `None` when the FIB already has exactly this route from this source.
    pub fn set(&mut self, route: SourceRoute) -> Option<Request> {
        let key = (route.table, route.prefix);
        if let Some(seen) = &mut self.seen {
            seen.insert(key);
        }
        if self.routes.get(&key) == Some(&route) {
            return None;
        }
        let request = Request::RouteReplace(RouteSpec {
            table: route.table,
            prefix: route.prefix,
            target: route.target.clone(),
            protocol: self.protocol,
            distance: route.distance,
        });
        self.routes.insert(key, route);
        Some(request)
    }

    /// The peer removed a route. `None` if the source never had it.
    pub fn del(&mut self, table: u32, prefix: Ipv4Prefix) -> Option<Request> {
        if let Some(seen) = &mut self.seen {
            seen.remove(&(table, prefix));
        }
        self.routes
            .remove(&(table, prefix))
            .map(|_| self.del_request(table, prefix))
    }

    /// The resend is complete: deletes for every route the peer did not send again.
    /// Empty when no resync was under way.
    pub fn end_resync(&mut self) -> Vec<Request> {
        let Some(seen) = self.seen.take() else {
            return Vec::new();
        };
        let mut stale: Vec<(u32, Ipv4Prefix)> = self
            .routes
            .keys()
            .filter(|k| !seen.contains(*k))
            .copied()
            .collect();
        stale.sort_unstable_by_key(|(t, p)| (*t, p.addr(), p.len()));
        stale
            .into_iter()
            .map(|(table, prefix)| {
                self.routes.remove(&(table, prefix));
                self.del_request(table, prefix)
            })
            .collect()
    }

    /// Forgets everything: deletes for every route the source holds (the source is
    /// being shut down, or its peer is gone for good).
    pub fn clear(&mut self) -> Vec<Request> {
        self.seen = None;
        let mut all: Vec<(u32, Ipv4Prefix)> = self.routes.keys().copied().collect();
        all.sort_unstable_by_key(|(t, p)| (*t, p.addr(), p.len()));
        self.routes.clear();
        all.into_iter()
            .map(|(table, prefix)| self.del_request(table, prefix))
            .collect()
    }

    fn del_request(&self, table: u32, prefix: Ipv4Prefix) -> Request {
        Request::RouteDel(RouteDel {
            table,
            prefix,
            protocol: self.protocol,
        })
    }
}

/// A source's counters and state, shared between its thread (writer) and the
/// control thread (`fibrectl source show`).
#[derive(Debug, Default)]
pub struct SourceStatus {
    /// Connected to / subscribed with the peer.
    pub connected: AtomicBool,
    /// Routes the source holds (its [`SourceView::len`]).
    pub routes: AtomicU64,
    /// Messages received from the peer.
    pub messages: AtomicU64,
    /// Full resends (re-dumps, reconnects).
    pub resyncs: AtomicU64,
    /// Dumps that had to be taken again because the peer said they were
    /// inconsistent (the kernel's `NLM_F_DUMP_INTR`); counted in `resyncs` too.
    pub dump_retries: AtomicU64,
    /// Peer messages that could not be used (malformed, unsupported), each logged.
    pub ignored: AtomicU64,
    /// Requests the control thread refused (e.g. a gateway on no interface subnet).
    pub refused: AtomicU64,
    /// The last error, for operators.
    pub last_error: Mutex<Option<String>>,
}

impl SourceStatus {
    pub fn set_error(&self, error: impl Into<String>) {
        let e = error.into();
        tracing::warn!(error = %e, "route source");
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The control thread's end of a running source.
pub struct SourceHandle {
    /// `kernel` or `fpm`, for logs and `source show`.
    pub name: &'static str,
    pub protocol: Protocol,
    pub requests: Receiver<Request>,
    pub status: Arc<SourceStatus>,
    /// Set to stop the source's thread.
    pub stop: Arc<AtomicBool>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

impl SourceHandle {
    /// A channel and status for a source thread to feed; the thread is attached
    /// with [`Self::attach`].
    pub fn new(name: &'static str, protocol: Protocol) -> (SourceHandle, SourceFeed) {
        let (tx, rx) = std::sync::mpsc::channel();
        let status = Arc::new(SourceStatus::default());
        let stop = Arc::new(AtomicBool::new(false));
        (
            SourceHandle {
                name,
                protocol,
                requests: rx,
                status: status.clone(),
                stop: stop.clone(),
                thread: None,
            },
            SourceFeed {
                requests: tx,
                status,
                stop,
            },
        )
    }

    pub fn attach(mut self, thread: std::thread::JoinHandle<()>) -> Self {
        self.thread = Some(thread);
        self
    }

    /// Asks the thread to stop and waits for it.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!(source = self.name, "route source thread panicked");
            }
        }
    }
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The source thread's end: where it sends requests and reports its state.
#[derive(Clone)]
pub struct SourceFeed {
    requests: Sender<Request>,
    pub status: Arc<SourceStatus>,
    pub stop: Arc<AtomicBool>,
}

impl SourceFeed {
    /// Sends a request to the control thread. `false` when the control thread is gone
    /// (fibred is stopping): the source should stop too.
    pub fn send(&self, request: Request) -> bool {
        self.requests.send(request).is_ok()
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn route(p: &str, gw: [u8; 4]) -> SourceRoute {
        SourceRoute {
            table: 254,
            prefix: p.parse().unwrap(),
            target: RouteTarget::Via {
                gateway: Ipv4Addr::from(gw),
                port: None,
            },
            distance: None,
        }
    }

    fn deleted(requests: &[Request]) -> Vec<String> {
        requests
            .iter()
            .map(|r| match r {
                Request::RouteDel(d) => {
                    assert_eq!(d.protocol, Protocol::Frr);
                    d.prefix.to_string()
                }
                other => panic!("expected a delete, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn set_is_idempotent_and_del_forgets() {
        let mut v = SourceView::new(Protocol::Frr);
        let r = route("10.0.0.0/8", [192, 0, 2, 1]);
        match v.set(r.clone()) {
            Some(Request::RouteReplace(s)) => {
                assert_eq!(s.protocol, Protocol::Frr);
                assert_eq!(s.prefix.to_string(), "10.0.0.0/8");
            }
            other => panic!("expected a replace, got {other:?}"),
        }
        assert_eq!(
            v.set(r.clone()),
            None,
            "an unchanged route makes no request"
        );
        assert!(
            v.set(route("10.0.0.0/8", [192, 0, 2, 2])).is_some(),
            "a changed gateway is a replace"
        );
        assert_eq!(v.len(), 1);
        assert!(v.del(254, "10.0.0.0/8".parse().unwrap()).is_some());
        assert_eq!(v.del(254, "10.0.0.0/8".parse().unwrap()), None);
        assert!(v.is_empty());
    }

    #[test]
    fn resync_deletes_exactly_what_was_not_resent() {
        let mut v = SourceView::new(Protocol::Frr);
        for p in ["10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/24", "0.0.0.0/0"] {
            v.set(route(p, [192, 0, 2, 1]));
        }
        v.begin_resync();
        assert!(v.resyncing());
        // Resent unchanged: no request. Resent changed: a replace. One is new.
        assert_eq!(v.set(route("10.0.0.0/8", [192, 0, 2, 1])), None);
        assert!(v.set(route("0.0.0.0/0", [192, 0, 2, 9])).is_some());
        assert!(v.set(route("172.16.0.0/12", [192, 0, 2, 1])).is_some());
        // Sent, then deleted again during the resync: it stays deleted.
        assert!(v.del(254, "10.1.0.0/16".parse().unwrap()).is_some());
        let stale = v.end_resync();
        assert_eq!(deleted(&stale), vec!["192.168.0.0/24"]);
        assert!(!v.resyncing());
        let mut left: Vec<String> = v.routes().map(|r| r.prefix.to_string()).collect();
        left.sort();
        assert_eq!(left, vec!["0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12"]);
        assert!(
            v.end_resync().is_empty(),
            "no resync under way: nothing stale"
        );
    }

    #[test]
    fn restarted_resync_forgets_what_the_first_attempt_saw() {
        let mut v = SourceView::new(Protocol::Frr);
        v.set(route("10.0.0.0/8", [192, 0, 2, 1]));
        v.set(route("10.2.0.0/16", [192, 0, 2, 1]));
        v.begin_resync();
        v.set(route("10.0.0.0/8", [192, 0, 2, 1]));
        // The dump was interrupted; it starts again and this time sends only /16.
        v.begin_resync();
        v.set(route("10.2.0.0/16", [192, 0, 2, 1]));
        assert_eq!(deleted(&v.end_resync()), vec!["10.0.0.0/8"]);
    }

    #[test]
    fn clear_deletes_everything_in_address_order() {
        let mut v = SourceView::new(Protocol::Frr);
        v.set(route("10.2.0.0/16", [192, 0, 2, 1]));
        v.set(route("10.0.0.0/8", [192, 0, 2, 1]));
        assert_eq!(deleted(&v.clear()), vec!["10.0.0.0/8", "10.2.0.0/16"]);
        assert!(v.is_empty());
    }
}
