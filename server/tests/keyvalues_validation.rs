//! Bad bodies are 400 in the dialect's error shape and change nothing; unknown routes are 404
//! and wrong methods 405; unknown applications 404.

mod common;
mod keyvalues_support;

use common::TestServer;
use keyvalues_support::*;
use reqwest::Method;
use serde_json::json;

/// (body, errorCode) of bad POSTs: malformed (4000) and invalid fields (4001).
const BAD_CREATES: &[(&str, u64)] = &[
    ("", 4000),
    ("nope", 4000),
    ("[]", 4000),
    ("\"key\"", 4000),
    (r#"{"key":"k","value":"v""#, 4000),
    (r#"{"key":"k","key":"j","value":"v"}"#, 4000),
    (r#"{"value":"v"}"#, 4001),
    (r#"{"key":"fresh"}"#, 4001),
    (r#"{"key":"","value":"v"}"#, 4001),
    (r#"{"key":null,"value":"v"}"#, 4001),
    (r#"{"key":5,"value":"v"}"#, 4001),
    (r#"{"key":"fresh","value":5}"#, 4001),
    (r#"{"key":"fresh","value":{"a":1}}"#, 4001),
    (r#"{"key":"fresh","value":null}"#, 4001),
    (r#"{"key":["k"],"value":"v"}"#, 4001),
];

#[tokio::test]
async fn bad_bodies_are_400_and_change_nothing() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let id = api.create_ok("demo", &token, "stored", "original").await;
    let before = api.get("demo", &token, &id).await.body;

    for (body, code) in BAD_CREATES {
        let r = api
            .call(Method::POST, "/demo/key-values", Some(&token), Some(body))
            .await;
        assert_error(&r, 400, *code);
    }
    let too_long_key = json!({"key": "k".repeat(1025), "value": ""}).to_string();
    let too_long_value = json!({"key": "k", "value": "v".repeat(16 * 1024 + 1)}).to_string();
    for body in [&too_long_key, &too_long_value] {
        let r = api
            .call(Method::POST, "/demo/key-values", Some(&token), Some(body))
            .await;
        assert_error(&r, 400, 4001);
    }
    let longest = json!({"key": "k".repeat(1024), "value": "v".repeat(16 * 1024)}).to_string();
    let r = api
        .call(
            Method::POST,
            "/demo/key-values",
            Some(&token),
            Some(&longest),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    let bad_puts: &[(&str, u64)] = &[
        ("", 4000),
        ("[1]", 4000),
        (r#"{"key":"renamed"}"#, 4001),
        (r#"{"value":7}"#, 4001),
        (r#"{"key":"","value":"x"}"#, 4001),
        (r#"{"key":1,"value":"x"}"#, 4001),
    ];
    for (body, code) in bad_puts {
        assert_error(&api.put("demo", &token, &id, body).await, 400, *code);
    }

    assert_eq!(api.get("demo", &token, &id).await.body, before);
    assert_eq!(api.list("demo", &token, "").await.body["totalRecords"], 2);
    srv.stop().await;
}

#[tokio::test]
async fn unknown_routes_methods_and_applications() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;

    let r = api
        .call(Method::GET, "/demo/key-values/a/b", Some(&token), None)
        .await;
    assert_error(&r, 404, 4042);
    let r = api
        .call(Method::DELETE, "/demo/key-values", Some(&token), None)
        .await;
    assert_error(&r, 405, 4050);
    assert_eq!(r.headers["allow"], "GET, POST, OPTIONS");
    let r = api
        .call(Method::POST, "/demo/key-values/x", Some(&token), Some("{}"))
        .await;
    assert_error(&r, 405, 4050);
    assert_eq!(r.headers["allow"], "GET, PUT, DELETE, OPTIONS");
    let r = api
        .call(Method::GET, "/demo/login", Some(&token), None)
        .await;
    assert_error(&r, 405, 4050);
    assert_eq!(r.headers["allow"], "POST, DELETE, OPTIONS");

    for path in ["/nope/key-values", "/nope/login"] {
        let r = api.call(Method::POST, path, Some(&token), Some("{}")).await;
        assert_error(&r, 404, 4041);
    }
    srv.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_413_in_the_dialect_shape() {
    let srv = TestServer::start(&format!("[limits]\nbody_bytes_max = 1024\n{}", config())).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let r = api.create("demo", &token, "big", &"x".repeat(2048)).await;
    assert_error(&r, 413, 4130);
    assert_error(&api.get("demo", &token, "big").await, 404, 4040);
    srv.stop().await;
}
