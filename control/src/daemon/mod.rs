//! The daemon's control plane: the one thread that owns the FIB.
//!
//! [`Router`] holds the FIB (the single writer), the neighbour table, the slow path
//! and the cores' handles. The daemon's loop calls [`Router::turn`] (FIB delivery,
//! punted frames, neighbour timers) and [`Router::handle`] for each control-socket
//! request, never blocking on a core or a client. Ports and cores live in a
//! [`Backend`]: DPDK in `fibred`, software ports in tests.
//!
//! Runtime changes are appended to a journal (the requests themselves, one JSON
//! line each) that the daemon replays at start-up, so what an operator configured
//! with `fibrectl` survives a restart. See [`journal`].

pub mod journal;

use crate::neighbour::{NeighbourAction, NeighbourConfig, NeighbourTable};
use crate::proto::{
    self, AddrSpec, AddressInfo, BatchApplied, BatchError, CoreAdded, CoreInfo, ErrorKind,
    ErrorReply, FibStatus, HelloReply, InterfaceAddr, LinkInfo, Mac, NeighSpec, NeighbourInfo,
    NexthopAdded, NexthopInfo, NexthopSpec, PortRef, Reply, Request, Response, RouteBatch,
    RouteChanged, RouteFilter, RouteGet, RouteInfo, RouteList, RouteLookup, RouteSpec, RouteTarget,
    SourceInfo, StatsReply,
};
use crate::slowpath::{self, SlowAction, SlowPath};
use crate::source::SourceHandle;
use dataplane::port::Packet;
use dataplane::wire::ethernet::EthernetAddress;
use dataplane::worker::{CoreHandle, PortSetup};
use fib::{
    Fib, FibError, Ipv4Prefix, ListenerConfig, Nexthop, NexthopId, PortId, Protocol, Route,
    Subscription, TableId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;

/// What a port looks like to `link show`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    pub up: bool,
    pub speed_mbps: Option<u32>,
    /// The device's own counters where it has them (DPDK `rte_eth_stats`).
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
}

/// Ports and cores: DPDK in `fibred`, software ports in tests.
pub trait Backend {
    type Packet: Packet;

    /// What the backend drives ports with (`dpdk`, `soft`), for `link show`.
    fn kind(&self) -> &'static str;
    fn link(&self, port: PortId) -> LinkState;
    /// A packet buffer to build an injected frame in.
    fn alloc(&mut self) -> Option<Self::Packet>;
    /// Starts forwarding core `id` (pinned to `cpu` if given) following the FIB
    /// through `subscription`, with one queue pair on every port.
    fn start_core(
        &mut self,
        id: u32,
        cpu: Option<usize>,
        setups: Vec<PortSetup>,
        subscription: Subscription,
    ) -> Result<CoreHandle<Self::Packet>, String>;
    /// Stops core `id` and frees its queues.
    fn stop_core(&mut self, id: u32) -> Result<(), String>;
}

/// A port as the control plane knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMeta {
    pub name: String,
    pub mac: EthernetAddress,
    pub mtu: u16,
    pub table: TableId,
}

struct CoreSlot<P> {
    handle: CoreHandle<P>,
    cpu: Option<usize>,
    listener: fib::ListenerId,
    /// (when, forwarded) at the last `core show`, for a rate.
    last: (Instant, u64),
}

/// Counters of the control plane's own work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterCounters {
    pub requests: u64,
    pub punts_handled: u64,
    pub arp_requests_sent: u64,
    pub injects_dropped: u64,
}

/// A frame punted `unresolved`, held until its neighbour resolves: when it was
/// punted, and the frame.
type HeldFrame = (Instant, Vec<u8>);

/// The daemon's state.
pub struct Router<B: Backend> {
    fib: Fib,
    backend: B,
    ports: Vec<PortMeta>,
    addrs: Vec<(PortId, InterfaceAddr)>,
    neighbours: NeighbourTable,
    slowpath: SlowPath,
    cores: BTreeMap<u32, CoreSlot<B::Packet>>,
    next_core: u32,
    /// Hosts on connected subnets that have a /32 through their own gateway nexthop.
    host_routes: BTreeSet<(PortId, Ipv4Addr)>,
    /// Hosts on connected subnets being resolved (so their /32 goes in once resolved).
    wanted_hosts: BTreeSet<(PortId, Ipv4Addr)>,
    /// Frames waiting for a neighbour's MAC (egress port, neighbour).
    pending: BTreeMap<(PortId, Ipv4Addr), Vec<HeldFrame>>,
    counters: RouterCounters,
    listener_ring: usize,
    started: Instant,
    /// Requests that changed state, for the journal; the daemon drains them.
    journal_out: Vec<Request>,
    /// Route sources (kernel mirror, FPM server) feeding requests in.
    sources: Vec<SourceHandle>,
    /// The FIB seq after the last piece of work that committed changes, and when
    /// that work ended (`fib::listener::monotonic_ns`), for `fib status`.
    last_commit: (u64, u64),
}

/// Frames held per unresolved neighbour (Linux's default `unres_qlen` is 101; a few
/// cover a flow's first packets without holding many buffers).
const PENDING_PER_NEIGHBOUR: usize = 4;
/// Neighbours with held frames at most (beyond: the frame is dropped, as before).
const PENDING_NEIGHBOURS: usize = 256;
/// How long a held frame may wait for its neighbour.
const PENDING_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(3);

fn not_found(what: impl Into<String>) -> ErrorReply {
    ErrorReply::new(ErrorKind::NotFound, what)
}

impl<B: Backend> Router<B> {
    /// A router over `ports` (index = `PortId`) with an empty FIB.
    pub fn new(fib: Fib, backend: B, ports: Vec<PortMeta>, listener_ring: usize) -> Self {
        Router {
            fib,
            backend,
            ports,
            addrs: Vec::new(),
            neighbours: NeighbourTable::new(NeighbourConfig::default()),
            slowpath: SlowPath::new(Vec::new(), 1000, 100),
            cores: BTreeMap::new(),
            next_core: 0,
            host_routes: BTreeSet::new(),
            wanted_hosts: BTreeSet::new(),
            pending: BTreeMap::new(),
            counters: RouterCounters::default(),
            listener_ring,
            started: Instant::now(),
            journal_out: Vec::new(),
            sources: Vec::new(),
            last_commit: (0, 0),
        }
    }

    /// Stamps the end of work that committed changes (a request, source updates,
    /// a turn's neighbour changes).
    fn note_commit(&mut self) {
        let seq = self.fib.seq();
        if seq != self.last_commit.0 {
            self.last_commit = (seq, fib::listener::monotonic_ns());
        }
    }

    /// Starts taking requests from a route source; [`Self::poll_sources`] applies them.
    pub fn add_source(&mut self, source: SourceHandle) {
        tracing::info!(source = source.name, "route source attached");
        self.sources.push(source);
    }

    /// Applies up to `budget` pending requests from each route source. They are not
    /// journaled (the source sends them again after a restart); a refused one is
    /// counted in the source's status and logged. Returns whether there was work.
    pub fn poll_sources(&mut self, budget: usize) -> bool {
        let mut busy = false;
        for i in 0..self.sources.len() {
            for _ in 0..budget {
                let Ok(request) = self.sources[i].requests.try_recv() else {
                    break;
                };
                busy = true;
                self.counters.requests += 1;
                let name = request.name();
                if let Err(e) = self.dispatch(request, Instant::now()) {
                    let source = &self.sources[i];
                    crate::source::SourceStatus::bump(&source.status.refused);
                    tracing::debug!(source = source.name, request = name, error = %e.message, "source request refused");
                    source.status.set_error(format!("{name}: {}", e.message));
                }
            }
        }
        self.note_commit();
        busy
    }

    fn source_show(&self) -> Vec<SourceInfo> {
        use std::sync::atomic::Ordering::Relaxed;
        self.sources
            .iter()
            .map(|s| SourceInfo {
                name: s.name.to_string(),
                protocol: s.protocol.name().to_string(),
                connected: s.status.connected.load(Relaxed),
                routes: s.status.routes.load(Relaxed),
                messages: s.status.messages.load(Relaxed),
                resyncs: s.status.resyncs.load(Relaxed),
                ignored: s.status.ignored.load(Relaxed),
                refused: s.status.refused.load(Relaxed),
                last_error: s.status.last_error(),
            })
            .collect()
    }

    pub fn fib(&self) -> &Fib {
        &self.fib
    }

    pub fn fib_mut(&mut self) -> &mut Fib {
        &mut self.fib
    }

    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    pub fn counters(&self) -> RouterCounters {
        self.counters
    }

    /// Requests that changed state since the last call, for the journal.
    pub fn take_journal(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.journal_out)
    }

    pub fn core_ids(&self) -> Vec<u32> {
        self.cores.keys().copied().collect()
    }

    pub fn core_handle(&self, id: u32) -> Option<&CoreHandle<B::Packet>> {
        self.cores.get(&id).map(|c| &c.handle)
    }

    // ---- the loop ----

    /// One turn of the control loop's own work. Bounded: at most `max_punts` punted
    /// frames per core. Returns whether it found work.
    pub fn turn(&mut self, now: Instant, max_punts: usize) -> bool {
        self.fib.pump();
        // Events still waiting for room in a core's ring: come back soon.
        let mut busy = self.fib.has_undelivered();
        let ids: Vec<u32> = self.cores.keys().copied().collect();
        for id in ids {
            for _ in 0..max_punts {
                let Some(p) = self.cores[&id].handle.next_punt() else {
                    break;
                };
                busy = true;
                self.counters.punts_handled += 1;
                let actions =
                    self.slowpath
                        .handle(p.ingress, p.reason, p.egress_mtu, p.packet.data(), now);
                // A frame waiting on ARP is held (copied) until its neighbour resolves.
                let held = actions
                    .iter()
                    .any(|a| matches!(a, SlowAction::Resolve { .. }))
                    .then(|| p.packet.data().to_vec());
                drop(p);
                for a in actions {
                    self.slow_action(id, a, held.as_deref(), now);
                }
            }
        }
        if !self.pending.is_empty() {
            // Held frames whose neighbour never answered go (ARP gives up sooner).
            self.pending.retain(|_, frames| {
                frames.retain(|(at, _)| now.saturating_duration_since(*at) < PENDING_MAX_AGE);
                !frames.is_empty()
            });
        }
        let actions = self.neighbours.tick(now);
        busy |= !actions.is_empty();
        self.neighbour_actions(actions, now);
        self.note_commit();
        busy
    }

    fn slow_action(&mut self, core: u32, action: SlowAction, frame: Option<&[u8]>, now: Instant) {
        match action {
            SlowAction::Send { port, frame } => self.inject(Some(core), port, &frame),
            SlowAction::Learned { port, addr, mac } => {
                let a = self.neighbours.learned(port, addr, mac, now);
                self.neighbour_actions(a, now);
            }
            SlowAction::Resolve { port, dst } => self.resolve(port, dst, frame, now),
        }
    }

    /// A packet to `dst` (received on `port`) is waiting on an unresolved neighbour:
    /// resolve the gateway of its route, or the host itself on a connected subnet.
    /// The frame (if given) is held and sent once the neighbour resolves, as Linux
    /// queues packets on an incomplete neighbour: the first packet of a flow to a new
    /// host is not lost (a TCP SYN would otherwise wait a second for its retry).
    fn resolve(&mut self, port: PortId, dst: Ipv4Addr, frame: Option<&[u8]>, now: Instant) {
        let table = self
            .ports
            .get(port as usize)
            .map_or(TableId::MAIN, |p| p.table);
        let Ok(Some((_, route))) = self.fib.lookup(table, dst) else {
            return;
        };
        let (egress, target) = match self.fib.nexthop(route.nexthop) {
            Some((Nexthop::Gateway { port, gateway }, _)) => (port, gateway),
            Some((Nexthop::Connected { port }, _)) => {
                self.wanted_hosts.insert((port, dst));
                (port, dst)
            }
            _ => return,
        };
        if let Some(f) = frame {
            let key = (egress, target);
            if self.pending.len() < PENDING_NEIGHBOURS || self.pending.contains_key(&key) {
                let held = self.pending.entry(key).or_default();
                if held.len() < PENDING_PER_NEIGHBOUR {
                    held.push((now, f.to_vec()));
                }
            }
        }
        let a = self.neighbours.resolve(egress, target, now);
        self.neighbour_actions(a, now);
        // Already resolved (a core punted before it applied the MAC): send now.
        if let Some(mac) = self.neighbours.mac(egress, target) {
            self.send_pending(egress, target, mac);
        }
    }

    /// Sends the frames held for a neighbour that now has a MAC: what the core would
    /// have done (RFC 1812 TTL decrement, new MACs), for untagged frames that fit.
    fn send_pending(&mut self, port: PortId, addr: Ipv4Addr, mac: EthernetAddress) {
        let Some(frames) = self.pending.remove(&(port, addr)) else {
            return;
        };
        let Some(meta) = self.ports.get(port as usize) else {
            return;
        };
        let (src, mtu) = (meta.mac, usize::from(meta.mtu));
        for (_, mut f) in frames {
            // Untagged IPv4 with TTL > 1 (the core checked the header before it punted).
            if f.len() < 34 || f[12..14] != [0x08, 0x00] || f.len() - 14 > mtu || f[22] <= 1 {
                self.counters.injects_dropped += 1;
                continue;
            }
            f[0..6].copy_from_slice(&mac.0);
            f[6..12].copy_from_slice(&src.0);
            f[22] -= 1;
            // RFC 1624 incremental update: the TTL is the high byte of its word.
            let sum = u32::from(u16::from_be_bytes([f[24], f[25]])) + 0x0100;
            let sum = (sum & 0xffff) + (sum >> 16);
            f[24..26].copy_from_slice(&(sum as u16).to_be_bytes());
            self.inject(None, port, &f);
        }
    }

    fn neighbour_actions(&mut self, actions: Vec<NeighbourAction>, _now: Instant) {
        for a in actions {
            match a {
                NeighbourAction::SendArp { port, target } => {
                    if let Some(frame) = self.slowpath.arp_request(port, target) {
                        self.counters.arp_requests_sent += 1;
                        self.inject(None, port, &frame);
                    }
                }
                NeighbourAction::Resolved { port, addr, mac } => {
                    self.fib.set_neighbour(port, addr, Some(mac.0));
                    self.send_pending(port, addr, mac);
                    if self.wanted_hosts.remove(&(port, addr))
                        || self.on_connected_subnet(port, addr)
                    {
                        self.install_host_route(port, addr);
                    }
                }
                NeighbourAction::Unresolved { port, addr } => {
                    self.fib.set_neighbour(port, addr, None);
                    self.pending.remove(&(port, addr));
                    self.remove_host_route(port, addr);
                }
            }
        }
    }

    fn on_connected_subnet(&self, port: PortId, addr: Ipv4Addr) -> bool {
        self.addrs
            .iter()
            .any(|(p, a)| *p == port && a.subnet().contains(u32::from(addr)) && a.addr != addr)
    }

    /// A resolved host on a connected subnet gets a /32 through a gateway nexthop for
    /// itself, so cores forward to it directly (they punt `Connected` routes).
    fn install_host_route(&mut self, port: PortId, host: Ipv4Addr) {
        if self.host_routes.contains(&(port, host)) {
            return;
        }
        let table = self.ports[port as usize].table;
        let Ok(nh) = self.fib.nexthop_for(Nexthop::Gateway {
            port,
            gateway: host,
        }) else {
            return;
        };
        let prefix = Ipv4Prefix::truncate(u32::from(host), 32).expect("32");
        if self
            .fib
            .replace_route(table, prefix, Route::new(nh, Protocol::Connected))
            .is_ok()
        {
            self.host_routes.insert((port, host));
        }
    }

    fn remove_host_route(&mut self, port: PortId, host: Ipv4Addr) {
        if !self.host_routes.remove(&(port, host)) {
            return;
        }
        let table = self.ports[port as usize].table;
        let prefix = Ipv4Prefix::truncate(u32::from(host), 32).expect("32");
        let _ = self.fib.del_route(table, prefix, Protocol::Connected);
        self.release_if_unused(Nexthop::Gateway {
            port,
            gateway: host,
        });
    }

    fn release_if_unused(&mut self, nexthop: Nexthop) {
        if let Some(id) = self.fib.find_nexthop(&nexthop) {
            if self.fib.nexthop(id).is_some_and(|(_, refs)| refs == 0) {
                let _ = self.fib.del_nexthop(id);
            }
        }
    }

    /// Sends a frame on `port` through core `via` (or any running core).
    fn inject(&mut self, via: Option<u32>, port: PortId, frame: &[u8]) {
        let Some(slot) = via
            .and_then(|id| self.cores.get(&id))
            .or_else(|| self.cores.values().next())
        else {
            self.counters.injects_dropped += 1;
            return;
        };
        let handle = slot.handle.clone();
        let Some(mut pkt) = self.backend.alloc() else {
            self.counters.injects_dropped += 1;
            return;
        };
        if pkt.copy_from(frame).is_err() || handle.inject(pkt, port).is_err() {
            self.counters.injects_dropped += 1;
        }
    }

    // ---- requests ----

    /// Answers one control-socket request. A refused request changes nothing.
    pub fn handle(&mut self, request: Request) -> Response {
        self.counters.requests += 1;
        let now = Instant::now();
        let changes_state = matches!(
            request,
            Request::RouteAdd(_)
                | Request::RouteReplace(_)
                | Request::RouteDel(_)
                | Request::RouteLoad(_)
                | Request::NexthopAdd(_)
                | Request::NexthopDel { .. }
                | Request::NeighAdd(_)
                | Request::NeighDel(_)
                | Request::AddrAdd(_)
                | Request::AddrDel(_)
        );
        let journal_copy = changes_state.then(|| request.clone());
        let response = self.dispatch(request, now);
        self.note_commit();
        if let (Ok(_), Some(r)) = (&response, journal_copy) {
            self.journal_out.push(r);
        }
        response
    }

    fn dispatch(&mut self, request: Request, now: Instant) -> Response {
        match request {
            Request::Hello => Ok(Reply::Hello(HelloReply {
                protocol: proto::PROTOCOL_VERSION,
                daemon: format!("fibred {}", env!("CARGO_PKG_VERSION")),
            })),
            Request::RouteAdd(spec) => self.route_set(spec, false, now),
            Request::RouteReplace(spec) => self.route_set(spec, true, now),
            Request::RouteDel(d) => {
                let seq = self.fib.del_route(TableId(d.table), d.prefix, d.protocol)?;
                Ok(Reply::RouteChanged(RouteChanged { seq }))
            }
            Request::RouteShow(filter) => Ok(Reply::Routes(self.route_show(&filter))),
            Request::RouteGet(get) => self.route_get(get),
            Request::RouteLoad(batch) => Ok(Reply::BatchApplied(self.route_load(batch, now))),
            Request::NexthopAdd(spec) => {
                let nh = self.nexthop_of_spec(&spec)?;
                let id = self.fib.add_nexthop(nh)?;
                if let Nexthop::Gateway { port, gateway } = nh {
                    let a = self.neighbours.resolve(port, gateway, now);
                    self.neighbour_actions(a, now);
                }
                Ok(Reply::NexthopAdded(NexthopAdded { id: id.0 }))
            }
            Request::NexthopDel { id } => {
                self.fib.del_nexthop(NexthopId(id))?;
                Ok(Reply::Done)
            }
            Request::NexthopShow => Ok(Reply::Nexthops(
                self.fib
                    .nexthops()
                    .into_iter()
                    .map(|(id, _, _)| self.nexthop_info(id))
                    .collect(),
            )),
            Request::NeighAdd(n) => self.neigh_add(n, now),
            Request::NeighDel(n) => {
                let port = self.port(&n.port)?;
                let a = self
                    .neighbours
                    .remove(port, n.addr)
                    .map_err(|e| not_found(e.to_string()))?;
                self.neighbour_actions(a, now);
                Ok(Reply::Done)
            }
            Request::NeighShow(f) => {
                let only = f.port.as_ref().map(|p| self.port(p)).transpose()?;
                Ok(Reply::Neighbours(
                    self.neighbours
                        .entries()
                        .into_iter()
                        .filter(|n| only.is_none_or(|p| p == n.port))
                        .map(|n| NeighbourInfo {
                            addr: n.addr,
                            port: self.port_name(n.port),
                            mac: n.mac.map(|m| Mac(m.0)),
                            state: n.state.name().into(),
                        })
                        .collect(),
                ))
            }
            Request::AddrAdd(a) => self.addr_add(a),
            Request::AddrDel(a) => self.addr_del(a),
            Request::AddrShow(f) => {
                let only = f.port.as_ref().map(|p| self.port(p)).transpose()?;
                Ok(Reply::Addresses(
                    self.addrs
                        .iter()
                        .filter(|(p, _)| only.is_none_or(|o| o == *p))
                        .map(|(p, a)| AddressInfo {
                            port: self.port_name(*p),
                            addr: *a,
                        })
                        .collect(),
                ))
            }
            Request::LinkShow(f) => {
                let only = f.port.as_ref().map(|p| self.port(p)).transpose()?;
                Ok(Reply::Links(
                    (0..self.ports.len() as u16)
                        .filter(|p| only.is_none_or(|o| o == *p))
                        .map(|p| self.link_info(p))
                        .collect(),
                ))
            }
            Request::CoreShow => Ok(Reply::Cores(self.core_show(now))),
            Request::CoreAdd(c) => {
                let (id, cpu) = self.add_core(c.cpu)?;
                Ok(Reply::CoreAdded(CoreAdded { id, cpu }))
            }
            Request::CoreDel { id } => {
                self.del_core(id)?;
                Ok(Reply::Done)
            }
            Request::FibStatus => {
                let mut s = FibStatus::from_fib(&self.fib);
                (s.committed_seq, s.committed_at_ns) = self.last_commit;
                Ok(Reply::FibStatus(s))
            }
            Request::Stats => Ok(Reply::Stats(self.stats())),
            Request::SourceShow => Ok(Reply::Sources(self.source_show())),
        }
    }

    fn port(&self, r: &PortRef) -> Result<PortId, ErrorReply> {
        match r {
            PortRef::Index(i) if (*i as usize) < self.ports.len() => Ok(*i),
            PortRef::Name(n) => self
                .ports
                .iter()
                .position(|p| &p.name == n)
                .map(|i| i as PortId)
                .ok_or_else(|| not_found(format!("no port named {n:?}"))),
            PortRef::Index(i) => Err(not_found(format!(
                "no port {i} (there are {})",
                self.ports.len()
            ))),
        }
    }

    fn port_name(&self, p: PortId) -> String {
        self.ports
            .get(p as usize)
            .map_or_else(|| p.to_string(), |m| m.name.clone())
    }

    /// The port of the interface subnet `gateway` is on.
    fn port_for_gateway(&self, gateway: Ipv4Addr) -> Result<PortId, ErrorReply> {
        self.addrs
            .iter()
            .find(|(_, a)| a.subnet().contains(u32::from(gateway)))
            .map(|(p, _)| *p)
            .ok_or_else(|| {
                ErrorReply::invalid(format!(
                    "gateway {gateway} is not on any interface subnet; name the port (dev PORT)"
                ))
            })
    }

    fn nexthop_of_target(&self, target: &RouteTarget) -> Result<Nexthop, ErrorReply> {
        Ok(match target {
            RouteTarget::Via { gateway, port } => Nexthop::Gateway {
                port: match port {
                    Some(p) => self.port(p)?,
                    None => self.port_for_gateway(*gateway)?,
                },
                gateway: *gateway,
            },
            RouteTarget::Dev(p) => Nexthop::Connected {
                port: self.port(p)?,
            },
            RouteTarget::Blackhole => Nexthop::Blackhole,
            RouteTarget::Nexthop(id) => {
                self.fib
                    .nexthop(NexthopId(*id))
                    .ok_or_else(|| not_found(format!("nexthop {id} does not exist")))?
                    .0
            }
            RouteTarget::Multipath(_) => {
                return Err(ErrorReply::invalid(
                    "a multipath route's target is a list of paths, not one nexthop",
                ))
            }
        })
    }

    fn nexthop_of_spec(&self, spec: &NexthopSpec) -> Result<Nexthop, ErrorReply> {
        self.nexthop_of_target(&match spec {
            NexthopSpec::Via { gateway, port } => RouteTarget::Via {
                gateway: *gateway,
                port: port.clone(),
            },
            NexthopSpec::Dev(p) => RouteTarget::Dev(p.clone()),
            NexthopSpec::Blackhole => RouteTarget::Blackhole,
        })
    }

    /// Checks a multipath target without creating anything: 2 to `MAX_PATHS`
    /// distinct `via`/`dev` paths. Returns each path's nexthop.
    fn multipath_nexthops(&self, paths: &[RouteTarget]) -> Result<Vec<Nexthop>, ErrorReply> {
        let mut nexthops = Vec::with_capacity(paths.len());
        for p in paths {
            match p {
                RouteTarget::Via { .. } | RouteTarget::Dev(_) | RouteTarget::Nexthop(_) => {}
                other => {
                    return Err(ErrorReply::invalid(format!(
                        "a multipath route's paths are via or dev targets, not {other}"
                    )))
                }
            }
            let nh = self.nexthop_of_target(p)?;
            if !matches!(nh, Nexthop::Gateway { .. } | Nexthop::Connected { .. }) {
                return Err(ErrorReply::invalid(format!(
                    "a multipath route's paths are via or dev targets, not {nh}"
                )));
            }
            if !nexthops.contains(&nh) {
                nexthops.push(nh);
            }
        }
        if nexthops.len() < 2 || nexthops.len() > fib::MAX_PATHS {
            return Err(ErrorReply::invalid(format!(
                "a multipath route needs 2 to {} distinct paths, got {}",
                fib::MAX_PATHS,
                nexthops.len()
            )));
        }
        Ok(nexthops)
    }

    /// Checks a route target without creating anything.
    fn check_target(&self, target: &RouteTarget) -> Result<(), ErrorReply> {
        match target {
            RouteTarget::Multipath(paths) => self.multipath_nexthops(paths).map(|_| ()),
            t => self.nexthop_of_target(t).map(|_| ()),
        }
    }

    /// The nexthop id for a route target, creating the nexthop (and starting its
    /// neighbour's resolution) if needed. For a multipath target: the group over
    /// its paths' nexthops (created likewise).
    fn nexthop_id(&mut self, target: &RouteTarget, now: Instant) -> Result<NexthopId, ErrorReply> {
        if let RouteTarget::Multipath(paths) = target {
            let paths = paths.clone();
            self.multipath_nexthops(&paths)?;
            let mut members = Vec::with_capacity(paths.len());
            for p in &paths {
                members.push(self.nexthop_id(p, now)?);
            }
            return Ok(self.fib.group_for(&members)?);
        }
        if let RouteTarget::Nexthop(id) = target {
            self.fib
                .nexthop(NexthopId(*id))
                .ok_or_else(|| not_found(format!("nexthop {id} does not exist")))?;
            return Ok(NexthopId(*id));
        }
        let nh = self.nexthop_of_target(target)?;
        let id = self.fib.nexthop_for(nh)?;
        if let Nexthop::Gateway { port, gateway } = nh {
            if self.fib.nexthop_mac(id).is_none() {
                let a = self.neighbours.resolve(port, gateway, now);
                self.neighbour_actions(a, now);
            }
        }
        Ok(id)
    }

    fn route_set(&mut self, spec: RouteSpec, replace: bool, now: Instant) -> Response {
        let table = TableId(spec.table);
        // Refuse before creating anything, so a bad request changes nothing.
        let existing = self.fib.route(table, &spec.prefix)?;
        if !replace && existing.is_some_and(|e| e.find(spec.protocol).is_some()) {
            return Err(FibError::RouteExists {
                table,
                prefix: spec.prefix,
                protocol: spec.protocol,
            }
            .into());
        }
        self.check_target(&spec.target)?;
        let nexthop = self.nexthop_id(&spec.target, now)?;
        let mut route = Route::new(nexthop, spec.protocol);
        if let Some(d) = spec.distance {
            route = route.with_distance(d);
        }
        let seq = if replace {
            self.fib.replace_route(table, spec.prefix, route)?
        } else {
            self.fib.add_route(table, spec.prefix, route)?
        };
        Ok(Reply::RouteChanged(RouteChanged { seq }))
    }

    fn route_load(&mut self, batch: RouteBatch, now: Instant) -> BatchApplied {
        let table = TableId(batch.table);
        let mut applied = 0;
        let mut errors = Vec::new();
        let mut failed = 0;
        // Most routes of a file share a few targets: resolve each target once.
        let mut ids: Vec<(RouteTarget, NexthopId)> = Vec::new();
        for (index, r) in batch.routes.into_iter().enumerate() {
            let id = match ids.iter().find(|(t, _)| *t == r.target) {
                Some((_, id)) => Ok(*id),
                None => self
                    .nexthop_id(&r.target, now)
                    .inspect(|id| ids.push((r.target.clone(), *id))),
            };
            let result = id.and_then(|nh| {
                let mut route = Route::new(nh, batch.protocol);
                if let Some(d) = batch.distance {
                    route = route.with_distance(d);
                }
                if batch.replace {
                    self.fib.replace_route(table, r.prefix, route)
                } else {
                    self.fib.add_route(table, r.prefix, route)
                }
                .map_err(ErrorReply::from)
            });
            match result {
                Ok(_) => applied += 1,
                Err(e) => {
                    failed += 1;
                    if errors.len() < proto::MAX_BATCH_ERRORS {
                        errors.push(BatchError {
                            index,
                            message: e.message,
                        });
                    }
                }
            }
        }
        BatchApplied {
            applied,
            failed,
            errors,
            seq: self.fib.seq(),
        }
    }

    fn via_text(&self, nexthop: NexthopId) -> String {
        if let Some((group, _)) = self.fib.group(nexthop) {
            return group
                .members()
                .map(|m| format!("nexthop {}", self.via_text(m)))
                .collect::<Vec<_>>()
                .join(" ");
        }
        match self.fib.nexthop(nexthop) {
            Some((Nexthop::Gateway { port, gateway }, _)) => {
                format!("via {gateway} dev {}", self.port_name(port))
            }
            Some((Nexthop::Connected { port }, _)) => format!("dev {}", self.port_name(port)),
            Some((Nexthop::Local, _)) => "local".into(),
            Some((Nexthop::Blackhole, _)) => "blackhole".into(),
            None => format!("nexthop {nexthop} (gone)"),
        }
    }

    fn route_show(&self, filter: &RouteFilter) -> RouteList {
        let mut routes = Vec::new();
        for table in self.fib.table_ids() {
            if filter.table.is_some_and(|t| t != table.0) {
                continue;
            }
            let Ok(iter) = self.fib.routes(table) else {
                continue;
            };
            for (prefix, entry) in iter {
                for (i, r) in entry.routes().enumerate() {
                    if filter.matches(table.0, &prefix, r.protocol) {
                        routes.push(RouteInfo {
                            table: table.0,
                            prefix,
                            protocol: r.protocol,
                            distance: r.distance,
                            nexthop: r.nexthop.0,
                            via: String::new(),
                            installed: i == 0,
                        });
                    }
                }
            }
        }
        routes.sort_by_key(|r| (r.table, r.prefix.addr(), r.prefix.len(), !r.installed));
        let total = routes.len();
        if let Some(limit) = filter.limit {
            routes.truncate(limit);
        }
        for r in &mut routes {
            r.via = self.via_text(NexthopId(r.nexthop));
        }
        RouteList { routes, total }
    }

    fn route_get(&mut self, get: RouteGet) -> Response {
        let table = TableId(get.table);
        let (prefix, nexthop, seq) = match get.core {
            None => {
                let hit = self.fib.lookup(table, get.addr)?;
                (
                    hit.map(|(p, _)| p),
                    hit.map(|(_, r)| r.nexthop),
                    self.fib.seq(),
                )
            }
            Some(core) => {
                let slot = self
                    .cores
                    .get(&core)
                    .ok_or_else(|| not_found(format!("no core {core}")))?;
                let answer = slot
                    .handle
                    .query_route(
                        table,
                        u32::from(get.addr),
                        std::time::Duration::from_millis(500),
                    )
                    .ok_or_else(|| {
                        ErrorReply::new(ErrorKind::Busy, format!("core {core} did not answer"))
                    })?;
                // The core answers with its own table: the prefix is the FIB's view
                // of the matching route at the core's seq (informational).
                let prefix = self.fib.lookup(table, get.addr)?.map(|(p, _)| p);
                (
                    prefix.filter(|_| answer.nexthop.is_some()),
                    answer.nexthop,
                    answer.applied_seq,
                )
            }
        };
        Ok(Reply::RouteLookup(RouteLookup {
            addr: get.addr,
            table: get.table,
            core: get.core,
            prefix,
            nexthop: nexthop.map(|id| self.nexthop_info(id)),
            seq,
        }))
    }

    fn nexthop_info(&self, id: NexthopId) -> NexthopInfo {
        if let Some((_, refs)) = self.fib.group(id) {
            return NexthopInfo {
                id: id.0,
                kind: "multipath".into(),
                gateway: None,
                port: None,
                mac: None,
                refs,
            };
        }
        let (nh, refs) = self.fib.nexthop(id).unwrap_or((Nexthop::Blackhole, 0));
        let (kind, gateway, port) = match nh {
            Nexthop::Gateway { port, gateway } => {
                ("gateway", Some(gateway), Some(self.port_name(port)))
            }
            Nexthop::Connected { port } => ("connected", None, Some(self.port_name(port))),
            Nexthop::Local => ("local", None, None),
            Nexthop::Blackhole => ("blackhole", None, None),
        };
        NexthopInfo {
            id: id.0,
            kind: kind.into(),
            gateway,
            port,
            mac: self.fib.nexthop_mac(id).map(Mac),
            refs,
        }
    }

    fn neigh_add(&mut self, n: NeighSpec, now: Instant) -> Response {
        let port = self.port(&n.port)?;
        let mac = n
            .mac
            .ok_or_else(|| ErrorReply::invalid("a static neighbour needs a MAC (lladdr)"))?;
        let a = self
            .neighbours
            .add_static(port, n.addr, EthernetAddress(mac.0))
            .map_err(|e| ErrorReply::invalid(e.to_string()))?;
        self.neighbour_actions(a, now);
        Ok(Reply::Done)
    }

    /// An interface address: the connected route for its subnet, a local /32, and
    /// the slow path answering ARP and ICMP for it.
    pub fn addr_add(&mut self, a: AddrSpec) -> Response {
        let port = self.port(&a.port)?;
        if self.addrs.iter().any(|(_, x)| x.addr == a.addr.addr) {
            return Err(ErrorReply::new(
                ErrorKind::AlreadyExists,
                format!("address {} is already configured", a.addr.addr),
            ));
        }
        let table = self.ports[port as usize].table;
        let connected = self.fib.nexthop_for(Nexthop::Connected { port })?;
        let local = self.fib.nexthop_for(Nexthop::Local)?;
        self.fib.replace_route(
            table,
            a.addr.subnet(),
            Route::new(connected, Protocol::Connected),
        )?;
        self.fib
            .replace_route(table, a.addr.host(), Route::new(local, Protocol::Local))?;
        self.addrs.push((port, a.addr));
        self.sync_interfaces();
        Ok(Reply::Done)
    }

    fn addr_del(&mut self, a: AddrSpec) -> Response {
        let port = self.port(&a.port)?;
        let i = self
            .addrs
            .iter()
            .position(|(p, x)| *p == port && *x == a.addr)
            .ok_or_else(|| {
                not_found(format!(
                    "address {} is not on port {}",
                    a.addr,
                    self.port_name(port)
                ))
            })?;
        self.addrs.remove(i);
        let table = self.ports[port as usize].table;
        // Another address may share the subnet: keep its connected route then.
        if !self
            .addrs
            .iter()
            .any(|(p, x)| *p == port && x.subnet() == a.addr.subnet())
        {
            let _ = self
                .fib
                .del_route(table, a.addr.subnet(), Protocol::Connected);
        }
        let _ = self.fib.del_route(table, a.addr.host(), Protocol::Local);
        self.release_if_unused(Nexthop::Connected { port });
        self.release_if_unused(Nexthop::Local);
        self.sync_interfaces();
        Ok(Reply::Done)
    }

    fn sync_interfaces(&mut self) {
        let ifaces = self
            .addrs
            .iter()
            .map(|(p, a)| slowpath::InterfaceAddr {
                port: *p,
                addr: a.addr,
                prefix_len: a.len,
                mac: self.ports[*p as usize].mac,
            })
            .collect();
        self.slowpath.set_interfaces(ifaces);
    }

    fn link_info(&self, p: PortId) -> LinkInfo {
        let meta = &self.ports[p as usize];
        let link = self.backend.link(p);
        LinkInfo {
            index: p,
            name: meta.name.clone(),
            backend: self.backend.kind().into(),
            up: link.up,
            speed_mbps: link.speed_mbps,
            mac: Mac(meta.mac.0),
            mtu: meta.mtu,
            rx_packets: link.rx_packets,
            rx_bytes: link.rx_bytes,
            rx_dropped: link.rx_dropped,
            tx_packets: link.tx_packets,
            tx_bytes: link.tx_bytes,
            tx_dropped: link.tx_dropped,
        }
    }

    fn port_setups(&self) -> Vec<PortSetup> {
        self.ports
            .iter()
            .map(|p| PortSetup::new(p.mac).mtu(p.mtu).table(p.table))
            .collect()
    }

    /// Starts a forwarding core: it registers as a FIB listener and forwards once its
    /// replay has ended.
    pub fn add_core(&mut self, cpu: Option<usize>) -> Result<(u32, Option<usize>), ErrorReply> {
        let id = self.next_core;
        let name = format!("core{id}");
        let sub = self
            .fib
            .register(ListenerConfig::new(name).ring_capacity(self.listener_ring))?;
        let listener = sub.id();
        let setups = self.port_setups();
        match self.backend.start_core(id, cpu, setups, sub) {
            Ok(handle) => {
                self.next_core += 1;
                self.cores.insert(
                    id,
                    CoreSlot {
                        handle,
                        cpu,
                        listener,
                        last: (Instant::now(), 0),
                    },
                );
                tracing::info!(
                    core = id,
                    ?cpu,
                    "core started; it forwards once its replay ends"
                );
                Ok((id, cpu))
            }
            Err(e) => {
                let _ = self.fib.unregister(listener);
                Err(ErrorReply::new(ErrorKind::Limit, e))
            }
        }
    }

    pub fn del_core(&mut self, id: u32) -> Result<(), ErrorReply> {
        let slot = self
            .cores
            .remove(&id)
            .ok_or_else(|| not_found(format!("no core {id}")))?;
        self.backend
            .stop_core(id)
            .map_err(|e| ErrorReply::new(ErrorKind::Internal, e))?;
        let _ = self.fib.unregister(slot.listener);
        tracing::info!(core = id, "core stopped");
        Ok(())
    }

    /// Stops every route source and every core (shutdown).
    pub fn stop_all(&mut self) {
        for mut s in self.sources.drain(..) {
            s.shutdown();
        }
        for id in self.core_ids() {
            let _ = self.del_core(id);
        }
    }

    fn core_show(&mut self, now: Instant) -> Vec<CoreInfo> {
        let seq = self.fib.seq();
        let listeners = self.fib.listeners();
        let mut out = Vec::new();
        for (id, slot) in self.cores.iter_mut() {
            let st = slot.handle.stats();
            let (t0, f0) = slot.last;
            let dt = now.saturating_duration_since(t0).as_secs_f64();
            let pps = if dt > 0.0 {
                ((st.forwarded.saturating_sub(f0)) as f64 / dt) as u64
            } else {
                0
            };
            slot.last = (now, st.forwarded);
            let state = listeners
                .iter()
                .find(|l| l.id == slot.listener)
                .map_or("gone", |l| l.state)
                .to_string();
            out.push(CoreInfo {
                id: *id,
                name: slot.handle.name().to_string(),
                cpu: st.pinned_cpu.or(slot.cpu),
                state,
                applied_seq: st.applied_seq,
                lag: seq.saturating_sub(slot.handle.applied_seq()),
                in_sync: st.in_sync,
                rx_packets: st.rx_packets(),
                forwarded: st.forwarded,
                forwarded_pps: pps,
                drops: dataplane::forward::DropReason::ALL
                    .iter()
                    .filter(|r| st.dropped(**r) > 0)
                    .map(|r| (r.name().to_string(), st.dropped(*r)))
                    // Forwarded, then refused by a full TX queue: a drop too.
                    .chain(
                        Some(st.ports.iter().map(|p| p.tx_dropped).sum::<u64>())
                            .filter(|n| *n > 0)
                            .map(|n| ("tx_queue_full".to_string(), n)),
                    )
                    .collect(),
                punts: dataplane::forward::PuntReason::ALL
                    .iter()
                    .filter(|r| st.punted(**r) > 0)
                    .map(|r| (r.name().to_string(), st.punted(*r)))
                    .collect(),
            });
        }
        out
    }

    fn stats(&self) -> StatsReply {
        let cores = self
            .cores
            .iter()
            .map(|(id, slot)| {
                let st = slot.handle.stats();
                proto::CoreCounters {
                    id: *id,
                    name: slot.handle.name().to_string(),
                    rx_packets: st.rx_packets(),
                    rx_bytes: st.ports.iter().map(|p| p.rx_bytes).sum(),
                    tx_packets: st.tx_packets(),
                    tx_bytes: st.ports.iter().map(|p| p.tx_bytes).sum(),
                    tx_dropped: st.ports.iter().map(|p| p.tx_dropped).sum(),
                    forwarded: st.forwarded,
                    dropped: st.total_dropped(),
                    punted: st.total_punted(),
                    events_applied: st.events_applied,
                    applied_seq: st.applied_seq,
                }
            })
            .collect();
        StatsReply {
            uptime_ms: self.started.elapsed().as_millis() as u64,
            fib_seq: self.fib.seq(),
            cores,
            ports: (0..self.ports.len() as u16)
                .map(|p| self.link_info(p))
                .collect(),
            control: proto::ControlCounters {
                requests: self.counters.requests,
                clients: 0,
                clients_dropped: 0,
                punts_handled: self.counters.punts_handled,
                arp_requests_sent: self.counters.arp_requests_sent,
            },
        }
    }
}
