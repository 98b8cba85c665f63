#![no_main]
//! Fuzz target `wal_replay`: see `strata_fuzz::run_target` and docs/fuzzing.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_fuzz::run_target("wal_replay", data));
