//! One routing table (VRF): prefix -> the routes every source gave for it.
//!
//! Prefixes are kept in one hash map per length, so finding the route that covers a
//! deleted prefix (which the delete event carries) costs at most 32 probes, never a
//! scan of all routes.

use crate::prefix::{mask, Ipv4Prefix};
use crate::route::{Protocol, Route};
use hashbrown::HashMap;

/// The routes for one prefix: the installed (best) one and the others, best first.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub(crate) installed: Route,
    /// Other sources' routes, sorted by rank (best first). Usually empty, which
    /// costs no allocation.
    pub(crate) alternates: Vec<Route>,
}

impl RouteEntry {
    /// The route listeners see: the best source's.
    pub fn installed(&self) -> &Route {
        &self.installed
    }

    /// The other sources' routes, best first; one is promoted if the installed one goes.
    pub fn alternates(&self) -> &[Route] {
        &self.alternates
    }

    /// All routes for the prefix, best first.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        std::iter::once(&self.installed).chain(self.alternates.iter())
    }

    pub fn find(&self, protocol: Protocol) -> Option<&Route> {
        self.routes().find(|r| r.protocol == protocol)
    }
}

#[derive(Debug)]
pub(crate) struct RouteTable {
    by_len: [HashMap<u32, RouteEntry>; 33],
    /// Bit `l` set when some prefix of length `l` exists: covering lookups skip empty lengths.
    lengths: u64,
    prefixes: usize,
    /// Where every prefix starts: what an audit reads, range by range, to compute
    /// what a forwarding table must hold.
    starts: StartIndex,
}

/// A prefix's place in address order: containing prefixes before contained ones.
fn order_key(addr: u32, len: u8) -> u64 {
    u64::from(addr) << 6 | u64::from(len)
}

/// The prefixes of a table by where they start: one bucket per /8 (prefixes of /8
/// and longer), one for shorter ones, each an unsorted list of keys. A route add is
/// a push onto one of 257 lists (their ends stay in cache); a delete only counts,
/// and leaves its key to be dropped when the bucket is rewritten, once it holds more
/// deleted keys than live ones. An audit reads a range's bucket, keeps the keys
/// still in the table, and sorts them. (An ordered tree made adds of a million
/// routes in random order three times slower, and per-/16 buckets twice:
/// `benches/benches/fib.rs`, docs/FIB.md.)
#[derive(Debug, Default)]
struct StartIndex {
    /// 256 buckets once a prefix of /8 or longer arrives.
    by8: Vec<Bucket>,
    short: Bucket,
}

#[derive(Debug, Default)]
struct Bucket {
    /// Keys ([`order_key`]) of live prefixes, and of deleted ones not dropped yet
    /// (a prefix deleted and added again is there twice).
    keys: Vec<u64>,
    live: usize,
}

impl StartIndex {
    fn bucket(&mut self, addr: u32, len: u8) -> &mut Bucket {
        if len < 8 {
            return &mut self.short;
        }
        if self.by8.is_empty() {
            self.by8.resize_with(1 << 8, Bucket::default);
        }
        &mut self.by8[(addr >> 24) as usize]
    }

    fn insert(&mut self, addr: u32, len: u8) {
        let b = self.bucket(addr, len);
        b.keys.push(order_key(addr, len));
        b.live += 1;
    }

    /// A prefix went; `exists` says which keys are still in the table.
    fn remove(&mut self, addr: u32, len: u8, exists: impl Fn(u64) -> bool) {
        let b = self.bucket(addr, len);
        b.live -= 1;
        if b.keys.len() > 2 * b.live + 64 {
            b.keys.retain(|&k| exists(k));
            b.keys.sort_unstable();
            b.keys.dedup();
        }
    }

    /// The keys of the prefixes starting in `from ..= last`, sorted, without
    /// repeats; some may be of deleted prefixes (the caller checks).
    fn starting_in(&self, from: u32, last: u32) -> Vec<u64> {
        let inside = |k: &&u64| (u64::from(from)..=u64::from(last)).contains(&(**k >> 6));
        let mut keys: Vec<u64> = self.short.keys.iter().filter(inside).copied().collect();
        if !self.by8.is_empty() {
            let range = &self.by8[(from >> 24) as usize..=(last >> 24) as usize];
            keys.extend(range.iter().flat_map(|b| &b.keys).filter(inside));
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable {
            by_len: std::array::from_fn(|_| HashMap::new()),
            lengths: 0,
            prefixes: 0,
            starts: StartIndex::default(),
        }
    }
}

impl RouteTable {
    /// Number of prefixes with at least one route.
    pub fn len(&self) -> usize {
        self.prefixes
    }

    pub fn get(&self, prefix: &Ipv4Prefix) -> Option<&RouteEntry> {
        self.by_len[prefix.len() as usize].get(&prefix.addr())
    }

    pub fn get_mut(&mut self, prefix: &Ipv4Prefix) -> Option<&mut RouteEntry> {
        self.by_len[prefix.len() as usize].get_mut(&prefix.addr())
    }

    pub fn insert_new(&mut self, prefix: Ipv4Prefix, route: Route) {
        let len = prefix.len() as usize;
        let old = self.by_len[len].insert(
            prefix.addr(),
            RouteEntry {
                installed: route,
                alternates: Vec::new(),
            },
        );
        debug_assert!(old.is_none());
        self.starts.insert(prefix.addr(), prefix.len());
        self.lengths |= 1 << len;
        self.prefixes += 1;
    }

    pub fn remove(&mut self, prefix: &Ipv4Prefix) -> Option<RouteEntry> {
        let len = prefix.len() as usize;
        let e = self.by_len[len].remove(&prefix.addr())?;
        let by_len = &self.by_len;
        self.starts.remove(prefix.addr(), prefix.len(), |k| {
            by_len[(k & 63) as usize].contains_key(&((k >> 6) as u32))
        });
        if self.by_len[len].is_empty() {
            self.lengths &= !(1 << len);
        }
        self.prefixes -= 1;
        Some(e)
    }

    /// The installed route of the longest prefix strictly shorter than `prefix` that covers it.
    pub fn covering(&self, prefix: &Ipv4Prefix) -> Option<(Ipv4Prefix, Route)> {
        let below = self.lengths & ((1u64 << prefix.len()) - 1);
        let mut lens = below;
        while lens != 0 {
            let len = 63 - lens.leading_zeros() as u8;
            lens &= !(1 << len);
            let addr = prefix.addr() & mask(len);
            if let Some(e) = self.by_len[len as usize].get(&addr) {
                let p = Ipv4Prefix::new(addr, len).expect("masked address");
                return Some((p, e.installed));
            }
        }
        None
    }

    /// The installed route for `addr` by longest-prefix match (the control plane's view).
    pub fn lookup(&self, addr: u32) -> Option<(Ipv4Prefix, Route)> {
        let mut lens = self.lengths;
        while lens != 0 {
            let len = 63 - lens.leading_zeros() as u8;
            lens &= !(1 << len);
            let net = addr & mask(len);
            if let Some(e) = self.by_len[len as usize].get(&net) {
                return Some((Ipv4Prefix::new(net, len).expect("masked"), e.installed));
            }
        }
        None
    }

    /// The installed route of the longest prefix that covers `prefix` or is it.
    pub fn covering_or_equal(&self, prefix: &Ipv4Prefix) -> Option<(Ipv4Prefix, Route)> {
        match self.get(prefix) {
            Some(e) => Some((*prefix, e.installed)),
            None => self.covering(prefix),
        }
    }

    /// The prefixes whose first address is in `from ..= last`, in address order, a
    /// containing prefix before those it contains.
    pub fn starting_in(
        &self,
        from: u32,
        last: u32,
    ) -> impl Iterator<Item = (Ipv4Prefix, &RouteEntry)> + '_ {
        self.starts
            .starting_in(from, last)
            .into_iter()
            .filter_map(move |k| {
                let (addr, len) = ((k >> 6) as u32, (k & 63) as u8);
                let e = self.by_len[len as usize].get(&addr)?;
                Some((Ipv4Prefix::new(addr, len).expect("stored prefix"), e))
            })
    }

    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Prefix, &RouteEntry)> {
        self.by_len.iter().enumerate().flat_map(|(len, m)| {
            m.iter().map(move |(addr, e)| {
                (Ipv4Prefix::new(*addr, len as u8).expect("stored prefix"), e)
            })
        })
    }

    pub fn reserve(&mut self, len: u8, additional: usize) {
        self.by_len[len as usize].reserve(additional);
    }
}
