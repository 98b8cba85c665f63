//! `GetKeyValueItems` and `GetKeyValueKeys`: prefix match, key order, count and offset.

mod common;
mod voximplant_support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use voximplant_support::*;

const APP: &str = "1"; // APP_A1

async fn list(vox: &Vox, method: &str, params: &[(&str, &str)]) -> Vec<Value> {
    let mut all = vec![("application_id", APP)];
    all.extend_from_slice(params);
    let (status, body) = vox.call(&token_a(), method, &all).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only `result`: {body}");
    body["result"].as_array().unwrap().clone()
}

fn keys_of(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["key"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn prefix_listing_in_key_order_with_count_and_offset() {
    let vox = Vox::start().await;
    // Written out of order; "ns:ж" sorts after ASCII (UTF-8 byte order = code-point order).
    for key in [
        "ns:c", "ns:ж", "ns:a", "ns2:x", "n", "nt:z", "ns:aa", "ns:b",
    ] {
        vox.set_a1(key, &format!("value of {key}")).await;
    }

    let items = list(&vox, "GetKeyValueItems", &[("key", "ns:")]).await;
    assert_eq!(keys_of(&items), ["ns:a", "ns:aa", "ns:b", "ns:c", "ns:ж"]);
    for item in &items {
        let key = item["key"].as_str().unwrap();
        assert_eq!(item["value"], format!("value of {key}"));
        assert!(item["expires_at"].as_u64().unwrap() > now());
        assert_eq!(item.as_object().unwrap().len(), 3);
    }
    // A plain prefix, not only a namespace: "ns" also matches "ns2:x".
    let items = list(&vox, "GetKeyValueItems", &[("key", "ns")]).await;
    assert_eq!(
        keys_of(&items),
        ["ns2:x", "ns:a", "ns:aa", "ns:b", "ns:c", "ns:ж"]
    );

    let page = list(
        &vox,
        "GetKeyValueItems",
        &[("key", "ns:"), ("count", "2"), ("offset", "1")],
    )
    .await;
    assert_eq!(keys_of(&page), ["ns:aa", "ns:b"]);
    let tail = list(
        &vox,
        "GetKeyValueItems",
        &[("key", "ns:"), ("count", "2"), ("offset", "4")],
    )
    .await;
    assert_eq!(keys_of(&tail), ["ns:ж"]);
    let past_end = list(&vox, "GetKeyValueItems", &[("key", "ns:"), ("offset", "5")]).await;
    assert!(past_end.is_empty());
    let none = list(&vox, "GetKeyValueItems", &[("key", "zzz")]).await;
    assert!(none.is_empty());

    // Keys: every key without `key`, shape {key, expires_at}.
    let keys = list(&vox, "GetKeyValueKeys", &[]).await;
    assert_eq!(
        keys_of(&keys),
        ["n", "ns2:x", "ns:a", "ns:aa", "ns:b", "ns:c", "ns:ж", "nt:z"]
    );
    for k in &keys {
        assert_eq!(k.as_object().unwrap().len(), 2, "{k}");
        assert!(k["expires_at"].is_u64());
    }
    let keys = list(
        &vox,
        "GetKeyValueKeys",
        &[("key", "ns:"), ("count", "3"), ("offset", "2")],
    )
    .await;
    assert_eq!(
        keys,
        [
            json!({"key": "ns:b", "expires_at": keys[0]["expires_at"]}),
            json!({"key": "ns:c", "expires_at": keys[1]["expires_at"]}),
            json!({"key": "ns:ж", "expires_at": keys[2]["expires_at"]}),
        ]
    );
    vox.stop().await;
}

#[tokio::test]
async fn count_defaults_to_ten_and_is_at_most_fifty() {
    let vox = Vox::start().await;
    for i in 0..55 {
        vox.set_a1(&format!("k:{i:02}"), "v").await;
    }
    let first = list(&vox, "GetKeyValueItems", &[("key", "k:")]).await;
    assert_eq!(
        keys_of(&first),
        (0..10).map(|i| format!("k:{i:02}")).collect::<Vec<_>>()
    );
    let fifty = list(&vox, "GetKeyValueKeys", &[("count", "50")]).await;
    assert_eq!(fifty.len(), 50);
    let last = list(
        &vox,
        "GetKeyValueKeys",
        &[("count", "50"), ("offset", "50")],
    )
    .await;
    assert_eq!(keys_of(&last), ["k:50", "k:51", "k:52", "k:53", "k:54"]);

    // Paging with the documented offset rule visits every key exactly once.
    let mut seen = Vec::new();
    for offset in (0..55).step_by(20) {
        let offset = offset.to_string();
        let page = list(
            &vox,
            "GetKeyValueKeys",
            &[("count", "20"), ("offset", &offset)],
        )
        .await;
        seen.extend(keys_of(&page).into_iter().map(str::to_owned));
    }
    assert_eq!(
        seen,
        (0..55).map(|i| format!("k:{i:02}")).collect::<Vec<_>>()
    );

    let t = token_a();
    for (name, value) in [
        ("count", "0"),
        ("count", "51"),
        ("count", "-1"),
        ("count", "ten"),
        ("offset", "-1"),
        ("offset", "100001"),
        ("offset", "x"),
    ] {
        for method in ["GetKeyValueItems", "GetKeyValueKeys"] {
            let answer = vox
                .call(
                    &t,
                    method,
                    &[("key", "k:"), ("application_id", APP), (name, value)],
                )
                .await;
            assert_error(&answer, 400, 101);
        }
    }
    vox.stop().await;
}

#[tokio::test]
async fn listing_key_rules() {
    let vox = Vox::start().await;
    vox.set_a1("a", "v").await;
    let t = token_a();
    // GetKeyValueItems needs `key` (it may be empty: everything).
    let answer = vox
        .call(&t, "GetKeyValueItems", &[("application_id", APP)])
        .await;
    assert_error(&answer, 400, 101);
    let all = list(&vox, "GetKeyValueItems", &[("key", "")]).await;
    assert_eq!(keys_of(&all), ["a"]);
    // A prefix must itself be a valid key (pattern and length).
    let long = "a".repeat(201);
    for bad in ["a b", "a/", long.as_str()] {
        for method in ["GetKeyValueItems", "GetKeyValueKeys"] {
            let answer = vox
                .call(&t, method, &[("key", bad), ("application_id", APP)])
                .await;
            assert_error(&answer, 400, 101);
        }
    }
    vox.stop().await;
}
