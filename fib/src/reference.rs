//! A plain reference listener: what a listener's state must equal after applying the
//! events it received. Tests across the workspace compare real listeners (the
//! DIR-24-8 tables) and the FIB itself against it.
//!
//! It is deliberately simple (hash maps, a linear longest-prefix match) and strict:
//! it checks every event against its own state, so a wrong covering route, a route
//! to an unknown nexthop, an out-of-order seq or a nexthop deleted while in use are
//! errors, not silent divergence.

use crate::event::{
    is_group_id, EventKind, EventSink, FibEvent, MacAddr, Nexthop, NexthopGroup, NexthopId,
    Progress, TableId,
};
use crate::prefix::{mask, Ipv4Prefix};
use std::collections::BTreeMap;

/// One complete state: nexthops and the installed route of every prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceState {
    pub nexthops: BTreeMap<NexthopId, Nexthop>,
    /// Resolved neighbour MACs of nexthops.
    pub macs: BTreeMap<NexthopId, MacAddr>,
    /// Multipath groups.
    pub groups: BTreeMap<NexthopId, NexthopGroup>,
    pub routes: BTreeMap<(TableId, Ipv4Prefix), NexthopId>,
}

impl ReferenceState {
    /// Longest-prefix match, the slow obvious way.
    pub fn lookup(&self, table: TableId, addr: u32) -> Option<(Ipv4Prefix, NexthopId)> {
        (0..=32u8).rev().find_map(|len| {
            let p = Ipv4Prefix::new(addr & mask(len), len).expect("masked");
            self.routes.get(&(table, p)).map(|nh| (p, *nh))
        })
    }

    fn covering(&self, table: TableId, prefix: &Ipv4Prefix) -> Option<(Ipv4Prefix, NexthopId)> {
        (0..prefix.len()).rev().find_map(|len| {
            let p = Ipv4Prefix::new(prefix.addr() & mask(len), len).expect("masked");
            self.routes.get(&(table, p)).map(|nh| (p, *nh))
        })
    }
}

/// A listener state built from events, with a shadow during replays like a core's.
#[derive(Debug, Default)]
pub struct ReferenceSink {
    /// What the listener serves (complete after the first replay).
    pub serving: Option<ReferenceState>,
    /// The state being rebuilt by a replay.
    shadow: Option<ReferenceState>,
    replay_seq: Option<u64>,
    /// Seqs of live events applied since the last replay ended, to check for gaps.
    pub live_seqs: Vec<u64>,
    /// The seq the last completed replay was taken at.
    pub last_replay: Option<u64>,
    pub replays: u64,
    /// Fail once the serving or shadow state would hold more routes than this
    /// (a stand-in for a full hardware or tbl8 table).
    pub route_limit: Option<usize>,
}

impl ReferenceSink {
    pub fn with_route_limit(limit: usize) -> Self {
        ReferenceSink {
            route_limit: Some(limit),
            ..Default::default()
        }
    }

    fn target(&mut self) -> Result<&mut ReferenceState, String> {
        if self.replay_seq.is_some() {
            return Ok(self.shadow.as_mut().expect("shadow during replay"));
        }
        self.serving
            .as_mut()
            .ok_or_else(|| "event before the first replay".to_string())
    }
}

impl EventSink for ReferenceSink {
    type Error = String;

    fn apply(&mut self, event: &FibEvent, budget: &mut usize) -> Result<Progress, String> {
        *budget = budget.saturating_sub(1);
        let limit = self.route_limit;
        match event.kind {
            EventKind::ReplayBegin => {
                self.shadow = Some(ReferenceState::default());
                self.replay_seq = Some(event.seq);
            }
            EventKind::ReplayEnd => {
                let seq = self
                    .replay_seq
                    .take()
                    .ok_or("replay end outside a replay")?;
                if seq != event.seq {
                    return Err(format!("replay end at {} for a replay at {seq}", event.seq));
                }
                self.serving = self.shadow.take();
                self.live_seqs.clear();
                self.last_replay = Some(seq);
                self.replays += 1;
            }
            kind => {
                if self.replay_seq.is_none() {
                    if let Some(&last) = self.live_seqs.last().or(self.last_replay.as_ref()) {
                        if event.seq != last + 1 {
                            return Err(format!("live seq {} after {last}", event.seq));
                        }
                    }
                    self.live_seqs.push(event.seq);
                }
                let st = self.target()?;
                apply_change(st, kind, limit)?;
            }
        }
        Ok(Progress::Done)
    }
}

fn apply_change(
    st: &mut ReferenceState,
    kind: EventKind,
    limit: Option<usize>,
) -> Result<(), String> {
    match kind {
        EventKind::NexthopSet { id, nexthop } => {
            st.nexthops.insert(id, nexthop);
            st.macs.remove(&id);
        }
        EventKind::NexthopResolved { id, mac } => {
            if !st.nexthops.contains_key(&id) {
                return Err(format!("resolution of unknown nexthop {id}"));
            }
            match mac {
                Some(m) => st.macs.insert(id, m),
                None => st.macs.remove(&id),
            };
        }
        EventKind::NexthopDel { id } => {
            if st.routes.values().any(|nh| *nh == id) {
                return Err(format!("nexthop {id} deleted while routes use it"));
            }
            if st.groups.values().any(|g| g.members().any(|m| m == id)) {
                return Err(format!("nexthop {id} deleted while a group uses it"));
            }
            st.nexthops
                .remove(&id)
                .ok_or(format!("delete of unknown nexthop {id}"))?;
        }
        EventKind::GroupSet { id, group } => {
            if !is_group_id(id.0) {
                return Err(format!("group with a plain nexthop id {id}"));
            }
            if let Some(m) = group.members().find(|m| !st.nexthops.contains_key(m)) {
                return Err(format!("group {id} with unknown member {m}"));
            }
            st.groups.insert(id, group);
        }
        EventKind::GroupDel { id } => {
            if st.routes.values().any(|nh| *nh == id) {
                return Err(format!("group {id} deleted while routes use it"));
            }
            st.groups
                .remove(&id)
                .ok_or(format!("delete of unknown group {id}"))?;
        }
        EventKind::RouteAdd {
            table,
            prefix,
            nexthop,
        }
        | EventKind::RouteReplace {
            table,
            prefix,
            nexthop,
        } => {
            let known = if is_group_id(nexthop.0) {
                st.groups.contains_key(&nexthop)
            } else {
                st.nexthops.contains_key(&nexthop)
            };
            if !known {
                return Err(format!("route {prefix} to unknown nexthop {nexthop}"));
            }
            let exists = st.routes.contains_key(&(table, prefix));
            if matches!(kind, EventKind::RouteReplace { .. }) && !exists {
                return Err(format!("replace of absent route {prefix}"));
            }
            if !exists && limit.is_some_and(|l| st.routes.len() >= l) {
                return Err(format!("table full ({} routes)", st.routes.len()));
            }
            st.routes.insert((table, prefix), nexthop);
        }
        EventKind::RouteDel {
            table,
            prefix,
            covering,
        } => {
            st.routes
                .remove(&(table, prefix))
                .ok_or(format!("delete of absent route {prefix}"))?;
            let expected = st.covering(table, &prefix);
            let got = covering.map(|c| (c.prefix, c.nexthop));
            if expected != got {
                return Err(format!(
                    "delete of {prefix} carried covering {got:?}, expected {expected:?}"
                ));
            }
        }
        EventKind::ReplayBegin | EventKind::ReplayEnd => unreachable!("handled by the caller"),
    }
    Ok(())
}

/// The state listeners must hold for the FIB as it is now.
pub fn expected_state(fib: &crate::fib::Fib) -> ReferenceState {
    ReferenceState {
        nexthops: fib
            .nexthops()
            .into_iter()
            .map(|(id, nh, _)| (id, nh))
            .collect(),
        macs: fib
            .nexthops()
            .into_iter()
            .filter_map(|(id, _, _)| fib.nexthop_mac(id).map(|m| (id, m)))
            .collect(),
        groups: fib.groups().into_iter().map(|(id, g, _)| (id, g)).collect(),
        routes: fib
            .installed()
            .into_iter()
            .map(|(t, p, nh)| ((t, p), nh))
            .collect(),
    }
}
