//! A workspace is a tenant: its users share keys, other workspaces never see them.

mod common;
mod keystore_support;

use common::TestServer;
use keystore_support::*;
use serde_json::json;

#[tokio::test]
async fn workspaces_do_not_see_each_other() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    // The same key in both workspaces: two independent items.
    assert_item(
        &api.create(ALICE, r#"{"key":"shared-name","data":{"ws":1}}"#)
            .await,
        "shared-name",
        json!({"ws":1}),
        ALICE_ID,
    );
    assert_item(
        &api.create(CAROL, r#"{"key":"shared-name","data":{"ws":2}}"#)
            .await,
        "shared-name",
        json!({"ws":2}),
        CAROL_ID,
    );
    api.create(ALICE, r#"{"key":"only-one","data":{}}"#).await;

    // Bob shares Alice's workspace.
    assert_item(
        &api.get(BOB, "shared-name").await,
        "shared-name",
        json!({"ws":1}),
        ALICE_ID,
    );
    assert_item(
        &api.get(BOB, "only-one").await,
        "only-one",
        json!({}),
        ALICE_ID,
    );

    // Carol sees only her own, and cannot change or delete workspace one's.
    assert_item(
        &api.get(CAROL, "shared-name").await,
        "shared-name",
        json!({"ws":2}),
        CAROL_ID,
    );
    assert_error(&api.get(CAROL, "only-one").await, 404, 3001);
    assert_error(
        &api.put(CAROL, "only-one", r#"{"data":{"x":1}}"#).await,
        404,
        3001,
    );
    assert_error(&api.delete(CAROL, "only-one").await, 404, 3001);
    let list = api.list(CAROL, "").await;
    assert_eq!(list.body["data"]["totalDocs"], 1);
    assert_eq!(list.body["data"]["items"][0]["data"], json!({"ws":2}));

    // Deleting in one workspace leaves the other's item alone.
    api.delete(CAROL, "shared-name").await;
    assert_item(
        &api.get(ALICE, "shared-name").await,
        "shared-name",
        json!({"ws":1}),
        ALICE_ID,
    );
    assert_eq!(api.list(ALICE, "").await.body["data"]["totalDocs"], 2);
    srv.stop().await;
}
