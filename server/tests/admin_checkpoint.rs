//! `POST /admin/checkpoint`: an online backup of a running server. The checkpoint holds
//! exactly the writes acknowledged before it (and the credentials), opens as a data directory
//! while the first server keeps serving; the endpoint needs the admin token and refuses bad
//! targets with a 400 without touching them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use strata_server::bootstrap::CREDENTIALS_FILE;

const ADMIN_TOKEN: &str = "admin-token-0123456789";
const KS_TOKEN: &str = "ks-token-1";

/// Declares every credential but the app-keys and key-values ones (cheap to generate, and
/// then `credentials.toml` is there to be copied) and no Voximplant key (no RSA key to make).
const CONFIG: &str = r#"
[admin]
token = "admin-token-0123456789"

[[keystore.users]]
token = "ks-token-1"
user_id = "65a1f0c2e4b0a1b2c3d4e5f6"

[[voximplant.accounts]]
account_id = 1001
"#;

async fn put_key(srv: &TestServer, key: &str, n: u64) {
    let resp = common::client()
        .post(srv.url("/v1/key-store/"))
        .bearer_auth(KS_TOKEN)
        .json(&json!({"key": key, "data": {"n": n}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
}

/// `data.data.n` of a key, or `None` on a 404.
async fn get_key(srv: &TestServer, key: &str) -> Option<u64> {
    let resp = common::client()
        .get(srv.url(&format!("/v1/key-store/{key}")))
        .bearer_auth(KS_TOKEN)
        .send()
        .await
        .unwrap();
    match resp.status() {
        StatusCode::NOT_FOUND => None,
        StatusCode::OK => {
            let body: Value = resp.json().await.unwrap();
            Some(body["data"]["data"]["n"].as_u64().expect("n"))
        }
        other => panic!("GET {key}: {other}"),
    }
}

async fn checkpoint(srv: &TestServer, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut request = common::client()
        .post(srv.url("/admin/checkpoint"))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status();
    let body = resp.json().await.expect("a JSON body");
    (status, body)
}

fn dir_body(dir: &Path) -> Value {
    json!({"dir": dir.to_str().expect("UTF-8 temp path")})
}

#[tokio::test]
async fn a_running_server_checkpoints_what_it_acknowledged() {
    let srv = TestServer::start(CONFIG).await;
    put_key(&srv, "in-a-table", 1).await;
    let db = srv.state().db.clone();
    tokio::task::spawn_blocking(move || db.flush().expect("flush"))
        .await
        .unwrap();
    put_key(&srv, "in-the-wal", 2).await;

    // The checkpoint directory is the data directory (`<dir>/data`) of a second server.
    let second = tempfile::tempdir().unwrap();
    let out = second.path().join("data");
    let (status, body) = checkpoint(&srv, Some(ADMIN_TOKEN), dir_body(&out)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dir"], out.to_str().unwrap());
    assert!(body["last_seqno"].as_u64().unwrap() >= 2, "{body}");
    assert!(body["tables_linked"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(body["tables_copied"], 0, "same file system: {body}");
    assert!(body["wal_segments"].as_u64().unwrap() >= 1, "{body}");
    assert!(body["wal_bytes"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(body["side_files"], json!([CREDENTIALS_FILE]), "{body}");

    // The credentials came along, still private.
    let copy = out.join(CREDENTIALS_FILE);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(srv.data_dir().join(CREDENTIALS_FILE)).unwrap()
    );
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The first server keeps serving; what it acknowledges now is not in the checkpoint.
    put_key(&srv, "after-the-cut", 3).await;
    assert_eq!(get_key(&srv, "in-a-table").await, Some(1));

    let restored = TestServer::start_in(second, CONFIG).await;
    assert_eq!(get_key(&restored, "in-a-table").await, Some(1));
    assert_eq!(get_key(&restored, "in-the-wal").await, Some(2));
    assert_eq!(get_key(&restored, "after-the-cut").await, None);
    // Same credentials: the generated ones were loaded, not generated again.
    assert_eq!(restored.config().app_keys, srv.config().app_keys);
    restored.stop().await;
    srv.stop().await;
}

#[tokio::test]
async fn the_endpoint_needs_the_admin_token() {
    let srv = TestServer::start(CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("checkpoint");
    for token in [
        None,
        Some("wrong-admin-token-0123"),
        Some(KS_TOKEN),
        Some(""),
    ] {
        let (status, body) = checkpoint(&srv, token, dir_body(&out)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {body}");
        assert_eq!(body["message"], "missing or invalid admin token");
    }
    assert!(!out.exists(), "nothing written without the token");

    let resp = common::client()
        .post(srv.url("/admin/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"strata-admin\""
    );
    // The method is only checked once the token is.
    let resp = common::client()
        .get(srv.url("/admin/checkpoint"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "POST");
    srv.stop().await;
}

#[tokio::test]
async fn a_generated_admin_token_works_and_admin_is_no_api_key() {
    // No [admin] section: the first start generates the token next to the others.
    let srv = TestServer::start(
        r#"
[[voximplant.accounts]]
account_id = 1001
"#,
    )
    .await;
    let token = srv.config().admin.token.clone().expect("a generated token");
    assert_eq!(
        srv.generated_credentials().admin.unwrap().token,
        Some(token.clone())
    );
    let dir = tempfile::tempdir().unwrap();
    let (status, body) = checkpoint(&srv, Some(&token), dir_body(&dir.path().join("c"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // `/admin/...` never reaches the key-values dialect.
    let resp = common::client()
        .get(srv.url("/admin/key-values"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"message": "not found"})
    );
    srv.stop().await;
}

#[tokio::test]
async fn bad_targets_and_bodies_are_refused_untouched() {
    let srv = TestServer::start(CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep.txt"), "keep").unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();

    let cases: Vec<(Value, &str)> = vec![
        (json!({"dir": "relative/backup"}), "absolute"),
        (dir_body(&full), "not empty"),
        (dir_body(&file), "not a directory"),
        (dir_body(&file.join("below")), "not a directory"),
        (
            dir_body(&srv.data_dir().join("inside")),
            "inside the data directory",
        ),
        (
            json!({"dir": format!("{}/../x", dir.path().display())}),
            "..",
        ),
        (json!({"directory": "/tmp/x"}), "dir"),
        (json!({"dir": 7}), "dir"),
        (json!(["/tmp/x"]), "dir"),
    ];
    for (body, needle) in cases {
        let (status, answer) = checkpoint(&srv, Some(ADMIN_TOKEN), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["message"].as_str().expect("a message");
        assert!(message.contains(needle), "{body}: {message}");
    }
    let resp = common::client()
        .post(srv.url("/admin/checkpoint"))
        .bearer_auth(ADMIN_TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    assert_eq!(std::fs::read(full.join("keep.txt")).unwrap(), b"keep");
    assert_eq!(std::fs::read_dir(&full).unwrap().count(), 1);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    assert!(!srv.data_dir().join("inside").exists());
    assert!(!Path::new("relative").exists());
    srv.stop().await;
}

#[tokio::test]
async fn an_existing_empty_directory_is_accepted_once() {
    let srv = TestServer::start(CONFIG).await;
    put_key(&srv, "some-key", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (status, body) = checkpoint(&srv, Some(ADMIN_TOKEN), dir_body(dir.path())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(dir.path().join("CURRENT").is_file());
    // A second checkpoint into it finds it full.
    let (status, body) = checkpoint(&srv, Some(ADMIN_TOKEN), dir_body(dir.path())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    srv.stop().await;
}

#[tokio::test]
async fn an_io_failure_is_a_500_and_the_server_carries_on() {
    let srv = TestServer::start(CONFIG).await;
    // Nothing can be created in /proc, not even by root.
    let (status, body) = checkpoint(
        &srv,
        Some(ADMIN_TOKEN),
        json!({"dir": "/proc/strata-checkpoint-test"}),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(
        message.contains("checkpoint into /proc/strata-checkpoint-test failed"),
        "{message}"
    );
    // Reads, writes and checkpoints go on.
    put_key(&srv, "still-writable", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (status, body) = checkpoint(&srv, Some(ADMIN_TOKEN), dir_body(dir.path())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    srv.stop().await;
}
