//! The read-only decoders behind `strata inspect` / `strata verify` follow the recovery
//! rules without modifying anything: `wal::scan`, `wal::inspect_segment`,
//! `manifest::decode_manifest` and `Table::layout`.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::batch::{Kind, Record};
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::manifest::{self, ManifestState, NewTable, VersionEdit};
use strata_engine::table::{table_path, Table, TableBuilder, TableOptions, FOOTER_BYTES};
use strata_engine::wal::{self, WalWriter};
use strata_engine::Error;

fn fs() -> Arc<dyn FileSystem> {
    Arc::new(RealFs)
}

fn put(seqno: u64, key: &str, value: &str) -> Record {
    Record {
        key: Bytes::copy_from_slice(key.as_bytes()),
        seqno,
        kind: Kind::Put,
        expires_at: 0,
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}

/// Writes one segment holding one batch per element of `batches`; returns its path.
fn write_segment(dir: &Path, id: u64, batches: &[Vec<Record>]) -> std::path::PathBuf {
    let mut writer = WalWriter::create(&fs(), dir, id).unwrap();
    for batch in batches {
        let mut payload = Vec::new();
        wal::encode_batch(batch, &mut payload);
        writer.append(&payload).unwrap();
    }
    writer.sync().unwrap();
    // As a roll leaves it: exactly the frames, no zero-filled reservation after them.
    writer.cut_reservation(&fs(), dir).unwrap();
    wal::segment_path(dir, id)
}

#[test]
fn inspect_segment_reports_offsets_lengths_and_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_segment(
        dir.path(),
        1,
        &[
            vec![put(1, "a", "1"), put(2, "b", "22")],
            vec![put(3, "c", "333")],
        ],
    );
    let mut data = std::fs::read(&path).unwrap();
    let mut frames = Vec::new();
    let damage = wal::inspect_segment(&data, &mut None, &mut |f| frames.push(f));
    assert_eq!(damage, None);
    // Keys and values "a", "1", "b", "22": 5 bytes.
    let first_payload = (wal::BATCH_HEADER_BYTES + 2 * wal::BATCH_RECORD_HEADER_BYTES + 5) as u64;
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].offset, wal::SEGMENT_HEADER_BYTES as u64);
    assert_eq!(frames[0].payload_bytes, first_payload);
    assert_eq!(
        frames[1].offset,
        frames[0].offset + wal::FRAME_HEADER_BYTES as u64 + first_payload
    );
    assert_eq!(frames[1].records, vec![put(3, "c", "333")]);
    assert_eq!(
        frames[1].offset + wal::FRAME_HEADER_BYTES as u64 + frames[1].payload_bytes,
        data.len() as u64
    );

    // Cut the last frame short: a torn tail at its offset.
    data.truncate(data.len() - 2);
    let mut seen = 0;
    let damage = wal::inspect_segment(&data, &mut None, &mut |_| seen += 1).unwrap();
    assert_eq!(seen, 1);
    assert_eq!(damage.offset, frames[1].offset);
    assert!(damage.torn_shaped, "{damage:?}");
}

#[test]
fn scan_reports_a_torn_tail_but_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 1, &[vec![put(1, "a", "1")]]);
    let last = write_segment(
        dir.path(),
        2,
        &[vec![put(2, "b", "2")], vec![put(3, "c", "3")]],
    );
    let len = std::fs::metadata(&last).unwrap().len();
    let torn_len = len - 3;
    let file = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    file.set_len(torn_len).unwrap();

    let mut seqnos = Vec::new();
    let report = wal::scan(fs().as_ref(), dir.path(), 1, &mut |batch| {
        seqnos.extend(batch.iter().map(|r| r.seqno));
        Ok(())
    })
    .unwrap();
    assert_eq!(seqnos, vec![1, 2]);
    assert_eq!((report.segments, report.records), (2, 2));
    let tail = report.truncated.clone().expect("torn tail reported");
    assert_eq!(tail.segment_id, 2);
    assert_eq!(std::fs::metadata(&last).unwrap().len(), torn_len, "not cut");

    // `replay` agrees, and is the one that cuts.
    let replayed = wal::replay(fs().as_ref(), dir.path(), 1, &mut |_| Ok(())).unwrap();
    assert_eq!(replayed, report);
    assert_eq!(std::fs::metadata(&last).unwrap().len(), tail.offset);
}

#[test]
fn scan_fails_on_damage_before_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_segment(
        dir.path(),
        1,
        &[vec![put(1, "a", "1")], vec![put(2, "b", "2")]],
    );
    write_segment(dir.path(), 2, &[vec![put(3, "c", "3")]]);
    let mut data = std::fs::read(&first).unwrap();
    let flip_at = wal::SEGMENT_HEADER_BYTES + wal::FRAME_HEADER_BYTES + 3;
    data[flip_at] ^= 0x40;
    std::fs::write(&first, &data).unwrap();
    let err = wal::scan(fs().as_ref(), dir.path(), 1, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, Error::Corruption { .. }), "{err}");
    assert_eq!(std::fs::read(&first).unwrap(), data, "untouched");
}

#[test]
fn decode_manifest_replays_edits_and_reports_a_torn_frame_without_cutting_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = ManifestState {
        log_number: 1,
        next_table_id: 1,
        ..ManifestState::default()
    };
    let mut m = manifest::Manifest::create(&fs(), dir.path(), state).unwrap();
    let meta = strata_engine::table::TableMeta {
        file_bytes: 100,
        smallest_key: Bytes::from_static(b"a"),
        largest_key: Bytes::from_static(b"z"),
        min_seqno: 1,
        max_seqno: 9,
        entries: 9,
        ..Default::default()
    };
    m.log_and_apply(&VersionEdit {
        added: vec![NewTable {
            id: 4,
            level: 0,
            meta,
        }],
        log_number: Some(3),
        ..VersionEdit::default()
    })
    .unwrap();
    drop(m);

    let path = manifest::current_manifest_path(fs().as_ref(), dir.path()).unwrap();
    assert_eq!(path, dir.path().join(manifest::manifest_file_name(1)));
    let mut data = std::fs::read(&path).unwrap();
    let log = manifest::decode_manifest(&path, &data).unwrap();
    assert_eq!(log.edits.len(), 2);
    assert!(log.edits[0].snapshot && !log.edits[1].snapshot);
    assert_eq!(log.edits[0].offset, 0);
    assert_eq!(log.state.log_number, 3);
    assert_eq!(
        log.state.tables.keys().copied().collect::<Vec<_>>(),
        vec![4]
    );
    assert_eq!(log.torn, None);

    let valid = data.len() as u64;
    data.extend_from_slice(&[7, 0, 0]);
    let log = manifest::decode_manifest(&path, &data).unwrap();
    assert_eq!(log.torn.as_ref().map(|t| t.0), Some(valid));
    assert!(manifest::is_manifest_file_name("MANIFEST-000001"));
    assert!(!manifest::is_manifest_file_name("CURRENT"));
}

#[test]
fn table_layout_counts_blocks_and_tiles_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = table_path(dir.path(), 1);
    let opts = TableOptions {
        block_bytes: 64,
        ..TableOptions::default()
    };
    let mut builder = TableBuilder::new(RealFs.create(&path).unwrap(), opts);
    for i in 0..50u64 {
        builder
            .add(&put(100 - i, &format!("key{i:03}"), "some value"))
            .unwrap();
    }
    let meta = builder.finish().unwrap();
    let table = Table::open(&RealFs, &path).unwrap();
    let layout = table.layout().unwrap();
    assert!(layout.data_blocks > 5, "{layout:?}");
    assert_eq!(layout.bloom_probes, 7, "10 bits per key");
    assert!(layout.bloom_bits_bytes > 0);
    assert_eq!(layout.bloom.end(), layout.meta.offset);
    assert_eq!(layout.meta.end(), layout.index.offset);
    assert_eq!(
        layout.index.end() + FOOTER_BYTES as u64,
        meta.file_bytes,
        "footer closes the file"
    );
    assert_eq!(layout.footer_bytes, FOOTER_BYTES as u64);
}
