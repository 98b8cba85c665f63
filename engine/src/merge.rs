//! Merging sorted record sources (memtables and tables) into one ordered stream.
//!
//! [`MergeIter`] is a k-way merge over a binary heap: every version of every key comes
//! out in (key asc, seqno desc) order. [`LiveIter`] sits on top and resolves versions
//! into what a reader at a snapshot sees.

use std::cmp::Ordering;
use std::collections::binary_heap::{BinaryHeap, PeekMut};

use bytes::Bytes;

use crate::batch::{Entry, Record};
use crate::error::Result;

/// A seekable, ordered source of records (key asc, seqno desc).
pub trait RecordIter: Send {
    /// Positions before the first record with key >= `key`.
    fn seek(&mut self, key: &[u8]) -> Result<()>;
    /// The next record, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<Record>>;
}

/// The head record of one source, as held in the heap.
struct HeapItem {
    record: Record,
    /// Index into `MergeIter::sources`; lower = newer.
    source: usize,
}

impl HeapItem {
    /// The merge order: key asc, then seqno desc, then source index asc.
    fn merge_order(&self, other: &Self) -> Ordering {
        self.record
            .key
            .cmp(&other.record.key)
            .then_with(|| other.record.seqno.cmp(&self.record.seqno))
            .then_with(|| self.source.cmp(&other.source))
    }
}

impl Ord for HeapItem {
    fn cmp(&self, other: &Self) -> Ordering {
        // `BinaryHeap` pops its greatest item, and we want the first in merge order.
        other.merge_order(self)
    }
}

impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for HeapItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for HeapItem {}

/// Merges several sources into one stream ordered by (key asc, seqno desc).
/// Every version of every key is yielded (no deduplication).
///
/// Sources are given newest first. Two sources should never hold the same (key, seqno);
/// if they do, the record of the lower-index source is yielded and the others skipped.
///
/// After an `Err` the position is unspecified: `seek` before using the iterator again.
pub struct MergeIter {
    sources: Vec<Box<dyn RecordIter>>,
    /// Head record of every source that is not exhausted; at most one item per source.
    heap: BinaryHeap<HeapItem>,
    /// False until the heap holds the head of every source (filled lazily, because
    /// `new` cannot fail).
    primed: bool,
}

impl MergeIter {
    pub fn new(sources: Vec<Box<dyn RecordIter>>) -> Self {
        let heap = BinaryHeap::with_capacity(sources.len());
        Self {
            sources,
            heap,
            primed: false,
        }
    }

    /// Number of sources being merged.
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Refills the heap with the current head of every source.
    fn prime(&mut self) -> Result<()> {
        self.heap.clear();
        self.primed = false;
        for (source, iter) in self.sources.iter_mut().enumerate() {
            if let Some(record) = iter.next_record()? {
                self.heap.push(HeapItem { record, source });
            }
        }
        self.primed = true;
        Ok(())
    }

    /// Removes the first item of the heap, replacing it by the next record of its source,
    /// and returns the removed record.
    fn pop_and_advance(&mut self) -> Result<Option<Record>> {
        let Some(mut top) = self.heap.peek_mut() else {
            return Ok(None);
        };
        match self.sources[top.source].next_record()? {
            Some(next) => {
                debug_assert!(
                    (&top.record.key, std::cmp::Reverse(top.record.seqno))
                        < (&next.key, std::cmp::Reverse(next.seqno)),
                    "merge source {} is out of order",
                    top.source
                );
                // Replacing in place costs one sift-down instead of a pop and a push.
                let record = std::mem::replace(&mut top.record, next);
                drop(top);
                Ok(Some(record))
            }
            None => Ok(Some(PeekMut::pop(top).record)),
        }
    }
}

impl RecordIter for MergeIter {
    fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.primed = false;
        for iter in &mut self.sources {
            iter.seek(key)?;
        }
        self.prime()
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        if !self.primed {
            self.prime()?;
        }
        let Some(record) = self.pop_and_advance()? else {
            return Ok(None);
        };
        // Identical (key, seqno) in a higher-index (older) source: a duplicate, skip it.
        while self
            .heap
            .peek()
            .is_some_and(|next| next.record.seqno == record.seqno && next.record.key == record.key)
        {
            self.pop_and_advance()?;
        }
        Ok(Some(record))
    }
}

/// What readers see: for each key, the newest version with seqno <= `snapshot_seqno`,
/// skipped if it is a tombstone or expired at `now`.
pub struct LiveIter {
    inner: MergeIter,
    snapshot_seqno: u64,
    now: u64,
    /// The key whose visible version has already been decided: its older versions
    /// are skipped.
    resolved_key: Option<Bytes>,
}

impl LiveIter {
    pub fn new(inner: MergeIter, snapshot_seqno: u64, now: u64) -> Self {
        Self {
            inner,
            snapshot_seqno,
            now,
            resolved_key: None,
        }
    }
    pub fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.resolved_key = None;
        self.inner.seek(key)
    }
    /// The next live entry, or `None` at the end.
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        while let Some(record) = self.inner.next_record()? {
            if record.seqno > self.snapshot_seqno {
                // Written after the snapshot: invisible, and does not hide older versions.
                continue;
            }
            if self.resolved_key.as_ref() == Some(&record.key) {
                continue;
            }
            let entry = record.live_entry(self.now);
            // `Bytes` clones share the buffer: no allocation per key.
            self.resolved_key = Some(record.key);
            if entry.is_some() {
                return Ok(entry);
            }
        }
        Ok(None)
    }
}

/// A `Vec`-backed source for tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Records held in memory, in (key asc, seqno desc) order.
    pub(crate) struct VecIter {
        records: Vec<Record>,
        pos: usize,
    }

    impl VecIter {
        /// Sorts `records` into merge order.
        pub(crate) fn new(mut records: Vec<Record>) -> Self {
            records.sort_by(|a, b| a.key.cmp(&b.key).then(b.seqno.cmp(&a.seqno)));
            Self { records, pos: 0 }
        }
        pub(crate) fn boxed(records: Vec<Record>) -> Box<dyn RecordIter> {
            Box::new(Self::new(records))
        }
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

    pub(crate) fn put(key: &str, seqno: u64, value: &str, expires_at: u64) -> Record {
        Record {
            key: Bytes::copy_from_slice(key.as_bytes()),
            seqno,
            kind: crate::batch::Kind::Put,
            expires_at,
            value: Bytes::copy_from_slice(value.as_bytes()),
        }
    }

    pub(crate) fn del(key: &str, seqno: u64) -> Record {
        Record {
            key: Bytes::copy_from_slice(key.as_bytes()),
            seqno,
            kind: crate::batch::Kind::Delete,
            expires_at: 0,
            value: Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{del, put, VecIter};
    use super::*;
    use crate::error::Error;

    fn drain(iter: &mut dyn RecordIter) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        while let Some(r) = iter.next_record().unwrap() {
            out.push((String::from_utf8(r.key.to_vec()).unwrap(), r.seqno));
        }
        out
    }

    fn keys_seqnos(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|(k, s)| (k.to_string(), *s)).collect()
    }

    fn live_keys(iter: &mut LiveIter) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        while let Some(e) = iter.next_entry().unwrap() {
            out.push((String::from_utf8(e.key.to_vec()).unwrap(), e.seqno));
        }
        out
    }

    #[test]
    fn merges_in_key_then_seqno_desc_order() {
        let mut merge = MergeIter::new(vec![
            VecIter::boxed(vec![put("b", 9, "", 0), put("d", 7, "", 0)]),
            VecIter::boxed(vec![put("a", 1, "", 0), put("b", 3, "", 0)]),
            VecIter::boxed(vec![]),
            VecIter::boxed(vec![put("b", 5, "", 0), put("c", 2, "", 0)]),
        ]);
        assert_eq!(
            drain(&mut merge),
            keys_seqnos(&[("a", 1), ("b", 9), ("b", 5), ("b", 3), ("c", 2), ("d", 7)])
        );
        // Exhausted stays exhausted.
        assert!(merge.next_record().unwrap().is_none());
    }

    #[test]
    fn no_sources_is_empty() {
        let mut merge = MergeIter::new(Vec::new());
        assert!(merge.next_record().unwrap().is_none());
        merge.seek(b"a").unwrap();
        assert!(merge.next_record().unwrap().is_none());
    }

    #[test]
    fn duplicate_key_and_seqno_yields_the_lower_index_source_once() {
        let mut merge = MergeIter::new(vec![
            VecIter::boxed(vec![put("k", 4, "newest-source", 0)]),
            VecIter::boxed(vec![put("k", 4, "older-source", 0), put("z", 1, "", 0)]),
            VecIter::boxed(vec![put("k", 4, "oldest-source", 0)]),
        ]);
        let first = merge.next_record().unwrap().unwrap();
        assert_eq!(first.value.as_ref(), b"newest-source");
        assert_eq!(merge.next_record().unwrap().unwrap().key.as_ref(), b"z");
        assert!(merge.next_record().unwrap().is_none());
    }

    #[test]
    fn seek_repositions_every_source() {
        let mut merge = MergeIter::new(vec![
            VecIter::boxed(vec![put("a", 5, "", 0), put("c", 6, "", 0)]),
            VecIter::boxed(vec![put("b", 1, "", 0), put("d", 2, "", 0)]),
        ]);
        assert_eq!(drain(&mut merge).len(), 4);
        merge.seek(b"bb").unwrap();
        assert_eq!(drain(&mut merge), keys_seqnos(&[("c", 6), ("d", 2)]));
        merge.seek(b"").unwrap();
        assert_eq!(drain(&mut merge).len(), 4);
        merge.seek(b"zz").unwrap();
        assert!(drain(&mut merge).is_empty());
    }

    struct FailingIter;

    impl RecordIter for FailingIter {
        fn seek(&mut self, _key: &[u8]) -> Result<()> {
            Ok(())
        }
        fn next_record(&mut self) -> Result<Option<Record>> {
            Err(Error::corruption("bad.sst", 7, "checksum mismatch"))
        }
    }

    #[test]
    fn source_errors_are_returned() {
        let mut merge = MergeIter::new(vec![
            VecIter::boxed(vec![put("a", 1, "", 0)]),
            Box::new(FailingIter),
        ]);
        assert!(matches!(
            merge.next_record(),
            Err(Error::Corruption { offset: 7, .. })
        ));
    }

    #[test]
    fn live_iter_returns_newest_visible_version() {
        let merge = MergeIter::new(vec![
            VecIter::boxed(vec![put("a", 10, "a10", 0), del("b", 11)]),
            VecIter::boxed(vec![put("a", 2, "a2", 0), put("b", 3, "b3", 0)]),
        ]);
        let mut live = LiveIter::new(merge, u64::MAX, 0);
        let a = live.next_entry().unwrap().unwrap();
        assert_eq!((a.value.as_ref(), a.seqno), (&b"a10"[..], 10));
        // b's newest version is a tombstone: b3 must stay hidden.
        assert!(live.next_entry().unwrap().is_none());
    }

    #[test]
    fn live_iter_respects_the_snapshot() {
        let merge = MergeIter::new(vec![
            VecIter::boxed(vec![
                put("a", 10, "a10", 0),
                del("b", 11),
                put("c", 12, "", 0),
            ]),
            VecIter::boxed(vec![put("a", 2, "a2", 0), put("b", 3, "b3", 0)]),
        ]);
        let mut live = LiveIter::new(merge, 5, 0);
        assert_eq!(live_keys(&mut live), keys_seqnos(&[("a", 2), ("b", 3)]));
    }

    #[test]
    fn live_iter_skips_expired_and_does_not_fall_back_to_older_versions() {
        let merge = MergeIter::new(vec![VecIter::boxed(vec![
            put("a", 5, "expired", 100),
            put("a", 4, "older-forever", 0),
            put("b", 6, "expires-exactly-now", 150),
            put("c", 7, "later", 151),
            put("d", 8, "forever", 0),
        ])]);
        let mut live = LiveIter::new(merge, u64::MAX, 150);
        let entries: Vec<Entry> = std::iter::from_fn(|| live.next_entry().unwrap()).collect();
        let keys: Vec<&[u8]> = entries.iter().map(|e| e.key.as_ref()).collect();
        assert_eq!(keys, vec![&b"c"[..], b"d"]);
        assert_eq!(entries[0].expires_at, Some(151));
        assert_eq!(entries[1].expires_at, None);
    }

    #[test]
    fn live_iter_seek_forgets_the_resolved_key() {
        let merge = MergeIter::new(vec![VecIter::boxed(vec![
            put("a", 2, "", 0),
            put("b", 3, "", 0),
        ])]);
        let mut live = LiveIter::new(merge, u64::MAX, 0);
        assert_eq!(live_keys(&mut live).len(), 2);
        live.seek(b"b").unwrap();
        assert_eq!(live_keys(&mut live), keys_seqnos(&[("b", 3)]));
        live.seek(b"a").unwrap();
        assert_eq!(live_keys(&mut live), keys_seqnos(&[("a", 2), ("b", 3)]));
    }
}
