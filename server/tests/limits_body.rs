//! A request body over `limits.body_bytes_max` is a 413 in the dialect's own JSON shape, whether
//! its length is declared up front or only discovered while reading (chunked).

mod common;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = r#"
[limits]
body_bytes_max = 64

[[keystore.users]]
token = "ks-token-1"
user_id = "65a1f0c2e4b0a1b2c3d4e5f6"
"#;

#[tokio::test]
async fn a_declared_oversize_body_is_413_in_the_keystore_shape() {
    let srv = TestServer::start(CONFIG).await;
    let body = format!(
        "{{\"key\":\"k-big\",\"data\":{{\"v\":\"{}\"}}}}",
        "x".repeat(100)
    );
    let resp = common::client()
        .post(srv.url("/v1/key-store/"))
        .bearer_auth("ks-token-1")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let json: serde_json::Value = resp.json().await.expect("a JSON error body");
    assert_eq!(json["status"], false, "{json}");
    assert!(json["error"].is_object(), "{json}");

    // At the limit it goes through to the dialect (whatever it answers, not 413).
    let small = "{\"key\":\"k-small\",\"data\":{}}";
    let resp = common::client()
        .post(srv.url("/v1/key-store/"))
        .bearer_auth("ks-token-1")
        .header("content-type", "application/json")
        .body(small)
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 413);
    srv.stop().await;
}

#[tokio::test]
async fn a_chunked_oversize_body_is_413() {
    let srv = TestServer::start(CONFIG).await;
    let mut stream = tokio::net::TcpStream::connect(srv.addr()).await.unwrap();
    let chunk = "y".repeat(100);
    let request = format!(
        "POST /v1/key-store/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ks-token-1\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let json: serde_json::Value = serde_json::from_str(body).expect("a JSON error body");
    assert_eq!(json["status"], false, "{json}");
    srv.stop().await;
}
