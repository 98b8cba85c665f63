//! The crash test's view of `stratad`'s HTTP API: the credentials it configures for every
//! dialect, the config file, token acquisition, and one request helper that sorts answers into
//! acknowledged / refused / unknown.

use std::time::Duration;

use anyhow::{bail, Context};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::distributions::{Alphanumeric, DistString};
use reqwest::{RequestBuilder, StatusCode};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{json, Value as Json};

/// Per-request time limit. A live server answers in milliseconds; a killed one fails at once.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Lifetime of the Voximplant JWTs we mint (the server accepts at most 3600 s).
const JWT_LIFETIME_SECS: u64 = 1800;
/// Lifetime of key-values access tokens, in seconds: longer than any run, so an acknowledged
/// login token that stops working was lost, not expired.
const KEYVALUES_TOKEN_TTL_SECS: u64 = 7 * 24 * 3600;
/// Budget of the app-keys store: large enough that reserved limits never exhaust it.
const APP_KEYS_RATE_LIMIT: u64 = 1_000_000;
/// Memtable size: small, so flushes (and compactions) happen within a few cycles and crashes
/// hit them too.
const MEMTABLE_MIB: u64 = 1;
/// TTL sweep period, so sweeps run during traffic.
const SWEEP_INTERVAL_SECS: u64 = 1;

pub const KEYSTORE_TOKEN: &str = "crashtest-keystore-token";
pub const KEYSTORE_USER_ID: &str = "c0ffee00c0ffee00c0ffee00";
const KEYSTORE_WORKSPACE: &str = "crashtest";
pub const KEYVALUES_API_KEY: &str = "crashtest";
const KEYVALUES_USER: &str = "crashtest";
const APP_KEYS_STORE: &str = "crashtest";
const APP_KEYS_CLIENT_ID: &str = "crashtest-admin";
const VOX_ACCOUNT_ID: u64 = 4242;
const VOX_KEY_ID: &str = "crashtest-key";
pub const VOX_APPLICATION_ID: u64 = 1;
const VOX_APPLICATION_NAME: &str = "crashtest.acc.voximplant.com";
/// Name of the Voximplant public key file, next to the config.
pub const VOX_PUBLIC_KEY_FILE: &str = "vox-crashtest.pub.pem";
const RSA_BITS: usize = 2048;
const SECRET_CHARS: usize = 32;

/// Credentials the test configures (secrets are random per run).
pub struct Credentials {
    keyvalues_password: String,
    app_keys_secret: String,
    vox_private_pem: String,
    /// SPKI PEM of the Voximplant key, for the config.
    pub vox_public_pem: String,
}

impl Credentials {
    pub fn generate() -> anyhow::Result<Credentials> {
        let mut rng = rand::thread_rng();
        let private = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS).context("RSA key")?;
        Ok(Credentials {
            keyvalues_password: Alphanumeric.sample_string(&mut rng, SECRET_CHARS),
            app_keys_secret: Alphanumeric.sample_string(&mut rng, SECRET_CHARS),
            vox_private_pem: private.to_pkcs8_pem(LineEnding::LF)?.to_string(),
            vox_public_pem: private.to_public_key().to_public_key_pem(LineEnding::LF)?,
        })
    }

    /// The config file: every dialect's credentials, small memtables, `sync = "always"`.
    /// The listen address and data directory come from the command line.
    pub fn config_toml(&self) -> String {
        format!(
            r#"# Written by `strata crashtest`.
[storage]
sync = "always"
memtable_mib = {MEMTABLE_MIB}
sweep_interval_secs = {SWEEP_INTERVAL_SECS}

[[keystore.users]]
token = "{KEYSTORE_TOKEN}"
user_id = "{KEYSTORE_USER_ID}"
workspace = "{KEYSTORE_WORKSPACE}"

[keyvalues]
token_ttl_secs = {KEYVALUES_TOKEN_TTL_SECS}
[[keyvalues.apps]]
api_key = "{KEYVALUES_API_KEY}"
[[keyvalues.apps.users]]
username = "{KEYVALUES_USER}"
password = "{kv_password}"

[[app_keys.stores]]
store_id = "{APP_KEYS_STORE}"
rate_limit = {APP_KEYS_RATE_LIMIT}
client_id = "{APP_KEYS_CLIENT_ID}"
client_secret = "{ak_secret}"

[[voximplant.accounts]]
account_id = {VOX_ACCOUNT_ID}
[[voximplant.accounts.keys]]
key_id = "{VOX_KEY_ID}"
public_key_file = "{VOX_PUBLIC_KEY_FILE}"
[[voximplant.accounts.applications]]
application_id = {VOX_APPLICATION_ID}
application_name = "{VOX_APPLICATION_NAME}"
"#,
            kv_password = self.keyvalues_password,
            ak_secret = self.app_keys_secret,
        )
    }

    /// A Voximplant service-account JWT, as the official SDKs mint them (`iss` a string).
    pub fn vox_jwt(&self) -> anyhow::Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(VOX_KEY_ID.to_owned());
        let claims = json!({"iss": VOX_ACCOUNT_ID.to_string(), "iat": now - 5, "exp": now + JWT_LIFETIME_SECS});
        let key = EncodingKey::from_rsa_pem(self.vox_private_pem.as_bytes())?;
        Ok(jsonwebtoken::encode(&header, &claims, &key)?)
    }

    /// `POST /{apiKey}/login`: a key-values access token (itself a durable write).
    pub fn keyvalues_login(&self, http: &reqwest::Client, base: &str) -> RequestBuilder {
        http.post(format!("{base}/{KEYVALUES_API_KEY}/login"))
            .form(&[
                ("grant_type", "password"),
                ("username", KEYVALUES_USER),
                ("password", &self.keyvalues_password),
            ])
    }

    /// `POST /oauth/access_token` with the store's admin client (the token is a durable write).
    pub fn app_keys_token(&self, http: &reqwest::Client, base: &str) -> RequestBuilder {
        http.post(format!("{base}/oauth/access_token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP_KEYS_CLIENT_ID),
            ("client_secret", &self.app_keys_secret),
        ])
    }
}

/// An HTTP client for one daemon instance (a fresh pool per start: a killed server's
/// connections are dead).
pub fn http_client(pool_size: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(pool_size)
        .build()?)
}

/// The bearer tokens of one cycle.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub keyvalues: String,
    pub app_keys: String,
    pub vox: String,
}

/// How a write request ended.
#[derive(Debug)]
pub enum Reply {
    /// 2xx: durable. The body, parsed (`Null` if empty).
    Acked(Json),
    /// An expected refusal (e.g. 409 on insert of an existing key): nothing changed.
    Refused,
    /// No answer (connection reset by the kill, timeout): may or may not have happened.
    NoAnswer(String),
    /// An answer the test does not expect (a 5xx, a 400, an unparsable 2xx body). A 5xx may
    /// or may not have changed anything; a 4xx changed nothing.
    Unexpected { status: StatusCode, body: String },
}

/// Sends a write. `refusals`: the 4xx statuses this request may legitimately get.
pub async fn send(request: RequestBuilder, refusals: &[StatusCode]) -> Reply {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return Reply::NoAnswer(format!("{e:#}")),
    };
    let status = response.status();
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return Reply::NoAnswer(format!("reading the body: {e:#}")),
    };
    if status.is_success() {
        if body.is_empty() {
            return Reply::Acked(Json::Null);
        }
        return match serde_json::from_slice(&body) {
            Ok(json) => Reply::Acked(json),
            Err(e) => Reply::Unexpected {
                status,
                body: format!("unparsable body ({e}): {}", String::from_utf8_lossy(&body)),
            },
        };
    }
    if refusals.contains(&status) {
        return Reply::Refused;
    }
    Reply::Unexpected {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Sends a read (or a verification-time write); any failure is an error: the server is up
/// and nothing races with it. Returns (status, parsed body or `Null`).
pub async fn fetch(request: RequestBuilder) -> anyhow::Result<(StatusCode, Json)> {
    let response = request.send().await.context("request failed")?;
    let status = response.status();
    let body = response.bytes().await.context("reading the body")?;
    if status.is_server_error() {
        bail!("{status}: {}", String::from_utf8_lossy(&body));
    }
    let json = if body.is_empty() {
        Json::Null
    } else {
        serde_json::from_slice(&body).with_context(|| {
            format!(
                "{status}: unparsable body {}",
                String::from_utf8_lossy(&body)
            )
        })?
    };
    Ok((status, json))
}

/// Obtains a token with `request`, reading `field` of a 2xx answer.
pub async fn obtain_token(request: RequestBuilder, field: &str) -> anyhow::Result<String> {
    let (status, body) = fetch(request).await?;
    if !status.is_success() {
        bail!("token request: {status} {body}");
    }
    body[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("token answer without {field}: {body}"))
}
