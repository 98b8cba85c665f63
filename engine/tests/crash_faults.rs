//! Damaged files and failing devices, at the `Db` level:
//!
//! * a flipped byte anywhere in a table (sampled offsets, every footer byte) is reported as
//!   `Error::Corruption` — by `open` or by the read that meets it — and never returned as
//!   data;
//! * a flipped byte in a middle WAL record (or anywhere in a segment that is not the last)
//!   makes `open` fail with `Error::Corruption`; damage to the very last record is cut off as
//!   a torn tail and reported;
//! * EIO and ENOSPC injected into the WAL append, the WAL fsync, a WAL segment switch, a
//!   flush (table create / append / sync / directory sync / map), a compaction and a
//!   manifest write give the caller a clear `Error::Io` with that errno; the engine then
//!   either keeps working (table writes: the attempt is dropped and can be retried) or is
//!   poisoned (WAL and manifest writes); every acknowledged write is readable before and
//!   after a reopen — a clean one and one after power loss — and the reopened engine works.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use strata_engine::compaction::CompactionConfig;
use strata_engine::db::{TABLES_DIR, WAL_DIR};
use strata_engine::fs::{CrashMode, Fault, FaultFs, FaultOp, FileSystem, RealFs};
use strata_engine::table::TableOptions;
use strata_engine::wal::{FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use strata_engine::{Clock, Db, Error, ManualClock, Op, Options, WriteBatch};
use support::model::db_live;
use support::probe_fs::{FileKind, Probe, ProbeFs};

const T0: u64 = 1_700_000_000;
/// Table offsets flipped per table, besides every footer byte.
const TABLE_FLIPS_PER_TABLE: usize = 48;
/// Bytes at the end of a table that are all flipped (footer and the end of the index).
const TABLE_TAIL_BYTES_FLIPPED: usize = 64;

fn options(fs: Arc<dyn FileSystem>) -> Options {
    Options {
        memtable_bytes_max: 4 * 1024,
        frozen_memtables_max: 4,
        background: false,
        fs,
        clock: Arc::new(ManualClock::new(T0)) as Arc<dyn Clock>,
        compaction: CompactionConfig {
            l0_tables_trigger: 2,
            level_base_bytes: 4 * 1024,
            level_multiplier: 2,
            levels: 3,
            table_bytes_target: 2 * 1024,
            ..CompactionConfig::default()
        },
        table: TableOptions {
            block_bytes: 256,
            restart_interval: 4,
            bloom_bits_per_key: 10,
        },
        ..Options::default()
    }
}

fn value_of(i: usize, round: usize) -> String {
    format!("value-{i}-{round}-{}", "v".repeat(i % 40))
}

/// Expected contents: key -> value.
type Expected = BTreeMap<Bytes, Bytes>;

fn upsert(db: &Db, expected: &mut Expected, key: &str, value: &str) {
    db.write(WriteBatch::from(Op::upsert(
        key.to_string(),
        value.to_string(),
    )))
    .unwrap_or_else(|e| panic!("write {key}: {e}"));
    expected.insert(Bytes::from(key.to_string()), Bytes::from(value.to_string()));
}

fn live_values(db: &Db) -> strata_engine::Result<Expected> {
    Ok(db_live(db)?
        .into_iter()
        .map(|(k, e)| (k, e.value))
        .collect())
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------
// Corruption

#[test]
fn a_flipped_table_byte_is_an_error_never_data() {
    let dir = support::temp_dir("strata-faults-");
    let opts = options(Arc::new(RealFs));
    let mut expected = Expected::new();
    {
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        for round in 0..3 {
            for i in 0..60 {
                if (i + round) % 4 != 0 {
                    upsert(
                        &db,
                        &mut expected,
                        &format!("key-{i:03}"),
                        &value_of(i, round),
                    );
                }
            }
            db.flush().unwrap();
        }
        db.compact().unwrap();
        db.close().unwrap();
    }
    let tables = files_in(&dir.path().join(TABLES_DIR));
    assert!(tables.len() >= 2, "{tables:?}");

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut trials = 0;
    for table in &tables {
        let pristine = std::fs::read(table).unwrap();
        let len = pristine.len();
        let mut offsets: Vec<usize> = (0..TABLE_FLIPS_PER_TABLE)
            .map(|i| {
                i * len / TABLE_FLIPS_PER_TABLE + rng.gen_range(0..len / TABLE_FLIPS_PER_TABLE)
            })
            .collect();
        offsets.extend(len.saturating_sub(TABLE_TAIL_BYTES_FLIPPED)..len);
        for offset in offsets {
            let mut damaged = pristine.clone();
            damaged[offset] ^= 1 << (offset % 8);
            std::fs::write(table, &damaged).unwrap();
            let what = format!("{} byte {offset} of {len}", table.display());
            assert_damage_reported(dir.path(), &opts, &expected, &what);
            trials += 1;
        }
        std::fs::write(table, &pristine).unwrap();
    }
    assert!(trials > 100);
    // Undamaged again: everything reads back.
    let db = Db::open(dir.path(), opts).unwrap();
    assert_eq!(live_values(&db).unwrap(), expected);
}

/// The damage must surface as `Corruption` from `open`, or from the full scan (which reads
/// every block); point gets return the right entry or `Corruption`, never a wrong one.
fn assert_damage_reported(dir: &Path, opts: &Options, expected: &Expected, what: &str) {
    let db = match Db::open(dir, opts.clone()) {
        Err(Error::Corruption { .. }) => return,
        Err(e) => panic!("{what}: open failed with {e}, not a corruption error"),
        Ok(db) => db,
    };
    for (key, value) in expected {
        match db.get(key) {
            Ok(got) => assert_eq!(
                got.map(|e| e.value).as_ref(),
                Some(value),
                "{what}: wrong data for {key:?}"
            ),
            Err(e) => assert!(matches!(e, Error::Corruption { .. }), "{what}: {e}"),
        }
    }
    match live_values(&db) {
        Err(Error::Corruption { .. }) => {}
        Err(e) => panic!("{what}: scan failed with {e}, not a corruption error"),
        Ok(got) => panic!(
            "{what}: the damage went unnoticed; the scan returned {} entries",
            got.len()
        ),
    }
}

/// Frame offsets of a WAL segment (header first, then each frame's start), up to the
/// zero-filled reservation after the last frame, if any.
fn frame_offsets(segment: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut pos = SEGMENT_HEADER_BYTES;
    while pos + FRAME_HEADER_BYTES <= segment.len() {
        if segment[pos..].iter().all(|&b| b == 0) {
            return offsets;
        }
        offsets.push(pos);
        let len = u32::from_le_bytes(segment[pos..pos + 4].try_into().unwrap()) as usize;
        pos += FRAME_HEADER_BYTES + len;
    }
    assert_eq!(pos, segment.len(), "whole frames");
    offsets
}

#[test]
fn a_flipped_byte_in_a_middle_wal_record_is_an_error() {
    let dir = support::temp_dir("strata-faults-");
    let opts = options(Arc::new(RealFs));
    let mut expected = Expected::new();
    {
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        for i in 0..10 {
            upsert(&db, &mut expected, &format!("key-{i}"), &value_of(i, 0));
        }
        // Dropped, not closed: the records stay in the WAL only.
    }
    let segments = files_in(&dir.path().join(WAL_DIR));
    assert_eq!(segments.len(), 1);
    let segment = &segments[0];
    let pristine = std::fs::read(segment).unwrap();
    let frames = frame_offsets(&pristine);
    assert_eq!(frames.len(), 10);

    let (start, end) = (frames[4], frames[5]);
    // Its length, its checksum, its seqno, its first and last payload bytes.
    for offset in [
        start,
        start + 3,
        start + 4,
        start + FRAME_HEADER_BYTES,
        start + FRAME_HEADER_BYTES + 9,
        (start + end) / 2,
        end - 1,
    ] {
        let mut damaged = pristine.clone();
        damaged[offset] ^= 0x10;
        std::fs::write(segment, &damaged).unwrap();
        match Db::open(dir.path(), opts.clone()) {
            Err(Error::Corruption { path, .. }) => assert_eq!(&path, segment),
            Err(e) => panic!("byte {offset}: {e}, not a corruption error"),
            Ok(_) => panic!("byte {offset} of a middle WAL record: the damage went unnoticed"),
        }
        assert_eq!(std::fs::read(segment).unwrap(), damaged, "left untouched");
    }

    // The same flip in the last record is a torn tail: cut and reported, the rest is there.
    let mut damaged = pristine.clone();
    damaged[frames[9] + FRAME_HEADER_BYTES + 9] ^= 0x10;
    std::fs::write(segment, &damaged).unwrap();
    let db = Db::open(dir.path(), opts.clone()).unwrap();
    let cut = db.recovery_report().truncated.clone().expect("reported");
    assert_eq!(cut.offset, frames[9] as u64);
    expected.remove(&Bytes::from("key-9"));
    assert_eq!(live_values(&db).unwrap(), expected);
}

#[test]
fn damage_in_a_wal_segment_that_is_not_the_last_is_an_error() {
    let dir = support::temp_dir("strata-faults-");
    let opts = options(Arc::new(RealFs));
    {
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        let mut expected = Expected::new();
        // Enough to freeze the memtable (a new segment) without flushing it.
        let mut i = 0;
        while files_in(&dir.path().join(WAL_DIR)).len() < 2 {
            upsert(&db, &mut expected, &format!("key-{i:04}"), &value_of(i, 0));
            i += 1;
            assert!(i < 10_000, "no segment switch");
        }
        upsert(&db, &mut expected, "in-the-last-segment", "v");
    }
    let segments = files_in(&dir.path().join(WAL_DIR));
    let first = &segments[0];
    let mut damaged = std::fs::read(first).unwrap();
    // The last byte of its last record: a tail, but not of the last segment.
    let last = damaged.len() - 1;
    damaged[last] ^= 0x01;
    std::fs::write(first, &damaged).unwrap();
    match Db::open(dir.path(), opts) {
        Err(Error::Corruption { path, .. }) => assert_eq!(&path, first),
        Err(e) => panic!("{e}, not a corruption error"),
        Ok(_) => panic!("damage in an earlier WAL segment went unnoticed"),
    }
}

// ---------------------------------------------------------------------------------------
// Resource faults

/// What the faulted call is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A plain write (WAL append + fsync).
    Write,
    /// Writes until one needs a memtable switch (new WAL segment).
    WriteUntilSwitch,
    Flush,
    Compact,
}

/// What the engine must be like after the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Refuses writes with `Poisoned` until reopened.
    Poisoned,
    /// Takes writes, and the failed operation succeeds when retried.
    Works,
}

struct Scenario {
    op: FaultOp,
    kind: FileKind,
    phase: Phase,
    after: After,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        op: FaultOp::Append,
        kind: FileKind::Wal,
        phase: Phase::Write,
        after: After::Poisoned,
    },
    Scenario {
        op: FaultOp::Sync,
        kind: FileKind::Wal,
        phase: Phase::Write,
        after: After::Poisoned,
    },
    Scenario {
        op: FaultOp::Create,
        kind: FileKind::Wal,
        phase: Phase::WriteUntilSwitch,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::SyncDir,
        kind: FileKind::WalDir,
        phase: Phase::WriteUntilSwitch,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::Create,
        kind: FileKind::Wal,
        phase: Phase::Flush,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::Create,
        kind: FileKind::Table,
        phase: Phase::Flush,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::Append,
        kind: FileKind::Table,
        phase: Phase::Flush,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::Sync,
        kind: FileKind::Table,
        phase: Phase::Flush,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::SyncDir,
        kind: FileKind::TablesDir,
        phase: Phase::Flush,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::Read,
        kind: FileKind::Table,
        phase: Phase::Flush,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::Append,
        kind: FileKind::Manifest,
        phase: Phase::Flush,
        after: After::Poisoned,
    },
    Scenario {
        op: FaultOp::Sync,
        kind: FileKind::Manifest,
        phase: Phase::Flush,
        after: After::Poisoned,
    },
    Scenario {
        op: FaultOp::Create,
        kind: FileKind::Table,
        phase: Phase::Compact,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::Append,
        kind: FileKind::Table,
        phase: Phase::Compact,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::Sync,
        kind: FileKind::Table,
        phase: Phase::Compact,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::SyncDir,
        kind: FileKind::TablesDir,
        phase: Phase::Compact,
        after: After::Works,
    },
    Scenario {
        op: FaultOp::Append,
        kind: FileKind::Manifest,
        phase: Phase::Compact,
        after: After::Poisoned,
    },
    Scenario {
        op: FaultOp::Sync,
        kind: FileKind::Manifest,
        phase: Phase::Compact,
        after: After::Poisoned,
    },
];

/// True if `e` is an I/O error carrying `errno`. A write's error reaches its caller as a
/// copy made for every writer of the commit group (`commit::error_copy`), which keeps the
/// error's kind and text ("... (os error 28)") but not the raw errno, so the text counts too.
fn is_io_error_with(e: &Error, errno: i32) -> bool {
    match e {
        Error::Io(io) => {
            io.raw_os_error() == Some(errno)
                || io.to_string().contains(&format!("(os error {errno})"))
        }
        _ => false,
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    path: PathBuf,
    fault: FaultFs,
    probe: Probe,
}

impl Setup {
    fn new() -> Setup {
        let dir = support::temp_dir("strata-faults-");
        let path = dir.path().join("db");
        Setup {
            _dir: dir,
            path,
            fault: FaultFs::new(),
            probe: Probe::new(),
        }
    }

    fn open(&self) -> strata_engine::Result<Db> {
        let fs = ProbeFs::new(Arc::new(self.fault.this_generation()), &self.probe);
        Db::open(&self.path, options(Arc::new(fs)))
    }
}

/// `db` holds exactly `acked`, or `acked` plus the failed write `maybe` (all there or not
/// at all); point gets agree.
fn assert_contents(db: &Db, acked: &Expected, maybe: Option<(&Bytes, &Bytes)>, what: &str) {
    let got = live_values(db).unwrap_or_else(|e| panic!("{what}: scan: {e}"));
    let with_maybe = maybe.map(|(k, v)| {
        let mut state = acked.clone();
        state.insert(k.clone(), v.clone());
        state
    });
    assert!(
        got == *acked || Some(&got) == with_maybe.as_ref(),
        "{what}: contents differ\nwant {acked:?}\n(or with {maybe:?})\ngot  {got:?}"
    );
    for (key, value) in &got {
        let entry = db.get(key).unwrap_or_else(|e| panic!("{what}: get: {e}"));
        assert_eq!(
            entry.map(|e| e.value).as_ref(),
            Some(value),
            "{what}: get {key:?}"
        );
    }
}

fn run_scenario(s: &Scenario, fault: Fault, crash: bool) {
    let what = format!(
        "{:?} on {} during {:?} ({fault:?}, {})",
        s.op,
        s.kind.name(),
        s.phase,
        if crash { "power loss" } else { "clean reopen" }
    );
    let setup = Setup::new();
    let db = setup.open().unwrap();
    let mut acked = Expected::new();
    // Two L0 tables (something to compact) and data in the memtable.
    for round in 0..2 {
        for i in 0..30 {
            upsert(&db, &mut acked, &format!("key-{i:02}"), &value_of(i, round));
        }
        db.flush().unwrap();
    }
    upsert(&db, &mut acked, "in-memtable", "m");
    let expected_errno = fault.raw_os_error();

    setup.probe.inject(s.op, s.kind, fault, 1);
    let mut maybe: Option<(Bytes, Bytes)> = None;
    let failure = match s.phase {
        Phase::Write => {
            let err = db
                .write(Op::upsert("failing", "f").into())
                .expect_err("the write fails");
            maybe = Some((Bytes::from("failing"), Bytes::from("f")));
            err
        }
        Phase::WriteUntilSwitch => {
            let mut i = 0;
            loop {
                let (key, value) = (format!("more-{i:04}"), value_of(i, 9));
                match db.write(Op::upsert(key.clone(), value.clone()).into()) {
                    Ok(_) => {
                        acked.insert(Bytes::from(key), Bytes::from(value));
                    }
                    Err(e) => break e,
                }
                i += 1;
                assert!(i < 10_000, "{what}: no memtable switch");
            }
        }
        Phase::Flush => db.flush().expect_err("the flush fails"),
        Phase::Compact => db.compact().expect_err("the compaction fails"),
    };
    assert!(!setup.probe.armed(), "{what}: the fault did not fire");
    assert!(
        is_io_error_with(&failure, expected_errno),
        "{what}: {failure:?} is not an I/O error with errno {expected_errno}"
    );
    let failed_write = maybe.as_ref().map(|(k, v)| (k, v));

    // The engine's state after the failure.
    match s.after {
        After::Poisoned => {
            assert!(db.stats().poisoned, "{what}: not poisoned");
            let refused = db.write(Op::upsert("later", "l").into());
            assert!(
                matches!(refused, Err(Error::Poisoned)),
                "{what}: {refused:?}"
            );
        }
        After::Works => {
            assert!(!db.stats().poisoned, "{what}: poisoned");
            upsert(&db, &mut acked, "after-failure", "a");
            match s.phase {
                Phase::Flush => db.flush().unwrap_or_else(|e| panic!("{what}: retry: {e}")),
                Phase::Compact => db
                    .compact()
                    .unwrap_or_else(|e| panic!("{what}: retry: {e}")),
                Phase::Write | Phase::WriteUntilSwitch => {}
            }
        }
    }
    // Reads never stop working, and never show the failed write.
    assert_contents(&db, &acked, None, &format!("{what}, before reopen"));

    if crash {
        setup.fault.power_cut();
        setup.fault.restart(CrashMode::DropUnsynced);
    }
    drop(db);
    let db = setup
        .open()
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    assert!(!db.stats().poisoned);
    assert_contents(&db, &acked, failed_write, &format!("{what}, after reopen"));
    // No table file is left over that the engine does not know of.
    let tables: u64 = db.stats().tables_per_level.iter().sum();
    assert_eq!(
        files_in(&setup.path.join(TABLES_DIR)).len() as u64,
        tables,
        "{what}: orphan tables"
    );
    // And it works again.
    upsert(&db, &mut acked, "after-reopen", "r");
    db.flush().unwrap();
    db.compact().unwrap();
    assert_contents(
        &db,
        &acked,
        failed_write,
        &format!("{what}, after more work"),
    );
}

#[test]
fn eio_and_enospc_give_clear_errors_and_lose_nothing_acknowledged() {
    for s in SCENARIOS {
        for fault in [Fault::Eio, Fault::Enospc] {
            for crash in [false, true] {
                run_scenario(s, fault, crash);
            }
        }
    }
}

/// A failed removal of an obsolete file is no error: the flush or compaction succeeded, and
/// the leftover is deleted on the next open.
#[test]
fn failed_removals_of_obsolete_files_are_cleaned_up_on_reopen() {
    for (kind, phase) in [
        (FileKind::Wal, Phase::Flush),
        (FileKind::Table, Phase::Compact),
    ] {
        let setup = Setup::new();
        let db = setup.open().unwrap();
        let mut acked = Expected::new();
        for round in 0..2 {
            for i in 0..30 {
                upsert(&db, &mut acked, &format!("key-{i:02}"), &value_of(i, round));
            }
            db.flush().unwrap();
        }
        upsert(&db, &mut acked, "in-memtable", "m");
        setup.probe.inject(FaultOp::Remove, kind, Fault::Eio, 1);
        match phase {
            Phase::Flush => db.flush().unwrap(),
            _ => db.compact().unwrap(),
        }
        assert!(!setup.probe.armed(), "{kind:?}: no removal was attempted");
        drop(db);
        let db = setup.open().unwrap();
        assert_contents(&db, &acked, None, &format!("{kind:?} removal failed"));
        let tables: u64 = db.stats().tables_per_level.iter().sum();
        assert_eq!(files_in(&setup.path.join(TABLES_DIR)).len() as u64, tables);
        // One WAL segment: the live one.
        assert_eq!(files_in(&setup.path.join(WAL_DIR)).len(), 1);
    }
}

/// A background flush that fails poisons the engine (nothing would retry it and writers
/// may stall on it); writes then fail with `Poisoned`, and a reopen has everything
/// acknowledged.
#[test]
fn a_failed_background_flush_poisons_and_loses_nothing() {
    let setup = Setup::new();
    let open = || {
        let fs = ProbeFs::new(Arc::new(setup.fault.this_generation()), &setup.probe);
        Db::open(
            &setup.path,
            Options {
                background: true,
                frozen_memtables_max: 1,
                ..options(Arc::new(fs))
            },
        )
    };
    let db = open().unwrap();
    let mut acked = Expected::new();
    setup
        .probe
        .inject(FaultOp::Append, FileKind::Table, Fault::Enospc, 1);
    let mut i = 0;
    let err = loop {
        let (key, value) = (format!("key-{i:04}"), value_of(i, 0));
        match db.write(Op::upsert(key.clone(), value.clone()).into()) {
            Ok(_) => {
                acked.insert(Bytes::from(key), Bytes::from(value));
            }
            Err(e) => break e,
        }
        i += 1;
        assert!(i < 100_000, "writes never stopped");
    };
    assert!(matches!(err, Error::Poisoned), "{err}");
    assert!(db.stats().poisoned);
    assert!(db.stats().background_errors >= 1);
    assert_contents(&db, &acked, None, "poisoned by a background flush");
    drop(db);
    let db = open().unwrap();
    assert_contents(
        &db,
        &acked,
        None,
        "reopened after a failed background flush",
    );
    let mut acked = acked;
    upsert(&db, &mut acked, "after", "a");
    assert_contents(&db, &acked, None, "works again");
}
