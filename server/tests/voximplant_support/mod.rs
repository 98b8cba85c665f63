//! Shared setup of the `voximplant_*` tests: RSA service-account keys, a config with two
//! accounts (two applications in the first), token minting, and request helpers.
#![allow(dead_code)]

use std::sync::LazyLock;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{json, Value};

use crate::common::TestServer;

pub const ACCOUNT_A: u64 = 1001;
pub const KID_A: &str = "key-a";
pub const APP_A1: u64 = 1;
pub const APP_A1_NAME: &str = "demo.acc.voximplant.com";
pub const APP_A2: u64 = 2;
pub const APP_A2_NAME: &str = "second.acc.voximplant.com";
pub const ACCOUNT_B: u64 = 2002;
pub const KID_B: &str = "key-b";
/// Account B's application has the same id as account A's first one, on purpose.
pub const APP_B1: u64 = 1;

pub struct Key {
    pub private_pem: String,
    pub public_pem: String,
}

fn generate() -> Key {
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    Key {
        private_pem: private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        public_pem: private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    }
}

/// Account A's key, account B's key, and a key nobody configured. Generated once per test
/// binary: RSA key generation is slow.
pub fn keys() -> &'static [Key; 3] {
    static KEYS: LazyLock<[Key; 3]> = LazyLock::new(|| [generate(), generate(), generate()]);
    &KEYS
}

pub fn key_a() -> &'static Key {
    &keys()[0]
}
pub fn key_b() -> &'static Key {
    &keys()[1]
}
pub fn rogue_key() -> &'static Key {
    &keys()[2]
}

/// The `[voximplant]` part of the config, keys inline (key files are covered by unit tests).
pub fn voximplant_toml() -> String {
    format!(
        r#"
[[voximplant.accounts]]
account_id = {ACCOUNT_A}
[[voximplant.accounts.keys]]
key_id = "{KID_A}"
public_key = '''
{pem_a}'''
[[voximplant.accounts.applications]]
application_id = {APP_A1}
application_name = "{APP_A1_NAME}"
[[voximplant.accounts.applications]]
application_id = {APP_A2}
application_name = "{APP_A2_NAME}"

[[voximplant.accounts]]
account_id = {ACCOUNT_B}
[[voximplant.accounts.keys]]
key_id = "{KID_B}"
public_key = '''
{pem_b}'''
[[voximplant.accounts.applications]]
application_id = {APP_B1}
application_name = "other.acc.voximplant.com"
"#,
        pem_a = key_a().public_pem,
        pem_b = key_b().public_pem,
    )
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// An RS256 token over `claims` with header `kid`.
pub fn mint(key: &Key, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A token as voximplant-apiclient (Python) mints it: `iss` a string, `iat = now - 5`,
/// `exp = now + 24` (here `+ 300`, so slow test machines do not see it expire).
pub fn sdk_token(key: &Key, kid: &str, account: u64) -> String {
    let t = now();
    mint(
        key,
        kid,
        &json!({"iss": account.to_string(), "iat": t - 5, "exp": t + 300}),
    )
}

pub fn token_a() -> String {
    sdk_token(key_a(), KID_A, ACCOUNT_A)
}
pub fn token_b() -> String {
    sdk_token(key_b(), KID_B, ACCOUNT_B)
}

/// A running server and a client.
pub struct Vox {
    pub srv: TestServer,
    pub http: reqwest::Client,
}

pub type Answer = (StatusCode, Value);

/// Sends `req` and reads the answer, which must be JSON.
async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.bytes().await.unwrap();
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "status {status}, body {:?}",
        String::from_utf8_lossy(&body)
    );
    (status, serde_json::from_slice(&body).unwrap())
}

/// Asserts an error answer: status, Voximplant code, and the `{"error":{"msg","code"}}` shape.
pub fn assert_error(answer: &Answer, status: u16, code: u64) {
    assert_eq!(answer.0.as_u16(), status, "{:?}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{:?}", answer.1);
    assert!(answer.1["error"]["msg"].is_string(), "{:?}", answer.1);
    assert!(answer.1.get("result").is_none(), "{:?}", answer.1);
}

impl Vox {
    pub async fn start() -> Vox {
        Self::start_with("").await
    }

    /// Starts with `extra` TOML appended to the voximplant config.
    pub async fn start_with(extra: &str) -> Vox {
        let config = format!("{}\n{extra}", voximplant_toml());
        Vox {
            srv: TestServer::start(&config).await,
            http: reqwest::Client::new(),
        }
    }

    pub async fn stop(self) {
        self.srv.stop().await;
    }

    /// `POST /platform_api/{method}` with a form body.
    pub async fn call(&self, token: &str, method: &str, params: &[(&str, &str)]) -> Answer {
        answer(
            self.http
                .post(self.srv.url(&format!("/platform_api/{method}")))
                .bearer_auth(token)
                .form(params),
        )
        .await
    }

    /// What the official Python SDK does: `POST /platform_api`, form body with `cmd`.
    pub async fn cmd(&self, token: &str, method: &str, params: &[(&str, &str)]) -> Answer {
        let mut form: Vec<(&str, &str)> = params.to_vec();
        form.push(("cmd", method));
        answer(
            self.http
                .post(self.srv.url("/platform_api"))
                .bearer_auth(token)
                .form(&form),
        )
        .await
    }

    /// `http_method path?params` with no body.
    pub async fn query(
        &self,
        http_method: reqwest::Method,
        path: &str,
        token: &str,
        params: &[(&str, &str)],
    ) -> Answer {
        answer(
            self.http
                .request(http_method, self.srv.url(path))
                .bearer_auth(token)
                .query(params),
        )
        .await
    }

    /// `POST path` with a multipart/form-data body (as the Node SDK sends).
    pub async fn multipart(&self, path: &str, token: &str, params: &[(&str, &str)]) -> Answer {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in params {
            form = form.text(k.to_string(), v.to_string());
        }
        answer(
            self.http
                .post(self.srv.url(path))
                .bearer_auth(token)
                .multipart(form),
        )
        .await
    }

    /// `SetKeyValueItem` in application A1 as account A; asserts success.
    pub async fn set_a1(&self, key: &str, value: &str) -> Value {
        let app = APP_A1.to_string();
        let (status, body) = self
            .call(
                &token_a(),
                "SetKeyValueItem",
                &[("key", key), ("value", value), ("application_id", &app)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// `GetKeyValueItem` in application A1 as account A.
    pub async fn get_a1(&self, key: &str) -> Answer {
        let app = APP_A1.to_string();
        self.call(
            &token_a(),
            "GetKeyValueItem",
            &[("key", key), ("application_id", &app)],
        )
        .await
    }
}
