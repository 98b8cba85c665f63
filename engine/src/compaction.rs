//! Compaction: a pure policy (`choose`, `choose_sweep`) and the mechanism
//! (`run_compaction`) that merges tables into new ones.
//!
//! Leveled: L0 holds flushed memtables (may overlap); L1.. are sorted runs whose target
//! sizes grow by `level_multiplier`. See docs/design.md for the amplification argument.

use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
use crate::fs::FileSystem;
use crate::table::{TableMeta, TableOptions};
use crate::version::Version;

/// Compaction knobs.
#[derive(Debug, Clone)]
pub struct CompactionConfig {
    /// Number of L0 tables that triggers an L0 -> L1 compaction.
    pub l0_tables_trigger: usize,
    /// Target size of L1, in bytes.
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

/// Why a compaction was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    L0Count,
    LevelSize(usize),
    TtlSweep,
}

/// A compaction to run: merge `inputs` (table ids from `input_level` and the overlapping
/// tables of `output_level`) into new tables at `output_level`.
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

/// Picks the next size-driven compaction, if any. Pure: no I/O, no clock.
pub fn choose(_version: &Version, _cfg: &CompactionConfig) -> Option<Choice> {
    todo!("compaction::choose")
}

/// Picks a table whose estimated expired/tombstoned share at `now` is high (from the
/// per-table metadata only), and the compaction that reclaims it. Pure.
pub fn choose_sweep(_version: &Version, _cfg: &CompactionConfig, _now: u64) -> Option<Choice> {
    todo!("compaction::choose_sweep")
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
/// from `new_table_id`. Keeps only the newest version of each key; expired puts become
/// tombstones, and tombstones are dropped, only when `choice.bottommost` (otherwise
/// expired puts turn into tombstones so older versions below stay shadowed).
#[allow(clippy::too_many_arguments)]
pub fn run_compaction(
    _choice: &Choice,
    _version: &Version,
    _fs: &Arc<dyn FileSystem>,
    _dir: &Path,
    _new_table_id: &mut dyn FnMut() -> u64,
    _now: u64,
    _cfg: &CompactionConfig,
    _table_opts: TableOptions,
) -> Result<CompactionOutput> {
    todo!("compaction::run_compaction")
}
