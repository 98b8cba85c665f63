//! The server's public parse functions, called directly (cheaper per execution than the
//! end-to-end request targets, so more inputs per second reach them).
//!
//! Input: a selector byte, then the bytes handed to the parser it selects.

use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::HeaderMap;
use strata_server::dialects::app_keys::input::{
    self, NAME_CHARS_MAX, PAGE_LIMIT_MAX, PAGE_OFFSET_MAX,
};
use strata_server::dialects::keystore;
use strata_server::http;

/// Runs the parser the first byte selects. Checks that what parses respects the documented
/// limits.
pub fn server_parse(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 7 {
        0 => {
            if let Ok(c) = input::parse_create(rest) {
                assert!(c.name.chars().count() <= NAME_CHARS_MAX);
                assert!(!c.name.is_empty(), "an empty name was accepted");
            }
        }
        1 => {
            if let Ok(u) = input::parse_update(rest) {
                assert!(u.name.is_none_or(|n| n.chars().count() <= NAME_CHARS_MAX));
            }
        }
        2 => {
            if let Ok(p) = input::parse_page(&text) {
                assert!((1..=PAGE_LIMIT_MAX).contains(&p.limit));
                assert!(p.offset <= PAGE_OFFSET_MAX);
            }
        }
        3 => {
            input::parse_token_request(Some("application/x-www-form-urlencoded"), rest);
        }
        4 => {
            input::parse_token_request(Some("application/json"), rest);
        }
        5 => {
            if keystore::validate_key(&text).is_ok() {
                assert!(
                    text.len() <= 128 && text.is_ascii(),
                    "accepted key {text:?}"
                );
                assert!(!text.starts_with("admin"), "accepted key {text:?}");
            }
        }
        _ => {
            let pairs = http::form_pairs(rest);
            let _ = http::param(&pairs, "cmd");
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(rest) {
                headers.insert(AUTHORIZATION, v.clone());
                headers.insert(CONTENT_TYPE, v);
            }
            if let Some(token) = http::bearer(&headers) {
                assert!(!token.is_empty());
            }
            let _ = http::media_type(&headers);
        }
    }
}
