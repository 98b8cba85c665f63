#![no_main]
//! Fuzz target `wal_decode_batch`: see `strata_fuzz::run_target` and docs/fuzzing.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_fuzz::run_target("wal_decode_batch", data));
