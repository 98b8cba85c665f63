//! Fuzz targets for the engine's decoders: WAL batches and segments, table blocks, whole
//! tables, and the manifest.
//!
//! Every decoder checks a CRC before it parses, so random bytes almost never get past the
//! checksum. Each target's first input byte therefore holds flags, one of which asks the
//! harness to *repair* the checksums of the (otherwise arbitrary) bytes before decoding: the
//! fuzzer then explores the parser behind the checksum too, i.e. crafted input and bugs that
//! wrote bad data with a good CRC. With the flag clear, the bytes go in untouched and the
//! checksum paths are what is fuzzed.
//!
//! Oracle, everywhere: no panic (overflow checks are on in fuzz builds), no unbounded
//! allocation (libFuzzer's `-malloc_limit_mb`), corrupt input is `Error::Corruption` (never
//! another error kind), and what decodes is self-consistent (round trips, re-opening after
//! recovery finds a clean state, lookups agree with iteration).

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::batch::Record;
use strata_engine::fs::FileSystem;
use strata_engine::manifest::{Manifest, NewTable, VersionEdit, CURRENT_FILE};
use strata_engine::table::block::{Block, BlockIterator};
use strata_engine::table::{cmp_internal, BlockHandle, Table, TableMeta, FOOTER_BYTES};
use strata_engine::wal::{self, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use strata_engine::Error;

use crate::memfs::MemFs;

/// Flag bit (first input byte): recompute every checksum before decoding.
pub const FLAG_REPAIR_CRC: u8 = 1;
/// Flag bit for `wal_replay`: prepend a valid segment header to every segment.
pub const FLAG_WAL_HEADER: u8 = 2;
/// Flag bit for `wal_replay`: replay from segment 2 (segment 1 is older than the log number).
pub const FLAG_WAL_SKIP_FIRST: u8 = 4;
/// Flag bit for `manifest`: take `CURRENT` from the input (up to the first `\n`) instead of
/// writing a valid one.
pub const FLAG_MANIFEST_RAW_CURRENT: u8 = 2;
/// Flag bit for `manifest`: leave crash debris (an older manifest, `CURRENT.tmp`) around.
pub const FLAG_MANIFEST_DEBRIS: u8 = 4;

/// Separates the segments of a `wal_replay` input.
pub const SEGMENT_SEPARATOR: &[u8] = b"~SEGMENT~";
/// Most segments one `wal_replay` input makes; the rest of the input joins the last one.
pub const SEGMENTS_MAX: usize = 8;
/// Most records whose lookups are cross-checked per input, so one input stays fast.
const CROSS_CHECKS_MAX: usize = 64;

/// The manifest number every `manifest` input is written under.
const MANIFEST_NAME: &str = "MANIFEST-000001";

fn assert_corruption(e: &Error, what: &str) {
    assert!(
        matches!(e, Error::Corruption { .. }),
        "{what}: corrupt input must be Error::Corruption, got {e:?}"
    );
}

fn crc32_le(bytes: &[u8]) -> [u8; 4] {
    crc32fast::hash(bytes).to_le_bytes()
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// Splits off the flags byte.
fn flags_and_rest(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(f, rest)| (*f, rest))
}

// ---------------------------------------------------------------------------------------------
// WAL

/// `wal::decode_batch` on raw bytes: never panics; whatever decodes re-encodes to exactly the
/// input (the format has one encoding per batch).
pub fn wal_decode_batch(data: &[u8]) {
    let Ok(records) = wal::decode_batch(data) else {
        return;
    };
    assert!(!records.is_empty(), "a decoded batch holds a record");
    let mut encoded = Vec::with_capacity(data.len());
    wal::encode_batch(&records, &mut encoded);
    assert_eq!(
        encoded, data,
        "decode_batch accepted a non-canonical encoding"
    );
}

/// Recomputes the CRC of every complete frame of a segment (header assumed present).
fn repair_wal_frames(segment: &mut [u8]) {
    let mut pos = SEGMENT_HEADER_BYTES;
    while let Some(len) = u32_at(segment, pos) {
        let len = len as usize;
        let Some(end) = (pos + FRAME_HEADER_BYTES).checked_add(len) else {
            return;
        };
        if end > segment.len() {
            return;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&segment[pos..pos + 4]);
        hasher.update(&segment[pos + FRAME_HEADER_BYTES..end]);
        segment[pos + 4..pos + 8].copy_from_slice(&hasher.finalize().to_le_bytes());
        pos = end;
    }
}

/// The segments a `wal_replay` input describes, after the flags are applied.
pub fn wal_segments(flags: u8, rest: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut remaining = rest;
    while parts.len() + 1 < SEGMENTS_MAX {
        let Some(at) = find(remaining, SEGMENT_SEPARATOR) else {
            break;
        };
        parts.push(&remaining[..at]);
        remaining = &remaining[at + SEGMENT_SEPARATOR.len()..];
    }
    parts.push(remaining);
    parts
        .into_iter()
        .map(|part| {
            let mut segment = Vec::with_capacity(SEGMENT_HEADER_BYTES + part.len());
            if flags & FLAG_WAL_HEADER != 0 {
                segment.extend_from_slice(&wal::segment_header());
            }
            segment.extend_from_slice(part);
            if flags & FLAG_REPAIR_CRC != 0 {
                repair_wal_frames(&mut segment);
            }
            segment
        })
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Replays the WAL in `dir`, checking what `replay` promises of every batch it hands out.
fn replay_checked(
    fs: &MemFs,
    dir: &Path,
    min_segment_id: u64,
) -> strata_engine::Result<(wal::RecoveryReport, Vec<Record>)> {
    let mut replayed = Vec::new();
    let mut batches = 0u64;
    let report = wal::replay(fs, dir, min_segment_id, &mut |batch| {
        assert!(!batch.is_empty(), "replay hands out non-empty batches");
        for pair in batch.windows(2) {
            assert_eq!(
                pair[0].seqno.checked_add(1),
                Some(pair[1].seqno),
                "seqnos within a batch are consecutive"
            );
        }
        if let (Some(last), Some(first)) = (replayed.last(), batch.first()) {
            let (last, first): (&Record, &Record) = (last, first);
            assert!(
                first.seqno > last.seqno,
                "seqnos strictly increase across batches"
            );
        }
        batches += 1;
        replayed.extend(batch);
        Ok(())
    })?;
    assert_eq!(report.records, batches, "the report counts every batch");
    Ok((report, replayed))
}

/// `wal::replay` over segments built from the input (see [`wal_segments`]).
///
/// Checks: errors are `Corruption`; replayed seqnos strictly increase; only the last
/// segment is ever truncated; replaying again after recovery succeeds with the same records
/// and nothing more to cut (recovery leaves a clean log).
pub fn wal_replay(data: &[u8]) {
    let Some((flags, rest)) = flags_and_rest(data) else {
        return;
    };
    let fs = MemFs::new();
    let dir = Path::new("/wal");
    fs.create_dir_all(dir).expect("in-memory mkdir");
    let segments = wal_segments(flags, rest);
    let ids: Vec<u64> = (1..=segments.len() as u64).collect();
    for (id, segment) in ids.iter().zip(&segments) {
        fs.put(&wal::segment_path(dir, *id), segment);
    }
    let min_segment_id = if flags & FLAG_WAL_SKIP_FIRST != 0 {
        2
    } else {
        0
    };

    let (report, records) = match replay_checked(&fs, dir, min_segment_id) {
        Ok(ok) => ok,
        Err(e) => {
            assert_corruption(&e, "wal::replay");
            // A refused log is left as it was: recovery must not destroy evidence.
            for (id, segment) in ids.iter().zip(&segments) {
                assert_eq!(
                    fs.get(&wal::segment_path(dir, *id)).as_deref(),
                    Some(&segment[..]),
                    "replay changed segment {id} and then failed"
                );
            }
            return;
        }
    };
    if let Some(t) = &report.truncated {
        assert_eq!(
            Some(&t.segment_id),
            ids.last(),
            "only the last segment may be truncated"
        );
        let len = fs
            .get(&wal::segment_path(dir, t.segment_id))
            .expect("segment still exists")
            .len() as u64;
        assert_eq!(len, t.offset, "the segment was cut where the report says");
    }
    if let Some((segment_id, offset)) = report.reserved_tail {
        assert_eq!(
            Some(&segment_id),
            ids.last(),
            "only the last segment may end in a reservation"
        );
        let segment = fs
            .get(&wal::segment_path(dir, segment_id))
            .expect("segment still exists");
        assert_eq!(segment.len() as u64, offset, "the reservation was cut");
    }

    let (again, records_again) = replay_checked(&fs, dir, min_segment_id)
        .unwrap_or_else(|e| panic!("replaying a recovered log failed: {e}"));
    assert_eq!(
        records_again, records,
        "a second replay sees the same records"
    );
    if let Some(t) = &again.truncated {
        assert_eq!(
            t.dropped_bytes, 0,
            "a second replay found more to truncate: {t:?}"
        );
    }
    assert_eq!(again.reserved_tail, None, "a second replay found zeros to cut");
}

// ---------------------------------------------------------------------------------------------
// Table blocks

/// Overwrites the last four bytes of `block` with the CRC32 of the rest.
fn repair_block_crc(block: &mut [u8]) {
    if let Some(payload_len) = block.len().checked_sub(4) {
        let crc = crc32_le(&block[..payload_len]);
        block[payload_len..].copy_from_slice(&crc);
    }
}

/// One decoded entry of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BlockEntry {
    key: Vec<u8>,
    seqno: u64,
    value: Vec<u8>,
}

/// Walks a block from its first entry; `None` if an entry fails to decode.
fn block_entries(block: &Block) -> Option<Vec<BlockEntry>> {
    let mut it = block.iter();
    it.seek_to_first().ok()?;
    let mut entries = Vec::new();
    // Every entry takes at least one byte, so this loop ends; the bound is a backstop.
    while it.is_valid() && entries.len() <= block.encoded_bytes() {
        entries.push(BlockEntry {
            key: it.key().to_vec(),
            seqno: it.seqno(),
            value: it.value().to_vec(),
        });
        it.advance().ok()?;
    }
    assert!(
        !it.is_valid(),
        "a block yielded more entries than it has bytes"
    );
    Some(entries)
}

fn strictly_ordered(entries: &[BlockEntry]) -> bool {
    entries
        .windows(2)
        .all(|p| cmp_internal(&p[0].key, p[0].seqno, &p[1].key, p[1].seqno) == Ordering::Less)
}

/// `Block::decode` and a walk over its entries. When the entries decode, are in order and
/// the restart points pass `Block::check_restarts`, seeking to each entry's internal key
/// must land on that entry.
pub fn table_block(data: &[u8]) {
    let Some((flags, rest)) = flags_and_rest(data) else {
        return;
    };
    let mut raw = rest.to_vec();
    if flags & FLAG_REPAIR_CRC != 0 {
        repair_block_crc(&mut raw);
    }
    let Ok(block) = Block::decode(Bytes::from(raw)) else {
        return;
    };
    let Some(entries) = block_entries(&block) else {
        return;
    };
    assert_eq!(entries.is_empty(), block.is_empty());
    // `decode` does not check that restart offsets sit at entry starts (that would cost a
    // walk per read); `check_restarts` does, and `Table::verify` relies on it. Only a block
    // that passes it is promised correct seeks.
    let restarts_ok = block.check_restarts().is_ok();
    if !restarts_ok || !strictly_ordered(&entries) {
        return;
    }
    let mut it = BlockIterator::new(block.clone());
    for e in entries.iter().take(CROSS_CHECKS_MAX) {
        // Every entry decodes and every restart point is a whole-key entry start, so a
        // seek reads nothing the walk did not.
        it.seek(&e.key, e.seqno)
            .unwrap_or_else(|e| panic!("seek in a checked block failed: {e:?}"));
        assert!(it.is_valid(), "seek to an existing entry found nothing");
        assert_eq!(
            (it.key(), it.seqno(), it.value()),
            (&e.key[..], e.seqno, &e.value[..]),
            "seek landed on the wrong entry"
        );
    }
    if let Some(last) = entries.last() {
        if it.seek(&last.key, 0).is_ok() && last.seqno > 0 {
            // (key, 0) sorts after every version of `key` but the seqno-0 one.
            assert!(!it.is_valid(), "seek past the last entry found one");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Whole tables

fn handle_at(data: &[u8], at: usize) -> Option<BlockHandle> {
    BlockHandle::decode(data.get(at..at + strata_engine::table::BLOCK_HANDLE_BYTES)?)
}

/// Repairs the CRC of the block `h` points at, if it lies inside the file.
fn repair_handle(file: &mut [u8], h: BlockHandle) {
    let (Ok(start), Ok(end)) = (usize::try_from(h.offset), usize::try_from(h.end())) else {
        return;
    };
    if end <= file.len() {
        repair_block_crc(&mut file[start..end]);
    }
}

/// Recomputes the CRC of the footer, of the blocks it points at, and of every data block
/// the (repaired) index points at.
fn repair_table(file: &mut [u8]) {
    let Some(footer_at) = file.len().checked_sub(FOOTER_BYTES) else {
        return;
    };
    repair_block_crc(&mut file[footer_at..]);
    let handles: Vec<BlockHandle> = (0..3)
        .filter_map(|i| {
            handle_at(
                file,
                footer_at + i * strata_engine::table::BLOCK_HANDLE_BYTES,
            )
        })
        .collect();
    for &h in &handles {
        repair_handle(file, h);
    }
    // The index is the first handle of the footer.
    let Some(&index) = handles.first() else {
        return;
    };
    let (Ok(start), Ok(end)) = (usize::try_from(index.offset), usize::try_from(index.end())) else {
        return;
    };
    if end > file.len() {
        return;
    }
    let Ok(block) = Block::decode(Bytes::copy_from_slice(&file[start..end])) else {
        return;
    };
    let mut it = block.iter();
    let mut data_handles = Vec::new();
    if it.seek_to_first().is_ok() {
        while it.is_valid() && data_handles.len() <= block.encoded_bytes() {
            if let Some(h) = BlockHandle::decode(it.value()) {
                data_handles.push(h);
            }
            if it.advance().is_err() {
                break;
            }
        }
    }
    for h in data_handles {
        repair_handle(file, h);
    }
}

/// `Table::from_bytes`, then `verify`, a full iteration and point lookups.
///
/// Every error is `Corruption`. When `verify` passes, the table is trusted: iteration must
/// yield exactly the verified number of records in strict internal-key order without error,
/// `get` must return the newest version visible at each record's seqno, `seek` must land on
/// a key's newest version, and a key that is not in the table must not be found.
pub fn table(data: &[u8]) {
    let Some((flags, rest)) = flags_and_rest(data) else {
        return;
    };
    let mut file = rest.to_vec();
    if flags & FLAG_REPAIR_CRC != 0 {
        repair_table(&mut file);
    }
    let table = match Table::from_bytes(PathBuf::from("/fuzz.sst"), Bytes::from(file)) {
        Ok(t) => Arc::new(t),
        Err(e) => return assert_corruption(&e, "Table::from_bytes"),
    };
    let verified = table.verify();
    if let Err(e) = &verified {
        assert_corruption(e, "Table::verify");
    }

    let mut it = table.iter();
    let mut records = Vec::new();
    let iterated = loop {
        match it.next_record() {
            Ok(Some(r)) => records.push(r),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
        assert!(
            records.len() as u64 <= table.file_bytes(),
            "a table yielded more records than it has bytes"
        );
    };
    if let Err(e) = &iterated {
        assert_corruption(e, "TableIterator::next_record");
        // The failure sticks until the next seek.
        let again = it.next_record();
        assert!(again.is_err(), "an iterator error did not repeat");
    }
    // Lookups on a damaged table may fail, but never panic or return a foreign key.
    for r in records.iter().take(CROSS_CHECKS_MAX) {
        match table.get(&r.key, u64::MAX) {
            Ok(Some(found)) => assert_eq!(found.key, r.key, "get returned another key"),
            Ok(None) => {}
            Err(e) => assert_corruption(&e, "Table::get"),
        }
    }

    let Ok(count) = verified else {
        return;
    };
    iterated.unwrap_or_else(|e| panic!("iterating a verified table failed: {e}"));
    assert_eq!(records.len() as u64, count, "iteration and verify disagree");
    for p in records.windows(2) {
        assert_eq!(
            cmp_internal(&p[0].key, p[0].seqno, &p[1].key, p[1].seqno),
            Ordering::Less,
            "records of a verified table out of order"
        );
    }
    check_meta_bounds(table.meta(), &records);
    for (i, r) in records.iter().enumerate().take(CROSS_CHECKS_MAX) {
        let found = table
            .get(&r.key, r.seqno)
            .unwrap_or_else(|e| panic!("get on a verified table failed: {e}"));
        assert_eq!(found.as_ref(), Some(r), "get(key, seqno) missed the record");
        let newest = records[..=i]
            .iter()
            .rev()
            .take_while(|x| x.key == r.key)
            .last()
            .expect("r itself");
        let mut seek = table.iter();
        seek.seek(&r.key).expect("seek on a verified table");
        assert_eq!(
            seek.next_record().expect("read after seek").as_ref(),
            Some(newest),
            "seek did not land on the newest version"
        );
        let mut absent = r.key.to_vec();
        absent.push(0);
        if records.iter().all(|x| x.key[..] != absent[..]) {
            assert_eq!(
                table
                    .get(&absent, u64::MAX)
                    .expect("get on a verified table"),
                None,
                "found a key that is not in the table"
            );
        }
    }
}

fn check_meta_bounds(meta: &TableMeta, records: &[Record]) {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return;
    };
    assert_eq!(meta.smallest_key, first.key);
    assert_eq!(meta.largest_key, last.key);
    assert_eq!(meta.entries, records.len() as u64);
}

// ---------------------------------------------------------------------------------------------
// Manifest

/// Recomputes the CRC of every complete frame of a manifest (`len · crc(len ‖ payload) ·
/// payload`).
fn repair_manifest_frames(data: &mut [u8]) {
    let mut pos = 0;
    while let Some(len) = u32_at(data, pos) {
        let Some(end) = (pos + 8).checked_add(len as usize) else {
            return;
        };
        if end > data.len() {
            return;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&data[pos..pos + 4]);
        hasher.update(&data[pos + 8..end]);
        data[pos + 4..pos + 8].copy_from_slice(&hasher.finalize().to_le_bytes());
        pos = end;
    }
}

/// The files a `manifest` input describes: (`CURRENT`, the manifest).
pub fn manifest_files(flags: u8, rest: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (current, manifest) = if flags & FLAG_MANIFEST_RAW_CURRENT != 0 {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        (rest[..end].to_vec(), &rest[end..])
    } else {
        (format!("{MANIFEST_NAME}\n").into_bytes(), rest)
    };
    let mut manifest = manifest.to_vec();
    if flags & FLAG_MANIFEST_REPAIR_FRAMES != 0 {
        repair_manifest_frames(&mut manifest);
    }
    (current, manifest)
}

/// Same bit as [`FLAG_REPAIR_CRC`], named for the manifest's frames.
const FLAG_MANIFEST_REPAIR_FRAMES: u8 = FLAG_REPAIR_CRC;

/// `Manifest::open` over a `CURRENT` and a manifest built from the input.
///
/// Checks: errors are `Corruption` (or NotFound when `CURRENT` names a missing file); after a
/// successful open, crash debris is gone, a new edit can be logged, and reopening yields the
/// same state plus that edit with nothing left to truncate.
pub fn manifest(data: &[u8]) {
    let Some((flags, rest)) = flags_and_rest(data) else {
        return;
    };
    let (current, manifest_bytes) = manifest_files(flags, rest);
    let memfs = MemFs::new();
    let dir = Path::new("/db");
    memfs.put(&dir.join(CURRENT_FILE), &current);
    memfs.put(&dir.join(MANIFEST_NAME), &manifest_bytes);
    if flags & FLAG_MANIFEST_DEBRIS != 0 {
        memfs.put(&dir.join("MANIFEST-000000"), &manifest_bytes);
        memfs.put(&dir.join("CURRENT.tmp"), b"MANIFEST-000002\n");
    }
    let fs: Arc<dyn FileSystem> = Arc::new(memfs.clone());

    let (mut manifest, recovery) = match Manifest::open(&fs, dir) {
        Ok(ok) => ok,
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => return assert_corruption(&e, "Manifest::open"),
    };
    assert!(
        recovery.edits >= 1,
        "an opened manifest holds its snapshot edit"
    );
    let live = format!("MANIFEST-{:06}", manifest.number());
    let names = memfs.list(dir).expect("list");
    assert!(
        names.iter().all(|n| n == CURRENT_FILE || *n == live),
        "crash debris survived the open: {names:?}"
    );

    let state = manifest.state().clone();
    // Reopening a recovered manifest finds the same state and nothing to truncate.
    drop(manifest);
    let (reopened, again) = Manifest::open(&fs, dir)
        .unwrap_or_else(|e| panic!("reopening a recovered manifest failed: {e}"));
    assert_eq!(reopened.state(), &state, "reopen changed the state");
    assert_eq!(again.truncated, None, "reopen truncated again");
    assert_eq!(again.edits, recovery.edits);
    manifest = reopened;

    // The counters can be at their limits in crafted input; only log an edit that fits.
    let Some(id) = (state.next_table_id < u64::MAX).then_some(state.next_table_id) else {
        return;
    };
    if state.tables.contains_key(&id) {
        return;
    }
    let edit = VersionEdit {
        added: vec![NewTable {
            id,
            level: 0,
            meta: TableMeta {
                file_bytes: 1,
                smallest_key: Bytes::from_static(b"a"),
                largest_key: Bytes::from_static(b"a"),
                min_seqno: 1,
                max_seqno: 1,
                entries: 1,
                ..TableMeta::default()
            },
        }],
        ..VersionEdit::default()
    };
    manifest
        .log_and_apply(&edit)
        .unwrap_or_else(|e| panic!("logging an edit after recovery failed: {e}"));
    let expected = manifest.state().clone();
    assert!(expected.tables.contains_key(&id));
    drop(manifest);
    let (reopened, _) =
        Manifest::open(&fs, dir).unwrap_or_else(|e| panic!("reopening after an edit failed: {e}"));
    assert_eq!(
        reopened.state(),
        &expected,
        "the logged edit did not survive"
    );
}
