//! Access tokens expire after `keyvalues.token_ttl_secs` by themselves (TTL in the engine).

mod common;
mod keyvalues_support;

use std::time::Duration;

use common::TestServer;
use keyvalues_support::*;

#[tokio::test]
async fn tokens_stop_working_after_their_ttl() {
    let srv = TestServer::start(&format!("[keyvalues]\ntoken_ttl_secs = 2\n{}", config())).await;
    let api = Api::new(&srv);
    let r = api
        .login_form(
            "demo",
            "grant_type=password&username=alice&password=wonderland",
        )
        .await;
    assert_eq!(r.body["expires_in"], 2);
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    // `expires_at` is whole seconds: a 2 s token lives at least 1 s, so this call is in time.
    assert_eq!(api.list("demo", &token, "").await.status, 200);
    // And at most 2 s.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_unauthorized(&api.list("demo", &token, "").await);
    srv.stop().await;
}
