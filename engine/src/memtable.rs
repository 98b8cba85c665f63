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
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use crossbeam_skiplist::SkipMap;

use crate::batch::{Kind, Record};
use crate::error::Result;
use crate::merge::RecordIter;
use crate::table::bloom::Bloom;

/// Bytes charged per record on top of its key and value: the skiplist node (tower
/// pointers, refcount), the seqno, kind, expiry and two `Bytes` headers. An estimate: it
/// only has to keep `approximate_bytes` proportional to real memory use.
pub const RECORD_OVERHEAD_BYTES: usize = 96;

/// Records a [`MemtableIterator`] copies out of the skiplist per refill. Bounds the work
/// done per skiplist search while keeping the iterator's own memory small.
pub const ITER_REFILL_RECORDS: usize = 64;

/// Size of one block of the value arena: values are copied into shared blocks of this size
/// rather than each kept in its own heap allocation.
pub const ARENA_BLOCK_BYTES: usize = 1024 * 1024;

/// Largest value copied into the arena; a longer one keeps the record's own allocation
/// (shared, not copied), so a block wastes at most this much at its end.
pub const ARENA_VALUE_BYTES_MAX: usize = ARENA_BLOCK_BYTES / 16;

/// Bytes of a user key the skiplist node holds itself. A key this long or shorter lives
/// entirely in the node; a longer one keeps its first `INLINE_KEY_BYTES` in the node and
/// shares the record's `Bytes` for the whole key. A search step then touches one node, not
/// a node and a separate heap block, and most steps are decided by a few word compares.
/// 32, not 24: stratad's keys start with the dialect, the tenant and a table byte, which is
/// 24 bytes for a key-values app with a generated 20-character API key, so with 24 every
/// compare between two items of one app fell through to the heap keys (`keyvalues_post`:
/// 34-41 -> 30-33 µs of CPU per request with 32; 16-byte engine keys: no change).
pub const INLINE_KEY_BYTES: usize = 32;

/// Memtable bytes per byte of its key filter: the filter of a default 32 MiB memtable is
/// 256 KiB, small enough to stay in a core's L2 cache next to the skiplist's upper levels
/// (1 MiB cost fillrandom ~5 % more CPU per write; this size is within noise). A record is
/// charged at least `RECORD_OVERHEAD_BYTES` (96), so the filter has at least 6 bits per
/// key; 16-byte keys with 100-byte values get ~13 bits, about 1 % false positives with three
/// bits in one word.
pub const MEMTABLE_BYTES_PER_FILTER_BYTE: usize = 128;
/// Bounds on a memtable's key filter, in bytes.
pub const FILTER_BYTES_MIN: usize = 4 * 1024;
pub const FILTER_BYTES_MAX: usize = 8 * 1024 * 1024;
/// The engine's default `memtable_bytes_max`, which [`Memtable::new`] sizes its filter for.
pub const DEFAULT_MEMTABLE_BYTES: usize = 32 * 1024 * 1024;

/// A bloom filter over a memtable's user keys, filled as records are inserted, so that a
/// point lookup of a key the memtable does not hold (the existence check of every insert
/// of a new key, and most reads) costs one cache line instead of a skiplist search of
/// ~log2(n) cache misses. Blocked: each key sets three bits of one 64-bit word.
///
/// A key's bits are set right after its record is inserted, before the engine publishes
/// the record's seqno (the visible seqno, acquire / release, after all of a group's
/// inserts), and a reader only looks for records published to it, so a published record is
/// never filtered out. Bits are never cleared. Relaxed atomics suffice.
struct KeyFilter {
    words: Box<[AtomicU64]>,
}

impl KeyFilter {
    fn for_memtable(memtable_bytes_max: usize) -> Self {
        let bytes = (memtable_bytes_max / MEMTABLE_BYTES_PER_FILTER_BYTE)
            .clamp(FILTER_BYTES_MIN, FILTER_BYTES_MAX);
        KeyFilter {
            words: (0..bytes / 8).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The word and the bits of it that `hash` (a [`Bloom::hash`]) sets.
    fn slot(&self, hash: u64) -> (&AtomicU64, u64) {
        // Multiply-shift maps the high half onto the words without a division; the low 18
        // bits pick the three bits, independently of the word.
        let index = ((hash >> 32) * self.words.len() as u64) >> 32;
        let bits =
            (1u64 << (hash & 63)) | (1u64 << ((hash >> 6) & 63)) | (1u64 << ((hash >> 12) & 63));
        (&self.words[index as usize], bits)
    }

    /// Runs `insert` (the record's insert), then sets the key's bits.
    fn insert_with<R>(&self, hash: u64, insert: impl FnOnce() -> R) -> R {
        let (word, bits) = self.slot(hash);
        // A plain read first: the word's cache miss (the filter is larger than the L2
        // cache) then overlaps the skiplist search, instead of stalling a locked
        // read-modify-write after it; and a word that has the bits already (a key written
        // again) needs no write at all.
        let seen = word.load(AtomicOrdering::Relaxed);
        let inserted = insert();
        if seen & bits != bits {
            word.fetch_or(bits, AtomicOrdering::Relaxed);
        }
        inserted
    }

    fn may_contain(&self, hash: u64) -> bool {
        let (word, bits) = self.slot(hash);
        word.load(AtomicOrdering::Relaxed) & bits == bits
    }
}

impl std::fmt::Debug for KeyFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyFilter({} bytes)", self.words.len() * 8)
    }
}

/// The part of an internal key every comparison reads, stored in the node.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct KeyHead {
    seqno: u64,
    /// Length of the whole user key.
    len: u32,
    /// The user key's first `INLINE_KEY_BYTES` bytes, zero-padded. Comparing two padded
    /// prefixes as big-endian words orders them like the bytes, with a short key that is a
    /// prefix of another comparing equal to it (the lengths then decide).
    prefix: [u8; INLINE_KEY_BYTES],
}

impl KeyHead {
    fn new(key: &[u8], seqno: u64) -> KeyHead {
        let len = u32::try_from(key.len()).expect("memtable: key longer than 4 GiB");
        let mut prefix = [0u8; INLINE_KEY_BYTES];
        let inline = key.len().min(INLINE_KEY_BYTES);
        prefix[..inline].copy_from_slice(&key[..inline]);
        KeyHead { seqno, len, prefix }
    }

    fn is_inline(&self) -> bool {
        self.len as usize <= INLINE_KEY_BYTES
    }
}

/// Orders two padded prefixes like their bytes, a word at a time (no `memcmp` call).
fn compare_prefixes(a: &[u8; INLINE_KEY_BYTES], b: &[u8; INLINE_KEY_BYTES]) -> Ordering {
    for (a, b) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let a = u64::from_be_bytes(a.try_into().expect("8-byte chunk"));
        let b = u64::from_be_bytes(b.try_into().expect("8-byte chunk"));
        if a != b {
            return a.cmp(&b);
        }
    }
    Ordering::Equal
}

/// A view of an internal key, so lookups can search the skiplist with a borrowed
/// `(&[u8], u64)` without allocating an owned key (`SkipMap` searches by `Borrow<Q>`).
trait KeyView {
    fn head(&self) -> &KeyHead;
    /// The whole user key (read only when the heads do not decide).
    fn user_key(&self) -> &[u8];
}

/// The one ordering of internal keys: user key ascending, then seqno descending, so the
/// newest version of a key comes first.
fn compare(a: &dyn KeyView, b: &dyn KeyView) -> Ordering {
    let (ha, hb) = (a.head(), b.head());
    let by_key = match compare_prefixes(&ha.prefix, &hb.prefix) {
        // Both keys run past their equal prefixes: the rest decides.
        Ordering::Equal if !ha.is_inline() && !hb.is_inline() => {
            a.user_key()[INLINE_KEY_BYTES..].cmp(&b.user_key()[INLINE_KEY_BYTES..])
        }
        // Equal padded prefixes and at least one key fits in its prefix: that key is a
        // prefix of the other (the rest of the other's prefix is zeros), so the shorter key
        // comes first and equal lengths mean equal keys.
        Ordering::Equal => ha.len.cmp(&hb.len),
        unequal => unequal,
    };
    by_key.then_with(|| hb.seqno.cmp(&ha.seqno))
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

/// Owned skiplist key. `repr(C)` with the head last puts the bytes every search step reads
/// next to the skiplist's own per-node fields (reference count, tower), which follow the
/// key in the node.
#[derive(Debug, Clone)]
#[repr(C)]
struct InternalKey {
    /// The whole user key if it is longer than `INLINE_KEY_BYTES`, else `None` (the head
    /// holds it).
    spill: Option<Bytes>,
    head: KeyHead,
}

impl InternalKey {
    fn new(key: &Bytes, seqno: u64) -> InternalKey {
        let head = KeyHead::new(key, seqno);
        let spill = (!head.is_inline()).then(|| key.clone());
        InternalKey { spill, head }
    }

    fn from_slice(key: &[u8], seqno: u64) -> InternalKey {
        let head = KeyHead::new(key, seqno);
        let spill = (!head.is_inline()).then(|| Bytes::copy_from_slice(key));
        InternalKey { spill, head }
    }

    /// The user key as `Bytes`: shared when spilled, copied out of the node when inline.
    fn to_bytes(&self) -> Bytes {
        match &self.spill {
            Some(key) => key.clone(),
            None => Bytes::copy_from_slice(self.user_key()),
        }
    }
}

impl KeyView for InternalKey {
    fn head(&self) -> &KeyHead {
        &self.head
    }
    fn user_key(&self) -> &[u8] {
        match &self.spill {
            Some(key) => key,
            None => &self.head.prefix[..self.head.len as usize],
        }
    }
}

/// Borrowed lookup key.
struct LookupKey<'a> {
    head: KeyHead,
    key: &'a [u8],
}

impl<'a> LookupKey<'a> {
    fn new(key: &'a [u8], seqno: u64) -> Self {
        LookupKey {
            head: KeyHead::new(key, seqno),
            key,
        }
    }
}

impl KeyView for LookupKey<'_> {
    fn head(&self) -> &KeyHead {
        &self.head
    }
    fn user_key(&self) -> &[u8] {
        self.key
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
        key: key.to_bytes(),
        seqno: key.head.seqno,
        kind: value.kind,
        expires_at: value.expires_at,
        value: value.value.clone(),
    }
}

/// An in-memory, sorted, concurrently readable set of records.
#[derive(Debug)]
pub struct Memtable {
    map: SkipMap<InternalKey, Value>,
    /// Every user key inserted; see [`KeyFilter`].
    filter: KeyFilter,
    /// The unfilled rest of the current arena block (see [`Memtable::arena_copy`]).
    arena: Mutex<BytesMut>,
    bytes: AtomicUsize,
    max_seqno: AtomicU64,
}

impl Default for Memtable {
    fn default() -> Self {
        Self::new()
    }
}

impl Memtable {
    /// A memtable with its key filter sized for [`DEFAULT_MEMTABLE_BYTES`].
    pub fn new() -> Self {
        Self::for_size(DEFAULT_MEMTABLE_BYTES)
    }

    /// A memtable whose key filter is sized for about `memtable_bytes_max` of records (the
    /// engine's `memtable_bytes_max`); it works with more, with more false positives.
    pub fn for_size(memtable_bytes_max: usize) -> Self {
        Memtable {
            map: SkipMap::new(),
            filter: KeyFilter::for_memtable(memtable_bytes_max),
            arena: Mutex::default(),
            bytes: AtomicUsize::new(0),
            max_seqno: AtomicU64::new(0),
        }
    }

    /// Adds a record, its value copied into the arena. Each (key, seqno) is written once:
    /// seqnos are unique per engine, so a repeat is a programmer error.
    pub fn insert(&self, record: &Record) {
        self.insert_value(record, self.arena_copy(&record.value));
    }

    /// Adds a record whose value already shares a large buffer (WAL replay: slices of the
    /// segment read at open, see `wal::replay`), without the arena copy: copying a million
    /// values in key order out of a WAL in write order costs a cache miss each and a second
    /// copy of the data (+65 MiB peak RSS reopening 1M entries).
    pub fn insert_shared(&self, record: &Record) {
        self.insert_value(record, record.value.clone());
    }

    fn insert_value(&self, record: &Record, value: Bytes) {
        let key = InternalKey::new(&record.key, record.seqno);
        let value = Value {
            kind: record.kind,
            expires_at: record.expires_at,
            value,
        };
        let charged = record.key.len() + record.value.len() + RECORD_OVERHEAD_BYTES;
        // `get_or_insert_with` calls the closure only when it really inserts, which tells
        // a first insert from a repeat without a second search.
        let mut inserted = false;
        self.filter.insert_with(Bloom::hash(&record.key), || {
            self.map.get_or_insert_with(key, || {
                inserted = true;
                value
            })
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

    /// A copy of `value` in the arena: a slice of a shared block, so the memtable holds a few
    /// large allocations instead of one per record. The writer's own allocation is freed
    /// right after the commit (hot in its thread's cache, reused by the next write) instead
    /// of living until the flush, and the flush frees blocks, not a million small chunks.
    /// A block lives as long as any slice of it (e.g. a value a reader still holds).
    fn arena_copy(&self, value: &Bytes) -> Bytes {
        if value.is_empty() || value.len() > ARENA_VALUE_BYTES_MAX {
            return value.clone();
        }
        let mut block = self.arena.lock().unwrap_or_else(PoisonError::into_inner);
        if block.capacity() - block.len() < value.len() {
            *block = BytesMut::with_capacity(ARENA_BLOCK_BYTES);
        }
        block.extend_from_slice(value);
        // `split` hands out the filled part and keeps the capacity after it: no realloc.
        block.split().freeze()
    }

    /// The newest record for `key` with seqno <= `snapshot_seqno`: a put or a tombstone,
    /// expired or not (the caller decides what is live).
    pub fn get(&self, key: &[u8], snapshot_seqno: u64) -> Option<Record> {
        self.get_hashed(key, Bloom::hash(key), snapshot_seqno)
    }

    /// [`Memtable::get`] for a key already hashed with [`Bloom::hash`] (one hash for every
    /// memtable a lookup visits).
    pub fn get_hashed(&self, key: &[u8], hash: u64, snapshot_seqno: u64) -> Option<Record> {
        if !self.filter.may_contain(hash) {
            return None;
        }
        let lookup = LookupKey::new(key, snapshot_seqno);
        let entry = self
            .map
            .lower_bound(Bound::Included(&lookup as &dyn KeyView))?;
        (entry.key().user_key() == key).then(|| to_record(entry.key(), entry.value()))
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
        self.next_from = Bound::Included(InternalKey::from_slice(key, u64::MAX));
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

    #[test]
    fn key_filter_never_hides_a_key_and_filters_most_absent_ones() {
        // The smallest filter, overfilled: 20 000 keys in 4 KiB (~1.6 bits per key).
        let m = Memtable::for_size(0);
        assert_eq!(m.filter.words.len() * 8, FILTER_BYTES_MIN);
        for i in 0..20_000u64 {
            m.insert(&put(&format!("key{i:08}"), i + 1, "v"));
        }
        for i in 0..20_000u64 {
            let key = format!("key{i:08}");
            let found = m
                .get(key.as_bytes(), u64::MAX)
                .expect("an inserted key is found");
            assert_eq!(found.seqno, i + 1);
        }

        // Sized as the engine sizes it: absent keys are (almost all) answered by the filter.
        let m = Memtable::for_size(1024 * 1024);
        for i in 0..2_000u64 {
            m.insert(&put(&format!("key{i:08}"), i + 1, &"v".repeat(100)));
        }
        let passed = (0..100_000u64)
            .filter(|i| {
                m.filter
                    .may_contain(Bloom::hash(format!("absent{i}").as_bytes()))
            })
            .count();
        assert!(
            passed < 1_000,
            "{passed} of 100000 absent keys passed the filter"
        );
        assert!(m.get(b"absent", u64::MAX).is_none());
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

    /// Keys around the inline boundary: empty, one short of, exactly, and one past
    /// `INLINE_KEY_BYTES`, far longer, sharing long prefixes, padded with 0x00 (which the
    /// zero-padded prefix must not confuse with a shorter key) and 0xff.
    fn boundary_keys() -> Vec<Vec<u8>> {
        let n = INLINE_KEY_BYTES;
        let mut keys = vec![Vec::new(), vec![0x00], vec![0xff], b"a".to_vec()];
        for len in [n - 1, n, n + 1, 2 * n + 3] {
            for fill in [0x00u8, b'a', 0xff] {
                keys.push(vec![fill; len]);
                // The same key with its last byte bumped or dropped to zero.
                let mut k = vec![fill; len];
                *k.last_mut().unwrap() = fill.wrapping_add(1);
                keys.push(k);
                let mut k = vec![b'p'; len];
                *k.last_mut().unwrap() = fill;
                keys.push(k);
            }
        }
        // Equal first INLINE_KEY_BYTES bytes, differing only past them.
        for tail in [&b""[..], b"\0", b"\0\0", b"\x01", b"\xff", b"zz"] {
            let mut k = vec![b'q'; n];
            k.extend_from_slice(tail);
            keys.push(k);
        }
        keys.sort();
        keys.dedup();
        keys
    }

    #[test]
    fn order_matches_byte_order_across_the_inline_boundary() {
        let keys = boundary_keys();
        let seqnos = [1u64, 7, u64::MAX];
        for a in &keys {
            for b in &keys {
                for &sa in &seqnos {
                    for &sb in &seqnos {
                        let expected = a.cmp(b).then(sb.cmp(&sa));
                        let owned = (
                            InternalKey::from_slice(a, sa),
                            InternalKey::new(&Bytes::copy_from_slice(b), sb),
                        );
                        assert_eq!(owned.0.cmp(&owned.1), expected, "{a:?}@{sa} vs {b:?}@{sb}");
                        let lookup = LookupKey::new(a, sa);
                        assert_eq!(
                            compare(&lookup, &owned.1),
                            expected,
                            "lookup {a:?}@{sa} vs {b:?}@{sb}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn keys_around_the_inline_boundary_round_trip() {
        let keys = boundary_keys();
        let m = Arc::new(Memtable::new());
        // Insert in reverse order, two versions each, so the skiplist has to order them.
        let mut seqno = 0;
        for key in keys.iter().rev() {
            for value in ["old", "new"] {
                seqno += 1;
                m.insert(&Record {
                    key: Bytes::copy_from_slice(key),
                    seqno,
                    kind: Kind::Put,
                    expires_at: 0,
                    value: Bytes::from_static(value.as_bytes()),
                });
            }
        }
        for key in &keys {
            let newest = m.get(key, u64::MAX).unwrap();
            assert_eq!(
                (&newest.key[..], &newest.value[..]),
                (&key[..], &b"new"[..])
            );
            let oldest = m.get(key, newest.seqno - 1).unwrap();
            assert_eq!(
                (&oldest.key[..], &oldest.value[..]),
                (&key[..], &b"old"[..])
            );
            assert_eq!(m.get(key, oldest.seqno - 1), None, "{key:?}");
        }
        let mut it = m.iter();
        let mut walked = Vec::new();
        while let Some(r) = it.next_record().unwrap() {
            walked.push((r.key.to_vec(), r.seqno));
        }
        let mut expected: Vec<(Vec<u8>, u64)> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let newest = 2 * (keys.len() - i) as u64;
            expected.push((key.clone(), newest));
            expected.push((key.clone(), newest - 1));
        }
        assert_eq!(walked, expected);
        for key in &keys {
            let mut it = m.iter();
            it.seek(key).unwrap();
            assert_eq!(it.next_record().unwrap().unwrap().key, &key[..]);
        }
    }

    #[test]
    fn get_misses_keys_that_differ_only_in_padding_or_length() {
        let m = Memtable::new();
        let n = INLINE_KEY_BYTES;
        m.insert(&put("a", 1, "v"));
        m.insert(&Record {
            key: Bytes::from(vec![b'q'; n + 1]),
            ..put("", 2, "v")
        });
        assert_eq!(m.get(b"a\0", u64::MAX), None);
        assert_eq!(m.get(b"", u64::MAX), None);
        assert_eq!(m.get(&vec![b'q'; n], u64::MAX), None);
        assert_eq!(m.get(&vec![b'q'; n + 2], u64::MAX), None);
        let mut long = vec![b'q'; n + 1];
        assert_eq!(m.get(&long, u64::MAX).unwrap().seqno, 2);
        long.push(0);
        assert_eq!(m.get(&long, u64::MAX), None);
    }

    #[test]
    fn values_round_trip_through_the_arena_across_blocks() {
        let m = Arc::new(Memtable::new());
        // Sizes around the arena limit and tiny ones, enough to fill several blocks.
        let sizes = [0, 1, ARENA_VALUE_BYTES_MAX - 1, ARENA_VALUE_BYTES_MAX];
        let sizes: Vec<usize> = (0..150)
            .map(|i| sizes[i % sizes.len()] + usize::from(i % 7 == 6))
            .collect();
        let value =
            |i: usize, len: usize| -> Vec<u8> { (0..len).map(|j| (i * 31 + j) as u8).collect() };
        for (i, &len) in sizes.iter().enumerate() {
            m.insert(&Record {
                value: Bytes::from(value(i, len)),
                ..put(&format!("k{i:03}"), i as u64 + 1, "")
            });
        }
        assert!(
            sizes.iter().sum::<usize>() > 3 * ARENA_BLOCK_BYTES,
            "the test spans several blocks"
        );
        let held = m.get(b"k002", u64::MAX).unwrap();
        let mut it = m.iter();
        drop(m);
        for (i, &len) in sizes.iter().enumerate() {
            let r = it.next_record().unwrap().unwrap();
            assert_eq!(r.key, format!("k{i:03}"));
            assert_eq!(r.value, value(i, len), "value {i} of {len} bytes");
        }
        assert_eq!(it.next_record().unwrap(), None);
        assert_eq!(held.value, value(2, sizes[2]), "outlives the memtable");
    }

    #[test]
    fn shared_inserts_keep_the_callers_buffer_and_order() {
        // WAL replay hands values that are slices of one segment buffer.
        let segment = Bytes::from(b"aaaabbbbcccc".to_vec());
        let m = Arc::new(Memtable::new());
        for (i, key) in ["b", "a", "c"].iter().enumerate() {
            m.insert_shared(&Record {
                value: segment.slice(i * 4..i * 4 + 4),
                ..put(key, i as u64 + 1, "")
            });
        }
        m.insert(&put("a", 9, "newer"));
        let b = m.get(b"b", u64::MAX).unwrap();
        assert_eq!(b.value, "aaaa");
        assert_eq!(b.value.as_ptr(), segment.as_ptr(), "no copy was made");
        assert_eq!(m.get(b"a", 2).unwrap().value, "bbbb");
        assert_eq!(m.get(b"a", u64::MAX).unwrap().value, "newer");
        assert_eq!(
            collect(&mut m.iter()),
            [
                ("a".into(), 9),
                ("a".into(), 2),
                ("b".into(), 1),
                ("c".into(), 3)
            ]
        );
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
