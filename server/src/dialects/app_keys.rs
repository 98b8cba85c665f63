//! Application keys (CONTRACT §4.2, seed 001): the Elastic Path-style dialect.
//!
//! - `POST /oauth/access_token` — client-credentials grant for a store's admin client or any
//!   created application key;
//! - `POST|GET /v2/application-keys`, `GET|PUT|DELETE /v2/application-keys/{id}` — bearer
//!   token required; the tenant is the store the token was issued for.
//!
//! Errors are `{"errors":[{"title","status","detail"}]}` with `status` as a string.
//! Data layout: [`layout`]. Input rules: [`input`]. The budget rule: [`changes`].

pub mod auth;
pub mod changes;
pub mod input;
pub mod keys;
pub mod layout;
pub mod secret;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::header::{HeaderValue, ALLOW, HOST};
use hyper::{Method, StatusCode};
use serde::Serialize;

use crate::config::Config;
use crate::http::{Req, Resp};
use crate::AppState;

/// Attempts of one optimistic read-check-write before answering 429: a token request's
/// guarded `last_used_at` stamp, or a group of key changes meeting such a stamp. Each failed
/// attempt means another batch changed the same key record in between.
pub const WRITE_ATTEMPTS_MAX: usize = 64;

/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/oauth/access_token";
/// Path of the application-keys collection.
pub const KEYS_PATH: &str = "/v2/application-keys";

#[derive(Serialize)]
struct ErrorBody<'a> {
    errors: [ErrorItem<'a>; 1],
}

#[derive(Serialize)]
struct ErrorItem<'a> {
    title: &'a str,
    status: &'a str,
    detail: &'a str,
}

/// An error in this dialect's shape: `{"errors":[{"title","status","detail"}]}`, where `title`
/// is the status' reason phrase and `status` its code as a string (as in seed 001).
pub fn error_response(status: StatusCode, message: &str) -> Resp {
    crate::http::json(
        status,
        &ErrorBody {
            errors: [ErrorItem {
                title: status.canonical_reason().unwrap_or("Error"),
                status: status.as_str(),
                detail: message,
            }],
        },
    )
}

/// The answer to an engine error. Conflicts and misses are handled by the callers (retry, 404);
/// what reaches here is a server-side failure.
pub(crate) fn engine_failure(e: &strata_engine::Error) -> Resp {
    match e {
        strata_engine::Error::InvalidArgument(msg) => error_response(StatusCode::BAD_REQUEST, msg),
        strata_engine::Error::Closed => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        ),
        _ => {
            tracing::error!(error = %e, "application keys: engine failure");
            internal_error()
        }
    }
}

/// A server-side failure while serving a request (small, so it can travel in `Result`s).
#[derive(Debug)]
pub enum Failure {
    Engine(strata_engine::Error),
    /// Stored data that does not decode or breaks a layout invariant.
    Corrupt(String),
}

impl From<strata_engine::Error> for Failure {
    fn from(e: strata_engine::Error) -> Self {
        Failure::Engine(e)
    }
}

impl Failure {
    /// The one place a failure becomes a response.
    pub fn response(&self) -> Resp {
        match self {
            Failure::Engine(e) => engine_failure(e),
            Failure::Corrupt(reason) => corrupt(reason),
        }
    }
}

/// The answer to stored data that does not decode or breaks a layout invariant.
pub(crate) fn corrupt(reason: &str) -> Resp {
    tracing::error!(reason, "application keys: damaged stored data");
    internal_error()
}

fn internal_error() -> Resp {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "there was a problem processing your request",
    )
}

/// Whether a failed guarded batch should be re-read and retried: a guard or `Insert` met a
/// concurrent change (`Conflict`), or an `Update`/`Delete` found its entry gone (`NotFound`).
pub(crate) fn is_retryable(e: &strata_engine::Error) -> bool {
    matches!(
        e,
        strata_engine::Error::Conflict { .. } | strata_engine::Error::NotFound { .. }
    )
}

/// 429 after `WRITE_ATTEMPTS_MAX` lost races: transient, and the official SDK retries 429s.
pub(crate) fn too_much_contention() -> Resp {
    error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "too many concurrent changes to this store's application keys; retry the request",
    )
}

/// The current time in the forms the dialect stores.
pub(crate) struct Timestamp {
    /// Unix milliseconds.
    pub ms: u64,
    /// Unix seconds.
    pub secs: u64,
    /// RFC 3339 UTC with milliseconds, e.g. `2017-01-10T11:41:19.244Z`.
    pub text: String,
}

impl Timestamp {
    /// Now, strictly after every earlier `Timestamp::now()` of this process.
    ///
    /// The listing order is keyed by `ms`, so two keys created in the same millisecond must
    /// not tie (a tie would fall back to the random id and list them out of creation order).
    /// Under a burst this runs ahead of the wall clock by at most the burst's size in ms.
    pub fn now() -> Self {
        static LAST_MS: AtomicU64 = AtomicU64::new(0);
        let wall_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let prev = LAST_MS
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(wall_ms.max(last + 1))
            })
            .expect("the closure always returns Some");
        let ms = wall_ms.max(prev + 1);
        let t = chrono::DateTime::from_timestamp_millis(ms as i64).unwrap_or_default();
        Timestamp {
            ms,
            secs: ms / 1000,
            text: t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Token,
    List,
    Create,
    Get(&'a str),
    Update(&'a str),
    Delete(&'a str),
    /// Known path, wrong method: the `Allow` header value.
    MethodNotAllowed(&'static str),
    NotFound,
}

fn route<'a>(method: &Method, path: &'a str) -> Route<'a> {
    if path == TOKEN_PATH {
        return if method == Method::POST {
            Route::Token
        } else {
            Route::MethodNotAllowed("POST")
        };
    }
    let Some(rest) = path.strip_prefix(KEYS_PATH) else {
        return Route::NotFound;
    };
    if rest.is_empty() || rest == "/" {
        return match *method {
            Method::GET => Route::List,
            Method::POST => Route::Create,
            _ => Route::MethodNotAllowed("GET, POST"),
        };
    }
    let Some(id) = rest.strip_prefix('/') else {
        return Route::NotFound; // e.g. `/v2/application-keysfoo`
    };
    let id = id.strip_suffix('/').unwrap_or(id);
    if id.is_empty() || id.contains('/') {
        return Route::NotFound;
    }
    match *method {
        Method::GET => Route::Get(id),
        Method::PUT => Route::Update(id),
        Method::DELETE => Route::Delete(id),
        _ => Route::MethodNotAllowed("GET, PUT, DELETE"),
    }
}

/// Metrics label of a request.
pub fn route_name(req: &Req) -> &'static str {
    match route(&req.method, &req.path) {
        Route::Token => "app_keys.token",
        Route::List => "app_keys.list",
        Route::Create => "app_keys.create",
        Route::Get(_) => "app_keys.get",
        Route::Update(_) => "app_keys.update",
        Route::Delete(_) => "app_keys.delete",
        Route::MethodNotAllowed(_) | Route::NotFound => "app_keys.other",
    }
}

/// `scheme://host` that `links.self` starts with: the request's `Host` (or the listen
/// address), over https when TLS is configured or a proxy says `X-Forwarded-Proto: https`.
fn base_url(config: &Config, req: &Req) -> String {
    let forwarded_https = req
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let scheme = if forwarded_https || config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let host = req
        .headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .or_else(|| config.listen.map(|a| a.to_string()))
        .unwrap_or_else(|| crate::config::DEFAULT_LISTEN.to_owned());
    format!("{scheme}://{host}")
}

/// Handles one request of this dialect.
pub async fn handle(state: &Arc<AppState>, req: Req) -> Resp {
    let route = route(&req.method, &req.path);
    match route {
        Route::NotFound => {
            return error_response(
                StatusCode::NOT_FOUND,
                "the requested resource does not exist",
            )
        }
        Route::MethodNotAllowed(allow) => {
            let mut resp = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "method {} is not allowed here; allowed: {allow}",
                    req.method
                ),
            );
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            return resp;
        }
        Route::Token => return auth::issue_token(state, &req).await,
        _ => {}
    }

    let config = state.config();
    let caller = match auth::authenticate(state, &config, &req.headers) {
        Ok(c) => c,
        Err(e) => return e.response(),
    };
    let base = base_url(&config, &req);
    let links = keys::Links { base: &base };
    match route {
        Route::List => keys::list(state, &caller, &links, &req.query),
        Route::Create => keys::create(state, &caller, &links, &req.body).await,
        Route::Get(id) => keys::get(state, &caller, &links, id),
        Route::Update(id) => keys::update(state, &caller, &links, id, &req.body).await,
        Route::Delete(id) => keys::delete(state, &caller, id).await,
        Route::Token | Route::MethodNotAllowed(_) | Route::NotFound => {
            unreachable!("answered above")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn timestamps_strictly_increase_even_within_one_millisecond() {
        let stamps: Vec<Timestamp> = (0..1000).map(|_| Timestamp::now()).collect();
        for pair in stamps.windows(2) {
            assert!(pair[0].ms < pair[1].ms, "{} !< {}", pair[0].ms, pair[1].ms);
            assert!(pair[0].text <= pair[1].text);
        }
    }

    #[test]
    fn routes() {
        use Route::*;
        let cases: &[(Method, &str, Route)] = &[
            (Method::POST, "/oauth/access_token", Token),
            (Method::GET, "/oauth/access_token", MethodNotAllowed("POST")),
            (Method::GET, "/v2/application-keys", List),
            (Method::GET, "/v2/application-keys/", List),
            (Method::POST, "/v2/application-keys", Create),
            (
                Method::PATCH,
                "/v2/application-keys",
                MethodNotAllowed("GET, POST"),
            ),
            (Method::GET, "/v2/application-keys/abc", Get("abc")),
            (Method::GET, "/v2/application-keys/abc/", Get("abc")),
            (Method::PUT, "/v2/application-keys/abc", Update("abc")),
            (Method::DELETE, "/v2/application-keys/abc", Delete("abc")),
            (
                Method::POST,
                "/v2/application-keys/abc",
                MethodNotAllowed("GET, PUT, DELETE"),
            ),
            (Method::GET, "/v2/application-keys/abc/def", NotFound),
            (Method::GET, "/v2/application-keysx", NotFound),
            (Method::GET, "/v2/application-keys//", NotFound),
            (Method::POST, "/oauth/access_token/x", NotFound),
        ];
        for (method, path, want) in cases {
            assert_eq!(&route(method, path), want, "{method} {path}");
        }
    }

    #[tokio::test]
    async fn error_shape_matches_the_seed() {
        let resp = error_response(StatusCode::CONFLICT, keys_over_budget_detail());
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"errors":[{
                "detail": "requested reserved rate limit will exceed the maximum",
                "status": "409",
                "title": "Conflict"
            }]})
        );
    }

    fn keys_over_budget_detail() -> &'static str {
        "requested reserved rate limit will exceed the maximum"
    }

    #[test]
    fn dates_are_rfc3339_utc_with_millis() {
        let now = Timestamp::now();
        assert_eq!(now.text.len(), "2017-01-10T11:41:19.244Z".len());
        assert!(now.text.ends_with('Z'));
        assert_eq!(now.ms / 1000, now.secs);
    }
}
