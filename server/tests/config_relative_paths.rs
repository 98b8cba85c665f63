//! Relative paths in the config file resolve against the file's directory, not the working
//! directory.

use std::path::Path;

use strata_server::config::{self, Overrides};

#[test]
fn data_dir_tls_and_key_files_resolve_against_the_config_dir() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    let path = etc.join("strata.toml");
    std::fs::write(
        &path,
        r#"
data_dir = "../var/strata"
[tls]
cert = "tls/cert.pem"
key = "/abs/key.pem"
[[voximplant.accounts]]
account_id = 1
[[voximplant.accounts.keys]]
key_id = "k"
public_key_file = "keys/k.pem"
"#,
    )
    .unwrap();
    let file = config::load_file(&path).unwrap();
    assert_eq!(file.dir, etc);
    let cwd = Path::new("/somewhere/else");
    let s = config::resolve(
        &Overrides::default(),
        &Overrides::default(),
        Some(file),
        cwd,
    )
    .unwrap();

    assert_eq!(s.data_dir, etc.join("../var/strata"));
    assert_eq!(s.config_dir, etc);
    let tls = s.config.tls.as_ref().unwrap();
    assert_eq!(tls.cert, etc.join("tls/cert.pem"));
    assert_eq!(tls.key, Path::new("/abs/key.pem"));
    let key = &s.config.voximplant.accounts[0].keys[0];
    assert_eq!(
        key.public_key_file.as_deref(),
        Some(etc.join("keys/k.pem").as_path())
    );
}

#[test]
fn a_relative_config_path_is_taken_from_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), "data_dir = \"d\"\n").unwrap();
    let cli = Overrides {
        config: Some("s.toml".into()),
        ..Overrides::default()
    };
    let path = config::config_path(&cli, &Overrides::default(), dir.path()).unwrap();
    let file = config::load_file(&path).unwrap();
    let s = config::resolve(&cli, &Overrides::default(), Some(file), Path::new("/x")).unwrap();
    assert_eq!(s.data_dir, dir.path().join("d"));
}
