//! At most `limits.connections_max` connections are served at once; the next client waits in
//! the accept queue until one closes.

mod common;

use std::time::Duration;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the capped client is watched for a (wrong) early answer.
const CAPPED_WATCH: Duration = Duration::from_millis(500);
/// Upper bound on waiting for an answer that must come (a guard, not a timing assertion).
const ANSWER_WAIT_MAX: Duration = Duration::from_secs(20);

const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// Sends one keep-alive request and reads its (small, complete) response.
async fn get_healthz(stream: &mut TcpStream) -> String {
    stream.write_all(REQUEST).await.unwrap();
    read_response(stream).await
}

async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("{\"status\":\"ok\"}") {
        let n = tokio::time::timeout(ANSWER_WAIT_MAX, stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn the_connection_over_the_cap_waits_for_a_free_slot() {
    let srv = TestServer::start("[limits]\nconnections_max = 2\n").await;
    let mut first = TcpStream::connect(srv.addr()).await.unwrap();
    let mut second = TcpStream::connect(srv.addr()).await.unwrap();
    // Both are being served (and stay open: keep-alive).
    assert!(get_healthz(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(get_healthz(&mut second).await.starts_with("HTTP/1.1 200"));

    // The third connects (kernel backlog) but is not accepted while the two are open.
    let mut third = TcpStream::connect(srv.addr()).await.unwrap();
    third.write_all(REQUEST).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(CAPPED_WATCH, third.read(&mut buf)).await;
    assert!(early.is_err(), "the capped connection was answered");

    // A slot frees up: the third is served.
    drop(first);
    let answer = read_response(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(second);
    drop(third);
    srv.stop().await;
}
