//! `MemFs`: an in-memory [`FileSystem`] for the fuzz targets.
//!
//! The engine reaches files only through the `FileSystem` trait, so a target can hand
//! recovery code its input as a "file" without touching the disk: no temp directory per
//! execution, no fsyncs, and nothing left behind by a crashing input. Every call behaves as
//! on a POSIX file system that never fails (durability is not modelled: `FaultFs` does that
//! for the crash tests).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use strata_engine::fs::{DirLock, FileSystem, Mapped, WritableFile};
use strata_engine::{Error, Result};

/// Contents of one file, shared by every handle open on it (a handle keeps working on a
/// file after it is renamed, as on POSIX).
type Contents = Arc<Mutex<Vec<u8>>>;

#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, Contents>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
}

/// An in-memory file system. Cheap to clone (shared state).
#[derive(Clone, Default)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking target aborts the process, so a poisoned lock is never observed in a
    // run; tolerate it anyway rather than turn one failure into two.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn not_found(path: &Path) -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    ))
}

impl MemFs {
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// Creates (or replaces) `path` holding `bytes`, and its parent directories.
    pub fn put(&self, path: &Path, bytes: &[u8]) {
        let mut state = lock(&self.state);
        if let Some(parent) = path.parent() {
            add_dirs(&mut state, parent);
        }
        state
            .files
            .insert(path.to_path_buf(), Arc::new(Mutex::new(bytes.to_vec())));
    }

    /// The bytes of `path`, if it is a file.
    pub fn get(&self, path: &Path) -> Option<Vec<u8>> {
        let state = lock(&self.state);
        state.files.get(path).map(|c| lock(c).clone())
    }

    fn contents(&self, path: &Path) -> Result<Contents> {
        lock(&self.state)
            .files
            .get(path)
            .cloned()
            .ok_or_else(|| not_found(path))
    }
}

fn add_dirs(state: &mut State, dir: &Path) {
    for ancestor in dir.ancestors() {
        if ancestor.as_os_str().is_empty() {
            break;
        }
        state.dirs.insert(ancestor.to_path_buf());
    }
}

struct MemFile {
    contents: Contents,
}

impl WritableFile for MemFile {
    fn append(&mut self, buf: &[u8]) -> Result<()> {
        lock(&self.contents).extend_from_slice(buf);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    fn len(&self) -> u64 {
        lock(&self.contents).len() as u64
    }
}

struct MemLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl DirLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        lock(&self.state).locks.remove(&self.path);
    }
}

impl FileSystem for MemFs {
    fn create_dir_all(&self, path: &Path) -> Result<()> {
        add_dirs(&mut lock(&self.state), path);
        Ok(())
    }

    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let contents: Contents = Arc::default();
        lock(&self.state)
            .files
            .insert(path.to_path_buf(), Arc::clone(&contents));
        Ok(Box::new(MemFile { contents }))
    }

    fn open_append(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        Ok(Box::new(MemFile {
            contents: self.contents(path)?,
        }))
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        let contents = self.contents(path)?;
        let bytes = lock(&contents).clone();
        Ok(bytes)
    }

    fn map(&self, path: &Path) -> Result<Mapped> {
        Ok(Arc::new(self.read(path)?))
    }

    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        let contents = self.contents(path)?;
        let mut bytes = lock(&contents);
        let len = usize::try_from(len).expect("in-memory files are smaller than usize::MAX");
        // Like set_len(2): shrinks, or grows with zeros.
        bytes.resize(len, 0);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut state = lock(&self.state);
        let contents = state.files.remove(from).ok_or_else(|| not_found(from))?;
        state.files.insert(to.to_path_buf(), contents);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        lock(&self.state)
            .files
            .remove(path)
            .map(drop)
            .ok_or_else(|| not_found(path))
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let state = lock(&self.state);
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let children = state.files.keys().chain(state.dirs.iter());
        let mut names: Vec<String> = children
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        let state = lock(&self.state);
        state.files.contains_key(path) || state.dirs.contains(path)
    }

    fn file_len(&self, path: &Path) -> Result<u64> {
        let contents = self.contents(path)?;
        let len = lock(&contents).len() as u64;
        Ok(len)
    }

    fn sync_dir(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn DirLock>> {
        let mut state = lock(&self.state);
        if !state.locks.insert(path.to_path_buf()) {
            return Err(Error::Locked {
                path: path.to_path_buf(),
            });
        }
        // The lock file exists from then on, as with `RealFs`.
        state.files.entry(path.to_path_buf()).or_default();
        Ok(Box::new(MemLock {
            state: Arc::clone(&self.state),
            path: path.to_path_buf(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_list_sorted() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let mut f = fs.create(Path::new("/d/b")).unwrap();
        f.append(b"hello").unwrap();
        fs.put(Path::new("/d/a"), b"x");
        assert_eq!(fs.read(Path::new("/d/b")).unwrap(), b"hello");
        assert_eq!(fs.list(Path::new("/d")).unwrap(), vec!["a", "b"]);
        fs.truncate(Path::new("/d/b"), 2).unwrap();
        assert_eq!(fs.file_len(Path::new("/d/b")).unwrap(), 2);
        fs.rename(Path::new("/d/b"), Path::new("/d/c")).unwrap();
        // The handle follows the renamed file.
        f.append(b"!").unwrap();
        assert_eq!(fs.get(Path::new("/d/c")).unwrap(), b"he!");
        assert!(!fs.exists(Path::new("/d/b")));
        assert!(fs.read(Path::new("/missing")).is_err());
        assert!(fs.list(Path::new("/nodir")).is_err());
    }

    #[test]
    fn a_second_lock_fails_until_the_first_is_dropped() {
        let fs = MemFs::new();
        let guard = fs.lock(Path::new("/LOCK")).unwrap();
        assert!(matches!(
            fs.lock(Path::new("/LOCK")),
            Err(Error::Locked { .. })
        ));
        drop(guard);
        assert!(fs.lock(Path::new("/LOCK")).is_ok());
    }
}
