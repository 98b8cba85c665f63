//! The simulated power-loss fuzzer, deterministic by seed (see `docs/durability.md`).
//!
//! A *case* is one seed. It opens a `Db` on a [`FaultFs`] (through a [`ProbeFs`] that names
//! the call the power went off in), then runs a few *epochs*. An epoch arms a power cut
//! after a random number of mutating file-system calls, drives random steps — batches in
//! every write mode with guards and TTLs, reads, scans, snapshots, flush, compaction, sweep,
//! clock jumps, clean reopens — checking every answer against a [`Model`], and ends in a
//! crash: the power goes off (wherever the countdown ran out, or now), the file system
//! drops or tears what was not synced, and the `Db` is reopened (sometimes with another
//! power cut during recovery itself). The recovered state must then be one the rules allow:
//!
//! * **acknowledged** — a batch whose `write` returned `Ok` under `SyncMode::Always`, or
//!   any batch before a successful `flush`/`sync_wal`/`close` — is present, with its exact
//!   value, expiry and seqno (or superseded by a later batch that is present too);
//! * **maybe** — the one batch whose `write` failed with an I/O error — is all there or
//!   not at all;
//! * **never** — anything else: no value that was never written, no batch that was
//!   refused (`Conflict`, `NotFound`, `Poisoned`), no half batch, no expired entry.
//!
//! Under `SyncMode::Never` / `Interval` an acknowledged batch is durable only once a later
//! sync covers it, so there the recovered state must equal the model after *some prefix*
//! of the batches (at least the synced ones): batches are atomic and keep their order.
//!
//! Steps are generated from the seed and the model as the case runs, and logged, so a
//! failing case can be replayed from its log and shrunk by dropping steps.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::{AddAssign, Bound};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata_engine::compaction::CompactionConfig;
use strata_engine::db::SCAN_LIMIT_MAX;
use strata_engine::fs::{CrashMode, FaultFs, FileSystem};
use strata_engine::table::TableOptions;
use strata_engine::{Clock, Db, Error, ManualClock, Op, Options, SyncMode, WriteBatch, WriteMode};

use super::model::{db_live, describe_diff, show_bytes, Effect, Model, Rejection};
use super::probe_fs::{CallSite, Probe, ProbeFs};

/// Unix seconds the manual clock starts at.
pub const T0: u64 = 1_700_000_000;

/// Keys in a case's key space (4 prefixes of 16); few enough that writes collide often.
pub const KEY_COUNT: usize = 64;
/// Memtable size: a flush every few dozen writes.
pub const MEMTABLE_BYTES_MAX: usize = 8 * 1024;
/// Data block size of tables: several blocks per table, so index and restarts matter.
pub const TABLE_BLOCK_BYTES: usize = 512;
/// Epochs (crash + recovery) per case: 1..=this.
pub const EPOCHS_PER_CASE_MAX: usize = 4;
/// Steps per epoch before its crash: `EPOCH_STEPS_MIN..=EPOCH_STEPS_MAX`.
pub const EPOCH_STEPS_MIN: usize = 10;
pub const EPOCH_STEPS_MAX: usize = 70;
/// Most ops in one batch.
pub const BATCH_OPS_MAX: usize = 12;
/// Most mutating calls a power cut armed before a (re)open may let through.
pub const RECOVERY_CUT_CALLS_MAX: u64 = 24;
/// Replays a failing case may use to shrink its step list.
pub const SHRINK_REPLAYS_MAX: usize = 300;
/// Mutating file-system calls per step assumed before a case has measured its own.
const CALLS_PER_STEP_GUESS: f64 = 2.0;

/// Which engine configuration a run exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub name: &'static str,
    pub sync: SyncMode,
    /// Background flush / compaction / sweep (and interval sync) threads. Their timing is
    /// not reproducible, so such cases are checked but not shrunk.
    pub background: bool,
}

pub const ALWAYS: Variant = Variant {
    name: "always",
    sync: SyncMode::Always,
    background: false,
};
pub const NEVER: Variant = Variant {
    name: "never",
    sync: SyncMode::Never,
    background: false,
};
pub const BACKGROUND_ALWAYS: Variant = Variant {
    name: "background-always",
    sync: SyncMode::Always,
    background: true,
};
pub const BACKGROUND_INTERVAL: Variant = Variant {
    name: "background-interval",
    sync: SyncMode::Interval(3),
    background: true,
};

impl Variant {
    /// True if a successful `write` is durable at once.
    fn acked_is_durable(self) -> bool {
        self.sync == SyncMode::Always
    }
}

/// The engine options of every case: small memtables, tables and levels, so that flushes,
/// L0 -> L1 and deeper compactions all happen within a few dozen writes.
pub fn options(variant: Variant, fs: Arc<dyn FileSystem>, clock: Arc<ManualClock>) -> Options {
    Options {
        sync: variant.sync,
        memtable_bytes_max: MEMTABLE_BYTES_MAX,
        frozen_memtables_max: 2,
        sweep_interval: Duration::from_millis(20),
        background: variant.background,
        fs,
        clock: clock as Arc<dyn Clock>,
        compaction: CompactionConfig {
            l0_tables_trigger: 2,
            level_base_bytes: 2 * 1024,
            level_multiplier: 2,
            levels: 4,
            table_bytes_target: 1536,
            sweep_garbage_ratio: 0.3,
        },
        table: TableOptions {
            block_bytes: TABLE_BLOCK_BYTES,
            restart_interval: 4,
            bloom_bits_per_key: 10,
        },
    }
}

// ---------------------------------------------------------------------------------------
// Steps

/// One thing a case does. Concrete (values, bounds, crash points are all spelled out), so a
/// logged list of steps replays the case without its seed.
#[derive(Debug, Clone)]
pub enum Step {
    /// Opens the (fresh) data directory.
    Open,
    /// `n` more mutating file-system calls succeed, then the power goes off.
    ArmPowerCut(u64),
    Write(WriteBatch),
    Get(Bytes),
    Scan {
        start: Bound<Bytes>,
        end: Bound<Bytes>,
        limit: usize,
    },
    ScanPrefix {
        prefix: Bytes,
        after: Option<Bytes>,
        limit: usize,
    },
    /// Takes a snapshot, commits these batches, then checks the snapshot still reads the
    /// state of its moment.
    SnapshotThenWrite(Vec<WriteBatch>),
    Flush,
    Compact,
    Sweep,
    SyncWal,
    /// Moves the clock forward, in seconds.
    Advance(u64),
    /// `close`, then open again: everything acknowledged must be there, exactly.
    CleanReopen,
    /// Compares the whole visible state (scans and point gets) with the model.
    VerifyAll,
    /// Power off (now, unless a cut already happened), crash with `mode`, reopen and check.
    /// With `recovery_cut`, the first reopen gets a power cut after that many mutating
    /// calls and its own crash before the second reopen.
    Crash {
        mode: CrashMode,
        recovery_cut: Option<(u64, CrashMode)>,
    },
}

impl Step {
    /// The operation's name, for the crash-site table.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Open => "open",
            Step::ArmPowerCut(_) | Step::Advance(_) => "idle",
            Step::Write(_) => "write",
            Step::Get(_) | Step::Scan { .. } | Step::ScanPrefix { .. } | Step::VerifyAll => "read",
            Step::SnapshotThenWrite(_) => "write",
            Step::Flush => "flush",
            Step::Compact => "compact",
            Step::Sweep => "sweep",
            Step::SyncWal => "sync_wal",
            Step::CleanReopen => "close/reopen",
            Step::Crash { .. } => "recovery",
        }
    }
}

struct ShowOp<'a>(&'a Op);

impl fmt::Display for ShowOp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.0;
        let mode = match op.mode {
            WriteMode::Insert => "insert",
            WriteMode::Upsert => "upsert",
            WriteMode::Overwrite => "overwrite",
            WriteMode::Update => "update",
            WriteMode::Delete => "delete",
        };
        write!(f, "{mode} {}", show_bytes(&op.key))?;
        if op.mode != WriteMode::Delete {
            write!(f, "={}", show_bytes(&op.value))?;
        }
        if let Some(t) = op.expires_at {
            write!(f, " expires@T0{:+}", t as i64 - T0 as i64)?;
        }
        if let Some(s) = op.expect_seqno {
            write!(f, " if-seqno={s}")?;
        }
        Ok(())
    }
}

struct ShowBatch<'a>(&'a WriteBatch);

impl fmt::Display for ShowBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ops: Vec<String> = self.0.ops.iter().map(|op| ShowOp(op).to_string()).collect();
        write!(f, "[{}]", ops.join(", "))
    }
}

fn show_bound(b: &Bound<Bytes>) -> String {
    match b {
        Bound::Included(k) => format!("[{}", show_bytes(k)),
        Bound::Excluded(k) => format!("({}", show_bytes(k)),
        Bound::Unbounded => "..".to_string(),
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Open => write!(f, "open"),
            Step::ArmPowerCut(n) => write!(f, "arm power cut after {n} mutating calls"),
            Step::Write(b) => write!(f, "write {}", ShowBatch(b)),
            Step::Get(k) => write!(f, "get {}", show_bytes(k)),
            Step::Scan { start, end, limit } => write!(
                f,
                "scan {} to {} limit {limit}",
                show_bound(start),
                show_bound(end)
            ),
            Step::ScanPrefix {
                prefix,
                after,
                limit,
            } => write!(
                f,
                "scan prefix {:?} after {:?} limit {limit}",
                show_bytes(prefix),
                after.as_deref().map(show_bytes)
            ),
            Step::SnapshotThenWrite(batches) => {
                let shown: Vec<String> = batches.iter().map(|b| ShowBatch(b).to_string()).collect();
                write!(f, "snapshot, then write {}", shown.join(" "))
            }
            Step::Flush => write!(f, "flush"),
            Step::Compact => write!(f, "compact"),
            Step::Sweep => write!(f, "sweep"),
            Step::SyncWal => write!(f, "sync_wal"),
            Step::Advance(s) => write!(f, "advance clock {s}s"),
            Step::CleanReopen => write!(f, "close and reopen"),
            Step::VerifyAll => write!(f, "verify everything"),
            Step::Crash { mode, recovery_cut } => {
                write!(f, "crash ({mode:?}), reopen")?;
                if let Some((n, m)) = recovery_cut {
                    write!(
                        f,
                        " with a power cut after {n} calls of recovery ({m:?}), reopen"
                    )?;
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Totals

/// What a run did, summed over its cases.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Cases that passed (their work is what the other counters sum) ...
    pub cases: u64,
    /// ... and cases that failed.
    pub failed_cases: u64,
    pub steps: u64,
    /// Power failures injected: inside an operation (a cut countdown ran out) ...
    pub crashes_mid_operation: u64,
    /// ... while idle (the epoch ended before its countdown did) ...
    pub crashes_idle: u64,
    /// ... and inside recovery (`Db::open` after a crash).
    pub crashes_in_recovery: u64,
    /// Where the power went off: the step running and the call that failed first, e.g.
    /// "write: sync wal", "flush: append manifest", "recovery: truncate wal".
    pub crash_sites: BTreeMap<String, u64>,
    /// Batches the engine acknowledged.
    pub writes_acked: u64,
    /// Batches refused with `Conflict` / `NotFound`, exactly as the model predicted.
    pub writes_refused: u64,
    /// Acknowledged batches whose survival a recovery (crash or clean reopen) checked.
    pub acked_checked: u64,
    /// Of those, the ones that had to survive (synced); the rest are Never/Interval
    /// batches no sync covered yet.
    pub acked_required: u64,
    /// Unsynced acknowledged batches lost by a crash (allowed in Never/Interval only).
    pub unsynced_lost: u64,
    /// Failed writes ("maybe"): found applied / found absent after recovery.
    pub maybe_present: u64,
    pub maybe_absent: u64,
    /// Recoveries that cut a torn WAL tail / a torn manifest frame.
    pub wal_tails_truncated: u64,
    pub manifest_tails_truncated: u64,
    pub reads_checked: u64,
    pub flushes: u64,
    pub compactions: u64,
    pub sweeps: u64,
    /// Deepest level that ever held a table.
    pub deepest_level: usize,
    /// Acknowledged batches found missing. Always 0: any loss fails the case.
    pub acked_lost: u64,
}

impl AddAssign<&Totals> for Totals {
    fn add_assign(&mut self, o: &Totals) {
        self.cases += o.cases;
        self.failed_cases += o.failed_cases;
        self.steps += o.steps;
        self.crashes_mid_operation += o.crashes_mid_operation;
        self.crashes_idle += o.crashes_idle;
        self.crashes_in_recovery += o.crashes_in_recovery;
        for (site, n) in &o.crash_sites {
            *self.crash_sites.entry(site.clone()).or_default() += n;
        }
        self.writes_acked += o.writes_acked;
        self.writes_refused += o.writes_refused;
        self.acked_checked += o.acked_checked;
        self.acked_required += o.acked_required;
        self.unsynced_lost += o.unsynced_lost;
        self.maybe_present += o.maybe_present;
        self.maybe_absent += o.maybe_absent;
        self.wal_tails_truncated += o.wal_tails_truncated;
        self.manifest_tails_truncated += o.manifest_tails_truncated;
        self.reads_checked += o.reads_checked;
        self.flushes += o.flushes;
        self.compactions += o.compactions;
        self.sweeps += o.sweeps;
        self.deepest_level = self.deepest_level.max(o.deepest_level);
        self.acked_lost += o.acked_lost;
    }
}

impl Totals {
    pub fn crashes(&self) -> u64 {
        self.crashes_mid_operation + self.crashes_idle + self.crashes_in_recovery
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "cases: {} passed, {} failed; steps: {}",
            self.cases, self.failed_cases, self.steps
        )?;
        writeln!(
            f,
            "crashes injected: {} ({} inside an operation, {} idle, {} inside recovery)",
            self.crashes(),
            self.crashes_mid_operation,
            self.crashes_idle,
            self.crashes_in_recovery
        )?;
        writeln!(
            f,
            "writes: {} acknowledged, {} refused as predicted; {} acknowledged checked after \
             recovery ({} required durable), {} lost; {} unsynced lost (Never/Interval, allowed)",
            self.writes_acked,
            self.writes_refused,
            self.acked_checked,
            self.acked_required,
            self.acked_lost,
            self.unsynced_lost
        )?;
        writeln!(
            f,
            "failed writes: {} recovered as applied, {} as absent; torn tails cut: {} WAL, {} \
             manifest; reads checked: {}",
            self.maybe_present,
            self.maybe_absent,
            self.wal_tails_truncated,
            self.manifest_tails_truncated,
            self.reads_checked
        )?;
        writeln!(
            f,
            "engine work: {} flushes, {} compactions, {} sweep compactions, deepest level L{}",
            self.flushes, self.compactions, self.sweeps, self.deepest_level
        )?;
        write!(f, "power went off in:")?;
        let mut sites: Vec<(&String, &u64)> = self.crash_sites.iter().collect();
        sites.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (site, n) in sites {
            write!(f, "\n  {n:>7}  {site}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Generator

/// What the generator may look at to pick the next step.
pub struct View<'a> {
    pub model: &'a Model,
    pub now: u64,
    /// The power went off: the epoch is over.
    pub dead: bool,
    pub mutating_calls: u64,
}

enum Phase {
    Begin,
    Open,
    AfterOpen,
    EpochStart,
    InEpoch,
    Finish,
    Done,
}

/// Picks steps from a seed and the model's state.
pub struct Generator {
    rng: StdRng,
    keys: Vec<Bytes>,
    phase: Phase,
    epochs_left: usize,
    steps_left: usize,
    epoch_steps: usize,
    epoch_first_call: u64,
    calls_per_step: f64,
    values_made: u64,
    seed: u64,
}

/// The key space: four prefixes of sixteen keys; every fifth key is long, so tables see
/// both short and long shared prefixes.
pub fn key_space() -> Vec<Bytes> {
    let mut keys = Vec::with_capacity(KEY_COUNT);
    for prefix in ["a", "b", "c", "d"] {
        for i in 0..KEY_COUNT / 4 {
            let key = if i % 5 == 4 {
                format!("{prefix}/{i:02}-{}", "x".repeat(60))
            } else {
                format!("{prefix}/{i:02}")
            };
            keys.push(Bytes::from(key));
        }
    }
    keys
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let mut rng = StdRng::seed_from_u64(seed);
        let epochs = rng.gen_range(1..=EPOCHS_PER_CASE_MAX);
        Generator {
            rng,
            keys: key_space(),
            phase: Phase::Begin,
            epochs_left: epochs,
            steps_left: 0,
            epoch_steps: 0,
            epoch_first_call: 0,
            calls_per_step: CALLS_PER_STEP_GUESS,
            values_made: 0,
            seed,
        }
    }

    pub fn next(&mut self, view: &View) -> Option<Step> {
        loop {
            match self.phase {
                Phase::Begin => {
                    self.phase = Phase::Open;
                    // Sometimes the very first open (directory creation, first manifest,
                    // first WAL segment) loses power.
                    if self.rng.gen_bool(0.1) {
                        let n = self.rng.gen_range(0..RECOVERY_CUT_CALLS_MAX);
                        return Some(Step::ArmPowerCut(n));
                    }
                }
                Phase::Open => {
                    self.phase = Phase::AfterOpen;
                    return Some(Step::Open);
                }
                Phase::AfterOpen => {
                    self.phase = Phase::EpochStart;
                    if view.dead {
                        return Some(self.crash());
                    }
                }
                Phase::EpochStart => {
                    if self.epochs_left == 0 {
                        self.phase = Phase::Finish;
                        return Some(Step::CleanReopen);
                    }
                    self.epochs_left -= 1;
                    self.steps_left = self.rng.gen_range(EPOCH_STEPS_MIN..=EPOCH_STEPS_MAX);
                    self.epoch_steps = self.steps_left;
                    self.epoch_first_call = view.mutating_calls;
                    self.phase = Phase::InEpoch;
                    // Mostly a cut somewhere in the epoch; else a crash at its idle end.
                    if self.rng.gen_bool(0.85) {
                        let calls = (self.steps_left as f64 * self.calls_per_step).ceil() as u64;
                        return Some(Step::ArmPowerCut(self.rng.gen_range(0..calls.max(1))));
                    }
                }
                Phase::InEpoch => {
                    if view.dead || self.steps_left == 0 {
                        self.learn_calls_per_step(view);
                        self.phase = Phase::EpochStart;
                        return Some(self.crash());
                    }
                    self.steps_left -= 1;
                    return Some(self.step(view));
                }
                Phase::Finish => {
                    self.phase = Phase::Done;
                    return Some(Step::VerifyAll);
                }
                Phase::Done => return None,
            }
        }
    }

    /// Keeps the estimate of mutating calls per step current, from epochs that ran to the
    /// end, so an armed cut lands anywhere in the next epoch.
    fn learn_calls_per_step(&mut self, view: &View) {
        if !view.dead && self.epoch_steps > 1 {
            let calls = view.mutating_calls.saturating_sub(self.epoch_first_call) as f64;
            let measured = calls / self.epoch_steps as f64;
            self.calls_per_step = ((self.calls_per_step + measured) / 2.0).max(1.0);
        }
    }

    fn crash_mode(&mut self) -> CrashMode {
        if self.rng.gen_bool(0.5) {
            CrashMode::DropUnsynced
        } else {
            CrashMode::TearUnsynced(self.rng.gen())
        }
    }

    fn crash(&mut self) -> Step {
        let mode = self.crash_mode();
        let recovery_cut = if self.rng.gen_bool(0.15) {
            let n = self.rng.gen_range(0..RECOVERY_CUT_CALLS_MAX);
            Some((n, self.crash_mode()))
        } else {
            None
        };
        Step::Crash { mode, recovery_cut }
    }

    fn key(&mut self) -> Bytes {
        self.keys[self.rng.gen_range(0..self.keys.len())].clone()
    }

    /// A key bound: a key of the space, a prefix of one, or open.
    fn bound(&mut self) -> Bound<Bytes> {
        let key = self.key();
        let key = match self.rng.gen_range(0..3) {
            0 => key.slice(..self.rng.gen_range(1..=key.len())),
            _ => key,
        };
        match self.rng.gen_range(0..5) {
            0 => Bound::Unbounded,
            1 | 2 => Bound::Included(key),
            _ => Bound::Excluded(key),
        }
    }

    fn limit(&mut self) -> usize {
        [1, 2, 5, 17, 1_000, SCAN_LIMIT_MAX + 1][self.rng.gen_range(0..6)]
    }

    fn step(&mut self, view: &View) -> Step {
        match self.rng.gen_range(0..100) {
            0..=54 => Step::Write(self.batch(view)),
            55..=62 => Step::Get(self.key()),
            63..=66 => Step::Scan {
                start: self.bound(),
                end: self.bound(),
                limit: self.limit(),
            },
            67..=70 => {
                let key = self.key();
                let prefix = key.slice(..self.rng.gen_range(0..=key.len().min(4)));
                let after = self.rng.gen_bool(0.4).then(|| self.key());
                Step::ScanPrefix {
                    prefix,
                    after,
                    limit: self.limit(),
                }
            }
            71..=72 => {
                let n = self.rng.gen_range(1..=3);
                Step::SnapshotThenWrite((0..n).map(|_| self.batch(view)).collect())
            }
            73..=77 => Step::Flush,
            78..=81 => Step::Compact,
            82..=83 => Step::Sweep,
            84..=89 => Step::Advance(if self.rng.gen_bool(0.1) {
                self.rng.gen_range(100..400)
            } else {
                self.rng.gen_range(1..30)
            }),
            90..=91 => Step::SyncWal,
            92..=97 => Step::VerifyAll,
            _ => Step::CleanReopen,
        }
    }

    /// A fresh, never-written value: `{seed}.{n}.` then filler of a random length.
    fn value(&mut self) -> Bytes {
        self.values_made += 1;
        let filler_len = match self.rng.gen_range(0..100) {
            0..=79 => self.rng.gen_range(0..64),
            80..=96 => self.rng.gen_range(64..400),
            _ => self.rng.gen_range(1_000..3_000),
        };
        let filler = char::from(b'a' + (self.values_made % 26) as u8);
        let mut v = format!("{:x}.{}.", self.seed, self.values_made);
        v.extend(std::iter::repeat_n(filler, filler_len));
        Bytes::from(v)
    }

    fn batch(&mut self, view: &View) -> WriteBatch {
        let ops = match self.rng.gen_range(0..100) {
            0..=69 => 1,
            70..=94 => self.rng.gen_range(2..=4),
            _ => self.rng.gen_range(5..=BATCH_OPS_MAX),
        };
        let mut batch = WriteBatch::new();
        for _ in 0..ops {
            let key = self.key();
            let live = view.model.get(&key, view.now);
            // Mostly modes that succeed on the key's current state, sometimes ones that
            // must be refused.
            let mode = if live.is_some() {
                match self.rng.gen_range(0..100) {
                    0..=24 => WriteMode::Upsert,
                    25..=39 => WriteMode::Overwrite,
                    40..=64 => WriteMode::Update,
                    65..=94 => WriteMode::Delete,
                    _ => WriteMode::Insert,
                }
            } else {
                match self.rng.gen_range(0..100) {
                    0..=49 => WriteMode::Insert,
                    50..=74 => WriteMode::Upsert,
                    75..=89 => WriteMode::Overwrite,
                    90..=94 => WriteMode::Update,
                    _ => WriteMode::Delete,
                }
            };
            let value = if mode == WriteMode::Delete {
                Bytes::new()
            } else {
                self.value()
            };
            let mut op = Op::new(mode, key, value);
            if mode != WriteMode::Delete {
                op.expires_at = match self.rng.gen_range(0..100) {
                    0..=19 => Some(view.now + self.rng.gen_range(1..90)),
                    // Already expired when written: invisible from the start.
                    20..=22 => Some(view.now - self.rng.gen_range(0..10)),
                    _ => None,
                };
            }
            if self.rng.gen_bool(0.1) {
                op.expect_seqno = Some(match &live {
                    Some(e) if self.rng.gen_bool(0.75) => e.seqno,
                    Some(e) => e.seqno + self.rng.gen_range(1..5),
                    None => self.rng.gen_range(1..=view.model.last_seqno.max(1)),
                });
            }
            batch.push(op);
        }
        batch
    }
}

// ---------------------------------------------------------------------------------------
// Runner

/// Executes steps against a `Db` and the model.
pub struct Runner {
    variant: Variant,
    path: std::path::PathBuf,
    fault: FaultFs,
    probe: Probe,
    clock: Arc<ManualClock>,
    db: Option<Db>,
    /// The acknowledged state: every acknowledged batch applied.
    model: Model,
    /// The state at the last recovery check, and the acknowledged batches since, in order.
    base: Model,
    history: Vec<Vec<Effect>>,
    /// `history[..durable]` had to survive a crash (synced).
    durable: usize,
    /// Effects of the write that failed with an I/O error (outcome unknown).
    in_flight: Option<Vec<Effect>>,
    /// The power went off (or a failure that only a crash resolves): skip to the crash.
    dead: bool,
    /// What the running step is (`Step::kind`), and what it was when the power went off.
    step_kind: &'static str,
    died_in: &'static str,
    keys: BTreeSet<Bytes>,
    pub totals: Totals,
    // Declared last: removed after the Db is dropped.
    _dir: tempfile::TempDir,
}

type Checked = Result<(), String>;

impl Runner {
    pub fn new(variant: Variant) -> Runner {
        let dir = super::temp_dir("strata-powerloss-");
        let path = dir.path().join("db");
        Runner {
            variant,
            path,
            fault: FaultFs::new(),
            probe: Probe::new(),
            clock: Arc::new(ManualClock::new(T0)),
            db: None,
            model: Model::new(),
            base: Model::new(),
            history: Vec::new(),
            durable: 0,
            in_flight: None,
            dead: false,
            step_kind: "",
            died_in: "",
            keys: key_space().into_iter().collect(),
            totals: Totals {
                cases: 1,
                ..Totals::default()
            },
            _dir: dir,
        }
    }

    /// The data directory of the case.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.path
    }

    pub fn view(&self) -> View<'_> {
        View {
            model: &self.model,
            now: self.clock.now_unix_secs(),
            dead: self.dead,
            mutating_calls: self.fault.mutating_ops(),
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_unix_secs()
    }

    fn open(&self) -> strata_engine::Result<Db> {
        // NOTE: a view bound to this generation, so that a crashed Db still alive (its
        // background threads, its Drop) cannot touch the files of the next one.
        let fs = ProbeFs::new(Arc::new(self.fault.this_generation()), &self.probe);
        Db::open(
            &self.path,
            options(self.variant, Arc::new(fs), Arc::clone(&self.clock)),
        )
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("a live Db outside a crash")
    }

    /// An operation failed. With the power off that ends the epoch; otherwise it is a bug.
    fn failed(&mut self, what: &str, e: &Error) -> Checked {
        if self.fault.is_powered_off() {
            self.dead = true;
            self.died_in = self.step_kind;
            Ok(())
        } else {
            Err(format!("{what} failed with the power on: {e}"))
        }
    }

    pub fn exec(&mut self, step: &Step) -> Checked {
        let result = self.exec_step(step);
        // A cut can fire in a call whose failure the engine tolerates (removing an obsolete
        // file): the step succeeds, but the epoch is over all the same.
        if result.is_ok() && !self.dead && self.fault.is_powered_off() {
            self.dead = true;
            self.died_in = self.step_kind;
        }
        result
    }

    fn exec_step(&mut self, step: &Step) -> Checked {
        self.totals.steps += 1;
        if self.dead && !matches!(step, Step::Crash { .. }) {
            return Ok(());
        }
        self.step_kind = step.kind();
        // A shrunk step list may have lost its `Open`: steps that need a Db open one.
        let needs_db = !matches!(
            step,
            Step::ArmPowerCut(_) | Step::Advance(_) | Step::Crash { .. }
        );
        if needs_db && self.db.is_none() {
            match self.open() {
                Ok(db) => self.db = Some(db),
                Err(e) => return self.failed("open", &e),
            }
        }
        match step {
            Step::Open => Ok(()),
            Step::ArmPowerCut(n) => {
                self.fault.power_cut_after(Some(*n));
                Ok(())
            }
            Step::Write(batch) => self.write(batch),
            Step::Get(key) => self.check_get(key),
            Step::Scan { start, end, limit } => {
                let now = self.now();
                let (s, e) = (bound_ref(start), bound_ref(end));
                match self.db().scan(s, e, *limit) {
                    Ok(got) => {
                        self.totals.reads_checked += 1;
                        let want = self.model.scan(s, e, *limit, now);
                        check_entries(&want, &got, || format!("scan {step}"))
                    }
                    Err(e) => self.failed("scan", &e),
                }
            }
            Step::ScanPrefix {
                prefix,
                after,
                limit,
            } => {
                let now = self.now();
                match self.db().scan_prefix(prefix, after.as_deref(), *limit) {
                    Ok(got) => {
                        self.totals.reads_checked += 1;
                        let want = self
                            .model
                            .scan_prefix(prefix, after.as_deref(), *limit, now);
                        check_entries(&want, &got, || format!("{step}"))
                    }
                    Err(e) => self.failed("scan_prefix", &e),
                }
            }
            Step::SnapshotThenWrite(batches) => self.snapshot_then_write(batches),
            Step::Flush => match self.db().flush() {
                // Flushed tables and the synced WAL hold every acknowledged batch.
                Ok(()) => {
                    self.durable = self.history.len();
                    Ok(())
                }
                Err(e) => self.failed("flush", &e),
            },
            Step::Compact => match self.db().compact() {
                Ok(()) => Ok(()),
                Err(e) => self.failed("compact", &e),
            },
            Step::Sweep => match self.db().sweep() {
                Ok(()) => Ok(()),
                Err(e) => self.failed("sweep", &e),
            },
            Step::SyncWal => match self.db().sync_wal() {
                Ok(()) => {
                    self.durable = self.history.len();
                    Ok(())
                }
                Err(e) => self.failed("sync_wal", &e),
            },
            Step::Advance(secs) => {
                self.clock.advance(*secs);
                Ok(())
            }
            Step::CleanReopen => self.clean_reopen(),
            Step::VerifyAll => self.verify_all(),
            Step::Crash { mode, recovery_cut } => self.crash(*mode, *recovery_cut),
        }
    }

    fn write(&mut self, batch: &WriteBatch) -> Checked {
        let now = self.now();
        let predicted = self.model.predict(batch, now);
        match self.db().write(batch.clone()) {
            Ok(previous) => {
                let outcome = predicted.map_err(|r| {
                    format!(
                        "write {} was acknowledged; the model refuses it with {r:?}",
                        ShowBatch(batch)
                    )
                })?;
                if previous != outcome.previous {
                    return Err(format!(
                        "write {} returned previous entries {previous:?}, the model says {:?}",
                        ShowBatch(batch),
                        outcome.previous
                    ));
                }
                self.model.apply(&outcome.effects);
                self.history.push(outcome.effects);
                if self.variant.acked_is_durable() {
                    self.durable = self.history.len();
                }
                self.totals.writes_acked += 1;
                Ok(())
            }
            Err(e) => {
                if let Some(rejection) = Rejection::of(&e) {
                    if predicted.as_ref().err() != Some(&rejection) {
                        return Err(format!(
                            "write {} was refused with {rejection:?}; the model says {:?}",
                            ShowBatch(batch),
                            predicted.map(|o| o.previous)
                        ));
                    }
                    self.totals.writes_refused += 1;
                    return Ok(());
                }
                // Only an I/O error leaves the outcome open; `Poisoned` and `Closed`
                // refuse the batch before it reaches the WAL.
                if matches!(e, Error::Io(_)) {
                    self.in_flight = predicted.ok().map(|o| o.effects);
                }
                self.failed("write", &e)
            }
        }
    }

    fn check_get(&mut self, key: &Bytes) -> Checked {
        let now = self.now();
        match self.db().get(key) {
            Ok(got) => {
                self.totals.reads_checked += 1;
                let want = self.model.get(key, now);
                if got != want {
                    return Err(format!(
                        "get {} returned {got:?}, the model says {want:?}",
                        show_bytes(key)
                    ));
                }
                Ok(())
            }
            Err(e) => self.failed("get", &e),
        }
    }

    fn snapshot_then_write(&mut self, batches: &[WriteBatch]) -> Checked {
        let snapshot = self.db().snapshot();
        let then = self.model.live(self.now());
        for batch in batches {
            self.write(batch)?;
            if self.dead {
                return Ok(());
            }
        }
        let got = match snapshot.scan(Bound::Unbounded, Bound::Unbounded, SCAN_LIMIT_MAX) {
            Ok(got) => got,
            Err(e) => return self.failed("snapshot scan", &e),
        };
        self.totals.reads_checked += 1;
        let want: Vec<_> = then.values().cloned().collect();
        check_entries(&want, &got, || {
            "scan of a snapshot taken before writes".into()
        })?;
        for batch in batches {
            for op in &batch.ops {
                let got = snapshot
                    .get(&op.key)
                    .map_err(|e| format!("snapshot get: {e}"))?;
                if got.as_ref() != then.get(&op.key) {
                    return Err(format!(
                        "a snapshot taken before writing {} reads {got:?}",
                        show_bytes(&op.key)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Compares the whole visible state of the live Db with the acknowledged model.
    fn verify_all(&mut self) -> Checked {
        let now = self.now();
        let actual = match db_live(self.db()) {
            Ok(actual) => actual,
            Err(e) => return self.failed("full scan", &e),
        };
        let want = self.model.live(now);
        if actual != want {
            return Err(format!(
                "the live state differs from the model:\n{}",
                describe_diff(&want, &actual)
            ));
        }
        self.check_gets(&self.model.clone(), now)
    }

    fn check_gets(&mut self, model: &Model, now: u64) -> Checked {
        for key in &self.keys {
            let got = self
                .db()
                .get(key)
                .map_err(|e| format!("get {} failed: {e}", show_bytes(key)))?;
            let want = model.get(key, now);
            if got != want {
                return Err(format!(
                    "get {} returned {got:?}, expected {want:?}",
                    show_bytes(key)
                ));
            }
        }
        self.totals.reads_checked += self.keys.len() as u64;
        Ok(())
    }

    fn note_engine_work(&mut self) {
        if let Some(db) = &self.db {
            let stats = db.stats();
            self.totals.flushes += stats.flushes;
            self.totals.compactions += stats.compactions;
            self.totals.sweeps += stats.sweeps;
            let deepest = stats.tables_per_level.iter().rposition(|&n| n > 0);
            self.totals.deepest_level = self.totals.deepest_level.max(deepest.unwrap_or(0));
        }
    }

    fn clean_reopen(&mut self) -> Checked {
        self.note_engine_work();
        let db = self.db.take().expect("a live Db");
        if let Err(e) = db.close() {
            return self.failed("close", &e);
        }
        // `close` flushed and synced: everything acknowledged is durable.
        self.durable = self.history.len();
        match self.open() {
            Ok(db) => self.db = Some(db),
            Err(e) => return self.failed("reopen", &e),
        }
        self.check_recovered()
    }

    fn crash(&mut self, mode: CrashMode, recovery_cut: Option<(u64, CrashMode)>) -> Checked {
        let site = self.probe.take_first_failure();
        if self.fault.is_powered_off() {
            self.totals.crashes_mid_operation += 1;
            self.count_site(site, self.died_in);
        } else {
            self.fault.power_cut();
            self.totals.crashes_idle += 1;
        }
        self.note_engine_work();
        self.fault.restart(mode);
        // Dropped only now: its calls fail, bound to the crashed generation.
        drop(self.db.take());
        self.dead = false;
        // The dropped Db's own failing calls are no crash site.
        let _ = self.probe.take_first_failure();
        let mut next_cut = recovery_cut;
        let db = loop {
            if let Some((n, _)) = next_cut {
                self.fault.power_cut_after(Some(n));
            }
            let opened = self.open();
            self.fault.power_cut_after(None);
            if !self.fault.is_powered_off() {
                match opened {
                    Ok(db) => break db,
                    Err(e) => return Err(format!("reopen after a crash ({mode:?}) failed: {e}")),
                }
            }
            // The power went off inside recovery: crash again and retry without a cut.
            let Some((_, again)) = next_cut.take() else {
                return Err("the power went off with no cut armed".into());
            };
            if let Err(e) = &opened {
                if !matches!(e, Error::Io(_)) {
                    return Err(format!("recovery cut short reported {e}, not an I/O error"));
                }
            }
            drop(opened);
            self.totals.crashes_in_recovery += 1;
            let site = self.probe.take_first_failure();
            self.count_site(site, "recovery");
            self.fault.restart(again);
        };
        self.db = Some(db);
        self.check_recovered()
    }

    fn count_site(&mut self, site: Option<CallSite>, during: &str) {
        let name = match site {
            Some(site) => format!("{during}: {site}"),
            None => format!("{during}: (no failed call seen)"),
        };
        *self.totals.crash_sites.entry(name).or_default() += 1;
    }

    /// After a reopen: the recovered state must be the base state plus a prefix of the
    /// acknowledged batches that holds at least the durable ones, or all of them plus the
    /// failed one. Then the model continues from what was found.
    fn check_recovered(&mut self) -> Checked {
        let db = self.db();
        let now = self.now();
        let actual = db_live(db).map_err(|e| format!("full scan after recovery failed: {e}"))?;
        let report = db.recovery_report().clone();
        let manifest_truncated = db.manifest_recovery().truncated.is_some();
        let last_seqno = db.stats().last_seqno;

        let mut state = self.base.clone();
        for effects in &self.history[..self.durable] {
            state.apply(effects);
        }
        let required = state.clone();
        let mut matched: Option<(usize, Model)> = None;
        for k in self.durable..=self.history.len() {
            if k > self.durable {
                state.apply(&self.history[k - 1]);
            }
            if state.live(now) == actual {
                matched = Some((k, state.clone()));
            }
        }
        let mut maybe_applied = false;
        if let Some(effects) = &self.in_flight {
            state.apply(effects);
            if state.live(now) == actual {
                matched = Some((self.history.len(), state.clone()));
                maybe_applied = true;
            }
        }
        let Some((kept, recovered)) = matched else {
            let missing = describe_diff(&required.live(now), &actual);
            return Err(format!(
                "the recovered state is no state the rules allow ({} acknowledged batches \
                 since the last check, {} of them synced, {} write in flight).\n\
                 Against the synced batches:\n{missing}\nAgainst every acknowledged batch:\n{}",
                self.history.len(),
                self.durable,
                if self.in_flight.is_some() { "a" } else { "no" },
                describe_diff(&self.model.live(now), &actual)
            ));
        };
        self.check_gets(&recovered, now)?;
        // Seqnos never go back below a durable write's: a stale `expect_seqno` guard must
        // not match a newer entry. (Expired entries may be gone without a trace.)
        let live_max = recovered.live(now).values().map(|e| e.seqno).max();
        let floor = live_max.unwrap_or(0).max(required.last_seqno);
        if last_seqno < floor {
            return Err(format!(
                "recovered last seqno {last_seqno} is below {floor}, the seqno of a durable write"
            ));
        }

        self.totals.acked_checked += self.history.len() as u64;
        self.totals.acked_required += self.durable as u64;
        self.totals.unsynced_lost += (self.history.len() - kept) as u64;
        if self.in_flight.is_some() {
            if maybe_applied {
                self.totals.maybe_present += 1;
            } else {
                self.totals.maybe_absent += 1;
            }
        }
        self.totals.wal_tails_truncated += u64::from(report.truncated.is_some());
        self.totals.manifest_tails_truncated += u64::from(manifest_truncated);

        self.model = recovered;
        self.model.last_seqno = last_seqno;
        self.base = self.model.clone();
        self.history.clear();
        self.durable = 0;
        self.in_flight = None;
        Ok(())
    }
}

fn bound_ref(b: &Bound<Bytes>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_ref()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn check_entries(
    want: &[strata_engine::Entry],
    got: &[strata_engine::Entry],
    what: impl FnOnce() -> String,
) -> Checked {
    if want == got {
        return Ok(());
    }
    let list = |es: &[strata_engine::Entry]| -> Vec<String> {
        es.iter()
            .map(|e| {
                format!(
                    "{}={}#{}",
                    show_bytes(&e.key),
                    show_bytes(&e.value),
                    e.seqno
                )
            })
            .collect()
    };
    Err(format!(
        "{}: got {:?}, the model says {:?}",
        what(),
        list(got),
        list(want)
    ))
}

// ---------------------------------------------------------------------------------------
// Cases, replay, shrinking

/// A failed case: what went wrong, and the steps that led there.
pub struct Failure {
    pub message: String,
    pub steps: Vec<Step>,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panic: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panic: {s}")
    } else {
        "panic".to_string()
    }
}

/// Runs the case of `seed`.
pub fn run_case(variant: Variant, seed: u64) -> Result<Totals, Failure> {
    let mut steps = Vec::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut generator = Generator::new(seed);
        let mut runner = Runner::new(variant);
        if std::env::var_os("STRATA_POWERLOSS_KEEP_DIR").is_some() {
            eprintln!("seed {seed}: data directory {}", runner.path.display());
        }
        while let Some(step) = generator.next(&runner.view()) {
            steps.push(step.clone());
            runner.exec(&step)?;
        }
        Ok(runner.totals.clone())
    }));
    match result {
        Ok(Ok(totals)) => Ok(totals),
        Ok(Err(message)) => Err(Failure { message, steps }),
        Err(payload) => Err(Failure {
            message: panic_message(payload.as_ref()),
            steps,
        }),
    }
}

/// Runs a logged list of steps; the error is the failure it shows.
pub fn replay(variant: Variant, steps: &[Step]) -> Result<Totals, String> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut runner = Runner::new(variant);
        for step in steps {
            runner.exec(step)?;
        }
        Ok(runner.totals.clone())
    }));
    match result {
        Ok(result) => result,
        Err(payload) => Err(panic_message(payload.as_ref())),
    }
}

/// Drops chunks of steps (halves, quarters, ... single steps) while the replay still fails,
/// within `SHRINK_REPLAYS_MAX` replays. Returns the shortest failing list found and its
/// failure. The first step (`Open` or the cut armed before it) is kept.
pub fn shrink(variant: Variant, steps: Vec<Step>) -> (Vec<Step>, String) {
    let mut current = steps;
    let mut message = match replay(variant, &current) {
        Err(m) => m,
        Ok(_) => return (current, "(the failure did not replay)".into()),
    };
    let mut replays = 1;
    let mut chunk = current.len() / 2;
    while chunk >= 1 && replays < SHRINK_REPLAYS_MAX {
        let mut start = 1;
        let mut removed_any = false;
        while start < current.len() && replays < SHRINK_REPLAYS_MAX {
            let end = (start + chunk).min(current.len());
            let mut candidate = current[..start].to_vec();
            candidate.extend_from_slice(&current[end..]);
            replays += 1;
            match replay(variant, &candidate) {
                Err(m) => {
                    current = candidate;
                    message = m;
                    removed_any = true;
                }
                Ok(_) => start = end,
            }
        }
        if !removed_any {
            chunk /= 2;
        }
    }
    (current, message)
}

/// Cases to run: `STRATA_POWERLOSS_SEED=S` runs seed S only; else `STRATA_POWERLOSS_CASES`
/// (default `default_cases`) seeds from `STRATA_POWERLOSS_FIRST_SEED` (default 0).
pub fn seeds(default_cases: u64) -> std::ops::Range<u64> {
    let env = |name: &str| -> Option<u64> {
        let v = std::env::var(name).ok()?;
        Some(
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        )
    };
    if let Some(seed) = env("STRATA_POWERLOSS_SEED") {
        return seed..seed + 1;
    }
    let first = env("STRATA_POWERLOSS_FIRST_SEED").unwrap_or(0);
    let cases = env("STRATA_POWERLOSS_CASES").unwrap_or(default_cases);
    first..first + cases
}

/// Failing seeds listed in a failure report.
pub const FAILURES_LISTED_MAX: usize = 20;

/// Runs every seed of `seeds` in `variant` (a failing seed does not stop the run, so a long
/// run reports all of them). If any failed, shrinks the first failure (when the variant is
/// deterministic) and panics with the failing seeds, the command that reproduces one and
/// its step list. Returns the totals of the passing cases.
pub fn run_seeds(variant: Variant, test_name: &str, seeds: std::ops::Range<u64>) -> Totals {
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for seed in seeds {
        match run_case(variant, seed) {
            Ok(t) => totals += &t,
            Err(failure) => {
                totals.failed_cases += 1;
                failures.push((seed, failure));
            }
        }
    }
    if !failures.is_empty() {
        eprintln!("power-loss fuzzer, variant `{}`:\n{totals}\n", variant.name);
        report_failures(variant, test_name, failures);
    }
    totals
}

fn report_failures(variant: Variant, test_name: &str, failures: Vec<(u64, Failure)>) -> ! {
    let mut out = format!(
        "power-loss fuzzer: variant `{}`: {} seeds failed\n",
        variant.name,
        failures.len()
    );
    for (seed, failure) in failures.iter().take(FAILURES_LISTED_MAX) {
        let first_line = failure.message.lines().next().unwrap_or_default();
        out.push_str(&format!("  seed {seed}: {first_line}\n"));
    }
    if failures.len() > FAILURES_LISTED_MAX {
        out.push_str(&format!(
            "  ... and {} more\n",
            failures.len() - FAILURES_LISTED_MAX
        ));
    }
    let (seed, failure) = failures.into_iter().next().expect("a failure");
    report_failure(variant, test_name, seed, failure, out)
}

fn report_failure(
    variant: Variant,
    test_name: &str,
    seed: u64,
    failure: Failure,
    mut out: String,
) -> ! {
    let reproduce = format!(
        "STRATA_POWERLOSS_SEED={seed} cargo test -p strata-engine --test crash_powerloss \
         {test_name} -- --nocapture"
    );
    out.push_str(&format!(
        "first failure: seed {seed}, after {} steps:\n  {}\nreproduce: {reproduce}\n",
        failure.steps.len(),
        failure.message
    ));
    if variant.background {
        // Background threads make the replay inexact: print the steps as they ran.
        out.push_str(&format!("steps ({}, not shrunk):\n", failure.steps.len()));
    }
    let steps = if variant.background {
        failure.steps
    } else {
        let (steps, message) = shrink(variant, failure.steps);
        out.push_str(&format!(
            "steps of the shortest failing replay ({} steps), which fails with:\n  {message}\n",
            steps.len()
        ));
        steps
    };
    for (i, step) in steps.iter().enumerate() {
        out.push_str(&format!("  {i:>4}: {step}\n"));
    }
    panic!("{out}");
}
