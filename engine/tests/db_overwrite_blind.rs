//! `Overwrite` without a guard is a blind write: it reports no previous entry (it does not
//! read the tree), yet replaces whatever was stored, wherever that lives (active memtable,
//! a table after a flush, an expired entry), and later reads and conditional writes see it.

mod db_common;

use db_common::*;
use strata_engine::{Error, Op, WriteBatch};

#[test]
fn a_blind_overwrite_reports_nothing_and_replaces_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    put(&db, "in-table", "old");
    db.write(
        Op::upsert("expiring", "old")
            .expires_at(Some(T0 + 10))
            .into(),
    )
    .unwrap();
    db.flush().unwrap();
    put(&db, "in-memtable", "old");

    for key in ["in-table", "in-memtable", "expiring", "absent"] {
        let prev = db.write(Op::overwrite(key, "new").into()).unwrap();
        assert_eq!(prev, vec![None], "{key}: a blind overwrite reports nothing");
        assert_eq!(value(&db, key).as_deref(), Some("new"), "{key}");
    }
    // The replaced TTL is gone with the entry it belonged to.
    c.advance(100);
    assert_eq!(value(&db, "expiring").as_deref(), Some("new"));

    // Conditional writes after it see the overwrite, across a reopen too.
    drop(db);
    let db = open(dir.path(), &manual_opts(&c));
    assert!(matches!(
        db.write(Op::insert("in-table", "x").into()),
        Err(Error::Conflict { index: 0 })
    ));
    let prev = db.write(Op::upsert("in-table", "newer").into()).unwrap();
    assert_eq!(prev[0].as_ref().unwrap().value, "new");
}

#[test]
fn a_guarded_overwrite_reads_and_reports_like_upsert() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    put(&db, "k", "v1");
    db.flush().unwrap();
    let seqno = db.get(b"k").unwrap().unwrap().seqno;
    assert!(matches!(
        db.write(Op::overwrite("k", "x").expect_seqno(seqno + 1).into()),
        Err(Error::Conflict { index: 0 })
    ));
    let prev = db
        .write(Op::overwrite("k", "v2").expect_seqno(seqno).into())
        .unwrap();
    assert_eq!(prev[0].as_ref().unwrap().value, "v1");
    assert_eq!(value(&db, "k").as_deref(), Some("v2"));
}

#[test]
fn ops_after_a_blind_overwrite_in_one_batch_see_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    put(&db, "k", "v0");
    let batch = WriteBatch::new()
        .with(Op::overwrite("k", "v1"))
        .with(Op::update("k", "v2"))
        .with(Op::overwrite("k", "v3"));
    let prev = db.write(batch).unwrap();
    assert_eq!(prev[0], None);
    assert_eq!(prev[1].as_ref().unwrap().value, "v1");
    assert_eq!(prev[2], None);
    assert_eq!(value(&db, "k").as_deref(), Some("v3"));
}
