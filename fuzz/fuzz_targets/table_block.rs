#![no_main]
//! Fuzz target `table_block`: see `strata_fuzz::run_target` and docs/fuzzing.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_fuzz::run_target("table_block", data));
