//! The kernel mirror (`source::kernel::mirror::Mirror`) driven as its thread drives
//! it, by a script of socket events read from the input: netlink datagrams (route,
//! link, address notifications, dump parts, `NLMSG_DONE`/`NLMSG_ERROR` of our dump),
//! dumps begun when one is due, `ENOBUFS`, a reopened socket, a refused dump, and the
//! clock moving. Every route message goes through the classifier (`classify`, on
//! the shared decoder) and the aliases per prefix.
//!
//! Invariants: no panic; the requests the mirror makes keep fibre exactly equal to
//! its view at every step (`FibModel`): only `kernel` replaces and deletes, no
//! delete of a route it never installed.
//!
//! Script, byte by byte: `op % 6` = 0 begin a dump (sequence numbers 1, 2, ...) if
//! one is due; 1 a datagram of the next `u16` (little endian) bytes; 2 overflow;
//! 3 socket reopened; 4 dump refused; 5 the clock moves by the next byte × 10 ms.
//! The socket's netlink port is `PORT`; the mirrored table is main (254), mirrored
//! into fibre's table 7.

#![no_main]

use control::source::kernel::mirror::{DumpPolicy, Mirror};
use control::source::kernel::KernelCounters;
use control::source::SourceStatus;
use fibre_fuzz::FibModel;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PORT: u32 = 0x1000;

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut mirror = Mirror::new(
        254,
        7,
        None,
        DumpPolicy {
            attempts: 3,
            retry_after: Duration::from_millis(500),
        },
        Arc::new(SourceStatus::default()),
        Arc::new(KernelCounters::default()),
        now,
    );
    let mut model = FibModel::new(fib::Protocol::Kernel);
    let mut seq = 0u32;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 6 {
            0 => {
                if mirror.dump_due(now) {
                    seq += 1;
                    mirror.begin_dump(seq);
                    assert!(mirror.dumping());
                }
            }
            1 => {
                let len = match rest {
                    [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
                    _ => 0,
                };
                rest = rest.get(2..).unwrap_or(&[]);
                let (datagram, tail) = rest.split_at(len.min(rest.len()));
                rest = tail;
                mirror.on_datagram(datagram, PORT, now);
            }
            2 => mirror.on_overflow(now),
            3 => mirror.disconnected(now),
            4 => mirror.dump_failed(now, "refused by the fuzzer"),
            _ => {
                let ticks = rest.first().copied().unwrap_or(1);
                rest = rest.get(1..).unwrap_or(&[]);
                now += Duration::from_millis(u64::from(ticks) * 10);
            }
        }
        model.apply(&mirror.take_requests());
        model.check(mirror.view());
        assert_eq!(mirror.routes(), model.len());
        if mirror.dumping() {
            assert_eq!(mirror.next_due(), None);
        }
    }
});
