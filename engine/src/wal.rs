//! Write-ahead log: segment files of length+CRC32-framed records, one record per write batch.
//!
//! See `docs/design.md` for the byte layout. Group commit (many writers, one write + one
//! fsync) is orchestrated by `db.rs`; this module provides the segment writer, the batch
//! codec and recovery.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::Record;
use crate::error::Result;
use crate::fs::{FileSystem, WritableFile};

/// Largest payload of one WAL record, in bytes. Bounds what recovery will allocate.
pub const RECORD_BYTES_MAX: usize = 64 * 1024 * 1024;
/// A segment is rolled over once it grows past this size, in bytes.
pub const SEGMENT_BYTES_TARGET: u64 = 64 * 1024 * 1024;

/// Appends framed records to one segment file.
pub struct WalWriter {
    #[allow(dead_code)]
    file: Box<dyn WritableFile>,
    #[allow(dead_code)]
    segment_id: u64,
}

/// The tail that recovery cut off the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedTail {
    pub segment_id: u64,
    /// Offset the segment was truncated to.
    pub offset: u64,
    /// Bytes dropped.
    pub dropped_bytes: u64,
    pub reason: String,
}

/// What recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub records: u64,
    pub truncated: Option<TruncatedTail>,
}

/// Path of segment `id` inside the WAL directory.
pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.wal"))
}

/// Ids of the segments in `dir`, ascending.
pub fn list_segments(_fs: &dyn FileSystem, _dir: &Path) -> Result<Vec<u64>> {
    todo!("wal::list_segments")
}

impl WalWriter {
    /// Creates segment `segment_id` in `dir` (and fsyncs `dir`).
    pub fn create(_fs: &Arc<dyn FileSystem>, _dir: &Path, _segment_id: u64) -> Result<Self> {
        todo!("WalWriter::create")
    }
    /// Reopens an existing segment for appending at its (already validated) end.
    pub fn open_existing(_fs: &Arc<dyn FileSystem>, _dir: &Path, _segment_id: u64) -> Result<Self> {
        todo!("WalWriter::open_existing")
    }
    pub fn segment_id(&self) -> u64 {
        self.segment_id
    }
    /// Appends one framed record (not yet durable).
    pub fn append(&mut self, _payload: &[u8]) -> Result<()> {
        todo!("WalWriter::append")
    }
    /// Makes every appended record durable.
    pub fn sync(&mut self) -> Result<()> {
        todo!("WalWriter::sync")
    }
    /// Bytes in the segment so far.
    pub fn len(&self) -> u64 {
        self.file.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Encodes a batch of records with consecutive seqnos into `out` (a WAL record payload).
pub fn encode_batch(_records: &[Record], _out: &mut Vec<u8>) {
    todo!("wal::encode_batch")
}

/// Decodes a WAL record payload. Errors are strings describing what is malformed.
pub fn decode_batch(_payload: &[u8]) -> std::result::Result<Vec<Record>, String> {
    todo!("wal::decode_batch")
}

/// Replays every segment with id >= `min_segment_id`, in order, calling `apply` with each
/// decoded batch. A torn or corrupt tail of the **last** segment is truncated and reported;
/// damage anywhere else is `Error::Corruption`.
pub fn replay(
    _fs: &dyn FileSystem,
    _dir: &Path,
    _min_segment_id: u64,
    _apply: &mut dyn FnMut(Vec<Record>) -> Result<()>,
) -> Result<RecoveryReport> {
    todo!("wal::replay")
}
