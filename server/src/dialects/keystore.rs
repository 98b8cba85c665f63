//! 4.3 Key store (seed 002, Applivery-style): `/v1/key-store`.
//!
//! Tenant: the workspace of the bearer token's user (`[[keystore.users]]`). Every item is one
//! engine entry `keyspace::key(KeyStore, workspace, TABLE_ITEMS, key)` whose value is
//! [`encode_item`]: the creator's id and the `data` object's JSON text exactly as received.
//!
//! Write modes map onto engine write modes: plain create → `Insert`, `force` → `Overwrite`
//! (a fresh entry, `createdBy` = caller), `createOrUpdate` → read, then `Update` guarded by the
//! read's seqno (or `Insert` if absent) so the original `createdBy` survives concurrent upserts.
//!
//! Decisions where the vendor is silent are documented in `docs/api.md (section "keystore")`.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderValue, ALLOW};
use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use strata_engine::{Entry, Op};
use subtle::ConstantTimeEq;

use super::common;
use crate::config::{Config, KeystoreUser};
use crate::http::{self, Req, Resp};
use crate::keyspace::{self, Dialect};
use crate::AppState;

/// Longest key, in characters (the vendor's documented limit).
pub const KEY_CHARS_MAX: usize = 128;
/// Shortest key the vendor's pattern `[a-z][a-z0-9-_]+[a-z0-9]` admits.
pub const KEY_CHARS_MIN: usize = 3;
/// Largest `data` object, in bytes of JSON text.
pub const DATA_BYTES_MAX: usize = 1024 * 1024;
/// Page size of `GET /v1/key-store` when `limit` is not given.
pub const LIST_LIMIT_DEFAULT: usize = 25;
/// Largest page size of `GET /v1/key-store`.
pub const LIST_LIMIT_MAX: usize = 100;
/// Most entries one list request walks (and counts) in a workspace.
pub const LIST_SCAN_ENTRIES_MAX: usize = 100_000;
/// Entries fetched from the engine per scan call while listing.
const LIST_SCAN_CHUNK_ENTRIES: usize = 256;
/// Attempts of a `createOrUpdate` / `PUT` read-modify-write before giving up with 409.
///
/// Every round of a race lets at least one writer win (its guard matched), so N concurrent
/// writers of one key need at most N attempts; this bound covers a connection pool's worth
/// of writers hammering one key, and still ends a pathological livelock.
pub const WRITE_ATTEMPTS_MAX: usize = 128;

/// Table byte of items in the keyspace.
const TABLE_ITEMS: u8 = b'i';
/// First byte of every stored item (its encoding version).
const ITEM_FORMAT_V1: u8 = 1;
/// The reserved prefix keys may not start with (`(?!admin)` in the vendor's pattern).
const RESERVED_KEY_PREFIX: &str = "admin";

/// Error codes of `{"status":false,"error":{"code","message"}}` (see `docs/api.md (section "keystore")`).
pub mod code {
    /// 404: the key does not exist (vendor code).
    pub const ENTITY_NOT_FOUND: u32 = 3001;
    /// 404: no such route under `/v1/key-store`.
    pub const ROUTE_NOT_FOUND: u32 = 3002;
    /// 400: the body is not a JSON object.
    pub const MALFORMED_BODY: u32 = 4000;
    /// 400: a field is missing or invalid, or a query parameter is invalid.
    pub const VALIDATION: u32 = 4001;
    /// 401: no bearer token (vendor code).
    pub const NO_AUTH_TOKEN: u32 = 4002;
    /// 401: the bearer token is unknown (vendor code).
    pub const INVALID_TOKEN: u32 = 4004;
    /// 405: the route exists but not with this method.
    pub const METHOD_NOT_ALLOWED: u32 = 4005;
    /// 408: the request was not received in time.
    pub const REQUEST_TIMEOUT: u32 = 4008;
    /// 413: the request body is larger than `limits.body_bytes_max`.
    pub const PAYLOAD_TOO_LARGE: u32 = 4013;
    /// Any other 4xx.
    pub const CLIENT_ERROR: u32 = 4999;
    /// 500: an internal error (logged).
    pub const INTERNAL: u32 = 5000;
    /// 409: the key already exists (vendor code).
    pub const ENTITY_EXISTS: u32 = 5001;
    /// 409: the entry kept changing under a read-modify-write; retry.
    pub const CONCURRENT_MODIFICATION: u32 = 5002;
    /// 503: the server is shutting down or the engine refuses writes.
    pub const UNAVAILABLE: u32 = 5003;
}

/// Handles one request under `/v1/key-store`.
pub async fn handle(state: &Arc<AppState>, req: Req) -> Resp {
    match serve(state, &req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// An error in this dialect's shape (used by the router for 404 / 405 / 413 / timeouts).
pub fn error_response(status: StatusCode, message: &str) -> Resp {
    let code = match status {
        StatusCode::BAD_REQUEST => code::MALFORMED_BODY,
        StatusCode::UNAUTHORIZED => code::INVALID_TOKEN,
        StatusCode::NOT_FOUND => code::ROUTE_NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED => code::METHOD_NOT_ALLOWED,
        StatusCode::REQUEST_TIMEOUT => code::REQUEST_TIMEOUT,
        StatusCode::CONFLICT => code::ENTITY_EXISTS,
        StatusCode::PAYLOAD_TOO_LARGE => code::PAYLOAD_TOO_LARGE,
        StatusCode::SERVICE_UNAVAILABLE => code::UNAVAILABLE,
        s if s.is_client_error() => code::CLIENT_ERROR,
        _ => code::INTERNAL,
    };
    ApiError::new(status, code, message.to_owned()).into_response()
}

/// A short, stable label of the request's route, for metrics.
pub fn route_name(req: &Req) -> &'static str {
    match (parse_route(&req.path), &req.method) {
        (Route::Collection, &Method::POST) => "keystore_create",
        (Route::Collection, &Method::GET) => "keystore_list",
        (Route::Item(_), &Method::GET) => "keystore_get",
        (Route::Item(_), &Method::PUT) => "keystore_update",
        (Route::Item(_), &Method::DELETE) => "keystore_delete",
        _ => "keystore_other",
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// `/v1/key-store` or `/v1/key-store/`.
    Collection,
    /// `/v1/key-store/{key}` (an optional trailing slash is accepted), still percent-encoded.
    Item(&'a str),
    NotFound,
}

fn parse_route(path: &str) -> Route<'_> {
    let Some(rest) = path.strip_prefix("/v1/key-store") else {
        return Route::NotFound;
    };
    if rest.is_empty() || rest == "/" {
        return Route::Collection;
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return Route::NotFound; // e.g. `/v1/key-storex`
    };
    let segment = rest.strip_suffix('/').unwrap_or(rest);
    if segment.is_empty() || segment.contains('/') {
        return Route::NotFound;
    }
    Route::Item(segment)
}

/// What a request asks for, once its route and method are known.
enum Action<'a> {
    Create,
    List,
    /// The path segment, still percent-encoded.
    Get(&'a str),
    Update(&'a str),
    Delete(&'a str),
}

async fn serve(state: &Arc<AppState>, req: &Req) -> Result<Resp, ApiError> {
    let action = match (parse_route(&req.path), &req.method) {
        (Route::Collection, &Method::POST) => Action::Create,
        (Route::Collection, &Method::GET) => Action::List,
        (Route::Item(k), &Method::GET) => Action::Get(k),
        (Route::Item(k), &Method::PUT) => Action::Update(k),
        (Route::Item(k), &Method::DELETE) => Action::Delete(k),
        (Route::Collection, _) => return Err(ApiError::method_not_allowed("GET, POST")),
        (Route::Item(_), _) => return Err(ApiError::method_not_allowed("GET, PUT, DELETE")),
        (Route::NotFound, _) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                code::ROUTE_NOT_FOUND,
                "Route not found",
            ))
        }
    };

    let config = state.config();
    let user = authenticate(&config, &req.headers)?;
    let tenant = Tenant {
        workspace: &user.workspace,
        user_id: &user.user_id,
    };
    match action {
        Action::Create => create(state, tenant, &req.body).await,
        Action::List => list(state, tenant, &req.query),
        Action::Get(k) => get(state, tenant, &path_key(k)?),
        Action::Update(k) => update(state, tenant, &path_key(k)?, &req.body).await,
        Action::Delete(k) => delete(state, tenant, &path_key(k)?).await,
    }
}

/// The key addressed by a path segment. A key that fails the vendor's pattern can never have
/// been stored, so it is "not found" rather than a validation error.
fn path_key(segment: &str) -> Result<Cow<'_, str>, ApiError> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .filter(|k| validate_key(k).is_ok())
        .ok_or_else(ApiError::entity_not_found)
}

// ---------------------------------------------------------------------------------------------
// Auth

/// Who is calling, and so which workspace the request reads and writes.
#[derive(Clone, Copy)]
struct Tenant<'a> {
    workspace: &'a str,
    /// Becomes `createdBy`.
    user_id: &'a str,
}

/// The configured user whose token the request carries.
fn authenticate<'c>(
    config: &'c Config,
    headers: &hyper::HeaderMap,
) -> Result<&'c KeystoreUser, ApiError> {
    let token = http::bearer(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            code::NO_AUTH_TOKEN,
            "No auth token",
        )
    })?;
    // Compare against every user in constant time per comparison, so the time taken does not
    // reveal how much of a token matched.
    let mut found = None;
    for user in &config.keystore.users {
        if bool::from(user.token.as_bytes().ct_eq(token.as_bytes())) && found.is_none() {
            found = Some(user);
        }
    }
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            code::INVALID_TOKEN,
            "Invalid Token",
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn create(state: &AppState, tenant: Tenant<'_>, body: &[u8]) -> Result<Resp, ApiError> {
    let input = CreateInput::parse(body)?;
    let engine_key = item_key(tenant.workspace, &input.key);
    let created_by = if input.force {
        // A fresh entry, as if nothing had been stored before.
        let value = encode_item(tenant.user_id, input.data.get().as_bytes());
        state
            .write(Op::overwrite(engine_key, value).into())
            .await
            .map_err(engine_error)?;
        Cow::Borrowed(tenant.user_id)
    } else if input.create_or_update {
        Cow::Owned(
            write_keeping_creator(state, tenant, engine_key, input.data, WhenAbsent::Insert)
                .await?,
        )
    } else {
        let value = encode_item(tenant.user_id, input.data.get().as_bytes());
        state
            .write(Op::insert(engine_key, value).into())
            .await
            .map_err(engine_error)?;
        Cow::Borrowed(tenant.user_id)
    };
    Ok(item_response(&input.key, input.data, &created_by))
}

fn get(state: &AppState, tenant: Tenant<'_>, key: &str) -> Result<Resp, ApiError> {
    let entry = state
        .db
        .get(&item_key(tenant.workspace, key))
        .map_err(engine_error)?
        .ok_or_else(ApiError::entity_not_found)?;
    let item = StoredItem::decode(&entry.value)?;
    Ok(item_response(key, item.data, item.created_by))
}

async fn update(
    state: &AppState,
    tenant: Tenant<'_>,
    key: &str,
    body: &[u8],
) -> Result<Resp, ApiError> {
    let input = UpdateInput::parse(body, key)?;
    let engine_key = item_key(tenant.workspace, key);
    let created_by = if input.force {
        // `force` replaces the entry as a fresh one: the caller becomes its creator.
        let value = encode_item(tenant.user_id, input.data.get().as_bytes());
        state
            .write(Op::update(engine_key, value).into())
            .await
            .map_err(engine_error)?;
        tenant.user_id.to_owned()
    } else {
        write_keeping_creator(state, tenant, engine_key, input.data, WhenAbsent::NotFound).await?
    };
    Ok(item_response(key, input.data, &created_by))
}

async fn delete(state: &AppState, tenant: Tenant<'_>, key: &str) -> Result<Resp, ApiError> {
    let previous = state
        .write(Op::delete(item_key(tenant.workspace, key)).into())
        .await
        .map_err(engine_error)?;
    let entry = previous
        .into_iter()
        .next()
        .flatten()
        .expect("a Delete that succeeded reports the entry it removed");
    let item = StoredItem::decode(&entry.value)?;
    Ok(item_response(key, item.data, item.created_by))
}

/// What a read-modify-write does when the key has no live entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WhenAbsent {
    /// Create it with the caller as creator (`createOrUpdate`).
    Insert,
    /// Answer 404 (`PUT`).
    NotFound,
}

/// Writes `data` under `engine_key`, keeping the `createdBy` of the entry already there.
/// Returns the `createdBy` written.
///
/// Reads the current entry and writes with its seqno as guard, so a concurrent write between
/// the read and the write is detected (Conflict) and the whole step retried.
async fn write_keeping_creator(
    state: &AppState,
    tenant: Tenant<'_>,
    engine_key: Vec<u8>,
    data: &RawValue,
    when_absent: WhenAbsent,
) -> Result<String, ApiError> {
    let engine_key = Bytes::from(engine_key);
    for _ in 0..WRITE_ATTEMPTS_MAX {
        let current = state.db.get(&engine_key).map_err(engine_error)?;
        let (op, created_by) = match current {
            Some(entry) => {
                let created_by = StoredItem::decode(&entry.value)?.created_by.to_owned();
                let value = encode_item(&created_by, data.get().as_bytes());
                let op = Op::update(engine_key.clone(), value).expect_seqno(entry.seqno);
                (op, created_by)
            }
            None if when_absent == WhenAbsent::Insert => {
                let value = encode_item(tenant.user_id, data.get().as_bytes());
                (
                    Op::insert(engine_key.clone(), value),
                    tenant.user_id.to_owned(),
                )
            }
            None => return Err(ApiError::entity_not_found()),
        };
        match state.write(op.into()).await {
            Ok(_) => return Ok(created_by),
            // Someone wrote, created or deleted the key since our read: read again.
            Err(strata_engine::Error::Conflict { .. } | strata_engine::Error::NotFound { .. }) => {
                continue
            }
            Err(e) => return Err(engine_error(e)),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        code::CONCURRENT_MODIFICATION,
        "The entry was modified concurrently; retry the request",
    ))
}

fn list(state: &AppState, tenant: Tenant<'_>, query: &str) -> Result<Resp, ApiError> {
    let params = ListParams::parse(query)?;
    let prefix = keyspace::prefix(Dialect::KeyStore, tenant.workspace, TABLE_ITEMS);
    let skip = (params.page - 1).saturating_mul(params.limit);

    let mut seen = 0usize;
    let mut page_entries: Vec<Entry> = Vec::with_capacity(params.limit);
    let total = common::scan_prefix_bounded(
        &state.db.snapshot(),
        &prefix,
        LIST_SCAN_CHUNK_ENTRIES,
        LIST_SCAN_ENTRIES_MAX,
        engine_error,
        |entry| {
            if seen >= skip && page_entries.len() < params.limit {
                page_entries.push(entry);
            }
            seen += 1;
            Ok(())
        },
    )?;

    let mut items = Vec::with_capacity(page_entries.len());
    for entry in &page_entries {
        let key = std::str::from_utf8(&entry.key[prefix.len()..])
            .map_err(|_| ApiError::corrupt("item key is not UTF-8"))?;
        let item = StoredItem::decode(&entry.value)?;
        items.push(ItemOut {
            key,
            data: item.data,
            created_by: item.created_by,
        });
    }
    let page = Page::new(items, total, params.page, params.limit);
    Ok(http::json(
        StatusCode::OK,
        &Envelope {
            status: true,
            data: page,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Input

/// The body of `POST /v1/key-store`, validated.
struct CreateInput<'a> {
    key: String,
    data: &'a RawValue,
    force: bool,
    create_or_update: bool,
}

/// The body of `PUT /v1/key-store/{key}`, validated.
struct UpdateInput<'a> {
    data: &'a RawValue,
    force: bool,
}

/// Fields as received; each is checked by hand so errors can name the field. Unknown fields
/// are ignored (documented).
#[derive(Deserialize)]
struct RawBody<'a> {
    #[serde(borrow, default)]
    key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    force: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "createOrUpdate")]
    create_or_update: Option<&'a RawValue>,
}

impl<'a> RawBody<'a> {
    fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        common::json_object_body(body).map_err(ApiError::malformed)
    }

    fn data(&self) -> Result<&'a RawValue, ApiError> {
        let data = self
            .data
            .ok_or_else(|| ApiError::validation("data is required"))?;
        if !data.get().starts_with('{') {
            return Err(ApiError::validation("data must be an object"));
        }
        if data.get().len() > DATA_BYTES_MAX {
            return Err(ApiError::validation(format!(
                "data must be at most {DATA_BYTES_MAX} bytes of JSON"
            )));
        }
        Ok(data)
    }
}

impl<'a> CreateInput<'a> {
    fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        let raw = RawBody::parse(body)?;
        let key = raw
            .key
            .ok_or_else(|| ApiError::validation("key is required"))?;
        let key: String = serde_json::from_str(key.get())
            .map_err(|_| ApiError::validation("key must be a string"))?;
        validate_key(&key).map_err(ApiError::validation)?;
        Ok(CreateInput {
            data: raw.data()?,
            force: flag(raw.force, "force")?,
            create_or_update: flag(raw.create_or_update, "createOrUpdate")?,
            key,
        })
    }
}

impl<'a> UpdateInput<'a> {
    fn parse(body: &'a [u8], path_key: &str) -> Result<Self, ApiError> {
        let raw = RawBody::parse(body)?;
        if let Some(key) = raw.key {
            // The key is addressed by the path; a different one in the body is a mistake.
            let key: String = serde_json::from_str(key.get())
                .map_err(|_| ApiError::validation("key must be a string"))?;
            if key != path_key {
                return Err(ApiError::validation("key in the body must match the path"));
            }
        }
        if raw.create_or_update.is_some() {
            flag(raw.create_or_update, "createOrUpdate")?;
        }
        Ok(UpdateInput {
            data: raw.data()?,
            force: flag(raw.force, "force")?,
        })
    }
}

/// An optional boolean flag (`null` counts as absent).
fn flag(value: Option<&RawValue>, name: &str) -> Result<bool, ApiError> {
    match value.map(RawValue::get) {
        None => Ok(false),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ApiError::validation(format!("{name} must be a boolean"))),
    }
}

/// Checks the vendor's key rule: at most 128 characters matching
/// `^(?!admin)[a-z][a-z0-9-_]+[a-z0-9]$`. Written by hand because the `regex` crate has no
/// lookahead, and the rule is three character classes.
pub fn validate_key(key: &str) -> Result<(), &'static str> {
    let bytes = key.as_bytes();
    // Every admitted character is ASCII, so bytes and characters coincide below.
    if bytes.len() > KEY_CHARS_MAX && key.chars().count() > KEY_CHARS_MAX {
        return Err("key must be at most 128 characters");
    }
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return Err("key must be at least 3 characters");
    };
    if bytes.len() < KEY_CHARS_MIN {
        return Err("key must be at least 3 characters");
    }
    let inner_ok = bytes[1..bytes.len() - 1]
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !first.is_ascii_lowercase()
        || !(last.is_ascii_lowercase() || last.is_ascii_digit())
        || !inner_ok
    {
        return Err("key must match ^(?!admin)[a-z][a-z0-9-_]+[a-z0-9]$");
    }
    if key.starts_with(RESERVED_KEY_PREFIX) {
        return Err("key must not start with \"admin\"");
    }
    Ok(())
}

/// `page` and `limit` of `GET /v1/key-store`.
#[derive(Debug, PartialEq, Eq)]
struct ListParams {
    /// 1-based.
    page: usize,
    limit: usize,
}

impl ListParams {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let pairs = http::form_pairs(query.as_bytes());
        let page = match http::param(&pairs, "page") {
            None | Some("") => 1,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|&p| p >= 1)
                .ok_or_else(|| ApiError::validation("page must be an integer >= 1"))?,
        };
        let limit = match http::param(&pairs, "limit") {
            None | Some("") => LIST_LIMIT_DEFAULT,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=LIST_LIMIT_MAX).contains(l))
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "limit must be an integer between 1 and {LIST_LIMIT_MAX}"
                    ))
                })?,
        };
        Ok(ListParams { page, limit })
    }
}

// ---------------------------------------------------------------------------------------------
// Storage encoding

fn item_key(workspace: &str, key: &str) -> Vec<u8> {
    keyspace::key(Dialect::KeyStore, workspace, TABLE_ITEMS, key.as_bytes())
}

/// Stored item: `[ITEM_FORMAT_V1][createdBy length: u8][createdBy][data JSON text]`.
fn encode_item(created_by: &str, data: &[u8]) -> Vec<u8> {
    let created_by = created_by.as_bytes();
    // Config validation keeps user ids at 24 hex characters; a longer one is a programmer error.
    let len = u8::try_from(created_by.len()).expect("user ids are at most 255 bytes");
    let mut out = Vec::with_capacity(2 + created_by.len() + data.len());
    out.push(ITEM_FORMAT_V1);
    out.push(len);
    out.extend_from_slice(created_by);
    out.extend_from_slice(data);
    out
}

/// A stored item, borrowed from the engine's value bytes.
#[derive(Debug)]
struct StoredItem<'a> {
    created_by: &'a str,
    data: &'a RawValue,
}

impl<'a> StoredItem<'a> {
    fn decode(value: &'a [u8]) -> Result<Self, ApiError> {
        let (&version, rest) = value
            .split_first()
            .ok_or_else(|| ApiError::corrupt("empty item"))?;
        if version != ITEM_FORMAT_V1 {
            return Err(ApiError::corrupt("unknown item format version"));
        }
        let (&len, rest) = rest
            .split_first()
            .ok_or_else(|| ApiError::corrupt("item truncated"))?;
        let len = usize::from(len);
        if rest.len() < len {
            return Err(ApiError::corrupt("item truncated"));
        }
        let (created_by, data) = rest.split_at(len);
        let created_by = std::str::from_utf8(created_by)
            .map_err(|_| ApiError::corrupt("createdBy is not UTF-8"))?;
        // Re-checks the JSON on the way out (a scan, no allocation), so damaged bytes become
        // an error instead of an invalid response.
        let data: &RawValue =
            serde_json::from_slice(data).map_err(|_| ApiError::corrupt("data is not JSON"))?;
        Ok(StoredItem { created_by, data })
    }
}

// ---------------------------------------------------------------------------------------------
// Output

#[derive(Serialize)]
struct Envelope<T> {
    status: bool,
    data: T,
}

#[derive(Serialize)]
struct ItemOut<'a> {
    key: &'a str,
    data: &'a RawValue,
    #[serde(rename = "createdBy")]
    created_by: &'a str,
}

fn item_response(key: &str, data: &RawValue, created_by: &str) -> Resp {
    http::json(
        StatusCode::OK,
        &Envelope {
            status: true,
            data: ItemOut {
                key,
                data,
                created_by,
            },
        },
    )
}

/// A page of the list, in the shape of mongoose-paginate (as Applivery's list endpoints use).
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    items: Vec<T>,
    total_docs: usize,
    limit: usize,
    page: usize,
    total_pages: usize,
    /// 1-based position of the first item of this page in the whole list.
    paging_counter: usize,
    has_prev_page: bool,
    has_next_page: bool,
    prev_page: Option<usize>,
    next_page: Option<usize>,
}

impl<T> Page<T> {
    fn new(items: Vec<T>, total_docs: usize, page: usize, limit: usize) -> Self {
        assert!(page >= 1 && limit >= 1, "validated by ListParams");
        // As mongoose-paginate: an empty list still has one (empty) page.
        let total_pages = total_docs.div_ceil(limit).max(1);
        let has_prev_page = page > 1;
        let has_next_page = page < total_pages;
        Page {
            items,
            total_docs,
            limit,
            page,
            total_pages,
            paging_counter: (page - 1).saturating_mul(limit) + 1,
            has_prev_page,
            has_next_page,
            prev_page: has_prev_page.then(|| page - 1),
            next_page: has_next_page.then(|| page + 1),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answer: `{"status":false,"error":{"code","message"}}` with an HTTP status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: u32,
    message: Cow<'static, str>,
    /// Methods for the `Allow` header of a 405.
    allow: Option<&'static str>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    status: bool,
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: u32,
    message: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: u32, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    fn entity_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::ENTITY_NOT_FOUND,
            "Entity not found",
        )
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        ApiError {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                code::METHOD_NOT_ALLOWED,
                "Method not allowed",
            )
        }
    }

    fn malformed(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::MALFORMED_BODY, message)
    }

    fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::VALIDATION, message)
    }

    /// Stored bytes that do not decode: logged, answered as a 500.
    fn corrupt(what: &'static str) -> Self {
        tracing::error!(what, "key-store item failed to decode");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "Internal error",
        )
    }

    fn into_response(self) -> Resp {
        let mut resp = http::json(
            self.status,
            &ErrorBody {
                status: false,
                error: ErrorDetail {
                    code: self.code,
                    message: &self.message,
                },
            },
        );
        if let Some(allow) = self.allow {
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}

/// The one place engine errors become this dialect's answers.
fn engine_error(e: strata_engine::Error) -> ApiError {
    use strata_engine::Error;
    match e {
        Error::Conflict { .. } => ApiError::new(
            StatusCode::CONFLICT,
            code::ENTITY_EXISTS,
            "Entity already exists",
        ),
        Error::NotFound { .. } => ApiError::entity_not_found(),
        Error::InvalidArgument(message) => ApiError::validation(message),
        Error::Closed => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            "The server is shutting down",
        ),
        Error::Poisoned => {
            tracing::error!(error = %e, "key-store write refused");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                "The storage engine refuses writes after an I/O error",
            )
        }
        e => {
            tracing::error!(error = %e, "key-store engine error");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "Internal error",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse_route("/v1/key-store"), Route::Collection);
        assert_eq!(parse_route("/v1/key-store/"), Route::Collection);
        assert_eq!(parse_route("/v1/key-store/abc"), Route::Item("abc"));
        assert_eq!(parse_route("/v1/key-store/abc/"), Route::Item("abc"));
        assert_eq!(parse_route("/v1/key-store/abc/def"), Route::NotFound);
        assert_eq!(parse_route("/v1/key-store//"), Route::NotFound);
        assert_eq!(parse_route("/v1/key-storex"), Route::NotFound);
        assert_eq!(parse_route("/v2/key-store"), Route::NotFound);
    }

    #[test]
    fn keys_follow_the_vendor_pattern() {
        let good = [
            "abc",
            "a-b",
            "a_b",
            "a1b",
            "ab9",
            "config-v2_prod",
            "adm",
            "xadmin",
        ];
        for key in good {
            assert_eq!(validate_key(key), Ok(()), "{key}");
        }
        let max = "a".repeat(KEY_CHARS_MAX);
        assert_eq!(validate_key(&max), Ok(()));
        let bad = [
            "",
            "a",
            "ab",
            "Abc",
            "1bc",
            "-bc",
            "ab-",
            "ab_",
            "aBc",
            "a.c",
            "a c",
            "a/c",
            "admin",
            "admin1",
            "admin-x",
            "administrator",
            "ab\u{e9}",
            "\u{e9}bc",
        ];
        for key in bad {
            assert!(validate_key(key).is_err(), "{key:?}");
        }
        assert!(validate_key(&"a".repeat(KEY_CHARS_MAX + 1)).is_err());
    }

    #[test]
    fn items_round_trip() {
        let value = encode_item("65a1f0c2e4b0a1b2c3d4e5f6", br#"{"a":[1,2]}"#);
        let item = StoredItem::decode(&value).unwrap();
        assert_eq!(item.created_by, "65a1f0c2e4b0a1b2c3d4e5f6");
        assert_eq!(item.data.get(), r#"{"a":[1,2]}"#);
    }

    #[test]
    fn damaged_items_are_errors() {
        let value = encode_item("65a1f0c2e4b0a1b2c3d4e5f6", br#"{"a":1}"#);
        for bad in [
            &[][..],
            &[9u8, 0][..],
            &value[..1],
            &value[..10],
            &value[..value.len() - 1],
        ] {
            let err = StoredItem::decode(bad).unwrap_err();
            assert_eq!(err.status, StatusCode::INTERNAL_SERVER_ERROR);
        }
    }

    #[test]
    fn create_bodies() {
        let input =
            CreateInput::parse(br#" {"key":"abc","data":{"x":1},"force":true,"extra":5}"#).unwrap();
        assert_eq!(input.key, "abc");
        assert_eq!(input.data.get(), r#"{"x":1}"#);
        assert!(input.force);
        assert!(!input.create_or_update);

        let input =
            CreateInput::parse(br#"{"key":"abc","data":{},"createOrUpdate":true,"force":null}"#)
                .unwrap();
        assert!(input.create_or_update);
        assert!(!input.force);

        let cases: &[(&[u8], u32)] = &[
            (b"", code::MALFORMED_BODY),
            (b"[]", code::MALFORMED_BODY),
            (b"{", code::MALFORMED_BODY),
            (b"null", code::MALFORMED_BODY),
            (
                br#"{"key":"abc","key":"abd","data":{}}"#,
                code::MALFORMED_BODY,
            ),
            (br#"{"data":{}}"#, code::VALIDATION),
            (br#"{"key":"abc"}"#, code::VALIDATION),
            (br#"{"key":null,"data":{}}"#, code::VALIDATION),
            (br#"{"key":5,"data":{}}"#, code::VALIDATION),
            (br#"{"key":"admin-x","data":{}}"#, code::VALIDATION),
            (br#"{"key":"abc","data":[]}"#, code::VALIDATION),
            (br#"{"key":"abc","data":"x"}"#, code::VALIDATION),
            (
                br#"{"key":"abc","data":{},"force":"true"}"#,
                code::VALIDATION,
            ),
            (
                br#"{"key":"abc","data":{},"createOrUpdate":1}"#,
                code::VALIDATION,
            ),
        ];
        for (body, expected) in cases {
            let err = CreateInput::parse(body).err().unwrap_or_else(|| {
                panic!("accepted {}", String::from_utf8_lossy(body));
            });
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
            assert_eq!(err.code, *expected, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn update_bodies() {
        let input = UpdateInput::parse(br#"{"data":{"y":2},"force":false}"#, "abc").unwrap();
        assert_eq!(input.data.get(), r#"{"y":2}"#);
        assert!(!input.force);
        assert!(UpdateInput::parse(br#"{"key":"abc","data":{}}"#, "abc").is_ok());
        assert!(UpdateInput::parse(br#"{"key":"abd","data":{}}"#, "abc").is_err());
        assert!(UpdateInput::parse(br#"{"data":{},"force":0}"#, "abc").is_err());
        assert!(UpdateInput::parse(br#"{"force":true}"#, "abc").is_err());
    }

    #[test]
    fn list_params() {
        assert_eq!(
            ListParams::parse("").unwrap(),
            ListParams {
                page: 1,
                limit: LIST_LIMIT_DEFAULT
            }
        );
        assert_eq!(
            ListParams::parse("page=3&limit=100").unwrap(),
            ListParams {
                page: 3,
                limit: 100
            }
        );
        for bad in [
            "page=0",
            "page=-1",
            "page=x",
            "limit=0",
            "limit=101",
            "limit=1.5",
        ] {
            assert!(ListParams::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages() {
        let p = Page::new(vec![1, 2], 7, 1, 2);
        assert_eq!(
            (p.total_pages, p.has_prev_page, p.has_next_page),
            (4, false, true)
        );
        assert_eq!(
            (p.prev_page, p.next_page, p.paging_counter),
            (None, Some(2), 1)
        );
        let p = Page::new(vec![7], 7, 4, 2);
        assert_eq!((p.has_prev_page, p.has_next_page), (true, false));
        assert_eq!(
            (p.prev_page, p.next_page, p.paging_counter),
            (Some(3), None, 7)
        );
        let p: Page<u8> = Page::new(vec![], 0, 1, 25);
        assert_eq!((p.total_pages, p.has_next_page), (1, false));
    }

    #[test]
    fn error_shape() {
        let resp = error_response(StatusCode::PAYLOAD_TOO_LARGE, "too big");
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            body_json(resp),
            serde_json::json!({"status":false,"error":{"code":4013,"message":"too big"}})
        );
        let resp = ApiError::method_not_allowed("GET, POST").into_response();
        assert_eq!(resp.headers()[ALLOW], "GET, POST");
    }

    fn body_json(resp: Resp) -> serde_json::Value {
        let body = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(http_body_util::BodyExt::collect(resp.into_body()))
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&body).unwrap()
    }
}
