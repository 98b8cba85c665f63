//! `strata verify <data-dir>`: checks every file of a data directory, read-only.
//!
//! The manifest is decoded (`manifest::decode_manifest`), every table it names must exist,
//! agree with the manifest and pass `Table::verify` (every CRC, record order, bloom, meta),
//! the live version must keep the level invariants (`Version::check`), and the WAL segments
//! the manifest still needs are replayed by `wal::scan` — the recovery rules without the
//! truncation — with seqnos above the tables'. Nothing is written, not even the lock file:
//! a held lock is only reported, since results on a live directory can show transient
//! damage (a table deleted by a compaction between two reads, a WAL record half-written).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args as ClapArgs;
use serde::Serialize;
use strata_engine::compaction::CompactionConfig;
use strata_engine::db::{LOCK_FILE, TABLES_DIR, WAL_DIR};
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::manifest::{self, CURRENT_FILE};
use strata_engine::table::{table_path, Table};
use strata_engine::version::{TableHandle, Version};
use strata_engine::{wal, Error};

use super::Outcome;

const AFTER_HELP: &str = "\
Examples:
  strata verify /var/lib/strata            # summary; exit status 1 if anything is damaged
  strata verify --json ./backup-2024-06-01 | jq .problems

Run it on a stopped server's data directory or on a backup: it writes nothing (not even the
lock file), so running it next to a live stratad is harmless, but what it reads may be in
the middle of changing and can then be reported as damage.";

#[derive(Debug, ClapArgs)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The data directory to check.
    pub data_dir: PathBuf,
    /// Print the report as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub data_dir: PathBuf,
    /// The manifest `CURRENT` names.
    pub manifest: Option<PathBuf>,
    pub manifest_edits: usize,
    /// Live tables per level, as the manifest says.
    pub tables_per_level: BTreeMap<usize, usize>,
    pub tables_checked: usize,
    /// Records in the tables that passed `Table::verify`.
    pub table_records: u64,
    pub wal_segments: usize,
    pub wal_records: u64,
    /// Damage: the directory would not open, or would lose or misreport data.
    pub problems: Vec<Problem>,
    /// Findings that are not damage (crash leftovers that the next open cleans up, a torn
    /// WAL tail, a held lock).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The file concerned.
    pub path: PathBuf,
    pub error: String,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, path: &Path, error: impl ToString) {
        self.problems.push(Problem {
            path: path.to_path_buf(),
            error: error.to_string(),
        });
    }

    /// The human-readable summary.
    pub fn print(&self) {
        println!("data directory: {}", self.data_dir.display());
        if let Some(manifest) = &self.manifest {
            let levels: Vec<String> = self
                .tables_per_level
                .iter()
                .map(|(level, n)| format!("L{level}:{n}"))
                .collect();
            println!(
                "manifest: {} ({} edits), live tables {}",
                manifest.display(),
                self.manifest_edits,
                if levels.is_empty() {
                    "none".to_string()
                } else {
                    levels.join(" ")
                }
            );
        }
        println!(
            "tables: {} verified, {} records",
            self.tables_checked, self.table_records
        );
        println!(
            "wal: {} segments, {} records",
            self.wal_segments, self.wal_records
        );
        for note in &self.notes {
            println!("note: {note}");
        }
        for p in &self.problems {
            println!("DAMAGE: {}: {}", p.path.display(), p.error);
        }
        if self.is_ok() {
            println!("result: OK");
        } else {
            println!("result: DAMAGED ({} problems)", self.problems.len());
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let report = verify_dir(&args.data_dir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    Ok(if report.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Damaged
    })
}

/// Checks the data directory `dir` (see the module docs). `Err` only if `dir` cannot be
/// read at all; damage is in the report.
pub fn verify_dir(dir: &Path) -> anyhow::Result<Report> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    let fs = RealFs;
    let mut report = Report {
        data_dir: dir.to_path_buf(),
        ..Report::default()
    };
    note_lock(dir, &mut report);

    let current = dir.join(CURRENT_FILE);
    if !fs.exists(&current) {
        report.problem(
            &current,
            "missing: this is not a Strata data directory, or an interrupted restore or \
             backup",
        );
        return Ok(report);
    }
    let manifest_path = match manifest::current_manifest_path(&fs, dir) {
        Ok(path) => path,
        Err(e) => {
            report.problem(&current, e);
            return Ok(report);
        }
    };
    report.manifest = Some(manifest_path.clone());
    let log = match fs
        .read(&manifest_path)
        .and_then(|data| manifest::decode_manifest(&manifest_path, &data))
    {
        Ok(log) => log,
        Err(e) => {
            report.problem(&manifest_path, e);
            return Ok(report);
        }
    };
    report.manifest_edits = log.edits.len();
    if let Some((offset, reason)) = &log.torn {
        report.notes.push(format!(
            "{}: torn last edit at offset {offset} ({reason}); the next open cuts it",
            manifest_path.display()
        ));
    }
    note_debris(dir, &manifest_path, &log.state, &mut report)?;

    // Tables.
    let tables_dir = dir.join(TABLES_DIR);
    let mut handles = Vec::new();
    for (&id, live) in &log.state.tables {
        *report.tables_per_level.entry(live.level).or_default() += 1;
        let path = table_path(&tables_dir, id);
        if !fs.exists(&path) {
            report.problem(&path, "named by the manifest but missing");
            continue;
        }
        let table = match Table::open(&fs, &path) {
            Ok(table) => table,
            Err(e) => {
                report.problem(&path, e);
                continue;
            }
        };
        if table.meta() != &live.meta {
            report.problem(
                &path,
                format!(
                    "metadata {:?} disagrees with the manifest's {:?}",
                    table.meta(),
                    live.meta
                ),
            );
            continue;
        }
        match table.verify() {
            Ok(records) => {
                report.tables_checked += 1;
                report.table_records += records;
            }
            Err(e) => {
                report.problem(&path, e);
                continue;
            }
        }
        handles.push(Arc::new(TableHandle {
            id,
            level: live.level,
            meta: live.meta.clone(),
            table: Arc::new(table),
        }));
    }
    let max_table_seqno = handles.iter().map(|t| t.meta.max_seqno).max().unwrap_or(0);
    let version = Version::from_tables(CompactionConfig::default().levels, handles);
    if let Err(reason) = version.check() {
        report.problem(&manifest_path, format!("level invariant broken: {reason}"));
    }

    // WAL.
    let wal_dir = dir.join(WAL_DIR);
    if fs.exists(&wal_dir) {
        let scanned = wal::scan(
            &fs,
            &wal_dir,
            log.state.log_number,
            &mut |records| match records.iter().find(|r| r.seqno <= max_table_seqno) {
                Some(r) => Err(Error::corruption(
                    &wal_dir,
                    0,
                    format!(
                        "WAL seqno {} is not newer than the tables' {max_table_seqno}",
                        r.seqno
                    ),
                )),
                None => Ok(()),
            },
        );
        match scanned {
            Ok(scan) => {
                report.wal_segments = scan.segments;
                report.wal_records = scan.records;
                if let Some(tail) = scan.truncated {
                    report.notes.push(format!(
                        "{}: torn tail at offset {} ({} bytes: {}); the next open cuts it \
                         (it holds only writes that were never acknowledged as durable)",
                        wal::segment_path(&wal_dir, tail.segment_id).display(),
                        tail.offset,
                        tail.dropped_bytes,
                        tail.reason
                    ));
                }
            }
            Err(e) => report.problem(&wal_dir, e),
        }
    }
    Ok(report)
}

/// Notes a lock held by another process, without creating the lock file.
fn note_lock(dir: &Path, report: &mut Report) {
    let lock_path = dir.join(LOCK_FILE);
    if !lock_path.exists() {
        return;
    }
    if let Err(Error::Locked { .. }) = RealFs.lock(&lock_path) {
        report.notes.push(format!(
            "{} is held by another process (a running stratad?): files may change while \
             they are read; verify a stopped server's directory or a backup for a \
             trustworthy result",
            lock_path.display()
        ));
    }
}

/// Notes crash leftovers that `Db::open` deletes: other manifests, `CURRENT.tmp`, tables
/// the manifest does not name, WAL segments below its log number.
fn note_debris(
    dir: &Path,
    live_manifest: &Path,
    state: &manifest::ManifestState,
    report: &mut Report,
) -> anyhow::Result<()> {
    for name in RealFs.list(dir)? {
        let path = dir.join(&name);
        if (manifest::is_manifest_file_name(&name) && path != live_manifest)
            || name == "CURRENT.tmp"
        {
            report.notes.push(format!(
                "{}: left over from an interrupted manifest switch; the next open deletes it",
                path.display()
            ));
        }
    }
    let tables_dir = dir.join(TABLES_DIR);
    if tables_dir.is_dir() {
        let live: HashSet<PathBuf> = state
            .tables
            .keys()
            .map(|&id| table_path(&tables_dir, id))
            .collect();
        for name in RealFs.list(&tables_dir)? {
            let path = tables_dir.join(&name);
            if name.ends_with(".sst") && !live.contains(&path) {
                report.notes.push(format!(
                    "{}: not in the manifest (left over from an interrupted flush or \
                     compaction); the next open deletes it",
                    path.display()
                ));
            }
        }
    }
    let wal_dir = dir.join(WAL_DIR);
    if wal_dir.is_dir() {
        for id in wal::list_segments(&RealFs, &wal_dir)? {
            if id < state.log_number {
                report.notes.push(format!(
                    "{}: obsolete (its records are in tables); the next open deletes it",
                    wal::segment_path(&wal_dir, id).display()
                ));
            }
        }
    }
    Ok(())
}
