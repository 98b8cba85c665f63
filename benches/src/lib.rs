//! Shared pieces of Strata's benchmarks: the workload generators (keys, values, orders),
//! the two engines behind one small trait, and the operating-system probes (disk usage,
//! bytes written, peak RSS, raw `fdatasync` latency).
//!
//! The runner is `src/bin/engine.rs` (`strata-bench-engine`); the criterion
//! micro-benchmarks are in `benches/`. See `docs/benchmarks.md` for how to run them and
//! what the numbers mean. Benchmarks prove speed; nothing here asserts a duration.

pub mod engines;
pub mod metrics;
pub mod micro;
pub mod sys;
pub mod workload;
