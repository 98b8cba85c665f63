//! Every key-store endpoint refuses requests without a token (401, code 4002) and with an
//! unknown one (401, code 4004), and answers nothing else first.

mod common;
mod keystore_support;

use common::TestServer;
use keystore_support::*;
use reqwest::Method;

/// (method, path, body) of every endpoint.
fn endpoints() -> Vec<(Method, &'static str, Option<&'static str>)> {
    vec![
        (
            Method::POST,
            "/v1/key-store/",
            Some(r#"{"key":"secret","data":{}}"#),
        ),
        (
            Method::POST,
            "/v1/key-store",
            Some(r#"{"key":"secret","data":{}}"#),
        ),
        (Method::GET, "/v1/key-store/", None),
        (Method::GET, "/v1/key-store/secret", None),
        (
            Method::PUT,
            "/v1/key-store/secret",
            Some(r#"{"data":{"x":1}}"#),
        ),
        (Method::DELETE, "/v1/key-store/secret", None),
    ]
}

#[tokio::test]
async fn missing_and_unknown_tokens_are_refused() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    api.create(ALICE, r#"{"key":"secret","data":{"v":1}}"#)
        .await;

    for (method, path, body) in endpoints() {
        let r = api.call(method.clone(), path, None, body).await;
        assert_error(&r, 401, 4002);
        assert_eq!(r.body["error"]["message"], "No auth token");

        let r = api
            .call(method.clone(), path, Some("not-a-token"), body)
            .await;
        assert_error(&r, 401, 4004);
        assert_eq!(r.body["error"]["message"], "Invalid Token");

        // A known token under another scheme is no bearer token at all.
        let mut req = api
            .http
            .request(method.clone(), format!("{}{}", api.base, path))
            .header("authorization", format!("Basic {ALICE}"));
        if let Some(body) = body {
            req = req.body(body);
        }
        assert_eq!(req.send().await.unwrap().status(), 401, "{method} {path}");
    }

    // Nothing was changed by the refused calls.
    assert_item(
        &api.get(ALICE, "secret").await,
        "secret",
        serde_json::json!({"v":1}),
        ALICE_ID,
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_token_is_matched_exactly() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    for token in ["tok-alic", "tok-alicee", "TOK-ALICE"] {
        assert_error(&api.list(token, "").await, 401, 4004);
    }
    // The scheme is case-insensitive (RFC 7235).
    let r = api
        .http
        .get(format!("{}/v1/key-store/", api.base))
        .header("authorization", format!("bearer {ALICE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    srv.stop().await;
}

#[tokio::test]
async fn a_user_id_too_long_to_store_is_refused_with_500() {
    let config = format!(
        "[[keystore.users]]\ntoken = \"tok-long\"\nuser_id = \"{}\"\nworkspace = \"w\"\n\
         [[keystore.users]]\ntoken = \"tok-ok\"\nuser_id = \"{ALICE_ID}\"\nworkspace = \"w\"\n",
        "a".repeat(300)
    );
    let srv = TestServer::start(&config).await;
    let api = Api::new(&srv);
    let r = api.create("tok-long", r#"{"key":"abc","data":{}}"#).await;
    assert_error(&r, 500, 5000);
    assert_error(&api.get("tok-ok", "abc").await, 404, 3001);
    srv.stop().await;
}
