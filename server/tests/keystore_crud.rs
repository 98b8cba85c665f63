//! Every key-store endpoint on its happy path, with the exact response shapes, and that
//! acknowledged writes survive a restart.

mod common;
mod keystore_support;

use common::TestServer;
use keystore_support::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn create_get_update_delete() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);

    let r = api
        .create(
            ALICE,
            r#"{"key":"feature-flags","data":{"dark":true,"n":[1,2]}}"#,
        )
        .await;
    assert_item(
        &r,
        "feature-flags",
        json!({"dark":true,"n":[1,2]}),
        ALICE_ID,
    );
    assert_eq!(r.headers["content-type"], "application/json");

    let r = api.get(ALICE, "feature-flags").await;
    assert_item(
        &r,
        "feature-flags",
        json!({"dark":true,"n":[1,2]}),
        ALICE_ID,
    );

    // PUT replaces `data` and keeps the creator.
    let r = api
        .put(BOB, "feature-flags", r#"{"data":{"dark":false}}"#)
        .await;
    assert_item(&r, "feature-flags", json!({"dark":false}), ALICE_ID);
    let r = api.get(BOB, "feature-flags").await;
    assert_item(&r, "feature-flags", json!({"dark":false}), ALICE_ID);

    // DELETE answers with the removed item.
    let r = api.delete(BOB, "feature-flags").await;
    assert_item(&r, "feature-flags", json!({"dark":false}), ALICE_ID);
    assert_error(&api.get(ALICE, "feature-flags").await, 404, 3001);
    assert_eq!(
        api.get(ALICE, "feature-flags").await.body["error"]["message"],
        "Entity not found"
    );
    srv.stop().await;
}

#[tokio::test]
async fn trailing_slashes_are_optional() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let r = api
        .call(
            Method::POST,
            "/v1/key-store",
            Some(ALICE),
            Some(r#"{"key":"no-slash","data":{}}"#),
        )
        .await;
    assert_item(&r, "no-slash", json!({}), ALICE_ID);
    let r = api
        .call(Method::GET, "/v1/key-store/no-slash/", Some(ALICE), None)
        .await;
    assert_item(&r, "no-slash", json!({}), ALICE_ID);
    let r = api
        .call(Method::GET, "/v1/key-store", Some(ALICE), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["data"]["totalDocs"], 1);
    srv.stop().await;
}

#[tokio::test]
async fn missing_keys_are_404_for_every_item_method() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    assert_error(&api.get(ALICE, "absent").await, 404, 3001);
    assert_error(&api.put(ALICE, "absent", r#"{"data":{}}"#).await, 404, 3001);
    assert_error(
        &api.put(ALICE, "absent", r#"{"data":{},"force":true}"#)
            .await,
        404,
        3001,
    );
    assert_error(&api.delete(ALICE, "absent").await, 404, 3001);
    // A key the pattern refuses cannot exist either.
    assert_error(&api.get(ALICE, "Admin").await, 404, 3001);
    // PUT never creates.
    assert_error(&api.get(ALICE, "absent").await, 404, 3001);
    srv.stop().await;
}

#[tokio::test]
async fn data_comes_back_as_sent() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let data = json!({"s":"\u{e9}t\u{e9} \"q\"","nested":{"a":[null,1.5,-2,true]},"empty":{}});
    let body = json!({"key":"exact","data":data}).to_string();
    assert_item(
        &api.create(ALICE, &body).await,
        "exact",
        data.clone(),
        ALICE_ID,
    );
    assert_item(&api.get(ALICE, "exact").await, "exact", data, ALICE_ID);
    srv.stop().await;
}

#[tokio::test]
async fn writes_survive_a_restart() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    api.create(ALICE, r#"{"key":"kept","data":{"v":1}}"#).await;
    api.create(ALICE, r#"{"key":"gone","data":{"v":2}}"#).await;
    api.put(BOB, "kept", r#"{"data":{"v":3}}"#).await;
    api.delete(ALICE, "gone").await;

    let srv = srv.restart().await;
    let api = Api::new(&srv);
    assert_item(
        &api.get(ALICE, "kept").await,
        "kept",
        json!({"v":3}),
        ALICE_ID,
    );
    assert_error(&api.get(ALICE, "gone").await, 404, 3001);
    srv.stop().await;
}
