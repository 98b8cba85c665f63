//! Voximplant-style key-value storage (CONTRACT §4.4, seed 003; `docs/api.md (section "voximplant")`).
//!
//! Addressing: `GET|POST /platform_api/{Method}` (a trailing slash is tolerated) or
//! `GET|POST /platform_api` (or `/platform_api/`) with a `cmd={Method}` parameter, which is
//! what the official Python SDK sends. When the path names a method, a `cmd` parameter is
//! ignored.
//!
//! Order of checks: path (404) → HTTP method (405) → service-account JWT (401) → parameters
//! (400 / 415) → `cmd` (400 / 404) → application (400 / 404) → the method itself.
//!
//! Tenant: (account of the JWT's `iss`, application of `application_id` / `application_name`).

mod auth;
mod error;
mod methods;
mod params;
mod tenant;
mod validate;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::{Method as HttpMethod, StatusCode};

use self::error::{VoxError, CODE_MISSING_CMD, CODE_UNKNOWN_CMD};
use self::methods::Method;
use self::params::Params;
use crate::http::{self, Req, Resp};
use crate::AppState;

/// The path prefix of this dialect.
const PATH_PREFIX: &str = "/platform_api";

/// What the path addresses.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    /// `/platform_api` or `/platform_api/`: the method comes from `cmd`.
    Cmd,
    /// `/platform_api/{name}` or `/platform_api/{name}/`.
    Named(&'a str),
}

/// `None` for paths this dialect does not serve (e.g. `/platform_api/A/B`).
fn target(path: &str) -> Option<Target<'_>> {
    let rest = path.strip_prefix(PATH_PREFIX)?;
    if rest.is_empty() || rest == "/" {
        return Some(Target::Cmd);
    }
    let name = rest.strip_prefix('/')?;
    let name = name.strip_suffix('/').unwrap_or(name);
    (!name.is_empty() && !name.contains('/')).then_some(Target::Named(name))
}

fn unknown_method(name: &str) -> VoxError {
    VoxError::new(
        StatusCode::NOT_FOUND,
        CODE_UNKNOWN_CMD,
        format!("unknown method {name:?}"),
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Handles one request of this dialect.
pub async fn handle(state: &Arc<AppState>, req: Req) -> Resp {
    match serve(state, &req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn serve(state: &Arc<AppState>, req: &Req) -> Result<Resp, VoxError> {
    let target = target(&req.path)
        .ok_or_else(|| VoxError::new(StatusCode::NOT_FOUND, CODE_UNKNOWN_CMD, "not found"))?;
    // Method names are public, so an unknown one is reported before authorization.
    let named = match target {
        Target::Named(name) => Some(Method::from_name(name).ok_or_else(|| unknown_method(name))?),
        Target::Cmd => None,
    };
    if req.method != HttpMethod::GET && req.method != HttpMethod::POST {
        return Err(VoxError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            error::CODE_METHOD_NOT_ALLOWED,
            format!("{} is not allowed: use GET or POST", req.method),
        ));
    }

    let now = unix_now();
    let config = state.config();
    let token = http::bearer(&req.headers)
        .ok_or_else(|| VoxError::auth(auth::AuthError::Missing.reason()))?;
    let account_id = auth::keyring_for(&config, &state.config_dir)
        .verify(token, now)
        .map_err(|e| VoxError::auth(e.reason()))?;
    // The keyring was built from this same `config`, so the account is there.
    let account = config
        .voximplant
        .accounts
        .iter()
        .find(|a| a.account_id == account_id)
        .expect("a verified token names an account of the configuration its keyring came from");

    let params = Params::from_request(req).await?;
    let method = match named {
        Some(m) => m,
        None => match params.get("cmd") {
            None | Some("") => {
                return Err(VoxError::new(
                    StatusCode::BAD_REQUEST,
                    CODE_MISSING_CMD,
                    "Missing 'cmd' parameter",
                ))
            }
            Some(name) => Method::from_name(name).ok_or_else(|| unknown_method(name))?,
        },
    };
    let application_id = tenant::application_id(account, &params)?;
    let tenant = format!("{account_id}/{application_id}");
    methods::run(method, state, &tenant, &params, now).await
}

/// An error in this dialect's shape (used by the router for 404 / 405 / 413 / timeouts).
pub fn error_response(status: StatusCode, message: &str) -> Resp {
    error::for_status(status, message)
}

/// The metrics label of a request: the method when the path names it.
pub fn route_name(req: &Req) -> &'static str {
    match target(&req.path) {
        Some(Target::Named(name)) => match Method::from_name(name) {
            Some(Method::SetKeyValueItem) => "voximplant.SetKeyValueItem",
            Some(Method::GetKeyValueItem) => "voximplant.GetKeyValueItem",
            Some(Method::GetKeyValueItems) => "voximplant.GetKeyValueItems",
            Some(Method::GetKeyValueKeys) => "voximplant.GetKeyValueKeys",
            Some(Method::DelKeyValueItem) => "voximplant.DelKeyValueItem",
            None => "voximplant.unknown",
        },
        // The method is in the body; reading it here would parse the body twice.
        Some(Target::Cmd) => "voximplant.cmd",
        None => "voximplant.unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(target("/platform_api"), Some(Target::Cmd));
        assert_eq!(target("/platform_api/"), Some(Target::Cmd));
        assert_eq!(
            target("/platform_api/SetKeyValueItem"),
            Some(Target::Named("SetKeyValueItem"))
        );
        assert_eq!(
            target("/platform_api/SetKeyValueItem/"),
            Some(Target::Named("SetKeyValueItem"))
        );
        assert_eq!(target("/platform_api/A/B"), None);
        assert_eq!(target("/platform_api//"), None);
        assert_eq!(target("/platform_apiX"), None);
        assert_eq!(target("/platform_api/SetKeyValueItem//"), None);
        assert_eq!(target("/other"), None);
    }
}
