//! Operational endpoints: `GET /healthz`, `GET /readyz`, `GET /metrics`, `GET /openapi.json`;
//! and the admin endpoint `POST /admin/checkpoint` (an online backup), which needs the
//! `[admin] token` as a bearer token.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strata_engine::db::Checkpoint;
use strata_engine::{Db, Error as EngineError};
use subtle::ConstantTimeEq;

use crate::bootstrap;
use crate::config::Config;
use crate::http::{self, Resp};
use crate::router::{AdminRoute, OpsRoute, ServerCtx};
use crate::AppState;

/// The OpenAPI 3.1 document of every endpoint (`server/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// Content type of the Prometheus text exposition format.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    message: &'a str,
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

// ---------------------------------------------------------------------------------------------
// Admin endpoints. Errors are `{"message": ...}`.

/// Largest admin request body, in bytes (a JSON object holding one path; also bounded by
/// `limits.body_bytes_max`).
pub const ADMIN_BODY_BYTES_MAX: usize = 64 * 1024;
/// Longest checkpoint directory path, in bytes (Linux's `PATH_MAX`).
pub const CHECKPOINT_DIR_BYTES_MAX: usize = 4096;

/// Checkpoints run one at a time: two into the same directory would both find it empty and
/// then write over each other, and a second one would hold the engine's writer lock while it
/// waits for the first to release the manifest lock.
static CHECKPOINT_LOCK: Mutex<()> = Mutex::new(());

/// An admin error: `{"message": ...}`.
pub fn admin_error(status: StatusCode, message: &str) -> Resp {
    http::json(status, &Message { message })
}

/// The answer to an admin request that must go no further: 401 without the right token
/// (checked first: nothing else is revealed without it), 405 for a wrong method.
pub fn admin_refusal(
    state: &AppState,
    route: AdminRoute,
    method: &Method,
    headers: &HeaderMap,
) -> Option<Resp> {
    if !admin_token_matches(&state.config(), http::bearer(headers)) {
        let mut resp = admin_error(StatusCode::UNAUTHORIZED, "missing or invalid admin token");
        resp.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"strata-admin\""),
        );
        return Some(resp);
    }
    let (allowed, allow) = match route {
        AdminRoute::Checkpoint => (Method::POST, "POST"),
    };
    if *method != allowed {
        let mut resp = admin_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        return Some(resp);
    }
    None
}

/// Whether `presented` is the configured admin token. No token configured: never.
fn admin_token_matches(config: &Config, presented: Option<&str>) -> bool {
    let (Some(expected), Some(presented)) = (config.admin.token.as_deref(), presented) else {
        return false;
    };
    if expected.is_empty() {
        return false;
    }
    // Comparing digests keeps the comparison constant-time in the token's length too.
    let expected = Sha256::digest(expected.as_bytes());
    let presented = Sha256::digest(presented.as_bytes());
    expected.ct_eq(&presented).into()
}

/// The body of `POST /admin/checkpoint`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointRequest {
    dir: String,
}

/// The answer of `POST /admin/checkpoint`: `Db::checkpoint`'s report and the side files
/// copied.
#[derive(Debug, Serialize)]
struct CheckpointResponse {
    dir: String,
    last_seqno: u64,
    tables_linked: usize,
    tables_copied: usize,
    wal_segments: usize,
    wal_bytes: u64,
    side_files: Vec<String>,
}

/// Why a checkpoint was not written.
#[derive(Debug)]
enum CheckpointError {
    /// The target directory is not acceptable (400).
    Target(String),
    /// The engine is shutting down (503).
    Closed,
    /// I/O or engine failure (500, logged).
    Failed(anyhow::Error),
}

/// `POST /admin/checkpoint {"dir": "/abs/path"}`: a consistent copy of the running database
/// (`Db::checkpoint`, on the blocking pool) plus the data directory's side files (the
/// credentials), in `dir`, which must be missing or an empty directory outside the data
/// directory.
pub async fn checkpoint(state: &Arc<AppState>, body: &[u8]) -> Resp {
    let request: CheckpointRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                &format!("the body must be {{\"dir\": \"/absolute/path\"}}: {e}"),
            )
        }
    };
    let dir = match checkpoint_dir(&request.dir) {
        Ok(dir) => dir,
        Err(message) => return admin_error(StatusCode::BAD_REQUEST, &message),
    };
    let db = state.db.clone();
    let data_dir = state.data_dir.clone();
    let target = dir.clone();
    // Logged on the blocking thread: the checkpoint finishes even if the client goes away.
    let task = tokio::task::spawn_blocking(move || {
        let written = write_checkpoint(&db, &data_dir, &target);
        log_checkpoint(&target, &written);
        written
    });
    let written = match task.await {
        Ok(result) => result,
        // Re-raised so that the router's guard counts it and answers 500.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down.
        Err(_) => Err(CheckpointError::Closed),
    };
    match written {
        Ok((checkpoint, side_files)) => http::json(
            StatusCode::OK,
            &CheckpointResponse {
                dir: dir.display().to_string(),
                last_seqno: checkpoint.last_seqno,
                tables_linked: checkpoint.tables_linked,
                tables_copied: checkpoint.tables_copied,
                wal_segments: checkpoint.wal_segments,
                wal_bytes: checkpoint.wal_bytes,
                side_files,
            },
        ),
        Err(CheckpointError::Target(message)) => admin_error(StatusCode::BAD_REQUEST, &message),
        Err(CheckpointError::Closed) => admin_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        ),
        Err(CheckpointError::Failed(e)) => admin_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("checkpoint into {} failed: {e:#}", dir.display()),
        ),
    }
}

/// Logs a written checkpoint (info) or a failed one (error).
fn log_checkpoint(dir: &Path, written: &Result<(Checkpoint, Vec<String>), CheckpointError>) {
    match written {
        Ok((checkpoint, side_files)) => tracing::info!(
            dir = %dir.display(),
            last_seqno = checkpoint.last_seqno,
            tables_linked = checkpoint.tables_linked,
            tables_copied = checkpoint.tables_copied,
            wal_bytes = checkpoint.wal_bytes,
            ?side_files,
            "checkpoint written"
        ),
        Err(CheckpointError::Failed(e)) => tracing::error!(
            dir = %dir.display(),
            error = %format!("{e:#}"),
            "admin checkpoint failed; the directory may hold a partial checkpoint"
        ),
        Err(CheckpointError::Target(_) | CheckpointError::Closed) => {}
    }
}

/// Checks the requested directory's syntax (no I/O): absolute, without `..`, NUL or excess
/// length. Returns it normalized (no `.` components or repeated slashes).
fn checkpoint_dir(raw: &str) -> Result<PathBuf, String> {
    if raw.len() > CHECKPOINT_DIR_BYTES_MAX {
        return Err(format!(
            "dir must be at most {CHECKPOINT_DIR_BYTES_MAX} bytes long"
        ));
    }
    if raw.contains('\0') {
        return Err("dir must not contain a NUL character".into());
    }
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(format!("dir must be an absolute path, got {raw:?}"));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("dir must not contain `..`, got {raw:?}"));
    }
    Ok(path.components().collect())
}

/// Writes the checkpoint and copies the side files (blocking; one at a time).
fn write_checkpoint(
    db: &Db,
    data_dir: &Path,
    dir: &Path,
) -> Result<(Checkpoint, Vec<String>), CheckpointError> {
    let _one_at_a_time = CHECKPOINT_LOCK
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let failed = |e: io::Error, what: &str, path: &Path| {
        CheckpointError::Failed(anyhow::Error::new(e).context(format!("{what} {}", path.display())))
    };
    // Symlinks resolved, so that no alias of the data directory gets past the check.
    let live = fs::canonicalize(data_dir).map_err(|e| failed(e, "resolving", data_dir))?;
    if resolve_existing_prefix(dir).starts_with(&live) {
        return Err(CheckpointError::Target(format!(
            "dir must not be inside the data directory {}",
            live.display()
        )));
    }
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(CheckpointError::Target(format!(
                "{} exists and is not a directory",
                dir.display()
            )))
        }
        Ok(_) => {
            let mut entries = fs::read_dir(dir).map_err(|e| failed(e, "listing", dir))?;
            if entries.next().is_some() {
                return Err(CheckpointError::Target(format!(
                    "{} is not empty: checkpoint into a new directory",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(CheckpointError::Target(format!(
                "{}: a parent is not a directory",
                dir.display()
            )))
        }
        Err(e) => return Err(failed(e, "inspecting", dir)),
    }
    let checkpoint = db.checkpoint(dir).map_err(|e| match e {
        // The engine re-checks emptiness (e.g. another process wrote into the directory).
        EngineError::InvalidArgument(message) => CheckpointError::Target(message),
        EngineError::Closed => CheckpointError::Closed,
        e => CheckpointError::Failed(e.into()),
    })?;
    // After the checkpoint: the engine wants an empty directory.
    let side_files = bootstrap::copy_side_files(data_dir, dir).map_err(CheckpointError::Failed)?;
    Ok((checkpoint, side_files))
}

/// `path` with its longest existing ancestor's symlinks resolved (the rest does not exist
/// yet, so it cannot be a symlink).
fn resolve_existing_prefix(path: &Path) -> PathBuf {
    for ancestor in path.ancestors() {
        if let Ok(real) = fs::canonicalize(ancestor) {
            let rest = path
                .strip_prefix(ancestor)
                .expect("an ancestor is a prefix");
            return real.join(rest);
        }
    }
    path.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with_token(token: Option<&str>) -> Config {
        let mut config = Config::default();
        config.admin.token = token.map(str::to_owned);
        config
    }

    #[test]
    fn only_the_configured_admin_token_matches() {
        let config = config_with_token(Some("the-admin-token-1234"));
        assert!(admin_token_matches(&config, Some("the-admin-token-1234")));
        assert!(!admin_token_matches(&config, Some("the-admin-token-123")));
        assert!(!admin_token_matches(&config, Some("the-admin-token-12345")));
        assert!(!admin_token_matches(&config, None));
        // No token configured: nothing matches, not even an empty one.
        for config in [config_with_token(None), config_with_token(Some(""))] {
            assert!(!admin_token_matches(&config, Some("")));
            assert!(!admin_token_matches(&config, Some("anything")));
            assert!(!admin_token_matches(&config, None));
        }
    }

    #[test]
    fn checkpoint_dirs_must_be_absolute_and_plain() {
        assert_eq!(
            checkpoint_dir("/backups//strata/./x").unwrap(),
            PathBuf::from("/backups/strata/x")
        );
        for bad in [
            "",
            "backups/x",
            "./x",
            "/backups/../etc",
            "/a\0b",
            &format!("/{}", "a".repeat(CHECKPOINT_DIR_BYTES_MAX)),
        ] {
            assert!(checkpoint_dir(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resolving_follows_symlinks_of_existing_ancestors() {
        let dir = tempfile::tempdir().unwrap();
        let real = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(real.join("data")).unwrap();
        std::os::unix::fs::symlink(real.join("data"), real.join("alias")).unwrap();
        assert_eq!(
            resolve_existing_prefix(&real.join("alias/new/deeper")),
            real.join("data/new/deeper")
        );
    }
}
