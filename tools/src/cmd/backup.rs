//! `strata backup` and `strata restore`.
//!
//! A backup is a checkpoint (`Db::checkpoint`: the live tables hard-linked, the WAL the
//! manifest still needs copied, a fresh manifest written last) plus copies of the data
//! directory's side files (stratad's generated `credentials.toml` and key files; which files
//! those are is `strata_server::bootstrap`'s to say), then a `verify` of the result. It is
//! itself a data directory: `stratad --data-dir <backup>` or `strata dump <backup>` work on it
//! directly.
//!
//! Offline (`--data-dir`), the CLI opens the stopped server's directory and does both itself.
//! Online (`--url`), the running stratad does both (`POST /admin/checkpoint`, the same
//! checkpoint and the same side-file copy) and the CLI verifies the result.
//!
//! A restore copies a backup into a data directory (refusing a non-empty one unless
//! `--force`), writing `CURRENT` last so an interrupted restore refuses to open instead of
//! opening half a database, then verifies the result.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{ArgGroup, Args};
use serde::Deserialize;
use strata_engine::db::{Checkpoint, LOCK_FILE, TABLES_DIR, WAL_DIR};
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::manifest::{self, CURRENT_FILE};
use strata_engine::{Error, Options};
use strata_server::bootstrap::{copy_side_files, is_side_file_name};

use super::entry::{open_offline, require_data_dir};
use super::verify::{verify_dir, Report};
use super::Outcome;

/// How long `backup --url` waits for a connection to the server, in seconds.
const CONNECT_TIMEOUT_SECS: u64 = 10;
/// How long `backup --url` waits for the server to write the checkpoint, in seconds (it
/// copies the WAL; the tables are linked).
const CHECKPOINT_TIMEOUT_SECS: u64 = 3600;
/// Longest response body `backup --url` reads, in bytes.
const RESPONSE_BYTES_MAX: usize = 64 * 1024;

const BACKUP_HELP: &str = "\
Examples:
  strata backup --data-dir /var/lib/strata --out /backups/strata-2024-06-01
  strata backup --data-dir ./strata-data --out ./bk && tar czf bk.tgz bk
  STRATA_ADMIN_TOKEN=... strata backup --url http://127.0.0.1:7700 --out /backups/strata-2024-06-02

With --data-dir the server must be stopped (the backup opens the directory and takes its
lock). With --url the server keeps serving: it writes the checkpoint itself (POST
/admin/checkpoint with its admin token, the [admin] token of its config or credentials.toml),
so --out is a directory on the server's host, outside its data directory (a relative --out is
made absolute here); it is verified when it is visible from here too. Only http:// URLs. The
token is better passed in STRATA_ADMIN_TOKEN than on the command line, where other users can
see it. Tables are hard-linked when --out is on the same file system as the data directory (a
linked backup shares their disk blocks: copy it elsewhere, e.g. with tar or rsync, to survive
a disk failure). The backup is verified unless --no-verify; exit status 1 if that finds
damage.";

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
#[command(group(ArgGroup::new("source").required(true).args(["data_dir", "url"])))]
pub struct BackupArgs {
    /// The data directory of a stopped server to back up.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Base URL of a running stratad to back up online, e.g. http://127.0.0.1:7700.
    #[arg(long, value_name = "URL", requires = "token")]
    pub url: Option<String>,
    /// The admin token of the stratad at --url.
    #[arg(long, env = "STRATA_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
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

/// Copies `from` to `to` (permissions included) and fsyncs the copy.
fn copy_synced(from: &Path, to: &Path) -> anyhow::Result<u64> {
    let bytes = fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    File::open(to)?.sync_all()?;
    Ok(bytes)
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
    match (&args.data_dir, &args.url, &args.token) {
        (Some(data_dir), None, _) => backup_offline(data_dir, &args.out, args.no_verify),
        (None, Some(url), Some(token)) => backup_online(url, token, &args.out, args.no_verify),
        _ => unreachable!("clap requires --data-dir or --url (with a token)"),
    }
}

/// Prints what a checkpoint wrote.
fn print_summary(source: &str, out: &Path, checkpoint: &Checkpoint, side_files: &[String]) {
    println!(
        "backed up {source} to {}: up to seqno {}, {} tables linked, {} copied, {} WAL \
         segments ({} bytes){}",
        out.display(),
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
}

fn backup_offline(data_dir: &Path, out: &Path, no_verify: bool) -> anyhow::Result<Outcome> {
    require_data_dir(data_dir)?;
    if out.exists() && !is_empty_dir(out)? {
        bail!(
            "{} is not empty: back up into a new directory",
            out.display()
        );
    }
    let db = open_offline(data_dir, Options::default())?;
    let checkpoint = db
        .checkpoint(out)
        .with_context(|| format!("writing the checkpoint to {}", out.display()))?;
    let side_files = copy_side_files(data_dir, out)?;
    drop(db);
    print_summary(
        &data_dir.display().to_string(),
        out,
        &checkpoint,
        &side_files,
    );
    if no_verify {
        return Ok(Outcome::Ok);
    }
    Ok(print_verdict(&verify_dir(out)?))
}

/// The answer of stratad's `POST /admin/checkpoint`.
#[derive(Debug, Deserialize)]
struct CheckpointResponse {
    last_seqno: u64,
    tables_linked: usize,
    tables_copied: usize,
    wal_segments: usize,
    wal_bytes: u64,
    side_files: Vec<String>,
}

/// An error answer of stratad's admin endpoints.
#[derive(Debug, Deserialize)]
struct AdminError {
    message: String,
}

/// Asks the stratad at `url` to write a checkpoint into `out` (on its host), then verifies it
/// if it is visible from here.
fn backup_online(url: &str, token: &str, out: &Path, no_verify: bool) -> anyhow::Result<Outcome> {
    let base = url.trim_end_matches('/');
    if !base.starts_with("http://") {
        bail!("--url must be an http:// URL of a stratad, got {url:?}");
    }
    // The server resolves nothing against our working directory.
    let out = std::path::absolute(out).with_context(|| format!("--out {}", out.display()))?;
    let dir = out
        .to_str()
        .with_context(|| format!("--out {} is not valid UTF-8", out.display()))?;
    let endpoint = format!("{base}/admin/checkpoint");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, body) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_SECS))
            .timeout(Duration::from_secs(CHECKPOINT_TIMEOUT_SECS))
            .build()?;
        let response = client
            .post(&endpoint)
            .bearer_auth(token)
            .json(&serde_json::json!({ "dir": dir }))
            .send()
            .await
            .with_context(|| format!("POST {endpoint}"))?;
        let status = response.status();
        let body = response.bytes().await?;
        anyhow::Ok((status, body))
    })?;
    let body = &body[..body.len().min(RESPONSE_BYTES_MAX)];
    if !status.is_success() {
        let message = match serde_json::from_slice::<AdminError>(body) {
            Ok(error) => error.message,
            Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
        };
        bail!("{endpoint} answered {status}: {message}");
    }
    let answer: CheckpointResponse = serde_json::from_slice(body)
        .with_context(|| format!("{endpoint} answered 200 without a checkpoint report"))?;
    let checkpoint = Checkpoint {
        last_seqno: answer.last_seqno,
        tables_linked: answer.tables_linked,
        tables_copied: answer.tables_copied,
        wal_segments: answer.wal_segments,
        wal_bytes: answer.wal_bytes,
    };
    print_summary(base, &out, &checkpoint, &answer.side_files);
    if no_verify {
        return Ok(Outcome::Ok);
    }
    if !out.join(CURRENT_FILE).is_file() {
        println!(
            "not verified: {} is not visible from this host; run `strata verify {}` where \
             the server runs",
            out.display(),
            out.display()
        );
        return Ok(Outcome::Ok);
    }
    Ok(print_verdict(&verify_dir(&out)?))
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
        let wanted = manifest::is_manifest_file_name(&name) || is_side_file_name(&name);
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
