//! The narrow file-system interface under all engine I/O.
//!
//! [`RealFs`] talks to the operating system. [`FaultFs`] wraps a real directory and
//! remembers what was made durable (file bytes by `sync`, directory entries by `sync_dir`),
//! so a test can "crash" it: unsynced bytes are dropped (optionally leaving a torn tail),
//! un-synced creates/renames are undone, and EIO / ENOSPC can be injected on demand.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};

/// Read-only bytes of a whole file, typically memory-mapped.
pub type Mapped = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A file opened for appending.
pub trait WritableFile: Send + Sync {
    /// Appends all of `buf` at the end of the file.
    fn append(&mut self, buf: &[u8]) -> Result<()>;
    /// Makes every appended byte durable (fdatasync).
    fn sync(&mut self) -> Result<()>;
    /// Reserves the file up to `len` bytes: its size becomes at least `len`, reads past
    /// the appended bytes see zeros, and appends keep going at [`WritableFile::len`]. An
    /// append that stays inside the reservation does not change the file's size, so its
    /// fdatasync need not write the inode (`wal.rs`: a WAL segment's tail). The
    /// reservation is durable after the next `sync`. The default reserves nothing.
    fn preallocate(&mut self, len: u64) -> Result<()> {
        let _ = len;
        Ok(())
    }
    /// Starts writing out to the device what was appended since the last call, once what
    /// the last call started is written (Linux `sync_file_range`, like RocksDB's
    /// `bytes_per_sync`). A large file written this way has at most one step of dirty
    /// pages in flight, so neither its final `sync` nor the WAL's fdatasyncs, which share
    /// the device, queue behind tens of MiB of it. Durability still comes only from
    /// `sync`. The default does nothing.
    fn write_behind(&mut self) -> Result<()> {
        Ok(())
    }
    /// Current length in bytes (synced or not).
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An immutable file opened for positioned reads.
pub trait ReadableFile: Send + Sync {
    /// Reads exactly `buf.len()` bytes starting at `offset`; reading past the end is an
    /// error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;
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
    /// Opens an immutable, already synced file for positioned reads that bypass any
    /// mapping: for one pass over a whole file (compaction inputs), whose pages then stay
    /// in the page cache rather than in the process's resident memory. The default reads
    /// from [`FileSystem::map`], for file systems where the two are the same.
    fn open_read(&self, path: &Path) -> Result<Box<dyn ReadableFile>> {
        Ok(Box::new(MappedReader(self.map(path)?)))
    }
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
    /// Gives the immutable file `from` a second name `to` (durable only after `sync_dir`
    /// of `to`'s directory). File systems that cannot link report `Unsupported`, and callers
    /// copy instead: the default.
    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        let _ = (from, to);
        Err(io::Error::from(io::ErrorKind::Unsupported).into())
    }
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

impl Fault {
    /// The `errno` the injected `io::Error` carries (`libc::EIO` or `libc::ENOSPC`).
    pub fn raw_os_error(self) -> i32 {
        match self {
            Fault::Eio => libc::EIO,
            Fault::Enospc => libc::ENOSPC,
        }
    }

    fn to_io_error(self) -> io::Error {
        io::Error::from_raw_os_error(self.raw_os_error())
    }
}

/// Which operations a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// `WritableFile::append`.
    Append,
    /// `WritableFile::sync`.
    Sync,
    /// `FileSystem::create`.
    Create,
    /// `FileSystem::rename`.
    Rename,
    /// `FileSystem::sync_dir`.
    SyncDir,
    /// Any mutating operation: append, sync, create, create_dir_all, rename, remove_file,
    /// truncate, sync_dir. Not reads.
    Any,
    /// `FileSystem::remove_file`.
    Remove,
    /// `FileSystem::truncate`.
    Truncate,
    /// `FileSystem::create_dir_all`.
    CreateDir,
    /// `FileSystem::read` and `FileSystem::map` (not counted by `Any`).
    Read,
}

impl FaultOp {
    /// True if a fault registered for `self` fires on a call of kind `call`.
    fn matches(self, call: FaultOp) -> bool {
        self == call || (self == FaultOp::Any && call != FaultOp::Read)
    }
}

// ---------------------------------------------------------------------------------------------
// RealFs
// ---------------------------------------------------------------------------------------------

/// [`FileSystem::open_read`] over a mapping: copies out of it.
struct MappedReader(Mapped);

impl ReadableFile for MappedReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let bytes = (*self.0).as_ref();
        let range = usize::try_from(offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(buf.len())?))
            .filter(|range| range.end <= bytes.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(&bytes[range]);
        Ok(())
    }
}

/// A file of [`RealFs`] opened for positioned reads (`pread`).
struct RealReader(File);

impl ReadableFile for RealReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.0.read_exact_at(buf, offset)?;
        Ok(())
    }
}

/// A file of [`RealFs`] opened for appending: written at its cursor (not `O_APPEND`), which
/// stays at the appended length when the file is preallocated past it.
struct RealFile {
    file: File,
    /// Tracked rather than asked for, so `len()` needs no system call.
    len: u64,
    /// The file's size: `len`, or more once preallocated.
    size: u64,
    /// [`WritableFile::write_behind`]: bytes below this were handed to the writeback...
    write_behind_started: u64,
    /// ...and bytes below this were waited for.
    write_behind_done: u64,
}

impl RealFile {
    fn new(file: File, len: u64) -> RealFile {
        RealFile {
            file,
            len,
            size: len,
            write_behind_started: len,
            write_behind_done: len,
        }
    }
}

impl WritableFile for RealFile {
    fn append(&mut self, buf: &[u8]) -> Result<()> {
        append_tracking_len(&mut self.file, &mut self.len, buf)?;
        self.size = self.size.max(self.len);
        Ok(())
    }

    fn preallocate(&mut self, len: u64) -> Result<()> {
        if len > self.size {
            // Sparse: blocks are allocated as the appends reach them.
            self.file.set_len(len)?;
            self.size = len;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.file.sync_data()?;
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn write_behind(&mut self) -> Result<()> {
        let fd = self.file.as_raw_fd();
        let range = |from: u64, to: u64, flags| -> Result<()> {
            let (Ok(offset), Ok(bytes)) = (i64::try_from(from), i64::try_from(to - from)) else {
                return Ok(()); // beyond any real file: nothing to hint
            };
            // SAFETY: a plain system call on a file descriptor this struct owns.
            if unsafe { libc::sync_file_range(fd, offset, bytes, flags) } != 0 {
                return Err(io::Error::last_os_error().into());
            }
            Ok(())
        };
        if self.write_behind_started > self.write_behind_done {
            range(
                self.write_behind_done,
                self.write_behind_started,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            )?;
            self.write_behind_done = self.write_behind_started;
        }
        if self.len > self.write_behind_started {
            range(
                self.write_behind_started,
                self.len,
                libc::SYNC_FILE_RANGE_WRITE,
            )?;
            self.write_behind_started = self.len;
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// Writes `buf` at the file's cursor and keeps `len` true even after a short write that
/// then failed: part of `buf` may have landed, so the cursor is asked for in that case.
fn append_tracking_len(file: &mut File, len: &mut u64, buf: &[u8]) -> Result<()> {
    match file.write_all(buf) {
        Ok(()) => {
            *len += buf.len() as u64;
            Ok(())
        }
        Err(e) => {
            if let Ok(pos) = file.stream_position() {
                *len = pos;
            }
            Err(e.into())
        }
    }
}

/// Holds an exclusive `flock` through its open descriptor; closing the descriptor on drop
/// releases the lock.
struct RealLock {
    _file: File,
}

impl DirLock for RealLock {}

fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Takes an exclusive, non-blocking `flock` on `file`.
///
/// `flock` locks belong to the open file description, so two separate `open`s of the same
/// path conflict even inside one process — which is exactly what keeps a second `Db` in the
/// same process out, not only a second process.
fn flock_exclusive(file: &File, path: &Path) -> Result<()> {
    loop {
        // SAFETY: `flock` only reads the descriptor number; `file` keeps it open for the
        // duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => {
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                })
            }
            _ => return Err(err.into()),
        }
    }
}

/// File names in `dir`, sorted. Names that are not UTF-8 cannot be engine files and are
/// skipped.
fn list_sorted(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn truncate_and_sync(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    // `sync_all`, not `sync_data`: the new size is metadata.
    file.sync_all()
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl FileSystem for RealFs {
    fn create_dir_all(&self, path: &Path) -> Result<()> {
        std::fs::create_dir_all(path)?;
        Ok(())
    }

    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(RealFile::new(file, 0)))
    }

    fn open_append(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let mut file = OpenOptions::new().write(true).open(path)?;
        let len = file.seek(SeekFrom::End(0))?;
        Ok(Box::new(RealFile::new(file, len)))
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        Ok(std::fs::read(path)?)
    }

    fn map(&self, path: &Path) -> Result<Mapped> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            // mmap(2) rejects a zero-length mapping with EINVAL.
            return Ok(Arc::new(Vec::<u8>::new()));
        }
        // SAFETY: the engine maps only files that are complete, synced and never written
        // again (tables, once installed); nothing truncates or rewrites them while a mapping
        // lives, so the mapped bytes cannot change underneath the returned slice.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Arc::new(map))
    }

    fn open_read(&self, path: &Path) -> Result<Box<dyn ReadableFile>> {
        Ok(Box::new(RealReader(File::open(path)?)))
    }

    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        truncate_and_sync(path, len)?;
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to)?;
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        std::fs::remove_file(path)?;
        Ok(())
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        Ok(list_sorted(dir)?)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn file_len(&self, path: &Path) -> Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        fsync_dir(dir)?;
        Ok(())
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn DirLock>> {
        let file = open_lock_file(path)?;
        flock_exclusive(&file, path)?;
        Ok(Box::new(RealLock { _file: file }))
    }

    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::hard_link(from, to)?;
        Ok(())
    }
}

/// The calls of the real file system a test or benchmark may replace: implement only those
/// it changes and use [`Patched`] as `Options::fs` (e.g. slow syncs, files that discard
/// their writes, mappings that hide data).
pub trait RealFsExcept: Send + Sync + 'static {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        RealFs.create(path)
    }
    fn open_append(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        RealFs.open_append(path)
    }
    fn map(&self, path: &Path) -> Result<Mapped> {
        RealFs.map(path)
    }
    fn open_read(&self, path: &Path) -> Result<Box<dyn ReadableFile>> {
        RealFs.open_read(path)
    }
}

/// The real file system ([`RealFs`]), with the calls `T` replaces.
pub struct Patched<T>(pub T);

impl<T: RealFsExcept> FileSystem for Patched<T> {
    fn create_dir_all(&self, path: &Path) -> Result<()> {
        RealFs.create_dir_all(path)
    }
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        self.0.create(path)
    }
    fn open_append(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        self.0.open_append(path)
    }
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        RealFs.read(path)
    }
    fn map(&self, path: &Path) -> Result<Mapped> {
        self.0.map(path)
    }
    fn open_read(&self, path: &Path) -> Result<Box<dyn ReadableFile>> {
        self.0.open_read(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        RealFs.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        RealFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> Result<()> {
        RealFs.remove_file(path)
    }
    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        RealFs.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        RealFs.exists(path)
    }
    fn file_len(&self, path: &Path) -> Result<u64> {
        RealFs.file_len(path)
    }
    fn sync_dir(&self, dir: &Path) -> Result<()> {
        RealFs.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> Result<Box<dyn DirLock>> {
        RealFs.lock(path)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        RealFs.hard_link(from, to)
    }
}

// ---------------------------------------------------------------------------------------------
// FaultFs
// ---------------------------------------------------------------------------------------------

/// Most trailing bytes of a torn write that [`CrashMode::TearUnsynced`] garbles.
pub const TORN_GARBLE_BYTES_MAX: u64 = 16;

/// A fault-injecting file system over a real directory tree. Cheap to clone (shared state).
///
/// Every call goes to the real file system (paths are real paths, e.g. under a tempdir), and
/// `FaultFs` keeps a model of what a power failure would leave behind:
///
/// * **File bytes.** Each file (tracked per "inode", so a handle keeps working on a file after
///   it is renamed) has a *durable length*: the length at its last successful `sync`, or the
///   length `truncate` left (truncate syncs). Bytes past it are in the "page cache" only:
///   readable now, lost on a crash. A file that already exists when `FaultFs` first touches
///   it counts as fully durable; `create` over an existing file truncates it to zero and that
///   truncation counts as durable (the old bytes are gone either way).
/// * **Directory entries.** Every create (of a file, or of a directory by `create_dir_all`),
///   rename and removal is logged against its parent directory until that directory is
///   `sync_dir`ed. A crash undoes the logged, not-yet-durable ones, newest first: a created
///   file or directory disappears (even if its bytes were synced — as on ext4), a renamed file
///   gets its old name back (and a replaced target comes back), a removed file comes back.
///   A rename is logged against the destination's directory only.
///
/// A crash happens in [`FaultFs::restart`]; [`FaultFs::power_cut`] / [`FaultFs::power_cut_after`]
/// stop all I/O first, so a test can crash the engine mid-operation. Faults are injected with
/// [`FaultFs::inject`]. Give each `Db` a [`FaultFs::this_generation`] view so that a crashed
/// `Db` that is still alive cannot touch the files of the one reopened after `restart`.
///
/// Not modelled: reordering of writes *within* the synced prefix (synced bytes are always
/// intact), metadata-only effects of `sync_data`, renames of directories, and durability of a
/// rename across two different directories (it follows the destination directory only).
/// Removed and replaced files are kept aside in memory, so they should be small.
///
/// `map` reads the whole file into an `Arc<Vec<u8>>` (no mmap), so a crash cannot change
/// bytes under a reader that mapped them earlier.
///
/// Every operation holds one mutex while it does its real I/O: calls are serialized, which
/// keeps the model exact and is fine for tests.
#[derive(Clone)]
pub struct FaultFs {
    inner: Arc<Mutex<FaultState>>,
    /// Set by [`FaultFs::this_generation`]: calls fail with EIO once this generation crashed.
    bound_generation: Option<u64>,
}

/// Id of a file's contents, independent of its current name.
type InodeId = u64;

/// A file the model knows about.
///
/// The real file holds only the appended bytes; a preallocation is kept here and shows as
/// zeros past them (in `read`, `map`, `file_len`), and a crash writes the durable part of
/// it out as real zeros.
#[derive(Default)]
struct Inode {
    /// Length made durable by `sync` or `truncate`, in bytes.
    synced_len: u64,
    /// Size reserved by `preallocate` (0: none).
    reserved: u64,
    /// The part of `reserved` a later `sync` made durable.
    reserved_synced: u64,
}

/// A directory change not yet made durable by `sync_dir` of `dir`.
struct PendingDirOp {
    dir: PathBuf,
    op: DirOp,
}

enum DirOp {
    CreateFile {
        path: PathBuf,
    },
    CreateDir {
        path: PathBuf,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        /// Durable bytes of the file `to` replaced, if any.
        replaced: Option<Vec<u8>>,
    },
    Remove {
        path: PathBuf,
        /// Durable bytes of the removed file.
        durable_bytes: Vec<u8>,
    },
}

struct PendingFault {
    op: FaultOp,
    fault: Fault,
    /// Matching calls still to go; the call that brings this to zero fails.
    remaining: u64,
}

/// A lock held through a real descriptor, so other processes (and `RealFs`) see it too.
struct HeldLock {
    token: u64,
    _file: File,
}

struct FaultState {
    /// Bumped by `restart`; handles from an older generation fail with EIO.
    generation: u64,
    powered_off: bool,
    /// `Some(n)`: n more mutating calls succeed, the next one cuts the power.
    ops_until_power_cut: Option<u64>,
    mutating_ops: u64,
    faults: Vec<PendingFault>,
    next_inode: InodeId,
    inodes: HashMap<InodeId, Inode>,
    /// The namespace as the model knows it: path -> inode. Paths are compared as given.
    names: HashMap<PathBuf, InodeId>,
    /// Not-yet-durable directory changes, oldest first.
    dir_log: Vec<PendingDirOp>,
    locks: HashMap<PathBuf, HeldLock>,
    next_lock_token: u64,
}

fn eio() -> io::Error {
    Fault::Eio.to_io_error()
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl FaultState {
    fn new() -> Self {
        FaultState {
            generation: 0,
            powered_off: false,
            ops_until_power_cut: None,
            mutating_ops: 0,
            faults: Vec::new(),
            next_inode: 0,
            inodes: HashMap::new(),
            names: HashMap::new(),
            dir_log: Vec::new(),
            locks: HashMap::new(),
            next_lock_token: 0,
        }
    }

    /// Fails with EIO once the power is off, or for a handle of an earlier generation.
    fn check_alive(&self, generation: u64) -> io::Result<()> {
        if self.powered_off || generation != self.generation {
            Err(eio())
        } else {
            Ok(())
        }
    }

    /// Gate of every mutating call: power, the power-cut countdown, the op counter and
    /// injected faults. `Ok(Some(fault))` means the caller must fail with that fault (an
    /// append may first write part of its buffer).
    fn begin_mutation(&mut self, call: FaultOp, generation: u64) -> io::Result<Option<Fault>> {
        self.check_alive(generation)?;
        match self.ops_until_power_cut {
            Some(0) => {
                self.powered_off = true;
                self.ops_until_power_cut = None;
                return Err(eio());
            }
            Some(n) => self.ops_until_power_cut = Some(n - 1),
            None => {}
        }
        self.mutating_ops += 1;
        Ok(self.take_fault(call))
    }

    /// Gate of a reading call.
    fn begin_read(&mut self, call: FaultOp, generation: u64) -> io::Result<()> {
        self.check_alive(generation)?;
        match self.take_fault(call) {
            Some(fault) => Err(fault.to_io_error()),
            None => Ok(()),
        }
    }

    /// Counts down every fault matching `call`; returns the first that fires.
    fn take_fault(&mut self, call: FaultOp) -> Option<Fault> {
        let mut fired = None;
        for pending in self.faults.iter_mut().filter(|f| f.op.matches(call)) {
            pending.remaining -= 1;
            if pending.remaining == 0 && fired.is_none() {
                fired = Some(pending.fault);
            }
        }
        self.faults.retain(|f| f.remaining > 0);
        fired
    }

    /// The inode at `path`, registering an existing file the model has not seen yet as fully
    /// durable. `None` if there is no such file.
    fn inode_at(&mut self, path: &Path) -> Option<InodeId> {
        if let Some(&id) = self.names.get(path) {
            return Some(id);
        }
        let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        Some(self.add_inode(path, meta.len()))
    }

    /// Size reserved by `preallocate` for the file at `path` (0: none or unknown).
    fn reserved_at(&self, path: &Path) -> u64 {
        self.names
            .get(path)
            .and_then(|id| self.inodes.get(id))
            .map_or(0, |inode| inode.reserved)
    }

    fn add_inode(&mut self, path: &Path, synced_len: u64) -> InodeId {
        let id = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(
            id,
            Inode {
                synced_len,
                ..Inode::default()
            },
        );
        self.names.insert(path.to_path_buf(), id);
        id
    }

    fn synced_len_of(&self, id: InodeId) -> u64 {
        self.inodes.get(&id).map_or(0, |inode| inode.synced_len)
    }

    /// The durable prefix of the file at `path` (which the model knows as `id`).
    fn durable_bytes(&self, path: &Path, id: InodeId) -> io::Result<Vec<u8>> {
        let mut bytes = std::fs::read(path)?;
        bytes.truncate(self.synced_len_of(id) as usize);
        Ok(bytes)
    }

    fn log_dir_op(&mut self, dir: PathBuf, op: DirOp) {
        self.dir_log.push(PendingDirOp { dir, op });
    }

    /// Registers a newly created file (and its not-yet-durable directory entry).
    fn created_file(&mut self, path: &Path) -> InodeId {
        let id = self.add_inode(path, 0);
        self.log_dir_op(
            parent_of(path),
            DirOp::CreateFile {
                path: path.to_path_buf(),
            },
        );
        id
    }

    /// Applies a crash to the real files, then powers on a new generation.
    fn crash_and_restart(&mut self, mode: CrashMode) -> io::Result<()> {
        let seed = match mode {
            CrashMode::DropUnsynced => 0,
            CrashMode::TearUnsynced(seed) => seed,
        };
        let mut rng = SplitMix64(seed);
        // 1. File contents: sorted so a seed always tears the same way.
        let mut linked: Vec<(PathBuf, u64, u64)> = self
            .names
            .iter()
            .map(|(path, &id)| {
                let reserved = self.inodes.get(&id).map_or(0, |i| i.reserved_synced);
                (path.clone(), self.synced_len_of(id), reserved)
            })
            .collect();
        linked.sort();
        for (path, synced_len, reserved) in &linked {
            crash_file(path, *synced_len, *reserved, mode, &mut rng)?;
        }
        // 2. Directory entries: undo what no `sync_dir` made durable, newest first.
        for pending in std::mem::take(&mut self.dir_log).into_iter().rev() {
            undo_dir_op(pending.op)?;
        }
        // 3. Power comes back. Everything now on disk is durable by definition.
        self.generation += 1;
        self.powered_off = false;
        self.ops_until_power_cut = None;
        self.faults.clear();
        self.inodes.clear();
        self.names.clear();
        // Dropping the descriptors releases the real flocks of the crashed "process".
        self.locks.clear();
        Ok(())
    }
}

/// Cuts the file at `path` back to its durable length, or (tearing) to a random point in its
/// unsynced tail with up to [`TORN_GARBLE_BYTES_MAX`] of the surviving unsynced bytes garbled.
/// Durable bytes are never touched. A durable preallocation (`reserved`) past what survives
/// becomes zeros, as on a real file system (unwritten blocks read as zeros).
fn crash_file(
    path: &Path,
    synced_len: u64,
    reserved: u64,
    mode: CrashMode,
    rng: &mut SplitMix64,
) -> io::Result<()> {
    let real_len = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta.len(),
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let durable = synced_len.min(real_len);
    let unsynced = real_len - durable;
    let kept = match mode {
        CrashMode::DropUnsynced => 0,
        CrashMode::TearUnsynced(_) if unsynced > 0 => rng.below(unsynced + 1),
        CrashMode::TearUnsynced(_) => 0,
    };
    let file = OpenOptions::new().write(true).open(path)?;
    if unsynced > 0 {
        file.set_len(durable + kept)?;
    }
    if reserved > durable + kept {
        file.set_len(reserved)?;
    }
    if unsynced == 0 {
        return Ok(());
    }
    if kept > 0 && rng.below(2) == 0 {
        let garbled = kept.min(1 + rng.below(TORN_GARBLE_BYTES_MAX));
        // Half the time zeros (a block allocated but never written), else random bytes.
        let zeros = rng.below(2) == 0;
        let bytes: Vec<u8> = (0..garbled)
            .map(|_| if zeros { 0 } else { rng.next_u64() as u8 })
            .collect();
        file.write_all_at(&bytes, durable + kept - garbled)?;
    }
    Ok(())
}

fn ignore_not_found(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn undo_dir_op(op: DirOp) -> io::Result<()> {
    match op {
        DirOp::CreateFile { path } => ignore_not_found(std::fs::remove_file(path)),
        DirOp::CreateDir { path } => ignore_not_found(std::fs::remove_dir_all(path)),
        DirOp::Rename { from, to, replaced } => {
            ignore_not_found(std::fs::rename(&to, &from))?;
            match replaced {
                Some(bytes) => std::fs::write(&to, bytes),
                None => Ok(()),
            }
        }
        DirOp::Remove {
            path,
            durable_bytes,
        } => std::fs::write(path, durable_bytes),
    }
}

/// A tiny deterministic generator (SplitMix64), so crashes replay exactly from a seed
/// without a `rand` dependency in the library.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (0 if `n == 0`).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

impl Default for FaultFs {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultFs {
    /// A powered-on file system with no faults armed.
    pub fn new() -> FaultFs {
        FaultFs {
            inner: Arc::new(Mutex::new(FaultState::new())),
            bound_generation: None,
        }
    }

    /// The shared state. A panic elsewhere while it was held leaves it usable: every update
    /// is complete before any call that could panic.
    fn state(&self) -> MutexGuard<'_, FaultState> {
        lock_state(&self.inner)
    }

    /// The generation a call through this value belongs to: the current one, unless this
    /// value is bound to an earlier one by [`FaultFs::this_generation`].
    fn call_generation(&self, state: &FaultState) -> u64 {
        self.bound_generation.unwrap_or(state.generation)
    }

    /// A view of the same file system bound to the current generation: once `restart`
    /// starts a new one, every call through it fails with EIO, like the handles opened
    /// before. Give each `Db` you open its own view (`Arc::new(fs.this_generation())`), so
    /// a crashed `Db` that is still alive — say a background thread of a leaked instance —
    /// cannot create, rename or remove files under the `Db` reopened after the restart.
    /// The unbound `FaultFs` keeps working across restarts (for the test's own use).
    pub fn this_generation(&self) -> FaultFs {
        let generation = self.state().generation;
        FaultFs {
            inner: Arc::clone(&self.inner),
            bound_generation: Some(generation),
        }
    }

    /// Makes the `nth` next call matching `op` (1 = the very next) fail with `fault`
    /// (an `io::Error` with raw os error EIO or ENOSPC, surfacing as `Error::Io`).
    ///
    /// A failed call has no effect, except an append failing with ENOSPC: like a real short
    /// write it first writes the first half (`buf.len() / 2` bytes) of its buffer. A failed
    /// `sync` leaves the unsynced bytes unsynced. Several armed faults count down
    /// independently.
    pub fn inject(&self, op: FaultOp, fault: Fault, nth: u64) {
        assert!(nth >= 1, "nth counts from 1 (the very next matching call)");
        self.state().faults.push(PendingFault {
            op,
            fault,
            remaining: nth,
        });
    }

    /// Disarms every injected fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// `Some(n)`: `n` more mutating calls (append, sync, create, create_dir_all, rename,
    /// remove_file, truncate, sync_dir) succeed, then the power goes off: the next mutating
    /// call and every later call fail with EIO, through old handles too. `Some(0)` cuts the
    /// power at the next mutating call; `None` disarms the countdown.
    pub fn power_cut_after(&self, n: Option<u64>) {
        self.state().ops_until_power_cut = n;
    }

    /// Cuts the power now: every later call fails with EIO until [`FaultFs::restart`].
    pub fn power_cut(&self) {
        let mut state = self.state();
        state.powered_off = true;
        state.ops_until_power_cut = None;
    }

    pub fn is_powered_off(&self) -> bool {
        self.state().powered_off
    }

    /// Mutating calls let through since this `FaultFs` was made (across restarts), including
    /// those failed by an injected fault. Run a workload once, read this, then crash a rerun
    /// at a random point with `power_cut_after`.
    pub fn mutating_ops(&self) -> u64 {
        self.state().mutating_ops
    }

    /// Crashes and reboots: applies `mode` to every file's unsynced bytes, undoes directory
    /// changes no `sync_dir` made durable (see the type's docs), then powers on a new
    /// generation. Handles opened before keep failing with EIO; new opens work. Locks taken
    /// before are released (their guards become inert), so the engine can be reopened in
    /// this process while the crashed `Db` is still alive or leaked. Injected faults and any
    /// power-cut countdown are cleared.
    ///
    /// Panics if the real file system fails while applying the crash (a broken test setup).
    pub fn restart(&self, mode: CrashMode) {
        let mut state = self.state();
        state.powered_off = true;
        if let Err(e) = state.crash_and_restart(mode) {
            panic!("FaultFs::restart could not apply the crash to the real files: {e}");
        }
    }

    /// Durable length of the file at `path`: what would survive a `DropUnsynced` crash if its
    /// directory entry is durable. A file not yet touched through this `FaultFs` counts as
    /// fully durable. `None` if there is no such file.
    pub fn synced_len(&self, path: &Path) -> Option<u64> {
        let state = self.state();
        match state.names.get(path) {
            Some(&id) => Some(state.synced_len_of(id)),
            None => std::fs::metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len()),
        }
    }

    fn open_handle(&self, state: &FaultState, id: InodeId, file: File, len: u64) -> FaultFile {
        FaultFile {
            state: Arc::clone(&self.inner),
            generation: state.generation,
            inode: id,
            file,
            len,
        }
    }
}

fn lock_state(state: &Mutex<FaultState>) -> MutexGuard<'_, FaultState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A [`FaultFs`] file opened for appending. Follows its inode across renames.
struct FaultFile {
    state: Arc<Mutex<FaultState>>,
    generation: u64,
    inode: InodeId,
    file: File,
    len: u64,
}

impl WritableFile for FaultFile {
    fn append(&mut self, buf: &[u8]) -> Result<()> {
        let mut state = lock_state(&self.state);
        match state.begin_mutation(FaultOp::Append, self.generation)? {
            None => append_tracking_len(&mut self.file, &mut self.len, buf),
            Some(Fault::Enospc) => {
                // A real ENOSPC can come after a short write: land half the buffer.
                append_tracking_len(&mut self.file, &mut self.len, &buf[..buf.len() / 2])?;
                Err(Fault::Enospc.to_io_error().into())
            }
            Some(fault) => Err(fault.to_io_error().into()),
        }
    }

    fn sync(&mut self) -> Result<()> {
        let mut state = lock_state(&self.state);
        if let Some(fault) = state.begin_mutation(FaultOp::Sync, self.generation)? {
            return Err(fault.to_io_error().into());
        }
        self.file.sync_data()?;
        // Everything in the file now is durable, whichever handle appended it.
        let len = self.file.metadata()?.len();
        if let Some(inode) = state.inodes.get_mut(&self.inode) {
            inode.synced_len = len;
            inode.reserved_synced = inode.reserved;
        }
        Ok(())
    }

    fn preallocate(&mut self, len: u64) -> Result<()> {
        let mut state = lock_state(&self.state);
        if let Some(fault) = state.begin_mutation(FaultOp::Truncate, self.generation)? {
            return Err(fault.to_io_error().into());
        }
        if let Some(inode) = state.inodes.get_mut(&self.inode) {
            inode.reserved = inode.reserved.max(len);
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// A [`FaultFs`] lock; inert once its generation has been crashed by `restart`.
struct FaultLock {
    state: Arc<Mutex<FaultState>>,
    path: PathBuf,
    token: u64,
}

impl DirLock for FaultLock {}

impl Drop for FaultLock {
    fn drop(&mut self) {
        let mut state = lock_state(&self.state);
        if state.locks.get(&self.path).map(|held| held.token) == Some(self.token) {
            state.locks.remove(&self.path);
        }
    }
}

impl FileSystem for FaultFs {
    fn create_dir_all(&self, path: &Path) -> Result<()> {
        let mut state = self.state();
        let generation = self.call_generation(&state);
        if let Some(fault) = state.begin_mutation(FaultOp::CreateDir, generation)? {
            return Err(fault.to_io_error().into());
        }
        // Outermost missing ancestor first, so each new directory is logged against its
        // parent in creation order.
        let missing: Vec<&Path> = path.ancestors().take_while(|p| !p.exists()).collect();
        for dir in missing.into_iter().rev() {
            if dir.as_os_str().is_empty() {
                continue;
            }
            std::fs::create_dir(dir)?;
            state.log_dir_op(
                parent_of(dir),
                DirOp::CreateDir {
                    path: dir.to_path_buf(),
                },
            );
        }
        Ok(())
    }

    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let mut state = self.state();
        let generation = self.call_generation(&state);
        if let Some(fault) = state.begin_mutation(FaultOp::Create, generation)? {
            return Err(fault.to_io_error().into());
        }
        let existing = state.inode_at(path);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let id = match existing {
            Some(id) => {
                // Same inode, truncated: counted durable (see the type's docs).
                if let Some(inode) = state.inodes.get_mut(&id) {
                    inode.synced_len = 0;
                }
                id
            }
            None => state.created_file(path),
        };
        Ok(Box::new(self.open_handle(&state, id, file, 0)))
    }

    fn open_append(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let mut state = self.state();
        state.check_alive(self.call_generation(&state))?;
        let file = OpenOptions::new().append(true).open(path)?;
        let len = file.metadata()?.len();
        let id = state
            .inode_at(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Box::new(self.open_handle(&state, id, file, len)))
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        let mut state = self.state();
        let generation = self.call_generation(&state);
        state.begin_read(FaultOp::Read, generation)?;
        let mut data = std::fs::read(path)?;
        let reserved = state.reserved_at(path);
        if reserved > data.len() as u64 {
            data.resize(reserved as usize, 0);
        }
        Ok(data)
    }

    fn map(&self, path: &Path) -> Result<Mapped> {
        Ok(Arc::new(self.read(path)?))
    }

    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        let mut state = self.state();
        let generation = self.call_generation(&state);
        if let Some(fault) = state.begin_mutation(FaultOp::Truncate, generation)? {
            return Err(fault.to_io_error().into());
        }
        let id = state.inode_at(path);
        truncate_and_sync(path, len)?;
        if let Some(inode) = id.and_then(|id| state.inodes.get_mut(&id)) {
            // Truncate syncs: whatever the file holds now is durable, and it sets the size
            // (no reservation is left past it).
            inode.synced_len = len;
            inode.reserved = 0;
            inode.reserved_synced = 0;
        }
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut state = self.state();
        let generation = self.call_generation(&state);
        if let Some(fault) = state.begin_mutation(FaultOp::Rename, generation)? {
            return Err(fault.to_io_error().into());
        }
        let moved = state.inode_at(from);
        let replaced = match state.inode_at(to) {
            Some(id) => Some(state.durable_bytes(to, id)?),
            None => None,
        };
        std::fs::rename(from, to)?;
        state.names.remove(to);
        if let Some(id) = state.names.remove(from).or(moved) {
            state.names.insert(to.to_path_buf(), id);
        }
        state.log_dir_op(
            parent_of(to),
            DirOp::Rename {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
                replaced,
            },
        );
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        let mut state = self.state();
        let generation = self.call_generation(&state);
        if let Some(fault) = state.begin_mutation(FaultOp::Remove, generation)? {
            return Err(fault.to_io_error().into());
        }
        let id = state
            .inode_at(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let durable_bytes = state.durable_bytes(path, id)?;
        std::fs::remove_file(path)?;
        state.names.remove(path);
        state.log_dir_op(
            parent_of(path),
            DirOp::Remove {
                path: path.to_path_buf(),
                durable_bytes,
            },
        );
        Ok(())
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let state = self.state();
        state.check_alive(self.call_generation(&state))?;
        Ok(list_sorted(dir)?)
    }

    /// Answers truthfully even with the power off (it cannot fail); any follow-up call will.
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn file_len(&self, path: &Path) -> Result<u64> {
        let state = self.state();
        state.check_alive(self.call_generation(&state))?;
        Ok(std::fs::metadata(path)?.len().max(state.reserved_at(path)))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut state = self.state();
        let generation = self.call_generation(&state);
        if let Some(fault) = state.begin_mutation(FaultOp::SyncDir, generation)? {
            return Err(fault.to_io_error().into());
        }
        fsync_dir(dir)?;
        state.dir_log.retain(|pending| pending.dir != dir);
        Ok(())
    }

    /// Not a mutating call (no countdown, no faults), but fails with the power off. Takes a
    /// real `flock` too, so other processes and `RealFs` see the lock.
    fn lock(&self, path: &Path) -> Result<Box<dyn DirLock>> {
        let mut state = self.state();
        state.check_alive(self.call_generation(&state))?;
        let locked = || Error::Locked {
            path: path.to_path_buf(),
        };
        if state.locks.contains_key(path) {
            return Err(locked());
        }
        let existed = state.inode_at(path).is_some();
        let file = open_lock_file(path)?;
        if !existed {
            state.created_file(path);
        }
        flock_exclusive(&file, path)?;
        let token = state.next_lock_token;
        state.next_lock_token += 1;
        state
            .locks
            .insert(path.to_path_buf(), HeldLock { token, _file: file });
        Ok(Box::new(FaultLock {
            state: Arc::clone(&self.inner),
            path: path.to_path_buf(),
            token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_os_error(err: &Error) -> Option<i32> {
        match err {
            Error::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }

    #[test]
    fn real_fs_create_append_read_and_len() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let fs = RealFs;
        let mut file = fs.create(&path).unwrap();
        assert!(file.is_empty());
        file.append(b"hello ").unwrap();
        file.append(b"world").unwrap();
        file.sync().unwrap();
        assert_eq!(file.len(), 11);
        assert_eq!(fs.read(&path).unwrap(), b"hello world");
        assert_eq!(fs.file_len(&path).unwrap(), 11);

        // `create` truncates an existing file.
        let file = fs.create(&path).unwrap();
        assert_eq!(file.len(), 0);
        assert_eq!(fs.read(&path).unwrap(), b"");
    }

    #[test]
    fn write_behind_waits_for_the_last_step_and_starts_the_next_without_changing_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut file = RealFile::new(File::create(&path).unwrap(), 0);
        let mib = vec![7u8; 1024 * 1024];
        // Nothing appended: nothing to do.
        file.write_behind().unwrap();
        assert_eq!((file.write_behind_done, file.write_behind_started), (0, 0));
        for _ in 0..3 {
            file.append(&mib).unwrap();
        }
        file.write_behind().unwrap();
        let three = 3 * mib.len() as u64;
        assert_eq!(
            (file.write_behind_done, file.write_behind_started),
            (0, three)
        );
        file.append(&mib).unwrap();
        file.write_behind().unwrap();
        assert_eq!(
            (file.write_behind_done, file.write_behind_started),
            (three, three + mib.len() as u64)
        );
        // Nothing new: the last step is waited for.
        file.write_behind().unwrap();
        assert_eq!(file.write_behind_done, file.write_behind_started);
        file.sync().unwrap();
        assert_eq!(file.len(), 4 * mib.len() as u64);
        let read = std::fs::read(&path).unwrap();
        assert_eq!(read.len(), 4 * mib.len());
        assert!(read.iter().all(|&b| b == 7));
    }

    #[test]
    fn real_fs_open_append_continues_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let fs = RealFs;
        fs.create(&path).unwrap().append(b"abc").unwrap();
        let mut file = fs.open_append(&path).unwrap();
        assert_eq!(file.len(), 3);
        file.append(b"def").unwrap();
        assert_eq!(file.len(), 6);
        assert_eq!(fs.read(&path).unwrap(), b"abcdef");
        assert!(fs.open_append(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn real_fs_map_reads_whole_file_and_handles_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFs;
        let empty = dir.path().join("empty");
        fs.create(&empty).unwrap();
        assert_eq!(fs.map(&empty).unwrap().as_ref().as_ref(), b"");

        let full = dir.path().join("full");
        let mut file = fs.create(&full).unwrap();
        file.append(&[7u8; 10_000]).unwrap();
        file.sync().unwrap();
        let mapped = fs.map(&full).unwrap();
        assert_eq!((*mapped).as_ref(), &[7u8; 10_000][..]);
    }

    #[test]
    fn readers_read_exact_ranges_and_reject_reads_past_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        let mut file = RealFs.create(&path).unwrap();
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        file.append(&bytes).unwrap();
        file.sync().unwrap();
        let fault = FaultFs::new();
        let readers = [
            RealFs.open_read(&path).unwrap(),
            // FaultFs uses the default: reads from its `map`.
            fault.open_read(&path).unwrap(),
        ];
        for reader in readers {
            let mut buf = vec![0u8; 300];
            reader.read_exact_at(&mut buf, 9_000).unwrap();
            assert_eq!(buf, &bytes[9_000..9_300]);
            reader.read_exact_at(&mut buf, 9_700).unwrap();
            assert_eq!(buf, &bytes[9_700..]);
            assert!(reader.read_exact_at(&mut buf, 9_701).is_err());
            assert!(reader.read_exact_at(&mut buf, u64::MAX).is_err());
            reader.read_exact_at(&mut [], 10_000).unwrap();
        }
        assert!(RealFs.open_read(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn real_fs_truncate_rename_remove_list_exists() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFs;
        let a = dir.path().join("b-file");
        fs.create(&a).unwrap().append(b"0123456789").unwrap();
        fs.truncate(&a, 4).unwrap();
        assert_eq!(fs.read(&a).unwrap(), b"0123");

        let c = dir.path().join("a-file");
        fs.create(&c).unwrap().append(b"old").unwrap();
        fs.rename(&a, &c).unwrap();
        assert!(!fs.exists(&a));
        assert_eq!(fs.read(&c).unwrap(), b"0123");

        fs.create(&dir.path().join("c-file")).unwrap();
        fs.create_dir_all(&dir.path().join("sub/deeper")).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        assert_eq!(fs.list(dir.path()).unwrap(), ["a-file", "c-file", "sub"]);

        fs.remove_file(&c).unwrap();
        assert!(!fs.exists(&c));
        assert_eq!(fs.list(dir.path()).unwrap(), ["c-file", "sub"]);
    }

    #[test]
    fn real_fs_lock_conflicts_within_one_process_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("LOCK");
        let fs = RealFs;
        let guard = fs.lock(&path).unwrap();
        match fs.lock(&path) {
            Err(Error::Locked { path: p }) => assert_eq!(p, path),
            Err(e) => panic!("expected Locked, got {e}"),
            Ok(_) => panic!("a second lock on the same path succeeded"),
        }
        drop(guard);
        let _again = fs.lock(&path).unwrap();
    }

    #[test]
    fn fault_fs_drops_unsynced_bytes_on_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let fs = FaultFs::new();
        let mut file = fs.create(&path).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        file.append(b"durable").unwrap();
        file.sync().unwrap();
        file.append(b" lost").unwrap();
        assert_eq!(fs.synced_len(&path), Some(7));
        assert_eq!(fs.read(&path).unwrap(), b"durable lost");
        fs.restart(CrashMode::DropUnsynced);
        assert_eq!(fs.read(&path).unwrap(), b"durable");
        // The old handle belongs to a crashed generation.
        assert_eq!(
            raw_os_error(&file.append(b"x").unwrap_err()),
            Some(libc::EIO)
        );
    }

    #[test]
    fn fault_fs_injects_the_nth_matching_call() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultFs::new();
        let mut file = fs.create(&dir.path().join("f")).unwrap();
        fs.inject(FaultOp::Sync, Fault::Eio, 2);
        file.append(b"a").unwrap();
        file.sync().unwrap();
        file.append(b"b").unwrap();
        assert_eq!(raw_os_error(&file.sync().unwrap_err()), Some(libc::EIO));
        // Fired once, then gone.
        file.sync().unwrap();
    }

    #[test]
    fn fault_fs_any_does_not_match_reads() {
        assert!(FaultOp::Any.matches(FaultOp::Append));
        assert!(FaultOp::Any.matches(FaultOp::CreateDir));
        assert!(!FaultOp::Any.matches(FaultOp::Read));
        assert!(!FaultOp::Sync.matches(FaultOp::Append));
    }

    #[test]
    fn split_mix_is_deterministic() {
        let mut a = SplitMix64(42);
        let mut b = SplitMix64(42);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(SplitMix64(1).below(0), 0);
        assert!((0..100).all(|_| a.below(5) < 5));
    }
}
