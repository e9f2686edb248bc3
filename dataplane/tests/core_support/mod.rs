//! A forwarding core over software ports, with a FIB, for the core tests.
//! (A directory module, so cargo does not build it as a test of its own.)

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dataplane::forward::Adjacency;
use dataplane::port::soft::{SoftPacket, SoftPool, SoftPort};
use dataplane::port::{Burst, Packet, Port};
use dataplane::wire::EthernetAddress;
use dataplane::worker::{CoreConfig, CoreHandle, CoreStats, ForwardingCore, PortSetup};
use fib::{
    Fib, FibConfig, Ipv4Prefix, ListenerConfig, Nexthop, NexthopId, Protocol, Route, TableId,
};

#[path = "../forward_support/mod.rs"]
pub mod forward_support;
pub use forward_support::*;

/// Router port MACs: port 0 is where test frames arrive (INGRESS_MAC), port 1 the
/// egress of the gateway route (EGRESS_MAC), port 2 a port in VRF 100.
pub const PORT_MACS: [EthernetAddress; 3] = [
    INGRESS_MAC,
    EGRESS_MAC,
    EthernetAddress([0x02, 0xf1, 0x00, 0x00, 0x00, 0x03]),
];
pub const VRF: TableId = TableId(100);
/// MTU of port 1.
pub const EGRESS_MTU: u16 = 1500;
/// The gateway on port 1 that `DST`'s route goes through.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 9);
/// A second gateway, on port 2, for route changes.
pub const GATEWAY2: Ipv4Addr = Ipv4Addr::new(10, 8, 8, 8);
pub const GATEWAY2_MAC: EthernetAddress = EthernetAddress([0x02, 0x4e, 0x00, 0x00, 0x00, 0x03]);
/// Destinations with special routes.
pub const DST_UNRESOLVED: Ipv4Addr = Ipv4Addr::new(172, 20, 0, 1); // via 10.9.9.10, no MAC
pub const DST_CONNECTED: Ipv4Addr = Ipv4Addr::new(172, 21, 0, 1); // dev 1
pub const DST_BLACKHOLE: Ipv4Addr = Ipv4Addr::new(172, 22, 0, 1);
pub const DST_NO_ROUTE: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);

pub fn prefix(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

/// The adjacency frames to `DST` are forwarded through.
pub fn egress_adjacency() -> Adjacency {
    Adjacency {
        port: 1,
        dst_mac: NEXTHOP_MAC,
        src_mac: EGRESS_MAC,
        mtu: EGRESS_MTU,
    }
}

/// The test FIB: `DST`'s /12 via GATEWAY (resolved) on port 1, the router's own
/// addresses (`LOCAL`) as /32 Local routes, and the special destinations above.
pub struct TestFib {
    pub fib: Fib,
    pub gateway: NexthopId,
    pub gateway2: NexthopId,
    pub local: NexthopId,
}

pub fn test_fib() -> TestFib {
    let mut fib = Fib::new(FibConfig::default());
    let stat = |nh| Route::new(nh, Protocol::Static);
    fib.set_neighbour(1, GATEWAY, Some(NEXTHOP_MAC.0));
    fib.set_neighbour(2, GATEWAY2, Some(GATEWAY2_MAC.0));
    let gateway = fib
        .add_nexthop(Nexthop::Gateway {
            port: 1,
            gateway: GATEWAY,
        })
        .unwrap();
    let gateway2 = fib
        .add_nexthop(Nexthop::Gateway {
            port: 2,
            gateway: GATEWAY2,
        })
        .unwrap();
    let unresolved = fib
        .add_nexthop(Nexthop::Gateway {
            port: 1,
            gateway: Ipv4Addr::new(10, 9, 9, 10),
        })
        .unwrap();
    let connected = fib.add_nexthop(Nexthop::Connected { port: 1 }).unwrap();
    let blackhole = fib.add_nexthop(Nexthop::Blackhole).unwrap();
    let local = fib.add_nexthop(Nexthop::Local).unwrap();
    let main = TableId::MAIN;
    fib.add_route(main, prefix("172.16.0.0/12"), stat(gateway))
        .unwrap();
    fib.add_route(main, prefix("172.20.0.0/16"), stat(unresolved))
        .unwrap();
    fib.add_route(
        main,
        prefix("172.21.0.0/16"),
        Route::new(connected, Protocol::Connected),
    )
    .unwrap();
    fib.add_route(main, prefix("172.22.0.0/16"), stat(blackhole))
        .unwrap();
    for addr in LOCAL {
        let p = Ipv4Prefix::new(addr, 32).unwrap();
        fib.add_route(main, p, Route::new(local, Protocol::Local))
            .unwrap();
    }
    fib.add_table(VRF).unwrap();
    fib.add_route(VRF, prefix("172.16.0.0/12"), stat(gateway2))
        .unwrap();
    TestFib {
        fib,
        gateway,
        gateway2,
        local,
    }
}

/// The port setups of the test core.
pub fn setups() -> Vec<PortSetup> {
    vec![
        PortSetup::new(PORT_MACS[0]),
        PortSetup::new(PORT_MACS[1]).mtu(EGRESS_MTU),
        PortSetup::new(PORT_MACS[2]).table(VRF),
    ]
}

/// A core over three software ports, and the far ends of the links.
pub struct Rig {
    pub fib: Fib,
    pub ids: (NexthopId, NexthopId, NexthopId),
    pub core: ForwardingCore<SoftPort>,
    pub handle: CoreHandle<SoftPacket>,
    /// The far end of each core port: send here to reach the core, receive what it sent.
    pub wires: Vec<SoftPort>,
    pub pool: SoftPool,
}

pub fn rig() -> Rig {
    rig_with(|c| c)
}

pub fn rig_with(edit: impl FnOnce(CoreConfig) -> CoreConfig) -> Rig {
    let TestFib {
        mut fib,
        gateway,
        gateway2,
        local,
    } = test_fib();
    let pool = SoftPool::new(4096);
    let (ports, wires): (Vec<_>, Vec<_>) = (0..3).map(|_| SoftPort::pair(&pool, 512)).unzip();
    let sub = fib.register(ListenerConfig::new("test core")).unwrap();
    let config = edit(CoreConfig::new("test core", setups()).dir24(small_dir24()));
    let (core, handle) = ForwardingCore::new(config, ports, sub).unwrap();
    let mut rig = Rig {
        fib,
        ids: (gateway, gateway2, local),
        core,
        handle,
        wires,
        pool,
    };
    rig.sync();
    rig
}

/// A small tbl8 pool: the tests' tables are tiny.
pub fn small_dir24() -> fib::Dir24Config {
    fib::Dir24Config {
        tbl8_groups: 16,
        tbl8_groups_max: 1 << 12,
    }
}

impl Rig {
    /// Pumps the FIB and polls the core until the core has applied the FIB's seq.
    pub fn sync(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.fib.pump();
            self.core.poll_once();
            if self.core.tables().is_complete()
                && self.core.subscription().applied_seq() == self.fib.seq()
                && self.core.subscription().queued() == 0
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "core never caught up with the FIB"
            );
        }
    }

    /// Sends frames into core port `port`.
    pub fn send(&mut self, port: usize, frames: &[Vec<u8>]) {
        for chunk in frames.chunks(32) {
            let mut burst = Burst::new();
            for f in chunk {
                let mut p = self.pool.alloc().expect("pool has room");
                p.copy_from(f).unwrap();
                burst.push(p).unwrap();
            }
            let n = burst.len();
            assert_eq!(self.wires[port].tx_burst(&mut burst), n, "link full");
        }
    }

    /// Everything the core sent out of port `port` so far.
    pub fn received(&mut self, port: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let mut burst = Burst::new();
            if self.wires[port].rx_burst(&mut burst) == 0 {
                return out;
            }
            out.extend(burst.iter().map(|p| p.data().to_vec()));
        }
    }

    /// Every frame any port sent.
    pub fn received_all(&mut self) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        for port in 0..self.wires.len() {
            out.extend(self.received(port).into_iter().map(|f| (port, f)));
        }
        out
    }

    /// Polls the core until its ports have nothing left to receive.
    pub fn run(&mut self) {
        for _ in 0..1000 {
            let pending: usize = self.core.ports().iter().map(|p| p.rx_pending()).sum();
            if pending == 0 && self.core.poll_once() == 0 {
                return;
            }
            if pending > 0 {
                self.core.poll_once();
            }
        }
        panic!("core never drained its ports");
    }

    /// Sends `frame` on port 0, runs the core, returns what came out (port, bytes).
    pub fn through(&mut self, frame: &[u8]) -> Vec<(usize, Vec<u8>)> {
        self.send(0, &[frame.to_vec()]);
        self.run();
        self.received_all()
    }

    pub fn stats(&self) -> CoreStats {
        self.handle.stats()
    }
}

/// Every received packet counted exactly once: forwarded, dropped or punted.
pub fn assert_accounted(stats: &CoreStats) {
    assert_eq!(
        stats.rx_packets(),
        stats.forwarded + stats.total_dropped() + stats.total_punted() + stats.bad_egress_port,
        "packets not accounted for: {stats:?}"
    );
}

/// Internet checksum of an IPv4 header computed from scratch (checksum field zeroed).
pub fn fresh_checksum(header: &[u8]) -> u16 {
    let mut h = header.to_vec();
    h[10] = 0;
    h[11] = 0;
    let mut sum: u32 = 0;
    for pair in h.chunks(2) {
        sum += (u32::from(pair[0]) << 8) | u32::from(*pair.get(1).unwrap_or(&0));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
