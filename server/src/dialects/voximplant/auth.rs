//! Service-account authorization: `Authorization: Bearer <JWT>`, RS256-signed with one of the
//! account's keys.
//!
//! A token is accepted when, all at once:
//! - its header names `alg: RS256` and a `kid` that is one of `[[voximplant.accounts.keys]]`;
//! - its signature verifies with that key's public key (jsonwebtoken; RS256 is the only
//!   algorithm in the validation, so `none` and HS256 — even with the public key as the HMAC
//!   secret — are refused);
//! - its `iss` is the key's account id (a JSON number or a numeric string);
//! - it carries `iat` and `exp`, `exp - iat <= TOKEN_LIFETIME_SECS_MAX`, `exp` has not passed
//!   and `iat` is not in the future (both with `CLOCK_LEEWAY_SECS` of leeway); `nbf`, if
//!   present, has been reached.
//!
//! Public keys are parsed once per configuration into a [`Keyring`]. The keyring cache is
//! keyed by the identity of the `Arc<Config>` the request sees, so a SIGHUP reload (which
//! swaps that `Arc`) takes effect on the next request, and key files are not re-read per
//! request.
//!
//! Each keyring also remembers the tokens it accepted (see [`Keyring::verify`]): RS256
//! verification is by far the most expensive step of a request, and clients send the same
//! token many times.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, RwLock, Weak};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::checked_tokens::{CheckedTokens, Lookup};
use crate::config::{Config, VoximplantConfig, VoximplantKey};

/// Longest accepted token lifetime (`exp - iat`), in seconds.
pub const TOKEN_LIFETIME_SECS_MAX: u64 = 3600;
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const CLOCK_LEEWAY_SECS: u64 = 30;
/// Longest accepted token, in bytes (a 4096-bit RS256 token is under 1 KiB).
pub const TOKEN_BYTES_MAX: usize = 8 * 1024;
/// Most accepted tokens one keyring remembers. At ~1 KiB each (with the longest remembered
/// token) that bounds the memory to about 2 MiB per keyring.
const VERIFIED_TOKENS_MAX: usize = 1024;
/// Longest token remembered, in bytes: RS256 tokens of keys up to 4096 bits fit; longer
/// ones are verified every time rather than pinning their memory.
const VERIFIED_TOKEN_BYTES_MAX: usize = 2048;
/// Configurations whose keyrings are kept (more than one only while requests that started
/// before a reload finish, or when several servers share a process, as in tests).
const KEYRING_CACHE_MAX: usize = 8;

/// Why a token was refused. Every variant is a 401 with Voximplant code 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    TooLong,
    Malformed,
    Algorithm,
    MissingKid,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    IssuedInFuture,
    LifetimeTooLong,
    IssuerMismatch,
}

impl AuthError {
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::Missing => "no Bearer token in the Authorization header",
            AuthError::TooLong => "token is too long",
            AuthError::Malformed => "malformed token",
            AuthError::Algorithm => "token must be signed with RS256",
            AuthError::MissingKid => "token header has no kid",
            AuthError::UnknownKey => "unknown key id",
            AuthError::BadSignature => "signature does not verify",
            AuthError::Expired => "token has expired",
            AuthError::NotYetValid => "token is not valid yet",
            AuthError::IssuedInFuture => "token iat is in the future",
            AuthError::LifetimeTooLong => "token lifetime (exp - iat) is longer than 3600 seconds",
            AuthError::IssuerMismatch => "token iss is not the key's account id",
        }
    }
}

/// The claims Strata reads. Others are ignored.
#[derive(Deserialize)]
struct Claims {
    iss: Issuer,
    iat: u64,
    exp: u64,
}

/// `iss`: the official Python SDK sends the account id as a string, others as a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Issuer {
    Number(u64),
    Text(String),
}

impl Issuer {
    fn account_id(&self) -> Option<u64> {
        match self {
            Issuer::Number(n) => Some(*n),
            Issuer::Text(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            Issuer::Text(_) => None,
        }
    }
}

static VALIDATION: LazyLock<Validation> = LazyLock::new(|| {
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = CLOCK_LEEWAY_SECS;
    v.validate_exp = true;
    v.validate_nbf = true;
    // Voximplant tokens carry no audience; one that does is not refused for it.
    v.validate_aud = false;
    // `iss` and `iat` are checked by `Claims` (jsonwebtoken would treat a numeric `iss` as absent).
    v.set_required_spec_claims(&["exp"]);
    v
});

/// The parsed public keys of one configuration, by key id.
pub struct Keyring {
    by_kid: HashMap<String, Vec<(u64, DecodingKey)>>,
    /// Tokens that passed every check, by their exact text: the account each proved.
    verified: CheckedTokens<u64>,
}

/// What an accepted token proved: its account, and until when (`exp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verified {
    account_id: u64,
    exp: u64,
}

impl Verified {
    /// The first unix second it is refused: jsonwebtoken's rule is expired once
    /// `exp < now - leeway`.
    fn expires_at(self) -> u64 {
        self.exp.saturating_add(CLOCK_LEEWAY_SECS).saturating_add(1)
    }
}

impl Keyring {
    /// Parses every configured key. A key that cannot be read or parsed is logged and left
    /// out: tokens naming it are refused, the other keys keep working.
    pub fn build(config: &VoximplantConfig, config_dir: &Path) -> Keyring {
        let mut by_kid: HashMap<String, Vec<(u64, DecodingKey)>> = HashMap::new();
        for account in &config.accounts {
            for key in &account.keys {
                let parsed = load_pem(key, config_dir).and_then(|pem| {
                    DecodingKey::from_rsa_pem(pem.as_bytes())
                        .map_err(|e| format!("not an RSA public key in PEM form: {e}"))
                });
                match parsed {
                    Ok(decoding_key) => by_kid
                        .entry(key.key_id.clone())
                        .or_default()
                        .push((account.account_id, decoding_key)),
                    Err(reason) => tracing::error!(
                        account_id = account.account_id,
                        key_id = %key.key_id,
                        %reason,
                        "voximplant: service-account key unusable; tokens signed with it are refused"
                    ),
                }
            }
        }
        Keyring {
            by_kid,
            verified: CheckedTokens::new(VERIFIED_TOKENS_MAX, VERIFIED_TOKEN_BYTES_MAX),
        }
    }

    /// The account id a token authenticates, or why it is refused. `now` is unix seconds.
    ///
    /// A token accepted once is remembered by its exact text, and only its expiry is checked
    /// again: the signature, key, issuer and lifetime rules give the same verdict for the
    /// same text under the same keys (a keyring belongs to one configuration), and an `iat`
    /// or `nbf` that had been reached stays reached. Refused tokens are not remembered.
    pub fn verify(&self, token: &str, now: u64) -> Result<u64, AuthError> {
        if token.len() > TOKEN_BYTES_MAX {
            return Err(AuthError::TooLong);
        }
        let ticket = match self.verified.lookup(token.as_bytes(), now) {
            Lookup::Live(account_id) => return Ok(account_id),
            Lookup::Expired => return Err(AuthError::Expired),
            Lookup::Unknown(ticket) => ticket,
        };
        let v = self.verify_signed(token, now)?;
        self.verified
            .remember(ticket, token.as_bytes(), v.account_id, v.expires_at(), now);
        Ok(v.account_id)
    }

    /// Every check of [`Keyring::verify`], signature included.
    fn verify_signed(&self, token: &str, now: u64) -> Result<Verified, AuthError> {
        // `alg: none` and unknown algorithms fail here: they are no `Algorithm` variant.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Algorithm);
        }
        let kid = header.kid.ok_or(AuthError::MissingKid)?;
        let candidates = self.by_kid.get(&kid).ok_or(AuthError::UnknownKey)?;
        // Key ids are normally unique; if two accounts reuse one, the token's signature and
        // `iss` pick the account.
        let mut refusal = AuthError::BadSignature;
        for (account_id, key) in candidates {
            let claims = match jsonwebtoken::decode::<Claims>(token, key, &VALIDATION) {
                Ok(data) => data.claims,
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) => return Err(map_error(e.kind())),
            };
            if claims.iss.account_id() != Some(*account_id) {
                refusal = AuthError::IssuerMismatch;
                continue;
            }
            check_times(claims.iat, claims.exp, now)?;
            return Ok(Verified {
                account_id: *account_id,
                exp: claims.exp,
            });
        }
        Err(refusal)
    }
}

/// The time rules jsonwebtoken does not cover: `iat` present and not in the future, and a
/// bounded lifetime.
fn check_times(iat: u64, exp: u64, now: u64) -> Result<(), AuthError> {
    if iat > now + CLOCK_LEEWAY_SECS {
        return Err(AuthError::IssuedInFuture);
    }
    if exp < iat {
        return Err(AuthError::Malformed);
    }
    if exp - iat > TOKEN_LIFETIME_SECS_MAX {
        return Err(AuthError::LifetimeTooLong);
    }
    Ok(())
}

fn map_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => AuthError::Algorithm,
        _ => AuthError::Malformed,
    }
}

fn load_pem(key: &VoximplantKey, config_dir: &Path) -> Result<String, String> {
    match (&key.public_key, &key.public_key_file) {
        (Some(pem), None) => Ok(pem.clone()),
        (None, Some(file)) => {
            let path = config_dir.join(file);
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
        (Some(_), Some(_)) => Err("both public_key and public_key_file are set".into()),
        (None, None) => Err("neither public_key nor public_key_file is set".into()),
    }
}

struct Cached {
    /// Weak, so the cache never keeps an old configuration's credentials alive; holding it
    /// still pins the allocation, so a new `Arc<Config>` can never reuse the address.
    config: Weak<Config>,
    keyring: Arc<Keyring>,
}

// A process-wide cache rather than a field of `AppState`: keyed by the configuration's
// allocation it stays correct across reloads and across several servers in one process.
// Every request reads it; only the first request after a reload writes it.
static KEYRINGS: RwLock<Vec<Cached>> = RwLock::new(Vec::new());

fn cached(weak: &Weak<Config>) -> Option<Arc<Keyring>> {
    let cache = KEYRINGS.read().unwrap_or_else(|e| e.into_inner());
    cache
        .iter()
        .find(|c| Weak::ptr_eq(&c.config, weak))
        .map(|c| c.keyring.clone())
}

/// The keyring of `config`, built on first use.
pub fn keyring_for(config: &Arc<Config>, config_dir: &Path) -> Arc<Keyring> {
    let weak = Arc::downgrade(config);
    if let Some(hit) = cached(&weak) {
        return hit;
    }
    // Built outside the lock: it may read key files.
    let keyring = Arc::new(Keyring::build(&config.voximplant, config_dir));
    let mut cache = KEYRINGS.write().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = cache.iter().find(|c| Weak::ptr_eq(&c.config, &weak)) {
        return hit.keyring.clone();
    }
    cache.retain(|c| c.config.strong_count() > 0);
    if cache.len() >= KEYRING_CACHE_MAX {
        cache.remove(0);
    }
    cache.push(Cached {
        config: weak,
        keyring: keyring.clone(),
    });
    keyring
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use serde_json::json;

    use crate::config::VoximplantAccount;

    pub struct TestKey {
        pub private_pem: String,
        pub public_pem: String,
    }

    fn generate() -> TestKey {
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        TestKey {
            private_pem: private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            public_pem: private
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        }
    }

    /// Two keys, generated once per test binary (RSA key generation is slow).
    pub fn keys() -> &'static [TestKey; 2] {
        static KEYS: LazyLock<[TestKey; 2]> = LazyLock::new(|| [generate(), generate()]);
        &KEYS
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn sign(key: &TestKey, kid: Option<&str>, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        let encoding = EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims, &encoding).unwrap()
    }

    fn keyring() -> Keyring {
        let config = VoximplantConfig {
            accounts: vec![
                VoximplantAccount {
                    account_id: 1001,
                    keys: vec![VoximplantKey {
                        key_id: "key-1".into(),
                        public_key_file: None,
                        public_key: Some(keys()[0].public_pem.clone()),
                    }],
                    applications: vec![],
                },
                VoximplantAccount {
                    account_id: 2002,
                    keys: vec![
                        VoximplantKey {
                            key_id: "key-2".into(),
                            public_key_file: None,
                            public_key: Some(keys()[1].public_pem.clone()),
                        },
                        VoximplantKey {
                            key_id: "broken".into(),
                            public_key_file: None,
                            public_key: Some("-----BEGIN PUBLIC KEY-----\nnope\n".into()),
                        },
                    ],
                    applications: vec![],
                },
            ],
        };
        Keyring::build(&config, Path::new("/nonexistent"))
    }

    #[test]
    fn accepts_what_the_python_sdk_mints() {
        // voximplant-apiclient 2.12: iss = str(account_id), iat = now - 5, exp = now + 24.
        let t = now();
        let token = sign(
            &keys()[0],
            Some("key-1"),
            json!({"iss": "1001", "iat": t - 5, "exp": t + 24}),
        );
        assert_eq!(keyring().verify(&token, t), Ok(1001));
        let numeric = sign(
            &keys()[1],
            Some("key-2"),
            json!({"iss": 2002, "iat": t, "exp": t + 3600}),
        );
        assert_eq!(keyring().verify(&numeric, t), Ok(2002));
    }

    #[test]
    fn refuses_bad_tokens() {
        let t = now();
        let good = json!({"iss": "1001", "iat": t, "exp": t + 60});
        let ring = keyring();
        let cases: Vec<(&str, String, AuthError)> = vec![
            (
                "wrong key",
                sign(&keys()[1], Some("key-1"), good.clone()),
                AuthError::BadSignature,
            ),
            (
                "unknown kid",
                sign(&keys()[0], Some("key-9"), good.clone()),
                AuthError::UnknownKey,
            ),
            (
                "no kid",
                sign(&keys()[0], None, good.clone()),
                AuthError::MissingKid,
            ),
            (
                "unparsable configured key",
                sign(&keys()[0], Some("broken"), good.clone()),
                AuthError::UnknownKey,
            ),
            (
                "iss of another account",
                sign(
                    &keys()[0],
                    Some("key-1"),
                    json!({"iss": "2002", "iat": t, "exp": t + 60}),
                ),
                AuthError::IssuerMismatch,
            ),
            (
                "non-numeric iss",
                sign(
                    &keys()[0],
                    Some("key-1"),
                    json!({"iss": "acc-1001", "iat": t, "exp": t + 60}),
                ),
                AuthError::IssuerMismatch,
            ),
            (
                "expired",
                sign(
                    &keys()[0],
                    Some("key-1"),
                    json!({"iss": "1001", "iat": t - 600, "exp": t - 300}),
                ),
                AuthError::Expired,
            ),
            (
                "lifetime over an hour",
                sign(
                    &keys()[0],
                    Some("key-1"),
                    json!({"iss": "1001", "iat": t, "exp": t + 3601}),
                ),
                AuthError::LifetimeTooLong,
            ),
            (
                "iat in the future",
                sign(
                    &keys()[0],
                    Some("key-1"),
                    json!({"iss": "1001", "iat": t + 600, "exp": t + 660}),
                ),
                AuthError::IssuedInFuture,
            ),
            (
                "no iat",
                sign(
                    &keys()[0],
                    Some("key-1"),
                    json!({"iss": "1001", "exp": t + 60}),
                ),
                AuthError::Malformed,
            ),
            (
                "no exp",
                sign(&keys()[0], Some("key-1"), json!({"iss": "1001", "iat": t})),
                AuthError::Malformed,
            ),
            (
                "no iss",
                sign(&keys()[0], Some("key-1"), json!({"iat": t, "exp": t + 60})),
                AuthError::Malformed,
            ),
            (
                "nbf in the future",
                sign(
                    &keys()[0],
                    Some("key-1"),
                    json!({"iss": "1001", "iat": t, "exp": t + 600, "nbf": t + 300}),
                ),
                AuthError::NotYetValid,
            ),
            ("garbage", "not.a.jwt".into(), AuthError::Malformed),
            ("empty", String::new(), AuthError::Malformed),
            (
                "too long",
                "a".repeat(TOKEN_BYTES_MAX + 1),
                AuthError::TooLong,
            ),
        ];
        for (name, token, want) in cases {
            assert_eq!(ring.verify(&token, t), Err(want), "{name}");
        }
    }

    #[test]
    fn an_accepted_token_is_remembered_until_it_expires() {
        let t = now();
        let ring = keyring();
        let token = sign(
            &keys()[0],
            Some("key-1"),
            json!({"iss": "1001", "iat": t, "exp": t + 60}),
        );
        assert_eq!(ring.verify(&token, t), Ok(1001));
        assert_eq!(
            ring.verified.lookup(token.as_bytes(), t),
            Lookup::Live(1001)
        );
        // Later requests with the same token: the remembered verdict, expiry re-checked
        // against each request's clock, with jsonwebtoken's leeway.
        assert_eq!(ring.verify(&token, t + 60 + CLOCK_LEEWAY_SECS), Ok(1001));
        assert_eq!(
            ring.verify(&token, t + 61 + CLOCK_LEEWAY_SECS),
            Err(AuthError::Expired)
        );
        // The same claims signed with the wrong key are another text: refused, not remembered.
        let forged = sign(
            &keys()[1],
            Some("key-1"),
            json!({"iss": "1001", "iat": t, "exp": t + 60}),
        );
        assert_eq!(ring.verify(&forged, t), Err(AuthError::BadSignature));
        assert_eq!(ring.verify(&forged, t), Err(AuthError::BadSignature));
        assert_eq!(ring.verified.len(), 1);
    }

    #[test]
    fn refuses_alg_none_and_hs256_with_the_public_key_as_secret() {
        let t = now();
        let claims = json!({"iss": "1001", "iat": t, "exp": t + 60});
        // An unsigned token: base64url of {"alg":"none","typ":"JWT","kid":"key-1"}, the claims
        // of a genuine token, and an empty signature.
        let genuine = sign(&keys()[0], Some("key-1"), claims.clone());
        let payload = genuine.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoia2V5LTEifQ.{payload}.");
        assert_eq!(keyring().verify(&none, t), Err(AuthError::Malformed));
        let forged = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoia2V5LTEifQ.{payload}.{}",
            genuine.split('.').nth(2).unwrap()
        );
        assert_eq!(keyring().verify(&forged, t), Err(AuthError::Malformed));

        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("key-1".into());
        let hs256 = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(keys()[0].public_pem.as_bytes()),
        )
        .unwrap();
        assert_eq!(keyring().verify(&hs256, t), Err(AuthError::Algorithm));

        let mut header = Header::new(Algorithm::RS512);
        header.kid = Some("key-1".into());
        let rs512 = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(keys()[0].private_pem.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(keyring().verify(&rs512, t), Err(AuthError::Algorithm));
    }

    #[test]
    fn keys_load_from_files_relative_to_the_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pem"), &keys()[0].public_pem).unwrap();
        let config = VoximplantConfig {
            accounts: vec![VoximplantAccount {
                account_id: 7,
                keys: vec![
                    VoximplantKey {
                        key_id: "file".into(),
                        public_key_file: Some("k.pem".into()),
                        public_key: None,
                    },
                    VoximplantKey {
                        key_id: "missing-file".into(),
                        public_key_file: Some("absent.pem".into()),
                        public_key: None,
                    },
                ],
                applications: vec![],
            }],
        };
        let ring = Keyring::build(&config, dir.path());
        let t = now();
        let claims = json!({"iss": 7, "iat": t, "exp": t + 60});
        assert_eq!(
            ring.verify(&sign(&keys()[0], Some("file"), claims.clone()), t),
            Ok(7)
        );
        assert_eq!(
            ring.verify(&sign(&keys()[0], Some("missing-file"), claims), t),
            Err(AuthError::UnknownKey)
        );
    }

    #[test]
    fn keyring_cache_follows_the_config_allocation() {
        let make = |pem: &str| {
            let mut config = Config::default();
            config.voximplant.accounts.push(VoximplantAccount {
                account_id: 5,
                keys: vec![VoximplantKey {
                    key_id: "k".into(),
                    public_key_file: None,
                    public_key: Some(pem.to_owned()),
                }],
                applications: vec![],
            });
            Arc::new(config)
        };
        let t = now();
        let claims = json!({"iss": 5, "iat": t, "exp": t + 60});
        let token0 = sign(&keys()[0], Some("k"), claims.clone());
        let token1 = sign(&keys()[1], Some("k"), claims);

        let before = make(&keys()[0].public_pem);
        let ring = keyring_for(&before, Path::new("."));
        assert!(Arc::ptr_eq(&ring, &keyring_for(&before, Path::new("."))));
        assert_eq!(ring.verify(&token0, t), Ok(5));

        // A reload: same account and kid, another key.
        let after = make(&keys()[1].public_pem);
        let ring = keyring_for(&after, Path::new("."));
        assert_eq!(ring.verify(&token0, t), Err(AuthError::BadSignature));
        assert_eq!(ring.verify(&token1, t), Ok(5));
    }
}
