//! Parameter rules of the key-value storage methods, as pure functions.
//!
//! Lengths are counted in Unicode scalar values ("characters"), not bytes: a Cyrillic key of
//! 200 characters is 400 bytes and still valid.

use super::error::VoxError;

/// Longest key, in characters.
pub const KEY_CHARS_MAX: usize = 200;
/// Longest value, in characters.
pub const VALUE_CHARS_MAX: usize = 2000;
/// Longest lifetime of an item, in seconds (90 days).
pub const TTL_SECS_MAX: u64 = 7_776_000;
/// Lifetime of an item stored without `ttl` or `expires_at`, in seconds (30 days).
pub const TTL_SECS_DEFAULT: u64 = 2_592_000;
/// Most items one listing call returns.
pub const COUNT_MAX: usize = 50;
/// Items a listing call returns without `count`.
pub const COUNT_DEFAULT: usize = 10;
/// Deepest `offset` a listing accepts: skipping costs a scan over the skipped items, so it is
/// bounded; narrow the key prefix to reach further.
pub const OFFSET_MAX: usize = 100_000;

/// Whether `c` may appear in a key: `[a-zA-Z0-9а-яА-ЯёЁ_\-:;.#+]`.
///
/// Written by hand rather than with a regex engine: the class is small and fixed. The Cyrillic
/// ranges are U+0430..=U+044F (а-я) and U+0410..=U+042F (А-Я); ё and Ё (U+0451, U+0401) lie
/// outside both ranges and are listed on their own, as in Voximplant's pattern.
pub fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '-' | ':' | ';' | '.' | '#' | '+' | 'ё' | 'Ё')
        || ('а'..='я').contains(&c)
        || ('А'..='Я').contains(&c)
}

/// A key naming one item: 1..=200 key characters.
pub fn item_key(raw: Option<&str>) -> Result<&str, VoxError> {
    let key = raw.ok_or_else(|| VoxError::invalid("key is required"))?;
    if key.is_empty() {
        return Err(VoxError::invalid("key must not be empty"));
    }
    key_chars(key)
}

/// A key prefix for listings: 0..=200 key characters (empty lists everything).
pub fn key_prefix(raw: &str) -> Result<&str, VoxError> {
    key_chars(raw)
}

fn key_chars(key: &str) -> Result<&str, VoxError> {
    let mut chars = 0usize;
    for c in key.chars() {
        chars += 1;
        if chars > KEY_CHARS_MAX {
            return Err(VoxError::invalid(format!(
                "key is longer than {KEY_CHARS_MAX} characters"
            )));
        }
        if !is_key_char(c) {
            return Err(VoxError::invalid(format!(
                "key contains {c:?}; allowed: a-z A-Z 0-9 а-я А-Я ё Ё _ - : ; . # +"
            )));
        }
    }
    Ok(key)
}

/// A value: required, up to 2000 characters (may be empty).
pub fn value(raw: Option<&str>) -> Result<&str, VoxError> {
    let value = raw.ok_or_else(|| VoxError::invalid("value is required"))?;
    if value.chars().nth(VALUE_CHARS_MAX).is_some() {
        return Err(VoxError::invalid(format!(
            "value is longer than {VALUE_CHARS_MAX} characters"
        )));
    }
    Ok(value)
}

/// A non-negative decimal integer: ASCII digits only (no sign, no spaces).
pub fn uint(name: &str, raw: &str) -> Result<u64, VoxError> {
    let not_an_integer = || VoxError::invalid(format!("{name} must be a non-negative integer"));
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_an_integer());
    }
    raw.parse().map_err(|_| not_an_integer())
}

/// The `expires_at` (unix seconds) of an item stored at `now` with these parameters.
///
/// - neither: `now + TTL_SECS_DEFAULT`;
/// - `ttl` in `0..=TTL_SECS_MAX`: `now + ttl` (`ttl=0` stores an item that is already expired:
///   it hides any previous value under the key);
/// - `expires_at` in `now..=now + TTL_SECS_MAX`: as given (the same window as `ttl`);
/// - both: an error, the documentation asks for one of the two.
pub fn expires_at(ttl: Option<&str>, expires_at: Option<&str>, now: u64) -> Result<u64, VoxError> {
    match (ttl, expires_at) {
        (Some(_), Some(_)) => Err(VoxError::invalid("give either ttl or expires_at, not both")),
        (None, None) => Ok(now + TTL_SECS_DEFAULT),
        (Some(ttl), None) => match uint("ttl", ttl) {
            Ok(ttl) if ttl <= TTL_SECS_MAX => Ok(now + ttl),
            _ => Err(VoxError::invalid(format!(
                "ttl must be an integer in 0..={TTL_SECS_MAX}"
            ))),
        },
        (None, Some(at)) => {
            let latest = now + TTL_SECS_MAX;
            match uint("expires_at", at) {
                Ok(at) if (now..=latest).contains(&at) => Ok(at),
                _ => Err(VoxError::invalid(format!(
                    "expires_at must be a unix time in {now}..={latest} (now to now + 90 days)"
                ))),
            }
        }
    }
}

/// `count`: 1..=50, default 10.
pub fn count(raw: Option<&str>) -> Result<usize, VoxError> {
    let Some(raw) = raw else {
        return Ok(COUNT_DEFAULT);
    };
    match uint("count", raw) {
        Ok(n) if (1..=COUNT_MAX as u64).contains(&n) => Ok(n as usize),
        _ => Err(VoxError::invalid(format!(
            "count must be an integer in 1..={COUNT_MAX}"
        ))),
    }
}

/// `offset`: 0..=OFFSET_MAX, default 0.
pub fn offset(raw: Option<&str>) -> Result<usize, VoxError> {
    let Some(raw) = raw else {
        return Ok(0);
    };
    match uint("offset", raw) {
        Ok(n) if n <= OFFSET_MAX as u64 => Ok(n as usize),
        _ => Err(VoxError::invalid(format!(
            "offset must be an integer in 0..={OFFSET_MAX}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_charset_matches_the_documented_pattern() {
        for ok in [
            "a", "Z", "0", "_", "-", ":", ";", ".", "#", "+", "а", "я", "А", "Я", "ё", "Ё", "ж",
            "Щ",
        ] {
            assert!(item_key(Some(ok)).is_ok(), "{ok:?} should be accepted");
        }
        // Outside the class: other punctuation, space, other Cyrillic letters (Ukrainian і, ї,
        // є; the pre-reform ѣ), other scripts, control characters.
        for bad in [
            " ", "/", "?", "*", "=", "&", "%", "@", "і", "ї", "є", "ѣ", "é", "ß", "中", "\n", "\0",
            "😀",
        ] {
            let err = item_key(Some(bad)).unwrap_err();
            assert_eq!(err.code, 101, "{bad:?}");
        }
        assert!(item_key(Some("test:1234;x.y#z+w-Привет_Ёжик")).is_ok());
    }

    #[test]
    fn cyrillic_range_boundaries() {
        // Just outside а-я / А-Я.
        assert!(!is_key_char('\u{040F}')); // Џ, before А
        assert!(is_key_char('\u{0410}')); // А
        assert!(is_key_char('\u{042F}')); // Я
        assert!(is_key_char('\u{0430}')); // а
        assert!(is_key_char('\u{044F}')); // я
        assert!(!is_key_char('\u{0450}')); // ѐ, after я
        assert!(is_key_char('\u{0451}')); // ё
        assert!(!is_key_char('\u{0452}')); // ђ
        assert!(is_key_char('\u{0401}')); // Ё
        assert!(!is_key_char('\u{0400}')); // Ѐ
    }

    #[test]
    fn key_length_counts_characters_not_bytes() {
        let cyrillic_200 = "ж".repeat(KEY_CHARS_MAX);
        assert_eq!(cyrillic_200.len(), 400);
        assert!(item_key(Some(&cyrillic_200)).is_ok());
        let cyrillic_201 = "ж".repeat(KEY_CHARS_MAX + 1);
        assert!(item_key(Some(&cyrillic_201)).is_err());
        assert!(item_key(Some(&"a".repeat(KEY_CHARS_MAX))).is_ok());
        assert!(item_key(Some(&"a".repeat(KEY_CHARS_MAX + 1))).is_err());
    }

    #[test]
    fn item_keys_are_required_and_non_empty_but_prefixes_may_be_empty() {
        assert!(item_key(None).unwrap_err().msg.contains("required"));
        assert!(item_key(Some("")).is_err());
        assert_eq!(key_prefix("").unwrap(), "");
        assert!(key_prefix("bad key").is_err());
    }

    #[test]
    fn value_length_counts_characters() {
        assert_eq!(value(Some("")).unwrap(), "");
        assert!(value(Some(&"ё".repeat(VALUE_CHARS_MAX))).is_ok());
        assert!(value(Some(&"ё".repeat(VALUE_CHARS_MAX + 1))).is_err());
        assert!(value(Some(&"x".repeat(VALUE_CHARS_MAX + 1))).is_err());
        assert!(value(None).is_err());
        // Any characters are allowed in values.
        assert!(value(Some("{\"a\": [1, 2]} / ? & 中 😀\n")).is_ok());
    }

    #[test]
    fn ttl_and_expires_at() {
        let now = 1_700_000_000;
        assert_eq!(expires_at(None, None, now).unwrap(), now + 2_592_000);
        assert_eq!(expires_at(Some("0"), None, now).unwrap(), now);
        assert_eq!(expires_at(Some("60"), None, now).unwrap(), now + 60);
        assert_eq!(
            expires_at(Some("7776000"), None, now).unwrap(),
            now + 7_776_000
        );
        for bad in [
            "7776001",
            "-1",
            "",
            " 5",
            "5s",
            "1.5",
            "+5",
            "99999999999999999999999",
        ] {
            assert!(expires_at(Some(bad), None, now).is_err(), "ttl {bad:?}");
        }
        assert_eq!(expires_at(None, Some(&now.to_string()), now).unwrap(), now);
        let latest = (now + TTL_SECS_MAX).to_string();
        assert_eq!(
            expires_at(None, Some(&latest), now).unwrap(),
            now + TTL_SECS_MAX
        );
        let past = (now - 1).to_string();
        let too_late = (now + TTL_SECS_MAX + 1).to_string();
        for bad in [past.as_str(), too_late.as_str(), "0", "abc"] {
            assert!(
                expires_at(None, Some(bad), now).is_err(),
                "expires_at {bad:?}"
            );
        }
        assert!(expires_at(Some("5"), Some(&latest), now).is_err());
    }

    #[test]
    fn count_and_offset() {
        assert_eq!(count(None).unwrap(), 10);
        assert_eq!(count(Some("1")).unwrap(), 1);
        assert_eq!(count(Some("50")).unwrap(), 50);
        for bad in ["0", "51", "-1", "x", ""] {
            assert!(count(Some(bad)).is_err(), "count {bad:?}");
        }
        assert_eq!(offset(None).unwrap(), 0);
        assert_eq!(offset(Some("0")).unwrap(), 0);
        assert_eq!(offset(Some("100000")).unwrap(), OFFSET_MAX);
        for bad in ["100001", "-1", "x", ""] {
            assert!(offset(Some(bad)).is_err(), "offset {bad:?}");
        }
    }
}
