//! Bad input is a 400 in the dialect's shape and changes nothing stored; unknown routes are
//! 404 and wrong methods 405, also in the dialect's shape.

mod common;
mod keystore_support;

use common::TestServer;
use keystore_support::*;
use reqwest::Method;
use serde_json::json;

/// Malformed bodies (4000) and invalid fields (4001), each aimed at the existing key `stored`.
const BAD_CREATES: &[(&str, u64)] = &[
    ("", 4000),
    ("not json", 4000),
    ("[]", 4000),
    ("null", 4000),
    (r#"{"key":"stored","data":{}"#, 4000),
    (r#"{"key":"stored","key":"other","data":{}}"#, 4000),
    (r#"{"data":{"v":9}}"#, 4001),
    (r#"{"key":"stored"}"#, 4001),
    (r#"{"key":null,"data":{}}"#, 4001),
    (r#"{"key":7,"data":{}}"#, 4001),
    (r#"{"key":"stored","data":null,"force":true}"#, 4001),
    (r#"{"key":"stored","data":[1],"force":true}"#, 4001),
    (r#"{"key":"stored","data":"text","force":true}"#, 4001),
    (r#"{"key":"stored","data":5,"force":true}"#, 4001),
    (r#"{"key":"stored","data":{},"force":"yes"}"#, 4001),
    (r#"{"key":"stored","data":{},"force":1}"#, 4001),
    (
        r#"{"key":"stored","data":{},"createOrUpdate":"true"}"#,
        4001,
    ),
    (r#"{"key":"stored","data":{},"createOrUpdate":{}}"#, 4001),
];

/// Keys the vendor's pattern `^(?!admin)[a-z][a-z0-9-_]+[a-z0-9]$` (≤ 128 chars) refuses.
const BAD_KEYS: &[&str] = &[
    "",
    "a",
    "ab",
    "Abc",
    "aBc",
    "1bc",
    "-bc",
    "_bc",
    "ab-",
    "ab_",
    "a.c",
    "a c",
    "a/c",
    "a\u{e9}c",
    "admin",
    "admins",
    "admin-key",
    "administrator",
];

#[tokio::test]
async fn bad_bodies_are_400_and_change_nothing() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    api.create(ALICE, r#"{"key":"stored","data":{"v":1}}"#)
        .await;

    for (body, code) in BAD_CREATES {
        let r = api.create(ALICE, body).await;
        assert_error(&r, 400, *code);
    }
    for key in BAD_KEYS {
        let body = json!({"key": key, "data": {"v": 2}}).to_string();
        assert_error(&api.create(ALICE, &body).await, 400, 4001);
    }
    let too_long = json!({"key": "k".repeat(129), "data": {}}).to_string();
    assert_error(&api.create(ALICE, &too_long).await, 400, 4001);
    let longest = json!({"key": "k".repeat(128), "data": {}}).to_string();
    assert_eq!(api.create(ALICE, &longest).await.status, 200);

    let bad_puts = [
        "",
        "[]",
        r#"{"force":true}"#,
        r#"{"data":[]}"#,
        r#"{"data":{},"force":"no"}"#,
        r#"{"data":{},"createOrUpdate":3}"#,
        r#"{"key":"other","data":{}}"#,
    ];
    for body in bad_puts {
        let r = api.put(ALICE, "stored", body).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
    }

    // Nothing changed: the one item, and the longest-key one, are all there is.
    assert_item(
        &api.get(ALICE, "stored").await,
        "stored",
        json!({"v":1}),
        ALICE_ID,
    );
    let list = api.list(ALICE, "").await;
    assert_eq!(list.body["data"]["totalDocs"], 2, "{:?}", list.body);
    srv.stop().await;
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let r = api
        .create(
            ALICE,
            r#"{"key":"extra","data":{"v":1},"createdBy":"ffffffffffffffffffffffff","x":[1]}"#,
        )
        .await;
    assert_item(&r, "extra", json!({"v":1}), ALICE_ID);
    srv.stop().await;
}

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    for query in ["?page=0", "?page=x", "?limit=0", "?limit=101", "?limit=-5"] {
        assert_error(&api.list(ALICE, query).await, 400, 4001);
    }
    srv.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let r = api
        .call(Method::GET, "/v1/key-store/a-b/c", Some(ALICE), None)
        .await;
    assert_error(&r, 404, 3002);
    let r = api
        .call(Method::DELETE, "/v1/key-store/", Some(ALICE), None)
        .await;
    assert_error(&r, 405, 4005);
    assert_eq!(r.headers["allow"], "GET, POST");
    let r = api
        .call(Method::POST, "/v1/key-store/abc", Some(ALICE), Some("{}"))
        .await;
    assert_error(&r, 405, 4005);
    assert_eq!(r.headers["allow"], "GET, PUT, DELETE");
    srv.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_413_in_the_dialect_shape() {
    let srv = TestServer::start(&format!("[limits]\nbody_bytes_max = 1024\n{CONFIG}")).await;
    let api = Api::new(&srv);
    let body = json!({"key": "big", "data": {"pad": "x".repeat(2048)}}).to_string();
    assert_error(&api.create(ALICE, &body).await, 413, 4013);
    assert_error(&api.get(ALICE, "big").await, 404, 3001);
    srv.stop().await;
}
