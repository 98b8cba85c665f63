//! WAL recovery: replay order, torn tails cut and reported, clean appends afterwards, and
//! crashes through FaultFs.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::batch::{Kind, Record};
use strata_engine::fs::{CrashMode, FaultFs, FileSystem, RealFs};
use strata_engine::wal::{
    encode_batch, list_segments, replay, segment_path, RecoveryReport, WalWriter,
    FRAME_HEADER_BYTES, RECORD_BYTES_MAX, SEGMENT_HEADER_BYTES, SEGMENT_RESERVE_BYTES,
};
use strata_engine::Error;

/// A batch of `count` puts starting at `first_seqno`.
fn batch(first_seqno: u64, count: u64) -> Vec<Record> {
    (0..count)
        .map(|i| {
            let seqno = first_seqno + i;
            Record {
                key: Bytes::from(format!("key-{seqno}")),
                seqno,
                // Every fifth record a delete, every third one expiring.
                kind: match seqno % 5 {
                    0 => Kind::Delete,
                    _ => Kind::Put,
                },
                expires_at: match seqno % 3 {
                    0 => 1_700_000_000 + seqno,
                    _ => 0,
                },
                value: Bytes::from(format!("value-{seqno}-{}", "x".repeat(seqno as usize % 7))),
            }
        })
        .collect()
}

fn payload(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_batch(records, &mut out);
    out
}

/// Replays `dir`, returning the batches in the order they were applied.
fn replay_all(fs: &dyn FileSystem, dir: &Path, min: u64) -> (Vec<Vec<Record>>, RecoveryReport) {
    let mut batches = Vec::new();
    let report = replay(fs, dir, min, &mut |b| {
        batches.push(b);
        Ok(())
    })
    .unwrap();
    (batches, report)
}

fn real_fs() -> Arc<dyn FileSystem> {
    Arc::new(RealFs)
}

/// Writes segment `id` holding `batches`, synced. Returns the frame start offsets and the
/// file length.
fn write_segment(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    id: u64,
    batches: &[Vec<Record>],
) -> Vec<u64> {
    let mut writer = WalWriter::create(fs, dir, id).unwrap();
    let mut offsets = Vec::new();
    for b in batches {
        offsets.push(writer.len());
        writer.append(&payload(b)).unwrap();
    }
    writer.sync().unwrap();
    // Cut the zero-filled reservation, as a segment roll does: the file holds exactly the
    // frames, so the tests below can tear and garble its real end.
    writer.cut_reservation(fs, dir).unwrap();
    offsets
}

#[test]
fn empty_directory_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (batches, report) = replay_all(&RealFs, dir.path(), 0);
    assert!(batches.is_empty());
    assert_eq!(report, RecoveryReport::default());
}

#[test]
fn segments_replay_in_ascending_order_from_min_segment_id() {
    let dir = tempfile::tempdir().unwrap();
    let fs = real_fs();
    // Created out of order; ids must sort numerically.
    write_segment(&fs, dir.path(), 10, &[batch(20, 2), batch(22, 1)]);
    write_segment(&fs, dir.path(), 2, &[batch(1, 3), batch(4, 4)]);
    write_segment(&fs, dir.path(), 9, &[batch(8, 12)]);
    std::fs::write(dir.path().join("MANIFEST"), b"not a segment").unwrap();
    std::fs::write(dir.path().join("00000000000000000011.wal.tmp"), b"junk").unwrap();
    assert_eq!(list_segments(&RealFs, dir.path()).unwrap(), [2, 9, 10]);

    let (batches, report) = replay_all(&RealFs, dir.path(), 0);
    assert_eq!(
        batches,
        [
            batch(1, 3),
            batch(4, 4),
            batch(8, 12),
            batch(20, 2),
            batch(22, 1)
        ]
    );
    assert_eq!(report.segments, 3);
    assert_eq!(report.records, 5);
    assert_eq!(report.truncated, None);

    let (batches, report) = replay_all(&RealFs, dir.path(), 9);
    assert_eq!(batches, [batch(8, 12), batch(20, 2), batch(22, 1)]);
    assert_eq!(report.segments, 2);
}

#[test]
fn header_only_segment_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let fs = real_fs();
    write_segment(&fs, dir.path(), 1, &[batch(1, 1)]);
    WalWriter::create(&fs, dir.path(), 2).unwrap();
    let (batches, report) = replay_all(&RealFs, dir.path(), 0);
    assert_eq!(batches.len(), 1);
    assert_eq!(report.segments, 2);
    assert_eq!(report.truncated, None);
}

#[test]
fn torn_last_frame_is_truncated_at_every_cut_point() {
    let dir = tempfile::tempdir().unwrap();
    let fs = real_fs();
    write_segment(&fs, dir.path(), 1, &[batch(1, 2)]);
    let offsets = write_segment(&fs, dir.path(), 2, &[batch(3, 2), batch(5, 1), batch(6, 3)]);
    let path = segment_path(dir.path(), 2);
    let full = std::fs::read(&path).unwrap();
    let last_start = offsets[2] as usize;

    for cut in last_start..full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let (batches, report) = replay_all(&RealFs, dir.path(), 0);
        assert_eq!(
            batches,
            [batch(1, 2), batch(3, 2), batch(5, 1)],
            "cut at {cut}"
        );
        let tail = report.truncated.clone();
        if cut == last_start {
            assert_eq!(tail, None, "a cut on a frame boundary is a clean end");
        } else {
            let tail = tail.unwrap_or_else(|| panic!("cut at {cut} not reported"));
            assert_eq!(tail.segment_id, 2);
            assert_eq!(tail.offset, last_start as u64);
            assert_eq!(tail.dropped_bytes, (cut - last_start) as u64);
            assert!(!tail.reason.is_empty());
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), last_start as u64);
    }
}

#[test]
fn torn_tail_with_garbled_last_bytes_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let fs = real_fs();
    let offsets = write_segment(&fs, dir.path(), 1, &[batch(1, 2), batch(3, 2)]);
    let path = segment_path(dir.path(), 1);
    let full = std::fs::read(&path).unwrap();
    let last_start = offsets[1] as usize;
    for cut in [last_start + 3, last_start + 9, full.len() - 5, full.len()] {
        for garbage in [0x00u8, 0xFF, 0x5A] {
            let mut torn = full[..cut].to_vec();
            let garbled = 4.min(cut - last_start);
            for b in &mut torn[cut - garbled..] {
                *b = garbage;
            }
            if torn == full[..cut] {
                continue;
            }
            std::fs::write(&path, &torn).unwrap();
            let (batches, report) = replay_all(&RealFs, dir.path(), 0);
            assert_eq!(batches, [batch(1, 2)], "cut {cut} garbage {garbage:#x}");
            // Only zeros after the last whole frame read as a reservation, else as a tear;
            // either way the log ends there.
            let cut_at = match report.truncated {
                Some(tail) => Some(tail.offset),
                None => report.reserved_tail.map(|(_, offset)| offset),
            };
            assert_eq!(
                cut_at,
                Some(last_start as u64),
                "cut {cut} garbage {garbage:#x}"
            );
        }
    }
}

#[test]
fn zero_filled_tail_is_a_reservation_cut_without_a_report_of_damage() {
    for zeros in [1usize, 7, 8, 9, 100, 4096] {
        let dir = tempfile::tempdir().unwrap();
        let fs = real_fs();
        write_segment(&fs, dir.path(), 1, &[batch(1, 1), batch(2, 1)]);
        let path = segment_path(dir.path(), 1);
        let good_len = std::fs::metadata(&path).unwrap().len();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.resize(bytes.len() + zeros, 0);
        std::fs::write(&path, &bytes).unwrap();

        let (batches, report) = replay_all(&RealFs, dir.path(), 0);
        assert_eq!(batches, [batch(1, 1), batch(2, 1)]);
        assert_eq!(report.truncated, None, "{zeros} zeros");
        assert_eq!(report.reserved_tail, Some((1, good_len)));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
    }
}

#[test]
fn a_new_segment_is_preallocated_and_appends_stay_inside_the_reservation() {
    let dir = tempfile::tempdir().unwrap();
    let fs = real_fs();
    let mut writer = WalWriter::create(&fs, dir.path(), 1).unwrap();
    let path = segment_path(dir.path(), 1);
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert_eq!(
        size(&path),
        SEGMENT_HEADER_BYTES as u64 + SEGMENT_RESERVE_BYTES
    );
    // Appends land at the appended length, not at the end of the file.
    let mut seqno = 1;
    while writer.len() < SEGMENT_RESERVE_BYTES / 2 {
        writer.append(&payload(&batch(seqno, 20))).unwrap();
        seqno += 20;
    }
    writer.sync().unwrap();
    assert_eq!(
        size(&path),
        SEGMENT_HEADER_BYTES as u64 + SEGMENT_RESERVE_BYTES
    );
    // Past the reservation it grows by another reservation.
    while writer.len() <= SEGMENT_RESERVE_BYTES + SEGMENT_HEADER_BYTES as u64 {
        writer.append(&payload(&batch(seqno, 20))).unwrap();
        seqno += 20;
    }
    writer.sync().unwrap();
    assert!(size(&path) >= writer.len() + SEGMENT_RESERVE_BYTES / 2);
    let appended = writer.len();
    drop(writer);

    // Replay reads every record, reports no damage, and cuts the reservation; reopening
    // reserves again and appends right after the last record.
    let (batches, report) = replay_all(&RealFs, dir.path(), 0);
    assert_eq!(batches.len() as u64, (seqno - 1) / 20);
    assert_eq!(report.truncated, None);
    assert_eq!(report.reserved_tail, Some((1, appended)));
    assert_eq!(size(&path), appended);
    let mut writer = WalWriter::open_existing(&fs, dir.path(), 1).unwrap();
    assert_eq!(writer.len(), appended);
    assert!(size(&path) > appended);
    writer.append(&payload(&batch(seqno, 1))).unwrap();
    writer.sync().unwrap();
    drop(writer);
    let (batches, _) = replay_all(&RealFs, dir.path(), 0);
    assert_eq!(batches.last().unwrap(), &batch(seqno, 1));
}

#[test]
fn a_zero_filled_tail_in_a_segment_before_the_last_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let fs = real_fs();
    write_segment(&fs, dir.path(), 1, &[batch(1, 2)]);
    write_segment(&fs, dir.path(), 2, &[batch(3, 1)]);
    // Segment 1 keeps a reservation, which a roll would have cut.
    let path = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.resize(bytes.len() + 64, 0);
    std::fs::write(&path, &bytes).unwrap();
    let err = replay(&RealFs, dir.path(), 0, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, Error::Corruption { .. }), "{err}");
}

#[test]
fn replay_after_truncation_appends_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let fs = real_fs();
    let offsets = write_segment(&fs, dir.path(), 1, &[batch(1, 2), batch(3, 2)]);
    let path = segment_path(dir.path(), 1);
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 3]).unwrap();

    let (batches, report) = replay_all(&RealFs, dir.path(), 0);
    assert_eq!(batches, [batch(1, 2)]);
    assert_eq!(report.truncated.unwrap().offset, offsets[1]);

    let mut writer = WalWriter::open_existing(&fs, dir.path(), 1).unwrap();
    assert_eq!(writer.len(), offsets[1]);
    writer.append(&payload(&batch(3, 1))).unwrap();
    writer.append(&payload(&batch(4, 2))).unwrap();
    writer.sync().unwrap();

    let (batches, report) = replay_all(&RealFs, dir.path(), 0);
    assert_eq!(batches, [batch(1, 2), batch(3, 1), batch(4, 2)]);
    assert_eq!(report.truncated, None);
}

#[test]
fn torn_header_of_last_segment_is_truncated_and_rewritten_on_open() {
    for header_bytes in [0usize, 5, 15, 16] {
        let dir = tempfile::tempdir().unwrap();
        let fs = real_fs();
        write_segment(&fs, dir.path(), 1, &[batch(1, 1)]);
        let path = segment_path(dir.path(), 2);
        // A header that never made it to disk: zeros (the length may have).
        std::fs::write(&path, vec![0u8; header_bytes]).unwrap();

        let (batches, report) = replay_all(&RealFs, dir.path(), 0);
        assert_eq!(batches, [batch(1, 1)]);
        let tail = report.truncated.unwrap();
        assert_eq!((tail.segment_id, tail.offset), (2, 0));
        assert_eq!(tail.dropped_bytes, header_bytes as u64);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);

        let mut writer = WalWriter::open_existing(&fs, dir.path(), 2).unwrap();
        assert_eq!(writer.len(), SEGMENT_HEADER_BYTES as u64);
        writer.append(&payload(&batch(2, 1))).unwrap();
        writer.sync().unwrap();
        let (batches, report) = replay_all(&RealFs, dir.path(), 0);
        assert_eq!(batches, [batch(1, 1), batch(2, 1)]);
        assert_eq!(report.truncated, None);
    }
}

#[test]
fn open_existing_refuses_a_segment_shorter_than_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let fs = real_fs();
    std::fs::write(segment_path(dir.path(), 1), b"STRA").unwrap();
    assert!(matches!(
        WalWriter::open_existing(&fs, dir.path(), 1),
        Err(Error::Corruption { .. })
    ));
}

#[test]
fn append_many_writes_a_group_with_one_append_call() {
    let dir = tempfile::tempdir().unwrap();
    let fault = FaultFs::new();
    let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
    let mut writer = WalWriter::create(&fs, dir.path(), 1).unwrap();
    let group = [
        payload(&batch(1, 1)),
        payload(&batch(2, 3)),
        payload(&batch(5, 2)),
    ];
    let refs: Vec<&[u8]> = group.iter().map(Vec::as_slice).collect();
    let before = fault.mutating_ops();
    writer.append_many(&refs).unwrap();
    assert_eq!(
        fault.mutating_ops() - before,
        1,
        "one write for the whole group"
    );
    writer.sync().unwrap();
    let expected_len: usize = SEGMENT_HEADER_BYTES
        + group
            .iter()
            .map(|p| FRAME_HEADER_BYTES + p.len())
            .sum::<usize>();
    assert_eq!(writer.len(), expected_len as u64);

    let (batches, _) = replay_all(&fault, dir.path(), 0);
    assert_eq!(batches, [batch(1, 1), batch(2, 3), batch(5, 2)]);
}

#[test]
fn oversized_payload_is_refused_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let fs = real_fs();
    let mut writer = WalWriter::create(&fs, dir.path(), 1).unwrap();
    let small = payload(&batch(1, 1));
    let huge = vec![0u8; RECORD_BYTES_MAX + 1];
    let before = writer.len();
    assert!(matches!(
        writer.append_many(&[&small, &huge]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        writer.append(&huge),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(writer.len(), before);
}

#[test]
fn new_segment_survives_a_crash_because_create_syncs_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let fault = FaultFs::new();
    let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
    let mut writer = WalWriter::create(&fs, dir.path(), 1).unwrap();
    writer.append(&payload(&batch(1, 2))).unwrap();
    writer.sync().unwrap();
    fault.restart(CrashMode::DropUnsynced);
    let (batches, report) = replay_all(&fault, dir.path(), 0);
    assert_eq!(batches, [batch(1, 2)]);
    assert_eq!(report.truncated, None);
}

#[test]
fn crash_drops_unsynced_records_and_keeps_synced_ones() {
    let dir = tempfile::tempdir().unwrap();
    let fault = FaultFs::new();
    let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
    let mut writer = WalWriter::create(&fs, dir.path(), 1).unwrap();
    for first in [1, 3, 5] {
        writer.append(&payload(&batch(first, 2))).unwrap();
    }
    writer.sync().unwrap();
    writer.append(&payload(&batch(7, 2))).unwrap();
    writer.append(&payload(&batch(9, 2))).unwrap();

    fault.restart(CrashMode::DropUnsynced);
    let (batches, report) = replay_all(&fault, dir.path(), 0);
    assert_eq!(batches, [batch(1, 2), batch(3, 2), batch(5, 2)]);
    assert_eq!(report.truncated, None);
    // The crashed writer is stale; a reopened one continues the log.
    assert!(writer.append(&payload(&batch(7, 1))).is_err());
    let mut writer = WalWriter::open_existing(&fs, dir.path(), 1).unwrap();
    writer.append(&payload(&batch(7, 1))).unwrap();
    writer.sync().unwrap();
    let (batches, _) = replay_all(&fault, dir.path(), 0);
    assert_eq!(batches.len(), 4);
}

#[test]
fn torn_crashes_keep_synced_records_and_an_intact_prefix_of_the_rest() {
    let synced: Vec<Vec<Record>> = vec![batch(1, 2), batch(3, 1)];
    let unsynced: Vec<Vec<Record>> = vec![batch(4, 3), batch(7, 1), batch(8, 2)];
    let mut saw_truncation = false;
    let mut saw_survivor = false;
    for seed in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultFs::new();
        let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
        let mut writer = WalWriter::create(&fs, dir.path(), 1).unwrap();
        for b in &synced {
            writer.append(&payload(b)).unwrap();
        }
        writer.sync().unwrap();
        let group: Vec<Vec<u8>> = unsynced.iter().map(|b| payload(b)).collect();
        let refs: Vec<&[u8]> = group.iter().map(Vec::as_slice).collect();
        writer.append_many(&refs).unwrap();

        fault.restart(CrashMode::TearUnsynced(seed));
        let (batches, report) = replay_all(&fault, dir.path(), 0);
        assert_eq!(
            &batches[..2],
            &synced[..],
            "seed {seed}: synced records lost"
        );
        assert_eq!(&batches[2..], &unsynced[..batches.len() - 2], "seed {seed}");
        saw_truncation |= report.truncated.is_some();
        saw_survivor |= batches.len() > 2;

        // Whatever was cut, the log continues cleanly.
        let next = batches.last().unwrap().last().unwrap().seqno + 1;
        let mut writer = WalWriter::open_existing(&fs, dir.path(), 1).unwrap();
        writer.append(&payload(&batch(next, 1))).unwrap();
        writer.sync().unwrap();
        let (again, report) = replay_all(&fault, dir.path(), 0);
        assert_eq!(again.len(), batches.len() + 1, "seed {seed}");
        assert_eq!(report.truncated, None, "seed {seed}");
    }
    assert!(
        saw_truncation && saw_survivor,
        "seeds should cover both outcomes"
    );
}

#[test]
fn power_cut_at_every_point_of_a_workload_recovers_every_acknowledged_batch() {
    // One write + one sync per batch, rolling to a new segment every 3 batches.
    fn workload(
        fs: &Arc<dyn FileSystem>,
        dir: &Path,
        acked: &mut Vec<Vec<Record>>,
    ) -> strata_engine::Result<()> {
        let mut writer = WalWriter::create(fs, dir, 1)?;
        for i in 0..7u64 {
            if i > 0 && i % 3 == 0 {
                // A roll, as `Db` does it: the old segment ends at its last record.
                writer.cut_reservation(fs, dir)?;
                writer = WalWriter::create(fs, dir, 1 + i / 3)?;
            }
            let b = batch(1 + 2 * i, 2);
            writer.append(&payload(&b))?;
            writer.sync()?;
            acked.push(b);
        }
        Ok(())
    }

    let ops_total = {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultFs::new();
        let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
        workload(&fs, dir.path(), &mut Vec::new()).unwrap();
        fault.mutating_ops()
    };
    for cut_after in 0..ops_total {
        for mode in [CrashMode::DropUnsynced, CrashMode::TearUnsynced(cut_after)] {
            let dir = tempfile::tempdir().unwrap();
            let fault = FaultFs::new();
            let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
            fault.power_cut_after(Some(cut_after));
            let mut acked = Vec::new();
            assert!(workload(&fs, dir.path(), &mut acked).is_err());
            fault.restart(mode);

            let (batches, _) = replay_all(&fault, dir.path(), 0);
            assert!(
                batches.len() >= acked.len() && batches[..acked.len()] == acked[..],
                "cut after {cut_after} ops ({mode:?}): acknowledged batches lost"
            );
            let all: Vec<Vec<Record>> = (0..7u64).map(|i| batch(1 + 2 * i, 2)).collect();
            assert_eq!(
                batches[..],
                all[..batches.len()],
                "records must be a prefix"
            );
        }
    }
}
