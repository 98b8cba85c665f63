//! Service-account JWT authorization: what is accepted, everything that is refused, and key
//! changes through a configuration reload.

mod common;
mod voximplant_support;

use reqwest::StatusCode;
use serde_json::json;
use voximplant_support::*;

const APP: &str = "1"; // APP_A1

/// A SetKeyValueItem with an arbitrary Authorization header value (None: no header).
async fn set_with(vox: &Vox, authorization: Option<&str>) -> Answer {
    let mut req = vox
        .http
        .post(vox.srv.url("/platform_api/SetKeyValueItem"))
        .form(&[("key", "k"), ("value", "v"), ("application_id", APP)]);
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn accepted_tokens() {
    let vox = Vox::start().await;
    let t = now();
    // The Python SDK's shape (iss as a string), a numeric iss, the full hour, and a lower-case
    // scheme.
    let tokens = [
        token_a(),
        mint(
            key_a(),
            KID_A,
            &json!({"iss": ACCOUNT_A, "iat": t, "exp": t + 60}),
        ),
        mint(
            key_a(),
            KID_A,
            &json!({"iss": "1001", "iat": t, "exp": t + 3600}),
        ),
    ];
    for token in &tokens {
        let answer = set_with(&vox, Some(&format!("Bearer {token}"))).await;
        assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    }
    let answer = set_with(&vox, Some(&format!("bearer {}", tokens[0]))).await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    vox.stop().await;
}

#[tokio::test]
async fn refused_tokens_are_401_code_100_and_store_nothing() {
    let vox = Vox::start().await;
    let t = now();
    let good_claims = json!({"iss": "1001", "iat": t - 5, "exp": t + 60});
    let genuine = mint(key_a(), KID_A, &good_claims);
    let payload = genuine.split('.').nth(1).unwrap().to_owned();
    let signature = genuine.split('.').nth(2).unwrap().to_owned();

    // base64url of {"alg":"none","typ":"JWT","kid":"key-a"}
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoia2V5LWEifQ";
    let hs256_with_public_key = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(KID_A.into());
        jsonwebtoken::encode(
            &header,
            &good_claims,
            &jsonwebtoken::EncodingKey::from_secret(key_a().public_pem.as_bytes()),
        )
        .unwrap()
    };
    let no_kid = {
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(
            &header,
            &good_claims,
            &jsonwebtoken::EncodingKey::from_rsa_pem(key_a().private_pem.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("empty bearer", Some("Bearer ".into())),
        ("basic scheme", Some(format!("Basic {genuine}"))),
        ("token without scheme", Some(genuine.clone())),
        ("malformed", Some("Bearer not-a-jwt".into())),
        (
            "alg none, no signature",
            Some(format!("Bearer {none_header}.{payload}.")),
        ),
        (
            "alg none, borrowed signature",
            Some(format!("Bearer {none_header}.{payload}.{signature}")),
        ),
        (
            "HS256 keyed with the public key",
            Some(format!("Bearer {hs256_with_public_key}")),
        ),
        ("no kid", Some(format!("Bearer {no_kid}"))),
        (
            "tampered payload",
            Some(format!(
                "Bearer {}.{}.{signature}",
                genuine.split('.').next().unwrap(),
                mint(
                    key_a(),
                    KID_A,
                    &json!({"iss": "2002", "iat": t, "exp": t + 60})
                )
                .split('.')
                .nth(1)
                .unwrap()
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                mint(
                    key_a(),
                    KID_A,
                    &json!({"iss": "1001", "iat": t - 600, "exp": t - 300})
                )
            )),
        ),
        (
            "signed with a key nobody configured",
            Some(format!("Bearer {}", mint(rogue_key(), KID_A, &good_claims))),
        ),
        (
            "signed with account B's key under account A's kid",
            Some(format!("Bearer {}", mint(key_b(), KID_A, &good_claims))),
        ),
        (
            "unknown kid",
            Some(format!("Bearer {}", mint(key_a(), "key-zzz", &good_claims))),
        ),
        (
            "lifetime over one hour",
            Some(format!(
                "Bearer {}",
                mint(
                    key_a(),
                    KID_A,
                    &json!({"iss": "1001", "iat": t, "exp": t + 3601})
                )
            )),
        ),
        (
            "iss of another account",
            Some(format!(
                "Bearer {}",
                mint(
                    key_a(),
                    KID_A,
                    &json!({"iss": "2002", "iat": t, "exp": t + 60})
                )
            )),
        ),
        (
            "iss of an unknown account",
            Some(format!(
                "Bearer {}",
                mint(
                    key_a(),
                    KID_A,
                    &json!({"iss": 9999, "iat": t, "exp": t + 60})
                )
            )),
        ),
        (
            "no iss",
            Some(format!(
                "Bearer {}",
                mint(key_a(), KID_A, &json!({"iat": t, "exp": t + 60}))
            )),
        ),
        (
            "no iat",
            Some(format!(
                "Bearer {}",
                mint(key_a(), KID_A, &json!({"iss": "1001", "exp": t + 60}))
            )),
        ),
        (
            "iat in the future",
            Some(format!(
                "Bearer {}",
                mint(
                    key_a(),
                    KID_A,
                    &json!({"iss": "1001", "iat": t + 600, "exp": t + 900})
                )
            )),
        ),
    ];
    for (name, authorization) in cases {
        let answer = set_with(&vox, authorization.as_deref()).await;
        assert_eq!(answer.0, StatusCode::UNAUTHORIZED, "{name}: {}", answer.1);
        assert_eq!(answer.1["error"]["code"], 100, "{name}: {}", answer.1);
        assert!(answer.1["error"]["msg"].is_string(), "{name}");
    }
    // None of them stored anything.
    assert_error(&vox.get_a1("k").await, 404, 902);
    vox.stop().await;
}

#[tokio::test]
async fn a_config_reload_changes_the_accepted_keys() {
    let vox = Vox::start().await;
    let old_token = token_a();
    let new_token = sdk_token(rogue_key(), KID_A, ACCOUNT_A);
    assert_eq!(vox.get_a1("k").await.0, StatusCode::NOT_FOUND);

    // SIGHUP does this: the same account and key id, a new public key.
    let mut config = (*vox.srv.config()).clone();
    config.voximplant.accounts[0].keys[0].public_key = Some(rogue_key().public_pem.clone());
    vox.srv.state().set_config(config);

    let refused = vox
        .call(
            &old_token,
            "GetKeyValueItem",
            &[("key", "k"), ("application_id", APP)],
        )
        .await;
    assert_error(&refused, 401, 100);
    let accepted = vox
        .call(
            &new_token,
            "GetKeyValueItem",
            &[("key", "k"), ("application_id", APP)],
        )
        .await;
    assert_error(&accepted, 404, 902);

    // Removing the account locks its tokens out.
    let mut config = (*vox.srv.config()).clone();
    config.voximplant.accounts.remove(0);
    vox.srv.state().set_config(config);
    let refused = vox
        .call(
            &new_token,
            "GetKeyValueItem",
            &[("key", "k"), ("application_id", APP)],
        )
        .await;
    assert_error(&refused, 401, 100);
    vox.stop().await;
}
