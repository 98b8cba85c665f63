//! Operating-system probes (Linux): disk usage of a directory, bytes this process sent to
//! storage, peak resident memory, and the latency of a raw `fdatasync` on a file system.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes of one `st_blocks` unit (POSIX fixes it at 512 whatever the file system's block).
const STAT_BLOCK_BYTES: u64 = 512;

/// CPU time (user + system) this process has used so far, all threads included.
pub fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `getrusage` writes one `rusage` through the pointer, which points to memory
    // sized and aligned for it; the struct is plain data, so zeroed bytes are valid too.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(
        rc, 0,
        "getrusage(RUSAGE_SELF) cannot fail with a valid pointer"
    );
    // SAFETY: initialized by the successful call above.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Wall-clock and process CPU time of a stretch of work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub wall: Duration,
    /// CPU time of every thread of the process (background flushes and compactions too).
    pub cpu: Duration,
}

impl std::ops::AddAssign for Span {
    fn add_assign(&mut self, other: Span) {
        self.wall += other.wall;
        self.cpu += other.cpu;
    }
}

/// Measures a [`Span`].
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu: process_cpu_time(),
        }
    }

    pub fn stop(&self) -> Span {
        Span {
            wall: self.wall.elapsed(),
            cpu: process_cpu_time().saturating_sub(self.cpu),
        }
    }
}

/// What a directory tree holds on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Sum of file lengths.
    pub apparent_bytes: u64,
    /// Sum of allocated blocks (what `du` reports): the disk space really used.
    pub allocated_bytes: u64,
    pub files: u64,
}

/// Disk usage of every regular file under `dir`. Files that vanish during the walk (a
/// compaction deleting its inputs) are skipped, not an error.
pub fn disk_usage(dir: &Path) -> io::Result<DiskUsage> {
    let mut usage = DiskUsage::default();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = match fs::symlink_metadata(entry.path()) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                usage.apparent_bytes += meta.len();
                usage.allocated_bytes += meta.blocks() * STAT_BLOCK_BYTES;
                usage.files += 1;
            }
        }
    }
    Ok(usage)
}

/// This process's storage I/O counters (`/proc/self/io`, summed over all its threads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcIo {
    /// Bytes this process caused to be sent to storage: counted when a page is dirtied,
    /// so a page written, synced and written again counts twice.
    pub write_bytes: u64,
    /// Dirty bytes that never reached storage (the file was truncated or deleted first).
    pub cancelled_write_bytes: u64,
    pub read_bytes: u64,
}

impl ProcIo {
    /// `None` where the kernel does not account task I/O.
    pub fn read() -> Option<ProcIo> {
        let text = fs::read_to_string("/proc/self/io").ok()?;
        Some(ProcIo {
            write_bytes: field(&text, "write_bytes:")?,
            cancelled_write_bytes: field(&text, "cancelled_write_bytes:")?,
            read_bytes: field(&text, "read_bytes:")?,
        })
    }

    /// Bytes that reached (or will reach) storage since `earlier`.
    pub fn written_since(&self, earlier: &ProcIo) -> u64 {
        let written = self.write_bytes.saturating_sub(earlier.write_bytes);
        let cancelled = self
            .cancelled_write_bytes
            .saturating_sub(earlier.cancelled_write_bytes);
        written.saturating_sub(cancelled)
    }
}

/// Memory figures of this process (`/proc/self/status`), in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcMemory {
    /// Peak resident set size (VmHWM).
    pub peak_rss_bytes: u64,
    /// Current resident set size (VmRSS) = anonymous + file-backed (mapped files) + shmem.
    pub rss_bytes: u64,
    pub rss_anon_bytes: u64,
    /// Resident pages of mapped files (e.g. memory-mapped tables).
    pub rss_file_bytes: u64,
}

impl ProcMemory {
    pub fn read() -> Option<ProcMemory> {
        let text = fs::read_to_string("/proc/self/status").ok()?;
        let kib = |name| field(&text, name).map(|v| v * 1024);
        Some(ProcMemory {
            peak_rss_bytes: kib("VmHWM:")?,
            rss_bytes: kib("VmRSS:")?,
            rss_anon_bytes: kib("RssAnon:")?,
            rss_file_bytes: kib("RssFile:")?,
        })
    }
}

/// Largest anonymous and file-backed resident sizes seen by a [`MemorySampler`], in bytes.
/// The kernel keeps only the peak of their sum (VmHWM); the split says whether a peak is
/// the engine's own memory or pages of memory-mapped files (reclaimable cache).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryPeaks {
    pub rss_anon_bytes: u64,
    pub rss_file_bytes: u64,
}

/// Samples this process's [`ProcMemory`] on a background thread until dropped.
pub struct MemorySampler {
    peaks: Arc<(AtomicU64, AtomicU64)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MemorySampler {
    /// Starts sampling every `interval`.
    pub fn start(interval: Duration) -> io::Result<MemorySampler> {
        let peaks = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peaks, stop) = (Arc::clone(&peaks), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("memory-sampler".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        sample_into(&peaks);
                        std::thread::sleep(interval);
                    }
                })?
        };
        Ok(MemorySampler {
            peaks,
            stop,
            thread: Some(thread),
        })
    }

    /// The peaks so far (this call samples once more first).
    pub fn peaks(&self) -> MemoryPeaks {
        sample_into(&self.peaks);
        MemoryPeaks {
            rss_anon_bytes: self.peaks.0.load(Ordering::Relaxed),
            rss_file_bytes: self.peaks.1.load(Ordering::Relaxed),
        }
    }
}

fn sample_into(peaks: &(AtomicU64, AtomicU64)) {
    if let Some(m) = ProcMemory::read() {
        peaks.0.fetch_max(m.rss_anon_bytes, Ordering::Relaxed);
        peaks.1.fetch_max(m.rss_file_bytes, Ordering::Relaxed);
    }
}

impl Drop for MemorySampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The sampler only reads /proc; a panic there has nothing to clean up.
            let _ = thread.join();
        }
    }
}

/// The first number after `name` at the start of a line of `text`.
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// A file that is appended to and `fdatasync`ed in a loop: the floor under any durable
/// commit on its file system. It grows like a WAL segment does, so each sync also persists
/// the new length. Measurements accumulate over calls to [`RawFdatasync::run_for`], so they
/// can be interleaved with an engine's (disk latency drifts on shared machines). The file
/// is removed on drop.
pub struct RawFdatasync {
    file: File,
    path: PathBuf,
    record: Vec<u8>,
    ops: u64,
    elapsed: Duration,
}

impl RawFdatasync {
    /// Creates the file in `dir` as an engine creates a WAL segment (a first write, synced,
    /// and the directory entry synced), so that measured syncs carry no creation cost.
    /// Each op then appends `record_bytes` bytes.
    pub fn create(dir: &Path, record_bytes: usize) -> io::Result<RawFdatasync> {
        let path = dir.join("raw-fdatasync.bin");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        let record = vec![0xA5u8; record_bytes];
        file.write_all(&record)?;
        file.sync_data()?;
        File::open(dir)?.sync_all()?;
        Ok(RawFdatasync {
            file,
            path,
            record,
            ops: 0,
            elapsed: Duration::ZERO,
        })
    }

    /// Appends and syncs for `duration` (at least once).
    pub fn run_for(&mut self, duration: Duration) -> io::Result<()> {
        let started = Instant::now();
        loop {
            self.file.write_all(&self.record)?;
            self.file.sync_data()?;
            self.ops += 1;
            if started.elapsed() >= duration {
                break;
            }
        }
        self.elapsed += started.elapsed();
        Ok(())
    }

    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Mean latency of one append + fdatasync so far (`None` before the first).
    pub fn mean(&self) -> Option<Duration> {
        let ops = u32::try_from(self.ops).unwrap_or(u32::MAX);
        (ops > 0).then(|| self.elapsed / ops)
    }
}

impl Drop for RawFdatasync {
    fn drop(&mut self) {
        // Best effort: it lives in a benchmark directory that is removed anyway.
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwatch_sees_cpu_spent_in_this_process() {
        let watch = Stopwatch::start();
        let mut x = 0u64;
        while watch.stop().cpu < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let span = watch.stop();
        assert!(span.cpu >= Duration::from_millis(20));
        assert!(span.wall > Duration::ZERO);
        let mut total = Span::default();
        total += span;
        total += span;
        assert_eq!(total.cpu, span.cpu * 2);
    }

    #[test]
    fn memory_sampler_sees_a_growing_heap() {
        let sampler = MemorySampler::start(Duration::from_millis(1)).unwrap();
        let before = sampler.peaks();
        // 64 MiB, touched so it is resident.
        let block = vec![1u8; 64 * 1024 * 1024];
        let after = sampler.peaks();
        assert!(std::hint::black_box(&block)
            .iter()
            .step_by(4096)
            .all(|&b| b == 1));
        assert!(
            after.rss_anon_bytes >= before.rss_anon_bytes + 60 * 1024 * 1024,
            "{before:?} -> {after:?}"
        );
        drop(block);
        // Peaks never go down.
        assert!(sampler.peaks().rss_anon_bytes >= after.rss_anon_bytes);
    }

    #[test]
    fn disk_usage_sums_nested_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), vec![1u8; 5000]).unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/b"), vec![2u8; 300]).unwrap();
        let usage = disk_usage(dir.path()).unwrap();
        assert_eq!(usage.files, 2);
        assert_eq!(usage.apparent_bytes, 5300);
        // Allocation rounds up to whole blocks (tmpfs and ext4 alike), unless the file
        // system stores tiny files inline.
        assert!(usage.allocated_bytes >= 5000, "{usage:?}");
    }

    #[test]
    fn disk_usage_of_a_missing_dir_is_zero() {
        let dir = tempfile::tempdir().unwrap();
        let usage = disk_usage(&dir.path().join("missing")).unwrap();
        assert_eq!(usage, DiskUsage::default());
    }

    #[test]
    fn proc_fields_parse() {
        let text = "rchar: 1\nwrite_bytes: 4096\ncancelled_write_bytes: 0\nVmHWM:\t  1234 kB\n";
        assert_eq!(field(text, "write_bytes:"), Some(4096));
        assert_eq!(field(text, "cancelled_write_bytes:"), Some(0));
        assert_eq!(field(text, "VmHWM:"), Some(1234));
        assert_eq!(field(text, "read_bytes:"), None);
    }

    #[test]
    fn written_since_subtracts_cancelled_bytes() {
        let before = ProcIo {
            write_bytes: 100,
            cancelled_write_bytes: 10,
            read_bytes: 0,
        };
        let after = ProcIo {
            write_bytes: 1100,
            cancelled_write_bytes: 110,
            read_bytes: 0,
        };
        assert_eq!(after.written_since(&before), 900);
    }

    #[test]
    fn memory_of_this_process_is_reported() {
        let memory = ProcMemory::read().expect("Linux /proc/self/status");
        assert!(memory.peak_rss_bytes >= memory.rss_bytes);
        assert!(memory.rss_bytes > 0);
    }

    #[test]
    fn raw_fdatasync_runs_at_least_once_per_call_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = RawFdatasync::create(dir.path(), 64).unwrap();
        assert_eq!(raw.mean(), None);
        raw.run_for(Duration::ZERO).unwrap();
        raw.run_for(Duration::ZERO).unwrap();
        assert_eq!(raw.ops(), 2);
        assert!(raw.mean().is_some());
        // The creation write plus two measured appends.
        let len = fs::metadata(dir.path().join("raw-fdatasync.bin"))
            .unwrap()
            .len();
        assert_eq!(len, 3 * 64);
        drop(raw);
        assert_eq!(disk_usage(dir.path()).unwrap().files, 0);
    }
}
