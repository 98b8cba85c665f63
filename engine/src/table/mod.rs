//! Tables (SSTables): immutable sorted files read through memmap2.
//!
//! Layout (see `docs/design.md`): data blocks (prefix-compressed keys, restart points,
//! CRC32 each) · bloom filter block · meta block · index block · fixed-size footer
//! (block handles, magic, format version, CRC).
//!
//! Records are ordered by key ascending, then seqno descending.

pub mod block;
pub mod bloom;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::Record;
use crate::error::Result;
use crate::fs::{FileSystem, WritableFile};

/// Current table format version, written in every footer.
pub const FORMAT_VERSION: u32 = 1;

/// Knobs for building a table.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Target uncompressed size of a data block, in bytes.
    pub block_bytes: usize,
    /// A restart point (full key) every this many entries.
    pub restart_interval: usize,
    /// Bloom filter bits per key.
    pub bloom_bits_per_key: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            block_bytes: 4096,
            restart_interval: 16,
            bloom_bits_per_key: 10,
        }
    }
}

/// Per-table metadata, stored in the table's meta block and mirrored in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableMeta {
    pub file_bytes: u64,
    pub smallest_key: Bytes,
    pub largest_key: Bytes,
    pub min_seqno: u64,
    pub max_seqno: u64,
    pub entries: u64,
    pub tombstones: u64,
    /// Entries that carry an `expires_at`.
    pub expiring_entries: u64,
    /// Smallest / largest `expires_at` among expiring entries (None if there are none).
    pub min_expires_at: Option<u64>,
    pub max_expires_at: Option<u64>,
}

/// File name of table `id`.
pub fn table_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.sst"))
}

/// Writes one table file. Records must be added in order (key asc, seqno desc).
pub struct TableBuilder {
    #[allow(dead_code)]
    file: Box<dyn WritableFile>,
    #[allow(dead_code)]
    opts: TableOptions,
}

impl TableBuilder {
    pub fn new(file: Box<dyn WritableFile>, opts: TableOptions) -> Self {
        Self { file, opts }
    }
    /// Adds the next record. Panics if out of order (a programmer error).
    pub fn add(&mut self, _record: &Record) -> Result<()> {
        todo!("TableBuilder::add")
    }
    /// Bytes written or buffered so far (to cut output tables at a target size).
    pub fn estimated_bytes(&self) -> u64 {
        todo!("TableBuilder::estimated_bytes")
    }
    /// Number of records added so far.
    pub fn entries(&self) -> u64 {
        todo!("TableBuilder::entries")
    }
    /// Writes the bloom, meta and index blocks and the footer, then fsyncs the file.
    pub fn finish(self) -> Result<TableMeta> {
        todo!("TableBuilder::finish")
    }
}

/// An open, memory-mapped table.
pub struct Table {
    #[allow(dead_code)]
    path: PathBuf,
}

impl Table {
    /// Maps the file and validates footer, index, bloom and meta blocks.
    pub fn open(_fs: &dyn FileSystem, _path: &Path) -> Result<Table> {
        todo!("Table::open")
    }
    pub fn meta(&self) -> &TableMeta {
        todo!("Table::meta")
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The newest record for `key` with seqno <= `snapshot_seqno` (put or tombstone, expired
    /// or not: the caller interprets it). Consults the bloom filter first.
    pub fn get(&self, _key: &[u8], _snapshot_seqno: u64) -> Result<Option<Record>> {
        todo!("Table::get")
    }
    /// An iterator over every record, in order.
    pub fn iter(self: &Arc<Self>) -> TableIterator {
        todo!("Table::iter")
    }
}

/// Walks a table's records in order. Holds an `Arc<Table>`, so the mapping outlives it.
pub struct TableIterator {
    #[allow(dead_code)]
    table: Arc<Table>,
}

impl TableIterator {
    /// Positions before the first record with key >= `key`.
    pub fn seek(&mut self, _key: &[u8]) -> Result<()> {
        todo!("TableIterator::seek")
    }
    /// The next record, or `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        todo!("TableIterator::next_record")
    }
}
