//! `strata load <file> --data-dir DIR`: bulk import of JSON lines in the dump format.
//!
//! Lines are written as `Overwrite` ops in batches; the WAL is not fsynced per batch
//! (`SyncMode::Never`) but once at the end, followed by a flush, so an interrupted load
//! may keep any prefix of the input. Entries already expired are skipped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use strata_engine::batch::{BATCH_OPS_MAX, KEY_BYTES_MAX, VALUE_BYTES_MAX};
use strata_engine::{Op, Options, SyncMode, WriteBatch};

use super::entry::{open_offline, EntryLine};
use super::Outcome;

/// Ops per batch unless `--batch-ops` says otherwise.
const BATCH_OPS_DEFAULT: u64 = 256;
/// A batch is written once its keys and values reach this many bytes, however few ops it
/// holds, so a file of big values does not build huge batches.
const BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Longest input line accepted, in bytes: the largest value, base64-encoded, plus room.
const LINE_BYTES_MAX: usize = VALUE_BYTES_MAX / 3 * 4 + KEY_BYTES_MAX / 3 * 4 + 1024;

const AFTER_HELP: &str = "\
The input is JSON lines as `strata dump` writes them:
  {\"key\":\"user:1\",\"value\":\"hello\",\"expires_at\":null}
  {\"key_b64\":\"AAF1\",\"value_b64\":\"3q2+7w==\",\"expires_at\":1767225600}
Each entry replaces whatever is stored under its key. Entries whose expires_at has passed
are skipped. The WAL is synced once at the end (not per batch), then memtables are flushed.

Examples:
  strata load strata.jsonl --data-dir /srv/strata-new
  strata dump /var/lib/strata | strata load - --data-dir /srv/strata-copy
  zcat big.jsonl.gz | strata load - --data-dir ./data --batch-ops 1024

The data directory must not be in use by a running stratad (the load takes its lock).";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct LoadArgs {
    /// The JSON-lines file to read (`-`: standard input).
    pub file: PathBuf,
    /// The data directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Entries per write batch.
    #[arg(long, default_value_t = BATCH_OPS_DEFAULT,
          value_parser = clap::value_parser!(u64).range(1..=BATCH_OPS_MAX as u64))]
    pub batch_ops: u64,
}

/// What a load did.
#[derive(Debug, Default)]
struct Counts {
    loaded: u64,
    expired: u64,
}

pub fn run(args: LoadArgs) -> anyhow::Result<Outcome> {
    let (input, len): (Box<dyn Read>, Option<u64>) = if args.file.as_os_str() == "-" {
        (Box::new(io::stdin().lock()), None)
    } else {
        let file =
            File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
        let len = file.metadata()?.len();
        (Box::new(file), Some(len))
    };
    let progress = match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec}, eta {eta} {msg}",
            )
            .expect("valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} read, {bytes_per_sec} {msg}")
                .expect("valid template"),
        ),
    };
    let reader = BufReader::new(progress.wrap_read(input));

    let opts = Options {
        sync: SyncMode::Never,
        ..Options::default()
    };
    let db = open_offline(&args.data_dir, opts)?;
    let batch_ops = usize::try_from(args.batch_ops).expect("at most BATCH_OPS_MAX");
    let counts = load_lines(reader, &db, batch_ops, &progress)?;
    progress.finish_and_clear();
    // NOTE: nothing was fsynced so far; this makes the whole load durable.
    db.sync_wal().context("syncing the WAL")?;
    db.close().context("flushing and closing the database")?;
    println!(
        "loaded {} entries into {} ({} already expired, skipped)",
        counts.loaded,
        args.data_dir.display(),
        counts.expired
    );
    Ok(Outcome::Ok)
}

fn now_unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Parses and checks one line; `None` for an entry already expired at `now`.
fn parse_line(line: &str, now: u64) -> anyhow::Result<Option<Op>> {
    let parsed: EntryLine = serde_json::from_str(line)?;
    let (key, value, expires_at) = parsed.decode()?;
    if key.is_empty() || key.len() > KEY_BYTES_MAX {
        bail!("key of {} bytes, expected 1..={KEY_BYTES_MAX}", key.len());
    }
    if value.len() > VALUE_BYTES_MAX {
        bail!(
            "value of {} bytes, more than {VALUE_BYTES_MAX}",
            value.len()
        );
    }
    match expires_at {
        Some(0) => bail!("expires_at must be after the unix epoch (use null for never)"),
        Some(t) if t <= now => Ok(None),
        _ => Ok(Some(Op::overwrite(key, value).expires_at(expires_at))),
    }
}

fn load_lines(
    mut reader: impl BufRead,
    db: &strata_engine::Db,
    batch_ops: usize,
    progress: &ProgressBar,
) -> anyhow::Result<Counts> {
    let now = now_unix_secs();
    let mut counts = Counts::default();
    let mut batch = WriteBatch::new();
    let mut batch_bytes = 0;
    let mut line = String::new();
    let mut line_no = 0u64;
    let write = |batch: &mut WriteBatch, counts: &mut Counts, line_no: u64| {
        let n = batch.len() as u64;
        db.write(std::mem::take(batch))
            .with_context(|| format!("writing the batch ending at line {line_no}"))?;
        counts.loaded += n;
        progress.set_message(format!("{} entries", counts.loaded));
        anyhow::Ok(())
    };
    loop {
        line.clear();
        // `take` bounds what one line may allocate.
        let read = (&mut reader)
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_line(&mut line)
            .with_context(|| format!("reading line {}", line_no + 1))?;
        if read == 0 {
            break;
        }
        line_no += 1;
        if line.len() > LINE_BYTES_MAX {
            bail!("line {line_no} is longer than {LINE_BYTES_MAX} bytes");
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let Some(op) = parse_line(text, now).with_context(|| format!("line {line_no}"))? else {
            counts.expired += 1;
            continue;
        };
        batch_bytes += op.key.len() + op.value.len();
        batch.push(op);
        if batch.len() >= batch_ops || batch_bytes >= BATCH_BYTES_MAX {
            write(&mut batch, &mut counts, line_no)?;
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        write(&mut batch, &mut counts, line_no)?;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_overwrites_and_expired_ones_are_skipped() {
        let op = parse_line(r#"{"key":"k","value":"v","expires_at":200}"#, 100)
            .unwrap()
            .unwrap();
        assert_eq!(op, Op::overwrite("k", "v").expires_at(Some(200)));
        assert!(
            parse_line(r#"{"key":"k","value":"v","expires_at":100}"#, 100)
                .unwrap()
                .is_none()
        );
        for (bad, why) in [
            (r#"{"key":"","value":"v"}"#, "key of 0 bytes"),
            (
                r#"{"key":"k","value":"v","expires_at":0}"#,
                "after the unix epoch",
            ),
            (r#"{"key":"k""#, "EOF"),
        ] {
            let err = format!("{:#}", parse_line(bad, 100).unwrap_err());
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
