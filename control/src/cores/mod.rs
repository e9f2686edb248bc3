//! Forwarding cores: `core add|del|show`. Each core is a FIB listener; adding one
//! registers it (and the FIB replays the whole table to it), deleting one
//! unregisters it.

pub mod handler;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `core add [cpu N]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreAdd {
    /// Pin the new core to this CPU; the daemon picks a free one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<usize>,
}

/// A forwarding core, for `core show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreInfo {
    pub id: u32,
    pub name: String,
    pub cpu: Option<usize>,
    /// The core's FIB listener state: `replaying`, `live` or `failed`.
    pub state: String,
    pub applied_seq: u64,
    pub lag: u64,
    pub in_sync: bool,
    pub rx_packets: u64,
    pub forwarded: u64,
    /// Packets per second forwarded over the daemon's last sampling interval.
    pub forwarded_pps: u64,
    /// Dropped packets by reason (`ttl_exceeded`, `no_route`, ...), non-zero ones only.
    pub drops: BTreeMap<String, u64>,
    /// Punted packets by reason (`arp`, `local`, ...), non-zero ones only.
    pub punts: BTreeMap<String, u64>,
    /// The core's time since it started, in TSC cycles: loop iterations that
    /// found work (busy) and those that did not (idle, with their wait).
    #[serde(default)]
    pub busy_cycles: u64,
    #[serde(default)]
    pub idle_cycles: u64,
    /// Over the daemon's last sampling interval: the busy share of the core's
    /// time, in thousandths, and busy cycles per received packet.
    #[serde(default)]
    pub busy_permille: u32,
    #[serde(default)]
    pub cycles_per_packet: u64,
}

/// `core add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreAdded {
    pub id: u32,
    pub cpu: Option<usize>,
}

/// `core del`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreDel {
    pub id: u32,
}

use crate::daemon::{Backend, Router};
use crate::proto::ErrorReply;
use dataplane::port::Packet;
use dataplane::worker::CoreHandle;
use fib::PortId;
use std::time::Instant;

/// A running core as the control plane tracks it.
pub struct CoreSlot<P> {
    pub handle: CoreHandle<P>,
    pub cpu: Option<usize>,
    pub listener: fib::ListenerId,
    /// The counters at the last `core show`, for rates over the interval since.
    pub last: Sample,
}

/// A core's counters at one `core show`.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    pub forwarded: u64,
    pub rx_packets: u64,
    pub busy_cycles: u64,
    pub idle_cycles: u64,
}

impl Sample {
    pub fn zero(at: Instant) -> Self {
        Sample {
            at,
            forwarded: 0,
            rx_packets: 0,
            busy_cycles: 0,
            idle_cycles: 0,
        }
    }
}

/// The cores feature's state.
pub struct Cores<P> {
    pub slots: BTreeMap<u32, CoreSlot<P>>,
    pub next_id: u32,
    /// Events per core's FIB listener ring.
    pub listener_ring: usize,
}

impl<P> Cores<P> {
    pub fn new(listener_ring: usize) -> Self {
        Cores {
            slots: BTreeMap::new(),
            next_id: 0,
            listener_ring,
        }
    }

    pub fn slot(&self, id: u32) -> Result<&CoreSlot<P>, ErrorReply> {
        self.slots
            .get(&id)
            .ok_or_else(|| ErrorReply::not_found(format!("no core {id}")))
    }

    pub fn ids(&self) -> Vec<u32> {
        self.slots.keys().copied().collect()
    }
}

/// Sends a frame the control plane built (an ARP request, an ICMP error, a held
/// frame) on `port` through core `via`, or any running core; counted as dropped
/// when there is none or no buffer.
pub fn inject<B: Backend>(r: &mut Router<B>, via: Option<u32>, port: PortId, frame: &[u8]) {
    let Some(slot) = via
        .and_then(|id| r.cores.slots.get(&id))
        .or_else(|| r.cores.slots.values().next())
    else {
        r.counters.injects_dropped += 1;
        return;
    };
    let handle = slot.handle.clone();
    let Some(mut pkt) = r.backend.alloc() else {
        r.counters.injects_dropped += 1;
        return;
    };
    if pkt.copy_from(frame).is_err() || handle.inject(pkt, port).is_err() {
        r.counters.injects_dropped += 1;
    }
}
