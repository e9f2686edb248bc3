//! A profiling harness for the forwarding core's pipeline, not a benchmark: the same
//! core, ports and table as `benches/pipeline.rs` (`synthetic-1m/random-dst/64B`), run a
//! fixed number of passes under callgrind, whose instruction counts are repeatable on a
//! shared machine where timings are not.
//!
//! ```text
//! cargo bench -p benches --bench pipeline_profile --no-run
//! PROFILE_PASSES=50 valgrind --tool=callgrind --toggle-collect='pipeline_profile::timed_pass' \
//!     target/release/deps/pipeline_profile-<hash>
//! ```
//! Instructions per packet = the collected `Ir` / the packets it prints. Only
//! `timed_pass` is collected (the core's `poll_once` until both in-memory ports are
//! drained: FIB poll, RX, the pipeline, TX, counters); the setup and the untimed
//! re-addressing of the frames between passes are not.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod pipeline_support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use dataplane::port::soft::SoftPool;
use dataplane::worker::ForwardingCore;
use pipeline_support::*;

/// One timed pass: poll until the ports are drained. The function callgrind collects.
#[inline(never)]
fn timed_pass(core: &mut ForwardingCore<MemPort>) -> u64 {
    let mut done = 0;
    loop {
        let n = core.poll_once() as u64;
        if n == 0 {
            return done;
        }
        done += n;
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the harness has no options of its own.
    let passes: usize = std::env::var("PROFILE_PASSES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let pool = SoftPool::new(MEM_FRAMES_PER_PORT * PORTS + 64);
    let (_fib, mut core) = core_with_1m_routes(&pool, MEM_FRAMES_PER_PORT, false, STREAM);
    // The setup's last polls may already forward some of the queued frames.
    let before = core.counters().snapshot().forwarded;
    let mut packets = 0u64;
    let mut elapsed = Duration::ZERO;
    for _ in 0..passes {
        refill(&mut core);
        let start = Instant::now();
        packets += black_box(timed_pass(&mut core));
        elapsed += start.elapsed();
    }
    let stats = core.counters().snapshot();
    assert_eq!(stats.forwarded - before, packets, "{:?}", stats.reasons());
    println!(
        "pipeline_profile: {packets} packets in {passes} passes, {:.1} ns/packet",
        elapsed.as_nanos() as f64 / packets as f64
    );
}
