//! The DIR-24-8 table itself: entries, tbl8 pool, bounded updates.

use super::mem::LargeBuf;
use super::{EXT, MAX_TBL8_GROUPS, NO_ROUTE, TBL24_LEN, TBL8_GROUP};
use crate::audit::RunDigest;
use crate::event::{NexthopId, Progress, MAX_NEXTHOP_ID};
use crate::prefix::Ipv4Prefix;

/// Why a table update was refused. The table is unchanged by the refused event
/// except for entries an earlier `Partial` call of the same event already wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Dir24Error {
    #[error("tbl8 groups exhausted: all {cap} groups in use (raise tbl8_groups_max, at most {max})", max = MAX_TBL8_GROUPS)]
    Tbl8Exhausted { cap: u32 },
    #[error("nexthop id {id} is above the table's limit {max}", max = MAX_NEXTHOP_ID)]
    NexthopOutOfRange { id: u32 },
    #[error("unknown nexthop id {id}")]
    UnknownNexthop { id: u32 },
    #[error(
        "event at seq {seq} arrived while the event at seq {pending} was still partially applied"
    )]
    InterruptedEvent { seq: u64, pending: u64 },
    #[error("{what} at seq {seq} arrived with no replay in progress")]
    NotReplaying { what: &'static str, seq: u64 },
}

/// Sizing of a table's tbl8 pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dir24Config {
    /// Groups allocated up front (256 entries, 768 bytes each).
    pub tbl8_groups: u32,
    /// The pool grows (doubling) up to this many groups, then adds needing a new group
    /// fail with [`Dir24Error::Tbl8Exhausted`]. At most [`MAX_TBL8_GROUPS`].
    pub tbl8_groups_max: u32,
}

impl Default for Dir24Config {
    fn default() -> Self {
        Dir24Config {
            tbl8_groups: 1024,
            tbl8_groups_max: MAX_TBL8_GROUPS,
        }
    }
}

/// Counters describing a table's state and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dir24Stats {
    pub tbl8_groups_used: u32,
    pub tbl8_groups_allocated: u32,
    pub tbl8_groups_max: u32,
    /// Bytes the lookup path reads from (tbl24 + tbl8 entries).
    pub lookup_bytes: usize,
    /// Bytes in total, including the writer-only depth arrays.
    pub total_bytes: usize,
}

/// A resumable operation: what it is, and the next tbl24 index to process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Rewrite entries with depth in `lo..=hi` under `prefix` to (`value`, `depth`).
    Rewrite {
        prefix: Ipv4Prefix,
        lo: u8,
        hi: u8,
        value: u16,
        depth: u8,
    },
    Clear,
}

/// A DIR-24-8 longest-prefix-match table mapping IPv4 addresses to nexthop ids.
///
/// Entry layout and overlap rules: see the [module docs](super). Updates are bounded
/// by a work budget (one unit per entry visited) and resume where they stopped when
/// called again with the same arguments.
pub struct Dir24Table {
    /// 2^24 entries plus padding so a 4-byte SIMD gather of the last entry stays inside.
    tbl24: LargeBuf<u16>,
    /// Depth of each tbl24 entry (meaningless while the entry is extended).
    depth24: LargeBuf<u8>,
    /// tbl8 entries, `groups allocated * 256` plus padding of [`TBL8_PAD`].
    tbl8: Vec<u16>,
    depth8: Vec<u8>,
    /// Per group: entries with depth > 24. Zero means the group is folded back.
    specific: Vec<u16>,
    free_groups: Vec<u32>,
    groups_allocated: u32,
    config: Dir24Config,
    /// tbl24 indices written since the last clear (inclusive), for bounded clears.
    dirty: Option<(u32, u32)>,
    pending: Option<(Op, u32)>,
}

/// Prefetches tbl24 entries of one table: see [`Dir24Table::prefetcher`].
#[derive(Debug, Clone, Copy)]
pub struct Tbl24Prefetcher<'t> {
    tbl24: *const u16,
    _table: core::marker::PhantomData<&'t Dir24Table>,
}

impl Tbl24Prefetcher<'_> {
    /// Hints the CPU to start fetching the tbl24 entry of `addr`. Never faults.
    #[inline(always)]
    pub fn prefetch(&self, addr: u32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint: it reads nothing architecturally and never
        // faults (the address is inside tbl24 anyway: addr >> 8 < 2^24, and the borrow
        // keeps the table alive); SSE is part of the x86-64 baseline.
        unsafe {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.tbl24.add((addr >> 8) as usize).cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = addr;
    }
}

/// Padding after the tbl8 entries (for 4-byte gathers of the last entry).
const TBL8_PAD: usize = 2;

#[inline(always)]
fn encode(nexthop: Option<NexthopId>) -> u16 {
    match nexthop {
        Some(id) => ((id.0 + 1) << 1) as u16,
        None => 0,
    }
}

/// Decode a non-extended entry into a nexthop id, [`NO_ROUTE`] for none.
#[inline(always)]
pub(crate) fn decode(entry: u16) -> u32 {
    ((entry >> 1) as u32).wrapping_sub(1)
}

/// The lookup result of `addr`, whose tbl24 entry is `e`: `e` decoded, or, if `e` is
/// extended, the entry of its tbl8 group for the address's last octet, decoded. What
/// every scalar kernel ends with.
///
/// # Safety
/// `tbl8` points at the tbl8 of the table `e` was read from, which is still borrowed:
/// an extended entry names a group the table allocated, so the index is below tbl8's
/// length (dir24_diff compares every kernel with the reference over random tables).
#[inline(always)]
pub(crate) unsafe fn resolve(tbl8: *const u16, e: u16, addr: u32) -> u32 {
    let e = if e & EXT != 0 {
        // SAFETY: in range, by the caller's contract.
        unsafe { *tbl8.add(((e as usize >> 1) << 8) | (addr as usize & 0xff)) }
    } else {
        e
    };
    decode(e)
}

impl Dir24Table {
    /// An empty table (every address: no route).
    pub fn new(config: Dir24Config) -> Self {
        let max = config.tbl8_groups_max.min(MAX_TBL8_GROUPS);
        let initial = config.tbl8_groups.min(max);
        let config = Dir24Config {
            tbl8_groups: initial,
            tbl8_groups_max: max,
        };
        let mut t = Dir24Table {
            tbl24: LargeBuf::zeroed(TBL24_LEN + 2),
            depth24: LargeBuf::zeroed(TBL24_LEN),
            tbl8: vec![0; TBL8_PAD],
            depth8: Vec::new(),
            specific: Vec::new(),
            free_groups: Vec::new(),
            groups_allocated: 0,
            config,
            dirty: None,
            pending: None,
        };
        t.grow_pool(initial);
        t
    }

    /// The configuration in force (after clamping to the layout's limits).
    pub fn config(&self) -> Dir24Config {
        self.config
    }

    /// Longest-prefix match of one address (host byte order).
    #[inline(always)]
    pub fn lookup(&self, addr: u32) -> Option<NexthopId> {
        let id = self.lookup_raw(addr);
        (id != NO_ROUTE).then_some(NexthopId(id))
    }

    /// Hints the CPU to start fetching the tbl24 entry of `addr` (a later lookup of it
    /// then finds it in cache). Never faults; a no-op where there is no prefetch hint.
    #[inline(always)]
    pub fn prefetch(&self, addr: u32) {
        self.prefetcher().prefetch(addr);
    }

    /// Longest-prefix match of one address: the nexthop id, or [`NO_ROUTE`].
    #[inline(always)]
    pub fn lookup_raw(&self, addr: u32) -> u32 {
        // SAFETY: addr >> 8 < 2^24 <= tbl24.len(); the group index of an extended
        // entry always names an allocated group (the update code only writes EXT
        // entries for groups it allocated), so the tbl8 index is < groups * 256.
        unsafe {
            resolve(
                self.tbl8.as_ptr(),
                *self.tbl24.get_unchecked((addr >> 8) as usize),
                addr,
            )
        }
    }

    /// A copy of the table's tbl24 address that prefetches as [`Self::prefetch`] does,
    /// for loops that would otherwise reload the address from the table each time.
    #[inline(always)]
    pub fn prefetcher(&self) -> Tbl24Prefetcher<'_> {
        Tbl24Prefetcher {
            tbl24: self.tbl24.as_ptr(),
            _table: core::marker::PhantomData,
        }
    }

    pub(crate) fn tbl24_ptr(&self) -> *const u16 {
        self.tbl24.as_ptr()
    }

    pub(crate) fn tbl8_ptr(&self) -> *const u16 {
        self.tbl8.as_ptr()
    }

    /// Add `prefix -> nexthop` or change the nexthop of an installed `prefix`
    /// (add and replace are the same rewrite: entries under `prefix` whose depth is
    /// at most the prefix length). Applying it twice is harmless.
    pub fn add(
        &mut self,
        prefix: Ipv4Prefix,
        nexthop: NexthopId,
        budget: &mut usize,
    ) -> Result<Progress, Dir24Error> {
        if nexthop.0 > MAX_NEXTHOP_ID {
            return Err(Dir24Error::NexthopOutOfRange { id: nexthop.0 });
        }
        let op = Op::Rewrite {
            prefix,
            lo: 0,
            hi: prefix.len(),
            value: encode(Some(nexthop)),
            depth: prefix.len(),
        };
        self.run(op, budget)
    }

    /// Remove `prefix`; its addresses fall back to `covering` (the longest installed
    /// shorter prefix covering it, as the FIB's delete event carries), or to no route.
    pub fn delete(
        &mut self,
        prefix: Ipv4Prefix,
        covering: Option<(Ipv4Prefix, NexthopId)>,
        budget: &mut usize,
    ) -> Result<Progress, Dir24Error> {
        let (value, depth) = match covering {
            Some((cover, nh)) => {
                if nh.0 > MAX_NEXTHOP_ID {
                    return Err(Dir24Error::NexthopOutOfRange { id: nh.0 });
                }
                debug_assert!(
                    cover.len() < prefix.len() && cover.covers(&prefix),
                    "{cover} does not cover {prefix}"
                );
                (encode(Some(nh)), cover.len())
            }
            None => (0, 0),
        };
        let op = Op::Rewrite {
            prefix,
            lo: prefix.len(),
            hi: prefix.len(),
            value,
            depth,
        };
        self.run(op, budget)
    }

    /// [`add`](Self::add) without a budget.
    pub fn insert(&mut self, prefix: Ipv4Prefix, nexthop: NexthopId) -> Result<(), Dir24Error> {
        let mut budget = usize::MAX;
        self.add(prefix, nexthop, &mut budget).map(|_| ())
    }

    /// [`delete`](Self::delete) without a budget.
    pub fn remove(
        &mut self,
        prefix: Ipv4Prefix,
        covering: Option<(Ipv4Prefix, NexthopId)>,
    ) -> Result<(), Dir24Error> {
        let mut budget = usize::MAX;
        self.delete(prefix, covering, &mut budget).map(|_| ())
    }

    /// Empty the table, in bounded steps (one unit per tbl24 entry zeroed). Only the
    /// range written since the last clear is zeroed; the tbl8 pool keeps its size.
    pub fn clear(&mut self, budget: &mut usize) -> Progress {
        self.run(Op::Clear, budget).expect("clearing cannot fail")
    }

    /// Whether every address has no route (true right after a completed clear).
    pub fn is_empty(&self) -> bool {
        self.dirty.is_none()
    }

    /// Pool and memory counters.
    pub fn stats(&self) -> Dir24Stats {
        let lookup_bytes = self.tbl24.bytes() + self.tbl8.capacity() * 2;
        Dir24Stats {
            tbl8_groups_used: self.groups_allocated - self.free_groups.len() as u32,
            tbl8_groups_allocated: self.groups_allocated,
            tbl8_groups_max: self.config.tbl8_groups_max,
            lookup_bytes,
            total_bytes: lookup_bytes
                + self.depth24.bytes()
                + self.depth8.capacity()
                + self.specific.capacity() * 2
                + self.free_groups.capacity() * 4,
        }
    }

    /// Feeds `digest` the lookup results of addresses `from .. from + len` (an audit,
    /// see [`crate::audit`]), taking about one unit of `budget` per entry read
    /// (a tbl24 entry costs 1, each tbl8 entry 1 more). Returns the first address not fed yet, or
    /// `None` when the range is done; call again from there to go on.
    pub fn digest_range(
        &self,
        from: u32,
        len: u64,
        digest: &mut RunDigest,
        budget: &mut usize,
    ) -> Option<u32> {
        let end = u64::from(from) + len;
        let mut addr = u64::from(from);
        while addr < end {
            if *budget == 0 {
                return Some(addr as u32);
            }
            let e = self.tbl24[(addr >> 8) as usize];
            // The part of this /24 inside the range.
            let stop = ((addr | 0xff) + 1).min(end);
            if e & EXT == 0 {
                digest.push(addr as u32, stop - addr, decode(e));
                *budget -= 1;
            } else {
                let group = usize::from(e >> 1) << 8;
                for a in addr..stop {
                    digest.push(a as u32, 1, decode(self.tbl8[group | (a as usize & 0xff)]));
                }
                *budget = budget.saturating_sub(1 + (stop - addr) as usize);
            }
            addr = stop;
        }
        None
    }

    /// Test hook: overwrites what `addr` looks up to (`NO_ROUTE`: no route) behind
    /// the table's back — no depth, no tbl8 bookkeeping — as a memory fault or a bug
    /// would, so an audit can be shown to find it and a resync to heal it.
    #[cfg(feature = "test-hooks")]
    pub fn corrupt(&mut self, addr: u32, value: u32) {
        let entry = if value == NO_ROUTE {
            0
        } else {
            encode(Some(NexthopId(value.min(MAX_NEXTHOP_ID))))
        };
        let i = (addr >> 8) as usize;
        if self.tbl24[i] & EXT == 0 {
            self.tbl24[i] = entry;
        } else {
            let group = usize::from(self.tbl24[i] >> 1) << 8;
            self.tbl8[group | (addr as usize & 0xff)] = entry;
        }
        self.mark_dirty(i as u32, i as u32);
    }

    /// Where the tbl24 memory came from (huge-page-advised mmap or the fallback).
    pub fn tbl24_backing(&self) -> super::Backing {
        self.tbl24.backing()
    }

    fn run(&mut self, op: Op, budget: &mut usize) -> Result<Progress, Dir24Error> {
        let start = match self.pending.take() {
            Some((p, next)) if p == op => next,
            _ => 0,
        };
        let result = match op {
            Op::Rewrite {
                prefix,
                lo,
                hi,
                value,
                depth,
            } => {
                if prefix.len() <= 24 {
                    self.rewrite_short(prefix, lo, hi, value, depth, start, budget)
                } else {
                    self.rewrite_long(prefix, lo, hi, value, depth, budget)
                }
            }
            Op::Clear => Ok(self.clear_from(start, budget)),
        };
        match result {
            Ok(Ok(())) => Ok(Progress::Done),
            Ok(Err(next)) => {
                self.pending = Some((op, next));
                Ok(Progress::Partial)
            }
            Err(e) => Err(e),
        }
    }

    fn mark_dirty(&mut self, first: u32, last: u32) {
        self.dirty = Some(match self.dirty {
            Some((lo, hi)) => (lo.min(first), hi.max(last)),
            None => (first, last),
        });
    }

    /// Prefix of length <= 24: a run of tbl24 entries. `Err(next)` = budget ran out.
    #[allow(clippy::too_many_arguments)]
    fn rewrite_short(
        &mut self,
        prefix: Ipv4Prefix,
        lo: u8,
        hi: u8,
        value: u16,
        depth: u8,
        start: u32,
        budget: &mut usize,
    ) -> Result<Result<(), u32>, Dir24Error> {
        let first = prefix.first() >> 8;
        let last = prefix.last() >> 8;
        if start == 0 {
            self.mark_dirty(first, last);
        }
        let mut i = first.max(start) as usize;
        let end = last as usize + 1;
        // Chunks of at most 256 tbl24 entries: the plain entries in a chunk are
        // rewritten with a branch-free select the compiler vectorises; extended
        // entries (rare) are then handled one by one.
        const CHUNK: usize = 256;
        while i < end {
            if *budget == 0 {
                return Ok(Err(i as u32));
            }
            let n = (end - i).min(CHUNK).min(*budget);
            let vals = &mut self.tbl24[i..i + n];
            let deps = &mut self.depth24[i..i + n];
            let mut any_ext = 0u16;
            for (v, d) in vals.iter_mut().zip(deps.iter_mut()) {
                let e = *v;
                any_ext |= e & EXT;
                let hit = (e & EXT == 0) & (*d >= lo) & (*d <= hi);
                *v = if hit { value } else { e };
                *d = if hit { depth } else { *d };
            }
            let mut cost = n;
            if any_ext != 0 {
                for j in i..i + n {
                    let e = self.tbl24[j];
                    if e & EXT != 0 {
                        let g = (e >> 1) as usize;
                        self.rewrite_group(g, 0, TBL8_GROUP, lo, hi, value, depth);
                        cost += TBL8_GROUP;
                    }
                }
            }
            *budget = budget.saturating_sub(cost);
            i += n;
        }
        Ok(Ok(()))
    }

    /// Rewrite entries `from..to` of group `g` whose depth is in `lo..=hi`; keeps
    /// the group's count of entries deeper than 24. Returns that count.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn rewrite_group(
        &mut self,
        g: usize,
        from: usize,
        to: usize,
        lo: u8,
        hi: u8,
        value: u16,
        depth: u8,
    ) -> u16 {
        let base = g * TBL8_GROUP;
        let vals = &mut self.tbl8[base + from..base + to];
        let deps = &mut self.depth8[base + from..base + to];
        let mut specific = self.specific[g] as i32;
        let new_specific = (depth > 24) as i32;
        for (v, d) in vals.iter_mut().zip(deps.iter_mut()) {
            let hit = (*d >= lo) & (*d <= hi);
            if hit {
                specific += new_specific - (*d > 24) as i32;
                *v = value;
                *d = depth;
            }
        }
        debug_assert!((0..=256).contains(&specific));
        self.specific[g] = specific as u16;
        specific as u16
    }

    /// Prefix longer than 24: part of one tbl8 group (at most 128 entries, so never split).
    fn rewrite_long(
        &mut self,
        prefix: Ipv4Prefix,
        lo: u8,
        hi: u8,
        value: u16,
        depth: u8,
        budget: &mut usize,
    ) -> Result<Result<(), u32>, Dir24Error> {
        if *budget == 0 {
            return Ok(Err(0));
        }
        let i = (prefix.first() >> 8) as usize;
        let from = (prefix.first() & 0xff) as usize;
        let to = (prefix.last() & 0xff) as usize + 1;
        let e = self.tbl24[i];
        let mut cost = to - from;
        let g = if e & EXT != 0 {
            (e >> 1) as usize
        } else {
            // Only an add (lo == 0) can need a new group: with no group here, no entry
            // of this /24 is deeper than 24, so a delete of a longer prefix has nothing to do.
            if lo != 0 {
                *budget = budget.saturating_sub(1);
                return Ok(Ok(()));
            }
            let g = self.alloc_group()?;
            let base = g * TBL8_GROUP;
            let d = self.depth24[i];
            self.tbl8[base..base + TBL8_GROUP].fill(e);
            self.depth8[base..base + TBL8_GROUP].fill(d);
            self.specific[g] = 0;
            self.mark_dirty(i as u32, i as u32);
            cost += TBL8_GROUP;
            g
        };
        let specific = self.rewrite_group(g, from, to, lo, hi, value, depth);
        if e & EXT == 0 {
            self.tbl24[i] = ((g as u16) << 1) | EXT;
        } else if specific == 0 {
            // Nothing deeper than 24 left: every entry now carries the same covering
            // route (or none), so the group folds back into its tbl24 entry.
            let base = g * TBL8_GROUP;
            self.tbl24[i] = self.tbl8[base];
            self.depth24[i] = self.depth8[base];
            self.free_groups.push(g as u32);
            cost += 1;
        }
        *budget = budget.saturating_sub(cost);
        Ok(Ok(()))
    }

    fn alloc_group(&mut self) -> Result<usize, Dir24Error> {
        if self.free_groups.is_empty() {
            let cap = self.config.tbl8_groups_max;
            if self.groups_allocated >= cap {
                return Err(Dir24Error::Tbl8Exhausted { cap });
            }
            let more = self
                .groups_allocated
                .max(64)
                .min(cap - self.groups_allocated);
            self.grow_pool(more);
        }
        Ok(self.free_groups.pop().expect("pool grown") as usize)
    }

    fn grow_pool(&mut self, more: u32) {
        let old = self.groups_allocated as usize;
        let new = old + more as usize;
        self.tbl8.truncate(old * TBL8_GROUP);
        self.tbl8.resize(new * TBL8_GROUP + TBL8_PAD, 0);
        self.depth8.resize(new * TBL8_GROUP, 0);
        self.specific.resize(new, 0);
        // Lowest group first out of the free list (pop takes from the end).
        self.free_groups.extend((old as u32..new as u32).rev());
        self.groups_allocated = new as u32;
    }

    fn clear_from(&mut self, start: u32, budget: &mut usize) -> Result<(), u32> {
        let Some((first, last)) = self.dirty else {
            return Ok(());
        };
        let mut i = first.max(start) as usize;
        let end = last as usize + 1;
        const CHUNK: usize = 4096;
        while i < end {
            if *budget == 0 {
                return Err(i as u32);
            }
            let n = (end - i).min(CHUNK).min(*budget);
            self.tbl24[i..i + n].fill(0);
            self.depth24[i..i + n].fill(0);
            *budget = budget.saturating_sub(n);
            i += n;
        }
        self.dirty = None;
        self.free_groups.clear();
        self.free_groups.extend((0..self.groups_allocated).rev());
        Ok(())
    }
}

impl std::fmt::Debug for Dir24Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dir24Table")
            .field("stats", &self.stats())
            .field("backing", &self.tbl24.backing())
            .finish()
    }
}
