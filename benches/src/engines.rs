//! The engines under test behind one small trait, configured alike: same durability (an
//! fsync per write, or none), no compression, 4 KiB blocks, 10 bloom bits per key.

use std::ops::Bound;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use strata_engine::db::SCAN_LIMIT_MAX;
use strata_engine::{Clock, Db, ManualClock, Op, Options, SyncMode, WriteBatch};

/// How long `settle` waits for fjall's background compactions to go quiet.
const FJALL_SETTLE_WAIT_MAX: Duration = Duration::from_secs(600);
/// fjall is quiet once this many polls in a row saw no compaction running or completing.
const FJALL_QUIET_POLLS: u32 = 5;
const FJALL_POLL_INTERVAL: Duration = Duration::from_millis(100);
const MIB: f64 = 1024.0 * 1024.0;
/// Counter names of the bytes per level; deeper levels share the last name.
const LEVEL_MIB_NAMES: [&str; 8] = [
    "l0_mib",
    "l1_mib",
    "l2_mib",
    "l3_mib",
    "l4_mib",
    "l5_mib",
    "l6_mib",
    "l7plus_mib",
];
/// fjall's one partition in the benchmarks.
const FJALL_PARTITION: &str = "bench";

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EngineKind {
    Strata,
    Fjall,
}

impl EngineKind {
    pub const ALL: [EngineKind; 2] = [EngineKind::Strata, EngineKind::Fjall];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Strata => "strata",
            EngineKind::Fjall => "fjall",
        }
    }
}

impl FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "strata" => Ok(EngineKind::Strata),
            "fjall" => Ok(EngineKind::Fjall),
            other => Err(format!("unknown engine {other:?} (strata | fjall)")),
        }
    }
}

/// How to open an engine for a workload.
#[derive(Clone, Default)]
pub struct EngineConfig {
    /// Every `put` is durable (fdatasync) before it returns. Otherwise writes reach the
    /// operating system (a `write` per commit) but are not synced.
    pub durable: bool,
    /// Memtable size in bytes; `None` keeps the engine's default (Strata 32 MiB, fjall
    /// 16 MiB per partition). Large values keep everything in the WAL (reopen benchmark).
    pub memtable_bytes: Option<u64>,
    /// Strata only: the clock deciding expiry.
    pub clock: Option<Arc<ManualClock>>,
    /// Strata only: how often the TTL sweep runs.
    pub sweep_interval: Option<Duration>,
}

/// Entries and key + value bytes a full scan returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanTotals {
    pub entries: u64,
    pub bytes: u64,
}

/// What the benchmarks do to an engine.
pub trait BenchEngine: Send + Sync {
    /// Creates or replaces `key` (durably if so configured).
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// The length of the value under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<usize>>;
    /// Reads every entry in key order.
    fn scan_all(&self) -> Result<ScanTotals>;
    /// Flushes the memtables and waits until background compaction has nothing to do.
    fn settle(&self) -> Result<()>;
    /// Makes every write so far durable.
    fn sync(&self) -> Result<()>;
    /// Tables (segments) the engine flushed so far, memtable flushes only.
    fn flushes(&self) -> u64;
    /// The engine's own counters, for the report.
    fn counters(&self) -> Vec<(&'static str, f64)>;
    /// (batches committed, commit groups) if the engine groups commits.
    fn commit_counts(&self) -> Option<(u64, u64)> {
        None
    }
    /// (WAL fsyncs, their total latency in microseconds) if the engine times them.
    fn fsync_counts(&self) -> Option<(u64, u64)> {
        None
    }
}

/// Opens `kind` in `dir` (created if missing).
pub fn open(kind: EngineKind, dir: &Path, cfg: &EngineConfig) -> Result<Box<dyn BenchEngine>> {
    Ok(match kind {
        EngineKind::Strata => Box::new(StrataEngine::open(dir, cfg)?),
        EngineKind::Fjall => Box::new(FjallEngine::open(dir, cfg)?),
    })
}

// ---------------------------------------------------------------------------------------
// Strata

pub struct StrataEngine {
    pub db: Db,
}

impl StrataEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<StrataEngine> {
        let mut opts = Options {
            sync: if cfg.durable {
                SyncMode::Always
            } else {
                SyncMode::Never
            },
            ..Options::default()
        };
        if let Some(bytes) = cfg.memtable_bytes {
            opts.memtable_bytes_max = usize::try_from(bytes).context("memtable size")?;
        }
        if let Some(clock) = &cfg.clock {
            opts.clock = Arc::clone(clock) as Arc<dyn Clock>;
        }
        if let Some(interval) = cfg.sweep_interval {
            opts.sweep_interval = interval;
        }
        let db = Db::open(dir, opts).with_context(|| format!("opening Strata in {dir:?}"))?;
        Ok(StrataEngine { db })
    }

    /// Writes `key` with an expiry (unix seconds).
    pub fn put_expiring(&self, key: &[u8], value: &[u8], expires_at: u64) -> Result<()> {
        let op = Op::overwrite(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value))
            .expires_at(Some(expires_at));
        self.db.write(WriteBatch::from(op))?;
        Ok(())
    }
}

impl BenchEngine for StrataEngine {
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let op = Op::overwrite(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value));
        self.db.write(WriteBatch::from(op))?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.db.get(key)?.map(|entry| entry.value.len()))
    }

    fn scan_all(&self) -> Result<ScanTotals> {
        let snapshot = self.db.snapshot();
        let mut totals = ScanTotals::default();
        let mut after: Option<Bytes> = None;
        loop {
            let start = match &after {
                Some(key) => Bound::Excluded(key.as_ref()),
                None => Bound::Unbounded,
            };
            let page = snapshot.scan(start, Bound::Unbounded, SCAN_LIMIT_MAX)?;
            for entry in &page {
                totals.entries += 1;
                totals.bytes += (entry.key.len() + entry.value.len()) as u64;
            }
            if page.len() < SCAN_LIMIT_MAX {
                return Ok(totals);
            }
            after = page.last().map(|entry| entry.key.clone());
        }
    }

    fn settle(&self) -> Result<()> {
        self.db.flush()?;
        self.db.compact()?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.db.sync_wal()?;
        Ok(())
    }

    fn flushes(&self) -> u64 {
        self.db.stats().flushes
    }

    fn counters(&self) -> Vec<(&'static str, f64)> {
        let s = self.db.stats();
        let mut counters = vec![
            ("flushes", s.flushes as f64),
            ("compactions", s.compactions as f64),
            ("sweeps", s.sweeps as f64),
            ("tables", s.tables_per_level.iter().sum::<u64>() as f64),
            ("write_stalls", s.write_stalls as f64),
            ("background_errors", s.background_errors as f64),
            ("flush_mib_written", s.flush_bytes_written as f64 / MIB),
            (
                "compaction_mib_written",
                s.compaction_bytes_written as f64 / MIB,
            ),
        ];
        // Bytes per level show where space amplification comes from.
        for (level, &bytes) in s.table_bytes_per_level.iter().enumerate() {
            if bytes > 0 {
                let name = LEVEL_MIB_NAMES[level.min(LEVEL_MIB_NAMES.len() - 1)];
                counters.push((name, bytes as f64 / MIB));
            }
        }
        counters
    }

    fn commit_counts(&self) -> Option<(u64, u64)> {
        let s = self.db.stats();
        Some((s.commits, s.commit_groups))
    }

    fn fsync_counts(&self) -> Option<(u64, u64)> {
        let s = self.db.stats();
        Some((s.wal_fsyncs, s.wal_fsync_micros_total))
    }
}

// ---------------------------------------------------------------------------------------
// fjall

pub struct FjallEngine {
    keyspace: fjall::Keyspace,
    partition: fjall::PartitionHandle,
    durable: bool,
}

impl FjallEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<FjallEngine> {
        if cfg.clock.is_some() || cfg.sweep_interval.is_some() {
            bail!("fjall 2 has no TTL: the expiry workload is Strata-only");
        }
        let mut config = fjall::Config::new(dir);
        let mut options = fjall::PartitionCreateOptions::default()
            .compression(fjall::CompressionType::None)
            .block_size(4096);
        if let Some(bytes) = cfg.memtable_bytes {
            // Keep a large memtable whole: no write-buffer or journal limit may force a
            // flush before the memtable itself is full.
            config = config
                .max_write_buffer_size(u64::MAX)
                .max_journaling_size(bytes.saturating_mul(4).max(64 * 1024 * 1024));
            options = options.max_memtable_size(u32::try_from(bytes).unwrap_or(u32::MAX));
        }
        let keyspace = config
            .open()
            .with_context(|| format!("opening fjall in {dir:?}"))?;
        let partition = keyspace.open_partition(FJALL_PARTITION, options)?;
        Ok(FjallEngine {
            keyspace,
            partition,
            durable: cfg.durable,
        })
    }

    /// Waits until no compaction has run or finished for `FJALL_QUIET_POLLS` polls.
    fn wait_for_compactions(&self) -> Result<()> {
        let started = Instant::now();
        let mut quiet = 0;
        let mut completed = self.keyspace.compactions_completed();
        while quiet < FJALL_QUIET_POLLS {
            if started.elapsed() > FJALL_SETTLE_WAIT_MAX {
                bail!("fjall compactions still running after {FJALL_SETTLE_WAIT_MAX:?}");
            }
            std::thread::sleep(FJALL_POLL_INTERVAL);
            let now_completed = self.keyspace.compactions_completed();
            if self.keyspace.active_compactions() == 0 && now_completed == completed {
                quiet += 1;
            } else {
                quiet = 0;
            }
            completed = now_completed;
        }
        Ok(())
    }
}

impl BenchEngine for FjallEngine {
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.partition.insert(key, value)?;
        if self.durable {
            self.keyspace.persist(fjall::PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.partition.get(key)?.map(|value| value.len()))
    }

    fn scan_all(&self) -> Result<ScanTotals> {
        let mut totals = ScanTotals::default();
        for pair in self.partition.iter() {
            let (key, value) = pair?;
            totals.entries += 1;
            totals.bytes += (key.len() + value.len()) as u64;
        }
        Ok(totals)
    }

    fn settle(&self) -> Result<()> {
        self.partition.rotate_memtable_and_wait()?;
        self.wait_for_compactions()
    }

    fn sync(&self) -> Result<()> {
        self.keyspace.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    fn flushes(&self) -> u64 {
        self.keyspace.flushes_completed() as u64
    }

    fn counters(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("flushes", self.keyspace.flushes_completed() as f64),
            ("compactions", self.keyspace.compactions_completed() as f64),
            ("tables", self.partition.segment_count() as f64),
            ("journals", self.keyspace.journal_count() as f64),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(kind: EngineKind, durable: bool) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EngineConfig {
            durable,
            ..EngineConfig::default()
        };
        let engine = open(kind, dir.path(), &cfg).unwrap();
        for (k, v) in [("b", "two"), ("a", "one"), ("c", "three"), ("a", "uno")] {
            engine.put(k.as_bytes(), v.as_bytes()).unwrap();
        }
        assert_eq!(engine.get(b"a").unwrap(), Some(3));
        assert_eq!(engine.get(b"c").unwrap(), Some(5));
        assert_eq!(engine.get(b"z").unwrap(), None);
        let expected = ScanTotals {
            entries: 3,
            bytes: 3 + 3 + 3 + 5,
        };
        assert_eq!(engine.scan_all().unwrap(), expected);
        engine.settle().unwrap();
        assert!(engine.flushes() >= 1, "{kind:?} flushed nothing on settle");
        assert_eq!(engine.scan_all().unwrap(), expected);
        assert_eq!(engine.get(b"a").unwrap(), Some(3));
        engine.sync().unwrap();
    }

    #[test]
    fn strata_round_trip() {
        round_trip(EngineKind::Strata, false);
        round_trip(EngineKind::Strata, true);
    }

    #[test]
    fn fjall_round_trip() {
        round_trip(EngineKind::Fjall, false);
        round_trip(EngineKind::Fjall, true);
    }

    #[test]
    fn strata_scan_pages_past_the_scan_limit() {
        let dir = tempfile::tempdir().unwrap();
        let engine = StrataEngine::open(dir.path(), &EngineConfig::default()).unwrap();
        let n = SCAN_LIMIT_MAX as u64 + 10;
        let mut batch = WriteBatch::new();
        for i in 0..n {
            batch.push(Op::overwrite(crate::workload::key(i).to_vec(), vec![b'v']));
            if batch.len() == strata_engine::batch::BATCH_OPS_MAX {
                engine.db.write(std::mem::take(&mut batch)).unwrap();
            }
        }
        engine.db.write(batch).unwrap();
        let totals = engine.scan_all().unwrap();
        assert_eq!(totals.entries, n);
        assert_eq!(totals.bytes, n * (crate::workload::KEY_BYTES as u64 + 1));
    }

    #[test]
    fn fjall_refuses_expiry_settings() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EngineConfig {
            clock: Some(Arc::new(ManualClock::new(1))),
            ..EngineConfig::default()
        };
        assert!(FjallEngine::open(dir.path(), &cfg).is_err());
    }

    #[test]
    fn engine_names_parse_back() {
        for kind in EngineKind::ALL {
            assert_eq!(kind.name().parse::<EngineKind>(), Ok(kind));
        }
        assert!("rocksdb".parse::<EngineKind>().is_err());
    }
}
