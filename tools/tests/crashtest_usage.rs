//! `strata crashtest` refuses bad arguments before starting anything: a bad kill window is a
//! usage error (exit 2), a non-empty data directory cannot be checked (exit 3).

mod crashtest_support;

use crashtest_support::{run_strata, strata};

#[test]
fn an_inverted_kill_window_is_a_usage_error() {
    let run = run_strata(&[
        "crashtest",
        "--stratad",
        strata().to_str().unwrap(),
        "--kill-after-ms",
        "500..200",
    ]);
    assert_eq!(run.code, Some(2), "{}", run.output());
    assert!(run.stderr.contains("--kill-after-ms"), "{}", run.output());
}

#[test]
fn a_non_empty_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leftover"), b"x").unwrap();
    let run = run_strata(&[
        "crashtest",
        "--stratad",
        strata().to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(3), "{}", run.output());
    assert!(run.stderr.contains("is not empty"), "{}", run.output());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing was written into the refused directory"
    );
}
