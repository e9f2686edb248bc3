//! Cores on their own threads while the FIB changes: packets follow a new route once
//! the core's applied seq has reached the change, and a core added at runtime
//! forwards nothing before its replay ends and everything after.

mod core_support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use core_support::*;
use dataplane::port::soft::{SoftPool, SoftPort};
use dataplane::port::{Burst, Packet, Port};
use dataplane::worker::{CoreConfig, ForwardingCore, IdlePolicy};
use fib::{Ipv4Prefix, ListenerConfig, Protocol, Route, TableId};

fn frame_to(dst: Ipv4Addr, ident: u16) -> Vec<u8> {
    Spec::default()
        .with(|s| {
            s.ip.dst_addr = dst;
            s.ip.ident = ident;
        })
        .build()
}

fn send(pool: &SoftPool, wire: &mut SoftPort, frame: &[u8]) {
    let mut burst = Burst::new();
    let mut p = pool.alloc().unwrap();
    p.copy_from(frame).unwrap();
    burst.push(p).unwrap();
    assert_eq!(wire.tx_burst(&mut burst), 1);
}

fn recv_one(wires: &mut [SoftPort], timeout: Duration) -> Option<(usize, Vec<u8>)> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        for (i, w) in wires.iter_mut().enumerate() {
            let mut b = Burst::new();
            if w.rx_burst(&mut b) > 0 {
                assert_eq!(b.len(), 1);
                return Some((i, b.iter().next().unwrap().data().to_vec()));
            }
        }
        std::thread::yield_now();
    }
    None
}

#[test]
fn packets_follow_a_route_change_once_the_core_has_applied_it() {
    let TestFib {
        mut fib, gateway2, ..
    } = test_fib();
    let pool = SoftPool::new(1024);
    let (ports, mut wires): (Vec<_>, Vec<_>) = (0..3).map(|_| SoftPort::pair(&pool, 256)).unzip();
    let sub = fib.register(ListenerConfig::new("core 0")).unwrap();
    let config = CoreConfig::new("core 0", setups())
        .dir24(small_dir24())
        .idle(IdlePolicy::Yield);
    let (core, handle) = ForwardingCore::new(config, ports, sub).unwrap();
    let running = core.spawn().unwrap();
    fib.sync(fib.seq(), Duration::from_secs(10)).unwrap();

    let dst = Ipv4Addr::new(172, 16, 9, 9);
    let mut ident = 0;
    for round in 0..20 {
        // Alternate DST's /12 between port 1 (GATEWAY) and a /24 via port 2 (GATEWAY2).
        let more_specific = Ipv4Prefix::new(u32::from(dst) & !0xff, 24).unwrap();
        let seq = if round % 2 == 0 {
            fib.add_route(
                TableId::MAIN,
                more_specific,
                Route::new(gateway2, Protocol::Static),
            )
        } else {
            fib.del_route(TableId::MAIN, more_specific, Protocol::Static)
        }
        .unwrap()
        .expect("a change listeners see");
        let expect_port = if round % 2 == 0 { 2 } else { 1 };
        // Wait for the core to apply it (the control plane's view: its published seq).
        let deadline = Instant::now() + Duration::from_secs(10);
        while handle.applied_seq() < seq {
            fib.pump();
            assert!(Instant::now() < deadline, "core never applied seq {seq}");
            std::thread::yield_now();
        }
        for _ in 0..5 {
            ident += 1;
            send(&pool, &mut wires[0], &frame_to(dst, ident));
            let (port, bytes) = recv_one(&mut wires, Duration::from_secs(10)).expect("forwarded");
            assert_eq!(
                port, expect_port,
                "round {round}: old route used after seq {seq} was applied"
            );
            assert_eq!(u16::from_be_bytes([bytes[18], bytes[19]]), ident);
        }
    }
    let core = running.stop();
    let stats = handle.stats();
    assert_eq!(stats.forwarded, 100);
    assert_eq!(stats.applied_seq, fib.seq());
    assert!(stats.iterations > 0 && stats.events_applied > 0);
    assert_eq!(core.into_ports().len(), 3);
}

#[test]
fn core_added_at_runtime_forwards_nothing_before_its_replay_ends() {
    let TestFib {
        mut fib, gateway, ..
    } = test_fib();
    // A big table: 100k /24s under 20/8..; plus the test routes.
    let mut added = 0u32;
    for i in 0..100_000u32 {
        let p = Ipv4Prefix::new((20 << 24) | (i << 8), 24).unwrap();
        fib.add_route(TableId::MAIN, p, Route::new(gateway, Protocol::Static))
            .unwrap();
        added += 1;
    }
    assert_eq!(added, 100_000);
    let pool = SoftPool::new(2048);

    // A first core, already running and in sync.
    let (ports, _wires_a): (Vec<_>, Vec<_>) = (0..3).map(|_| SoftPort::pair(&pool, 64)).unzip();
    let sub = fib.register(ListenerConfig::new("core a")).unwrap();
    let (core_a, handle_a) = ForwardingCore::new(
        CoreConfig::new("core a", setups()).idle(IdlePolicy::Yield),
        ports,
        sub,
    )
    .unwrap();
    let running_a = core_a.spawn().unwrap();
    fib.sync(fib.seq(), Duration::from_secs(30)).unwrap();
    assert!(handle_a.in_sync());

    // The late core: a tiny budget makes its replay take many iterations.
    let (ports, mut wires): (Vec<_>, Vec<_>) = (0..3).map(|_| SoftPort::pair(&pool, 1024)).unzip();
    let sub = fib
        .register(ListenerConfig::new("core b").ring_capacity(64))
        .unwrap();
    let config = CoreConfig::new("core b", setups())
        .fib_budget(16)
        .idle(IdlePolicy::Yield);
    let (core_b, handle_b) = ForwardingCore::new(config, ports, sub).unwrap();
    // Frames are queued before the core starts: it must leave them in the queue.
    for i in 0..512u16 {
        let dst = Ipv4Addr::from((20u32 << 24) | (u32::from(i) << 8) | 1);
        send(&pool, &mut wires[0], &frame_to(dst, i));
    }
    let running_b = core_b.spawn().unwrap();
    let mut saw_replaying = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !handle_b.in_sync() {
        fib.pump();
        let stats = handle_b.stats();
        if !stats.in_sync && stats.iterations > 0 {
            saw_replaying += 1;
            assert_eq!(stats.port(0).rx_packets, 0, "polled RX during its replay");
            assert_eq!(stats.forwarded, 0);
            let mut b = Burst::new();
            assert_eq!(
                wires[1].rx_burst(&mut b),
                0,
                "transmitted during its replay"
            );
        }
        assert!(Instant::now() < deadline, "replay never ended");
        std::thread::yield_now();
    }
    assert!(
        saw_replaying > 10,
        "the replay was too short to observe ({saw_replaying})"
    );
    // After the replay: all 512 forwarded, in order, through the right adjacency.
    let mut got = 0u16;
    let deadline = Instant::now() + Duration::from_secs(10);
    while got < 512 {
        let mut b = Burst::new();
        wires[1].rx_burst(&mut b);
        for p in b.iter() {
            assert_eq!(u16::from_be_bytes([p.data()[18], p.data()[19]]), got);
            assert_eq!(&p.data()[0..6], &NEXTHOP_MAC.0);
            got += 1;
        }
        assert!(Instant::now() < deadline, "only {got} of 512 forwarded");
    }
    running_b.stop();
    running_a.stop();
    let stats = handle_b.stats();
    assert_eq!(stats.forwarded, 512);
    assert_accounted(&stats);
}
