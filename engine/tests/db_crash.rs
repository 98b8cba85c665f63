//! Power loss at random points (FaultFs): after a reopen every write acknowledged under
//! `SyncMode::Always` is present, the one write in flight is all there or not at all, and
//! nothing else appears. The workload flushes and compacts, so crashes also hit table
//! writes, manifest edits and file deletions.

mod db_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use db_common::*;
use rand::{Rng, SeedableRng};
use strata_engine::compaction::CompactionConfig;
use strata_engine::fs::{CrashMode, FaultFs, FileSystem};
use strata_engine::{Db, Op, Options, Result, WriteBatch};

const STEPS: usize = 60;
/// Crash points tried per run: spread over the workload's mutating file-system calls.
const CRASH_POINTS: u64 = 12;

type Model = BTreeMap<String, String>;

fn opts(fault: &FaultFs) -> Options {
    Options {
        fs: Arc::new(fault.clone()) as Arc<dyn FileSystem>,
        memtable_bytes_max: 2 * 1024,
        compaction: CompactionConfig {
            l0_tables_trigger: 2,
            level_base_bytes: 4 * 1024,
            level_multiplier: 2,
            levels: 3,
            table_bytes_target: 2 * 1024,
            ..CompactionConfig::default()
        },
        ..manual_opts(&clock())
    }
}

/// The write in flight when the workload stopped: key -> value (None = deleted).
type InFlight = Vec<(String, Option<String>)>;

/// A deterministic workload. `acked` gets every acknowledged write; `in_flight` the batch
/// whose outcome is unknown when an error stops the run.
fn workload(dir: &Path, opts: &Options, acked: &mut Model, in_flight: &mut InFlight) -> Result<()> {
    let db = Db::open(dir, opts.clone())?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    for step in 0..STEPS {
        let mut batch = WriteBatch::new();
        let mut effects = InFlight::new();
        for _ in 0..rng.gen_range(1..4) {
            let key = format!("k{:02}", rng.gen_range(0..40));
            if effects.iter().any(|(k, _)| *k == key) {
                continue;
            }
            if acked.contains_key(&key) && rng.gen_bool(0.3) {
                batch.push(Op::delete(key.clone()));
                effects.push((key, None));
            } else {
                let value = format!("s{step}-{}", "x".repeat(rng.gen_range(10..200)));
                batch.push(Op::upsert(key.clone(), value.clone()));
                effects.push((key, Some(value)));
            }
        }
        *in_flight = effects;
        db.write(batch)?;
        for (key, value) in in_flight.drain(..) {
            match value {
                Some(v) => acked.insert(key, v),
                None => acked.remove(&key),
            };
        }
        if step % 20 == 19 {
            db.flush()?;
            db.compact()?;
        }
    }
    Ok(())
}

fn check_recovered(db: &Db, acked: &Model, in_flight: &InFlight) {
    let actual: Model = all(db)
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect();
    let mut applied = acked.clone();
    for (key, value) in in_flight {
        match value {
            Some(v) => applied.insert(key.clone(), v.clone()),
            None => applied.remove(key),
        };
    }
    assert!(
        actual == *acked || actual == applied,
        "recovered state is neither the acknowledged state nor it plus the write in flight\n\
         acked: {acked:?}\nin flight: {in_flight:?}\nactual: {actual:?}"
    );
}

#[test]
fn acknowledged_writes_survive_power_loss_anywhere() {
    // A clean run counts the mutating calls to spread the crash points over.
    let total_ops = {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultFs::new();
        let (mut acked, mut in_flight) = (Model::new(), InFlight::new());
        workload(dir.path(), &opts(&fault), &mut acked, &mut in_flight).unwrap();
        fault.mutating_ops()
    };
    assert!(total_ops > CRASH_POINTS);

    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    for point in 0..CRASH_POINTS {
        let cut_after =
            (total_ops * point / CRASH_POINTS) + rng.gen_range(0..total_ops / CRASH_POINTS);
        let mode = if point % 2 == 0 {
            CrashMode::DropUnsynced
        } else {
            CrashMode::TearUnsynced(rng.gen())
        };
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultFs::new();
        let opts = opts(&fault);
        fault.power_cut_after(Some(cut_after));
        let (mut acked, mut in_flight) = (Model::new(), InFlight::new());
        // Usually an error; a cut in the final drop's WAL sync lets the run finish.
        let _ = workload(dir.path(), &opts, &mut acked, &mut in_flight);
        fault.restart(mode);

        let db = Db::open(dir.path(), opts.clone())
            .unwrap_or_else(|e| panic!("reopen after a crash at call {cut_after} ({mode:?}): {e}"));
        check_recovered(&db, &acked, &in_flight);
        // The recovered engine takes writes and survives a clean reopen too.
        put(&db, "after", "crash");
        drop(db);
        let db = open(dir.path(), &opts);
        assert_eq!(value(&db, "after").as_deref(), Some("crash"));
    }
}
