//! The manifest: an append-only log of fsynced version edits naming the live tables.
//!
//! Files (all in the data directory, layout in `docs/design.md`):
//!
//! - `MANIFEST-{n:06}`: frames `len u32 LE · crc32 u32 LE (over len and payload) · payload`,
//!   one [`VersionEdit`] per frame. The first frame is a snapshot of the whole state and
//!   carries the format version.
//! - `CURRENT`: `MANIFEST-{n:06}\n`, naming the live manifest. Replaced atomically
//!   (`CURRENT.tmp`, fsync, rename, fsync the directory).
//!
//! An edit takes effect only once it is fsynced ([`Manifest::log_and_apply`] returns).
//! Recovery truncates a torn last frame; damage before it is `Error::Corruption`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::fs::{FileSystem, WritableFile};
use crate::table::TableMeta;

/// Format version written in the snapshot edit that starts every manifest file.
pub const FORMAT_VERSION: u32 = 1;
/// Largest payload of one manifest frame, in bytes. Bounds what recovery believes a length
/// field (a larger one is corruption, not a torn tail) and what a snapshot may hold.
pub const EDIT_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Once the manifest file grows past this size, in bytes, it is replaced by a new one
/// holding a single snapshot edit.
pub const MANIFEST_ROLL_BYTES: u64 = 4 * 1024 * 1024;
/// Name of the file that names the live manifest.
pub const CURRENT_FILE: &str = "CURRENT";
const CURRENT_TMP_FILE: &str = "CURRENT.tmp";
const MANIFEST_PREFIX: &str = "MANIFEST-";

/// Bytes of a frame header: length and CRC.
const FRAME_HEADER_BYTES: usize = 8;

const TAG_FORMAT_VERSION: u8 = 1;
const TAG_LOG_NUMBER: u8 = 2;
const TAG_NEXT_TABLE_ID: u8 = 3;
const TAG_LAST_SEQNO: u8 = 4;
const TAG_ADD_TABLE: u8 = 5;
const TAG_REMOVE_TABLE: u8 = 6;

/// File name of manifest number `n`.
pub fn manifest_file_name(n: u64) -> String {
    format!("{MANIFEST_PREFIX}{n:06}")
}

fn parse_manifest_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(MANIFEST_PREFIX)?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A table added by an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTable {
    pub id: u64,
    pub level: usize,
    pub meta: TableMeta,
}

/// One change to the set of live tables and the recovery counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    pub added: Vec<NewTable>,
    pub removed: Vec<u64>,
    /// WAL segments with an id below this are obsolete: their records are in tables.
    pub log_number: Option<u64>,
    /// Table ids below this may have been used.
    pub next_table_id: Option<u64>,
    /// Every seqno at or below this may have been used.
    pub last_seqno: Option<u64>,
}

/// A live table as the manifest knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTable {
    pub level: usize,
    pub meta: TableMeta,
}

/// The state the edits add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestState {
    pub tables: BTreeMap<u64, LiveTable>,
    pub log_number: u64,
    pub next_table_id: u64,
    pub last_seqno: u64,
}

impl ManifestState {
    /// Applies `edit`, or says why it does not fit this state (an edit removing an
    /// unknown table or adding a known one).
    fn apply(&mut self, edit: &VersionEdit) -> std::result::Result<(), String> {
        for id in &edit.removed {
            if self.tables.remove(id).is_none() {
                return Err(format!("edit removes unknown table {id}"));
            }
        }
        for t in &edit.added {
            let live = LiveTable {
                level: t.level,
                meta: t.meta.clone(),
            };
            if self.tables.insert(t.id, live).is_some() {
                return Err(format!("edit adds table {} twice", t.id));
            }
            // Read from disk: an id with no successor is corruption, not an overflow panic.
            let after = t.id.checked_add(1).ok_or_else(|| {
                format!(
                    "edit adds table id {} and leaves no id for the next table",
                    t.id
                )
            })?;
            self.next_table_id = self.next_table_id.max(after);
            self.last_seqno = self.last_seqno.max(t.meta.max_seqno);
        }
        // The counters only move forward, whatever order edits were made in.
        if let Some(n) = edit.log_number {
            self.log_number = self.log_number.max(n);
        }
        if let Some(n) = edit.next_table_id {
            self.next_table_id = self.next_table_id.max(n);
        }
        if let Some(n) = edit.last_seqno {
            self.last_seqno = self.last_seqno.max(n);
        }
        Ok(())
    }

    /// One edit that rebuilds this whole state from nothing.
    pub fn snapshot_edit(&self) -> VersionEdit {
        VersionEdit {
            added: self
                .tables
                .iter()
                .map(|(&id, t)| NewTable {
                    id,
                    level: t.level,
                    meta: t.meta.clone(),
                })
                .collect(),
            removed: Vec::new(),
            log_number: Some(self.log_number),
            next_table_id: Some(self.next_table_id),
            last_seqno: Some(self.last_seqno),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Edit codec

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, u32::try_from(b.len()).expect("key longer than 4 GiB"));
    out.extend_from_slice(b);
}

fn put_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        None => out.extend_from_slice(&[0; 9]),
        Some(v) => {
            out.push(1);
            put_u64(out, v);
        }
    }
}

/// Encodes `edit`; a snapshot edit (the first of a file) also carries the format version.
fn encode_edit(edit: &VersionEdit, snapshot: bool, out: &mut Vec<u8>) {
    if snapshot {
        out.push(TAG_FORMAT_VERSION);
        put_u32(out, FORMAT_VERSION);
    }
    for (tag, value) in [
        (TAG_LOG_NUMBER, edit.log_number),
        (TAG_NEXT_TABLE_ID, edit.next_table_id),
        (TAG_LAST_SEQNO, edit.last_seqno),
    ] {
        if let Some(v) = value {
            out.push(tag);
            put_u64(out, v);
        }
    }
    for id in &edit.removed {
        out.push(TAG_REMOVE_TABLE);
        put_u64(out, *id);
    }
    for t in &edit.added {
        out.push(TAG_ADD_TABLE);
        put_u64(out, t.id);
        put_u32(out, u32::try_from(t.level).expect("level fits in u32"));
        let m = &t.meta;
        put_u64(out, m.file_bytes);
        put_bytes(out, &m.smallest_key);
        put_bytes(out, &m.largest_key);
        put_u64(out, m.min_seqno);
        put_u64(out, m.max_seqno);
        put_u64(out, m.entries);
        put_u64(out, m.tombstones);
        put_u64(out, m.expiring_entries);
        put_opt_u64(out, m.min_expires_at);
        put_opt_u64(out, m.max_expires_at);
    }
}

/// Reads fields off an edit payload; every failure is a description of the damage.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(format!(
                "edit ends early: wanted {n} bytes, {} left",
                self.buf.len()
            ));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn bytes(&mut self) -> std::result::Result<Bytes, String> {
        let n = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }
    fn opt_u64(&mut self) -> std::result::Result<Option<u64>, String> {
        let flag = self.u8()?;
        let v = self.u64()?;
        match flag {
            0 if v == 0 => Ok(None),
            1 => Ok(Some(v)),
            _ => Err(format!("bad option flag {flag}")),
        }
    }
}

/// Decodes an edit payload. Returns the edit and whether it carried a format version
/// (i.e. is a snapshot edit).
fn decode_edit(payload: &[u8]) -> std::result::Result<(VersionEdit, bool), String> {
    let mut r = Reader { buf: payload };
    let mut edit = VersionEdit::default();
    let mut has_version = false;
    while !r.buf.is_empty() {
        match r.u8()? {
            TAG_FORMAT_VERSION => {
                let v = r.u32()?;
                if v != FORMAT_VERSION {
                    return Err(format!(
                        "manifest format version {v}, this build reads {FORMAT_VERSION}"
                    ));
                }
                has_version = true;
            }
            TAG_LOG_NUMBER => edit.log_number = Some(r.u64()?),
            TAG_NEXT_TABLE_ID => edit.next_table_id = Some(r.u64()?),
            TAG_LAST_SEQNO => edit.last_seqno = Some(r.u64()?),
            TAG_REMOVE_TABLE => edit.removed.push(r.u64()?),
            TAG_ADD_TABLE => {
                let id = r.u64()?;
                let level = r.u32()? as usize;
                let meta = TableMeta {
                    file_bytes: r.u64()?,
                    smallest_key: r.bytes()?,
                    largest_key: r.bytes()?,
                    min_seqno: r.u64()?,
                    max_seqno: r.u64()?,
                    entries: r.u64()?,
                    tombstones: r.u64()?,
                    expiring_entries: r.u64()?,
                    min_expires_at: r.opt_u64()?,
                    max_expires_at: r.opt_u64()?,
                };
                edit.added.push(NewTable { id, level, meta });
            }
            tag => return Err(format!("unknown edit tag {tag}")),
        }
    }
    Ok((edit, has_version))
}

/// Frames `payload` as `len u32 LE · crc32 u32 LE · payload`; the CRC covers the length
/// bytes too, so a damaged length is caught.
fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("edit checked against EDIT_BYTES_MAX");
    let len_bytes = len.to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(payload);
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

/// What parsing a manifest file found.
struct Parsed {
    payloads: Vec<(u64, Vec<u8>)>,
    /// Length of the valid prefix (every complete, intact frame).
    valid_bytes: u64,
    /// Why the tail after `valid_bytes` was rejected, if there is one.
    torn: Option<String>,
}

/// Splits a manifest file into frames. Only the last frame may be damaged (a torn
/// write); a bad frame followed by more bytes is corruption.
fn parse_frames(path: &Path, data: &[u8]) -> Result<Parsed> {
    let mut payloads = Vec::new();
    let mut pos = 0usize;
    let torn = loop {
        let rest = &data[pos..];
        if rest.is_empty() {
            break None;
        }
        if rest.len() < FRAME_HEADER_BYTES {
            break Some(format!("incomplete frame header ({} bytes)", rest.len()));
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        if len > EDIT_BYTES_MAX {
            let reason = format!("frame length {len} exceeds {EDIT_BYTES_MAX}");
            break Some(torn_or_corrupt(path, data, pos, reason)?);
        }
        let end = FRAME_HEADER_BYTES + len;
        if rest.len() < end {
            break Some(format!(
                "incomplete frame: {len} payload bytes announced, {} present",
                rest.len() - FRAME_HEADER_BYTES
            ));
        }
        let payload = &rest[FRAME_HEADER_BYTES..end];
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&rest[0..4]);
        hasher.update(payload);
        if hasher.finalize() != crc {
            let reason = "checksum mismatch in the last frame".to_string();
            break Some(torn_or_corrupt(path, data, pos, reason)?);
        }
        payloads.push((pos as u64, payload.to_vec()));
        pos += end;
    };
    Ok(Parsed {
        payloads,
        valid_bytes: pos as u64,
        torn,
    })
}

/// Most payload bytes [`torn_or_corrupt`] checksums while looking for an intact frame after
/// damage. Past it the damage is called corruption: refusing to open is safe, dropping an
/// intact edit is not.
const RESYNC_CRC_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Decides whether damage found at `pos` is a torn last edit (returns the reason to report)
/// or corruption (an `Err`).
///
/// Every edit is fsynced before the next one is appended, so only the last frame can be
/// torn, and a tear may garble any of its bytes, its length field included. The damage is
/// therefore a torn tail exactly when no intact frame (a plausible length and a matching
/// checksum) starts anywhere after `pos` — the same rule the WAL uses.
fn torn_or_corrupt(path: &Path, data: &[u8], pos: usize, reason: String) -> Result<String> {
    let mut crc_budget = RESYNC_CRC_BYTES_MAX;
    let mut candidate = pos + 1;
    while candidate + FRAME_HEADER_BYTES <= data.len() {
        let rest = &data[candidate..];
        let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let end = FRAME_HEADER_BYTES.saturating_add(len);
        if len <= EDIT_BYTES_MAX && end <= rest.len() {
            if len > crc_budget {
                return Err(Error::corruption(
                    path,
                    pos as u64,
                    format!("{reason}, and too much data follows to tell a torn tail"),
                ));
            }
            crc_budget -= len;
            let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&rest[0..4]);
            hasher.update(&rest[FRAME_HEADER_BYTES..end]);
            if hasher.finalize() == crc {
                return Err(Error::corruption(
                    path,
                    pos as u64,
                    format!("{reason}, in a frame before the end of the manifest"),
                ));
            }
        }
        candidate += 1;
    }
    Ok(reason)
}

/// What opening the manifest found besides the state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestRecovery {
    /// Edits replayed (the snapshot edit included).
    pub edits: usize,
    /// Bytes of a torn last frame cut off the manifest, and why it was rejected.
    pub truncated: Option<(u64, String)>,
}

/// The live manifest file, open for appending edits. One writer at a time: callers
/// serialize `log_and_apply` (the Db holds it under a mutex).
pub struct Manifest {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    number: u64,
    file: Box<dyn WritableFile>,
    state: ManifestState,
    /// Set after a failed write: the file may end in a partial frame, so nothing more may
    /// be appended to it (a later frame after garbage would read as mid-file corruption).
    failed: bool,
    scratch: Vec<u8>,
}

impl Manifest {
    /// True if `dir` holds a `CURRENT` file (an existing database).
    pub fn exists(fs: &dyn FileSystem, dir: &Path) -> bool {
        fs.exists(&dir.join(CURRENT_FILE))
    }

    /// Creates manifest number 1 holding `state`, and `CURRENT` naming it.
    pub fn create(fs: &Arc<dyn FileSystem>, dir: &Path, state: ManifestState) -> Result<Manifest> {
        let (number, file) = write_snapshot_manifest(fs.as_ref(), dir, 1, &state)?;
        let manifest = Manifest {
            fs: Arc::clone(fs),
            dir: dir.to_path_buf(),
            number,
            file,
            state,
            failed: false,
            scratch: Vec::new(),
        };
        Ok(manifest)
    }

    /// Opens the manifest `CURRENT` names, replays its edits, truncates a torn last frame
    /// and deletes leftover manifests from an interrupted switch.
    pub fn open(fs: &Arc<dyn FileSystem>, dir: &Path) -> Result<(Manifest, ManifestRecovery)> {
        let number = current_manifest_number(fs.as_ref(), dir)?;
        let path = dir.join(manifest_file_name(number));
        let data = fs.read(&path)?;
        let log = decode_manifest(&path, &data)?;
        let truncated = match log.torn {
            Some((valid_bytes, reason)) => {
                let dropped = data.len() as u64 - valid_bytes;
                fs.truncate(&path, valid_bytes)?;
                Some((dropped, reason))
            }
            None => None,
        };
        remove_stale_manifests(fs.as_ref(), dir, number)?;
        let file = fs.open_append(&path)?;
        let recovery = ManifestRecovery {
            edits: log.edits.len(),
            truncated,
        };
        let state = log.state;
        let manifest = Manifest {
            fs: Arc::clone(fs),
            dir: dir.to_path_buf(),
            number,
            file,
            state,
            failed: false,
            scratch: Vec::new(),
        };
        Ok((manifest, recovery))
    }

    /// The state every durable edit adds up to.
    pub fn state(&self) -> &ManifestState {
        &self.state
    }

    /// Number of the live manifest file.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Appends `edit` and fsyncs it; only then applies it to [`Manifest::state`].
    /// Rolls over to a fresh manifest file when this one has grown past
    /// [`MANIFEST_ROLL_BYTES`].
    ///
    /// Panics if `edit` does not fit the state (removes an unknown table, re-adds a known
    /// one): the caller computed it from a stale view, a bug.
    ///
    /// On `Err` the edit may or may not be durable; the manifest refuses every later edit
    /// (`Error::Poisoned`) and the caller must treat the engine as poisoned: reopening
    /// recovers whichever state is on disk.
    pub fn log_and_apply(&mut self, edit: &VersionEdit) -> Result<()> {
        if self.failed {
            return Err(Error::Poisoned);
        }
        let mut next = self.state.clone();
        if let Err(reason) = next.apply(edit) {
            panic!("manifest edit does not fit the live state: {reason}");
        }
        let mut payload = std::mem::take(&mut self.scratch);
        payload.clear();
        encode_edit(edit, false, &mut payload);
        if payload.len() > EDIT_BYTES_MAX {
            self.scratch = payload;
            return Err(Error::InvalidArgument(format!(
                "manifest edit of {} bytes exceeds {EDIT_BYTES_MAX}",
                self.scratch.len()
            )));
        }
        let mut framed = Vec::with_capacity(payload.len() + FRAME_HEADER_BYTES);
        frame(&payload, &mut framed);
        self.scratch = payload;

        let result = self.file.append(&framed).and_then(|()| self.file.sync());
        if let Err(e) = result {
            self.failed = true;
            return Err(e);
        }
        self.state = next;
        if self.file.len() > MANIFEST_ROLL_BYTES {
            if let Err(e) = self.roll() {
                self.failed = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Writes the whole state as one snapshot edit into the next manifest file and
    /// switches `CURRENT` to it. A crash before the switch is durable leaves the old
    /// manifest live, which already holds every edit.
    fn roll(&mut self) -> Result<()> {
        let old = self.number;
        let (number, file) =
            write_snapshot_manifest(self.fs.as_ref(), &self.dir, old + 1, &self.state)?;
        self.number = number;
        self.file = file;
        // Best effort: a leftover is deleted on the next open.
        let _ = self.fs.remove_file(&self.dir.join(manifest_file_name(old)));
        Ok(())
    }
}

/// Writes `MANIFEST-{number}` holding one snapshot edit of `state`, makes it durable, then
/// points `CURRENT` at it. Returns the file, open for appending.
fn write_snapshot_manifest(
    fs: &dyn FileSystem,
    dir: &Path,
    number: u64,
    state: &ManifestState,
) -> Result<(u64, Box<dyn WritableFile>)> {
    let mut payload = Vec::new();
    encode_edit(&state.snapshot_edit(), true, &mut payload);
    if payload.len() > EDIT_BYTES_MAX {
        return Err(Error::InvalidArgument(format!(
            "manifest snapshot of {} bytes exceeds {EDIT_BYTES_MAX}",
            payload.len()
        )));
    }
    let mut framed = Vec::with_capacity(payload.len() + FRAME_HEADER_BYTES);
    frame(&payload, &mut framed);

    let name = manifest_file_name(number);
    let mut file = fs.create(&dir.join(&name))?;
    file.append(&framed)?;
    file.sync()?;
    // IMPORTANT: the new manifest's directory entry must be durable before CURRENT can
    // name it.
    fs.sync_dir(dir)?;

    let tmp = dir.join(CURRENT_TMP_FILE);
    let mut current = fs.create(&tmp)?;
    current.append(format!("{name}\n").as_bytes())?;
    current.sync()?;
    fs.rename(&tmp, &dir.join(CURRENT_FILE))?;
    // IMPORTANT: the switch is only durable once the directory is.
    fs.sync_dir(dir)?;
    Ok((number, file))
}

/// Deletes manifests other than `live` and a leftover `CURRENT.tmp`: crash debris of an
/// interrupted switch, never named by `CURRENT`.
fn remove_stale_manifests(fs: &dyn FileSystem, dir: &Path, live: u64) -> Result<()> {
    for name in fs.list(dir)? {
        let stale = match parse_manifest_file_name(&name) {
            Some(n) => n != live,
            None => name == CURRENT_TMP_FILE,
        };
        if stale {
            fs.remove_file(&dir.join(&name))?;
        }
    }
    Ok(())
}

/// One edit of a manifest file, as [`decode_manifest`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEdit {
    /// Offset of the edit's frame in the manifest file.
    pub offset: u64,
    /// True for the snapshot edit that starts every manifest file.
    pub snapshot: bool,
    pub edit: VersionEdit,
}

/// A whole manifest file, decoded read-only (for inspection tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestLog {
    pub edits: Vec<LoggedEdit>,
    /// The state the edits add up to: what [`Manifest::open`] would recover.
    pub state: ManifestState,
    /// A torn last frame that [`Manifest::open`] would cut off: its offset and why it was
    /// rejected.
    pub torn: Option<(u64, String)>,
}

/// The path of the manifest `CURRENT` names in `dir`. Reads only.
pub fn current_manifest_path(fs: &dyn FileSystem, dir: &Path) -> Result<PathBuf> {
    let number = current_manifest_number(fs, dir)?;
    Ok(dir.join(manifest_file_name(number)))
}

/// The number of the manifest `CURRENT` names in `dir`. Reads only.
fn current_manifest_number(fs: &dyn FileSystem, dir: &Path) -> Result<u64> {
    let current_path = dir.join(CURRENT_FILE);
    let current = fs.read(&current_path)?;
    std::str::from_utf8(&current)
        .ok()
        .and_then(|s| s.strip_suffix('\n'))
        .and_then(parse_manifest_file_name)
        .ok_or_else(|| Error::corruption(&current_path, 0, "CURRENT does not name a manifest"))
}

/// True if `name` is a manifest file name (`MANIFEST-` and at least 6 digits).
pub fn is_manifest_file_name(name: &str) -> bool {
    parse_manifest_file_name(name).is_some()
}

/// Decodes the bytes of a manifest file by the rules of [`Manifest::open`], without
/// touching any file: a torn last frame is reported, not cut. `path` names it in errors.
pub fn decode_manifest(path: &Path, data: &[u8]) -> Result<ManifestLog> {
    let parsed = parse_frames(path, data)?;
    let mut state = ManifestState::default();
    let mut edits = Vec::with_capacity(parsed.payloads.len());
    for (i, (offset, payload)) in parsed.payloads.iter().enumerate() {
        let (edit, snapshot) =
            decode_edit(payload).map_err(|reason| Error::corruption(path, *offset, reason))?;
        if (i == 0) != snapshot {
            let reason = if i == 0 {
                "first edit is not a snapshot edit"
            } else {
                "snapshot edit after the first frame"
            };
            return Err(Error::corruption(path, *offset, reason));
        }
        state
            .apply(&edit)
            .map_err(|reason| Error::corruption(path, *offset, reason))?;
        edits.push(LoggedEdit {
            offset: *offset,
            snapshot,
            edit,
        });
    }
    if edits.is_empty() {
        // CURRENT only ever names a manifest whose snapshot edit is synced.
        return Err(Error::corruption(
            path,
            0,
            "manifest holds no snapshot edit",
        ));
    }
    Ok(ManifestLog {
        edits,
        state,
        torn: parsed.torn.map(|reason| (parsed.valid_bytes, reason)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(smallest: &str, largest: &str, max_seqno: u64) -> TableMeta {
        TableMeta {
            file_bytes: 4096,
            smallest_key: Bytes::copy_from_slice(smallest.as_bytes()),
            largest_key: Bytes::copy_from_slice(largest.as_bytes()),
            min_seqno: 1,
            max_seqno,
            entries: 10,
            tombstones: 2,
            expiring_entries: 3,
            min_expires_at: Some(100),
            max_expires_at: None,
        }
    }

    fn add(id: u64, level: usize, max_seqno: u64) -> VersionEdit {
        VersionEdit {
            added: vec![NewTable {
                id,
                level,
                meta: meta("a", "z", max_seqno),
            }],
            ..VersionEdit::default()
        }
    }

    #[test]
    fn edit_codec_round_trips() {
        let edit = VersionEdit {
            added: vec![
                NewTable {
                    id: 7,
                    level: 0,
                    meta: meta("", "\u{ff}key", 9),
                },
                NewTable {
                    id: 8,
                    level: 3,
                    meta: TableMeta::default(),
                },
            ],
            removed: vec![1, 2],
            log_number: Some(4),
            next_table_id: Some(9),
            last_seqno: None,
        };
        let mut buf = Vec::new();
        encode_edit(&edit, false, &mut buf);
        assert_eq!(decode_edit(&buf).unwrap(), (edit.clone(), false));
        buf.clear();
        encode_edit(&edit, true, &mut buf);
        assert_eq!(decode_edit(&buf).unwrap(), (edit, true));
    }

    #[test]
    fn decode_rejects_truncation_and_unknown_tags() {
        let mut buf = Vec::new();
        encode_edit(&add(1, 0, 5), false, &mut buf);
        for cut in 1..buf.len() {
            assert!(decode_edit(&buf[..cut]).is_err(), "cut at {cut} decoded");
        }
        assert!(decode_edit(&[99]).is_err());
        let mut wrong_version = vec![TAG_FORMAT_VERSION];
        put_u32(&mut wrong_version, FORMAT_VERSION + 1);
        assert!(decode_edit(&wrong_version).unwrap_err().contains("version"));
    }

    #[test]
    fn state_apply_tracks_tables_and_counters() {
        let mut s = ManifestState::default();
        s.apply(&add(3, 0, 40)).unwrap();
        assert_eq!(s.next_table_id, 4);
        assert_eq!(s.last_seqno, 40);
        let edit = VersionEdit {
            added: vec![NewTable {
                id: 4,
                level: 1,
                meta: meta("a", "m", 40),
            }],
            removed: vec![3],
            log_number: Some(2),
            next_table_id: Some(10),
            last_seqno: Some(50),
        };
        s.apply(&edit).unwrap();
        assert_eq!(s.tables.keys().copied().collect::<Vec<_>>(), vec![4]);
        assert_eq!(s.tables[&4].level, 1);
        assert_eq!((s.log_number, s.next_table_id, s.last_seqno), (2, 10, 50));
        // Counters never move backwards.
        s.apply(&VersionEdit {
            log_number: Some(1),
            ..VersionEdit::default()
        })
        .unwrap();
        assert_eq!(s.log_number, 2);
        assert!(s.apply(&add(4, 0, 1)).is_err());
        assert!(s
            .apply(&VersionEdit {
                removed: vec![99],
                ..VersionEdit::default()
            })
            .is_err());

        let mut rebuilt = ManifestState::default();
        rebuilt.apply(&s.snapshot_edit()).unwrap();
        assert_eq!(rebuilt, s);
    }

    #[test]
    fn frames_parse_and_tail_rules() {
        let path = Path::new("m");
        let mut data = Vec::new();
        frame(b"first", &mut data);
        frame(b"second", &mut data);
        let whole = parse_frames(path, &data).unwrap();
        assert_eq!(whole.payloads.len(), 2);
        assert_eq!(whole.valid_bytes, data.len() as u64);
        assert!(whole.torn.is_none());

        // Any cut inside the last frame is a torn tail.
        let first_len = (FRAME_HEADER_BYTES + 5) as u64;
        for cut in first_len as usize + 1..data.len() {
            let p = parse_frames(path, &data[..cut]).unwrap();
            assert_eq!(p.payloads.len(), 1);
            assert_eq!(p.valid_bytes, first_len);
            assert!(p.torn.is_some());
        }
        // A flipped byte in the last frame is a torn tail too.
        let mut bad_tail = data.clone();
        *bad_tail.last_mut().unwrap() ^= 1;
        let p = parse_frames(path, &bad_tail).unwrap();
        assert_eq!((p.payloads.len(), p.valid_bytes), (1, first_len));
        // The same damage in the first frame, with a frame after it, is corruption.
        let mut bad_middle = data.clone();
        bad_middle[FRAME_HEADER_BYTES] ^= 1;
        assert!(matches!(
            parse_frames(path, &bad_middle),
            Err(Error::Corruption { offset: 0, .. })
        ));
        // An absurd length is corruption, not a tear.
        let mut huge = data.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_frames(path, &huge).is_err());
    }

    #[test]
    fn manifest_file_names() {
        assert_eq!(manifest_file_name(12), "MANIFEST-000012");
        assert_eq!(parse_manifest_file_name("MANIFEST-000012"), Some(12));
        assert_eq!(parse_manifest_file_name("MANIFEST-1234567"), Some(1234567));
        assert_eq!(parse_manifest_file_name("MANIFEST-12"), None);
        assert_eq!(parse_manifest_file_name("MANIFEST-00001x"), None);
        assert_eq!(parse_manifest_file_name("CURRENT"), None);
    }
}
