//! `strata inspect wal|table|manifest` decodes each file kind, as text and as JSON, and
//! tells a torn WAL tail from damage.

mod cli_common;

use cli_common::*;
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(out)).expect("one JSON document")
}

#[test]
fn inspect_wal_lists_records_with_offsets_seqnos_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    make_data_dir(dir.path());
    let segment = only_file(&dir.path().join("wal"));

    let out = strata(&[&"inspect", &"wal", &segment]);
    assert_status(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("magic \"STRAWAL1\", version 1, ok"), "{text}");
    assert!(text.contains("records: 2"), "{text}");
    assert!(text.contains("@16 len"), "{text}");
    assert!(text.contains("ops 3"), "{text}");
    assert!(text.contains("put \"wal:a\""), "{text}");
    assert!(text.contains("delete \"user:0007\""), "{text}");
    assert!(text.contains("…(+36 bytes)"), "long keys are cut: {text}");
    assert!(text.contains("end: clean"), "{text}");

    let out = strata(&[&"inspect", &"wal", &"--json", &segment]);
    assert_status(&out, 0);
    let v = json(&out);
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["offset"], 16);
    assert_eq!(records[0]["ops"].as_array().unwrap().len(), 3);
    assert_eq!(
        records[0]["last_seqno"].as_u64().unwrap(),
        records[0]["first_seqno"].as_u64().unwrap() + 2
    );
    assert_eq!(records[0]["ops"][2]["kind"], "delete");
    assert_eq!(
        records[0]["ops"][1]["key"],
        "L".repeat(100),
        "JSON keys are exact"
    );
    assert_eq!(records[1]["ops"][0]["key"], "caf\u{e9}");
    assert_eq!(v["header"]["ok"], true);
    assert_eq!(v["damage"], Value::Null);
    let len = std::fs::metadata(&segment).unwrap().len();
    let second = &records[1];
    assert_eq!(
        second["offset"].as_u64().unwrap() + 8 + second["payload_bytes"].as_u64().unwrap(),
        len,
        "records tile the segment"
    );
}

#[test]
fn inspect_wal_reports_a_torn_tail_and_damage() {
    let dir = tempfile::tempdir().unwrap();
    make_data_dir(dir.path());
    let segment = only_file(&dir.path().join("wal"));
    let len = std::fs::metadata(&segment).unwrap().len();

    // Cut into the last record: a torn tail, still exit 0.
    let torn = dir.path().join("torn.wal");
    std::fs::copy(&segment, &torn).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&torn).unwrap();
    file.set_len(len - 3).unwrap();
    let out = strata(&[&"inspect", &"wal", &"--json", &torn]);
    assert_status(&out, 0);
    let v = json(&out);
    assert_eq!(v["records"].as_array().unwrap().len(), 1);
    assert_eq!(v["damage"]["torn_tail"], true);
    // The torn record starts right after the first one.
    let first = &v["records"][0];
    let second_at =
        first["offset"].as_u64().unwrap() + 8 + first["payload_bytes"].as_u64().unwrap();
    assert_eq!(v["damage"]["offset"], second_at);
    let text = stdout(&strata(&[&"inspect", &"wal", &torn]));
    assert!(text.contains("end: torn tail at offset"), "{text}");

    // A flipped bit in the first record, with a valid one after it: damage, exit 1.
    let flipped = dir.path().join("flipped.wal");
    std::fs::copy(&segment, &flipped).unwrap();
    flip_bit(&flipped, 16 + 8 + 20);
    let out = strata(&[&"inspect", &"wal", &flipped]);
    assert_status(&out, 1);
    assert!(
        stdout(&out).contains("DAMAGE at offset 16"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn inspect_table_shows_meta_layout_and_records() {
    let dir = tempfile::tempdir().unwrap();
    make_data_dir(dir.path());
    // The second flush: 50 overwrites with an expiry, and the binary key.
    let table = files(&dir.path().join("tables")).pop().unwrap();

    let out = strata(&[&"inspect", &"table", &table]);
    assert_status(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(r#"keys: "\x00\xffbinary\x80" .. "user:0049""#),
        "{text}"
    );
    assert!(
        text.contains("entries: 51 (0 tombstones, 50 expiring)"),
        "{text}"
    );
    assert!(
        text.contains("expiry: 4102444800 (2100-01-01T00:00:00Z)"),
        "{text}"
    );
    assert!(text.contains("format version 1"), "{text}");
    assert!(text.contains("probes"), "{text}");
    assert!(!text.contains("records:"), "records only with --records");

    let out = strata(&[&"inspect", &"table", &"--records", &"--json", &table]);
    assert_status(&out, 0);
    let v = json(&out);
    assert_eq!(v["meta"]["entries"], 51);
    assert_eq!(v["meta"]["expiring_entries"], 50);
    assert_eq!(v["meta"]["min_expires_at"], FAR_FUTURE);
    assert_eq!(v["meta"]["smallest_key"]["key_b64"], "AP9iaW5hcnmA");
    assert!(v["data_blocks"].as_u64().unwrap() >= 1);
    assert_eq!(v["bloom_probes"], 7);
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 51);
    assert_eq!(records[1]["key"], "user:0000");
    assert_eq!(records[1]["expires_at"], FAR_FUTURE);
    assert_eq!(records[1]["value_bytes"], 6);
    let file_bytes = std::fs::metadata(&table).unwrap().len();
    assert_eq!(v["file_bytes"], file_bytes);
    assert_eq!(
        v["footer"]["offset"].as_u64().unwrap() + v["footer"]["size"].as_u64().unwrap(),
        file_bytes
    );

    // A table with a damaged footer does not open: exit 1.
    let bad = dir.path().join("bad.sst");
    std::fs::copy(&table, &bad).unwrap();
    flip_bit(&bad, file_bytes as usize - 10);
    let out = strata(&[&"inspect", &"table", &bad]);
    assert_status(&out, 1);
    assert!(stdout(&out).contains("DAMAGE"), "{}", stdout(&out));
}

#[test]
fn inspect_manifest_shows_edits_and_the_live_version() {
    let dir = tempfile::tempdir().unwrap();
    make_data_dir(dir.path());

    // A data directory resolves through CURRENT.
    let out = strata(&[&"inspect", &"manifest", &dir.path()]);
    assert_status(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("edit @0 (snapshot)"), "{text}");
    assert!(text.contains("+ table 1 L0"), "{text}");
    assert!(text.contains("+ table 2 L0"), "{text}");
    assert!(text.contains("live version:"), "{text}");

    let manifest = dir.path().join("MANIFEST-000001");
    let out = strata(&[&"inspect", &"manifest", &"--json", &manifest]);
    assert_status(&out, 0);
    let v = json(&out);
    let edits = v["edits"].as_array().unwrap();
    assert!(edits[0]["snapshot"].as_bool().unwrap());
    assert_eq!(edits.len(), 3, "snapshot and two flushes");
    assert_eq!(edits[1]["added"][0]["id"], 1);
    assert_eq!(edits[1]["added"][0]["entries"], 200);
    let live = &v["live"];
    assert_eq!(live["tables"].as_array().unwrap().len(), 2);
    assert_eq!(live["log_number"], edits[2]["log_number"]);
    assert_eq!(v["torn"], Value::Null);
}
