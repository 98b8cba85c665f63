//! `Db`: the engine's public face. Write path with group commit, reads from snapshots,
//! background flush, compaction and TTL sweep.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::batch::{Entry, WriteBatch};
use crate::clock::{Clock, SystemClock};
use crate::error::Result;
use crate::fs::{FileSystem, RealFs};
use crate::wal::RecoveryReport;

/// Most entries a single scan call may return.
pub const SCAN_LIMIT_MAX: usize = 10_000;

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
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sync: SyncMode::Always,
            memtable_bytes_max: 32 * 1024 * 1024,
            frozen_memtables_max: 4,
            sweep_interval: Duration::from_secs(60),
            background: true,
            fs: Arc::new(RealFs),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Counters and gauges for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub memtable_bytes: u64,
    pub frozen_memtables: u64,
    /// Tables per level.
    pub tables_per_level: Vec<u64>,
    /// Bytes of tables per level.
    pub table_bytes_per_level: Vec<u64>,
    pub wal_bytes: u64,
    pub wal_fsyncs: u64,
    /// Sum of WAL fsync latencies, in microseconds (with `wal_fsyncs`, an average).
    pub wal_fsync_micros_total: u64,
    /// WAL fsync latency histogram: counts per bucket, bucket bounds in
    /// `WAL_FSYNC_BUCKETS_MICROS`.
    pub wal_fsync_buckets: Vec<u64>,
    pub commits: u64,
    pub commit_groups: u64,
    pub flushes: u64,
    pub compactions: u64,
    pub sweeps: u64,
    pub compaction_bytes_written: u64,
    pub user_bytes_written: u64,
    pub write_stalls: u64,
    pub last_seqno: u64,
}

/// Upper bounds (microseconds) of the WAL fsync latency histogram buckets.
pub const WAL_FSYNC_BUCKETS_MICROS: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000,
];

/// The engine. Cheap to share: wrap it in an `Arc`. All methods take `&self`.
pub struct Db {
    #[allow(dead_code)]
    dir: PathBuf,
}

/// A consistent point-in-time view for reads.
pub struct Snapshot {
    #[allow(dead_code)]
    seqno: u64,
}

impl Db {
    /// Opens (creating if needed) the database in `dir`: takes the directory lock, loads the
    /// manifest, replays the WAL and starts background work.
    pub fn open(_dir: impl AsRef<Path>, _opts: Options) -> Result<Db> {
        todo!("Db::open")
    }

    /// What WAL recovery found when this `Db` was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        todo!()
    }

    /// Commits `batch` atomically. Returns, per op, the live entry that was there before.
    /// Fails with `Conflict` / `NotFound` (and writes nothing) if an op's mode or guard
    /// is not satisfied. On success the batch is durable under the configured `SyncMode`.
    pub fn write(&self, _batch: WriteBatch) -> Result<Vec<Option<Entry>>> {
        todo!("Db::write")
    }

    /// The live (not deleted, not expired) entry under `key`.
    pub fn get(&self, _key: &[u8]) -> Result<Option<Entry>> {
        todo!("Db::get")
    }

    /// Live entries with keys in range, ascending, at most `limit` (capped at `SCAN_LIMIT_MAX`).
    pub fn scan(&self, _start: Bound<&[u8]>, _end: Bound<&[u8]>, _limit: usize) -> Result<Vec<Entry>> {
        todo!("Db::scan")
    }

    /// Live entries whose key starts with `prefix` and is > `after` (if given), ascending.
    pub fn scan_prefix(&self, _prefix: &[u8], _after: Option<&[u8]>, _limit: usize) -> Result<Vec<Entry>> {
        todo!("Db::scan_prefix")
    }

    /// A consistent view for several reads.
    pub fn snapshot(&self) -> Snapshot {
        todo!("Db::snapshot")
    }

    /// Freezes the active memtable and writes every frozen memtable to a table; returns
    /// when they are in the manifest.
    pub fn flush(&self) -> Result<()> {
        todo!("Db::flush")
    }

    /// Runs compactions until the policy has nothing left to do.
    pub fn compact(&self) -> Result<()> {
        todo!("Db::compact")
    }

    /// Runs one TTL sweep now: compacts the tables whose expired/tombstoned share is high.
    pub fn sweep(&self) -> Result<()> {
        todo!("Db::sweep")
    }

    /// Makes every acknowledged write durable (for `Interval` / `Never` sync modes).
    pub fn sync_wal(&self) -> Result<()> {
        todo!("Db::sync_wal")
    }

    pub fn stats(&self) -> Stats {
        todo!("Db::stats")
    }

    /// Stops background work, flushes what is pending and releases the lock.
    pub fn close(self) -> Result<()> {
        todo!("Db::close")
    }
}

impl Snapshot {
    pub fn seqno(&self) -> u64 {
        self.seqno
    }
    pub fn get(&self, _key: &[u8]) -> Result<Option<Entry>> {
        todo!("Snapshot::get")
    }
    pub fn scan(&self, _start: Bound<&[u8]>, _end: Bound<&[u8]>, _limit: usize) -> Result<Vec<Entry>> {
        todo!("Snapshot::scan")
    }
    pub fn scan_prefix(&self, _prefix: &[u8], _after: Option<&[u8]>, _limit: usize) -> Result<Vec<Entry>> {
        todo!("Snapshot::scan_prefix")
    }
}

#[allow(dead_code)]
fn _assert_types(_: Bytes) {}
