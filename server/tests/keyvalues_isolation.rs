//! An application is a tenant: its resources and tokens never reach another application.

mod common;
mod keyvalues_support;

use common::TestServer;
use keyvalues_support::*;
use reqwest::Method;

#[tokio::test]
async fn applications_do_not_see_each_other() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let alice = api.token("demo", "alice", "wonderland").await;
    let bob = api.token("other", "bob", "builder").await;

    // The same key in both apps: two resources.
    let in_demo = api.create_ok("demo", &alice, "same-key", "demo's").await;
    let in_other = api.create_ok("other", &bob, "same-key", "other's").await;
    assert_ne!(in_demo, in_other);
    assert_eq!(
        api.get("demo", &alice, "same-key").await.body["value"],
        "demo's"
    );
    assert_eq!(
        api.get("other", &bob, "same-key").await.body["value"],
        "other's"
    );

    // Ids of one app are unknown in the other.
    assert_error(&api.get("other", &bob, &in_demo).await, 404, 4040);
    assert_error(
        &api.put("other", &bob, &in_demo, r#"{"value":"stolen"}"#)
            .await,
        404,
        4040,
    );
    assert_error(&api.delete("other", &bob, &in_demo).await, 404, 4040);
    assert_eq!(api.list("other", &bob, "").await.body["totalRecords"], 1);
    assert_eq!(
        api.get("demo", &alice, &in_demo).await.body["value"],
        "demo's"
    );

    // A token is valid for the app that issued it only.
    assert_unauthorized(&api.list("other", &alice, "").await);
    assert_unauthorized(&api.list("demo", &bob, "").await);
    // And a user of one app cannot log in to the other.
    let r = api
        .login_form(
            "other",
            "grant_type=password&username=alice&password=wonderland",
        )
        .await;
    assert_error(&r, 400, 4005);
    let r = api
        .call(Method::GET, "/demo/key-values", Some(&alice), None)
        .await;
    assert_eq!(r.status, 200);
    srv.stop().await;
}
