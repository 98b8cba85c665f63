//! `Db::compact_all`: one full compaction into the last level leaves exactly the live
//! entries (no older version, tombstone or expired entry), and reads are unchanged.

mod db_common;

use std::collections::BTreeMap;

use std::sync::Arc;

use bytes::Bytes;
use db_common::*;
use strata_engine::batch::Kind;
use strata_engine::compaction::CompactionConfig;
use strata_engine::fs::RealFs;
use strata_engine::table::Table;
use strata_engine::{Op, Options, WriteBatch};

#[test]
fn compact_all_leaves_only_the_live_entries_in_the_last_level() {
    const KEYS: u64 = 600;
    const LEVELS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = Options {
        compaction: CompactionConfig {
            l0_tables_trigger: 3,
            level_base_bytes: 4 * 1024,
            level_multiplier: 3,
            levels: LEVELS,
            table_bytes_target: 8 * 1024,
            sweep_garbage_ratio: 0.5,
        },
        ..manual_opts(&c)
    };
    let db = open(dir.path(), &opts);
    let key = |i: u64| format!("key{i:04}");
    let value = |i: u64, round: u64| format!("{}-{round}-{}", key(i), "v".repeat(50));
    let mut model: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    for round in 0..5u64 {
        let mut batch = WriteBatch::new();
        for i in (round..KEYS).step_by(2) {
            let op = Op::overwrite(key(i), value(i, round));
            // Every 7th key expires at T0 + 10.
            batch.push(op.expires_at((i % 7 == 0).then_some(T0 + 10)));
            if i % 7 != 0 {
                model.insert(Bytes::from(key(i)), Bytes::from(value(i, round)));
            }
        }
        db.write(batch).unwrap();
        db.flush().unwrap();
        db.compact().unwrap();
    }
    for i in (0..KEYS).step_by(5) {
        del(&db, &key(i));
        model.remove(key(i).as_bytes());
    }
    c.set(T0 + 10);
    assert_eq!(all(&db), model);
    let before = table_file_bytes(dir.path());

    db.compact_all().unwrap();
    let stats = db.stats();
    let nonempty: Vec<usize> = (0..stats.tables_per_level.len())
        .filter(|&l| stats.tables_per_level[l] > 0)
        .collect();
    assert_eq!(nonempty, vec![LEVELS - 1], "{:?}", stats.tables_per_level);
    assert_eq!(all(&db), model);
    for i in 0..KEYS {
        assert_eq!(
            db.get(key(i).as_bytes()).unwrap().map(|e| e.value),
            model.get(key(i).as_bytes()).cloned()
        );
    }
    // The files hold exactly the live entries: no older version, tombstone or expired one.
    let mut stored = BTreeMap::new();
    for file in std::fs::read_dir(dir.path().join(strata_engine::db::TABLES_DIR)).unwrap() {
        let table = Arc::new(Table::open(&RealFs, &file.unwrap().path()).unwrap());
        let mut it = table.iter();
        while let Some(r) = it.next_record().unwrap() {
            assert_eq!((r.kind, r.expires_at), (Kind::Put, 0), "{r:?}");
            assert!(
                stored.insert(r.key, r.value).is_none(),
                "one version per key"
            );
        }
    }
    assert_eq!(stored, model);
    assert!(table_file_bytes(dir.path()) < before);

    drop(db);
    let db = open(dir.path(), &opts);
    assert_eq!(all(&db), model);
    // An empty tree has nothing to compact.
    let empty = tempfile::tempdir().unwrap();
    let fresh = open(empty.path(), &opts);
    fresh.compact_all().unwrap();
    assert_eq!(fresh.stats().compactions, 0);
}
