//! Helpers shared by the `db_*` and `compaction_*` integration tests.
#![allow(dead_code)] // each test file uses a different subset

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::batch::{Kind, Record};
use strata_engine::fs::{FaultFs, FileSystem, RealFs};
use strata_engine::table::{table_path, Table, TableBuilder, TableOptions};
use strata_engine::version::TableHandle;
use strata_engine::{Clock, Db, Entry, ManualClock, Op, Options, SyncMode, WriteBatch};

/// Unix seconds the manual clocks start at.
pub const T0: u64 = 1_700_000_000;

/// Deterministic options: no background threads, a manual clock, the real file system.
pub fn manual_opts(clock: &Arc<ManualClock>) -> Options {
    Options {
        background: false,
        clock: Arc::clone(clock) as Arc<dyn Clock>,
        fs: Arc::new(RealFs) as Arc<dyn FileSystem>,
        sync: SyncMode::Always,
        ..Options::default()
    }
}

/// [`manual_opts`] on a [`FaultFs`] (shared with the test, which arms faults on it).
pub fn fault_opts(clock: &Arc<ManualClock>, fault: &FaultFs) -> Options {
    Options {
        fs: Arc::new(fault.clone()) as Arc<dyn FileSystem>,
        ..manual_opts(clock)
    }
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0))
}

pub fn open(dir: &Path, opts: &Options) -> Db {
    Db::open(dir, opts.clone()).expect("open")
}

pub fn put(db: &Db, key: &str, value: &str) {
    db.write(WriteBatch::from(Op::upsert(
        key.to_string(),
        value.to_string(),
    )))
    .expect("upsert");
}

pub fn del(db: &Db, key: &str) {
    db.write(WriteBatch::from(Op::delete(key.to_string())))
        .expect("delete");
}

/// The value under `key`, as a string.
pub fn value(db: &Db, key: &str) -> Option<String> {
    db.get(key.as_bytes())
        .expect("get")
        .map(|e| String::from_utf8(e.value.to_vec()).unwrap())
}

/// (key, value) pairs of entries, as strings.
pub fn pairs(entries: &[Entry]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                String::from_utf8(e.key.to_vec()).unwrap(),
                String::from_utf8(e.value.to_vec()).unwrap(),
            )
        })
        .collect()
}

/// Every live entry, via a full scan (in pages, to go past `SCAN_LIMIT_MAX`).
pub fn all(db: &Db) -> BTreeMap<Bytes, Bytes> {
    let mut out = BTreeMap::new();
    let mut after: Option<Bytes> = None;
    loop {
        let page = db
            .scan_prefix(b"", after.as_deref(), strata_engine::db::SCAN_LIMIT_MAX)
            .expect("scan");
        let Some(last) = page.last() else {
            return out;
        };
        after = Some(last.key.clone());
        for e in page {
            out.insert(e.key, e.value);
        }
    }
}

/// Total bytes of the table files in a data directory.
pub fn table_file_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join(strata_engine::db::TABLES_DIR))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Number of table files in a data directory.
pub fn table_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(strata_engine::db::TABLES_DIR))
        .unwrap()
        .count()
}

/// Bytes of the value of a [`numbered_record`].
pub const NUMBERED_VALUE_BYTES: usize = 100;

/// A put of `key{i:05}` whose value is `NUMBERED_VALUE_BYTES` of one letter chosen by
/// `seqno`, so that versions of a key differ.
pub fn numbered_record(i: u64, seqno: u64) -> Record {
    Record {
        key: Bytes::from(format!("key{i:05}")),
        seqno,
        kind: Kind::Put,
        expires_at: 0,
        value: Bytes::from(vec![b'a' + (seqno % 26) as u8; NUMBERED_VALUE_BYTES]),
    }
}

/// Writes `records` (sorted) as table `id` in `dir` through `fs` and opens it as a handle
/// at `level`, for tests that build versions by hand.
pub fn write_table(
    fs: &dyn FileSystem,
    dir: &Path,
    id: u64,
    level: usize,
    records: &[Record],
) -> Arc<TableHandle> {
    let path = table_path(dir, id);
    let mut builder = TableBuilder::new(fs.create(&path).unwrap(), TableOptions::default());
    for r in records {
        builder.add(r).unwrap();
    }
    builder.finish().unwrap();
    let table = Table::open(fs, &path).unwrap();
    Arc::new(TableHandle {
        id,
        level,
        meta: table.meta().clone(),
        table: Arc::new(table),
    })
}
