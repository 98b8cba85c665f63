//! Compaction: a pure policy (`choose`, `choose_sweep`) and the mechanism
//! (`run_compaction`) that merges tables into new ones.
//!
//! Leveled: L0 holds flushed memtables (may overlap, newest first); L1.. are sorted,
//! non-overlapping runs whose target sizes are derived from the last level's size
//! ([`level_targets`]), each `level_multiplier` times smaller than the next. For any key, a
//! version in a shallower level is newer than every version in a deeper level; every
//! choice below keeps that true. See docs/design.md (section "compaction") for the amplification
//! argument, why the TTL sweep terminates and why the bottommost GC rule is correct.
//!
//! The policy works on [`TableSummary`]s (id + metadata), so it is testable without files:
//! `choose(&Version)` is `choose_from(&summarize(version))`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{Kind, Record};
use crate::clock::is_expired;
use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::merge::{MergeIter, RecordIter};
use crate::table::{table_path, Table, TableBuilder, TableIterator, TableMeta, TableOptions};
use crate::version::{TableHandle, Version};

/// Fewest levels a tree may have: L0 plus one sorted level.
pub const LEVELS_MIN: usize = 2;
/// Most levels a tree may have (a multiplier of 10 makes L15 1e14 times L1).
pub const LEVELS_MAX: usize = 16;

/// Compaction knobs.
#[derive(Debug, Clone)]
pub struct CompactionConfig {
    /// Number of L0 tables that triggers a compaction of L0 into the base level.
    pub l0_tables_trigger: usize,
    /// Smallest target of the base level (where L0 compacts into), in bytes: the base
    /// level is the shallowest whose target reaches it (see [`level_targets`]).
    pub level_base_bytes: u64,
    /// Each level's target is this many times the previous one.
    pub level_multiplier: u64,
    /// Number of levels (L0 included).
    pub levels: usize,
    /// Output tables are cut at about this size, in bytes.
    pub table_bytes_target: u64,
    /// The TTL sweep compacts a table once its estimated expired + tombstoned share of
    /// entries reaches this ratio (0.0..=1.0).
    pub sweep_garbage_ratio: f64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            l0_tables_trigger: 4,
            level_base_bytes: 64 * 1024 * 1024,
            level_multiplier: 10,
            levels: 7,
            table_bytes_target: 32 * 1024 * 1024,
            sweep_garbage_ratio: 0.5,
        }
    }
}

impl CompactionConfig {
    /// Checks the knobs. Call it where a configuration enters the engine (`Db::open`):
    /// the policy functions panic on an invalid configuration.
    pub fn validate(&self) -> Result<()> {
        let problem = if self.l0_tables_trigger == 0 {
            "l0_tables_trigger must be at least 1"
        } else if self.level_base_bytes == 0 {
            "level_base_bytes must be at least 1"
        } else if self.level_multiplier < 2 {
            "level_multiplier must be at least 2"
        } else if !(LEVELS_MIN..=LEVELS_MAX).contains(&self.levels) {
            "levels must be within LEVELS_MIN..=LEVELS_MAX"
        } else if self.table_bytes_target == 0 {
            "table_bytes_target must be at least 1"
        } else if !(0.0..=1.0).contains(&self.sweep_garbage_ratio) {
            "sweep_garbage_ratio must be within 0.0..=1.0"
        } else {
            return Ok(());
        };
        Err(Error::InvalidArgument(format!(
            "compaction config: {problem} ({self:?})"
        )))
    }
}

/// Why a compaction was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    L0Count,
    LevelSize(usize),
    TtlSweep,
    /// An explicit full compaction ([`choose_full`]).
    Full,
}

/// A compaction to run: merge `inputs` (table ids from `input_level` and the overlapping
/// tables of `output_level`) into new tables at `output_level`.
///
/// `inputs` lists the `input_level` tables first (L0 ones newest first), then the
/// `output_level` ones in key order. `input_level == output_level` is an in-place rewrite
/// of a single table of a sorted level (TTL sweep only). A full compaction
/// (`Reason::Full`) takes every table of every level, shallowest level first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub input_level: usize,
    pub output_level: usize,
    pub inputs: Vec<u64>,
    pub reason: Reason,
    /// No table below `output_level` overlaps the inputs' key range: tombstones and
    /// expired entries can be dropped instead of kept/converted.
    pub bottommost: bool,
}

/// What the policy needs to know about one table: its id and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub id: u64,
    pub meta: TableMeta,
}

impl TableSummary {
    pub fn of(handle: &TableHandle) -> Self {
        Self {
            id: handle.id,
            meta: handle.meta.clone(),
        }
    }
}

/// The summaries of every table of `version`, level by level, in the version's order.
pub fn summarize(version: &Version) -> Vec<Vec<TableSummary>> {
    version
        .levels
        .iter()
        .map(|level| level.iter().map(|h| TableSummary::of(h)).collect())
        .collect()
}

/// The target sizes of a tree's sorted levels, sized from its last level (dynamic level
/// sizing, RocksDB's `level_compaction_dynamic_level_bytes`).
///
/// With T = `level_multiplier`, `target(L) = size(last) / T^(last - L)` for levels from the
/// *base level* down, where the base level is the shallowest level whose target is at
/// least `level_base_bytes` (the last level if none is: a tree smaller than that lives in
/// its last level and L0). L0 compacts into the base level. Levels above the base level
/// have target 0: they hold data only transiently (after the base level moved down, or in
/// a tree written by an older, statically sized policy) and drain one level down.
///
/// Sizing from the last level keeps each level a 1/T fraction of the one below it, so the
/// levels above the last one hold at most about `size(last) / (T - 1)` bytes: the space
/// amplification bound of docs/design.md ("Space amplification") holds at every size,
/// not only once the data is much larger than `level_base_bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelTargets {
    /// Where L0 compacts into (when nothing shallower holds data).
    pub base_level: usize,
    /// The deepest level: the configured one, or deeper if the tree already has more levels
    /// (e.g. reopened with a smaller `levels`). It never compacts by size.
    pub last_level: usize,
    /// `bytes[L]`: target of level L in bytes; index 0 (L0, sized by table count) is 0.
    bytes: Vec<u64>,
}

impl LevelTargets {
    /// Target of sorted level `level` (1..=last_level), in bytes.
    pub fn bytes(&self, level: usize) -> u64 {
        assert!(level >= 1, "L0 is sized by table count, not bytes");
        self.bytes[level]
    }
}

/// The level targets of the tree `levels` (see [`LevelTargets`]).
pub fn level_targets(levels: &[Vec<TableSummary>], cfg: &CompactionConfig) -> LevelTargets {
    let last_level = last_level(levels, cfg);
    let last_bytes = level_bytes(levels, last_level);
    let mut bytes = vec![0; last_level + 1];
    let mut target = last_bytes;
    for level in (1..=last_level).rev() {
        bytes[level] = target;
        target /= cfg.level_multiplier;
    }
    // Targets grow with depth, so the levels at or above the base level's target form a
    // suffix; the last level is the base level of a tree smaller than level_base_bytes.
    let base_level = (1..last_level)
        .find(|&level| bytes[level] >= cfg.level_base_bytes)
        .unwrap_or(last_level);
    for target in &mut bytes[..base_level] {
        *target = 0;
    }
    LevelTargets {
        base_level,
        last_level,
        bytes,
    }
}

/// Deepest level of the tree: the configured one, or deeper if the tree has more levels.
fn last_level(levels: &[Vec<TableSummary>], cfg: &CompactionConfig) -> usize {
    cfg.levels.max(levels.len()) - 1
}

fn level_bytes(levels: &[Vec<TableSummary>], level: usize) -> u64 {
    levels
        .get(level)
        .map_or(0, |tables| tables.iter().map(|t| t.meta.file_bytes).sum())
}

/// Picks the next size-driven compaction, if any. Pure: no I/O, no clock.
pub fn choose(version: &Version, cfg: &CompactionConfig) -> Option<Choice> {
    choose_from(&summarize(version), cfg)
}

/// [`choose`] for an explicit request (`Db::compact`): like `choose`, but any L0 table at
/// all is reason enough to compact L0, so that repeated calls end with an empty L0 and
/// every level within its target: the tree's settled shape.
pub fn choose_settle(version: &Version, cfg: &CompactionConfig) -> Option<Choice> {
    choose_settle_from(&summarize(version), cfg)
}

/// [`choose_settle`] over table summaries.
pub fn choose_settle_from(levels: &[Vec<TableSummary>], cfg: &CompactionConfig) -> Option<Choice> {
    let settle = CompactionConfig {
        l0_tables_trigger: 1,
        ..cfg.clone()
    };
    choose_from(levels, &settle)
}

/// [`choose`] over table summaries. Level targets are those of [`level_targets`].
///
/// - L0 has `l0_tables_trigger` tables or more: all of L0 plus the overlapping tables of
///   the output level go there (L0 first, because every read probes every L0 table). The
///   output level is the base level, or the shallowest sorted level holding data if that
///   is shallower (a version in L0 must stay above every older version of its key).
/// - Otherwise the sorted level (not the last) with the highest `bytes / target`, if that
///   score is >= 1 (a level with target 0 scores its bytes): one of its tables, plus the
///   overlapping tables of the next level. The table is the one whose overlap with the
///   next level is smallest relative to its own size (RocksDB's "min overlapping ratio":
///   least bytes rewritten per byte moved down), ties broken by more tombstones, then key
///   order. It needs no state between calls.
pub fn choose_from(levels: &[Vec<TableSummary>], cfg: &CompactionConfig) -> Option<Choice> {
    let tree = Tree::new(levels, cfg);
    let targets = level_targets(levels, cfg);
    let l0 = tree.level(0);
    if l0.len() >= cfg.l0_tables_trigger {
        let output_level = tree.l0_output_level(&targets);
        return Some(tree.choice(0, l0.iter(), output_level, Reason::L0Count));
    }
    let mut best: Option<(usize, f64)> = None;
    // The last level has nowhere to go: it never compacts by size.
    for level in 1..targets.last_level {
        let bytes = level_bytes(levels, level);
        let score = bytes as f64 / targets.bytes(level).max(1) as f64;
        if score >= 1.0 && best.is_none_or(|(_, best_score)| score > best_score) {
            best = Some((level, score));
        }
    }
    let (level, _) = best?;
    let next = tree.level(level + 1);
    let table = tree
        .level(level)
        .iter()
        .min_by(|a, b| {
            let (a_size, b_size) = (a.meta.file_bytes.max(1), b.meta.file_bytes.max(1));
            let (a_over, b_over) = (overlap_bytes(next, &a.meta), overlap_bytes(next, &b.meta));
            // a_over / a_size vs b_over / b_size, without floats.
            (u128::from(a_over) * u128::from(b_size))
                .cmp(&(u128::from(b_over) * u128::from(a_size)))
                .then(b.meta.tombstones.cmp(&a.meta.tombstones))
        })
        .expect("a level over its target holds at least one table");
    Some(tree.choice(
        level,
        std::iter::once(table),
        level + 1,
        Reason::LevelSize(level),
    ))
}

/// A full compaction (`Db::compact_all`): every table of every level merged into the last
/// level, bottommost, so that one version of each live key is left and every tombstone and
/// expired entry is dropped: the format's floor of space amplification. `None` for an empty
/// tree. Unlike the other policies it is not meant to be called in a loop (it always has
/// something to rewrite). Pure.
pub fn choose_full(version: &Version, cfg: &CompactionConfig) -> Option<Choice> {
    choose_full_from(&summarize(version), cfg)
}

/// [`choose_full`] over table summaries.
pub fn choose_full_from(levels: &[Vec<TableSummary>], cfg: &CompactionConfig) -> Option<Choice> {
    let _validated = Tree::new(levels, cfg);
    let input_level = levels.iter().position(|tables| !tables.is_empty())?;
    Some(Choice {
        input_level,
        output_level: last_level(levels, cfg),
        inputs: levels.iter().flatten().map(|t| t.id).collect(),
        reason: Reason::Full,
        bottommost: true,
    })
}

/// Picks a table whose estimated expired/tombstoned share at `now` is high (from the
/// per-table metadata only), and the compaction that reclaims it. Pure.
pub fn choose_sweep(version: &Version, cfg: &CompactionConfig, now: u64) -> Option<Choice> {
    choose_sweep_from(&summarize(version), cfg, now)
}

/// [`choose_sweep`] over table summaries.
///
/// Candidates are tables with `estimated_garbage > 0` and `garbage / entries >=
/// sweep_garbage_ratio`; the highest ratio wins (ties: shallower level, then version
/// order). For the winner at level L:
/// - L0: it and every older L0 table (so that L0 stays newer than L1) plus the
///   overlapping L1 tables go to L1;
/// - L >= 1 and nothing below overlaps it (always true at the last level): rewritten in
///   place at L, alone, bottommost: its garbage is dropped;
/// - otherwise: it and the overlapping tables of L+1 go to L+1, carrying its tombstones
///   one level down, towards the level where they can be dropped.
///
/// Every choice either moves records down a level or drops records, and after an
/// in-place rewrite the table has no garbage left at `now`, so calling this in a loop
/// with a fixed `now` (applying each choice) reaches `None`.
pub fn choose_sweep_from(
    levels: &[Vec<TableSummary>],
    cfg: &CompactionConfig,
    now: u64,
) -> Option<Choice> {
    let tree = Tree::new(levels, cfg);
    // (level, position, garbage, entries) of the best candidate so far.
    let mut best: Option<(usize, usize, u64, u64)> = None;
    for (level, tables) in levels.iter().enumerate() {
        for (pos, table) in tables.iter().enumerate() {
            let (garbage, entries) = (estimated_garbage(&table.meta, now), table.meta.entries);
            if garbage == 0 || (garbage as f64) < cfg.sweep_garbage_ratio * entries as f64 {
                continue;
            }
            // garbage / entries > best_garbage / best_entries, without floats.
            let better = best.is_none_or(|(_, _, best_garbage, best_entries)| {
                u128::from(garbage) * u128::from(best_entries)
                    > u128::from(best_garbage) * u128::from(entries)
            });
            if better {
                best = Some((level, pos, garbage, entries));
            }
        }
    }
    let (level, pos, _, _) = best?;
    let table = &levels[level][pos];
    if level == 0 {
        let output_level = tree.l0_output_level(&level_targets(levels, cfg));
        return Some(tree.choice(0, levels[0][pos..].iter(), output_level, Reason::TtlSweep));
    }
    let range = KeyRange::of(std::iter::once(table));
    let output_level = if tree.overlaps_below(level, &range) {
        level + 1
    } else {
        level
    };
    Some(tree.choice(
        level,
        std::iter::once(table),
        output_level,
        Reason::TtlSweep,
    ))
}

/// Estimated entries of a table that a bottommost compaction at `now` would drop:
/// tombstones, plus the expiring entries already expired. The latter assumes expiry
/// times spread evenly over `[min_expires_at, max_expires_at]`: all of them once
/// `max_expires_at <= now`, none while `min_expires_at > now`, and in between the share
/// of that (inclusive, whole-second) span already passed. Capped at `entries`.
pub fn estimated_garbage(meta: &TableMeta, now: u64) -> u64 {
    let expired = match (meta.min_expires_at, meta.max_expires_at) {
        (Some(min), Some(max)) if meta.expiring_entries > 0 => {
            if max <= now {
                meta.expiring_entries
            } else if min > now {
                0
            } else {
                // min <= now < max: at least the entry at `min` has expired (`<= now`).
                let passed = u128::from(now - min) + 1;
                let span = u128::from(max - min) + 1;
                let share = u128::from(meta.expiring_entries) * passed / span;
                u64::try_from(share).expect("share <= expiring_entries")
            }
        }
        _ => 0,
    };
    meta.tombstones.saturating_add(expired).min(meta.entries)
}

/// The compaction verdict for the newest version of a key (older versions are always
/// dropped): a live put is kept; a tombstone or a put expired at `now` is dropped when
/// `bottommost`, and otherwise kept as a tombstone (same seqno) so that older versions
/// in deeper levels stay hidden.
pub fn gc_record(newest: Record, bottommost: bool, now: u64) -> Option<Record> {
    let dead = newest.kind == Kind::Delete || is_expired(newest.expiry(), now);
    if !dead {
        Some(newest)
    } else if bottommost {
        None
    } else {
        Some(Record {
            kind: Kind::Delete,
            expires_at: 0,
            value: Bytes::new(),
            ..newest
        })
    }
}

/// What a finished compaction produced. Output tables are written and fsynced but not yet
/// in the manifest: the caller installs them with a version edit, fsyncs the directory,
/// then deletes the inputs.
#[derive(Debug, Clone, Default)]
pub struct CompactionOutput {
    pub tables: Vec<(u64, TableMeta)>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_in: u64,
    pub records_out: u64,
}

/// Runs `choice` against the tables of `version`, writing new tables into `dir` with ids
/// from `new_table_id`. Keeps only the newest version of each key, then applies
/// [`gc_record`]: tombstones and expired puts are dropped when `choice.bottommost`,
/// otherwise kept as tombstones so older versions below stay shadowed. Outputs are cut
/// once they reach `cfg.table_bytes_target`; an empty result writes no table.
///
/// Does not touch the manifest nor delete inputs. On error, the outputs created so far
/// are removed (best effort) and the error is returned.
///
/// Panics if an input id is not in `version` (the choice came from another version).
#[allow(clippy::too_many_arguments)]
pub fn run_compaction(
    choice: &Choice,
    version: &Version,
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    new_table_id: &mut dyn FnMut() -> u64,
    now: u64,
    cfg: &CompactionConfig,
    table_opts: TableOptions,
) -> Result<CompactionOutput> {
    let inputs = input_handles(choice, version);
    // One source per L0 table (they overlap), one per sorted level (its tables do not):
    // the merge then holds one read-ahead buffer per source, however many tables it
    // reads. Sources newest first, as `input_handles` orders the tables.
    let mut sources: Vec<Box<dyn RecordIter>> = Vec::new();
    for level in inputs.chunk_by(|a, b| a.level == b.level) {
        let tables = level.iter().map(|h| Arc::clone(&h.table));
        if level[0].level == 0 {
            sources.extend(tables.map(|t| Box::new(LevelIter::new(fs, vec![t])) as _));
        } else {
            sources.push(Box::new(LevelIter::new(fs, tables.collect())));
        }
    }
    let mut stream = CompactionStream::new(MergeIter::new(sources), choice.bottommost, now);
    let mut writer = OutputWriter {
        fs: fs.as_ref(),
        dir,
        new_table_id,
        table_opts,
        table_bytes_target: cfg.table_bytes_target,
        current: None,
        created: Vec::new(),
        tables: Vec::new(),
        records_out: 0,
    };
    if let Err(e) = writer.write_all(&mut stream) {
        writer.remove_created();
        return Err(e);
    }
    Ok(CompactionOutput {
        bytes_read: inputs.iter().map(|h| h.meta.file_bytes).sum(),
        bytes_written: writer.tables.iter().map(|(_, m)| m.file_bytes).sum(),
        records_in: stream.records_in,
        records_out: writer.records_out,
        tables: writer.tables,
    })
}

/// Reads tables that do not overlap, given in key order, as one stream: each with
/// [`Table::iter_sequential`] (positioned reads, so that a compaction's input pages do not
/// stay resident in the mappings, which readers of the inputs keep using), opened only
/// when the previous one is exhausted, so one read-ahead buffer at a time.
struct LevelIter {
    fs: Arc<dyn FileSystem>,
    tables: Vec<Arc<Table>>,
    /// The table after `current`.
    next: usize,
    current: Option<TableIterator>,
}

impl LevelIter {
    fn new(fs: &Arc<dyn FileSystem>, tables: Vec<Arc<Table>>) -> Self {
        Self {
            fs: Arc::clone(fs),
            tables,
            next: 0,
            current: None,
        }
    }
}

impl RecordIter for LevelIter {
    fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.current = None;
        let first = self
            .tables
            .partition_point(|t| t.meta().largest_key.as_ref() < key);
        self.next = first;
        if let Some(table) = self.tables.get(first) {
            let mut it = table.iter_sequential(self.fs.as_ref())?;
            it.seek(key)?;
            self.current = Some(it);
            self.next = first + 1;
        }
        Ok(())
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some(it) = &mut self.current {
                if let Some(record) = it.next_record()? {
                    return Ok(Some(record));
                }
            }
            // Dropped before the next one opens: one buffer at a time.
            self.current = None;
            let Some(table) = self.tables.get(self.next) else {
                return Ok(None);
            };
            self.current = Some(table.iter_sequential(self.fs.as_ref())?);
            self.next += 1;
        }
    }
}

/// The handles of `choice.inputs`, newest first: by level, and within L0 in version order.
fn input_handles<'v>(choice: &Choice, version: &'v Version) -> Vec<&'v Arc<TableHandle>> {
    let handles: Vec<_> = version
        .levels
        .iter()
        .flatten()
        .filter(|h| choice.inputs.contains(&h.id))
        .collect();
    assert_eq!(
        handles.len(),
        choice.inputs.len(),
        "compaction inputs {:?} are not all (exactly once) in the version",
        choice.inputs
    );
    handles
}

/// The records a compaction writes: the newest version of each key of a merged stream,
/// passed through [`gc_record`].
pub(crate) struct CompactionStream<I> {
    inner: I,
    bottommost: bool,
    now: u64,
    /// Key of the last newest version seen: further records with it are older versions.
    last_key: Option<Bytes>,
    /// Records read from `inner`, every version counted.
    pub(crate) records_in: u64,
}

impl<I: RecordIter> CompactionStream<I> {
    pub(crate) fn new(inner: I, bottommost: bool, now: u64) -> Self {
        Self {
            inner,
            bottommost,
            now,
            last_key: None,
            records_in: 0,
        }
    }

    pub(crate) fn next_output(&mut self) -> Result<Option<Record>> {
        while let Some(record) = self.inner.next_record()? {
            self.records_in += 1;
            if self.last_key.as_ref() == Some(&record.key) {
                continue;
            }
            self.last_key = Some(record.key.clone());
            if let Some(out) = gc_record(record, self.bottommost, self.now) {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}

/// Writes a compaction's records into size-cut output tables.
struct OutputWriter<'a> {
    fs: &'a dyn FileSystem,
    dir: &'a Path,
    new_table_id: &'a mut dyn FnMut() -> u64,
    table_opts: TableOptions,
    table_bytes_target: u64,
    /// The output being written, with its id.
    current: Option<(u64, TableBuilder)>,
    /// Every file this compaction created (or tried to), to remove on failure.
    created: Vec<PathBuf>,
    /// Finished outputs.
    tables: Vec<(u64, TableMeta)>,
    records_out: u64,
}

impl OutputWriter<'_> {
    fn write_all<I: RecordIter>(&mut self, stream: &mut CompactionStream<I>) -> Result<()> {
        while let Some(record) = stream.next_output()? {
            self.add(&record)?;
        }
        self.finish_current()
    }

    fn add(&mut self, record: &Record) -> Result<()> {
        let builder = match &mut self.current {
            Some((_, builder)) => builder,
            None => {
                let id = (self.new_table_id)();
                let path = table_path(self.dir, id);
                // Remembered before creating: a failed create may still leave a file.
                self.created.push(path.clone());
                let file = self.fs.create(&path)?;
                &mut self
                    .current
                    .insert((id, TableBuilder::new(file, self.table_opts)))
                    .1
            }
        };
        builder.add(record)?;
        self.records_out += 1;
        // One version per key reaches this point, so a cut never splits a key.
        if builder.estimated_bytes() >= self.table_bytes_target {
            self.finish_current()?;
        }
        Ok(())
    }

    /// Finishes (and fsyncs) the current output, if any.
    fn finish_current(&mut self) -> Result<()> {
        if let Some((id, builder)) = self.current.take() {
            let meta = builder.finish()?;
            self.tables.push((id, meta));
        }
        Ok(())
    }

    /// Best-effort cleanup after a failure: the files are not in the manifest, so a
    /// leftover is garbage that the next open may remove, never a visible table.
    fn remove_created(&mut self) {
        // Close the open output before unlinking it.
        self.current = None;
        for path in &self.created {
            let _ = self.fs.remove_file(path);
        }
    }
}

/// Inclusive key range.
#[derive(Debug, Clone, Copy)]
struct KeyRange<'a> {
    smallest: &'a [u8],
    largest: &'a [u8],
}

impl<'a> KeyRange<'a> {
    /// The union range of `tables` (which must not be empty).
    fn of(tables: impl IntoIterator<Item = &'a TableSummary>) -> Self {
        let mut tables = tables.into_iter();
        let first = tables.next().expect("a key range of no tables");
        let mut range = KeyRange {
            smallest: &first.meta.smallest_key,
            largest: &first.meta.largest_key,
        };
        for table in tables {
            range.include(table);
        }
        range
    }

    /// Widens the range to cover `table`.
    fn include(&mut self, table: &'a TableSummary) {
        self.smallest = self.smallest.min(table.meta.smallest_key.as_ref());
        self.largest = self.largest.max(table.meta.largest_key.as_ref());
    }
}

/// The tables of a sorted, non-overlapping level that overlap `range`: one contiguous run.
fn overlapping<'t>(sorted: &'t [TableSummary], range: &KeyRange) -> &'t [TableSummary] {
    let start = sorted.partition_point(|t| t.meta.largest_key.as_ref() < range.smallest);
    let len = sorted[start..].partition_point(|t| t.meta.smallest_key.as_ref() <= range.largest);
    &sorted[start..start + len]
}

fn overlap_bytes(sorted: &[TableSummary], meta: &TableMeta) -> u64 {
    let range = KeyRange {
        smallest: &meta.smallest_key,
        largest: &meta.largest_key,
    };
    overlapping(sorted, &range)
        .iter()
        .map(|t| t.meta.file_bytes)
        .sum()
}

/// The levels as the policy sees them.
struct Tree<'a> {
    levels: &'a [Vec<TableSummary>],
}

impl<'a> Tree<'a> {
    fn new(levels: &'a [Vec<TableSummary>], cfg: &CompactionConfig) -> Self {
        if let Err(e) = cfg.validate() {
            panic!("{e}");
        }
        for (level, tables) in levels.iter().enumerate().skip(1) {
            debug_assert!(
                tables
                    .windows(2)
                    .all(|w| w[0].meta.largest_key < w[1].meta.smallest_key),
                "L{level} is not sorted and non-overlapping"
            );
        }
        Self { levels }
    }

    fn level(&self, level: usize) -> &'a [TableSummary] {
        self.levels.get(level).map_or(&[], Vec::as_slice)
    }

    /// Where L0 compacts into: the base level, or the shallowest sorted level holding data
    /// if that is shallower, so that L0's versions stay above every older version.
    fn l0_output_level(&self, targets: &LevelTargets) -> usize {
        (1..targets.base_level)
            .find(|&level| !self.level(level).is_empty())
            .unwrap_or(targets.base_level)
    }

    /// True if a table in a level deeper than `level` overlaps `range`.
    fn overlaps_below(&self, level: usize, range: &KeyRange) -> bool {
        (level + 1..self.levels.len())
            .any(|deeper| !overlapping(self.level(deeper), range).is_empty())
    }

    /// The choice moving `tables` (from `input_level`) and, if the levels differ, the
    /// overlapping tables of `output_level` into `output_level`.
    fn choice(
        &self,
        input_level: usize,
        tables: impl Iterator<Item = &'a TableSummary> + Clone,
        output_level: usize,
        reason: Reason,
    ) -> Choice {
        assert!(output_level >= 1, "compactions never write L0");
        let mut range = KeyRange::of(tables.clone());
        let mut inputs: Vec<u64> = tables.map(|t| t.id).collect();
        if output_level != input_level {
            for joined in overlapping(self.level(output_level), &range) {
                range.include(joined);
                inputs.push(joined.id);
            }
        }
        Choice {
            input_level,
            output_level,
            inputs,
            reason,
            bottommost: !self.overlaps_below(output_level, &range),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::test_support::{del, put, VecIter};

    fn cfg() -> CompactionConfig {
        CompactionConfig {
            l0_tables_trigger: 4,
            level_base_bytes: 1000,
            level_multiplier: 10,
            levels: 4,
            table_bytes_target: 100,
            sweep_garbage_ratio: 0.5,
        }
    }

    fn table(id: u64, smallest: &str, largest: &str, file_bytes: u64) -> TableSummary {
        TableSummary {
            id,
            meta: TableMeta {
                file_bytes,
                smallest_key: Bytes::copy_from_slice(smallest.as_bytes()),
                largest_key: Bytes::copy_from_slice(largest.as_bytes()),
                entries: 100,
                ..TableMeta::default()
            },
        }
    }

    fn with_tombstones(mut t: TableSummary, tombstones: u64) -> TableSummary {
        t.meta.tombstones = tombstones;
        t
    }

    fn with_expiry(mut t: TableSummary, expiring: u64, min: u64, max: u64) -> TableSummary {
        t.meta.expiring_entries = expiring;
        t.meta.min_expires_at = Some(min);
        t.meta.max_expires_at = Some(max);
        t
    }

    /// A tree with one table of `bytes` in its last level (L3 of `cfg()`).
    fn with_last_level(bytes: u64) -> Vec<Vec<TableSummary>> {
        vec![vec![], vec![], vec![], vec![table(1, "a", "z", bytes)]]
    }

    fn targets_of(levels: &[Vec<TableSummary>], c: &CompactionConfig) -> Vec<u64> {
        let t = level_targets(levels, c);
        (1..=t.last_level).map(|level| t.bytes(level)).collect()
    }

    #[test]
    fn level_targets_are_sized_from_the_last_level() {
        let c = cfg();
        // Empty, or smaller than level_base_bytes * T: L0 compacts into the last level.
        for bytes in [0, 999, 9_999] {
            let t = level_targets(&with_last_level(bytes), &c);
            assert_eq!((t.base_level, t.last_level), (3, 3), "{bytes}");
            assert_eq!(targets_of(&with_last_level(bytes), &c), vec![0, 0, bytes]);
        }
        // L2's target reaches level_base_bytes: L2 is the base level.
        let t = level_targets(&with_last_level(10_000), &c);
        assert_eq!(t.base_level, 2);
        assert_eq!(targets_of(&with_last_level(10_000), &c), [0, 1_000, 10_000]);
        assert_eq!(targets_of(&with_last_level(99_999), &c), [0, 9_999, 99_999]);
        // Every level reaches it: L1 is the base level, and stays so as the tree grows.
        for bytes in [100_000, u64::MAX] {
            let t = level_targets(&with_last_level(bytes), &c);
            assert_eq!(t.base_level, 1);
            assert_eq!(
                targets_of(&with_last_level(bytes), &c),
                [bytes / 100, bytes / 10, bytes]
            );
        }
        // Upper levels do not count, only the last one; a tree deeper than configured
        // is sized from its deepest level.
        let mut deeper = with_last_level(100_000);
        deeper[1] = vec![table(2, "a", "z", 5_000_000)];
        deeper.push(vec![table(3, "a", "z", 50_000)]);
        let t = level_targets(&deeper, &c);
        assert_eq!((t.base_level, t.last_level), (3, 4));
        assert_eq!(targets_of(&deeper, &c), [0, 0, 5_000, 50_000]);
    }

    #[test]
    fn validate_accepts_the_default_and_rejects_each_bad_knob() {
        assert!(CompactionConfig::default().validate().is_ok());
        let bad = [
            CompactionConfig {
                l0_tables_trigger: 0,
                ..cfg()
            },
            CompactionConfig {
                level_base_bytes: 0,
                ..cfg()
            },
            CompactionConfig {
                level_multiplier: 1,
                ..cfg()
            },
            CompactionConfig { levels: 1, ..cfg() },
            CompactionConfig {
                levels: LEVELS_MAX + 1,
                ..cfg()
            },
            CompactionConfig {
                table_bytes_target: 0,
                ..cfg()
            },
            CompactionConfig {
                sweep_garbage_ratio: 1.5,
                ..cfg()
            },
            CompactionConfig {
                sweep_garbage_ratio: f64::NAN,
                ..cfg()
            },
        ];
        for c in bad {
            assert!(
                matches!(c.validate(), Err(Error::InvalidArgument(_))),
                "{c:?}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "level_multiplier")]
    fn policy_panics_on_an_invalid_config() {
        let c = CompactionConfig {
            level_multiplier: 0,
            ..cfg()
        };
        choose_from(&[], &c);
    }

    #[test]
    fn nothing_to_do_under_the_triggers() {
        assert_eq!(choose_from(&[], &cfg()), None);
        let levels = vec![
            vec![table(10, "a", "z", 50); 3],
            vec![table(1, "a", "c", 500), table(2, "d", "f", 499)],
            vec![table(3, "a", "z", 9_999)],
            vec![table(4, "a", "z", 100_000)],
        ];
        assert_eq!(choose_from(&levels, &cfg()), None);
    }

    #[test]
    fn l0_trigger_takes_all_of_l0_and_the_overlapping_l1_tables() {
        let mut levels = vec![
            vec![
                table(10, "c", "d", 10),
                table(11, "b", "c", 10),
                table(12, "m", "n", 10),
                table(13, "c", "e", 10),
            ],
            vec![
                table(1, "a", "b", 10),
                table(2, "f", "g", 10),
                table(3, "h", "i", 10),
                table(4, "x", "y", 10),
            ],
            vec![table(20, "a", "a", 10)],
        ];
        let choice = choose_from(&levels, &cfg()).unwrap();
        assert_eq!(
            choice,
            Choice {
                input_level: 0,
                output_level: 1,
                inputs: vec![10, 11, 12, 13, 1, 2, 3],
                reason: Reason::L0Count,
                bottommost: false,
            }
        );
        // Above, the L1 table [a, b] widened the range to L2's [a, a]; here L0 reaches L2.
        levels[2] = vec![table(20, "n", "p", 10)];
        assert!(!choose_from(&levels, &cfg()).unwrap().bottommost);
        levels[2] = vec![table(20, "0", "1", 10), table(21, "z", "zz", 10)];
        assert!(choose_from(&levels, &cfg()).unwrap().bottommost);
    }

    #[test]
    fn l0_compacts_into_the_base_level_unless_a_shallower_level_holds_data() {
        let l0 = || vec![table(10, "c", "d", 10); 4];
        // Last level 10_000: L2 is the base level.
        let mut levels = with_last_level(10_000);
        levels[0] = l0();
        levels[0][1].id = 11;
        levels[0][2].id = 12;
        levels[0][3].id = 13;
        levels[2] = vec![table(20, "a", "b", 100), table(21, "c", "c", 100)];
        assert_eq!(
            choose_from(&levels, &cfg()).unwrap(),
            Choice {
                input_level: 0,
                output_level: 2,
                inputs: vec![10, 11, 12, 13, 21],
                reason: Reason::L0Count,
                bottommost: false,
            }
        );
        // Data above the base level (left by an older tree shape): L0 stays above it.
        levels[1] = vec![table(30, "x", "y", 10)];
        let choice = choose_from(&levels, &cfg()).unwrap();
        assert_eq!((choice.output_level, choice.inputs.len()), (1, 4));
        // An empty tree: straight into the last level, bottommost.
        let mut empty = vec![vec![]; 4];
        empty[0] = levels[0].clone();
        let choice = choose_from(&empty, &cfg()).unwrap();
        assert_eq!((choice.output_level, choice.bottommost), (3, true));
    }

    #[test]
    fn levels_above_the_base_level_drain_down() {
        // Last level 10_000: base L2, so L1's 5 bytes are over its target of 0.
        let mut levels = with_last_level(10_000);
        levels[1] = vec![table(2, "a", "b", 5)];
        levels[2] = vec![table(3, "a", "a", 999)];
        assert_eq!(
            choose_from(&levels, &cfg()).unwrap(),
            Choice {
                input_level: 1,
                output_level: 2,
                inputs: vec![2, 3],
                reason: Reason::LevelSize(1),
                bottommost: false,
            }
        );
        levels[1].clear();
        assert_eq!(choose_from(&levels, &cfg()), None, "L2 is within its 1_000");
    }

    #[test]
    fn settle_compacts_any_l0_table() {
        let mut levels = with_last_level(10_000);
        levels[0] = vec![table(10, "b", "c", 10)];
        assert_eq!(choose_from(&levels, &cfg()), None, "under the L0 trigger");
        assert_eq!(
            choose_settle_from(&levels, &cfg()).unwrap(),
            Choice {
                input_level: 0,
                output_level: 2,
                inputs: vec![10],
                reason: Reason::L0Count,
                bottommost: false,
            }
        );
        levels[0].clear();
        assert_eq!(choose_settle_from(&levels, &cfg()), None);
    }

    #[test]
    fn full_compaction_takes_every_table_into_the_last_level() {
        assert_eq!(choose_full_from(&[], &cfg()), None);
        assert_eq!(choose_full_from(&vec![vec![]; 4], &cfg()), None);
        let mut levels = with_last_level(10);
        levels[2] = vec![table(2, "a", "b", 10), table(3, "c", "d", 10)];
        assert_eq!(
            choose_full_from(&levels, &cfg()).unwrap(),
            Choice {
                input_level: 2,
                output_level: 3,
                inputs: vec![2, 3, 1],
                reason: Reason::Full,
                bottommost: true,
            }
        );
        levels[0] = vec![table(11, "x", "y", 10), table(10, "a", "z", 10)];
        levels.push(vec![table(40, "m", "n", 10)]);
        let choice = choose_full_from(&levels, &cfg()).unwrap();
        assert_eq!(
            (choice.input_level, choice.output_level, choice.inputs),
            (0, 4, vec![11, 10, 2, 3, 1, 40])
        );
    }

    #[test]
    fn size_trigger_picks_the_table_with_the_least_overlap_below() {
        let levels = vec![
            vec![],
            vec![
                table(1, "a", "c", 500),
                table(2, "d", "f", 500),
                table(3, "g", "i", 500),
            ],
            vec![
                table(20, "a", "b", 5000),
                table(21, "f", "f", 100),
                table(22, "h", "h", 50),
            ],
            vec![table(30, "h", "h", 100_000)],
        ];
        // L1: 1500 / 1000. Overlap ratios: t1 10, t2 0.2, t3 0.1.
        let choice = choose_from(&levels, &cfg()).unwrap();
        assert_eq!(
            choice,
            Choice {
                input_level: 1,
                output_level: 2,
                inputs: vec![3, 22],
                reason: Reason::LevelSize(1),
                bottommost: false,
            }
        );
    }

    #[test]
    fn size_trigger_breaks_overlap_ties_by_tombstones() {
        let levels = vec![
            vec![],
            vec![
                table(1, "a", "c", 600),
                with_tombstones(table(2, "d", "f", 600), 7),
            ],
            vec![],
            vec![table(30, "x", "y", 100_000)],
        ];
        let choice = choose_from(&levels, &cfg()).unwrap();
        assert_eq!(choice.inputs, vec![2]);
        assert!(choice.bottommost);
    }

    #[test]
    fn size_trigger_takes_the_level_with_the_highest_score() {
        let levels = vec![
            vec![],
            vec![table(1, "a", "c", 1500)],
            vec![table(2, "a", "c", 20_000)],
            vec![table(3, "a", "c", 100_000)],
        ];
        let choice = choose_from(&levels, &cfg()).unwrap();
        assert_eq!(choice.reason, Reason::LevelSize(2));
        assert_eq!(choice.inputs, vec![2, 3]);
        assert!(choice.bottommost);
    }

    #[test]
    fn the_last_level_never_compacts_by_size() {
        let c = CompactionConfig { levels: 3, ..cfg() };
        let levels = vec![vec![], vec![], vec![table(1, "a", "z", u64::MAX / 4)]];
        assert_eq!(choose_from(&levels, &c), None);
        // A tree deeper than configured: its deepest level is the last one.
        let levels = vec![
            vec![],
            vec![],
            vec![table(1, "a", "z", 200_000)],
            vec![table(2, "a", "z", 1_000_000)],
        ];
        assert_eq!(
            choose_from(&levels, &c).unwrap().reason,
            Reason::LevelSize(2)
        );
    }

    #[test]
    fn garbage_estimate_from_metadata() {
        let t = table(1, "a", "b", 10);
        assert_eq!(estimated_garbage(&t.meta, 500), 0);
        assert_eq!(
            estimated_garbage(&with_tombstones(t.clone(), 30).meta, 500),
            30
        );
        let mut expiring = with_tombstones(with_expiry(t.clone(), 100, 100, 199), 10);
        expiring.meta.entries = 200;
        assert_eq!(
            estimated_garbage(&expiring.meta, 99),
            10,
            "none expired yet"
        );
        assert_eq!(estimated_garbage(&expiring.meta, 100), 11, "the first one");
        assert_eq!(estimated_garbage(&expiring.meta, 149), 60, "half");
        assert_eq!(estimated_garbage(&expiring.meta, 198), 109);
        assert_eq!(estimated_garbage(&expiring.meta, 199), 110, "all expired");
        assert_eq!(estimated_garbage(&expiring.meta, u64::MAX), 110);
        let one_instant = with_expiry(t.clone(), 40, 300, 300);
        assert_eq!(estimated_garbage(&one_instant.meta, 299), 0);
        assert_eq!(estimated_garbage(&one_instant.meta, 300), 40);
        let overcounted = with_tombstones(with_expiry(t, 90, 1, 2), 90);
        assert_eq!(estimated_garbage(&overcounted.meta, 10), 100, "capped");
    }

    #[test]
    fn sweep_ignores_tables_under_the_ratio_and_unexpired_entries() {
        let levels = vec![
            vec![with_tombstones(table(10, "a", "z", 10), 49)],
            vec![],
            vec![],
            // Last level, all entries expiring but none expired yet: nothing to reclaim.
            vec![with_expiry(table(1, "a", "z", 10), 100, 1000, 2000)],
        ];
        assert_eq!(choose_sweep_from(&levels, &cfg(), 999), None);
        assert_eq!(
            choose_sweep_from(&levels, &cfg(), 1500).unwrap().inputs,
            vec![1]
        );
    }

    #[test]
    fn sweep_of_an_l0_table_takes_the_older_l0_tables_along() {
        let levels = vec![
            vec![
                table(10, "a", "b", 10),
                with_tombstones(table(11, "c", "d", 10), 80),
                table(12, "x", "y", 10),
            ],
            vec![
                table(1, "a", "a", 10),
                table(2, "e", "f", 10),
                table(3, "z", "z", 10),
            ],
        ];
        let choice = choose_sweep_from(&levels, &cfg(), 0).unwrap();
        assert_eq!(
            choice,
            Choice {
                input_level: 0,
                output_level: 1,
                inputs: vec![11, 12, 2],
                reason: Reason::TtlSweep,
                bottommost: true,
            }
        );
    }

    #[test]
    fn sweep_of_an_l0_table_goes_to_the_base_level() {
        let mut levels = with_last_level(10_000);
        levels[0] = vec![with_tombstones(table(10, "a", "b", 10), 80)];
        let choice = choose_sweep_from(&levels, &cfg(), 0).unwrap();
        assert_eq!(
            (choice.inputs, choice.output_level, choice.bottommost),
            (vec![10], 2, false)
        );
    }

    #[test]
    fn sweep_pushes_a_table_down_while_something_below_overlaps() {
        let levels = vec![
            vec![],
            vec![
                table(1, "a", "c", 10),
                with_tombstones(table(2, "d", "f", 10), 60),
            ],
            vec![table(20, "b", "d", 10), table(21, "e", "e", 10)],
            vec![table(30, "a", "b", 10)],
        ];
        assert_eq!(
            choose_sweep_from(&levels, &cfg(), 0).unwrap(),
            Choice {
                input_level: 1,
                output_level: 2,
                inputs: vec![2, 20, 21],
                reason: Reason::TtlSweep,
                // L3's [a, b] overlaps [b, f], the range including the L2 table [b, d].
                bottommost: false,
            }
        );
    }

    #[test]
    fn sweep_rewrites_in_place_when_nothing_below_overlaps() {
        let mut levels = vec![
            vec![],
            vec![
                table(1, "a", "c", 10),
                with_tombstones(table(2, "d", "f", 10), 60),
            ],
            vec![table(20, "a", "c", 10)],
            vec![],
        ];
        let in_place = Choice {
            input_level: 1,
            output_level: 1,
            inputs: vec![2],
            reason: Reason::TtlSweep,
            bottommost: true,
        };
        assert_eq!(choose_sweep_from(&levels, &cfg(), 0).unwrap(), in_place);
        // At the last level.
        levels.swap(1, 3);
        assert_eq!(
            choose_sweep_from(&levels, &cfg(), 0).unwrap(),
            Choice {
                input_level: 3,
                output_level: 3,
                ..in_place
            }
        );
    }

    #[test]
    fn sweep_takes_the_highest_garbage_ratio_first() {
        let levels = vec![
            vec![],
            vec![
                with_tombstones(table(1, "a", "c", 10), 60),
                with_expiry(table(2, "d", "f", 10), 90, 5, 5),
            ],
            vec![with_tombstones(table(20, "x", "y", 10), 70)],
        ];
        assert_eq!(
            choose_sweep_from(&levels, &cfg(), 5).unwrap().inputs,
            vec![2]
        );
        assert_eq!(
            choose_sweep_from(&levels, &cfg(), 4).unwrap().inputs,
            vec![20]
        );
    }

    #[test]
    fn gc_verdicts() {
        let live = put("k", 7, "v", 0);
        assert_eq!(gc_record(live.clone(), true, 100), Some(live.clone()));
        assert_eq!(gc_record(live.clone(), false, 100), Some(live));
        let ttl = put("k", 7, "v", 101);
        assert_eq!(gc_record(ttl.clone(), true, 100), Some(ttl.clone()));
        let expired = put("k", 7, "v", 100);
        assert_eq!(gc_record(expired.clone(), true, 100), None);
        assert_eq!(gc_record(expired, false, 100), Some(del("k", 7)));
        assert_eq!(gc_record(del("k", 7), true, 100), None);
        assert_eq!(gc_record(del("k", 7), false, 100), Some(del("k", 7)));
    }

    fn stream_outputs(sources: Vec<Vec<Record>>, bottommost: bool, now: u64) -> Vec<Record> {
        let merge = MergeIter::new(sources.into_iter().map(VecIter::boxed).collect());
        let mut stream = CompactionStream::new(merge, bottommost, now);
        let out: Vec<Record> = std::iter::from_fn(|| stream.next_output().unwrap()).collect();
        assert_eq!(stream.records_in, 7);
        out
    }

    #[test]
    fn compaction_stream_keeps_the_newest_version_and_applies_the_verdict() {
        let sources = || {
            vec![
                vec![put("a", 9, "a9", 0), del("b", 8), put("c", 7, "c7", 50)],
                vec![
                    put("a", 3, "a3", 0),
                    put("b", 2, "b2", 0),
                    put("c", 1, "c1", 0),
                ],
                vec![put("d", 4, "d4", 0)],
            ]
        };
        assert_eq!(
            stream_outputs(sources(), true, 50),
            vec![put("a", 9, "a9", 0), put("d", 4, "d4", 0)]
        );
        assert_eq!(
            stream_outputs(sources(), false, 50),
            vec![
                put("a", 9, "a9", 0),
                del("b", 8),
                del("c", 7),
                put("d", 4, "d4", 0)
            ]
        );
        assert_eq!(
            stream_outputs(sources(), true, 49),
            vec![
                put("a", 9, "a9", 0),
                put("c", 7, "c7", 50),
                put("d", 4, "d4", 0)
            ]
        );
    }
}

/// Drives the policy against an in-memory tree: flushes from a random workload, size
/// compactions and sweeps applied with the real merge and GC code, checking after every
/// step the tree's invariants and that the live view matches a `BTreeMap` model.
#[cfg(test)]
mod simulation {
    use std::collections::BTreeMap;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::merge::test_support::{put, VecIter};
    use crate::merge::LiveIter;

    /// Stand-in for a record's encoded size.
    const RECORD_OVERHEAD_BYTES: u64 = 20;
    /// Bound on the compactions one settle loop may take: reaching it means a livelock.
    const SETTLE_STEPS_MAX: usize = 500;

    struct SimTable {
        id: u64,
        records: Vec<Record>,
    }

    fn record_bytes(r: &Record) -> u64 {
        (r.key.len() + r.value.len()) as u64 + RECORD_OVERHEAD_BYTES
    }

    fn meta_of(records: &[Record]) -> TableMeta {
        let expiring = records.iter().filter_map(Record::expiry);
        TableMeta {
            file_bytes: records.iter().map(record_bytes).sum(),
            smallest_key: records.first().unwrap().key.clone(),
            largest_key: records.last().unwrap().key.clone(),
            min_seqno: records.iter().map(|r| r.seqno).min().unwrap(),
            max_seqno: records.iter().map(|r| r.seqno).max().unwrap(),
            entries: records.len() as u64,
            tombstones: records.iter().filter(|r| r.kind == Kind::Delete).count() as u64,
            expiring_entries: expiring.clone().count() as u64,
            min_expires_at: expiring.clone().min(),
            max_expires_at: expiring.max(),
        }
    }

    struct Sim {
        cfg: CompactionConfig,
        levels: Vec<Vec<SimTable>>,
        next_id: u64,
        /// The newest record of every key ever written.
        model: BTreeMap<Bytes, Record>,
    }

    impl Sim {
        fn new(cfg: CompactionConfig) -> Self {
            let levels = (0..cfg.levels).map(|_| Vec::new()).collect();
            Self {
                cfg,
                levels,
                next_id: 1,
                model: BTreeMap::new(),
            }
        }

        fn summaries(&self) -> Vec<Vec<TableSummary>> {
            self.levels
                .iter()
                .map(|level| {
                    level
                        .iter()
                        .map(|t| TableSummary {
                            id: t.id,
                            meta: meta_of(&t.records),
                        })
                        .collect()
                })
                .collect()
        }

        fn flush(&mut self, mut records: Vec<Record>) {
            for r in &records {
                self.model.insert(r.key.clone(), r.clone());
            }
            records.sort_by(|a, b| a.key.cmp(&b.key).then(b.seqno.cmp(&a.seqno)));
            let id = self.next_id;
            self.next_id += 1;
            self.levels[0].insert(0, SimTable { id, records });
        }

        /// What `run_compaction` does, in memory.
        fn apply(&mut self, choice: &Choice, now: u64) {
            let mut sources = Vec::new();
            for level in &mut self.levels {
                let (taken, kept) = std::mem::take(level)
                    .into_iter()
                    .partition(|t| choice.inputs.contains(&t.id));
                *level = kept;
                sources.extend(
                    taken
                        .into_iter()
                        .map(|t: SimTable| VecIter::boxed(t.records)),
                );
            }
            assert_eq!(sources.len(), choice.inputs.len());
            let mut stream = CompactionStream::new(MergeIter::new(sources), choice.bottommost, now);
            let mut outputs = Vec::new();
            let mut current: Vec<Record> = Vec::new();
            while let Some(record) = stream.next_output().unwrap() {
                current.push(record);
                if current.iter().map(record_bytes).sum::<u64>() >= self.cfg.table_bytes_target {
                    outputs.push(std::mem::take(&mut current));
                }
            }
            outputs.extend((!current.is_empty()).then_some(current));
            let level = &mut self.levels[choice.output_level];
            for records in outputs {
                level.push(SimTable {
                    id: self.next_id,
                    records,
                });
                self.next_id += 1;
            }
            level.sort_by(|a, b| a.records[0].key.cmp(&b.records[0].key));
        }

        fn check(&self, now: u64) {
            // Sorted levels: sorted and non-overlapping.
            for (level, tables) in self.levels.iter().enumerate().skip(1) {
                for pair in tables.windows(2) {
                    let (a, b) = (&pair[0].records, &pair[1].records);
                    assert!(a.last().unwrap().key < b[0].key, "L{level} overlaps");
                }
            }
            // Shallower is newer: versions in read order have decreasing seqnos.
            let mut seen: BTreeMap<&Bytes, u64> = BTreeMap::new();
            for table in self.levels.iter().flatten() {
                let mut in_table: BTreeMap<&Bytes, u64> = BTreeMap::new();
                for r in &table.records {
                    if let Some(&newer) = seen.get(&r.key) {
                        assert!(r.seqno < newer, "{:?} shadows a newer version", r);
                    }
                    in_table.entry(&r.key).or_insert(r.seqno);
                }
                for (key, seqno) in in_table {
                    seen.entry(key).or_insert(seqno);
                }
            }
            // Same live view as the model.
            let sources = self
                .levels
                .iter()
                .flatten()
                .map(|t| VecIter::boxed(t.records.clone()))
                .collect();
            let mut live = LiveIter::new(MergeIter::new(sources), u64::MAX, now);
            let actual: Vec<_> = std::iter::from_fn(|| live.next_entry().unwrap()).collect();
            let expected: Vec<_> = self
                .model
                .values()
                .filter_map(|r| r.live_entry(now))
                .collect();
            assert_eq!(actual, expected);
        }

        /// Applies choices until there are none; returns the choices applied.
        fn settle(
            &mut self,
            now: u64,
            pick: impl Fn(&[Vec<TableSummary>]) -> Option<Choice>,
        ) -> Vec<Choice> {
            let mut applied = Vec::new();
            for _ in 0..SETTLE_STEPS_MAX {
                let Some(choice) = pick(&self.summaries()) else {
                    return applied;
                };
                self.apply(&choice, now);
                self.check(now);
                applied.push(choice);
            }
            panic!("no fixpoint after {SETTLE_STEPS_MAX} compactions");
        }
    }

    fn sim_config(sweep_garbage_ratio: f64) -> CompactionConfig {
        CompactionConfig {
            l0_tables_trigger: 3,
            level_base_bytes: 100,
            level_multiplier: 3,
            levels: 5,
            table_bytes_target: 250,
            sweep_garbage_ratio,
        }
    }

    /// Writes a random workload (puts with and without TTLs, deletes over a small key
    /// space), settling size compactions after every flush. Returns the time reached.
    fn load(sim: &mut Sim, seed: u64) -> u64 {
        const FLUSHES: u64 = 25;
        const OPS_PER_FLUSH: usize = 20;
        const KEYS: u32 = 60;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut now = 1_000;
        let mut seqno = 0;
        for _ in 0..FLUSHES {
            let memtable = (0..OPS_PER_FLUSH)
                .map(|_| {
                    seqno += 1;
                    let key = Bytes::from(format!("k{:03}", rng.gen_range(0..KEYS)));
                    if rng.gen_bool(0.25) {
                        return Record {
                            key,
                            seqno,
                            kind: Kind::Delete,
                            expires_at: 0,
                            value: Bytes::new(),
                        };
                    }
                    let expires_at = if rng.gen_bool(0.4) {
                        now + rng.gen_range(1..200)
                    } else {
                        0
                    };
                    Record {
                        key,
                        seqno,
                        kind: Kind::Put,
                        expires_at,
                        value: Bytes::from(vec![b'v'; rng.gen_range(0..30)]),
                    }
                })
                .collect();
            sim.flush(memtable);
            sim.check(now);
            let cfg = sim.cfg.clone();
            sim.settle(now, |levels| choose_from(levels, &cfg));
            now += 10;
        }
        now
    }

    #[test]
    fn size_compactions_settle_under_every_target() {
        for seed in 0..4 {
            let mut sim = Sim::new(sim_config(0.5));
            let now = load(&mut sim, seed);
            let levels = sim.summaries();
            assert!(levels[0].len() < sim.cfg.l0_tables_trigger);
            let last_level = sim.cfg.levels - 1;
            for (level, tables) in levels.iter().enumerate().take(last_level).skip(1) {
                let bytes: u64 = tables.iter().map(|t| t.meta.file_bytes).sum();
                assert!(
                    bytes < level_targets(&levels, &sim.cfg).bytes(level).max(1),
                    "seed {seed} L{level}"
                );
            }
            assert!(
                levels.iter().skip(1).any(|l| !l.is_empty()),
                "the tree grew"
            );
            sim.check(now);
        }
    }

    /// Bytes of the tables of `levels` (all of them, or only the sorted levels).
    fn stored_bytes(levels: &[Vec<TableSummary>], include_l0: bool) -> u64 {
        let skip = usize::from(!include_l0);
        levels
            .iter()
            .skip(skip)
            .flatten()
            .map(|t| t.meta.file_bytes)
            .sum()
    }

    /// Overwrites a small key space many times (same-size values: no deletes, no TTLs),
    /// settling size compactions after every flush, and checks the space amplification
    /// bound of docs/design.md ("Space amplification") in every settled state: the sorted
    /// levels hold at most T/(T-1) times the live data, whatever the tree's size, and an
    /// explicit settle (`choose_settle`) also empties L0.
    #[test]
    fn overwrites_settle_within_the_space_amplification_bound() {
        const FLUSHES: u64 = 150;
        const OPS_PER_FLUSH: usize = 20;
        const VALUE_BYTES: usize = 10;
        for keys in [10u32, 50, 300] {
            let mut sim = Sim::new(sim_config(0.5));
            let t = sim.cfg.level_multiplier;
            let mut rng = StdRng::seed_from_u64(u64::from(keys));
            let mut seqno = 0;
            let mut deepest_base = usize::MAX;
            for _ in 0..FLUSHES {
                let memtable = (0..OPS_PER_FLUSH)
                    .map(|_| {
                        seqno += 1;
                        put(
                            &format!("k{:03}", rng.gen_range(0..keys)),
                            seqno,
                            &"v".repeat(VALUE_BYTES),
                            0,
                        )
                    })
                    .collect();
                sim.flush(memtable);
                let cfg = sim.cfg.clone();
                sim.settle(0, |levels| choose_from(levels, &cfg));
                let levels = sim.summaries();
                let live: u64 = sim.model.values().map(record_bytes).sum();
                let sorted = stored_bytes(&levels, false);
                assert!(
                    sorted * (t - 1) <= live * t,
                    "{keys} keys: sorted levels hold {sorted} bytes for {live} live"
                );
                let l0 = stored_bytes(&levels, true) - sorted;
                let record = put("k000", 0, &"v".repeat(VALUE_BYTES), 0);
                let memtable_max = OPS_PER_FLUSH as u64 * record_bytes(&record);
                assert!(l0 < sim.cfg.l0_tables_trigger as u64 * memtable_max);
                deepest_base = deepest_base.min(level_targets(&levels, &sim.cfg).base_level);
            }
            let cfg = sim.cfg.clone();
            sim.settle(0, |levels| choose_settle_from(levels, &cfg));
            let levels = sim.summaries();
            assert!(levels[0].is_empty(), "{keys} keys: the settle empties L0");
            let live: u64 = sim.model.values().map(record_bytes).sum();
            let total = stored_bytes(&levels, true);
            assert!(total * (t - 1) <= live * t, "{keys} keys: {total} / {live}");
            if keys == 300 {
                // Big enough for the base level to move up from the last level.
                assert!(deepest_base < sim.cfg.levels - 1, "base L{deepest_base}");
            }
        }
    }

    #[test]
    fn sweep_with_any_garbage_reclaims_everything_and_terminates() {
        // (from L0, in place, bottommost) of every choice made.
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 0..4 {
            let mut sim = Sim::new(sim_config(0.0));
            // Past every TTL of the workload.
            let now = load(&mut sim, seed) + 1_000;
            let cfg = sim.cfg.clone();
            let applied = sim.settle(now, |levels| choose_sweep_from(levels, &cfg, now));
            kinds.extend(applied.iter().map(|c| {
                let in_place = c.input_level == c.output_level;
                (c.input_level == 0, in_place, c.bottommost)
            }));
            assert!(
                !applied.is_empty(),
                "seed {seed}: there was garbage to reclaim"
            );
            for table in sim.levels.iter().flatten() {
                assert!(
                    table.records.iter().all(|r| r.live_entry(now).is_some()),
                    "seed {seed}: table {} kept garbage",
                    table.id
                );
            }
        }
        // The workloads exercised every kind of sweep choice.
        for kind in [
            (true, false, false),
            (false, true, true),
            (false, false, true),
            (false, false, false),
        ] {
            assert!(kinds.contains(&kind), "no sweep choice of kind {kind:?}");
        }
    }

    #[test]
    fn sweep_at_a_ratio_terminates_with_every_table_under_it() {
        for seed in 0..4 {
            let mut sim = Sim::new(sim_config(0.3));
            let mut now = load(&mut sim, seed);
            let cfg = sim.cfg.clone();
            // As time passes, more entries expire and more sweeps become worthwhile.
            for _ in 0..5 {
                now += 40;
                sim.settle(now, |levels| choose_sweep_from(levels, &cfg, now));
                for table in sim.summaries().iter().flatten() {
                    let garbage = estimated_garbage(&table.meta, now) as f64;
                    assert!(garbage < 0.3 * table.meta.entries as f64, "seed {seed}");
                }
            }
        }
    }
}
