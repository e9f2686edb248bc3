//! Address streams to look up.

use crate::routes::RouteEntry;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Which kind of destination addresses a stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressStream {
    /// Uniformly random over the whole IPv4 space (mostly cache misses).
    Uniform,
    /// A random address inside a randomly chosen route of the table.
    FromRoutes,
    /// Traffic with locality: 90% of addresses from a working set of 1,024 "flows"
    /// (destinations drawn from the routes), the rest from routes at large.
    Locality,
}

impl AddressStream {
    pub const ALL: [AddressStream; 3] = [
        AddressStream::Uniform,
        AddressStream::FromRoutes,
        AddressStream::Locality,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AddressStream::Uniform => "uniform",
            AddressStream::FromRoutes => "from-routes",
            AddressStream::Locality => "locality",
        }
    }

    /// `n` addresses of this kind, deterministic for a seed.
    pub fn generate(self, routes: &[RouteEntry], n: usize, seed: u64) -> Vec<u32> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let in_route = |rng: &mut SmallRng| {
            let r = routes[rng.random_range(0..routes.len())].prefix;
            r.first() | (rng.random::<u32>() & !fib::prefix::mask(r.len()))
        };
        match self {
            AddressStream::Uniform => (0..n).map(|_| rng.random()).collect(),
            AddressStream::FromRoutes => (0..n).map(|_| in_route(&mut rng)).collect(),
            AddressStream::Locality => {
                let flows: Vec<u32> = (0..1024).map(|_| in_route(&mut rng)).collect();
                (0..n)
                    .map(|_| {
                        if rng.random_bool(0.9) {
                            flows[rng.random_range(0..flows.len())]
                        } else {
                            in_route(&mut rng)
                        }
                    })
                    .collect()
            }
        }
    }
}

/// `n` distinct addresses of `stream` (uniform or from the routes), in random order:
/// streams far bigger than any cache, as `dpdk-test-fib` uses (16.8M), so that
/// lookups pay for DRAM as forwarding at line rate to many destinations does.
pub fn distinct(stream: AddressStream, routes: &[RouteEntry], n: usize, seed: u64) -> Vec<u32> {
    match stream {
        // A bijection of u32 (odd multiply, xor-shifts) over a counter: distinct by
        // construction, spread over the whole space.
        AddressStream::Uniform => (0..n as u32)
            .map(|i| {
                let mut x = i.wrapping_add(seed as u32);
                x = (x ^ (x >> 16)).wrapping_mul(0x7feb_352d);
                x = (x ^ (x >> 15)).wrapping_mul(0x846c_a68b);
                x ^ (x >> 16)
            })
            .collect(),
        _ => {
            let mut out: Vec<u32> = Vec::with_capacity(n + n / 8);
            let mut round = 0;
            while out.len() < n {
                let more = (n - out.len()) + (n - out.len()) / 8 + 1024;
                out.extend(AddressStream::FromRoutes.generate(routes, more, seed + round));
                out.sort_unstable();
                out.dedup();
                round += 1;
                assert!(
                    round < 64,
                    "the routes cover too few addresses for {n} distinct"
                );
            }
            let mut rng = SmallRng::seed_from_u64(seed);
            // Fisher-Yates, then cut: random order, random subset.
            for i in (1..out.len()).rev() {
                out.swap(i, rng.random_range(0..=i));
            }
            out.truncate(n);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::synthetic;

    #[test]
    fn streams_are_deterministic_and_route_streams_hit_routes() {
        let routes = synthetic(1000, 16, 1);
        for s in AddressStream::ALL {
            let a = s.generate(&routes, 5000, 3);
            assert_eq!(a, s.generate(&routes, 5000, 3));
            assert_eq!(a.len(), 5000);
            if s != AddressStream::Uniform {
                assert!(a
                    .iter()
                    .all(|&x| routes.iter().any(|r| r.prefix.contains(x))));
            }
        }
        for s in [AddressStream::Uniform, AddressStream::FromRoutes] {
            let mut d = distinct(s, &routes, 100_000, 5);
            assert_eq!(d.len(), 100_000);
            if s == AddressStream::FromRoutes {
                assert!(d
                    .iter()
                    .take(1000)
                    .all(|&x| routes.iter().any(|r| r.prefix.contains(x))));
            }
            d.sort_unstable();
            d.dedup();
            assert_eq!(d.len(), 100_000, "{s:?} addresses are distinct");
        }
        let local = AddressStream::Locality.generate(&routes, 10_000, 4);
        let distinct: std::collections::HashSet<_> = local.iter().collect();
        assert!(distinct.len() < 3000, "{} distinct", distinct.len());
    }
}
