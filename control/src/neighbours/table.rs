//! Neighbour (ARP) resolution: the states a gateway's MAC goes through, and the
//! ARP requests and FIB updates they call for.
//!
//! ```text
//!   resolve ──► Incomplete ──reply──► Reachable ──reachable_time──► Stale
//!                 │  retry every retrans_time                      │ probe every retrans_time
//!                 └─ max_probes unanswered ─► Failed (held, then    └─ max_probes unanswered ─► forgotten
//!                                             forgotten)               (the FIB is told: unresolved)
//!   static entries never change state.
//! ```
//!
//! The cores tell the control plane nothing about which neighbours they use, so a
//! stale entry is probed rather than waited on: an answer makes it reachable again,
//! silence makes it go, and the next packet for it is punted `unresolved` and starts
//! over. Learning from ARP follows RFC 826's merge rule loosely: any ARP from a
//! sender on one of our subnets refreshes or creates its entry (bounded in number).
//!
//! Pure state: no I/O, no clock of its own (`now` is passed in), so tests drive time.

use dataplane::wire::ethernet::EthernetAddress;
use fib::PortId;
use hashbrown::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Timers and limits, after Linux's neighbour defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourConfig {
    /// Between two ARP requests for the same address.
    pub retrans_time: Duration,
    /// Requests sent before giving up (resolving) or forgetting (probing a stale one).
    pub max_probes: u32,
    /// How long a confirmed MAC is trusted before it is probed again.
    pub reachable_time: Duration,
    /// How long a failed resolution is remembered, so packets to a dead neighbour do
    /// not trigger an ARP request each.
    pub failed_hold: Duration,
    /// Entries at most (static ones included); ARP from more senders is not learned.
    pub max_entries: usize,
}

impl Default for NeighbourConfig {
    fn default() -> Self {
        NeighbourConfig {
            retrans_time: Duration::from_secs(1),
            max_probes: 3,
            reachable_time: Duration::from_secs(30),
            failed_hold: Duration::from_secs(3),
            max_entries: 65_536,
        }
    }
}

/// Where a neighbour stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourState {
    /// Requests sent, no answer yet.
    Incomplete { probes: u32, next: Instant },
    /// Confirmed at `since`.
    Reachable { since: Instant },
    /// Not confirmed for `reachable_time`; being probed (the MAC is still used).
    Stale { probes: u32, next: Instant },
    /// Resolution failed; remembered until `until`.
    Failed { until: Instant },
    /// Configured by the operator.
    Static,
}

impl NeighbourState {
    pub fn name(&self) -> &'static str {
        match self {
            NeighbourState::Incomplete { .. } => "incomplete",
            NeighbourState::Reachable { .. } => "reachable",
            NeighbourState::Stale { .. } => "stale",
            NeighbourState::Failed { .. } => "failed",
            NeighbourState::Static => "permanent",
        }
    }
}

/// One neighbour, for `neigh show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    pub port: PortId,
    pub addr: Ipv4Addr,
    pub mac: Option<EthernetAddress>,
    pub state: NeighbourState,
}

/// What the daemon must do for the neighbour table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourAction {
    /// Broadcast an ARP request for `target` on `port`.
    SendArp { port: PortId, target: Ipv4Addr },
    /// Tell the FIB: this neighbour's MAC (nexthops through it become usable).
    Resolved {
        port: PortId,
        addr: Ipv4Addr,
        mac: EthernetAddress,
    },
    /// Tell the FIB: this neighbour has no usable MAC any more.
    Unresolved { port: PortId, addr: Ipv4Addr },
}

/// Why a neighbour operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeighbourError {
    #[error("no neighbour {addr} on port {port}")]
    NotFound { port: PortId, addr: Ipv4Addr },
    #[error("neighbour table full ({0} entries)")]
    Full(usize),
    #[error("invalid neighbour MAC {0}: must be a unicast address")]
    BadMac(EthernetAddress),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    mac: Option<EthernetAddress>,
    state: NeighbourState,
}

/// A neighbour's state changed (`none`: it was not in the table, or left it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourChange {
    pub port: PortId,
    pub addr: Ipv4Addr,
    pub from: &'static str,
    pub to: &'static str,
    pub mac: Option<EthernetAddress>,
}

/// The changes kept while someone watches ([`NeighbourTable::watch`]).
#[derive(Debug, Default)]
struct Changes {
    on: bool,
    list: Vec<NeighbourChange>,
}

impl Changes {
    fn note(
        &mut self,
        port: PortId,
        addr: Ipv4Addr,
        from: &'static str,
        to: &'static str,
        mac: Option<EthernetAddress>,
    ) {
        if self.on && from != to {
            self.list.push(NeighbourChange {
                port,
                addr,
                from,
                to,
                mac,
            });
        }
    }
}

/// What a missing entry's state is called in a [`NeighbourChange`].
pub const GONE: &str = "none";

/// The neighbour table of the control plane.
#[derive(Debug, Default)]
pub struct NeighbourTable {
    cfg: NeighbourConfig,
    entries: HashMap<(PortId, Ipv4Addr), Entry>,
    /// ARP senders not learned because the table was full.
    pub not_learned: u64,
    changes: Changes,
}

impl NeighbourTable {
    pub fn new(cfg: NeighbourConfig) -> Self {
        NeighbourTable {
            cfg,
            entries: HashMap::new(),
            not_learned: 0,
            changes: Changes::default(),
        }
    }

    /// Keeps every state change from now on (until `watch(false)`), for
    /// [`Self::take_changes`].
    pub fn watch(&mut self, on: bool) {
        self.changes.on = on;
        if !on {
            self.changes.list.clear();
        }
    }

    /// The changes kept since the last call, in the order they happened.
    pub fn take_changes(&mut self) -> Vec<NeighbourChange> {
        std::mem::take(&mut self.changes.list)
    }

    /// A packet needs `addr` on `port`: start resolving unless it already is (or
    /// recently failed).
    pub fn resolve(&mut self, port: PortId, addr: Ipv4Addr, now: Instant) -> Vec<NeighbourAction> {
        if self.entries.contains_key(&(port, addr)) {
            return Vec::new();
        }
        if self.entries.len() >= self.cfg.max_entries {
            self.not_learned += 1;
            return Vec::new();
        }
        let state = NeighbourState::Incomplete {
            probes: 1,
            next: now + self.cfg.retrans_time,
        };
        self.entries
            .insert((port, addr), Entry { mac: None, state });
        self.changes.note(port, addr, GONE, state.name(), None);
        vec![NeighbourAction::SendArp { port, target: addr }]
    }

    /// ARP said `addr` on `port` is at `mac` (a reply, or the sender of a request).
    pub fn learned(
        &mut self,
        port: PortId,
        addr: Ipv4Addr,
        mac: EthernetAddress,
        now: Instant,
    ) -> Vec<NeighbourAction> {
        let reachable = NeighbourState::Reachable { since: now };
        match self.entries.get_mut(&(port, addr)) {
            Some(Entry {
                state: NeighbourState::Static,
                ..
            }) => Vec::new(),
            Some(e) => {
                let changed = e.mac != Some(mac);
                self.changes
                    .note(port, addr, e.state.name(), reachable.name(), Some(mac));
                e.mac = Some(mac);
                e.state = reachable;
                if changed {
                    vec![NeighbourAction::Resolved { port, addr, mac }]
                } else {
                    Vec::new()
                }
            }
            None => {
                if self.entries.len() >= self.cfg.max_entries {
                    self.not_learned += 1;
                    return Vec::new();
                }
                self.entries.insert(
                    (port, addr),
                    Entry {
                        mac: Some(mac),
                        state: reachable,
                    },
                );
                self.changes
                    .note(port, addr, GONE, reachable.name(), Some(mac));
                vec![NeighbourAction::Resolved { port, addr, mac }]
            }
        }
    }

    /// A static neighbour: never probed, never expires; replaces a learned one.
    pub fn add_static(
        &mut self,
        port: PortId,
        addr: Ipv4Addr,
        mac: EthernetAddress,
    ) -> Result<Vec<NeighbourAction>, NeighbourError> {
        if !mac.is_unicast() {
            return Err(NeighbourError::BadMac(mac));
        }
        if !self.entries.contains_key(&(port, addr)) && self.entries.len() >= self.cfg.max_entries {
            return Err(NeighbourError::Full(self.cfg.max_entries));
        }
        let old = self.entries.insert(
            (port, addr),
            Entry {
                mac: Some(mac),
                state: NeighbourState::Static,
            },
        );
        let from = old.map_or(GONE, |e| e.state.name());
        self.changes
            .note(port, addr, from, NeighbourState::Static.name(), Some(mac));
        Ok(if old.and_then(|e| e.mac) == Some(mac) {
            Vec::new()
        } else {
            vec![NeighbourAction::Resolved { port, addr, mac }]
        })
    }

    /// Forgets a neighbour (static or learned).
    pub fn remove(
        &mut self,
        port: PortId,
        addr: Ipv4Addr,
    ) -> Result<Vec<NeighbourAction>, NeighbourError> {
        let e = self
            .entries
            .remove(&(port, addr))
            .ok_or(NeighbourError::NotFound { port, addr })?;
        self.changes.note(port, addr, e.state.name(), GONE, None);
        Ok(if e.mac.is_some() {
            vec![NeighbourAction::Unresolved { port, addr }]
        } else {
            Vec::new()
        })
    }

    /// Advances the timers: retries, probes, expiry.
    pub fn tick(&mut self, now: Instant) -> Vec<NeighbourAction> {
        let cfg = self.cfg;
        let mut out = Vec::new();
        let mut forget = Vec::new();
        let changes = &mut self.changes;
        for (&(port, addr), e) in self.entries.iter_mut() {
            let before = e.state.name();
            match e.state {
                NeighbourState::Incomplete { probes, next } if now >= next => {
                    if probes >= cfg.max_probes {
                        e.state = NeighbourState::Failed {
                            until: now + cfg.failed_hold,
                        };
                    } else {
                        e.state = NeighbourState::Incomplete {
                            probes: probes + 1,
                            next: now + cfg.retrans_time,
                        };
                        out.push(NeighbourAction::SendArp { port, target: addr });
                    }
                }
                NeighbourState::Reachable { since } if now >= since + cfg.reachable_time => {
                    e.state = NeighbourState::Stale {
                        probes: 1,
                        next: now + cfg.retrans_time,
                    };
                    out.push(NeighbourAction::SendArp { port, target: addr });
                }
                NeighbourState::Stale { probes, next } if now >= next => {
                    if probes >= cfg.max_probes {
                        forget.push((port, addr));
                        out.push(NeighbourAction::Unresolved { port, addr });
                    } else {
                        e.state = NeighbourState::Stale {
                            probes: probes + 1,
                            next: now + cfg.retrans_time,
                        };
                        out.push(NeighbourAction::SendArp { port, target: addr });
                    }
                }
                NeighbourState::Failed { until } if now >= until => forget.push((port, addr)),
                _ => {}
            }
            changes.note(port, addr, before, e.state.name(), e.mac);
        }
        for k in forget {
            if let Some(e) = self.entries.remove(&k) {
                self.changes.note(k.0, k.1, e.state.name(), GONE, None);
            }
        }
        // Deterministic order for callers and tests.
        out.sort_by_key(|a| match *a {
            NeighbourAction::SendArp { port, target } => (port, target, 0),
            NeighbourAction::Resolved { port, addr, .. } => (port, addr, 1),
            NeighbourAction::Unresolved { port, addr } => (port, addr, 2),
        });
        out
    }

    /// The MAC of a neighbour, if known.
    pub fn mac(&self, port: PortId, addr: Ipv4Addr) -> Option<EthernetAddress> {
        self.entries.get(&(port, addr)).and_then(|e| e.mac)
    }

    /// Every neighbour, sorted by port and address.
    pub fn entries(&self) -> Vec<Neighbour> {
        let mut v: Vec<_> = self
            .entries
            .iter()
            .map(|(&(port, addr), e)| Neighbour {
                port,
                addr,
                mac: e.mac,
                state: e.state,
            })
            .collect();
        v.sort_by_key(|n| (n.port, n.addr));
        v
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NeighbourAction::*;

    const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xfe]);
    const MAC2: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xfd]);

    fn table() -> NeighbourTable {
        NeighbourTable::new(NeighbourConfig {
            max_entries: 4,
            ..NeighbourConfig::default()
        })
    }

    #[test]
    fn resolves_retries_then_fails_and_is_held() {
        let mut t = table();
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(
            t.resolve(1, GW, t0),
            vec![SendArp {
                port: 1,
                target: GW
            }]
        );
        assert_eq!(
            t.resolve(1, GW, t0),
            vec![],
            "one request in flight, not one per packet"
        );
        assert_eq!(t.tick(t0 + s / 2), vec![]);
        assert_eq!(
            t.tick(t0 + s),
            vec![SendArp {
                port: 1,
                target: GW
            }]
        );
        assert_eq!(
            t.tick(t0 + 2 * s),
            vec![SendArp {
                port: 1,
                target: GW
            }]
        );
        assert_eq!(
            t.tick(t0 + 3 * s),
            vec![],
            "three probes unanswered: failed"
        );
        assert_eq!(t.entries()[0].state.name(), "failed");
        assert_eq!(t.resolve(1, GW, t0 + 4 * s), vec![], "held: no new request");
        assert_eq!(t.tick(t0 + 6 * s), vec![]);
        assert!(t.is_empty(), "forgotten after the hold");
        assert_eq!(
            t.resolve(1, GW, t0 + 7 * s),
            vec![SendArp {
                port: 1,
                target: GW
            }]
        );
    }

    #[test]
    fn reply_resolves_then_stale_probe_and_expiry() {
        let mut t = table();
        let t0 = Instant::now();
        t.resolve(1, GW, t0);
        assert_eq!(
            t.learned(1, GW, MAC, t0),
            vec![Resolved {
                port: 1,
                addr: GW,
                mac: MAC
            }]
        );
        assert_eq!(
            t.learned(1, GW, MAC, t0),
            vec![],
            "same MAC again: nothing to tell the FIB"
        );
        assert_eq!(t.mac(1, GW), Some(MAC));
        let stale_at = t0 + Duration::from_secs(30);
        assert_eq!(
            t.tick(stale_at),
            vec![SendArp {
                port: 1,
                target: GW
            }]
        );
        assert_eq!(t.entries()[0].state.name(), "stale");
        assert_eq!(t.mac(1, GW), Some(MAC), "a stale MAC is still used");
        // An answer brings it back.
        assert_eq!(
            t.learned(1, GW, MAC2, stale_at),
            vec![Resolved {
                port: 1,
                addr: GW,
                mac: MAC2
            }]
        );
        assert_eq!(t.entries()[0].state.name(), "reachable");
        // Silence makes it go.
        let stale2 = stale_at + Duration::from_secs(30);
        t.tick(stale2);
        t.tick(stale2 + Duration::from_secs(1));
        t.tick(stale2 + Duration::from_secs(2));
        assert_eq!(
            t.tick(stale2 + Duration::from_secs(3)),
            vec![Unresolved { port: 1, addr: GW }]
        );
        assert!(t.is_empty());
    }

    #[test]
    fn static_entries_never_change_and_bad_input_is_refused() {
        let mut t = table();
        let t0 = Instant::now();
        assert_eq!(
            t.add_static(2, GW, MAC).unwrap(),
            vec![Resolved {
                port: 2,
                addr: GW,
                mac: MAC
            }]
        );
        assert_eq!(t.learned(2, GW, MAC2, t0), vec![]);
        assert_eq!(t.tick(t0 + Duration::from_secs(3600)), vec![]);
        assert_eq!(t.mac(2, GW), Some(MAC));
        assert_eq!(
            t.add_static(2, GW, EthernetAddress::BROADCAST).unwrap_err(),
            NeighbourError::BadMac(EthernetAddress::BROADCAST)
        );
        assert_eq!(
            t.remove(3, GW).unwrap_err().to_string(),
            "no neighbour 192.0.2.254 on port 3"
        );
        assert_eq!(
            t.remove(2, GW).unwrap(),
            vec![Unresolved { port: 2, addr: GW }]
        );
    }

    #[test]
    fn table_is_bounded() {
        let mut t = table();
        let t0 = Instant::now();
        for i in 1..=4 {
            t.learned(0, Ipv4Addr::new(10, 0, 0, i), MAC, t0);
        }
        assert_eq!(t.learned(0, Ipv4Addr::new(10, 0, 0, 5), MAC, t0), vec![]);
        assert_eq!(t.resolve(0, Ipv4Addr::new(10, 0, 0, 6), t0), vec![]);
        assert_eq!(t.not_learned, 2);
        assert_eq!(
            t.add_static(0, GW, MAC).unwrap_err(),
            NeighbourError::Full(4)
        );
        assert_eq!(t.len(), 4);
    }
}
