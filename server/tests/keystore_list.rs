//! `GET /v1/key-store`: key order, `page` / `limit`, and the mongoose-paginate page fields.

mod common;
mod keystore_support;

use common::TestServer;
use keystore_support::*;
use serde_json::{json, Value};

fn keys(page: &Value) -> Vec<&str> {
    page["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn pages_in_key_order() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    // Created out of order.
    for key in [
        "key-e", "key-a", "key-g", "key-c", "key-b", "key-f", "key-d",
    ] {
        let body = json!({"key": key, "data": {"k": key}}).to_string();
        assert_eq!(api.create(ALICE, &body).await.status, 200);
    }

    let r = api.list(ALICE, "?limit=3").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], true);
    assert_eq!(keys(&r.body), ["key-a", "key-b", "key-c"]);
    assert_eq!(
        r.body["data"]["items"][0],
        json!({"key": "key-a", "data": {"k": "key-a"}, "createdBy": ALICE_ID})
    );
    let mut meta = r.body["data"].clone();
    meta.as_object_mut().unwrap().remove("items");
    assert_eq!(
        meta,
        json!({
            "totalDocs": 7, "limit": 3, "page": 1, "totalPages": 3, "pagingCounter": 1,
            "hasPrevPage": false, "hasNextPage": true, "prevPage": null, "nextPage": 2
        })
    );

    let r = api.list(ALICE, "?page=2&limit=3").await;
    assert_eq!(keys(&r.body), ["key-d", "key-e", "key-f"]);
    assert_eq!(r.body["data"]["prevPage"], 1);
    assert_eq!(r.body["data"]["nextPage"], 3);

    let r = api.list(ALICE, "?page=3&limit=3").await;
    assert_eq!(keys(&r.body), ["key-g"]);
    assert_eq!(r.body["data"]["hasNextPage"], false);
    assert_eq!(r.body["data"]["nextPage"], Value::Null);

    let r = api.list(ALICE, "?page=9&limit=3").await;
    assert_eq!(r.status, 200);
    assert!(keys(&r.body).is_empty());
    assert_eq!(r.body["data"]["totalDocs"], 7);
    srv.stop().await;
}

#[tokio::test]
async fn default_limit_is_25() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    for i in 0..30 {
        let body = json!({"key": format!("item-{i:02}"), "data": {}}).to_string();
        assert_eq!(api.create(ALICE, &body).await.status, 200);
    }
    let r = api.list(ALICE, "").await;
    assert_eq!(keys(&r.body).len(), 25);
    assert_eq!(r.body["data"]["limit"], 25);
    assert_eq!(r.body["data"]["totalPages"], 2);
    let r = api.list(ALICE, "?page=2").await;
    assert_eq!(
        keys(&r.body),
        ["item-25", "item-26", "item-27", "item-28", "item-29"]
    );
    let r = api.list(ALICE, "?limit=100").await;
    assert_eq!(keys(&r.body).len(), 30);
    srv.stop().await;
}

#[tokio::test]
async fn an_empty_workspace_has_one_empty_page() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let r = api.list(CAROL, "").await;
    assert_eq!(r.status, 200);
    assert!(keys(&r.body).is_empty());
    assert_eq!(r.body["data"]["totalDocs"], 0);
    assert_eq!(r.body["data"]["totalPages"], 1);
    assert_eq!(r.body["data"]["hasNextPage"], false);
    srv.stop().await;
}
