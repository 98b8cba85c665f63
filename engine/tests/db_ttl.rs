//! TTL: an entry is invisible once `expires_at <= now`, in every read path, wherever it
//! is stored; an expired entry does not block an Insert.

mod db_common;

use std::ops::Bound;

use db_common::*;
use strata_engine::{Error, Op};

#[test]
fn expired_entries_are_invisible_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    db.write(Op::upsert("short", "s").expires_at(Some(T0 + 10)).into())
        .unwrap();
    db.write(Op::upsert("long", "l").expires_at(Some(T0 + 100)).into())
        .unwrap();
    put(&db, "forever", "f");

    let entry = db.get(b"short").unwrap().unwrap();
    assert_eq!(entry.expires_at, Some(T0 + 10));
    assert_eq!(value(&db, "forever").as_deref(), Some("f"));

    for stored_in_table in [false, true] {
        if stored_in_table {
            db.flush().unwrap();
        }
        c.set(T0 + 9);
        assert!(db.get(b"short").unwrap().is_some());
        c.set(T0 + 10); // expires_at <= now: expired
        assert_eq!(db.get(b"short").unwrap(), None);
        let keys: Vec<_> = pairs(&db.scan(Bound::Unbounded, Bound::Unbounded, 10).unwrap())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec!["forever", "long"]);
        assert_eq!(db.scan_prefix(b"sh", None, 10).unwrap(), vec![]);
    }
}

#[test]
fn expired_entries_count_as_absent_for_write_modes() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    db.write(Op::insert("k", "old").expires_at(Some(T0 + 5)).into())
        .unwrap();
    assert!(matches!(
        db.write(Op::insert("k", "dup").into()),
        Err(Error::Conflict { index: 0 })
    ));
    c.advance(5);
    assert!(matches!(
        db.write(Op::update("k", "x").into()),
        Err(Error::NotFound { index: 0 })
    ));
    assert!(matches!(
        db.write(Op::delete("k").into()),
        Err(Error::NotFound { index: 0 })
    ));
    let prev = db.write(Op::insert("k", "new").into()).unwrap();
    assert_eq!(
        prev,
        vec![None],
        "an expired entry is not reported as previous"
    );
    assert_eq!(value(&db, "k").as_deref(), Some("new"));
}

#[test]
fn a_snapshot_judges_expiry_at_its_own_time() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    db.write(Op::upsert("k", "v").expires_at(Some(T0 + 1)).into())
        .unwrap();
    let snap = db.snapshot();
    c.advance(1);
    assert_eq!(db.get(b"k").unwrap(), None);
    assert!(snap.get(b"k").unwrap().is_some());
    assert_eq!(snap.scan_prefix(b"", None, 10).unwrap().len(), 1);
}

#[test]
fn expiry_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = manual_opts(&c);
    let db = open(dir.path(), &opts);
    db.write(Op::upsert("wal", "v").expires_at(Some(T0 + 10)).into())
        .unwrap();
    db.write(Op::upsert("table", "v").expires_at(Some(T0 + 10)).into())
        .unwrap();
    db.flush().unwrap();
    db.write(Op::upsert("wal", "v2").expires_at(Some(T0 + 10)).into())
        .unwrap();
    drop(db);
    let db = open(dir.path(), &opts);
    assert_eq!(db.get(b"wal").unwrap().unwrap().expires_at, Some(T0 + 10));
    assert_eq!(db.get(b"table").unwrap().unwrap().expires_at, Some(T0 + 10));
    c.set(T0 + 10);
    assert_eq!(db.get(b"wal").unwrap(), None);
    assert_eq!(db.get(b"table").unwrap(), None);
}
