//! Compaction reads its inputs with positioned reads (`FileSystem::open_read`), not
//! through the tables' mappings, so a compaction's input pages do not stay resident in the
//! process; the inputs stay readable through their mappings meanwhile.

mod db_common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use db_common::*;
use strata_engine::batch::Record;
use strata_engine::compaction::{run_compaction, Choice, CompactionConfig, Reason};
use strata_engine::error::{Error, Result};
use strata_engine::fs::{FileSystem, Mapped, Patched, ReadableFile, RealFs, RealFsExcept};
use strata_engine::table::{table_path, Table, TableOptions};
use strata_engine::version::Version;
use strata_engine::{Op, WriteBatch};

/// The real file system, except that `map` hides the data blocks of table files (zeros
/// where they were): a read of a data block through a mapping fails its checksum. Counts
/// the readers from `open_read` open at once.
#[derive(Default)]
struct DataHiddenFs {
    readers: Arc<Readers>,
}

#[derive(Default)]
struct Readers {
    open: AtomicUsize,
    most_open: AtomicUsize,
}

/// A reader of [`DataHiddenFs`]: counted while it lives.
struct CountedReader {
    inner: Box<dyn ReadableFile>,
    readers: Arc<Readers>,
}

impl ReadableFile for CountedReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
}

impl Drop for CountedReader {
    fn drop(&mut self) {
        self.readers.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl RealFsExcept for DataHiddenFs {
    fn map(&self, path: &Path) -> Result<Mapped> {
        let mut bytes = RealFs.read(path)?;
        let layout = Table::from_bytes(path.to_path_buf(), Bytes::from(bytes.clone()))?.layout()?;
        bytes[..layout.bloom.offset as usize].fill(0);
        Ok(Arc::new(bytes))
    }
    fn open_read(&self, path: &Path) -> Result<Box<dyn ReadableFile>> {
        let inner = RealFs.open_read(path)?;
        let open = self.readers.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.readers.most_open.fetch_max(open, Ordering::SeqCst);
        Ok(Box::new(CountedReader {
            inner,
            readers: Arc::clone(&self.readers),
        }))
    }
}

#[test]
fn compaction_reads_no_data_block_through_the_mapping_and_one_table_per_level_at_a_time() {
    const LEVELS: usize = 3;
    const KEYS: u64 = 3_000;
    const L2_TABLES: u64 = 10;
    let dir = tempfile::tempdir().unwrap();
    let hidden = DataHiddenFs::default();
    let readers = Arc::clone(&hidden.readers);
    let fs: Arc<dyn FileSystem> = Arc::new(Patched(hidden));
    let newer: Vec<Record> = (0..KEYS)
        .step_by(3)
        .map(|i| numbered_record(i, 10_000 + i))
        .collect();
    let older: Vec<Record> = (0..KEYS).map(|i| numbered_record(i, 1 + i)).collect();
    // L2: the older versions cut into L2_TABLES tables.
    let per_table = (KEYS / L2_TABLES) as usize;
    let mut tables = vec![write_table(fs.as_ref(), dir.path(), 1, 1, &newer)];
    for (i, chunk) in older.chunks(per_table).enumerate() {
        tables.push(write_table(fs.as_ref(), dir.path(), 2 + i as u64, 2, chunk));
    }
    let version = Version::from_tables(LEVELS, tables);
    // The mappings really hold no data.
    let mapped = &version.levels[2][0].table;
    assert!(matches!(
        mapped.get(b"key00001", u64::MAX),
        Err(Error::Corruption { .. })
    ));

    let choice = Choice {
        input_level: 1,
        output_level: 2,
        inputs: (1..=1 + L2_TABLES).collect(),
        reason: Reason::LevelSize(1),
        bottommost: true,
    };
    let mut next_id = 100;
    let output = run_compaction(
        &choice,
        &version,
        &fs,
        dir.path(),
        &mut || {
            next_id += 1;
            next_id
        },
        0,
        &CompactionConfig::default(),
        TableOptions::default(),
    )
    .expect("compaction reads its inputs without the mappings");
    // One source per level: the L1 table and one L2 table at a time.
    assert_eq!(readers.most_open.load(Ordering::SeqCst), 2);
    assert_eq!(readers.open.load(Ordering::SeqCst), 0, "all closed");
    assert_eq!(output.records_in, newer.len() as u64 + KEYS);
    let mut merged = Vec::new();
    for (id, _) in &output.tables {
        let out = Arc::new(Table::open(&RealFs, &table_path(dir.path(), *id)).unwrap());
        let mut it = out.iter();
        while let Some(r) = it.next_record().unwrap() {
            merged.push(r);
        }
    }
    let expected: Vec<Record> = (0..KEYS)
        .map(|i| {
            if i % 3 == 0 {
                numbered_record(i, 10_000 + i)
            } else {
                numbered_record(i, 1 + i)
            }
        })
        .collect();
    assert_eq!(merged, expected);
}

/// Gets and scans on other threads while `Db::compact` rewrites the tables they read:
/// every read sees every key, with a value of one of its rounds.
#[test]
fn reads_see_every_key_while_compactions_rewrite_the_tables() {
    const KEYS: u64 = 2_000;
    const ROUNDS: u64 = 6;
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = strata_engine::Options {
        compaction: CompactionConfig {
            l0_tables_trigger: 2,
            level_base_bytes: 64 * 1024,
            level_multiplier: 4,
            levels: 4,
            table_bytes_target: 64 * 1024,
            sweep_garbage_ratio: 0.5,
        },
        ..manual_opts(&c)
    };
    let db = open(dir.path(), &opts);
    let key = |i: u64| format!("key{i:05}");
    let write_round = |round: u64| {
        const BATCH_OPS: u64 = 500;
        for start in (0..KEYS).step_by(BATCH_OPS as usize) {
            let mut batch = WriteBatch::new();
            for i in start..start + BATCH_OPS {
                batch.push(Op::overwrite(key(i), format!("{}-round{round}", key(i))));
            }
            db.write(batch).unwrap();
        }
        db.flush().unwrap();
    };
    write_round(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|t| {
                let (db, done) = (&db, &done);
                s.spawn(move || {
                    let mut passes = 0;
                    while !done.load(Ordering::Relaxed) || passes == 0 {
                        for i in (t..KEYS).step_by(5) {
                            let entry = db.get(key(i).as_bytes()).unwrap().expect("every key");
                            assert!(entry
                                .value
                                .starts_with(format!("{}-round", key(i)).as_bytes()));
                        }
                        let scanned = db
                            .scan(
                                std::ops::Bound::Unbounded,
                                std::ops::Bound::Unbounded,
                                10_000,
                            )
                            .unwrap();
                        assert_eq!(scanned.len() as u64, KEYS);
                        for entry in &scanned {
                            assert!(entry.value.starts_with(&entry.key));
                        }
                        passes += 1;
                    }
                })
            })
            .collect();
        for round in 1..=ROUNDS {
            write_round(round);
            db.compact().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.join().unwrap();
        }
    });
    let stats = db.stats();
    assert!(stats.compactions >= ROUNDS, "{stats:?}");
    assert_eq!(stats.tables_per_level[0], 0, "compact settles L0");
    for i in 0..KEYS {
        assert_eq!(
            value(&db, &key(i)),
            Some(format!("{}-round{ROUNDS}", key(i)))
        );
    }
}
