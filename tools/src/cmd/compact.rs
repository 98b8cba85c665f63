//! `strata compact --data-dir DIR`: a full compaction of a stopped server's data directory.
//!
//! `Db::compact_all` flushes the WAL's entries into tables and merges every table into the
//! last level, leaving one version of each live key: no overwritten versions, no
//! tombstones, no expired entries. The server compacts by itself in the background; this is
//! for an operator who wants the space back now (e.g. after a mass delete) or the smallest
//! directory before a backup.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use strata_engine::Options;

use super::entry::open_offline;
use super::Outcome;

const AFTER_HELP: &str = "\
Rewrites every table into one sorted run holding only live entries. It needs free space for a
second copy of the data while it runs; the old tables are deleted at the end.

Examples:
  strata compact --data-dir /var/lib/strata
  systemctl stop stratad && strata compact --data-dir /var/lib/strata && systemctl start stratad

The data directory must not be in use by a running stratad (the compaction takes its lock).";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct CompactArgs {
    /// The data directory to compact.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
}

pub fn run(args: CompactArgs) -> anyhow::Result<Outcome> {
    let dir = &args.data_dir;
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    let before = dir_bytes(dir)?;
    let db = open_offline(dir, Options::default())?;
    db.compact_all()
        .with_context(|| format!("compacting {}", dir.display()))?;
    let stats = db.stats();
    db.close()
        .with_context(|| format!("closing {}", dir.display()))?;
    let after = dir_bytes(dir)?;
    println!(
        "compacted {}: {} tables, {} -> {} bytes",
        dir.display(),
        stats.tables_per_level.iter().sum::<u64>(),
        before,
        after
    );
    Ok(Outcome::Ok)
}

/// Bytes of the regular files under `dir` (tables, WAL segments, manifest, side files).
fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_file() {
            total += meta.len();
        } else if meta.is_dir() {
            total += dir_bytes(&entry.path())?;
        }
    }
    Ok(total)
}
