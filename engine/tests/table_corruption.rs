//! Damaged table files are reported as `Error::Corruption`: never wrong data, never a panic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::batch::{Kind, Record};
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::table::{
    table_path, Table, TableBuilder, TableOptions, BLOCK_HANDLE_BYTES, FOOTER_BYTES, TABLE_MAGIC,
};
use strata_engine::{Error, Result};

fn records(n: u64) -> Vec<Record> {
    let mut out = Vec::new();
    for i in 0..n {
        for v in 0..(1 + i % 3) {
            out.push(Record {
                key: Bytes::from(format!("key-{i:05}")),
                seqno: 1000 * (i + 1) - v,
                kind: if v == 1 { Kind::Delete } else { Kind::Put },
                expires_at: if i % 2 == 0 { 1_900_000_000 + i } else { 0 },
                value: Bytes::from(format!("value {i} {v}").repeat(1 + (i % 5) as usize)),
            });
        }
    }
    out
}

/// Builds a table at `path` and returns its bytes.
fn build(path: &Path, records: &[Record], block_bytes: usize) -> Vec<u8> {
    let opts = TableOptions {
        block_bytes,
        restart_interval: 4,
        bloom_bits_per_key: 10,
    };
    let mut builder = TableBuilder::new(RealFs.create(path).unwrap(), opts);
    for r in records {
        builder.add(r).unwrap();
    }
    builder.finish().unwrap();
    std::fs::read(path).unwrap()
}

fn open(path: &Path) -> Result<Arc<Table>> {
    Table::open(&RealFs, path).map(Arc::new)
}

fn reason(result: Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::Corruption { reason, .. }) => reason,
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

/// Writes `bytes` to `path`, then checks that the damage is found: by `open` or by
/// `verify`, and that gets (of every `get_stride`-th record) and a scan return either an
/// error or exactly the right data.
fn assert_detected(path: &Path, bytes: &[u8], records: &[Record], get_stride: usize, what: &str) {
    std::fs::write(path, bytes).unwrap();
    let table = match open(path) {
        Err(Error::Corruption { .. }) => return,
        Err(e) => panic!("{what}: unexpected error kind {e}"),
        Ok(table) => table,
    };
    assert!(
        matches!(table.verify(), Err(Error::Corruption { .. })),
        "{what}: verify passed"
    );
    for r in records.iter().step_by(get_stride) {
        match table.get(&r.key, r.seqno) {
            Ok(got) => assert_eq!(got.as_ref(), Some(r), "{what}: wrong get"),
            Err(e) => assert!(matches!(e, Error::Corruption { .. }), "{what}: {e}"),
        }
    }
    let mut it = table.iter();
    let mut expected = records.iter();
    loop {
        match it.next_record() {
            Ok(Some(got)) => assert_eq!(Some(&got), expected.next(), "{what}: wrong scan"),
            Ok(None) => panic!("{what}: scan finished without reporting the damage"),
            Err(e) => {
                assert!(matches!(e, Error::Corruption { .. }), "{what}: {e}");
                break;
            }
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    good: PathBuf,
    bad: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    Fixture {
        good: table_path(dir.path(), 1),
        bad: table_path(dir.path(), 2),
        _dir: dir,
    }
}

#[test]
fn every_flipped_byte_of_a_small_table_is_detected() {
    let f = fixture();
    let records = records(12);
    let bytes = build(&f.good, &records, 128);
    assert!(bytes.len() < 2048, "small table: {} bytes", bytes.len());
    for i in 0..bytes.len() {
        // Alternate low and high bits; CRC32 catches any single flip, wherever it lands.
        let mask = if i % 2 == 0 { 0x01 } else { 0x80 };
        let mut bad = bytes.clone();
        bad[i] ^= mask;
        assert_detected(&f.bad, &bad, &records, 1, &format!("byte {i} ^ {mask:#x}"));
    }
}

#[test]
fn sampled_flipped_bytes_of_a_bigger_table_are_detected() {
    let f = fixture();
    let records = records(1000);
    let bytes = build(&f.good, &records, 4096);
    assert!(bytes.len() > 50_000, "{} bytes", bytes.len());
    // Every 997th byte (prime, so the samples drift across block structure), plus the tail
    // where the metadata blocks and the footer live.
    let sampled = (0..bytes.len()).step_by(997);
    let tail = bytes.len() - 400..bytes.len();
    for i in sampled.chain(tail.step_by(13)) {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        assert_detected(&f.bad, &bad, &records, 61, &format!("byte {i}"));
    }
}

#[test]
fn every_truncation_is_rejected_at_open() {
    let f = fixture();
    let bytes = build(&f.good, &records(10), 128);
    for len in 0..bytes.len() {
        std::fs::write(&f.bad, &bytes[..len]).unwrap();
        assert!(
            matches!(open(&f.bad), Err(Error::Corruption { .. })),
            "truncated to {len}"
        );
    }
    std::fs::write(&f.bad, &bytes[..10]).unwrap();
    assert!(reason(open(&f.bad)).contains("too short"));
}

#[test]
fn bad_magic_is_not_a_table() {
    let f = fixture();
    let mut bytes = build(&f.good, &records(10), 4096);
    let magic_at = bytes.len() - 4 - TABLE_MAGIC.len();
    bytes[magic_at..magic_at + 8].copy_from_slice(b"SOMEFILE");
    std::fs::write(&f.bad, &bytes).unwrap();
    assert!(reason(open(&f.bad)).contains("bad magic"));
}

#[test]
fn unknown_format_version_is_a_clear_error() {
    let f = fixture();
    let mut bytes = build(&f.good, &records(10), 4096);
    let footer_at = bytes.len() - FOOTER_BYTES;
    let version_at = footer_at + 3 * BLOCK_HANDLE_BYTES;
    bytes[version_at..version_at + 4].copy_from_slice(&99u32.to_le_bytes());
    let crc_at = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[footer_at..crc_at]);
    bytes[crc_at..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&f.bad, &bytes).unwrap();
    let err = open(&f.bad).unwrap_err();
    let Error::Corruption {
        path,
        offset,
        reason,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(path, &f.bad);
    assert_eq!(*offset, footer_at as u64);
    assert!(
        reason.contains("unsupported table format version 99"),
        "{reason}"
    );
}

#[test]
fn empty_and_garbage_files_are_rejected() {
    let f = fixture();
    std::fs::write(&f.bad, b"").unwrap();
    assert!(reason(open(&f.bad)).contains("too short"));
    let mut garbage = vec![0u8; 10_000];
    for (i, b) in garbage.iter_mut().enumerate() {
        *b = (i * 131 % 251) as u8;
    }
    std::fs::write(&f.bad, &garbage).unwrap();
    assert!(reason(open(&f.bad)).contains("bad magic"));
    // Garbage that ends in a plausible magic still fails its footer checksum.
    let magic_at = garbage.len() - 4 - TABLE_MAGIC.len();
    garbage[magic_at..magic_at + 8].copy_from_slice(&TABLE_MAGIC);
    std::fs::write(&f.bad, &garbage).unwrap();
    assert!(reason(open(&f.bad)).contains("footer checksum"));
}

#[test]
fn a_missing_file_is_an_io_error() {
    let f = fixture();
    assert!(matches!(open(&f.bad), Err(Error::Io(_))));
}
