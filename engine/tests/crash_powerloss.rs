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

use support::powerloss::{self, Totals, Variant};

/// Seeds per deterministic variant in the default run (debug build, 2 shared cores).
const CASES_DEFAULT: u64 = 120;
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
        assert!(totals.compactions > 0 && totals.deepest_level >= 2, "{totals}");
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
