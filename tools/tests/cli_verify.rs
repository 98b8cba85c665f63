//! `strata verify` passes a good data directory, fails (exit 1) on a damaged table, a
//! mid-WAL flip or a missing table, accepts a torn WAL tail, and never modifies anything.

mod cli_common;

use cli_common::*;

#[test]
fn verify_passes_a_good_directory_and_modifies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    make_data_dir(dir.path());
    let before = tree(dir.path());

    let out = strata(&[&"verify", &dir.path()]);
    assert_status(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("tables: 2 verified, 251 records"), "{text}");
    assert!(text.contains("wal: 1 segments, 2 records"), "{text}");
    assert!(text.contains("result: OK"), "{text}");

    let out = strata(&[&"verify", &"--json", &dir.path()]);
    assert_status(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["tables_checked"], 2);
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    assert_eq!(tree(dir.path()), before, "verify wrote something");
}

#[test]
fn verify_fails_on_a_corrupted_table() {
    let dir = tempfile::tempdir().unwrap();
    make_data_dir(dir.path());
    let table = files(&dir.path().join("tables")).remove(0);
    // Inside the first data block: only a full read (every CRC) finds it.
    flip_bit(&table, 40);

    let out = strata(&[&"verify", &dir.path()]);
    assert_status(&out, 1);
    let text = stdout(&out);
    let name = table.file_name().unwrap().to_str().unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("DAMAGE:") && l.contains(name) && l.contains("checksum")),
        "{text}"
    );
    assert!(text.contains("result: DAMAGED (1 problems)"), "{text}");
}

#[test]
fn verify_fails_on_a_flip_in_the_middle_of_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    make_data_dir(dir.path());
    let segment = only_file(&dir.path().join("wal"));
    flip_bit(&segment, 16 + 8 + 20);
    let before = tree(dir.path());

    let out = strata(&[&"verify", &dir.path()]);
    assert_status(&out, 1);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("DAMAGE:") && l.contains("offset 16")),
        "{text}"
    );
    assert_eq!(tree(dir.path()), before, "verify wrote something");
}

#[test]
fn verify_fails_on_a_missing_table() {
    let dir = tempfile::tempdir().unwrap();
    make_data_dir(dir.path());
    let table = files(&dir.path().join("tables")).remove(0);
    std::fs::remove_file(&table).unwrap();

    let out = strata(&[&"verify", &dir.path()]);
    assert_status(&out, 1);
    assert!(
        stdout(&out).contains("named by the manifest but missing"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_accepts_a_torn_wal_tail_and_leaves_it_in_place() {
    let dir = tempfile::tempdir().unwrap();
    make_data_dir(dir.path());
    let segment = only_file(&dir.path().join("wal"));
    let torn_len = std::fs::metadata(&segment).unwrap().len() - 3;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(torn_len).unwrap();

    let out = strata(&[&"verify", &dir.path()]);
    assert_status(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("note:") && text.contains("torn tail"),
        "{text}"
    );
    assert!(text.contains("wal: 1 segments, 1 records"), "{text}");
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), torn_len);
}

#[test]
fn verify_of_a_directory_that_is_not_a_database_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(&[&"verify", &dir.path()]);
    assert_status(&out, 1);
    assert!(stdout(&out).contains("CURRENT"), "{}", stdout(&out));
    let out = strata(&[&"verify", &dir.path().join("nope")]);
    assert_status(&out, 3);
}
