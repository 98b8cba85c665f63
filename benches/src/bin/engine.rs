//! `strata-bench-engine`: Strata's storage engine against fjall, db_bench style.
//!
//! Both engines run the same workloads on the same data and the same file system, one
//! after the other (alternating which goes first every round). Each (workload, engine)
//! runs in a child process of this binary, so peak RSS and `/proc/self/io` byte counts
//! belong to that engine alone; the child prints `@metric` lines that the parent collects
//! and reports side by side with the ratio strata/fjall, followed by the issue's targets.
//!
//! ```text
//! strata-bench-engine --num 200000 --workloads fillseq,random,durable
//! ```
//!
//! See `docs/benchmarks.md` for every workload and what limits each figure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::{Parser, ValueEnum};
use strata_benches::engines::{self, BenchEngine, EngineConfig, EngineKind, StrataEngine};
use strata_benches::metrics::{format_metric, parse_metric, Results};
use strata_benches::sys::{self, ProcIo, ProcMemory, Span, Stopwatch};
use strata_benches::workload::{key, Permutation, Uniform, ValueGen, KEY_BYTES};
use strata_engine::{Clock, ManualClock, SystemClock};

const MIB: f64 = 1024.0 * 1024.0;
/// Memtable size of the reopen workload: large enough that nothing flushes, so every
/// entry is replayed from the WAL on open.
const REOPEN_MEMTABLE_BYTES: u64 = 3 * 1024 * 1024 * 1024;
/// TTL of the expiry workload's entries, in seconds (the clock is then moved past it).
const EXPIRY_TTL_SECS: u64 = 3600;
/// How often the expiry workload measures the data directory.
const EXPIRY_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The expiry workload watches for at least this long, and at least four sweep intervals.
const EXPIRY_WATCH_MIN: Duration = Duration::from_secs(30);
/// The issue's target: disk below this share of its peak once everything expired ...
const EXPIRY_DISK_SHARE_MAX: f64 = 0.10;
/// ... within this many sweep intervals.
const EXPIRY_SWEEP_INTERVALS_MAX: f64 = 2.0;
/// Durable commit latency may be at most this many raw fdatasyncs.
const COMMIT_VS_FDATASYNC_MAX: f64 = 1.5;
/// Many durable writers must reach at least this many times one writer's throughput.
const WRITER_SCALING_MIN: f64 = 20.0;
/// Disk bytes per live user byte after the overwrite rounds and compaction.
const SPACE_AMP_MAX: f64 = 1.3;
/// Reopen time with the reopen workload's unflushed WAL entries.
const REOPEN_SECS_MAX: f64 = 2.0;
/// Peak RSS while loading the load workload's keys.
const LOAD_PEAK_RSS_MIB_MAX: f64 = 256.0;
/// Bytes a WAL frame adds around one single-op batch: frame header (8), batch header (12)
/// and record header (17); the raw fdatasync loop appends records of the same size.
const WAL_SINGLE_OP_OVERHEAD_BYTES: usize = 8 + 12 + 17;
/// How often a child samples its anonymous and file-backed resident memory.
const MEMORY_SAMPLE_INTERVAL: Duration = Duration::from_millis(50);
/// The single-writer and raw fdatasync measurements alternate in this many slices.
const DURABLE_SLICES: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// Sequential keys into an empty engine.
    Fillseq,
    /// fillrandom, overwrite, then (after compaction) readrandom and readseq.
    Random,
    /// Raw fdatasync loop, then durable writes from 1 thread and from --durable-threads.
    Durable,
    /// Write every key, overwrite every key --overwrites times, compact: space amplification.
    Space,
    /// Strata only: keys with a TTL, clock moved past it, disk watched while the sweep runs.
    Expiry,
    /// Write keys into a huge memtable (nothing flushed), then time the reopen.
    Reopen,
    /// fillrandom of --load-num keys: peak RSS.
    Load,
}

/// What one child process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    Fillseq,
    Random,
    Durable,
    Space,
    Expiry,
    ReopenFill,
    ReopenOpen,
    Load,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Fillseq => "fillseq",
            Workload::Random => "random",
            Workload::Durable => "durable",
            Workload::Space => "space",
            Workload::Expiry => "expiry",
            Workload::Reopen => "reopen",
            Workload::Load => "load",
        }
    }

    fn phases(self) -> &'static [Phase] {
        match self {
            Workload::Fillseq => &[Phase::Fillseq],
            Workload::Random => &[Phase::Random],
            Workload::Durable => &[Phase::Durable],
            Workload::Space => &[Phase::Space],
            Workload::Expiry => &[Phase::Expiry],
            Workload::Reopen => &[Phase::ReopenFill, Phase::ReopenOpen],
            Workload::Load => &[Phase::Load],
        }
    }

    fn supports(self, engine: EngineKind) -> bool {
        // fjall 2 has no TTL.
        self != Workload::Expiry || engine == EngineKind::Strata
    }
}

/// Strata's engine against fjall: ops/s, write and space amplification, peak RSS.
#[derive(Debug, Clone, Parser)]
#[command(name = "strata-bench-engine", version)]
struct Args {
    /// Keys written by fillseq, fillrandom and overwrite (and read by readrandom unless
    /// --reads is given).
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Point reads of readrandom (default: --num).
    #[arg(long)]
    reads: Option<u64>,
    /// Bytes per value (keys are always 16 bytes).
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Workloads to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fillseq,random,durable,space,expiry,reopen"
    )]
    workloads: Vec<Workload>,
    /// Engines to compare.
    #[arg(long, value_delimiter = ',', default_value = "strata,fjall")]
    engines: Vec<EngineKind>,
    /// Rounds per workload; engines alternate who goes first, the report shows medians.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// Directory for the data (default: a fresh directory under the system temp dir).
    /// Put it on the file system you want to measure.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seconds of each durable-write measurement (raw fdatasync, 1 writer, many writers).
    #[arg(long, default_value_t = 5.0)]
    durable_secs: f64,
    /// Concurrent writers of the group-commit measurement.
    #[arg(long, default_value_t = 64)]
    durable_threads: usize,
    /// Overwrite rounds of the space workload.
    #[arg(long, default_value_t = 10)]
    overwrites: u32,
    /// Keys of the space workload (default: --num).
    #[arg(long)]
    space_num: Option<u64>,
    /// Keys of the expiry workload (default: --num).
    #[arg(long)]
    expiry_num: Option<u64>,
    /// Unflushed WAL entries of the reopen workload (default: --num).
    #[arg(long)]
    reopen_num: Option<u64>,
    /// Keys of the load workload.
    #[arg(long, default_value_t = 10_000_000)]
    load_num: u64,
    /// Strata's TTL sweep interval in the expiry workload, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    sweep_interval_ms: u64,
    /// Seed of every random order and value.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the data directories afterwards.
    #[arg(long)]
    keep: bool,
    /// Internal: run one phase for one engine in this process (with --child-engine and
    /// --child-dir) and print its metrics.
    #[arg(long, value_enum, hide = true)]
    child: Option<Phase>,
    #[arg(long, hide = true)]
    child_engine: Option<EngineKind>,
    #[arg(long, hide = true)]
    child_dir: Option<PathBuf>,
}

impl Args {
    fn reads(&self) -> u64 {
        self.reads.unwrap_or(self.num)
    }
    fn space_num(&self) -> u64 {
        self.space_num.unwrap_or(self.num)
    }
    fn expiry_num(&self) -> u64 {
        self.expiry_num.unwrap_or(self.num)
    }
    fn reopen_num(&self) -> u64 {
        self.reopen_num.unwrap_or(self.num)
    }
    fn durable_duration(&self) -> Duration {
        Duration::from_secs_f64(self.durable_secs)
    }
    fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.sweep_interval_ms)
    }
    fn user_bytes_per_entry(&self) -> u64 {
        (KEY_BYTES + self.value_size) as u64
    }

    /// The arguments a child needs to run `phase` for `engine` in `dir`.
    fn child_args(&self, phase: Phase, engine: EngineKind, dir: &Path) -> Vec<String> {
        let phase = phase
            .to_possible_value()
            .expect("no phase is skipped")
            .get_name()
            .to_string();
        vec![
            format!("--child={phase}"),
            format!("--child-engine={}", engine.name()),
            format!("--child-dir={}", dir.display()),
            format!("--num={}", self.num),
            format!("--reads={}", self.reads()),
            format!("--value-size={}", self.value_size),
            format!("--durable-secs={}", self.durable_secs),
            format!("--durable-threads={}", self.durable_threads),
            format!("--overwrites={}", self.overwrites),
            format!("--space-num={}", self.space_num()),
            format!("--expiry-num={}", self.expiry_num()),
            format!("--reopen-num={}", self.reopen_num()),
            format!("--load-num={}", self.load_num),
            format!("--sweep-interval-ms={}", self.sweep_interval_ms),
            format!("--seed={}", self.seed),
        ]
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.num > 0, "--num must be at least 1");
    ensure!(args.value_size > 0, "--value-size must be at least 1");
    ensure!(
        args.durable_threads > 0,
        "--durable-threads must be at least 1"
    );
    match args.child {
        Some(phase) => {
            let engine = args.child_engine.context("--child needs --child-engine")?;
            let dir = args
                .child_dir
                .clone()
                .context("--child needs --child-dir")?;
            run_child(&args, phase, engine, &dir)
        }
        None => run_parent(&args),
    }
}

// ---------------------------------------------------------------------------------------
// Parent: orchestration and report

fn run_parent(args: &Args) -> Result<()> {
    let (base, temp_dir) = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            (dir.clone(), None)
        }
        None => {
            let temp = tempfile::Builder::new().prefix("strata-bench-").tempdir()?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    print_machine(args, &base);
    let exe = std::env::current_exe()?;
    let mut results = Results::default();
    for &workload in &args.workloads {
        for round in 0..args.rounds {
            let mut order: Vec<EngineKind> = args
                .engines
                .iter()
                .copied()
                .filter(|&e| workload.supports(e))
                .collect();
            // Alternate who goes first: whoever runs second inherits a warmer (or busier)
            // machine.
            if round % 2 == 1 {
                order.reverse();
            }
            for engine in order {
                let dir = base.join(format!("{}-{}-r{round}", workload.name(), engine.name()));
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)?;
                }
                std::fs::create_dir_all(&dir)?;
                for &phase in workload.phases() {
                    eprintln!(
                        "== {} / {} / round {} ({:?})",
                        workload.name(),
                        engine.name(),
                        round + 1,
                        phase
                    );
                    let output = Command::new(&exe)
                        .args(args.child_args(phase, engine, &dir))
                        .stdin(Stdio::null())
                        .stderr(Stdio::inherit())
                        .output()
                        .with_context(|| format!("running {exe:?}"))?;
                    let stdout = String::from_utf8_lossy(&output.stdout);
                    for (name, value) in stdout.lines().filter_map(parse_metric) {
                        results.record(workload.name(), engine, &name, value);
                    }
                    if !output.status.success() {
                        bail!(
                            "{} / {} ({phase:?}) failed: {}",
                            workload.name(),
                            engine.name(),
                            output.status
                        );
                    }
                }
                if !args.keep {
                    std::fs::remove_dir_all(&dir)?;
                }
            }
        }
    }
    print_results(args, &results);
    print_targets(args, &results);
    if args.keep {
        println!("\ndata kept in {}", base.display());
        if let Some(temp) = temp_dir {
            let _ = temp.keep();
        }
    }
    Ok(())
}

fn print_machine(args: &Args, base: &Path) {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("strata-bench-engine");
    println!(
        "  machine: {cpus} CPUs, {:.1} GiB RAM, kernel {}",
        mem_kib as f64 / MIB,
        kernel.trim()
    );
    println!("  data:    {} ({})", base.display(), mount_of(base));
    println!(
        "  keys {KEY_BYTES} B, values {} B, num {}, reads {}, rounds {}, engines {:?}",
        args.value_size,
        args.num,
        args.reads(),
        args.rounds,
        args.engines
    );
}

/// "device fstype" of the mount holding `path` (longest mount point prefix).
fn mount_of(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (dev, point, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(point)
                .then(|| (point.len(), format!("{dev} {fstype} on {point}")))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown file system".to_string(), |(_, desc)| desc)
}

fn print_results(args: &Args, results: &Results) {
    let [strata, fjall] = EngineKind::ALL;
    println!();
    println!(
        "{:<9} {:<34} {:>14} {:>14} {:>13}",
        "workload", "metric", "strata", "fjall", "strata/fjall"
    );
    for (workload, metric) in results.rows() {
        let s = results.get(workload, strata, metric);
        let f = results.get(workload, fjall, metric);
        let cell = |v: Option<f64>| v.map_or_else(|| "-".to_string(), format_value);
        let ratio = match (s, f) {
            (Some(s), Some(f)) if f != 0.0 => format!("{:.2}x", s / f),
            _ => "-".to_string(),
        };
        println!(
            "{workload:<9} {metric:<34} {:>14} {:>14} {ratio:>13}",
            cell(s),
            cell(f)
        );
    }
    if args.rounds > 1 {
        println!("(medians over {} rounds)", args.rounds);
    }
}

fn format_value(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn print_targets(args: &Args, results: &Results) {
    let [strata, fjall] = EngineKind::ALL;
    let get = |w: Workload, e, m| results.get(w.name(), e, m);
    let ratio = |w: Workload, m| Some(get(w, strata, m)? / get(w, fjall, m)?);
    let mut rows: Vec<(String, Option<f64>, String, Option<bool>)> = Vec::new();
    let fill = ratio(Workload::Random, "fillrandom_ops_per_s");
    rows.push((
        "fillrandom >= 1.0x fjall".into(),
        fill,
        "x".into(),
        fill.map(|r| r >= 1.0),
    ));
    let read = ratio(Workload::Random, "readrandom_ops_per_s");
    rows.push((
        "readrandom >= 1.0x fjall".into(),
        read,
        "x".into(),
        read.map(|r| r >= 1.0),
    ));
    let commit = get(Workload::Durable, strata, "commit_vs_fdatasync");
    rows.push((
        format!("durable commit <= {COMMIT_VS_FDATASYNC_MAX}x raw fdatasync"),
        commit,
        "x".into(),
        commit.map(|r| r <= COMMIT_VS_FDATASYNC_MAX),
    ));
    let scaling = get(Workload::Durable, strata, "durable_scaling");
    rows.push((
        format!(
            "{} durable writers >= {WRITER_SCALING_MIN}x one",
            args.durable_threads
        ),
        scaling,
        "x".into(),
        scaling.map(|r| r >= WRITER_SCALING_MIN),
    ));
    let space = get(Workload::Space, strata, "space_amp");
    rows.push((
        format!(
            "space amp <= {SPACE_AMP_MAX} after {} overwrites",
            args.overwrites
        ),
        space,
        "".into(),
        space.map(|r| r <= SPACE_AMP_MAX),
    ));
    let share = get(Workload::Expiry, strata, "expiry_final_disk_share");
    let intervals = get(Workload::Expiry, strata, "expiry_intervals_to_10pct");
    rows.push((
        format!(
            "expired: disk < {:.0}% of peak within {EXPIRY_SWEEP_INTERVALS_MAX} sweep intervals",
            EXPIRY_DISK_SHARE_MAX * 100.0
        ),
        intervals,
        " intervals".into(),
        share.map(|s| {
            s < EXPIRY_DISK_SHARE_MAX
                && intervals.is_some_and(|i| (0.0..=EXPIRY_SWEEP_INTERVALS_MAX).contains(&i))
        }),
    ));
    let reopen = get(Workload::Reopen, strata, "reopen_s");
    rows.push((
        format!(
            "reopen with {} unflushed WAL entries <= {REOPEN_SECS_MAX} s",
            args.reopen_num()
        ),
        reopen,
        " s".into(),
        reopen.map(|s| s <= REOPEN_SECS_MAX),
    ));
    let rss = get(Workload::Load, strata, "peak_rss_mib");
    rows.push((
        format!(
            "peak RSS loading {} keys <= {LOAD_PEAK_RSS_MIB_MAX} MiB",
            args.load_num
        ),
        rss,
        " MiB".into(),
        rss.map(|m| m <= LOAD_PEAK_RSS_MIB_MAX),
    ));
    println!();
    println!("targets (strata):");
    for (name, value, unit, met) in rows {
        let value = value.map_or_else(|| "-".to_string(), |v| format!("{}{unit}", format_value(v)));
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not run",
        };
        println!("  {name:<58} {value:>16}  {verdict}");
    }
}

// ---------------------------------------------------------------------------------------
// Child: one phase for one engine

/// Prints metrics as `@metric` lines for the parent.
struct Emitter {
    memory: sys::MemorySampler,
}

impl Emitter {
    fn emit(&self, name: &str, value: f64) {
        println!("{}", format_metric(name, value));
    }

    /// Operations per second of `ops` done in `elapsed`.
    fn rate(&self, name: &str, ops: u64, elapsed: Duration) {
        let rate = ops as f64 / elapsed.as_secs_f64();
        eprintln!("   {name}: {ops} ops in {elapsed:.2?} = {rate:.0} ops/s");
        self.emit(&format!("{name}_ops_per_s"), rate);
    }

    /// [`Emitter::rate`], plus the process CPU time per operation: less sensitive than
    /// wall-clock time to other processes competing for the CPUs.
    fn rate_cpu(&self, name: &str, ops: u64, span: Span) {
        self.rate(name, ops, span.wall);
        self.emit(
            &format!("{name}_cpu_us_per_op"),
            span.cpu.as_secs_f64() * 1e6 / ops as f64,
        );
    }

    fn memory(&self) {
        if let Some(m) = ProcMemory::read() {
            self.emit("peak_rss_mib", m.peak_rss_bytes as f64 / MIB);
            let peaks = self.memory.peaks();
            self.emit("peak_rss_anon_mib", peaks.rss_anon_bytes as f64 / MIB);
            self.emit("peak_rss_file_mib", peaks.rss_file_bytes as f64 / MIB);
            self.emit("end_rss_anon_mib", m.rss_anon_bytes as f64 / MIB);
            self.emit("end_rss_file_mib", m.rss_file_bytes as f64 / MIB);
        }
    }

    fn disk(&self, dir: &Path, live_user_bytes: u64) -> Result<u64> {
        let usage = sys::disk_usage(dir)?;
        self.emit("disk_mib", usage.allocated_bytes as f64 / MIB);
        if live_user_bytes > 0 {
            self.emit(
                "space_amp",
                usage.allocated_bytes as f64 / live_user_bytes as f64,
            );
        }
        Ok(usage.allocated_bytes)
    }

    fn write_amp(&self, io_before: Option<ProcIo>, user_bytes: u64) {
        if let (Some(before), Some(after)) = (io_before, ProcIo::read()) {
            let written = after.written_since(&before);
            self.emit("disk_written_mib", written as f64 / MIB);
            self.emit("write_amp", written as f64 / user_bytes as f64);
        }
    }

    fn counters(&self, engine: &dyn BenchEngine) {
        for (name, value) in engine.counters() {
            self.emit(&format!("engine_{name}"), value);
        }
    }
}

fn run_child(args: &Args, phase: Phase, kind: EngineKind, dir: &Path) -> Result<()> {
    let out = Emitter {
        memory: sys::MemorySampler::start(MEMORY_SAMPLE_INTERVAL)?,
    };
    match phase {
        Phase::Fillseq => fillseq(args, kind, dir, &out),
        Phase::Random => random(args, kind, dir, &out),
        Phase::Durable => durable(args, kind, dir, &out),
        Phase::Space => space(args, kind, dir, &out),
        Phase::Expiry => expiry(args, kind, dir, &out),
        Phase::ReopenFill => reopen_fill(args, kind, dir, &out),
        Phase::ReopenOpen => reopen_open(args, kind, dir, &out),
        Phase::Load => load(args, kind, dir, &out),
    }
}

fn buffered() -> EngineConfig {
    EngineConfig::default()
}

/// Writes key `order(i)` for every `i in 0..n`; returns the time taken.
fn write_all(
    engine: &dyn BenchEngine,
    values: &mut ValueGen,
    n: u64,
    mut order: impl FnMut(u64) -> u64,
) -> Result<Span> {
    let watch = Stopwatch::start();
    for i in 0..n {
        engine.put(&key(order(i)), values.next_value())?;
    }
    Ok(watch.stop())
}

/// Flushes and waits for compaction; reports how long it took.
fn settle(engine: &dyn BenchEngine, out: &Emitter, name: &str) -> Result<()> {
    let started = Instant::now();
    engine.settle()?;
    let elapsed = started.elapsed();
    eprintln!("   {name}: settled in {elapsed:.2?}");
    out.emit(&format!("{name}_settle_s"), elapsed.as_secs_f64());
    Ok(())
}

fn fillseq(args: &Args, kind: EngineKind, dir: &Path, out: &Emitter) -> Result<()> {
    let io = ProcIo::read();
    let engine = engines::open(kind, dir, &buffered())?;
    let mut values = ValueGen::new(args.value_size, args.seed);
    let elapsed = write_all(engine.as_ref(), &mut values, args.num, |i| i)?;
    out.rate_cpu("fillseq", args.num, elapsed);
    settle(engine.as_ref(), out, "fillseq")?;
    engine.sync()?;
    let user = args.num * args.user_bytes_per_entry();
    out.write_amp(io, user);
    out.disk(dir, user)?;
    out.counters(engine.as_ref());
    out.memory();
    Ok(())
}

fn random(args: &Args, kind: EngineKind, dir: &Path, out: &Emitter) -> Result<()> {
    let io = ProcIo::read();
    let engine = engines::open(kind, dir, &buffered())?;
    let mut values = ValueGen::new(args.value_size, args.seed);
    let order = Permutation::new(args.num, args.seed);
    let elapsed = write_all(engine.as_ref(), &mut values, args.num, |i| order.at(i))?;
    out.rate_cpu("fillrandom", args.num, elapsed);

    let mut draws = Uniform::new(args.num, args.seed + 1);
    let elapsed = write_all(engine.as_ref(), &mut values, args.num, |_| {
        draws.next_number()
    })?;
    out.rate_cpu("overwrite", args.num, elapsed);
    settle(engine.as_ref(), out, "overwrite")?;
    engine.sync()?;
    out.write_amp(io, 2 * args.num * args.user_bytes_per_entry());
    out.disk(dir, args.num * args.user_bytes_per_entry())?;

    let mut draws = Uniform::new(args.num, args.seed + 2);
    let watch = Stopwatch::start();
    let mut found = 0u64;
    for _ in 0..args.reads() {
        if engine.get(&key(draws.next_number()))?.is_some() {
            found += 1;
        }
    }
    let elapsed = watch.stop();
    ensure!(
        found == args.reads(),
        "readrandom found {found} of {} keys that were all written",
        args.reads()
    );
    out.rate_cpu("readrandom", args.reads(), elapsed);

    let watch = Stopwatch::start();
    let totals = engine.scan_all()?;
    let elapsed = watch.stop();
    ensure!(
        totals.entries == args.num,
        "readseq saw {} entries, expected {}",
        totals.entries,
        args.num
    );
    out.rate_cpu("readseq", totals.entries, elapsed);
    out.counters(engine.as_ref());
    out.memory();
    Ok(())
}

fn durable(args: &Args, kind: EngineKind, dir: &Path, out: &Emitter) -> Result<()> {
    let duration = args.durable_duration();
    let cfg = EngineConfig {
        durable: true,
        ..EngineConfig::default()
    };
    let engine: Arc<dyn BenchEngine> = Arc::from(engines::open(kind, dir, &cfg)?);
    let value = ValueGen::new(args.value_size, args.seed)
        .next_value()
        .to_vec();
    let next_key = AtomicU64::new(0);

    // One writer against a raw append + fdatasync of a WAL record's size, in alternating
    // slices so that both see the same disk (its latency drifts on a shared machine).
    let record_bytes = KEY_BYTES + args.value_size + WAL_SINGLE_OP_OVERHEAD_BYTES;
    let mut raw = sys::RawFdatasync::create(dir, record_bytes)?;
    let slice = duration / DURABLE_SLICES;
    let mut one = (0u64, Duration::ZERO);
    let fsyncs_before = engine.fsync_counts();
    for _ in 0..DURABLE_SLICES {
        raw.run_for(slice)?;
        let (ops, elapsed) = timed_writers(engine.as_ref(), 1, slice, &next_key, &value)?;
        one = (one.0 + ops, one.1 + elapsed);
    }
    let raw_mean = raw.mean().context("no raw fdatasync measured")?;
    eprintln!(
        "   raw append+fdatasync: {} ops, {raw_mean:.2?} each",
        raw.ops()
    );
    drop(raw);
    out.emit("raw_fdatasync_us", raw_mean.as_secs_f64() * 1e6);
    out.rate("durable_1_writer", one.0, one.1);
    let commit_us = one.1.as_secs_f64() * 1e6 / one.0 as f64;
    out.emit("durable_commit_us", commit_us);
    out.emit(
        "commit_vs_fdatasync",
        commit_us / (raw_mean.as_secs_f64() * 1e6),
    );
    if let (Some((n0, us0)), Some((n1, us1))) = (fsyncs_before, engine.fsync_counts()) {
        // The engine's own timing of its WAL fsyncs: commit latency minus this is the
        // engine's CPU and queueing overhead per commit.
        out.emit(
            "engine_wal_fsync_us",
            (us1 - us0) as f64 / (n1 - n0).max(1) as f64,
        );
    }

    let before = engine.commit_counts();
    let threads = args.durable_threads;
    let many = timed_writers(engine.as_ref(), threads, duration, &next_key, &value)?;
    out.rate(&format!("durable_{threads}_writers"), many.0, many.1);
    let rate = |(ops, elapsed): (u64, Duration)| ops as f64 / elapsed.as_secs_f64();
    out.emit("durable_scaling", rate(many) / rate(one));
    if let (Some((c0, g0)), Some((c1, g1))) = (before, engine.commit_counts()) {
        out.emit(
            "durable_batches_per_group",
            (c1 - c0) as f64 / (g1 - g0).max(1) as f64,
        );
    }
    out.counters(engine.as_ref());
    out.memory();
    Ok(())
}

/// Runs `threads` writers of fresh keys for `duration`; returns (writes, elapsed).
fn timed_writers(
    engine: &dyn BenchEngine,
    threads: usize,
    duration: Duration,
    next_key: &AtomicU64,
    value: &[u8],
) -> Result<(u64, Duration)> {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let counts = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<u64> {
                    let mut ops = 0;
                    while !stop.load(Ordering::Relaxed) {
                        engine.put(&key(next_key.fetch_add(1, Ordering::Relaxed)), value)?;
                        ops += 1;
                    }
                    Ok(ops)
                })
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|w| w.join().expect("writer thread panicked"))
            .collect::<Result<Vec<u64>>>()
    })?;
    Ok((counts.iter().sum(), started.elapsed()))
}

fn space(args: &Args, kind: EngineKind, dir: &Path, out: &Emitter) -> Result<()> {
    let n = args.space_num();
    let io = ProcIo::read();
    let engine = engines::open(kind, dir, &buffered())?;
    let mut values = ValueGen::new(args.value_size, args.seed);
    let first = Permutation::new(n, args.seed);
    let mut elapsed = write_all(engine.as_ref(), &mut values, n, |i| first.at(i))?;
    for round in 0..u64::from(args.overwrites) {
        let order = Permutation::new(n, args.seed + 1 + round);
        elapsed += write_all(engine.as_ref(), &mut values, n, |i| order.at(i))?;
    }
    let writes = n * (1 + u64::from(args.overwrites));
    out.rate_cpu("space_writes", writes, elapsed);
    settle(engine.as_ref(), out, "space")?;
    engine.sync()?;
    out.write_amp(io, writes * args.user_bytes_per_entry());
    out.disk(dir, n * args.user_bytes_per_entry())?;
    let totals = engine.scan_all()?;
    ensure!(
        totals.entries == n,
        "{} live entries, expected {n}",
        totals.entries
    );
    out.counters(engine.as_ref());
    out.memory();
    Ok(())
}

fn expiry(args: &Args, kind: EngineKind, dir: &Path, out: &Emitter) -> Result<()> {
    ensure!(
        kind == EngineKind::Strata,
        "the expiry workload is Strata-only"
    );
    let n = args.expiry_num();
    let clock = Arc::new(ManualClock::new(SystemClock.now_unix_secs()));
    let t0 = clock.now_unix_secs();
    let cfg = EngineConfig {
        clock: Some(Arc::clone(&clock)),
        sweep_interval: Some(args.sweep_interval()),
        ..EngineConfig::default()
    };
    let engine = StrataEngine::open(dir, &cfg)?;
    let mut values = ValueGen::new(args.value_size, args.seed);
    let order = Permutation::new(n, args.seed);
    let watch = Stopwatch::start();
    for i in 0..n {
        engine.put_expiring(&key(order.at(i)), values.next_value(), t0 + EXPIRY_TTL_SECS)?;
    }
    out.rate_cpu("expiring_fill", n, watch.stop());
    let mut peak = sys::disk_usage(dir)?.allocated_bytes;
    engine.settle()?;
    peak = peak.max(sys::disk_usage(dir)?.allocated_bytes);
    out.emit("expiry_peak_disk_mib", peak as f64 / MIB);

    // Everything expires now; only the periodic sweep can give the space back.
    clock.set(t0 + EXPIRY_TTL_SECS);
    ensure!(
        engine.get(&key(0))?.is_none(),
        "an expired entry is still visible"
    );
    let interval = args.sweep_interval();
    let watch = (interval * 4).max(EXPIRY_WATCH_MIN);
    let expired_at = Instant::now();
    let mut reached: Option<Duration> = None;
    let mut current = peak;
    while expired_at.elapsed() < watch {
        std::thread::sleep(EXPIRY_POLL_INTERVAL);
        current = sys::disk_usage(dir)?.allocated_bytes;
        if reached.is_none() && (current as f64) < EXPIRY_DISK_SHARE_MAX * peak as f64 {
            reached = Some(expired_at.elapsed());
            eprintln!(
                "   disk at {:.1}% of peak after {:.2?}",
                current as f64 * 100.0 / peak as f64,
                expired_at.elapsed()
            );
            break;
        }
    }
    out.emit("expiry_final_disk_mib", current as f64 / MIB);
    out.emit("expiry_final_disk_share", current as f64 / peak as f64);
    match reached {
        Some(t) => {
            out.emit("expiry_secs_to_10pct", t.as_secs_f64());
            out.emit(
                "expiry_intervals_to_10pct",
                t.as_secs_f64() / interval.as_secs_f64(),
            );
        }
        None => eprintln!(
            "   disk still at {:.1}% of peak after {watch:.0?}",
            current as f64 * 100.0 / peak as f64
        ),
    }
    out.emit("sweep_interval_s", interval.as_secs_f64());
    out.counters(&engine);
    out.memory();
    Ok(())
}

fn reopen_config() -> EngineConfig {
    EngineConfig {
        memtable_bytes: Some(REOPEN_MEMTABLE_BYTES),
        ..EngineConfig::default()
    }
}

fn reopen_fill(args: &Args, kind: EngineKind, dir: &Path, out: &Emitter) -> Result<()> {
    let n = args.reopen_num();
    let engine = engines::open(kind, dir, &reopen_config())?;
    let mut values = ValueGen::new(args.value_size, args.seed);
    let order = Permutation::new(n, args.seed);
    let elapsed = write_all(engine.as_ref(), &mut values, n, |i| order.at(i))?;
    out.rate_cpu("reopen_fill", n, elapsed);
    engine.sync()?;
    let flushes = engine.flushes();
    ensure!(
        flushes == 0,
        "{} flushed {flushes} memtables: the reopen would not replay every entry",
        kind.name()
    );
    out.emit(
        "reopen_wal_mib",
        sys::disk_usage(dir)?.allocated_bytes as f64 / MIB,
    );
    // Dropped without a flush: the next open replays the whole WAL.
    drop(engine);
    Ok(())
}

fn reopen_open(args: &Args, kind: EngineKind, dir: &Path, out: &Emitter) -> Result<()> {
    let n = args.reopen_num();
    let watch = Stopwatch::start();
    let engine = engines::open(kind, dir, &reopen_config())?;
    let span = watch.stop();
    eprintln!(
        "   reopened {n} unflushed entries in {:.2?} ({:.2?} CPU)",
        span.wall, span.cpu
    );
    out.emit("reopen_s", span.wall.as_secs_f64());
    out.emit("reopen_cpu_s", span.cpu.as_secs_f64());
    for probe in [0, n / 2, n - 1] {
        ensure!(
            engine.get(&key(probe))?.is_some(),
            "key {probe} missing after reopen"
        );
    }
    if let Some(m) = ProcMemory::read() {
        out.emit("reopen_peak_rss_mib", m.peak_rss_bytes as f64 / MIB);
    }
    Ok(())
}

fn load(args: &Args, kind: EngineKind, dir: &Path, out: &Emitter) -> Result<()> {
    let n = args.load_num;
    let io = ProcIo::read();
    let engine = engines::open(kind, dir, &buffered())?;
    let mut values = ValueGen::new(args.value_size, args.seed);
    let order = Permutation::new(n, args.seed);
    let elapsed = write_all(engine.as_ref(), &mut values, n, |i| order.at(i))?;
    out.rate_cpu("load", n, elapsed);
    settle(engine.as_ref(), out, "load")?;
    engine.sync()?;
    let user = n * args.user_bytes_per_entry();
    out.write_amp(io, user);
    out.disk(dir, user)?;
    out.counters(engine.as_ref());
    out.memory();
    Ok(())
}
