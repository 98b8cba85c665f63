//! Operating-system probes (Linux): disk usage of a directory, bytes this process sent to
//! storage, peak resident memory, and the latency of a raw `fdatasync` on a file system.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes of one `st_blocks` unit (POSIX fixes it at 512 whatever the file system's block).
const STAT_BLOCK_BYTES: u64 = 512;

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

/// The first number after `name` at the start of a line of `text`.
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// What a raw append + `fdatasync` loop measured.
#[derive(Debug, Clone, Copy)]
pub struct FsyncLatency {
    pub ops: u64,
    pub mean: Duration,
}

/// Appends `record_bytes` bytes to a new file in `dir` and `fdatasync`s it, over and over
/// for `duration` (at least once): the floor under any durable commit on that file system.
/// The file grows like a WAL segment does, so each sync also persists the new length.
pub fn raw_fdatasync_latency(
    dir: &Path,
    record_bytes: usize,
    duration: Duration,
) -> io::Result<FsyncLatency> {
    let path = dir.join("raw-fdatasync.bin");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let record = vec![0xA5u8; record_bytes];
    let started = Instant::now();
    let mut ops = 0u64;
    loop {
        file.write_all(&record)?;
        file.sync_data()?;
        ops += 1;
        if started.elapsed() >= duration {
            break;
        }
    }
    let elapsed = started.elapsed();
    drop(file);
    fs::remove_file(&path)?;
    Ok(FsyncLatency {
        ops,
        mean: elapsed / u32::try_from(ops).unwrap_or(u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn raw_fdatasync_runs_at_least_once_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let latency = raw_fdatasync_latency(dir.path(), 64, Duration::ZERO).unwrap();
        assert_eq!(latency.ops, 1);
        assert_eq!(disk_usage(dir.path()).unwrap().files, 0);
    }
}
