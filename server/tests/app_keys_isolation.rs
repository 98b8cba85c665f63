//! Stores are tenants: one store's keys, budget and tokens never reach another's.

mod app_keys_support;
mod common;

use app_keys_support::*;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn two_stores_see_only_their_own_keys() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin1 = api.token(ADMIN_1).await;
    let admin2 = api.token(ADMIN_2).await;

    let k1 = api.create_ok(&admin1, "store-1 key", 60).await;
    let k2 = api.create_ok(&admin2, "store-2 key", 50).await;
    let path1 = format!("/v2/application-keys/{}", k1["id"].as_str().unwrap());

    let l1 = api.list_all(&admin1).await;
    let l2 = api.list_all(&admin2).await;
    assert_eq!(l1.len(), 1);
    assert_eq!(l2.len(), 1);
    assert_eq!(l1[0]["id"], k1["id"]);
    assert_eq!(l2[0]["id"], k2["id"]);

    // Store 2 cannot read, change or delete store 1's key.
    assert_error(&api.get(&admin2, &path1).await, 404, NOT_FOUND);
    let r = api
        .put_raw(
            &admin2,
            &path1,
            r#"{"data":{"type":"application_key","name":"stolen"}}"#,
        )
        .await;
    assert_error(&r, 404, NOT_FOUND);
    assert_error(&api.delete(&admin2, &path1).await, 404, NOT_FOUND);
    assert_eq!(
        api.get(&admin1, &path1).await.body["data"]["name"],
        json!("store-1 key")
    );

    // Budgets are per store: store 2 is full at 50, store 1 still has 40.
    let r = api.create(&admin2, "one more", 1).await;
    assert_error(&r, 409, OVER_BUDGET);
    api.create_ok(&admin1, "fits", 40).await;

    // A store-1 key's token acts on store 1 only.
    let t1 = api
        .token((
            k1["client_id"].as_str().unwrap(),
            k1["client_secret"].as_str().unwrap(),
        ))
        .await;
    let r = api.get(&t1, "/v2/application-keys").await;
    assert_eq!(r.body["meta"]["results"]["total"], json!(2));
    assert_eq!(r.body["meta"]["total_reserved_rate_limit"], json!(100));
    let path2 = format!("/v2/application-keys/{}", k2["id"].as_str().unwrap());
    assert_error(&api.get(&t1, &path2).await, 404, NOT_FOUND);

    let r = api.get(&admin2, "/v2/application-keys").await;
    assert_eq!(r.body["meta"]["results"]["total"], json!(1));
    assert_eq!(r.body["meta"]["total_reserved_rate_limit"], json!(50));
    assert_eq!(r.status, StatusCode::OK);
    srv.stop().await;
}
