//! `strata backup` and `strata restore`.
//!
//! A backup is a checkpoint (`Db::checkpoint`: the live tables hard-linked, the WAL the
//! manifest still needs copied, a fresh manifest written last) plus copies of the other
//! top-level files of the data directory (stratad's generated `credentials.toml` and key
//! files), then a `verify` of the result. It is itself a data directory: `stratad
//! --data-dir <backup>` or `strata dump <backup>` work on it directly.
//!
//! A restore copies a backup into a data directory (refusing a non-empty one unless
//! `--force`), writing `CURRENT` last so an interrupted restore refuses to open instead of
//! opening half a database, then verifies the result.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use strata_engine::db::{LOCK_FILE, TABLES_DIR, WAL_DIR};
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::manifest::{self, CURRENT_FILE};
use strata_engine::{Error, Options};

use super::entry::{open_offline, require_data_dir};
use super::verify::{verify_dir, Report};
use super::Outcome;

const BACKUP_HELP: &str = "\
Examples:
  strata backup --data-dir /var/lib/strata --out /backups/strata-2024-06-01
  strata backup --data-dir ./strata-data --out ./bk && tar czf bk.tgz bk

The server must be stopped (the backup opens the directory and takes its lock); for a
running server, take a checkpoint through stratad instead (docs/cli.md). Tables are
hard-linked when --out is on the same file system (a linked backup shares their disk
blocks: copy it elsewhere, e.g. with tar or rsync, to survive a disk failure). The backup
is verified unless --no-verify; exit status 1 if that finds damage.";

const RESTORE_HELP: &str = "\
Examples:
  strata restore --from /backups/strata-2024-06-01 --data-dir /var/lib/strata
  strata restore --from ./bk --data-dir ./strata-data --force   # replace its database

Without --force the target must be missing or empty. With --force the target's database
(CURRENT, MANIFEST-*, wal/, tables/) is deleted first and files the backup holds are
overwritten; other files are left alone. The server must be stopped. The restored directory
is verified; exit status 1 if that finds damage.";

#[derive(Debug, Args)]
#[command(after_help = BACKUP_HELP)]
pub struct BackupArgs {
    /// The data directory to back up.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Where to write the backup: a missing or empty directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Skip verifying the backup.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Args)]
#[command(after_help = RESTORE_HELP)]
pub struct RestoreArgs {
    /// The backup to restore.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The data directory to restore into.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Replace the database of a non-empty data directory.
    #[arg(long)]
    pub force: bool,
}

/// True for top-level files of a data directory that belong to the engine (or are
/// transient) and so are not copied as side files.
fn is_engine_or_temp(name: &str) -> bool {
    name == LOCK_FILE
        || name == CURRENT_FILE
        || name == "CURRENT.tmp"
        || manifest::is_manifest_file_name(name)
        // Temporary files of atomic writes (stratad writes `.<name>.tmp`).
        || name.ends_with(".tmp")
}

/// Copies `from` to `to` (permissions included) and fsyncs the copy.
fn copy_synced(from: &Path, to: &Path) -> anyhow::Result<u64> {
    let bytes = fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    File::open(to)?.sync_all()?;
    Ok(bytes)
}

/// Copies the regular top-level files of `from` that are not engine files into `to`;
/// returns their names.
fn copy_side_files(from: &Path, to: &Path) -> anyhow::Result<Vec<String>> {
    let mut copied = Vec::new();
    for name in RealFs.list(from)? {
        let path = from.join(&name);
        if is_engine_or_temp(&name) || !path.is_file() {
            continue;
        }
        copy_synced(&path, &to.join(&name))?;
        copied.push(name);
    }
    RealFs.sync_dir(to)?;
    Ok(copied)
}

fn is_empty_dir(dir: &Path) -> io::Result<bool> {
    Ok(fs::read_dir(dir)?.next().is_none())
}

/// Prints a one-line verdict (and the problems) of a verify run.
fn print_verdict(report: &Report) -> Outcome {
    if report.is_ok() {
        println!(
            "verified {}: {} tables ({} records), {} WAL records: OK",
            report.data_dir.display(),
            report.tables_checked,
            report.table_records,
            report.wal_records
        );
        Outcome::Ok
    } else {
        report.print();
        Outcome::Damaged
    }
}

pub fn backup(args: BackupArgs) -> anyhow::Result<Outcome> {
    require_data_dir(&args.data_dir)?;
    if args.out.exists() && !is_empty_dir(&args.out)? {
        bail!(
            "{} is not empty: back up into a new directory",
            args.out.display()
        );
    }
    let db = open_offline(&args.data_dir, Options::default())?;
    let checkpoint = db
        .checkpoint(&args.out)
        .with_context(|| format!("writing the checkpoint to {}", args.out.display()))?;
    let side_files = copy_side_files(&args.data_dir, &args.out)?;
    drop(db);
    println!(
        "backed up {} to {}: up to seqno {}, {} tables linked, {} copied, {} WAL segments \
         ({} bytes){}",
        args.data_dir.display(),
        args.out.display(),
        checkpoint.last_seqno,
        checkpoint.tables_linked,
        checkpoint.tables_copied,
        checkpoint.wal_segments,
        checkpoint.wal_bytes,
        if side_files.is_empty() {
            String::new()
        } else {
            format!(", and {}", side_files.join(", "))
        }
    );
    if args.no_verify {
        return Ok(Outcome::Ok);
    }
    Ok(print_verdict(&verify_dir(&args.out)?))
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<Outcome> {
    let (from, target) = (&args.from, &args.data_dir);
    require_data_dir(from)?;
    let non_empty = target.exists() && !is_empty_dir(target)?;
    if non_empty && !args.force {
        bail!(
            "{} is not empty: restore into an empty directory, or pass --force to replace \
             its database",
            target.display()
        );
    }
    let fresh = !target.exists();
    fs::create_dir_all(target).with_context(|| format!("creating {}", target.display()))?;
    if fs::canonicalize(from)? == fs::canonicalize(target)? {
        bail!("--from and --data-dir are the same directory");
    }
    if fresh {
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            RealFs.sync_dir(parent)?;
        }
    }
    // Held until the files are in place: keeps a stratad from starting on a half-restored
    // directory, and refuses to restore under a running one.
    let lock = match RealFs.lock(&target.join(LOCK_FILE)) {
        Ok(lock) => lock,
        Err(Error::Locked { .. }) => bail!(
            "{} is locked by another process: stop stratad before restoring into it",
            target.display()
        ),
        Err(e) => return Err(e.into()),
    };
    if non_empty {
        remove_database(target)?;
    }
    let copied = copy_database(from, target)?;
    drop(lock);
    println!(
        "restored {} into {}: {copied} files",
        from.display(),
        target.display()
    );
    Ok(print_verdict(&verify_dir(target)?))
}

/// Deletes the engine's files from `dir`, `CURRENT` first, so an interruption leaves a
/// directory that refuses to open rather than an inconsistent one.
fn remove_database(dir: &Path) -> anyhow::Result<()> {
    let current = dir.join(CURRENT_FILE);
    if current.exists() {
        fs::remove_file(&current)?;
        RealFs.sync_dir(dir)?;
    }
    for sub in [TABLES_DIR, WAL_DIR] {
        let path = dir.join(sub);
        if path.exists() {
            fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    for name in RealFs.list(dir)? {
        if name == "CURRENT.tmp" || manifest::is_manifest_file_name(&name) {
            fs::remove_file(dir.join(&name))?;
        }
    }
    RealFs.sync_dir(dir)?;
    Ok(())
}

/// Copies a backup's files into `target`, `CURRENT` last (through a temporary name and a
/// rename). Returns the number of files copied.
fn copy_database(from: &Path, target: &Path) -> anyhow::Result<usize> {
    let mut copied = 0;
    for sub in [TABLES_DIR, WAL_DIR] {
        let (src, dst) = (from.join(sub), target.join(sub));
        fs::create_dir_all(&dst)?;
        if src.is_dir() {
            for name in RealFs.list(&src)? {
                if src.join(&name).is_file() {
                    copy_synced(&src.join(&name), &dst.join(&name))?;
                    copied += 1;
                }
            }
        }
        RealFs.sync_dir(&dst)?;
    }
    for name in RealFs.list(from)? {
        let path = from.join(&name);
        let wanted = manifest::is_manifest_file_name(&name) || !is_engine_or_temp(&name);
        if wanted && path.is_file() {
            copy_synced(&path, &target.join(&name))?;
            copied += 1;
        }
    }
    // IMPORTANT: everything CURRENT refers to is durable before CURRENT appears.
    RealFs.sync_dir(target)?;
    let tmp = target.join("CURRENT.tmp");
    copy_synced(&from.join(CURRENT_FILE), &tmp)?;
    fs::rename(&tmp, target.join(CURRENT_FILE))?;
    RealFs.sync_dir(target)?;
    Ok(copied + 1)
}
