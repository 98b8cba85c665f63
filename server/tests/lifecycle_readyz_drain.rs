//! During `limits.shutdown_grace_ms` at the start of a stop, `/readyz` answers 503 while
//! requests are still served.

mod common;

use std::time::Duration;

use common::TestServer;

/// Long enough for the checks below; the stop waits this long.
const CONFIG: &str = "[limits]\nshutdown_grace_ms = 1500\n";
/// Upper bound on waiting for readyz to turn (a guard, not a timing assertion).
const TURN_WAIT_MAX: Duration = Duration::from_secs(20);

#[tokio::test]
async fn readyz_turns_503_when_the_drain_begins() {
    let srv = TestServer::start(CONFIG).await;
    let readyz = srv.url("/readyz");
    let healthz = srv.url("/healthz");
    let client = common::client();
    assert_eq!(client.get(&readyz).send().await.unwrap().status(), 200);

    let stopping = tokio::spawn(srv.stop());
    let deadline = tokio::time::Instant::now() + TURN_WAIT_MAX;
    loop {
        let status = client.get(&readyz).send().await.unwrap().status();
        if status == 503 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz never turned 503"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Still serving during the grace period.
    assert_eq!(client.get(&healthz).send().await.unwrap().status(), 200);
    drop(client);
    stopping.await.unwrap();
}
