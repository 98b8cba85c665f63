//! `run_compaction`'s outputs: cut at the size target into sorted, non-overlapping,
//! fsynced tables with accurate accounting; on any error midway, no output is left behind.

mod db_common;

use std::sync::Arc;

use db_common::{numbered_record, write_table};
use strata_engine::batch::Record;
use strata_engine::compaction::{
    run_compaction, Choice, CompactionConfig, CompactionOutput, Reason,
};
use strata_engine::error::{Error, Result};
use strata_engine::fs::{Fault, FaultFs, FaultOp, FileSystem, RealFs};
use strata_engine::table::{table_path, Table, TableOptions};
use strata_engine::version::{TableHandle, Version};

const LEVELS: usize = 3;
const TABLE_BYTES_TARGET: u64 = 8 * 1024;

/// An L1 table with even keys 0..400 (newer) over an L2 table with every key 0..400.
fn two_levels(fs: &dyn FileSystem, dir: &std::path::Path) -> (Version, Vec<Record>) {
    let newer: Vec<Record> = (0..400)
        .step_by(2)
        .map(|i| numbered_record(i, 1_000 + i))
        .collect();
    let older: Vec<Record> = (0..400).map(|i| numbered_record(i, 1 + i)).collect();
    let version = Version::from_tables(
        LEVELS,
        vec![
            write_table(fs, dir, 1, 1, &newer),
            write_table(fs, dir, 2, 2, &older),
        ],
    );
    let expected = (0..400)
        .map(|i| {
            if i % 2 == 0 {
                numbered_record(i, 1_000 + i)
            } else {
                numbered_record(i, 1 + i)
            }
        })
        .collect();
    (version, expected)
}

fn l1_to_l2() -> Choice {
    Choice {
        input_level: 1,
        output_level: 2,
        inputs: vec![1, 2],
        reason: Reason::LevelSize(1),
        bottommost: true,
    }
}

fn cfg() -> CompactionConfig {
    CompactionConfig {
        table_bytes_target: TABLE_BYTES_TARGET,
        ..CompactionConfig::default()
    }
}

/// Runs `choice`; also returns how many output ids it allocated.
fn compact(
    fs: &Arc<dyn FileSystem>,
    dir: &std::path::Path,
    version: &Version,
    choice: &Choice,
) -> (Result<CompactionOutput>, u64) {
    const FIRST_OUTPUT_ID: u64 = 100;
    let mut next_id = FIRST_OUTPUT_ID;
    let result = run_compaction(
        choice,
        version,
        fs,
        dir,
        &mut || {
            next_id += 1;
            next_id
        },
        0,
        &cfg(),
        TableOptions::default(),
    );
    (result, next_id - FIRST_OUTPUT_ID)
}

fn table_files(fs: &dyn FileSystem, dir: &std::path::Path) -> Vec<String> {
    fs.list(dir).unwrap()
}

#[test]
fn outputs_are_cut_at_the_target_size_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
    let (version, expected) = two_levels(fs.as_ref(), dir.path());
    let output = compact(&fs, dir.path(), &version, &l1_to_l2()).0.unwrap();

    // 400 records of ~110 bytes: about 44 KiB, so five or six 8 KiB tables.
    assert!(output.tables.len() >= 5, "{} outputs", output.tables.len());
    let mut read_back = Vec::new();
    for (n, (id, meta)) in output.tables.iter().enumerate() {
        let path = table_path(dir.path(), *id);
        assert_eq!(fs.file_len(&path).unwrap(), meta.file_bytes);
        if n + 1 < output.tables.len() {
            assert!(meta.file_bytes >= TABLE_BYTES_TARGET, "cut early: {meta:?}");
        }
        assert!(
            meta.file_bytes < 2 * TABLE_BYTES_TARGET,
            "not cut: {meta:?}"
        );
        let table = Arc::new(Table::open(fs.as_ref(), &path).unwrap());
        assert_eq!(table.meta(), meta);
        let mut it = table.iter();
        while let Some(r) = it.next_record().unwrap() {
            read_back.push(r);
        }
    }
    for pair in output.tables.windows(2) {
        assert!(
            pair[0].1.largest_key < pair[1].1.smallest_key,
            "outputs overlap"
        );
    }
    assert_eq!(read_back, expected);

    let input_bytes: u64 = version.tables().map(|h| h.meta.file_bytes).sum();
    assert_eq!(output.bytes_read, input_bytes);
    assert_eq!(
        output.bytes_written,
        output.tables.iter().map(|(_, m)| m.file_bytes).sum::<u64>()
    );
    assert_eq!(output.records_in, 600);
    assert_eq!(output.records_out, 400);
    assert_eq!(
        table_files(fs.as_ref(), dir.path()).len(),
        2 + output.tables.len()
    );
}

/// Runs the L1 -> L2 compaction with `fault` armed and checks it fails leaving only the
/// inputs in the directory, after creating at least `outputs_min` outputs.
fn fails_cleanly(op: FaultOp, fault: Fault, nth: u64, outputs_min: u64) {
    let dir = tempfile::tempdir().unwrap();
    let fault_fs = FaultFs::new();
    let fs: Arc<dyn FileSystem> = Arc::new(fault_fs.clone());
    let (version, _) = two_levels(fs.as_ref(), dir.path());
    let inputs = table_files(fs.as_ref(), dir.path());
    fault_fs.inject(op, fault, nth);
    let (result, outputs) = compact(&fs, dir.path(), &version, &l1_to_l2());
    assert!(
        outputs >= outputs_min,
        "{op:?} #{nth}: failed after {outputs} outputs"
    );
    match result.unwrap_err() {
        Error::Io(e) => assert_eq!(e.raw_os_error(), Some(fault.raw_os_error()), "{op:?}"),
        other => panic!("{op:?}: unexpected {other}"),
    }
    assert_eq!(
        table_files(fs.as_ref(), dir.path()),
        inputs,
        "{op:?} #{nth} left outputs behind"
    );
}

#[test]
fn a_failed_create_removes_the_outputs_already_written() {
    fails_cleanly(FaultOp::Create, Fault::Enospc, 1, 1);
    fails_cleanly(FaultOp::Create, Fault::Eio, 3, 3);
}

#[test]
fn a_failed_write_or_fsync_removes_every_output() {
    fails_cleanly(FaultOp::Append, Fault::Enospc, 1, 1);
    fails_cleanly(FaultOp::Append, Fault::Enospc, 15, 2);
    fails_cleanly(FaultOp::Sync, Fault::Eio, 1, 1);
    fails_cleanly(FaultOp::Sync, Fault::Eio, 4, 4);
}

#[test]
fn a_corrupt_input_block_fails_the_compaction_and_removes_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
    let (version, _) = two_levels(fs.as_ref(), dir.path());
    // Damage a data block past the first outputs' worth of data of the L2 table, then
    // reopen it (opening checks the footer, index, bloom and meta blocks, not data blocks).
    let path = table_path(dir.path(), 2);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[30_000] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let reopened = Table::open(fs.as_ref(), &path).unwrap();
    let handle = Arc::new(TableHandle {
        id: 2,
        level: 2,
        meta: reopened.meta().clone(),
        table: Arc::new(reopened),
    });
    let version = version.apply(vec![handle], &[2]);
    let before = table_files(fs.as_ref(), dir.path());
    let (result, outputs) = compact(&fs, dir.path(), &version, &l1_to_l2());
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Corruption { .. }), "{err}");
    assert!(outputs >= 2, "failed after {outputs} outputs");
    assert_eq!(table_files(fs.as_ref(), dir.path()), before);
}
