//! Reopening recovers every acknowledged write: from the WAL alone, from tables alone,
//! and from a mix, after a drop and after a clean close.

mod db_common;

use db_common::*;
use strata_engine::{Op, Options};

/// Writes a known state spread over flushed tables and the WAL; returns the expected
/// (key, value) pairs.
fn write_mixed(
    dir: &std::path::Path,
    opts: &Options,
    flush_between: bool,
) -> Vec<(String, String)> {
    let db = open(dir, opts);
    for i in 0..50 {
        put(&db, &format!("a{i:02}"), &format!("v{i}"));
    }
    del(&db, "a07");
    if flush_between {
        db.flush().unwrap();
    }
    for i in 0..50 {
        put(&db, &format!("b{i:02}"), &format!("w{i}"));
    }
    put(&db, "a08", "rewritten");
    del(&db, "b03");
    let mut expected: Vec<(String, String)> = (0..50)
        .filter(|&i| i != 7)
        .map(|i| {
            (
                format!("a{i:02}"),
                if i == 8 {
                    "rewritten".into()
                } else {
                    format!("v{i}")
                },
            )
        })
        .chain(
            (0..50)
                .filter(|&i| i != 3)
                .map(|i| (format!("b{i:02}"), format!("w{i}"))),
        )
        .collect();
    expected.sort();
    assert_eq!(pairs(&db.scan_prefix(b"", None, 1000).unwrap()), expected);
    expected
}

#[test]
fn reopen_replays_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = manual_opts(&c);
    let expected = write_mixed(dir.path(), &opts, false);
    let db = open(dir.path(), &opts);
    assert_eq!(pairs(&db.scan_prefix(b"", None, 1000).unwrap()), expected);
    assert_eq!(db.stats().tables_per_level.iter().sum::<u64>(), 0);
    let report = db.recovery_report();
    assert!(report.records >= 100, "{report:?}");
    assert!(report.truncated.is_none());
    // Seqnos continue after the replayed ones.
    let before = db.stats().last_seqno;
    assert!(before >= 100);
    put(&db, "new", "x");
    assert_eq!(db.stats().last_seqno, before + 1);
}

#[test]
fn reopen_combines_tables_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = manual_opts(&c);
    let expected = write_mixed(dir.path(), &opts, true);
    let db = open(dir.path(), &opts);
    assert_eq!(pairs(&db.scan_prefix(b"", None, 1000).unwrap()), expected);
    assert_eq!(db.stats().tables_per_level[0], 1);
    assert_eq!(
        value(&db, "a07"),
        None,
        "a tombstone in the table still hides"
    );
    // Another round: the flushed WAL segments are gone, data stays.
    drop(db);
    let db = open(dir.path(), &opts);
    db.flush().unwrap();
    drop(db);
    let db = open(dir.path(), &opts);
    assert_eq!(db.recovery_report().records, 0, "everything was in tables");
    assert_eq!(pairs(&db.scan_prefix(b"", None, 1000).unwrap()), expected);
    let wal_files = std::fs::read_dir(dir.path().join(strata_engine::db::WAL_DIR))
        .unwrap()
        .count();
    assert_eq!(wal_files, 1, "only the live segment is left");
}

#[test]
fn close_flushes_and_reopen_sees_everything() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = Options {
        background: true,
        ..manual_opts(&c)
    };
    let expected = {
        let db = open(dir.path(), &opts);
        for i in 0..30 {
            db.write(Op::insert(format!("k{i:02}"), format!("{i}")).into())
                .unwrap();
        }
        db.close().unwrap();
        (0..30)
            .map(|i| (format!("k{i:02}"), format!("{i}")))
            .collect::<Vec<_>>()
    };
    let db = open(dir.path(), &opts);
    assert_eq!(
        db.recovery_report().records,
        0,
        "close flushed the memtable"
    );
    assert_eq!(pairs(&db.scan_prefix(b"k", None, 100).unwrap()), expected);
    db.close().unwrap();
}

#[test]
fn missing_current_with_data_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = manual_opts(&c);
    let db = open(dir.path(), &opts);
    put(&db, "k", "v");
    drop(db);
    std::fs::remove_file(dir.path().join(strata_engine::manifest::CURRENT_FILE)).unwrap();
    assert!(matches!(
        strata_engine::Db::open(dir.path(), opts),
        Err(strata_engine::Error::Corruption { .. })
    ));
}
