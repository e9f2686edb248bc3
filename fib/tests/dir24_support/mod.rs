//! Shared by the dir24 tests: a plain reference LPM and random route sets.
#![allow(dead_code)]

use fib::{Ipv4Prefix, NexthopId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// Longest-prefix match the obvious way: one map per prefix length, longest first.
#[derive(Default, Clone)]
pub struct RefLpm {
    by_len: Vec<HashMap<u32, u32>>,
}

impl RefLpm {
    pub fn new() -> Self {
        RefLpm {
            by_len: vec![HashMap::new(); 33],
        }
    }

    pub fn insert(&mut self, p: Ipv4Prefix, nh: u32) -> Option<u32> {
        self.by_len[p.len() as usize].insert(p.addr(), nh)
    }

    pub fn remove(&mut self, p: Ipv4Prefix) -> Option<u32> {
        self.by_len[p.len() as usize].remove(&p.addr())
    }

    pub fn get(&self, p: Ipv4Prefix) -> Option<u32> {
        self.by_len[p.len() as usize].get(&p.addr()).copied()
    }

    pub fn lookup(&self, addr: u32) -> Option<u32> {
        (0..=32u8).rev().find_map(|len| {
            let p = Ipv4Prefix::truncate(addr, len).unwrap();
            self.by_len[len as usize].get(&p.addr()).copied()
        })
    }

    /// The longest installed prefix shorter than `p` that covers it: what a FIB's
    /// delete event carries.
    pub fn covering(&self, p: Ipv4Prefix) -> Option<(Ipv4Prefix, NexthopId)> {
        (0..p.len()).rev().find_map(|len| {
            let c = Ipv4Prefix::truncate(p.addr(), len).unwrap();
            self.by_len[len as usize]
                .get(&c.addr())
                .map(|&nh| (c, NexthopId(nh)))
        })
    }

    pub fn prefixes(&self) -> Vec<(Ipv4Prefix, u32)> {
        let mut v: Vec<_> = self
            .by_len
            .iter()
            .enumerate()
            .flat_map(|(len, m)| {
                m.iter()
                    .map(move |(&a, &nh)| (Ipv4Prefix::new(a, len as u8).unwrap(), nh))
            })
            .collect();
        v.sort();
        v
    }

    pub fn len(&self) -> usize {
        self.by_len.iter().map(|m| m.len()).sum()
    }

    /// The whole address space as sorted, disjoint `(first, last, nexthop)` runs.
    pub fn intervals(&self) -> Vec<(u32, u32, Option<u32>)> {
        // Sweep the prefixes in address order (shorter first at equal address, so a
        // prefix comes after those covering it), with a stack of the prefixes that
        // cover the current position; `pos` is the first address not yet emitted.
        let mut out = Vec::new();
        let mut stack: Vec<(Ipv4Prefix, u32)> = Vec::new();
        let mut pos: u64 = 0;
        let mut emit = |pos: &mut u64, to: u64, nh: Option<u32>| {
            if *pos <= to {
                out.push((*pos as u32, to as u32, nh));
                *pos = to + 1;
            }
        };
        for (p, nh) in self.prefixes() {
            while let Some(&(top, tnh)) = stack.last() {
                if (top.last() as u64) < p.first() as u64 {
                    emit(&mut pos, top.last() as u64, Some(tnh));
                    stack.pop();
                } else {
                    break;
                }
            }
            let cur = stack.last().map(|&(_, n)| n);
            if (p.first() as u64) > pos {
                emit(&mut pos, p.first() as u64 - 1, cur);
            }
            stack.push((p, nh));
        }
        while let Some((top, tnh)) = stack.pop() {
            emit(&mut pos, top.last() as u64, Some(tnh));
        }
        emit(&mut pos, u32::MAX as u64, None);
        out
    }
}

/// A random prefix: lengths spread over 0..=32 with most weight on 8..=32, and a
/// share inside a few dense /20s so tbl8 groups get crowded and overlap.
pub fn random_prefix(rng: &mut SmallRng, dense: &[u32]) -> Ipv4Prefix {
    let len: u8 = match rng.random_range(0..100) {
        0 => rng.random_range(0..8),
        1..=20 => rng.random_range(8..=20),
        21..=50 => rng.random_range(21..=24),
        _ => rng.random_range(25..=32),
    };
    let addr = if len >= 20 && !dense.is_empty() && rng.random_bool(0.6) {
        dense[rng.random_range(0..dense.len())] | (rng.random::<u32>() & 0xfff)
    } else {
        rng.random::<u32>()
    };
    Ipv4Prefix::truncate(addr, len).unwrap()
}

pub fn dense_regions(rng: &mut SmallRng, n: usize) -> Vec<u32> {
    (0..n).map(|_| rng.random::<u32>() & 0xffff_f000).collect()
}

pub fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}
