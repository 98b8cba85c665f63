//! `strata dump` writes every live entry as JSON lines that `strata load` reads back into
//! an identical database (binary keys and expiries included).

mod cli_common;

use std::io::Write;
use std::process::{Command, Stdio};

use cli_common::*;
use strata_engine::Db;

#[test]
fn dump_then_load_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    make_data_dir(&source);

    let dumped = dump(&source);
    let lines: Vec<&str> = dumped.lines().collect();
    // 200 users - 1 deleted + binary + wal:a + long key + café.
    assert_eq!(lines.len(), 203, "{dumped}");
    assert_eq!(
        lines[0],
        r#"{"key_b64":"AP9iaW5hcnmA","value_b64":"3q2+7w==","expires_at":null}"#
    );
    assert!(lines.contains(&r#"{"key":"user:0001","value":"second","expires_at":4102444800}"#));
    assert!(lines.contains(&r#"{"key":"user:0100","value":"first","expires_at":null}"#));
    assert!(lines.contains(&"{\"key\":\"caf\u{e9}\",\"value\":\"na\u{ef}ve\",\"expires_at\":null}"));
    assert!(
        !dumped.contains("user:0007"),
        "deleted entries are not dumped"
    );

    // Through a file...
    let file = dir.path().join("dump.jsonl");
    std::fs::write(&file, &dumped).unwrap();
    let copy = dir.path().join("copy");
    let out = strata(&[&"load", &file, &"--data-dir", &copy, &"--batch-ops", &"7"]);
    assert_status(&out, 0);
    assert!(
        stdout(&out).contains("loaded 203 entries"),
        "{}",
        stdout(&out)
    );
    assert_eq!(dump(&copy), dumped);

    // ...and through standard input.
    let piped = dir.path().join("piped");
    let mut child = spawn(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["load", "-", "--data-dir"])
            .arg(&piped)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dumped.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_status(&out, 0);
    assert_eq!(dump(&piped), dumped);
}

#[test]
fn load_skips_expired_entries_and_reports_bad_lines_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    std::fs::write(
        &file,
        "{\"key\":\"a\",\"value\":\"1\"}\n\n{\"key\":\"old\",\"value\":\"x\",\"expires_at\":1000}\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = strata(&[&"load", &file, &"--data-dir", &data]);
    assert_status(&out, 0);
    assert!(
        stdout(&out).contains("loaded 1 entries") && stdout(&out).contains("1 already expired"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        dump(&data),
        "{\"key\":\"a\",\"value\":\"1\",\"expires_at\":null}\n"
    );

    std::fs::write(&file, "{\"key\":\"b\",\"value\":\"2\"}\n{\"key\":\"c\"}\n").unwrap();
    let out = strata(&[&"load", &file, &"--data-dir", &data]);
    assert_status(&out, 3);
    assert!(
        stderr(&out).contains("line 2") && stderr(&out).contains("neither value"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dump_refuses_a_locked_or_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    make_data_dir(dir.path());
    let held = Db::open(dir.path(), opts()).unwrap();
    let out = strata(&[&"dump", &dir.path()]);
    assert_status(&out, 3);
    assert!(
        stderr(&out).contains("is stratad running"),
        "{}",
        stderr(&out)
    );
    release(held);

    let empty = tempfile::tempdir().unwrap();
    let out = strata(&[&"dump", &empty.path()]);
    assert_status(&out, 3);
    assert!(
        stderr(&out).contains("not a Strata data directory"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::fs::read_dir(empty.path()).unwrap().next().is_none(),
        "nothing created"
    );
}
