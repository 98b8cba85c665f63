//! Routing: picks the dialect (or the ops or admin endpoints) from the path, reads the body
//! within `limits.body_bytes_max`, calls the dialect, and records metrics.
//!
//! `/admin` and everything under it belong to the admin endpoints and are matched before the
//! key-values paths `/{apiKey}/...`, so `admin` can never be an api key (config validation
//! refuses it).
//!
//! Key-values paths are also served under Baasic's version prefix, `/v1/{apiKey}/...`
//! ([`keyvalues_path`]); the dialect always sees the path without it. Every key-values
//! response gets the dialect's CORS headers here, the router's own errors included.
//!
//! Panics: every dialect call runs under `catch_unwind`, so a panicking handler becomes a 500
//! in the dialect's shape on the same connection, never a dropped connection. (hyper's own
//! isolation would only kill the connection task, and the client would see a reset.)

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper::header::{HeaderMap, CONTENT_LENGTH, ORIGIN};
use hyper::{Method, Request, StatusCode};

use crate::dialects::{app_keys, keystore, keyvalues, voximplant};
use crate::http::{self, Req, Resp};
use crate::metrics::Metrics;
use crate::ops;
use crate::AppState;

/// What one running server shares with every request.
pub struct ServerCtx {
    pub state: Arc<AppState>,
    pub metrics: Arc<Metrics>,
    /// `limits.body_bytes_max`, fixed for the process (a reload does not change limits).
    pub body_bytes_max: usize,
}

/// The four dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialectId {
    KeyStore,
    AppKeys,
    Voximplant,
    KeyValues,
}

impl DialectId {
    /// The `dialect` metrics label.
    pub fn label(self) -> &'static str {
        match self {
            DialectId::KeyStore => "keystore",
            DialectId::AppKeys => "app_keys",
            DialectId::Voximplant => "voximplant",
            DialectId::KeyValues => "keyvalues",
        }
    }
}

/// The operational endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsRoute {
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
}

/// The admin endpoints (bearer `[admin] token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute {
    /// `POST /admin/checkpoint`.
    Checkpoint,
}

/// Where a path goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Ops(OpsRoute),
    Admin(AdminRoute),
    Dialect(DialectId),
    NotFound,
}

/// `path` is `prefix` or starts with `prefix/`.
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Picks the target of a (percent-encoded) path. Pure.
pub fn target(path: &str) -> Target {
    match path {
        "/healthz" => return Target::Ops(OpsRoute::Healthz),
        "/readyz" => return Target::Ops(OpsRoute::Readyz),
        "/metrics" => return Target::Ops(OpsRoute::Metrics),
        "/openapi.json" => return Target::Ops(OpsRoute::OpenApi),
        "/oauth/access_token" => return Target::Dialect(DialectId::AppKeys),
        _ => {}
    }
    if under(path, "/v1/key-store") {
        return Target::Dialect(DialectId::KeyStore);
    }
    if under(path, "/v2/application-keys") {
        return Target::Dialect(DialectId::AppKeys);
    }
    if under(path, "/platform_api") {
        return Target::Dialect(DialectId::Voximplant);
    }
    // IMPORTANT: before the key-values paths, which would take `admin` for an api key.
    if under(path, "/admin") {
        return match path {
            "/admin/checkpoint" => Target::Admin(AdminRoute::Checkpoint),
            _ => Target::NotFound,
        };
    }
    if keyvalues_path(path).is_some() {
        return Target::Dialect(DialectId::KeyValues);
    }
    Target::NotFound
}

/// Prefix of Baasic's versioned API paths (the SDK's default `apiVersion`).
const BAASIC_VERSION_PREFIX: &str = "/v1";

/// The key-values path `/{apiKey}/key-values...` or `/{apiKey}/login...` that `path` names,
/// also through Baasic's version prefix (`/v1/{apiKey}/...`, what the SDK calls with its
/// default `apiVersion`). The direct reading wins: `/v1/key-values` is app `v1`'s collection,
/// and the key store's `/v1/key-store` is matched before this, so apps named `key-values`,
/// `login` or `key-store` are reachable without the prefix only.
pub fn keyvalues_path(path: &str) -> Option<&str> {
    fn direct(path: &str) -> bool {
        let mut segments = path.strip_prefix('/').unwrap_or("").splitn(3, '/');
        let api_key = segments.next().unwrap_or("");
        let resource = segments.next().unwrap_or("");
        !api_key.is_empty() && (resource == "key-values" || resource == "login")
    }
    if direct(path) {
        return Some(path);
    }
    path.strip_prefix(BAASIC_VERSION_PREFIX)
        .filter(|rest| direct(rest))
}

/// The `route` metrics label: the path template, so the number of series stays bounded.
pub fn route_label(target: Target, path: &str) -> &'static str {
    match target {
        Target::Ops(OpsRoute::Healthz) => "/healthz",
        Target::Ops(OpsRoute::Readyz) => "/readyz",
        Target::Ops(OpsRoute::Metrics) => "/metrics",
        Target::Ops(OpsRoute::OpenApi) => "/openapi.json",
        Target::Admin(AdminRoute::Checkpoint) => "/admin/checkpoint",
        Target::NotFound => "unmatched",
        Target::Dialect(DialectId::KeyStore) => {
            match path.strip_prefix("/v1/key-store").unwrap_or("") {
                "" | "/" => "/v1/key-store/",
                _ => "/v1/key-store/{key}",
            }
        }
        Target::Dialect(DialectId::AppKeys) => {
            if path == "/oauth/access_token" {
                return "/oauth/access_token";
            }
            match path.strip_prefix("/v2/application-keys").unwrap_or("") {
                "" | "/" => "/v2/application-keys",
                _ => "/v2/application-keys/{id}",
            }
        }
        Target::Dialect(DialectId::Voximplant) => {
            match path.strip_prefix("/platform_api").unwrap_or("") {
                "" | "/" => "/platform_api",
                "/SetKeyValueItem" | "/SetKeyValueItem/" => "/platform_api/SetKeyValueItem",
                "/GetKeyValueItem" | "/GetKeyValueItem/" => "/platform_api/GetKeyValueItem",
                "/GetKeyValueItems" | "/GetKeyValueItems/" => "/platform_api/GetKeyValueItems",
                "/GetKeyValueKeys" | "/GetKeyValueKeys/" => "/platform_api/GetKeyValueKeys",
                "/DelKeyValueItem" | "/DelKeyValueItem/" => "/platform_api/DelKeyValueItem",
                _ => "/platform_api/{other}",
            }
        }
        Target::Dialect(DialectId::KeyValues) => {
            let rest = keyvalues_path(path)
                .unwrap_or(path)
                .strip_prefix('/')
                .and_then(|p| p.split_once('/'))
                .map_or("", |(_, rest)| rest);
            match rest {
                "key-values" | "key-values/" => "/{apiKey}/key-values",
                "login" | "login/" => "/{apiKey}/login",
                r if r.starts_with("key-values/") => "/{apiKey}/key-values/{id}",
                _ => "/{apiKey}/{other}",
            }
        }
    }
}

/// The `method` metrics label.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Answers one request. Never panics, whatever the dialect does.
pub async fn route<B>(ctx: &ServerCtx, req: Request<B>) -> Resp
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let path = req.uri().path();
    let target = target(path);
    let route = route_label(target, path);
    let method = method_label(req.method());
    let resp = match target {
        Target::Ops(op) => ops::handle(ctx, op, req.method()),
        Target::Admin(route) => admin_request(ctx, route, req).await,
        Target::NotFound => not_found(),
        Target::Dialect(DialectId::KeyValues) => {
            // Every key-values answer, the router's own errors included, gets the CORS
            // headers (the Baasic SDK runs in browsers).
            let origin = req.headers().get(ORIGIN).cloned();
            let mut resp = dialect_request(ctx, DialectId::KeyValues, req).await;
            keyvalues::cors::decorate(&ctx.state.config().keyvalues, origin.as_ref(), &mut resp);
            resp
        }
        Target::Dialect(d) => dialect_request(ctx, d, req).await,
    };
    let dialect = match target {
        Target::Ops(_) => "ops",
        Target::Admin(_) => "admin",
        Target::NotFound => "none",
        Target::Dialect(d) => d.label(),
    };
    ctx.metrics.record_request(
        dialect,
        route,
        method,
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}

/// `{"message":"not found"}` for paths no dialect owns.
pub fn not_found() -> Resp {
    http::json(
        StatusCode::NOT_FOUND,
        &Message {
            message: "not found",
        },
    )
}

#[derive(serde::Serialize)]
struct Message<'a> {
    message: &'a str,
}

/// Why a request body was not read.
enum BodyError {
    /// Longer than the limit (declared or found while reading).
    TooLarge,
    /// The connection failed or the framing was broken.
    Unreadable,
}

/// Reads a whole request body of at most `limit` bytes.
async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Refuse a declared oversize body before reading any of it.
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) => {
            tracing::debug!(error = %e, "reading request body failed");
            Err(BodyError::Unreadable)
        }
    }
}

const UNREADABLE_BODY: &str = "the request body could not be read";

async fn dialect_request<B>(ctx: &ServerCtx, d: DialectId, req: Request<B>) -> Resp
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = ctx.body_bytes_max;
    let (parts, body) = req.into_parts();
    let body = match read_body(&parts.headers, body, limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return too_large(d, limit),
        Err(BodyError::Unreadable) => {
            return error_response(d, StatusCode::BAD_REQUEST, UNREADABLE_BODY)
        }
    };
    let path = parts.uri.path();
    let path = match d {
        DialectId::KeyValues => keyvalues_path(path).unwrap_or(path),
        _ => path,
    };
    let req = Req {
        method: parts.method,
        path: path.to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body,
    };
    let state = &ctx.state;
    guarded(d, &ctx.metrics, async move {
        match d {
            DialectId::KeyStore => keystore::handle(state, req).await,
            DialectId::AppKeys => app_keys::handle(state, req).await,
            DialectId::Voximplant => voximplant::handle(state, req).await,
            DialectId::KeyValues => keyvalues::handle(state, req).await,
        }
    })
    .await
}

/// An admin request: the token (and method) are checked before the body is read, so an
/// unauthenticated client cannot make the server buffer anything.
async fn admin_request<B>(ctx: &ServerCtx, route: AdminRoute, req: Request<B>) -> Resp
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    if let Some(refused) = ops::admin_refusal(&ctx.state, route, &parts.method, &parts.headers) {
        return refused;
    }
    let limit = ctx.body_bytes_max.min(ops::ADMIN_BODY_BYTES_MAX);
    let body = match read_body(&parts.headers, body, limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return ops::admin_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body exceeds the limit of {limit} bytes"),
            )
        }
        Err(BodyError::Unreadable) => {
            return ops::admin_error(StatusCode::BAD_REQUEST, UNREADABLE_BODY)
        }
    };
    let handler = async {
        match route {
            AdminRoute::Checkpoint => ops::checkpoint(&ctx.state, &body).await,
        }
    };
    guarded_with("admin", &ctx.metrics, handler, || {
        ops::admin_error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    })
    .await
}

/// Runs a dialect's handler future; a panic becomes a 500 in the dialect's shape.
pub async fn guarded(d: DialectId, metrics: &Metrics, handler: impl Future<Output = Resp>) -> Resp {
    guarded_with(d.label(), metrics, handler, || {
        error_response(
            d,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error",
        )
    })
    .await
}

/// Runs a handler future; a panic is counted, logged and answered with `on_panic()`.
///
/// `AssertUnwindSafe` is sound here: the handler's state dies with the panic, and what it
/// shares (`AppState`) is either behind poison-tolerant locks or the engine, whose writes
/// are atomic batches.
async fn guarded_with(
    label: &'static str,
    metrics: &Metrics,
    handler: impl Future<Output = Resp>,
    on_panic: impl FnOnce() -> Resp,
) -> Resp {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(resp) => resp,
        Err(panic) => {
            metrics.handler_panicked();
            tracing::error!(
                dialect = label,
                panic = panic_message(&*panic),
                "request handler panicked; answering 500"
            );
            on_panic()
        }
    }
}

fn too_large(d: DialectId, limit: usize) -> Resp {
    error_response(
        d,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body exceeds the limit of {limit} bytes"),
    )
}

/// An error in dialect `d`'s own shape. Guarded like `handle`: should the dialect's renderer
/// itself panic, the client still gets a JSON error with the right status.
pub fn error_response(d: DialectId, status: StatusCode, message: &str) -> Resp {
    let rendered = std::panic::catch_unwind(|| match d {
        DialectId::KeyStore => keystore::error_response(status, message),
        DialectId::AppKeys => app_keys::error_response(status, message),
        DialectId::Voximplant => voximplant::error_response(status, message),
        DialectId::KeyValues => keyvalues::error_response(status, message),
    });
    rendered.unwrap_or_else(|panic| {
        tracing::error!(
            dialect = d.label(),
            panic = panic_message(&*panic),
            "dialect error renderer panicked"
        );
        http::json(status, &Message { message })
    })
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_pick_their_dialect() {
        use DialectId::*;
        let cases: &[(&str, Target)] = &[
            ("/v1/key-store", Target::Dialect(KeyStore)),
            ("/v1/key-store/", Target::Dialect(KeyStore)),
            ("/v1/key-store/my-key", Target::Dialect(KeyStore)),
            ("/v1/key-storex", Target::NotFound),
            ("/v2/application-keys", Target::Dialect(AppKeys)),
            ("/v2/application-keys/0c45e4ec", Target::Dialect(AppKeys)),
            ("/oauth/access_token", Target::Dialect(AppKeys)),
            ("/platform_api", Target::Dialect(Voximplant)),
            ("/platform_api/SetKeyValueItem", Target::Dialect(Voximplant)),
            ("/platform_apix", Target::NotFound),
            ("/demo/key-values", Target::Dialect(KeyValues)),
            ("/demo/key-values/abc", Target::Dialect(KeyValues)),
            ("/demo/login", Target::Dialect(KeyValues)),
            ("//key-values", Target::NotFound),
            ("/demo/other", Target::NotFound),
            ("/admin/checkpoint", Target::Admin(AdminRoute::Checkpoint)),
            // `admin` is never an api key.
            ("/admin/key-values", Target::NotFound),
            ("/admin/login", Target::NotFound),
            ("/admin", Target::NotFound),
            ("/admin/checkpoint/", Target::NotFound),
            ("/administrator/key-values", Target::Dialect(KeyValues)),
            // Baasic's version prefix.
            ("/v1/demo/key-values", Target::Dialect(KeyValues)),
            ("/v1/demo/key-values/abc/", Target::Dialect(KeyValues)),
            ("/v1/demo/login/", Target::Dialect(KeyValues)),
            ("/v1/demo/other", Target::NotFound),
            ("/v1/key-store/key-values", Target::Dialect(KeyStore)),
            ("/v1/key-values", Target::Dialect(KeyValues)),
            ("/v1//key-values", Target::NotFound),
            ("/v2/demo/key-values", Target::NotFound),
            ("/healthz", Target::Ops(OpsRoute::Healthz)),
            ("/readyz", Target::Ops(OpsRoute::Readyz)),
            ("/metrics", Target::Ops(OpsRoute::Metrics)),
            ("/openapi.json", Target::Ops(OpsRoute::OpenApi)),
            ("/healthz/", Target::NotFound),
            ("/", Target::NotFound),
            ("", Target::NotFound),
        ];
        for (path, want) in cases {
            assert_eq!(target(path), *want, "{path}");
        }
    }

    #[test]
    fn the_version_prefix_is_an_alias_unless_the_path_reads_directly() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/demo/key-values", Some("/demo/key-values")),
            ("/v1/demo/key-values", Some("/demo/key-values")),
            ("/v1/demo/key-values/id/", Some("/demo/key-values/id/")),
            ("/v1/demo/login", Some("/demo/login")),
            // App `v1` itself, read directly.
            ("/v1/key-values", Some("/v1/key-values")),
            ("/v1/key-values/login", Some("/v1/key-values/login")),
            ("/v1/login", Some("/v1/login")),
            ("/v1/v1/key-values", Some("/v1/key-values")),
            ("/v1/demo", None),
            ("/v1", None),
            ("/v1x/demo/key-values", None),
            ("/demo/v1/key-values", None),
        ];
        for (path, want) in cases {
            assert_eq!(keyvalues_path(path), *want, "{path}");
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_in_the_dialect_shape() {
        let metrics = Metrics::new();
        let resp = guarded(DialectId::KeyStore, &metrics, async { panic!("boom") }).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error body");
        assert!(json.is_object(), "{json}");
        let text = metrics.render(&strata_engine::Stats::default(), true);
        assert!(
            text.contains("strata_http_handler_panics_total 1\n"),
            "{text}"
        );

        let ok = guarded(DialectId::KeyStore, &metrics, async {
            http::empty(StatusCode::OK)
        });
        assert_eq!(ok.await.status(), StatusCode::OK);
    }

    #[test]
    fn route_labels_are_templates() {
        let cases: &[(&str, &str)] = &[
            ("/v1/key-store", "/v1/key-store/"),
            ("/v1/key-store/abc", "/v1/key-store/{key}"),
            ("/v2/application-keys/", "/v2/application-keys"),
            ("/v2/application-keys/123", "/v2/application-keys/{id}"),
            ("/oauth/access_token", "/oauth/access_token"),
            ("/platform_api/", "/platform_api"),
            (
                "/platform_api/GetKeyValueKeys",
                "/platform_api/GetKeyValueKeys",
            ),
            ("/platform_api/Nope", "/platform_api/{other}"),
            ("/k/key-values", "/{apiKey}/key-values"),
            ("/k/key-values/x", "/{apiKey}/key-values/{id}"),
            ("/k/login", "/{apiKey}/login"),
            ("/k/login/x", "/{apiKey}/{other}"),
            ("/v1/k/key-values/x", "/{apiKey}/key-values/{id}"),
            ("/v1/k/login/", "/{apiKey}/login"),
            ("/admin/checkpoint", "/admin/checkpoint"),
            ("/admin/other", "unmatched"),
            ("/nope", "unmatched"),
        ];
        for (path, want) in cases {
            assert_eq!(route_label(target(path), path), *want, "{path}");
        }
    }
}
