//! End-to-end, in-process fuzzing of the four dialects: each input is a short sequence of
//! HTTP requests, answered by `dialects::X::handle` over a fresh `AppState` whose engine
//! lives in memory ([`MemFs`], `SyncMode::Never`, no background threads, a small memtable so
//! flushes happen too).
//!
//! Input format (text, so seeds are readable and easy to write), requests separated by
//! [`REQUEST_SEPARATOR`]:
//!
//! ```text
//! POST /v1/key-store/?x=1
//! Authorization: Bearer {token}
//! Content-Type: application/json
//!
//! {"key":"abc","data":{}}
//! ```
//!
//! The first line is `METHOD TARGET`; header lines follow until an empty line; the rest is
//! the body. `{name}` in the target, a header value or the body is replaced by a variable:
//! `{token}` is a valid credential of the dialect (obtained the way a client would: the
//! configured key-store token, a key-values login, an application-keys client-credentials
//! token, a freshly signed Voximplant JWT); `{id}`, `{key}`, `{client_id}`,
//! `{client_secret}` and `{access_token}` hold the last such string field of a JSON
//! response, so a sequence can create something and then address it.
//!
//! Requests that hyper could not have delivered (a method, target or header it would refuse)
//! and requests the router would send to another dialect are skipped, as are bodies above
//! the configured limit (the router answers those with 413 before the dialect runs).
//!
//! Oracle: no panic, never a 5xx (the engine runs on a file system that cannot fail, so a
//! 5xx can only be a dialect mishandling input), and a JSON content type has a JSON body.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;
use strata_engine::{Db, Options, SyncMode};
use strata_server::config::Config;
use strata_server::dialects::{app_keys, keystore, keyvalues, voximplant};
use strata_server::http::{Req, Resp};
use strata_server::router::{self, DialectId, Target};
use strata_server::AppState;

use crate::memfs::MemFs;

/// Separates the requests of one input.
pub const REQUEST_SEPARATOR: &[u8] = b"\n~~~\n";
/// Most requests one input runs; later ones are ignored.
pub const REQUESTS_MAX: usize = 8;
/// Most headers one request carries; later ones are ignored.
const HEADERS_MAX: usize = 32;
/// Memtable size of the fuzzed engine, in bytes: small, so that some inputs flush to tables.
const MEMTABLE_BYTES_MAX: usize = 16 * 1024;

/// The key-store user whose token `{token}` stands for.
pub const KEYSTORE_TOKEN: &str = "ks-token-1";
/// The key-values application, user and password `{token}` logs in with.
pub const KEYVALUES_API_KEY: &str = "demo";
const KEYVALUES_USER: &str = "alice";
const KEYVALUES_PASSWORD: &str = "wonderland";
/// The application-keys admin client `{token}` is issued to.
const APP_KEYS_CLIENT_ID: &str = "admin-client";
const APP_KEYS_CLIENT_SECRET: &str = "admin-secret";
/// The Voximplant account and key id `{token}` is signed for.
pub const VOX_ACCOUNT: u64 = 1001;
const VOX_KID: &str = "key-1";
/// Lifetime of the Voximplant JWT the harness signs, in seconds (the server's limit is 1 h).
const VOX_TOKEN_LIFETIME_SECS: u64 = 600;
/// A signed JWT is reused for this long before a fresh one is signed (signing is slow).
const VOX_TOKEN_REUSE: Duration = Duration::from_secs(300);

/// JSON string fields of responses that later requests may refer to as `{field}`.
const CAPTURED_FIELDS: [&str; 5] = ["id", "key", "client_id", "client_secret", "access_token"];

/// The dialects, as the router names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    KeyStore,
    KeyValues,
    AppKeys,
    Voximplant,
}

impl Dialect {
    fn id(self) -> DialectId {
        match self {
            Dialect::KeyStore => DialectId::KeyStore,
            Dialect::KeyValues => DialectId::KeyValues,
            Dialect::AppKeys => DialectId::AppKeys,
            Dialect::Voximplant => DialectId::Voximplant,
        }
    }
}

/// A service-account key pair for the Voximplant account, made once per process.
struct VoxKey {
    private_pem: String,
    public_pem: String,
}

static VOX_KEY: LazyLock<VoxKey> = LazyLock::new(|| {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key");
    VoxKey {
        private_pem: private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PEM")
            .to_string(),
        public_pem: private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM"),
    }
});

/// The configuration every input runs against: credentials for every dialect, plus a second
/// tenant in each so that isolation paths run too.
static CONFIG: LazyLock<Config> = LazyLock::new(|| {
    let toml = format!(
        r#"
[[keystore.users]]
token = "{KEYSTORE_TOKEN}"
user_id = "65a1f0c2e4b0a1b2c3d4e5f6"
workspace = "default"
[[keystore.users]]
token = "ks-token-2"
user_id = "65a1f0c2e4b0a1b2c3d4e5f7"
workspace = "other"

[[keyvalues.apps]]
api_key = "{KEYVALUES_API_KEY}"
[[keyvalues.apps.users]]
username = "{KEYVALUES_USER}"
password = "{KEYVALUES_PASSWORD}"
[[keyvalues.apps]]
api_key = "other"

[[app_keys.stores]]
store_id = "store-1"
rate_limit = 100
client_id = "{APP_KEYS_CLIENT_ID}"
client_secret = "{APP_KEYS_CLIENT_SECRET}"
[[app_keys.stores]]
store_id = "store-2"
client_id = "other-client"
client_secret = "other-secret"

[[voximplant.accounts]]
account_id = {VOX_ACCOUNT}
[[voximplant.accounts.keys]]
key_id = "{VOX_KID}"
public_key = '''
{pem}'''
[[voximplant.accounts.applications]]
application_id = 1
application_name = "demo.acc.voximplant.com"
[[voximplant.accounts.applications]]
application_id = 2
application_name = "second.acc.voximplant.com"
"#,
        pem = VOX_KEY.public_pem,
    );
    strata_server::config::parse(&toml).expect("the fuzz configuration parses")
});

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
});

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A valid Voximplant JWT, re-signed once [`VOX_TOKEN_REUSE`] has passed.
fn vox_token() -> String {
    static CACHE: Mutex<Option<(Instant, String)>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, token)) = cache.as_ref() {
        if at.elapsed() < VOX_TOKEN_REUSE {
            return token.clone();
        }
    }
    let now = unix_now();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(VOX_KID.to_owned());
    let claims = serde_json::json!({
        "iss": VOX_ACCOUNT,
        "iat": now,
        "exp": now + VOX_TOKEN_LIFETIME_SECS,
    });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(VOX_KEY.private_pem.as_bytes())
        .expect("the generated key is valid PEM");
    let token = jsonwebtoken::encode(&header, &claims, &key).expect("signing works");
    *cache = Some((Instant::now(), token.clone()));
    token
}

/// A fresh server state over an empty in-memory engine.
fn fresh_state() -> Arc<AppState> {
    let opts = Options {
        sync: SyncMode::Never,
        memtable_bytes_max: MEMTABLE_BYTES_MAX,
        background: false,
        fs: Arc::new(MemFs::new()),
        ..Options::default()
    };
    let db = Db::open("/data", opts).expect("an empty in-memory engine opens");
    Arc::new(
        AppState::new(
            Arc::new(db),
            CONFIG.clone(),
            PathBuf::from("/config"),
            PathBuf::from("/data"),
        )
        .expect("the commit thread starts"),
    )
}

async fn call(state: &Arc<AppState>, dialect: Dialect, req: Req) -> Resp {
    match dialect {
        Dialect::KeyStore => keystore::handle(state, req).await,
        Dialect::KeyValues => keyvalues::handle(state, req).await,
        Dialect::AppKeys => app_keys::handle(state, req).await,
        Dialect::Voximplant => voximplant::handle(state, req).await,
    }
}

/// Answers `req` and returns the status and body.
async fn answer(
    state: &Arc<AppState>,
    dialect: Dialect,
    req: Req,
) -> (StatusCode, HeaderMap, Bytes) {
    let resp = call(state, dialect, req).await;
    let (parts, body) = resp.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    (parts.status, parts.headers, body)
}

fn form_request(path: &str, form: &str) -> Req {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    Req {
        method: Method::POST,
        path: path.to_owned(),
        query: String::new(),
        headers,
        body: Bytes::from(form.to_owned()),
    }
}

/// `access_token` of a successful token response.
async fn obtain_token(state: &Arc<AppState>, dialect: Dialect, req: Req) -> String {
    let (status, _, body) = answer(state, dialect, req).await;
    assert!(
        status.is_success(),
        "{dialect:?}: obtaining the harness token failed with {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let json: Value = serde_json::from_slice(&body).expect("token response is JSON");
    json["access_token"]
        .as_str()
        .expect("token response has access_token")
        .to_owned()
}

/// The valid credential `{token}` stands for.
async fn dialect_token(state: &Arc<AppState>, dialect: Dialect) -> String {
    match dialect {
        Dialect::KeyStore => KEYSTORE_TOKEN.to_owned(),
        Dialect::KeyValues => {
            let form = format!(
                "grant_type=password&username={KEYVALUES_USER}&password={KEYVALUES_PASSWORD}"
            );
            let req = form_request(&format!("/{KEYVALUES_API_KEY}/login"), &form);
            obtain_token(state, dialect, req).await
        }
        Dialect::AppKeys => {
            let form = format!(
                "grant_type=client_credentials&client_id={APP_KEYS_CLIENT_ID}&client_secret={APP_KEYS_CLIENT_SECRET}"
            );
            obtain_token(state, dialect, form_request("/oauth/access_token", &form)).await
        }
        Dialect::Voximplant => vox_token(),
    }
}

/// `{name}` → value substitutions.
#[derive(Default)]
struct Vars {
    vars: Vec<(String, String)>,
}

impl Vars {
    fn set(&mut self, name: &str, value: String) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name.to_owned(), value)),
        }
    }

    fn apply(&self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for (name, value) in &self.vars {
            let pattern = format!("{{{name}}}");
            out = replace_all(&out, pattern.as_bytes(), value.as_bytes());
        }
        out
    }

    /// Remembers the captured string fields of a JSON response: top level, in `data`, and
    /// in the first element of `data` or `item` (list responses).
    fn capture(&mut self, body: &[u8]) {
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let mut objects = vec![&json];
        for field in ["data", "item", "result"] {
            match &json[field] {
                Value::Object(_) => objects.push(&json[field]),
                Value::Array(items) => objects.extend(items.first()),
                _ => {}
            }
        }
        for object in objects {
            for field in CAPTURED_FIELDS {
                if let Some(s) = object[field].as_str() {
                    self.set(field, s.to_owned());
                }
            }
        }
    }
}

fn replace_all(haystack: &[u8], pattern: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(pattern.len()).position(|w| w == pattern) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + pattern.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Splits an input into its requests' raw text.
pub fn split_requests(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() < REQUESTS_MAX {
        match rest
            .windows(REQUEST_SEPARATOR.len())
            .position(|w| w == REQUEST_SEPARATOR)
        {
            Some(at) => {
                parts.push(&rest[..at]);
                rest = &rest[at + REQUEST_SEPARATOR.len()..];
            }
            None => {
                parts.push(rest);
                break;
            }
        }
    }
    parts
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Parses one request's text (after substitution), as hyper would have delivered it; `None`
/// if hyper would have refused it.
pub fn parse_request(text: &[u8]) -> Option<Req> {
    let (head, body) = match text.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&text[..at], &text[at + 2..]),
        None => (text, &[][..]),
    };
    let mut lines = head.split(|&b| b == b'\n').map(trim_cr);
    let request_line = lines.next()?;
    let mut words = request_line.split(|&b| b == b' ');
    let method = Method::from_bytes(words.next()?).ok()?;
    let target = words.next()?;
    if !target.starts_with(b"/") {
        return None;
    }
    let uri = Uri::try_from(target).ok()?;
    let mut headers = HeaderMap::new();
    for line in lines.take(HEADERS_MAX) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(trim_ascii(&line[..colon])),
            HeaderValue::from_bytes(trim_ascii(&line[colon + 1..])),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    Some(Req {
        method,
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers,
        body: Bytes::copy_from_slice(body),
    })
}

fn describe(req: &Req) -> String {
    format!(
        "{} {}?{} headers={:?} body={:?}",
        req.method,
        req.path,
        req.query,
        req.headers,
        String::from_utf8_lossy(&req.body)
    )
}

/// Runs the requests of `data` against a fresh state of `dialect`; returns the status of
/// every request that ran.
pub fn run(dialect: Dialect, data: &[u8]) -> Vec<StatusCode> {
    let texts = split_requests(data);
    RUNTIME.block_on(async {
        let mut statuses = Vec::new();
        let state = fresh_state();
        let body_bytes_max = state.config().limits.body_bytes_max;
        let mut vars = Vars::default();
        vars.set("token", dialect_token(&state, dialect).await);
        for text in texts {
            let Some(req) = parse_request(&vars.apply(text)) else {
                continue;
            };
            if router::target(&req.path) != Target::Dialect(dialect.id())
                || req.body.len() > body_bytes_max
            {
                continue;
            }
            let described = describe(&req);
            let (status, headers, body) = answer(&state, dialect, req).await;
            assert!(
                !status.is_server_error(),
                "{dialect:?} answered {status} to {described}\nresponse: {}",
                String::from_utf8_lossy(&body)
            );
            let json_type = headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if json_type && !body.is_empty() {
                assert!(
                    serde_json::from_slice::<Value>(&body).is_ok(),
                    "{dialect:?}: a JSON content type with a body that is not JSON, for {described}"
                );
            }
            vars.capture(&body);
            statuses.push(status);
        }
        statuses
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_format() {
        let req = parse_request(
            b"POST /v1/key-store/?a=1 HTTP/1.1\r\nContent-Type: application/json\r\nX-Bad\n\n{\"k\":1}",
        )
        .unwrap();
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.path, "/v1/key-store/");
        assert_eq!(req.query, "a=1");
        assert_eq!(req.headers[CONTENT_TYPE], "application/json");
        assert_eq!(req.headers.len(), 1);
        assert_eq!(&req.body[..], b"{\"k\":1}");
        assert!(parse_request(b"GET http://example.com/").is_none());
        assert!(parse_request(b"G@T /").is_none());
    }

    #[test]
    fn substitutes_and_captures_variables() {
        let mut vars = Vars::default();
        vars.set("token", "T".into());
        vars.capture(br#"{"data":{"id":"abc","client_secret":"s"}}"#);
        assert_eq!(
            vars.apply(b"{token}/{id}/{client_secret}/{nope}"),
            b"T/abc/s/{nope}"
        );
        assert_eq!(split_requests(b"a\n~~~\nb").len(), 2);
    }
}
