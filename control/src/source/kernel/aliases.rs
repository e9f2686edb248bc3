//! The kernel's aliases of each prefix, kept as the kernel orders them, and how
//! route notifications and dump entries change them: `add`/`prepend`/`append`/
//! `replace` order, deletes that promote the next alias, and the rules that let a
//! notification outrank an older dump entry (`stale_in_dump`, docs/KERNEL.md).

use super::classify::{classify, AliasKey, Classified, Mapping};
use super::mirror::Mirror;
use crate::source::{SourceRoute, SourceStatus};
use fib::Ipv4Prefix;
use netlink_packet_core::{NLM_F_APPEND, NLM_F_REPLACE};
use netlink_packet_route::route::RouteMessage;

#[derive(Debug)]
pub(super) struct Alias {
    pub(super) priority: u32,
    pub(super) key: AliasKey,
    pub(super) mapping: Mapping,
    /// Kernel list order among aliases of equal metric (lower first).
    pub(super) order: i64,
    /// Mentioned by the dump under way (or changed by a notification during it).
    pub(super) seen: bool,
}

impl Alias {
    /// An alias just mentioned by the kernel, at `order` among its metric.
    fn new(priority: u32, key: AliasKey, mapping: Mapping, order: i64) -> Alias {
        Alias {
            priority,
            key,
            mapping,
            order,
            seen: true,
        }
    }
}

/// What the notifications that arrived during the dump under way said about one
/// prefix.
#[derive(Debug, Default)]
pub(super) struct Touched {
    /// The last word of a notification on each alias it named (metric, alias):
    /// there (`true`) or gone.
    pub(super) verdicts: Vec<(u32, AliasKey, bool)>,
    /// Replaces that removed an alias the mirror did not know (metric, the new
    /// alias): the dump may still list the removed one, under a name no
    /// notification gave.
    pub(super) unresolved: Vec<(u32, AliasKey)>,
}

impl Touched {
    pub(super) fn verdict(&self, priority: u32, key: &AliasKey) -> Option<bool> {
        self.verdicts
            .iter()
            .find(|(p, k, _)| *p == priority && k == key)
            .map(|v| v.2)
    }

    pub(super) fn set(&mut self, priority: u32, key: AliasKey, present: bool) {
        match self
            .verdicts
            .iter_mut()
            .find(|(p, k, _)| *p == priority && *k == key)
        {
            Some(v) => v.2 = present,
            None => self.verdicts.push((priority, key, present)),
        }
    }
}

impl Mirror {
    /// `RTM_NEWROUTE`: a dump part (`dump_part`) or an add/replace notification.
    pub fn on_new(&mut self, msg: &RouteMessage, nl_flags: u16, dump_part: bool) {
        let (prefix, priority, key, mapping) = match classify(msg, self.table) {
            Classified::Skip => return,
            Classified::Ignore(why) => {
                SourceStatus::bump(&self.status.ignored);
                tracing::debug!(reason = %why, "kernel route not mirrored");
                return;
            }
            Classified::Route {
                prefix,
                priority,
                key,
                mapping,
            } => (prefix, priority, key, mapping),
        };
        if let Mapping::Unmirrorable(why) = &mapping {
            SourceStatus::bump(&self.status.ignored);
            tracing::debug!(%prefix, reason = %why, "kernel route not mirrored");
        }
        if dump_part && self.stale_in_dump(prefix, priority, &key) {
            return;
        }
        let aliases = self.kernel.entry(prefix).or_default();
        // The order after every alias there is (a new one goes last by default).
        let next_order = &mut self.next_order;
        let mut last = || {
            *next_order += 1;
            *next_order - 1
        };
        let same_metric = |a: &&mut Alias| a.priority == priority;
        // During a dump, what a notification says about an alias outranks what
        // the rest of the dump says about it (see `stale_in_dump`).
        let mut heard: Vec<(AliasKey, bool)> = Vec::new();
        let mut unresolved = false;
        if dump_part {
            match aliases
                .iter_mut()
                .find(|a| a.priority == priority && a.key == key)
            {
                Some(a) => {
                    a.mapping = mapping;
                    a.seen = true;
                }
                None => {
                    aliases.push(Alias::new(priority, key, mapping, last()));
                }
            }
        } else if nl_flags & NLM_F_REPLACE != 0 {
            // Replaces the first alias of the same metric.
            heard.push((key.clone(), true));
            match aliases
                .iter_mut()
                .filter(same_metric)
                .min_by_key(|a| a.order)
            {
                Some(a) => {
                    if a.key != key {
                        heard.push((a.key.clone(), false));
                    }
                    a.key = key;
                    a.mapping = mapping;
                    a.seen = true;
                }
                None => {
                    // Whatever it replaced, the mirror did not know it yet.
                    unresolved = true;
                    aliases.push(Alias::new(priority, key, mapping, last()));
                }
            }
        } else if let Some(a) = aliases
            .iter_mut()
            .find(|a| a.priority == priority && a.key == key)
        {
            heard.push((key, true));
            a.mapping = mapping;
            a.seen = true;
        } else {
            heard.push((key.clone(), true));
            // `append` goes after the aliases of the same metric, `add`/`prepend`
            // before them.
            let order = if nl_flags & NLM_F_APPEND != 0 {
                None
            } else {
                aliases
                    .iter()
                    .filter(|a| a.priority == priority)
                    .map(|a| a.order - 1)
                    .min()
            };
            let order = order.unwrap_or_else(last);
            aliases.push(Alias::new(priority, key, mapping, order));
        }
        if let Some(d) = &mut self.dump {
            if !dump_part {
                let t = d.touched.entry(prefix).or_default();
                if unresolved {
                    t.unresolved.push((priority, heard[0].0.clone()));
                }
                for (k, present) in heard {
                    t.set(priority, k, present);
                }
            }
        }
        self.refresh(prefix);
    }

    /// Whether a dump entry for alias `key` of `prefix` at metric `priority` is
    /// older than what a notification read during the same dump said.
    ///
    /// Linux builds IPv4 route dump parts under RCU, without RTNL, concurrently
    /// with changes; a change's notification is queued at once, the part only when
    /// it is full. So a part can list a route as it was before a change whose
    /// notification arrived ahead of the part (and `fib_table_delete` even queues
    /// `RTM_DELROUTE` before it unlinks the route). The notification is never older
    /// than the dump entry that follows it: for an alias a notification named, the
    /// notification stands (a later add shows up as its own notification, before
    /// or after). A replace names only the new alias; when the mirror did not know
    /// the one it replaced, the first alias of that metric the dump lists without
    /// the new one before it is taken for the replaced one — and, since that is a
    /// guess, a verifying dump follows.
    fn stale_in_dump(&mut self, prefix: Ipv4Prefix, priority: u32, key: &AliasKey) -> bool {
        let Some(d) = &mut self.dump else {
            return false;
        };
        let Some(t) = d.touched.get_mut(&prefix) else {
            return false;
        };
        if let Some(present) = t.verdict(priority, key) {
            // The dump shows this alias: if a replace put it there, that replace
            // was done when the dump read the prefix.
            t.unresolved.retain(|(p, k)| !(*p == priority && k == key));
            SourceStatus::bump(&self.counters.stale_dump_entries);
            tracing::debug!(%prefix, priority, present, "dump entry for an alias a notification during the dump already reported; the notification stands");
            if present {
                if let Some(a) = self.kernel.get_mut(&prefix).and_then(|v| {
                    v.iter_mut()
                        .find(|a| a.priority == priority && a.key == *key)
                }) {
                    a.seen = true;
                }
            }
            return true;
        }
        if let Some(i) = t.unresolved.iter().position(|(p, _)| *p == priority) {
            t.unresolved.remove(i);
            t.verdicts.push((priority, key.clone(), false));
            d.doubtful = true;
            SourceStatus::bump(&self.counters.stale_dump_entries);
            tracing::debug!(%prefix, priority, "dump entry taken for the alias a replace during the dump removed; a verifying dump follows");
            return true;
        }
        false
    }

    /// `RTM_DELROUTE`.
    pub fn on_del(&mut self, msg: &RouteMessage) {
        let Classified::Route {
            prefix,
            priority,
            key,
            ..
        } = classify(msg, self.table)
        else {
            return;
        };
        let dumping = match &mut self.dump {
            Some(d) => {
                let t = d.touched.entry(prefix).or_default();
                t.set(priority, key.clone(), false);
                d.deleted.insert(prefix.addr());
                true
            }
            None => false,
        };
        let Some(aliases) = self.kernel.get_mut(&prefix) else {
            return;
        };
        let at = aliases
            .iter()
            .position(|a| a.priority == priority && a.key == key)
            .or_else(|| {
                if dumping {
                    // The dump under way says what else is there.
                    return None;
                }
                // Not the alias we know (we missed a change): the first of its metric.
                aliases
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.priority == priority)
                    .min_by_key(|(_, a)| a.order)
                    .map(|(i, _)| i)
            });
        if let Some(i) = at {
            aliases.swap_remove(i);
            self.refresh(prefix);
        }
    }

    /// Makes fibre's route for `prefix` the kernel's winning alias, or none.
    pub(super) fn refresh(&mut self, prefix: Ipv4Prefix) {
        let winner = match self.kernel.get(&prefix) {
            Some(aliases) if aliases.is_empty() => {
                self.kernel.remove(&prefix);
                None
            }
            Some(aliases) => aliases
                .iter()
                .min_by_key(|a| (a.priority, a.order))
                .map(|a| a.mapping.clone()),
            None => None,
        };
        let request = match winner {
            Some(Mapping::Mirror(target)) => self.view.set(SourceRoute {
                table: self.into_table,
                prefix,
                target,
                distance: self.distance,
            }),
            _ => self.view.del(self.into_table, prefix),
        };
        self.out.extend(request);
    }
}
