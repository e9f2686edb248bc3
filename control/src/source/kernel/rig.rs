//! The mirror's test rig: a [`Mirror`] fed whole datagrams as the socket would
//! read them (dump parts of our port and sequence, notifications from `ip`), and
//! the requests it makes, read back. Route messages come from
//! [`crate::source::netlink::build`].

use super::mirror::{DumpPolicy, Mirror};
use super::KernelCounters;
use crate::proto::{Request, RouteDel, RouteTarget};
use crate::source::netlink::build::{gw, MAIN};
use crate::source::netlink::NLMSG_DONE;
use crate::source::SourceStatus;
use fib::Protocol;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_MULTIPART};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::RouteNetlinkMessage;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
/// The mirror socket's netlink port.
pub(super) const PORT: u32 = 4242;

pub(super) fn via(last: u8) -> RouteTarget {
    RouteTarget::Via {
        gateway: gw(last),
        port: None,
    }
}

/// The bytes of one netlink message.
pub(super) fn frame(msg: RouteNetlinkMessage, flags: u16, seq: u32, pid: u32) -> Vec<u8> {
    let mut h = NetlinkHeader::default();
    h.flags = flags;
    h.sequence_number = seq;
    h.port_number = pid;
    let mut m = NetlinkMessage::new(h, NetlinkPayload::from(msg));
    m.finalize();
    let mut buf = vec![0u8; m.buffer_len()];
    m.serialize(&mut buf);
    buf
}

pub(super) fn done(flags: u16, seq: u32, code: i32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&20u32.to_ne_bytes());
    b.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    b.extend_from_slice(&(flags | NLM_F_MULTIPART).to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&PORT.to_ne_bytes());
    b.extend_from_slice(&code.to_ne_bytes());
    b
}

pub(super) struct Rig {
    pub(super) m: Mirror,
    pub(super) now: Instant,
    pub(super) status: Arc<SourceStatus>,
    pub(super) counters: Arc<KernelCounters>,
    pub(super) seq: u32,
}

impl Rig {
    pub(super) fn new(table: u32) -> Rig {
        let status = Arc::new(SourceStatus::default());
        let counters = Arc::new(KernelCounters::default());
        let now = Instant::now();
        let m = Mirror::new(
            table,
            MAIN,
            Some(7),
            DumpPolicy {
                attempts: 5,
                retry_after: Duration::from_secs(1),
            },
            status.clone(),
            counters.clone(),
            now,
        );
        Rig {
            m,
            now,
            status,
            counters,
            seq: 0,
        }
    }

    /// A notification (from `ip`, port 999).
    pub(super) fn notify_new(&mut self, msg: RouteMessage, flags: u16) -> Vec<Request> {
        let b = frame(RouteNetlinkMessage::NewRoute(msg), flags, 77, 999);
        self.m.on_datagram(&b, PORT, self.now);
        self.m.take_requests()
    }

    pub(super) fn notify_del(&mut self, msg: RouteMessage) -> Vec<Request> {
        let b = frame(RouteNetlinkMessage::DelRoute(msg), 0, 78, 999);
        self.m.on_datagram(&b, PORT, self.now);
        self.m.take_requests()
    }

    pub(super) fn begin(&mut self) {
        assert!(self.m.dump_due(self.now), "a dump should be due");
        self.seq += 1;
        self.m.begin_dump(self.seq);
    }

    pub(super) fn part(&mut self, msgs: Vec<RouteMessage>, flags: u16) {
        let mut b = Vec::new();
        for m in msgs {
            b.extend(frame(
                RouteNetlinkMessage::NewRoute(m),
                NLM_F_MULTIPART | flags,
                self.seq,
                PORT,
            ));
        }
        self.m.on_datagram(&b, PORT, self.now);
    }

    pub(super) fn done(&mut self, flags: u16) -> Vec<Request> {
        self.m
            .on_datagram(&done(flags, self.seq, 0), PORT, self.now);
        self.m.take_requests()
    }

    /// A mirror that knows `msgs` from a clean dump, in a second dump (forced by
    /// an overflow) that has just begun.
    pub(super) fn redumping(msgs: Vec<RouteMessage>) -> Rig {
        let mut r = Rig::new(MAIN);
        r.dump(msgs);
        r.m.on_overflow(r.now);
        r.begin();
        r
    }

    /// A whole clean dump of `msgs`.
    pub(super) fn dump(&mut self, msgs: Vec<RouteMessage>) -> Vec<Request> {
        self.begin();
        self.part(msgs, 0);
        self.done(0)
    }

    pub(super) fn ignored(&self) -> u64 {
        self.status.ignored.load(Relaxed)
    }
}

pub(super) fn replaced(reqs: &[Request]) -> Vec<(String, RouteTarget)> {
    reqs.iter()
        .filter_map(|r| match r {
            Request::RouteReplace(s) => {
                assert_eq!(s.protocol, Protocol::Kernel);
                assert_eq!(s.table, MAIN);
                assert_eq!(s.distance, Some(7));
                Some((s.prefix.to_string(), s.target.clone()))
            }
            _ => None,
        })
        .collect()
}

pub(super) fn deleted(reqs: &[Request]) -> Vec<String> {
    reqs.iter()
        .filter_map(|r| match r {
            Request::RouteDel(RouteDel {
                prefix, protocol, ..
            }) => {
                assert_eq!(*protocol, Protocol::Kernel);
                Some(prefix.to_string())
            }
            _ => None,
        })
        .collect()
}
