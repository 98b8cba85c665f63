//! The five key-value storage methods: each is parsed from the request parameters into a
//! typed command, then applied to the engine.
//!
//! Layout: one engine entry per item, `keyspace::key(Voximplant, "<account>/<application>",
//! TABLE_ITEMS, key)` → the raw UTF-8 value, with the item's `expires_at` as the engine's own
//! expiry (so expired items are invisible to every read and later swept).

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use serde::Serialize;
use strata_engine::{Db, Entry, Op, WriteBatch};

use super::error::{VoxError, CODE_KEY_NOT_FOUND};
use super::params::Params;
use super::validate;
use crate::http::{self, Resp};
use crate::keyspace::{self, Dialect};
use crate::AppState;

/// Table byte of the items in the dialect's key space.
pub const TABLE_ITEMS: u8 = b'i';
/// Entries read per scan while paging through a listing (bounds the memory of one step).
const SCAN_CHUNK: usize = 1024;

/// The methods, by their Voximplant names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    SetKeyValueItem,
    GetKeyValueItem,
    GetKeyValueItems,
    GetKeyValueKeys,
    DelKeyValueItem,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::SetKeyValueItem,
        Method::GetKeyValueItem,
        Method::GetKeyValueItems,
        Method::GetKeyValueKeys,
        Method::DelKeyValueItem,
    ];

    /// The method with this exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::SetKeyValueItem => "SetKeyValueItem",
            Method::GetKeyValueItem => "GetKeyValueItem",
            Method::GetKeyValueItems => "GetKeyValueItems",
            Method::GetKeyValueKeys => "GetKeyValueKeys",
            Method::DelKeyValueItem => "DelKeyValueItem",
        }
    }
}

/// Parses and applies `method` for `tenant` (`"<account>/<application>"`). `now`: unix seconds.
pub async fn run(
    method: Method,
    state: &Arc<AppState>,
    tenant: &str,
    params: &Params,
    now: u64,
) -> Result<Resp, VoxError> {
    match method {
        Method::SetKeyValueItem => SetItem::parse(params, now)?.apply(state, tenant).await,
        Method::GetKeyValueItem => GetItem::parse(params)?.apply(state, tenant),
        Method::GetKeyValueItems => {
            let key = params
                .get("key")
                .ok_or_else(|| VoxError::invalid("key is required"))?;
            List::parse(key, params)?
                .apply(state, tenant, Shape::Items)
                .await
        }
        Method::GetKeyValueKeys => {
            List::parse(params.get("key").unwrap_or(""), params)?
                .apply(state, tenant, Shape::Keys)
                .await
        }
        Method::DelKeyValueItem => DelItem::parse(params)?.apply(state, tenant).await,
    }
}

#[derive(Serialize)]
struct Answer<T> {
    result: T,
}

/// `KeyValueItems` in Voximplant's reference.
#[derive(Serialize)]
struct Item<'a> {
    key: &'a str,
    value: &'a str,
    expires_at: u64,
}

/// `KeyValueKeys` in Voximplant's reference.
#[derive(Serialize)]
struct KeyOnly<'a> {
    key: &'a str,
    expires_at: u64,
}

fn ok<T: Serialize>(result: T) -> Resp {
    http::json(StatusCode::OK, &Answer { result })
}

fn item_key(tenant: &str, key: &str) -> Vec<u8> {
    keyspace::key(Dialect::Voximplant, tenant, TABLE_ITEMS, key.as_bytes())
}

fn key_not_found(key: &str) -> VoxError {
    VoxError::new(
        StatusCode::NOT_FOUND,
        CODE_KEY_NOT_FOUND,
        format!("key {key:?} not found"),
    )
}

/// An item as the engine returns it, in the response's terms.
fn item_of<'e>(entry: &'e Entry, key_offset: usize) -> Result<Item<'e>, VoxError> {
    let key = std::str::from_utf8(&entry.key[key_offset..])
        .map_err(|_| VoxError::corrupt("item key is not UTF-8"))?;
    let value = std::str::from_utf8(&entry.value)
        .map_err(|_| VoxError::corrupt("item value is not UTF-8"))?;
    Ok(Item {
        key,
        value,
        expires_at: entry.expires_at.unwrap_or(0),
    })
}

/// `SetKeyValueItem key value [ttl | expires_at]`: create or replace.
#[derive(Debug)]
struct SetItem<'p> {
    key: &'p str,
    value: &'p str,
    expires_at: u64,
}

impl<'p> SetItem<'p> {
    fn parse(params: &'p Params, now: u64) -> Result<Self, VoxError> {
        Ok(SetItem {
            key: validate::item_key(params.get("key"))?,
            value: validate::value(params.get("value"))?,
            expires_at: validate::expires_at(params.get("ttl"), params.get("expires_at"), now)?,
        })
    }

    async fn apply(self, state: &AppState, tenant: &str) -> Result<Resp, VoxError> {
        // A blind put: the answer does not depend on what was stored, so `Overwrite` (which
        // does not read the replaced entry) rather than `Upsert`.
        let op = Op::overwrite(
            item_key(tenant, self.key),
            Bytes::copy_from_slice(self.value.as_bytes()),
        )
        .expires_at(Some(self.expires_at));
        state
            .write(WriteBatch::from(op))
            .await
            .map_err(VoxError::engine)?;
        Ok(ok(Item {
            key: self.key,
            value: self.value,
            expires_at: self.expires_at,
        }))
    }
}

/// `GetKeyValueItem key`: one live item, 404 if absent or expired.
struct GetItem<'p> {
    key: &'p str,
}

impl<'p> GetItem<'p> {
    fn parse(params: &'p Params) -> Result<Self, VoxError> {
        Ok(GetItem {
            key: validate::item_key(params.get("key"))?,
        })
    }

    fn apply(self, state: &AppState, tenant: &str) -> Result<Resp, VoxError> {
        let engine_key = item_key(tenant, self.key);
        let entry = state
            .db
            .get(&engine_key)
            .map_err(VoxError::engine)?
            .ok_or_else(|| key_not_found(self.key))?;
        let key_offset = engine_key.len() - self.key.len();
        Ok(ok(item_of(&entry, key_offset)?))
    }
}

/// `DelKeyValueItem key`: `{"result":1}`, 404 if there is no live item.
struct DelItem<'p> {
    key: &'p str,
}

impl<'p> DelItem<'p> {
    fn parse(params: &'p Params) -> Result<Self, VoxError> {
        Ok(DelItem {
            key: validate::item_key(params.get("key"))?,
        })
    }

    async fn apply(self, state: &AppState, tenant: &str) -> Result<Resp, VoxError> {
        let op = Op::delete(item_key(tenant, self.key));
        match state.write(WriteBatch::from(op)).await {
            Ok(_) => Ok(ok(1u8)),
            Err(strata_engine::Error::NotFound { .. }) => Err(key_not_found(self.key)),
            Err(e) => Err(VoxError::engine(e)),
        }
    }
}

/// What a listing returns per item.
#[derive(Clone, Copy)]
enum Shape {
    /// `GetKeyValueItems`: `{key, value, expires_at}`.
    Items,
    /// `GetKeyValueKeys`: `{key, expires_at}`.
    Keys,
}

/// `GetKeyValueItems key` / `GetKeyValueKeys [key]`, `[count] [offset]`: live items whose key
/// starts with `key`, in key order (byte order of UTF-8, which is code-point order).
struct List<'p> {
    prefix: &'p str,
    count: usize,
    offset: usize,
}

impl<'p> List<'p> {
    fn parse(prefix: &'p str, params: &'p Params) -> Result<Self, VoxError> {
        Ok(List {
            prefix: validate::key_prefix(prefix)?,
            count: validate::count(params.get("count"))?,
            offset: validate::offset(params.get("offset"))?,
        })
    }

    async fn apply(self, state: &AppState, tenant: &str, shape: Shape) -> Result<Resp, VoxError> {
        let key_offset = keyspace::prefix(Dialect::Voximplant, tenant, TABLE_ITEMS).len();
        let scan_prefix = item_key(tenant, self.prefix);
        let (offset, count) = (self.offset, self.count);
        let entries = if offset < SCAN_CHUNK {
            // One short scan: cheap enough for the async thread.
            page(&state.db, &scan_prefix, offset, count)
        } else {
            // Deep pages scan (and drop) up to OFFSET_MAX entries: keep that off the runtime.
            let db = state.db.clone();
            match tokio::task::spawn_blocking(move || page(&db, &scan_prefix, offset, count)).await
            {
                Ok(r) => r,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        .map_err(VoxError::engine)?;

        let items = entries
            .iter()
            .map(|e| item_of(e, key_offset))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match shape {
            Shape::Items => ok(items),
            Shape::Keys => ok(items
                .iter()
                .map(|i| KeyOnly {
                    key: i.key,
                    expires_at: i.expires_at,
                })
                .collect::<Vec<_>>()),
        })
    }
}

/// Entries `offset..offset + count` of the live entries under `prefix`, from one snapshot.
fn page(db: &Db, prefix: &[u8], offset: usize, count: usize) -> strata_engine::Result<Vec<Entry>> {
    let snapshot = db.snapshot();
    let mut to_skip = offset;
    let mut out = Vec::with_capacity(count);
    let mut after: Option<Bytes> = None;
    while out.len() < count {
        let limit = (to_skip + count - out.len()).min(SCAN_CHUNK);
        let chunk = snapshot.scan_prefix(prefix, after.as_deref(), limit)?;
        let exhausted = chunk.len() < limit;
        after = chunk.last().map(|e| e.key.clone());
        let skipped = to_skip.min(chunk.len());
        to_skip -= skipped;
        out.extend(chunk.into_iter().skip(skipped));
        if exhausted {
            break;
        }
    }
    assert!(out.len() <= count, "a page never exceeds its count");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip_and_are_case_sensitive() {
        for m in Method::ALL {
            assert_eq!(Method::from_name(m.name()), Some(m));
        }
        assert_eq!(Method::from_name("setkeyvalueitem"), None);
        assert_eq!(Method::from_name("SetKeyValueItem "), None);
        assert_eq!(Method::from_name("GetAccountInfo"), None);
        assert_eq!(Method::from_name(""), None);
    }

    #[test]
    fn set_item_parses_and_validates() {
        let p = Params::from_pairs(
            &[("key", "query-key")],
            &[("key", "ns:ключ"), ("value", "v"), ("ttl", "60")],
        );
        let s = SetItem::parse(&p, 1000).unwrap();
        assert_eq!((s.key, s.value, s.expires_at), ("ns:ключ", "v", 1060));
        let p = Params::from_pairs(&[("key", "k")], &[]);
        assert!(SetItem::parse(&p, 1000).unwrap_err().msg.contains("value"));
    }

    #[test]
    fn items_serialize_as_voximplant_does() {
        let body = serde_json::to_value(Answer {
            result: Item {
                key: "k",
                value: "v",
                expires_at: 7,
            },
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"result": {"key": "k", "value": "v", "expires_at": 7}})
        );
        let keys = serde_json::to_value(Answer {
            result: vec![KeyOnly {
                key: "k",
                expires_at: 7,
            }],
        })
        .unwrap();
        assert_eq!(
            keys,
            serde_json::json!({"result": [{"key": "k", "expires_at": 7}]})
        );
        assert_eq!(
            serde_json::to_value(Answer { result: 1u8 }).unwrap(),
            serde_json::json!({"result": 1})
        );
    }
}
