//! `stats` and `fib status`.

use super::{ControlCounters, CoreCounters, FibStatus, StatsReply};
use crate::daemon::{Backend, Router};
use crate::interfaces::handler::link_info;
use crate::proto::{Reply, Response};
use fib::PortId;

pub fn stats<B: Backend>(r: &Router<B>) -> Response {
    Ok(Reply::Stats(stats_reply(r)))
}

pub fn stats_reply<B: Backend>(r: &Router<B>) -> StatsReply {
    let cores = r
        .cores
        .slots
        .iter()
        .map(|(id, slot)| {
            let st = slot.handle.stats();
            CoreCounters {
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
                busy_cycles: st.busy_cycles,
                idle_cycles: st.idle_cycles,
            }
        })
        .collect();
    StatsReply {
        uptime_ms: r.started.elapsed().as_millis() as u64,
        fib_seq: r.fib.seq(),
        cores,
        ports: (0..r.interfaces.ports.len() as PortId)
            .map(|p| link_info(r, p))
            .collect(),
        control: ControlCounters {
            requests: r.counters.requests,
            clients: r.counters.clients,
            clients_dropped: r.counters.clients_dropped,
            punts_handled: r.counters.punts_handled,
            arp_requests_sent: r.counters.arp_requests_sent,
            turn_us: r.counters.turns.buckets(),
        },
    }
}

pub fn fib_status<B: Backend>(r: &Router<B>) -> Response {
    Ok(Reply::FibStatus(fib_status_reply(r)))
}

pub fn fib_status_reply<B: Backend>(r: &Router<B>) -> FibStatus {
    let mut s = FibStatus::from_fib(&r.fib);
    (s.committed_seq, s.committed_at_ns) = r.last_commit;
    s.audit = r.audits.counters;
    s
}
