//! `POST /oauth/access_token` (client-credentials grant) and bearer-token verification.

use std::sync::Arc;

use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::StatusCode;
use serde::Serialize;
use strata_engine::{Op, WriteBatch};

use super::input::parse_token_request;
use super::layout::{self, ClientRecord, KeyRecord, TokenRecord};
use super::secret;
use super::WRITE_ATTEMPTS_MAX;
use super::{
    corrupt, engine_failure, error_response, is_retryable, too_much_contention, Failure, Timestamp,
};
use crate::checked_tokens::Lookup;
use crate::config::{AppKeysStore, Config};
use crate::http::{self, Req, Resp};
use crate::AppState;

/// Lifetime of an access token, in seconds (Elastic Path's `expires_in`).
pub const TOKEN_TTL_SECS: u64 = 3600;
/// Most access tokens the server remembers after reading them once, and the longest one
/// remembered, in bytes (issued tokens are `2 * secret::TOKEN_BYTES` hex digits). At most
/// ~1 MiB in all.
pub const TOKENS_REMEMBERED_MAX: usize = 4096;
pub const REMEMBERED_TOKEN_BYTES_MAX: usize = 128;
/// The only grant Strata issues tokens for.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";

/// Who is calling: the store (tenant) and, for a created key's token, that key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub store: AppKeysStore,
    /// `None` when the token was issued to the store's admin client.
    pub key_id: Option<String>,
}

/// The token of `Authorization: Bearer <token>`. Scheme case-insensitive; the legacy
/// `Bearer: <token>` form sent by early moltin SDKs is accepted too.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let scheme = scheme.strip_suffix(':').unwrap_or(scheme);
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// A 401 in the dialect's shape, with the RFC 6750 challenge.
fn unauthorized(detail: &str) -> Resp {
    let mut resp = error_response(StatusCode::UNAUTHORIZED, detail);
    resp.headers_mut().insert(
        hyper::header::WWW_AUTHENTICATE,
        hyper::header::HeaderValue::from_static("Bearer"),
    );
    resp
}

/// Why a `/v2` request was not let in.
#[derive(Debug)]
pub enum AuthError {
    /// No usable `Authorization: Bearer` header.
    Missing,
    /// Unknown, expired or revoked token.
    Invalid,
    Failure(Failure),
}

impl From<Failure> for AuthError {
    fn from(f: Failure) -> Self {
        AuthError::Failure(f)
    }
}

impl From<strata_engine::Error> for AuthError {
    fn from(e: strata_engine::Error) -> Self {
        AuthError::Failure(e.into())
    }
}

impl AuthError {
    pub fn response(&self) -> Resp {
        match self {
            AuthError::Missing => {
                unauthorized("an access token is required: send 'Authorization: Bearer <token>'")
            }
            AuthError::Invalid => unauthorized("the access token is invalid or has expired"),
            AuthError::Failure(f) => f.response(),
        }
    }
}

/// Resolves the bearer token of a `/v2` request to its caller.
///
/// A token is refused when it is absent, unknown or expired (the engine hides expired
/// entries), when its store is no longer configured, when its key was deleted, or (admin
/// tokens) when the store's admin `client_id` changed since it was issued.
pub fn authenticate(
    state: &AppState,
    config: &Config,
    headers: &HeaderMap,
) -> Result<Caller, AuthError> {
    let token = bearer_token(headers).ok_or(AuthError::Missing)?;
    let record = token_record(state, token)?;
    let store = config
        .app_keys
        .stores
        .iter()
        .find(|s| s.store_id == record.store_id)
        .ok_or(AuthError::Invalid)?;
    match &record.key_id {
        None if store.client_id != record.client_id => return Err(AuthError::Invalid),
        None => {}
        Some(key_id) => {
            let key = layout::key_record_key(&store.store_id, key_id);
            if state.db.get(&key)?.is_none() {
                return Err(AuthError::Invalid);
            }
        }
    }
    Ok(Caller {
        store: store.clone(),
        key_id: record.key_id.clone(),
    })
}

/// What `token` was issued for: remembered after its first read (tokens never change
/// and are never revoked, only expire), so the checks against the config and the key
/// records are all that each request repeats.
fn token_record(state: &AppState, token: &str) -> Result<Arc<TokenRecord>, AuthError> {
    let now = Timestamp::now().secs;
    let ticket = match state.app_keys_tokens.lookup(token.as_bytes(), now) {
        Lookup::Live(record) => return Ok(record),
        Lookup::Expired => return Err(AuthError::Invalid),
        Lookup::Unknown(ticket) => ticket,
    };
    // The engine hides expired tokens.
    let entry = state
        .db
        .get(&layout::token_key(token))?
        .ok_or(AuthError::Invalid)?;
    let record = Arc::new(layout::decode::<TokenRecord>(&entry.value).map_err(Failure::Corrupt)?);
    if let Some(expires_at) = entry.expires_at {
        state.app_keys_tokens.remember(
            ticket,
            token.as_bytes(),
            Arc::clone(&record),
            expires_at,
            now,
        );
    }
    Ok(record)
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    expires: u64,
    identifier: &'static str,
}

/// `POST /oauth/access_token`.
pub async fn issue_token(state: &Arc<AppState>, req: &Req) -> Resp {
    let media_type = http::media_type(&req.headers);
    let form = parse_token_request(media_type.as_deref(), &req.body);
    let bad = |detail: &str| error_response(StatusCode::BAD_REQUEST, detail);
    let Some(grant_type) = form.grant_type.as_deref().filter(|g| !g.is_empty()) else {
        return bad("The field 'grant_type' is required.");
    };
    if grant_type != GRANT_CLIENT_CREDENTIALS {
        return bad(&format!(
            "unsupported grant_type '{grant_type}': only '{GRANT_CLIENT_CREDENTIALS}' is supported"
        ));
    }
    let Some(client_id) = form.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return bad("The field 'client_id' is required.");
    };
    let Some(client_secret) = form.client_secret.as_deref().filter(|c| !c.is_empty()) else {
        return bad("The field 'client_secret' is required.");
    };

    let config = state.config();
    if let Some(store) = config
        .app_keys
        .stores
        .iter()
        .find(|s| s.client_id == client_id)
    {
        if !secret::plain_secret_matches(&store.client_secret, client_secret) {
            return bad_credentials();
        }
        let record = TokenRecord {
            store_id: store.store_id.clone(),
            key_id: None,
            client_id: client_id.to_owned(),
        };
        return write_token(state, record, None).await;
    }

    let client = match state.db.get(&layout::client_key(client_id)) {
        Ok(Some(entry)) => match layout::decode::<ClientRecord>(&entry.value) {
            Ok(c) => c,
            Err(e) => return corrupt(&e),
        },
        Ok(None) => return bad_credentials(),
        Err(e) => return engine_failure(&e),
    };
    if !config
        .app_keys
        .stores
        .iter()
        .any(|s| s.store_id == client.store_id)
    {
        return bad_credentials();
    }
    let record = TokenRecord {
        store_id: client.store_id.clone(),
        key_id: Some(client.key_id.clone()),
        client_id: client_id.to_owned(),
    };
    write_token(state, record, Some(client_secret)).await
}

fn bad_credentials() -> Resp {
    unauthorized("invalid client_id or client_secret")
}

/// Stores a fresh token for `record` and answers with it. For a created key (`secret` is
/// `Some`), verifies the secret against the key record and stamps its `last_used_at` in the
/// same batch, guarded by the record's seqno (a concurrent PUT or DELETE makes it retry).
async fn write_token(state: &Arc<AppState>, record: TokenRecord, secret: Option<&str>) -> Resp {
    for _ in 0..WRITE_ATTEMPTS_MAX {
        let now = Timestamp::now();
        let expires = now.secs + TOKEN_TTL_SECS;
        let token = secret::new_token();
        let mut batch = WriteBatch::new();
        batch.push(
            Op::insert(layout::token_key(&token), layout::encode(&record))
                .expires_at(Some(expires)),
        );
        if let (Some(key_id), Some(presented)) = (&record.key_id, secret) {
            let key = layout::key_record_key(&record.store_id, key_id);
            let entry = match state.db.get(&key) {
                Ok(Some(entry)) => entry,
                Ok(None) => return bad_credentials(),
                Err(e) => return engine_failure(&e),
            };
            let mut key_record: KeyRecord = match layout::decode(&entry.value) {
                Ok(r) => r,
                Err(e) => return corrupt(&e),
            };
            if key_record.client_id != record.client_id
                || !secret::verify_secret(
                    &key_record.secret_salt,
                    &key_record.secret_hash,
                    presented,
                )
            {
                return bad_credentials();
            }
            key_record.last_used_at = Some(now.text.clone());
            batch.push(Op::update(key, layout::encode(&key_record)).expect_seqno(entry.seqno));
        }
        match state.write(batch).await {
            Ok(_) => {
                return http::json(
                    StatusCode::OK,
                    &TokenResponse {
                        access_token: &token,
                        token_type: "Bearer",
                        expires_in: TOKEN_TTL_SECS,
                        expires,
                        identifier: GRANT_CLIENT_CREDENTIALS,
                    },
                )
            }
            Err(e) if is_retryable(&e) => tokio::task::yield_now().await,
            Err(e) => return engine_failure(&e),
        }
    }
    too_much_contention()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn bearer_forms() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&headers("Bearer: abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("abc")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
