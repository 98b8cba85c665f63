//! The TTL sweep gives disk space back after entries expire, with no write traffic.

mod db_common;

use std::time::{Duration, Instant};

use db_common::*;
use strata_engine::{Op, Options, WriteBatch};

const EXPIRING: usize = 400;
const KEPT: usize = 10;

/// Fills a table with mostly expiring entries (expiring at T0 + 60) and a few permanent ones.
fn fill(db: &strata_engine::Db) {
    for chunk in (0..EXPIRING).collect::<Vec<_>>().chunks(100) {
        let batch = WriteBatch {
            ops: chunk
                .iter()
                .map(|i| {
                    Op::upsert(format!("tmp{i:04}"), vec![b'x'; 200]).expires_at(Some(T0 + 60))
                })
                .collect(),
        };
        db.write(batch).unwrap();
    }
    for i in 0..KEPT {
        put(db, &format!("keep{i}"), "v");
    }
    db.flush().unwrap();
}

#[test]
fn sweep_reclaims_expired_entries() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = manual_opts(&c);
    let db = open(dir.path(), &opts);
    fill(&db);
    let bytes_full = table_file_bytes(dir.path());
    assert!(bytes_full > (EXPIRING * 200) as u64);

    // Nothing has expired yet: the sweep has nothing to do.
    db.sweep().unwrap();
    assert_eq!(db.stats().sweeps, 0);
    assert_eq!(table_file_bytes(dir.path()), bytes_full);

    c.set(T0 + 60);
    db.sweep().unwrap();
    let stats = db.stats();
    assert!(stats.sweeps >= 1);
    let bytes_after = table_file_bytes(dir.path());
    assert!(
        bytes_after * 10 < bytes_full,
        "table bytes {bytes_full} -> {bytes_after}"
    );
    assert_eq!(
        stats.table_bytes_per_level.iter().sum::<u64>(),
        bytes_after,
        "the files on disk are exactly the live tables"
    );
    let live = all(&db);
    assert_eq!(live.len(), KEPT);
    assert!(live.keys().all(|k| k.starts_with(b"keep")));

    // The reclaimed state survives reopen, and the expired keys stay gone even with the
    // clock turned back: the sweep dropped them.
    drop(db);
    c.set(T0);
    let db = open(dir.path(), &opts);
    assert_eq!(all(&db).len(), KEPT);
}

#[test]
fn background_sweep_runs_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = Options {
        background: true,
        sweep_interval: Duration::from_millis(20),
        ..manual_opts(&c)
    };
    let db = open(dir.path(), &opts);
    fill(&db);
    let bytes_full = table_file_bytes(dir.path());
    c.set(T0 + 61);
    // Bounded wait for the background thread; the assertion is on the outcome.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.stats().sweeps == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(db.stats().sweeps >= 1, "the background sweep never ran");
    assert!(table_file_bytes(dir.path()) * 10 < bytes_full);
    assert_eq!(all(&db).len(), KEPT);
}
