//! Graceful stop: the listener closes, a request already in flight still gets its complete
//! response, idle connections are closed, and the engine is closed (its lock released).

mod common;

use std::time::Duration;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound on waiting for the listener to close (a guard, not a timing assertion).
const CLOSE_WAIT_MAX: Duration = Duration::from_secs(20);

const CONFIG: &str = r#"
[[keystore.users]]
token = "ks-token-1"
user_id = "65a1f0c2e4b0a1b2c3d4e5f6"
"#;

#[tokio::test]
async fn an_in_flight_request_completes_during_the_drain() {
    let srv = TestServer::start(CONFIG).await;
    let addr = srv.addr();
    let data_dir = srv.data_dir();

    // A request whose body is only half sent: the router is waiting for the rest.
    let body = br#"{"key":"drained","data":{"a":1}}"#;
    let (head, tail) = body.split_at(10);
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    let request_head = format!(
        "POST /v1/key-store/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ks-token-1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    in_flight.write_all(request_head.as_bytes()).await.unwrap();
    in_flight.write_all(head).await.unwrap();
    // An idle keep-alive connection, which the drain closes.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(idle.read(&mut buf).await.unwrap() > 0);

    let stopping = tokio::spawn(srv.stop());

    // Wait until the listener is closed: the drain has begun.
    let deadline = tokio::time::Instant::now() + CLOSE_WAIT_MAX;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "listener still open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The in-flight request finishes with a full response.
    in_flight.write_all(tail).await.unwrap();
    let mut response = Vec::new();
    in_flight.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"drained\""), "{text}");

    // The idle connection was closed.
    let n = idle.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0, "idle connection still open");

    stopping.await.unwrap();
    // The engine was closed: the data directory can be opened again.
    let db = strata_engine::Db::open(&data_dir, strata_engine::Options::default())
        .expect("the lock was released");
    db.close().unwrap();
}
