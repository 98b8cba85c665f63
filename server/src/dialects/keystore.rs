//! (dialect module: to be implemented)

use std::sync::Arc;

use hyper::StatusCode;

use crate::http::{Req, Resp};
use crate::AppState;

/// Handles one request of this dialect.
pub async fn handle(_state: &Arc<AppState>, _req: Req) -> Resp {
    todo!()
}

/// An error in this dialect's shape (used by the router for 404 / 405 / 413 / timeouts).
pub fn error_response(_status: StatusCode, _message: &str) -> Resp {
    todo!()
}
