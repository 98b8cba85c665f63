//! How the application-keys dialect lays its data out in the engine, and the stored records.
//!
//! Per store (tenant = `store_id`):
//! - `k` · key id → [`KeyRecord`] (the application key, with a salted hash of its secret);
//! - `o` · created_ms (u64 BE) · key id → empty: the listing order (creation order, so that
//!   offset pagination stays stable while keys are added);
//! - `b` · (empty) → [`BudgetRecord`]: the running sum of `reserved_rate_limit` and the key
//!   count. Every write that changes either is guarded by this entry's seqno.
//!
//! Global (tenant [`GLOBAL_TENANT`]), because they are resolved before the store is known:
//! - `c` · client_id → [`ClientRecord`] (store and key of a created key's `client_id`);
//! - `t` · SHA-256(token) → [`TokenRecord`], with the token's expiry as the engine TTL.
//!
//! *Invariant:* store tables (`k`, `o`, `b`) and global tables (`c`, `t`) use distinct table
//! bytes, so even a store whose id is the empty string cannot overlap the global tables.
//! *Invariant:* for every store, the budget record equals the sum and count of its key records:
//! both are only ever changed in one batch guarded by the budget's seqno.

use serde::{Deserialize, Serialize};

use crate::keyspace::{self, Dialect};

/// Tenant of the tables looked up before the store is known (client ids, tokens).
pub const GLOBAL_TENANT: &str = "";

/// Per store: key id → `KeyRecord`.
pub const TABLE_KEYS: u8 = b'k';
/// Per store: created_ms · key id → empty (listing order).
pub const TABLE_ORDER: u8 = b'o';
/// Per store: the single budget record.
pub const TABLE_BUDGET: u8 = b'b';
/// Global: client_id → `ClientRecord`.
pub const TABLE_CLIENTS: u8 = b'c';
/// Global: SHA-256(access token) → `TokenRecord`.
pub const TABLE_TOKENS: u8 = b't';

/// Engine key of an application key record.
pub fn key_record_key(store_id: &str, key_id: &str) -> Vec<u8> {
    keyspace::key(Dialect::AppKeys, store_id, TABLE_KEYS, key_id.as_bytes())
}

/// Prefix of every listing-order entry of a store.
pub fn order_prefix(store_id: &str) -> Vec<u8> {
    keyspace::prefix(Dialect::AppKeys, store_id, TABLE_ORDER)
}

/// Engine key of a listing-order entry.
pub fn order_key(store_id: &str, created_ms: u64, key_id: &str) -> Vec<u8> {
    let mut k = order_prefix(store_id);
    k.extend_from_slice(&created_ms.to_be_bytes());
    k.extend_from_slice(key_id.as_bytes());
    k
}

/// The key id at the end of a listing-order entry's engine key.
pub fn key_id_of_order_key<'a>(store_id: &str, engine_key: &'a [u8]) -> Option<&'a str> {
    let skip = order_prefix(store_id).len() + 8;
    std::str::from_utf8(engine_key.get(skip..)?).ok()
}

/// Engine key of a store's budget record.
pub fn budget_key(store_id: &str) -> Vec<u8> {
    keyspace::key(Dialect::AppKeys, store_id, TABLE_BUDGET, b"")
}

/// Engine key of a created key's client-id index entry.
pub fn client_key(client_id: &str) -> Vec<u8> {
    keyspace::key(
        Dialect::AppKeys,
        GLOBAL_TENANT,
        TABLE_CLIENTS,
        client_id.as_bytes(),
    )
}

/// Engine key of an access token (stored by digest, so the data directory holds no usable
/// tokens).
pub fn token_key(token: &str) -> Vec<u8> {
    let digest = super::secret::token_digest(token);
    keyspace::key(Dialect::AppKeys, GLOBAL_TENANT, TABLE_TOKENS, &digest)
}

/// A stored application key. The secret itself is never stored: only `secret_hash` =
/// hex(SHA-256(`secret_salt` · secret)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub secret_salt: String,
    pub secret_hash: String,
    pub reserved_rate_limit: u64,
    /// Creation time in unix milliseconds: the listing-order key.
    pub created_ms: u64,
    pub created_at: String,
    pub updated_at: String,
    pub last_used_at: Option<String>,
}

/// A store's running totals over its keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetRecord {
    /// Sum of `reserved_rate_limit` over the store's keys.
    pub reserved_total: u64,
    /// Number of keys in the store.
    pub keys: u64,
}

/// Where a created key's `client_id` lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub store_id: String,
    pub key_id: String,
}

/// What an access token stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub store_id: String,
    /// The application key the token was issued to; `None` for the store's admin client.
    pub key_id: Option<String>,
    /// The client id the token was issued to (for the admin client: checked against the
    /// current config, so changing the admin `client_id` revokes its tokens).
    pub client_id: String,
}

/// Encodes a record for the engine.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("records always serialize")
}

/// Decodes a stored record; damage is an `Err` (answered with a 500), never a panic.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("undecodable application-keys record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_tables_never_overlap_an_empty_store_id() {
        let store_tables = [
            keyspace::prefix(Dialect::AppKeys, "", TABLE_KEYS),
            order_prefix(""),
            budget_key(""),
        ];
        for global in [client_key("x"), token_key("x")] {
            for p in &store_tables {
                assert!(!global.starts_with(p), "{global:?} under {p:?}");
            }
        }
    }

    #[test]
    fn order_keys_sort_by_creation_then_id_and_give_back_the_id() {
        let a = order_key("s", 5, "b-id");
        let b = order_key("s", 6, "a-id");
        assert!(a < b);
        assert_eq!(key_id_of_order_key("s", &a), Some("b-id"));
        assert!(a.starts_with(&order_prefix("s")));
        assert!(!a.starts_with(&order_prefix("s2")));
    }

    #[test]
    fn records_round_trip_and_damage_is_an_error() {
        let r = BudgetRecord {
            reserved_total: 7,
            keys: 2,
        };
        assert_eq!(decode::<BudgetRecord>(&encode(&r)), Ok(r));
        assert!(decode::<BudgetRecord>(b"{\"reserved_total\":").is_err());
    }
}
