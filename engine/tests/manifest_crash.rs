//! A crash at any mutating file-system call while the manifest is created, edited or
//! rolled over reopens to a consistent state: the last acknowledged edit's, or (for the
//! edit in flight) the one after it.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::fs::{CrashMode, FaultFs, FileSystem, RealFs};
use strata_engine::manifest::{
    Manifest, ManifestState, NewTable, VersionEdit, MANIFEST_ROLL_BYTES,
};
use strata_engine::table::TableMeta;

fn add(id: u64, key_bytes: usize) -> VersionEdit {
    VersionEdit {
        added: vec![NewTable {
            id,
            level: 0,
            meta: TableMeta {
                file_bytes: id,
                smallest_key: Bytes::from(vec![b'a'; key_bytes]),
                largest_key: Bytes::from(vec![b'b'; key_bytes]),
                max_seqno: id,
                entries: 1,
                ..TableMeta::default()
            },
        }],
        removed: if id > 1 { vec![id - 1] } else { Vec::new() },
        log_number: Some(id),
        next_table_id: Some(id + 1),
        last_seqno: Some(id * 10),
    }
}

/// Runs `edits` against `m`, pushing each acknowledged state; stops at the first error.
fn apply_all(m: &mut Manifest, edits: &[VersionEdit], acked: &mut Vec<ManifestState>) {
    for edit in edits {
        if m.log_and_apply(edit).is_err() {
            return;
        }
        acked.push(m.state().clone());
    }
}

/// After a crash: the manifest opens, and its state is the last acknowledged one or the
/// one right after it (the edit in flight may have become durable).
fn check(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    acked: &[ManifestState],
    all: &[ManifestState],
    what: &str,
) {
    if !Manifest::exists(fs.as_ref(), dir) {
        assert!(
            acked.is_empty(),
            "{what}: CURRENT vanished after create returned"
        );
        return;
    }
    let (m, _) = Manifest::open(fs, dir).unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let n = acked.len();
    let allowed = &all[n.saturating_sub(1)..all.len().min(n + 1)];
    assert!(
        allowed.contains(m.state()),
        "{what}: recovered state is not the last acknowledged one nor the next"
    );
}

#[test]
fn crash_at_every_call_of_a_few_edits() {
    let edits: Vec<VersionEdit> = (1..=4).map(|id| add(id, 8)).collect();
    // The states in order, from a clean run.
    let all = {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
        let mut m = Manifest::create(&fs, dir.path(), ManifestState::default()).unwrap();
        let mut states = vec![m.state().clone()];
        apply_all(&mut m, &edits, &mut states);
        states
    };
    let total_ops = {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultFs::new();
        let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
        let mut m = Manifest::create(&fs, dir.path(), ManifestState::default()).unwrap();
        apply_all(&mut m, &edits, &mut Vec::new());
        fault.mutating_ops()
    };
    for cut_after in 0..total_ops {
        for mode in [CrashMode::DropUnsynced, CrashMode::TearUnsynced(cut_after)] {
            let dir = tempfile::tempdir().unwrap();
            let fault = FaultFs::new();
            let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
            fault.power_cut_after(Some(cut_after));
            let mut acked = Vec::new();
            if let Ok(mut m) = Manifest::create(&fs, dir.path(), ManifestState::default()) {
                acked.push(m.state().clone());
                apply_all(&mut m, &edits, &mut acked);
            }
            fault.restart(mode);
            check(
                &fs,
                dir.path(),
                &acked,
                &all,
                &format!("cut after {cut_after} ({mode:?})"),
            );
        }
    }
}

#[test]
fn crash_during_a_roll_keeps_a_whole_manifest() {
    // Build a manifest one edit short of rolling over, once, with the real file system.
    let key_bytes = 64 * 1024;
    let template = tempfile::tempdir().unwrap();
    let real: Arc<dyn FileSystem> = Arc::new(RealFs);
    let mut m = Manifest::create(&real, template.path(), ManifestState::default()).unwrap();
    let mut all = vec![m.state().clone()];
    let mut id = 1;
    loop {
        let edit = add(id, key_bytes);
        let file_bytes = std::fs::metadata(
            template
                .path()
                .join(strata_engine::manifest::manifest_file_name(m.number())),
        )
        .unwrap()
        .len();
        // Stop when the next edit will push the file past the bound.
        if file_bytes + 3 * key_bytes as u64 > MANIFEST_ROLL_BYTES {
            break;
        }
        m.log_and_apply(&edit).unwrap();
        all.push(m.state().clone());
        id += 1;
    }
    assert_eq!(m.number(), 1);
    drop(m);
    let rolling_edit = add(id, key_bytes);
    let after = {
        // The state after the rolling edit, from a clean copy.
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        let (mut m, _) = Manifest::open(&real, dir.path()).unwrap();
        m.log_and_apply(&rolling_edit).unwrap();
        assert_eq!(m.number(), 2, "the edit rolls the manifest over");
        m.state().clone()
    };
    let all = [all.last().unwrap().clone(), after];

    let total_ops = {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        let fault = FaultFs::new();
        let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
        let (mut m, _) = Manifest::open(&fs, dir.path()).unwrap();
        let before = fault.mutating_ops();
        m.log_and_apply(&rolling_edit).unwrap();
        fault.mutating_ops() - before
    };
    for cut_after in 0..total_ops {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        let fault = FaultFs::new();
        let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
        let (mut m, _) = Manifest::open(&fs, dir.path()).unwrap();
        fault.power_cut_after(Some(cut_after));
        let mut acked = vec![m.state().clone()];
        apply_all(&mut m, std::slice::from_ref(&rolling_edit), &mut acked);
        drop(m);
        fault.restart(CrashMode::DropUnsynced);
        check(
            &fs,
            dir.path(),
            &acked,
            &all,
            &format!("roll, cut after {cut_after}"),
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
