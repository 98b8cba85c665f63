//! Manifest recovery: a torn last frame is cut off and reported; damage before the last
//! frame, or a CURRENT naming nothing valid, is `Error::Corruption`; a grown manifest rolls
//! over to a fresh file without losing state.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::manifest::{
    manifest_file_name, Manifest, ManifestState, NewTable, VersionEdit, CURRENT_FILE,
    MANIFEST_ROLL_BYTES,
};
use strata_engine::table::TableMeta;
use strata_engine::Error;

fn fs() -> Arc<dyn FileSystem> {
    Arc::new(RealFs)
}

fn add(id: u64, key_bytes: usize) -> VersionEdit {
    VersionEdit {
        added: vec![NewTable {
            id,
            level: 1,
            meta: TableMeta {
                file_bytes: 1000 + id,
                smallest_key: Bytes::from(vec![b'a'; key_bytes]),
                largest_key: Bytes::from(vec![b'z'; key_bytes]),
                min_seqno: id,
                max_seqno: id,
                entries: 1,
                ..TableMeta::default()
            },
        }],
        log_number: Some(id),
        ..VersionEdit::default()
    }
}

/// A manifest holding the snapshot edit plus `edits` edits; returns the state after each
/// (index 0: the initial state).
fn build(dir: &Path, edits: u64) -> Vec<ManifestState> {
    let mut m = Manifest::create(&fs(), dir, ManifestState::default()).unwrap();
    let mut states = vec![m.state().clone()];
    for id in 1..=edits {
        m.log_and_apply(&add(id, 4)).unwrap();
        states.push(m.state().clone());
    }
    states
}

fn manifest_path(dir: &Path) -> std::path::PathBuf {
    dir.join(manifest_file_name(1))
}

/// Byte offsets of the frames of a manifest file.
fn frame_offsets(data: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        offsets.push(pos);
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 8 + len;
    }
    offsets
}

#[test]
fn reopen_replays_every_edit() {
    let dir = tempfile::tempdir().unwrap();
    let states = build(dir.path(), 3);
    let (m, recovery) = Manifest::open(&fs(), dir.path()).unwrap();
    assert_eq!(m.state(), states.last().unwrap());
    assert_eq!(recovery.edits, 4);
    assert!(recovery.truncated.is_none());
    assert_eq!(m.state().tables.len(), 3);
    assert_eq!(m.state().log_number, 3);
    assert_eq!(m.state().next_table_id, 4);
}

#[test]
fn damage_before_the_last_frame_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 3);
    let path = manifest_path(dir.path());
    let mut data = std::fs::read(&path).unwrap();
    let frames = frame_offsets(&data);
    assert_eq!(frames.len(), 4);
    data[frames[2] + 10] ^= 0x40; // inside the payload of the second edit
    std::fs::write(&path, &data).unwrap();
    match Manifest::open(&fs(), dir.path()) {
        Err(Error::Corruption { offset, .. }) => assert_eq!(offset, frames[2] as u64),
        Err(e) => panic!("expected corruption, got {e}"),
        Ok(_) => panic!("a damaged manifest opened"),
    }
    // The file was not "repaired" by cutting valid edits away.
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

#[test]
fn a_torn_last_frame_is_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let states = build(dir.path(), 3);
    let path = manifest_path(dir.path());
    let data = std::fs::read(&path).unwrap();
    let last = *frame_offsets(&data).last().unwrap();
    for cut in [last + 3, last + 8, data.len() - 1] {
        std::fs::write(&path, &data[..cut]).unwrap();
        let (m, recovery) = Manifest::open(&fs(), dir.path()).unwrap();
        assert_eq!(m.state(), &states[2], "the torn edit is not applied");
        let (dropped, _reason) = recovery.truncated.expect("reported");
        assert_eq!(dropped, (cut - last) as u64);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), last as u64);
    }
    // A garbled last frame of full length counts as torn too.
    let mut garbled = data.clone();
    *garbled.last_mut().unwrap() ^= 1;
    std::fs::write(&path, &garbled).unwrap();
    let (mut m, recovery) = Manifest::open(&fs(), dir.path()).unwrap();
    assert!(recovery.truncated.is_some());
    assert_eq!(m.state(), &states[2]);
    // Appending after the cut works and reopens cleanly.
    m.log_and_apply(&add(9, 4)).unwrap();
    drop(m);
    let (m, recovery) = Manifest::open(&fs(), dir.path()).unwrap();
    assert!(recovery.truncated.is_none());
    assert!(m.state().tables.contains_key(&9));
}

#[test]
fn a_bad_current_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 1);
    for bad in ["", "MANIFEST-000001", "MANIFEST-x\n", "garbage\n"] {
        std::fs::write(dir.path().join(CURRENT_FILE), bad).unwrap();
        assert!(matches!(
            Manifest::open(&fs(), dir.path()),
            Err(Error::Corruption { .. })
        ));
    }
    // CURRENT naming a missing manifest is an error too (not a fresh database).
    std::fs::write(dir.path().join(CURRENT_FILE), "MANIFEST-000007\n").unwrap();
    assert!(Manifest::open(&fs(), dir.path()).is_err());
}

#[test]
fn a_grown_manifest_rolls_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::create(&fs(), dir.path(), ManifestState::default()).unwrap();
    // Large keys make each edit big, so few fsynced edits cross the bound.
    let key_bytes = 64 * 1024;
    let edits = MANIFEST_ROLL_BYTES / (2 * key_bytes as u64) + 2;
    for id in 1..=edits {
        m.log_and_apply(&add(id, key_bytes)).unwrap();
        // Keep the state small so the snapshot after the roll is small.
        if id > 1 {
            m.log_and_apply(&VersionEdit {
                removed: vec![id - 1],
                ..VersionEdit::default()
            })
            .unwrap();
        }
    }
    assert!(m.number() > 1, "the manifest rolled over");
    let expected = m.state().clone();
    drop(m);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("MANIFEST-"))
        .collect();
    assert_eq!(names.len(), 1, "the old manifest was removed: {names:?}");
    let (m, recovery) = Manifest::open(&fs(), dir.path()).unwrap();
    assert_eq!(m.state(), &expected);
    assert!(
        (recovery.edits as u64) < 2 * edits,
        "the new manifest starts from one snapshot edit, not the whole history"
    );
}
