//! Interval and Never sync modes: writes are visible at once; `sync_wal` (or the interval
//! thread) makes them durable, which a simulated power loss shows.

mod db_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use db_common::*;
use strata_engine::fs::{CrashMode, FaultFs};
use strata_engine::{Options, SyncMode};

fn sync_opts(c: &Arc<strata_engine::ManualClock>, fault: &FaultFs, sync: SyncMode) -> Options {
    Options {
        sync,
        ..fault_opts(c, fault)
    }
}

#[test]
fn never_mode_is_durable_after_sync_wal() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let fault = FaultFs::new();
    let opts = sync_opts(&c, &fault, SyncMode::Never);
    let db = open(dir.path(), &opts);
    put(&db, "synced", "v");
    assert_eq!(db.stats().wal_fsyncs, 0, "no fsync per commit");
    db.sync_wal().unwrap();
    put(&db, "unsynced", "v");
    assert_eq!(
        value(&db, "unsynced").as_deref(),
        Some("v"),
        "visible at once"
    );
    fault.power_cut();
    drop(db);
    fault.restart(CrashMode::DropUnsynced);
    let db = open(dir.path(), &opts);
    assert_eq!(value(&db, "synced").as_deref(), Some("v"));
    assert_eq!(value(&db, "unsynced"), None, "nothing synced it");
}

#[test]
fn interval_mode_syncs_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let fault = FaultFs::new();
    let opts = Options {
        background: true,
        ..sync_opts(&c, &fault, SyncMode::Interval(5))
    };
    let db = open(dir.path(), &opts);
    put(&db, "k", "v");
    // Commits never fsync in this mode: any fsync is the interval thread's.
    // Bounded wait for it; the assertion is on the outcome.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.stats().wal_fsyncs == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        db.stats().wal_fsyncs > 0,
        "the interval thread never synced"
    );
    fault.power_cut();
    drop(db);
    fault.restart(CrashMode::DropUnsynced);
    let db = open(dir.path(), &opts);
    assert_eq!(value(&db, "k").as_deref(), Some("v"));
}

#[test]
fn dropping_the_db_syncs_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let fault = FaultFs::new();
    let opts = sync_opts(&c, &fault, SyncMode::Never);
    let db = open(dir.path(), &opts);
    put(&db, "k", "v");
    drop(db);
    fault.restart(CrashMode::DropUnsynced);
    let db = open(dir.path(), &opts);
    assert_eq!(value(&db, "k").as_deref(), Some("v"));
}
