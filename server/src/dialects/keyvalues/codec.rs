//! How key-value resources, ids, dates and tokens are represented: stored bytes and text.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat};
use rand::RngCore;

/// First byte of every stored item (its encoding version).
const ITEM_FORMAT_V1: u8 = 1;
/// Bytes before the key: version, two dates (i64 BE), key length (u32 BE).
const ITEM_HEADER_BYTES: usize = 1 + 8 + 8 + 4;
/// Length of an id: a UUID v4 as 32 lowercase hex digits.
pub const ID_CHARS: usize = 32;
/// Random bytes in an access token (rendered as twice as many hex digits).
const TOKEN_RANDOM_BYTES: usize = 32;

/// A stored key-value resource, borrowed from the engine's value bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredItem<'a> {
    /// Unix milliseconds.
    pub date_created_ms: i64,
    /// Unix milliseconds.
    pub date_updated_ms: i64,
    pub key: &'a str,
    pub value: &'a str,
}

impl<'a> StoredItem<'a> {
    /// `[ITEM_FORMAT_V1][created i64 BE][updated i64 BE][key length u32 BE][key][value]`.
    pub fn encode(&self) -> Vec<u8> {
        let key_len = u32::try_from(self.key.len()).expect("keys are bounded by KEY_BYTES_MAX");
        let mut out = Vec::with_capacity(ITEM_HEADER_BYTES + self.key.len() + self.value.len());
        out.push(ITEM_FORMAT_V1);
        out.extend_from_slice(&self.date_created_ms.to_be_bytes());
        out.extend_from_slice(&self.date_updated_ms.to_be_bytes());
        out.extend_from_slice(&key_len.to_be_bytes());
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(self.value.as_bytes());
        out
    }

    /// Decodes what [`StoredItem::encode`] wrote; damaged bytes are an `Err`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, &'static str> {
        if bytes.len() < ITEM_HEADER_BYTES {
            return Err("item truncated");
        }
        if bytes[0] != ITEM_FORMAT_V1 {
            return Err("unknown item format version");
        }
        let i64_at = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let date_created_ms = i64_at(1);
        let date_updated_ms = i64_at(9);
        let key_len = u32::from_be_bytes(bytes[17..21].try_into().expect("4 bytes")) as usize;
        let rest = &bytes[ITEM_HEADER_BYTES..];
        if rest.len() < key_len {
            return Err("item truncated");
        }
        let (key, value) = rest.split_at(key_len);
        Ok(StoredItem {
            date_created_ms,
            date_updated_ms,
            key: std::str::from_utf8(key).map_err(|_| "item key is not UTF-8")?,
            value: std::str::from_utf8(value).map_err(|_| "item value is not UTF-8")?,
        })
    }
}

/// A fresh resource id: a random UUID v4 as 32 lowercase hex digits.
pub fn new_id() -> String {
    crate::dialects::common::random_uuid().simple().to_string()
}

/// Whether `s` has the shape of an id (so a lookup by id is worth trying).
pub fn is_id(s: &str) -> bool {
    s.len() == ID_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh bearer token: 32 random bytes from the thread's CSPRNG, as 64 hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    let mut out = String::with_capacity(TOKEN_RANDOM_BYTES * 2);
    for b in bytes {
        out.push(char::from_digit(u32::from(b >> 4), 16).expect("a nibble"));
        out.push(char::from_digit(u32::from(b & 0xf), 16).expect("a nibble"));
    }
    out
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now, in unix seconds (the engine's unit for `expires_at`).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 3339, UTC, milliseconds: `2024-05-01T12:00:00.000Z`.
pub fn format_date(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let item = StoredItem {
            date_created_ms: 1_700_000_000_123,
            date_updated_ms: 1_700_000_999_456,
            key: "k\u{e9}y",
            value: "a value",
        };
        let bytes = item.encode();
        assert_eq!(StoredItem::decode(&bytes), Ok(item));
        let empty = StoredItem {
            key: "k",
            value: "",
            ..item
        };
        assert_eq!(StoredItem::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn damaged_items_are_errors() {
        let item = StoredItem {
            date_created_ms: 1,
            date_updated_ms: 2,
            key: "key",
            value: "\u{e9}",
        };
        let bytes = item.encode();
        assert!(StoredItem::decode(&bytes[..ITEM_HEADER_BYTES - 1]).is_err());
        assert!(StoredItem::decode(&bytes[..ITEM_HEADER_BYTES + 2]).is_err());
        // Cuts the two-byte `é` in half.
        assert!(StoredItem::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 7;
        assert!(StoredItem::decode(&wrong_version).is_err());
    }

    #[test]
    fn ids_and_tokens() {
        let a = new_id();
        assert!(is_id(&a), "{a}");
        assert_ne!(a, new_id());
        assert!(!is_id("not-an-id"));
        assert!(!is_id(&a.to_uppercase()));
        let t = new_token();
        assert_eq!(t.len(), 64);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(t, new_token());
    }

    #[test]
    fn dates_are_rfc3339_utc_millis() {
        assert_eq!(format_date(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_date(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
