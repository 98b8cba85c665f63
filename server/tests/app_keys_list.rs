//! `GET /v2/application-keys`: creation order, pagination meta and links, totals.

mod app_keys_support;
mod common;

use app_keys_support::*;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn empty_store_lists_nothing_with_one_page() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let r = api.get(&admin, "/v2/application-keys").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({
            "data": [],
            "links": {
                "current": "/v2/application-keys?page[offset]=0&page[limit]=25",
                "first": "/v2/application-keys?page[offset]=0&page[limit]=25",
                "last": "/v2/application-keys?page[offset]=0&page[limit]=25",
                "next": null,
                "prev": null
            },
            "meta": {
                "page": {"limit": 25, "offset": 0, "current": 1, "total": 1},
                "results": {"total": 0},
                "total_reserved_rate_limit": 0
            }
        })
    );
    srv.stop().await;
}

#[tokio::test]
async fn pages_walk_the_keys_in_creation_order() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let mut created = Vec::new();
    for i in 0..5u64 {
        created.push(api.create_ok(&admin, &format!("key-{i}"), i).await);
    }

    let r = api
        .get(&admin, "/v2/application-keys?page[limit]=2&page[offset]=2")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["meta"],
        json!({
            "page": {"limit": 2, "offset": 2, "current": 2, "total": 3},
            "results": {"total": 5},
            "total_reserved_rate_limit": 10
        })
    );
    assert_eq!(
        r.body["links"],
        json!({
            "current": "/v2/application-keys?page[offset]=2&page[limit]=2",
            "first": "/v2/application-keys?page[offset]=0&page[limit]=2",
            "last": "/v2/application-keys?page[offset]=4&page[limit]=2",
            "next": "/v2/application-keys?page[offset]=4&page[limit]=2",
            "prev": "/v2/application-keys?page[offset]=0&page[limit]=2"
        })
    );
    let ids: Vec<_> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].clone())
        .collect();
    assert_eq!(ids, [created[2]["id"].clone(), created[3]["id"].clone()]);

    // The listed objects are the stored keys without their secrets.
    for item in r.body["data"].as_array().unwrap() {
        let mut want = created
            .iter()
            .find(|c| c["id"] == item["id"])
            .unwrap()
            .clone();
        want.as_object_mut().unwrap().remove("client_secret");
        assert_eq!(item, &want);
    }

    // Following `next` from the start visits every key once, in creation order.
    let all = api.list_all(&admin).await;
    let all_ids: Vec<_> = all.iter().map(|k| k["id"].clone()).collect();
    let want: Vec<_> = created.iter().map(|k| k["id"].clone()).collect();
    assert_eq!(all_ids, want);

    // Past the end: empty data, totals intact.
    let r = api
        .get(&admin, "/v2/application-keys?page[limit]=2&page[offset]=6")
        .await;
    assert_eq!(r.body["data"], json!([]));
    assert_eq!(r.body["meta"]["results"]["total"], json!(5));
    assert_eq!(r.body["links"]["next"], json!(null));
    srv.stop().await;
}
