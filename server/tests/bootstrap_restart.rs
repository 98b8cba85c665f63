//! Generated credentials are generated once: a restart loads them again unchanged, and a
//! dialect the config declares is never overwritten.

mod common;

use common::TestServer;
use strata_server::bootstrap::{CREDENTIALS_FILE, VOXIMPLANT_CREDENTIALS_FILE};

#[tokio::test]
async fn a_restart_reuses_the_generated_credentials() {
    let srv = TestServer::start_default().await;
    let before = srv.config();
    let data = srv.data_dir();
    let creds_text = std::fs::read(data.join(CREDENTIALS_FILE)).unwrap();
    let vox_text = std::fs::read(data.join(VOXIMPLANT_CREDENTIALS_FILE)).unwrap();

    let srv = srv.restart().await;
    let after = srv.config();
    assert_eq!(after.keystore, before.keystore);
    assert_eq!(after.keyvalues, before.keyvalues);
    assert_eq!(after.app_keys, before.app_keys);
    assert_eq!(after.voximplant, before.voximplant);
    // Not rewritten.
    assert_eq!(
        std::fs::read(data.join(CREDENTIALS_FILE)).unwrap(),
        creds_text
    );
    assert_eq!(
        std::fs::read(data.join(VOXIMPLANT_CREDENTIALS_FILE)).unwrap(),
        vox_text
    );
    let vox_keys = std::fs::read_dir(&data)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("vox-")
        })
        .count();
    assert_eq!(vox_keys, 1, "one key pair, generated once");
    srv.stop().await;
}

const DECLARED: &str = r#"
[[keystore.users]]
token = "my-own-token"
user_id = "65a1f0c2e4b0a1b2c3d4e5f6"
"#;

#[tokio::test]
async fn declared_credentials_are_never_replaced() {
    let srv = TestServer::start(DECLARED).await;
    let config = srv.config();
    assert_eq!(config.keystore.users.len(), 1);
    assert_eq!(config.keystore.users[0].token, "my-own-token");
    // The others were generated, the declared one not written.
    let creds = srv.generated_credentials();
    assert!(creds.keystore.is_none());
    assert!(creds.keyvalues.is_some() && creds.app_keys.is_some() && creds.voximplant.is_some());

    let srv = srv.restart().await;
    assert_eq!(srv.config().keystore.users[0].token, "my-own-token");
    srv.stop().await;
}
