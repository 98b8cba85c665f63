//! Zero-config first start: credentials for every dialect are generated into the data dir with
//! mode 0600, including a Voximplant service-account file in Voximplant's own format whose
//! private key matches the public key the server verifies with.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::TestServer;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use strata_server::bootstrap::{CREDENTIALS_FILE, VOXIMPLANT_CREDENTIALS_FILE};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn every_dialect_gets_working_credentials_in_private_files() {
    let srv = TestServer::start_default().await;
    let data = srv.data_dir();
    let config = srv.config();

    // The running config carries them.
    let user = &config.keystore.users[0];
    assert!(user.token.len() >= 32);
    assert_eq!(user.user_id.len(), 24);
    assert!(user.user_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(user.workspace, "default");
    let app = &config.keyvalues.apps[0];
    assert!(!app.api_key.is_empty());
    assert_eq!(app.users[0].username, "admin");
    assert!(app.users[0].password.as_ref().unwrap().len() >= 32);
    let store = &config.app_keys.stores[0];
    assert_eq!(store.rate_limit, 100);
    assert!(store.client_id.len() >= 32 && store.client_secret.len() >= 32);
    let account = &config.voximplant.accounts[0];
    assert_eq!(account.applications[0].application_id, 1);
    assert_eq!(
        account.applications[0].application_name,
        format!("app.{}.voximplant.com", account.account_id)
    );
    let key = &account.keys[0];
    let public_key_file = key.public_key_file.clone().expect("a key file");
    assert_eq!(
        public_key_file,
        data.join(format!("vox-{}.pub.pem", key.key_id))
    );

    // All files are private.
    for file in [
        data.join(CREDENTIALS_FILE),
        data.join(VOXIMPLANT_CREDENTIALS_FILE),
        public_key_file.clone(),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }

    // credentials.toml is the config schema and matches what runs.
    let creds = srv.generated_credentials();
    assert_eq!(creds.keystore.unwrap().users, config.keystore.users);
    assert_eq!(creds.app_keys.unwrap().stores, config.app_keys.stores);

    // The service-account file in the format the official SDKs read.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join(VOXIMPLANT_CREDENTIALS_FILE)).unwrap())
            .unwrap();
    assert_eq!(json["account_id"].as_u64(), Some(account.account_id));
    assert_eq!(json["key_id"].as_str(), Some(key.key_id.as_str()));
    assert!(json["account_email"].as_str().unwrap().contains('@'));
    let private_pem = json["private_key"].as_str().unwrap();
    assert!(
        private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{private_pem}"
    );
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(private_pem).expect("a PKCS#8 RSA key");
    assert_eq!(
        rsa::traits::PublicKeyParts::size(&private),
        256,
        "2048 bits"
    );
    let public_pem = std::fs::read_to_string(&public_key_file).unwrap();
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let public = rsa::RsaPublicKey::from_public_key_pem(&public_pem).expect("an SPKI key");
    assert_eq!(public, private.to_public_key());

    srv.stop().await;
}

#[tokio::test]
async fn generated_keystore_credentials_work() {
    let srv = TestServer::start_default().await;
    let token = srv.config().keystore.users[0].token.clone();
    let client = common::client();
    let resp = client
        .get(srv.url("/v1/key-store/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client
        .get(srv.url("/v1/key-store/"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    srv.stop().await;
}
