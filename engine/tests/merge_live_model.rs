//! `MergeIter` and `LiveIter` against a `BTreeMap` model: random versions spread over
//! several sources (with duplicates), tombstones, TTLs, snapshots and seeks.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use strata_engine::batch::{Entry, Kind, Record};
use strata_engine::error::Result;
use strata_engine::merge::{LiveIter, MergeIter, RecordIter};

/// Keys chosen to exercise byte order: prefixes, a NUL byte, the empty key.
const KEYS: [&[u8]; 10] = [
    b"", b"a", b"a\0", b"ab", b"b", b"ba", b"bb", b"c", b"zz", b"\xff",
];
const SOURCES_MAX: usize = 5;
const TIME_MAX: u64 = 20;

/// Records held in memory, in (key asc, seqno desc) order.
struct VecIter {
    records: Vec<Record>,
    pos: usize,
}

impl RecordIter for VecIter {
    fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.pos = self.records.partition_point(|r| r.key.as_ref() < key);
        Ok(())
    }
    fn next_record(&mut self) -> Result<Option<Record>> {
        let record = self.records.get(self.pos).cloned();
        self.pos += usize::from(record.is_some());
        Ok(record)
    }
}

/// One generated version: which key, tombstone or not, expiry (0 = never), the source it
/// lands in, and optionally a second (older-index) source holding a duplicate.
#[derive(Debug, Clone)]
struct Version {
    key: usize,
    delete: bool,
    expires_at: u64,
    source: usize,
    duplicate_in: Option<usize>,
}

fn version() -> impl Strategy<Value = Version> {
    (
        0..KEYS.len(),
        prop::bool::weighted(0.3),
        prop_oneof![Just(0), 1..=TIME_MAX],
        0..SOURCES_MAX,
        prop::option::weighted(0.1, 0..SOURCES_MAX),
    )
        .prop_map(|(key, delete, expires_at, source, duplicate_in)| Version {
            key,
            delete,
            expires_at,
            source,
            duplicate_in,
        })
}

/// Builds the sources; version `i` gets seqno `i + 1`. Every copy's value names its
/// source, so the test sees which copy of a duplicate won.
/// The record each (key, seqno) must come out as.
type Expected = BTreeMap<(Bytes, u64), Record>;

fn build(versions: &[Version]) -> (Vec<Vec<Record>>, Expected) {
    let mut sources = vec![Vec::new(); SOURCES_MAX];
    // The copy each (key, seqno) must yield: the one of the lowest-index source.
    let mut expected = BTreeMap::new();
    for (i, v) in versions.iter().enumerate() {
        let seqno = i as u64 + 1;
        let mut copies = vec![v.source];
        copies.extend(v.duplicate_in.filter(|&d| d != v.source));
        copies.sort();
        for &source in &copies {
            let record = Record {
                key: Bytes::from_static(KEYS[v.key]),
                seqno,
                kind: if v.delete { Kind::Delete } else { Kind::Put },
                expires_at: if v.delete { 0 } else { v.expires_at },
                value: if v.delete {
                    Bytes::new()
                } else {
                    Bytes::from(format!("s{source}"))
                },
            };
            sources[source].push(record.clone());
            expected
                .entry((record.key.clone(), seqno))
                .or_insert(record);
        }
    }
    for records in &mut sources {
        records.sort_by(|a, b| a.key.cmp(&b.key).then(b.seqno.cmp(&a.seqno)));
    }
    (sources, expected)
}

fn merge_of(sources: &[Vec<Record>]) -> MergeIter {
    MergeIter::new(
        sources
            .iter()
            .map(|records| {
                Box::new(VecIter {
                    records: records.clone(),
                    pos: 0,
                }) as Box<dyn RecordIter>
            })
            .collect(),
    )
}

/// What a reader at (`snapshot`, `now`) sees, computed the obvious way.
fn model_live(expected: &Expected, snapshot: u64, now: u64, from: &[u8]) -> Vec<Entry> {
    let mut newest: BTreeMap<&Bytes, &Record> = BTreeMap::new();
    for ((key, seqno), record) in expected {
        if *seqno <= snapshot && key.as_ref() >= from {
            // Ascending seqno within a key: the last insert is the newest visible.
            newest.insert(key, record);
        }
    }
    newest.values().filter_map(|r| r.live_entry(now)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merge_yields_every_version_once_in_order(versions in prop::collection::vec(version(), 0..60)) {
        let (sources, expected) = build(&versions);
        let mut merge = merge_of(&sources);
        let mut actual = Vec::new();
        while let Some(r) = merge.next_record().unwrap() {
            actual.push(r);
        }
        // Model order: key asc, seqno desc.
        let mut want: Vec<Record> = expected.into_values().collect();
        want.sort_by(|a, b| a.key.cmp(&b.key).then(b.seqno.cmp(&a.seqno)));
        prop_assert_eq!(actual, want);
    }

    #[test]
    fn live_view_matches_the_model(
        versions in prop::collection::vec(version(), 0..60),
        snapshot_pick in 0u64..70,
        now in 0..=TIME_MAX + 1,
        seek in prop::option::of(0..KEYS.len()),
    ) {
        let (sources, expected) = build(&versions);
        let snapshot = snapshot_pick.min(versions.len() as u64 + 1);
        let mut live = LiveIter::new(merge_of(&sources), snapshot, now);
        // Read a little first, so seeking has to discard state.
        let _ = live.next_entry().unwrap();
        let from: &[u8] = seek.map_or(b"", |k| KEYS[k]);
        live.seek(from).unwrap();
        let mut actual = Vec::new();
        while let Some(e) = live.next_entry().unwrap() {
            actual.push(e);
        }
        prop_assert_eq!(actual, model_live(&expected, snapshot, now, from));
    }
}
