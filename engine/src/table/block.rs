//! Data blocks: prefix-compressed keys with restart points and a CRC32 trailer.
//!
//! ```text
//! entry*  restart_offset: u32 LE * num_restarts  num_restarts: u32 LE  crc32: u32 LE
//! entry = shared: varint · unshared: varint · value_len: varint · key suffix (unshared bytes)
//!         · seqno: u64 LE · kind: u8 · expires_at: varint · value (value_len bytes)
//! ```
//!
//! `shared` counts the leading bytes the entry's user key has in common with the previous
//! entry's. Every `restart_interval`-th entry is a restart point: it stores its whole key
//! (`shared == 0`) and its offset is listed in the trailer, so a seek can binary-search the
//! restart points and then scan at most `restart_interval` entries. The index block uses the
//! same encoding with a restart interval of 1.

use std::cmp::Ordering;
use std::ops::Range;

use bytes::Bytes;

use super::cmp_internal;
use super::coding::{check_crc, put_crc, put_varint, varint_len, DecodeError, Reader, CRC_BYTES};
use crate::batch::{Kind, Record};

/// Bytes of one restart offset in the trailer.
const RESTART_BYTES: usize = 4;
/// Bytes after the restart array: `num_restarts: u32` and the CRC.
pub const BLOCK_TRAILER_BYTES: usize = 4 + CRC_BYTES;
/// Bytes of an entry after its key suffix that do not depend on the data: seqno + kind.
const ENTRY_FIXED_BYTES: usize = 8 + 1;

/// Builds one block in memory. Reusable: [`BlockBuilder::reset`] keeps the buffers.
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    /// Entries to add before the next restart point (0: the next entry is one).
    until_restart: usize,
    entries: usize,
    last_key: Vec<u8>,
    last_seqno: u64,
    finished: bool,
}

impl BlockBuilder {
    /// A builder that writes a restart point every `restart_interval` entries.
    pub fn new(restart_interval: usize) -> Self {
        assert!(restart_interval >= 1, "restart_interval must be at least 1");
        Self {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval,
            until_restart: 0,
            entries: 0,
            last_key: Vec::new(),
            last_seqno: 0,
            finished: false,
        }
    }

    /// Appends an entry. Entries must come in internal-key order (key asc, seqno desc).
    pub fn add(&mut self, key: &[u8], seqno: u64, kind: Kind, expires_at: u64, value: &[u8]) {
        assert!(
            !self.finished,
            "BlockBuilder::add after finish without reset"
        );
        debug_assert!(
            self.entries == 0
                || cmp_internal(&self.last_key, self.last_seqno, key, seqno) == Ordering::Less,
            "block entries out of order"
        );
        let shared = if self.until_restart == 0 {
            let offset = u32::try_from(self.buf.len()).expect("block larger than 4 GiB");
            self.restarts.push(offset);
            self.until_restart = self.restart_interval;
            0
        } else {
            common_prefix_len(&self.last_key, key)
        };
        self.until_restart -= 1;
        let suffix = &key[shared..];
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, suffix.len() as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(suffix);
        self.buf.extend_from_slice(&seqno.to_le_bytes());
        self.buf.push(kind as u8);
        put_varint(&mut self.buf, expires_at);
        self.buf.extend_from_slice(value);
        assert!(
            u32::try_from(self.estimated_bytes()).is_ok(),
            "block larger than 4 GiB"
        );

        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(suffix);
        self.last_seqno = seqno;
        self.entries += 1;
    }

    /// Size the block would have if finished now, in bytes.
    pub fn estimated_bytes(&self) -> usize {
        self.buf.len() + self.restarts.len() * RESTART_BYTES + BLOCK_TRAILER_BYTES
    }

    /// Size the block would have after adding an entry of these sizes (as the first entry
    /// after a restart, i.e. an upper bound), in bytes.
    pub fn entry_bytes_max(key_len: usize, value_len: usize, expires_at: u64) -> usize {
        varint_len(0)
            + varint_len(key_len as u64)
            + varint_len(value_len as u64)
            + key_len
            + ENTRY_FIXED_BYTES
            + varint_len(expires_at)
            + value_len
            + RESTART_BYTES
    }

    /// Entries added since the last reset.
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// User key of the last entry added.
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Seqno of the last entry added.
    pub fn last_seqno(&self) -> u64 {
        self.last_seqno
    }

    /// Appends the trailer and returns the encoded block. Call [`BlockBuilder::reset`]
    /// before adding to the next block.
    pub fn finish(&mut self) -> &[u8] {
        assert!(!self.finished, "BlockBuilder::finish called twice");
        self.finished = true;
        for offset in &self.restarts {
            self.buf.extend_from_slice(&offset.to_le_bytes());
        }
        let num_restarts = u32::try_from(self.restarts.len()).expect("restarts fit in u32");
        self.buf.extend_from_slice(&num_restarts.to_le_bytes());
        put_crc(&mut self.buf, 0);
        &self.buf
    }

    /// Empties the builder for the next block, keeping its allocations.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.until_restart = 0;
        self.entries = 0;
        self.last_key.clear();
        self.last_seqno = 0;
        self.finished = false;
    }
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A decoded, checksum-verified block. Cheap to clone (the bytes are shared).
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// The whole block, trailer included.
    data: Bytes,
    /// End of the entries = start of the restart array.
    entries_end: usize,
    num_restarts: usize,
}

impl Block {
    /// Verifies the CRC and the restart array of an encoded block.
    ///
    /// Entries themselves are checked as they are read: a corrupt entry behind a valid CRC
    /// (a bug, or crafted input) still yields an error, never a panic.
    pub fn decode(raw: Bytes) -> Result<Block, DecodeError> {
        let payload_len = check_crc(&raw)?.len();
        let Some(count_at) = payload_len.checked_sub(4) else {
            return Err(DecodeError::new(0, "too short to hold a restart count"));
        };
        let num_restarts = Reader::new(&raw, count_at)
            .u32()
            .expect("count_at + 4 <= payload_len") as usize;
        let Some(entries_end) = num_restarts
            .checked_mul(RESTART_BYTES)
            .and_then(|restart_bytes| count_at.checked_sub(restart_bytes))
        else {
            return Err(DecodeError::new(
                count_at,
                "restart count larger than the block",
            ));
        };
        let block = Block {
            data: raw,
            entries_end,
            num_restarts,
        };
        if (num_restarts == 0) != (entries_end == 0) {
            return Err(DecodeError::new(
                count_at,
                "restart count does not match the entries",
            ));
        }
        let mut prev = None;
        for i in 0..num_restarts {
            let offset = block.restart_offset(i);
            let ok = match prev {
                None => offset == 0,
                Some(p) => offset > p && offset < entries_end,
            };
            if !ok {
                return Err(DecodeError::new(
                    entries_end + i * RESTART_BYTES,
                    "restart offsets out of order or out of range",
                ));
            }
            prev = Some(offset);
        }
        Ok(block)
    }

    /// Size of the encoded block, trailer included, in bytes.
    pub fn encoded_bytes(&self) -> usize {
        self.data.len()
    }

    /// True if the block holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries_end == 0
    }

    /// An iterator over this block, positioned nowhere until a seek.
    pub fn iter(&self) -> BlockIterator {
        BlockIterator::new(self.clone())
    }

    fn restart_offset(&self, i: usize) -> usize {
        let at = self.entries_end + i * RESTART_BYTES;
        let bytes = self.data[at..at + RESTART_BYTES]
            .try_into()
            .expect("slice has RESTART_BYTES");
        u32::from_le_bytes(bytes) as usize
    }

    fn entries(&self) -> &[u8] {
        &self.data[..self.entries_end]
    }

    /// Walks every entry and checks that each restart offset is where an entry starts and
    /// that restart entries store their whole key. `decode` leaves this to the readers (it
    /// would cost a walk per read), but a scan never reads the restart array, so a table
    /// check must: without it a table could verify and still fail, or mislead, a seek.
    pub fn check_restarts(&self) -> Result<(), DecodeError> {
        let mut restart = 0;
        let mut offset = 0;
        while offset < self.entries_end {
            let entry = decode_entry(self.entries(), offset)?;
            if restart < self.num_restarts && self.restart_offset(restart) == offset {
                if entry.shared != 0 {
                    return Err(DecodeError::new(
                        offset,
                        "restart entry shares a key prefix",
                    ));
                }
                restart += 1;
            }
            offset = entry.end;
        }
        if restart != self.num_restarts {
            return Err(DecodeError::new(
                self.entries_end + restart * RESTART_BYTES,
                "restart offset is not at the start of an entry",
            ));
        }
        Ok(())
    }

    /// The full key and seqno stored at restart point `i`.
    fn restart_key(&self, i: usize) -> Result<(&[u8], u64), DecodeError> {
        let offset = self.restart_offset(i);
        let entry = decode_entry(self.entries(), offset)?;
        if entry.shared != 0 {
            return Err(DecodeError::new(
                offset,
                "restart entry shares a key prefix",
            ));
        }
        Ok((entry.suffix, entry.seqno))
    }
}

/// One entry as it sits in the block, borrowed.
struct RawEntry<'a> {
    shared: usize,
    suffix: &'a [u8],
    seqno: u64,
    kind: Kind,
    expires_at: u64,
    value: Range<usize>,
    /// Offset just past the entry.
    end: usize,
}

#[inline]
fn decode_entry(entries: &[u8], offset: usize) -> Result<RawEntry<'_>, DecodeError> {
    let err = |reason| DecodeError::new(offset, reason);
    let mut r = Reader::new(entries, offset);
    let shared = r.varint_usize().ok_or(err("bad shared-prefix length"))?;
    let unshared = r.varint_usize().ok_or(err("bad key length"))?;
    let value_len = r.varint_usize().ok_or(err("bad value length"))?;
    let suffix = r.bytes(unshared).ok_or(err("key runs past the block"))?;
    let seqno = r.u64().ok_or(err("seqno runs past the block"))?;
    let kind = r.u8().ok_or(err("kind runs past the block"))?;
    let kind = Kind::from_u8(kind).ok_or(err("unknown record kind"))?;
    let expires_at = r.varint().ok_or(err("bad expires_at"))?;
    let value_start = r.pos();
    r.bytes(value_len).ok_or(err("value runs past the block"))?;
    Ok(RawEntry {
        shared,
        suffix,
        seqno,
        kind,
        expires_at,
        value: value_start..r.pos(),
        end: r.pos(),
    })
}

/// Walks one block's entries in order. Reuses its key buffer: scanning allocates nothing.
#[derive(Debug)]
pub struct BlockIterator {
    block: Block,
    /// Full user key of the current entry.
    key: Vec<u8>,
    seqno: u64,
    kind: Kind,
    expires_at: u64,
    value: Range<usize>,
    /// Offset of the entry after the current one.
    next: usize,
    valid: bool,
}

impl BlockIterator {
    /// An iterator over `block`, positioned nowhere until a seek.
    pub fn new(block: Block) -> Self {
        Self {
            block,
            key: Vec::new(),
            seqno: 0,
            kind: Kind::Put,
            expires_at: 0,
            value: 0..0,
            next: 0,
            valid: false,
        }
    }

    /// Switches to another block (keeping the key buffer), positioned nowhere.
    pub fn set_block(&mut self, block: Block) {
        self.block = block;
        self.key.clear();
        self.valid = false;
    }

    /// True if positioned on an entry.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    /// Positions on the first entry (invalid if the block is empty).
    pub fn seek_to_first(&mut self) -> Result<(), DecodeError> {
        self.seek_to_restart(0)
    }

    /// Positions on the first entry whose internal key is >= (`key`, `seqno`), i.e. the
    /// newest version of `key` with seqno <= `seqno`, or else the first entry of a larger
    /// key. Invalid if there is none in this block.
    pub fn seek(&mut self, key: &[u8], seqno: u64) -> Result<(), DecodeError> {
        self.valid = false;
        // Restart points [0, lo) are < target, [hi, n) are >= target.
        let (mut lo, mut hi) = (0, self.block.num_restarts);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (k, s) = self.block.restart_key(mid)?;
            if cmp_internal(k, s, key, seqno) == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        // The last restart point below the target starts the scan; if every restart
        // point is >= target, the first entry is the answer.
        self.seek_to_restart(lo.saturating_sub(1))?;
        while self.valid && cmp_internal(&self.key, self.seqno, key, seqno) == Ordering::Less {
            self.advance()?;
        }
        Ok(())
    }

    /// Moves to the next entry (invalid past the last one).
    pub fn advance(&mut self) -> Result<(), DecodeError> {
        assert!(self.valid, "BlockIterator::advance on an invalid iterator");
        if self.next >= self.block.entries_end {
            self.valid = false;
            return Ok(());
        }
        self.read_entry(self.next)
    }

    fn seek_to_restart(&mut self, i: usize) -> Result<(), DecodeError> {
        self.key.clear();
        if i >= self.block.num_restarts {
            self.valid = false;
            return Ok(());
        }
        self.read_entry(self.block.restart_offset(i))
    }

    #[inline]
    fn read_entry(&mut self, offset: usize) -> Result<(), DecodeError> {
        self.valid = false;
        let entry = decode_entry(self.block.entries(), offset)?;
        if entry.shared > self.key.len() {
            return Err(DecodeError::new(
                offset,
                "shared prefix longer than the previous key",
            ));
        }
        self.key.truncate(entry.shared);
        self.key.extend_from_slice(entry.suffix);
        self.seqno = entry.seqno;
        self.kind = entry.kind;
        self.expires_at = entry.expires_at;
        self.value = entry.value;
        self.next = entry.end;
        self.valid = true;
        Ok(())
    }

    /// User key of the current entry.
    pub fn key(&self) -> &[u8] {
        debug_assert!(self.valid);
        &self.key
    }

    pub fn seqno(&self) -> u64 {
        debug_assert!(self.valid);
        self.seqno
    }

    pub fn kind(&self) -> Kind {
        debug_assert!(self.valid);
        self.kind
    }

    /// Unix seconds, 0 = never expires.
    pub fn expires_at(&self) -> u64 {
        debug_assert!(self.valid);
        self.expires_at
    }

    /// Value of the current entry, borrowed from the block.
    pub fn value(&self) -> &[u8] {
        debug_assert!(self.valid);
        &self.block.data[self.value.clone()]
    }

    /// The current entry as an owned record: the key is copied, the value shares the
    /// block's bytes.
    pub fn record(&self) -> Record {
        assert!(self.valid, "BlockIterator::record on an invalid iterator");
        Record {
            key: Bytes::copy_from_slice(&self.key),
            seqno: self.seqno,
            kind: self.kind,
            expires_at: self.expires_at,
            value: self.block.data.slice(self.value.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Entries in order: keys k000.. with 1-3 versions each, some tombstones and expiries.
    fn sample_entries(n: usize) -> Vec<Record> {
        let mut out = Vec::new();
        for i in 0..n {
            let versions = 1 + i % 3;
            for v in 0..versions {
                let seqno = 100 - v as u64 * 10;
                out.push(Record {
                    key: Bytes::from(format!("key{i:04}")),
                    seqno,
                    kind: if v == 1 { Kind::Delete } else { Kind::Put },
                    expires_at: if i % 5 == 0 {
                        1_700_000_000 + i as u64
                    } else {
                        0
                    },
                    value: Bytes::from(format!("value-{i}-{v}").repeat(i % 4)),
                });
            }
        }
        out
    }

    fn build(records: &[Record], restart_interval: usize) -> Block {
        let mut b = BlockBuilder::new(restart_interval);
        for r in records {
            b.add(&r.key, r.seqno, r.kind, r.expires_at, &r.value);
        }
        let expected = b.estimated_bytes();
        let raw = Bytes::copy_from_slice(b.finish());
        assert_eq!(raw.len(), expected, "estimate is exact once finished");
        Block::decode(raw).expect("fresh block decodes")
    }

    fn collect(block: &Block) -> Vec<Record> {
        let mut it = block.iter();
        it.seek_to_first().unwrap();
        let mut out = Vec::new();
        while it.is_valid() {
            out.push(it.record());
            it.advance().unwrap();
        }
        out
    }

    #[test]
    fn roundtrips_entries_for_every_restart_interval() {
        let records = sample_entries(50);
        for interval in [1, 2, 3, 16, 1000] {
            let block = build(&records, interval);
            assert_eq!(collect(&block), records, "restart interval {interval}");
        }
    }

    #[test]
    fn prefix_compression_shrinks_shared_keys() {
        let records = sample_entries(50);
        let full = build(&records, 1).encoded_bytes();
        let compressed = build(&records, 16).encoded_bytes();
        assert!(compressed < full, "{compressed} >= {full}");
    }

    #[test]
    fn empty_block_roundtrips_and_has_no_entries() {
        let block = build(&[], 16);
        assert!(block.is_empty());
        assert_eq!(block.encoded_bytes(), BLOCK_TRAILER_BYTES);
        let mut it = block.iter();
        it.seek_to_first().unwrap();
        assert!(!it.is_valid());
        it.seek(b"a", u64::MAX).unwrap();
        assert!(!it.is_valid());
    }

    #[test]
    fn seek_finds_the_newest_version_at_or_below_the_snapshot() {
        let records = sample_entries(50);
        for interval in [1, 4, 16] {
            let block = build(&records, interval);
            let mut it = block.iter();
            for target in &records {
                for snapshot in [u64::MAX, target.seqno, target.seqno + 5] {
                    it.seek(&target.key, snapshot).unwrap();
                    let expected = records.iter().find(|r| {
                        cmp_internal(&r.key, r.seqno, &target.key, snapshot) != Ordering::Less
                    });
                    assert_eq!(it.is_valid(), expected.is_some());
                    if let Some(expected) = expected {
                        assert_eq!(&it.record(), expected);
                    }
                }
            }
            // Before the first key, between keys, after the last key.
            it.seek(b"a", u64::MAX).unwrap();
            assert_eq!(it.key(), b"key0000");
            it.seek(b"key0003x", u64::MAX).unwrap();
            assert_eq!(it.key(), b"key0004");
            it.seek(b"key0003", 0).unwrap();
            assert_eq!(
                it.key(),
                b"key0004",
                "every version of key0003 is above seqno 0"
            );
            it.seek(b"zzz", 0).unwrap();
            assert!(!it.is_valid());
        }
    }

    #[test]
    fn builder_reuse_after_reset_gives_identical_blocks() {
        let records = sample_entries(20);
        let mut b = BlockBuilder::new(4);
        let mut first = Vec::new();
        for round in 0..2 {
            for r in &records {
                b.add(&r.key, r.seqno, r.kind, r.expires_at, &r.value);
            }
            assert_eq!(b.len(), records.len());
            assert_eq!(b.last_key(), &records.last().unwrap().key[..]);
            let out = b.finish().to_vec();
            if round == 0 {
                first = out;
            } else {
                assert_eq!(out, first);
            }
            b.reset();
            assert!(b.is_empty());
        }
    }

    #[test]
    fn entry_bytes_max_bounds_the_growth_of_a_block() {
        let mut b = BlockBuilder::new(1);
        for (i, r) in sample_entries(30).iter().enumerate() {
            let before = b.estimated_bytes();
            b.add(&r.key, r.seqno, r.kind, r.expires_at, &r.value);
            let bound = BlockBuilder::entry_bytes_max(r.key.len(), r.value.len(), r.expires_at);
            assert_eq!(
                b.estimated_bytes() - before,
                bound,
                "entry {i} at a restart"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let records = sample_entries(10);
        let mut b = BlockBuilder::new(3);
        for r in &records {
            b.add(&r.key, r.seqno, r.kind, r.expires_at, &r.value);
        }
        let raw = b.finish().to_vec();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0xff;
            assert!(Block::decode(Bytes::from(bad)).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn bad_restart_arrays_are_rejected() {
        let with_crc = |mut payload: Vec<u8>| {
            put_crc(&mut payload, 0);
            Bytes::from(payload)
        };
        // Too short for a restart count.
        assert!(Block::decode(with_crc(vec![1, 2])).is_err());
        // Restart count claims more offsets than there are bytes.
        assert!(Block::decode(with_crc(u32::MAX.to_le_bytes().to_vec())).is_err());
        // Entries but no restart points.
        let mut p = vec![0u8; 5];
        p.extend_from_slice(&0u32.to_le_bytes());
        assert!(Block::decode(with_crc(p)).is_err());
        // First restart point not at 0.
        let mut p = vec![0u8; 5];
        p.extend_from_slice(&1u32.to_le_bytes());
        p.extend_from_slice(&1u32.to_le_bytes());
        assert!(Block::decode(with_crc(p)).is_err());
        // Restart point past the entries.
        let mut p = vec![0u8; 5];
        p.extend_from_slice(&0u32.to_le_bytes());
        p.extend_from_slice(&9u32.to_le_bytes());
        p.extend_from_slice(&2u32.to_le_bytes());
        assert!(Block::decode(with_crc(p)).is_err());
    }

    #[test]
    fn bad_entries_behind_a_valid_crc_are_errors() {
        let with_crc = |entries: &[u8]| {
            let mut p = entries.to_vec();
            p.extend_from_slice(&0u32.to_le_bytes()); // one restart at 0
            p.extend_from_slice(&1u32.to_le_bytes());
            put_crc(&mut p, 0);
            Block::decode(Bytes::from(p)).expect("restart array is fine")
        };
        let mut good = Vec::new();
        put_varint(&mut good, 0);
        put_varint(&mut good, 1);
        put_varint(&mut good, 1);
        good.extend_from_slice(b"k");
        good.extend_from_slice(&7u64.to_le_bytes());
        good.push(Kind::Put as u8);
        put_varint(&mut good, 0);
        good.extend_from_slice(b"v");
        let mut it = with_crc(&good).iter();
        it.seek_to_first().unwrap();
        assert_eq!(
            (it.key(), it.seqno(), it.value()),
            (&b"k"[..], 7, &b"v"[..])
        );

        let kind_at = 1 + 1 + 1 + 1 + 8;
        let mut bad_kind = good.clone();
        bad_kind[kind_at] = 9;
        let err = with_crc(&bad_kind).iter().seek_to_first().unwrap_err();
        assert_eq!(err.reason, "unknown record kind");

        let mut shared = good.clone();
        shared[0] = 1; // restart entry claiming a shared prefix
        let err = with_crc(&shared).iter().seek_to_first().unwrap_err();
        assert_eq!(err.reason, "shared prefix longer than the previous key");
        assert!(with_crc(&shared).iter().seek(b"k", 1).is_err());

        let mut long_value = good.clone();
        long_value[2] = 100;
        let err = with_crc(&long_value).iter().seek_to_first().unwrap_err();
        assert_eq!(err.reason, "value runs past the block");

        let truncated = &good[..good.len() - 3];
        assert!(with_crc(truncated).iter().seek_to_first().is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary bytes behind a valid CRC: decoding and scanning may fail but never panic.
        #[test]
        fn garbage_with_a_valid_crc_never_panics(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            restarts in proptest::collection::vec(0u32..64, 0..4),
            key in proptest::collection::vec(any::<u8>(), 0..4),
        ) {
            let mut p = payload;
            for r in &restarts {
                p.extend_from_slice(&r.to_le_bytes());
            }
            p.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
            put_crc(&mut p, 0);
            if let Ok(block) = Block::decode(Bytes::from(p)) {
                let mut it = block.iter();
                let mut steps = 0;
                if it.seek_to_first().is_ok() {
                    while it.is_valid() && it.advance().is_ok() {
                        steps += 1;
                        prop_assert!(steps <= 200, "each entry takes at least one byte");
                    }
                }
                let _ = it.seek(&key, 5);
            }
        }
    }
}
