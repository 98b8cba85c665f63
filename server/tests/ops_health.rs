//! `GET /healthz` is 200 while the process lives; `GET /readyz` is 200 once serving.

mod common;

use common::TestServer;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_when_serving() {
    let srv = TestServer::start_default().await;
    let client = common::client();

    let resp = client.get(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));

    let resp = client.get(srv.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ready");

    // Only GET.
    let resp = client.post(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET");

    srv.stop().await;
}

#[tokio::test]
async fn readyz_is_503_when_not_ready() {
    let srv = TestServer::start_default().await;
    srv.state()
        .ready
        .store(false, std::sync::atomic::Ordering::Release);
    let resp = common::client()
        .get(srv.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    // Liveness is unaffected.
    let resp = common::client()
        .get(srv.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    srv.stop().await;
}
