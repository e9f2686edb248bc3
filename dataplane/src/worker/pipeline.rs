//! The IPv4 pipeline over one received burst: classify, one bulk lookup, resolve,
//! rewrite, and sort into per-egress-port TX bursts, the punt ring or the bin.

use crossbeam_queue::ArrayQueue;
use fib::dir24::NO_ROUTE;
use fib::{ForwardingTables, Nexthop, NexthopId, PortId, TableId};

use super::counters::LocalCounters;
use super::rings::Punted;
use crate::forward::{classify, rewrite, Adjacency, DropReason, Outcome, PuntReason, Verdict};
use crate::port::{Burst, Packet, MAX_BURST};
use crate::wire::ethernet::{EthernetAddress, Frame as EthernetFrame};
use crate::wire::ipv4::{Packet as Ipv4Packet, HEADER_LEN as IPV4_HEADER_LEN};

/// What a core knows about one of its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSetup {
    /// The port's own MAC: the source MAC of every frame forwarded out of it.
    pub mac: EthernetAddress,
    /// The link's IP MTU: the largest IPv4 total length forwarded out of it.
    pub mtu: u16,
    /// The routing table (VRF) frames received on the port are looked up in.
    pub table: TableId,
}

impl PortSetup {
    /// A port in the main table with the Ethernet MTU of 1500.
    pub fn new(mac: impl Into<EthernetAddress>) -> Self {
        PortSetup {
            mac: mac.into(),
            mtu: 1500,
            table: TableId::MAIN,
        }
    }

    pub fn mtu(mut self, mtu: u16) -> Self {
        self.mtu = mtu;
        self
    }

    pub fn table(mut self, table: TableId) -> Self {
        self.table = table;
        self
    }
}

/// `classify` is given no local addresses: they are /32 routes with a
/// [`Nexthop::Local`] nexthop in the FIB, recognised after the lookup.
#[inline(always)]
fn no_local_address(_: u32) -> bool {
    false
}

/// The decision for one packet of a burst.
#[derive(Debug, Clone, Copy)]
enum Action {
    Transmit(PortId),
    Punt {
        reason: PuntReason,
        egress_mtu: u16,
        nexthop: u32,
    },
    Drop(DropReason),
    /// The nexthop's port is not one of this core's.
    BadEgress,
}

const NO_NEXTHOP: u32 = NO_ROUTE;

#[inline]
fn punt(reason: PuntReason) -> Action {
    Action::Punt {
        reason,
        egress_mtu: 0,
        nexthop: NO_NEXTHOP,
    }
}

/// What a packet routed to one nexthop gets: the adjacency, or why there is none.
/// Exactly what [`resolve`] says for the nexthop.
type Resolved = Result<Adjacency, Action>;

/// The core's adjacency array: [`resolve`]'s answer for every nexthop id of the serving
/// set, so forwarding reads one small array entry per packet instead of the nexthop,
/// the neighbour MAC and the egress port setup. It follows the tables: before each
/// burst it is brought up to [`ForwardingTables::nexthop_generation`], updating just
/// the ids changed since (or rebuilding after a replay swap or a long gap).
pub(crate) struct Adjacencies {
    /// The generation `entries` reflect; `None`: never built.
    generation: Option<u64>,
    entries: Vec<Resolved>,
}

impl Adjacencies {
    fn new() -> Self {
        Adjacencies {
            generation: None,
            entries: Vec::new(),
        }
    }

    /// Brings the array up to the tables' current nexthops. Allocates only when the
    /// nexthop set grew (the listener allocated for it too).
    #[inline(always)]
    fn sync(&mut self, tables: &ForwardingTables, setups: &[PortSetup]) {
        let current = tables.nexthop_generation();
        if self.generation != Some(current) {
            self.update(tables, setups, current);
        }
    }

    #[cold]
    #[inline(never)]
    fn update(&mut self, tables: &ForwardingTables, setups: &[PortSetup], current: u64) {
        let slots = tables.nexthop_slots();
        let incremental = match self.generation {
            Some(since) if self.entries.len() == slots => tables.nexthop_changes_since(since),
            _ => None,
        };
        match incremental {
            Some(changed) => {
                for id in changed {
                    if let Some(entry) = self.entries.get_mut(id.0 as usize) {
                        *entry = resolve(tables, setups, id.0);
                    }
                }
            }
            None => {
                self.entries.clear();
                self.entries
                    .extend((0..slots as u32).map(|id| resolve(tables, setups, id)));
            }
        }
        self.generation = Some(current);
    }

    /// The adjacency of lookup result `id` (a nexthop id or `NO_ROUTE`).
    #[inline(always)]
    fn get(&self, id: u32) -> Result<&Adjacency, Action> {
        match self.entries.get(id as usize) {
            Some(Ok(adjacency)) => Ok(adjacency),
            Some(Err(action)) => Err(*action),
            // No route, or an id the set does not hold: what `resolve` says for them.
            None => Err(punt(PuntReason::NoRoute)),
        }
    }
}

/// Per-burst scratch space, kept in the core so the arrays are not re-zeroed each burst.
pub(crate) struct Scratch {
    adjacencies: Adjacencies,
    action: [Action; MAX_BURST],
    /// Destinations (host order) of the packets to look up, compacted.
    dst: [u32; MAX_BURST],
    /// For each looked-up destination, the index of its packet in the burst.
    slot: [u8; MAX_BURST],
    /// Lookup results: nexthop id or NO_ROUTE.
    nexthop: [u32; MAX_BURST],
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Scratch {
            adjacencies: Adjacencies::new(),
            action: [Action::BadEgress; MAX_BURST],
            dst: [0; MAX_BURST],
            slot: [0; MAX_BURST],
            nexthop: [0; MAX_BURST],
        }
    }
}

/// The destination of a frame `classify` has validated up to the IPv4 addresses
/// (it punted or dropped it for a later rule). `None` if it cannot be read.
#[inline(never)]
fn validated_dst(frame: &[u8]) -> Option<u32> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    let ip = ethernet.payload();
    if ip.len() < IPV4_HEADER_LEN {
        return None;
    }
    Some(Ipv4Packet::new_unchecked(ip).dst_addr_u32())
}

/// A frame classify punted or dropped for a rule that comes after the address checks
/// (TTL ≤ 1, IP options, link-layer group destination) may be for the router itself:
/// if its destination's route is Local it is delivered (punt `local`), not expired or
/// dropped. Off the fast path.
#[cold]
#[inline(never)]
fn local_or(tables: &ForwardingTables, table: TableId, frame: &[u8], otherwise: Action) -> Action {
    if let Some(dst) = validated_dst(frame) {
        if let Some(id) = tables.lookup(table, dst) {
            if matches!(tables.nexthop(id), Some(Nexthop::Local)) {
                return Action::Punt {
                    reason: PuntReason::Local,
                    egress_mtu: 0,
                    nexthop: id.0,
                };
            }
        }
    }
    otherwise
}

/// Nexthop id → adjacency, or why there is none (cached per id in [`Adjacencies`]).
#[inline]
fn resolve(tables: &ForwardingTables, setups: &[PortSetup], id: u32) -> Result<Adjacency, Action> {
    if id == NO_ROUTE {
        return Err(punt(PuntReason::NoRoute));
    }
    let nexthop_id = NexthopId(id);
    let unresolved = Action::Punt {
        reason: PuntReason::Unresolved,
        egress_mtu: 0,
        nexthop: id,
    };
    match tables.nexthop(nexthop_id) {
        Some(Nexthop::Gateway { port, .. }) => {
            let Some(egress) = setups.get(usize::from(*port)) else {
                return Err(Action::BadEgress);
            };
            match tables.neighbour_mac(nexthop_id) {
                Some(mac) => Ok(Adjacency {
                    port: *port,
                    dst_mac: EthernetAddress(mac),
                    src_mac: egress.mac,
                    mtu: egress.mtu,
                }),
                None => Err(unresolved),
            }
        }
        // The control plane ARPs for the host and installs a /32 through a Gateway
        // nexthop for it (docs/FORWARDING.md): the fast path never holds host MACs
        // outside nexthops.
        Some(Nexthop::Connected { .. }) => Err(unresolved),
        Some(Nexthop::Local) => Err(Action::Punt {
            reason: PuntReason::Local,
            egress_mtu: 0,
            nexthop: id,
        }),
        Some(Nexthop::Blackhole) => Err(Action::Drop(DropReason::Blackhole)),
        // A table entry for a nexthop the set does not hold cannot happen (the
        // listener refuses such routes); treat it like no route rather than trust it.
        None => Err(punt(PuntReason::NoRoute)),
    }
}

/// Moves every packet out of `burst` in order, handing each to `f` with its index.
#[inline(always)]
fn drain_in_order<P>(burst: &mut Burst<P>, mut f: impl FnMut(usize, P)) {
    let len = burst.len();
    let base = burst.as_mut_ptr();
    // SAFETY: the burst forgets its packets before any is moved out, so a panic in
    // `f` leaks the rest instead of dropping a moved-out packet twice; `len <=
    // MAX_BURST` trivially.
    unsafe { burst.set_len(0) };
    for i in 0..len {
        // SAFETY: slots 0..len held initialised packets owned by the burst (its old
        // length); each is read exactly once, here, and the burst no longer claims it.
        let packet = unsafe { base.add(i).read() };
        f(i, packet);
    }
}

/// The IPv4 destination of an untagged or 802.1Q-tagged IPv4 frame, read without
/// any validation (only a prefetch hint is derived from it); `None` if the frame is
/// too short or not IPv4.
#[inline(always)]
fn probable_dst(frame: &[u8]) -> Option<u32> {
    const DST: usize = 14 + 16;
    let at = match frame.get(12..14)? {
        [0x08, 0x00] => DST,
        [0x81, 0x00] if frame.get(16..18)? == [0x08, 0x00] => DST + 4,
        _ => return None,
    };
    let bytes = frame.get(at..at + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Hints the CPU to bring the cache line at `ptr` into L1. Never faults.
#[inline(always)]
fn prefetch(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it does not fault or read memory architecturally,
    // whatever the address (and SSE is part of the x86-64 baseline).
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// Everything the pipeline needs besides the packets.
pub(crate) struct PipelineContext<'a, P> {
    pub tables: &'a ForwardingTables,
    pub setups: &'a [PortSetup],
    pub punts: &'a ArrayQueue<Punted<P>>,
}

/// The first stage over a received burst, run for every burst of a loop iteration
/// before any is processed: start fetching every frame's headers, then the tbl24
/// entry of every frame's destination, so these cache misses overlap the processing
/// of the bursts before this one (and of this one's first frames).
#[inline]
pub(crate) fn prefetch_burst<P: Packet>(
    ctx: &PipelineContext<'_, P>,
    ingress: PortId,
    rx: &Burst<P>,
) {
    // The first touch of a received frame misses the caches (and often the TLB), and
    // classify's chain of dependent checks would otherwise take those misses one frame
    // at a time. The Ethernet and IPv4 headers end at byte 34 (38 tagged): a buffer
    // not aligned to a cache line may put them on two lines.
    for packet in rx.iter() {
        let p = packet.data().as_ptr();
        prefetch(p);
        prefetch(p.wrapping_add(37));
    }
    let table_id = match ctx.setups.get(usize::from(ingress)) {
        Some(s) => s.table,
        None => TableId::MAIN,
    };
    // The destination is read where an IPv4 header would put it, to derive a prefetch
    // hint only (classify decides later); frames too short or not IPv4 are skipped.
    if let Some(t) = ctx.tables.table(table_id) {
        for packet in rx.iter() {
            if let Some(d) = probable_dst(packet.data()) {
                t.prefetch(d);
            }
        }
    }
}

/// Runs the pipeline over `rx` (received on `ingress`), leaving it empty: forwarded
/// packets are appended to `tx[egress]` (each TX burst must be empty on entry, so
/// it has room for a whole burst), punted ones pushed on the punt ring, the rest
/// freed. Every packet is counted once in `counters`.
#[inline]
pub(crate) fn process_burst<P: Packet>(
    ctx: &PipelineContext<'_, P>,
    ingress: PortId,
    rx: &mut Burst<P>,
    tx: &mut [Burst<P>],
    scratch: &mut Scratch,
    counters: &mut LocalCounters,
) {
    let tables = ctx.tables;
    let table_id = match ctx.setups.get(usize::from(ingress)) {
        Some(s) => s.table,
        None => TableId::MAIN,
    };
    let Scratch {
        adjacencies,
        action,
        dst,
        slot,
        nexthop,
    } = scratch;

    let table = tables.table(table_id);

    // 1. Classify (after `prefetch_burst`); gather the destinations to look up.
    let mut lookups = 0;
    for (i, packet) in rx.iter().enumerate() {
        let frame = packet.data();
        action[i] = match classify(frame, &no_local_address) {
            Verdict::Forward { dst: d } => {
                dst[lookups] = d;
                slot[lookups] = i as u8;
                lookups += 1;
                continue;
            }
            Verdict::Punt(reason @ (PuntReason::TtlExceeded | PuntReason::IpOptions)) => {
                local_or(tables, table_id, frame, punt(reason))
            }
            Verdict::Punt(reason) => punt(reason),
            Verdict::Drop(DropReason::L2Multicast) => local_or(
                tables,
                table_id,
                frame,
                Action::Drop(DropReason::L2Multicast),
            ),
            Verdict::Drop(reason) => Action::Drop(reason),
        };
    }

    // 2. One bulk lookup for the whole burst.
    if lookups > 0 {
        match table {
            Some(t) => t.lookup_bulk(&dst[..lookups], &mut nexthop[..lookups]),
            None => nexthop[..lookups].fill(NO_ROUTE),
        }
    }

    // 3. Resolve (one adjacency array read) and rewrite.
    adjacencies.sync(tables, ctx.setups);
    let packets = rx.as_mut_slice();
    for k in 0..lookups {
        let i = usize::from(slot[k]);
        let id = nexthop[k];
        action[i] = match adjacencies.get(id) {
            Ok(adjacency) => match rewrite(packets[i].data_mut(), adjacency) {
                Outcome::Transmit { port } => Action::Transmit(port),
                Outcome::Punt(reason) => Action::Punt {
                    reason,
                    egress_mtu: adjacency.mtu,
                    nexthop: id,
                },
                Outcome::Drop(reason) => Action::Drop(reason),
            },
            Err(a) => a,
        };
    }

    // 4. Dispatch, in arrival order (TX order per port follows it).
    drain_in_order(rx, |i, packet| match action[i] {
        Action::Transmit(port) => {
            // `resolve` checked the port exists; the burst has room (empty on entry).
            match tx[usize::from(port)].push(packet) {
                Ok(()) => counters.forwarded += 1,
                Err(packet) => {
                    drop(packet);
                    counters.bad_egress_port += 1;
                }
            }
        }
        Action::Punt {
            reason,
            egress_mtu,
            nexthop,
        } => {
            counters.punts[reason.index()] += 1;
            let punted = Punted {
                packet,
                ingress,
                reason,
                egress_mtu,
                nexthop: (nexthop != NO_NEXTHOP).then_some(NexthopId(nexthop)),
            };
            if let Err(punted) = ctx.punts.push(punted) {
                drop(punted);
                counters.punt_ring_full += 1;
            }
        }
        Action::Drop(reason) => {
            counters.drops[reason.index()] += 1;
            drop(packet);
        }
        Action::BadEgress => {
            counters.bad_egress_port += 1;
            drop(packet);
        }
    });
}
