//! The router's side of punted frames: each core's punts go through the
//! [`SlowPath`](super::SlowPath), and what it decides is carried out here (send a
//! reply through the core, learn a neighbour, resolve and hold a frame).

use super::SlowAction;
use crate::daemon::{Backend, Router};
use crate::neighbours::resolve;
use dataplane::port::Packet;
use std::time::Instant;

/// Handles up to `max_punts` punted frames per core. Returns whether there were any.
pub fn handle<B: Backend>(r: &mut Router<B>, now: Instant, max_punts: usize) -> bool {
    let mut busy = false;
    for id in r.cores.ids() {
        for _ in 0..max_punts {
            let Some(p) = r.cores.slots[&id].handle.next_punt() else {
                break;
            };
            busy = true;
            r.counters.punts_handled += 1;
            let actions =
                r.slowpath
                    .handle(p.ingress, p.reason, p.egress_mtu, p.packet.data(), now);
            // A frame waiting on ARP is held (copied) until its neighbour resolves.
            let held = actions
                .iter()
                .any(|a| matches!(a, SlowAction::Resolve { .. }))
                .then(|| p.packet.data().to_vec());
            drop(p);
            for a in actions {
                act(r, id, a, held.as_deref(), now);
            }
        }
    }
    busy
}

fn act<B: Backend>(
    r: &mut Router<B>,
    core: u32,
    action: SlowAction,
    frame: Option<&[u8]>,
    now: Instant,
) {
    match action {
        SlowAction::Send { port, frame } => crate::cores::inject(r, Some(core), port, &frame),
        SlowAction::Learned { port, addr, mac } => {
            let a = r.neighbours.table.learned(port, addr, mac, now);
            resolve::apply(r, a);
        }
        SlowAction::Resolve { port, dst } => resolve::resolve_for(r, port, dst, frame, now),
    }
}
