//! A client that sends half a request head is disconnected after
//! `limits.header_read_timeout_ms`; the server goes on serving others.

mod common;

use std::time::Duration;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Upper bound on waiting for the disconnect (far above the configured timeout; a guard
/// against hanging, not a timing assertion).
const DISCONNECT_WAIT_MAX: Duration = Duration::from_secs(20);

#[tokio::test]
async fn half_a_header_gets_the_connection_closed() {
    let srv = TestServer::start("[limits]\nheader_read_timeout_ms = 200\n").await;
    let mut stream = tokio::net::TcpStream::connect(srv.addr()).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(DISCONNECT_WAIT_MAX, stream.read_to_end(&mut buf)).await;
    let read = read.expect("the server closes the connection");
    // Closed (EOF or reset), possibly after a 408; never a 200 for the half request.
    let text = String::from_utf8_lossy(&buf);
    assert!(read.is_err() || !text.contains("200 OK"), "{text}");

    // Others are served as usual.
    let resp = common::client()
        .get(srv.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    srv.stop().await;
}
