//! A `BTreeMap` model of what the engine must show: the write modes, `expect_seqno` guards,
//! seqno assignment, TTL visibility and the scan bounds, with nothing else in the way. Tests
//! drive a `Db` and this model side by side and compare every answer.
//!
//! The rules mirror the engine's contract (`batch.rs`, `commit.rs`): ops of a batch are
//! checked in order, each seeing the effects of the ops before it; a failing op fails the
//! whole batch, which then writes nothing and uses no seqnos; op `i` of a committed batch
//! gets seqno `last_seqno + 1 + i`; an entry is live while `expires_at` is `None` or
//! `> now`.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use strata_engine::db::SCAN_LIMIT_MAX;
use strata_engine::{Db, Entry, Error, WriteBatch, WriteMode};

/// What a put left under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub value: Bytes,
    pub expires_at: Option<u64>,
    pub seqno: u64,
}

/// One record of a committed batch: `Some` for a put, `None` for a delete.
pub type Effect = (Bytes, Option<Stored>);

/// Why the model refuses a batch (the op index, as the engine reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Conflict(usize),
    NotFound(usize),
}

impl Rejection {
    /// The rejection an engine error stands for, if it is one.
    pub fn of(err: &Error) -> Option<Rejection> {
        match err {
            Error::Conflict { index } => Some(Rejection::Conflict(*index)),
            Error::NotFound { index } => Some(Rejection::NotFound(*index)),
            _ => None,
        }
    }
}

/// What committing a batch does: its records, and per op the live entry it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub effects: Vec<Effect>,
    pub previous: Vec<Option<Entry>>,
}

/// The model: every key's newest record (deletes remove the key) and the last seqno used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    entries: BTreeMap<Bytes, Stored>,
    pub last_seqno: u64,
}

fn live_entry(key: &Bytes, stored: &Stored, now: u64) -> Option<Entry> {
    let expired = matches!(stored.expires_at, Some(t) if t <= now);
    (!expired).then(|| Entry {
        key: key.clone(),
        value: stored.value.clone(),
        expires_at: stored.expires_at,
        seqno: stored.seqno,
    })
}

impl Model {
    pub fn new() -> Model {
        Model::default()
    }

    /// The live entry under `key` at `now`.
    pub fn get(&self, key: &[u8], now: u64) -> Option<Entry> {
        let (key, stored) = self.entries.get_key_value(key)?;
        live_entry(key, stored, now)
    }

    /// What committing `batch` at `now` would do, or why it is refused.
    pub fn predict(&self, batch: &WriteBatch, now: u64) -> Result<Outcome, Rejection> {
        // Effects of the batch's earlier ops, layered over the committed state.
        let mut own: BTreeMap<Bytes, Option<Entry>> = BTreeMap::new();
        let mut effects = Vec::with_capacity(batch.ops.len());
        let mut previous = Vec::with_capacity(batch.ops.len());
        for (index, op) in batch.ops.iter().enumerate() {
            let current = match own.get(&op.key) {
                Some(entry) => entry.clone(),
                None => self.get(&op.key, now),
            };
            if let Some(expected) = op.expect_seqno {
                if current.as_ref().map(|e| e.seqno) != Some(expected) {
                    return Err(Rejection::Conflict(index));
                }
            }
            match op.mode {
                WriteMode::Insert if current.is_some() => return Err(Rejection::Conflict(index)),
                WriteMode::Update | WriteMode::Delete if current.is_none() => {
                    return Err(Rejection::NotFound(index))
                }
                _ => {}
            }
            let stored = (op.mode != WriteMode::Delete).then(|| Stored {
                value: op.value.clone(),
                expires_at: op.expires_at,
                seqno: self.last_seqno + 1 + index as u64,
            });
            let now_live = stored.as_ref().and_then(|s| live_entry(&op.key, s, now));
            own.insert(op.key.clone(), now_live);
            effects.push((op.key.clone(), stored));
            // An unguarded `Overwrite` does not read, so it reports no previous entry.
            let blind = op.mode == WriteMode::Overwrite && op.expect_seqno.is_none();
            previous.push(if blind { None } else { current });
        }
        Ok(Outcome { effects, previous })
    }

    /// Applies the records of a committed batch (one seqno per record).
    pub fn apply(&mut self, effects: &[Effect]) {
        for (key, stored) in effects {
            match stored {
                Some(s) => self.entries.insert(key.clone(), s.clone()),
                None => self.entries.remove(key),
            };
        }
        self.last_seqno += effects.len() as u64;
    }

    /// `predict`, then `apply` on success.
    pub fn commit(&mut self, batch: &WriteBatch, now: u64) -> Result<Outcome, Rejection> {
        let outcome = self.predict(batch, now)?;
        self.apply(&outcome.effects);
        Ok(outcome)
    }

    /// The largest seqno of any stored entry (0 if none).
    pub fn max_seqno(&self) -> u64 {
        self.entries.values().map(|s| s.seqno).max().unwrap_or(0)
    }

    /// Every live entry at `now`, by key.
    pub fn live(&self, now: u64) -> BTreeMap<Bytes, Entry> {
        self.entries
            .iter()
            .filter_map(|(k, s)| live_entry(k, s, now).map(|e| (k.clone(), e)))
            .collect()
    }

    /// Live entries in range, ascending, at most `limit` (capped like the engine's).
    pub fn scan(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
        now: u64,
    ) -> Vec<Entry> {
        let start = start.map(Bytes::copy_from_slice);
        let end = end.map(Bytes::copy_from_slice);
        if bounds_empty(&start, &end) {
            return Vec::new();
        }
        self.entries
            .range::<Bytes, _>((start, end))
            .filter_map(|(k, s)| live_entry(k, s, now))
            .take(limit.min(SCAN_LIMIT_MAX))
            .collect()
    }

    /// Live entries whose key starts with `prefix` and is greater than `after` (if given).
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
        now: u64,
    ) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && after.is_none_or(|a| k.as_ref() > a))
            .filter_map(|(k, s)| live_entry(k, s, now))
            .take(limit.min(SCAN_LIMIT_MAX))
            .collect()
    }
}

/// True if no key lies within the bounds (`BTreeMap::range` panics on such bounds).
fn bounds_empty(start: &Bound<Bytes>, end: &Bound<Bytes>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e))
        | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
        _ => false,
    }
}

/// Every live entry of `db`, by key, read with paged prefix scans (to go past
/// `SCAN_LIMIT_MAX`).
pub fn db_live(db: &Db) -> strata_engine::Result<BTreeMap<Bytes, Entry>> {
    let mut out = BTreeMap::new();
    let mut after: Option<Bytes> = None;
    loop {
        let page = db.scan_prefix(b"", after.as_deref(), SCAN_LIMIT_MAX)?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        after = Some(last.key.clone());
        for e in page {
            out.insert(e.key.clone(), e);
        }
    }
}

/// A short description of how two states differ (at most a few keys), for failure messages.
pub fn describe_diff(expected: &BTreeMap<Bytes, Entry>, actual: &BTreeMap<Bytes, Entry>) -> String {
    const SHOWN_MAX: usize = 8;
    let mut lines = Vec::new();
    let keys: std::collections::BTreeSet<&Bytes> = expected.keys().chain(actual.keys()).collect();
    for key in keys {
        let (e, a) = (expected.get(key), actual.get(key));
        if e != a {
            lines.push(format!(
                "  {}: expected {}, got {}",
                show_bytes(key),
                show_entry(e),
                show_entry(a)
            ));
        }
    }
    let total = lines.len();
    lines.truncate(SHOWN_MAX);
    if total > SHOWN_MAX {
        lines.push(format!("  ... and {} more keys", total - SHOWN_MAX));
    }
    lines.join("\n")
}

/// A key or value for a message: printable ASCII as is, long ones cut.
pub fn show_bytes(b: &[u8]) -> String {
    const SHOWN_BYTES_MAX: usize = 24;
    let shown: String = b
        .iter()
        .take(SHOWN_BYTES_MAX)
        .map(|&c| {
            if c.is_ascii_graphic() {
                (c as char).to_string()
            } else {
                format!("\\x{c:02x}")
            }
        })
        .collect();
    if b.len() > SHOWN_BYTES_MAX {
        format!("{shown}..({} bytes)", b.len())
    } else {
        shown
    }
}

pub fn show_entry(e: Option<&Entry>) -> String {
    match e {
        None => "absent".to_string(),
        Some(e) => format!(
            "{} (seqno {}, expires {:?})",
            show_bytes(&e.value),
            e.seqno,
            e.expires_at
        ),
    }
}
