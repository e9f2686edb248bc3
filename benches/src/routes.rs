//! Route tables: the real RouteViews table, and deterministic synthetic ones.

use fib::routefile::{parse_line, RouteLine};
use fib::{Ipv4Prefix, NexthopId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// How many distinct nexthops the data sets spread their routes over.
pub const DEFAULT_NEXTHOPS: u32 = 1024;

/// The number of IPv4 prefixes in the RouteViews table `scripts/fetch-routes.sh` makes.
pub const ROUTEVIEWS_PREFIXES: usize = 606_138;

/// A route of a data set: prefix and nexthop id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteEntry {
    pub prefix: Ipv4Prefix,
    pub nexthop: NexthopId,
}

/// Why a route file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RouteFileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// Parse RouteViews `prefix/len<TAB>asn` lines (with `fib::routefile`, which skips
/// blank lines and `;`/`#` comments); each route's nexthop is `asn % nexthops`.
pub fn parse_routeviews(
    text: &str,
    nexthops: u32,
    path: &Path,
) -> Result<Vec<RouteEntry>, RouteFileError> {
    let mut routes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |reason: String| RouteFileError::Parse {
            path: path.to_owned(),
            line: i + 1,
            reason,
        };
        match parse_line(line).map_err(|e| err(e.to_string()))? {
            None => {}
            Some(RouteLine { prefix, asn }) => routes.push(RouteEntry {
                prefix,
                nexthop: NexthopId(asn % nexthops),
            }),
        }
    }
    Ok(routes)
}

/// Read a RouteViews file.
pub fn load_routeviews(path: &Path, nexthops: u32) -> Result<Vec<RouteEntry>, RouteFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| RouteFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_routeviews(&text, nexthops, path)
}

/// `$FIBRE_DATA/routeviews.txt`, else `data/routeviews.txt` under the workspace root.
pub fn routeviews_path() -> PathBuf {
    match std::env::var_os("FIBRE_DATA") {
        Some(dir) => Path::new(&dir).join("routeviews.txt"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/routeviews.txt"),
    }
}

/// Prefix-length shares of a synthetic table, in percent, modelled on today's
/// global IPv4 table (about 60% /24, 15% /22-/23, 20% /16-/21, the rest shorter
/// or longer than /24; about 1.1% longer than /24, each usually in a /24 of its own,
/// so about 11k tbl8 groups for 1M routes).
pub const SYNTHETIC_LENGTH_SHARES: [(u8, f64); 25] = [
    (8, 0.002),
    (9, 0.003),
    (10, 0.005),
    (11, 0.01),
    (12, 0.03),
    (13, 0.06),
    (14, 0.15),
    (15, 0.25),
    (16, 1.4),
    (17, 1.1),
    (18, 2.0),
    (19, 3.9),
    (20, 5.0),
    (21, 6.6),
    (22, 9.5),
    (23, 7.0),
    (24, 60.0),
    (25, 0.15),
    (26, 0.15),
    (27, 0.1),
    (28, 0.1),
    (29, 0.15),
    (30, 0.15),
    (31, 0.02),
    (32, 0.3),
];

/// A deterministic synthetic table of `n` distinct routes with
/// [`SYNTHETIC_LENGTH_SHARES`]. Routes cluster in "allocations" as real ones do:
/// each prefix is drawn inside one of a few thousand /8../12 blocks.
pub fn synthetic(n: usize, nexthops: u32, seed: u64) -> Vec<RouteEntry> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let total: f64 = SYNTHETIC_LENGTH_SHARES.iter().map(|s| s.1).sum();
    let mut cumulative = Vec::with_capacity(SYNTHETIC_LENGTH_SHARES.len());
    let mut acc = 0.0;
    for &(len, share) in &SYNTHETIC_LENGTH_SHARES {
        acc += share / total;
        cumulative.push((len, acc));
    }
    // Unicast space 1.0.0.0 - 223.255.255.255, avoiding 10/8, 127/8.
    let blocks: Vec<u32> = (1u32..224).filter(|&b| b != 10 && b != 127).collect();
    let mut seen = HashSet::with_capacity(n);
    let mut routes = Vec::with_capacity(n);
    while routes.len() < n {
        let x: f64 = rng.random();
        let len = cumulative
            .iter()
            .find(|&&(_, c)| x <= c)
            .map_or(24, |&(l, _)| l);
        let block = blocks[rng.random_range(0..blocks.len())];
        let addr = (block << 24) | (rng.random::<u32>() >> 8);
        let prefix = Ipv4Prefix::truncate(addr, len).expect("len <= 32");
        if seen.insert(prefix) {
            routes.push(RouteEntry {
                prefix,
                nexthop: NexthopId(rng.random_range(0..nexthops)),
            });
        }
    }
    routes
}

/// The 1M-route synthetic table.
pub fn synthetic_1m() -> Vec<RouteEntry> {
    synthetic(1_000_000, DEFAULT_NEXTHOPS, 0x5eed_0001)
}

/// /24s the long prefixes of [`synthetic_long`] cluster in: under the DIR-24-8
/// layouts' 32k tbl8 groups (fibre's and rte_fib's 2-byte one), as more-specifics
/// do in real tables (a provider's /24 cut into customer /28s and /30s).
pub const LONG_CLUSTERS: usize = 20_000;

/// `n` distinct routes of which `long_share` are longer than /24 (/25 to /32,
/// inside [`LONG_CLUSTERS`] random /24s), the rest as [`synthetic`]. Stresses
/// the tbl8 side of a DIR-24-8 table: many lookups take the second read.
pub fn synthetic_long(n: usize, long_share: f64, nexthops: u32, seed: u64) -> Vec<RouteEntry> {
    let long = (n as f64 * long_share) as usize;
    let mut routes = synthetic(n - long, nexthops, seed);
    let mut seen: HashSet<Ipv4Prefix> = routes.iter().map(|r| r.prefix).collect();
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x10c6);
    let clusters: Vec<u32> = (0..LONG_CLUSTERS)
        .map(|_| {
            let block = rng.random_range(1u32..224);
            (block << 24) | (rng.random::<u32>() >> 8 & 0x00ff_ff00)
        })
        .collect();
    let target = routes.len() + long;
    while routes.len() < target {
        let base = clusters[rng.random_range(0..clusters.len())];
        let len = rng.random_range(25u8..=32);
        let prefix =
            Ipv4Prefix::truncate(base | (rng.random::<u32>() & 0xff), len).expect("len <= 32");
        if seen.insert(prefix) {
            routes.push(RouteEntry {
                prefix,
                nexthop: NexthopId(rng.random_range(0..nexthops)),
            });
        }
    }
    routes
}

/// The 1M-route synthetic table with 30% of its routes longer than /24.
pub fn synthetic_long_1m() -> Vec<RouteEntry> {
    synthetic_long(1_000_000, 0.3, DEFAULT_NEXTHOPS, 0x5eed_0003)
}

/// The 10k-route synthetic table.
pub fn synthetic_10k() -> Vec<RouteEntry> {
    synthetic(10_000, DEFAULT_NEXTHOPS, 0x5eed_0002)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_routeviews_lines_and_rejects_bad_ones() {
        let text = "; comment\n1.0.0.0/24\t15169\n\n1.0.4.0/22\t56203\n";
        let r = parse_routeviews(text, 1000, Path::new("x")).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].prefix.to_string(), "1.0.0.0/24");
        assert_eq!(r[0].nexthop, NexthopId(169));
        assert_eq!(r[1].prefix.len(), 22);
        let e = parse_routeviews("1.0.0.1/24\t1\n", 10, Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("x:1"), "{e}");
        assert!(parse_routeviews("1.0.0.0/24\tasn\n", 10, Path::new("x")).is_err());
    }

    #[test]
    fn the_long_table_has_its_share_of_long_prefixes_in_few_24s() {
        let r = synthetic_long(40_000, 0.3, 64, 3);
        assert_eq!(r.len(), 40_000);
        let distinct: HashSet<_> = r.iter().map(|e| e.prefix).collect();
        assert_eq!(distinct.len(), r.len());
        let long: Vec<_> = r.iter().filter(|e| e.prefix.len() > 24).collect();
        // 12,000 made long, and the ~1% of the rest that the usual shares make long.
        assert!((12_000..=12_600).contains(&long.len()), "{}", long.len());
        let slash24s: HashSet<u32> = long.iter().map(|e| e.prefix.addr() >> 8).collect();
        assert!(slash24s.len() <= LONG_CLUSTERS + 200, "{}", slash24s.len());
    }

    #[test]
    fn synthetic_table_is_deterministic_distinct_and_shaped() {
        let a = synthetic(50_000, 64, 9);
        assert_eq!(a, synthetic(50_000, 64, 9));
        let distinct: HashSet<_> = a.iter().map(|r| r.prefix).collect();
        assert_eq!(distinct.len(), a.len());
        let share = |pred: &dyn Fn(u8) -> bool| {
            a.iter().filter(|r| pred(r.prefix.len())).count() as f64 / a.len() as f64
        };
        assert!((0.55..0.65).contains(&share(&|l| l == 24)));
        assert!((0.13..0.20).contains(&share(&|l| l == 22 || l == 23)));
        assert!((0.17..0.24).contains(&share(&|l| (16..=21).contains(&l))));
        assert!((0.007..0.02).contains(&share(&|l| l > 24)));
        assert!(a.iter().all(|r| r.nexthop.0 < 64));
    }
}
