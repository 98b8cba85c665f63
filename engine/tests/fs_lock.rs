//! The data-directory lock is a real `flock`: another process sees it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use strata_engine::fs::{FaultFs, FileSystem, RealFs};

/// Exit status of the child when it got the lock.
const CHILD_LOCKED_OK: i32 = 0;
/// Exit status of the child when the lock was held elsewhere.
const CHILD_WOULD_BLOCK: i32 = 1;

/// Serializes the tests of this file. A forked child inherits every open file description
/// of the test process, including a lock file that a concurrently running test is about to
/// release; the inherited copy keeps the `flock` alive until that child exits, which would
/// make the other test see a lock that its own guard already dropped.
static FORK_SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Forks a child process that tries to `flock` `path` exclusively and reports by exit status.
fn try_lock_in_child_process(path: &Path) -> i32 {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: after `fork` in this multi-threaded test process the child only makes raw
    // system calls (open, flock, _exit): no allocation, no locks, nothing that another
    // thread could have left half-done.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: see above; `c_path` is a valid NUL-terminated string.
        unsafe {
            let fd = libc::open(c_path.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o644);
            if fd < 0 {
                libc::_exit(2);
            }
            let rc = libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB);
            libc::_exit(if rc == 0 {
                CHILD_LOCKED_OK
            } else {
                CHILD_WOULD_BLOCK
            });
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above; `status` is a valid out-pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    libc::WEXITSTATUS(status)
}

#[test]
fn real_fs_lock_is_seen_by_another_process() {
    let _serial = FORK_SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("LOCK");
    let guard = RealFs.lock(&path).unwrap();
    assert_eq!(try_lock_in_child_process(&path), CHILD_WOULD_BLOCK);
    drop(guard);
    assert_eq!(try_lock_in_child_process(&path), CHILD_LOCKED_OK);
}

#[test]
fn fault_fs_lock_is_seen_by_another_process() {
    let _serial = FORK_SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("LOCK");
    let fs = FaultFs::new();
    let guard = fs.lock(&path).unwrap();
    assert_eq!(try_lock_in_child_process(&path), CHILD_WOULD_BLOCK);
    drop(guard);
    assert_eq!(try_lock_in_child_process(&path), CHILD_LOCKED_OK);
}
