//! Memory stays bounded: once `frozen_memtables_max` memtables wait for a flush, writers
//! stall until one is flushed instead of freezing more.

mod db_common;

use std::sync::Arc;

use db_common::*;
use strata_engine::{Db, Op, Options};

const VALUE_BYTES: usize = 300;
const WRITES: usize = 400;

fn bounded_opts(c: &Arc<strata_engine::ManualClock>, background: bool) -> Options {
    Options {
        memtable_bytes_max: 4 * 1024,
        frozen_memtables_max: 1,
        background,
        ..manual_opts(c)
    }
}

/// Writes and checks the bounds after every write; returns the stats at the end.
fn write_checking_bounds(db: &Db, opts: &Options) -> strata_engine::Stats {
    // One memtable may overshoot its limit by one group (here: one write).
    let per_memtable = (opts.memtable_bytes_max + VALUE_BYTES + 200) as u64;
    let bound = per_memtable * (opts.frozen_memtables_max as u64 + 1);
    for i in 0..WRITES {
        db.write(Op::upsert(format!("k{i:04}"), vec![b'v'; VALUE_BYTES]).into())
            .unwrap();
        let stats = db.stats();
        assert!(stats.frozen_memtables <= opts.frozen_memtables_max as u64);
        assert!(
            stats.memtable_bytes <= bound,
            "memtables hold {} bytes, bound {bound}",
            stats.memtable_bytes
        );
    }
    db.stats()
}

#[test]
fn writers_stall_instead_of_freezing_more_memtables() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    // Without background threads, a stalled leader flushes by itself: deterministic.
    let opts = bounded_opts(&c, false);
    let db = open(dir.path(), &opts);
    let stats = write_checking_bounds(&db, &opts);
    assert!(stats.write_stalls > 0, "{stats:?}");
    assert!(stats.flushes > 0);
    assert_eq!(all(&db).len(), WRITES);
}

#[test]
fn background_flush_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = bounded_opts(&c, true);
    let db = Arc::new(open(dir.path(), &opts));
    let stats = write_checking_bounds(&db, &opts);
    assert!(stats.flushes > 0);
    assert_eq!(all(&db).len(), WRITES);
    drop(db);
    let db = open(dir.path(), &opts);
    assert_eq!(all(&db).len(), WRITES);
}
