//! What the pipeline bench and the pipeline profiling harness share: in-memory ports,
//! the frames, and a core in step with the 1M-route synthetic table.
//! (A directory module, so cargo does not build it as a bench of its own.)

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use benches::addrs::AddressStream;
use benches::routes::{self, DEFAULT_NEXTHOPS};
use dataplane::port::soft::{SoftPacket, SoftPool};
use dataplane::port::{Burst, Packet, Port, PortCounters};
use dataplane::wire::{EtherType, EthernetAddress, EthernetRepr, IpProtocol, Ipv4Repr};
use dataplane::worker::{CoreConfig, ForwardingCore, PortSetup};
use fib::{Fib, FibConfig, ListenerConfig, Nexthop, Protocol, Route, TableId};

/// Frames in flight per port with the inline generator (a NIC RX ring's worth).
pub const FRAMES_PER_PORT: usize = 1024;
/// Frames per port already in memory for the pipeline-alone bench.
pub const MEM_FRAMES_PER_PORT: usize = 1024;
pub const PORTS: usize = 2;
/// Destinations the generator cycles through.
pub const STREAM: usize = 1 << 24;

/// One's-complement checksum update of RFC 1624 eqn. 3 for one 16-bit word.
#[inline(always)]
fn csum_update(hc: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// Port `p`'s MAC: the destination MAC of every frame it receives (the core drops
/// unicast frames for any other, `l2_other_host`).
pub fn port_mac(p: usize) -> EthernetAddress {
    EthernetAddress([0x02, 0xf1, 0, 0, 0, p as u8])
}

/// An in-memory port: a loopback ring without atomics, whose TX side re-addresses
/// each frame (see the module docs).
pub struct MemPort {
    pub ring: VecDeque<SoftPacket>,
    /// The port's MAC, written as the destination of every frame it loops back.
    mac: EthernetAddress,
    /// Re-address frames as they are sent (else keep them in `sent`).
    regen_on_tx: bool,
    pub sent: Vec<SoftPacket>,
    stream: std::sync::Arc<Vec<u32>>,
    next: usize,
    counters: PortCounters,
}

impl MemPort {
    #[inline(always)]
    pub fn regenerate(&mut self, data: &mut [u8]) {
        let dst = self.stream[self.next];
        self.next = (self.next + 1) & (STREAM - 1);
        // Back to the port (the router wrote its nexthop's MAC there).
        data[0..6].copy_from_slice(&self.mac.0);
        let ip = &mut data[14..34];
        let mut hc = u16::from_be_bytes([ip[10], ip[11]]);
        // TTL back to 64 (the router took one off).
        let old_ttl_word = u16::from_be_bytes([ip[8], ip[9]]);
        let new_ttl_word = (64 << 8) | u16::from(ip[9]);
        hc = csum_update(hc, old_ttl_word, new_ttl_word);
        let old_hi = u16::from_be_bytes([ip[16], ip[17]]);
        let old_lo = u16::from_be_bytes([ip[18], ip[19]]);
        hc = csum_update(hc, old_hi, (dst >> 16) as u16);
        hc = csum_update(hc, old_lo, dst as u16);
        ip[8] = 64;
        ip[16..20].copy_from_slice(&dst.to_be_bytes());
        ip[10..12].copy_from_slice(&hc.to_be_bytes());
    }
}

impl Port for MemPort {
    type Packet = SoftPacket;

    #[inline]
    fn rx_burst(&mut self, burst: &mut Burst<SoftPacket>) -> usize {
        let mut n = 0;
        while !burst.is_full() {
            let Some(p) = self.ring.pop_front() else {
                break;
            };
            let _ = burst.push(p);
            n += 1;
        }
        self.counters.rx_packets += n as u64;
        n
    }

    #[inline]
    fn tx_burst(&mut self, burst: &mut Burst<SoftPacket>) -> usize {
        let n = burst.len();
        if self.regen_on_tx {
            while let Some(mut p) = burst.pop() {
                self.regenerate(p.data_mut());
                self.ring.push_back(p);
            }
        } else {
            while let Some(p) = burst.pop() {
                self.sent.push(p);
            }
        }
        self.counters.tx_packets += n as u64;
        n
    }

    fn alloc(&mut self) -> Option<SoftPacket> {
        None
    }

    fn counters(&self) -> PortCounters {
        self.counters
    }
}

/// A 64-byte IPv4/UDP frame to `dst` (TTL 64, total length 50) for a port whose MAC
/// is `mac`, as the wire module emits it.
pub fn frame(mac: EthernetAddress, dst: u32) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    let ethernet = EthernetRepr {
        dst_addr: mac,
        src_addr: EthernetAddress([0x02, 0x5e, 0, 0, 0, 1]),
        vlan: None,
        ethertype: EtherType::IPV4,
    };
    let l3 = ethernet.emit(&mut f).expect("64 bytes hold the headers");
    Ipv4Repr::new(
        Ipv4Addr::new(10, 1, 2, 3),
        Ipv4Addr::from(dst),
        IpProtocol::UDP,
        30,
        64,
    )
    .emit(&mut f[l3..])
    .expect("64 bytes hold the headers");
    f
}

/// A core over two MemPorts, in sync with a FIB holding the 1M-route table whose
/// 1024 nexthops are resolved gateways alternating between the ports.
pub fn core_with_1m_routes(
    pool: &SoftPool,
    frames_per_port: usize,
    regen_on_tx: bool,
    distinct_dsts: usize,
) -> (Fib, ForwardingCore<MemPort>) {
    let table = routes::synthetic_1m();
    let mut fib = Fib::new(FibConfig::default());
    for i in 0..DEFAULT_NEXTHOPS {
        let port = (i % PORTS as u32) as u16;
        let gateway = Ipv4Addr::from(0x0a00_0000 | (i + 1));
        let mac = [0x02, 0x4e, 0, 0, (i >> 8) as u8, i as u8];
        fib.set_neighbour(port, gateway, Some(mac));
        let id = fib.add_nexthop(Nexthop::Gateway { port, gateway }).unwrap();
        assert_eq!(id.0, i);
    }
    for r in &table {
        fib.add_route(
            TableId::MAIN,
            r.prefix,
            Route::new(r.nexthop, Protocol::Static),
        )
        .unwrap();
    }
    let mut stream = AddressStream::FromRoutes.generate(&table, STREAM, 7);
    // Cycle through the first `distinct_dsts` destinations only (all of them: STREAM).
    for i in distinct_dsts..STREAM {
        stream[i] = stream[i % distinct_dsts];
    }
    let stream = std::sync::Arc::new(stream);
    let ports: Vec<MemPort> = (0..PORTS)
        .map(|p| {
            let mut ring = VecDeque::with_capacity(frames_per_port * PORTS);
            for i in 0..frames_per_port {
                let mut pkt = pool.alloc().unwrap();
                pkt.copy_from(&frame(
                    port_mac(p),
                    stream[(p * frames_per_port + i) % STREAM],
                ))
                .unwrap();
                ring.push_back(pkt);
            }
            MemPort {
                ring,
                mac: port_mac(p),
                regen_on_tx,
                sent: Vec::with_capacity(frames_per_port * PORTS),
                stream: stream.clone(),
                next: p * (STREAM / PORTS),
                counters: PortCounters::default(),
            }
        })
        .collect();
    let setups = (0..PORTS).map(|p| PortSetup::new(port_mac(p))).collect();
    let sub = fib.register(ListenerConfig::new("bench core")).unwrap();
    let config = CoreConfig::new("bench core", setups).fib_budget(1 << 16);
    let (mut core, _handle) = ForwardingCore::new(config, ports, sub).unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !(core.tables().is_complete() && core.subscription().applied_seq() == fib.seq()) {
        fib.pump();
        core.poll_once();
        assert!(Instant::now() < deadline, "replay too slow");
    }
    (fib, core)
}

/// Gives every frame a port has sent a new destination and its TTL back, and queues
/// it for receiving again (the wire, untimed).
pub fn refill(core: &mut ForwardingCore<MemPort>) {
    for port in core.ports_mut() {
        let mut sent = std::mem::take(&mut port.sent);
        for mut p in sent.drain(..) {
            port.regenerate(p.data_mut());
            port.ring.push_back(p);
        }
        port.sent = sent;
    }
}
