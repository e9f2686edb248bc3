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

use super::KernelCounters;
use crate::proto::{Request, RouteTarget};
use crate::source::{SourceRoute, SourceStatus, SourceView};
use fib::{Ipv4Prefix, Protocol};
use hashbrown::HashMap;
use netlink_packet_core::{NetlinkBuffer, Parseable, NLM_F_APPEND, NLM_F_DUMP_INTR, NLM_F_REPLACE};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteNextHopFlags, RouteProtocol,
    RouteType,
};
use netlink_packet_route::AddressFamily;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLMSG_DONE: u16 = 3;
pub(super) const NLMSG_OVERRUN: u16 = 4;
pub(super) const RTM_NEWLINK: u16 = 16;
pub(super) const RTM_DELLINK: u16 = 17;
pub(super) const RTM_DELADDR: u16 = 21;
pub(super) const RTM_NEWROUTE: u16 = 24;
pub(super) const RTM_DELROUTE: u16 = 25;

/// After a link or address event, the kernel may have flushed routes without a
/// notification; the re-dump waits this long so a burst of events costs one dump.
pub(super) const LINK_REDUMP_DELAY: Duration = Duration::from_millis(100);

/// What fibre does with one kernel route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// Mirrored with this target.
    Mirror(RouteTarget),
    /// In the table but not mirrored, as expected: the kernel's own routes
    /// (`proto kernel`, the connected subnets of its addresses; fibre has its own
    /// from the port addresses) and routes whose only nexthop is dead.
    Shadow(&'static str),
    /// In the table, cannot be mirrored, and not expected: counted in `ignored`.
    Unmirrorable(String),
}

/// The identity of a kernel alias within its prefix and metric: what an
/// `RTM_DELROUTE` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasKey {
    kind: u8,
    path: Path,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Path {
    None,
    /// (gateway, output interface index)
    One(Option<Ipv4Addr>, u32),
    Many(Box<[(Option<Ipv4Addr>, u32)]>),
}

/// A route message, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// Not part of the mirrored table's unicast lookups and not tracked: another
    /// address family or table, local/broadcast/anycast/multicast routes (the
    /// kernel's own, in table `local`), cached clones.
    Skip,
    /// Not tracked and counted in `ignored`: TOS or source-specific routes, `nat`
    /// and other obsolete types, malformed messages.
    Ignore(String),
    /// A route of the mirrored table.
    Route {
        prefix: Ipv4Prefix,
        /// The metric (`RTA_PRIORITY`).
        priority: u32,
        key: AliasKey,
        mapping: Mapping,
    },
}

fn gateway_of(attrs: &[RouteAttribute]) -> Option<Ipv4Addr> {
    attrs.iter().find_map(|a| match a {
        RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(*g),
        _ => None,
    })
}

fn oif_of(attrs: &[RouteAttribute]) -> u32 {
    attrs
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        })
        .unwrap_or(0)
}

fn dst_of(msg: &RouteMessage) -> Ipv4Addr {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// The kernel table a route message belongs to (`RTA_TABLE`, else `rtm_table`).
pub fn table_of(msg: &RouteMessage) -> u32 {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.table))
}

/// What a route message means for the mirror of kernel table `table`.
pub fn classify(msg: &RouteMessage, table: u32) -> Classified {
    let h = &msg.header;
    if h.address_family != AddressFamily::Inet || table_of(msg) != table {
        return Classified::Skip;
    }
    if h.flags.contains(RouteFlags::Cloned) {
        return Classified::Skip;
    }
    match h.kind {
        RouteType::Local | RouteType::Broadcast | RouteType::Anycast | RouteType::Multicast => {
            return Classified::Skip
        }
        RouteType::Unicast
        | RouteType::BlackHole
        | RouteType::Unreachable
        | RouteType::Prohibit
        | RouteType::Throw => {}
        other => return Classified::Ignore(format!("route type {other:?}")),
    }
    if h.tos != 0 {
        return Classified::Ignore(format!("TOS {:#x} route", h.tos));
    }
    if h.source_prefix_length != 0 {
        return Classified::Ignore("source-specific route".into());
    }
    let dst = dst_of(msg);
    let prefix = match Ipv4Prefix::new(u32::from(dst), h.destination_prefix_length) {
        Ok(p) => p,
        Err(e) => {
            return Classified::Ignore(format!(
                "bad destination {dst}/{}: {e}",
                h.destination_prefix_length
            ))
        }
    };
    let priority = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Priority(p) => Some(*p),
            _ => None,
        })
        .unwrap_or(0);
    let kind = u8::from(h.kind);
    let (path, mapping) = match h.kind {
        RouteType::BlackHole | RouteType::Unreachable | RouteType::Prohibit => {
            (Path::None, Mapping::Mirror(RouteTarget::Blackhole))
        }
        RouteType::Throw => (
            Path::None,
            Mapping::Unmirrorable("throw route (fibre has no rule lookup)".into()),
        ),
        _ => unicast(msg),
    };
    Classified::Route {
        prefix,
        priority,
        key: AliasKey { kind, path },
        mapping,
    }
}

fn unicast(msg: &RouteMessage) -> (Path, Mapping) {
    let attrs = &msg.attributes;
    let hops = attrs.iter().find_map(|a| match a {
        RouteAttribute::MultiPath(h) => Some(h),
        _ => None,
    });
    let (path, live): (Path, Vec<(Option<Ipv4Addr>, bool)>) = match hops {
        Some(hops) => {
            let paths: Box<[(Option<Ipv4Addr>, u32)]> = hops
                .iter()
                .map(|h| (gateway_of(&h.attributes), h.interface_index))
                .collect();
            let live = hops
                .iter()
                .filter(|h| !h.flags.contains(RouteNextHopFlags::Dead))
                .map(|h| {
                    let via6 = h
                        .attributes
                        .iter()
                        .any(|a| matches!(a, RouteAttribute::Via(_)));
                    (gateway_of(&h.attributes), via6)
                })
                .collect();
            (Path::Many(paths), live)
        }
        None => {
            let gw = gateway_of(attrs);
            let path = Path::One(gw, oif_of(attrs));
            let via6 = attrs.iter().any(|a| matches!(a, RouteAttribute::Via(_)));
            let dead = msg.header.flags.contains(RouteFlags::Dead);
            (path, if dead { Vec::new() } else { vec![(gw, via6)] })
        }
    };
    if msg.header.protocol == RouteProtocol::Kernel {
        return (path, Mapping::Shadow("proto kernel"));
    }
    if attrs
        .iter()
        .any(|a| matches!(a, RouteAttribute::Encap(_) | RouteAttribute::EncapType(_)))
    {
        return (
            path,
            Mapping::Unmirrorable("lightweight tunnel encapsulation".into()),
        );
    }
    if live.is_empty() {
        return (path, Mapping::Shadow("every nexthop is dead"));
    }
    let mut targets = Vec::with_capacity(live.len());
    for (gw, via6) in live {
        match gw {
            Some(gateway) => targets.push(RouteTarget::Via {
                gateway,
                port: None,
            }),
            None if via6 => return (path, Mapping::Unmirrorable("IPv6 gateway (RTA_VIA)".into())),
            None if attrs.iter().any(|a| matches!(a, RouteAttribute::NhId(_))) => {
                return (
                    path,
                    Mapping::Unmirrorable(
                        "nexthop object without its gateway (nexthop_compat_mode off)".into(),
                    ),
                )
            }
            None => {
                return (
                    path,
                    Mapping::Unmirrorable("no gateway (a dev-only route)".into()),
                )
            }
        }
    }
    let target = if targets.len() == 1 {
        targets.pop().expect("one target")
    } else {
        RouteTarget::Multipath(targets)
    };
    (path, Mapping::Mirror(target))
}

#[derive(Debug)]
struct Alias {
    priority: u32,
    key: AliasKey,
    mapping: Mapping,
    /// Kernel list order among aliases of equal metric (lower first).
    order: i64,
    /// Mentioned by the dump under way (or changed by a notification during it).
    seen: bool,
}

/// What the notifications that arrived during the dump under way said about one
/// prefix.
#[derive(Debug, Default)]
struct Touched {
    /// The last word of a notification on each alias it named (metric, alias):
    /// there (`true`) or gone.
    verdicts: Vec<(u32, AliasKey, bool)>,
    /// Replaces that removed an alias the mirror did not know (metric, the new
    /// alias): the dump may still list the removed one, under a name no
    /// notification gave.
    unresolved: Vec<(u32, AliasKey)>,
}

impl Touched {
    fn verdict(&self, priority: u32, key: &AliasKey) -> Option<bool> {
        self.verdicts
            .iter()
            .find(|(p, k, _)| *p == priority && k == key)
            .map(|v| v.2)
    }

    fn set(&mut self, priority: u32, key: AliasKey, present: bool) {
        match self
            .verdicts
            .iter_mut()
            .find(|(p, k, _)| *p == priority && *k == key)
        {
            Some(v) => v.2 = present,
            None => self.verdicts.push((priority, key, present)),
        }
    }
}

#[derive(Debug)]
struct Dump {
    seq: u32,
    interrupted: bool,
    overflowed: bool,
    /// Prefixes notifications changed since the dump began. Linux builds IPv4
    /// route dump parts under RCU only (no RTNL), so a part may hold a route as it
    /// was before a change whose notification is queued ahead of the part.
    touched: HashMap<Ipv4Prefix, Touched>,
    /// Destination of the last route of the mirrored table in the datagram being
    /// read, and of every datagram read so far: where a dump part ended. The
    /// kernel resumes inside a trie leaf (all prefixes with one network address)
    /// by position, so a change in that leaf between parts can make it skip one.
    last_addr: Option<u32>,
    part_ends: hashbrown::HashSet<u32>,
    /// Network addresses of the routes deleted during the dump (a deletion is
    /// what shifts the positions in a leaf).
    deleted: hashbrown::HashSet<u32>,
    /// A dump entry was taken for an alias a replace removed: a verifying dump
    /// follows.
    doubtful: bool,
}

/// Tunables of the dump logic.
#[derive(Debug, Clone, Copy)]
pub struct DumpPolicy {
    /// Interrupted dumps (`NLM_F_DUMP_INTR`) retried at once, in a row, before the
    /// error is reported and the dump retried after `retry_after`.
    pub attempts: u32,
    pub retry_after: Duration,
}

/// The mirror's state: the kernel table's aliases and what fibre holds.
pub struct Mirror {
    table: u32,
    into_table: u32,
    distance: Option<u8>,
    kernel: HashMap<Ipv4Prefix, Vec<Alias>>,
    view: SourceView,
    next_order: i64,
    dump: Option<Dump>,
    dumps_begun: u64,
    interrupted_in_a_row: u32,
    doubtful_in_a_row: u32,
    policy: DumpPolicy,
    /// When the next dump should start (`None`: none wanted).
    due: Option<Instant>,
    out: Vec<Request>,
    status: Arc<SourceStatus>,
    counters: Arc<KernelCounters>,
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

    /// A dump request with sequence number `seq` was sent: everything not mentioned
    /// from now until its end is stale.
    pub fn begin_dump(&mut self, seq: u32) {
        if self.dumps_begun > 0 {
            SourceStatus::bump(&self.status.resyncs);
        }
        self.dumps_begun += 1;
        SourceStatus::bump(&self.counters.dumps);
        for aliases in self.kernel.values_mut() {
            for a in aliases {
                a.seen = false;
            }
        }
        self.view.begin_resync();
        self.dump = Some(Dump {
            seq,
            interrupted: false,
            overflowed: false,
            touched: HashMap::new(),
            last_addr: None,
            part_ends: hashbrown::HashSet::new(),
            deleted: hashbrown::HashSet::new(),
            doubtful: false,
        });
        self.due = None;
    }

    /// The dump could not be requested or the kernel refused it: retried later.
    pub fn dump_failed(&mut self, now: Instant, reason: impl std::fmt::Display) {
        self.dump = None;
        self.status
            .set_error(format!("kernel route dump failed: {reason}; retrying"));
        self.schedule(now + self.policy.retry_after);
    }

    /// The socket is gone (it is being reopened): the next one starts with a dump.
    pub fn disconnected(&mut self, now: Instant) {
        self.dump = None;
        self.schedule(now);
    }

    /// The socket's receive buffer overflowed (`ENOBUFS`): notifications were lost,
    /// so the table is dumped again — after the dump under way, if any, which can
    /// no longer be trusted to end a resync.
    pub fn on_overflow(&mut self, now: Instant) {
        SourceStatus::bump(&self.counters.overflows);
        self.status.set_error(
            "netlink receive buffer overflowed (ENOBUFS): notifications lost, dumping again",
        );
        match &mut self.dump {
            Some(d) => d.overflowed = true,
            None => self.schedule(now),
        }
    }

    fn schedule(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |d| d.min(at)));
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
                    self.dump_failed(now, std::io::Error::from_raw_os_error(-code));
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
                                d.last_addr = Some(dst_of(&msg).into());
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

    /// `RTM_NEWROUTE`: a dump part (`dump_part`) or an add/replace notification.
    pub fn on_new(&mut self, msg: &RouteMessage, nl_flags: u16, dump_part: bool) {
        let (prefix, priority, key, mapping) = match classify(msg, self.table) {
            Classified::Skip => return,
            Classified::Ignore(why) => {
                SourceStatus::bump(&self.status.ignored);
                tracing::debug!(reason = %why, "kernel route not mirrored");
                return;
            }
            Classified::Route {
                prefix,
                priority,
                key,
                mapping,
            } => (prefix, priority, key, mapping),
        };
        if let Mapping::Unmirrorable(why) = &mapping {
            SourceStatus::bump(&self.status.ignored);
            tracing::debug!(%prefix, reason = %why, "kernel route not mirrored");
        }
        if dump_part && self.stale_in_dump(prefix, priority, &key) {
            return;
        }
        let aliases = self.kernel.entry(prefix).or_default();
        let same_metric = |a: &&mut Alias| a.priority == priority;
        // During a dump, what a notification says about an alias outranks what
        // the rest of the dump says about it (see `stale_in_dump`).
        let mut heard: Vec<(AliasKey, bool)> = Vec::new();
        let mut unresolved = false;
        if dump_part {
            match aliases
                .iter_mut()
                .find(|a| a.priority == priority && a.key == key)
            {
                Some(a) => {
                    a.mapping = mapping;
                    a.seen = true;
                }
                None => {
                    aliases.push(Alias {
                        priority,
                        key,
                        mapping,
                        order: self.next_order,
                        seen: true,
                    });
                    self.next_order += 1;
                }
            }
        } else if nl_flags & NLM_F_REPLACE != 0 {
            // Replaces the first alias of the same metric.
            heard.push((key.clone(), true));
            match aliases
                .iter_mut()
                .filter(same_metric)
                .min_by_key(|a| a.order)
            {
                Some(a) => {
                    if a.key != key {
                        heard.push((a.key.clone(), false));
                    }
                    a.key = key;
                    a.mapping = mapping;
                    a.seen = true;
                }
                None => {
                    // Whatever it replaced, the mirror did not know it yet.
                    unresolved = true;
                    aliases.push(Alias {
                        priority,
                        key,
                        mapping,
                        order: self.next_order,
                        seen: true,
                    });
                    self.next_order += 1;
                }
            }
        } else if let Some(a) = aliases
            .iter_mut()
            .find(|a| a.priority == priority && a.key == key)
        {
            heard.push((key, true));
            a.mapping = mapping;
            a.seen = true;
        } else {
            heard.push((key.clone(), true));
            // `append` goes after the aliases of the same metric, `add`/`prepend`
            // before them.
            let order = if nl_flags & NLM_F_APPEND != 0 {
                None
            } else {
                aliases
                    .iter()
                    .filter(|a| a.priority == priority)
                    .map(|a| a.order - 1)
                    .min()
            };
            let order = order.unwrap_or_else(|| {
                self.next_order += 1;
                self.next_order - 1
            });
            aliases.push(Alias {
                priority,
                key,
                mapping,
                order,
                seen: true,
            });
        }
        if let Some(d) = &mut self.dump {
            if !dump_part {
                let t = d.touched.entry(prefix).or_default();
                if unresolved {
                    t.unresolved.push((priority, heard[0].0.clone()));
                }
                for (k, present) in heard {
                    t.set(priority, k, present);
                }
            }
        }
        self.refresh(prefix);
    }

    /// Whether a dump entry for alias `key` of `prefix` at metric `priority` is
    /// older than what a notification read during the same dump said.
    ///
    /// Linux builds IPv4 route dump parts under RCU, without RTNL, concurrently
    /// with changes; a change's notification is queued at once, the part only when
    /// it is full. So a part can list a route as it was before a change whose
    /// notification arrived ahead of the part (and `fib_table_delete` even queues
    /// `RTM_DELROUTE` before it unlinks the route). The notification is never older
    /// than the dump entry that follows it: for an alias a notification named, the
    /// notification stands (a later add shows up as its own notification, before
    /// or after). A replace names only the new alias; when the mirror did not know
    /// the one it replaced, the first alias of that metric the dump lists without
    /// the new one before it is taken for the replaced one — and, since that is a
    /// guess, a verifying dump follows.
    fn stale_in_dump(&mut self, prefix: Ipv4Prefix, priority: u32, key: &AliasKey) -> bool {
        let Some(d) = &mut self.dump else {
            return false;
        };
        let Some(t) = d.touched.get_mut(&prefix) else {
            return false;
        };
        if let Some(present) = t.verdict(priority, key) {
            // The dump shows this alias: if a replace put it there, that replace
            // was done when the dump read the prefix.
            t.unresolved.retain(|(p, k)| !(*p == priority && k == key));
            SourceStatus::bump(&self.counters.stale_dump_entries);
            tracing::debug!(%prefix, priority, present, "dump entry for an alias a notification during the dump already reported; the notification stands");
            if present {
                if let Some(a) = self.kernel.get_mut(&prefix).and_then(|v| {
                    v.iter_mut()
                        .find(|a| a.priority == priority && a.key == *key)
                }) {
                    a.seen = true;
                }
            }
            return true;
        }
        if let Some(i) = t.unresolved.iter().position(|(p, _)| *p == priority) {
            t.unresolved.remove(i);
            t.verdicts.push((priority, key.clone(), false));
            d.doubtful = true;
            SourceStatus::bump(&self.counters.stale_dump_entries);
            tracing::debug!(%prefix, priority, "dump entry taken for the alias a replace during the dump removed; a verifying dump follows");
            return true;
        }
        false
    }

    /// `RTM_DELROUTE`.
    pub fn on_del(&mut self, msg: &RouteMessage) {
        let Classified::Route {
            prefix,
            priority,
            key,
            ..
        } = classify(msg, self.table)
        else {
            return;
        };
        let dumping = match &mut self.dump {
            Some(d) => {
                let t = d.touched.entry(prefix).or_default();
                t.set(priority, key.clone(), false);
                d.deleted.insert(prefix.addr());
                true
            }
            None => false,
        };
        let Some(aliases) = self.kernel.get_mut(&prefix) else {
            return;
        };
        let at = aliases
            .iter()
            .position(|a| a.priority == priority && a.key == key)
            .or_else(|| {
                if dumping {
                    // The dump under way says what else is there.
                    return None;
                }
                // Not the alias we know (we missed a change): the first of its metric.
                aliases
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.priority == priority)
                    .min_by_key(|(_, a)| a.order)
                    .map(|(i, _)| i)
            });
        if let Some(i) = at {
            aliases.swap_remove(i);
            self.refresh(prefix);
        }
    }

    /// Makes fibre's route for `prefix` the kernel's winning alias, or none.
    fn refresh(&mut self, prefix: Ipv4Prefix) {
        let winner = match self.kernel.get(&prefix) {
            Some(aliases) if aliases.is_empty() => {
                self.kernel.remove(&prefix);
                None
            }
            Some(aliases) => aliases
                .iter()
                .min_by_key(|a| (a.priority, a.order))
                .map(|a| a.mapping.clone()),
            None => None,
        };
        let request = match winner {
            Some(Mapping::Mirror(target)) => self.view.set(SourceRoute {
                table: self.into_table,
                prefix,
                target,
                distance: self.distance,
            }),
            _ => self.view.del(self.into_table, prefix),
        };
        self.out.extend(request);
    }

    fn end_dump(&mut self, now: Instant, code: i32) {
        let Some(d) = self.dump.take() else { return };
        if code != 0 {
            self.dump_failed(now, std::io::Error::from_raw_os_error(-code));
            return;
        }
        if d.overflowed {
            // Already counted and reported; the view stays in its resync.
            self.schedule(now);
            return;
        }
        if d.interrupted {
            SourceStatus::bump(&self.counters.interrupted);
            self.interrupted_in_a_row += 1;
            if self.interrupted_in_a_row < self.policy.attempts {
                tracing::debug!(
                    attempt = self.interrupted_in_a_row,
                    "kernel route dump interrupted (NLM_F_DUMP_INTR); dumping again"
                );
                self.schedule(now);
            } else {
                self.status.set_error(format!(
                    "kernel route dump interrupted (NLM_F_DUMP_INTR) {} times in a row; retrying in {:?}",
                    self.interrupted_in_a_row, self.policy.retry_after
                ));
                self.interrupted_in_a_row = 0;
                self.schedule(now + self.policy.retry_after);
            }
            return;
        }
        self.interrupted_in_a_row = 0;
        // A part that ended inside a leaf a route was deleted from may have made
        // the next one skip a route of that leaf: those are not swept, and a
        // verifying dump follows.
        let unsure: hashbrown::HashSet<u32> = d
            .part_ends
            .iter()
            .copied()
            .filter(|a| d.deleted.contains(a))
            .collect();
        let doubtful = d.doubtful || !unsure.is_empty();
        // The sweep: aliases the dump did not mention are gone.
        let mut touched = Vec::new();
        self.kernel.retain(|prefix, aliases| {
            if unsure.contains(&prefix.addr()) {
                return true;
            }
            let before = aliases.len();
            aliases.retain(|a| a.seen);
            if aliases.len() != before {
                touched.push(*prefix);
            }
            true
        });
        touched.sort_unstable_by_key(|p| (p.addr(), p.len()));
        for p in touched {
            self.refresh(p);
        }
        // `end_resync` deletes what no `set` confirmed: the routes of the prefixes
        // kept unswept must be confirmed again.
        let mut keep: Vec<Ipv4Prefix> = self
            .kernel
            .keys()
            .copied()
            .filter(|p| unsure.contains(&p.addr()))
            .collect();
        keep.sort_unstable_by_key(|p| (p.addr(), p.len()));
        for p in keep {
            self.refresh(p);
        }
        let stale = self.view.end_resync();
        self.out.extend(stale);
        self.status.routes.store(self.view.len() as u64, Relaxed);
        if doubtful {
            SourceStatus::bump(&self.counters.verifying_dumps);
            self.doubtful_in_a_row += 1;
            tracing::debug!(
                leaves = unsure.len(),
                guessed = d.doubtful,
                "kernel route dump raced with changes it cannot settle; dumping again"
            );
            if self.doubtful_in_a_row < self.policy.attempts {
                self.schedule(now);
            } else {
                self.doubtful_in_a_row = 0;
                self.schedule(now + self.policy.retry_after);
            }
            return;
        }
        self.doubtful_in_a_row = 0;
        tracing::debug!(routes = self.view.len(), "kernel table in sync");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::RouteDel;
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_MULTIPART};
    use netlink_packet_route::route::{RouteHeader, RouteNextHop};
    use netlink_packet_route::RouteNetlinkMessage;

    const PORT: u32 = 4242;
    const MAIN: u32 = 254;

    fn gw(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, last)
    }

    fn via(last: u8) -> RouteTarget {
        RouteTarget::Via {
            gateway: gw(last),
            port: None,
        }
    }

    /// A route message of `kind` for `prefix` in table `table`.
    fn route(prefix: &str, table: u32, kind: RouteType) -> RouteMessage {
        let p: Ipv4Prefix = prefix.parse().unwrap();
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: AddressFamily::Inet,
            destination_prefix_length: p.len(),
            table: u8::try_from(table).unwrap_or(252),
            protocol: RouteProtocol::Static,
            kind,
            ..RouteHeader::default()
        };
        m.attributes.push(RouteAttribute::Table(table));
        if p.len() > 0 {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(p.network())));
        }
        m
    }

    fn unicast(prefix: &str, last: u8) -> RouteMessage {
        let mut m = route(prefix, MAIN, RouteType::Unicast);
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gw(last))));
        m.attributes.push(RouteAttribute::Oif(2));
        m
    }

    fn metric(mut m: RouteMessage, priority: u32) -> RouteMessage {
        m.attributes.push(RouteAttribute::Priority(priority));
        m
    }

    fn hop(last: Option<u8>, dead: bool) -> RouteNextHop {
        let mut h = RouteNextHop::default();
        h.interface_index = 2;
        if dead {
            h.flags = RouteNextHopFlags::Dead;
        }
        if let Some(l) = last {
            h.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(gw(l))));
        }
        h
    }

    /// The bytes of one netlink message.
    fn frame(msg: RouteNetlinkMessage, flags: u16, seq: u32, pid: u32) -> Vec<u8> {
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

    fn done(flags: u16, seq: u32, code: i32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&20u32.to_ne_bytes());
        b.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        b.extend_from_slice(&(flags | NLM_F_MULTIPART).to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&PORT.to_ne_bytes());
        b.extend_from_slice(&code.to_ne_bytes());
        b
    }

    struct Rig {
        m: Mirror,
        now: Instant,
        status: Arc<SourceStatus>,
        counters: Arc<KernelCounters>,
        seq: u32,
    }

    impl Rig {
        fn new(table: u32) -> Rig {
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
        fn notify_new(&mut self, msg: RouteMessage, flags: u16) -> Vec<Request> {
            let b = frame(RouteNetlinkMessage::NewRoute(msg), flags, 77, 999);
            self.m.on_datagram(&b, PORT, self.now);
            self.m.take_requests()
        }

        fn notify_del(&mut self, msg: RouteMessage) -> Vec<Request> {
            let b = frame(RouteNetlinkMessage::DelRoute(msg), 0, 78, 999);
            self.m.on_datagram(&b, PORT, self.now);
            self.m.take_requests()
        }

        fn begin(&mut self) {
            assert!(self.m.dump_due(self.now), "a dump should be due");
            self.seq += 1;
            self.m.begin_dump(self.seq);
        }

        fn part(&mut self, msgs: Vec<RouteMessage>, flags: u16) {
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

        fn done(&mut self, flags: u16) -> Vec<Request> {
            self.m
                .on_datagram(&done(flags, self.seq, 0), PORT, self.now);
            self.m.take_requests()
        }

        /// A whole clean dump of `msgs`.
        fn dump(&mut self, msgs: Vec<RouteMessage>) -> Vec<Request> {
            self.begin();
            self.part(msgs, 0);
            self.done(0)
        }

        fn ignored(&self) -> u64 {
            self.status.ignored.load(Relaxed)
        }
    }

    fn replaced(reqs: &[Request]) -> Vec<(String, RouteTarget)> {
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

    fn deleted(reqs: &[Request]) -> Vec<String> {
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

    #[test]
    fn gateway_route_becomes_via_without_port() {
        let mut r = Rig::new(MAIN);
        let reqs = r.dump(vec![unicast("10.0.0.0/8", 1), unicast("0.0.0.0/0", 9)]);
        assert_eq!(
            replaced(&reqs),
            vec![("10.0.0.0/8".into(), via(1)), ("0.0.0.0/0".into(), via(9))]
        );
        assert!(deleted(&reqs).is_empty());
        assert_eq!(r.status.routes.load(Relaxed), 2);
        assert_eq!(r.ignored(), 0);
        // Replace notification: a new gateway.
        let reqs = r.notify_new(unicast("10.0.0.0/8", 2), NLM_F_REPLACE);
        assert_eq!(replaced(&reqs), vec![("10.0.0.0/8".into(), via(2))]);
        // Delete notification.
        let reqs = r.notify_del(unicast("10.0.0.0/8", 2));
        assert_eq!(deleted(&reqs), vec!["10.0.0.0/8"]);
        assert_eq!(r.m.routes(), 1);
    }

    #[test]
    fn multipath_maps_live_hops_and_one_live_hop_is_a_plain_via() {
        let mut r = Rig::new(MAIN);
        let mut mp = route("198.51.100.0/24", MAIN, RouteType::Unicast);
        mp.attributes.push(RouteAttribute::MultiPath(vec![
            hop(Some(1), false),
            hop(Some(2), false),
            hop(Some(3), true),
        ]));
        let mut one = route("203.0.113.0/24", MAIN, RouteType::Unicast);
        one.attributes.push(RouteAttribute::MultiPath(vec![
            hop(Some(4), true),
            hop(Some(5), false),
        ]));
        let mut dead = route("203.0.113.128/25", MAIN, RouteType::Unicast);
        dead.attributes
            .push(RouteAttribute::MultiPath(vec![hop(Some(4), true)]));
        let mut devhop = route("192.0.2.128/25", MAIN, RouteType::Unicast);
        devhop.attributes.push(RouteAttribute::MultiPath(vec![
            hop(Some(1), false),
            hop(None, false),
        ]));
        let reqs = r.dump(vec![mp, one, dead, devhop]);
        assert_eq!(
            replaced(&reqs),
            vec![
                (
                    "198.51.100.0/24".into(),
                    RouteTarget::Multipath(vec![via(1), via(2)])
                ),
                ("203.0.113.0/24".into(), via(5)),
            ]
        );
        // The dev-only hop cannot be mirrored and is unexpected; dead hops are not.
        assert_eq!(r.ignored(), 1);
    }

    #[test]
    fn blackhole_unreachable_prohibit_are_blackholes() {
        let mut r = Rig::new(MAIN);
        let reqs = r.dump(vec![
            route("10.1.0.0/16", MAIN, RouteType::BlackHole),
            route("10.2.0.0/16", MAIN, RouteType::Unreachable),
            route("10.3.0.0/16", MAIN, RouteType::Prohibit),
        ]);
        let got = replaced(&reqs);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|(_, t)| *t == RouteTarget::Blackhole));
        assert_eq!(r.ignored(), 0);
    }

    #[test]
    fn what_is_not_mirrored_and_what_is_counted() {
        let mut r = Rig::new(MAIN);
        // Counted in `ignored`: a dev-only route, a TOS route, a throw route, `nat`.
        let mut dev = route("10.9.0.0/16", MAIN, RouteType::Unicast);
        dev.attributes.push(RouteAttribute::Oif(3));
        let mut tos = unicast("10.8.0.0/16", 1);
        tos.header.tos = 0x10;
        let throw = route("10.7.0.0/16", MAIN, RouteType::Throw);
        let nat = route("10.6.0.0/16", MAIN, RouteType::Nat);
        // Expected and silent: the kernel's connected route, local and broadcast
        // routes, a cached clone, another family.
        let mut connected = route("192.0.2.0/24", MAIN, RouteType::Unicast);
        connected.header.protocol = RouteProtocol::Kernel;
        connected.attributes.push(RouteAttribute::Oif(2));
        let mut kgw = unicast("10.5.0.0/16", 1);
        kgw.header.protocol = RouteProtocol::Kernel;
        let local = route("192.0.2.254/32", MAIN, RouteType::Local);
        let bcast = route("192.0.2.255/32", MAIN, RouteType::Broadcast);
        let mcast = route("224.0.0.0/4", MAIN, RouteType::Multicast);
        let mut clone = unicast("10.4.0.0/16", 1);
        clone.header.flags = RouteFlags::Cloned;
        let mut v6 = route("0.0.0.0/0", MAIN, RouteType::Unicast);
        v6.header.address_family = AddressFamily::Inet6;
        let reqs = r.dump(vec![
            dev, tos, throw, nat, connected, kgw, local, bcast, mcast, clone, v6,
        ]);
        assert!(reqs.is_empty(), "nothing is mirrored: {reqs:?}");
        assert_eq!(r.ignored(), 4);
        assert_eq!(r.status.messages.load(Relaxed), 12, "11 routes and DONE");
    }

    #[test]
    fn an_unmirrorable_winner_hides_the_prefix() {
        // The kernel uses the metric-0 dev route; fibre must not use the metric-100
        // gateway route instead.
        let mut r = Rig::new(MAIN);
        let mut dev = route("10.9.0.0/16", MAIN, RouteType::Unicast);
        dev.attributes.push(RouteAttribute::Oif(3));
        let reqs = r.dump(vec![dev.clone(), metric(unicast("10.9.0.0/16", 1), 100)]);
        assert!(reqs.is_empty(), "{reqs:?}");
        let reqs = r.notify_del(dev);
        assert_eq!(replaced(&reqs), vec![("10.9.0.0/16".into(), via(1))]);
    }

    #[test]
    fn table_filter_uses_rta_table() {
        let mut r = Rig::new(1000);
        let mine = route("10.0.0.0/8", 1000, RouteType::BlackHole);
        let main = route("10.1.0.0/16", MAIN, RouteType::BlackHole);
        let mut other = route("10.2.0.0/16", 1001, RouteType::BlackHole);
        // rtm_table says 252 (RT_TABLE_COMPAT) for both: only RTA_TABLE tells them apart.
        assert_eq!(other.header.table, 252);
        other.header.table = 252;
        let reqs = r.dump(vec![mine, main, other]);
        assert_eq!(
            replaced(&reqs),
            vec![("10.0.0.0/8".into(), RouteTarget::Blackhole)]
        );
        assert_eq!(r.ignored(), 0);
        // Without RTA_TABLE, rtm_table is the table.
        let mut r = Rig::new(100);
        let mut m = route("10.0.0.0/8", 100, RouteType::BlackHole);
        m.attributes
            .retain(|a| !matches!(a, RouteAttribute::Table(_)));
        assert_eq!(table_of(&m), 100);
        assert_eq!(replaced(&r.dump(vec![m])).len(), 1);
    }

    #[test]
    fn lowest_metric_wins_and_deleting_it_promotes_the_next() {
        let mut r = Rig::new(MAIN);
        let reqs = r.dump(vec![
            metric(unicast("0.0.0.0/0", 20), 20),
            metric(unicast("0.0.0.0/0", 10), 10),
        ]);
        // The dump lists metric 20 first here: fibre gets it, then metric 10.
        assert_eq!(replaced(&reqs).last().unwrap().1, via(10));
        assert_eq!(r.m.routes(), 1);
        // A higher metric added: no change for fibre.
        assert!(r
            .notify_new(metric(unicast("0.0.0.0/0", 30), 30), NLM_F_APPEND)
            .is_empty());
        let reqs = r.notify_del(metric(unicast("0.0.0.0/0", 10), 10));
        assert_eq!(replaced(&reqs), vec![("0.0.0.0/0".into(), via(20))]);
        // Deleting a loser changes nothing.
        assert!(r
            .notify_del(metric(unicast("0.0.0.0/0", 30), 30))
            .is_empty());
        let reqs = r.notify_del(metric(unicast("0.0.0.0/0", 20), 20));
        assert_eq!(deleted(&reqs), vec!["0.0.0.0/0"]);
        assert!(r.m.kernel.is_empty());
    }

    #[test]
    fn append_goes_last_prepend_first_replace_takes_the_first() {
        let mut r = Rig::new(MAIN);
        r.dump(vec![unicast("10.0.0.0/8", 1)]);
        // `ip route append`: the first stays the winner.
        assert!(r
            .notify_new(unicast("10.0.0.0/8", 2), NLM_F_APPEND)
            .is_empty());
        // `ip route prepend` (create without append): the new one is first.
        let reqs = r.notify_new(unicast("10.0.0.0/8", 3), 0x400);
        assert_eq!(replaced(&reqs), vec![("10.0.0.0/8".into(), via(3))]);
        // `ip route replace` replaces the first of the metric.
        let reqs = r.notify_new(unicast("10.0.0.0/8", 4), NLM_F_REPLACE);
        assert_eq!(replaced(&reqs), vec![("10.0.0.0/8".into(), via(4))]);
        let reqs = r.notify_del(unicast("10.0.0.0/8", 4));
        assert_eq!(replaced(&reqs), vec![("10.0.0.0/8".into(), via(1))]);
    }

    #[test]
    fn a_redump_changes_only_what_differs_and_deletes_what_vanished() {
        let mut r = Rig::new(MAIN);
        r.dump(vec![
            unicast("10.0.0.0/8", 1),
            unicast("10.1.0.0/16", 1),
            route("10.2.0.0/16", MAIN, RouteType::BlackHole),
        ]);
        r.m.on_overflow(r.now);
        assert_eq!(r.counters.overflows.load(Relaxed), 1);
        assert!(r.status.last_error().unwrap().contains("ENOBUFS"));
        let reqs = r.dump(vec![
            unicast("10.0.0.0/8", 1),
            unicast("10.1.0.0/16", 2),
            unicast("10.3.0.0/16", 1),
        ]);
        // 10.1/16's new gateway wins once the sweep has dropped the old alias.
        let mut got = replaced(&reqs);
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            vec![
                ("10.1.0.0/16".into(), via(2)),
                ("10.3.0.0/16".into(), via(1))
            ]
        );
        assert_eq!(deleted(&reqs), vec!["10.2.0.0/16"]);
        assert_eq!(r.status.resyncs.load(Relaxed), 1);
        assert_eq!(r.counters.dumps.load(Relaxed), 2);
    }

    #[test]
    fn notifications_during_a_dump_apply_in_order() {
        let mut r = Rig::new(MAIN);
        r.dump(vec![unicast("10.0.0.0/8", 1), unicast("10.1.0.0/16", 1)]);
        r.m.on_overflow(r.now);
        r.begin();
        r.part(vec![unicast("10.0.0.0/8", 1)], 0);
        // Deleted after the dump passed it: the delete goes through now.
        assert_eq!(
            deleted(&r.notify_del(unicast("10.0.0.0/8", 1))),
            vec!["10.0.0.0/8"]
        );
        // Added ahead of the dump, then listed by it: one replace, no duplicate.
        assert_eq!(
            replaced(&r.notify_new(unicast("10.5.0.0/16", 5), 0x600)),
            vec![("10.5.0.0/16".into(), via(5))]
        );
        r.part(vec![unicast("10.5.0.0/16", 5)], 0);
        let reqs = r.done(0);
        // 10.1/16 was not listed: stale.
        assert_eq!(deleted(&reqs), vec!["10.1.0.0/16"]);
        assert!(replaced(&reqs).is_empty());
        let left: Vec<String> = r.m.view().routes().map(|x| x.prefix.to_string()).collect();
        assert_eq!(left, vec!["10.5.0.0/16"]);
    }

    /// The interleaving the churn test hit (Linux 6.18): the kernel builds IPv4
    /// dump parts under RCU while `ip` deletes routes, and `fib_table_delete`
    /// queues `RTM_DELROUTE` before it unlinks the route, so the delete arrives
    /// ahead of the part that still lists the route. Applied in arrival order,
    /// the part brought the deleted route back, for good (fibre kept routes the
    /// kernel no longer had, with no re-dump).
    #[test]
    fn a_delete_notified_ahead_of_a_part_that_still_lists_the_route_stands() {
        let mut r = Rig::new(MAIN);
        r.begin();
        r.part(vec![unicast("10.0.0.0/24", 1)], 0);
        r.m.take_requests();
        assert!(r.notify_del(unicast("10.33.240.0/20", 22)).is_empty());
        r.part(
            vec![unicast("10.33.240.0/20", 22), unicast("10.40.0.0/24", 3)],
            0,
        );
        let reqs = r.done(0);
        assert!(deleted(&reqs).is_empty(), "{reqs:?}");
        let left: Vec<String> = r.m.view().routes().map(|x| x.prefix.to_string()).collect();
        let mut left = left;
        left.sort();
        assert_eq!(left, vec!["10.0.0.0/24", "10.40.0.0/24"]);
        assert!(!r
            .m
            .kernel
            .contains_key(&"10.33.240.0/20".parse::<Ipv4Prefix>().unwrap()));
        assert_eq!(r.counters.stale_dump_entries.load(Relaxed), 1);
        // Nothing was guessed: no verifying dump.
        assert!(!r.m.dump_due(r.now));
        // Re-added later: a notification like any other.
        let reqs = r.notify_new(unicast("10.33.240.0/20", 23), 0x600);
        assert_eq!(replaced(&reqs), vec![("10.33.240.0/20".into(), via(23))]);
    }

    #[test]
    fn a_replace_notified_ahead_of_a_part_listing_the_old_route_stands() {
        // The replaced route known from an earlier dump: the replace names both.
        let mut r = Rig::new(MAIN);
        r.dump(vec![unicast("10.1.0.0/24", 1)]);
        r.m.on_overflow(r.now);
        r.begin();
        let reqs = r.notify_new(unicast("10.1.0.0/24", 2), NLM_F_REPLACE);
        assert_eq!(replaced(&reqs), vec![("10.1.0.0/24".into(), via(2))]);
        r.part(vec![unicast("10.1.0.0/24", 1)], 0);
        assert!(r.done(0).is_empty());
        assert_eq!(
            r.m.kernel[&"10.1.0.0/24".parse::<Ipv4Prefix>().unwrap()].len(),
            1
        );
        assert!(!r.m.dump_due(r.now));
        // Deleting the new route leaves nothing behind (the stale alias would have
        // been promoted).
        let reqs = r.notify_del(unicast("10.1.0.0/24", 2));
        assert_eq!(deleted(&reqs), vec!["10.1.0.0/24"]);

        // Not known yet (the first dump): the part's first alias of that metric
        // is taken for the replaced one, and a verifying dump follows.
        let mut r = Rig::new(MAIN);
        r.begin();
        let reqs = r.notify_new(
            route("10.2.0.0/24", MAIN, RouteType::Unreachable),
            NLM_F_REPLACE,
        );
        assert_eq!(
            replaced(&reqs),
            vec![("10.2.0.0/24".into(), RouteTarget::Blackhole)]
        );
        r.part(vec![unicast("10.2.0.0/24", 1)], 0);
        assert!(r.done(0).is_empty());
        assert_eq!(
            r.m.kernel[&"10.2.0.0/24".parse::<Ipv4Prefix>().unwrap()].len(),
            1
        );
        assert_eq!(r.counters.verifying_dumps.load(Relaxed), 1);
        assert!(r.m.dump_due(r.now), "a verifying dump at once");
        assert!(r
            .dump(vec![route("10.2.0.0/24", MAIN, RouteType::Unreachable)])
            .is_empty());
        assert!(!r.m.dump_due(r.now));

        // A replace the part already shows settles nothing to guess.
        let mut r = Rig::new(MAIN);
        r.begin();
        r.notify_new(unicast("10.3.0.0/24", 2), NLM_F_REPLACE);
        r.part(vec![unicast("10.3.0.0/24", 2)], 0);
        assert!(r.done(0).is_empty());
        assert!(!r.m.dump_due(r.now));
        assert_eq!(r.m.routes(), 1);
    }

    #[test]
    fn a_part_ending_in_a_leaf_a_delete_changed_is_not_swept_and_verified() {
        // Leaf 10.0.0.0 holds /24 then /20. The kernel resumes inside a leaf by
        // position: the /24 deleted between the parts makes it skip the /20.
        let mut r = Rig::new(MAIN);
        r.dump(vec![unicast("10.0.0.0/24", 1), unicast("10.0.0.0/20", 2)]);
        r.m.on_overflow(r.now);
        r.begin();
        r.part(vec![unicast("10.0.0.0/24", 1)], 0);
        assert_eq!(
            deleted(&r.notify_del(unicast("10.0.0.0/24", 1))),
            vec!["10.0.0.0/24"]
        );
        r.part(vec![unicast("10.1.0.0/16", 3)], 0);
        let reqs = r.done(0);
        assert!(deleted(&reqs).is_empty(), "the /20 is kept: {reqs:?}");
        assert_eq!(r.m.routes(), 2);
        assert!(r.m.dump_due(r.now), "a verifying dump at once");
        let reqs = r.dump(vec![unicast("10.1.0.0/16", 3)]);
        assert_eq!(deleted(&reqs), vec!["10.0.0.0/20"]);
        assert!(!r.m.dump_due(r.now));
    }

    #[test]
    fn interrupted_dumps_are_retried_then_reported_and_never_sweep() {
        let mut r = Rig::new(MAIN);
        r.dump(vec![unicast("10.0.0.0/8", 1), unicast("10.1.0.0/16", 1)]);
        r.m.on_overflow(r.now);
        for attempt in 1..=5 {
            r.begin();
            r.part(vec![unicast("10.0.0.0/8", 1)], NLM_F_DUMP_INTR);
            let reqs = r.done(0);
            assert!(
                reqs.is_empty(),
                "an interrupted dump deletes nothing: {reqs:?}"
            );
            assert_eq!(r.counters.interrupted.load(Relaxed), attempt);
            if attempt < 5 {
                assert!(r.m.dump_due(r.now), "retried at once");
            }
        }
        // The fifth in a row: reported, retried later.
        assert!(!r.m.dump_due(r.now));
        assert!(r.m.dump_due(r.now + Duration::from_secs(1)));
        assert!(r
            .status
            .last_error()
            .unwrap()
            .contains("interrupted (NLM_F_DUMP_INTR) 5 times"));
        // The flag on DONE alone also counts.
        r.now += Duration::from_secs(1);
        r.begin();
        r.part(vec![unicast("10.0.0.0/8", 1)], 0);
        assert!(r.done(NLM_F_DUMP_INTR).is_empty());
        assert_eq!(r.counters.interrupted.load(Relaxed), 6);
        // A clean dump finally sweeps.
        let reqs = r.dump(vec![unicast("10.0.0.0/8", 1)]);
        assert_eq!(deleted(&reqs), vec!["10.1.0.0/16"]);
        assert_eq!(r.status.resyncs.load(Relaxed), 7);
    }

    #[test]
    fn a_refused_dump_is_retried_later_and_link_events_schedule_a_redump() {
        let mut r = Rig::new(MAIN);
        r.begin();
        let mut b = done(0, r.seq, -libc::EBUSY);
        b[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        r.m.on_datagram(&b, PORT, r.now);
        assert!(!r.m.dumping());
        assert!(!r.m.dump_due(r.now));
        assert!(r.status.last_error().unwrap().contains("dump failed"));
        r.now += Duration::from_secs(1);
        r.dump(vec![]);
        // RTM_DELADDR of an IPv4 address.
        let mut ev = vec![0u8; 24];
        ev[..4].copy_from_slice(&24u32.to_ne_bytes());
        ev[4..6].copy_from_slice(&RTM_DELADDR.to_ne_bytes());
        ev[16] = libc::AF_INET as u8;
        r.m.on_datagram(&ev, PORT, r.now);
        assert_eq!(r.counters.link_events.load(Relaxed), 1);
        assert!(!r.m.dump_due(r.now));
        assert!(r.m.dump_due(r.now + LINK_REDUMP_DELAY));
        // A truncated message: counted and treated as lost notifications.
        r.m.on_datagram(&ev[..10], PORT, r.now);
        assert_eq!(r.counters.overflows.load(Relaxed), 1);
        assert!(r.m.dump_due(r.now));
    }
}
