//! 4.1 Key-value resources (seed 000, Baasic-style): `/{apiKey}/key-values` and
//! `/{apiKey}/login`.
//!
//! Tenant: the application `{apiKey}` (`[[keyvalues.apps]]`). Layout in the engine, per app:
//! - `TABLE_ITEMS` · id → [`codec::StoredItem`] (key, value, dates);
//! - `TABLE_KEY_INDEX` · key → id, so keys are unique per app and addressable;
//! - `TABLE_TOKENS` · access token → username, with `expires_at`, so tokens expire by
//!   themselves (the engine never returns an expired entry and compaction drops it).
//!
//! An item and its index entry always change in one batch, so they never disagree.
//! Decisions where the vendor is silent are documented in `docs/api.md (section "keyvalues")`.

mod codec;
pub mod cors;
mod query;

use std::borrow::Cow;
use std::sync::Arc;

use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, LOCATION, WWW_AUTHENTICATE};
use hyper::{Method, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use strata_engine::{Op, WriteBatch};
use subtle::ConstantTimeEq;

use super::common;
use crate::checked_tokens::Lookup;
use crate::config::{Config, KeyValuesApp, KeyValuesUser};
use crate::http::{self, Req, Resp};
use crate::keyspace::{self, Dialect};
use crate::AppState;

use codec::StoredItem;
use query::{ListQuery, ListedItem, PageSelection};

pub use query::{LIST_WINDOW_MAX, RPP_DEFAULT, RPP_MAX, SEARCH_QUERY_CHARS_MAX};

/// Longest `key`, in bytes of UTF-8.
pub const KEY_BYTES_MAX: usize = 1024;
/// Longest `value`, in bytes of UTF-8.
pub const VALUE_BYTES_MAX: usize = 16 * 1024;
/// Most items one list request walks (searching, counting, sorting) in an application.
pub const LIST_SCAN_ITEMS_MAX: usize = 100_000;
/// Items fetched from the engine per scan call while listing.
const LIST_SCAN_CHUNK_ITEMS: usize = 256;
/// Attempts of a guarded read-modify-write before giving up with 409.
pub const WRITE_ATTEMPTS_MAX: usize = 16;
/// Longest bearer token looked up; longer ones cannot have been issued.
const TOKEN_BYTES_MAX: usize = 256;
/// Most sessions (access tokens already read from storage) the server remembers, and the
/// longest engine key of one remembered, in bytes: the token's key holds the app's API key
/// and the token (64 hex digits when issued here). At most ~1.5 MiB in all.
pub const SESSIONS_REMEMBERED_MAX: usize = 4096;
pub const SESSION_KEY_BYTES_MAX: usize = 320;

const TABLE_ITEMS: u8 = b'i';
const TABLE_KEY_INDEX: u8 = b'k';
const TABLE_TOKENS: u8 = b't';

/// `WWW-Authenticate` of every 401 (RFC 6750 §3).
const BEARER_CHALLENGE: &str = "Bearer error=\"invalid_token\"";
/// `details` of every 401 body: what the Baasic SDK looks for to drop a rejected token.
const INVALID_TOKEN_DETAILS: &str = "invalid_token";

/// Characters escaped in an `{apiKey}` or `{id}` path segment of an `href`.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `errorCode` values of `{message, error, errorCode, details}` (see `docs/api.md (section "keyvalues")`).
pub mod code {
    /// 400: the body is not a JSON object (or not a form, for login).
    pub const MALFORMED_BODY: u32 = 4000;
    /// 400: a field is missing or invalid.
    pub const VALIDATION: u32 = 4001;
    /// 400: a query parameter (`page`, `rpp`, `sort`, `searchQuery`) is invalid.
    pub const INVALID_QUERY: u32 = 4002;
    /// 400: login without `username` or `password` (OAuth `invalid_request`).
    pub const INVALID_REQUEST: u32 = 4003;
    /// 400: login with a `grant_type` other than `password`.
    pub const UNSUPPORTED_GRANT_TYPE: u32 = 4004;
    /// 400: login with a wrong user name or password (OAuth `invalid_grant`).
    pub const INVALID_GRANT: u32 = 4005;
    /// 401: missing, unknown or expired bearer token.
    pub const INVALID_TOKEN: u32 = 4010;
    /// 403: a CORS preflight from an origin not in `cors_allowed_origins`.
    pub const CORS_ORIGIN_FORBIDDEN: u32 = 4030;
    /// 404: no key-value resource with this id (or key).
    pub const NOT_FOUND: u32 = 4040;
    /// 404: no application with this `{apiKey}`.
    pub const APPLICATION_NOT_FOUND: u32 = 4041;
    /// 404: no such route.
    pub const ROUTE_NOT_FOUND: u32 = 4042;
    /// 405: the route exists but not with this method.
    pub const METHOD_NOT_ALLOWED: u32 = 4050;
    /// 408: the request was not received in time.
    pub const REQUEST_TIMEOUT: u32 = 4080;
    /// 409: another resource of the application already has this key.
    pub const DUPLICATE_KEY: u32 = 4090;
    /// 409: the resource kept changing under a read-modify-write; retry.
    pub const CONCURRENT_MODIFICATION: u32 = 4091;
    /// 413: the request body is larger than `limits.body_bytes_max`.
    pub const PAYLOAD_TOO_LARGE: u32 = 4130;
    /// Any other 4xx.
    pub const CLIENT_ERROR: u32 = 4999;
    /// 500: an internal error (logged).
    pub const INTERNAL: u32 = 5000;
    /// 503: the server is shutting down or the engine refuses writes.
    pub const UNAVAILABLE: u32 = 5030;
}

/// Handles one request under `/{apiKey}/key-values` or `/{apiKey}/login`.
pub async fn handle(state: &Arc<AppState>, req: Req) -> Resp {
    match serve(state, &req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// An error in this dialect's shape (used by the router for 404 / 405 / 413 / timeouts).
pub fn error_response(status: StatusCode, message: &str) -> Resp {
    let (code, error) = match status {
        StatusCode::BAD_REQUEST => (code::MALFORMED_BODY, "bad_request"),
        StatusCode::UNAUTHORIZED => (code::INVALID_TOKEN, "invalid_token"),
        StatusCode::NOT_FOUND => (code::ROUTE_NOT_FOUND, "not_found"),
        StatusCode::METHOD_NOT_ALLOWED => (code::METHOD_NOT_ALLOWED, "method_not_allowed"),
        StatusCode::REQUEST_TIMEOUT => (code::REQUEST_TIMEOUT, "request_timeout"),
        StatusCode::CONFLICT => (code::DUPLICATE_KEY, "conflict"),
        StatusCode::PAYLOAD_TOO_LARGE => (code::PAYLOAD_TOO_LARGE, "payload_too_large"),
        StatusCode::SERVICE_UNAVAILABLE => (code::UNAVAILABLE, "service_unavailable"),
        s if s.is_client_error() => (code::CLIENT_ERROR, "bad_request"),
        _ => (code::INTERNAL, "internal_error"),
    };
    ApiError::new(status, code, error, message.to_owned()).into_response()
}

/// A short, stable label of the request's route, for metrics.
pub fn route_name(req: &Req) -> &'static str {
    match (parse_route(&req.path), &req.method) {
        (Route::Collection(_), &Method::POST) => "keyvalues_create",
        (Route::Collection(_), &Method::GET) => "keyvalues_list",
        (Route::Item(..), &Method::GET) => "keyvalues_get",
        (Route::Item(..), &Method::PUT) => "keyvalues_update",
        (Route::Item(..), &Method::DELETE) => "keyvalues_delete",
        (Route::Login(_), &Method::POST) => "keyvalues_login",
        (Route::Login(_), &Method::DELETE) => "keyvalues_logout",
        _ => "keyvalues_other",
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

/// Path segments are still percent-encoded.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// `/{apiKey}/key-values`
    Collection(&'a str),
    /// `/{apiKey}/key-values/{idOrKey}`
    Item(&'a str, &'a str),
    /// `/{apiKey}/login`
    Login(&'a str),
    NotFound,
}

fn parse_route(path: &str) -> Route<'_> {
    let Some(path) = path.strip_prefix('/') else {
        return Route::NotFound;
    };
    // One trailing slash is tolerated everywhere.
    let path = path.strip_suffix('/').unwrap_or(path);
    let mut segments = path.split('/');
    let (Some(app), Some(resource)) = (segments.next(), segments.next()) else {
        return Route::NotFound;
    };
    if app.is_empty() {
        return Route::NotFound;
    }
    match (resource, segments.next(), segments.next()) {
        ("key-values", None, _) => Route::Collection(app),
        ("key-values", Some(item), None) if !item.is_empty() => Route::Item(app, item),
        ("login", None, _) => Route::Login(app),
        _ => Route::NotFound,
    }
}

/// Methods of `/{apiKey}/key-values`, of `/{apiKey}/key-values/{id}` and of
/// `/{apiKey}/login` (the `Allow` of a 405 and of `OPTIONS`).
const COLLECTION: &str = "GET, POST, OPTIONS";
const ITEM: &str = "GET, PUT, DELETE, OPTIONS";
const LOGIN: &str = "POST, DELETE, OPTIONS";

/// `OPTIONS` on a known route: a CORS preflight or a plain question about the methods. It
/// needs no token (browsers send preflights without credentials).
fn options(state: &AppState, req: &Req, allow: &'static str) -> Resp {
    cors::options(&state.config().keyvalues, &req.headers, allow, |message| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            code::CORS_ORIGIN_FORBIDDEN,
            "forbidden",
            message,
        )
        .into_response()
    })
}

/// What an authenticated request asks for, once its route and method are known.
enum Action<'a> {
    Create,
    List,
    /// The id or key, still percent-encoded.
    Get(&'a str),
    /// The id, still percent-encoded.
    Update(&'a str),
    Delete(&'a str),
    Logout,
}

async fn serve(state: &Arc<AppState>, req: &Req) -> Result<Resp, ApiError> {
    let route = parse_route(&req.path);
    // `None`: login, the one call without a bearer token.
    let (app_segment, action) = match (route, &req.method) {
        (Route::Collection(a), &Method::POST) => (a, Some(Action::Create)),
        (Route::Collection(a), &Method::GET) => (a, Some(Action::List)),
        (Route::Item(a, i), &Method::GET) => (a, Some(Action::Get(i))),
        (Route::Item(a, i), &Method::PUT) => (a, Some(Action::Update(i))),
        (Route::Item(a, i), &Method::DELETE) => (a, Some(Action::Delete(i))),
        (Route::Login(a), &Method::POST) => (a, None),
        (Route::Login(a), &Method::DELETE) => (a, Some(Action::Logout)),
        (Route::Collection(_), &Method::OPTIONS) => return Ok(options(state, req, COLLECTION)),
        (Route::Item(..), &Method::OPTIONS) => return Ok(options(state, req, ITEM)),
        (Route::Login(_), &Method::OPTIONS) => return Ok(options(state, req, LOGIN)),
        (Route::Collection(_), _) => return Err(ApiError::method_not_allowed(COLLECTION)),
        (Route::Item(..), _) => return Err(ApiError::method_not_allowed(ITEM)),
        (Route::Login(_), _) => return Err(ApiError::method_not_allowed(LOGIN)),
        (Route::NotFound, _) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                code::ROUTE_NOT_FOUND,
                "not_found",
                "Route not found",
            ))
        }
    };

    let config = state.config();
    let app = find_app(&config, app_segment)?;
    let Some(action) = action else {
        return login(state, app, req).await;
    };
    let token = authenticate(state, app, &req.headers)?;
    let ctx = Ctx { state, app };
    match action {
        Action::Create => create(ctx, &req.body).await,
        Action::List => list(ctx, &req.query),
        Action::Get(segment) => get(ctx, &decode_segment(segment)?),
        Action::Update(segment) => update(ctx, &decode_segment(segment)?, &req.body).await,
        Action::Delete(segment) => delete(ctx, &decode_segment(segment)?).await,
        Action::Logout => logout(ctx, token).await,
    }
}

fn decode_segment(segment: &str) -> Result<Cow<'_, str>, ApiError> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| ApiError::not_found())
}

/// The configured application named by the `{apiKey}` segment.
fn find_app<'c>(config: &'c Config, segment: &str) -> Result<&'c KeyValuesApp, ApiError> {
    let api_key = percent_encoding::percent_decode_str(segment).decode_utf8();
    api_key
        .ok()
        .and_then(|k| config.keyvalues.apps.iter().find(|a| a.api_key == k))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                code::APPLICATION_NOT_FOUND,
                "not_found",
                "Application not found",
            )
        })
}

/// Everything a key-values handler needs.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    state: &'a AppState,
    app: &'a KeyValuesApp,
}

impl Ctx<'_> {
    fn item_key(&self, id: &str) -> Vec<u8> {
        keyspace::key(
            Dialect::KeyValues,
            &self.app.api_key,
            TABLE_ITEMS,
            id.as_bytes(),
        )
    }
    fn index_key(&self, key: &str) -> Vec<u8> {
        keyspace::key(
            Dialect::KeyValues,
            &self.app.api_key,
            TABLE_KEY_INDEX,
            key.as_bytes(),
        )
    }
    /// `/{apiKey}/key-values/{id}`.
    fn item_href(&self, id: &str) -> String {
        format!(
            "/{}/key-values/{}",
            utf8_percent_encode(&self.app.api_key, PATH_SEGMENT),
            utf8_percent_encode(id, PATH_SEGMENT)
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Auth

fn token_key(app: &KeyValuesApp, token: &str) -> Vec<u8> {
    keyspace::key(
        Dialect::KeyValues,
        &app.api_key,
        TABLE_TOKENS,
        token.as_bytes(),
    )
}

/// The request's bearer token, once checked: issued for this app, not expired, and its user
/// still configured.
fn authenticate(
    state: &AppState,
    app: &KeyValuesApp,
    headers: &hyper::HeaderMap,
) -> Result<String, ApiError> {
    let token = http::bearer(headers).ok_or_else(|| {
        ApiError::unauthorized("Authorization has been denied: a bearer token is required")
    })?;
    let invalid =
        || ApiError::unauthorized("Authorization has been denied: invalid or expired token");
    if token.len() > TOKEN_BYTES_MAX {
        return Err(invalid());
    }
    let key = token_key(app, token);
    let now = codec::now_secs();
    let username = match state.keyvalues_sessions.lookup(&key, now) {
        Lookup::Live(username) => username,
        Lookup::Expired => return Err(invalid()),
        Lookup::Unknown(ticket) => {
            // The engine hides expired tokens: a token past its `expires_at` is simply not
            // found.
            let entry = state
                .db
                .get(&key)
                .map_err(engine_error)?
                .ok_or_else(invalid)?;
            let username: Arc<[u8]> = Arc::from(&entry.value[..]);
            // Every token this server issues has an expiry.
            if let Some(expires_at) = entry.expires_at {
                state.keyvalues_sessions.remember(
                    ticket,
                    &key,
                    Arc::clone(&username),
                    expires_at,
                    now,
                );
            }
            username
        }
    };
    // A user removed from the config (SIGHUP) loses access with their tokens.
    if !app
        .users
        .iter()
        .any(|u| u.username.as_bytes() == &*username)
    {
        return Err(invalid());
    }
    Ok(token.to_owned())
}

/// `POST /{apiKey}/login`: OAuth 2 resource-owner password grant.
async fn login(state: &AppState, app: &KeyValuesApp, req: &Req) -> Result<Resp, ApiError> {
    let form = LoginForm::parse(req)?;
    if form.grant_type.as_deref() != Some("password") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code::UNSUPPORTED_GRANT_TYPE,
            "unsupported_grant_type",
            "grant_type must be \"password\"",
        ));
    }
    let (Some(username), Some(password)) = (form.username, form.password) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code::INVALID_REQUEST,
            "invalid_request",
            "username and password are required",
        ));
    };
    let user = app.users.iter().find(|u| u.username == username);
    let verified = match user {
        Some(user) => verify_password(user, password).await?,
        None => false,
    };
    let Some(user) = user.filter(|_| verified) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code::INVALID_GRANT,
            "invalid_grant",
            "The user name or password is incorrect.",
        ));
    };

    let ttl_secs = state.config().keyvalues.token_ttl_secs;
    let token = codec::new_token();
    let expires_at = codec::now_secs().saturating_add(ttl_secs);
    let op = Op::insert(token_key(app, &token), user.username.clone().into_bytes())
        .expires_at(Some(expires_at));
    state.write(op.into()).await.map_err(engine_error)?;

    #[derive(Serialize)]
    struct TokenResponse<'a> {
        access_token: &'a str,
        token_type: &'static str,
        expires_in: u64,
    }
    let mut resp = http::json(
        StatusCode::OK,
        &TokenResponse {
            access_token: &token,
            token_type: "bearer",
            expires_in: ttl_secs,
        },
    );
    // RFC 6749 §5.1: token responses must not be cached.
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Checks `password` against the user's `password_hash` (argon2 PHC) or plain `password`.
async fn verify_password(user: &KeyValuesUser, password: String) -> Result<bool, ApiError> {
    if let Some(hash) = &user.password_hash {
        let hash = hash.clone();
        // Argon2 is deliberately slow: keep it off the async workers.
        let verdict = tokio::task::spawn_blocking(move || {
            use argon2::password_hash::{PasswordHash, PasswordVerifier};
            let parsed = PasswordHash::new(&hash).map_err(|e| e.to_string())?;
            Ok::<bool, String>(
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await
        .map_err(|e| ApiError::internal(format!("password check panicked: {e}")))?;
        return verdict.map_err(|e| {
            ApiError::internal(format!(
                "password_hash of a key-values user is not a PHC string: {e}"
            ))
        });
    }
    Ok(match &user.password {
        Some(expected) => bool::from(expected.as_bytes().ct_eq(password.as_bytes())),
        None => false,
    })
}

/// The fields of a login request, from a form body (as the Baasic SDKs send) or a JSON one.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
struct LoginForm {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl LoginForm {
    fn parse(req: &Req) -> Result<Self, ApiError> {
        if http::media_type(&req.headers).as_deref() == Some("application/json") {
            return serde_json::from_slice(&req.body).map_err(|e| {
                ApiError::malformed(format!("The request body is not a valid login object: {e}"))
            });
        }
        let mut form = LoginForm::default();
        for (name, value) in form_urlencoded::parse(&req.body) {
            let slot = match name.as_ref() {
                "grant_type" => &mut form.grant_type,
                "username" => &mut form.username,
                "password" => &mut form.password,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        Ok(form)
    }
}

/// `DELETE /{apiKey}/login`: revokes the bearer token.
async fn logout(ctx: Ctx<'_>, token: String) -> Result<Resp, ApiError> {
    let key = token_key(ctx.app, &token);
    let written = ctx.state.write(Op::delete(key.clone()).into()).await;
    // After the delete (whatever its outcome), so no check that read the token before it
    // can remember it again.
    ctx.state.keyvalues_sessions.forget(&key);
    match written {
        // Expired between authentication and now: revoked either way.
        Ok(_) | Err(strata_engine::Error::NotFound { .. }) => {
            Ok(http::empty(StatusCode::NO_CONTENT))
        }
        Err(e) => Err(engine_error(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Key-value handlers

async fn create(ctx: Ctx<'_>, body: &[u8]) -> Result<Resp, ApiError> {
    let input = ItemInput::parse(body)?;
    let key = input
        .key
        .ok_or_else(|| ApiError::validation("key is required"))?;
    let value = input
        .value
        .ok_or_else(|| ApiError::validation("value is required"))?;
    let now = codec::now_ms();
    let item = StoredItem {
        date_created_ms: now,
        date_updated_ms: now,
        key: &key,
        value: &value,
    };
    let encoded = item.encode();
    for _ in 0..WRITE_ATTEMPTS_MAX {
        let id = codec::new_id();
        let batch = WriteBatch::new()
            .with(Op::insert(ctx.item_key(&id), encoded.clone()))
            .with(Op::insert(ctx.index_key(&key), id.clone().into_bytes()));
        match ctx.state.write(batch).await {
            Ok(_) => {
                let href = ctx.item_href(&id);
                let mut resp = http::json(StatusCode::CREATED, &ItemOut::new(&id, &item, &href));
                if let Ok(location) = HeaderValue::from_str(&href) {
                    resp.headers_mut().insert(LOCATION, location);
                }
                return Ok(resp);
            }
            Err(strata_engine::Error::Conflict { index: 1 }) => {
                return Err(ApiError::duplicate_key())
            }
            // A random 128-bit id collided: draw another.
            Err(strata_engine::Error::Conflict { index: 0 }) => continue,
            Err(e) => return Err(engine_error(e)),
        }
    }
    Err(ApiError::internal("could not draw an unused id".into()))
}

fn get(ctx: Ctx<'_>, id_or_key: &str) -> Result<Resp, ApiError> {
    if id_or_key.len() > KEY_BYTES_MAX {
        return Err(ApiError::not_found()); // longer than any key or id
    }
    let snapshot = ctx.state.db.snapshot();
    let by_id = if codec::is_id(id_or_key) {
        snapshot
            .get(&ctx.item_key(id_or_key))
            .map_err(engine_error)?
    } else {
        None
    };
    let (id, entry) = match by_id {
        Some(entry) => (id_or_key.to_owned(), entry),
        None => {
            let index = snapshot
                .get(&ctx.index_key(id_or_key))
                .map_err(engine_error)?
                .ok_or_else(ApiError::not_found)?;
            let id = String::from_utf8(index.value.to_vec())
                .map_err(|_| ApiError::corrupt("index entry is not UTF-8"))?;
            let entry = snapshot
                .get(&ctx.item_key(&id))
                .map_err(engine_error)?
                .ok_or_else(|| ApiError::corrupt("index entry names a missing item"))?;
            (id, entry)
        }
    };
    let item = StoredItem::decode(&entry.value).map_err(ApiError::corrupt)?;
    let href = ctx.item_href(&id);
    Ok(http::json(StatusCode::OK, &ItemOut::new(&id, &item, &href)))
}

async fn update(ctx: Ctx<'_>, id: &str, body: &[u8]) -> Result<Resp, ApiError> {
    let input = ItemInput::parse(body)?;
    let value = input
        .value
        .ok_or_else(|| ApiError::validation("value is required"))?;
    if !codec::is_id(id) {
        return Err(ApiError::not_found());
    }
    let item_key = ctx.item_key(id);
    for _ in 0..WRITE_ATTEMPTS_MAX {
        let entry = ctx
            .state
            .db
            .get(&item_key)
            .map_err(engine_error)?
            .ok_or_else(ApiError::not_found)?;
        let old = StoredItem::decode(&entry.value).map_err(ApiError::corrupt)?;
        let new = StoredItem {
            date_created_ms: old.date_created_ms,
            date_updated_ms: codec::now_ms().max(old.date_created_ms),
            key: input.key.as_deref().unwrap_or(old.key),
            value: &value,
        };
        let mut batch =
            WriteBatch::from(Op::update(item_key.clone(), new.encode()).expect_seqno(entry.seqno));
        if new.key != old.key {
            batch.push(Op::delete(ctx.index_key(old.key)));
            batch.push(Op::insert(ctx.index_key(new.key), id.as_bytes().to_vec()));
        }
        match ctx.state.write(batch).await {
            Ok(_) => return Ok(http::empty(StatusCode::NO_CONTENT)),
            // The item changed or vanished since our read: read again.
            Err(
                strata_engine::Error::Conflict { index: 0 }
                | strata_engine::Error::NotFound { index: 0 },
            ) => continue,
            Err(strata_engine::Error::Conflict { index: 2 }) => {
                return Err(ApiError::duplicate_key())
            }
            Err(strata_engine::Error::NotFound { index: 1 }) => {
                return Err(ApiError::corrupt("item has no index entry"))
            }
            Err(e) => return Err(engine_error(e)),
        }
    }
    Err(ApiError::concurrent_modification())
}

async fn delete(ctx: Ctx<'_>, id: &str) -> Result<Resp, ApiError> {
    if !codec::is_id(id) {
        return Err(ApiError::not_found());
    }
    let item_key = ctx.item_key(id);
    for _ in 0..WRITE_ATTEMPTS_MAX {
        let entry = ctx
            .state
            .db
            .get(&item_key)
            .map_err(engine_error)?
            .ok_or_else(ApiError::not_found)?;
        let item = StoredItem::decode(&entry.value).map_err(ApiError::corrupt)?;
        let batch = WriteBatch::from(Op::delete(item_key.clone()).expect_seqno(entry.seqno))
            .with(Op::delete(ctx.index_key(item.key)));
        match ctx.state.write(batch).await {
            Ok(_) => return Ok(http::empty(StatusCode::NO_CONTENT)),
            Err(
                strata_engine::Error::Conflict { index: 0 }
                | strata_engine::Error::NotFound { index: 0 },
            ) => continue,
            Err(strata_engine::Error::NotFound { index: 1 }) => {
                return Err(ApiError::corrupt("item has no index entry"))
            }
            Err(e) => return Err(engine_error(e)),
        }
    }
    Err(ApiError::concurrent_modification())
}

fn list(ctx: Ctx<'_>, raw_query: &str) -> Result<Resp, ApiError> {
    let query = ListQuery::parse(raw_query).map_err(|message| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            code::INVALID_QUERY,
            "bad_request",
            message,
        )
    })?;
    let prefix = keyspace::prefix(Dialect::KeyValues, &ctx.app.api_key, TABLE_ITEMS);
    let mut selection = PageSelection::new(&query);
    common::scan_prefix_bounded(
        &ctx.state.db.snapshot(),
        &prefix,
        LIST_SCAN_CHUNK_ITEMS,
        LIST_SCAN_ITEMS_MAX,
        engine_error,
        |entry| {
            let id = std::str::from_utf8(&entry.key[prefix.len()..])
                .map_err(|_| ApiError::corrupt("item id is not UTF-8"))?;
            let item = StoredItem::decode(&entry.value).map_err(ApiError::corrupt)?;
            if query.matches(&item) {
                selection.offer(ListedItem::new(id, &item));
            }
            Ok(())
        },
    )?;
    let total = selection.total;
    let page_items = selection.into_page();
    let hrefs: Vec<String> = page_items.iter().map(|i| ctx.item_href(&i.id)).collect();
    let items = page_items
        .iter()
        .zip(&hrefs)
        .map(|(i, href)| {
            let stored = StoredItem {
                date_created_ms: i.date_created_ms,
                date_updated_ms: i.date_updated_ms,
                key: &i.key,
                value: &i.value,
            };
            ItemOut::new(&i.id, &stored, href)
        })
        .collect();
    let links = ListLinks::new(ctx, &query, total);
    Ok(http::json(
        StatusCode::OK,
        &ListOut {
            item: items,
            page: query.page,
            records_per_page: query.rpp,
            total_records: total,
            search_query: query.search_query.as_deref(),
            sort: query.sort.as_deref(),
            links,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Input

/// `key` and `value` of a POST / PUT body. Other fields (`id`, dates, `_links`, `embed`, as
/// Baasic SDKs send the whole resource back) are ignored.
#[derive(Debug)]
struct ItemInput {
    key: Option<String>,
    value: Option<String>,
}

impl ItemInput {
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        #[derive(Deserialize)]
        struct RawBody<'a> {
            #[serde(borrow, default)]
            key: Option<&'a RawValue>,
            #[serde(borrow, default)]
            value: Option<&'a RawValue>,
        }
        let raw: RawBody<'_> = common::json_object_body(body).map_err(ApiError::malformed)?;
        let string = |raw: Option<&RawValue>, name: &str| -> Result<Option<String>, ApiError> {
            raw.map(|r| {
                serde_json::from_str::<String>(r.get())
                    .map_err(|_| ApiError::validation(format!("{name} must be a string")))
            })
            .transpose()
        };
        let key = string(raw.key, "key")?;
        let value = string(raw.value, "value")?;
        if let Some(key) = &key {
            if key.is_empty() {
                return Err(ApiError::validation("key must not be empty"));
            }
            if key.len() > KEY_BYTES_MAX {
                return Err(ApiError::validation(format!(
                    "key must be at most {KEY_BYTES_MAX} bytes"
                )));
            }
        }
        if value.as_ref().is_some_and(|v| v.len() > VALUE_BYTES_MAX) {
            return Err(ApiError::validation(format!(
                "value must be at most {VALUE_BYTES_MAX} bytes"
            )));
        }
        Ok(ItemInput { key, value })
    }
}

// ---------------------------------------------------------------------------------------------
// Output (HAL)

#[derive(Serialize)]
struct Link<'a> {
    href: &'a str,
    templated: bool,
}

impl<'a> Link<'a> {
    fn to(href: &'a str) -> Self {
        Link {
            href,
            templated: false,
        }
    }
}

/// `self`, and `put` / `delete` which Baasic SDKs follow to update and remove a resource.
#[derive(Serialize)]
struct ItemLinks<'a> {
    #[serde(rename = "self")]
    this: Link<'a>,
    put: Link<'a>,
    delete: Link<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemOut<'a> {
    id: &'a str,
    key: &'a str,
    value: &'a str,
    date_created: String,
    date_updated: String,
    #[serde(rename = "_links")]
    links: ItemLinks<'a>,
}

impl<'a> ItemOut<'a> {
    fn new(id: &'a str, item: &StoredItem<'a>, href: &'a str) -> Self {
        ItemOut {
            id,
            key: item.key,
            value: item.value,
            date_created: codec::format_date(item.date_created_ms),
            date_updated: codec::format_date(item.date_updated_ms),
            links: ItemLinks {
                this: Link::to(href),
                put: Link::to(href),
                delete: Link::to(href),
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListOut<'a> {
    item: Vec<ItemOut<'a>>,
    page: usize,
    records_per_page: usize,
    total_records: usize,
    search_query: Option<&'a str>,
    sort: Option<&'a str>,
    #[serde(rename = "_links")]
    links: ListLinks,
}

/// Owned hrefs of a list page.
#[derive(Serialize)]
struct ListLinks {
    #[serde(rename = "self")]
    this: OwnedLink,
    first: OwnedLink,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<OwnedLink>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<OwnedLink>,
    last: OwnedLink,
}

#[derive(Serialize)]
struct OwnedLink {
    href: String,
    templated: bool,
}

impl ListLinks {
    fn new(ctx: Ctx<'_>, query: &ListQuery, total: usize) -> Self {
        let last_page = total.div_ceil(query.rpp).max(1);
        let link = |page: usize| {
            let mut qs = form_urlencoded::Serializer::new(String::new());
            if let Some(s) = &query.search_query {
                qs.append_pair("searchQuery", s);
            }
            qs.append_pair("page", &page.to_string());
            qs.append_pair("rpp", &query.rpp.to_string());
            if let Some(s) = &query.sort {
                qs.append_pair("sort", s);
            }
            OwnedLink {
                href: format!(
                    "/{}/key-values?{}",
                    utf8_percent_encode(&ctx.app.api_key, PATH_SEGMENT),
                    qs.finish()
                ),
                templated: false,
            }
        };
        ListLinks {
            this: link(query.page),
            first: link(1),
            previous: (query.page > 1).then(|| link((query.page - 1).min(last_page))),
            next: (query.page < last_page).then(|| link(query.page + 1)),
            last: link(last_page),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answer: `{message, error, errorCode, details}` with an HTTP status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: u32,
    /// A short machine-readable name (the OAuth error code for login errors).
    error: &'static str,
    message: Cow<'static, str>,
    /// Methods for the `Allow` header of a 405.
    allow: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    message: &'a str,
    error: &'a str,
    error_code: u32,
    details: Option<&'a str>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        code: u32,
        error: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            code,
            error,
            message: message.into(),
            allow: None,
        }
    }

    fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            "not_found",
            "Key value resource not found",
        )
    }

    fn unauthorized(message: &'static str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            code::INVALID_TOKEN,
            "invalid_token",
            message,
        )
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        ApiError {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                code::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            )
        }
    }

    fn malformed(message: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            code::MALFORMED_BODY,
            "bad_request",
            message,
        )
    }

    fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            code::VALIDATION,
            "validation_failed",
            message,
        )
    }

    fn duplicate_key() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            code::DUPLICATE_KEY,
            "conflict",
            "A key value resource with this key already exists",
        )
    }

    fn concurrent_modification() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            code::CONCURRENT_MODIFICATION,
            "conflict",
            "The resource was modified concurrently; retry the request",
        )
    }

    /// Logged with its detail; the client sees a generic 500.
    fn internal(detail: String) -> Self {
        tracing::error!(%detail, "key-values internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "internal_error",
            "A generic error has occurred on the system",
        )
    }

    /// Stored bytes that do not decode, or an item and its index that disagree.
    fn corrupt(what: &'static str) -> Self {
        Self::internal(format!("corrupt key-values data: {what}"))
    }

    fn into_response(self) -> Resp {
        let mut resp = http::json(
            self.status,
            &ErrorBody {
                message: &self.message,
                error: self.error,
                error_code: self.code,
                // The Baasic JavaScript SDK forgets its stored token only when a 401's
                // `details` is `invalid_token` (its ApiClient.request); otherwise it keeps
                // sending the rejected token (docs/sdk-checks.md).
                details: (self.status == StatusCode::UNAUTHORIZED).then_some(INVALID_TOKEN_DETAILS),
            },
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(BEARER_CHALLENGE));
        }
        if let Some(allow) = self.allow {
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}

/// The one place engine errors become this dialect's answers. Conflict / NotFound are
/// interpreted by each handler first (they know which op failed); what reaches here is
/// unexpected or operational.
fn engine_error(e: strata_engine::Error) -> ApiError {
    use strata_engine::Error;
    match e {
        Error::Conflict { .. } => ApiError::duplicate_key(),
        Error::NotFound { .. } => ApiError::not_found(),
        Error::InvalidArgument(message) => ApiError::validation(message),
        Error::Closed => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            "service_unavailable",
            "The server is shutting down",
        ),
        Error::Poisoned => {
            tracing::error!(error = %e, "key-values write refused");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                "service_unavailable",
                "The storage engine refuses writes after an I/O error",
            )
        }
        e => ApiError::internal(format!("engine error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse_route("/demo/key-values"), Route::Collection("demo"));
        assert_eq!(parse_route("/demo/key-values/"), Route::Collection("demo"));
        assert_eq!(
            parse_route("/demo/key-values/abc"),
            Route::Item("demo", "abc")
        );
        assert_eq!(
            parse_route("/demo/key-values/abc/"),
            Route::Item("demo", "abc")
        );
        assert_eq!(parse_route("/demo/login"), Route::Login("demo"));
        assert_eq!(parse_route("/demo/login/"), Route::Login("demo"));
        assert_eq!(parse_route("/demo/key-values/a/b"), Route::NotFound);
        assert_eq!(parse_route("/demo/key-values//"), Route::NotFound);
        assert_eq!(parse_route("/demo/login/x"), Route::NotFound);
        assert_eq!(parse_route("/demo/other"), Route::NotFound);
        assert_eq!(parse_route("/demo"), Route::NotFound);
        assert_eq!(parse_route("//key-values"), Route::NotFound);
        assert_eq!(parse_route("/"), Route::NotFound);
    }

    #[test]
    fn item_bodies() {
        let input = ItemInput::parse(
            br#"{"key":"a\"b","value":"v","id":"x","dateCreated":"y","_links":{}}"#,
        )
        .unwrap();
        assert_eq!(input.key.as_deref(), Some("a\"b"));
        assert_eq!(input.value.as_deref(), Some("v"));
        let input = ItemInput::parse(br#"{"value":""}"#).unwrap();
        assert_eq!((input.key, input.value.as_deref()), (None, Some("")));

        let too_long_key = format!(
            r#"{{"key":"{}","value":""}}"#,
            "k".repeat(KEY_BYTES_MAX + 1)
        );
        let too_long_value = format!(
            r#"{{"key":"k","value":"{}"}}"#,
            "v".repeat(VALUE_BYTES_MAX + 1)
        );
        let cases: Vec<(&[u8], u32)> = vec![
            (b"", code::MALFORMED_BODY),
            (b"[]", code::MALFORMED_BODY),
            (b"{\"key\":", code::MALFORMED_BODY),
            (b"\"key\"", code::MALFORMED_BODY),
            (br#"{"key":1,"value":"v"}"#, code::VALIDATION),
            (br#"{"key":"k","value":{}}"#, code::VALIDATION),
            (br#"{"key":"","value":"v"}"#, code::VALIDATION),
            (too_long_key.as_bytes(), code::VALIDATION),
            (too_long_value.as_bytes(), code::VALIDATION),
        ];
        for (body, expected) in cases {
            let err = ItemInput::parse(body).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
            assert_eq!(err.code, expected, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn login_forms() {
        let req = |content_type: &str, body: &'static [u8]| {
            let mut headers = hyper::HeaderMap::new();
            headers.insert(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_str(content_type).unwrap(),
            );
            Req {
                method: Method::POST,
                path: "/demo/login".into(),
                query: String::new(),
                headers,
                body: bytes::Bytes::from_static(body),
            }
        };
        let expected = LoginForm {
            grant_type: Some("password".into()),
            username: Some("al ice".into()),
            password: Some("p&w".into()),
        };
        let form = req(
            "application/x-www-form-urlencoded; charset=UTF-8",
            b"grant_type=password&username=al+ice&password=p%26w&client_id=x",
        );
        assert_eq!(LoginForm::parse(&form).unwrap(), expected);
        let json = req(
            "application/json",
            br#"{"grant_type":"password","username":"al ice","password":"p&w"}"#,
        );
        assert_eq!(LoginForm::parse(&json).unwrap(), expected);
        assert!(LoginForm::parse(&req("application/json", b"{")).is_err());
    }
}
