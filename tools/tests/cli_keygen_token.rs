//! `strata keygen voximplant` writes a credentials.json, a public key and a config stanza
//! that parse; a JWT from `strata token voximplant` verifies with that public key.

mod cli_common;

use std::os::unix::fs::PermissionsExt;

use cli_common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Claims {
    iss: u64,
    iat: u64,
    exp: u64,
}

#[test]
fn keygen_output_parses_and_its_token_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("vox");
    let out = strata(&[
        &"keygen",
        &"voximplant",
        &"--account-id",
        &"1001",
        &"--key-id",
        &"key-1",
        &"--out",
        &out_dir,
    ]);
    assert_status(&out, 0);

    // credentials.json in Voximplant's format, readable by its owner only.
    let credentials = out_dir.join("credentials.json");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&credentials).unwrap()).unwrap();
    assert_eq!(json["account_id"], 1001);
    assert_eq!(json["key_id"], "key-1");
    assert!(json["account_email"].as_str().unwrap().contains('@'));
    assert!(json["private_key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    let mode = std::fs::metadata(&credentials)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Standard output is a TOML stanza for stratad naming the public key file.
    let stanza: toml::Value = toml::from_str(&stdout(&out)).expect("stdout is TOML");
    let account = &stanza["voximplant"]["accounts"][0];
    assert_eq!(account["account_id"].as_integer(), Some(1001));
    assert_eq!(account["keys"][0]["key_id"].as_str(), Some("key-1"));
    assert_eq!(
        account["applications"][0]["application_id"].as_integer(),
        Some(1)
    );
    let public_file = account["keys"][0]["public_key_file"].as_str().unwrap();
    let public_pem = std::fs::read_to_string(public_file).unwrap();
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    for line in public_pem.lines() {
        assert!(stdout(&out).contains(line), "the PEM is printed too");
    }

    let out = strata(&[
        &"token",
        &"voximplant",
        &"--credentials",
        &credentials,
        &"--ttl",
        &"600",
    ]);
    assert_status(&out, 0);
    let token = stdout(&out).trim().to_string();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("key-1"));
    let key = DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<Claims>(&token, &key, &Validation::new(Algorithm::RS256))
        .expect("the token verifies with the generated public key")
        .claims;
    assert_eq!(claims.iss, 1001);
    assert_eq!(claims.exp - claims.iat, 600);
}

#[test]
fn keygen_refuses_to_overwrite_and_token_ttl_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let args: [&dyn AsRef<std::ffi::OsStr>; 4] = [&"keygen", &"voximplant", &"--out", &dir.path()];
    let first = strata(&args);
    assert_status(&first, 0);
    let stanza: toml::Value = toml::from_str(&stdout(&first)).unwrap();
    let account_id = stanza["voximplant"]["accounts"][0]["account_id"]
        .as_integer()
        .unwrap();
    assert!(account_id >= 1_000_000, "random account id {account_id}");
    let credentials = dir.path().join("credentials.json");
    let before = std::fs::read(&credentials).unwrap();

    let again = strata(&args);
    assert_status(&again, 3);
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&credentials).unwrap(), before);

    let forced = strata(&[&"keygen", &"voximplant", &"--out", &dir.path(), &"--force"]);
    assert_status(&forced, 0);
    assert_ne!(std::fs::read(&credentials).unwrap(), before, "a new key");

    let too_long = strata(&[
        &"token",
        &"voximplant",
        &"--credentials",
        &credentials,
        &"--ttl",
        &"3601",
    ]);
    assert_status(&too_long, 2);

    std::fs::write(dir.path().join("bad.json"), "{}").unwrap();
    let bad = strata(&[
        &"token",
        &"voximplant",
        &"--credentials",
        &dir.path().join("bad.json"),
    ]);
    assert_status(&bad, 3);
    assert!(
        stderr(&bad).contains("not a Voximplant credentials.json"),
        "{}",
        stderr(&bad)
    );
}
