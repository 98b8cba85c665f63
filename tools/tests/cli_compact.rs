//! `strata compact` merges every table into one run of live entries and keeps the data.

mod cli_common;

use cli_common::*;
use strata_engine::Db;

fn table_count(dir: &std::path::Path) -> usize {
    files(&dir.join(strata_engine::db::TABLES_DIR))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .count()
}

#[test]
fn compact_keeps_every_live_entry_in_one_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    make_data_dir(&data);
    let before = dump(&data);
    assert!(table_count(&data) >= 2, "the fixture has several tables");

    let out = strata(&[&"compact", &"--data-dir", &data]);
    assert_status(&out, 0);
    assert!(
        stdout(&out).contains("compacted") && stdout(&out).contains("1 tables"),
        "{}",
        stdout(&out)
    );
    assert_eq!(dump(&data), before, "the live entries are unchanged");
    assert_eq!(table_count(&data), 1);

    // The overwritten first versions and the deleted entry are gone from disk too.
    let db = Db::open(&data, opts()).unwrap();
    let stats = db.stats();
    assert_eq!(stats.tables_per_level.iter().sum::<u64>(), 1);
    assert_eq!(stats.memtable_bytes, 0, "the WAL's entries were flushed");
    release(db);
}

#[test]
fn compact_refuses_a_directory_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    make_data_dir(&data);
    let db = Db::open(&data, opts()).unwrap();

    let out = strata(&[&"compact", &"--data-dir", &data]);
    assert_status(&out, 3);
    assert!(stderr(&out).contains("locked"), "{}", stderr(&out));
    release(db);
}

#[test]
fn compact_refuses_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(&[&"compact", &"--data-dir", &dir.path().join("nope")]);
    assert_status(&out, 3);
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
}
