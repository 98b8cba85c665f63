//! Unit tests of the table builder and reader, in memory (the file-system tests live in
//! `engine/tests/table_*.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::*;
use crate::fs::{DirLock, FileSystem, Mapped, WritableFile};

/// A file that appends into shared memory; optionally fails every append after `fail_after`.
#[derive(Clone, Default)]
struct MemFile {
    bytes: Arc<Mutex<Vec<u8>>>,
    syncs: Arc<Mutex<usize>>,
    /// The file's length at each `write_behind`.
    written_behind: Arc<Mutex<Vec<u64>>>,
    fail_after: Option<usize>,
}

impl WritableFile for MemFile {
    fn append(&mut self, buf: &[u8]) -> Result<()> {
        let mut bytes = self.bytes.lock().unwrap();
        if self.fail_after.is_some_and(|n| bytes.len() + buf.len() > n) {
            return Err(Error::Io(std::io::Error::other("injected append failure")));
        }
        bytes.extend_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> Result<()> {
        *self.syncs.lock().unwrap() += 1;
        Ok(())
    }
    fn write_behind(&mut self) -> Result<()> {
        let len = self.len();
        self.written_behind.lock().unwrap().push(len);
        Ok(())
    }
    fn len(&self) -> u64 {
        self.bytes.lock().unwrap().len() as u64
    }
}

/// A file system that can only map one in-memory file (enough for `Table::open`).
struct OneFileFs(Vec<u8>);

impl FileSystem for OneFileFs {
    fn map(&self, _path: &Path) -> Result<Mapped> {
        Ok(Arc::new(self.0.clone()))
    }
    fn create_dir_all(&self, _: &Path) -> Result<()> {
        Err(unsupported())
    }
    fn create(&self, _: &Path) -> Result<Box<dyn WritableFile>> {
        Err(unsupported())
    }
    fn open_append(&self, _: &Path) -> Result<Box<dyn WritableFile>> {
        Err(unsupported())
    }
    fn read(&self, _: &Path) -> Result<Vec<u8>> {
        Ok(self.0.clone())
    }
    fn truncate(&self, _: &Path, _: u64) -> Result<()> {
        Err(unsupported())
    }
    fn rename(&self, _: &Path, _: &Path) -> Result<()> {
        Err(unsupported())
    }
    fn remove_file(&self, _: &Path) -> Result<()> {
        Err(unsupported())
    }
    fn list(&self, _: &Path) -> Result<Vec<String>> {
        Err(unsupported())
    }
    fn exists(&self, _: &Path) -> bool {
        true
    }
    fn file_len(&self, _: &Path) -> Result<u64> {
        Ok(self.0.len() as u64)
    }
    fn sync_dir(&self, _: &Path) -> Result<()> {
        Err(unsupported())
    }
    fn lock(&self, _: &Path) -> Result<Box<dyn DirLock>> {
        Err(unsupported())
    }
}

fn unsupported() -> Error {
    Error::InvalidArgument("not supported by OneFileFs".into())
}

fn put(key: &str, seqno: u64, value: &str, expires_at: u64) -> Record {
    Record {
        key: Bytes::copy_from_slice(key.as_bytes()),
        seqno,
        kind: Kind::Put,
        expires_at,
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}

fn del(key: &str, seqno: u64) -> Record {
    Record {
        kind: Kind::Delete,
        ..put(key, seqno, "", 0)
    }
}

fn opts(block_bytes: usize, restart_interval: usize) -> TableOptions {
    TableOptions {
        block_bytes,
        restart_interval,
        bloom_bits_per_key: 10,
    }
}

/// Builds a table in memory: (file bytes, meta returned by `finish`).
fn build(records: &[Record], opts: TableOptions) -> (Vec<u8>, TableMeta) {
    let file = MemFile::default();
    let mut builder = TableBuilder::new(Box::new(file.clone()), opts);
    for r in records {
        builder.add(r).unwrap();
    }
    assert_eq!(builder.entries(), records.len() as u64);
    let meta = builder.finish().unwrap();
    assert_eq!(*file.syncs.lock().unwrap(), 1, "finish syncs once");
    let bytes = file.bytes.lock().unwrap().clone();
    (bytes, meta)
}

fn open(bytes: &[u8]) -> Result<Arc<Table>> {
    Table::from_bytes("mem.sst".into(), Bytes::copy_from_slice(bytes)).map(Arc::new)
}

fn scan(table: &Arc<Table>) -> Vec<Record> {
    let mut it = table.iter();
    let mut out = Vec::new();
    while let Some(r) = it.next_record().unwrap() {
        out.push(r);
    }
    out
}

/// The record `get(key, snapshot)` must return, from a sorted list.
fn model_get<'a>(records: &'a [Record], key: &[u8], snapshot: u64) -> Option<&'a Record> {
    records
        .iter()
        .find(|r| &r.key[..] == key && r.seqno <= snapshot)
}

/// 40 keys with 1-4 versions each; tombstones, expiries and values of varied sizes.
fn sample() -> Vec<Record> {
    let mut out = Vec::new();
    for i in 0..40u64 {
        let key = format!("key{i:03}");
        for v in 0..(1 + i % 4) {
            let seqno = 1000 - i * 10 - v;
            out.push(match v {
                1 => del(&key, seqno),
                _ => put(
                    &key,
                    seqno,
                    &"v".repeat((i * 7 % 50) as usize),
                    (i % 3) * 100,
                ),
            });
        }
    }
    out
}

#[test]
fn roundtrip_scan_get_and_meta() {
    let records = sample();
    for (block_bytes, restart_interval) in [(1, 1), (64, 2), (256, 16), (4096, 16), (1 << 20, 3)] {
        let (bytes, meta) = build(&records, opts(block_bytes, restart_interval));
        let table = open(&bytes).unwrap();
        assert_eq!(table.meta(), &meta);
        assert_eq!(table.file_bytes(), bytes.len() as u64);
        assert_eq!(scan(&table), records, "block_bytes {block_bytes}");
        assert_eq!(table.verify().unwrap(), records.len() as u64);
        for r in &records {
            for snapshot in [r.seqno, r.seqno + 1, r.seqno.saturating_sub(1), u64::MAX, 0] {
                let expected = model_get(&records, &r.key, snapshot);
                assert_eq!(
                    table.get(&r.key, snapshot).unwrap().as_ref(),
                    expected,
                    "{:?} at {snapshot}",
                    r.key
                );
            }
        }
        for absent in ["", "a", "key0005", "key999", "zzz"] {
            assert_eq!(table.get(absent.as_bytes(), u64::MAX).unwrap(), None);
        }
    }
}

#[test]
fn meta_counts_everything() {
    let records = vec![
        put("a", 5, "x", 0),
        del("a", 3),
        put("b", 9, "y", 700),
        put("c", 2, "z", 300),
        del("d", 4),
    ];
    let (bytes, meta) = build(&records, TableOptions::default());
    let expected = TableMeta {
        file_bytes: bytes.len() as u64,
        smallest_key: Bytes::from_static(b"a"),
        largest_key: Bytes::from_static(b"d"),
        min_seqno: 2,
        max_seqno: 9,
        entries: 5,
        tombstones: 2,
        expiring_entries: 2,
        min_expires_at: Some(300),
        max_expires_at: Some(700),
    };
    assert_eq!(meta, expected);
    assert_eq!(open(&bytes).unwrap().meta(), &expected);
}

#[test]
fn versions_spanning_many_blocks_resolve_at_every_snapshot() {
    // 200 versions of "hot" between two neighbours, with blocks of a few entries each.
    let mut records = vec![put("cold-a", 1, "a", 0)];
    for seqno in (1..=400).rev().step_by(2) {
        records.push(if seqno % 10 == 1 {
            del("hot", seqno)
        } else {
            put("hot", seqno, &format!("v{seqno}"), 0)
        });
    }
    records.push(put("hot-z", 3, "z", 0));
    let (bytes, _) = build(&records, opts(100, 2));
    let table = open(&bytes).unwrap();
    let blocks = {
        let mut it = table.index.iter();
        it.seek_to_first().unwrap();
        let mut n = 0;
        while it.is_valid() {
            n += 1;
            it.advance().unwrap();
        }
        n
    };
    assert!(blocks > 20, "only {blocks} blocks");
    for snapshot in 0..=402 {
        let expected = model_get(&records, b"hot", snapshot);
        assert_eq!(
            table.get(b"hot", snapshot).unwrap().as_ref(),
            expected,
            "{snapshot}"
        );
    }
    assert_eq!(
        table.get(b"hot-z", 2).unwrap(),
        None,
        "only a newer version exists"
    );
    assert_eq!(scan(&table), records);
}

#[test]
fn seek_positions_before_the_first_key_at_or_after_the_target() {
    let records = sample();
    let (bytes, _) = build(&records, opts(128, 4));
    let table = open(&bytes).unwrap();
    let mut it = table.iter();
    for target in [
        "", "key000", "key0005", "key013", "key0135", "key039", "key04", "zzz",
    ] {
        it.seek(target.as_bytes()).unwrap();
        let expected: Vec<&Record> = records
            .iter()
            .filter(|r| &r.key[..] >= target.as_bytes())
            .collect();
        let mut got = Vec::new();
        while let Some(r) = it.next_record().unwrap() {
            got.push(r);
        }
        assert_eq!(got.iter().collect::<Vec<_>>(), expected, "seek {target:?}");
        assert_eq!(it.next_record().unwrap(), None, "stays at the end");
    }
    // Through the merge trait, the way the engine drives it.
    let dyn_it: &mut dyn RecordIter = &mut it;
    dyn_it.seek(b"key010").unwrap();
    let first = dyn_it.next_record().unwrap().unwrap();
    assert_eq!(&first.key[..], b"key010");
    assert_eq!(first.seqno, 900, "the newest version comes first");
}

#[test]
fn empty_table_roundtrips() {
    let (bytes, meta) = build(&[], TableOptions::default());
    assert_eq!(
        meta,
        TableMeta {
            file_bytes: bytes.len() as u64,
            ..TableMeta::default()
        }
    );
    let table = open(&bytes).unwrap();
    assert_eq!(table.verify().unwrap(), 0);
    assert_eq!(scan(&table), vec![]);
    assert_eq!(table.get(b"", u64::MAX).unwrap(), None);
    let mut it = table.iter();
    it.seek(b"a").unwrap();
    assert_eq!(it.next_record().unwrap(), None);
}

#[test]
fn bloom_filter_is_disabled_with_zero_bits_per_key() {
    let records = sample();
    let (bytes, _) = build(
        &records,
        TableOptions {
            bloom_bits_per_key: 0,
            ..TableOptions::default()
        },
    );
    let table = open(&bytes).unwrap();
    assert_eq!(table.bloom.bits_bytes(), 0);
    assert_eq!(table.get(b"key0005", u64::MAX).unwrap(), None);
    assert_eq!(
        table.get(b"key005", u64::MAX).unwrap(),
        model_get(&records, b"key005", u64::MAX).cloned()
    );
}

#[test]
fn values_share_the_mapping_and_keys_are_owned() {
    let (bytes, _) = build(&[put("k", 1, "value", 0)], TableOptions::default());
    let table = open(&bytes).unwrap();
    let record = table.get(b"k", 1).unwrap().unwrap();
    let file = table.file.as_ptr_range();
    assert!(
        file.contains(&record.value.as_ptr()),
        "value is a slice of the file"
    );
    assert!(
        !file.contains(&record.key.as_ptr()),
        "key is copied out of the block"
    );
    drop(table);
    assert_eq!(&record.value[..], b"value", "the value outlives the table");
}

#[test]
fn open_goes_through_the_file_system_map() {
    let records = sample();
    let (bytes, meta) = build(&records, TableOptions::default());
    let table = Arc::new(Table::open(&OneFileFs(bytes), Path::new("t/1.sst")).unwrap());
    assert_eq!(table.path(), Path::new("t/1.sst"));
    assert_eq!(table.meta(), &meta);
    assert_eq!(scan(&table), records);
}

#[test]
fn estimated_bytes_tracks_the_file() {
    let file = MemFile::default();
    let mut builder = TableBuilder::new(Box::new(file.clone()), opts(256, 16));
    let mut last = builder.estimated_bytes();
    for r in sample() {
        builder.add(&r).unwrap();
        let now = builder.estimated_bytes();
        assert!(now >= last, "estimate never shrinks");
        assert!(now >= file.len(), "estimate covers what is written");
        last = now;
    }
    assert!(file.len() > 0, "full blocks are written before finish");
    let meta = builder.finish().unwrap();
    let diff = meta.file_bytes.abs_diff(last);
    assert!(
        diff * 10 < meta.file_bytes,
        "estimate {last} vs {}",
        meta.file_bytes
    );
}

#[test]
#[should_panic(expected = "does not come after")]
fn out_of_order_keys_panic() {
    let mut b = TableBuilder::new(Box::new(MemFile::default()), TableOptions::default());
    b.add(&put("b", 1, "", 0)).unwrap();
    b.add(&put("a", 2, "", 0)).unwrap();
}

#[test]
#[should_panic(expected = "does not come after")]
fn ascending_seqnos_of_one_key_panic() {
    let mut b = TableBuilder::new(Box::new(MemFile::default()), TableOptions::default());
    b.add(&put("a", 1, "", 0)).unwrap();
    b.add(&put("a", 2, "", 0)).unwrap();
}

#[test]
#[should_panic(expected = "does not come after")]
fn duplicate_versions_panic() {
    let mut b = TableBuilder::new(Box::new(MemFile::default()), TableOptions::default());
    b.add(&put("a", 1, "", 0)).unwrap();
    b.add(&del("a", 1)).unwrap();
}

#[test]
#[should_panic(expected = "block_bytes")]
fn zero_block_bytes_panics() {
    TableBuilder::new(Box::new(MemFile::default()), opts(0, 16));
}

#[test]
#[should_panic(expected = "restart_interval")]
fn zero_restart_interval_panics() {
    TableBuilder::new(Box::new(MemFile::default()), opts(4096, 0));
}

#[test]
fn append_failures_are_errors_and_poison_the_builder() {
    let file = MemFile {
        fail_after: Some(300),
        ..MemFile::default()
    };
    let mut builder = TableBuilder::new(Box::new(file), opts(64, 4));
    let failure = sample().iter().find_map(|r| builder.add(r).err());
    assert!(matches!(failure, Some(Error::Io(_))), "{failure:?}");
    let reuse = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = builder.add(&put("zzz", 1, "", 0));
    }));
    assert!(
        reuse.is_err(),
        "adding after a failed append is a programmer error"
    );

    // A failure while writing the trailing blocks surfaces from `finish`.
    let (bytes, _) = build(&sample(), opts(1 << 20, 16));
    let file = MemFile {
        fail_after: Some(bytes.len() - 1),
        ..MemFile::default()
    };
    let mut builder = TableBuilder::new(Box::new(file), opts(1 << 20, 16));
    for r in sample() {
        builder.add(&r).unwrap();
    }
    assert!(matches!(builder.finish(), Err(Error::Io(_))));
}

fn assert_corruption(result: Result<impl std::fmt::Debug>, reason_part: &str) {
    match result {
        Err(Error::Corruption { reason, .. }) => {
            assert!(
                reason.contains(reason_part),
                "{reason:?} lacks {reason_part:?}"
            )
        }
        other => panic!("expected corruption ({reason_part}), got {other:?}"),
    }
}

#[test]
fn damaged_footers_are_reported() {
    let (bytes, _) = build(&sample(), TableOptions::default());
    assert_corruption(open(&[]), "too short");
    assert_corruption(open(&bytes[..FOOTER_BYTES - 1]), "too short");

    let mut bad = bytes.clone();
    let magic_at = bytes.len() - 4 - TABLE_MAGIC.len();
    bad[magic_at] = b'X';
    assert_corruption(open(&bad), "bad magic");

    // An intact footer of a newer version.
    let mut newer = bytes.clone();
    let version_at = bytes.len() - FOOTER_BYTES + 3 * BLOCK_HANDLE_BYTES;
    newer[version_at..version_at + 4].copy_from_slice(&2u32.to_le_bytes());
    let crc_at = bytes.len() - 4;
    let crc = crc32fast::hash(&newer[bytes.len() - FOOTER_BYTES..crc_at]);
    newer[crc_at..].copy_from_slice(&crc.to_le_bytes());
    assert_corruption(open(&newer), "unsupported table format version 2");

    let mut bad = bytes.clone();
    bad[bytes.len() - FOOTER_BYTES] ^= 1;
    assert_corruption(open(&bad), "footer checksum mismatch");
}

#[test]
fn every_truncation_is_rejected() {
    let (bytes, _) = build(&sample()[..12], opts(64, 2));
    for len in 0..bytes.len() {
        assert!(open(&bytes[..len]).is_err(), "truncated to {len}");
    }
}

/// Every single-byte flip is caught: by `open`, by `verify`, and by every read that
/// touches the damaged block. Reads that succeed return exactly the right data.
#[test]
fn every_flipped_byte_is_detected_and_never_returns_wrong_data() {
    let records = sample()[..30].to_vec();
    let (bytes, _) = build(&records, opts(96, 3));
    let mut opened = 0;
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x5a;
        let Ok(table) = open(&bad) else { continue };
        opened += 1;
        assert!(table.verify().is_err(), "verify missed a flip at {i}");
        for r in &records {
            match table.get(&r.key, r.seqno) {
                Ok(got) => assert_eq!(got.as_ref(), Some(r), "flip at {i}"),
                Err(e) => assert!(matches!(e, Error::Corruption { .. }), "{e}"),
            }
        }
        let mut it = table.iter();
        let mut expected = records.iter();
        loop {
            match it.next_record() {
                Ok(Some(got)) => assert_eq!(Some(&got), expected.next(), "flip at {i}"),
                Ok(None) => panic!("scan ended cleanly despite a flip at {i}"),
                Err(_) => break,
            }
        }
    }
    assert!(
        opened > 0,
        "flips in data blocks open fine and fail on read"
    );
}

#[test]
fn iterator_errors_are_sticky_until_seek() {
    let records = sample();
    let (mut bytes, _) = build(&records, opts(64, 2));
    // Damage the second data block.
    let table = open(&bytes).unwrap();
    let mut index = table.index.iter();
    index.seek_to_first().unwrap();
    index.advance().unwrap();
    let second = BlockHandle::decode(index.value()).unwrap();
    let first_key_of_third = {
        index.advance().unwrap();
        let third = table
            .read_block(BlockHandle::decode(index.value()).unwrap())
            .unwrap();
        let mut it = third.iter();
        it.seek_to_first().unwrap();
        it.key().to_vec()
    };
    drop(table);
    bytes[second.offset as usize + 1] ^= 0xff;
    let table = open(&bytes).unwrap();

    let mut it = table.iter();
    let mut good = 0;
    let err = loop {
        match it.next_record() {
            Ok(Some(_)) => good += 1,
            Ok(None) => panic!("corruption not reported"),
            Err(e) => break e,
        }
    };
    assert!(good > 0, "the first block reads fine");
    let Error::Corruption { offset, .. } = err else {
        panic!("{err}")
    };
    assert!(
        offset >= second.offset && offset < second.end(),
        "{offset} outside {second:?}"
    );
    assert!(it.next_record().is_err(), "the error repeats");
    assert!(it.next_record().is_err(), "the error repeats");
    it.seek(&first_key_of_third).unwrap();
    let next = it.next_record().unwrap().unwrap();
    assert_eq!(
        next.key[..],
        first_key_of_third[..],
        "a seek past the damage recovers"
    );
}

#[test]
fn crc_valid_but_inconsistent_index_is_rejected_at_open() {
    let (bytes, _) = build(&sample(), opts(256, 4));
    let table = open(&bytes).unwrap();
    let footer = table.footer;
    /// (last key, last seqno, handle) of each data block.
    type IndexEntries = Vec<(Vec<u8>, u64, BlockHandle)>;
    let rebuild_index = |edit: &dyn Fn(&mut IndexEntries)| {
        let mut it = table.index.iter();
        it.seek_to_first().unwrap();
        let mut entries = Vec::new();
        while it.is_valid() {
            entries.push((
                it.key().to_vec(),
                it.seqno(),
                BlockHandle::decode(it.value()).unwrap(),
            ));
            it.advance().unwrap();
        }
        edit(&mut entries);
        let mut b = BlockBuilder::new(1);
        for (k, s, h) in &entries {
            let mut v = Vec::new();
            h.encode(&mut v);
            b.add(k, *s, Kind::Put, 0, &v);
        }
        let index = b.finish().to_vec();
        let mut file = bytes[..footer.index.offset as usize].to_vec();
        let index_handle = BlockHandle {
            offset: footer.index.offset,
            size: index.len() as u32,
        };
        file.extend_from_slice(&index);
        Footer {
            index: index_handle,
            ..footer
        }
        .encode(&mut file);
        file
    };
    assert!(
        open(&rebuild_index(&|_| {})).is_ok(),
        "an unchanged index is accepted"
    );
    assert_corruption(
        open(&rebuild_index(&|e| e[1].2.offset += 1)),
        "not contiguous",
    );
    assert_corruption(
        open(&rebuild_index(&|e| {
            e.pop();
        })),
        "do not cover",
    );
    assert_corruption(
        open(&rebuild_index(&|e| e.last_mut().unwrap().0.push(b'!'))),
        "meta",
    );
}

#[test]
fn verify_catches_meta_that_disagrees_with_the_records() {
    let records = sample();
    let (bytes, meta) = build(&records, TableOptions::default());
    let table = open(&bytes).unwrap();
    let footer = table.footer;
    let mut wrong = meta.clone();
    wrong.tombstones -= 1;
    let mut file = bytes[..footer.meta.offset as usize].to_vec();
    encode_meta(&wrong, &mut file);
    assert_eq!(file.len() as u64, footer.meta.end(), "same size");
    file.extend_from_slice(&bytes[footer.meta.end() as usize..]);
    let table = open(&file).expect("meta is self-consistent");
    assert_corruption(table.verify(), "does not match the records");
}

#[test]
fn model_check_against_a_btreemap() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let mut runner = TestRunner::new(Config::with_cases(48));
    let record = (0u8..30, 1u64..50, any::<bool>(), 0u64..3, 0usize..40);
    let strategy = (
        proptest::collection::vec(record, 0..150),
        1usize..300,
        1usize..8,
        proptest::collection::vec((0u8..32, 0u64..52), 20),
    );
    runner
        .run(&strategy, |(raw, block_bytes, restart_interval, probes)| {
            // (key, Reverse(seqno)) orders like the table.
            let mut model = BTreeMap::new();
            for (k, seqno, is_put, exp, value_len) in raw {
                let key = format!("k{k:02}");
                let record = if is_put {
                    put(&key, seqno, &"x".repeat(value_len), exp * 1000)
                } else {
                    del(&key, seqno)
                };
                model.insert((key, std::cmp::Reverse(seqno)), record);
            }
            let records: Vec<Record> = model.into_values().collect();
            let (bytes, _) = build(&records, opts(block_bytes, restart_interval));
            let table = open(&bytes).unwrap();
            prop_assert_eq!(table.verify().unwrap(), records.len() as u64);
            prop_assert_eq!(&scan(&table), &records);
            let mut it = table.iter();
            for (k, snapshot) in probes {
                let key = format!("k{k:02}");
                let got = table.get(key.as_bytes(), snapshot).unwrap();
                prop_assert_eq!(got.as_ref(), model_get(&records, key.as_bytes(), snapshot));
                it.seek(key.as_bytes()).unwrap();
                let got = it.next_record().unwrap();
                prop_assert_eq!(
                    got.as_ref(),
                    records.iter().find(|r| r.key[..] >= *key.as_bytes())
                );
            }
            Ok(())
        })
        .unwrap();
}

/// (offset, length) of every read, in order.
type ReadLog = Arc<Mutex<Vec<(u64, usize)>>>;

/// Positioned reads from a copy of a file, logged; optionally failing every read from the
/// `fail_from`-th on.
struct LoggedReader {
    bytes: Vec<u8>,
    reads: ReadLog,
    fail_from: Option<usize>,
}

impl crate::fs::ReadableFile for LoggedReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut reads = self.reads.lock().unwrap();
        if self.fail_from.is_some_and(|n| reads.len() >= n) {
            return Err(Error::Io(std::io::Error::other("injected read failure")));
        }
        reads.push((offset, buf.len()));
        let start = offset as usize;
        buf.copy_from_slice(&self.bytes[start..start + buf.len()]);
        Ok(())
    }
}

/// A sequential iterator over `table` (whose file is `bytes`) and its read log.
fn sequential(
    table: &Arc<Table>,
    bytes: &[u8],
    fail_from: Option<usize>,
) -> (TableIterator, ReadLog) {
    let reads = Arc::new(Mutex::new(Vec::new()));
    let reader = LoggedReader {
        bytes: bytes.to_vec(),
        reads: Arc::clone(&reads),
        fail_from,
    };
    let it = table
        .iter_sequential(&ReaderFs(Mutex::new(Some(Box::new(reader)))))
        .unwrap();
    (it, reads)
}

/// Hands out one reader from `open_read`; nothing else.
struct ReaderFs(Mutex<Option<Box<dyn crate::fs::ReadableFile>>>);

impl FileSystem for ReaderFs {
    fn open_read(&self, _: &Path) -> Result<Box<dyn crate::fs::ReadableFile>> {
        Ok(self.0.lock().unwrap().take().expect("one reader"))
    }
    fn map(&self, _: &Path) -> Result<Mapped> {
        Err(unsupported())
    }
    fn create_dir_all(&self, _: &Path) -> Result<()> {
        Err(unsupported())
    }
    fn create(&self, _: &Path) -> Result<Box<dyn WritableFile>> {
        Err(unsupported())
    }
    fn open_append(&self, _: &Path) -> Result<Box<dyn WritableFile>> {
        Err(unsupported())
    }
    fn read(&self, _: &Path) -> Result<Vec<u8>> {
        Err(unsupported())
    }
    fn truncate(&self, _: &Path, _: u64) -> Result<()> {
        Err(unsupported())
    }
    fn rename(&self, _: &Path, _: &Path) -> Result<()> {
        Err(unsupported())
    }
    fn remove_file(&self, _: &Path) -> Result<()> {
        Err(unsupported())
    }
    fn list(&self, _: &Path) -> Result<Vec<String>> {
        Err(unsupported())
    }
    fn exists(&self, _: &Path) -> bool {
        true
    }
    fn file_len(&self, _: &Path) -> Result<u64> {
        Err(unsupported())
    }
    fn sync_dir(&self, _: &Path) -> Result<()> {
        Err(unsupported())
    }
    fn lock(&self, _: &Path) -> Result<Box<dyn DirLock>> {
        Err(unsupported())
    }
}

fn drain(it: &mut TableIterator) -> Vec<Record> {
    std::iter::from_fn(|| it.next_record().unwrap()).collect()
}

/// Small records filling several read-ahead buffers, with a few values larger than a
/// whole buffer in between.
fn read_ahead_sample() -> Vec<Record> {
    const SMALL: u64 = 6_000;
    let (big, small) = ("b".repeat(READ_AHEAD_BYTES + 1_000), "v".repeat(100));
    (0..SMALL)
        .map(|i| {
            let value = if i % 2_000 == 1_000 { &big } else { &small };
            put(&format!("key{i:05}"), i + 1, value, 0)
        })
        .collect()
}

/// Checks a sequential pass's reads: forward, each starting within the previous one's
/// last block (a block straddling a buffer's end is read again whole), together covering
/// the data blocks exactly. Returns the bytes read.
fn check_forward_reads(reads: &[(u64, usize)], data_bytes: u64, block_bytes_max: u64) -> u64 {
    let mut end = 0;
    for &(offset, len) in reads {
        assert!(offset <= end && end - offset < block_bytes_max, "{reads:?}");
        assert!(offset + len as u64 > end, "{reads:?}");
        end = offset + len as u64;
    }
    assert_eq!(end, data_bytes);
    reads.iter().map(|&(_, len)| len as u64).sum()
}

#[test]
fn sequential_iteration_reads_forward_in_bounded_reads() {
    // Small blocks: buffers of READ_AHEAD_BYTES, each block read about once.
    let records: Vec<Record> = (0..12_000u64)
        .map(|i| put(&format!("key{i:05}"), i + 1, &"v".repeat(100), 0))
        .collect();
    let (bytes, _) = build(&records, TableOptions::default());
    let table = open(&bytes).unwrap();
    let data_bytes = table.footer.bloom.offset;
    assert!(
        data_bytes > 4 * READ_AHEAD_BYTES as u64,
        "spans several buffers"
    );
    let (mut it, reads) = sequential(&table, &bytes, None);
    assert_eq!(drain(&mut it), records);
    let reads = reads.lock().unwrap();
    assert!(reads.iter().all(|&(_, len)| len <= READ_AHEAD_BYTES));
    let block_max = 2 * TableOptions::default().block_bytes as u64;
    let read = check_forward_reads(&reads, data_bytes, block_max);
    assert!(
        read <= data_bytes + reads.len() as u64 * block_max,
        "{read}"
    );

    // Blocks larger than a buffer are read whole, in one read.
    let records = read_ahead_sample();
    let (bytes, _) = build(&records, TableOptions::default());
    let table = open(&bytes).unwrap();
    let (mut it, reads) = sequential(&table, &bytes, None);
    assert_eq!(drain(&mut it), records);
    let reads = reads.lock().unwrap();
    let big_block_max = 2 * READ_AHEAD_BYTES as u64;
    check_forward_reads(&reads, table.footer.bloom.offset, big_block_max);
    assert!(
        reads.iter().any(|&(_, len)| len > READ_AHEAD_BYTES),
        "{reads:?}"
    );
}

#[test]
fn sequential_iterator_seeks_like_the_mapped_one() {
    let records = read_ahead_sample();
    let (bytes, _) = build(&records, opts(1024, 4));
    let table = open(&bytes).unwrap();
    let (mut sequential, _) = sequential(&table, &bytes, None);
    let mut mapped = table.iter();
    // Forwards, backwards (before the buffer), and far ahead (after it).
    for target in [
        "key03000", "key00010", "key05990", "key00000", "zzz", "key04500",
    ] {
        sequential.seek(target.as_bytes()).unwrap();
        mapped.seek(target.as_bytes()).unwrap();
        for _ in 0..20 {
            assert_eq!(
                sequential.next_record().unwrap(),
                mapped.next_record().unwrap(),
                "after seeking {target}"
            );
        }
    }
}

#[test]
fn sequential_iterator_reports_damage_and_read_errors() {
    let records = sample();
    let (mut bytes, _) = build(&records, opts(64, 2));
    // A read error (of the first and only read): reported, and again on the next call.
    let table = open(&bytes).unwrap();
    let (mut it, _) = sequential(&table, &bytes[..], Some(0));
    assert!(it.next_record().is_err(), "the only read failed");
    assert!(it.next_record().is_err(), "the error repeats");

    // A damaged data block: the same corruption as through the mapping.
    let second = {
        let mut index = table.index.iter();
        index.seek_to_first().unwrap();
        index.advance().unwrap();
        BlockHandle::decode(index.value()).unwrap()
    };
    bytes[second.offset as usize + 1] ^= 0xff;
    let table = open(&bytes).unwrap();
    let (mut it, _) = sequential(&table, &bytes, None);
    let err = loop {
        match it.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("corruption not reported"),
            Err(e) => break e,
        }
    };
    let Error::Corruption { offset, .. } = err else {
        panic!("{err}")
    };
    assert!(offset >= second.offset && offset < second.end(), "{offset}");
}

#[test]
fn a_table_serves_gets_and_mapped_scans_during_a_sequential_pass() {
    let records = read_ahead_sample();
    let (bytes, _) = build(&records, TableOptions::default());
    let table = open(&bytes).unwrap();
    let (mut it, _) = sequential(&table, &bytes, None);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|t| {
                let table = Arc::clone(&table);
                let records = &records;
                s.spawn(move || {
                    for r in records.iter().skip(t).step_by(7) {
                        assert_eq!(table.get(&r.key, u64::MAX).unwrap().as_ref(), Some(r));
                    }
                    assert_eq!(&scan(&table), records);
                })
            })
            .collect();
        let mut seen = 0;
        while let Some(r) = it.next_record().unwrap() {
            assert_eq!(r, records[seen]);
            // Interleaved on this thread too.
            assert_eq!(table.get(&r.key, u64::MAX).unwrap(), Some(r));
            seen += 1;
        }
        assert_eq!(seen, records.len());
        for reader in readers {
            reader.join().unwrap();
        }
    });
}

#[test]
fn a_large_table_is_written_behind_every_write_behind_bytes() {
    let value = "v".repeat(1000);
    let records: Vec<Record> = (0..5000)
        .map(|i| put(&format!("key{i:06}"), 1, &value, 0))
        .collect();
    let file = MemFile::default();
    let mut builder = TableBuilder::new(Box::new(file.clone()), TableOptions::default());
    for r in &records {
        builder.add(r).unwrap();
    }
    builder.finish().unwrap();
    let bytes = file.bytes.lock().unwrap().clone();
    let steps = file.written_behind.lock().unwrap().clone();
    // ~5 MB of data blocks: a write-behind after each MiB, never more than a block apart.
    assert_eq!(steps.len() as u64, bytes.len() as u64 / WRITE_BEHIND_BYTES);
    let block = TableOptions::default().block_bytes as u64 + 1100;
    let mut last = 0;
    for &at in &steps {
        assert!(at - last >= WRITE_BEHIND_BYTES && at - last < WRITE_BEHIND_BYTES + block);
        last = at;
    }
    // The table reads back whole.
    let table = open(&bytes).unwrap();
    for r in records.iter().step_by(499) {
        assert_eq!(table.get(&r.key, u64::MAX).unwrap().unwrap().value, r.value);
    }
}
