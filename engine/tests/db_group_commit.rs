//! Group commit: concurrent writers under SyncMode::Always share WAL writes and fsyncs.

mod db_common;

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use db_common::*;
use strata_engine::fs::{FileSystem, Patched, RealFs, RealFsExcept, WritableFile};
use strata_engine::{Op, Options, Result, SyncMode};

/// Fsync of one WAL group in this test, so that writers pile up behind the leader the way
/// they do on a real disk. Not asserted on: it only makes grouping likely to be visible.
const SLOW_SYNC: Duration = Duration::from_millis(3);

/// The real file system with slow file syncs.
struct SlowSyncFs;

struct SlowFile(Box<dyn WritableFile>);

impl WritableFile for SlowFile {
    fn append(&mut self, buf: &[u8]) -> Result<()> {
        self.0.append(buf)
    }
    fn sync(&mut self) -> Result<()> {
        std::thread::sleep(SLOW_SYNC);
        self.0.sync()
    }
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl RealFsExcept for SlowSyncFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        Ok(Box::new(SlowFile(RealFs.create(path)?)))
    }
    fn open_append(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        Ok(Box::new(SlowFile(RealFs.open_append(path)?)))
    }
}

#[test]
fn concurrent_writers_share_fsyncs() {
    const THREADS: usize = 16;
    const WRITES: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = Options {
        fs: Arc::new(Patched(SlowSyncFs)),
        sync: SyncMode::Always,
        ..manual_opts(&c)
    };
    let db = Arc::new(open(dir.path(), &opts));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = Arc::clone(&db);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..WRITES {
                    db.write(Op::insert(format!("t{t:02}-{i:03}"), format!("{i}")).into())
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = db.stats();
    let total = (THREADS * WRITES) as u64;
    assert_eq!(stats.commits, total);
    assert!(
        stats.commit_groups < stats.commits,
        "{} groups for {} commits: nothing was grouped",
        stats.commit_groups,
        stats.commits
    );
    // Pipelined commit: one fsync covers every group appended before it started, so
    // there are at most as many fsyncs as groups (and nothing else syncs the WAL here).
    assert!(
        stats.wal_fsyncs <= stats.commit_groups,
        "{} fsyncs for {} groups",
        stats.wal_fsyncs,
        stats.commit_groups
    );
    // Every acknowledged write is there, also after reopening.
    drop(db);
    let db = open(dir.path(), &opts);
    assert_eq!(all(&db).len(), THREADS * WRITES);
    assert_eq!(value(&db, "t07-019").as_deref(), Some("19"));
}
