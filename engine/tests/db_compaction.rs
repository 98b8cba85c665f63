//! Compaction keeps data correct: reads after compactions (and after reopen) match a model
//! of every write, with overwrites, deletes and expiring entries spread over many tables.

mod db_common;

use std::collections::BTreeMap;

use bytes::Bytes;
use db_common::*;
use rand::{Rng, SeedableRng};
use strata_engine::compaction::CompactionConfig;
use strata_engine::table::TableOptions;
use strata_engine::{Op, Options, WriteBatch};

fn small_tree_opts(c: &std::sync::Arc<strata_engine::ManualClock>) -> Options {
    Options {
        compaction: CompactionConfig {
            l0_tables_trigger: 2,
            level_base_bytes: 8 * 1024,
            level_multiplier: 2,
            levels: 4,
            table_bytes_target: 4 * 1024,
            sweep_garbage_ratio: 0.5,
        },
        table: TableOptions {
            block_bytes: 512,
            ..TableOptions::default()
        },
        ..manual_opts(c)
    }
}

#[test]
fn compaction_preserves_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = small_tree_opts(&c);
    let db = open(dir.path(), &opts);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // key -> (value, expires_at)
    let mut model: BTreeMap<String, (String, Option<u64>)> = BTreeMap::new();
    for round in 0..12 {
        let mut batch = WriteBatch::new();
        for _ in 0..60 {
            let key = format!("key{:03}", rng.gen_range(0..300));
            if model.contains_key(&key) && rng.gen_bool(0.25) {
                if batch.ops.iter().all(|op| op.key != key.as_bytes()) {
                    batch.push(Op::delete(key.clone()));
                    model.remove(&key);
                }
            } else if batch.ops.iter().all(|op| op.key != key.as_bytes()) {
                let value = format!("r{round}-{}", "v".repeat(rng.gen_range(1..80)));
                let expires_at = rng.gen_bool(0.2).then(|| T0 + rng.gen_range(1..100));
                batch.push(Op::overwrite(key.clone(), value.clone()).expires_at(expires_at));
                model.insert(key, (value, expires_at));
            }
        }
        db.write(batch).unwrap();
        db.flush().unwrap();
        if round % 3 == 2 {
            db.compact().unwrap();
        }
    }
    db.compact().unwrap();
    let stats = db.stats();
    assert!(stats.compactions > 0, "the small tree must have compacted");
    assert!(
        stats.tables_per_level.iter().skip(1).sum::<u64>() > 0,
        "data moved below L0: {:?}",
        stats.tables_per_level
    );

    let check = |db: &strata_engine::Db, now: u64| {
        let expected: BTreeMap<Bytes, Bytes> = model
            .iter()
            .filter(|(_, (_, exp))| exp.is_none_or(|t| t > now))
            .map(|(k, (v, _))| (Bytes::from(k.clone()), Bytes::from(v.clone())))
            .collect();
        assert_eq!(all(db), expected);
        for i in 0..300 {
            let key = format!("key{i:03}");
            assert_eq!(
                db.get(key.as_bytes()).unwrap().map(|e| e.value),
                expected.get(key.as_bytes()).cloned(),
                "get({key})"
            );
        }
    };
    check(&db, T0);
    // Expire some entries, then compact with the later clock: expired data goes away
    // from disk and stays invisible.
    c.set(T0 + 50);
    check(&db, T0 + 50);
    db.sweep().unwrap();
    db.compact().unwrap();
    check(&db, T0 + 50);
    drop(db);
    let db = open(dir.path(), &opts);
    check(&db, T0 + 50);
}

#[test]
fn tombstones_keep_hiding_older_versions_across_levels() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = small_tree_opts(&c);
    let db = open(dir.path(), &opts);
    // Old versions pushed to deep levels.
    for i in 0..200 {
        put(&db, &format!("k{i:03}"), &"old".repeat(20));
    }
    db.flush().unwrap();
    for i in 0..200 {
        put(&db, &format!("k{i:03}"), &"mid".repeat(20));
    }
    db.flush().unwrap();
    db.compact().unwrap();
    // Delete half: the tombstones start in L0, above the old versions.
    for i in (0..200).step_by(2) {
        del(&db, &format!("k{i:03}"));
    }
    db.flush().unwrap();
    assert_eq!(all(&db).len(), 100);
    // A second L0 table reaches the L0 trigger: the tombstones meet the old versions.
    put(&db, "zzz", "x");
    db.flush().unwrap();
    let compactions = db.stats().compactions;
    db.compact().unwrap();
    assert!(db.stats().compactions > compactions);
    assert_eq!(db.stats().tables_per_level[0], 0);
    assert_eq!(all(&db).len(), 101);
    assert_eq!(value(&db, "k000"), None);
    assert_eq!(
        value(&db, "k001").as_deref(),
        Some("mid".repeat(20).as_str())
    );
}
