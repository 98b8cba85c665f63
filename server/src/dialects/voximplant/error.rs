//! The dialect's error shape, `{"error":{"msg":"...","code":<number>}}`, and its numeric codes.
//!
//! Codes below 900 are Voximplant's own (its HTTP API error list); codes from 900 up are
//! Strata's, chosen where Voximplant documents none. Every code is listed in
//! `docs/api.md (section "voximplant")`.

use std::borrow::Cow;

use hyper::StatusCode;
use serde::Serialize;

use crate::http::{self, Resp};

/// Voximplant "Internal error".
pub const CODE_INTERNAL: u32 = 2;
/// Voximplant "DB error": the storage engine failed.
pub const CODE_DB: u32 = 4;
/// Voximplant "Authorization failed".
pub const CODE_AUTH: u32 = 100;
/// Voximplant "Invalid arguments".
pub const CODE_INVALID_ARGS: u32 = 101;
/// Voximplant "Missing 'cmd' parameter".
pub const CODE_MISSING_CMD: u32 = 102;
/// Voximplant "Unknown command".
pub const CODE_UNKNOWN_CMD: u32 = 103;
/// Voximplant "Invalid application name".
pub const CODE_INVALID_APP_NAME: u32 = 107;
/// Strata: no application with this `application_id` in the account.
pub const CODE_APP_NOT_FOUND: u32 = 901;
/// Strata: no live item under this key.
pub const CODE_KEY_NOT_FOUND: u32 = 902;
/// Strata: HTTP method other than GET / POST.
pub const CODE_METHOD_NOT_ALLOWED: u32 = 903;
/// Strata: request body over the configured limit.
pub const CODE_BODY_TOO_LARGE: u32 = 904;
/// Strata: a body that is neither form-urlencoded nor multipart.
pub const CODE_UNSUPPORTED_MEDIA_TYPE: u32 = 905;
/// Strata: the request was not received in time.
pub const CODE_TIMEOUT: u32 = 906;

/// An error answer: HTTP status, Voximplant code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoxError {
    pub status: StatusCode,
    pub code: u32,
    pub msg: Cow<'static, str>,
}

impl VoxError {
    pub fn new(status: StatusCode, code: u32, msg: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
        }
    }

    /// 400 "Invalid arguments" with a message naming the parameter.
    pub fn invalid(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, CODE_INVALID_ARGS, msg)
    }

    /// 401 "Authorization failed" with the reason.
    pub fn auth(reason: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            CODE_AUTH,
            format!("Authorization failed: {reason}"),
        )
    }

    /// An engine failure, logged here so every call site reports it the same way.
    pub fn engine(e: strata_engine::Error) -> Self {
        use strata_engine::Error as E;
        match e {
            E::InvalidArgument(msg) => Self::invalid(msg),
            E::Closed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                CODE_DB,
                "storage is shutting down",
            ),
            other => {
                tracing::error!(error = %other, "voximplant: storage engine failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, CODE_DB, "DB error")
            }
        }
    }

    /// Stored data that breaks the dialect's own invariants (e.g. a non-UTF-8 key).
    pub fn corrupt(what: &str) -> Self {
        tracing::error!(
            what,
            "voximplant: stored data is not what this dialect wrote"
        );
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            CODE_INTERNAL,
            "Internal error",
        )
    }

    pub fn into_response(self) -> Resp {
        render(self.status, self.code, &self.msg)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    msg: &'a str,
    code: u32,
}

fn render(status: StatusCode, code: u32, msg: &str) -> Resp {
    http::json(
        status,
        &ErrorBody {
            error: ErrorInner { msg, code },
        },
    )
}

/// The code the router's generic errors (404, 405, 413, timeouts, ...) carry.
pub fn code_for_status(status: StatusCode) -> u32 {
    match status {
        StatusCode::BAD_REQUEST => CODE_INVALID_ARGS,
        StatusCode::UNAUTHORIZED => CODE_AUTH,
        StatusCode::NOT_FOUND => CODE_UNKNOWN_CMD,
        StatusCode::METHOD_NOT_ALLOWED => CODE_METHOD_NOT_ALLOWED,
        StatusCode::REQUEST_TIMEOUT => CODE_TIMEOUT,
        StatusCode::PAYLOAD_TOO_LARGE => CODE_BODY_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => CODE_UNSUPPORTED_MEDIA_TYPE,
        s if s.is_server_error() => CODE_INTERNAL,
        _ => CODE_INVALID_ARGS,
    }
}

/// An error in this dialect's shape for a status chosen by someone else (the router).
pub fn for_status(status: StatusCode, message: &str) -> Resp {
    render(status, code_for_status(status), message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_json(resp: Resp) -> serde_json::Value {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn renders_voximplant_shape() {
        let resp = VoxError::invalid("key is required").into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.headers()[hyper::header::CONTENT_TYPE],
            "application/json"
        );
        let v = body_json(resp).await;
        assert_eq!(
            v,
            serde_json::json!({"error": {"msg": "key is required", "code": 101}})
        );
    }

    #[tokio::test]
    async fn router_statuses_get_their_codes() {
        for (status, code) in [
            (StatusCode::NOT_FOUND, 103),
            (StatusCode::METHOD_NOT_ALLOWED, 903),
            (StatusCode::PAYLOAD_TOO_LARGE, 904),
            (StatusCode::REQUEST_TIMEOUT, 906),
            (StatusCode::UNAUTHORIZED, 100),
            (StatusCode::INTERNAL_SERVER_ERROR, 2),
            (StatusCode::CONFLICT, 101),
        ] {
            let resp = for_status(status, "x");
            assert_eq!(resp.status(), status);
            let v = body_json(resp).await;
            assert_eq!(v["error"]["code"], code, "{status}");
            assert_eq!(v["error"]["msg"], "x");
        }
    }
}
