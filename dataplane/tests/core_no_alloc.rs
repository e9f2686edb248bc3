//! The packet path of a forwarding core never allocates: a counting global allocator
//! watches one thread while it runs warm loop iterations with traffic (forwarded,
//! punted, dropped and injected frames).

mod core_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use core_support::*;
use dataplane::port::Packet;
use dataplane::worker::AuditJob;

struct CountingAllocator;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the bookkeeping
// touches only const-initialised thread-locals (no allocation, no re-entrancy).
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count() {
    let _ = WATCHING.try_with(|w| {
        if w.get() {
            let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
        }
    });
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn loop_iterations_with_traffic_do_not_allocate() {
    let mut rig = rig();
    let forwarded = Spec::default().build();
    let punted = Spec::default().with(|s| s.ip.ttl = 1).build();
    let dropped = Spec::default()
        .with(|s| s.ip.dst_addr = DST_BLACKHOLE)
        .build();
    let frames: Vec<Vec<u8>> = (0..30)
        .map(|i| match i % 3 {
            0 => forwarded.clone(),
            1 => punted.clone(),
            _ => dropped.clone(),
        })
        .collect();
    // The allocator does see this thread's allocations.
    WATCHING.with(|w| w.set(true));
    drop(std::hint::black_box(vec![1u8; 3]));
    WATCHING.with(|w| w.set(false));
    assert_eq!(ALLOCATIONS.with(|a| a.replace(0)), 1);

    // Warm up (first touches of the tables, lazily initialised statics).
    rig.send(0, &frames);
    rig.run();
    rig.received_all();
    while rig.handle.next_punt().is_some() {}

    let mut allocations = 0;
    for round in 0..20 {
        rig.send(0, &frames);
        let mut inject = rig.pool.alloc().unwrap();
        inject.copy_from(&forwarded).unwrap();
        rig.handle.inject(inject, 2).unwrap();
        // An audit of one /16's 256 /24s (a step): the job is the control plane's
        // allocation; the core only fills it.
        let ranges = fib::audit::RangeSet::WHOLE
            .split(10)
            .and_then(|s| s.split(0))
            .unwrap();
        let job = AuditJob::new(round, fib::TableId::MAIN, ranges);
        rig.handle.submit_audit(job).unwrap();
        WATCHING.with(|w| w.set(true));
        for _ in 0..4 {
            rig.core.poll_once();
        }
        WATCHING.with(|w| w.set(false));
        allocations += ALLOCATIONS.with(|a| a.replace(0));
        let back = rig.handle.take_audit().expect("the audit is done");
        assert!(back.is_done() && back.token == round);
        rig.received_all();
        while rig.handle.next_punt().is_some() {}
    }
    let stats = rig.stats();
    assert_eq!(stats.forwarded, 21 * 10);
    assert_eq!(stats.injected, 20);
    assert_eq!(allocations, 0, "the core allocated {allocations} times");
}
