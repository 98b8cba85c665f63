//! `strata inspect wal|table|manifest <path>`: one file, decoded with the engine's own
//! decoders, for humans (default) or as one JSON document (`--json`).
//!
//! Text output shows keys escaped and cut after `KEY_SHOWN_BYTES_MAX` bytes; JSON output
//! carries exact keys (`key` when UTF-8, else `key_b64`) and value sizes, never values.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde::Serialize;
use strata_engine::batch::{Kind, Record};
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::manifest::{self, ManifestLog, VersionEdit};
use strata_engine::table::{self, BlockHandle, Table, TableMeta};
use strata_engine::{wal, Error};

use super::entry::{show_key, show_time, JsonKey};
use super::Outcome;

/// Ops of one WAL record listed in text output; the rest are counted.
const OPS_SHOWN_MAX: usize = 8;

const INSPECT_HELP: &str = "\
Examples:
  strata inspect wal /var/lib/strata/wal/00000000000000000007.wal
  strata inspect table --records /var/lib/strata/tables/00000000000000000012.sst
  strata inspect manifest /var/lib/strata            # the manifest CURRENT names
  strata inspect manifest --json /var/lib/strata/MANIFEST-000003 | jq .live

Exit status: 0 if the file decodes (a torn WAL tail included), 1 if it is damaged.";

#[derive(Debug, Subcommand)]
#[command(after_help = INSPECT_HELP)]
pub enum Command {
    /// A WAL segment: header, every record (offset, length, seqnos, ops, keys), torn tail.
    #[command(after_help = "\
Examples:
  strata inspect wal /var/lib/strata/wal/00000000000000000007.wal
  strata inspect wal --json data/wal/00000000000000000001.wal | jq '.records | length'")]
    Wal(FileArgs),
    /// A table: footer, meta (key, seqno and expiry ranges, counts), blocks, bloom filter.
    #[command(after_help = "\
Examples:
  strata inspect table /var/lib/strata/tables/00000000000000000012.sst
  strata inspect table --records --json data/tables/00000000000000000012.sst | jq .records")]
    Table(TableArgs),
    /// A manifest: every edit (tables added and removed, counters) and the live version.
    #[command(after_help = "\
Examples:
  strata inspect manifest /var/lib/strata                  # follows CURRENT
  strata inspect manifest --json /var/lib/strata/MANIFEST-000003 | jq .live")]
    Manifest(FileArgs),
}

#[derive(Debug, Args)]
pub struct FileArgs {
    /// The file (for `manifest`, a data directory works too: its CURRENT is followed).
    pub path: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TableArgs {
    #[command(flatten)]
    pub file: FileArgs,
    /// Also list every record (key, seqno, kind, expiry, value size).
    #[arg(long)]
    pub records: bool,
}

pub fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Wal(args) => inspect_wal(&args),
        Command::Table(args) => inspect_table(&args),
        Command::Manifest(args) => inspect_manifest(&args),
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Put => "put",
        Kind::Delete => "delete",
    }
}

/// One record (WAL op or table record) in JSON.
#[derive(Serialize)]
struct JsonRecord {
    #[serde(flatten)]
    key: JsonKey,
    seqno: u64,
    kind: &'static str,
    expires_at: Option<u64>,
    value_bytes: usize,
}

impl JsonRecord {
    fn new(r: &Record) -> JsonRecord {
        JsonRecord {
            key: JsonKey::new(&r.key),
            seqno: r.seqno,
            kind: kind_name(r.kind),
            expires_at: r.expiry(),
            value_bytes: r.value.len(),
        }
    }
}

/// One record in text: `put "key" seqno 7, 12 value bytes, expires ...`.
fn show_record(r: &Record) -> String {
    let mut out = format!(
        "{} {} seqno {}",
        kind_name(r.kind),
        show_key(&r.key),
        r.seqno
    );
    if r.kind == Kind::Put {
        out.push_str(&format!(", {} value bytes", r.value.len()));
    }
    if let Some(t) = r.expiry() {
        out.push_str(&format!(", expires {}", show_time(t)));
    }
    out
}

// ---------------------------------------------------------------------------------------
// WAL

#[derive(Serialize)]
struct WalReport {
    path: PathBuf,
    segment_id: Option<u64>,
    file_bytes: u64,
    header: WalHeader,
    records: Vec<WalRecord>,
    damage: Option<WalDamage>,
}

#[derive(Serialize)]
struct WalHeader {
    /// The first 8 bytes, escaped.
    magic: String,
    version: Option<u32>,
    ok: bool,
}

#[derive(Serialize)]
struct WalRecord {
    offset: u64,
    payload_bytes: u64,
    first_seqno: u64,
    last_seqno: u64,
    ops: Vec<JsonRecord>,
}

#[derive(Serialize)]
struct WalDamage {
    offset: u64,
    /// Bytes from the damage to the end of the file.
    bytes: u64,
    reason: String,
    /// Shaped like an interrupted write: recovery cuts it if this is the last segment.
    torn_tail: bool,
}

fn inspect_wal(args: &FileArgs) -> anyhow::Result<Outcome> {
    let path = &args.path;
    let data = RealFs.read(path)?;
    let mut records = Vec::new();
    let damage = wal::inspect_segment(&data, &mut None, &mut |frame| records.push(frame));
    let header_ok = damage.as_ref().is_none_or(|d| d.offset != 0);
    let report = WalReport {
        path: path.clone(),
        segment_id: path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(wal::parse_segment_name),
        file_bytes: data.len() as u64,
        header: WalHeader {
            magic: data[..data.len().min(wal::SEGMENT_MAGIC.len())]
                .escape_ascii()
                .to_string(),
            version: data
                .get(8..12)
                .map(|v| u32::from_le_bytes(v.try_into().expect("4 bytes"))),
            ok: header_ok,
        },
        records: records
            .iter()
            .map(|f| WalRecord {
                offset: f.offset,
                payload_bytes: f.payload_bytes,
                first_seqno: f.records[0].seqno,
                last_seqno: f.records[f.records.len() - 1].seqno,
                ops: f.records.iter().map(JsonRecord::new).collect(),
            })
            .collect(),
        damage: damage.map(|d| WalDamage {
            offset: d.offset,
            bytes: data.len() as u64 - d.offset,
            reason: d.reason,
            torn_tail: d.torn_shaped,
        }),
    };
    let outcome = match &report.damage {
        Some(d) if !d.torn_tail => Outcome::Damaged,
        _ => Outcome::Ok,
    };
    if args.json {
        print_json(&report)?;
        return Ok(outcome);
    }

    println!("WAL segment {}", path.display());
    if let Some(id) = report.segment_id {
        println!("segment id: {id}");
    }
    println!("file bytes: {}", report.file_bytes);
    println!(
        "header: magic \"{}\", version {}, {}",
        report.header.magic,
        report
            .header
            .version
            .map_or("?".to_string(), |v| v.to_string()),
        if header_ok { "ok" } else { "DAMAGED" }
    );
    println!("records: {}", report.records.len());
    for (frame, record) in records.iter().zip(&report.records) {
        println!(
            "  @{} len {} seqno {}..{} ops {}",
            record.offset,
            record.payload_bytes,
            record.first_seqno,
            record.last_seqno,
            record.ops.len()
        );
        for r in frame.records.iter().take(OPS_SHOWN_MAX) {
            println!("    {}", show_record(r));
        }
        if frame.records.len() > OPS_SHOWN_MAX {
            println!("    … and {} more ops", frame.records.len() - OPS_SHOWN_MAX);
        }
    }
    match &report.damage {
        None => println!("end: clean (no torn tail)"),
        Some(d) if d.torn_tail => println!(
            "end: torn tail at offset {} ({} bytes): {}; recovery cuts it if this is the \
             last segment (corruption otherwise)",
            d.offset, d.bytes, d.reason
        ),
        Some(d) => println!(
            "DAMAGE at offset {} ({} bytes to the end): {}",
            d.offset, d.bytes, d.reason
        ),
    }
    Ok(outcome)
}

// ---------------------------------------------------------------------------------------
// Table

#[derive(Serialize)]
struct JsonMeta {
    smallest_key: JsonKey,
    largest_key: JsonKey,
    min_seqno: u64,
    max_seqno: u64,
    entries: u64,
    tombstones: u64,
    expiring_entries: u64,
    min_expires_at: Option<u64>,
    max_expires_at: Option<u64>,
}

impl JsonMeta {
    fn new(m: &TableMeta) -> JsonMeta {
        JsonMeta {
            smallest_key: JsonKey::new(&m.smallest_key),
            largest_key: JsonKey::new(&m.largest_key),
            min_seqno: m.min_seqno,
            max_seqno: m.max_seqno,
            entries: m.entries,
            tombstones: m.tombstones,
            expiring_entries: m.expiring_entries,
            min_expires_at: m.min_expires_at,
            max_expires_at: m.max_expires_at,
        }
    }
}

#[derive(Serialize)]
struct JsonBlock {
    offset: u64,
    size: u32,
}

impl From<BlockHandle> for JsonBlock {
    fn from(h: BlockHandle) -> JsonBlock {
        JsonBlock {
            offset: h.offset,
            size: h.size,
        }
    }
}

#[derive(Serialize)]
struct TableReport {
    path: PathBuf,
    file_bytes: u64,
    format_version: u32,
    meta: JsonMeta,
    data_blocks: u64,
    data_bytes: u64,
    bloom: JsonBlock,
    bloom_probes: u8,
    bloom_bits_bytes: usize,
    meta_block: JsonBlock,
    index_block: JsonBlock,
    footer: JsonBlock,
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<Vec<JsonRecord>>,
    /// Set if reading the records failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    damage: Option<String>,
}

fn inspect_table(args: &TableArgs) -> anyhow::Result<Outcome> {
    let path = &args.file.path;
    let table = match Table::open(&RealFs, path) {
        Ok(table) => Arc::new(table),
        Err(e @ Error::Corruption { .. }) => return damaged(args.file.json, path, &e),
        Err(e) => return Err(e.into()),
    };
    let layout = table.layout()?;
    let meta = table.meta();
    let mut records = Vec::new();
    let mut damage = None;
    if args.records {
        let mut it = table.iter();
        loop {
            match it.next_record() {
                Ok(Some(r)) => records.push(r),
                Ok(None) => break,
                Err(e) => {
                    damage = Some(e.to_string());
                    break;
                }
            }
        }
    }
    let report = TableReport {
        path: path.clone(),
        file_bytes: meta.file_bytes,
        format_version: table::FORMAT_VERSION,
        meta: JsonMeta::new(meta),
        data_blocks: layout.data_blocks,
        data_bytes: layout.bloom.offset,
        bloom: layout.bloom.into(),
        bloom_probes: layout.bloom_probes,
        bloom_bits_bytes: layout.bloom_bits_bytes,
        meta_block: layout.meta.into(),
        index_block: layout.index.into(),
        footer: JsonBlock {
            offset: layout.index.end(),
            size: u32::try_from(layout.footer_bytes).expect("footer is small"),
        },
        records: args
            .records
            .then(|| records.iter().map(JsonRecord::new).collect()),
        damage,
    };
    let outcome = if report.damage.is_some() {
        Outcome::Damaged
    } else {
        Outcome::Ok
    };
    if args.file.json {
        print_json(&report)?;
        return Ok(outcome);
    }

    println!("table {}", path.display());
    println!(
        "file bytes: {}, format version {}",
        report.file_bytes, report.format_version
    );
    println!(
        "keys: {} .. {}",
        show_key(&meta.smallest_key),
        show_key(&meta.largest_key)
    );
    println!("seqnos: {} .. {}", meta.min_seqno, meta.max_seqno);
    println!(
        "entries: {} ({} tombstones, {} expiring)",
        meta.entries, meta.tombstones, meta.expiring_entries
    );
    match (meta.min_expires_at, meta.max_expires_at) {
        (Some(min), Some(max)) => println!("expiry: {} .. {}", show_time(min), show_time(max)),
        _ => println!("expiry: none"),
    }
    println!(
        "data: {} blocks, {} bytes",
        report.data_blocks, report.data_bytes
    );
    let bits_per_entry = if meta.entries == 0 {
        0.0
    } else {
        (layout.bloom_bits_bytes * 8) as f64 / meta.entries as f64
    };
    println!(
        "bloom: @{} {} bytes, {} probes, {} bit bytes (~{bits_per_entry:.1} bits per entry)",
        layout.bloom.offset, layout.bloom.size, layout.bloom_probes, layout.bloom_bits_bytes
    );
    println!(
        "meta block: @{} {} bytes",
        layout.meta.offset, layout.meta.size
    );
    println!(
        "index block: @{} {} bytes",
        layout.index.offset, layout.index.size
    );
    println!(
        "footer: @{} {} bytes",
        report.footer.offset, report.footer.size
    );
    if args.records {
        println!("records: {}", records.len());
        for r in &records {
            println!("  {}", show_record(r));
        }
    }
    if let Some(damage) = &report.damage {
        println!("DAMAGE: {damage}");
    }
    Ok(outcome)
}

/// Reports a file that does not decode at all.
fn damaged(json: bool, path: &Path, e: &Error) -> anyhow::Result<Outcome> {
    if json {
        print_json(&serde_json::json!({ "path": path, "damage": e.to_string() }))?;
    } else {
        println!("DAMAGE: {e}");
    }
    Ok(Outcome::Damaged)
}

// ---------------------------------------------------------------------------------------
// Manifest

#[derive(Serialize)]
struct JsonTable {
    id: u64,
    level: usize,
    file_bytes: u64,
    #[serde(flatten)]
    meta: JsonMeta,
}

impl JsonTable {
    fn new(id: u64, level: usize, meta: &TableMeta) -> JsonTable {
        JsonTable {
            id,
            level,
            file_bytes: meta.file_bytes,
            meta: JsonMeta::new(meta),
        }
    }
}

#[derive(Serialize)]
struct JsonEdit {
    offset: u64,
    snapshot: bool,
    log_number: Option<u64>,
    next_table_id: Option<u64>,
    last_seqno: Option<u64>,
    added: Vec<JsonTable>,
    removed: Vec<u64>,
}

#[derive(Serialize)]
struct JsonLive {
    log_number: u64,
    next_table_id: u64,
    last_seqno: u64,
    tables: Vec<JsonTable>,
}

#[derive(Serialize)]
struct ManifestReport {
    path: PathBuf,
    edits: Vec<JsonEdit>,
    torn: Option<JsonTorn>,
    live: JsonLive,
}

#[derive(Serialize)]
struct JsonTorn {
    offset: u64,
    reason: String,
}

fn show_table(id: u64, level: usize, m: &TableMeta) -> String {
    format!(
        "table {id} L{level}: {} bytes, keys {} .. {}, seqnos {}..{}, {} entries ({} tombstones)",
        m.file_bytes,
        show_key(&m.smallest_key),
        show_key(&m.largest_key),
        m.min_seqno,
        m.max_seqno,
        m.entries,
        m.tombstones
    )
}

fn show_counters(edit: &VersionEdit) -> String {
    let counters: Vec<String> = [
        ("log_number", edit.log_number),
        ("next_table_id", edit.next_table_id),
        ("last_seqno", edit.last_seqno),
    ]
    .iter()
    .filter_map(|(name, v)| v.map(|v| format!("{name} {v}")))
    .collect();
    counters.join(", ")
}

fn inspect_manifest(args: &FileArgs) -> anyhow::Result<Outcome> {
    let path = if args.path.is_dir() {
        manifest::current_manifest_path(&RealFs, &args.path)?
    } else {
        args.path.clone()
    };
    let data = RealFs.read(&path)?;
    let log: ManifestLog = match manifest::decode_manifest(&path, &data) {
        Ok(log) => log,
        Err(e @ Error::Corruption { .. }) => return damaged(args.json, &path, &e),
        Err(e) => return Err(e.into()),
    };
    let state = &log.state;
    let report = ManifestReport {
        path: path.clone(),
        edits: log
            .edits
            .iter()
            .map(|e| JsonEdit {
                offset: e.offset,
                snapshot: e.snapshot,
                log_number: e.edit.log_number,
                next_table_id: e.edit.next_table_id,
                last_seqno: e.edit.last_seqno,
                added: e
                    .edit
                    .added
                    .iter()
                    .map(|t| JsonTable::new(t.id, t.level, &t.meta))
                    .collect(),
                removed: e.edit.removed.clone(),
            })
            .collect(),
        torn: log.torn.as_ref().map(|(offset, reason)| JsonTorn {
            offset: *offset,
            reason: reason.clone(),
        }),
        live: JsonLive {
            log_number: state.log_number,
            next_table_id: state.next_table_id,
            last_seqno: state.last_seqno,
            tables: state
                .tables
                .iter()
                .map(|(&id, t)| JsonTable::new(id, t.level, &t.meta))
                .collect(),
        },
    };
    if args.json {
        print_json(&report)?;
        return Ok(Outcome::Ok);
    }

    println!("manifest {}: {} edits", path.display(), log.edits.len());
    for logged in &log.edits {
        let edit = &logged.edit;
        let kind = if logged.snapshot { " (snapshot)" } else { "" };
        println!("edit @{}{kind}: {}", logged.offset, show_counters(edit));
        for t in &edit.added {
            println!("  + {}", show_table(t.id, t.level, &t.meta));
        }
        for id in &edit.removed {
            println!("  - table {id}");
        }
    }
    if let Some((offset, reason)) = &log.torn {
        println!("torn last edit at offset {offset}: {reason} (the next open cuts it)");
    }
    println!(
        "live version: log_number {}, next_table_id {}, last_seqno {}, {} tables",
        state.log_number,
        state.next_table_id,
        state.last_seqno,
        state.tables.len()
    );
    let mut by_level: Vec<_> = state.tables.iter().collect();
    by_level.sort_by_key(|(id, t)| (t.level, **id));
    for (&id, t) in by_level {
        println!("  {}", show_table(id, t.level, &t.meta));
    }
    Ok(Outcome::Ok)
}
