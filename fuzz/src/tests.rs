//! The targets on stable Rust: the committed seeds are current and valid, every target
//! accepts them, and corrupted copies of the engine seeds never break a target.
//!
//! Regenerate the committed seeds after a format change with
//! `STRATA_FUZZ_WRITE_SEEDS=1 cargo test --manifest-path fuzz/Cargo.toml seeds`.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use strata_engine::table::Table;

use crate::seeds::{self, Seed};
use crate::server::{self, Dialect};
use crate::{run_target, TARGETS};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

fn seed<'a>(all: &'a [Seed], target: &str, name: &str) -> &'a [u8] {
    &all.iter()
        .find(|s| s.target == target && s.name == name)
        .unwrap_or_else(|| panic!("no seed {target}/{name}"))
        .bytes
}

#[test]
fn seeds_are_committed() {
    let write = std::env::var_os("STRATA_FUZZ_WRITE_SEEDS").is_some();
    for s in seeds::all() {
        assert!(
            TARGETS.contains(&s.target),
            "seed for unknown target {}",
            s.target
        );
        let path = corpus_dir(s.target).join(s.name);
        if write {
            std::fs::create_dir_all(corpus_dir(s.target)).expect("mkdir corpus");
            std::fs::write(&path, &s.bytes).expect("write seed");
        } else {
            let committed = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; regenerate with STRATA_FUZZ_WRITE_SEEDS=1",
                    path.display()
                )
            });
            assert!(
                committed == s.bytes,
                "{} is stale; regenerate with STRATA_FUZZ_WRITE_SEEDS=1",
                path.display()
            );
        }
    }
    for target in TARGETS {
        assert!(corpus_dir(target).is_dir(), "target {target} has no seeds");
    }
}

#[test]
fn every_target_accepts_its_seeds() {
    for s in seeds::all() {
        run_target(s.target, &s.bytes);
    }
}

#[test]
fn table_seeds_verify() {
    let all = seeds::all();
    for name in ["many_blocks", "one_block", "single_record", "empty"] {
        let file = &seed(&all, "table", name)[1..];
        let table = Table::from_bytes(PathBuf::from(name), Bytes::copy_from_slice(file))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        table.verify().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn request_seeds_succeed_where_they_should() {
    let all = seeds::all();
    for (target, dialect) in [
        ("keystore_request", Dialect::KeyStore),
        ("keyvalues_request", Dialect::KeyValues),
        ("app_keys_request", Dialect::AppKeys),
        ("voximplant_request", Dialect::Voximplant),
    ] {
        let crud = if dialect == Dialect::Voximplant {
            "methods"
        } else {
            "crud"
        };
        let statuses = server::run(dialect, seed(&all, target, crud));
        assert!(
            statuses.iter().all(|s| s.is_success()),
            "{target}/{crud}: {statuses:?}"
        );
        assert_eq!(
            statuses.len(),
            server::split_requests(seed(&all, target, crud)).len()
        );
        let refusals = server::run(dialect, seed(&all, target, "refusals"));
        assert!(
            refusals.iter().all(|s| s.is_client_error()),
            "{target}/refusals: {refusals:?}"
        );
    }
}

/// Every single-bit flip and every truncation of the engine seeds, through their targets.
#[test]
fn corrupted_engine_seeds_never_break_a_target() {
    for s in seeds::all() {
        if ![
            "wal_decode_batch",
            "wal_replay",
            "table_block",
            "table",
            "manifest",
        ]
        .contains(&s.target)
        {
            continue;
        }
        // Byte 0 holds the flags (except for wal_decode_batch); keep them.
        let start = usize::from(s.target != "wal_decode_batch");
        for i in start..s.bytes.len() {
            let mut flipped = s.bytes.clone();
            flipped[i] ^= 1 << (i % 8);
            run_target(s.target, &flipped);
            run_target(s.target, &s.bytes[..i]);
        }
    }
}
