//! The crash test is only as good as its checker: against a `stratad` that forgets its data
//! directory on every restart, `strata crashtest` must report the lost writes, fail with
//! exit status 1, and say how to reproduce.

mod crashtest_support;

use std::os::unix::fs::PermissionsExt;

use crashtest_support::{count, run_strata, stratad};

#[test]
fn an_amnesiac_server_fails_the_crash_test() {
    let dir = tempfile::tempdir().unwrap();
    // Wipes the data directory on every start but the first, then runs the real daemon.
    let script = format!(
        "#!/bin/sh\n\
         prev=\"\"\n\
         for a in \"$@\"; do\n\
           if [ \"$prev\" = \"--data-dir\" ]; then\n\
             if [ -e \"$a/.started\" ]; then rm -rf \"$a\"; fi\n\
             mkdir -p \"$a\" && touch \"$a/.started\"\n\
           fi\n\
           prev=\"$a\"\n\
         done\n\
         exec '{}' \"$@\"\n",
        stratad().display()
    );
    let wrapper = dir.path().join("amnesiac-stratad");
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let run = run_strata(&[
        "crashtest",
        "--stratad",
        wrapper.to_str().unwrap(),
        "--cycles",
        "3",
        "--seed",
        "7",
        "--clients",
        "4",
        "--kill-after-ms",
        "150..250",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(run.stdout.contains("FAIL in cycle 1: "), "{}", run.output());
    assert!(run.stdout.contains("  LOST "), "{}", run.output());
    assert!(
        run.stdout
            .contains("reproduce: strata crashtest --stratad ")
            && run.stdout.contains(" --seed 7 --cycles 1 "),
        "{}",
        run.output()
    );
    let total = run.total();
    assert!(count(total, " writes acknowledged") > 0, "{total}");
    assert!(!total.contains("lost 0,"), "{total}");

    // The failing run keeps its directory for inspection; remove it.
    let kept = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("kept for inspection: "))
        .and_then(|l| l.split(' ').next())
        .expect("kept directory named");
    assert!(
        std::path::Path::new(kept).join("stratad.log").exists(),
        "{kept}"
    );
    std::fs::remove_dir_all(kept).unwrap();
}
