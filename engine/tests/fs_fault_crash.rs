//! FaultFs: what survives a crash, injected faults, power cuts and locks.

use std::path::{Path, PathBuf};

use strata_engine::fs::{
    CrashMode, Fault, FaultFs, FaultOp, FileSystem, RealFs, TORN_GARBLE_BYTES_MAX,
};
use strata_engine::Error;

fn os_error(result: Result<impl Sized, Error>) -> i32 {
    match result {
        Err(Error::Io(e)) => e.raw_os_error().expect("an OS error"),
        Err(e) => panic!("expected an I/O error, got {e}"),
        Ok(_) => panic!("expected an I/O error, got Ok"),
    }
}

/// A FaultFs over a fresh tempdir whose own directory entry is durable (it existed before).
fn setup() -> (tempfile::TempDir, FaultFs, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    (dir, FaultFs::new(), root)
}

/// Creates `path` with `bytes`, synced, with a durable directory entry.
fn durable_file(fs: &FaultFs, path: &Path, bytes: &[u8]) {
    let mut file = fs.create(path).unwrap();
    file.append(bytes).unwrap();
    file.sync().unwrap();
    fs.sync_dir(path.parent().unwrap()).unwrap();
}

#[test]
fn unsynced_bytes_are_dropped_and_synced_bytes_kept() {
    let (_dir, fs, root) = setup();
    let a = root.join("a");
    let mut file = fs.create(&a).unwrap();
    fs.sync_dir(&root).unwrap();
    file.append(b"one ").unwrap();
    file.sync().unwrap();
    file.append(b"two ").unwrap();
    file.sync().unwrap();
    file.append(b"three").unwrap();
    assert_eq!(fs.synced_len(&a), Some(8));
    assert_eq!(
        fs.read(&a).unwrap(),
        b"one two three",
        "unsynced bytes are readable"
    );

    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&a).unwrap(), b"one two ");
    assert_eq!(fs.synced_len(&a), Some(8));
}

#[test]
fn reopened_file_keeps_earlier_bytes_durable() {
    let (_dir, fs, root) = setup();
    let a = root.join("a");
    durable_file(&fs, &a, b"base");
    let mut file = fs.open_append(&a).unwrap();
    assert_eq!(file.len(), 4);
    file.append(b"-more").unwrap();
    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&a).unwrap(), b"base");
}

#[test]
fn torn_tail_keeps_a_prefix_with_at_most_a_few_garbled_bytes() {
    let unsynced: Vec<u8> = (0..200u32).map(|i| (i % 251) as u8 + 1).collect();
    let mut kept_lengths = std::collections::BTreeSet::new();
    let mut saw_garbage = false;
    for seed in 0..40 {
        let (_dir, fs, root) = setup();
        let a = root.join("a");
        durable_file(&fs, &a, b"DURABLE");
        let mut file = fs.open_append(&a).unwrap();
        file.append(&unsynced).unwrap();
        fs.restart(CrashMode::TearUnsynced(seed));

        let after = fs.read(&a).unwrap();
        assert!(after.len() >= 7 && after.len() <= 7 + unsynced.len());
        assert_eq!(
            &after[..7],
            b"DURABLE",
            "seed {seed}: durable bytes touched"
        );
        let tail = &after[7..];
        let intact = tail
            .iter()
            .zip(&unsynced)
            .take_while(|(got, want)| got == want)
            .count();
        assert!(
            (tail.len() - intact) as u64 <= TORN_GARBLE_BYTES_MAX,
            "seed {seed}: {} garbled bytes",
            tail.len() - intact
        );
        saw_garbage |= intact < tail.len();
        kept_lengths.insert(tail.len());
    }
    assert!(
        kept_lengths.len() > 10,
        "tearing should vary with the seed: {kept_lengths:?}"
    );
    assert!(saw_garbage, "some seed should garble the torn tail");
}

#[test]
fn the_same_seed_tears_the_same_way() {
    let run = |seed| {
        let (_dir, fs, root) = setup();
        let a = root.join("a");
        let b = root.join("b");
        durable_file(&fs, &a, b"");
        durable_file(&fs, &b, b"");
        let mut fa = fs.open_append(&a).unwrap();
        let mut fb = fs.open_append(&b).unwrap();
        fa.append(&[1u8; 300]).unwrap();
        fb.append(&[2u8; 300]).unwrap();
        fs.restart(CrashMode::TearUnsynced(seed));
        (fs.read(&a).unwrap(), fs.read(&b).unwrap())
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn synced_file_without_a_durable_directory_entry_disappears() {
    let (_dir, fs, root) = setup();
    let lost = root.join("lost");
    let mut file = fs.create(&lost).unwrap();
    file.append(b"synced but unreachable").unwrap();
    file.sync().unwrap();
    assert_eq!(fs.synced_len(&lost), Some(22));
    fs.restart(CrashMode::DropUnsynced);
    assert!(!fs.exists(&lost));

    let kept = root.join("kept");
    durable_file(&fs, &kept, b"reachable");
    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&kept).unwrap(), b"reachable");
}

#[test]
fn sync_dir_of_another_directory_does_not_make_a_create_durable() {
    let (_dir, fs, root) = setup();
    std::fs::create_dir(root.join("sub")).unwrap();
    let file_path = root.join("sub/f");
    let mut file = fs.create(&file_path).unwrap();
    file.sync().unwrap();
    fs.sync_dir(&root).unwrap();
    fs.restart(CrashMode::DropUnsynced);
    assert!(!fs.exists(&file_path));
}

#[test]
fn created_directories_need_their_parent_synced() {
    let (_dir, fs, root) = setup();
    let deep = root.join("x/y");
    fs.create_dir_all(&deep).unwrap();
    durable_file(&fs, &deep.join("f"), b"data");
    fs.restart(CrashMode::DropUnsynced);
    assert!(
        !fs.exists(&root.join("x")),
        "x's entry in root was never synced"
    );

    fs.create_dir_all(&deep).unwrap();
    fs.sync_dir(&root).unwrap();
    fs.sync_dir(&root.join("x")).unwrap();
    durable_file(&fs, &deep.join("f"), b"data");
    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&deep.join("f")).unwrap(), b"data");
}

#[test]
fn unsynced_rename_is_undone_and_the_replaced_target_comes_back() {
    let (_dir, fs, root) = setup();
    let current = root.join("CURRENT");
    let tmp = root.join("CURRENT.tmp");
    durable_file(&fs, &current, b"old");
    durable_file(&fs, &tmp, b"new");
    fs.rename(&tmp, &current).unwrap();
    assert_eq!(fs.read(&current).unwrap(), b"new");
    assert!(!fs.exists(&tmp));

    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&current).unwrap(), b"old");
    assert_eq!(fs.read(&tmp).unwrap(), b"new");

    fs.rename(&tmp, &current).unwrap();
    fs.sync_dir(&root).unwrap();
    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&current).unwrap(), b"new");
    assert!(!fs.exists(&tmp));
}

#[test]
fn unsynced_create_then_rename_disappears_entirely() {
    let (_dir, fs, root) = setup();
    let tmp = root.join("t.tmp");
    let fin = root.join("t");
    let mut file = fs.create(&tmp).unwrap();
    file.append(b"x").unwrap();
    file.sync().unwrap();
    fs.rename(&tmp, &fin).unwrap();
    fs.restart(CrashMode::DropUnsynced);
    assert!(!fs.exists(&tmp));
    assert!(!fs.exists(&fin));
}

#[test]
fn a_handle_follows_its_file_across_a_rename() {
    let (_dir, fs, root) = setup();
    let tmp = root.join("t.tmp");
    let fin = root.join("t");
    let mut file = fs.create(&tmp).unwrap();
    file.append(b"head").unwrap();
    fs.rename(&tmp, &fin).unwrap();
    file.append(b"+tail").unwrap();
    file.sync().unwrap();
    fs.sync_dir(&root).unwrap();
    assert_eq!(fs.synced_len(&fin), Some(9));
    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&fin).unwrap(), b"head+tail");
}

#[test]
fn unsynced_removal_is_undone_with_the_durable_bytes() {
    let (_dir, fs, root) = setup();
    let a = root.join("a");
    durable_file(&fs, &a, b"keep");
    let mut file = fs.open_append(&a).unwrap();
    file.append(b" unsynced").unwrap();
    fs.remove_file(&a).unwrap();
    assert!(!fs.exists(&a));
    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&a).unwrap(), b"keep");

    fs.remove_file(&a).unwrap();
    fs.sync_dir(&root).unwrap();
    fs.restart(CrashMode::DropUnsynced);
    assert!(!fs.exists(&a));
}

#[test]
fn remove_then_recreate_undoes_back_to_the_original() {
    let (_dir, fs, root) = setup();
    let a = root.join("a");
    durable_file(&fs, &a, b"original");
    fs.remove_file(&a).unwrap();
    let mut file = fs.create(&a).unwrap();
    file.append(b"replacement").unwrap();
    file.sync().unwrap();
    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&a).unwrap(), b"original");
}

#[test]
fn truncate_is_durable_and_create_over_a_file_empties_it() {
    let (_dir, fs, root) = setup();
    let a = root.join("a");
    durable_file(&fs, &a, b"0123456789");
    let mut file = fs.open_append(&a).unwrap();
    file.append(b"unsynced").unwrap();
    fs.truncate(&a, 4).unwrap();
    assert_eq!(fs.synced_len(&a), Some(4));
    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&a).unwrap(), b"0123");

    let mut file = fs.create(&a).unwrap();
    file.append(b"new").unwrap();
    assert_eq!(fs.synced_len(&a), Some(0));
    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&a).unwrap(), b"");
}

#[test]
fn files_the_fault_fs_never_touched_count_as_durable() {
    let (_dir, fs, root) = setup();
    let a = root.join("a");
    std::fs::write(&a, b"pre-existing").unwrap();
    assert_eq!(fs.synced_len(&a), Some(12));
    assert_eq!(fs.synced_len(&root.join("missing")), None);
    fs.restart(CrashMode::DropUnsynced);
    assert_eq!(fs.read(&a).unwrap(), b"pre-existing");
}

#[test]
fn injected_eio_and_enospc_fail_the_nth_matching_call() {
    let (_dir, fs, root) = setup();
    let a = root.join("a");
    let mut file = fs.create(&a).unwrap();

    fs.inject(FaultOp::Append, Fault::Eio, 2);
    file.append(b"first").unwrap();
    assert_eq!(os_error(file.append(b"second")), libc::EIO);
    assert_eq!(file.len(), 5, "an EIO append writes nothing");
    file.append(b"third").unwrap();

    fs.inject(FaultOp::Append, Fault::Enospc, 1);
    assert_eq!(os_error(file.append(b"0123456789")), libc::ENOSPC);
    assert_eq!(file.len(), 15, "ENOSPC lands the first half of the buffer");
    assert_eq!(fs.read(&a).unwrap(), b"firstthird01234");

    fs.inject(FaultOp::Sync, Fault::Eio, 1);
    assert_eq!(os_error(file.sync()), libc::EIO);
    assert_eq!(
        fs.synced_len(&a),
        Some(0),
        "a failed sync makes nothing durable"
    );
    file.sync().unwrap();
    assert_eq!(fs.synced_len(&a), Some(15));
}

#[test]
fn injected_faults_cover_every_kind_of_call() {
    let (_dir, fs, root) = setup();
    let a = root.join("a");
    durable_file(&fs, &a, b"abc");
    let cases: [(FaultOp, Fault); 7] = [
        (FaultOp::Create, Fault::Enospc),
        (FaultOp::CreateDir, Fault::Enospc),
        (FaultOp::Rename, Fault::Eio),
        (FaultOp::Remove, Fault::Eio),
        (FaultOp::Truncate, Fault::Eio),
        (FaultOp::SyncDir, Fault::Eio),
        (FaultOp::Read, Fault::Eio),
    ];
    for (op, fault) in cases {
        fs.inject(op, fault, 1);
        let errno = match op {
            FaultOp::Create => os_error(fs.create(&root.join("b"))),
            FaultOp::CreateDir => os_error(fs.create_dir_all(&root.join("d"))),
            FaultOp::Rename => os_error(fs.rename(&a, &root.join("b"))),
            FaultOp::Remove => os_error(fs.remove_file(&a)),
            FaultOp::Truncate => os_error(fs.truncate(&a, 0)),
            FaultOp::SyncDir => os_error(fs.sync_dir(&root)),
            FaultOp::Read => os_error(fs.read(&a)),
            _ => unreachable!(),
        };
        assert_eq!(errno, fault.raw_os_error(), "{op:?}");
    }
    // None of the failed calls had an effect.
    assert_eq!(fs.read(&a).unwrap(), b"abc");
    assert!(!fs.exists(&root.join("b")));
    assert!(!fs.exists(&root.join("d")));

    fs.inject(FaultOp::Read, Fault::Eio, 1);
    assert_eq!(os_error(fs.map(&a)), libc::EIO);
    assert_eq!((*fs.map(&a).unwrap()).as_ref(), b"abc");
}

#[test]
fn any_counts_every_mutating_call_and_clear_faults_disarms() {
    let (_dir, fs, root) = setup();
    fs.inject(FaultOp::Any, Fault::Eio, 3);
    let mut file = fs.create(&root.join("a")).unwrap(); // 1
    fs.read(&root.join("a")).unwrap(); // reads do not count
    file.append(b"x").unwrap(); // 2
    assert_eq!(os_error(file.sync()), libc::EIO); // 3

    fs.inject(FaultOp::Any, Fault::Eio, 1);
    fs.clear_faults();
    file.sync().unwrap();
}

#[test]
fn power_cut_after_n_mutating_calls_stops_everything() {
    let (_dir, fs, root) = setup();
    let a = root.join("a");
    let mut file = fs.create(&a).unwrap();
    fs.sync_dir(&root).unwrap();
    let before = fs.mutating_ops();
    fs.power_cut_after(Some(2));
    file.append(b"1").unwrap();
    file.sync().unwrap();
    assert!(!fs.is_powered_off());
    assert_eq!(os_error(file.append(b"2")), libc::EIO);
    assert!(fs.is_powered_off());
    assert_eq!(
        fs.mutating_ops() - before,
        2,
        "refused calls are not counted"
    );
    // Everything fails now, reads included, old and new handles alike.
    assert_eq!(os_error(file.sync()), libc::EIO);
    assert_eq!(os_error(fs.read(&a)), libc::EIO);
    assert_eq!(os_error(fs.list(&root)), libc::EIO);
    assert_eq!(os_error(fs.file_len(&a)), libc::EIO);
    assert_eq!(os_error(fs.open_append(&a)), libc::EIO);
    assert_eq!(os_error(fs.create(&root.join("b"))), libc::EIO);
    assert_eq!(os_error(fs.lock(&root.join("LOCK"))), libc::EIO);

    fs.restart(CrashMode::DropUnsynced);
    assert!(!fs.is_powered_off());
    assert_eq!(os_error(file.append(b"stale")), libc::EIO);
    assert_eq!(fs.read(&a).unwrap(), b"1");
    let mut fresh = fs.open_append(&a).unwrap();
    fresh.append(b"2").unwrap();
    fresh.sync().unwrap();
    assert_eq!(fs.read(&a).unwrap(), b"12");
}

#[test]
fn power_cut_now_and_disarming_the_countdown() {
    let (_dir, fs, root) = setup();
    let mut file = fs.create(&root.join("a")).unwrap();
    fs.power_cut_after(Some(0));
    assert_eq!(os_error(file.append(b"x")), libc::EIO);
    fs.restart(CrashMode::DropUnsynced);

    let mut file = fs.create(&root.join("a")).unwrap();
    fs.power_cut_after(Some(1));
    fs.power_cut_after(None);
    file.append(b"x").unwrap();
    file.append(b"y").unwrap();
    fs.power_cut();
    assert!(fs.is_powered_off());
    assert_eq!(os_error(file.sync()), libc::EIO);
}

#[test]
fn mutating_ops_counts_each_mutating_call_once() {
    let (_dir, fs, root) = setup();
    let a = root.join("a");
    let start = fs.mutating_ops();
    let mut file = fs.create(&a).unwrap();
    file.append(b"x").unwrap();
    file.sync().unwrap();
    fs.sync_dir(&root).unwrap();
    fs.rename(&a, &root.join("b")).unwrap();
    fs.truncate(&root.join("b"), 0).unwrap();
    fs.remove_file(&root.join("b")).unwrap();
    fs.create_dir_all(&root.join("d")).unwrap();
    assert_eq!(fs.mutating_ops() - start, 8);
    fs.read(&root.join("d").with_extension("none")).ok();
    fs.list(&root).unwrap();
    assert!(fs.exists(&root.join("d")));
    assert_eq!(fs.mutating_ops() - start, 8, "reads are not mutating");
}

#[test]
fn fault_fs_lock_conflicts_in_process_and_with_real_fs() {
    let (_dir, fs, root) = setup();
    let path = root.join("LOCK");
    let guard = fs.lock(&path).unwrap();
    assert!(matches!(fs.lock(&path), Err(Error::Locked { .. })));
    assert!(
        matches!(RealFs.lock(&path), Err(Error::Locked { .. })),
        "FaultFs takes a real flock"
    );
    drop(guard);
    let _again = fs.lock(&path).unwrap();
}

#[test]
fn restart_releases_locks_of_the_crashed_generation() {
    let (_dir, fs, root) = setup();
    let path = root.join("LOCK");
    let stale = fs.lock(&path).unwrap();
    fs.sync_dir(&root).unwrap();
    fs.restart(CrashMode::DropUnsynced);
    let fresh = fs.lock(&path).unwrap();
    // Dropping the crashed generation's guard must not release the new lock.
    drop(stale);
    assert!(matches!(fs.lock(&path), Err(Error::Locked { .. })));
    drop(fresh);
    let _again = fs.lock(&path).unwrap();
}

#[test]
fn clones_share_state() {
    let (_dir, fs, root) = setup();
    let other = fs.clone();
    let mut file = fs.create(&root.join("a")).unwrap();
    other.power_cut();
    assert_eq!(os_error(file.append(b"x")), libc::EIO);
    assert!(fs.is_powered_off());
}

#[test]
fn a_generation_bound_view_stops_working_after_restart() {
    let (_dir, fs, root) = setup();
    let old_db_view = fs.this_generation();
    durable_file(&old_db_view, &root.join("a"), b"x");
    fs.restart(CrashMode::DropUnsynced);

    // A crashed Db still holding its view can no longer touch the files...
    assert_eq!(os_error(old_db_view.create(&root.join("b"))), libc::EIO);
    assert_eq!(
        os_error(old_db_view.remove_file(&root.join("a"))),
        libc::EIO
    );
    assert_eq!(os_error(old_db_view.read(&root.join("a"))), libc::EIO);
    assert_eq!(os_error(old_db_view.lock(&root.join("LOCK"))), libc::EIO);
    assert!(!fs.exists(&root.join("b")));
    // ...while a view for the new generation, and the unbound FaultFs, work.
    let new_db_view = fs.this_generation();
    assert_eq!(new_db_view.read(&root.join("a")).unwrap(), b"x");
    assert_eq!(fs.read(&root.join("a")).unwrap(), b"x");
}
