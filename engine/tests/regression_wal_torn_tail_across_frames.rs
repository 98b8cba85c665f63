//! Regression (found by the power-loss fuzzer, variant `never`, seed 1): a torn write of
//! several WAL frames can garble the end of one frame and leave the next one incomplete.
//! Recovery called that "frame checksum mismatch" corruption — the damaged frame's declared
//! end was not EOF, only an incomplete frame followed — and the database refused to open
//! after a power loss under `SyncMode::Never` / `Interval` (or group commit, whose one
//! append holds several frames). It is a torn tail: nothing valid follows the damage.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::batch::{Kind, Record};
use strata_engine::fs::{CrashMode, FaultFs, FileSystem, RealFs};
use strata_engine::wal::{self, WalWriter, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use strata_engine::{Db, Error, ManualClock, Op, Options, SyncMode};

fn payload(seqno: u64, value: &str) -> Vec<u8> {
    let record = Record {
        key: Bytes::from(format!("k{seqno}")),
        seqno,
        kind: Kind::Put,
        expires_at: 0,
        value: Bytes::from(value.to_string()),
    };
    let mut out = Vec::new();
    wal::encode_batch(&[record], &mut out);
    out
}

/// A segment holding one synced frame and then two more frames written by one append.
/// Returns the file bytes and the offset where the second frame starts.
fn segment_with_three_frames(dir: &Path) -> (Vec<u8>, usize) {
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
    let mut writer = WalWriter::create(&fs, dir, 1).unwrap();
    let first = payload(1, "synced");
    writer.append(&first).unwrap();
    writer.sync().unwrap();
    writer
        .append_many(&[&payload(2, "second value"), &payload(3, "third value")])
        .unwrap();
    writer.sync().unwrap();
    let second_at = SEGMENT_HEADER_BYTES + FRAME_HEADER_BYTES + first.len();
    (std::fs::read(wal::segment_path(dir, 1)).unwrap(), second_at)
}

fn replay(dir: &Path) -> strata_engine::Result<(Vec<u64>, wal::RecoveryReport)> {
    let mut seqnos = Vec::new();
    let report = wal::replay(&RealFs, dir, 1, &mut |records| {
        seqnos.extend(records.iter().map(|r| r.seqno));
        Ok(())
    })?;
    Ok((seqnos, report))
}

#[test]
fn garbage_across_a_frame_boundary_before_an_incomplete_frame_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, second_at) = segment_with_three_frames(dir.path());
    let third_at = second_at + FRAME_HEADER_BYTES + payload(2, "second value").len();
    // The crash kept 3 bytes of the third frame's header, and the last 8 bytes it kept
    // are garbage: the end of the second frame is damaged.
    let mut torn = bytes[..third_at + 3].to_vec();
    let garbled = torn.len() - 8;
    for b in &mut torn[garbled..] {
        *b ^= 0x5a;
    }
    std::fs::write(wal::segment_path(dir.path(), 1), &torn).unwrap();

    let (seqnos, report) = replay(dir.path()).expect("a torn tail, not corruption");
    assert_eq!(seqnos, [1]);
    let cut = report.truncated.expect("the torn tail is reported");
    assert_eq!(cut.offset, second_at as u64);
    assert_eq!(cut.dropped_bytes, (torn.len() - second_at) as u64);
    assert_eq!(
        std::fs::read(wal::segment_path(dir.path(), 1)).unwrap(),
        &bytes[..second_at]
    );
}

#[test]
fn a_damaged_frame_before_a_valid_one_is_still_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (mut bytes, second_at) = segment_with_three_frames(dir.path());
    // A flipped payload byte in the middle frame: the intact third frame proves it is no
    // torn write.
    bytes[second_at + FRAME_HEADER_BYTES + 3] ^= 1;
    std::fs::write(wal::segment_path(dir.path(), 1), &bytes).unwrap();
    match replay(dir.path()) {
        Err(Error::Corruption { offset, .. }) => assert_eq!(offset, second_at as u64),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn never_mode_reopens_after_any_torn_power_loss() {
    const SEEDS: u64 = 24;
    for seed in 0..SEEDS {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultFs::new();
        let opts = |fault: &FaultFs| Options {
            sync: SyncMode::Never,
            background: false,
            fs: Arc::new(fault.this_generation()) as Arc<dyn FileSystem>,
            clock: Arc::new(ManualClock::new(1_700_000_000)),
            ..Options::default()
        };
        let db = Db::open(dir.path(), opts(&fault)).unwrap();
        db.write(Op::upsert("synced", "v").into()).unwrap();
        db.sync_wal().unwrap();
        // Unsynced: several frames in the page cache when the power goes.
        for i in 0..6 {
            let value = format!("value {i} {}", "x".repeat(i * 7));
            db.write(Op::upsert(format!("k{i}"), value).into()).unwrap();
        }
        fault.power_cut();
        fault.restart(CrashMode::TearUnsynced(seed));
        drop(db);

        let db = Db::open(dir.path(), opts(&fault))
            .unwrap_or_else(|e| panic!("seed {seed}: reopen after a torn power loss: {e}"));
        assert!(db.get(b"synced").unwrap().is_some(), "seed {seed}");
        // A prefix of the unsynced writes survives, in order.
        let present: Vec<bool> = (0..6)
            .map(|i| db.get(format!("k{i}").as_bytes()).unwrap().is_some())
            .collect();
        assert!(
            present.windows(2).all(|w| w[0] || !w[1]),
            "seed {seed}: not a prefix: {present:?}"
        );
    }
}
