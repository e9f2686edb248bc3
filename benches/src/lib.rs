//! Route data sets for benchmarks and demos.
