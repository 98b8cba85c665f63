//! Simulated power loss at random points, deterministic by seed (`tests/support/powerloss.rs`,
//! `docs/durability.md`): after every crash and reopen, every acknowledged write is there,
//! a failed write is all there or not at all, nothing else appears, expired entries stay
//! hidden; under `SyncMode::Never` / `Interval` the recovered state is a prefix of the
//! acknowledged batches.
//!
//! `STRATA_POWERLOSS_CASES=N` runs N seeds per variant, `STRATA_POWERLOSS_SEED=S` only seed S
//! (a failure prints the command), `STRATA_POWERLOSS_FIRST_SEED=F` starts at F. Run with
//! `-- --nocapture` to see the totals.

mod support;

use strata_engine::db::WAL_DIR;
use strata_engine::fs::CrashMode;
use strata_engine::{wal, Op};
use support::powerloss::{self, Runner, Step, Totals, Variant};

/// Seeds per deterministic variant in the default run (debug build, 2 shared cores).
const CASES_DEFAULT: u64 = 300;
/// The background variants run real threads: fewer, longer-lived cases.
const BACKGROUND_CASES_DIVISOR: u64 = 6;

fn run(variant: Variant, test_name: &str, cases: u64) -> Totals {
    let totals = powerloss::run_seeds(variant, test_name, powerloss::seeds(cases));
    eprintln!("power-loss fuzzer, variant `{}`:\n{totals}\n", variant.name);
    assert_eq!(totals.acked_lost, 0);
    totals
}

#[test]
fn always_acknowledged_writes_survive_power_loss() {
    let totals = run(powerloss::ALWAYS, "always_acknowledged", CASES_DEFAULT);
    // The run really crashed mid-operation and really checked acknowledged writes.
    if totals.cases >= CASES_DEFAULT {
        assert!(totals.crashes_mid_operation > totals.cases / 2, "{totals}");
        assert!(totals.acked_checked > totals.cases * 10, "{totals}");
        assert!(
            totals.compactions > 0 && totals.deepest_level >= 2,
            "{totals}"
        );
    }
}

#[test]
fn never_recovers_a_prefix_of_acknowledged_batches() {
    run(powerloss::NEVER, "never_recovers", CASES_DEFAULT);
}

#[test]
fn background_always_survives_power_loss() {
    run(
        powerloss::BACKGROUND_ALWAYS,
        "background_always",
        CASES_DEFAULT / BACKGROUND_CASES_DIVISOR,
    );
}

#[test]
fn background_interval_recovers_a_prefix() {
    run(
        powerloss::BACKGROUND_INTERVAL,
        "background_interval",
        CASES_DEFAULT / BACKGROUND_CASES_DIVISOR,
    );
}

// The fuzzer's own guarantees: a case is reproducible from its seed, the oracle catches a
// lost write, and a failure shrinks to a short step list.

#[test]
fn a_seed_replays_exactly() {
    for seed in [3, 17] {
        let first = powerloss::run_case(powerloss::ALWAYS, seed)
            .unwrap_or_else(|f| panic!("{}", f.message));
        let again = powerloss::run_case(powerloss::ALWAYS, seed)
            .unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        assert!(first.steps > 10);
    }
}

#[test]
fn the_oracle_catches_a_lost_acknowledged_write() {
    let mut runner = Runner::new(powerloss::ALWAYS);
    runner.exec(&Step::Open).unwrap();
    runner
        .exec(&Step::Write(Op::upsert("a/00", "kept").into()))
        .unwrap();
    runner
        .exec(&Step::Write(Op::upsert("a/01", "lost").into()))
        .unwrap();
    // Sabotage behind the engine's back: the last acknowledged record leaves the WAL.
    let segment = wal::segment_path(&runner.data_dir().join(WAL_DIR), 1);
    let bytes = std::fs::read(&segment).unwrap();
    let last_record =
        wal::FRAME_HEADER_BYTES + wal::BATCH_HEADER_BYTES + wal::BATCH_RECORD_HEADER_BYTES + 8;
    let frames_end = bytes.len() - last_record;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(frames_end as u64)
        .unwrap();
    let err = runner
        .exec(&Step::Crash {
            mode: CrashMode::DropUnsynced,
            recovery_cut: None,
        })
        .unwrap_err();
    assert!(err.contains("no state the rules allow"), "{err}");
    assert!(err.contains("a/01"), "{err}");
}

#[test]
fn a_failure_shrinks_to_the_steps_that_matter() {
    // An empty key is refused with InvalidArgument: with the power on, the harness calls
    // that a failure.
    let steps = vec![
        Step::Open,
        Step::Write(Op::upsert("a/00", "x").into()),
        Step::Flush,
        Step::Advance(5),
        Step::Write(Op::upsert("", "bad").into()),
        Step::VerifyAll,
        Step::Compact,
    ];
    let (shrunk, message) = powerloss::shrink(powerloss::ALWAYS, steps);
    assert!(message.contains("failed with the power on"), "{message}");
    assert_eq!(shrunk.len(), 2, "{shrunk:?}");
    assert!(matches!(shrunk[0], Step::Open));
    assert!(matches!(&shrunk[1], Step::Write(b) if b.ops[0].key.is_empty()));
}
