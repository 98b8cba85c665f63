//! Tenant isolation: each (account, application) pair is its own key space.

mod common;
mod voximplant_support;

use reqwest::StatusCode;
use serde_json::json;
use voximplant_support::*;

async fn set(vox: &Vox, token: &str, app: &[(&str, &str)], key: &str, value: &str) {
    let mut params = vec![("key", key), ("value", value)];
    params.extend_from_slice(app);
    let (status, body) = vox.call(token, "SetKeyValueItem", &params).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn get(vox: &Vox, token: &str, app: &[(&str, &str)], key: &str) -> Answer {
    let mut params = vec![("key", key)];
    params.extend_from_slice(app);
    vox.call(token, "GetKeyValueItem", &params).await
}

async fn keys(vox: &Vox, token: &str, app: &[(&str, &str)]) -> Vec<String> {
    let (status, body) = vox.call(token, "GetKeyValueKeys", app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn applications_and_accounts_do_not_see_each_other() {
    let vox = Vox::start().await;
    let (a, b) = (token_a(), token_b());
    let a1 = [("application_id", "1")];
    let a2 = [("application_id", "2")];
    let b1 = [("application_id", "1")]; // account B's application 1: same id, other account

    set(&vox, &a, &a1, "shared", "a1").await;
    set(&vox, &a, &a2, "shared", "a2").await;
    set(&vox, &b, &b1, "shared", "b1").await;
    set(&vox, &a, &a1, "only-a1", "x").await;

    assert_eq!(
        get(&vox, &a, &a1, "shared").await.1["result"]["value"],
        "a1"
    );
    assert_eq!(
        get(&vox, &a, &a2, "shared").await.1["result"]["value"],
        "a2"
    );
    assert_eq!(
        get(&vox, &b, &b1, "shared").await.1["result"]["value"],
        "b1"
    );
    assert_error(&get(&vox, &a, &a2, "only-a1").await, 404, 902);
    assert_error(&get(&vox, &b, &b1, "only-a1").await, 404, 902);

    assert_eq!(keys(&vox, &a, &a1).await, ["only-a1", "shared"]);
    assert_eq!(keys(&vox, &a, &a2).await, ["shared"]);
    assert_eq!(keys(&vox, &b, &b1).await, ["shared"]);
    let (_, items) = vox
        .call(
            &b,
            "GetKeyValueItems",
            &[("key", ""), ("application_id", "1")],
        )
        .await;
    assert_eq!(items["result"].as_array().unwrap().len(), 1);
    assert_eq!(items["result"][0]["value"], "b1");

    // Deleting in one tenant leaves the others alone.
    let (status, del) = vox
        .call(
            &a,
            "DelKeyValueItem",
            &[("key", "shared"), ("application_id", "2")],
        )
        .await;
    assert_eq!((status, del), (StatusCode::OK, json!({"result": 1})));
    assert_eq!(
        get(&vox, &a, &a1, "shared").await.1["result"]["value"],
        "a1"
    );
    assert_eq!(
        get(&vox, &b, &b1, "shared").await.1["result"]["value"],
        "b1"
    );
    assert_error(&get(&vox, &a, &a2, "shared").await, 404, 902);
    vox.stop().await;
}

#[tokio::test]
async fn applications_by_name_are_the_same_tenant_as_by_id() {
    let vox = Vox::start().await;
    let a = token_a();
    set(&vox, &a, &[("application_name", APP_A2_NAME)], "named", "v").await;
    assert_eq!(
        get(&vox, &a, &[("application_id", "2")], "named").await.1["result"]["value"],
        "v"
    );
    assert_eq!(
        get(
            &vox,
            &a,
            &[("application_id", "2"), ("application_name", APP_A2_NAME)],
            "named"
        )
        .await
        .1["result"]["value"],
        "v"
    );
    assert_error(
        &get(&vox, &a, &[("application_id", "1")], "named").await,
        404,
        902,
    );
    vox.stop().await;
}

#[tokio::test]
async fn an_account_cannot_reach_another_accounts_applications() {
    let vox = Vox::start().await;
    set(&vox, &token_a(), &[("application_id", "2")], "secret", "a").await;
    let b = token_b();
    // Account B has no application 2, and A's names mean nothing to B.
    assert_error(
        &get(&vox, &b, &[("application_id", "2")], "secret").await,
        404,
        901,
    );
    assert_error(
        &get(&vox, &b, &[("application_name", APP_A2_NAME)], "secret").await,
        404,
        107,
    );
    assert_error(
        &get(&vox, &b, &[("application_name", APP_A1_NAME)], "secret").await,
        404,
        107,
    );
    vox.stop().await;
}
