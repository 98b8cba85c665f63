//! `Db`: the engine's public face. Write path with group commit, reads from snapshots,
//! background flush, compaction and TTL sweep.
//!
//! Data directory:
//!
//! ```text
//! LOCK                    held (flock) for the life of the Db
//! CURRENT, MANIFEST-n     the live tables and recovery counters (manifest.rs)
//! wal/{id:020}.wal        WAL segments (wal.rs); one or more per memtable
//! tables/{id:020}.sst     tables (table/)
//! ```
//!
//! Concurrency, in one paragraph: writers meet in the [`CommitQueue`]; the leader of a group
//! holds the `writer` mutex (WAL + seqno counter) while it checks, appends and inserts into
//! the active memtable. Under `SyncMode::Always` it then releases the mutex (and the queue)
//! and waits in `sync_through` for an fdatasync covering its group, so the next group is
//! appended while this one syncs (pipelined commit); each fdatasync publishes the seqno it
//! covered as the new visible seqno, in order. Under the other modes the leader publishes
//! before it releases the mutex. Readers take the `view` mutex only to clone an `Arc<View>`
//! (memtables + version) together with the visible seqno.
//! Flush and compaction install their results with a manifest edit under the `manifest`
//! mutex, and swap the view while still holding it, so views change in edit order. See
//! `docs/design.md (section "core")` for the durability argument and the invariants.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::batch::{Entry, Record, WriteBatch, BATCH_OPS_MAX, KEY_BYTES_MAX, VALUE_BYTES_MAX};
use crate::clock::{Clock, SystemClock};
use crate::commit::{self, error_copy, CommitQueue, Joined, WriteResult};
use crate::compaction::{self, CompactionConfig};
use crate::error::{Error, Result};
use crate::fs::{DirLock, FileSystem, RealFs, WritableFile};
use crate::manifest::{Manifest, ManifestRecovery, ManifestState, NewTable, VersionEdit};
use crate::memtable::{self, Memtable};
use crate::merge::{LiveIter, MergeIter, RecordIter};
use crate::table::bloom::Bloom;
use crate::table::{table_path, Table, TableBuilder, TableMeta, TableOptions};
use crate::version::{TableHandle, Version};
use crate::wal::{self, RecoveryReport, WalWriter};

/// Most entries a single scan call may return.
pub const SCAN_LIMIT_MAX: usize = 10_000;
/// Most compactions one `compact()` call (or one background round) runs.
pub const COMPACTIONS_PER_CALL_MAX: usize = 1_000;
/// Most compactions one TTL sweep runs. The sweep policy may pick the same table again
/// while its garbage only turns into tombstones, so the loop needs its own bound.
pub const SWEEP_COMPACTIONS_PER_RUN_MAX: usize = 64;
/// A stalled writer re-checks its wake-up conditions at least this often, so a missed
/// notification can delay it but never strand it.
const STALL_RECHECK: Duration = Duration::from_millis(100);
/// The leader keeps its group-encoding buffer between groups unless it grew past this,
/// in bytes, so one huge group does not pin its memory.
const PAYLOAD_BUF_RETAIN_BYTES_MAX: usize = 4 * 1024 * 1024;

/// File holding the directory lock.
pub const LOCK_FILE: &str = "LOCK";
/// Subdirectory of the WAL segments.
pub const WAL_DIR: &str = "wal";
/// Subdirectory of the tables.
pub const TABLES_DIR: &str = "tables";

/// When a commit is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// fsync the WAL before acknowledging (group commit shares one fsync among writers).
    Always,
    /// fsync at most every this many milliseconds, in the background.
    Interval(u64),
    /// Leave it to the operating system.
    Never,
}

/// How to open a `Db`.
#[derive(Clone)]
pub struct Options {
    pub sync: SyncMode,
    /// A memtable is frozen and flushed once it holds this many bytes.
    pub memtable_bytes_max: usize,
    /// Most frozen memtables waiting to be flushed before writers stall.
    pub frozen_memtables_max: usize,
    /// How often the TTL sweep looks for tables worth compacting when idle.
    pub sweep_interval: Duration,
    /// Run flush / compaction / sweep threads. Tests may turn this off and call
    /// `flush`, `compact` and `sweep` themselves for determinism.
    pub background: bool,
    pub fs: Arc<dyn FileSystem>,
    pub clock: Arc<dyn Clock>,
    /// Compaction policy knobs (validated by `Db::open`).
    pub compaction: CompactionConfig,
    /// How tables are built (flush and compaction).
    pub table: TableOptions,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sync: SyncMode::Always,
            memtable_bytes_max: memtable::DEFAULT_MEMTABLE_BYTES,
            frozen_memtables_max: 4,
            sweep_interval: Duration::from_secs(60),
            background: true,
            fs: Arc::new(RealFs),
            clock: Arc::new(SystemClock),
            compaction: CompactionConfig::default(),
            table: TableOptions::default(),
        }
    }
}

impl Options {
    fn validate(&self) -> Result<()> {
        if self.memtable_bytes_max == 0 {
            return Err(Error::InvalidArgument(
                "memtable_bytes_max must be at least 1".into(),
            ));
        }
        if self.frozen_memtables_max == 0 {
            return Err(Error::InvalidArgument(
                "frozen_memtables_max must be at least 1".into(),
            ));
        }
        if self.sync == SyncMode::Interval(0) {
            return Err(Error::InvalidArgument(
                "SyncMode::Interval needs at least 1 ms".into(),
            ));
        }
        if self.sweep_interval.is_zero() {
            return Err(Error::InvalidArgument(
                "sweep_interval must be positive".into(),
            ));
        }
        self.compaction.validate()
    }
}

/// Counters and gauges for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Bytes held by the active and the frozen memtables.
    pub memtable_bytes: u64,
    pub frozen_memtables: u64,
    /// Tables per level.
    pub tables_per_level: Vec<u64>,
    /// Bytes of tables per level.
    pub table_bytes_per_level: Vec<u64>,
    /// Bytes of the live WAL segments.
    pub wal_bytes: u64,
    pub wal_fsyncs: u64,
    /// Sum of WAL fsync latencies, in microseconds (with `wal_fsyncs`, an average).
    pub wal_fsync_micros_total: u64,
    /// WAL fsync latency histogram: counts per bucket, bucket bounds in
    /// `WAL_FSYNC_BUCKETS_MICROS`. Not cumulative; it has one more entry than the bounds:
    /// the last counts fsyncs slower than the last bound.
    pub wal_fsync_buckets: Vec<u64>,
    /// Batches committed (acknowledged writes).
    pub commits: u64,
    /// WAL appends (each followed by one fsync under `SyncMode::Always`): a group of
    /// concurrent batches counts once.
    pub commit_groups: u64,
    pub flushes: u64,
    /// Size-driven compactions run (sweep compactions are counted in `sweeps`).
    pub compactions: u64,
    /// TTL sweep compactions run.
    pub sweeps: u64,
    pub compaction_bytes_written: u64,
    /// Keys and values of committed ops, in bytes.
    pub user_bytes_written: u64,
    /// Writes that had to wait for a flush because `frozen_memtables_max` memtables were
    /// already waiting.
    pub write_stalls: u64,
    pub last_seqno: u64,
    /// Bytes of tables written by flushes.
    pub flush_bytes_written: u64,
    /// Failed background flushes, compactions and sweeps.
    pub background_errors: u64,
    /// True once the engine refuses writes (until reopened).
    pub poisoned: bool,
}

/// What [`Db::checkpoint`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every write with a seqno up to this is in the checkpoint, and none after it.
    pub last_seqno: u64,
    /// Tables given a second name in the checkpoint.
    pub tables_linked: usize,
    /// Tables copied because the file system could not link them.
    pub tables_copied: usize,
    pub wal_segments: usize,
    /// Bytes of WAL copied.
    pub wal_bytes: u64,
}

/// Upper bounds (microseconds) of the WAL fsync latency histogram buckets.
pub const WAL_FSYNC_BUCKETS_MICROS: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000,
];

/// Opens a second handle on WAL segment `id`, for the pipelined commit's fdatasyncs.
fn open_segment_syncer(
    fs: &Arc<dyn FileSystem>,
    wal_dir: &Path,
    id: u64,
) -> Result<Arc<Mutex<Box<dyn WritableFile>>>> {
    let file = fs.open_append(&wal::segment_path(wal_dir, id))?;
    Ok(Arc::new(Mutex::new(file)))
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves its data whole
/// before anything that could panic, and `Drop` must not panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A memtable and the first WAL segment that may hold its records. Segments are rolled
/// when a memtable is frozen, so once a memtable is flushed every segment below the next
/// memtable's `first_wal_segment` is obsolete.
struct MemSlot {
    mem: Arc<Memtable>,
    first_wal_segment: u64,
}

/// What readers read: swapped as a whole, never changed in place.
struct View {
    active: Arc<MemSlot>,
    /// Newest first.
    frozen: Vec<Arc<MemSlot>>,
    version: Arc<Version>,
}

/// State owned by the commit leader (and borrowed by WAL syncs).
struct WriterState {
    wal: WalWriter,
    /// Last seqno handed out. Its records are in the WAL and the active memtable; under
    /// `SyncMode::Always` they become visible once an fdatasync covers them
    /// (`Inner::sync_through`), under the other modes before the writer lock is released.
    last_seqno: u64,
    /// Reused buffer for the encoded batches of a group.
    payload_buf: Vec<u8>,
}

#[derive(Default)]
struct Counters {
    wal_bytes: AtomicU64,
    wal_fsyncs: AtomicU64,
    wal_fsync_micros_total: AtomicU64,
    wal_fsync_buckets: [AtomicU64; WAL_FSYNC_BUCKETS_MICROS.len() + 1],
    commits: AtomicU64,
    commit_groups: AtomicU64,
    flushes: AtomicU64,
    compactions: AtomicU64,
    sweeps: AtomicU64,
    compaction_bytes_written: AtomicU64,
    user_bytes_written: AtomicU64,
    write_stalls: AtomicU64,
    flush_bytes_written: AtomicU64,
    background_errors: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Pipelined commit (`SyncMode::Always`): how far the WAL is known durable.
struct Durable {
    /// Every record up to this seqno is durable and visible.
    seqno: u64,
    /// One thread at a time runs the fdatasync; the others wait for its outcome.
    syncing: bool,
    /// Set by the first failed fdatasync. Nothing appended before or after it may be
    /// acknowledged or made visible any more: after a failed fdatasync the kernel may have
    /// dropped the dirty pages, so a later successful one proves nothing.
    failed: Option<Error>,
}

/// What the next pipelined fdatasync covers: the WAL segment being appended to, and the
/// last seqno appended to it. Every older segment was synced when it was rolled.
struct SyncTarget {
    seqno: u64,
    /// A second handle on the segment, used only to sync it while the writer appends
    /// through its own.
    segment: Arc<Mutex<Box<dyn WritableFile>>>,
}

/// A group appended to the WAL and inserted into the memtable, not yet answered.
struct Appended {
    results: Vec<WriteResult>,
    /// Under `SyncMode::Always`, the seqno that must be durable before the results may be
    /// given out: the group's last, or, for a group that wrote nothing, the last it read.
    durable_through: Option<u64>,
}

impl Appended {
    /// The group's results once `sync_through(durable_through)` returned `synced`: all of
    /// them fail if the sync did (even refusals such as `Conflict`, which were decided
    /// against state that may now be lost).
    fn settle(self, synced: &Result<()>) -> Vec<WriteResult> {
        match synced {
            Err(e) if self.durable_through.is_some() => {
                self.results.iter().map(|_| Err(error_copy(e))).collect()
            }
            _ => self.results,
        }
    }
}

/// Writes appended by [`Db::append_many`], to be answered by [`Db::finish_writes`].
#[must_use = "the writes are neither visible nor acknowledged until finish_writes"]
pub struct PendingWrites {
    /// Per batch given: its error if it was refused before the commit, else `None`.
    rejected: Vec<Option<WriteResult>>,
    /// The commit groups of the other batches, in order.
    appended: Vec<Appended>,
}

/// Requests to the background threads.
#[derive(Default)]
struct BgRequests {
    flush: bool,
    compact: bool,
}

struct Inner {
    wal_dir: PathBuf,
    tables_dir: PathBuf,
    opts: Options,
    recovery: RecoveryReport,
    manifest_recovery: ManifestRecovery,
    queue: CommitQueue,
    writer: Mutex<WriterState>,
    /// Lock order: `writer` before `sync_target`; `durable` is never held with another
    /// of these, and `sync_through` takes no writer lock.
    sync_target: Mutex<SyncTarget>,
    durable: Mutex<Durable>,
    durable_cv: Condvar,
    view: Mutex<Arc<View>>,
    /// Highest seqno readers may see: every record up to it is in a memtable or table and
    /// durable under the sync mode.
    visible_seqno: AtomicU64,
    manifest: Mutex<Manifest>,
    /// One flush at a time (always of the oldest frozen memtable).
    flush_lock: Mutex<()>,
    /// One compaction (or sweep compaction) at a time.
    compaction_lock: Mutex<()>,
    next_table_id: AtomicU64,
    /// Latched after a failed WAL or manifest write: writes are refused until reopen.
    poisoned: AtomicBool,
    shutting_down: AtomicBool,
    /// Unsynced WAL bytes exist (Interval / Never modes).
    wal_dirty: AtomicBool,
    bg: Mutex<BgRequests>,
    bg_cv: Condvar,
    /// Stalled writers wait here for a flush to finish.
    stall: Mutex<()>,
    stall_cv: Condvar,
    stats: Counters,
    // Declared last: released after everything above is dropped.
    _lock: Box<dyn DirLock>,
}

/// The engine. Cheap to share: wrap it in an `Arc`. All methods take `&self`.
///
/// Every method blocks (file I/O, fsync, waiting for a commit group): call it from a
/// blocking context (e.g. `tokio::task::spawn_blocking`).
pub struct Db {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A consistent point-in-time view for reads. Holds the memtables and tables of the moment
/// it was taken (they stay readable even after a flush or compaction replaced them) and
/// that moment's clock reading, so expiry is judged consistently too.
pub struct Snapshot {
    read: ReadView,
}

impl Db {
    /// Opens (creating if needed) the database in `dir`: takes the directory lock, loads the
    /// manifest, replays the WAL and starts background work.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        opts.validate()?;
        let inner = Arc::new(Inner::open(dir.as_ref(), opts)?);
        let db = Db {
            inner: Arc::clone(&inner),
            threads: Mutex::new(Vec::new()),
        };
        if inner.opts.background {
            let mut threads = lock(&db.threads);
            threads.push(spawn("strata-flush", &inner, Inner::flush_thread)?);
            threads.push(spawn("strata-compact", &inner, Inner::compaction_thread)?);
            if let SyncMode::Interval(_) = inner.opts.sync {
                threads.push(spawn("strata-wal-sync", &inner, Inner::sync_thread)?);
            }
        }
        Ok(db)
    }

    /// What WAL recovery found when this `Db` was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// What manifest recovery found when this `Db` was opened.
    pub fn manifest_recovery(&self) -> &ManifestRecovery {
        &self.inner.manifest_recovery
    }

    /// Commits `batch` atomically. Returns, per op, the live entry that was there before
    /// (`None` for an `Overwrite` without `expect_seqno`: it does not read what it
    /// replaces, see [`WriteMode::Overwrite`](crate::batch::WriteMode::Overwrite)).
    /// Fails with `Conflict` / `NotFound` (and writes nothing) if an op's mode or guard
    /// is not satisfied. On success the batch is durable under the configured `SyncMode`.
    ///
    /// Errors: `InvalidArgument` (empty batch, too many ops, key empty or too long, value
    /// too long, `expires_at == Some(0)`), `Conflict` / `NotFound`, `Poisoned` (a WAL or
    /// manifest write failed earlier, or this write's group failed), `Io` (this write's
    /// group failed to reach the WAL: the engine is poisoned from then on; the write may or
    /// may not be present after reopen).
    pub fn write(&self, batch: WriteBatch) -> Result<Vec<Option<Entry>>> {
        self.inner.write(batch)
    }

    /// Commits independent batches from one caller, each atomically and with exactly the
    /// result [`Db::write`] would give it, in as few commit groups as the group limits
    /// allow (`commit::GROUP_BATCHES_MAX`, `commit::GROUP_BYTES_MAX`): one WAL append and
    /// at most one fsync per group. Results are in `batches` order.
    ///
    /// Each batch is decided as if written right after the ones before it: a failing batch
    /// (invalid, or a mode or guard not satisfied) writes nothing and does not affect the
    /// others. For a thread that commits on behalf of many clients (e.g. an async server)
    /// this is group commit without one blocked thread per client.
    pub fn write_many(&self, batches: Vec<WriteBatch>) -> Vec<Result<Vec<Option<Entry>>>> {
        self.finish_writes(self.append_many(batches))
    }

    /// The first half of [`Db::write_many`]: decides the batches, appends them to the WAL
    /// and the memtable, and returns without waiting for the fsync. Nothing of them is
    /// visible to readers, nor may be acknowledged, before [`Db::finish_writes`] returns
    /// their results. Later writes (from any thread) are decided as if these had
    /// committed.
    ///
    /// For a server that pipelines its commits: one thread appends what its clients sent
    /// while another waits in `finish_writes`, so the next fdatasync covers everything
    /// appended while the current one ran.
    pub fn append_many(&self, batches: Vec<WriteBatch>) -> PendingWrites {
        self.inner.append_many(batches)
    }

    /// The second half of [`Db::write_many`]: waits until `pending` is durable (under
    /// `SyncMode::Always`; one fdatasync covers every write appended before it started)
    /// and returns each batch's result, in the order given to `append_many`.
    pub fn finish_writes(&self, pending: PendingWrites) -> Vec<Result<Vec<Option<Entry>>>> {
        self.inner.finish_writes(pending)
    }

    /// The live (not deleted, not expired) entry under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Entry>> {
        self.inner.read_view().get(key)
    }

    /// The live entry under `key` as of every write appended so far, including those not
    /// yet durable (under `SyncMode::Always`, appended writes become visible to [`Db::get`]
    /// only after their fdatasync). For a writer that decides its next batch on top of its
    /// own pending ones: that batch commits after them, and fails with them if their
    /// fdatasync fails. What it returns must not reach a client before the writes it saw
    /// are finished.
    pub fn get_appended(&self, key: &[u8]) -> Result<Option<Entry>> {
        self.inner.get_appended(key)
    }

    /// Live entries with keys in range, ascending, at most `limit` (capped at `SCAN_LIMIT_MAX`).
    pub fn scan(&self, start: Bound<&[u8]>, end: Bound<&[u8]>, limit: usize) -> Result<Vec<Entry>> {
        self.inner.read_view().scan(start, end, limit)
    }

    /// Live entries whose key starts with `prefix` and is > `after` (if given), ascending.
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        self.inner.read_view().scan_prefix(prefix, after, limit)
    }

    /// A consistent view for several reads.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            read: self.inner.read_view(),
        }
    }

    /// Freezes the active memtable and writes every frozen memtable to a table; returns
    /// when they are in the manifest.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush_all()
    }

    /// Runs compactions until the tree is settled (at most `COMPACTIONS_PER_CALL_MAX`):
    /// L0 is empty and every level is within its target (`compaction::choose_settle`),
    /// which bounds the space amplification by T/(T-1) for `level_multiplier` T.
    pub fn compact(&self) -> Result<()> {
        self.inner.compact(Pick::Settle)
    }

    /// Flushes the memtables, then merges every table into the last level in one full
    /// compaction (`compaction::choose_full`): one version of each live key is left, with
    /// no tombstone and no expired entry, the floor of space amplification. For operators:
    /// it rewrites the whole database, and needs room for a second copy while it runs.
    pub fn compact_all(&self) -> Result<()> {
        self.inner.flush_all()?;
        self.inner.compact_once(Pick::Full)?;
        Ok(())
    }

    /// Runs one TTL sweep now: compacts the tables whose expired/tombstoned share is high.
    pub fn sweep(&self) -> Result<()> {
        self.inner.sweep()
    }

    /// Makes every acknowledged write durable (for `Interval` / `Never` sync modes).
    pub fn sync_wal(&self) -> Result<()> {
        self.inner.check_not_poisoned()?;
        let mut w = lock(&self.inner.writer);
        self.inner.sync_wal_locked(&mut w)
    }

    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Writes a consistent copy of the database into `dest`, which must be missing or an
    /// empty directory, while the database stays open for reads and writes. The copy holds
    /// exactly the writes acknowledged before the call's cut point (`Checkpoint::last_seqno`)
    /// and opens like any data directory.
    ///
    /// Live tables are hard-linked (copied where the file system cannot link them, e.g.
    /// across devices: a linked checkpoint shares the tables' disk blocks, so move it to
    /// other media for a backup); the WAL segments the manifest still needs are copied up to
    /// the cut point; a fresh manifest holding the live version is written last, so an
    /// interrupted checkpoint has no `CURRENT` and refuses to open. Flushes and compactions
    /// wait while the files are copied; writers only wait for the cut point.
    pub fn checkpoint(&self, dest: impl AsRef<Path>) -> Result<Checkpoint> {
        self.inner.checkpoint(dest.as_ref())
    }

    /// Stops background work, flushes what is pending and releases the lock.
    ///
    /// On a poisoned engine the background threads are stopped and `Err(Poisoned)` is
    /// returned: every write acknowledged before the poisoning is in the WAL.
    pub fn close(self) -> Result<()> {
        self.stop_background();
        self.inner.check_not_poisoned()?;
        self.inner.flush_all()?;
        self.sync_wal()
        // `Drop` runs next: threads are already joined; the lock goes with `inner`.
    }

    fn stop_background(&self) {
        {
            let _requests = lock(&self.inner.bg);
            self.inner.shutting_down.store(true, Ordering::SeqCst);
            self.inner.bg_cv.notify_all();
        }
        {
            let _stall = lock(&self.inner.stall);
            self.inner.stall_cv.notify_all();
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            // A panicked background thread has nothing left to clean up; ignore it
            // rather than panic in `Drop`.
            let _ = t.join();
        }
    }
}

impl Drop for Db {
    /// Stops and joins the background threads and, unless poisoned, syncs the WAL (so
    /// dropping a `Db` in `Interval` / `Never` mode loses nothing acknowledged) and cuts
    /// the WAL segment's unused reservation. Never panics.
    fn drop(&mut self) {
        self.stop_background();
        if !self.inner.is_poisoned() {
            let mut w = lock(&self.inner.writer);
            if self.inner.sync_wal_locked(&mut w).is_ok() {
                // A closed database's WAL ends at its last record (tools and offline copies
                // see no reservation); the next open reserves again.
                let _ = w
                    .wal
                    .cut_reservation(&self.inner.opts.fs, &self.inner.wal_dir);
            }
        }
    }
}

impl Snapshot {
    pub fn seqno(&self) -> u64 {
        self.read.seqno
    }
    pub fn get(&self, key: &[u8]) -> Result<Option<Entry>> {
        self.read.get(key)
    }
    pub fn scan(&self, start: Bound<&[u8]>, end: Bound<&[u8]>, limit: usize) -> Result<Vec<Entry>> {
        self.read.scan(start, end, limit)
    }
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        self.read.scan_prefix(prefix, after, limit)
    }
}

/// The policy that picks a compaction (see `compaction`).
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// `choose`: what the background thread runs after flushes.
    Size,
    /// `choose_settle`: an explicit `Db::compact`, down to the settled shape.
    Settle,
    /// `choose_full`: `Db::compact_all`, run once.
    Full,
    /// `choose_sweep` at this time (unix seconds).
    Sweep(u64),
}

fn spawn(name: &str, inner: &Arc<Inner>, body: fn(&Inner)) -> Result<JoinHandle<()>> {
    let inner = Arc::clone(inner);
    Ok(std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || body(&inner))?)
}

// ---------------------------------------------------------------------------------------
// Validation

/// Checks a batch at the boundary and returns the size of its WAL payload, in bytes.
fn validate_batch(batch: &WriteBatch) -> Result<usize> {
    if batch.is_empty() {
        return Err(Error::InvalidArgument("empty write batch".into()));
    }
    if batch.len() > BATCH_OPS_MAX {
        return Err(Error::InvalidArgument(format!(
            "batch holds {} ops, more than {BATCH_OPS_MAX}",
            batch.len()
        )));
    }
    let mut bytes = wal::BATCH_HEADER_BYTES;
    for (i, op) in batch.ops.iter().enumerate() {
        if op.key.is_empty() {
            return Err(Error::InvalidArgument(format!("op {i}: empty key")));
        }
        if op.key.len() > KEY_BYTES_MAX {
            return Err(Error::InvalidArgument(format!(
                "op {i}: key of {} bytes, more than {KEY_BYTES_MAX}",
                op.key.len()
            )));
        }
        if op.value.len() > VALUE_BYTES_MAX {
            return Err(Error::InvalidArgument(format!(
                "op {i}: value of {} bytes, more than {VALUE_BYTES_MAX}",
                op.value.len()
            )));
        }
        if op.expires_at == Some(0) {
            // On disk 0 means "never expires"; the epoch itself is no meaningful expiry.
            return Err(Error::InvalidArgument(format!(
                "op {i}: expires_at must be after the unix epoch"
            )));
        }
        bytes += wal::BATCH_RECORD_HEADER_BYTES + op.key.len() + op.value.len();
    }
    if bytes > wal::RECORD_BYTES_MAX {
        return Err(Error::InvalidArgument(format!(
            "batch encodes to {bytes} bytes, more than {}",
            wal::RECORD_BYTES_MAX
        )));
    }
    Ok(bytes)
}

/// Creates `path` holding `data`, fsynced (its directory entry is the caller's to sync).
fn write_synced(fs: &dyn FileSystem, path: &Path, data: &[u8]) -> Result<()> {
    let mut file = fs.create(path)?;
    file.append(data)?;
    file.sync()
}

/// The file name of table `id`, parsed back (`{id:020}.sst`).
fn parse_table_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".sst")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The smallest key greater than every key starting with `prefix`, if there is one.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Reads

struct ReadView {
    view: Arc<View>,
    seqno: u64,
    now: u64,
}

impl ReadView {
    fn get(&self, key: &[u8]) -> Result<Option<Entry>> {
        Ok(newest_record(&self.view, key, self.seqno)?.and_then(|r| r.live_entry(self.now)))
    }

    fn scan(&self, start: Bound<&[u8]>, end: Bound<&[u8]>, limit: usize) -> Result<Vec<Entry>> {
        let limit = limit.min(SCAN_LIMIT_MAX);
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let mut sources: Vec<Box<dyn RecordIter>> = Vec::new();
        // Newest first, as MergeIter expects.
        sources.push(Box::new(self.view.active.mem.iter()));
        for slot in &self.view.frozen {
            sources.push(Box::new(slot.mem.iter()));
        }
        for table in self.view.version.tables() {
            if overlaps(&table.meta, start, end) {
                sources.push(Box::new(table.table.iter()));
            }
        }
        let mut it = LiveIter::new(MergeIter::new(sources), self.seqno, self.now);
        let seek_key: &[u8] = match start {
            Bound::Included(k) | Bound::Excluded(k) => k,
            Bound::Unbounded => &[],
        };
        it.seek(seek_key)?;
        while out.len() < limit {
            let Some(entry) = it.next_entry()? else {
                break;
            };
            if matches!(start, Bound::Excluded(k) if entry.key == k) {
                continue;
            }
            let past_end = match end {
                Bound::Included(k) => entry.key.as_ref() > k,
                Bound::Excluded(k) => entry.key.as_ref() >= k,
                Bound::Unbounded => false,
            };
            if past_end {
                break;
            }
            out.push(entry);
        }
        Ok(out)
    }

    fn scan_prefix(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Vec<Entry>> {
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let end_key = prefix_end(prefix);
        let end = end_key.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.scan(start, end, limit)
    }
}

/// True if a table with `meta` may hold keys within the bounds.
fn overlaps(meta: &TableMeta, start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    let smallest = meta.smallest_key.as_ref();
    let largest = meta.largest_key.as_ref();
    let after_start = match start {
        Bound::Included(k) | Bound::Excluded(k) => largest >= k,
        Bound::Unbounded => true,
    };
    let before_end = match end {
        Bound::Included(k) => smallest <= k,
        Bound::Excluded(k) => smallest < k,
        Bound::Unbounded => true,
    };
    after_start && before_end
}

/// The newest record for `key` at `seqno` in a view: memtables hold newer data than any
/// table, and the active memtable newer than the frozen ones.
fn newest_record(view: &View, key: &[u8], seqno: u64) -> Result<Option<crate::batch::Record>> {
    let hash = Bloom::hash(key);
    if let Some(r) = view.active.mem.get_hashed(key, hash, seqno) {
        return Ok(Some(r));
    }
    for slot in &view.frozen {
        if let Some(r) = slot.mem.get_hashed(key, hash, seqno) {
            return Ok(Some(r));
        }
    }
    view.version.get_hashed(key, hash, seqno)
}

// ---------------------------------------------------------------------------------------
// Open

/// Opens every table the manifest names; each table's own metadata must agree with it.
fn open_tables(
    fs: &dyn FileSystem,
    tables_dir: &Path,
    state: &ManifestState,
    levels: usize,
) -> Result<Version> {
    let mut handles = Vec::with_capacity(state.tables.len());
    for (&id, live) in &state.tables {
        let path = table_path(tables_dir, id);
        let table = Table::open(fs, &path)?;
        if table.meta() != &live.meta {
            return Err(Error::corruption(
                path,
                0,
                "table metadata disagrees with the manifest",
            ));
        }
        handles.push(Arc::new(TableHandle {
            id,
            level: live.level,
            meta: live.meta.clone(),
            table: Arc::new(table),
        }));
    }
    Ok(Version::from_tables(levels, handles))
}

/// Deletes crash leftovers: tables no edit names (an interrupted flush or compaction, or
/// inputs whose deletion did not happen) and WAL segments whose records are in tables.
fn remove_debris(
    fs: &dyn FileSystem,
    tables_dir: &Path,
    wal_dir: &Path,
    state: &ManifestState,
) -> Result<()> {
    for name in fs.list(tables_dir)? {
        if let Some(id) = parse_table_name(&name) {
            if !state.tables.contains_key(&id) {
                fs.remove_file(&tables_dir.join(&name))?;
            }
        }
    }
    for id in wal::list_segments(fs, wal_dir)? {
        if id < state.log_number {
            fs.remove_file(&wal::segment_path(wal_dir, id))?;
        }
    }
    Ok(())
}

impl Inner {
    fn open(dir: &Path, opts: Options) -> Result<Inner> {
        let fs = Arc::clone(&opts.fs);
        let fresh_dir = !fs.exists(dir);
        fs.create_dir_all(dir)?;
        if fresh_dir {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                // The new directory's own entry must survive a crash too.
                fs.sync_dir(parent)?;
            }
        }
        let dir_lock = fs.lock(&dir.join(LOCK_FILE))?;
        let wal_dir = dir.join(WAL_DIR);
        let tables_dir = dir.join(TABLES_DIR);
        fs.create_dir_all(&wal_dir)?;
        fs.create_dir_all(&tables_dir)?;
        // IMPORTANT: the subdirectories' entries are durable before anything in them is.
        fs.sync_dir(dir)?;

        let (manifest, manifest_recovery) = if Manifest::exists(fs.as_ref(), dir) {
            Manifest::open(&fs, dir)?
        } else {
            let has_data = !wal::list_segments(fs.as_ref(), &wal_dir)?.is_empty()
                || fs
                    .list(&tables_dir)?
                    .iter()
                    .any(|n| parse_table_name(n).is_some());
            if has_data {
                return Err(Error::corruption(
                    dir.join(crate::manifest::CURRENT_FILE),
                    0,
                    "CURRENT is missing but WAL segments or tables exist",
                ));
            }
            let fresh = ManifestState {
                log_number: 1,
                next_table_id: 1,
                ..ManifestState::default()
            };
            (
                Manifest::create(&fs, dir, fresh)?,
                ManifestRecovery::default(),
            )
        };
        let state = manifest.state().clone();

        let version = open_tables(fs.as_ref(), &tables_dir, &state, opts.compaction.levels)
            .and_then(|version| {
                version.check().map_err(|reason| {
                    let manifest_name = crate::manifest::manifest_file_name(manifest.number());
                    Error::corruption(dir.join(manifest_name), 0, reason)
                })?;
                Ok(version)
            })?;
        remove_debris(fs.as_ref(), &tables_dir, &wal_dir, &state)?;

        let mem = Arc::new(Memtable::for_size(opts.memtable_bytes_max));
        let max_table_seqno = version
            .tables()
            .map(|t| t.meta.max_seqno)
            .max()
            .unwrap_or(0);
        let mut replayed_seqno = 0;
        // The replayed records are inserted into the memtable in key order rather than WAL
        // order: a skiplist insert next to the previous one is cheap, a random one is a full
        // search (reopen with 1M unflushed entries: ~5.8 s in WAL order, ~2.1 s sorted). The
        // transient Vec is bounded like the memtable itself: the WAL only holds what is not
        // yet flushed.
        let mut replayed: Vec<Record> = Vec::new();
        let recovery = wal::replay(fs.as_ref(), &wal_dir, state.log_number, &mut |records| {
            for r in &records {
                if r.seqno <= max_table_seqno {
                    return Err(Error::corruption(
                        &wal_dir,
                        0,
                        format!(
                            "WAL seqno {} is not newer than the tables' {max_table_seqno}",
                            r.seqno
                        ),
                    ));
                }
                replayed_seqno = r.seqno;
            }
            replayed.extend(records);
            Ok(())
        })?;
        replayed
            .sort_unstable_by(|a, b| crate::table::cmp_internal(&a.key, a.seqno, &b.key, b.seqno));
        for r in &replayed {
            mem.insert_shared(r);
        }
        drop(replayed);
        let last_seqno = state.last_seqno.max(replayed_seqno).max(max_table_seqno);

        // Continue the last segment (replay cut any torn tail off it) or start one.
        let segments = wal::list_segments(fs.as_ref(), &wal_dir)?;
        let wal = match segments.last() {
            Some(&id) => WalWriter::open_existing(&fs, &wal_dir, id)?,
            None => WalWriter::create(&fs, &wal_dir, state.log_number)?,
        };
        let sync_target = SyncTarget {
            seqno: last_seqno,
            segment: open_segment_syncer(&fs, &wal_dir, wal.segment_id())?,
        };
        let mut wal_bytes = 0;
        for &id in &segments {
            wal_bytes += fs.file_len(&wal::segment_path(&wal_dir, id))?;
        }
        if segments.is_empty() {
            wal_bytes = wal.len();
        }

        let next_table_id = version
            .tables()
            .map(|t| t.id + 1)
            .max()
            .unwrap_or(0)
            .max(state.next_table_id);
        let view = View {
            active: Arc::new(MemSlot {
                mem,
                first_wal_segment: state.log_number,
            }),
            frozen: Vec::new(),
            version: Arc::new(version),
        };
        let stats = Counters::default();
        stats.wal_bytes.store(wal_bytes, Ordering::Relaxed);
        Ok(Inner {
            wal_dir,
            tables_dir,
            recovery,
            manifest_recovery,
            queue: CommitQueue::new(),
            writer: Mutex::new(WriterState {
                wal,
                last_seqno,
                payload_buf: Vec::new(),
            }),
            sync_target: Mutex::new(sync_target),
            durable: Mutex::new(Durable {
                seqno: last_seqno,
                syncing: false,
                failed: None,
            }),
            durable_cv: Condvar::new(),
            view: Mutex::new(Arc::new(view)),
            visible_seqno: AtomicU64::new(last_seqno),
            manifest: Mutex::new(manifest),
            flush_lock: Mutex::new(()),
            compaction_lock: Mutex::new(()),
            next_table_id: AtomicU64::new(next_table_id),
            poisoned: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            wal_dirty: AtomicBool::new(false),
            bg: Mutex::new(BgRequests::default()),
            bg_cv: Condvar::new(),
            stall: Mutex::new(()),
            stall_cv: Condvar::new(),
            stats,
            opts,
            _lock: dir_lock,
        })
    }

    // -----------------------------------------------------------------------------------
    // Small helpers

    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }

    fn check_not_poisoned(&self) -> Result<()> {
        if self.is_poisoned() {
            Err(Error::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Latches the engine into refusing writes, and wakes stalled writers so they see it.
    fn poison(&self) {
        self.poisoned.store(true, Ordering::SeqCst);
        let _stall = lock(&self.stall);
        self.stall_cv.notify_all();
    }

    fn current_view(&self) -> Arc<View> {
        Arc::clone(&lock(&self.view))
    }

    /// The view and the visible seqno, taken together under the view lock so that no
    /// flush or compaction result installed after the seqno was read is missing from the
    /// view, and none installed before is absent.
    fn read_view(&self) -> ReadView {
        let (view, seqno) = {
            let view = lock(&self.view);
            (
                Arc::clone(&view),
                self.visible_seqno.load(Ordering::Acquire),
            )
        };
        ReadView {
            view,
            seqno,
            now: self.opts.clock.now_unix_secs(),
        }
    }

    fn get_appended(&self, key: &[u8]) -> Result<Option<Entry>> {
        // The last appended seqno first, then the view: records up to it are all in the
        // view's memtables (inserted before the seqno was published) or, once flushed, in
        // its tables. No table holds anything newer than the durable seqno, so no
        // compaction can have dropped a version this read needs (unlike `read_view`).
        let seqno = match self.opts.sync {
            SyncMode::Always => lock(&self.sync_target).seqno,
            _ => self.visible_seqno.load(Ordering::Acquire),
        };
        let view = self.current_view();
        let now = self.opts.clock.now_unix_secs();
        Ok(newest_record(&view, key, seqno)?.and_then(|r| r.live_entry(now)))
    }

    fn request(&self, set: impl FnOnce(&mut BgRequests)) {
        if self.opts.background {
            set(&mut lock(&self.bg));
            self.bg_cv.notify_all();
        }
    }

    // -----------------------------------------------------------------------------------
    // Write path

    fn write(&self, batch: WriteBatch) -> WriteResult {
        self.check_not_poisoned()?;
        let bytes = validate_batch(&batch)?;
        match self.queue.join(batch, bytes) {
            Joined::Done(result) => result,
            Joined::Leader(mut group) => {
                let appended = self.append_group(&group.batches);
                // The next group may append while this one waits for its fsync.
                group.release();
                let synced = self.wait_durable(&appended);
                group.finish(appended.settle(&synced))
            }
        }
    }

    fn append_many(&self, batches: Vec<WriteBatch>) -> PendingWrites {
        // Invalid batches are answered here; the valid ones are appended in groups, and
        // one fsync covers them all.
        let mut rejected: Vec<Option<WriteResult>> = Vec::with_capacity(batches.len());
        let mut valid = Vec::with_capacity(batches.len());
        let mut sizes = Vec::with_capacity(batches.len());
        for batch in batches {
            match self
                .check_not_poisoned()
                .and_then(|()| validate_batch(&batch))
            {
                Ok(bytes) => {
                    rejected.push(None);
                    sizes.push(bytes);
                    valid.push(batch);
                }
                Err(e) => rejected.push(Some(Err(e))),
            }
        }
        let mut appended = Vec::new();
        let mut start = 0;
        while start < valid.len() {
            let end = start + commit::group_len(sizes[start..].iter().copied());
            appended.push(self.append_group(&valid[start..end]));
            start = end;
        }
        PendingWrites { rejected, appended }
    }

    fn finish_writes(&self, pending: PendingWrites) -> Vec<WriteResult> {
        let PendingWrites { rejected, appended } = pending;
        // The last group's wait covers the earlier groups too.
        let synced = appended.last().map_or(Ok(()), |a| self.wait_durable(a));
        let mut committed = appended.into_iter().flat_map(|a| a.settle(&synced));
        rejected
            .into_iter()
            .map(|r| r.unwrap_or_else(|| committed.next().expect("one result per valid batch")))
            .collect()
    }

    /// Appends one group as its leader: checks it, writes it to the WAL with one append
    /// and inserts it into the memtable. Under `SyncMode::Always` the caller must then wait
    /// for [`Inner::wait_durable`] before answering; under the other modes the group is
    /// already visible.
    fn append_group(&self, batches: &[WriteBatch]) -> Appended {
        let fail_all = |e: Error| Appended {
            results: batches.iter().map(|_| Err(error_copy(&e))).collect(),
            durable_through: None,
        };
        let mut w = lock(&self.writer);
        if self.is_poisoned() {
            return fail_all(Error::Poisoned);
        }
        if let Err(e) = self.make_room(&mut w) {
            return fail_all(e);
        }
        let pipelined = self.opts.sync == SyncMode::Always;
        let view = self.current_view();
        let now = self.opts.clock.now_unix_secs();
        // Reads see every appended group, synced or not: if an earlier group's sync fails,
        // this one fails with it (`Durable::failed`).
        let committed = w.last_seqno;
        let checked = commit::check_group(batches, committed + 1, now, &mut |key| {
            Ok(newest_record(&view, key, committed)?.and_then(|r| r.live_entry(now)))
        });

        // All frames of the group are encoded into one reused buffer.
        let WriterState {
            wal,
            last_seqno,
            payload_buf,
        } = &mut *w;
        payload_buf.clear();
        let mut payload_ends = Vec::with_capacity(checked.len());
        for c in checked.iter().flatten() {
            wal::encode_batch(&c.records, payload_buf);
            payload_ends.push(payload_buf.len());
        }
        if payload_ends.is_empty() {
            // Nothing to write; the refusals still wait for what they read to be durable.
            return Appended {
                results: checked.into_iter().map(|c| c.map(|c| c.previous)).collect(),
                durable_through: pipelined.then_some(committed),
            };
        }
        let payloads: Vec<&[u8]> = std::iter::once(0)
            .chain(payload_ends.iter().copied())
            .zip(payload_ends.iter().copied())
            .map(|(start, end)| &payload_buf[start..end])
            .collect();
        let len_before = wal.len();
        let result = wal.append_many(&payloads);
        bump(&self.stats.wal_bytes, wal.len() - len_before);
        if payload_buf.capacity() > PAYLOAD_BUF_RETAIN_BYTES_MAX {
            *payload_buf = Vec::new();
        }
        if let Err(e) = result {
            // The WAL may now end in a partial record: nothing more may be appended after
            // it, and nothing of this group may become visible.
            self.poison();
            return Appended {
                results: checked
                    .into_iter()
                    .map(|c| c.and(Err(error_copy(&e))))
                    .collect(),
                durable_through: None,
            };
        }
        if !pipelined {
            self.wal_dirty.store(true, Ordering::SeqCst);
        }

        // NOTE: insert, then publish: a reader never sees a seqno whose records are not
        // all in the memtable, nor (under `Always`) one that no fdatasync covered yet.
        let mut last = committed;
        let mut user_bytes = 0;
        let mut commits = 0;
        for c in checked.iter().flatten() {
            for r in &c.records {
                view.active.mem.insert(r);
                user_bytes += (r.key.len() + r.value.len()) as u64;
                last = r.seqno;
            }
            commits += 1;
        }
        *last_seqno = last;
        if pipelined {
            lock(&self.sync_target).seqno = last;
        } else {
            self.visible_seqno.store(last, Ordering::Release);
        }
        bump(&self.stats.commits, commits);
        bump(&self.stats.commit_groups, 1);
        bump(&self.stats.user_bytes_written, user_bytes);
        Appended {
            results: checked.into_iter().map(|c| c.map(|c| c.previous)).collect(),
            durable_through: pipelined.then_some(last),
        }
    }

    /// Waits until what `appended` wrote (or read) is durable, if it must be.
    fn wait_durable(&self, appended: &Appended) -> Result<()> {
        appended
            .durable_through
            .map_or(Ok(()), |seqno| self.sync_through(seqno))
    }

    /// Pipelined commit: returns once every record up to `seqno` (already appended) is
    /// durable and visible. If an fdatasync is running, waits for it; if that did not
    /// cover `seqno`, runs the next one itself. One fdatasync covers everything appended
    /// before it started, so while it runs the next groups are appended, and the next
    /// fdatasync covers all of them.
    fn sync_through(&self, seqno: u64) -> Result<()> {
        let mut durable = lock(&self.durable);
        loop {
            if let Some(e) = &durable.failed {
                return Err(error_copy(e));
            }
            if durable.seqno >= seqno {
                return Ok(());
            }
            if !durable.syncing {
                break;
            }
            durable = self
                .durable_cv
                .wait(durable)
                .unwrap_or_else(PoisonError::into_inner);
        }
        durable.syncing = true;
        drop(durable);

        let (target, segment) = {
            let t = lock(&self.sync_target);
            (t.seqno, Arc::clone(&t.segment))
        };
        debug_assert!(target >= seqno, "callers wait only for appended seqnos");
        let result = self.timed_sync(|| lock(&segment).sync());

        let mut durable = lock(&self.durable);
        durable.syncing = false;
        match &result {
            Ok(()) if durable.failed.is_none() => {
                durable.seqno = target;
                self.visible_seqno.store(target, Ordering::Release);
            }
            Ok(()) => {}
            Err(e) => {
                durable.failed = Some(error_copy(e));
                self.poison();
            }
        }
        let outcome = match &durable.failed {
            Some(e) => Err(error_copy(e)),
            None => Ok(()),
        };
        drop(durable);
        self.durable_cv.notify_all();
        outcome
    }

    /// Under `SyncMode::Always`, waits until everything appended so far is durable and
    /// visible: before a memtable is frozen (a flush writes only the newest version of
    /// each key, which is right only if readers already read above all of them) and
    /// before a checkpoint's cut point. The caller holds the writer lock, so nothing new
    /// is appended meanwhile.
    fn drain_pipeline(&self, w: &WriterState) -> Result<()> {
        if self.opts.sync == SyncMode::Always {
            self.sync_through(w.last_seqno)
        } else {
            Ok(())
        }
    }

    /// Makes sure the active memtable has room: freezes it when full, stalling while
    /// `frozen_memtables_max` memtables already wait for a flush. Also rolls an oversized
    /// WAL segment.
    fn make_room(&self, w: &mut WriterState) -> Result<()> {
        let mut stalled = false;
        loop {
            let view = self.current_view();
            if view.active.mem.approximate_bytes() < self.opts.memtable_bytes_max {
                if w.wal.len() >= wal::SEGMENT_BYTES_TARGET {
                    self.roll_wal(w)?;
                }
                return Ok(());
            }
            if view.frozen.len() < self.opts.frozen_memtables_max {
                return self.freeze(w);
            }
            if !stalled {
                stalled = true;
                bump(&self.stats.write_stalls, 1);
            }
            if self.opts.background {
                self.wait_for_flush(view.frozen.len())?;
            } else {
                self.flush_oldest()?;
            }
        }
    }

    /// Blocks until fewer than `frozen` memtables wait for a flush (or the engine is
    /// poisoned or shutting down).
    fn wait_for_flush(&self, frozen: usize) -> Result<()> {
        self.request(|r| r.flush = true);
        let mut guard = lock(&self.stall);
        loop {
            self.check_not_poisoned()?;
            if self.shutting_down.load(Ordering::SeqCst) {
                return Err(Error::Closed);
            }
            if self.current_view().frozen.len() < frozen {
                return Ok(());
            }
            guard = self
                .stall_cv
                .wait_timeout(guard, STALL_RECHECK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Turns the active memtable into the newest frozen one, with a fresh WAL segment for
    /// its successor, and asks the flush thread to write it out.
    fn freeze(&self, w: &mut WriterState) -> Result<()> {
        let segment = self.roll_wal(w)?;
        let active = Arc::new(MemSlot {
            mem: Arc::new(Memtable::for_size(self.opts.memtable_bytes_max)),
            first_wal_segment: segment,
        });
        {
            let mut view = lock(&self.view);
            let mut frozen = Vec::with_capacity(view.frozen.len() + 1);
            frozen.push(Arc::clone(&view.active));
            frozen.extend(view.frozen.iter().cloned());
            *view = Arc::new(View {
                active,
                frozen,
                version: Arc::clone(&view.version),
            });
        }
        self.request(|r| r.flush = true);
        Ok(())
    }

    /// Closes the current WAL segment and starts the next; returns the new segment's id.
    fn roll_wal(&self, w: &mut WriterState) -> Result<u64> {
        self.drain_pipeline(w)?;
        // NOTE: the old segment is synced whatever the sync mode, so only the last segment
        // can ever end in a torn record; recovery treats damage anywhere else as corruption.
        if let Err(e) = self.timed_sync(|| w.wal.sync()) {
            self.poison();
            return Err(e);
        }
        self.wal_dirty.store(false, Ordering::SeqCst);
        if let Err(e) = w.wal.cut_reservation(&self.opts.fs, &self.wal_dir) {
            self.poison();
            return Err(e);
        }
        let id = w.wal.segment_id() + 1;
        let wal = WalWriter::create(&self.opts.fs, &self.wal_dir, id)?;
        let segment = open_segment_syncer(&self.opts.fs, &self.wal_dir, id)?;
        bump(&self.stats.wal_bytes, wal.len());
        w.wal = wal;
        *lock(&self.sync_target) = SyncTarget {
            seqno: w.last_seqno,
            segment,
        };
        Ok(id)
    }

    /// Runs a WAL fsync, recording the latency.
    fn timed_sync(&self, sync: impl FnOnce() -> Result<()>) -> Result<()> {
        let started = Instant::now();
        let result = sync();
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        bump(&self.stats.wal_fsyncs, 1);
        bump(&self.stats.wal_fsync_micros_total, micros);
        let bucket = WAL_FSYNC_BUCKETS_MICROS
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(WAL_FSYNC_BUCKETS_MICROS.len());
        bump(&self.stats.wal_fsync_buckets[bucket], 1);
        result
    }

    fn sync_wal_locked(&self, w: &mut WriterState) -> Result<()> {
        self.check_not_poisoned()?;
        self.wal_dirty.store(false, Ordering::SeqCst);
        if let Err(e) = self.timed_sync(|| w.wal.sync()) {
            self.poison();
            return Err(e);
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Flush

    fn flush_all(&self) -> Result<()> {
        self.check_not_poisoned()?;
        {
            let mut w = lock(&self.writer);
            if !self.current_view().active.mem.is_empty() {
                self.freeze(&mut w)?;
            }
        }
        while self.flush_oldest()? {}
        Ok(())
    }

    /// Writes the oldest frozen memtable to a new L0 table and installs it. Returns false
    /// if no memtable was frozen.
    fn flush_oldest(&self) -> Result<bool> {
        let _flush = lock(&self.flush_lock);
        self.check_not_poisoned()?;
        let view = self.current_view();
        let Some(oldest) = view.frozen.last().cloned() else {
            return Ok(false);
        };
        // The memtable after the oldest: its first segment is the first one still needed.
        let successor = match view.frozen.len() {
            1 => &view.active,
            n => &view.frozen[n - 2],
        };
        let log_number = successor.first_wal_segment;
        assert!(
            !oldest.mem.is_empty(),
            "only non-empty memtables are frozen"
        );

        let id = self.next_table_id.fetch_add(1, Ordering::SeqCst);
        let path = table_path(&self.tables_dir, id);
        let (meta, table) = match self.write_flush_table(&path, &oldest.mem) {
            Ok(written) => written,
            Err(e) => {
                // Best effort: a leftover is an orphan, deleted on the next open.
                let _ = self.opts.fs.remove_file(&path);
                return Err(e);
            }
        };
        let handle = Arc::new(TableHandle {
            id,
            level: 0,
            meta: meta.clone(),
            table: Arc::new(table),
        });
        let edit = VersionEdit {
            added: vec![NewTable {
                id,
                level: 0,
                meta: meta.clone(),
            }],
            removed: Vec::new(),
            log_number: Some(log_number),
            next_table_id: Some(self.next_table_id.load(Ordering::SeqCst)),
            last_seqno: Some(self.visible_seqno.load(Ordering::Acquire)),
        };
        self.install(&edit, vec![handle], Some(&oldest))?;
        bump(&self.stats.flushes, 1);
        bump(&self.stats.flush_bytes_written, meta.file_bytes);
        {
            let _stall = lock(&self.stall);
            self.stall_cv.notify_all();
        }
        self.remove_obsolete_segments(log_number);
        self.request(|r| r.compact = true);
        Ok(true)
    }

    /// Writes `mem` as a table at `path` (newest version of each key only: every reader
    /// that will see the table reads at a seqno above all of the memtable's) and makes
    /// both the file and its directory entry durable.
    fn write_flush_table(&self, path: &Path, mem: &Arc<Memtable>) -> Result<(TableMeta, Table)> {
        let file = self.opts.fs.create(path)?;
        let mut builder = TableBuilder::new(file, self.opts.table);
        let mut it = mem.iter();
        let mut last_key: Option<bytes::Bytes> = None;
        while let Some(record) = it.next_record()? {
            if last_key.as_ref() == Some(&record.key) {
                continue;
            }
            builder.add(&record)?;
            last_key = Some(record.key);
        }
        let meta = builder.finish()?;
        // IMPORTANT: the table's directory entry must be durable before the manifest
        // edit naming it is, or a crash could leave the manifest naming a missing file.
        self.opts.fs.sync_dir(&self.tables_dir)?;
        let table = Table::open(self.opts.fs.as_ref(), path)?;
        Ok((meta, table))
    }

    /// Makes `edit` durable, then swaps in the view it describes: `added` handles in,
    /// `edit.removed` out, and the flushed memtable (if any) dropped. The manifest mutex is
    /// held across both so views change in edit order. A failed manifest write poisons.
    fn install(
        &self,
        edit: &VersionEdit,
        added: Vec<Arc<TableHandle>>,
        flushed: Option<&Arc<MemSlot>>,
    ) -> Result<()> {
        let mut manifest = lock(&self.manifest);
        if let Err(e) = manifest.log_and_apply(edit) {
            self.poison();
            return Err(e);
        }
        let mut view = lock(&self.view);
        let version = Arc::new(view.version.apply(added, &edit.removed));
        let frozen = view
            .frozen
            .iter()
            .filter(|slot| flushed.is_none_or(|f| !Arc::ptr_eq(slot, f)))
            .cloned()
            .collect();
        *view = Arc::new(View {
            active: Arc::clone(&view.active),
            frozen,
            version,
        });
        Ok(())
    }

    /// Deletes WAL segments below `log_number` (their records are in tables now).
    fn remove_obsolete_segments(&self, log_number: u64) {
        let fs = self.opts.fs.as_ref();
        let Ok(segments) = wal::list_segments(fs, &self.wal_dir) else {
            return;
        };
        for id in segments.into_iter().filter(|&id| id < log_number) {
            let path = wal::segment_path(&self.wal_dir, id);
            let len = fs.file_len(&path).unwrap_or(0);
            // Best effort: a leftover below the manifest's log number is deleted on open.
            if fs.remove_file(&path).is_ok() {
                self.stats.wal_bytes.fetch_sub(len, Ordering::Relaxed);
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Compaction and sweep

    /// Runs compactions chosen by `pick` until it has nothing left to do (at most
    /// `COMPACTIONS_PER_CALL_MAX`).
    fn compact(&self, pick: Pick) -> Result<()> {
        for _ in 0..COMPACTIONS_PER_CALL_MAX {
            if !self.compact_once(pick)? {
                break;
            }
        }
        Ok(())
    }

    fn sweep(&self) -> Result<()> {
        let now = self.opts.clock.now_unix_secs();
        for _ in 0..SWEEP_COMPACTIONS_PER_RUN_MAX {
            if !self.compact_once(Pick::Sweep(now))? {
                break;
            }
        }
        Ok(())
    }

    /// Runs one compaction chosen by `pick`. Returns false if the policy chose nothing.
    fn compact_once(&self, pick: Pick) -> Result<bool> {
        let _compaction = lock(&self.compaction_lock);
        self.check_not_poisoned()?;
        let version = Arc::clone(&self.current_view().version);
        let cfg = &self.opts.compaction;
        let choice = match pick {
            Pick::Size => compaction::choose(&version, cfg),
            Pick::Settle => compaction::choose_settle(&version, cfg),
            Pick::Full => compaction::choose_full(&version, cfg),
            Pick::Sweep(now) => compaction::choose_sweep(&version, cfg, now),
        };
        let Some(choice) = choice else {
            return Ok(false);
        };
        let now = self.opts.clock.now_unix_secs();
        let mut allocated = Vec::new();
        let output = compaction::run_compaction(
            &choice,
            &version,
            &self.opts.fs,
            &self.tables_dir,
            &mut || {
                let id = self.next_table_id.fetch_add(1, Ordering::SeqCst);
                allocated.push(id);
                id
            },
            now,
            cfg,
            self.opts.table,
        );
        let remove_outputs = |ids: &[u64]| {
            for &id in ids {
                // Best effort: a leftover is an orphan, deleted on the next open.
                let _ = self.opts.fs.remove_file(&table_path(&self.tables_dir, id));
            }
        };
        let output = match output {
            Ok(output) => output,
            Err(e) => {
                remove_outputs(&allocated);
                return Err(e);
            }
        };
        let opened = self.open_outputs(&output.tables);
        let handles = match opened {
            Ok(handles) => handles,
            Err(e) => {
                remove_outputs(&allocated);
                return Err(e);
            }
        };
        let edit = VersionEdit {
            added: output
                .tables
                .iter()
                .map(|(id, meta)| NewTable {
                    id: *id,
                    level: choice.output_level,
                    meta: meta.clone(),
                })
                .collect(),
            removed: choice.inputs.clone(),
            log_number: None,
            next_table_id: Some(self.next_table_id.load(Ordering::SeqCst)),
            last_seqno: None,
        };
        let handles = handles
            .into_iter()
            .map(|(id, meta, table)| {
                Arc::new(TableHandle {
                    id,
                    level: choice.output_level,
                    meta,
                    table: Arc::new(table),
                })
            })
            .collect();
        self.install(&edit, handles, None)?;
        if matches!(pick, Pick::Sweep(_)) {
            bump(&self.stats.sweeps, 1);
        } else {
            bump(&self.stats.compactions, 1);
        }
        bump(&self.stats.compaction_bytes_written, output.bytes_written);
        // NOTE: inputs are deleted only now that the edit removing them is durable. Readers
        // holding an older view keep their mapping of the unlinked files.
        for &id in &choice.inputs {
            let _ = self.opts.fs.remove_file(&table_path(&self.tables_dir, id));
        }
        Ok(true)
    }

    /// Makes the output tables' directory entries durable and opens them.
    fn open_outputs(&self, tables: &[(u64, TableMeta)]) -> Result<Vec<(u64, TableMeta, Table)>> {
        // IMPORTANT: before the manifest names them.
        self.opts.fs.sync_dir(&self.tables_dir)?;
        tables
            .iter()
            .map(|(id, meta)| {
                let table = Table::open(self.opts.fs.as_ref(), &table_path(&self.tables_dir, *id))?;
                Ok((*id, meta.clone(), table))
            })
            .collect()
    }

    // -----------------------------------------------------------------------------------
    // Checkpoint

    fn checkpoint(&self, dest: &Path) -> Result<Checkpoint> {
        self.check_not_poisoned()?;
        let fs = self.opts.fs.as_ref();
        if fs.exists(dest) && !fs.list(dest)?.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "checkpoint directory {} is not empty",
                dest.display()
            )));
        }
        let fresh_dir = !fs.exists(dest);
        let dest_wal = dest.join(WAL_DIR);
        let dest_tables = dest.join(TABLES_DIR);
        fs.create_dir_all(&dest_wal)?;
        fs.create_dir_all(&dest_tables)?;
        if fresh_dir {
            if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs.sync_dir(parent)?;
            }
        }
        fs.sync_dir(dest)?;

        // The cut point: the end of the WAL, taken under the writer lock so it falls
        // between commit groups. The manifest lock is taken before the writer lock is
        // released (lock order: writer, then manifest), so the version read below can
        // only hold tables flushed from memtables that end at or before the cut point, and
        // every WAL segment it still needs stays on disk until the manifest lock is released.
        let writer = lock(&self.writer);
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        // Only acknowledged writes go into the copy.
        self.drain_pipeline(&writer)?;
        let cut_segment = writer.wal.segment_id();
        let cut_len = writer.wal.len();
        let last_seqno = writer.last_seqno;
        let manifest = lock(&self.manifest);
        drop(writer);
        let state = manifest.state().clone();

        let mut report = Checkpoint {
            last_seqno,
            ..Checkpoint::default()
        };
        for &id in state.tables.keys() {
            let from = table_path(&self.tables_dir, id);
            let to = table_path(&dest_tables, id);
            if fs.hard_link(&from, &to).is_ok() {
                report.tables_linked += 1;
            } else {
                let data = fs.map(&from)?;
                write_synced(fs, &to, (*data).as_ref())?;
                report.tables_copied += 1;
            }
        }
        for id in wal::list_segments(fs, &self.wal_dir)? {
            if id < state.log_number || id > cut_segment {
                continue;
            }
            let data = fs.read(&wal::segment_path(&self.wal_dir, id))?;
            // Segments before the cut one were synced when they were rolled and are never
            // written again; the cut one is copied up to the cut point only.
            let len = if id == cut_segment {
                usize::try_from(cut_len).expect("a WAL segment fits in memory")
            } else {
                data.len()
            };
            assert!(
                len <= data.len(),
                "WAL segment {id} is shorter than the writer's length"
            );
            write_synced(fs, &wal::segment_path(&dest_wal, id), &data[..len])?;
            report.wal_segments += 1;
            report.wal_bytes += len as u64;
        }
        // IMPORTANT: every file's directory entry is durable before CURRENT names them.
        fs.sync_dir(&dest_tables)?;
        fs.sync_dir(&dest_wal)?;
        Manifest::create(&self.opts.fs, dest, state)?;
        drop(manifest);
        Ok(report)
    }

    // -----------------------------------------------------------------------------------
    // Background threads

    /// Waits until `ready(requests)` or shutdown, or `deadline` passes. Returns false on
    /// shutdown.
    fn wait_request(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut BgRequests) -> bool,
    ) -> bool {
        let mut requests = lock(&self.bg);
        loop {
            if self.shutting_down.load(Ordering::SeqCst) {
                return false;
            }
            if ready(&mut requests) {
                return true;
            }
            requests = match deadline {
                None => self
                    .bg_cv
                    .wait(requests)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return true;
                    }
                    self.bg_cv
                        .wait_timeout(requests, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    fn background_error(&self) {
        bump(&self.stats.background_errors, 1);
    }

    /// Counts a failed background job, unless it only failed because the engine was
    /// already poisoned.
    fn background_failed(&self, e: &Error) {
        if !matches!(e, Error::Poisoned) {
            self.background_error();
        }
    }

    fn flush_thread(&self) {
        while self.wait_request(None, |r| std::mem::take(&mut r.flush)) {
            loop {
                match self.flush_oldest() {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        // Writers may be stalled on this flush and nothing would retry
                        // it: refuse writes until reopen, like after a failed WAL fsync.
                        self.background_failed(&e);
                        self.poison();
                        break;
                    }
                }
            }
        }
    }

    fn compaction_thread(&self) {
        // `None`: an interval too long to represent, i.e. never sweep on a timer.
        let sweep_deadline = || Instant::now().checked_add(self.opts.sweep_interval);
        let mut next_sweep = sweep_deadline();
        loop {
            let mut compact = false;
            let running = self.wait_request(next_sweep, |r| {
                compact = std::mem::take(&mut r.compact);
                compact
            });
            if !running {
                return;
            }
            // A failed compaction is retried after the next flush; its inputs stay live.
            if compact {
                if let Err(e) = self.compact(Pick::Size) {
                    self.background_failed(&e);
                }
            }
            if next_sweep.is_some_and(|t| Instant::now() >= t) {
                if let Err(e) = self.sweep() {
                    self.background_failed(&e);
                }
                next_sweep = sweep_deadline();
            }
        }
    }

    fn sync_thread(&self) {
        let SyncMode::Interval(ms) = self.opts.sync else {
            return;
        };
        let period = Duration::from_millis(ms);
        loop {
            // Only the deadline or shutdown ends this wait (`None`: only shutdown).
            let deadline = Instant::now().checked_add(period);
            if !self.wait_request(deadline, |_| false) {
                return;
            }
            if self.wal_dirty.load(Ordering::SeqCst) && !self.is_poisoned() {
                let mut w = lock(&self.writer);
                if let Err(e) = self.sync_wal_locked(&mut w) {
                    self.background_failed(&e);
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Stats

    fn stats(&self) -> Stats {
        let view = self.current_view();
        let s = &self.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let memtable_bytes = std::iter::once(&view.active)
            .chain(&view.frozen)
            .map(|slot| slot.mem.approximate_bytes() as u64)
            .sum();
        Stats {
            memtable_bytes,
            frozen_memtables: view.frozen.len() as u64,
            tables_per_level: view.version.levels.iter().map(|l| l.len() as u64).collect(),
            table_bytes_per_level: (0..view.version.levels.len())
                .map(|level| view.version.level_bytes(level))
                .collect(),
            wal_bytes: get(&s.wal_bytes),
            wal_fsyncs: get(&s.wal_fsyncs),
            wal_fsync_micros_total: get(&s.wal_fsync_micros_total),
            wal_fsync_buckets: s.wal_fsync_buckets.iter().map(get).collect(),
            commits: get(&s.commits),
            commit_groups: get(&s.commit_groups),
            flushes: get(&s.flushes),
            compactions: get(&s.compactions),
            sweeps: get(&s.sweeps),
            compaction_bytes_written: get(&s.compaction_bytes_written),
            user_bytes_written: get(&s.user_bytes_written),
            write_stalls: get(&s.write_stalls),
            last_seqno: self.visible_seqno.load(Ordering::Acquire),
            flush_bytes_written: get(&s.flush_bytes_written),
            background_errors: get(&s.background_errors),
            poisoned: self.is_poisoned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Op;

    #[test]
    fn db_and_snapshot_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Db>();
        shared::<Snapshot>();
    }

    #[test]
    fn validate_batch_limits() {
        assert!(validate_batch(&WriteBatch::new()).is_err());
        let too_many = WriteBatch {
            ops: vec![Op::upsert("k", "v"); BATCH_OPS_MAX + 1],
        };
        assert!(validate_batch(&too_many).is_err());
        assert!(validate_batch(&WriteBatch::from(Op::upsert("", "v"))).is_err());
        let long_key = vec![b'k'; KEY_BYTES_MAX + 1];
        assert!(validate_batch(&WriteBatch::from(Op::upsert(long_key, "v"))).is_err());
        let max_key = vec![b'k'; KEY_BYTES_MAX];
        assert!(validate_batch(&WriteBatch::from(Op::upsert(max_key, "v"))).is_ok());
        let long_value = vec![0u8; VALUE_BYTES_MAX + 1];
        assert!(validate_batch(&WriteBatch::from(Op::upsert("k", long_value))).is_err());
        let epoch = Op::upsert("k", "v").expires_at(Some(0));
        assert!(validate_batch(&WriteBatch::from(epoch)).is_err());
        // Many maximal values: each op is fine, the batch is too big for one WAL record.
        let huge = WriteBatch {
            ops: (0..20)
                .map(|i| Op::upsert(format!("k{i}"), vec![0u8; VALUE_BYTES_MAX]))
                .collect(),
        };
        assert!(matches!(
            validate_batch(&huge),
            Err(Error::InvalidArgument(_))
        ));
        let one = WriteBatch::from(Op::upsert("key", "value"));
        assert_eq!(
            validate_batch(&one).unwrap(),
            wal::BATCH_HEADER_BYTES + wal::BATCH_RECORD_HEADER_BYTES + 8
        );
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn table_names_parse_back() {
        let path = table_path(Path::new("t"), 42);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_table_name(name), Some(42));
        assert_eq!(parse_table_name("42.sst"), None);
        assert_eq!(parse_table_name("00000000000000000042.wal"), None);
    }

    #[test]
    fn overlap_of_bounds() {
        let meta = TableMeta {
            smallest_key: "c".into(),
            largest_key: "f".into(),
            ..TableMeta::default()
        };
        let b = |s: &'static str| s.as_bytes();
        assert!(overlaps(&meta, Bound::Unbounded, Bound::Unbounded));
        assert!(overlaps(&meta, Bound::Included(b("f")), Bound::Unbounded));
        assert!(!overlaps(&meta, Bound::Included(b("g")), Bound::Unbounded));
        assert!(overlaps(&meta, Bound::Unbounded, Bound::Included(b("c"))));
        assert!(!overlaps(&meta, Bound::Unbounded, Bound::Excluded(b("c"))));
        assert!(overlaps(
            &meta,
            Bound::Included(b("a")),
            Bound::Excluded(b("d"))
        ));
    }
}
