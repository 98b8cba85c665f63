//! Pipelined commit under a power cut: concurrent durable writers (`write` and
//! `write_many`), a concurrent reader, small memtables so that freezes, WAL rolls and
//! background flushes run in the middle of the pipeline, and the power going off at a
//! random file-system call. After the crash and a reopen:
//!
//! * every acknowledged write is there (acknowledged means durable);
//! * every value a reader saw is there (visible means durable: a group is published only
//!   after an fdatasync covering it succeeded);
//! * each writer's keys form a prefix 0..n of what it attempted (the log has no holes:
//!   a later group never survives an earlier one that was lost).
//!
//! `STRATA_PIPELINE_CASES=N` runs more cases (default 12; each takes well under a second).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use strata_engine::fs::{CrashMode, FaultFs, FileSystem};
use strata_engine::{Db, Op, Options, SyncMode, WriteBatch};

const WRITERS: u64 = 6;
/// Writes per writer when the power cut comes late (or never).
const WRITES_PER_WRITER_MAX: u64 = 600;
/// Batches per `write_many` call of the writers that use it.
const MANY_BATCHES: u64 = 4;
const DEFAULT_CASES: u64 = 12;

fn key(writer: u64, i: u64) -> String {
    format!("w{writer}-{i:05}")
}

fn value(writer: u64, i: u64) -> String {
    format!("value of {writer}/{i} {}", "x".repeat((i % 50) as usize))
}

fn options(fs: &FaultFs) -> Options {
    Options {
        sync: SyncMode::Always,
        // A few KiB: freezes, WAL rolls and flushes happen all through the run.
        memtable_bytes_max: 16 * 1024,
        background: true,
        fs: Arc::new(fs.this_generation()) as Arc<dyn FileSystem>,
        ..Options::default()
    }
}

/// A small deterministic generator for the cut point and crash mode.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Outcome {
    /// Per writer: how many writes were acknowledged (always a prefix: a writer stops at
    /// its first error).
    acked: Vec<u64>,
    /// Per writer: how many writes were attempted (acknowledged or not).
    attempted: Vec<u64>,
    /// (writer, i) pairs a reader saw.
    seen: BTreeSet<(u64, u64)>,
}

fn run_until_power_cut(dir: &Path, fs: &FaultFs, cut_after: u64) -> Outcome {
    let db = Arc::new(Db::open(dir, options(fs)).expect("open"));
    fs.power_cut_after(Some(cut_after));
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(BTreeSet::new()));

    let reader = {
        let (db, progress, stop, seen) = (
            Arc::clone(&db),
            Arc::clone(&progress),
            Arc::clone(&stop),
            Arc::clone(&seen),
        );
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let w = n % WRITERS;
                // The newest attempted writes of `w`: the ones a reader might see too early.
                let top = progress[w as usize].load(Ordering::SeqCst);
                for i in top.saturating_sub(8)..top {
                    if let Ok(Some(e)) = db.get(key(w, i).as_bytes()) {
                        assert_eq!(&e.value[..], value(w, i).as_bytes());
                        seen.lock().unwrap().insert((w, i));
                    }
                }
            }
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (db, progress) = (Arc::clone(&db), Arc::clone(&progress));
            std::thread::spawn(move || {
                let mut acked = 0;
                let mut attempted = 0;
                while attempted < WRITES_PER_WRITER_MAX {
                    // Odd writers go through `write_many` (the server's commit thread
                    // path), even ones through `write` (the commit queue).
                    let n = if w % 2 == 1 { MANY_BATCHES } else { 1 };
                    let batches: Vec<WriteBatch> = (attempted..attempted + n)
                        .map(|i| Op::upsert(key(w, i), value(w, i)).into())
                        .collect();
                    attempted += n;
                    progress[w as usize].store(attempted, Ordering::SeqCst);
                    let results = if n == 1 {
                        vec![db.write(batches.into_iter().next().unwrap())]
                    } else {
                        db.write_many(batches)
                    };
                    let ok = results.iter().take_while(|r| r.is_ok()).count() as u64;
                    acked += ok;
                    if ok < n {
                        break;
                    }
                }
                (acked, attempted)
            })
        })
        .collect();
    let mut acked = Vec::new();
    let mut attempted = Vec::new();
    for h in writers {
        let (a, t) = h.join().expect("writer");
        acked.push(a);
        attempted.push(t);
    }
    stop.store(true, Ordering::SeqCst);
    reader.join().expect("reader");
    // The crash: whatever the writers did not get to, the power goes off now.
    fs.power_cut();
    drop(db);
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    Outcome {
        acked,
        attempted,
        seen,
    }
}

#[test]
fn acknowledged_and_visible_writes_survive_a_power_cut_in_the_pipeline() {
    let cases = std::env::var("STRATA_PIPELINE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut total_acked = 0;
    for case in 0..cases {
        let seed = mix(case ^ 0x5EED);
        let cut_after = 20 + seed % 1_500;
        let mode = if seed.is_multiple_of(3) {
            CrashMode::DropUnsynced
        } else {
            CrashMode::TearUnsynced(seed)
        };
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultFs::new();
        let outcome = run_until_power_cut(dir.path(), &fs, cut_after);
        fs.restart(mode);

        let db = Db::open(dir.path(), options(&fs)).unwrap_or_else(|e| {
            panic!("case {case} (cut after {cut_after}, {mode:?}): reopen failed: {e}")
        });
        let ctx = format!("case {case} (cut after {cut_after} calls, {mode:?})");
        for w in 0..WRITERS {
            let mut present = 0;
            while present < outcome.attempted[w as usize] {
                match db.get(key(w, present).as_bytes()).expect("get") {
                    Some(e) => {
                        assert_eq!(&e.value[..], value(w, present).as_bytes(), "{ctx}");
                        present += 1;
                    }
                    None => break,
                }
            }
            for i in present..outcome.attempted[w as usize] {
                assert!(
                    db.get(key(w, i).as_bytes()).expect("get").is_none(),
                    "{ctx}: writer {w} has {i} after a hole at {present}"
                );
            }
            assert!(
                present >= outcome.acked[w as usize],
                "{ctx}: writer {w}: {} acknowledged, {present} survived",
                outcome.acked[w as usize]
            );
            total_acked += outcome.acked[w as usize];
        }
        for &(w, i) in &outcome.seen {
            assert!(
                db.get(key(w, i).as_bytes()).expect("get").is_some(),
                "{ctx}: a reader saw {} before the crash, gone after it",
                key(w, i)
            );
        }
        db.close().expect("close");
    }
    assert!(total_acked > 0, "no case acknowledged anything");
}
