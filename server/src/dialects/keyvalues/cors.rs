//! CORS for the key-values dialect: the Baasic SDK is a browser library, and a Baasic app's
//! page is served from its own origin, not the API's.
//!
//! - Every key-values response to a request from an allowed origin (`[keyvalues]
//!   cors_allowed_origins`, default `["*"]`: any) carries `Access-Control-Allow-Origin: <that
//!   origin>` and `Access-Control-Allow-Credentials: true`: the SDK sends its requests with
//!   `withCredentials`, which forbids the `*` form. Errors too, so the SDK sees a `401`.
//! - Preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) are answered
//!   `204` with the route's methods and the request headers the browser asked for (on top of
//!   `Authorization`, `Content-Type` and `Accept`): the SDK's `remove` sends the resource's
//!   fields as headers (see docs/sdk-checks.md), so a fixed list would break it.
//!
//! Allowing any origin is safe here because the dialect authenticates with bearer tokens only,
//! never cookies: a page can act only with a token it already holds.

use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS,
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ALLOW, ORIGIN, VARY,
};
use hyper::StatusCode;

use crate::config::KeyValuesConfig;
use crate::http::{self, Resp};

/// The `cors_allowed_origins` entry that allows every origin.
pub const ANY_ORIGIN: &str = "*";
/// How long a browser may cache a preflight answer, in seconds.
pub const PREFLIGHT_MAX_AGE_SECS: u32 = 600;
/// Request headers every preflight allows, whatever the browser asked for.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, Accept";
/// Response headers a page may read besides the CORS-safelisted ones.
const EXPOSED_HEADERS: &str = "Location, WWW-Authenticate";
/// Longest `Access-Control-Request-Headers` echoed back, in bytes.
const REQUESTED_HEADERS_BYTES_MAX: usize = 4096;

/// Whether `origin` (the request's `Origin` header) may read key-values responses.
fn allowed(config: &KeyValuesConfig, origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    config.cors_allowed_origins.iter().any(|allowed| {
        // `null` (sandboxed frames, local files) is never "any origin": it is shared by
        // unrelated documents.
        (allowed == ANY_ORIGIN && origin != "null") || allowed.eq_ignore_ascii_case(origin)
    })
}

/// Adds the CORS headers to a key-values response. `origin` is the request's `Origin` header.
pub fn decorate(config: &KeyValuesConfig, origin: Option<&HeaderValue>, resp: &mut Resp) {
    if config.cors_allowed_origins.is_empty() {
        return;
    }
    let headers = resp.headers_mut();
    // The answer depends on `Origin`: caches must not serve one origin's answer to another.
    headers.append(VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin.filter(|o| allowed(config, o)) else {
        return;
    };
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
}

/// Whether a request is a CORS preflight.
pub fn is_preflight(headers: &HeaderMap) -> bool {
    headers.contains_key(ORIGIN) && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to `OPTIONS` on a route whose methods are `allow`.
///
/// A preflight from an allowed origin: `204` with the methods and headers; from another
/// origin (or with CORS off): `403`. A plain `OPTIONS`: `204` with `Allow`. The router adds
/// `Access-Control-Allow-Origin` ([`decorate`]).
pub fn options(
    config: &KeyValuesConfig,
    headers: &HeaderMap,
    allow: &'static str,
    forbidden: impl FnOnce(&'static str) -> Resp,
) -> Resp {
    let methods = HeaderValue::from_static(allow);
    if !is_preflight(headers) {
        let mut resp = http::empty(StatusCode::NO_CONTENT);
        resp.headers_mut().insert(ALLOW, methods);
        return resp;
    }
    let origin = headers.get(ORIGIN).expect("checked by is_preflight");
    if !allowed(config, origin) {
        return forbidden("Cross-origin requests from this origin are not allowed");
    }
    let mut resp = http::empty(StatusCode::NO_CONTENT);
    let out = resp.headers_mut();
    out.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
    out.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed_headers(headers));
    out.insert(
        ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(PREFLIGHT_MAX_AGE_SECS),
    );
    for varies in [
        ACCESS_CONTROL_REQUEST_METHOD,
        ACCESS_CONTROL_REQUEST_HEADERS,
    ] {
        out.append(VARY, HeaderValue::from_name(varies));
    }
    resp
}

/// `Access-Control-Allow-Headers`: the fixed list plus the well-formed header names the
/// browser asked for.
fn allowed_headers(headers: &HeaderMap) -> HeaderValue {
    let requested = headers
        .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty() && HeaderName::from_bytes(name.as_bytes()).is_ok());
    let mut value = ALLOWED_HEADERS.to_owned();
    for name in requested {
        if value.len() + name.len() + 2 > REQUESTED_HEADERS_BYTES_MAX {
            break;
        }
        value.push_str(", ");
        value.push_str(name);
    }
    HeaderValue::from_str(&value).expect("header names are header-safe")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(origins: &[&str]) -> KeyValuesConfig {
        KeyValuesConfig {
            cors_allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
            ..KeyValuesConfig::default()
        }
    }

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    #[test]
    fn origins_match_exactly_or_any_but_null() {
        let any = config(&[ANY_ORIGIN]);
        assert!(allowed(&any, &header("https://app.example.com")));
        assert!(!allowed(&any, &header("null")));
        let list = config(&["https://app.example.com", "http://localhost:8080"]);
        assert!(allowed(&list, &header("https://app.example.com")));
        assert!(allowed(&list, &header("HTTPS://APP.example.com")));
        assert!(allowed(&list, &header("http://localhost:8080")));
        assert!(!allowed(&list, &header("http://app.example.com")));
        assert!(!allowed(
            &list,
            &header("https://app.example.com.evil.test")
        ));
        assert!(!allowed(&config(&[]), &header("https://app.example.com")));
    }

    #[test]
    fn decorating_reflects_an_allowed_origin_only() {
        let mut resp = http::empty(StatusCode::OK);
        let origin = header("https://app.example.com");
        decorate(&config(&[ANY_ORIGIN]), Some(&origin), &mut resp);
        let h = resp.headers();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(h[VARY], "Origin");

        let mut resp = http::empty(StatusCode::OK);
        decorate(&config(&["https://other.test"]), Some(&origin), &mut resp);
        assert!(!resp.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(resp.headers()[VARY], "Origin");

        let mut resp = http::empty(StatusCode::OK);
        decorate(&config(&[]), Some(&origin), &mut resp);
        assert!(resp.headers().is_empty());
    }

    #[test]
    fn preflights_echo_the_requested_headers_after_the_fixed_ones() {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, header("https://app.example.com"));
        headers.insert(ACCESS_CONTROL_REQUEST_METHOD, header("DELETE"));
        headers.insert(
            ACCESS_CONTROL_REQUEST_HEADERS,
            header("authorization,id, value , bad name"),
        );
        let resp = options(
            &config(&[ANY_ORIGIN]),
            &headers,
            "GET, PUT, DELETE, OPTIONS",
            |_| panic!("allowed"),
        );
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let h = resp.headers();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], "GET, PUT, DELETE, OPTIONS");
        assert_eq!(
            h[ACCESS_CONTROL_ALLOW_HEADERS],
            "Authorization, Content-Type, Accept, authorization, id, value"
        );
        assert_eq!(h[ACCESS_CONTROL_MAX_AGE], "600");

        let refused = options(&config(&[]), &headers, "GET", |msg| {
            let mut r = http::empty(StatusCode::FORBIDDEN);
            r.headers_mut().insert("x-msg", header(msg));
            r
        });
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn echoed_headers_stay_bounded() {
        let mut headers = HeaderMap::new();
        let many = vec!["x-some-header"; 1000].join(",");
        headers.insert(ACCESS_CONTROL_REQUEST_HEADERS, header(&many));
        assert!(allowed_headers(&headers).len() <= REQUESTED_HEADERS_BYTES_MAX);
    }
}
