//! Helpers shared by the `cli_*` tests: run the built `strata` binary, and build data
//! directories with the engine.
#![allow(dead_code)] // each test file uses a different subset

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

use strata_engine::{Db, Op, Options, WriteBatch};

/// An expiry far in the future (2100-01-01), in unix seconds.
pub const FAR_FUTURE: u64 = 4_102_444_800;

/// Serializes spawning children with releasing data-directory locks.
///
/// A child forked while this process holds a `Db` inherits the lock file's descriptor
/// until it execs (descriptors are close-on-exec), and a `flock` lives as long as any
/// descriptor of it: a `Db` dropped in that window stays locked for a moment, and a test
/// running `strata` on it right after would see "locked". Holding this guard across each
/// spawn (which returns once the child has exec'd) and each `Db` drop closes the window.
static FORK_GUARD: Mutex<()> = Mutex::new(());

fn fork_guard() -> MutexGuard<'static, ()> {
    FORK_GUARD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Spawns `command` (see [`FORK_GUARD`]).
pub fn spawn(command: &mut Command) -> Child {
    let _guard = fork_guard();
    command.spawn().expect("spawn")
}

/// Drops `db`, releasing its lock (see [`FORK_GUARD`]).
pub fn release(db: Db) {
    let _guard = fork_guard();
    drop(db);
}

/// Runs `strata` with `args` (strings or paths); the environment is cleared of the
/// variables it reads.
pub fn strata(args: &[&dyn AsRef<OsStr>]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(args.iter().map(|a| a.as_ref()))
        .env_remove("STRATA_CLIENT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn(&mut command).wait_with_output().expect("run strata")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit status, showing the output if it differs.
pub fn assert_status(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// Deterministic engine options for building fixtures.
pub fn opts() -> Options {
    Options {
        background: false,
        ..Options::default()
    }
}

/// Builds a data directory holding two flushed tables and unflushed WAL records: text
/// and binary keys, deletes, overwrites and expiring entries.
pub fn make_data_dir(dir: &Path) {
    let db = Db::open(dir, opts()).expect("open");
    let put = |key: &[u8], value: &[u8], expires_at: Option<u64>| {
        let op = Op::upsert(key.to_vec(), value.to_vec()).expires_at(expires_at);
        db.write(WriteBatch::from(op)).expect("write");
    };
    for i in 0..200 {
        put(format!("user:{i:04}").as_bytes(), b"first", None);
    }
    db.flush().expect("flush");
    for i in 0..50 {
        put(
            format!("user:{i:04}").as_bytes(),
            b"second",
            Some(FAR_FUTURE),
        );
    }
    put(b"\x00\xffbinary\x80", b"\xde\xad\xbe\xef", None);
    db.flush().expect("flush");
    // In the WAL only: a multi-op batch, a delete, and a key past the display limit.
    let batch = WriteBatch::new()
        .with(Op::upsert("wal:a", "1"))
        .with(Op::upsert(vec![b'L'; 100], "long key"))
        .with(Op::delete("user:0007"));
    db.write(batch).expect("write batch");
    put("caf\u{e9}".as_bytes(), "na\u{ef}ve".as_bytes(), None);
    release(db);
}

/// The only file in `dir` (e.g. the one table or WAL segment).
pub fn only_file(dir: &Path) -> PathBuf {
    let mut files = files(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

/// Every file in `dir`, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

/// `strata dump` of `dir`, checked to succeed.
pub fn dump(dir: &Path) -> String {
    let out = strata(&[&"dump", &dir]);
    assert_status(&out, 0);
    stdout(&out)
}

/// Flips one bit of `path` at `offset`.
pub fn flip_bit(path: &Path, offset: usize) {
    let mut data = std::fs::read(path).expect("read");
    data[offset] ^= 0x10;
    std::fs::write(path, data).expect("write");
}

/// Every file under `dir` with its bytes, for "nothing was modified" checks.
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for path in files(dir) {
        if path.is_dir() {
            out.extend(tree(&path));
        } else {
            let bytes = std::fs::read(&path).expect("read");
            out.push((path, bytes));
        }
    }
    out
}
