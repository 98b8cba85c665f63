//! Model-based test: random sequences of writes in every mode (with `expect_seqno` guards
//! and TTLs), point reads, bounded and prefix scans, snapshots, flush, compaction, TTL
//! sweep, clock jumps and clean reopens, run against a `Db` and a `BTreeMap` model
//! (`tests/support/model.rs`). Every answer — the previous entries a write returns, its
//! refusals, every read — must equal the model's. No crashes here: `crash_powerloss.rs`
//! covers those.
//!
//! `PROPTEST_CASES=N` runs more cases; a failure is shrunk by proptest and its seed saved in
//! `model_btreemap.proptest-regressions` next to this file (replayed first on the next run).

mod support;

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use strata_engine::compaction::CompactionConfig;
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::table::TableOptions;
use strata_engine::{Clock, Db, ManualClock, Op, Options, SyncMode, WriteBatch, WriteMode};
use support::model::{db_live, describe_diff, Model, Rejection};

/// Cases per run unless `PROPTEST_CASES` says otherwise.
const CASES_DEFAULT: u32 = 128;
/// Most actions per case.
const ACTIONS_MAX: usize = 160;
/// Keys: two prefixes of twelve, so prefix scans and collisions are common.
const KEY_COUNT: usize = 24;
const T0: u64 = 1_700_000_000;

fn key(i: usize) -> Bytes {
    let prefix = if i < KEY_COUNT / 2 { "k" } else { "m" };
    Bytes::from(format!("{prefix}/{:02}", i % (KEY_COUNT / 2)))
}

#[derive(Debug, Clone, Copy)]
enum Guard {
    None,
    /// The seqno of the key's live entry (or 1 if there is none).
    Current,
    /// A seqno the live entry does not carry.
    Stale,
}

#[derive(Debug, Clone)]
struct OpSpec {
    mode: WriteMode,
    key: usize,
    value_len: usize,
    /// Seconds from now; may be zero or negative (already expired when written).
    ttl: Option<i64>,
    guard: Guard,
}

#[derive(Debug, Clone)]
enum BoundSpec {
    Unbounded,
    Included(usize, usize),
    Excluded(usize, usize),
}

#[derive(Debug, Clone)]
enum Action {
    Write(Vec<OpSpec>),
    Get(usize),
    Scan {
        start: BoundSpec,
        end: BoundSpec,
        limit: usize,
    },
    ScanPrefix {
        key: usize,
        prefix_len: usize,
        after: Option<usize>,
        limit: usize,
    },
    /// A snapshot, then these writes; the snapshot must still read the state before them.
    Snapshot(Vec<Vec<OpSpec>>),
    Flush,
    Compact,
    Sweep,
    Advance(u64),
    Reopen,
}

fn mode() -> impl Strategy<Value = WriteMode> {
    prop_oneof![
        Just(WriteMode::Insert),
        Just(WriteMode::Upsert),
        Just(WriteMode::Overwrite),
        Just(WriteMode::Update),
        Just(WriteMode::Delete),
    ]
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    (
        mode(),
        0..KEY_COUNT,
        prop_oneof![4 => 0usize..48, 1 => 200usize..1200],
        prop_oneof![3 => Just(None), 1 => (-5i64..60).prop_map(Some)],
        prop_oneof![8 => Just(Guard::None), 1 => Just(Guard::Current), 1 => Just(Guard::Stale)],
    )
        .prop_map(|(mode, key, value_len, ttl, guard)| OpSpec {
            mode,
            key,
            value_len,
            ttl,
            guard,
        })
}

fn batch_spec() -> impl Strategy<Value = Vec<OpSpec>> {
    prop_oneof![3 => proptest::collection::vec(op_spec(), 1..2), 1 => proptest::collection::vec(op_spec(), 2..6)]
}

fn bound_spec() -> impl Strategy<Value = BoundSpec> {
    prop_oneof![
        Just(BoundSpec::Unbounded),
        (0..KEY_COUNT, 1usize..5).prop_map(|(k, n)| BoundSpec::Included(k, n)),
        (0..KEY_COUNT, 1usize..5).prop_map(|(k, n)| BoundSpec::Excluded(k, n)),
    ]
}

fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..4, Just(10), Just(100_000)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        30 => batch_spec().prop_map(Action::Write),
        6 => (0..KEY_COUNT).prop_map(Action::Get),
        4 => (bound_spec(), bound_spec(), limit())
            .prop_map(|(start, end, limit)| Action::Scan { start, end, limit }),
        4 => (0..KEY_COUNT, 0usize..5, proptest::option::of(0..KEY_COUNT), limit()).prop_map(
            |(key, prefix_len, after, limit)| Action::ScanPrefix {
                key,
                prefix_len,
                after,
                limit
            }
        ),
        2 => proptest::collection::vec(batch_spec(), 1..3).prop_map(Action::Snapshot),
        3 => Just(Action::Flush),
        2 => Just(Action::Compact),
        2 => Just(Action::Sweep),
        3 => prop_oneof![1u64..20, Just(100)].prop_map(Action::Advance),
        1 => Just(Action::Reopen),
    ]
}

struct Harness {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: Arc<ManualClock>,
    db: Option<Db>,
    model: Model,
    values_made: u64,
}

impl Harness {
    fn new() -> Harness {
        let dir = support::temp_dir("strata-model-");
        let path = dir.path().join("db");
        let clock = Arc::new(ManualClock::new(T0));
        let mut h = Harness {
            _dir: dir,
            path,
            clock,
            db: None,
            model: Model::new(),
            values_made: 0,
        };
        h.db = Some(h.open());
        h
    }

    fn open(&self) -> Db {
        let opts = Options {
            sync: SyncMode::Always,
            memtable_bytes_max: 4 * 1024,
            frozen_memtables_max: 2,
            background: false,
            fs: Arc::new(RealFs) as Arc<dyn FileSystem>,
            clock: Arc::clone(&self.clock) as Arc<dyn Clock>,
            compaction: CompactionConfig {
                l0_tables_trigger: 2,
                level_base_bytes: 2 * 1024,
                level_multiplier: 2,
                levels: 4,
                table_bytes_target: 1024,
                sweep_garbage_ratio: 0.3,
            },
            table: TableOptions {
                block_bytes: 256,
                restart_interval: 3,
                bloom_bits_per_key: 10,
            },
            ..Options::default()
        };
        Db::open(&self.path, opts).expect("open")
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("open")
    }

    fn now(&self) -> u64 {
        self.clock.now_unix_secs()
    }

    fn batch(&mut self, specs: &[OpSpec]) -> WriteBatch {
        let now = self.now();
        let mut batch = WriteBatch::new();
        for spec in specs {
            self.values_made += 1;
            let mut value = format!("v{}-", self.values_made).into_bytes();
            value.resize(value.len() + spec.value_len, b'.');
            let mut op = Op::new(spec.mode, key(spec.key), value);
            op.expires_at = spec
                .ttl
                .map(|ttl| now.checked_add_signed(ttl).expect("near T0"));
            let live = self.model.get(&op.key, now);
            op.expect_seqno = match spec.guard {
                Guard::None => None,
                Guard::Current => Some(live.map_or(1, |e| e.seqno)),
                Guard::Stale => Some(live.map_or(0, |e| e.seqno) + 1),
            };
            batch.push(op);
        }
        batch
    }

    fn write(&mut self, specs: &[OpSpec]) -> Result<(), TestCaseError> {
        let batch = self.batch(specs);
        let now = self.now();
        let predicted = self.model.predict(&batch, now);
        match self.db().write(batch) {
            Ok(previous) => {
                let outcome = predicted
                    .map_err(|r| TestCaseError::fail(format!("committed; model says {r:?}")))?;
                prop_assert_eq!(previous, outcome.previous.clone());
                self.model.apply(&outcome.effects);
            }
            Err(e) => {
                let rejection = Rejection::of(&e)
                    .ok_or_else(|| TestCaseError::fail(format!("write failed: {e}")))?;
                prop_assert_eq!(Err(rejection), predicted.map(|_| ()));
            }
        }
        Ok(())
    }

    fn run(&mut self, action: &Action) -> Result<(), TestCaseError> {
        let now = self.now();
        match action {
            Action::Write(specs) => self.write(specs)?,
            Action::Get(i) => {
                prop_assert_eq!(
                    self.db().get(&key(*i)).unwrap(),
                    self.model.get(&key(*i), now)
                );
            }
            Action::Scan { start, end, limit } => {
                let (start, end) = (bound(start), bound(end));
                let got = self
                    .db()
                    .scan(as_ref(&start), as_ref(&end), *limit)
                    .unwrap();
                let want = self.model.scan(as_ref(&start), as_ref(&end), *limit, now);
                prop_assert_eq!(got, want);
            }
            Action::ScanPrefix {
                key: k,
                prefix_len,
                after,
                limit,
            } => {
                let full = key(*k);
                let prefix = full.slice(..(*prefix_len).min(full.len()));
                let after = after.map(key);
                let got = self
                    .db()
                    .scan_prefix(&prefix, after.as_deref(), *limit)
                    .unwrap();
                let want = self
                    .model
                    .scan_prefix(&prefix, after.as_deref(), *limit, now);
                prop_assert_eq!(got, want);
            }
            Action::Snapshot(batches) => {
                let snapshot = self.db().snapshot();
                let then: Vec<_> = self.model.live(now).into_values().collect();
                for specs in batches {
                    self.write(specs)?;
                }
                let got = snapshot
                    .scan(Bound::Unbounded, Bound::Unbounded, usize::MAX)
                    .unwrap();
                prop_assert_eq!(got, then);
            }
            Action::Flush => self.db().flush().unwrap(),
            Action::Compact => self.db().compact().unwrap(),
            Action::Sweep => self.db().sweep().unwrap(),
            Action::Advance(secs) => self.clock.advance(*secs),
            Action::Reopen => {
                self.db.take().expect("open").close().unwrap();
                self.db = Some(self.open());
                // The seqno counter survives a reopen too.
                prop_assert_eq!(self.db().stats().last_seqno, self.model.last_seqno);
            }
        }
        Ok(())
    }

    /// The whole visible state equals the model's.
    fn verify(&self) -> Result<(), TestCaseError> {
        let now = self.now();
        let actual = db_live(self.db()).unwrap();
        let want = self.model.live(now);
        prop_assert!(actual == want, "{}", describe_diff(&want, &actual));
        for i in 0..KEY_COUNT {
            prop_assert_eq!(
                self.db().get(&key(i)).unwrap(),
                self.model.get(&key(i), now)
            );
        }
        Ok(())
    }
}

fn bound(spec: &BoundSpec) -> Bound<Bytes> {
    let cut = |k: usize, n: usize| {
        let full = key(k);
        full.slice(..n.min(full.len()))
    };
    match *spec {
        BoundSpec::Unbounded => Bound::Unbounded,
        BoundSpec::Included(k, n) => Bound::Included(cut(k, n)),
        BoundSpec::Excluded(k, n) => Bound::Excluded(cut(k, n)),
    }
}

fn as_ref(b: &Bound<Bytes>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_ref()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES_DEFAULT)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Integration tests have no lib.rs for the default persistence to find.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_a_btreemap_model(
        actions in proptest::collection::vec(action(), 1..ACTIONS_MAX)
    ) {
        let mut h = Harness::new();
        for action in &actions {
            h.run(action)?;
        }
        h.verify()?;
        // And once more after a clean reopen.
        h.run(&Action::Reopen)?;
        h.verify()?;
    }
}

/// The model's own rules, on fixed examples, so a model bug is not mistaken for an engine
/// bug (and the model test cannot pass by both being wrong the same way).
#[test]
fn model_follows_the_write_mode_rules() {
    let now = T0;
    let mut m = Model::new();
    let put = |mode, k: &str, v: &str| Op::new(mode, k.to_string(), v.to_string());
    let one = |op: Op| WriteBatch::from(op);

    assert_eq!(
        m.predict(&one(put(WriteMode::Update, "a", "1")), now),
        Err(Rejection::NotFound(0))
    );
    assert_eq!(
        m.predict(&one(Op::delete("a")), now),
        Err(Rejection::NotFound(0))
    );
    let first = m
        .commit(&one(put(WriteMode::Insert, "a", "1")), now)
        .unwrap();
    assert_eq!(first.previous, vec![None]);
    assert_eq!(m.get(b"a", now).unwrap().seqno, 1);
    assert_eq!(
        m.predict(&one(put(WriteMode::Insert, "a", "2")), now),
        Err(Rejection::Conflict(0))
    );
    // A guard must name the live entry's seqno.
    assert_eq!(
        m.predict(&one(put(WriteMode::Upsert, "a", "2").expect_seqno(7)), now),
        Err(Rejection::Conflict(0))
    );
    // Ops of a batch see the ones before them, and take consecutive seqnos; a failing op
    // fails the whole batch.
    let batch = WriteBatch::new()
        .with(put(WriteMode::Upsert, "a", "2").expect_seqno(1))
        .with(Op::delete("a"))
        .with(put(WriteMode::Insert, "a", "3"))
        .with(put(WriteMode::Update, "zz", "x"));
    assert_eq!(m.predict(&batch, now), Err(Rejection::NotFound(3)));
    let batch = WriteBatch::new()
        .with(put(WriteMode::Upsert, "a", "2").expect_seqno(1))
        .with(Op::delete("a"))
        .with(put(WriteMode::Insert, "a", "3").expires_at(Some(now + 10)));
    let done = m.commit(&batch, now).unwrap();
    assert_eq!(done.previous[1].as_ref().unwrap().value, "2");
    assert_eq!(done.previous[2], None);
    let a = m.get(b"a", now).unwrap();
    assert_eq!((a.value.as_ref(), a.seqno), (&b"3"[..], 4));
    assert_eq!(m.last_seqno, 4);
    // Expired at `expires_at <= now`: invisible, and Insert may take the key again.
    assert!(m.get(b"a", now + 9).is_some());
    assert!(m.get(b"a", now + 10).is_none());
    assert!(m
        .predict(&one(put(WriteMode::Insert, "a", "4")), now + 10)
        .is_ok());
    // Scans: bounds, limits, prefixes.
    m.commit(&one(put(WriteMode::Upsert, "ab", "x")), now)
        .unwrap();
    m.commit(&one(put(WriteMode::Upsert, "b", "y")), now)
        .unwrap();
    let keys =
        |es: Vec<strata_engine::Entry>| -> Vec<Bytes> { es.into_iter().map(|e| e.key).collect() };
    assert_eq!(
        keys(m.scan(Bound::Excluded(b"a"), Bound::Included(b"b"), 10, now)),
        ["ab", "b"]
    );
    assert_eq!(
        keys(m.scan(Bound::Unbounded, Bound::Unbounded, 1, now)),
        ["a"]
    );
    assert!(m
        .scan(Bound::Included(b"b"), Bound::Excluded(b"a"), 10, now)
        .is_empty());
    assert_eq!(keys(m.scan_prefix(b"a", Some(b"a"), 10, now)), ["ab"]);
}
