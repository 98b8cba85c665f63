//! `strata backup` then `strata restore` reproduce the database (equal dumps) and the
//! side files; restore refuses a non-empty target without `--force`, and both refuse a
//! directory a running process holds.

mod cli_common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use cli_common::*;
use strata_engine::{Db, Op, WriteBatch};

#[test]
fn backup_then_restore_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    make_data_dir(&data);
    let secret = data.join("credentials.toml");
    std::fs::write(&secret, "token = 'x'\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let expected = dump(&data);

    let backup = dir.path().join("backup");
    let out = strata(&[&"backup", &"--data-dir", &data, &"--out", &backup]);
    assert_status(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("2 tables linked"), "{text}");
    assert!(text.contains("credentials.toml"), "{text}");
    assert!(text.contains("OK"), "verified: {text}");
    assert_eq!(dump(&backup), expected, "a backup is a data directory");
    let mode = std::fs::metadata(backup.join("credentials.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "side files keep their mode");

    let restored = dir.path().join("restored");
    let out = strata(&[&"restore", &"--from", &backup, &"--data-dir", &restored]);
    assert_status(&out, 0);
    assert!(stdout(&out).contains("OK"), "{}", stdout(&out));
    assert_eq!(dump(&restored), expected);
    assert_eq!(
        std::fs::read(restored.join("credentials.toml")).unwrap(),
        b"token = 'x'\n"
    );
    // The backup's tables are links of the live ones; the restored ones are copies.
    let inodes = |root: &std::path::Path| -> Vec<u64> {
        files(&root.join("tables"))
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().ino())
            .collect()
    };
    assert_eq!(inodes(&backup), inodes(&data));
    assert!(inodes(&restored)
        .iter()
        .all(|i| !inodes(&backup).contains(i)));
}

#[test]
fn restore_needs_force_for_a_non_empty_target_and_then_replaces_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    make_data_dir(&data);
    let backup = dir.path().join("backup");
    assert_status(
        &strata(&[&"backup", &"--data-dir", &data, &"--out", &backup]),
        0,
    );

    // A target holding another database and an unrelated file.
    let target = dir.path().join("target");
    let db = Db::open(&target, opts()).unwrap();
    db.write(WriteBatch::from(Op::upsert("other", "db")))
        .unwrap();
    db.flush().unwrap();
    release(db);
    std::fs::write(target.join("notes.txt"), "keep me").unwrap();
    let before = tree(&target);

    let out = strata(&[&"restore", &"--from", &backup, &"--data-dir", &target]);
    assert_status(&out, 3);
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(tree(&target), before, "refused without touching anything");

    let out = strata(&[
        &"restore",
        &"--from",
        &backup,
        &"--data-dir",
        &target,
        &"--force",
    ]);
    assert_status(&out, 0);
    assert_eq!(dump(&target), dump(&data));
    assert_eq!(
        std::fs::read_to_string(target.join("notes.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn backup_and_restore_refuse_a_directory_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    make_data_dir(&data);
    let held = Db::open(&data, opts()).unwrap();
    let backup = dir.path().join("backup");
    let out = strata(&[&"backup", &"--data-dir", &data, &"--out", &backup]);
    assert_status(&out, 3);
    assert!(
        stderr(&out).contains("is stratad running"),
        "{}",
        stderr(&out)
    );
    release(held);

    assert_status(
        &strata(&[&"backup", &"--data-dir", &data, &"--out", &backup]),
        0,
    );
    let out = strata(&[&"backup", &"--data-dir", &data, &"--out", &backup]);
    assert_status(&out, 3);
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));

    let out = strata(&[
        &"restore",
        &"--from",
        &backup,
        &"--data-dir",
        &data,
        &"--force",
    ]);
    assert_status(&out, 0);
    let held = Db::open(&data, opts()).unwrap();
    let out = strata(&[
        &"restore",
        &"--from",
        &backup,
        &"--data-dir",
        &data,
        &"--force",
    ]);
    assert_status(&out, 3);
    assert!(stderr(&out).contains("stop stratad"), "{}", stderr(&out));
    release(held);
}

#[test]
fn restore_verifies_what_it_restored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    make_data_dir(&data);
    let backup = dir.path().join("backup");
    assert_status(
        &strata(&[&"backup", &"--data-dir", &data, &"--out", &backup]),
        0,
    );
    // Damage the backup's own copy of a table (it is a hard link of the live one).
    let table = files(&backup.join("tables")).remove(0);
    let bytes = std::fs::read(&table).unwrap();
    std::fs::remove_file(&table).unwrap();
    std::fs::write(&table, &bytes).unwrap();
    flip_bit(&table, 40);

    let restored = dir.path().join("restored");
    let out = strata(&[&"restore", &"--from", &backup, &"--data-dir", &restored]);
    assert_status(&out, 1);
    assert!(stdout(&out).contains("DAMAGE"), "{}", stdout(&out));
    assert_eq!(dump(&data).lines().count(), 203, "the source is intact");
}
