//! `Running::reload` (SIGHUP) swaps credentials without a restart; settings that shape the
//! process (listen, limits, ...) keep their running values.

mod common;

use common::TestServer;

const BEFORE: &str = r#"
[limits]
body_bytes_max = 1000

[[keystore.users]]
token = "old-token"
user_id = "65a1f0c2e4b0a1b2c3d4e5f6"
"#;

const AFTER: &str = r#"
[limits]
body_bytes_max = 5

[[keystore.users]]
token = "new-token"
user_id = "65a1f0c2e4b0a1b2c3d4e5f6"
"#;

async fn list_status(srv: &TestServer, token: &str) -> u16 {
    common::client()
        .get(srv.url("/v1/key-store/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn reload_replaces_credentials_and_keeps_process_settings() {
    let srv = TestServer::start(BEFORE).await;
    assert_eq!(list_status(&srv, "old-token").await, 200);
    assert_eq!(list_status(&srv, "new-token").await, 401);

    let new = strata_server::config::parse(AFTER).unwrap();
    srv.running().reload(new).await.unwrap();

    assert_eq!(list_status(&srv, "new-token").await, 200);
    assert_eq!(list_status(&srv, "old-token").await, 401);
    let config = srv.config();
    assert_eq!(config.keystore.users[0].token, "new-token");
    assert_eq!(config.limits.body_bytes_max, 1000, "limits need a restart");
    // Dialects the new config leaves empty keep their generated credentials.
    assert!(!config.voximplant.accounts.is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn an_invalid_reload_is_refused_and_changes_nothing() {
    let srv = TestServer::start(BEFORE).await;
    let mut bad = strata_server::config::parse(AFTER).unwrap();
    bad.storage.sync = "sometimes".into();
    assert!(srv.running().reload(bad).await.is_err());
    assert_eq!(srv.config().keystore.users[0].token, "old-token");
    srv.stop().await;
}
