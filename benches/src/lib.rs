//! Route data sets for benchmarks and demos.
//!
//! - [`routes`]: the RouteViews table (parsed from `scripts/fetch-routes.sh` output)
//!   and deterministic synthetic tables of 1M and 10k routes.
//! - [`addrs`]: destination address streams: uniform, drawn from routes, with locality.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod addrs;
pub mod routes;
