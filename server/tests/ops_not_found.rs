//! A path no dialect owns is a 404 `{"message":"not found"}`.

mod common;

use common::TestServer;

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    let srv = TestServer::start_default().await;
    let client = common::client();
    for path in [
        "/",
        "/nope",
        "/healthz/",
        "/v1/key-storex",
        "/demo/other",
        "/platform_apix",
    ] {
        let resp = client.get(srv.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json", "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"message": "not found"}), "{path}");
    }
    srv.stop().await;
}
