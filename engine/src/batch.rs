//! Write batches, write modes and the entry types shared by every layer.

use bytes::Bytes;

/// Largest key the engine accepts, in bytes.
pub const KEY_BYTES_MAX: usize = 8 * 1024;
/// Largest value the engine accepts, in bytes.
pub const VALUE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Most ops one batch may hold.
pub const BATCH_OPS_MAX: usize = 1024;

/// How one op of a batch treats the entry already stored under its key.
///
/// The check and the write happen atomically: no other batch commits between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteMode {
    /// Write only if no live entry exists; otherwise the batch fails with `Error::Conflict`.
    Insert,
    /// Create or replace. The previous entry (if any) is reported so callers can merge
    /// (e.g. keep the original creator).
    Upsert,
    /// Replace unconditionally, as if nothing had been stored before. The write does not
    /// read the entry it replaces, so it reports `None` as the previous entry whether or
    /// not one existed (use `Upsert` to learn it). With an `expect_seqno` guard the entry
    /// is read to check the guard and reported like `Upsert` does.
    Overwrite,
    /// Replace only if a live entry exists; otherwise the batch fails with `Error::NotFound`.
    Update,
    /// Remove a live entry; if none exists the batch fails with `Error::NotFound`.
    Delete,
}

/// One key's part of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub key: Bytes,
    pub mode: WriteMode,
    /// Ignored for `Delete`.
    pub value: Bytes,
    /// Unix seconds at which the entry stops being visible. `None` = never.
    pub expires_at: Option<u64>,
    /// Optimistic-concurrency guard: if set, the live entry under `key` must exist and carry
    /// exactly this seqno, else the batch fails with `Error::Conflict`.
    pub expect_seqno: Option<u64>,
}

impl Op {
    pub fn new(mode: WriteMode, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Op {
            key: key.into(),
            mode,
            value: value.into(),
            expires_at: None,
            expect_seqno: None,
        }
    }
    pub fn insert(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self::new(WriteMode::Insert, key, value)
    }
    pub fn upsert(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self::new(WriteMode::Upsert, key, value)
    }
    pub fn overwrite(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self::new(WriteMode::Overwrite, key, value)
    }
    pub fn update(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self::new(WriteMode::Update, key, value)
    }
    pub fn delete(key: impl Into<Bytes>) -> Self {
        Self::new(WriteMode::Delete, key, Bytes::new())
    }
    /// Sets `expires_at` (unix seconds).
    pub fn expires_at(mut self, expires_at: Option<u64>) -> Self {
        self.expires_at = expires_at;
        self
    }
    /// Requires the live entry to carry `seqno`.
    pub fn expect_seqno(mut self, seqno: u64) -> Self {
        self.expect_seqno = Some(seqno);
        self
    }
}

/// Several ops that commit all or nothing, as one WAL record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub ops: Vec<Op>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }
    pub fn with(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl From<Op> for WriteBatch {
    fn from(op: Op) -> Self {
        WriteBatch { ops: vec![op] }
    }
}

/// A live entry as returned by reads and as the "previous" of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Bytes,
    pub value: Bytes,
    pub expires_at: Option<u64>,
    /// Sequence number of the write that produced this entry (for `Op::expect_seqno`).
    pub seqno: u64,
}

/// Kind of a stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    Delete = 0,
    Put = 1,
}

impl Kind {
    pub fn from_u8(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::Delete),
            1 => Some(Kind::Put),
            _ => None,
        }
    }
}

/// A resolved, sequenced record: what the WAL, memtable and tables store.
/// `expires_at == 0` means "never expires".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Bytes,
    pub seqno: u64,
    pub kind: Kind,
    pub expires_at: u64,
    pub value: Bytes,
}

impl Record {
    /// `Some(t)` if the record expires, `None` if it lives forever.
    pub fn expiry(&self) -> Option<u64> {
        (self.expires_at != 0).then_some(self.expires_at)
    }

    /// The live entry this record stands for, if it is a put that has not expired at `now`.
    pub fn live_entry(&self, now: u64) -> Option<Entry> {
        if self.kind == Kind::Delete || crate::clock::is_expired(self.expiry(), now) {
            return None;
        }
        Some(Entry {
            key: self.key.clone(),
            value: self.value.clone(),
            expires_at: self.expiry(),
            seqno: self.seqno,
        })
    }
}
