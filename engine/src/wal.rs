//! Write-ahead log: segment files of length+CRC32-framed records, one record per write batch.
//!
//! See `docs/design.md (section "wal")` for the byte layout and the torn-tail rule. Group commit (many
//! writers, one write + one fsync) is orchestrated by `db.rs`; this module provides the
//! segment writer, the batch codec and recovery.
//!
//! Layout in brief (all integers little-endian):
//!
//! ```text
//! segment = header(16) frame*
//! header  = magic "STRAWAL1" (8) · version u32 (=1) · crc32(magic ‖ version) u32
//! frame   = len u32 · crc32(len bytes ‖ payload) u32 · payload (len bytes)
//! payload = first_seqno u64 · count u32 · record{count}
//! record  = kind u8 · expires_at u64 · key_len u32 · key · value_len u32 · value
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{Kind, Record};
use crate::error::{Error, Result};
use crate::fs::{FileSystem, WritableFile};

/// Largest payload of one WAL record, in bytes. Bounds what recovery will allocate.
pub const RECORD_BYTES_MAX: usize = 64 * 1024 * 1024;
/// A segment is rolled over once it grows past this size, in bytes.
pub const SEGMENT_BYTES_TARGET: u64 = 64 * 1024 * 1024;

/// First bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"STRAWAL1";
/// Version of the segment / frame / batch format described in this module.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
/// Size of the segment header: magic, version, CRC32 of both.
pub const SEGMENT_HEADER_BYTES: usize = 16;
/// Size of a frame header: payload length, CRC32.
pub const FRAME_HEADER_BYTES: usize = 8;
/// Size of a batch header: first seqno, record count.
pub const BATCH_HEADER_BYTES: usize = 12;
/// Size of a record with an empty key and value: kind, expiry, two lengths.
pub const BATCH_RECORD_HEADER_BYTES: usize = 1 + 8 + 4 + 4;
/// A segment is preallocated (sparse) this far past its appended bytes, and again whenever
/// an append reaches the end of the reservation. Appends inside the reservation leave the
/// file's size alone, so their fdatasync need not write the inode: 20-35 % faster on ext4
/// here (docs/benchmarks.md). Replay reads the zeros past the last record as the end of
/// the log and cuts them; a rolled segment is cut to its records.
pub const SEGMENT_RESERVE_BYTES: u64 = 4 * 1024 * 1024;
/// The writer keeps its frame buffer between appends unless it grew past this, in bytes, so
/// one huge batch does not pin its memory for the life of the segment.
const FRAME_BUF_RETAIN_BYTES_MAX: usize = 1024 * 1024;
/// How many bytes recovery may checksum, per byte of a damaged tail, while looking for a
/// valid record after the damage (see [`replay`]). Bounds that search on hostile input.
const RESYNC_CRC_BYTES_PER_TAIL_BYTE: u64 = 4;

/// Appends framed records to one segment file.
pub struct WalWriter {
    file: Box<dyn WritableFile>,
    segment_id: u64,
    /// The file is preallocated up to here (see [`SEGMENT_RESERVE_BYTES`]).
    reserved: u64,
    /// Reused frame buffer: one allocation per writer, not per append.
    buf: Vec<u8>,
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
    /// Segments read.
    pub segments: usize,
    /// WAL records (= write batches) replayed.
    pub records: u64,
    pub truncated: Option<TruncatedTail>,
    /// The zero-filled reservation after the last segment's last record (not damage):
    /// `(segment id, offset it was cut at)`. `replay` cuts it.
    pub reserved_tail: Option<(u64, u64)>,
}

/// Path of segment `id` inside the WAL directory.
pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.wal"))
}

/// The segment id a file name stands for, if it is exactly `{id:020}.wal`.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // 20 digits may still overflow u64: such a name is not ours either.
    digits.parse().ok()
}

/// Ids of the segments in `dir`, ascending. Other files are ignored.
pub fn list_segments(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u64>> {
    let mut ids: Vec<u64> = fs
        .list(dir)?
        .iter()
        .filter_map(|name| parse_segment_name(name))
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// The 16-byte header every segment starts with.
pub fn segment_header() -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
    let crc = crc32fast::hash(&header[..12]);
    header[12..].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Why a segment header is unusable.
enum HeaderError {
    /// Short, wrong magic or bad CRC: what an interrupted header write can leave.
    Damaged(String),
    /// Intact, but a format this code does not read.
    Unsupported(String),
}

fn check_segment_header(data: &[u8]) -> std::result::Result<(), HeaderError> {
    if data.len() < SEGMENT_HEADER_BYTES {
        return Err(HeaderError::Damaged(format!(
            "segment is shorter ({} bytes) than its {SEGMENT_HEADER_BYTES}-byte header",
            data.len()
        )));
    }
    if data[..8] != SEGMENT_MAGIC {
        return Err(HeaderError::Damaged("bad segment magic".into()));
    }
    let stored_crc = read_u32(data, 12);
    if crc32fast::hash(&data[..12]) != stored_crc {
        return Err(HeaderError::Damaged(
            "segment header checksum mismatch".into(),
        ));
    }
    let version = read_u32(data, 8);
    if version != SEGMENT_FORMAT_VERSION {
        return Err(HeaderError::Unsupported(format!(
            "unsupported WAL format version {version} (this build reads {SEGMENT_FORMAT_VERSION})"
        )));
    }
    Ok(())
}

/// Little-endian u32 at `at`; the caller has checked the bounds.
fn read_u32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

fn read_u64(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}

/// CRC of a frame: over the length bytes too, so a damaged length is caught.
fn frame_crc(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(payload);
    hasher.finalize()
}

/// Checks that `payload` may be framed: not bigger than recovery accepts (a caller's error),
/// and at least a batch header (anything smaller is a bug: it could never be replayed).
fn check_payload(payload: &[u8]) -> Result<()> {
    assert!(
        payload.len() >= BATCH_HEADER_BYTES,
        "a WAL payload is an encoded batch of at least {BATCH_HEADER_BYTES} bytes, got {}",
        payload.len()
    );
    if payload.len() > RECORD_BYTES_MAX {
        return Err(Error::InvalidArgument(format!(
            "write batch encodes to {} bytes, more than the WAL record limit of {RECORD_BYTES_MAX}",
            payload.len()
        )));
    }
    Ok(())
}

fn push_frame(buf: &mut Vec<u8>, payload: &[u8]) {
    let len_bytes = (payload.len() as u32).to_le_bytes();
    buf.extend_from_slice(&len_bytes);
    buf.extend_from_slice(&frame_crc(len_bytes, payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

impl WalWriter {
    /// Creates segment `segment_id` in `dir` (and fsyncs `dir`).
    pub fn create(fs: &Arc<dyn FileSystem>, dir: &Path, segment_id: u64) -> Result<Self> {
        let mut file = fs.create(&segment_path(dir, segment_id))?;
        file.append(&segment_header())?;
        let reserved = SEGMENT_HEADER_BYTES as u64 + SEGMENT_RESERVE_BYTES;
        file.preallocate(reserved)?;
        // NOTE: the header is durable before any record can be appended, so recovery may
        // treat a damaged header with nothing after it as a torn create.
        file.sync()?;
        // IMPORTANT: without this the new segment's directory entry may vanish in a crash,
        // taking every record synced into it along.
        fs.sync_dir(dir)?;
        let mut writer = Self::from_file(file, segment_id);
        writer.reserved = reserved;
        Ok(writer)
    }

    /// Reopens an existing segment for appending at its (already validated) end.
    ///
    /// Call it after [`replay`] validated (and possibly truncated) the segment. If replay cut
    /// a torn header away (the segment is empty), the header is written again here.
    pub fn open_existing(fs: &Arc<dyn FileSystem>, dir: &Path, segment_id: u64) -> Result<Self> {
        let path = segment_path(dir, segment_id);
        let mut file = fs.open_append(&path)?;
        match file.len() {
            0 => {
                file.append(&segment_header())?;
                file.sync()?;
            }
            len if len < SEGMENT_HEADER_BYTES as u64 => {
                return Err(Error::corruption(
                    path,
                    0,
                    format!("segment is shorter ({len} bytes) than its header; replay it first"),
                ));
            }
            _ => {}
        }
        let mut writer = Self::from_file(file, segment_id);
        writer.reserve(0)?;
        Ok(writer)
    }

    fn from_file(file: Box<dyn WritableFile>, segment_id: u64) -> Self {
        WalWriter {
            file,
            segment_id,
            reserved: 0,
            buf: Vec::new(),
        }
    }

    /// Makes sure the reservation covers `more` bytes past the appended ones.
    fn reserve(&mut self, more: u64) -> Result<()> {
        let end = self.len() + more;
        if end > self.reserved {
            let reserved = end + SEGMENT_RESERVE_BYTES;
            self.file.preallocate(reserved)?;
            self.reserved = reserved;
        }
        Ok(())
    }

    pub fn segment_id(&self) -> u64 {
        self.segment_id
    }

    /// Appends one framed record (not yet durable).
    ///
    /// `payload` is an encoded batch ([`encode_batch`]). A payload over [`RECORD_BYTES_MAX`]
    /// is `Error::InvalidArgument` and writes nothing.
    pub fn append(&mut self, payload: &[u8]) -> Result<()> {
        self.append_many(&[payload])
    }

    /// Appends several framed records with a single write (not yet durable): group commit
    /// writes a whole group this way, then calls [`WalWriter::sync`] once.
    ///
    /// Every payload is checked before anything is written, so an oversized one fails the
    /// call without writing any of them.
    pub fn append_many(&mut self, payloads: &[&[u8]]) -> Result<()> {
        for payload in payloads {
            check_payload(payload)?;
        }
        self.buf.clear();
        for payload in payloads {
            push_frame(&mut self.buf, payload);
        }
        let result = if self.buf.is_empty() {
            Ok(())
        } else {
            self.reserve(self.buf.len() as u64)
                .and_then(|()| self.file.append(&self.buf))
        };
        if self.buf.capacity() > FRAME_BUF_RETAIN_BYTES_MAX {
            self.buf = Vec::new();
        }
        result
    }

    /// Cuts the segment's unused reservation off (and syncs the new size), for a segment
    /// that is done: recovery accepts zeros after the last record only in the last segment.
    pub fn cut_reservation(&mut self, fs: &Arc<dyn FileSystem>, dir: &Path) -> Result<()> {
        fs.truncate(&segment_path(dir, self.segment_id), self.len())?;
        self.reserved = self.len();
        Ok(())
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync()
    }

    /// Bytes in the segment so far.
    pub fn len(&self) -> u64 {
        self.file.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Appends the encoding of a batch of records with consecutive seqnos to `out` (a WAL record
/// payload). `out` is not cleared: clear a reused buffer first.
///
/// Panics if `records` is empty, if their seqnos are not consecutive, or if a key or value
/// is longer than `u32::MAX` bytes: the caller builds batches, so these are bugs.
pub fn encode_batch(records: &[Record], out: &mut Vec<u8>) {
    assert!(!records.is_empty(), "a WAL batch holds at least one record");
    let first_seqno = records[0].seqno;
    let count = u32::try_from(records.len()).expect("batch record count fits in u32");
    let body_bytes: usize = records
        .iter()
        .map(|r| BATCH_RECORD_HEADER_BYTES + r.key.len() + r.value.len())
        .sum();
    out.reserve(BATCH_HEADER_BYTES + body_bytes);
    out.extend_from_slice(&first_seqno.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    for (i, record) in records.iter().enumerate() {
        assert_eq!(
            Some(record.seqno),
            first_seqno.checked_add(i as u64),
            "records of a WAL batch carry consecutive seqnos"
        );
        let key_len = u32::try_from(record.key.len()).expect("key length fits in u32");
        let value_len = u32::try_from(record.value.len()).expect("value length fits in u32");
        out.push(record.kind as u8);
        out.extend_from_slice(&record.expires_at.to_le_bytes());
        out.extend_from_slice(&key_len.to_le_bytes());
        out.extend_from_slice(&record.key);
        out.extend_from_slice(&value_len.to_le_bytes());
        out.extend_from_slice(&record.value);
    }
}

/// Bounds-checked reading of a payload; every length is checked against what remains before
/// anything is sliced or allocated.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "{what} needs {n} bytes at offset {} but only {} remain",
                self.pos,
                self.remaining()
            ));
        }
        let bytes = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn u8(&mut self, what: &str) -> std::result::Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(read_u32(self.take(4, what)?, 0))
    }

    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(read_u64(self.take(8, what)?, 0))
    }
}

/// Decodes a WAL record payload. Errors are strings describing what is malformed.
///
/// Never panics and never allocates more than a small multiple of `payload.len()`, whatever
/// the input.
pub fn decode_batch(payload: &[u8]) -> std::result::Result<Vec<Record>, String> {
    decode_batch_with(payload, &Bytes::copy_from_slice)
}

/// [`decode_batch`] with the keys and values as slices of `buf` (which holds `payload`),
/// not copies: replay decodes a whole segment read into one buffer this way, so a record
/// costs no allocation and dropping one frees nothing.
fn decode_batch_shared(buf: &Bytes, payload: &[u8]) -> std::result::Result<Vec<Record>, String> {
    decode_batch_with(payload, &|part| buf.slice_ref(part))
}

fn decode_batch_with(
    payload: &[u8],
    make_bytes: &dyn Fn(&[u8]) -> Bytes,
) -> std::result::Result<Vec<Record>, String> {
    let mut reader = Reader {
        data: payload,
        pos: 0,
    };
    let first_seqno = reader.u64("first_seqno")?;
    let count = reader.u32("record count")? as usize;
    if count == 0 {
        return Err("batch has no records".into());
    }
    // Every record takes at least its header, so this bounds the allocation below.
    if count > reader.remaining() / BATCH_RECORD_HEADER_BYTES {
        return Err(format!(
            "record count {count} cannot fit in the {} bytes that remain",
            reader.remaining()
        ));
    }
    if first_seqno.checked_add(count as u64 - 1).is_none() {
        return Err(format!(
            "seqnos overflow: first {first_seqno}, count {count}"
        ));
    }
    let mut records = Vec::with_capacity(count);
    for i in 0..count {
        let kind_byte = reader.u8("kind")?;
        let kind = Kind::from_u8(kind_byte)
            .ok_or_else(|| format!("record {i}: unknown kind {kind_byte}"))?;
        let expires_at = reader.u64("expires_at")?;
        let key_len = reader.u32("key length")? as usize;
        let key = reader.take(key_len, "key")?;
        let value_len = reader.u32("value length")? as usize;
        let value = reader.take(value_len, "value")?;
        records.push(Record {
            key: make_bytes(key),
            seqno: first_seqno + i as u64,
            kind,
            expires_at,
            value: make_bytes(value),
        });
    }
    if reader.remaining() != 0 {
        return Err(format!(
            "{} trailing bytes after {count} records",
            reader.remaining()
        ));
    }
    Ok(records)
}

/// Damage found while scanning a segment.
struct Damage {
    offset: usize,
    reason: String,
    /// Looks like an interrupted write at the end of the file (the torn-tail rule of
    /// `docs/design.md (section "wal")`); whether it may be cut also depends on the segment being last.
    torn_shaped: bool,
    /// Not damage: only zeros follow the last record (a preallocated segment's tail).
    reserved_tail: bool,
}

/// Outcome of parsing the frame at some offset.
enum Frame<'a> {
    Valid {
        payload: &'a [u8],
        end: usize,
    },
    /// `next`: where the following frame starts, if this one is complete (bad checksum).
    Damaged {
        reason: String,
        reaches_eof: bool,
        next: Option<usize>,
    },
}

fn parse_frame(data: &[u8], pos: usize) -> Frame<'_> {
    let rest = &data[pos..];
    let all_zero = || rest.iter().all(|&b| b == 0);
    if rest.len() < FRAME_HEADER_BYTES {
        return Frame::Damaged {
            reason: format!(
                "incomplete frame header ({} of {FRAME_HEADER_BYTES} bytes)",
                rest.len()
            ),
            reaches_eof: true,
            next: None,
        };
    }
    let len = read_u32(rest, 0) as usize;
    let stored_crc = read_u32(rest, 4);
    // `declared_end` is relative to `pos`; no overflow: len < 2^32.
    let declared_end = FRAME_HEADER_BYTES as u64 + len as u64;
    let rest_len = rest.len() as u64;
    if len > RECORD_BYTES_MAX {
        return Frame::Damaged {
            reason: format!("frame length {len} exceeds RECORD_BYTES_MAX ({RECORD_BYTES_MAX})"),
            reaches_eof: declared_end >= rest_len || all_zero(),
            next: None,
        };
    }
    if declared_end > rest_len {
        return Frame::Damaged {
            reason: format!(
                "frame of {len} payload bytes extends {} bytes past the end of the file",
                declared_end - rest_len
            ),
            reaches_eof: true,
            next: None,
        };
    }
    let end = FRAME_HEADER_BYTES + len;
    let payload = &rest[FRAME_HEADER_BYTES..end];
    if frame_crc(rest[..4].try_into().expect("4 bytes"), payload) != stored_crc {
        return Frame::Damaged {
            reason: "frame checksum mismatch".into(),
            reaches_eof: end == rest.len() || all_zero(),
            next: Some(pos + end),
        };
    }
    Frame::Valid {
        payload,
        end: pos + end,
    }
}

/// True if the frames from `pos` to the end of the file, followed by their declared
/// lengths, are all damaged and the last one reaches EOF. A torn write of several frames
/// (group commit, or many unsynced appends) can garble the end of one frame and cut the
/// next one short: the damage then reaches EOF through the frames after the first.
fn damaged_to_eof(data: &[u8], mut pos: usize) -> bool {
    loop {
        match parse_frame(data, pos) {
            Frame::Damaged {
                reaches_eof: true, ..
            } => return true,
            Frame::Damaged {
                next: Some(next), ..
            } => pos = next,
            _ => return false,
        }
    }
}

/// Looks for a valid record starting anywhere after the damaged frame at `damaged_at`: a
/// frame with a good checksum whose batch decodes and continues the seqno order. Finding one
/// proves the damage is not a torn tail (a torn write leaves nothing valid after it), e.g. a
/// bit flip in a length field that made a middle frame look like it runs past EOF.
///
/// Candidates are filtered cheaply before checksumming, and the checksummed bytes are capped
/// at [`RESYNC_CRC_BYTES_PER_TAIL_BYTE`] per tail byte so hostile input cannot make recovery
/// quadratic; past the cap the search gives up and the plain torn-tail rule decides.
fn valid_frame_after(data: &[u8], damaged_at: usize, last_seqno: Option<u64>) -> Option<usize> {
    let min_frame = FRAME_HEADER_BYTES + BATCH_HEADER_BYTES + BATCH_RECORD_HEADER_BYTES;
    let mut crc_budget = (data.len() - damaged_at) as u64 * RESYNC_CRC_BYTES_PER_TAIL_BYTE;
    let mut pos = damaged_at + 1;
    while pos + min_frame <= data.len() {
        let rest = &data[pos..];
        let len = read_u32(rest, 0) as usize;
        let plausible_len = (BATCH_HEADER_BYTES + BATCH_RECORD_HEADER_BYTES..=RECORD_BYTES_MAX)
            .contains(&len)
            && FRAME_HEADER_BYTES + len <= rest.len();
        if plausible_len {
            let payload = &rest[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len];
            let first_seqno = read_u64(payload, 0);
            let count = read_u32(payload, 8) as usize;
            let plausible_batch = count >= 1
                && count <= (len - BATCH_HEADER_BYTES) / BATCH_RECORD_HEADER_BYTES
                && last_seqno.is_none_or(|last| first_seqno > last);
            if plausible_batch {
                if crc_budget < len as u64 {
                    return None;
                }
                crc_budget -= len as u64;
                if matches!(parse_frame(data, pos), Frame::Valid { .. })
                    && decode_batch(payload).is_ok()
                {
                    return Some(pos);
                }
            }
        }
        pos += 1;
    }
    None
}

/// Replays the records of one segment through `apply`, stopping at the first damage.
/// `shared`, when given, is `data` itself as `Bytes`: the decoded records then share it
/// (see [`decode_batch_shared`]); without it they are copies.
fn replay_segment(
    data: &[u8],
    shared: Option<&Bytes>,
    last_seqno: &mut Option<u64>,
    records: &mut u64,
    apply: &mut dyn FnMut(Vec<Record>) -> Result<()>,
) -> Result<Option<Damage>> {
    match check_segment_header(data) {
        Ok(()) => {}
        Err(HeaderError::Damaged(reason)) => {
            // The header is synced before any record is written (`WalWriter::create`), so a
            // damaged header is a torn create only if nothing but zeros follows it.
            let after = data.get(SEGMENT_HEADER_BYTES..).unwrap_or_default();
            return Ok(Some(Damage {
                offset: 0,
                reason,
                torn_shaped: after.iter().all(|&b| b == 0),
                reserved_tail: false,
            }));
        }
        Err(HeaderError::Unsupported(reason)) => {
            return Ok(Some(Damage {
                offset: 0,
                reason,
                torn_shaped: false,
                reserved_tail: false,
            }));
        }
    }
    let mut pos = SEGMENT_HEADER_BYTES;
    while pos < data.len() {
        // A valid frame's length is never 0, so this stops at the first byte of one.
        if data[pos..].iter().all(|&b| b == 0) {
            return Ok(Some(Damage {
                offset: pos,
                reason: "zero-filled reservation".into(),
                torn_shaped: true,
                reserved_tail: true,
            }));
        }
        let (payload, end) = match parse_frame(data, pos) {
            Frame::Valid { payload, end } => (payload, end),
            Frame::Damaged {
                reason,
                reaches_eof,
                next,
            } => {
                let reaches_eof =
                    reaches_eof || next.is_some_and(|next| damaged_to_eof(data, next));
                // Damage not reaching EOF is corruption anyway; no need to search.
                let valid_after = if reaches_eof {
                    valid_frame_after(data, pos, *last_seqno)
                } else {
                    None
                };
                return Ok(Some(match valid_after {
                    Some(valid_at) => Damage {
                        offset: pos,
                        reason: format!(
                            "{reason}, yet a valid record follows at offset {valid_at}"
                        ),
                        torn_shaped: false,
                        reserved_tail: false,
                    },
                    None => Damage {
                        offset: pos,
                        reason,
                        torn_shaped: reaches_eof,
                        reserved_tail: false,
                    },
                }));
            }
        };
        // A checksummed frame that does not decode, or that breaks the seqno order, was
        // written that way: not a torn write, so never cut as one.
        let decoded = match shared {
            Some(buf) => decode_batch_shared(buf, payload),
            None => decode_batch(payload),
        };
        let batch = match decoded {
            Ok(batch) => batch,
            Err(e) => {
                return Ok(Some(Damage {
                    offset: pos,
                    reason: format!("record does not decode: {e}"),
                    torn_shaped: false,
                    reserved_tail: false,
                }))
            }
        };
        let first_seqno = batch[0].seqno;
        if let Some(last) = *last_seqno {
            if first_seqno <= last {
                return Ok(Some(Damage {
                    offset: pos,
                    reason: format!("seqno {first_seqno} does not follow seqno {last}"),
                    torn_shaped: false,
                    reserved_tail: false,
                }));
            }
        }
        *last_seqno = Some(batch[batch.len() - 1].seqno);
        *records += 1;
        apply(batch)?;
        pos = end;
    }
    Ok(None)
}

/// Replays every segment with id >= `min_segment_id`, in order, calling `apply` with each
/// decoded batch. A torn or corrupt tail of the **last** segment is truncated and reported;
/// damage anywhere else is `Error::Corruption`.
///
/// Torn-tail rule (`docs/design.md (section "wal")`): damage is cut off as a torn tail only if it is in
/// the last segment, reaches the end of the file (the frame is incomplete, its declared end is
/// exactly EOF, or only zeros follow its start), could come from an interrupted write (its
/// checksum fails: a checksummed record that does not decode or breaks the seqno order is
/// corruption) and no valid record follows it. Seqnos must strictly increase across records
/// and segments.
pub fn replay(
    fs: &dyn FileSystem,
    dir: &Path,
    min_segment_id: u64,
    apply: &mut dyn FnMut(Vec<Record>) -> Result<()>,
) -> Result<RecoveryReport> {
    let report = scan(fs, dir, min_segment_id, apply)?;
    // `scan` reports a torn tail only in the last segment and stops after it, so cutting it
    // now, after every batch was applied, matches cutting it during the walk.
    if let Some(tail) = &report.truncated {
        if tail.dropped_bytes > 0 {
            fs.truncate(&segment_path(dir, tail.segment_id), tail.offset)?;
        }
    }
    if let Some((segment_id, offset)) = report.reserved_tail {
        fs.truncate(&segment_path(dir, segment_id), offset)?;
    }
    Ok(report)
}

/// One valid record of a segment, as [`inspect_segment`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFrame {
    /// Offset of the frame header in the segment file.
    pub offset: u64,
    /// Length of the payload (the encoded batch), in bytes.
    pub payload_bytes: u64,
    /// The batch's records (consecutive seqnos).
    pub records: Vec<Record>,
}

/// The damage that stopped [`inspect_segment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDamage {
    /// Offset of the damaged frame (0 for a damaged segment header).
    pub offset: u64,
    pub reason: String,
    /// Shaped like an interrupted write that reaches the end of the file: cut as a torn
    /// tail by [`replay`] if the segment is the last one, corruption otherwise.
    pub torn_shaped: bool,
}

/// Walks the bytes of one segment read-only, with the rules of [`replay`]: calls `visit`
/// with every valid record in order, and returns the damage that stopped the walk, if any.
/// `last_seqno` carries the seqno order across segments (pass `None` for a lone segment).
/// For inspection tools: nothing is written.
pub fn inspect_segment(
    data: &[u8],
    last_seqno: &mut Option<u64>,
    visit: &mut dyn FnMut(SegmentFrame),
) -> Option<SegmentDamage> {
    let mut offset = SEGMENT_HEADER_BYTES as u64;
    let mut records = 0;
    // Frames sit back to back, and a batch's encoding is canonical, so each frame's offset
    // and length follow from the records decoded so far.
    let damage = replay_segment(data, None, last_seqno, &mut records, &mut |batch| {
        let payload_bytes = (BATCH_HEADER_BYTES
            + batch
                .iter()
                .map(|r| BATCH_RECORD_HEADER_BYTES + r.key.len() + r.value.len())
                .sum::<usize>()) as u64;
        visit(SegmentFrame {
            offset,
            payload_bytes,
            records: batch,
        });
        offset += FRAME_HEADER_BYTES as u64 + payload_bytes;
        Ok(())
    })
    .expect("the visitor never fails");
    // A zero-filled reservation ends the segment like its end of file.
    damage.filter(|d| !d.reserved_tail).map(|d| SegmentDamage {
        offset: d.offset as u64,
        reason: d.reason,
        torn_shaped: d.torn_shaped,
    })
}

/// [`replay`] without side effects: validates the segments with id >= `min_segment_id` by
/// the same rules and calls `apply` with each batch, but leaves a torn tail in place (it is
/// reported in `truncated` as what `replay` would cut). For `strata verify`, which must not
/// modify a data directory.
pub fn scan(
    fs: &dyn FileSystem,
    dir: &Path,
    min_segment_id: u64,
    apply: &mut dyn FnMut(Vec<Record>) -> Result<()>,
) -> Result<RecoveryReport> {
    let ids: Vec<u64> = list_segments(fs, dir)?
        .into_iter()
        .filter(|&id| id >= min_segment_id)
        .collect();
    let mut report = RecoveryReport::default();
    let mut last_seqno = None;
    for (i, &segment_id) in ids.iter().enumerate() {
        let is_last = i + 1 == ids.len();
        let path = segment_path(dir, segment_id);
        let data = Bytes::from(fs.read(&path)?);
        report.segments += 1;
        let Some(damage) = replay_segment(
            &data,
            Some(&data),
            &mut last_seqno,
            &mut report.records,
            apply,
        )?
        else {
            continue;
        };
        if !(is_last && damage.torn_shaped) {
            return Err(Error::corruption(path, damage.offset as u64, damage.reason));
        }
        if damage.reserved_tail {
            report.reserved_tail = Some((segment_id, damage.offset as u64));
            continue;
        }
        report.truncated = Some(TruncatedTail {
            segment_id,
            offset: damage.offset as u64,
            dropped_bytes: (data.len() - damage.offset) as u64,
            reason: damage.reason,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(seqno: u64, kind: Kind, key: &[u8], value: &[u8], expires_at: u64) -> Record {
        Record {
            key: Bytes::copy_from_slice(key),
            seqno,
            kind,
            expires_at,
            value: Bytes::copy_from_slice(value),
        }
    }

    fn encoded(records: &[Record]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_batch(records, &mut out);
        out
    }

    #[test]
    fn codec_round_trips_and_matches_the_documented_layout() {
        let records = vec![
            record(7, Kind::Put, b"k", b"vv", 0),
            record(8, Kind::Delete, b"", b"", 99),
        ];
        let bytes = encoded(&records);
        let mut expected = Vec::new();
        expected.extend_from_slice(&7u64.to_le_bytes());
        expected.extend_from_slice(&2u32.to_le_bytes());
        expected.push(1);
        expected.extend_from_slice(&0u64.to_le_bytes());
        expected.extend_from_slice(&1u32.to_le_bytes());
        expected.extend_from_slice(b"k");
        expected.extend_from_slice(&2u32.to_le_bytes());
        expected.extend_from_slice(b"vv");
        expected.push(0);
        expected.extend_from_slice(&99u64.to_le_bytes());
        expected.extend_from_slice(&0u32.to_le_bytes());
        expected.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(decode_batch(&bytes).unwrap(), records);
    }

    #[test]
    fn shared_decoding_slices_the_buffer_instead_of_copying() {
        let records = vec![
            record(7, Kind::Put, b"key-one", b"value-one", 0),
            record(8, Kind::Delete, b"key-two", b"", 99),
        ];
        let mut frame = b"header".to_vec();
        encode_batch(&records, &mut frame);
        let buf = Bytes::from(frame);
        let decoded = decode_batch_shared(&buf, &buf[6..]).unwrap();
        assert_eq!(decoded, records);
        let range = buf.as_ptr_range();
        for r in decoded.iter().filter(|r| !r.value.is_empty()) {
            assert!(range.contains(&r.key.as_ptr()) && range.contains(&r.value.as_ptr()));
        }
        assert!(decode_batch_shared(&buf, &buf[6..buf.len() - 1]).is_err());
    }

    #[test]
    fn encode_appends_to_out() {
        let mut out = b"prefix".to_vec();
        encode_batch(&[record(1, Kind::Put, b"a", b"b", 0)], &mut out);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(decode_batch(&out[6..]).unwrap().len(), 1);
    }

    #[test]
    #[should_panic(expected = "consecutive seqnos")]
    fn encode_rejects_non_consecutive_seqnos() {
        encoded(&[
            record(1, Kind::Put, b"a", b"", 0),
            record(3, Kind::Put, b"b", b"", 0),
        ]);
    }

    #[test]
    #[should_panic(expected = "at least one record")]
    fn encode_rejects_an_empty_batch() {
        encoded(&[]);
    }

    #[test]
    fn decode_rejects_malformed_payloads() {
        let good = encoded(&[record(5, Kind::Put, b"key", b"value", 0)]);
        // Every strict prefix is short somewhere.
        for cut in 0..good.len() {
            assert!(
                decode_batch(&good[..cut]).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_batch(&trailing).unwrap_err().contains("trailing"));
        let mut bad_kind = good.clone();
        bad_kind[BATCH_HEADER_BYTES] = 7;
        assert!(decode_batch(&bad_kind)
            .unwrap_err()
            .contains("unknown kind 7"));
        let mut zero_count = good.clone();
        zero_count[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode_batch(&zero_count)
            .unwrap_err()
            .contains("no records"));
        let mut huge_count = good.clone();
        huge_count[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_batch(&huge_count)
            .unwrap_err()
            .contains("cannot fit"));
        let mut huge_key = good.clone();
        huge_key[BATCH_HEADER_BYTES + 9..BATCH_HEADER_BYTES + 13]
            .copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_batch(&huge_key).unwrap_err().contains("key needs"));
        let mut overflow = good;
        overflow[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            decode_batch(&overflow).is_ok(),
            "one record at u64::MAX is fine"
        );
        let two = encoded(&[
            record(1, Kind::Put, b"a", b"", 0),
            record(2, Kind::Put, b"b", b"", 0),
        ]);
        let mut overflow = two;
        overflow[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode_batch(&overflow).unwrap_err().contains("overflow"));
    }

    #[test]
    fn segment_header_layout() {
        let header = segment_header();
        assert_eq!(&header[..8], b"STRAWAL1");
        assert_eq!(read_u32(&header, 8), 1);
        assert_eq!(read_u32(&header, 12), crc32fast::hash(&header[..12]));
        assert!(check_segment_header(&header).is_ok());
        let mut other_version = header;
        other_version[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&other_version[..12]);
        other_version[12..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            check_segment_header(&other_version),
            Err(HeaderError::Unsupported(_))
        ));
        let mut flipped = header;
        flipped[3] ^= 1;
        assert!(matches!(
            check_segment_header(&flipped),
            Err(HeaderError::Damaged(_))
        ));
    }

    #[test]
    fn segment_names_round_trip_and_others_are_ignored() {
        let path = segment_path(Path::new("/w"), 42);
        assert_eq!(path, Path::new("/w/00000000000000000042.wal"));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_segment_name(name), Some(42));
        assert_eq!(
            parse_segment_name(&format!("{:020}.wal", u64::MAX)),
            Some(u64::MAX)
        );
        for other in [
            "42.wal",
            "00000000000000000042.wal.tmp",
            "0000000000000000004x.wal",
            "99999999999999999999.wal",
            "+0000000000000000042.wal",
            "MANIFEST",
        ] {
            assert_eq!(parse_segment_name(other), None, "{other}");
        }
    }

    #[test]
    fn frame_crc_covers_the_length() {
        let payload = encoded(&[record(1, Kind::Put, b"a", b"b", 0)]);
        let mut frame = Vec::new();
        push_frame(&mut frame, &payload);
        let mut data = segment_header().to_vec();
        data.extend_from_slice(&frame);
        assert!(matches!(
            parse_frame(&data, SEGMENT_HEADER_BYTES),
            Frame::Valid { .. }
        ));
        // Shrink the length by one: the frame still fits, and only the CRC can tell.
        let len = read_u32(&frame, 0) - 1;
        data[SEGMENT_HEADER_BYTES..SEGMENT_HEADER_BYTES + 4].copy_from_slice(&len.to_le_bytes());
        match parse_frame(&data, SEGMENT_HEADER_BYTES) {
            Frame::Damaged { reason, .. } => assert!(reason.contains("checksum"), "{reason}"),
            Frame::Valid { .. } => panic!("a damaged length passed the checksum"),
        }
    }

    fn arb_record() -> impl Strategy<Value = (bool, u64, Vec<u8>, Vec<u8>)> {
        (
            any::<bool>(),
            prop_oneof![Just(0u64), any::<u64>()],
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
    }

    proptest! {
        #[test]
        fn codec_round_trips_random_batches(
            first_seqno in 0u64..u64::MAX / 2,
            parts in proptest::collection::vec(arb_record(), 1..20),
        ) {
            let records: Vec<Record> = parts
                .iter()
                .enumerate()
                .map(|(i, (put, expires_at, key, value))| {
                    let kind = if *put { Kind::Put } else { Kind::Delete };
                    record(first_seqno + i as u64, kind, key, value, *expires_at)
                })
                .collect();
            let bytes = encoded(&records);
            prop_assert_eq!(decode_batch(&bytes).unwrap(), records);
        }

        #[test]
        fn decode_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(records) = decode_batch(&bytes) {
                // Whatever decodes re-encodes to the same bytes: the codec is canonical.
                prop_assert_eq!(encoded(&records), bytes);
            }
        }

        #[test]
        fn decode_never_panics_on_mutated_batches(
            parts in proptest::collection::vec(arb_record(), 1..5),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let records: Vec<Record> = parts
                .iter()
                .enumerate()
                .map(|(i, (_, _, key, value))| record(i as u64, Kind::Put, key, value, 0))
                .collect();
            let mut bytes = encoded(&records);
            for (at, byte) in flips {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
            let _ = decode_batch(&bytes);
        }
    }
}
