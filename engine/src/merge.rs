//! Merging sorted record sources (memtables and tables) into one ordered stream.

use crate::batch::{Entry, Record};
use crate::error::Result;

/// A seekable, ordered source of records (key asc, seqno desc).
pub trait RecordIter: Send {
    /// Positions before the first record with key >= `key`.
    fn seek(&mut self, key: &[u8]) -> Result<()>;
    /// The next record, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<Record>>;
}

/// Merges several sources into one stream ordered by (key asc, seqno desc).
/// Every version of every key is yielded (no deduplication).
pub struct MergeIter {
    #[allow(dead_code)]
    sources: Vec<Box<dyn RecordIter>>,
}

impl MergeIter {
    pub fn new(sources: Vec<Box<dyn RecordIter>>) -> Self {
        Self { sources }
    }
}

impl RecordIter for MergeIter {
    fn seek(&mut self, _key: &[u8]) -> Result<()> {
        todo!("MergeIter::seek")
    }
    fn next_record(&mut self) -> Result<Option<Record>> {
        todo!("MergeIter::next_record")
    }
}

/// What readers see: for each key, the newest version with seqno <= `snapshot_seqno`,
/// skipped if it is a tombstone or expired at `now`.
pub struct LiveIter {
    #[allow(dead_code)]
    inner: MergeIter,
    #[allow(dead_code)]
    snapshot_seqno: u64,
    #[allow(dead_code)]
    now: u64,
}

impl LiveIter {
    pub fn new(inner: MergeIter, snapshot_seqno: u64, now: u64) -> Self {
        Self {
            inner,
            snapshot_seqno,
            now,
        }
    }
    pub fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.inner.seek(key)
    }
    /// The next live entry, or `None` at the end.
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        todo!("LiveIter::next_entry")
    }
}
