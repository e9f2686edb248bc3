//! Nexthops, their neighbours and multipath groups: the objects routes point at.
//!
//! Kept apart from routes because their lifetime is their own: a nexthop or group
//! lives while routes hold references on it (`hold`/`release`, called by the route
//! changes), and its id is reused only once every listener has applied past its
//! release (`NexthopTable::reclaim` with the FIB's watermark). Neighbour resolution
//! lands here too, since a MAC belongs to the nexthops through that gateway.

use super::{Fib, FibError};
use crate::event::{
    is_group_id, EventKind, MacAddr, Nexthop, NexthopGroup, NexthopId, PortId, MAX_PATHS,
};
use crate::nexthop::NexthopEntry;
use std::net::Ipv4Addr;

impl Fib {
    fn check_nexthop(nexthop: &Nexthop) -> Result<(), FibError> {
        if let Nexthop::Gateway { gateway, .. } = nexthop {
            if gateway.is_unspecified() || gateway.is_broadcast() || gateway.is_multicast() {
                return Err(FibError::InvalidNexthop(format!(
                    "gateway {gateway} is not a unicast address"
                )));
            }
        }
        Ok(())
    }

    /// A plain nexthop by id, or the error every caller reports for one that is not
    /// there.
    fn by_id(&self, id: NexthopId) -> Result<&NexthopEntry, FibError> {
        self.nexthops.get(id).ok_or(FibError::UnknownNexthop(id))
    }

    /// Whether a route may point at `id`: an existing nexthop, or an existing group.
    pub(super) fn check_target(&self, id: NexthopId) -> Result<(), FibError> {
        let known = if is_group_id(id.0) {
            self.groups.get(id).is_some()
        } else {
            self.nexthops.get(id).is_some()
        };
        known.then_some(()).ok_or(FibError::UnknownNexthop(id))
    }

    /// Creates a nexthop and returns its id (the lowest id free for reuse). It
    /// stays until deleted ([`Self::del_nexthop`]), used or not.
    pub fn add_nexthop(&mut self, nexthop: Nexthop) -> Result<NexthopId, FibError> {
        self.create_nexthop(nexthop, false)
    }

    fn create_nexthop(&mut self, nexthop: Nexthop, implicit: bool) -> Result<NexthopId, FibError> {
        Self::check_nexthop(&nexthop)?;
        self.nexthops.reclaim(self.watermark());
        let id = self
            .nexthops
            .peek_free_id()
            .ok_or(FibError::NexthopIdsExhausted {
                capacity: self.nexthops.capacity(),
                pending: self.nexthops.pending_len(),
            })?;
        let mac = self.neighbour_of(&nexthop);
        self.nexthops.insert(id, nexthop, mac, implicit);
        self.emit_nexthop_set(id, nexthop, mac);
        Ok(id)
    }

    /// The events for a nexthop that appeared or changed: where it points, then its
    /// neighbour's MAC if that is already known.
    fn emit_nexthop_set(&mut self, id: NexthopId, nexthop: Nexthop, mac: Option<MacAddr>) {
        self.emit(EventKind::NexthopSet { id, nexthop });
        if mac.is_some() {
            self.emit(EventKind::NexthopResolved { id, mac });
        }
    }

    fn neighbour_of(&self, nexthop: &Nexthop) -> Option<MacAddr> {
        match nexthop {
            Nexthop::Gateway { port, gateway } => self.neighbours.get(&(*port, *gateway)).copied(),
            _ => None,
        }
    }

    /// Records what neighbour resolution found for `addr` on `port` (`None`: it is
    /// unreachable or forgotten). Every nexthop through that gateway follows, in seq
    /// order with routes. Returns how many nexthops changed.
    pub fn set_neighbour(&mut self, port: PortId, addr: Ipv4Addr, mac: Option<MacAddr>) -> usize {
        match mac {
            Some(m) => self.neighbours.insert((port, addr), m),
            None => self.neighbours.remove(&(port, addr)),
        };
        let gateway = Nexthop::Gateway {
            port,
            gateway: addr,
        };
        let mut ids: Vec<NexthopId> = self
            .nexthops
            .iter()
            .filter(|(_, e)| e.nexthop == gateway && e.mac != mac)
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        for id in &ids {
            self.nexthops.set_mac(*id, mac);
            self.emit(EventKind::NexthopResolved { id: *id, mac });
        }
        ids.len()
    }

    /// Resolved neighbours, for `neigh show`.
    pub fn neighbours(&self) -> Vec<(PortId, Ipv4Addr, MacAddr)> {
        let mut v: Vec<_> = self
            .neighbours
            .iter()
            .map(|((p, a), m)| (*p, *a, *m))
            .collect();
        v.sort();
        v
    }

    /// A nexthop's resolved MAC, if known.
    pub fn nexthop_mac(&self, id: NexthopId) -> Option<MacAddr> {
        self.nexthops.get(id).and_then(|e| e.mac)
    }

    /// The id of a nexthop equal to `nexthop`, creating one if there is none. One
    /// it creates is a route's: it goes when the last route using it does (or at
    /// [`Self::free_if_unused`] if no route ever took it), as the kernel frees a
    /// route's `fib_info` with its last route; an explicit nexthop
    /// ([`Self::add_nexthop`]) stays until deleted.
    pub fn nexthop_for(&mut self, nexthop: Nexthop) -> Result<NexthopId, FibError> {
        match self.find_nexthop(&nexthop) {
            Some(id) => Ok(id),
            None => self.create_nexthop(nexthop, true),
        }
    }

    /// Deletes `id` if no route uses it and it was created for routes (a
    /// [`Self::nexthop_for`] nexthop, or a multipath group): what a request that was
    /// refused after resolving its target calls, so it leaves nothing behind.
    /// Returns whether it was deleted.
    pub fn free_if_unused(&mut self, id: NexthopId) -> bool {
        if is_group_id(id.0) {
            match self.groups.get(id) {
                Some(e) if e.refcount == 0 => {
                    self.delete_group(id);
                    true
                }
                _ => false,
            }
        } else {
            match self.nexthops.get(id) {
                Some(e) if e.implicit && e.refcount == 0 => {
                    self.del_nexthop(id).expect("an unused nexthop");
                    true
                }
                _ => false,
            }
        }
    }

    /// Points an existing nexthop elsewhere; every route using it follows.
    pub fn replace_nexthop(&mut self, id: NexthopId, nexthop: Nexthop) -> Result<(), FibError> {
        Self::check_nexthop(&nexthop)?;
        if self.by_id(id)?.nexthop == nexthop {
            return Ok(());
        }
        let mac = self.neighbour_of(&nexthop);
        self.nexthops.replace(id, nexthop, mac);
        self.emit_nexthop_set(id, nexthop, mac);
        Ok(())
    }

    /// Deletes a nexthop no route uses.
    pub fn del_nexthop(&mut self, id: NexthopId) -> Result<(), FibError> {
        let e = self.by_id(id)?;
        if e.refcount > 0 {
            return Err(FibError::NexthopInUse {
                id,
                routes: e.refcount,
            });
        }
        // State first, then the event: a listener that overflows on this very
        // event is resynced from a snapshot taken inside `emit`, which must not
        // hold the nexthop any more.
        self.nexthops.remove(id, self.seq + 1);
        let seq = self.emit(EventKind::NexthopDel { id });
        debug_assert_eq!(seq, self.seq);
        Ok(())
    }

    /// The id of the nexthop made for routes ([`Self::nexthop_for`]) equal to
    /// `nexthop`, if there is one; explicit objects are not shared by value.
    pub fn find_nexthop(&self, nexthop: &Nexthop) -> Option<NexthopId> {
        self.nexthops.find(nexthop)
    }

    /// Whether `id` is a nexthop object ([`Self::add_nexthop`]), as opposed to one
    /// made for routes ([`Self::nexthop_for`]) or a multipath group.
    pub fn is_nexthop_object(&self, id: NexthopId) -> bool {
        !is_group_id(id.0) && self.nexthops.get(id).is_some_and(|e| !e.implicit)
    }

    /// A nexthop and the number of routes using it.
    pub fn nexthop(&self, id: NexthopId) -> Option<(Nexthop, u32)> {
        self.nexthops.get(id).map(|e| (e.nexthop, e.refcount))
    }

    /// Every nexthop with its refcount, by id.
    pub fn nexthops(&self) -> Vec<(NexthopId, Nexthop, u32)> {
        self.nexthops
            .sorted()
            .into_iter()
            .map(|(id, e)| (id, e.nexthop, e.refcount))
            .collect()
    }

    // ---- references held by routes ----

    /// A route takes a reference on its nexthop or group.
    pub(super) fn hold(&mut self, id: NexthopId) {
        if is_group_id(id.0) {
            self.groups.hold(id);
        } else {
            self.nexthops.hold(id);
        }
    }

    /// A route drops its reference; a group no route uses any more is deleted
    /// (after the route event that stopped using it) and releases its members.
    pub(super) fn release(&mut self, id: NexthopId) {
        if !is_group_id(id.0) {
            self.nexthops.put(id);
            self.free_if_unused(id);
            return;
        }
        self.groups.put(id);
        if self.groups.get(id).expect("held group").refcount == 0 {
            self.delete_group(id);
        }
    }

    /// Deletes an unused group, then the members no one else uses that were
    /// created for routes (each after the event that stopped using it).
    fn delete_group(&mut self, id: NexthopId) {
        let e = *self.groups.get(id).expect("a group");
        // State before the event, as in `del_nexthop`.
        self.groups.remove(id, self.seq + 1);
        for m in e.nexthop.members() {
            self.nexthops.put(m);
        }
        self.emit(EventKind::GroupDel { id });
        for m in e.nexthop.members() {
            self.free_if_unused(m);
        }
    }

    // ---- multipath groups ----

    /// The id of the multipath group over `members` (2 to [`MAX_PATHS`] distinct
    /// plain nexthops, in any order), creating it if there is none. A group lives
    /// as long as routes use it: one no route has used is deleted by the next
    /// route change that releases it, or stays until then.
    pub fn group_for(&mut self, members: &[NexthopId]) -> Result<NexthopId, FibError> {
        for m in members {
            if is_group_id(m.0) {
                return Err(FibError::InvalidNexthop(format!(
                    "{m} is a multipath group; a group's members are plain nexthops"
                )));
            }
            self.by_id(*m)?;
        }
        let group = NexthopGroup::new(members).ok_or_else(|| {
            FibError::InvalidNexthop(format!(
                "a multipath group needs 2 to {MAX_PATHS} distinct nexthops, got {}",
                members.len()
            ))
        })?;
        if let Some(id) = self.groups.find(&group) {
            return Ok(id);
        }
        self.groups.reclaim(self.watermark());
        let id = self
            .groups
            .peek_free_id()
            .ok_or(FibError::GroupIdsExhausted {
                capacity: self.groups.capacity(),
                pending: self.groups.pending_len(),
            })?;
        self.groups.insert(id, group, None, true);
        for m in group.members() {
            self.nexthops.hold(m);
        }
        self.emit(EventKind::GroupSet { id, group });
        Ok(id)
    }

    /// A multipath group and the number of routes using it.
    pub fn group(&self, id: NexthopId) -> Option<(NexthopGroup, u32)> {
        self.groups.get(id).map(|e| (e.nexthop, e.refcount))
    }

    /// Every multipath group with its refcount, by id.
    pub fn groups(&self) -> Vec<(NexthopId, NexthopGroup, u32)> {
        self.groups
            .sorted()
            .into_iter()
            .map(|(id, e)| (id, e.nexthop, e.refcount))
            .collect()
    }
}
