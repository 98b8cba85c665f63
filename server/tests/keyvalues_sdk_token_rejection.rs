//! Regression (found by tools/sdk-checks/baasic): the Baasic JavaScript SDK drops its stored
//! access token only when a 401 body has `details: "invalid_token"` (ApiClient.request in
//! baasic-sdk-javascript 2.0.12); with `details: null` it kept sending a rejected token. Every
//! 401 of the dialect says so; other errors keep `details: null`.

mod common;
mod keyvalues_support;

use common::TestServer;
use keyvalues_support::*;
use reqwest::Method;

#[tokio::test]
async fn every_401_names_invalid_token_in_details() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let other_app_token = api.token("other", "bob", "builder").await;

    // No token, an unknown token, another application's token, a revoked token (logout).
    let revoked = api.token("demo", "alice", "wonderland").await;
    let r = api
        .call(Method::DELETE, "/demo/login", Some(&revoked), None)
        .await;
    assert_eq!(r.status.as_u16(), 204, "{:?}", r.body);
    for bad in [
        None,
        Some("unknown-token"),
        Some(other_app_token.as_str()),
        Some(revoked.as_str()),
    ] {
        let r = api.call(Method::GET, "/demo/key-values", bad, None).await;
        assert_unauthorized(&r);
        assert_eq!(r.body["details"], "invalid_token", "{:?}", r.body);
    }

    // Other errors carry no details.
    let r = api.get("demo", &token, "absent").await;
    assert_error(&r, 404, 4040);
    assert!(r.body["details"].is_null(), "{:?}", r.body);
    let r = api
        .login_form("demo", "grant_type=password&username=alice&password=no")
        .await;
    assert_error(&r, 400, 4005);
    assert!(r.body["details"].is_null(), "{:?}", r.body);
    srv.stop().await;
}
