//! `/v2/application-keys`: create, list, get, update, delete — and the store budget rule.
//!
//! Budget rule: the sum of `reserved_rate_limit` over a store's keys never exceeds the store's
//! `rate_limit`. The running sum lives in the store's budget record, which changes in the same
//! batch as the keys. Creates, updates and deletes are validated here and applied by the
//! store's committer ([`super::changes`]), which checks them in order against the running
//! totals and writes a whole group of them, with one budget update, in one batch.

use std::sync::Arc;

use hyper::StatusCode;
use serde::Serialize;
use strata_engine::db::SCAN_LIMIT_MAX;
use strata_engine::{Entry, Op};

use super::auth::Caller;
use super::changes::{self, Change, NewKey, Outcome};
use super::input::{self, Page};
use super::layout::{self, BudgetRecord, KeyRecord};
use super::secret;
use super::{corrupt, engine_failure, error_response, Failure};
use crate::http::{self, Resp};
use crate::AppState;

/// Most application keys one store may hold (every key stays reachable through pagination:
/// offset ≤ 10 000, limit ≤ 100).
pub const KEYS_PER_STORE_MAX: u64 = 10_000;
/// Longest key id looked up, in bytes (ids are 36-character UUIDs); longer ids are 404.
pub const KEY_ID_BYTES_MAX: usize = 64;

const OVER_BUDGET: &str = "requested reserved rate limit will exceed the maximum";
const NOT_FOUND: &str = "application key not found";

/// Where `links.self` of a key points: `{base}/v2/application-keys/{id}`.
pub struct Links<'a> {
    pub base: &'a str,
}

#[derive(Serialize)]
struct KeyView<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    reserved_rate_limit: u64,
    meta: KeyMeta<'a>,
    links: SelfLink,
}

#[derive(Serialize)]
struct KeyMeta<'a> {
    timestamps: TimestampsView<'a>,
}

#[derive(Serialize)]
struct TimestampsView<'a> {
    created_at: &'a str,
    updated_at: &'a str,
    last_used_at: Option<&'a str>,
}

#[derive(Serialize)]
struct SelfLink {
    #[serde(rename = "self")]
    self_: String,
}

#[derive(Serialize)]
struct One<'a> {
    data: KeyView<'a>,
}

fn view<'a>(r: &'a KeyRecord, secret: Option<&'a str>, links: &Links<'_>) -> KeyView<'a> {
    KeyView {
        id: &r.id,
        name: &r.name,
        kind: input::KEY_TYPE,
        client_id: &r.client_id,
        client_secret: secret,
        reserved_rate_limit: r.reserved_rate_limit,
        meta: KeyMeta {
            timestamps: TimestampsView {
                created_at: &r.created_at,
                updated_at: &r.updated_at,
                last_used_at: r.last_used_at.as_deref(),
            },
        },
        links: SelfLink {
            self_: format!("{}/v2/application-keys/{}", links.base, r.id),
        },
    }
}

fn one(status: StatusCode, r: &KeyRecord, secret: Option<&str>, links: &Links<'_>) -> Resp {
    http::json(
        status,
        &One {
            data: view(r, secret, links),
        },
    )
}

fn bad_request(detail: &str) -> Resp {
    error_response(StatusCode::BAD_REQUEST, detail)
}

pub(super) fn over_budget() -> Resp {
    error_response(StatusCode::CONFLICT, OVER_BUDGET)
}

pub(super) fn store_full() -> Resp {
    error_response(
        StatusCode::CONFLICT,
        &format!("the store already holds the maximum of {KEYS_PER_STORE_MAX} application keys"),
    )
}

pub(super) fn not_found() -> Resp {
    error_response(StatusCode::NOT_FOUND, NOT_FOUND)
}

/// Which state a read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadAt {
    /// The durable state: what a client may be told.
    Durable,
    /// Everything appended, not yet durable writes included (`Db::get_appended`): for the
    /// store's committer, which plans a group on top of its groups still in flight.
    Appended,
}

fn get_at(state: &AppState, key: &[u8], at: ReadAt) -> strata_engine::Result<Option<Entry>> {
    match at {
        ReadAt::Durable => state.db.get(key),
        ReadAt::Appended => state.db.get_appended(key),
    }
}

/// The store's budget record and its seqno (`None`: never written, i.e. no keys yet).
pub(super) fn read_budget(
    state: &AppState,
    store_id: &str,
    at: ReadAt,
) -> Result<(BudgetRecord, Option<u64>), Failure> {
    match get_at(state, &layout::budget_key(store_id), at)? {
        Some(e) => Ok((
            layout::decode(&e.value).map_err(Failure::Corrupt)?,
            Some(e.seqno),
        )),
        None => Ok((BudgetRecord::default(), None)),
    }
}

/// The op that writes `budget`, guarded by the seqno it was read at.
pub(super) fn budget_op(store_id: &str, budget: &BudgetRecord, seqno: Option<u64>) -> Op {
    let key = layout::budget_key(store_id);
    let value = layout::encode(budget);
    match seqno {
        Some(s) => Op::update(key, value).expect_seqno(s),
        None => Op::insert(key, value),
    }
}

/// Whether moving a store's reserved total from `old_total` to `new_total` is allowed: only
/// increases are checked, so that lowering `rate_limit` in the config never blocks a change
/// that frees capacity.
pub fn within_budget(old_total: u64, new_total: Option<u64>, rate_limit: u64) -> bool {
    match new_total {
        None => false,
        Some(t) => t <= old_total || t <= rate_limit,
    }
}

pub(super) fn read_key(
    state: &AppState,
    store_id: &str,
    id: &str,
    at: ReadAt,
) -> Result<Option<(KeyRecord, Entry)>, Failure> {
    if id.len() > KEY_ID_BYTES_MAX {
        return Ok(None);
    }
    match get_at(state, &layout::key_record_key(store_id, id), at)? {
        Some(e) => Ok(Some((
            layout::decode(&e.value).map_err(Failure::Corrupt)?,
            e,
        ))),
        None => Ok(None),
    }
}

/// `POST /v2/application-keys`: validated here, applied by the store's committer
/// ([`changes`]).
pub async fn create(
    state: &Arc<AppState>,
    caller: &Caller,
    links: &Links<'_>,
    body: &[u8],
) -> Resp {
    let input = match input::parse_create(body) {
        Ok(i) => i,
        Err(detail) => return bad_request(&detail),
    };
    let client_secret = secret::random_alphanumeric(secret::CLIENT_SECRET_CHARS);
    let salt = secret::new_salt();
    let change = Change::Create(NewKey {
        name: input.name,
        reserved_rate_limit: input.reserved_rate_limit,
        secret_hash: secret::secret_hash(&salt, &client_secret),
        secret_salt: salt,
    });
    match changes::submit(state, &caller.store, change).await {
        Outcome::Done(Some(record)) => {
            one(StatusCode::CREATED, &record, Some(&client_secret), links)
        }
        Outcome::Done(None) => unreachable!("a create always yields its key"),
        Outcome::Refused(resp) => resp,
    }
}

/// `GET /v2/application-keys/{id}`.
pub fn get(state: &AppState, caller: &Caller, links: &Links<'_>, id: &str) -> Resp {
    match read_key(state, &caller.store.store_id, id, ReadAt::Durable) {
        Ok(Some((record, _))) => one(StatusCode::OK, &record, None, links),
        Ok(None) => not_found(),
        Err(f) => f.response(),
    }
}

/// `PUT /v2/application-keys/{id}`: validated here, applied by the store's committer.
pub async fn update(
    state: &Arc<AppState>,
    caller: &Caller,
    links: &Links<'_>,
    id: &str,
    body: &[u8],
) -> Resp {
    let input = match input::parse_update(body) {
        Ok(i) => i,
        Err(detail) => return bad_request(&detail),
    };
    if id.len() > KEY_ID_BYTES_MAX {
        return not_found();
    }
    let change = Change::Update {
        id: id.to_owned(),
        input,
    };
    match changes::submit(state, &caller.store, change).await {
        Outcome::Done(Some(record)) => one(StatusCode::OK, &record, None, links),
        Outcome::Done(None) => unreachable!("an update always yields its key"),
        Outcome::Refused(resp) => resp,
    }
}

/// `DELETE /v2/application-keys/{id}`: the key, its listing entry, its client-id index entry
/// and the budget change in one batch (the store's committer's). Its tokens stop working at
/// once (each request checks that the token's key still exists) and expire from the engine
/// within their TTL.
pub async fn delete(state: &Arc<AppState>, caller: &Caller, id: &str) -> Resp {
    if id.len() > KEY_ID_BYTES_MAX {
        return not_found();
    }
    let change = Change::Delete { id: id.to_owned() };
    match changes::submit(state, &caller.store, change).await {
        Outcome::Done(_) => http::empty(StatusCode::NO_CONTENT),
        Outcome::Refused(resp) => resp,
    }
}

#[derive(Serialize)]
struct ListBody<'a> {
    data: Vec<KeyView<'a>>,
    links: PageLinks,
    meta: ListMeta,
}

#[derive(Serialize)]
struct ListMeta {
    page: PageMeta,
    results: Results,
    total_reserved_rate_limit: u64,
}

#[derive(Serialize)]
struct Results {
    total: u64,
}

/// `meta.page` of a listing.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PageMeta {
    pub limit: u64,
    pub offset: u64,
    /// 1-based number of the page `offset` falls in.
    pub current: u64,
    /// Number of pages (at least 1).
    pub total: u64,
}

/// `links` of a listing, relative as in Elastic Path's examples.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PageLinks {
    pub current: String,
    pub first: String,
    pub last: String,
    pub next: Option<String>,
    pub prev: Option<String>,
}

fn page_href(offset: u64, limit: u64) -> String {
    format!("/v2/application-keys?page[offset]={offset}&page[limit]={limit}")
}

/// Pagination arithmetic of a listing of `total` keys.
pub fn paginate(page: Page, total: u64) -> (PageMeta, PageLinks) {
    let Page { limit, offset } = page;
    assert!(limit > 0, "parse_page guarantees limit >= 1");
    let pages = total.div_ceil(limit).max(1);
    let meta = PageMeta {
        limit,
        offset,
        current: offset / limit + 1,
        total: pages,
    };
    let links = PageLinks {
        current: page_href(offset, limit),
        first: page_href(0, limit),
        last: page_href((pages - 1) * limit, limit),
        next: (offset + limit < total).then(|| page_href(offset + limit, limit)),
        prev: (offset > 0).then(|| page_href(offset.saturating_sub(limit), limit)),
    };
    (meta, links)
}

/// `GET /v2/application-keys?page[limit]=&page[offset]=`: keys in creation order, from one
/// snapshot (so the page, the totals and the records agree).
pub fn list(state: &AppState, caller: &Caller, links: &Links<'_>, query: &str) -> Resp {
    let page = match input::parse_page(query) {
        Ok(p) => p,
        Err(detail) => return bad_request(&detail),
    };
    let store_id = caller.store.store_id.as_str();
    let snapshot = state.db.snapshot();
    let budget: BudgetRecord = match snapshot.get(&layout::budget_key(store_id)) {
        Ok(Some(e)) => match layout::decode(&e.value) {
            Ok(b) => b,
            Err(e) => return corrupt(&e),
        },
        Ok(None) => BudgetRecord::default(),
        Err(e) => return engine_failure(&e),
    };

    // Skip `offset` order entries, then take `limit`, in scans of at most SCAN_LIMIT_MAX.
    let prefix = layout::order_prefix(store_id);
    let (offset, limit) = (page.offset as usize, page.limit as usize);
    let mut skipped = 0usize;
    let mut order_keys = Vec::with_capacity(limit);
    let mut after: Option<bytes::Bytes> = None;
    loop {
        let want = ((offset - skipped) + (limit - order_keys.len())).min(SCAN_LIMIT_MAX);
        let chunk = match snapshot.scan_prefix(&prefix, after.as_deref(), want) {
            Ok(c) => c,
            Err(e) => return engine_failure(&e),
        };
        let exhausted = chunk.len() < want;
        after = chunk.last().map(|e| e.key.clone());
        for e in chunk {
            if skipped < offset {
                skipped += 1;
            } else {
                order_keys.push(e.key);
            }
        }
        if exhausted || order_keys.len() == limit {
            break;
        }
    }

    let mut records = Vec::with_capacity(order_keys.len());
    for k in &order_keys {
        let Some(id) = layout::key_id_of_order_key(store_id, k) else {
            return corrupt("an application-keys order entry has no key id");
        };
        match snapshot.get(&layout::key_record_key(store_id, id)) {
            Ok(Some(e)) => match layout::decode::<KeyRecord>(&e.value) {
                Ok(r) => records.push(r),
                Err(e) => return corrupt(&e),
            },
            Ok(None) => return corrupt("an application-keys order entry points to no key"),
            Err(e) => return engine_failure(&e),
        }
    }

    let (page_meta, page_links) = paginate(page, budget.keys);
    http::json(
        StatusCode::OK,
        &ListBody {
            data: records.iter().map(|r| view(r, None, links)).collect(),
            links: page_links,
            meta: ListMeta {
                page: page_meta,
                results: Results { total: budget.keys },
                total_reserved_rate_limit: budget.reserved_total,
            },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_checks_only_increases() {
        assert!(within_budget(0, Some(100), 100));
        assert!(!within_budget(0, Some(101), 100));
        assert!(!within_budget(0, None, 100));
        // rate_limit lowered below the current total: decreases and no-ops still pass.
        assert!(within_budget(150, Some(150), 100));
        assert!(within_budget(150, Some(120), 100));
        assert!(!within_budget(150, Some(151), 100));
    }

    #[test]
    fn pagination_arithmetic() {
        let (meta, links) = paginate(
            Page {
                limit: 25,
                offset: 0,
            },
            0,
        );
        assert_eq!(
            meta,
            PageMeta {
                limit: 25,
                offset: 0,
                current: 1,
                total: 1
            }
        );
        assert_eq!(
            links.last,
            "/v2/application-keys?page[offset]=0&page[limit]=25"
        );
        assert_eq!((links.next, links.prev), (None, None));

        let (meta, links) = paginate(
            Page {
                limit: 2,
                offset: 2,
            },
            5,
        );
        assert_eq!((meta.current, meta.total), (2, 3));
        assert_eq!(
            links.current,
            "/v2/application-keys?page[offset]=2&page[limit]=2"
        );
        assert_eq!(
            links.first,
            "/v2/application-keys?page[offset]=0&page[limit]=2"
        );
        assert_eq!(
            links.last,
            "/v2/application-keys?page[offset]=4&page[limit]=2"
        );
        assert_eq!(
            links.next.as_deref(),
            Some("/v2/application-keys?page[offset]=4&page[limit]=2")
        );
        assert_eq!(
            links.prev.as_deref(),
            Some("/v2/application-keys?page[offset]=0&page[limit]=2")
        );

        let (_, links) = paginate(
            Page {
                limit: 2,
                offset: 4,
            },
            5,
        );
        assert_eq!(links.next, None);
        // An offset that is not a multiple of the limit: prev never goes below 0.
        let (meta, links) = paginate(
            Page {
                limit: 10,
                offset: 3,
            },
            50,
        );
        assert_eq!(meta.current, 1);
        assert_eq!(
            links.prev.as_deref(),
            Some("/v2/application-keys?page[offset]=0&page[limit]=10")
        );
    }
}
