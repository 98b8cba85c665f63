//! The narrow file-system interface under all engine I/O.
//!
//! [`RealFs`] talks to the operating system. [`FaultFs`] wraps a real directory and
//! remembers what was made durable (file bytes by `sync`, directory entries by `sync_dir`),
//! so a test can "crash" it: unsynced bytes are dropped (optionally leaving a torn tail),
//! un-synced creates/renames are undone, and EIO / ENOSPC can be injected on demand.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Result;

/// Read-only bytes of a whole file, typically memory-mapped.
pub type Mapped = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A file opened for appending.
pub trait WritableFile: Send + Sync {
    /// Appends all of `buf` at the end of the file.
    fn append(&mut self, buf: &[u8]) -> Result<()>;
    /// Makes every appended byte durable (fdatasync).
    fn sync(&mut self) -> Result<()>;
    /// Current length in bytes (synced or not).
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Holds the data directory's lock until dropped.
pub trait DirLock: Send + Sync {}

/// Everything the engine needs from a file system, and nothing more.
pub trait FileSystem: Send + Sync + 'static {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> Result<()>;
    /// Creates (truncating) a file for appending.
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>>;
    /// Opens an existing file for appending at its end.
    fn open_append(&self, path: &Path) -> Result<Box<dyn WritableFile>>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> Result<Vec<u8>>;
    /// Maps a whole (immutable, already synced) file for reading.
    fn map(&self, path: &Path) -> Result<Mapped>;
    /// Cuts a file to `len` bytes and syncs it.
    fn truncate(&self, path: &Path, len: u64) -> Result<()>;
    /// Atomically renames `from` to `to` (replacing `to`). Durable only after `sync_dir`.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Removes a file. Durable only after `sync_dir`.
    fn remove_file(&self, path: &Path) -> Result<()>;
    /// File names (not paths) in a directory, sorted.
    fn list(&self, dir: &Path) -> Result<Vec<String>>;
    /// True if the path exists.
    fn exists(&self, path: &Path) -> bool;
    /// Size of a file in bytes.
    fn file_len(&self, path: &Path) -> Result<u64>;
    /// Makes creates, renames and removals inside `dir` durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// Takes an exclusive lock on `path` (created if missing) for as long as the
    /// returned guard lives. A second lock on the same path fails with `Error::Locked`,
    /// within this process as well as across processes.
    fn lock(&self, path: &Path) -> Result<Box<dyn DirLock>>;
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

/// What to do to a file's unsynced tail when a [`FaultFs`] crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced byte is lost.
    DropUnsynced,
    /// A prefix of the unsynced bytes survives, and its last bytes may be garbage:
    /// a torn write. The `u64` seeds the choice of how much survives.
    TearUnsynced(u64),
}

/// A fault to inject into a [`FaultFs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail with EIO.
    Eio,
    /// Fail with ENOSPC.
    Enospc,
}

/// Which operations a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    Append,
    Sync,
    Create,
    Rename,
    SyncDir,
    Any,
}

/// A fault-injecting file system over a real directory tree. Cheap to clone (shared state).
#[derive(Clone)]
pub struct FaultFs {
    #[allow(dead_code)]
    inner: Arc<FaultState>,
}

#[allow(dead_code)]
struct FaultState {
    root: PathBuf,
}

impl FileSystem for RealFs {
    fn create_dir_all(&self, _path: &Path) -> Result<()> {
        todo!()
    }
    fn create(&self, _path: &Path) -> Result<Box<dyn WritableFile>> {
        todo!()
    }
    fn open_append(&self, _path: &Path) -> Result<Box<dyn WritableFile>> {
        todo!()
    }
    fn read(&self, _path: &Path) -> Result<Vec<u8>> {
        todo!()
    }
    fn map(&self, _path: &Path) -> Result<Mapped> {
        todo!()
    }
    fn truncate(&self, _path: &Path, _len: u64) -> Result<()> {
        todo!()
    }
    fn rename(&self, _from: &Path, _to: &Path) -> Result<()> {
        todo!()
    }
    fn remove_file(&self, _path: &Path) -> Result<()> {
        todo!()
    }
    fn list(&self, _dir: &Path) -> Result<Vec<String>> {
        todo!()
    }
    fn exists(&self, _path: &Path) -> bool {
        todo!()
    }
    fn file_len(&self, _path: &Path) -> Result<u64> {
        todo!()
    }
    fn sync_dir(&self, _dir: &Path) -> Result<()> {
        todo!()
    }
    fn lock(&self, _path: &Path) -> Result<Box<dyn DirLock>> {
        todo!()
    }
}
