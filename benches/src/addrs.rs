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
        let local = AddressStream::Locality.generate(&routes, 10_000, 4);
        let distinct: std::collections::HashSet<_> = local.iter().collect();
        assert!(distinct.len() < 3000, "{} distinct", distinct.len());
    }
}
