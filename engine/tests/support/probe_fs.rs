//! `ProbeFs`: a `FileSystem` decorator for tests. It passes every call to the file system it
//! wraps (a `FaultFs` view, usually) and
//!
//! * records the first mutating call that failed since the last [`Probe::take_first_failure`],
//!   named by operation and kind of file ("append wal", "sync manifest", ...). With a power
//!   cut armed in the `FaultFs` below, that is where the power went off: the crash-point
//!   coverage of the power-loss fuzzer is read from it;
//! * injects EIO / ENOSPC into the `nth` call of one operation on files of one kind only
//!   (`FaultFs::inject` counts calls on every file), so a test can fail exactly the manifest
//!   append of a flush, or the table sync of a compaction.
//!
//! An injected ENOSPC on `append` first lands half the buffer, like a real short write
//! (and like `FaultFs`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use strata_engine::fs::{DirLock, Fault, FaultOp, FileSystem, Mapped, WritableFile};
use strata_engine::{Error, Result};

/// Kind of file (or directory) a call touched, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    Wal,
    Table,
    Manifest,
    /// `CURRENT` and `CURRENT.tmp`.
    Current,
    Lock,
    WalDir,
    TablesDir,
    /// The data directory itself or its parent.
    DataDir,
    Other,
}

impl FileKind {
    pub fn of(path: &Path) -> FileKind {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".wal") {
            FileKind::Wal
        } else if name.ends_with(".sst") {
            FileKind::Table
        } else if name.starts_with("MANIFEST") {
            FileKind::Manifest
        } else if name.starts_with("CURRENT") {
            FileKind::Current
        } else if name == "LOCK" {
            FileKind::Lock
        } else if name == strata_engine::db::WAL_DIR {
            FileKind::WalDir
        } else if name == strata_engine::db::TABLES_DIR {
            FileKind::TablesDir
        } else if path.is_dir() || path.extension().is_none() {
            // A directory, or one about to be created.
            FileKind::DataDir
        } else {
            FileKind::Other
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileKind::Wal => "wal",
            FileKind::Table => "table",
            FileKind::Manifest => "manifest",
            FileKind::Current => "CURRENT",
            FileKind::Lock => "LOCK",
            FileKind::WalDir => "wal dir",
            FileKind::TablesDir => "tables dir",
            FileKind::DataDir => "data dir",
            FileKind::Other => "other file",
        }
    }
}

/// Operation name for reports.
pub fn op_name(op: FaultOp) -> &'static str {
    match op {
        FaultOp::Append => "append",
        FaultOp::Sync => "sync",
        FaultOp::Create => "create",
        FaultOp::Rename => "rename",
        FaultOp::SyncDir => "sync_dir",
        FaultOp::Remove => "remove",
        FaultOp::Truncate => "truncate",
        FaultOp::CreateDir => "create_dir",
        FaultOp::Read => "read",
        FaultOp::Any => "any",
    }
}

/// A mutating call: which operation on which kind of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallSite {
    pub op: &'static str,
    pub kind: FileKind,
}

impl std::fmt::Display for CallSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op, self.kind.name())
    }
}

/// A fault armed for the `nth` next call of `op` on a file of `kind`.
struct Rule {
    op: FaultOp,
    kind: FileKind,
    fault: Fault,
    /// Matching calls still to go; the call that brings it to zero fails.
    remaining: u64,
}

#[derive(Default)]
struct ProbeState {
    first_failure: Option<CallSite>,
    rules: Vec<Rule>,
}

/// The shared, test-facing side of one or more `ProbeFs` values.
#[derive(Clone, Default)]
pub struct Probe {
    state: Arc<Mutex<ProbeState>>,
}

fn lock(state: &Mutex<ProbeState>) -> MutexGuard<'_, ProbeState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Probe {
    pub fn new() -> Probe {
        Probe::default()
    }

    /// The first mutating call that failed since the last take, if any; clears it.
    pub fn take_first_failure(&self) -> Option<CallSite> {
        lock(&self.state).first_failure.take()
    }

    /// Makes the `nth` next `op` (1 = the very next) on a file of `kind` fail with `fault`.
    /// `op` is one of `Append`, `Sync`, `Create`, `Rename`, `SyncDir`, `Remove`,
    /// `Truncate`, `CreateDir` or `Read` (for `read` and `map`).
    pub fn inject(&self, op: FaultOp, kind: FileKind, fault: Fault, nth: u64) {
        assert!(nth >= 1, "nth counts from 1");
        assert!(op != FaultOp::Any, "name one operation");
        lock(&self.state).rules.push(Rule {
            op,
            kind,
            fault,
            remaining: nth,
        });
    }

    /// True while an injected fault has not fired yet.
    pub fn armed(&self) -> bool {
        !lock(&self.state).rules.is_empty()
    }

    pub fn clear(&self) {
        lock(&self.state).rules.clear();
    }

    /// Counts the call down against the armed rules; returns the fault to fail it with.
    fn before(&self, op: FaultOp, path: &Path) -> Option<Fault> {
        let kind = FileKind::of(path);
        let mut state = lock(&self.state);
        let mut fired = None;
        for rule in state
            .rules
            .iter_mut()
            .filter(|r| r.op == op && r.kind == kind)
        {
            rule.remaining -= 1;
            if rule.remaining == 0 && fired.is_none() {
                fired = Some(rule.fault);
            }
        }
        state.rules.retain(|r| r.remaining > 0);
        fired
    }

    /// Records a failed mutating call (the first one only).
    fn after<T>(&self, op: FaultOp, path: &Path, result: &Result<T>) {
        if result.is_err() && op != FaultOp::Read {
            let mut state = lock(&self.state);
            if state.first_failure.is_none() {
                state.first_failure = Some(CallSite {
                    op: op_name(op),
                    kind: FileKind::of(path),
                });
            }
        }
    }
}

fn injected(fault: Fault) -> Error {
    Error::Io(std::io::Error::from_raw_os_error(fault.raw_os_error()))
}

/// The decorator. Give each `Db` its own (over its own `FaultFs::this_generation` view);
/// they may share one [`Probe`].
pub struct ProbeFs {
    inner: Arc<dyn FileSystem>,
    probe: Probe,
}

impl ProbeFs {
    pub fn new(inner: Arc<dyn FileSystem>, probe: &Probe) -> ProbeFs {
        ProbeFs {
            inner,
            probe: probe.clone(),
        }
    }

    /// Runs a call through the rules and the failure recorder.
    fn call<T>(&self, op: FaultOp, path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let result = match self.probe.before(op, path) {
            Some(fault) => Err(injected(fault)),
            None => f(),
        };
        self.probe.after(op, path, &result);
        result
    }
}

struct ProbeFile {
    inner: Box<dyn WritableFile>,
    path: PathBuf,
    probe: Probe,
}

impl WritableFile for ProbeFile {
    fn append(&mut self, buf: &[u8]) -> Result<()> {
        let result = match self.probe.before(FaultOp::Append, &self.path) {
            None => self.inner.append(buf),
            Some(Fault::Enospc) => self
                .inner
                .append(&buf[..buf.len() / 2])
                .and(Err(injected(Fault::Enospc))),
            Some(fault) => Err(injected(fault)),
        };
        self.probe.after(FaultOp::Append, &self.path, &result);
        result
    }

    fn sync(&mut self) -> Result<()> {
        let result = match self.probe.before(FaultOp::Sync, &self.path) {
            None => self.inner.sync(),
            Some(fault) => Err(injected(fault)),
        };
        self.probe.after(FaultOp::Sync, &self.path, &result);
        result
    }

    fn preallocate(&mut self, len: u64) -> Result<()> {
        // A preallocation is an ftruncate: probed and injected as a truncate.
        let result = match self.probe.before(FaultOp::Truncate, &self.path) {
            None => self.inner.preallocate(len),
            Some(fault) => Err(injected(fault)),
        };
        self.probe.after(FaultOp::Truncate, &self.path, &result);
        result
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl ProbeFs {
    fn wrap(&self, path: &Path, file: Box<dyn WritableFile>) -> Box<dyn WritableFile> {
        Box::new(ProbeFile {
            inner: file,
            path: path.to_path_buf(),
            probe: self.probe.clone(),
        })
    }
}

impl FileSystem for ProbeFs {
    fn create_dir_all(&self, path: &Path) -> Result<()> {
        self.call(FaultOp::CreateDir, path, || self.inner.create_dir_all(path))
    }

    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let file = self.call(FaultOp::Create, path, || self.inner.create(path))?;
        Ok(self.wrap(path, file))
    }

    fn open_append(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let file = self.inner.open_append(path)?;
        Ok(self.wrap(path, file))
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        self.call(FaultOp::Read, path, || self.inner.read(path))
    }

    fn map(&self, path: &Path) -> Result<Mapped> {
        self.call(FaultOp::Read, path, || self.inner.map(path))
    }

    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        self.call(FaultOp::Truncate, path, || self.inner.truncate(path, len))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.call(FaultOp::Rename, to, || self.inner.rename(from, to))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        self.call(FaultOp::Remove, path, || self.inner.remove_file(path))
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        self.inner.list(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn file_len(&self, path: &Path) -> Result<u64> {
        self.inner.file_len(path)
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.call(FaultOp::SyncDir, dir, || self.inner.sync_dir(dir))
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn DirLock>> {
        self.inner.lock(path)
    }
}
