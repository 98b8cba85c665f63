//! `Db::checkpoint` writes a consistent copy of an open database: it opens like any data
//! directory and holds exactly the writes before the cut point, even with writers,
//! flushes and compactions running meanwhile.

mod db_common;

use std::ops::Bound;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use db_common::*;
use strata_engine::fs::{CrashMode, FaultFs};
use strata_engine::{Db, Error, Op, Options, SyncMode, WriteBatch};

fn all_pairs(db: &Db) -> Vec<(String, String)> {
    pairs(&db.scan(Bound::Unbounded, Bound::Unbounded, 10_000).unwrap())
}

#[test]
fn checkpoint_holds_tables_and_wal_up_to_the_cut_point() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cp = dir.path().join("cp");
    let opts = manual_opts(&clock());
    let db = open(&data, &opts);
    for i in 0..40 {
        put(&db, &format!("t{i:02}"), "in-a-table");
    }
    db.flush().unwrap();
    for i in 0..10 {
        put(&db, &format!("w{i:02}"), "in-the-wal");
    }
    del(&db, "t03");
    let expected = all_pairs(&db);

    let report = db.checkpoint(&cp).unwrap();
    assert_eq!(report.last_seqno, db.stats().last_seqno);
    assert_eq!(report.tables_linked, 1, "{report:?}");
    assert_eq!(report.tables_copied, 0);
    assert_eq!(report.wal_segments, 1);
    assert!(report.wal_bytes > 0);

    // Later writes stay out of the checkpoint.
    put(&db, "after", "not-in-checkpoint");
    del(&db, "t04");

    // A linked table is the same file, not a copy.
    let table_inodes = |root: &std::path::Path| {
        let mut inodes: Vec<u64> = std::fs::read_dir(root.join("tables"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().ino())
            .collect();
        inodes.sort_unstable();
        inodes
    };
    assert_eq!(table_inodes(&cp), table_inodes(&data));

    let copy = open(&cp, &opts);
    assert_eq!(all_pairs(&copy), expected);
    assert_eq!(copy.stats().last_seqno, report.last_seqno);
    drop(copy);
    assert_eq!(value(&db, "after").as_deref(), Some("not-in-checkpoint"));
}

#[test]
fn checkpoint_refuses_a_non_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cp = dir.path().join("cp");
    std::fs::create_dir_all(&cp).unwrap();
    std::fs::write(cp.join("something"), b"x").unwrap();
    let db = open(&data, &manual_opts(&clock()));
    put(&db, "k", "v");
    let err = db.checkpoint(&cp).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!(
        std::fs::read(cp.join("something")).unwrap(),
        b"x",
        "left untouched"
    );
    // An existing empty directory is fine.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    db.checkpoint(&empty).unwrap();
    assert_eq!(
        value(&open(&empty, &manual_opts(&clock())), "k").as_deref(),
        Some("v")
    );
}

/// Each writer thread writes its own keys in order, one per batch; a consistent cut holds,
/// per thread, a prefix of its keys, and only writes at or below the reported seqno.
#[test]
fn checkpoint_under_concurrent_writes_is_a_prefix_of_every_writer() {
    const WRITERS: usize = 3;
    const WRITES_PER_WRITER: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cp = dir.path().join("cp");
    let opts = Options {
        sync: SyncMode::Never,
        // Small memtables: flushes and compactions run while the checkpoint is taken.
        memtable_bytes_max: 8 * 1024,
        ..Options::default()
    };
    let db = Arc::new(Db::open(&data, opts.clone()).unwrap());
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for i in 0..WRITES_PER_WRITER {
                    let op = Op::upsert(format!("w{t}-{i:05}"), vec![b'v'; 100]);
                    db.write(WriteBatch::from(op)).unwrap();
                }
            })
        })
        .collect();
    // Let the writers get going, then cut.
    while db.stats().commits < (WRITERS * WRITES_PER_WRITER / 4) as u64 {
        std::thread::yield_now();
    }
    let report = db.checkpoint(&cp).unwrap();
    for w in writers {
        w.join().unwrap();
    }
    drop(db);

    let copy = Db::open(&cp, opts).unwrap();
    let entries = copy
        .scan(Bound::Unbounded, Bound::Unbounded, 10_000)
        .unwrap();
    assert_eq!(
        entries.len() as u64,
        report.last_seqno,
        "one write per seqno"
    );
    for t in 0..WRITERS {
        let mine: Vec<String> = entries
            .iter()
            .map(|e| String::from_utf8(e.key.to_vec()).unwrap())
            .filter(|k| k.starts_with(&format!("w{t}-")))
            .collect();
        let prefix: Vec<String> = (0..mine.len()).map(|i| format!("w{t}-{i:05}")).collect();
        assert_eq!(mine, prefix, "writer {t} has a gap in the checkpoint");
    }
    assert!(entries.iter().all(|e| e.seqno <= report.last_seqno));
}

/// Where the file system cannot link, tables are copied; either way the checkpoint is
/// durable once `checkpoint` returns: a power cut right after loses none of it.
#[test]
fn checkpoint_survives_a_power_cut_and_copies_where_links_are_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cp = dir.path().join("cp");
    let fault = FaultFs::new();
    let opts = |fs: &FaultFs| Options {
        fs: Arc::new(fs.this_generation()),
        ..manual_opts(&clock())
    };
    let db = open(&data, &opts(&fault));
    for i in 0..30 {
        put(&db, &format!("k{i:02}"), "table");
    }
    db.flush().unwrap();
    put(&db, "k05", "wal");
    del(&db, "k06");
    let expected = all_pairs(&db);

    let report = db.checkpoint(&cp).unwrap();
    assert_eq!((report.tables_linked, report.tables_copied), (0, 1));
    fault.restart(CrashMode::DropUnsynced);
    drop(db);

    let copy = open(&cp, &opts(&fault));
    assert_eq!(all_pairs(&copy), expected);
}
