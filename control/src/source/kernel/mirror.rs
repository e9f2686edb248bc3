//! The kernel's table as the mirror knows it, and the requests that keep fibre's
//! copy equal to it. No I/O here: the thread ([`super`]) feeds datagrams in and
//! takes requests out, so everything below is tested from constructed messages.
//!
//! **Why a model of the kernel's table, not just the [`SourceView`].** The kernel
//! keeps several routes ("aliases") per prefix, one per metric (`ip route add ...
//! metric N`), and `ip route append` adds more at the same metric; lookups use the
//! lowest metric, the first of equals. fibre takes one route per prefix and source,
//! so the mirror keeps every alias of the mirrored table and sends fibre the one the
//! kernel uses (the *winner*). Deleting the winner promotes the next one, as in the
//! kernel. Aliases fibre cannot mirror (a dev-only route, the kernel's own
//! connected routes) still count: when one wins, fibre gets nothing for the prefix.
//!
//! **Ordering.** Dump replies and notifications arrive on one socket and are
//! applied in arrival order — except that a dump part can be older than a
//! notification queued ahead of it: Linux builds IPv4 dump parts under RCU,
//! concurrently with changes, and queues a part only when it is full. So what a
//! notification said during a dump about a route outranks the dump's later word
//! on it, and what cannot be settled that way is verified by another dump
//! (`Mirror::stale_in_dump`, docs/KERNEL.md). A dump is a resync: aliases it
//! does not mention are stale when it ends (unless a notification touched them
//! meanwhile).
//!
//! The roles are split by file: [`super::classify`] (what one message means),
//! `aliases` (the aliases of a prefix and how messages change them), `dump`
//! (dumps, their failures and their sweep), and this file (the state and the
//! datagrams).

use super::aliases::Alias;
use super::dump::Dump;
use super::KernelCounters;
use crate::proto::Request;
use crate::source::netlink::route::destination_of;
use crate::source::{SourceStatus, SourceView};
use fib::{Ipv4Prefix, Protocol};
use hashbrown::HashMap;
use netlink_packet_core::{NetlinkBuffer, Parseable, NLM_F_DUMP_INTR};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::AddressFamily;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

// The classification's items keep their paths under `mirror::`.
pub use super::classify::{classify, AliasKey, Classified, Mapping};
pub use super::dump::DumpPolicy;
pub use crate::source::netlink::route::table_of;
use crate::source::netlink::{
    NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_NEWLINK,
    RTM_NEWROUTE,
};

/// After a link or address event, the kernel may have flushed routes without a
/// notification; the re-dump waits this long so a burst of events costs one dump.
pub(super) const LINK_REDUMP_DELAY: Duration = Duration::from_millis(100);

/// The mirror's state: the kernel table's aliases and what fibre holds.
pub struct Mirror {
    pub(super) table: u32,
    pub(super) into_table: u32,
    pub(super) distance: Option<u8>,
    pub(super) kernel: HashMap<Ipv4Prefix, Vec<Alias>>,
    pub(super) view: SourceView,
    pub(super) next_order: i64,
    pub(super) dump: Option<Dump>,
    pub(super) dumps_begun: u64,
    pub(super) interrupted_in_a_row: u32,
    pub(super) doubtful_in_a_row: u32,
    pub(super) policy: DumpPolicy,
    /// When the next dump should start (`None`: none wanted).
    pub(super) due: Option<Instant>,
    pub(super) out: Vec<Request>,
    pub(super) status: Arc<SourceStatus>,
    pub(super) counters: Arc<KernelCounters>,
}

impl Mirror {
    /// A mirror of kernel table `table` into fibre table `into_table`; its first
    /// dump is due at once.
    pub fn new(
        table: u32,
        into_table: u32,
        distance: Option<u8>,
        policy: DumpPolicy,
        status: Arc<SourceStatus>,
        counters: Arc<KernelCounters>,
        now: Instant,
    ) -> Self {
        Mirror {
            table,
            into_table,
            distance,
            kernel: HashMap::new(),
            view: SourceView::new(Protocol::Kernel),
            next_order: 0,
            dump: None,
            dumps_begun: 0,
            interrupted_in_a_row: 0,
            doubtful_in_a_row: 0,
            policy,
            due: Some(now),
            out: Vec::new(),
            status,
            counters,
        }
    }

    /// Routes fibre holds from the kernel.
    pub fn routes(&self) -> usize {
        self.view.len()
    }

    pub fn view(&self) -> &SourceView {
        &self.view
    }

    pub fn dumping(&self) -> bool {
        self.dump.is_some()
    }

    /// Whether a dump should be requested now.
    pub fn dump_due(&self, now: Instant) -> bool {
        self.dump.is_none() && self.due.is_some_and(|t| t <= now)
    }

    /// When the next dump is due, if one is wanted and none is under way.
    pub fn next_due(&self) -> Option<Instant> {
        if self.dump.is_some() {
            None
        } else {
            self.due
        }
    }

    /// The requests made since the last call, in order.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.out)
    }

    /// One datagram from the socket (bound to netlink port `port`): every message
    /// in it, in order.
    pub fn on_datagram(&mut self, data: &[u8], port: u32, now: Instant) {
        let mut off = 0;
        while off < data.len() {
            let rest = &data[off..];
            let buf = match NetlinkBuffer::new_checked(rest) {
                Ok(b) => b,
                Err(e) => {
                    SourceStatus::bump(&self.status.ignored);
                    tracing::warn!(error = %e, "malformed netlink datagram; the rest of it is dropped");
                    // What was lost may have been a notification.
                    self.on_overflow(now);
                    return;
                }
            };
            let len = buf.length() as usize;
            self.on_message(
                buf.message_type(),
                buf.flags(),
                buf.sequence_number(),
                buf.port_number(),
                buf.payload(),
                port,
                now,
            );
            off += (len + 3) & !3;
        }
        if let Some(d) = &mut self.dump {
            if let Some(a) = d.last_addr.take() {
                d.part_ends.insert(a);
            }
        }
        self.status.routes.store(self.view.len() as u64, Relaxed);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_message(
        &mut self,
        kind: u16,
        flags: u16,
        seq: u32,
        pid: u32,
        payload: &[u8],
        port: u32,
        now: Instant,
    ) {
        SourceStatus::bump(&self.status.messages);
        let ours = self
            .dump
            .as_ref()
            .is_some_and(|d| d.seq == seq && pid == port);
        if ours && flags & NLM_F_DUMP_INTR != 0 {
            if let Some(d) = &mut self.dump {
                d.interrupted = true;
            }
        }
        match kind {
            NLMSG_DONE if ours => {
                let code = payload
                    .get(..4)
                    .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                self.end_dump(now, code);
            }
            NLMSG_ERROR if ours => {
                let code = payload
                    .get(..4)
                    .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                if code != 0 {
                    self.dump_failed(
                        now,
                        std::io::Error::from_raw_os_error(code.saturating_neg()),
                    );
                }
            }
            NLMSG_OVERRUN => self.on_overflow(now),
            RTM_NEWROUTE | RTM_DELROUTE => match RouteMessage::parse(payload) {
                Ok(msg) => {
                    if self.dump.is_some() && !ours {
                        SourceStatus::bump(&self.counters.changes_during_dump);
                    }
                    if ours && msg.header.address_family == AddressFamily::Inet {
                        if let Some(d) = &mut self.dump {
                            if table_of(&msg) == self.table {
                                d.last_addr = Some(
                                    destination_of(&msg).unwrap_or(Ipv4Addr::UNSPECIFIED).into(),
                                );
                            }
                        }
                    }
                    if kind == RTM_NEWROUTE {
                        self.on_new(&msg, flags, ours);
                    } else {
                        self.on_del(&msg);
                    }
                }
                Err(e) => {
                    SourceStatus::bump(&self.status.ignored);
                    tracing::warn!(error = %e, "malformed route message ignored");
                }
            },
            // The kernel flushes routes through a link that goes down or loses its
            // addresses without an RTM_DELROUTE for each: dump again.
            RTM_NEWLINK | RTM_DELLINK => self.link_event(now),
            RTM_DELADDR if payload.first() == Some(&(libc::AF_INET as u8)) => self.link_event(now),
            _ => {}
        }
    }

    fn link_event(&mut self, now: Instant) {
        SourceStatus::bump(&self.counters.link_events);
        self.schedule(now + LINK_REDUMP_DELAY);
    }
}
