//! `strata dump <data-dir>`: every live entry as a JSON line (see [`EntryLine`]), in key
//! order, from one consistent snapshot.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::Bound;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strata_engine::db::{Snapshot, SCAN_LIMIT_MAX};
use strata_engine::Options;

use super::entry::{open_offline, require_data_dir, EntryLine};
use super::Outcome;

const AFTER_HELP: &str = "\
Each line is one live entry (deleted and expired entries are left out):
  {\"key\":\"user:1\",\"value\":\"{\\\"name\\\":\\\"ada\\\"}\",\"expires_at\":null}
  {\"key_b64\":\"AAF1\",\"value\":\"x\",\"expires_at\":1767225600}
A key or value that is not UTF-8 is written base64-encoded in key_b64 / value_b64.

Examples:
  strata dump /var/lib/strata > strata.jsonl
  strata dump --out strata.jsonl ./backup-2024-06-01
  strata dump /var/lib/strata | strata load - --data-dir /srv/strata-copy

The directory is opened like stratad opens it (it takes the lock, and recovery may cut a
torn WAL tail): run it on a stopped server's data directory or on a backup.";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct DumpArgs {
    /// The data directory to read.
    pub data_dir: PathBuf,
    /// Write the lines to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: DumpArgs) -> anyhow::Result<Outcome> {
    require_data_dir(&args.data_dir)?;
    let db = open_offline(&args.data_dir, Options::default())?;
    let out: Box<dyn Write> = match &args.out {
        Some(path) => {
            Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?)
        }
        None => Box::new(io::stdout().lock()),
    };
    let snapshot = db.snapshot();
    let entries = match write_entries(&snapshot, BufWriter::new(out)) {
        Ok(entries) => entries,
        // The reader went away (`strata dump dir | head`): not an error of the dump.
        Err(e) if is_broken_pipe(&e) => return Ok(Outcome::Ok),
        Err(e) => return Err(e),
    };
    eprintln!(
        "dumped {entries} entries from {} (snapshot at seqno {})",
        args.data_dir.display(),
        snapshot.seqno()
    );
    Ok(Outcome::Ok)
}

/// Writes every live entry of `snapshot` as a line; returns how many.
fn write_entries(snapshot: &Snapshot, mut out: impl Write) -> anyhow::Result<u64> {
    let mut after: Option<Vec<u8>> = None;
    let mut entries = 0u64;
    loop {
        let start = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let page = snapshot.scan(start, Bound::Unbounded, SCAN_LIMIT_MAX)?;
        for entry in &page {
            let line = EntryLine::new(&entry.key, &entry.value, entry.expires_at);
            serde_json::to_writer(&mut out, &line).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        }
        entries += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == SCAN_LIMIT_MAX => after = Some(last.key.to_vec()),
            _ => break,
        }
    }
    out.flush()?;
    Ok(entries)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
