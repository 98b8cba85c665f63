//! WAL corruption that is not a torn tail is an error, never skipped or cut.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use strata_engine::batch::{Kind, Record};
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::wal::{
    decode_batch, encode_batch, replay, segment_header, segment_path, RecoveryReport, WalWriter,
    SEGMENT_HEADER_BYTES,
};
use strata_engine::{Error, Result};

fn batch(first_seqno: u64, count: u64) -> Vec<Record> {
    (0..count)
        .map(|i| Record {
            key: Bytes::from(format!("k{}", first_seqno + i)),
            seqno: first_seqno + i,
            kind: Kind::Put,
            expires_at: 0,
            value: Bytes::from(format!("value number {}", first_seqno + i)),
        })
        .collect()
}

fn payload(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_batch(records, &mut out);
    out
}

fn write_segment(dir: &Path, id: u64, payloads: &[Vec<u8>]) -> Vec<u64> {
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
    let mut writer = WalWriter::create(&fs, dir, id).unwrap();
    let mut offsets = Vec::new();
    for p in payloads {
        offsets.push(writer.len());
        writer.append(p).unwrap();
    }
    writer.sync().unwrap();
    // As a roll leaves it: exactly the frames, no zero-filled reservation after them.
    writer.cut_reservation(&fs, dir).unwrap();
    offsets
}

fn try_replay(dir: &Path) -> Result<RecoveryReport> {
    replay(&RealFs, dir, 0, &mut |_| Ok(()))
}

/// Asserts replay fails with `Corruption` at `offset` of segment `id`, leaving it untouched.
fn assert_corruption(dir: &Path, id: u64, offset: u64, context: &str) {
    let path = segment_path(dir, id);
    let before = std::fs::read(&path).unwrap();
    match try_replay(dir) {
        Err(Error::Corruption {
            path: p,
            offset: o,
            reason,
        }) => {
            assert_eq!(p, path, "{context}");
            assert_eq!(o, offset, "{context}: {reason}");
        }
        Err(e) => panic!("{context}: expected Corruption, got {e}"),
        Ok(report) => panic!("{context}: expected Corruption, got {report:?}"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "{context}: file modified"
    );
}

#[test]
fn any_flipped_byte_in_a_middle_record_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = [
        payload(&batch(1, 2)),
        payload(&batch(3, 1)),
        payload(&batch(4, 2)),
    ];
    let offsets = write_segment(dir.path(), 1, &payloads);
    let path = segment_path(dir.path(), 1);
    let good = std::fs::read(&path).unwrap();
    let (start, end) = (offsets[1] as usize, offsets[2] as usize);
    for at in start..end {
        // 0x80 on the top length byte makes the frame run far past EOF.
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut bad = good.clone();
            bad[at] ^= mask;
            std::fs::write(&path, &bad).unwrap();
            assert_corruption(
                dir.path(),
                1,
                start as u64,
                &format!("byte {at} ^ {mask:#x}"),
            );
        }
    }
}

#[test]
fn any_flipped_byte_in_a_non_last_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let offsets = write_segment(
        dir.path(),
        1,
        &[payload(&batch(1, 2)), payload(&batch(3, 1))],
    );
    write_segment(dir.path(), 2, &[payload(&batch(4, 1))]);
    let path = segment_path(dir.path(), 1);
    let good = std::fs::read(&path).unwrap();
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        let frame_start = offsets.iter().rev().find(|&&o| o as usize <= at).copied();
        assert_corruption(
            dir.path(),
            1,
            frame_start.unwrap_or(0),
            &format!("byte {at}"),
        );
    }
}

#[test]
fn truncated_non_last_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let offsets = write_segment(
        dir.path(),
        1,
        &[payload(&batch(1, 2)), payload(&batch(3, 1))],
    );
    write_segment(dir.path(), 2, &[payload(&batch(4, 1))]);
    let path = segment_path(dir.path(), 1);
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, &good[..good.len() - 1]).unwrap();
    assert_corruption(
        dir.path(),
        1,
        offsets[1],
        "torn frame in a non-last segment",
    );
    std::fs::write(&path, b"").unwrap();
    assert_corruption(dir.path(), 1, 0, "empty non-last segment");
}

#[test]
fn damaged_header_with_records_after_it_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 1, &[payload(&batch(1, 1))]);
    let path = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xFF;
    std::fs::write(&path, &bytes).unwrap();
    assert_corruption(dir.path(), 1, 0, "bad magic");
}

#[test]
fn unsupported_format_version_is_corruption_even_in_the_last_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut header = segment_header();
    header[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32fast::hash(&header[..12]);
    header[12..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(segment_path(dir.path(), 1), header).unwrap();
    assert_corruption(dir.path(), 1, 0, "version 2");
}

#[test]
fn non_increasing_seqnos_are_corruption() {
    // Within one segment: the second batch goes back in time.
    let dir = tempfile::tempdir().unwrap();
    let offsets = write_segment(
        dir.path(),
        1,
        &[payload(&batch(5, 2)), payload(&batch(3, 1))],
    );
    assert_corruption(dir.path(), 1, offsets[1], "decreasing");

    // Equal seqnos are not increasing either.
    let dir = tempfile::tempdir().unwrap();
    let offsets = write_segment(
        dir.path(),
        1,
        &[payload(&batch(5, 2)), payload(&batch(6, 1))],
    );
    assert_corruption(dir.path(), 1, offsets[1], "repeated");

    // Across segments.
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 1, &[payload(&batch(10, 1))]);
    let offsets = write_segment(dir.path(), 2, &[payload(&batch(9, 1))]);
    assert_corruption(dir.path(), 2, offsets[0], "across segments");
}

#[test]
fn checksummed_record_that_does_not_decode_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = payload(&batch(2, 1));
    bad.push(0); // trailing byte: the frame's CRC covers it, the codec rejects it
    let offsets = write_segment(dir.path(), 1, &[payload(&batch(1, 1)), bad]);
    assert_corruption(dir.path(), 1, offsets[1], "undecodable last record");
}

#[test]
fn apply_errors_stop_replay_and_propagate() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(
        dir.path(),
        1,
        &[payload(&batch(1, 1)), payload(&batch(2, 1))],
    );
    let mut applied = 0;
    let result = replay(&RealFs, dir.path(), 0, &mut |_| {
        applied += 1;
        Err(Error::Closed)
    });
    assert!(matches!(result, Err(Error::Closed)));
    assert_eq!(applied, 1);
}

#[test]
fn missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        try_replay(&dir.path().join("nope")),
        Err(Error::Io(_))
    ));
}

#[test]
fn decode_batch_never_panics_on_random_or_mutated_input() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED);
    let good = payload(&batch(1, 4));
    for _ in 0..5_000 {
        let mut bytes = if rng.gen_bool(0.5) {
            let len = rng.gen_range(0..200);
            (0..len).map(|_| rng.gen()).collect()
        } else {
            good.clone()
        };
        for _ in 0..rng.gen_range(0..4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.gen_range(0..bytes.len());
            bytes[at] = rng.gen();
        }
        if rng.gen_bool(0.2) {
            let cut = rng.gen_range(0..=bytes.len());
            bytes.truncate(cut);
        }
        if let Ok(records) = decode_batch(&bytes) {
            assert!(!records.is_empty());
            assert!(records.windows(2).all(|w| w[1].seqno == w[0].seqno + 1));
        }
    }
    assert_eq!(decode_batch(&good).unwrap(), batch(1, 4));
}

#[test]
fn random_damage_to_the_last_segment_never_loses_or_invents_records() {
    // Whatever happens to the bytes after the header, replay either errors or returns a
    // prefix of what was written; it never panics.
    let written: Vec<Vec<Record>> = (0..6).map(|i| batch(1 + 3 * i, 3)).collect();
    let payloads: Vec<Vec<u8>> = written.iter().map(|b| payload(b)).collect();
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 1, &payloads);
    let path = segment_path(dir.path(), 1);
    let good = std::fs::read(&path).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for round in 0..300 {
        let mut bad = good.clone();
        let at = rng.gen_range(SEGMENT_HEADER_BYTES..bad.len());
        bad[at] = rng.gen();
        if rng.gen_bool(0.3) {
            bad.truncate(rng.gen_range(at..=bad.len()));
        }
        std::fs::write(&path, &bad).unwrap();
        let mut got = Vec::new();
        let result = replay(&RealFs, dir.path(), 0, &mut |b| {
            got.push(b);
            Ok(())
        });
        assert_eq!(got[..], written[..got.len()], "round {round}");
        if let Ok(report) = result {
            if report.truncated.is_none() && bad.len() == good.len() {
                assert_eq!(got.len(), written.len(), "round {round}");
            }
        }
    }
}
