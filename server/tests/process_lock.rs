//! A second `stratad` on the same data directory fails at once with a clear error about the
//! lock; the first keeps serving.

mod common;

#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = common::spawn_daemon(
        &["--listen", "127.0.0.1:0", "--data-dir", "data"],
        dir.path(),
    );

    let (code, stderr) = common::run_daemon_to_exit(
        &["--listen", "127.0.0.1:0", "--data-dir", "data"],
        dir.path(),
    );
    assert_ne!(code, Some(0), "{stderr}");
    assert!(code.is_some(), "exited by a signal: {stderr}");
    assert!(stderr.to_lowercase().contains("lock"), "{stderr}");
    assert!(stderr.contains("data"), "names the directory: {stderr}");

    // The first is unaffected and stops cleanly.
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait().code(), Some(0));
}
