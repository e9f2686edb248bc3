//! The IPv4 pipeline over one received burst: classify, one bulk lookup, resolve,
//! rewrite, and sort into per-egress-port TX bursts, the punt ring or the bin.

use crossbeam_queue::ArrayQueue;
use fib::dir24::NO_ROUTE;
use fib::{ForwardingTables, Nexthop, NexthopId, PortId, TableId};

use super::counters::LocalCounters;
use super::rings::Punted;
use crate::forward::{
    classify, classify_fast, forward_fast, rewrite, rewrite_classified, rewrite_forwardable,
    vector, Adjacency, DropReason, Outcome, PuntReason, Verdict, UNTAGGED_HEADERS,
};
use crate::port::{Burst, Packet, MAX_BURST};
use crate::wire::ethernet::{EthernetAddress, Frame as EthernetFrame};
use crate::wire::ipv4::{Packet as Ipv4Packet, HEADER_LEN as IPV4_HEADER_LEN};

/// What a core knows about one of its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSetup {
    /// The port's own MAC: the source MAC of every frame forwarded out of it, and the
    /// destination MAC a unicast frame received on it must carry (any other is dropped
    /// `l2_other_host`).
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

/// The decision for a packet that is not forwarded by the fast path (see
/// [`process_burst`]): punted, dropped or sent out of a port the core lacks.
#[derive(Debug, Clone, Copy)]
enum Action {
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

/// `AdjEntry::port` of a nexthop without an adjacency: `Adjacencies::other` says why.
const NOT_ADJACENT: PortId = PortId::MAX;

/// One entry of the adjacency array, 16 bytes (four per cache line): what forwarding a
/// packet to the nexthop takes.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
struct AdjEntry {
    /// The frame's first 12 bytes after the rewrite: the nexthop's MAC, then the egress
    /// port's.
    macs: [u8; 12],
    /// The egress port, or [`NOT_ADJACENT`].
    port: PortId,
    /// The egress MTU; 0 when not an adjacency, so that one test (`total length >
    /// mtu`, every IPv4 total length being at least 20) sends the packets of both the
    /// MTU exceptions and the non-adjacencies to the slow branch.
    mtu: u16,
}

impl AdjEntry {
    const NONE: AdjEntry = AdjEntry {
        macs: [0; 12],
        port: NOT_ADJACENT,
        mtu: 0,
    };

    fn new(adjacency: &Adjacency) -> Self {
        let mut macs = [0; 12];
        macs[..6].copy_from_slice(&adjacency.dst_mac.0);
        macs[6..].copy_from_slice(&adjacency.src_mac.0);
        AdjEntry {
            macs,
            port: adjacency.port,
            mtu: adjacency.mtu,
        }
    }

    fn adjacency(&self) -> Option<Adjacency> {
        (self.port != NOT_ADJACENT).then(|| {
            let mut dst = [0; 6];
            let mut src = [0; 6];
            dst.copy_from_slice(&self.macs[..6]);
            src.copy_from_slice(&self.macs[6..]);
            Adjacency {
                port: self.port,
                dst_mac: EthernetAddress(dst),
                src_mac: EthernetAddress(src),
                mtu: self.mtu,
            }
        })
    }
}

/// Entries of the adjacency array: one per lookup result, nexthop ids `0 ..=
/// MAX_NEXTHOP_ID` at `id + 1` and no route at 0, a power of two so that an index
/// masked to it needs no bounds check.
const ADJ_SLOTS: usize = 1 << 15;
const _: () = assert!(fib::MAX_NEXTHOP_ID as usize + 1 < ADJ_SLOTS);

/// The slot of lookup result `id` (a nexthop id, or `NO_ROUTE`, which wraps to 0).
#[inline(always)]
fn adj_slot(id: u32) -> usize {
    id.wrapping_add(1) as usize & (ADJ_SLOTS - 1)
}

/// The core's adjacency array: [`resolve`]'s answer for every nexthop id of the serving
/// set, so forwarding reads one 16-byte entry per packet instead of the nexthop, the
/// neighbour MAC and the egress port setup. It follows the tables: before each burst it
/// is brought up to [`ForwardingTables::nexthop_generation`], updating just the ids
/// changed since (or rebuilding after a replay swap or a long gap).
pub(crate) struct Adjacencies {
    /// The generation `entries` reflect; `None`: never built.
    generation: Option<u64>,
    /// Nexthop slots `entries` was built for (`ForwardingTables::nexthop_slots`).
    built: usize,
    /// By [`adj_slot`] of the lookup result: the adjacency, or [`AdjEntry::NONE`]
    /// (no route, a multipath group, an id without an adjacency). 512 KiB, of which
    /// forwarding touches the lines of the nexthops in use.
    entries: Box<[AdjEntry; ADJ_SLOTS]>,
    /// Per nexthop id without an adjacency: what its packets get (cold).
    other: Vec<Action>,
}

impl Adjacencies {
    pub(crate) fn new() -> Self {
        let entries = vec![AdjEntry::NONE; ADJ_SLOTS].into_boxed_slice();
        Adjacencies {
            generation: None,
            built: 0,
            entries: entries.try_into().expect("ADJ_SLOTS entries"),
            other: Vec::new(),
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
        let slots = tables.nexthop_slots().min(ADJ_SLOTS - 1);
        let incremental = match self.generation {
            Some(since) if self.built == slots => tables.nexthop_changes_since(since),
            _ => None,
        };
        match incremental {
            Some(changed) => {
                for id in changed {
                    self.set(id.0 as usize, resolve(tables, setups, id.0));
                }
            }
            None => {
                self.entries.fill(AdjEntry::NONE);
                self.other.clear();
                self.other.resize(slots, punt(PuntReason::NoRoute));
                self.built = slots;
                for id in 0..slots {
                    self.set(id, resolve(tables, setups, id as u32));
                }
            }
        }
        self.generation = Some(current);
    }

    fn set(&mut self, id: usize, resolved: Result<Adjacency, Action>) {
        let (Some(entry), Some(other)) = (self.entries.get_mut(id + 1), self.other.get_mut(id))
        else {
            return;
        };
        match resolved {
            Ok(adjacency) => *entry = AdjEntry::new(&adjacency),
            Err(action) => {
                *entry = AdjEntry::NONE;
                *other = action;
            }
        }
    }

    /// The entry of lookup result `id` (a nexthop id or `NO_ROUTE`): [`AdjEntry::NONE`]
    /// for no route and for an id the set does not hold, which `resolve` treats alike.
    #[inline(always)]
    fn get(&self, id: u32) -> &AdjEntry {
        &self.entries[adj_slot(id)]
    }

    /// What a packet to nexthop `id` gets when `get(id)` is no adjacency.
    #[cold]
    fn other(&self, id: u32) -> Action {
        match self.other.get(id as usize) {
            Some(action) => *action,
            None => punt(PuntReason::NoRoute),
        }
    }
}

/// What the stages over one received burst keep per packet, indexed by its position in
/// the burst. Kept in the core (one per receive burst) so the arrays are not re-zeroed
/// each time.
pub(crate) struct Parsed {
    /// Bytes 30..34 of the frame, host order: the IPv4 destination of an untagged
    /// frame (the only kind the fast branch forwards); 0 for a frame shorter than 34
    /// bytes (a harmless lookup).
    dst: [u32; MAX_BURST],
    /// Lookup results of `dst`: nexthop id or NO_ROUTE.
    nexthop: [u32; MAX_BURST],
    /// The egress port of a packet the fast branch rewrote, else [`NOT_ADJACENT`].
    egress: [PortId; MAX_BURST],
}

impl Parsed {
    pub(crate) fn new() -> Self {
        Parsed {
            dst: [0; MAX_BURST],
            nexthop: [0; MAX_BURST],
            egress: [NOT_ADJACENT; MAX_BURST],
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

/// Moves every packet out of `burst` in order, handing each to `f` with its index and
/// the matching item of `lanes` (the per-packet arrays of [`Parsed`] cut to the burst's
/// length and zipped, so the loop indexes them without bounds checks). `lanes` has as
/// many items as the burst has packets; were it shorter, the rest would leak, not be
/// freed.
#[inline(always)]
fn drain_in_order<P, L>(
    burst: &mut Burst<P>,
    lanes: impl Iterator<Item = L>,
    mut f: impl FnMut(usize, P, L),
) {
    let len = burst.len();
    let base = burst.as_mut_ptr();
    // SAFETY: the burst forgets its packets before any is moved out, so a panic in
    // `f` leaks the rest instead of dropping a moved-out packet twice; `len <=
    // MAX_BURST` trivially.
    unsafe { burst.set_len(0) };
    for (i, lane) in lanes.enumerate() {
        if i >= len {
            break;
        }
        // SAFETY: slots 0..len held initialised packets owned by the burst (its old
        // length); each is read exactly once, here (i < len), and the burst no longer
        // claims it.
        let packet = unsafe { base.add(i).read() };
        f(i, packet, lane);
    }
}

/// Everything the pipeline needs besides the packets.
pub(crate) struct PipelineContext<'a, P> {
    pub tables: &'a ForwardingTables,
    pub setups: &'a [PortSetup],
    pub punts: &'a ArrayQueue<Punted<P>>,
    /// Run the checks eight frames at a time with AVX2 (the CPU has it).
    pub vector_checks: bool,
}

/// The checks for a frame `classify_fast` did not accept: the full `classify`, which says
/// why, or (an 802.1Q-tagged frame) that it is forwardable after all. Returns the IPv4
/// header offset and the destination, or the action.
#[cold]
#[inline(never)]
fn classify_slow(
    tables: &ForwardingTables,
    table_id: TableId,
    port_mac: EthernetAddress,
    frame: &[u8],
) -> Result<(u8, u32), Action> {
    match classify(frame, port_mac, &no_local_address) {
        Verdict::Forward { dst } => match EthernetFrame::new_checked(frame) {
            // 14 or 18: classify accepted an untagged or 802.1Q-tagged header.
            Ok(ethernet) => Ok((ethernet.header_len() as u8, dst)),
            Err(_) => Err(Action::Drop(DropReason::TooShort)),
        },
        Verdict::Punt(reason @ (PuntReason::TtlExceeded | PuntReason::IpOptions)) => {
            Err(local_or(tables, table_id, frame, punt(reason)))
        }
        Verdict::Punt(reason) => Err(punt(reason)),
        Verdict::Drop(DropReason::L2Multicast) => Err(local_or(
            tables,
            table_id,
            frame,
            Action::Drop(DropReason::L2Multicast),
        )),
        Verdict::Drop(reason) => Err(Action::Drop(reason)),
    }
}

/// Step 3 for a looked-up packet the fast rewrite did not forward: no adjacency for its
/// nexthop, or [`rewrite`]'s exceptions (MTU). The frame is left as received.
#[cold]
#[inline(never)]
fn after_lookup_slow(
    adjacencies: &Adjacencies,
    entry: &AdjEntry,
    id: u32,
    frame: &mut [u8],
) -> Result<PortId, Action> {
    let Some(adjacency) = entry.adjacency() else {
        return Err(adjacencies.other(id));
    };
    match rewrite(frame, &adjacency) {
        Outcome::Transmit { port } => Ok(port),
        Outcome::Punt(reason) => Err(Action::Punt {
            reason,
            egress_mtu: adjacency.mtu,
            nexthop: id,
        }),
        Outcome::Drop(reason) => Err(Action::Drop(reason)),
    }
}

/// Punts, drops or frees a packet the fast path did not forward, counting it.
#[cold]
#[inline(never)]
fn dispatch_slow<P: Packet>(
    ctx: &PipelineContext<'_, P>,
    ingress: PortId,
    packet: P,
    action: Action,
    counters: &mut LocalCounters,
) {
    match action {
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
    }
}

/// The table frames received on `ingress` are looked up in.
#[inline(always)]
fn ingress_table<P>(ctx: &PipelineContext<'_, P>, ingress: PortId) -> TableId {
    match ctx.setups.get(usize::from(ingress)) {
        Some(s) => s.table,
        None => TableId::MAIN,
    }
}

/// The MAC unicast frames received on `ingress` must be addressed to. A port without a
/// setup (a core has one per port, so never) gets the broadcast address, which no unicast
/// frame carries: all of them are dropped `l2_other_host`.
#[inline(always)]
fn ingress_mac<P>(ctx: &PipelineContext<'_, P>, ingress: PortId) -> EthernetAddress {
    match ctx.setups.get(usize::from(ingress)) {
        Some(s) => s.mac,
        None => EthernetAddress([0xff; 6]),
    }
}

/// Each frame's bytes 30..34 (its IPv4 destination, if it is an untagged IPv4 frame)
/// into `dst`, 0 for a frame shorter than 34 bytes; `prefetch_route` hints the lookup
/// of each.
#[inline(always)]
fn read_destinations(
    frames: &[&mut [u8]],
    dst: &mut [u32; MAX_BURST],
    prefetch_route: impl Fn(u32),
) {
    // The first touch of a received frame misses the caches (and often the TLB). These
    // loads depend on nothing before them, so the out-of-order core overlaps the
    // misses of a burst's frames; a separate loop of header prefetches first measured
    // no faster, on a cached or a streamed frame set (docs/FORWARDING.md).
    for (frame, dst) in frames.iter().zip(dst.iter_mut()) {
        let d = match frame.first_chunk::<UNTAGGED_HEADERS>() {
            Some(h) => u32::from_be_bytes([h[30], h[31], h[32], h[33]]),
            None => 0,
        };
        *dst = d;
        prefetch_route(d);
    }
}

/// What the fast branch saw of a burst's egress ports.
#[derive(Debug, Clone, Copy)]
struct EgressSummary {
    /// The egress ports' bits ORed and ANDed: they agree exactly when every forwarded
    /// packet has the same one.
    any: PortId,
    all: PortId,
    /// Some packet was left for the slow branch.
    slow: bool,
}

impl EgressSummary {
    const START: EgressSummary = EgressSummary {
        any: 0,
        all: PortId::MAX,
        slow: false,
    };

    /// Notes one packet: rewritten for `port`, or (`forwarded` false) left as received.
    #[inline(always)]
    fn record(&mut self, forwarded: bool, port: PortId, egress: &mut PortId) {
        if !forwarded {
            // One block every failed check jumps to.
            *egress = NOT_ADJACENT;
            self.slow = true;
            return;
        }
        *egress = port;
        self.any |= port;
        self.all &= port;
    }

    fn merge(self, other: EgressSummary) -> EgressSummary {
        EgressSummary {
            any: self.any | other.any,
            all: self.all & other.all,
            slow: self.slow | other.slow,
        }
    }
}

/// The fast branch, packet by packet: [`forward_fast`] (the checks, then the rewrite on
/// the same read of the headers) with each packet's adjacency entry (no route or no
/// adjacency: the NONE entry, whose MTU 0 fails the rewrite).
///
/// A function of its own, one call per burst: inlined into `forward_burst` next to the
/// call of [`fast_branch_avx2`], the loop measured 13–19 instructions a packet more
/// (registers kept across the call that the loop then lacks) and ran 5% slower
/// (docs/FORWARDING.md).
#[inline(never)]
fn fast_branch(
    frames: &mut [&mut [u8]],
    nexthop: &[u32],
    egress: &mut [PortId],
    entries: &[AdjEntry; ADJ_SLOTS],
    port_mac: EthernetAddress,
) -> EgressSummary {
    let mut summary = EgressSummary::START;
    for ((frame, &id), egress) in frames.iter_mut().zip(nexthop).zip(egress.iter_mut()) {
        let e = &entries[adj_slot(id)];
        summary.record(
            forward_fast(frame, port_mac, &e.macs, e.mtu),
            e.port,
            egress,
        );
    }
    summary
}

/// [`fast_branch`] eight packets at a time: the checks of eight frames in one
/// vector pass ([`vector`]), then each frame's rewrite, while its headers are still in
/// L1; the last `len % 8` packet by packet.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fast_branch_avx2(
    frames: &mut [&mut [u8]],
    nexthop: &[u32],
    egress: &mut [PortId],
    entries: &[AdjEntry; ADJ_SLOTS],
    port_mac: EthernetAddress,
) -> EgressSummary {
    let expected = vector::avx2::Expected::new(port_mac);
    let mut summary = EgressSummary::START;
    let mut frames_8 = frames.chunks_exact_mut(8);
    let mut ids_8 = nexthop.chunks_exact(8);
    let mut egress_8 = egress.chunks_exact_mut(8);
    for ((group, ids), egress) in (&mut frames_8).zip(&mut ids_8).zip(&mut egress_8) {
        let group: &mut [&mut [u8]; 8] = group.try_into().expect("chunks of 8");
        let passed = vector::avx2::checks_x8(&*group, &expected);
        let lanes = group.iter_mut().zip(ids).zip(egress.iter_mut());
        for (j, ((frame, &id), egress)) in lanes.enumerate() {
            let e = &entries[adj_slot(id)];
            let forwarded = passed & (1 << j) != 0 && rewrite_classified(frame, &e.macs, e.mtu);
            summary.record(forwarded, e.port, egress);
        }
    }
    let rest = frames_8.into_remainder();
    if rest.is_empty() {
        // A whole number of groups (a full burst of 32): no call for nothing.
        return summary;
    }
    summary.merge(fast_branch(
        rest,
        ids_8.remainder(),
        egress_8.into_remainder(),
        entries,
        port_mac,
    ))
}

/// Where [`forward_burst`] left a burst's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Every packet was forwarded out of this port (a port the core has) and is still in
    /// the received burst, rewritten, in arrival order: the caller sends the burst
    /// itself, no packet handle copied.
    Whole(PortId),
    /// The received burst is empty: its packets were sorted onto the per-port TX
    /// bursts, the punt ring or the bin.
    Sorted,
}

/// Forwards `rx` (received on `ingress`). Every packet is counted once in `counters`.
///
/// Two passes over the frames, each borrowed once for both:
/// 1. every frame's would-be IPv4 destination (bytes 30..34) read and its tbl24 entry
///    prefetched; nothing is checked yet (a frame that is not untagged IPv4 has a
///    harmless lookup of four of its bytes); then one `lookup_bulk` for the burst;
/// 2. per packet, in arrival order, the RFC 1812 checks of the fast branch
///    ([`forward_fast`]: untagged IPv4 without options that passes every check, for
///    this port's MAC), one 16-byte adjacency entry and the rewrite in place, on one
///    read of the headers, noting the egress port.
///
/// When every packet of the burst leaves by one port — the common case, and the one
/// `l3fwd` sends straight from its receive array — the burst is left as it is for the
/// caller to send ([`Sent::Whole`]). Otherwise a third pass moves each packet onto its
/// port's TX burst (each must be empty on entry, so it has room for a whole burst),
/// and everything else — packets the checks did not pass, 802.1Q-tagged ones,
/// multipath groups, no adjacency, the MTU exceptions — goes to [`forward_slow`], out
/// of line, still in arrival order ([`Sent::Sorted`]).
#[inline]
pub(crate) fn forward_burst<P: Packet>(
    ctx: &PipelineContext<'_, P>,
    ingress: PortId,
    rx: &mut Burst<P>,
    parsed: &mut Parsed,
    adjacencies: &mut Adjacencies,
    tx: &mut [Burst<P>],
    counters: &mut LocalCounters,
) -> Sent {
    let tables = ctx.tables;
    let table = tables.table(ingress_table(ctx, ingress));
    let port_mac = ingress_mac(ctx, ingress);
    let n = rx.len().min(MAX_BURST);
    adjacencies.sync(tables, ctx.setups);
    let adjacencies = &*adjacencies;
    let entries = &*adjacencies.entries;
    let (any, all, slow);
    {
        let Parsed {
            dst,
            nexthop,
            egress,
        } = &mut *parsed;
        let mut frames: [&mut [u8]; MAX_BURST] = Default::default();
        for (frame, packet) in frames.iter_mut().zip(rx.iter_mut()) {
            *frame = packet.data_mut();
        }
        let frames = &mut frames[..n];

        // 1. Destinations, then one bulk lookup. Two copies of the loop, so the one
        // that runs tests nothing per frame about the table (a port whose table does
        // not exist yet punts everything: no route).
        match table {
            Some(t) => {
                let prefetcher = t.prefetcher();
                read_destinations(frames, dst, |d| prefetcher.prefetch(d));
                t.lookup_bulk(&dst[..n], &mut nexthop[..n]);
            }
            None => {
                read_destinations(frames, dst, |_| {});
                nexthop[..n].fill(NO_ROUTE);
            }
        }

        // 2. The fast branch, in place: each packet's egress port, or NOT_ADJACENT for
        // a packet left as received for the slow branch.
        let (egress, nexthop) = (&mut egress[..n], &nexthop[..n]);
        #[cfg(target_arch = "x86_64")]
        let summary = if ctx.vector_checks {
            // SAFETY: `vector_checks` is set only when the CPU has AVX2, the one
            // target feature the function enables.
            unsafe { fast_branch_avx2(frames, nexthop, egress, entries, port_mac) }
        } else {
            fast_branch(frames, nexthop, egress, entries, port_mac)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let summary = fast_branch(frames, nexthop, egress, entries, port_mac);
        (any, all, slow) = (summary.any, summary.all, summary.slow);
    }
    // `resolve` only makes adjacencies on ports the core has; checked anyway (one
    // compare), as the caller sends the burst on `tx`'s port.
    if n > 0 && !slow && any == all && usize::from(any) < tx.len() {
        counters.forwarded += n as u64;
        return Sent::Whole(any);
    }

    // 3. Mixed egress ports, or packets for the slow branch: sort them, in order.
    let parsed = &*parsed;
    drain_in_order(rx, parsed.egress[..n].iter(), |i, packet, &port| {
        if port != NOT_ADJACENT {
            if let Some(burst) = tx.get_mut(usize::from(port)) {
                match burst.push(packet) {
                    Ok(()) => counters.forwarded += 1,
                    Err(packet) => dispatch_slow(ctx, ingress, packet, Action::BadEgress, counters),
                }
                return;
            }
        }
        forward_slow(ctx, ingress, packet, parsed, i, adjacencies, tx, counters);
    });
    Sent::Sorted
}

/// The slow branch, for a packet the fast one left as received: the full `classify`
/// says why the checks did not pass it, or (an 802.1Q-tagged frame) that it is
/// forwardable after all, and is then looked up on its own; a looked-up packet may
/// be for a multipath group (the member its destination hashes to: per-destination
/// load sharing), have no adjacency, or meet an exception `rewrite` names (MTU). A
/// packet it does not push on a TX burst is punted, dropped or freed, and counted.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn forward_slow<P: Packet>(
    ctx: &PipelineContext<'_, P>,
    ingress: PortId,
    mut packet: P,
    parsed: &Parsed,
    i: usize,
    adjacencies: &Adjacencies,
    tx: &mut [Burst<P>],
    counters: &mut LocalCounters,
) {
    let tables = ctx.tables;
    let table_id = ingress_table(ctx, ingress);
    let port_mac = ingress_mac(ctx, ingress);
    let frame = packet.data_mut();
    let looked_up = match classify_fast(frame, port_mac) {
        Some(_) => Ok((14, parsed.dst[i], parsed.nexthop[i])),
        None => classify_slow(tables, table_id, port_mac, frame).map(|(offset, dst)| {
            let id = tables.lookup(table_id, dst).map_or(NO_ROUTE, |id| id.0);
            (offset, dst, id)
        }),
    };
    let outcome = looked_up.and_then(|(offset, dst, id)| {
        let id = tables.select_path(id, dst.wrapping_mul(0x9e37_79b9));
        let entry = adjacencies.get(id);
        if rewrite_forwardable(frame, usize::from(offset), &entry.macs, entry.mtu) {
            Ok(entry.port)
        } else {
            after_lookup_slow(adjacencies, entry, id, frame)
        }
    });
    match outcome {
        Ok(port) => match tx.get_mut(usize::from(port)) {
            Some(burst) => match burst.push(packet) {
                Ok(()) => counters.forwarded += 1,
                Err(packet) => dispatch_slow(ctx, ingress, packet, Action::BadEgress, counters),
            },
            None => dispatch_slow(ctx, ingress, packet, Action::BadEgress, counters),
        },
        Err(a) => dispatch_slow(ctx, ingress, packet, a, counters),
    }
}
