//! The memtable: a crossbeam skiplist ordered by (key asc, seqno desc).
//!
//! Writers insert concurrently-readable records; readers look up the newest version of a
//! key at a snapshot seqno, or walk every record in order through a [`MemtableIterator`]
//! that owns an `Arc<Memtable>` (so scans and snapshots outlive any lock).
//!
//! Every version of a key is kept (a tombstone is a record of kind `Delete`): shadowed
//! versions are dropped later, when the memtable is flushed to a table.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;

use crate::batch::{Kind, Record};
use crate::error::Result;
use crate::merge::RecordIter;

/// Bytes charged per record on top of its key and value: the skiplist node (tower
/// pointers, refcount), the seqno, kind, expiry and two `Bytes` headers. An estimate: it
/// only has to keep `approximate_bytes` proportional to real memory use.
pub const RECORD_OVERHEAD_BYTES: usize = 96;

/// Records a [`MemtableIterator`] copies out of the skiplist per refill. Bounds the work
/// done per skiplist search while keeping the iterator's own memory small.
pub const ITER_REFILL_RECORDS: usize = 64;

/// A borrowed view of an internal key, so lookups can search the skiplist with a
/// `(&[u8], u64)` without allocating an owned key (`SkipMap` searches by `Borrow<Q>`).
trait KeyView {
    fn user_key(&self) -> &[u8];
    fn seqno(&self) -> u64;
}

/// The one ordering of internal keys: user key ascending, then seqno descending, so the
/// newest version of a key comes first.
fn compare(a: &dyn KeyView, b: &dyn KeyView) -> Ordering {
    a.user_key()
        .cmp(b.user_key())
        .then_with(|| b.seqno().cmp(&a.seqno()))
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        compare(self, other) == Ordering::Equal
    }
}
impl Eq for dyn KeyView + '_ {}
impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self, other)
    }
}

/// Owned skiplist key.
#[derive(Debug, Clone)]
struct InternalKey {
    key: Bytes,
    seqno: u64,
}

impl KeyView for InternalKey {
    fn user_key(&self) -> &[u8] {
        &self.key
    }
    fn seqno(&self) -> u64 {
        self.seqno
    }
}

/// Borrowed lookup key.
struct LookupKey<'a> {
    key: &'a [u8],
    seqno: u64,
}

impl KeyView for LookupKey<'_> {
    fn user_key(&self) -> &[u8] {
        self.key
    }
    fn seqno(&self) -> u64 {
        self.seqno
    }
}

impl PartialEq for InternalKey {
    fn eq(&self, other: &Self) -> bool {
        compare(self, other) == Ordering::Equal
    }
}
impl Eq for InternalKey {}
impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self, other)
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for InternalKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// What the skiplist stores per internal key.
#[derive(Debug, Clone)]
struct Value {
    kind: Kind,
    expires_at: u64,
    value: Bytes,
}

fn to_record(key: &InternalKey, value: &Value) -> Record {
    Record {
        key: key.key.clone(),
        seqno: key.seqno,
        kind: value.kind,
        expires_at: value.expires_at,
        value: value.value.clone(),
    }
}

/// An in-memory, sorted, concurrently readable set of records.
#[derive(Debug, Default)]
pub struct Memtable {
    map: SkipMap<InternalKey, Value>,
    bytes: AtomicUsize,
    max_seqno: AtomicU64,
}

impl Memtable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record. Each (key, seqno) is written once: seqnos are unique per engine, so a
    /// repeat is a programmer error.
    pub fn insert(&self, record: &Record) {
        let key = InternalKey {
            key: record.key.clone(),
            seqno: record.seqno,
        };
        let value = Value {
            kind: record.kind,
            expires_at: record.expires_at,
            value: record.value.clone(),
        };
        let charged = record.key.len() + record.value.len() + RECORD_OVERHEAD_BYTES;
        // `get_or_insert_with` calls the closure only when it really inserts, which tells
        // a first insert from a repeat without a second search.
        let mut inserted = false;
        self.map.get_or_insert_with(key, || {
            inserted = true;
            value
        });
        assert!(
            inserted,
            "memtable: (key, seqno {}) inserted twice",
            record.seqno
        );
        self.bytes.fetch_add(charged, AtomicOrdering::Relaxed);
        self.max_seqno
            .fetch_max(record.seqno, AtomicOrdering::Relaxed);
    }

    /// The newest record for `key` with seqno <= `snapshot_seqno`: a put or a tombstone,
    /// expired or not (the caller decides what is live).
    pub fn get(&self, key: &[u8], snapshot_seqno: u64) -> Option<Record> {
        let lookup = LookupKey {
            key,
            seqno: snapshot_seqno,
        };
        let entry = self
            .map
            .lower_bound(Bound::Included(&lookup as &dyn KeyView))?;
        (entry.key().key == key).then(|| to_record(entry.key(), entry.value()))
    }

    /// An iterator over every record (every version), in order. It owns an `Arc` of the
    /// memtable, so it may outlive whatever lock handed the memtable out.
    pub fn iter(self: &Arc<Self>) -> MemtableIterator {
        MemtableIterator {
            memtable: Arc::clone(self),
            next_from: Bound::Unbounded,
            buffer: VecDeque::new(),
            exhausted: false,
        }
    }

    /// Estimated memory held by the records, in bytes.
    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    /// Number of records (versions, tombstones included).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Largest seqno inserted so far (0 when empty).
    pub fn max_seqno(&self) -> u64 {
        self.max_seqno.load(AtomicOrdering::Relaxed)
    }
}

/// Walks a memtable's records in order (key asc, seqno desc).
///
/// Skiplist entries borrow the map, so the iterator cannot keep one across calls while also
/// owning the `Arc`. Instead it remembers where to continue and copies up to
/// [`ITER_REFILL_RECORDS`] records per skiplist search. Records inserted concurrently may
/// or may not be seen; readers filter by snapshot seqno anyway.
pub struct MemtableIterator {
    memtable: Arc<Memtable>,
    /// Where the next refill starts.
    next_from: Bound<InternalKey>,
    buffer: VecDeque<Record>,
    exhausted: bool,
}

impl MemtableIterator {
    fn refill(&mut self) {
        let map = &self.memtable.map;
        let mut entry = match &self.next_from {
            Bound::Included(k) => map.lower_bound(Bound::Included(k as &dyn KeyView)),
            Bound::Excluded(k) => map.lower_bound(Bound::Excluded(k as &dyn KeyView)),
            Bound::Unbounded => map.front(),
        };
        while let Some(e) = entry {
            self.buffer.push_back(to_record(e.key(), e.value()));
            if self.buffer.len() == ITER_REFILL_RECORDS {
                self.next_from = Bound::Excluded(e.key().clone());
                return;
            }
            entry = e.next();
        }
        self.exhausted = true;
    }
}

impl RecordIter for MemtableIterator {
    fn seek(&mut self, key: &[u8]) -> Result<()> {
        // The first version of `key` is the one with the largest seqno.
        self.next_from = Bound::Included(InternalKey {
            key: Bytes::copy_from_slice(key),
            seqno: u64::MAX,
        });
        self.buffer.clear();
        self.exhausted = false;
        Ok(())
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        if self.buffer.is_empty() && !self.exhausted {
            self.refill();
        }
        Ok(self.buffer.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, seqno: u64, value: &str) -> Record {
        Record {
            key: Bytes::copy_from_slice(key.as_bytes()),
            seqno,
            kind: Kind::Put,
            expires_at: 0,
            value: Bytes::copy_from_slice(value.as_bytes()),
        }
    }

    fn del(key: &str, seqno: u64) -> Record {
        Record {
            key: Bytes::copy_from_slice(key.as_bytes()),
            seqno,
            kind: Kind::Delete,
            expires_at: 0,
            value: Bytes::new(),
        }
    }

    fn collect(it: &mut MemtableIterator) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        while let Some(r) = it.next_record().unwrap() {
            out.push((String::from_utf8(r.key.to_vec()).unwrap(), r.seqno));
        }
        out
    }

    #[test]
    fn get_returns_newest_version_at_snapshot() {
        let m = Memtable::new();
        m.insert(&put("k", 1, "v1"));
        m.insert(&put("k", 5, "v5"));
        m.insert(&del("k", 9));
        assert_eq!(m.get(b"k", 0), None);
        assert_eq!(m.get(b"k", 1).unwrap().value, "v1");
        assert_eq!(m.get(b"k", 4).unwrap().value, "v1");
        assert_eq!(m.get(b"k", 5).unwrap().value, "v5");
        assert_eq!(m.get(b"k", 9).unwrap().kind, Kind::Delete);
        assert_eq!(m.get(b"k", u64::MAX).unwrap().seqno, 9);
    }

    #[test]
    fn get_does_not_confuse_neighbouring_keys() {
        let m = Memtable::new();
        m.insert(&put("a", 3, "a"));
        m.insert(&put("a\0", 1, "a0"));
        m.insert(&put("ab", 2, "ab"));
        assert_eq!(m.get(b"a", 2), None, "a@3 is newer than the snapshot");
        assert_eq!(m.get(b"a\0", 10).unwrap().value, "a0");
        assert_eq!(m.get(b"", 10), None);
        assert_eq!(m.get(b"b", 10), None);
        assert_eq!(m.get(b"ab", 10).unwrap().value, "ab");
    }

    #[test]
    fn expiry_and_value_round_trip() {
        let m = Memtable::new();
        let mut r = put("k", 7, "v");
        r.expires_at = 1234;
        m.insert(&r);
        assert_eq!(m.get(b"k", 7), Some(r));
    }

    #[test]
    fn iterates_key_asc_seqno_desc_across_refills() {
        let m = Arc::new(Memtable::new());
        let mut expected = Vec::new();
        for i in 0..(ITER_REFILL_RECORDS * 3 + 5) {
            let key = format!("key{:04}", i / 2);
            let seqno = i as u64 + 1;
            m.insert(&put(&key, seqno, "v"));
            expected.push((key, seqno));
        }
        expected.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        assert_eq!(collect(&mut m.iter()), expected);
        assert_eq!(m.len(), expected.len());
        assert_eq!(m.max_seqno(), expected.len() as u64);
    }

    #[test]
    fn seek_positions_at_first_version_of_key_or_after() {
        let m = Arc::new(Memtable::new());
        m.insert(&put("a", 1, "v"));
        m.insert(&put("c", 2, "v"));
        m.insert(&put("c", 3, "v"));
        m.insert(&put("e", 4, "v"));
        let mut it = m.iter();
        it.seek(b"c").unwrap();
        assert_eq!(
            collect(&mut it),
            vec![("c".into(), 3), ("c".into(), 2), ("e".into(), 4)]
        );
        it.seek(b"b").unwrap();
        assert_eq!(it.next_record().unwrap().unwrap().key, "c");
        it.seek(b"f").unwrap();
        assert_eq!(it.next_record().unwrap(), None);
        it.seek(b"").unwrap();
        assert_eq!(it.next_record().unwrap().unwrap().key, "a");
    }

    #[test]
    fn iterator_outlives_the_callers_handle() {
        let m = Arc::new(Memtable::new());
        m.insert(&put("k", 1, "v"));
        let mut it = m.iter();
        drop(m);
        assert_eq!(it.next_record().unwrap().unwrap().key, "k");
    }

    #[test]
    fn approximate_bytes_grows_with_content() {
        let m = Memtable::new();
        assert_eq!(m.approximate_bytes(), 0);
        assert!(m.is_empty());
        m.insert(&put("key", 1, "value"));
        assert_eq!(m.approximate_bytes(), 3 + 5 + RECORD_OVERHEAD_BYTES);
        m.insert(&put("key", 2, &"x".repeat(1000)));
        assert_eq!(
            m.approximate_bytes(),
            3 + 5 + 3 + 1000 + 2 * RECORD_OVERHEAD_BYTES
        );
    }

    #[test]
    #[should_panic(expected = "inserted twice")]
    fn duplicate_key_and_seqno_is_a_bug() {
        let m = Memtable::new();
        m.insert(&put("k", 1, "a"));
        m.insert(&put("k", 1, "b"));
    }

    #[test]
    fn concurrent_inserts_are_all_visible() {
        let m = Arc::new(Memtable::new());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..250u64 {
                        m.insert(&put(&format!("k{t}-{i}"), t * 1000 + i + 1, "v"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.len(), 1000);
        assert_eq!(collect(&mut m.iter()).len(), 1000);
    }
}
