//! What zebra has told this connection: nexthop objects and routes, resolved into
//! fibre route targets and kept in a [`SourceView`] so that only changes become
//! requests.

use super::decode::{Message, NexthopObject, RouteVia};
use crate::proto::{Request, RouteTarget};
use crate::source::netlink::route::{gateways_target, Refusal};
use crate::source::{SourceRoute, SourceView};
use fib::{Ipv4Prefix, Protocol};
use hashbrown::{HashMap, HashSet};

type Key = (u32, Ipv4Prefix);

/// Why a route zebra sent is not in fibre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotInstalled {
    /// The route names a nexthop object zebra has not sent (or has deleted).
    UnknownNexthop(u32),
    /// What the route or its nexthop object says cannot be installed: no gateway
    /// (a connected subnet — fibre has its own, from its port addresses — or a
    /// route out of an interface, which fibre cannot map to a port), an IPv6
    /// gateway, an encapsulation, dead paths.
    Refused(Refusal),
    /// A group with no IPv4 gateway among its members.
    Unusable(&'static str),
}

impl std::fmt::Display for NotInstalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotInstalled::UnknownNexthop(id) => write!(f, "unknown nexthop object {id}"),
            NotInstalled::Refused(why) => why.fmt(f),
            NotInstalled::Unusable(why) => write!(f, "unusable nexthop: {why}"),
        }
    }
}

/// The FPM source's state.
#[derive(Debug)]
pub struct FpmState {
    view: SourceView,
    distance: Option<u8>,
    nexthops: HashMap<u32, NexthopObject>,
    routes: HashMap<Key, RouteVia>,
    /// Nexthop object id -> the routes naming it with `RTA_NH_ID`.
    users: HashMap<u32, HashSet<Key>>,
}

impl FpmState {
    pub fn new(distance: Option<u8>) -> Self {
        FpmState {
            view: SourceView::new(Protocol::Frr),
            distance,
            nexthops: HashMap::new(),
            routes: HashMap::new(),
            users: HashMap::new(),
        }
    }

    pub fn view(&self) -> &SourceView {
        &self.view
    }

    /// A new connection: zebra sends every nexthop and route again. Nexthop ids are
    /// zebra's own and change when zebra restarts, so what this connection knew of
    /// nexthops and routes is forgotten; the view keeps what is installed and
    /// deletes what is not sent again at [`Self::end_resync`].
    pub fn begin_resync(&mut self) {
        self.nexthops.clear();
        self.routes.clear();
        self.users.clear();
        self.view.begin_resync();
    }

    pub fn resyncing(&self) -> bool {
        self.view.resyncing()
    }

    /// Deletes for the routes zebra did not send again.
    pub fn end_resync(&mut self) -> Vec<Request> {
        self.view.end_resync()
    }

    /// Deletes for everything (zebra is gone for good).
    pub fn clear(&mut self) -> Vec<Request> {
        self.nexthops.clear();
        self.routes.clear();
        self.users.clear();
        self.view.clear()
    }

    /// Applies the messages decoded from one read. An update is `RTM_DELROUTE`
    /// followed by `RTM_NEWROUTE` (zebra writes both at once): a delete followed in
    /// the same batch by a new route for the same prefix is dropped, so an update
    /// is one replace and never a moment without the route. Returns the routes that
    /// were not installed, and why.
    pub fn apply_batch(
        &mut self,
        msgs: &[Message],
        out: &mut Vec<Request>,
    ) -> Vec<(Ipv4Prefix, NotInstalled)> {
        let mut last_new: HashMap<Key, usize> = HashMap::new();
        for (i, m) in msgs.iter().enumerate() {
            if let Message::RouteNew(r) = m {
                last_new.insert((r.table, r.prefix), i);
            }
        }
        let mut skipped = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            match m {
                Message::RouteDel { table, prefix } => {
                    if last_new.get(&(*table, *prefix)).is_some_and(|&j| j > i) {
                        continue;
                    }
                    self.del_route((*table, *prefix), out);
                }
                Message::RouteNew(r) => {
                    if let Err(why) = self.set_route((r.table, r.prefix), r.via.clone(), out) {
                        skipped.push((r.prefix, why));
                    }
                }
                Message::NexthopNew { id, nexthop } => {
                    self.set_nexthop(*id, nexthop.clone(), out);
                }
                Message::NexthopDel { id } => {
                    if self.nexthops.remove(id).is_some() {
                        self.reinstall_users_of(*id, out);
                    }
                }
            }
        }
        skipped
    }

    fn set_route(
        &mut self,
        key: Key,
        via: RouteVia,
        out: &mut Vec<Request>,
    ) -> Result<(), NotInstalled> {
        if let Some(RouteVia::Object(old)) = self.routes.get(&key) {
            if let Some(u) = self.users.get_mut(old) {
                u.remove(&key);
            }
        }
        if let RouteVia::Object(id) = via {
            self.users.entry(id).or_default().insert(key);
        }
        self.routes.insert(key, via);
        self.install(key, out)
    }

    fn del_route(&mut self, key: Key, out: &mut Vec<Request>) {
        if let Some(RouteVia::Object(id)) = self.routes.remove(&key) {
            if let Some(u) = self.users.get_mut(&id) {
                u.remove(&key);
            }
        }
        out.extend(self.view.del(key.0, key.1));
    }

    fn set_nexthop(&mut self, id: u32, nh: NexthopObject, out: &mut Vec<Request>) {
        if self.nexthops.get(&id) == Some(&nh) {
            return;
        }
        self.nexthops.insert(id, nh);
        self.reinstall_users_of(id, out);
    }

    /// Re-resolves every route naming nexthop `id`, directly or through a group.
    /// [`SourceView::set`] makes no request for a route whose target did not change.
    fn reinstall_users_of(&mut self, id: u32, out: &mut Vec<Request>) {
        let mut ids = vec![id];
        ids.extend(self.nexthops.iter().filter_map(|(g, nh)| match nh {
            NexthopObject::Group(m) if m.contains(&id) => Some(*g),
            _ => None,
        }));
        let mut keys: Vec<Key> = ids
            .iter()
            .filter_map(|i| self.users.get(i))
            .flatten()
            .copied()
            .collect();
        keys.sort_unstable_by_key(|(t, p)| (*t, p.addr(), p.len()));
        keys.dedup();
        for k in keys {
            if let Err(why) = self.install(k, out) {
                tracing::debug!(prefix = %k.1, reason = %why, "FPM route not installed after a nexthop change");
            }
        }
    }

    /// Makes the view agree with the route as now resolved.
    fn install(&mut self, key: Key, out: &mut Vec<Request>) -> Result<(), NotInstalled> {
        let Some(via) = self.routes.get(&key) else {
            return Ok(());
        };
        match self.resolve(via) {
            Ok(target) => {
                out.extend(self.view.set(SourceRoute {
                    table: key.0,
                    prefix: key.1,
                    target,
                    distance: self.distance,
                }));
                Ok(())
            }
            Err(why) => {
                out.extend(self.view.del(key.0, key.1));
                Err(why)
            }
        }
    }

    fn resolve(&self, via: &RouteVia) -> Result<RouteTarget, NotInstalled> {
        match via {
            RouteVia::Blackhole => Ok(RouteTarget::Blackhole),
            RouteVia::Refused(why) => Err(NotInstalled::Refused(why.clone())),
            RouteVia::Gateways(g) => Ok(gateways_target(g.clone())),
            RouteVia::Object(id) => match self.nexthops.get(id) {
                None => Err(NotInstalled::UnknownNexthop(*id)),
                Some(NexthopObject::Gateway(g)) => Ok(gateways_target(vec![*g])),
                Some(NexthopObject::Blackhole) => Ok(RouteTarget::Blackhole),
                Some(NexthopObject::Device) => Err(NotInstalled::Refused(Refusal::NoGateway)),
                Some(NexthopObject::Unusable(why)) => Err(NotInstalled::Refused(why.clone())),
                Some(NexthopObject::Group(members)) => {
                    let mut gws = Vec::new();
                    for m in members {
                        // A member zebra has not sent, or one with no IPv4
                        // gateway, carries nothing fibre can use; the rest still
                        // forward.
                        if let Some(NexthopObject::Gateway(g)) = self.nexthops.get(m) {
                            gws.push(*g);
                        }
                    }
                    if gws.is_empty() {
                        Err(NotInstalled::Unusable("group with no IPv4 gateway"))
                    } else {
                        Ok(gateways_target(gws))
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::Route;
    use super::*;
    use crate::source::netlink::build::gw;

    fn p(s: &str) -> Ipv4Prefix {
        s.parse().unwrap()
    }
    fn new(prefix: &str, via: RouteVia) -> Message {
        Message::RouteNew(Route {
            table: 254,
            prefix: p(prefix),
            via,
        })
    }
    fn nh(id: u32, nexthop: NexthopObject) -> Message {
        Message::NexthopNew { id, nexthop }
    }
    fn apply(s: &mut FpmState, msgs: &[Message]) -> Vec<String> {
        let mut out = Vec::new();
        s.apply_batch(msgs, &mut out);
        out.iter().map(describe).collect()
    }
    fn describe(r: &Request) -> String {
        match r {
            Request::RouteReplace(s) => {
                assert_eq!(s.protocol, Protocol::Frr);
                format!("replace {} {}", s.prefix, s.target)
            }
            Request::RouteDel(d) => format!("del {}", d.prefix),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn routes_through_objects_groups_inline_and_blackholes() {
        let mut s = FpmState::new(Some(30));
        let got = apply(
            &mut s,
            &[
                nh(1, NexthopObject::Gateway(gw(1))),
                nh(2, NexthopObject::Gateway(gw(2))),
                nh(3, NexthopObject::Group(vec![2, 1])),
                nh(4, NexthopObject::Blackhole),
                nh(5, NexthopObject::Device),
                new("10.0.0.0/8", RouteVia::Object(1)),
                new("10.1.0.0/16", RouteVia::Object(3)),
                new("10.2.0.0/16", RouteVia::Object(4)),
                new("10.3.0.0/16", RouteVia::Blackhole),
                new("10.4.0.0/16", RouteVia::Gateways(vec![gw(9)])),
                new("10.5.0.0/16", RouteVia::Gateways(vec![gw(9), gw(8), gw(9)])),
                new("192.0.2.0/24", RouteVia::Object(5)),
                new("10.6.0.0/16", RouteVia::Refused(Refusal::NoGateway)),
            ],
        );
        assert_eq!(
            got,
            vec![
                "replace 10.0.0.0/8 via 192.0.2.1",
                "replace 10.1.0.0/16 nexthop via 192.0.2.1 nexthop via 192.0.2.2",
                "replace 10.2.0.0/16 blackhole",
                "replace 10.3.0.0/16 blackhole",
                "replace 10.4.0.0/16 via 192.0.2.9",
                "replace 10.5.0.0/16 nexthop via 192.0.2.8 nexthop via 192.0.2.9",
            ]
        );
        assert_eq!(s.view().len(), 6);
        assert_eq!(
            s.view().get(254, &p("10.0.0.0/8")).unwrap().distance,
            Some(30)
        );
        let mut out = Vec::new();
        let skipped = s.apply_batch(
            &[new("10.6.0.0/16", RouteVia::Refused(Refusal::NoGateway))],
            &mut out,
        );
        assert_eq!(
            skipped,
            vec![(p("10.6.0.0/16"), NotInstalled::Refused(Refusal::NoGateway))]
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_changed_nexthop_resends_exactly_the_routes_using_it() {
        let mut s = FpmState::new(None);
        apply(
            &mut s,
            &[
                nh(1, NexthopObject::Gateway(gw(1))),
                nh(2, NexthopObject::Gateway(gw(2))),
                nh(3, NexthopObject::Group(vec![1, 2])),
                new("10.0.0.0/8", RouteVia::Object(1)),
                new("10.1.0.0/16", RouteVia::Object(2)),
                new("10.2.0.0/16", RouteVia::Object(3)),
            ],
        );
        // Same content again: nothing.
        assert!(apply(&mut s, &[nh(1, NexthopObject::Gateway(gw(1)))]).is_empty());
        // Nexthop 1 moves: its route and the group's route change; 10.1/16 does not.
        assert_eq!(
            apply(&mut s, &[nh(1, NexthopObject::Gateway(gw(7)))]),
            vec![
                "replace 10.0.0.0/8 via 192.0.2.7",
                "replace 10.2.0.0/16 nexthop via 192.0.2.2 nexthop via 192.0.2.7",
            ]
        );
        // The group shrinks to one member: a plain via.
        assert_eq!(
            apply(&mut s, &[nh(3, NexthopObject::Group(vec![2]))]),
            vec!["replace 10.2.0.0/16 via 192.0.2.2"]
        );
        // A nexthop becoming unusable takes its route out; deleting it too.
        assert_eq!(
            apply(&mut s, &[nh(1, NexthopObject::Device)]),
            vec!["del 10.0.0.0/8"]
        );
        assert_eq!(
            apply(&mut s, &[Message::NexthopDel { id: 2 }]),
            vec!["del 10.1.0.0/16", "del 10.2.0.0/16"]
        );
        // It comes back: the routes that still name it come back too.
        assert_eq!(
            apply(&mut s, &[nh(2, NexthopObject::Gateway(gw(2)))]),
            vec![
                "replace 10.1.0.0/16 via 192.0.2.2",
                "replace 10.2.0.0/16 via 192.0.2.2"
            ]
        );
    }

    #[test]
    fn an_update_is_one_replace_and_a_delete_is_a_delete() {
        let mut s = FpmState::new(None);
        apply(
            &mut s,
            &[
                nh(1, NexthopObject::Gateway(gw(1))),
                nh(2, NexthopObject::Gateway(gw(2))),
                new("10.0.0.0/8", RouteVia::Object(1)),
            ],
        );
        let del = Message::RouteDel {
            table: 254,
            prefix: p("10.0.0.0/8"),
        };
        assert_eq!(
            apply(
                &mut s,
                &[del.clone(), new("10.0.0.0/8", RouteVia::Object(2))]
            ),
            vec!["replace 10.0.0.0/8 via 192.0.2.2"]
        );
        // The same update with nothing changed for fibre: no request at all.
        assert!(apply(
            &mut s,
            &[
                del.clone(),
                new("10.0.0.0/8", RouteVia::Gateways(vec![gw(2)]))
            ]
        )
        .is_empty());
        // New then delete in one batch: deleted.
        assert_eq!(
            apply(
                &mut s,
                &[new("10.0.0.0/8", RouteVia::Object(1)), del.clone()]
            ),
            vec!["replace 10.0.0.0/8 via 192.0.2.1", "del 10.0.0.0/8"]
        );
        assert!(
            apply(&mut s, &[del]).is_empty(),
            "deleting twice is nothing"
        );
        // The route's old nexthop no longer drives it.
        assert!(apply(&mut s, &[nh(1, NexthopObject::Gateway(gw(5)))]).is_empty());
    }

    #[test]
    fn resync_keeps_what_is_resent_and_sweeps_the_rest() {
        let mut s = FpmState::new(None);
        apply(
            &mut s,
            &[
                nh(1, NexthopObject::Gateway(gw(1))),
                new("10.0.0.0/8", RouteVia::Object(1)),
                new("10.1.0.0/16", RouteVia::Object(1)),
                new("10.2.0.0/16", RouteVia::Blackhole),
            ],
        );
        s.begin_resync();
        // zebra restarted: other ids for the same gateways. The unchanged routes make
        // no request; nexthop 1 is now someone else and must not touch 10.1/16.
        let got = apply(
            &mut s,
            &[
                nh(1, NexthopObject::Gateway(gw(9))),
                nh(20, NexthopObject::Gateway(gw(1))),
                new("10.0.0.0/8", RouteVia::Object(20)),
                new("10.2.0.0/16", RouteVia::Blackhole),
                new("10.3.0.0/16", RouteVia::Object(1)),
            ],
        );
        assert_eq!(got, vec!["replace 10.3.0.0/16 via 192.0.2.9"]);
        let stale: Vec<String> = s.end_resync().iter().map(describe).collect();
        assert_eq!(stale, vec!["del 10.1.0.0/16"]);
        assert_eq!(s.view().len(), 3);
        let all: Vec<String> = s.clear().iter().map(describe).collect();
        assert_eq!(all.len(), 3);
    }
}
