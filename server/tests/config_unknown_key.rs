//! An unknown key in the config file is an error that names the key.

use strata_server::config;

#[test]
fn an_unknown_top_level_key_is_named() {
    let err = config::parse("listen = \"127.0.0.1:7700\"\nlisten_addr = \"x\"\n").unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("listen_addr"), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");
}

#[test]
fn an_unknown_nested_key_is_named() {
    let err = config::parse("[storage]\nsync = \"always\"\nsinc_interval_ms = 5\n").unwrap_err();
    assert!(format!("{err:#}").contains("sinc_interval_ms"), "{err:#}");

    let err = config::parse("[[keystore.users]]\ntoken = \"t\"\nuser_id = \"u\"\nrole = \"x\"\n")
        .unwrap_err();
    assert!(format!("{err:#}").contains("role"), "{err:#}");
}

#[test]
fn an_unknown_section_is_named() {
    let err = config::parse("[storag]\nsync = \"always\"\n").unwrap_err();
    assert!(format!("{err:#}").contains("storag"), "{err:#}");
}

#[test]
fn load_file_names_the_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strata.toml");
    std::fs::write(&path, "bogus = 1\n").unwrap();
    let msg = format!("{:#}", config::load_file(&path).unwrap_err());
    assert!(msg.contains("bogus"), "{msg}");
    assert!(msg.contains("strata.toml"), "{msg}");
}

#[test]
fn the_contract_example_parses() {
    let config = config::parse(CONTRACT_EXAMPLE).expect("the documented example is valid");
    assert_eq!(config.keystore.users.len(), 1);
    assert_eq!(config.keyvalues.apps[0].users[0].username, "alice");
    assert_eq!(config.app_keys.stores[0].rate_limit, 100);
    assert_eq!(config.voximplant.accounts[0].keys[0].key_id, "key-1");
}

const CONTRACT_EXAMPLE: &str = r#"
listen = "127.0.0.1:7700"
data_dir = "strata-data"

[storage]
sync = "always"
sync_interval_ms = 100

[[keystore.users]]
token = "ks-token-1"
user_id = "65a1f0c2e4b0a1b2c3d4e5f6"
workspace = "default"

[[keyvalues.apps]]
api_key = "demo"
[[keyvalues.apps.users]]
username = "alice"
password = "wonderland"

[[app_keys.stores]]
store_id = "store-1"
rate_limit = 100
client_id = "admin-client"
client_secret = "admin-secret"

[[voximplant.accounts]]
account_id = 1001
[[voximplant.accounts.keys]]
key_id = "key-1"
public_key_file = "vox-key-1.pub.pem"
[[voximplant.accounts.applications]]
application_id = 1
application_name = "demo.acc.voximplant.com"
"#;
