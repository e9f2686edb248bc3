//! `core add|del|show`. A new core registers as a FIB listener and forwards once
//! its replay has ended; a deleted one is stopped and unregistered.

use super::{CoreAdd, CoreAdded, CoreDel, CoreInfo, CoreSlot};
use crate::daemon::backend::CoreStart;
use crate::daemon::{Backend, Router};
use crate::proto::{ErrorKind, ErrorReply, Reply, Response};
use dataplane::forward::{DropReason, PuntReason};
use dataplane::worker::PortSetup;
use fib::ListenerConfig;
use std::time::Instant;

pub fn add<B: Backend>(r: &mut Router<B>, c: CoreAdd) -> Response {
    let (id, cpu) = start(r, c.cpu)?;
    Ok(Reply::CoreAdded(CoreAdded { id, cpu }))
}

pub fn del<B: Backend>(r: &mut Router<B>, c: CoreDel) -> Response {
    stop(r, c.id)?;
    Ok(Reply::Done)
}

/// Starts a forwarding core (pinned to `cpu` if given).
pub fn start<B: Backend>(
    r: &mut Router<B>,
    cpu: Option<usize>,
) -> Result<(u32, Option<usize>), ErrorReply> {
    let id = r.cores.next_id;
    let sub = r
        .fib
        .register(ListenerConfig::new(format!("core{id}")).ring_capacity(r.cores.listener_ring))?;
    let listener = sub.id();
    let setups = r
        .interfaces
        .ports
        .iter()
        .map(|p| PortSetup::new(p.mac).mtu(p.mtu).table(p.table))
        .collect();
    let start = CoreStart {
        id,
        cpu,
        setups,
        subscription: sub,
    };
    match r.backend.start_core(start) {
        Ok(handle) => {
            r.cores.next_id += 1;
            r.cores.slots.insert(
                id,
                CoreSlot {
                    handle,
                    cpu,
                    listener,
                    last: super::Sample::zero(Instant::now()),
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
            let _ = r.fib.unregister(listener);
            Err(ErrorReply::new(ErrorKind::Limit, e))
        }
    }
}

/// Stops a core and unregisters its listener.
pub fn stop<B: Backend>(r: &mut Router<B>, id: u32) -> Result<(), ErrorReply> {
    let slot = r
        .cores
        .slots
        .remove(&id)
        .ok_or_else(|| ErrorReply::not_found(format!("no core {id}")))?;
    r.backend
        .stop_core(id)
        .map_err(|e| ErrorReply::new(ErrorKind::Internal, e))?;
    let _ = r.fib.unregister(slot.listener);
    tracing::info!(core = id, "core stopped");
    Ok(())
}

pub fn show<B: Backend>(r: &mut Router<B>, now: Instant) -> Response {
    let seq = r.fib.seq();
    let listeners = r.fib.listeners();
    let mut out = Vec::new();
    for (id, slot) in r.cores.slots.iter_mut() {
        let st = slot.handle.stats();
        let last = slot.last;
        let dt = now.saturating_duration_since(last.at).as_secs_f64();
        let pps = if dt > 0.0 {
            ((st.forwarded.saturating_sub(last.forwarded)) as f64 / dt) as u64
        } else {
            0
        };
        let busy = st.busy_cycles.saturating_sub(last.busy_cycles);
        let idle = st.idle_cycles.saturating_sub(last.idle_cycles);
        let rx = st.rx_packets().saturating_sub(last.rx_packets);
        slot.last = super::Sample {
            at: now,
            forwarded: st.forwarded,
            rx_packets: st.rx_packets(),
            busy_cycles: st.busy_cycles,
            idle_cycles: st.idle_cycles,
        };
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
            drops: DropReason::ALL
                .iter()
                .filter(|d| st.dropped(**d) > 0)
                .map(|d| (d.name().to_string(), st.dropped(*d)))
                // Forwarded, then refused by a full TX queue: a drop too.
                .chain(
                    Some(st.ports.iter().map(|p| p.tx_dropped).sum::<u64>())
                        .filter(|n| *n > 0)
                        .map(|n| ("tx_queue_full".to_string(), n)),
                )
                .collect(),
            punts: PuntReason::ALL
                .iter()
                .filter(|p| st.punted(**p) > 0)
                .map(|p| (p.name().to_string(), st.punted(*p)))
                .collect(),
            busy_cycles: st.busy_cycles,
            idle_cycles: st.idle_cycles,
            busy_permille: (busy * 1000).checked_div(busy + idle).unwrap_or(0) as u32,
            cycles_per_packet: busy.checked_div(rx).unwrap_or(0),
        });
    }
    Ok(Reply::Cores(out))
}
