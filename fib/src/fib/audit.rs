//! What a forwarding table must hold, range by range, for an audit
//! ([`crate::audit`]): digests computed from the routes in address order, and when
//! each /8 of a table last changed.

use super::{Fib, FibError};
use crate::audit::RunDigest;
use crate::dir24::NO_ROUTE;
use crate::event::{EventKind, TableId};
use crate::prefix::Ipv4Prefix;
use crate::table::RouteTable;

impl Fib {
    /// Notes that a route event changed its prefix's /8s at the current seq.
    pub(super) fn touch(&mut self, kind: &EventKind) {
        let (table, prefix) = match *kind {
            EventKind::RouteAdd { table, prefix, .. }
            | EventKind::RouteReplace { table, prefix, .. }
            | EventKind::RouteDel { table, prefix, .. } => (table, prefix),
            _ => return,
        };
        let seqs = self
            .touched
            .entry(table)
            .or_insert_with(|| Box::new([0; 256]));
        let (first, last) = (
            (prefix.first() >> 24) as usize,
            (prefix.last() >> 24) as usize,
        );
        seqs[first..=last].fill(self.seq);
    }

    /// Whether no route event of `table` changed addresses in `first ..= last` after
    /// `seq` (known per /8): then what the table held at `seq` there is what it holds
    /// now, and a listener's digest taken at `seq` compares with the FIB's.
    pub fn unchanged_since(&self, table: TableId, first: u32, last: u32, seq: u64) -> bool {
        self.touched.get(&table).is_none_or(|seqs| {
            seqs[(first >> 24) as usize..=(last >> 24) as usize]
                .iter()
                .all(|&s| s <= seq)
        })
    }

    /// The digest ([`RunDigest`]) of the `2^shift` addresses from `start` (aligned)
    /// as the FIB says a forwarding table of `table` must map them now.
    pub fn audit_digest(&self, table: TableId, start: u32, shift: u8) -> Result<u64, FibError> {
        Ok(expected_digest(self.table(table)?, start, shift))
    }
}

/// Sweeps the prefixes of the range in address order with a stack of the prefixes
/// still open (prefixes nest or are disjoint), feeding each run to the digest.
fn expected_digest(t: &RouteTable, start: u32, shift: u8) -> u64 {
    let size = 1u64 << shift;
    let len = 32 - shift;
    let end = u64::from(start) + size;
    let mut digest = RunDigest::new(start, size);
    let range = Ipv4Prefix::new(start, len).expect("aligned range");
    let outer = t
        .covering_or_equal(&range)
        .map_or(NO_ROUTE, |(_, r)| r.nexthop.0);
    let mut open: Vec<(u64, u32)> = vec![(end, outer)];
    let mut at = u64::from(start);
    let mut emit = |at: &mut u64, to: u64, value: u32| {
        if to > *at {
            digest.push(*at as u32, to - *at, value);
            *at = to;
        }
    };
    for (p, e) in t.starting_in(start, (end - 1) as u32) {
        if p.len() <= len {
            // Covers the whole range: `outer` already accounts for it.
            continue;
        }
        let first = u64::from(p.first());
        while let Some(&(stop, value)) = open.last().filter(|(stop, _)| *stop <= first) {
            emit(&mut at, stop, value);
            open.pop();
        }
        let value = open.last().expect("the range itself stays open").1;
        emit(&mut at, first, value);
        open.push((u64::from(p.last()) + 1, e.installed().nexthop.0));
    }
    while let Some((stop, value)) = open.pop() {
        emit(&mut at, stop, value);
    }
    digest.finish()
}
