//! Tables (SSTables): immutable sorted files read through memmap2.
//!
//! Layout (see `docs/design.md (section "table")`): data blocks (prefix-compressed keys, restart points,
//! CRC32 each) · bloom filter block · meta block · index block · fixed-size footer
//! (block handles, format version, magic, CRC).
//!
//! Records are ordered by key ascending, then seqno descending ("internal-key order",
//! [`cmp_internal`]). The index holds, per data block, the internal key of its last record,
//! so a lookup of (key, snapshot) picks the one block that holds the newest visible version,
//! even when the versions of one key straddle several blocks.
//!
//! Every block carries its own CRC32 and is verified each time it is read; every offset and
//! length read from the file is bounds-checked. Damage is an [`Error::Corruption`], never
//! wrong data and never a panic.

pub mod block;
pub mod bloom;
mod coding;
mod format;

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use self::block::{Block, BlockBuilder, BlockIterator};
use self::bloom::Bloom;
use self::format::{decode_meta, encode_meta, Footer};
use crate::batch::{Kind, Record};
use crate::error::{Error, Result};
use crate::fs::{FileSystem, Mapped, ReadableFile, WritableFile};
use crate::merge::RecordIter;

pub use self::coding::DecodeError;
pub use self::format::{BlockHandle, BLOCK_HANDLE_BYTES, FOOTER_BYTES, TABLE_MAGIC};

/// Current table format version, written in every footer.
pub const FORMAT_VERSION: u32 = 1;

/// Largest `TableOptions::block_bytes` a builder accepts, in bytes. Block offsets are u32,
/// and a block is read (and checksummed) whole on every lookup that touches it.
pub const BLOCK_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Largest `TableOptions::restart_interval`: a seek scans up to this many entries.
pub const RESTART_INTERVAL_MAX: usize = 1024;
/// Largest `TableOptions::bloom_bits_per_key`; beyond ~20 the false-positive rate is
/// already negligible.
pub const BLOOM_BITS_PER_KEY_MAX: usize = 64;

/// Bytes a sequential iterator ([`Table::iter_sequential`]) reads per `pread`, and so
/// about what it buffers (more only for a larger block). Large enough that the system call
/// costs little per block, small enough that a compaction (one buffer per L0 input and
/// per level it reads) holds a few MiB.
pub const READ_AHEAD_BYTES: usize = 256 * 1024;
/// Bytes a builder appends between two [`WritableFile::write_behind`] calls: at most this
/// much of a table being written waits in the page cache for its writeback, so the table's
/// final fdatasync is short and a WAL fdatasync meanwhile does not wait behind a whole
/// table (without it: ~2 WAL fdatasyncs a second over 10 ms while tables were written,
/// none with it; docs/benchmarks.md).
pub const WRITE_BEHIND_BYTES: u64 = 1024 * 1024;

/// Restart interval of the index block: every entry stores its whole key, so a lookup is a
/// pure binary search and each key can be compared in place.
const INDEX_RESTART_INTERVAL: usize = 1;

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

impl TableOptions {
    /// Panics if a knob is outside its limit (options are programmer-chosen, not user input).
    fn assert_valid(&self) {
        assert!(
            (1..=BLOCK_BYTES_MAX).contains(&self.block_bytes),
            "block_bytes {} outside 1..={BLOCK_BYTES_MAX}",
            self.block_bytes
        );
        assert!(
            (1..=RESTART_INTERVAL_MAX).contains(&self.restart_interval),
            "restart_interval {} outside 1..={RESTART_INTERVAL_MAX}",
            self.restart_interval
        );
        assert!(
            self.bloom_bits_per_key <= BLOOM_BITS_PER_KEY_MAX,
            "bloom_bits_per_key {} above {BLOOM_BITS_PER_KEY_MAX}",
            self.bloom_bits_per_key
        );
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

impl TableMeta {
    /// Accounts for one more record, added in order. `largest_key` is left to the caller
    /// (setting it per record would allocate per record).
    fn observe(&mut self, key: &[u8], seqno: u64, kind: Kind, expires_at: u64) {
        if self.entries == 0 {
            self.smallest_key = Bytes::copy_from_slice(key);
            self.min_seqno = seqno;
            self.max_seqno = seqno;
        } else {
            self.min_seqno = self.min_seqno.min(seqno);
            self.max_seqno = self.max_seqno.max(seqno);
        }
        self.entries += 1;
        if kind == Kind::Delete {
            self.tombstones += 1;
        }
        if expires_at != 0 {
            self.expiring_entries += 1;
            self.min_expires_at = Some(
                self.min_expires_at
                    .map_or(expires_at, |t| t.min(expires_at)),
            );
            self.max_expires_at = Some(
                self.max_expires_at
                    .map_or(expires_at, |t| t.max(expires_at)),
            );
        }
    }
}

/// Internal-key order: user key ascending, then seqno descending (newest version first).
pub fn cmp_internal(a_key: &[u8], a_seqno: u64, b_key: &[u8], b_seqno: u64) -> Ordering {
    a_key.cmp(b_key).then(b_seqno.cmp(&a_seqno))
}

/// File name of table `id`.
pub fn table_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.sst"))
}

/// Writes one table file. Records must be added in order (key asc, seqno desc).
///
/// Data blocks are appended to the file as they fill up; only the index and one hash per
/// distinct user key (for the bloom filter) stay in memory until [`TableBuilder::finish`].
/// An `Err` from `add` or `finish` leaves a partial file: drop the builder and delete it.
pub struct TableBuilder {
    file: Box<dyn WritableFile>,
    opts: TableOptions,
    data: BlockBuilder,
    index: BlockBuilder,
    /// Bytes appended to the file so far.
    offset: u64,
    /// Reused buffer for block handles, the bloom and meta blocks and the footer.
    scratch: Vec<u8>,
    /// Bloom hash of every distinct user key.
    key_hashes: Vec<u64>,
    /// Stats so far; `largest_key` is filled in by `finish`.
    meta: TableMeta,
    last_key: Vec<u8>,
    last_seqno: u64,
    /// Set when an append failed: the file no longer matches the builder's state.
    failed: bool,
    /// `offset` at the last [`WritableFile::write_behind`].
    written_behind: u64,
}

impl TableBuilder {
    /// A builder writing to `file`, which must be empty. Panics on out-of-range options.
    pub fn new(file: Box<dyn WritableFile>, opts: TableOptions) -> Self {
        opts.assert_valid();
        assert!(file.is_empty(), "TableBuilder needs an empty file");
        Self {
            file,
            opts,
            data: BlockBuilder::new(opts.restart_interval),
            index: BlockBuilder::new(INDEX_RESTART_INTERVAL),
            offset: 0,
            scratch: Vec::new(),
            key_hashes: Vec::new(),
            meta: TableMeta::default(),
            last_key: Vec::new(),
            last_seqno: 0,
            failed: false,
            written_behind: 0,
        }
    }

    /// Adds the next record. Panics if out of order (a programmer error).
    pub fn add(&mut self, record: &Record) -> Result<()> {
        assert!(!self.failed, "TableBuilder used after an I/O error");
        let first = self.meta.entries == 0;
        assert!(
            first
                || cmp_internal(&self.last_key, self.last_seqno, &record.key, record.seqno)
                    == Ordering::Less,
            "TableBuilder::add: record ({:?}, seqno {}) does not come after ({:?}, seqno {})",
            record.key,
            record.seqno,
            Bytes::copy_from_slice(&self.last_key),
            self.last_seqno,
        );
        if first || self.last_key[..] != record.key[..] {
            self.key_hashes.push(Bloom::hash(&record.key));
            self.last_key.clear();
            self.last_key.extend_from_slice(&record.key);
        }
        self.last_seqno = record.seqno;
        self.meta
            .observe(&record.key, record.seqno, record.kind, record.expires_at);

        self.data.add(
            &record.key,
            record.seqno,
            record.kind,
            record.expires_at,
            &record.value,
        );
        // Versions of one key may straddle blocks: the index key (last key + seqno) tells
        // lookups which block holds the newest version visible at their snapshot.
        if self.data.estimated_bytes() >= self.opts.block_bytes {
            self.flush_data_block()
                .inspect_err(|_| self.failed = true)?;
        }
        Ok(())
    }

    /// Bytes written or buffered so far (to cut output tables at a target size).
    pub fn estimated_bytes(&self) -> u64 {
        let buffered = if self.data.is_empty() {
            0
        } else {
            self.data.estimated_bytes()
        };
        let bloom = self.key_hashes.len() * self.opts.bloom_bits_per_key / 8;
        self.offset + (buffered + self.index.estimated_bytes() + bloom + FOOTER_BYTES) as u64
    }

    /// Number of records added so far.
    pub fn entries(&self) -> u64 {
        self.meta.entries
    }

    /// Writes the bloom, meta and index blocks and the footer, then fsyncs the file.
    pub fn finish(mut self) -> Result<TableMeta> {
        assert!(!self.failed, "TableBuilder used after an I/O error");
        if !self.data.is_empty() {
            self.flush_data_block()?;
        }
        if self.meta.entries > 0 {
            self.meta.largest_key = Bytes::copy_from_slice(&self.last_key);
        }

        self.scratch.clear();
        Bloom::build(&self.key_hashes, self.opts.bloom_bits_per_key).encode(&mut self.scratch);
        let bloom = append_block(&mut *self.file, &mut self.offset, &self.scratch)?;

        self.scratch.clear();
        encode_meta(&self.meta, &mut self.scratch);
        let meta = append_block(&mut *self.file, &mut self.offset, &self.scratch)?;

        let index = append_block(&mut *self.file, &mut self.offset, self.index.finish())?;

        self.scratch.clear();
        Footer { index, bloom, meta }.encode(&mut self.scratch);
        self.file.append(&self.scratch)?;
        self.offset += self.scratch.len() as u64;
        // IMPORTANT: the table must be durable before the caller records it in the manifest.
        self.file.sync()?;

        assert_eq!(
            self.file.len(),
            self.offset,
            "file length matches what was appended"
        );
        self.meta.file_bytes = self.offset;
        Ok(self.meta)
    }

    fn flush_data_block(&mut self) -> Result<()> {
        let handle = append_block(&mut *self.file, &mut self.offset, self.data.finish())?;
        if self.offset - self.written_behind >= WRITE_BEHIND_BYTES {
            self.file.write_behind()?;
            self.written_behind = self.offset;
        }
        self.scratch.clear();
        handle.encode(&mut self.scratch);
        self.index.add(
            self.data.last_key(),
            self.data.last_seqno(),
            Kind::Put,
            0,
            &self.scratch,
        );
        self.data.reset();
        Ok(())
    }
}

/// Appends an encoded block and returns where it landed.
fn append_block(file: &mut dyn WritableFile, offset: &mut u64, raw: &[u8]) -> Result<BlockHandle> {
    let handle = BlockHandle {
        offset: *offset,
        size: u32::try_from(raw.len()).expect("blocks are smaller than 4 GiB"),
    };
    file.append(raw)?;
    *offset = handle.end();
    Ok(handle)
}

/// Where a table's blocks sit and how its bloom filter is shaped: for inspection tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLayout {
    /// Data blocks, back to back from offset 0.
    pub data_blocks: u64,
    pub bloom: BlockHandle,
    pub meta: BlockHandle,
    pub index: BlockHandle,
    /// Size of the footer, at the very end of the file.
    pub footer_bytes: u64,
    /// Bit probes per key of the bloom filter (0: no filter).
    pub bloom_probes: u8,
    /// Size of the bloom filter's bit array, in bytes.
    pub bloom_bits_bytes: usize,
}

/// Lets `Bytes` slice a mapping without copying it: the mapping lives as long as any slice.
struct MappedOwner(Mapped);

impl AsRef<[u8]> for MappedOwner {
    fn as_ref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

/// An open, memory-mapped table.
///
/// Values of returned records are slices of the mapping (no copy): holding one keeps the
/// mapping, and after the file's deletion its disk space, alive. Copy values that are kept
/// for long.
pub struct Table {
    path: PathBuf,
    /// The whole file.
    file: Bytes,
    footer: Footer,
    meta: TableMeta,
    index: Block,
    bloom: Bloom,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("path", &self.path)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Table {
    /// Maps the file and validates footer, index, bloom and meta blocks.
    pub fn open(fs: &dyn FileSystem, path: &Path) -> Result<Table> {
        let mapped = fs.map(path)?;
        Self::from_bytes(path.to_path_buf(), Bytes::from_owner(MappedOwner(mapped)))
    }

    /// Validates a whole table file held in `file`. `path` names it in errors.
    pub fn from_bytes(path: PathBuf, file: Bytes) -> Result<Table> {
        let len = file.len();
        let Some(footer_at) = len.checked_sub(FOOTER_BYTES) else {
            return Err(Error::corruption(
                path,
                0,
                format!(
                    "{len} bytes is too short for a table (the footer alone is {FOOTER_BYTES})"
                ),
            ));
        };
        let footer = Footer::decode(&file[footer_at..])
            .map_err(|e| Error::corruption(&path, footer_at as u64, e.reason()))?;
        // Data blocks, then bloom, meta, index and footer back to back: the handles must
        // tile the file exactly, which also bounds every handle by the file's length.
        let tiled = footer.bloom.end() == footer.meta.offset
            && footer.meta.end() == footer.index.offset
            && footer.index.end() == footer_at as u64;
        if !tiled {
            return Err(Error::corruption(
                path,
                footer_at as u64,
                "footer block handles do not tile the file",
            ));
        }

        let slice = |h: BlockHandle| file.slice(h.offset as usize..h.end() as usize);
        let bloom = Bloom::decode(slice(footer.bloom))
            .map_err(|e| block_error(&path, footer.bloom, "bloom", e))?;
        let mut meta = decode_meta(&slice(footer.meta))
            .map_err(|e| block_error(&path, footer.meta, "meta", e))?;
        meta.file_bytes = len as u64;
        let index = Block::decode(slice(footer.index))
            .map_err(|e| block_error(&path, footer.index, "index", e))?;

        let table = Table {
            path,
            file,
            footer,
            meta,
            index,
            bloom,
        };
        table.check_index()?;
        Ok(table)
    }

    /// Checks that the index lists contiguous, non-empty data blocks covering exactly the
    /// data region, under strictly increasing keys that end at the meta's largest key.
    /// One pass over the (small, already mapped) index block.
    fn check_index(&self) -> Result<()> {
        let corrupt = |reason: &str| {
            Error::corruption(
                &self.path,
                self.footer.index.offset,
                format!("index block: {reason}"),
            )
        };
        let mut it = self.index.iter();
        it.seek_to_first().map_err(|e| self.index_error(e))?;
        let mut expected_offset = 0;
        let mut last_key = Vec::new();
        let mut last_seqno = 0;
        let mut blocks = 0u64;
        while it.is_valid() {
            let handle =
                BlockHandle::decode(it.value()).ok_or_else(|| corrupt("bad block handle"))?;
            if handle.offset != expected_offset || handle.size == 0 {
                return Err(corrupt("data block handles are not contiguous"));
            }
            if blocks > 0
                && cmp_internal(&last_key, last_seqno, it.key(), it.seqno()) != Ordering::Less
            {
                return Err(corrupt("keys out of order"));
            }
            expected_offset = handle.end();
            last_key.clear();
            last_key.extend_from_slice(it.key());
            last_seqno = it.seqno();
            blocks += 1;
            it.advance().map_err(|e| self.index_error(e))?;
        }
        if expected_offset != self.footer.bloom.offset {
            return Err(corrupt("data block handles do not cover the data region"));
        }
        if (blocks == 0) != (self.meta.entries == 0)
            || (blocks > 0 && last_key[..] != self.meta.largest_key[..])
        {
            return Err(corrupt("disagrees with the meta block"));
        }
        Ok(())
    }

    pub fn meta(&self) -> &TableMeta {
        &self.meta
    }

    /// The footer's block handles, the number of data blocks and the bloom filter's shape.
    pub fn layout(&self) -> Result<TableLayout> {
        let mut index = self.index.iter();
        index.seek_to_first().map_err(|e| self.index_error(e))?;
        let mut data_blocks = 0;
        while index.is_valid() {
            data_blocks += 1;
            index.advance().map_err(|e| self.index_error(e))?;
        }
        Ok(TableLayout {
            data_blocks,
            bloom: self.footer.bloom,
            meta: self.footer.meta,
            index: self.footer.index,
            footer_bytes: FOOTER_BYTES as u64,
            bloom_probes: self.bloom.probes(),
            bloom_bits_bytes: self.bloom.bits_bytes(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the table file, in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.meta.file_bytes
    }

    /// The newest record for `key` with seqno <= `snapshot_seqno` (put or tombstone, expired
    /// or not: the caller interprets it). Consults the bloom filter first.
    pub fn get(&self, key: &[u8], snapshot_seqno: u64) -> Result<Option<Record>> {
        self.get_hashed(key, Bloom::hash(key), snapshot_seqno)
    }

    /// [`Table::get`] for a key already hashed with [`Bloom::hash`] (one hash for every
    /// table a lookup visits).
    pub fn get_hashed(&self, key: &[u8], hash: u64, snapshot_seqno: u64) -> Result<Option<Record>> {
        let meta = &self.meta;
        if meta.entries == 0
            || snapshot_seqno < meta.min_seqno
            || key < &meta.smallest_key[..]
            || key > &meta.largest_key[..]
            || !self.bloom.may_contain_hash(hash)
        {
            return Ok(None);
        }
        let mut cursor = Cursor::new(self);
        cursor.seek(self, key, snapshot_seqno)?;
        let data = &cursor.data;
        Ok((data.is_valid() && data.key() == key).then(|| data.record()))
    }

    /// An iterator over every record, in order, reading blocks through the mapping.
    pub fn iter(self: &Arc<Self>) -> TableIterator {
        TableIterator {
            table: Arc::clone(self),
            cursor: Cursor::new(self),
            state: IterState::Unpositioned,
        }
    }

    /// An iterator over every record, in order, for one pass over the whole table (a
    /// compaction input): it reads the data blocks with positioned reads of
    /// [`READ_AHEAD_BYTES`] from `fs.open_read`, not through the mapping, so the pages it
    /// reads stay out of the process's resident memory (a mapped page, once touched,
    /// counts in the RSS until the table is dropped). The table's mapping still serves
    /// its index, and every other reader of the table, concurrently.
    pub fn iter_sequential(self: &Arc<Self>, fs: &dyn FileSystem) -> Result<TableIterator> {
        let file = fs.open_read(&self.path)?;
        let mut cursor = Cursor::new(self);
        cursor.read_ahead = Some(ReadAhead {
            file,
            start: 0,
            buf: Bytes::new(),
        });
        Ok(TableIterator {
            table: Arc::clone(self),
            cursor,
            state: IterState::Unpositioned,
        })
    }

    /// Reads every block, checking every CRC, the restart points (so that seeks work, not
    /// only scans), the order of all records, the index keys, the bloom filter and the meta
    /// block's statistics. Returns the number of records.
    pub fn verify(&self) -> Result<u64> {
        self.index
            .check_restarts()
            .map_err(|e| self.index_error(e))?;
        let mut index = self.index.iter();
        index.seek_to_first().map_err(|e| self.index_error(e))?;
        let mut data = BlockIterator::new(Block::default());
        let mut seen = TableMeta::default();
        let mut last_key = Vec::new();
        let mut last_seqno = 0;
        while index.is_valid() {
            let handle = self.data_handle(&index)?;
            let corrupt = |reason: &str| {
                Error::corruption(
                    &self.path,
                    handle.offset,
                    format!("data block at offset {}: {reason}", handle.offset),
                )
            };
            let block = self.read_block(handle)?;
            block
                .check_restarts()
                .map_err(|e| block_error(&self.path, handle, "data", e))?;
            data.set_block(block);
            data.seek_to_first()
                .map_err(|e| block_error(&self.path, handle, "data", e))?;
            if !data.is_valid() {
                return Err(corrupt("empty"));
            }
            while data.is_valid() {
                let (key, seqno) = (data.key(), data.seqno());
                let new_key = seen.entries == 0 || key != &last_key[..];
                if seen.entries > 0
                    && cmp_internal(&last_key, last_seqno, key, seqno) != Ordering::Less
                {
                    return Err(corrupt("records out of order"));
                }
                if new_key && !self.bloom.may_contain(key) {
                    return Err(corrupt("bloom filter does not contain a key of the block"));
                }
                seen.observe(key, seqno, data.kind(), data.expires_at());
                if new_key {
                    last_key.clear();
                    last_key.extend_from_slice(key);
                }
                last_seqno = seqno;
                data.advance()
                    .map_err(|e| block_error(&self.path, handle, "data", e))?;
            }
            if (index.key(), index.seqno()) != (&last_key[..], last_seqno) {
                return Err(corrupt("index key differs from the block's last record"));
            }
            index.advance().map_err(|e| self.index_error(e))?;
        }
        if seen.entries > 0 {
            seen.largest_key = Bytes::copy_from_slice(&last_key);
        }
        seen.file_bytes = self.meta.file_bytes;
        if seen != self.meta {
            return Err(Error::corruption(
                &self.path,
                self.footer.meta.offset,
                format!(
                    "meta block {:?} does not match the records {seen:?}",
                    self.meta
                ),
            ));
        }
        Ok(seen.entries)
    }

    /// The data block handle under an index cursor.
    fn data_handle(&self, index: &BlockIterator) -> Result<BlockHandle> {
        // `check_index` vetted every handle at open; re-checking costs a compare and keeps
        // this function safe on its own.
        BlockHandle::decode(index.value())
            .filter(|h| h.end() <= self.footer.bloom.offset)
            .ok_or_else(|| {
                Error::corruption(
                    &self.path,
                    self.footer.index.offset,
                    "index block: bad block handle",
                )
            })
    }

    /// A data block, checksum verified.
    fn read_block(&self, handle: BlockHandle) -> Result<Block> {
        let raw = self
            .file
            .slice(handle.offset as usize..handle.end() as usize);
        Block::decode(raw).map_err(|e| block_error(&self.path, handle, "data", e))
    }

    fn index_error(&self, e: DecodeError) -> Error {
        block_error(&self.path, self.footer.index, "index", e)
    }
}

fn block_error(path: &Path, handle: BlockHandle, what: &str, e: DecodeError) -> Error {
    Error::corruption(
        path,
        handle.offset + e.offset as u64,
        format!("{what} block at offset {}: {}", handle.offset, e.reason),
    )
}

/// Data blocks read ahead with positioned reads, for a sequential pass over a table.
struct ReadAhead {
    file: Box<dyn ReadableFile>,
    /// `buf` holds the file's bytes from offset `start` on.
    start: u64,
    buf: Bytes,
}

impl ReadAhead {
    /// A data block, checksum verified: from the buffer, refilled from `handle` on (up to
    /// `READ_AHEAD_BYTES`, or the whole block if larger) unless it holds the block.
    fn block(&mut self, table: &Table, handle: BlockHandle) -> Result<Block> {
        let buffered = self.start..self.start + self.buf.len() as u64;
        if !(buffered.contains(&handle.offset) && handle.end() <= buffered.end) {
            // `data_handle` checked that the block ends within the data region.
            let data_left = table.footer.bloom.offset - handle.offset;
            let len = data_left.min(READ_AHEAD_BYTES.max(handle.size as usize) as u64);
            // A fresh buffer, not a reused one: blocks and values of records still held
            // by the caller are slices of the previous one.
            let mut buf = vec![0; len as usize];
            self.file.read_exact_at(&mut buf, handle.offset)?;
            self.start = handle.offset;
            self.buf = Bytes::from(buf);
        }
        let at = (handle.offset - self.start) as usize;
        let raw = self.buf.slice(at..at + handle.size as usize);
        Block::decode(raw).map_err(|e| block_error(&table.path, handle, "data", e))
    }
}

/// A position in a table: an index entry and a position in the data block it points to.
struct Cursor {
    index: BlockIterator,
    data: BlockIterator,
    /// Where the block `data` walks sits in the file, for error reports.
    data_handle: BlockHandle,
    /// Set for a sequential pass: data blocks come from here, not from the mapping.
    read_ahead: Option<ReadAhead>,
}

impl Cursor {
    fn new(table: &Table) -> Self {
        Cursor {
            index: table.index.iter(),
            data: BlockIterator::new(Block::default()),
            data_handle: BlockHandle::default(),
            read_ahead: None,
        }
    }

    /// True if on a record (`data` is positioned).
    fn is_valid(&self) -> bool {
        self.data.is_valid()
    }

    fn seek_to_first(&mut self, table: &Table) -> Result<()> {
        self.index
            .seek_to_first()
            .map_err(|e| table.index_error(e))?;
        self.load_block(table, None)
    }

    /// Positions on the first record with internal key >= (`key`, `seqno`).
    fn seek(&mut self, table: &Table, key: &[u8], seqno: u64) -> Result<()> {
        // The first block whose last record is >= the target holds the answer.
        self.index
            .seek(key, seqno)
            .map_err(|e| table.index_error(e))?;
        self.load_block(table, Some((key, seqno)))
    }

    /// Moves to the next record, into the next block if need be. Requires `is_valid`.
    fn advance(&mut self, table: &Table) -> Result<()> {
        self.data
            .advance()
            .map_err(|e| block_error(&table.path, self.data_handle, "data", e))?;
        if !self.data.is_valid() {
            self.index.advance().map_err(|e| table.index_error(e))?;
            self.load_block(table, None)?;
        }
        Ok(())
    }

    /// Opens the block under the index cursor and positions in it (at `target`, or at its
    /// start); moves on to later blocks while the position falls off a block's end.
    fn load_block(&mut self, table: &Table, mut target: Option<(&[u8], u64)>) -> Result<()> {
        loop {
            if !self.index.is_valid() {
                self.data.set_block(Block::default());
                return Ok(());
            }
            let handle = table.data_handle(&self.index)?;
            let block = match &mut self.read_ahead {
                Some(read_ahead) => read_ahead.block(table, handle)?,
                None => table.read_block(handle)?,
            };
            self.data.set_block(block);
            self.data_handle = handle;
            let positioned = match target.take() {
                Some((key, seqno)) => self.data.seek(key, seqno),
                None => self.data.seek_to_first(),
            };
            positioned.map_err(|e| block_error(&table.path, handle, "data", e))?;
            if self.data.is_valid() {
                return Ok(());
            }
            self.index.advance().map_err(|e| table.index_error(e))?;
        }
    }
}

/// Where a [`TableIterator`] stands.
#[derive(Debug)]
enum IterState {
    /// Created, not yet positioned: the first `next_record` starts at the first record.
    Unpositioned,
    /// The cursor is on the record the next `next_record` returns (or at the end).
    Ready,
    /// The cursor is on the record last returned; the next call advances first, so an
    /// error in the following block belongs to the call that needs that block.
    Returned,
    /// A read failed; every call repeats the error until the next `seek`.
    Failed { offset: u64, reason: String },
}

/// Walks a table's records in order. Holds an `Arc<Table>`, so the mapping outlives it.
pub struct TableIterator {
    table: Arc<Table>,
    cursor: Cursor,
    state: IterState,
}

impl TableIterator {
    /// Positions before the first record with key >= `key`.
    pub fn seek(&mut self, key: &[u8]) -> Result<()> {
        // Seqno u64::MAX sorts before every version of `key`.
        let result = self.cursor.seek(&self.table, key, u64::MAX);
        self.settle(result)
    }

    /// The next record, or `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        let moved = match &self.state {
            IterState::Unpositioned => self.cursor.seek_to_first(&self.table),
            IterState::Returned => self.cursor.advance(&self.table),
            IterState::Ready => Ok(()),
            IterState::Failed { offset, reason } => {
                return Err(Error::corruption(&self.table.path, *offset, reason.clone()))
            }
        };
        self.settle(moved)?;
        if !self.cursor.is_valid() {
            return Ok(None);
        }
        self.state = IterState::Returned;
        Ok(Some(self.cursor.data.record()))
    }

    /// Records the outcome of a cursor move: `Ready`, or `Failed` for later calls.
    fn settle(&mut self, moved: Result<()>) -> Result<()> {
        match moved {
            Ok(()) => {
                self.state = IterState::Ready;
                Ok(())
            }
            Err(e) => {
                self.state = match &e {
                    Error::Corruption { offset, reason, .. } => IterState::Failed {
                        offset: *offset,
                        reason: reason.clone(),
                    },
                    // An I/O error of a sequential iterator's read: later calls report
                    // it as a failure of this table.
                    other => IterState::Failed {
                        offset: 0,
                        reason: format!("earlier read failed: {other}"),
                    },
                };
                Err(e)
            }
        }
    }
}

impl RecordIter for TableIterator {
    fn seek(&mut self, key: &[u8]) -> Result<()> {
        TableIterator::seek(self, key)
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        TableIterator::next_record(self)
    }
}

#[cfg(test)]
mod tests;
