//! A failed WAL fsync poisons the engine: the failing write and every later one are
//! refused, reads keep working, and after a reopen every acknowledged write is there.

mod db_common;

use db_common::*;
use strata_engine::fs::{CrashMode, Fault, FaultFs, FaultOp};
use strata_engine::{Error, Op, Options};

#[test]
fn failed_fsync_poisons_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let fault = FaultFs::new();
    let opts = fault_opts(&c, &fault);
    let db = open(dir.path(), &opts);
    for i in 0..20 {
        put(&db, &format!("acked{i:02}"), "v");
    }
    db.flush().unwrap();
    put(&db, "acked-in-wal", "v");

    fault.inject(FaultOp::Sync, Fault::Eio, 1);
    let failed = db.write(Op::upsert("unacked", "v").into());
    assert!(
        matches!(failed, Err(Error::Io(_)) | Err(Error::Poisoned)),
        "{failed:?}"
    );
    assert!(db.stats().poisoned);
    // Every later write is refused, whatever the file system does now.
    assert!(matches!(
        db.write(Op::upsert("later", "v").into()),
        Err(Error::Poisoned)
    ));
    assert!(matches!(db.flush(), Err(Error::Poisoned)));
    assert!(matches!(db.sync_wal(), Err(Error::Poisoned)));
    // Reads keep working, and never show the failed write.
    assert_eq!(value(&db, "acked05").as_deref(), Some("v"));
    assert_eq!(value(&db, "acked-in-wal").as_deref(), Some("v"));
    assert_eq!(value(&db, "unacked"), None);
    assert_eq!(all(&db).len(), 21);
    // Dropping a poisoned Db does not panic.
    drop(db);

    // Power loss on top: what was never synced is gone; acknowledged writes are not.
    fault.restart(CrashMode::DropUnsynced);
    let db = open(dir.path(), &opts);
    assert!(!db.stats().poisoned);
    for i in 0..20 {
        assert_eq!(value(&db, &format!("acked{i:02}")).as_deref(), Some("v"));
    }
    assert_eq!(value(&db, "acked-in-wal").as_deref(), Some("v"));
    assert_eq!(value(&db, "later"), None);
    put(&db, "after-reopen", "v");
    assert_eq!(value(&db, "after-reopen").as_deref(), Some("v"));
}

#[test]
fn close_of_a_poisoned_db_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let fault = FaultFs::new();
    let opts = Options {
        background: true,
        ..fault_opts(&c, &fault)
    };
    let db = open(dir.path(), &opts);
    put(&db, "k", "v");
    fault.inject(FaultOp::Append, Fault::Enospc, 1);
    assert!(db.write(Op::upsert("k2", "v").into()).is_err());
    assert!(matches!(db.close(), Err(Error::Poisoned)));
    // The lock is released: a reopen works and has the acknowledged write.
    let db = open(dir.path(), &opts);
    assert_eq!(value(&db, "k").as_deref(), Some("v"));
    // The half-written record from ENOSPC was a torn tail, cut on recovery.
    assert!(db.recovery_report().truncated.is_some());
    assert_eq!(value(&db, "k2"), None);
}
