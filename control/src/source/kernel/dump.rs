//! The mirror's dumps: beginning one, the ways one fails or is thrown away
//! (refused, interrupted, overflowed), and its end — the sweep of the aliases it
//! did not mention, and the verifying dump that follows one that raced with
//! changes it could not settle (docs/KERNEL.md).

use super::aliases::Touched;
use super::mirror::Mirror;
use crate::source::SourceStatus;
use fib::Ipv4Prefix;
use hashbrown::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct Dump {
    pub(super) seq: u32,
    pub(super) interrupted: bool,
    pub(super) overflowed: bool,
    /// Prefixes notifications changed since the dump began. Linux builds IPv4
    /// route dump parts under RCU only (no RTNL), so a part may hold a route as it
    /// was before a change whose notification is queued ahead of the part.
    pub(super) touched: HashMap<Ipv4Prefix, Touched>,
    /// Destination of the last route of the mirrored table in the datagram being
    /// read, and of every datagram read so far: where a dump part ended. The
    /// kernel resumes inside a trie leaf (all prefixes with one network address)
    /// by position, so a change in that leaf between parts can make it skip one.
    pub(super) last_addr: Option<u32>,
    pub(super) part_ends: hashbrown::HashSet<u32>,
    /// Network addresses of the routes deleted during the dump (a deletion is
    /// what shifts the positions in a leaf).
    pub(super) deleted: hashbrown::HashSet<u32>,
    /// A dump entry was taken for an alias a replace removed: a verifying dump
    /// follows.
    pub(super) doubtful: bool,
}

/// Tunables of the dump logic.
#[derive(Debug, Clone, Copy)]
pub struct DumpPolicy {
    /// Interrupted dumps (`NLM_F_DUMP_INTR`) retried at once, in a row, before the
    /// error is reported and the dump retried after `retry_after`.
    pub attempts: u32,
    pub retry_after: Duration,
}

impl Mirror {
    /// A dump request with sequence number `seq` was sent: everything not mentioned
    /// from now until its end is stale.
    pub fn begin_dump(&mut self, seq: u32) {
        if self.dumps_begun > 0 {
            SourceStatus::bump(&self.status.resyncs);
        }
        self.dumps_begun += 1;
        SourceStatus::bump(&self.counters.dumps);
        for aliases in self.kernel.values_mut() {
            for a in aliases {
                a.seen = false;
            }
        }
        self.view.begin_resync();
        self.dump = Some(Dump {
            seq,
            interrupted: false,
            overflowed: false,
            touched: HashMap::new(),
            last_addr: None,
            part_ends: hashbrown::HashSet::new(),
            deleted: hashbrown::HashSet::new(),
            doubtful: false,
        });
        self.due = None;
    }

    /// The dump could not be requested or the kernel refused it: retried later.
    pub fn dump_failed(&mut self, now: Instant, reason: impl std::fmt::Display) {
        self.dump = None;
        self.status
            .set_error(format!("kernel route dump failed: {reason}; retrying"));
        self.schedule(now + self.policy.retry_after);
    }

    /// The socket is gone (it is being reopened): the next one starts with a dump.
    pub fn disconnected(&mut self, now: Instant) {
        self.dump = None;
        self.schedule(now);
    }

    /// The socket's receive buffer overflowed (`ENOBUFS`): notifications were lost,
    /// so the table is dumped again — after the dump under way, if any, which can
    /// no longer be trusted to end a resync.
    pub fn on_overflow(&mut self, now: Instant) {
        SourceStatus::bump(&self.counters.overflows);
        self.status.set_error(
            "netlink receive buffer overflowed (ENOBUFS): notifications lost, dumping again",
        );
        match &mut self.dump {
            Some(d) => d.overflowed = true,
            None => self.schedule(now),
        }
    }

    pub(super) fn schedule(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |d| d.min(at)));
    }

    pub(super) fn end_dump(&mut self, now: Instant, code: i32) {
        let Some(d) = self.dump.take() else { return };
        if code != 0 {
            self.dump_failed(
                now,
                std::io::Error::from_raw_os_error(code.saturating_neg()),
            );
            return;
        }
        if d.overflowed {
            // Already counted and reported; the view stays in its resync.
            self.schedule(now);
            return;
        }
        if d.interrupted {
            SourceStatus::bump(&self.counters.interrupted);
            SourceStatus::bump(&self.status.dump_retries);
            self.interrupted_in_a_row += 1;
            if self.interrupted_in_a_row < self.policy.attempts {
                tracing::debug!(
                    attempt = self.interrupted_in_a_row,
                    "kernel route dump interrupted (NLM_F_DUMP_INTR); dumping again"
                );
                self.schedule(now);
            } else {
                self.status.set_error(format!(
                    "kernel route dump interrupted (NLM_F_DUMP_INTR) {} times in a row; retrying in {:?}",
                    self.interrupted_in_a_row, self.policy.retry_after
                ));
                self.interrupted_in_a_row = 0;
                self.schedule(now + self.policy.retry_after);
            }
            return;
        }
        self.interrupted_in_a_row = 0;
        // A part that ended inside a leaf a route was deleted from may have made
        // the next one skip a route of that leaf: those are not swept, and a
        // verifying dump follows.
        let unsure: hashbrown::HashSet<u32> = d
            .part_ends
            .iter()
            .copied()
            .filter(|a| d.deleted.contains(a))
            .collect();
        let doubtful = d.doubtful || !unsure.is_empty();
        // The sweep: aliases the dump did not mention are gone.
        let mut touched = Vec::new();
        self.kernel.retain(|prefix, aliases| {
            if unsure.contains(&prefix.addr()) {
                return true;
            }
            let before = aliases.len();
            aliases.retain(|a| a.seen);
            if aliases.len() != before {
                touched.push(*prefix);
            }
            true
        });
        touched.sort_unstable_by_key(|p| (p.addr(), p.len()));
        for p in touched {
            self.refresh(p);
        }
        // `end_resync` deletes what no `set` confirmed: the routes of the prefixes
        // kept unswept must be confirmed again.
        let mut keep: Vec<Ipv4Prefix> = self
            .kernel
            .keys()
            .copied()
            .filter(|p| unsure.contains(&p.addr()))
            .collect();
        keep.sort_unstable_by_key(|p| (p.addr(), p.len()));
        for p in keep {
            self.refresh(p);
        }
        let stale = self.view.end_resync();
        self.out.extend(stale);
        self.status.routes.store(self.view.len() as u64, Relaxed);
        if doubtful {
            SourceStatus::bump(&self.counters.verifying_dumps);
            self.doubtful_in_a_row += 1;
            tracing::debug!(
                leaves = unsure.len(),
                guessed = d.doubtful,
                "kernel route dump raced with changes it cannot settle; dumping again"
            );
            if self.doubtful_in_a_row < self.policy.attempts {
                self.schedule(now);
            } else {
                self.doubtful_in_a_row = 0;
                self.schedule(now + self.policy.retry_after);
            }
            return;
        }
        self.doubtful_in_a_row = 0;
        tracing::debug!(routes = self.view.len(), "kernel table in sync");
    }
}
