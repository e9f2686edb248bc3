//! A core pins itself to its configured CPU even when the thread that starts it is
//! confined to another one (as EAL confines a DPDK daemon's main thread to its main
//! lcore, and spawned threads inherit that).

mod core_support;

use core_support::*;
use dataplane::port::soft::{SoftPool, SoftPort};
use dataplane::worker::{CoreConfig, ForwardingCore};
use fib::ListenerConfig;
use std::time::{Duration, Instant};

#[test]
fn a_core_pins_to_its_cpu_outside_the_mask_it_inherited() {
    let cpus = core_affinity::get_core_ids().expect("CPU list");
    assert!(cpus.len() >= 2, "this test needs two CPUs, found {cpus:?}");
    let (confined, target) = (cpus[0], cpus[1]);
    std::thread::spawn(move || {
        assert!(core_affinity::set_for_current(confined));
        let TestFib { mut fib, .. } = test_fib();
        let pool = SoftPool::new(1024);
        let ports: Vec<SoftPort> = (0..3).map(|_| SoftPort::pair(&pool, 64).0).collect();
        let sub = fib.register(ListenerConfig::new("pinned")).unwrap();
        let config = CoreConfig::new("pinned", setups())
            .dir24(small_dir24())
            .cpu(target.id);
        let (core, handle) = ForwardingCore::new(config, ports, sub).unwrap();
        let running = core.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while handle.stats().pinned_cpu.is_none() && Instant::now() < deadline {
            fib.pump();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(handle.stats().pinned_cpu, Some(target.id));
        running.stop();
    })
    .join()
    .unwrap();
}
