//! Write modes, guards and batch atomicity: a failing op aborts its whole batch.

mod db_common;

use db_common::*;
use strata_engine::{Error, Op, WriteBatch};

#[test]
fn each_mode_checks_the_live_entry() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));

    // Insert: only when absent.
    let prev = db.write(Op::insert("k", "v1").into()).unwrap();
    assert_eq!(prev, vec![None]);
    assert!(matches!(
        db.write(Op::insert("k", "v2").into()),
        Err(Error::Conflict { index: 0 })
    ));
    assert_eq!(value(&db, "k").as_deref(), Some("v1"));

    // Upsert: reports what it replaced.
    let prev = db.write(Op::upsert("k", "v3").into()).unwrap();
    assert_eq!(prev[0].as_ref().unwrap().value, "v1");
    let prev = db.write(Op::upsert("fresh", "x").into()).unwrap();
    assert_eq!(prev, vec![None]);

    // Overwrite: unconditional, and blind: it does not report what it replaced.
    let prev = db.write(Op::overwrite("k", "v4").into()).unwrap();
    assert_eq!(prev, vec![None]);
    assert_eq!(value(&db, "k").as_deref(), Some("v4"));
    assert!(db.write(Op::overwrite("other", "o").into()).is_ok());

    // Update: only when present.
    assert!(matches!(
        db.write(Op::update("missing", "x").into()),
        Err(Error::NotFound { index: 0 })
    ));
    assert_eq!(value(&db, "missing"), None);
    let prev = db.write(Op::update("k", "v5").into()).unwrap();
    assert_eq!(prev[0].as_ref().unwrap().value, "v4");

    // Delete: only when present; leaves nothing behind.
    let prev = db.write(Op::delete("k").into()).unwrap();
    assert_eq!(prev[0].as_ref().unwrap().value, "v5");
    assert_eq!(value(&db, "k"), None);
    assert!(matches!(
        db.write(Op::delete("k").into()),
        Err(Error::NotFound { index: 0 })
    ));
    // A deleted key can be inserted again.
    assert!(db.write(Op::insert("k", "again").into()).is_ok());
    assert_eq!(value(&db, "k").as_deref(), Some("again"));
}

#[test]
fn expect_seqno_is_an_optimistic_guard() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    put(&db, "k", "v1");
    let seqno = db.get(b"k").unwrap().unwrap().seqno;
    put(&db, "k", "v2");
    assert!(matches!(
        db.write(Op::upsert("k", "stale").expect_seqno(seqno).into()),
        Err(Error::Conflict { index: 0 })
    ));
    let current = db.get(b"k").unwrap().unwrap().seqno;
    assert!(current > seqno);
    assert!(db
        .write(Op::upsert("k", "fresh").expect_seqno(current).into())
        .is_ok());
    assert_eq!(value(&db, "k").as_deref(), Some("fresh"));
    assert!(matches!(
        db.write(Op::upsert("absent", "x").expect_seqno(1).into()),
        Err(Error::Conflict { index: 0 })
    ));
}

#[test]
fn a_failing_op_aborts_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    put(&db, "taken", "t");
    let seqno_before = db.stats().last_seqno;

    let batch = WriteBatch::new()
        .with(Op::upsert("a", "1"))
        .with(Op::insert("b", "2"))
        .with(Op::insert("taken", "3"))
        .with(Op::upsert("c", "4"));
    assert!(matches!(db.write(batch), Err(Error::Conflict { index: 2 })));
    for key in ["a", "b", "c"] {
        assert_eq!(value(&db, key), None, "{key} leaked from a failed batch");
    }
    assert_eq!(value(&db, "taken").as_deref(), Some("t"));
    assert_eq!(db.stats().last_seqno, seqno_before, "no seqno used");

    let batch = WriteBatch::new()
        .with(Op::upsert("a", "1"))
        .with(Op::delete("nope"));
    assert!(matches!(db.write(batch), Err(Error::NotFound { index: 1 })));
    assert_eq!(value(&db, "a"), None);

    // The same batch without the bad op commits every op.
    let batch = WriteBatch::new()
        .with(Op::upsert("a", "1"))
        .with(Op::insert("b", "2"))
        .with(Op::upsert("c", "4"));
    assert_eq!(db.write(batch).unwrap().len(), 3);
    assert_eq!(
        pairs(&db.scan_prefix(b"", None, 10).unwrap()),
        vec![
            ("a".into(), "1".into()),
            ("b".into(), "2".into()),
            ("c".into(), "4".into()),
            ("taken".into(), "t".into()),
        ]
    );

    // A failed batch is not replayed after reopen either.
    drop(db);
    let db = open(dir.path(), &manual_opts(&c));
    assert_eq!(value(&db, "nope"), None);
    assert_eq!(value(&db, "b").as_deref(), Some("2"));
}

#[test]
fn ops_of_one_batch_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    let batch = WriteBatch::new()
        .with(Op::insert("k", "1"))
        .with(Op::update("k", "2"))
        .with(Op::delete("k"))
        .with(Op::insert("k", "3"));
    let prev = db.write(batch).unwrap();
    assert_eq!(prev[0], None);
    assert_eq!(prev[1].as_ref().unwrap().value, "1");
    assert_eq!(prev[2].as_ref().unwrap().value, "2");
    assert_eq!(prev[3], None);
    assert_eq!(value(&db, "k").as_deref(), Some("3"));
}

#[test]
fn invalid_batches_are_rejected_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    let invalid = [
        WriteBatch::new(),
        WriteBatch::from(Op::upsert("", "v")),
        WriteBatch::from(Op::upsert(
            vec![b'k'; strata_engine::batch::KEY_BYTES_MAX + 1],
            "v",
        )),
        WriteBatch::from(Op::upsert(
            "k",
            vec![0u8; strata_engine::batch::VALUE_BYTES_MAX + 1],
        )),
        WriteBatch::from(Op::upsert("k", "v").expires_at(Some(0))),
        WriteBatch {
            ops: vec![Op::upsert("k", "v"); strata_engine::batch::BATCH_OPS_MAX + 1],
        },
    ];
    for batch in invalid {
        assert!(matches!(db.write(batch), Err(Error::InvalidArgument(_))));
    }
    assert_eq!(db.stats().last_seqno, 0);
    assert_eq!(db.stats().commits, 0);
}
