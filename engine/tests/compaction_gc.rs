//! `run_compaction` on real tables: newest version wins, tombstones and expired entries
//! are dropped only at the bottommost level (converted to tombstones above it), and the
//! live view is the same before and after every compaction the policies choose.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use strata_engine::batch::{Entry, Kind, Record};
use strata_engine::compaction::{
    choose, choose_sweep, run_compaction, Choice, CompactionConfig, CompactionOutput, Reason,
};
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::merge::{LiveIter, MergeIter, RecordIter};
use strata_engine::table::{table_path, Table, TableBuilder, TableOptions};
use strata_engine::version::{TableHandle, Version};

const LEVELS: usize = 4;

/// Tables in a temporary directory, and the version holding them.
struct Tree {
    dir: tempfile::TempDir,
    fs: Arc<dyn FileSystem>,
    next_id: u64,
    version: Version,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().unwrap(),
            fs: Arc::new(RealFs),
            next_id: 1,
            version: Version::new(LEVELS),
        }
    }

    fn open(&self, id: u64, level: usize) -> Arc<TableHandle> {
        let table = Table::open(self.fs.as_ref(), &table_path(self.dir.path(), id)).unwrap();
        Arc::new(TableHandle {
            id,
            level,
            meta: table.meta().clone(),
            table: Arc::new(table),
        })
    }

    /// Writes `records` (any order) as a new table at `level`; returns its id.
    fn add(&mut self, level: usize, mut records: Vec<Record>) -> u64 {
        records.sort_by(|a, b| a.key.cmp(&b.key).then(b.seqno.cmp(&a.seqno)));
        let id = self.next_id;
        self.next_id += 1;
        let file = self.fs.create(&table_path(self.dir.path(), id)).unwrap();
        let mut builder = TableBuilder::new(file, TableOptions::default());
        for r in &records {
            builder.add(r).unwrap();
        }
        builder.finish().unwrap();
        self.version = self.version.apply(vec![self.open(id, level)], &[]);
        id
    }

    fn compact(&mut self, choice: &Choice, now: u64, cfg: &CompactionConfig) -> CompactionOutput {
        let dir = self.dir.path().to_path_buf();
        let mut next_id = self.next_id;
        let output = run_compaction(
            choice,
            &self.version,
            &self.fs,
            &dir,
            &mut || {
                next_id += 1;
                next_id - 1
            },
            now,
            cfg,
            TableOptions::default(),
        )
        .unwrap();
        self.next_id = next_id;
        output
    }

    /// Runs `choice` and installs its outputs in place of its inputs.
    fn compact_and_install(&mut self, choice: &Choice, now: u64, cfg: &CompactionConfig) {
        let output = self.compact(choice, now, cfg);
        let added = output
            .tables
            .iter()
            .map(|(id, _)| self.open(*id, choice.output_level))
            .collect();
        self.version = self.version.apply(added, &choice.inputs);
        for id in &choice.inputs {
            self.fs
                .remove_file(&table_path(self.dir.path(), *id))
                .unwrap();
        }
    }

    fn records_of(&self, id: u64) -> Vec<Record> {
        let mut it = self.version.table(id).unwrap().table.iter();
        std::iter::from_fn(|| it.next_record().unwrap()).collect()
    }

    /// What a reader sees at `now`, through every table of the version.
    fn live(&self, now: u64) -> Vec<Entry> {
        let sources = self
            .version
            .tables()
            .map(|h| Box::new(h.table.iter()) as Box<dyn RecordIter>)
            .collect();
        let mut live = LiveIter::new(MergeIter::new(sources), u64::MAX, now);
        std::iter::from_fn(|| live.next_entry().unwrap()).collect()
    }

    fn files(&self) -> Vec<String> {
        self.fs.list(self.dir.path()).unwrap()
    }
}

fn put(key: &str, seqno: u64, value: &str, expires_at: u64) -> Record {
    Record {
        key: Bytes::copy_from_slice(key.as_bytes()),
        seqno,
        kind: Kind::Put,
        expires_at,
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}

fn del(key: &str, seqno: u64) -> Record {
    Record {
        key: Bytes::copy_from_slice(key.as_bytes()),
        seqno,
        kind: Kind::Delete,
        expires_at: 0,
        value: Bytes::new(),
    }
}

fn choice(input_level: usize, inputs: Vec<u64>, bottommost: bool) -> Choice {
    Choice {
        input_level,
        output_level: input_level + 1,
        inputs,
        reason: Reason::LevelSize(input_level),
        bottommost,
    }
}

fn output_records(tree: &Tree, output: &CompactionOutput, level: usize) -> Vec<Record> {
    output
        .tables
        .iter()
        .flat_map(|(id, _)| {
            let handle = tree.open(*id, level);
            let mut it = handle.table.iter();
            std::iter::from_fn(move || it.next_record().unwrap()).collect::<Vec<_>>()
        })
        .collect()
}

fn assert_in_dir(dir: &std::path::Path, id: u64) {
    assert!(table_path(dir, id).exists(), "table {id} missing");
}

#[test]
fn only_the_newest_version_of_each_key_survives() {
    let mut tree = Tree::new();
    let newer = tree.add(
        1,
        vec![
            put("a", 9, "a9", 0),
            put("a", 7, "a7", 0),
            put("b", 8, "b8", 0),
        ],
    );
    let older = tree.add(
        2,
        vec![
            put("a", 3, "a3", 0),
            put("b", 2, "b2", 0),
            put("c", 1, "c1", 0),
        ],
    );
    let cfg = CompactionConfig::default();
    let output = tree.compact(&choice(1, vec![newer, older], true), 0, &cfg);
    assert_eq!(
        output_records(&tree, &output, 2),
        vec![
            put("a", 9, "a9", 0),
            put("b", 8, "b8", 0),
            put("c", 1, "c1", 0)
        ]
    );
    assert_eq!(output.records_in, 6);
    assert_eq!(output.records_out, 3);
    // Inputs are the caller's to delete.
    assert_in_dir(tree.dir.path(), newer);
    assert_in_dir(tree.dir.path(), older);
}

#[test]
fn tombstones_are_kept_above_older_data_and_dropped_at_the_bottom() {
    let mut tree = Tree::new();
    let l1 = tree.add(1, vec![del("b", 10), put("c", 11, "c11", 0)]);
    let l2 = tree.add(2, vec![put("b", 4, "b4", 0)]);
    let l3 = tree.add(3, vec![put("b", 1, "b1", 0)]);
    let cfg = CompactionConfig::default();

    let not_bottom = choice(1, vec![l1, l2], false);
    let output = tree.compact(&not_bottom, 0, &cfg);
    assert_eq!(
        output_records(&tree, &output, 2),
        vec![del("b", 10), put("c", 11, "c11", 0)],
        "the tombstone still hides b1 in L3"
    );

    let bottom = choice(2, vec![l2, l3], true);
    tree.version = tree.version.apply(vec![], &[l1]);
    let output = tree.compact(&bottom, 0, &cfg);
    assert_eq!(
        output_records(&tree, &output, 3),
        vec![put("b", 4, "b4", 0)]
    );

    // Tombstone over older data, nothing deeper: both go.
    let mut tree = Tree::new();
    let l1 = tree.add(1, vec![del("b", 10)]);
    let l2 = tree.add(2, vec![put("b", 4, "b4", 0)]);
    let output = tree.compact(&choice(1, vec![l1, l2], true), 0, &cfg);
    assert!(
        output.tables.is_empty(),
        "nothing left: no empty table written"
    );
    assert_eq!(output.records_in, 2);
    assert_eq!(output.records_out, 0);
    assert_eq!(output.bytes_written, 0);
    assert_eq!(tree.files().len(), 2, "only the inputs");
}

#[test]
fn expired_puts_become_tombstones_above_and_vanish_at_the_bottom() {
    let now = 1_000;
    let records = || {
        vec![
            put("a", 5, "expired", now),
            put("a", 2, "older", 0),
            put("b", 6, "still-alive", now + 1),
            put("c", 7, "forever", 0),
        ]
    };
    let cfg = CompactionConfig::default();

    let mut tree = Tree::new();
    let id = tree.add(1, records());
    let output = tree.compact(&choice(1, vec![id], false), now, &cfg);
    assert_eq!(
        output_records(&tree, &output, 2),
        vec![
            del("a", 5),
            put("b", 6, "still-alive", now + 1),
            put("c", 7, "forever", 0)
        ]
    );
    let meta = &output.tables[0].1;
    assert_eq!((meta.tombstones, meta.expiring_entries), (1, 1));

    let mut tree = Tree::new();
    let id = tree.add(1, records());
    let output = tree.compact(&choice(1, vec![id], true), now, &cfg);
    assert_eq!(
        output_records(&tree, &output, 2),
        vec![
            put("b", 6, "still-alive", now + 1),
            put("c", 7, "forever", 0)
        ]
    );
}

#[test]
fn the_sweep_reclaims_an_idle_table_once_its_entries_expire() {
    let mut tree = Tree::new();
    let records = (0..100)
        .map(|i| put(&format!("k{i:03}"), i + 1, "v", 2_000 + i))
        .collect();
    let id = tree.add(3, records);
    // L3 is the tree's last level.
    let cfg = CompactionConfig {
        levels: LEVELS,
        ..CompactionConfig::default()
    };
    assert_eq!(choose_sweep(&tree.version, &cfg, 1_999), None);
    assert_eq!(choose(&tree.version, &cfg), None);
    // Half expired: the default ratio (0.5) is reached.
    let c = choose_sweep(&tree.version, &cfg, 2_049).unwrap();
    assert_eq!(
        (c.inputs.clone(), c.output_level, c.bottommost),
        (vec![id], 3, true)
    );
    tree.compact_and_install(&c, 2_049, &cfg);
    let left = tree.version.levels[3][0].id;
    assert_eq!(tree.records_of(left).len(), 50);
    assert_eq!(
        choose_sweep(&tree.version, &cfg, 2_049),
        None,
        "nothing left to reclaim"
    );
    assert_eq!(tree.live(2_049).len(), 50);
}

/// One generated write: key index, tombstone or not, expiry offset (0 = never).
type Write = (u8, bool, u64);

/// Spreads `writes` over a valid tree: the oldest into L3, then L2, L1, and the newest
/// into two L0 tables, so that shallower levels always hold newer data.
fn build(tree: &mut Tree, writes: &[Write], start: u64) -> BTreeMap<Bytes, Record> {
    let mut model = BTreeMap::new();
    let records: Vec<Record> = writes
        .iter()
        .enumerate()
        .map(|(i, &(key, delete, ttl))| {
            let key = format!("key{key:03}");
            let seqno = i as u64 + 1;
            let r = if delete {
                del(&key, seqno)
            } else {
                let expires_at = if ttl == 0 { 0 } else { start + ttl };
                put(&key, seqno, &format!("v{seqno}"), expires_at)
            };
            model.insert(r.key.clone(), r.clone());
            r
        })
        .collect();
    // Five parts by age: L3, L2, L1, L0 (older), L0 (newer); all non-empty from 5 writes.
    let n = records.len();
    let chunks: Vec<&[Record]> = (0..5)
        .map(|i| &records[i * n / 5..(i + 1) * n / 5])
        .collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let level = [3, 2, 1, 0, 0][i];
        if chunk.is_empty() {
            continue;
        }
        if level == 0 {
            tree.add(0, chunk.to_vec());
        } else {
            // A sorted level: split the chunk's keys into two non-overlapping tables.
            let mut sorted = chunk.to_vec();
            sorted.sort_by(|a, b| a.key.cmp(&b.key).then(b.seqno.cmp(&a.seqno)));
            let split = sorted.len() / 2;
            let split = (split..sorted.len())
                .find(|&j| j == 0 || sorted[j].key != sorted[j - 1].key)
                .unwrap_or(sorted.len());
            let (left, right) = sorted.split_at(split);
            for part in [left, right] {
                if !part.is_empty() {
                    tree.add(level, part.to_vec());
                }
            }
        }
    }
    model
}

fn model_live(model: &BTreeMap<Bytes, Record>, now: u64) -> Vec<Entry> {
    model.values().filter_map(|r| r.live_entry(now)).collect()
}

/// Bound on the compactions one settle loop may take: reaching it means a livelock.
const SETTLE_STEPS_MAX: usize = 200;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn compactions_preserve_the_live_view(
        writes in prop::collection::vec((0u8..40, prop::bool::weighted(0.25), prop_oneof![Just(0u64), 1u64..100]), 1..200),
        elapsed in 0u64..120,
    ) {
        let start = 10_000;
        let mut tree = Tree::new();
        let model = build(&mut tree, &writes, start);
        let now = start + elapsed;
        prop_assert_eq!(tree.live(now), model_live(&model, now));
        let cfg = CompactionConfig {
            l0_tables_trigger: 2,
            level_base_bytes: 2_000,
            level_multiplier: 2,
            levels: LEVELS,
            table_bytes_target: 1_500,
            sweep_garbage_ratio: 0.2,
        };
        let mut steps = 0;
        while let Some(c) = choose(&tree.version, &cfg).or_else(|| choose_sweep(&tree.version, &cfg, now)) {
            tree.compact_and_install(&c, now, &cfg);
            prop_assert_eq!(tree.live(now), model_live(&model, now));
            steps += 1;
            prop_assert!(steps < SETTLE_STEPS_MAX, "no fixpoint");
        }
        if writes.len() >= 5 {
            prop_assert!(steps > 0, "L0 reached its trigger");
        }
        // Every file is a live table: compactions left nothing behind.
        prop_assert_eq!(tree.files().len(), tree.version.table_count());
    }
}
