//! The three write modes of `POST /v1/key-store`: insert (409 on an existing key),
//! `createOrUpdate` (upsert keeping the original creator) and `force` (a fresh entry), and
//! `force` on PUT.

mod common;
mod keystore_support;

use common::TestServer;
use keystore_support::*;
use serde_json::json;

#[tokio::test]
async fn plain_create_of_an_existing_key_is_409_and_changes_nothing() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    api.create(ALICE, r#"{"key":"taken","data":{"v":1}}"#).await;
    let r = api.create(BOB, r#"{"key":"taken","data":{"v":2}}"#).await;
    assert_error(&r, 409, 5001);
    let r = api
        .create(
            BOB,
            r#"{"key":"taken","data":{"v":2},"createOrUpdate":false,"force":false}"#,
        )
        .await;
    assert_error(&r, 409, 5001);
    assert_item(
        &api.get(ALICE, "taken").await,
        "taken",
        json!({"v":1}),
        ALICE_ID,
    );
    srv.stop().await;
}

#[tokio::test]
async fn create_or_update_keeps_the_original_creator() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    // Absent: created, with the caller as creator.
    let r = api
        .create(
            ALICE,
            r#"{"key":"upserted","data":{"v":1},"createOrUpdate":true}"#,
        )
        .await;
    assert_item(&r, "upserted", json!({"v":1}), ALICE_ID);
    // Present: data replaced, creator kept although Bob writes.
    let r = api
        .create(
            BOB,
            r#"{"key":"upserted","data":{"v":2},"createOrUpdate":true}"#,
        )
        .await;
    assert_item(&r, "upserted", json!({"v":2}), ALICE_ID);
    assert_item(
        &api.get(BOB, "upserted").await,
        "upserted",
        json!({"v":2}),
        ALICE_ID,
    );
    srv.stop().await;
}

#[tokio::test]
async fn force_replaces_the_entry_and_its_creator() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    api.create(ALICE, r#"{"key":"forced","data":{"old":true}}"#)
        .await;
    let r = api
        .create(BOB, r#"{"key":"forced","data":{"new":true},"force":true}"#)
        .await;
    assert_item(&r, "forced", json!({"new":true}), BOB_ID);
    assert_item(
        &api.get(ALICE, "forced").await,
        "forced",
        json!({"new":true}),
        BOB_ID,
    );
    // Force also creates an absent key.
    let r = api
        .create(BOB, r#"{"key":"fresh","data":{},"force":true}"#)
        .await;
    assert_item(&r, "fresh", json!({}), BOB_ID);
    srv.stop().await;
}

#[tokio::test]
async fn force_wins_over_create_or_update() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    api.create(ALICE, r#"{"key":"both","data":{"v":1}}"#).await;
    let r = api
        .create(
            BOB,
            r#"{"key":"both","data":{"v":2},"force":true,"createOrUpdate":true}"#,
        )
        .await;
    assert_item(&r, "both", json!({"v":2}), BOB_ID);
    assert_item(
        &api.get(ALICE, "both").await,
        "both",
        json!({"v":2}),
        BOB_ID,
    );
    srv.stop().await;
}

#[tokio::test]
async fn put_keeps_the_creator_unless_forced() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    api.create(ALICE, r#"{"key":"edited","data":{"v":1}}"#)
        .await;
    let r = api
        .put(BOB, "edited", r#"{"data":{"v":2},"force":false}"#)
        .await;
    assert_item(&r, "edited", json!({"v":2}), ALICE_ID);
    let r = api
        .put(BOB, "edited", r#"{"data":{"v":3},"force":true}"#)
        .await;
    assert_item(&r, "edited", json!({"v":3}), BOB_ID);
    assert_item(
        &api.get(ALICE, "edited").await,
        "edited",
        json!({"v":3}),
        BOB_ID,
    );
    // A `key` in the body equal to the path is accepted.
    let r = api
        .put(ALICE, "edited", r#"{"key":"edited","data":{"v":4}}"#)
        .await;
    assert_item(&r, "edited", json!({"v":4}), BOB_ID);
    srv.stop().await;
}
