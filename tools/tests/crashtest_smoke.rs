//! `strata crashtest` against the real `stratad`: 20 kill -9 cycles under concurrent writes
//! through all four dialects; every acknowledged write must survive.

mod crashtest_support;

use crashtest_support::{count, run_strata, stratad};

const CYCLES: u64 = 20;

#[test]
fn twenty_kill_cycles_lose_no_acknowledged_write() {
    let stratad = stratad().to_str().expect("utf-8 path");
    let run = run_strata(&[
        "crashtest",
        "--stratad",
        stratad,
        "--cycles",
        &CYCLES.to_string(),
        "--seed",
        "20240601",
        "--clients",
        "8",
        "--kill-after-ms",
        "30..250",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(run.stdout.contains("\nPASS\n"), "{}", run.output());

    let cycles = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("cycle "))
        .count();
    assert_eq!(cycles as u64, CYCLES, "{}", run.output());
    for line in run.stdout.lines().filter(|l| l.starts_with("cycle ")) {
        assert!(line.ends_with("lost 0, garbage 0"), "{line}");
    }

    let total = run.total();
    assert_eq!(count(total, " cycles"), CYCLES, "{total}");
    let acked = count(total, " writes acknowledged");
    assert!(acked > 0, "nothing was acknowledged: {total}");
    assert_eq!(count(total, " verified,"), acked, "{total}");
    assert!(count(total, " tokens verified") > 0, "{total}");
    assert!(total.ends_with("lost 0, garbage 0"), "{total}");
}
