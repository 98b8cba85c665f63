//! Tables written with `RealFs` read back exactly: point gets at every snapshot, seeks and
//! full scans, including versions of one key spread over many blocks, against a model.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use strata_engine::batch::{Kind, Record};
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::merge::RecordIter;
use strata_engine::table::{table_path, Table, TableBuilder, TableMeta, TableOptions};

fn record(key: &[u8], seqno: u64, kind: Kind, expires_at: u64, value: &[u8]) -> Record {
    Record {
        key: Bytes::copy_from_slice(key),
        seqno,
        kind,
        expires_at,
        value: Bytes::copy_from_slice(value),
    }
}

fn write_table(dir: &Path, id: u64, records: &[Record], opts: TableOptions) -> TableMeta {
    let path = table_path(dir, id);
    let mut builder = TableBuilder::new(RealFs.create(&path).unwrap(), opts);
    for r in records {
        builder.add(r).unwrap();
    }
    let meta = builder.finish().unwrap();
    assert_eq!(meta.file_bytes, RealFs.file_len(&path).unwrap());
    meta
}

fn open(dir: &Path, id: u64) -> Arc<Table> {
    Arc::new(Table::open(&RealFs, &table_path(dir, id)).unwrap())
}

fn scan(table: &Arc<Table>) -> Vec<Record> {
    let mut it = table.iter();
    let mut out = Vec::new();
    while let Some(r) = it.next_record().unwrap() {
        out.push(r);
    }
    out
}

/// What `Table::get(key, snapshot)` must return, from records in table order.
fn expected_get<'a>(records: &'a [Record], key: &[u8], snapshot: u64) -> Option<&'a Record> {
    records
        .iter()
        .find(|r| &r.key[..] == key && r.seqno <= snapshot)
}

fn tiny(block_bytes: usize, restart_interval: usize) -> TableOptions {
    TableOptions {
        block_bytes,
        restart_interval,
        bloom_bits_per_key: 10,
    }
}

#[test]
fn build_open_get_scan_with_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = Vec::new();
    for i in 0..2000u64 {
        let key = format!("user/{:05}", i * 7 % 2000);
        records.push(record(
            key.as_bytes(),
            10_000 + i,
            if i % 11 == 0 { Kind::Delete } else { Kind::Put },
            if i % 4 == 0 { 1_800_000_000 + i } else { 0 },
            format!("value of {key}").as_bytes(),
        ));
    }
    records.sort_by(|a, b| a.key.cmp(&b.key).then(b.seqno.cmp(&a.seqno)));
    let meta = write_table(dir.path(), 7, &records, TableOptions::default());
    let table = open(dir.path(), 7);
    assert_eq!(table.meta(), &meta);
    assert_eq!(table.path(), table_path(dir.path(), 7));
    assert_eq!(meta.entries, 2000);
    assert_eq!(meta.smallest_key, Bytes::from_static(b"user/00000"));
    assert_eq!(meta.largest_key, Bytes::from_static(b"user/01999"));
    assert_eq!(table.verify().unwrap(), 2000);
    assert_eq!(scan(&table), records);
    for r in &records {
        assert_eq!(table.get(&r.key, u64::MAX).unwrap().as_ref(), Some(r));
    }
    assert_eq!(table.get(b"user/02000", u64::MAX).unwrap(), None);
    assert_eq!(
        table.get(b"user/00001", 9_999).unwrap(),
        None,
        "too new for the snapshot"
    );
}

#[test]
fn many_versions_of_one_key_span_block_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = vec![record(b"a", 5, Kind::Put, 0, b"before")];
    for seqno in (1..=1000u64).rev() {
        let kind = if seqno % 7 == 0 {
            Kind::Delete
        } else {
            Kind::Put
        };
        records.push(record(
            b"hot",
            seqno,
            kind,
            seqno % 3,
            format!("v{seqno}").as_bytes(),
        ));
    }
    records.push(record(b"hotter", 2, Kind::Put, 0, b"after"));
    for (block_bytes, restart_interval) in [(1, 1), (50, 2), (300, 16), (4096, 16)] {
        write_table(dir.path(), 1, &records, tiny(block_bytes, restart_interval));
        let table = open(dir.path(), 1);
        for snapshot in 0..=1001 {
            assert_eq!(
                table.get(b"hot", snapshot).unwrap().as_ref(),
                expected_get(&records, b"hot", snapshot),
                "snapshot {snapshot}, block_bytes {block_bytes}"
            );
        }
        let mut it = table.iter();
        it.seek(b"hot").unwrap();
        let first = it.next_record().unwrap().unwrap();
        assert_eq!((&first.key[..], first.seqno), (&b"hot"[..], 1000));
        assert_eq!(scan(&table), records);
    }
}

#[test]
fn one_block_per_record_when_blocks_are_tiny() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = (0..300u64)
        .map(|i| record(format!("{i:04}").as_bytes(), 1, Kind::Put, 0, b"x"))
        .collect();
    let tiny_meta = write_table(dir.path(), 1, &records, tiny(1, 16));
    let big_meta = write_table(dir.path(), 2, &records, tiny(1 << 20, 16));
    // Each extra block costs at least a trailer, a CRC and an index entry.
    assert!(tiny_meta.file_bytes > big_meta.file_bytes + 300 * 8);
    for id in [1, 2] {
        let table = open(dir.path(), id);
        assert_eq!(table.verify().unwrap(), 300);
        assert_eq!(scan(&table), records);
    }
}

#[test]
fn large_values_exceed_the_block_size() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![0xabu8; 1 << 20];
    let records = vec![
        record(b"a", 3, Kind::Put, 0, b"small"),
        record(b"b", 2, Kind::Put, 0, &big),
        record(b"c", 1, Kind::Put, 0, b"small"),
    ];
    write_table(dir.path(), 1, &records, TableOptions::default());
    let table = open(dir.path(), 1);
    assert_eq!(table.get(b"b", 9).unwrap().unwrap().value.len(), big.len());
    assert_eq!(scan(&table), records);
}

#[test]
fn iterators_keep_the_table_alive_and_tables_are_shared_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = (0..500u64)
        .map(|i| record(format!("k{i:04}").as_bytes(), i + 1, Kind::Put, 0, b"v"))
        .collect();
    write_table(dir.path(), 1, &records, tiny(256, 8));
    let table = open(dir.path(), 1);

    let threads: Vec<_> = (0..2)
        .map(|t| {
            let table = Arc::clone(&table);
            let records = records.clone();
            std::thread::spawn(move || {
                for r in records.iter().skip(t).step_by(2) {
                    assert_eq!(table.get(&r.key, u64::MAX).unwrap().as_ref(), Some(r));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    let mut it: Box<dyn RecordIter> = Box::new(table.iter());
    drop(table);
    it.seek(b"k0250").unwrap();
    let mut rest = Vec::new();
    while let Some(r) = it.next_record().unwrap() {
        rest.push(r);
    }
    assert_eq!(rest, records[250..]);
}

/// Records in table order, the options to build them with, and (key, snapshot) probes.
type ModelCase = (Vec<Record>, TableOptions, Vec<(Vec<u8>, u64)>);

/// A table of arbitrary records (binary keys, the empty key, many versions) behaves like a
/// `BTreeMap` keyed by (key, Reverse(seqno)).
fn model_strategy() -> impl Strategy<Value = ModelCase> {
    let key = proptest::collection::vec(
        prop_oneof![Just(0u8), Just(b'k'), Just(0xff), any::<u8>()],
        0..5,
    );
    let entry = (
        key.clone(),
        0u64..40,
        any::<bool>(),
        prop_oneof![Just(0u64), 1u64..5],
        0usize..64,
    );
    (
        proptest::collection::vec(entry, 0..200),
        (1usize..512, 1usize..20, 0usize..16),
        proptest::collection::vec((key, 0u64..42), 0..30),
    )
        .prop_map(
            |(entries, (block_bytes, restart_interval, bloom_bits_per_key), probes)| {
                let mut model = BTreeMap::new();
                for (key, seqno, is_put, expires_at, value_len) in entries {
                    let kind = if is_put { Kind::Put } else { Kind::Delete };
                    let value = vec![seqno as u8; value_len];
                    let r = record(&key, seqno, kind, expires_at, &value);
                    model.insert((key, std::cmp::Reverse(seqno)), r);
                }
                let opts = TableOptions {
                    block_bytes,
                    restart_interval,
                    bloom_bits_per_key,
                };
                (model.into_values().collect(), opts, probes)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_tables_match_a_btreemap_model((records, opts, probes) in model_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let meta = write_table(dir.path(), 1, &records, opts);
        prop_assert_eq!(meta.entries, records.len() as u64);
        let table = open(dir.path(), 1);
        prop_assert_eq!(table.verify().unwrap(), records.len() as u64);
        prop_assert_eq!(&scan(&table), &records);
        for r in &records {
            let got = table.get(&r.key, r.seqno).unwrap();
            prop_assert_eq!(got.as_ref(), Some(r));
        }
        let mut it = table.iter();
        for (key, snapshot) in &probes {
            let got = table.get(key, *snapshot).unwrap();
            prop_assert_eq!(got.as_ref(), expected_get(&records, key, *snapshot));
            it.seek(key).unwrap();
            let got = it.next_record().unwrap();
            prop_assert_eq!(got.as_ref(), records.iter().find(|r| r.key[..] >= key[..]));
        }
    }
}
