//! `Db::write_many`: independent batches from one caller, each with the result `Db::write`
//! would give it, committed in as few groups (WAL appends + fsyncs) as the limits allow.

mod db_common;

use db_common::*;
use strata_engine::commit::GROUP_BATCHES_MAX;
use strata_engine::fs::{Fault, FaultFs, FaultOp};
use strata_engine::{Error, Op, WriteBatch};

#[test]
fn each_batch_gets_its_own_result_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    put(&db, "existing", "old");

    let results = db.write_many(vec![
        Op::insert("a", "1").into(),
        // Sees the batch before it: `a` now exists.
        Op::insert("a", "2").into(),
        WriteBatch::new(), // invalid: empty
        Op::upsert("existing", "new").into(),
        Op::update("missing", "x").into(),
        // A failed batch writes nothing, even its valid ops.
        WriteBatch::new()
            .with(Op::upsert("b", "1"))
            .with(Op::insert("existing", "again")),
        Op::delete("a").into(),
    ]);

    assert_eq!(results.len(), 7);
    assert_eq!(results[0].as_ref().unwrap(), &vec![None]);
    assert!(matches!(results[1], Err(Error::Conflict { index: 0 })));
    assert!(matches!(results[2], Err(Error::InvalidArgument(_))));
    let replaced = results[3].as_ref().unwrap()[0].as_ref().unwrap();
    assert_eq!(&replaced.value[..], b"old");
    assert!(matches!(results[4], Err(Error::NotFound { index: 0 })));
    assert!(matches!(results[5], Err(Error::Conflict { index: 1 })));
    let deleted = results[6].as_ref().unwrap()[0].as_ref().unwrap();
    assert_eq!(&deleted.value[..], b"1");

    assert_eq!(value(&db, "a"), None);
    assert_eq!(value(&db, "b"), None);
    assert_eq!(value(&db, "existing").as_deref(), Some("new"));
}

#[test]
fn batches_share_one_append_per_group_and_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    let before = db.stats();

    let n = GROUP_BATCHES_MAX * 2 + 10;
    let batches = (0..n)
        .map(|i| Op::insert(format!("k{i:05}"), format!("v{i}")).into())
        .collect();
    let results = db.write_many(batches);
    assert!(results.iter().all(|r| r.is_ok()));

    let after = db.stats();
    assert_eq!(after.commits - before.commits, n as u64);
    let groups = n.div_ceil(GROUP_BATCHES_MAX) as u64;
    assert_eq!(after.commit_groups - before.commit_groups, groups);
    // Pipelined commit: the groups are appended one after the other, then one fsync
    // covers them all.
    assert_eq!(after.wal_fsyncs - before.wal_fsyncs, 1);

    // Acknowledged means durable: everything is there after a reopen.
    drop(db);
    let db = open(dir.path(), &manual_opts(&c));
    for i in 0..n {
        assert_eq!(value(&db, &format!("k{i:05}")), Some(format!("v{i}")));
    }
}

#[test]
fn empty_call_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    let before = db.stats();
    assert!(db.write_many(Vec::new()).is_empty());
    assert_eq!(db.stats().commit_groups, before.commit_groups);
}

#[test]
fn failed_fsync_fails_its_group_and_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let fault = FaultFs::new();
    let opts = fault_opts(&c, &fault);
    let db = open(dir.path(), &opts);
    put(&db, "acked", "v");

    fault.inject(FaultOp::Sync, Fault::Eio, 1);
    let results = db.write_many(vec![
        Op::upsert("x", "1").into(),
        Op::upsert("y", "2").into(),
    ]);
    for r in &results {
        assert!(
            matches!(r, Err(Error::Io(_)) | Err(Error::Poisoned)),
            "{r:?}"
        );
    }
    // Later calls are refused batch by batch, reads still work.
    let later = db.write_many(vec![Op::upsert("z", "3").into()]);
    assert!(matches!(later[0], Err(Error::Poisoned)));
    assert_eq!(value(&db, "acked").as_deref(), Some("v"));
}

#[test]
fn appended_writes_are_invisible_until_finished_and_later_writes_see_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    let before = db.stats();

    let pending = db.append_many(vec![
        Op::insert("a", "1").into(),
        Op::update("missing", "x").into(),
    ]);
    // Appended, not yet durable: readers do not see it, and nothing was synced.
    assert_eq!(value(&db, "a"), None);
    assert_eq!(db.stats().wal_fsyncs, before.wal_fsyncs);
    // A later write is decided as if the first had committed.
    let later = db.append_many(vec![Op::insert("a", "2").into()]);

    let results = db.finish_writes(pending);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().unwrap(), &vec![None]);
    assert!(matches!(results[1], Err(Error::NotFound { index: 0 })));
    assert_eq!(value(&db, "a").as_deref(), Some("1"));
    // One fdatasync covered both calls: finishing the second one syncs nothing more.
    let synced = db.stats().wal_fsyncs;
    assert_eq!(synced, before.wal_fsyncs + 1);
    let later = db.finish_writes(later);
    assert!(matches!(later[0], Err(Error::Conflict { index: 0 })));
    assert_eq!(db.stats().wal_fsyncs, synced);

    drop(db);
    let db = open(dir.path(), &manual_opts(&c));
    assert_eq!(value(&db, "a").as_deref(), Some("1"));
}

#[test]
fn get_appended_sees_appended_writes_that_get_does_not_yet() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = open(dir.path(), &manual_opts(&c));
    put(&db, "kept", "old");
    put(&db, "gone", "x");

    let pending = db.append_many(vec![WriteBatch::new()
        .with(Op::upsert("kept", "new"))
        .with(Op::insert("fresh", "1"))
        .with(Op::delete("gone"))]);
    let appended = |key: &str| {
        db.get_appended(key.as_bytes())
            .unwrap()
            .map(|e| String::from_utf8(e.value.to_vec()).unwrap())
    };
    // Readers still see the durable state; the writer's view has the whole batch.
    assert_eq!(value(&db, "kept").as_deref(), Some("old"));
    assert_eq!(value(&db, "fresh"), None);
    assert_eq!(value(&db, "gone").as_deref(), Some("x"));
    assert_eq!(appended("kept").as_deref(), Some("new"));
    assert_eq!(appended("fresh").as_deref(), Some("1"));
    assert_eq!(appended("gone"), None);
    // The seqno it reports is the one a guard on the next batch must name.
    let seqno = db.get_appended(b"kept").unwrap().unwrap().seqno;
    let next = db.append_many(vec![Op::update("kept", "newer").expect_seqno(seqno).into()]);

    assert!(db.finish_writes(pending)[0].is_ok());
    assert!(db.finish_writes(next)[0].is_ok());
    assert_eq!(value(&db, "kept").as_deref(), Some("newer"));
    assert_eq!(value(&db, "fresh").as_deref(), Some("1"));
    assert_eq!(value(&db, "gone"), None);
}
