//! Scans: key order across memtables and tables, bounds, prefixes, `after`, limits, and
//! snapshot consistency while writes, flushes and compactions go on.

mod db_common;

use std::ops::Bound;

use db_common::*;
use strata_engine::db::SCAN_LIMIT_MAX;
use strata_engine::WriteBatch;

fn keys(entries: &[strata_engine::Entry]) -> Vec<String> {
    pairs(entries).into_iter().map(|(k, _)| k).collect()
}

#[test]
fn scans_merge_every_source_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    // Interleaved keys in two tables, a memtable, overwrites and a delete across them.
    for i in (0..20).step_by(2) {
        put(&db, &format!("k{i:02}"), "t1");
    }
    db.flush().unwrap();
    for i in (1..20).step_by(2) {
        put(&db, &format!("k{i:02}"), "t2");
    }
    put(&db, "k04", "t2-over");
    db.flush().unwrap();
    put(&db, "k05", "mem-over");
    del(&db, "k06");
    put(&db, "k20", "mem");

    let got = pairs(&db.scan(Bound::Unbounded, Bound::Unbounded, 100).unwrap());
    let mut expected: Vec<(String, String)> = (0..21)
        .filter(|&i| i != 6)
        .map(|i| {
            let v = match i {
                4 => "t2-over",
                5 => "mem-over",
                20 => "mem",
                i if i % 2 == 0 => "t1",
                _ => "t2",
            };
            (format!("k{i:02}"), v.to_string())
        })
        .collect();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn bounds_prefix_after_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    for key in ["a", "ab", "abc", "abd", "ac", "b", "b\u{7f}", "ba"] {
        put(&db, key, "v");
    }
    let b = |s: &'static str| s.as_bytes();
    assert_eq!(
        keys(
            &db.scan(Bound::Included(b("ab")), Bound::Excluded(b("ac")), 10)
                .unwrap()
        ),
        vec!["ab", "abc", "abd"]
    );
    assert_eq!(
        keys(
            &db.scan(Bound::Excluded(b("ab")), Bound::Included(b("ac")), 10)
                .unwrap()
        ),
        vec!["abc", "abd", "ac"]
    );
    assert_eq!(
        keys(
            &db.scan(Bound::Included(b("b")), Bound::Unbounded, 2)
                .unwrap()
        ),
        vec!["b", "ba"]
    );
    assert_eq!(
        keys(
            &db.scan(Bound::Included(b("c")), Bound::Unbounded, 10)
                .unwrap()
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        keys(&db.scan_prefix(b"ab", None, 10).unwrap()),
        vec!["ab", "abc", "abd"]
    );
    assert_eq!(
        keys(&db.scan_prefix(b"ab", Some(b"abc"), 10).unwrap()),
        vec!["abd"]
    );
    // `after` before the prefix starts at the prefix; after it, nothing.
    assert_eq!(
        keys(&db.scan_prefix(b"ab", Some(b"a"), 1).unwrap()),
        vec!["ab"]
    );
    assert_eq!(
        keys(&db.scan_prefix(b"ab", Some(b"b"), 10).unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        keys(&db.scan_prefix(b"b", None, 10).unwrap()),
        vec!["b", "ba", "b\u{7f}"]
    );
    assert_eq!(db.scan_prefix(b"", None, 0).unwrap(), vec![]);
}

#[test]
fn limit_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    let total = SCAN_LIMIT_MAX + 5;
    for chunk in (0..total).collect::<Vec<_>>().chunks(1000) {
        let batch = WriteBatch {
            ops: chunk
                .iter()
                .map(|i| strata_engine::Op::upsert(format!("{i:06}"), "v"))
                .collect(),
        };
        db.write(batch).unwrap();
    }
    let page = db
        .scan(Bound::Unbounded, Bound::Unbounded, usize::MAX)
        .unwrap();
    assert_eq!(page.len(), SCAN_LIMIT_MAX);
    assert_eq!(all(&db).len(), total);
}

#[test]
fn snapshots_stay_consistent_through_writes_flushes_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    for i in 0..50 {
        put(&db, &format!("k{i:02}"), "before");
    }
    db.flush().unwrap();
    put(&db, "k00", "before-mem");
    let snap = db.snapshot();
    let seen = pairs(&snap.scan_prefix(b"", None, 100).unwrap());
    assert_eq!(seen.len(), 50);

    for i in 0..50 {
        if i % 3 == 0 {
            del(&db, &format!("k{i:02}"));
        } else {
            put(&db, &format!("k{i:02}"), "after");
        }
    }
    put(&db, "new", "after");
    db.flush().unwrap();
    db.flush().unwrap();
    db.compact().unwrap();
    put(&db, "k01", "after-mem");

    assert_eq!(pairs(&snap.scan_prefix(b"", None, 100).unwrap()), seen);
    assert_eq!(
        snap.get(b"k00").unwrap().unwrap().value,
        "before-mem",
        "the snapshot's memtable survived the flush"
    );
    assert_eq!(snap.get(b"new").unwrap(), None);
    assert!(snap.seqno() < db.stats().last_seqno);
    // The live view sees the new state.
    assert_eq!(value(&db, "k00"), None);
    assert_eq!(value(&db, "k01").as_deref(), Some("after-mem"));
    assert_eq!(all(&db).len(), 50 - 17 + 1);
}
