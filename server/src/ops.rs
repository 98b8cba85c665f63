//! Operational endpoints: `GET /healthz`, `GET /readyz`, `GET /metrics`, `GET /openapi.json`.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde::Serialize;

use crate::http::{self, Resp};
use crate::router::{OpsRoute, ServerCtx};

/// The OpenAPI 3.1 document of every endpoint (`server/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// Content type of the Prometheus text exposition format.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// Answers an ops request. Only `GET` is allowed.
pub fn handle(ctx: &ServerCtx, route: OpsRoute, method: &Method) -> Resp {
    if *method != Method::GET {
        let mut resp = http::json(
            StatusCode::METHOD_NOT_ALLOWED,
            &Message {
                message: "method not allowed",
            },
        );
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return resp;
    }
    match route {
        OpsRoute::Healthz => http::json(StatusCode::OK, &Status { status: "ok" }),
        OpsRoute::Readyz => {
            if ctx.state.ready.load(Ordering::Acquire) {
                http::json(StatusCode::OK, &Status { status: "ready" })
            } else {
                http::json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &Status {
                        status: "unavailable",
                    },
                )
            }
        }
        OpsRoute::Metrics => {
            let ready = ctx.state.ready.load(Ordering::Acquire);
            let text = ctx.metrics.render(&ctx.state.db.stats(), ready);
            with_type(Bytes::from(text), PROMETHEUS_CONTENT_TYPE)
        }
        OpsRoute::OpenApi => with_type(
            Bytes::from_static(OPENAPI_JSON.as_bytes()),
            "application/json",
        ),
    }
}

fn with_type(body: Bytes, content_type: &'static str) -> Resp {
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
