//! `fibrectl monitor [route|neigh|core|fib|source]...`: events as they happen, like
//! `ip monitor`, on a subscription over the control socket.
//!
//! - [`bus`]: the subscribers. Each has a bounded queue; the control thread only
//!   ever pushes into it (never waits on a client), and a queue that is full counts
//!   what it could not take, which the subscriber then reads as one `lost` event
//!   in its place: never a silent gap. The stream ([`bus::MonitorStream`]) writes
//!   events only as fast as the client reads them.
//! - [`watch`]: where events come from, once per control-loop turn and only while
//!   someone subscribes: route changes from the FIB's event tap (with their seq),
//!   neighbour state changes from the neighbour table, and core, FIB listener
//!   (replay, resync, failure) and route source (connect, disconnect, resync)
//!   changes from their status.
//!
//! Every event carries a FIB seq: a route change its own, others the FIB's seq when
//! they were seen. A subscriber reads them in nondecreasing seq order.

pub mod bus;
pub mod watch;

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

pub use bus::Monitor;

/// What a subscriber wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Route changes (add, replace, del) with their seq.
    Route,
    /// Neighbour state transitions.
    Neigh,
    /// Cores started and stopped.
    Core,
    /// FIB listeners (cores): replay begin and end, resync, failure.
    Fib,
    /// Route sources: connect, disconnect, resync.
    Source,
}

impl Topic {
    pub const ALL: [Topic; 5] = [
        Topic::Route,
        Topic::Neigh,
        Topic::Core,
        Topic::Fib,
        Topic::Source,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// `monitor`: a subscription to `topics` (all when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorRequest {
    #[serde(default)]
    pub topics: Vec<Topic>,
}

/// One event: the FIB seq it belongs to, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorEvent {
    pub seq: u64,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// `action`: add, replace or del; `nexthop` is the nexthop (or group) id the
    /// prefix now uses, absent for a del.
    Route {
        table: u32,
        prefix: String,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nexthop: Option<u32>,
    },
    /// A neighbour went from one state to another (`none`: not in the table).
    Neigh {
        port: String,
        addr: Ipv4Addr,
        from: String,
        to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<String>,
    },
    /// `action`: started or stopped.
    Core {
        core: u32,
        name: String,
        action: String,
    },
    /// `action`: replay_begin, replay_end, resync or failed.
    Fib {
        listener: String,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// `action`: connected, disconnected or resync.
    Source {
        source: String,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// This many events were not delivered here: the subscriber read too slowly
    /// and its queue was full (or the FIB's tap was, in one turn).
    Lost { events: u64 },
}

impl Event {
    /// The topic an event belongs to (`Lost` belongs to every one).
    pub fn topic(&self) -> Option<Topic> {
        match self {
            Event::Route { .. } => Some(Topic::Route),
            Event::Neigh { .. } => Some(Topic::Neigh),
            Event::Core { .. } => Some(Topic::Core),
            Event::Fib { .. } => Some(Topic::Fib),
            Event::Source { .. } => Some(Topic::Source),
            Event::Lost { .. } => None,
        }
    }
}

impl std::fmt::Display for MonitorEvent {
    /// One line for people, `ip monitor` style: `[seq] what`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] ", self.seq)?;
        match &self.event {
            Event::Route {
                table,
                prefix,
                action,
                nexthop,
            } => {
                write!(f, "route {action} {prefix}")?;
                if let Some(n) = nexthop {
                    write!(f, " nexthop {n}")?;
                }
                if *table != fib::TableId::MAIN.0 {
                    write!(f, " table {table}")?;
                }
                Ok(())
            }
            Event::Neigh {
                port,
                addr,
                from,
                to,
                mac,
            } => {
                write!(f, "neigh {addr} dev {port} {from} -> {to}")?;
                if let Some(m) = mac {
                    write!(f, " lladdr {m}")?;
                }
                Ok(())
            }
            Event::Core { core, name, action } => write!(f, "core {core} ({name}) {action}"),
            Event::Fib {
                listener,
                action,
                detail,
            } => {
                write!(f, "fib {listener} {action}")?;
                if let Some(d) = detail {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            Event::Source {
                source,
                action,
                detail,
            } => {
                write!(f, "source {source} {action}")?;
                if let Some(d) = detail {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            Event::Lost { events } => write!(f, "lost {events} events (read too slowly)"),
        }
    }
}
