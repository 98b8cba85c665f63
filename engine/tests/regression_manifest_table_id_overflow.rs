//! Regression (found by the `manifest` fuzz target): a manifest edit adding a table with id
//! `u64::MAX` made `Manifest::open` panic ("attempt to add with overflow" in
//! `ManifestState::apply`, which computes `next_table_id = max(next_table_id, id + 1)`).
//! Recovery must never panic on what it reads: such a manifest is corrupt (no id is left for
//! the next table), and opening it is `Error::Corruption`.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::fs::{FileSystem, RealFs};
use strata_engine::manifest::{LiveTable, Manifest, ManifestState};
use strata_engine::table::TableMeta;
use strata_engine::Error;

fn state_with_table(id: u64) -> ManifestState {
    let mut state = ManifestState::default();
    state.tables.insert(
        id,
        LiveTable {
            level: 0,
            meta: TableMeta {
                file_bytes: 100,
                smallest_key: Bytes::from_static(b"a"),
                largest_key: Bytes::from_static(b"z"),
                min_seqno: 1,
                max_seqno: 2,
                entries: 2,
                ..TableMeta::default()
            },
        },
    );
    state
}

fn open(dir: &Path) -> Result<ManifestState, Error> {
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
    Manifest::open(&fs, dir).map(|(m, _)| m.state().clone())
}

#[test]
fn a_table_id_of_u64_max_is_corruption_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
    // Writing the snapshot does not apply it; reading it back does.
    drop(Manifest::create(&fs, dir.path(), state_with_table(u64::MAX)).unwrap());

    let opened = std::panic::catch_unwind(|| open(dir.path()))
        .unwrap_or_else(|_| panic!("Manifest::open panicked on a table id of u64::MAX"));
    let err = opened.expect_err("a table id that leaves no next id must not open");
    assert!(matches!(err, Error::Corruption { .. }), "{err:?}");
}

#[test]
fn the_largest_usable_table_id_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
    drop(Manifest::create(&fs, dir.path(), state_with_table(u64::MAX - 1)).unwrap());
    let state = open(dir.path()).unwrap();
    assert_eq!(state.next_table_id, u64::MAX);
}
