//! Regression (found by the power-loss fuzzer in its long run: variant `always` seed 5964,
//! `never` seed 1308, `background-always` seed 6936, `background-interval` seed 2995): a
//! power loss while a manifest edit (flush or compaction install) is appended but not yet
//! synced can tear that last frame so that its *length field* is garbage. Recovery
//! (`manifest::parse_frames`) then refuses to open the database:
//!
//! * a garbled length above `EDIT_BYTES_MAX` is `Corruption` ("frame length … exceeds …")
//!   even though the frame is the last thing in the file;
//! * a garbled length that makes the frame end before EOF fails its checksum and is
//!   `Corruption` ("checksum mismatch in a frame before the end of the manifest") although
//!   nothing valid follows it.
//!
//! Both are torn tails — each edit is synced before the next is appended, so only the last
//! frame can be torn — and must be truncated like the WAL's (`docs/design.md (section "wal")`): damage
//! with no valid frame after it. A damaged frame followed by a valid one stays corruption.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_engine::fs::{CrashMode, Fault, FaultFs, FaultOp, FileSystem, RealFs};
use strata_engine::manifest::{manifest_file_name, CURRENT_FILE};
use strata_engine::{Clock, Db, Error, ManualClock, Op, Options};
use support::probe_fs::{FileKind, Probe, ProbeFs};

fn options(fs: Arc<dyn FileSystem>) -> Options {
    Options {
        background: false,
        fs,
        clock: Arc::new(ManualClock::new(1_700_000_000)) as Arc<dyn Clock>,
        ..Options::default()
    }
}

/// A closed database with a few flushes (so its manifest holds several edits); returns the
/// manifest's path.
fn database_with_edits(dir: &Path) -> PathBuf {
    let db = Db::open(dir, options(Arc::new(RealFs))).unwrap();
    for i in 0..3 {
        db.write(Op::upsert(format!("k{i}"), format!("v{i}")).into())
            .unwrap();
        db.flush().unwrap();
    }
    db.close().unwrap();
    let current = std::fs::read_to_string(dir.join(CURRENT_FILE)).unwrap();
    let path = dir.join(current.trim_end());
    assert_eq!(path, dir.join(manifest_file_name(1)));
    path
}

fn assert_reopens_with_everything(dir: &Path, what: &str) {
    let db = Db::open(dir, options(Arc::new(RealFs)))
        .unwrap_or_else(|e| panic!("{what}: a torn last manifest frame refused the open: {e}"));
    assert!(
        db.manifest_recovery().truncated.is_some(),
        "{what}: not reported"
    );
    for i in 0..3 {
        let got = db.get(format!("k{i}").as_bytes()).unwrap();
        assert_eq!(got.unwrap().value, format!("v{i}"), "{what}");
    }
}

#[test]
fn a_torn_last_frame_with_a_huge_garbled_length_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = database_with_edits(dir.path());
    let mut bytes = std::fs::read(&manifest).unwrap();
    // Length 0xB4C3B2A1 (> EDIT_BYTES_MAX), a garbage checksum, 4 payload bytes, EOF.
    bytes.extend_from_slice(&[0xa1, 0xb2, 0xc3, 0xb4, 1, 2, 3, 4, 5, 6, 7, 8]);
    std::fs::write(&manifest, &bytes).unwrap();
    assert_reopens_with_everything(dir.path(), "huge length");
}

#[test]
fn a_torn_last_frame_with_a_short_garbled_length_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = database_with_edits(dir.path());
    let mut bytes = std::fs::read(&manifest).unwrap();
    // Length 2: the "frame" ends 8 bytes before EOF and fails its checksum; the bytes after
    // it are no valid frame either.
    bytes.extend_from_slice(&[2, 0, 0, 0, 9, 9, 9, 9, 0x55, 0x66]);
    bytes.extend_from_slice(&[0x13, 0x37, 0x42, 0x42, 0xde, 0xad, 0xbe, 0xef]);
    std::fs::write(&manifest, &bytes).unwrap();
    assert_reopens_with_everything(dir.path(), "short length");
}

#[test]
fn a_damaged_frame_before_a_valid_one_is_still_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = database_with_edits(dir.path());
    let mut bytes = std::fs::read(&manifest).unwrap();
    // The last byte of the snapshot frame (the first frame): later edits are intact.
    let first_len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    bytes[8 + first_len - 1] ^= 0x01;
    std::fs::write(&manifest, &bytes).unwrap();
    match Db::open(dir.path(), options(Arc::new(RealFs))) {
        Err(Error::Corruption { .. }) => {}
        Err(e) => panic!("{e}, not a corruption error"),
        Ok(_) => panic!("damage before a valid manifest frame went unnoticed"),
    }
}

/// The same, the way it happens: the manifest edit of a flush is appended, its fsync never
/// completes, the power goes and tears the unsynced frame (every seed tears it
/// differently, some through its length field).
#[test]
fn every_torn_flush_edit_reopens() {
    const SEEDS: u64 = 64;
    for seed in 0..SEEDS {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultFs::new();
        let probe = Probe::new();
        let open = || {
            let fs = ProbeFs::new(Arc::new(fault.this_generation()), &probe);
            Db::open(dir.path(), options(Arc::new(fs)))
        };
        let db = open().unwrap();
        db.write(Op::upsert("acked", "v").into()).unwrap();
        db.flush().unwrap();
        db.write(Op::upsert("in-flush", "w").into()).unwrap();
        // The flush's manifest sync is the call the power never lets finish.
        probe.inject(FaultOp::Sync, FileKind::Manifest, Fault::Eio, 1);
        assert!(db.flush().is_err(), "seed {seed}");
        assert!(!probe.armed());
        fault.power_cut();
        fault.restart(CrashMode::TearUnsynced(seed));
        drop(db);
        let db = open().unwrap_or_else(|e| panic!("seed {seed}: reopen: {e}"));
        for key in ["acked", "in-flush"] {
            assert!(
                db.get(key.as_bytes()).unwrap().is_some(),
                "seed {seed}: {key}"
            );
        }
    }
}
