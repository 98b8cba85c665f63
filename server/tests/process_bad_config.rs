//! A config file with an unknown key stops `stratad` before it starts, with a non-zero exit
//! and the key named.

mod common;

#[test]
fn an_unknown_key_exits_non_zero_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("strata.toml"),
        "listen = \"127.0.0.1:0\"\n[storage]\nsync = \"always\"\nfsync_everything = true\n",
    )
    .unwrap();
    let (code, stderr) = common::run_daemon_to_exit(&["--config", "strata.toml"], dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("fsync_everything"), "{stderr}");
    assert!(stderr.contains("strata.toml"), "{stderr}");
    // Nothing was created: it failed before touching the data directory.
    assert!(!dir.path().join("strata-data").exists());
}

#[test]
fn a_missing_config_file_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = common::run_daemon_to_exit(&["--config", "absent.toml"], dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("absent.toml"), "{stderr}");
}
