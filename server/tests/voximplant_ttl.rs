//! Item lifetimes: the default TTL, `ttl` and `expires_at` bounds, and expired items being
//! invisible to every method.

mod common;
mod voximplant_support;

use std::time::Duration;

use reqwest::StatusCode;
use voximplant_support::*;

const APP: &str = "1"; // APP_A1

async fn set(vox: &Vox, key: &str, value: &str, extra: &[(&str, &str)]) -> Answer {
    let mut params = vec![("key", key), ("value", value), ("application_id", APP)];
    params.extend_from_slice(extra);
    vox.call(&token_a(), "SetKeyValueItem", &params).await
}

fn expires_at(answer: &Answer) -> u64 {
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    answer.1["result"]["expires_at"].as_u64().unwrap()
}

#[tokio::test]
async fn default_ttl_is_thirty_days_and_ttl_sets_expires_at() {
    let vox = Vox::start().await;
    let before = now();
    let default = expires_at(&set(&vox, "default", "v", &[]).await);
    let one_minute = expires_at(&set(&vox, "minute", "v", &[("ttl", "60")]).await);
    let max = expires_at(&set(&vox, "max", "v", &[("ttl", "7776000")]).await);
    let after = now();
    assert!((before + 2_592_000..=after + 2_592_000).contains(&default));
    assert!((before + 60..=after + 60).contains(&one_minute));
    assert!((before + 7_776_000..=after + 7_776_000).contains(&max));
    // The stored item carries the same expires_at.
    let (_, got) = vox.get_a1("minute").await;
    assert_eq!(got["result"]["expires_at"], one_minute);
    vox.stop().await;
}

#[tokio::test]
async fn ttl_out_of_range_is_refused_and_changes_nothing() {
    let vox = Vox::start().await;
    let stored = vox.set_a1("k", "original").await;
    for ttl in ["7776001", "-1", "abc", "1.5", ""] {
        let answer = set(&vox, "k", "changed", &[("ttl", ttl)]).await;
        assert_error(&answer, 400, 101);
    }
    let (status, got) = vox.get_a1("k").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, stored, "a refused write leaves the item as it was");
    vox.stop().await;
}

#[tokio::test]
async fn expires_at_is_accepted_within_ninety_days_from_now() {
    let vox = Vox::start().await;
    let at = now() + 100;
    let answer = set(&vox, "at", "v", &[("expires_at", &at.to_string())]).await;
    assert_eq!(expires_at(&answer), at);
    let (_, got) = vox.get_a1("at").await;
    assert_eq!(got["result"]["expires_at"], at);

    let past = (now() - 10).to_string();
    let too_late = (now() + 7_776_000 + 10).to_string();
    for bad in [past.as_str(), too_late.as_str(), "0", "soon"] {
        assert_error(
            &set(&vox, "at", "x", &[("expires_at", bad)]).await,
            400,
            101,
        );
    }
    // One of the two, not both.
    let both = set(
        &vox,
        "at",
        "x",
        &[("ttl", "60"), ("expires_at", &at.to_string())],
    )
    .await;
    assert_error(&both, 400, 101);
    let (_, got) = vox.get_a1("at").await;
    assert_eq!(got["result"]["value"], "v");
    vox.stop().await;
}

#[tokio::test]
async fn ttl_zero_stores_an_already_expired_item_that_hides_the_old_value() {
    let vox = Vox::start().await;
    vox.set_a1("zero", "visible").await;
    let before = now();
    let at = expires_at(&set(&vox, "zero", "gone", &[("ttl", "0")]).await);
    assert!((before..=now()).contains(&at));

    assert_error(&vox.get_a1("zero").await, 404, 902);
    let t = token_a();
    let (_, items) = vox
        .call(
            &t,
            "GetKeyValueItems",
            &[("key", "zero"), ("application_id", APP)],
        )
        .await;
    assert_eq!(items["result"], serde_json::json!([]));
    let (_, keys) = vox
        .call(&t, "GetKeyValueKeys", &[("application_id", APP)])
        .await;
    assert_eq!(keys["result"], serde_json::json!([]));
    let del = vox
        .call(
            &t,
            "DelKeyValueItem",
            &[("key", "zero"), ("application_id", APP)],
        )
        .await;
    assert_error(&del, 404, 902);
    vox.stop().await;
}

#[tokio::test]
async fn items_disappear_when_they_expire() {
    let vox = Vox::start().await;
    let at = expires_at(&set(&vox, "short", "v", &[("ttl", "2")]).await);
    // Visible until `expires_at` (the write and this read are well within one second).
    let (status, got) = vox.get_a1("short").await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["result"]["expires_at"], at);

    // Expired once `now >= expires_at`: at most ~2 s away.
    while now() < at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_error(&vox.get_a1("short").await, 404, 902);
    let (_, keys) = vox
        .call(&token_a(), "GetKeyValueKeys", &[("application_id", APP)])
        .await;
    assert_eq!(keys["result"], serde_json::json!([]));
    vox.stop().await;
}

#[tokio::test]
async fn setting_again_replaces_value_and_expiry() {
    let vox = Vox::start().await;
    let first = expires_at(&set(&vox, "k", "one", &[("ttl", "100")]).await);
    let second = expires_at(&set(&vox, "k", "two", &[("ttl", "1000")]).await);
    assert!(second >= first + 900);
    let (_, got) = vox.get_a1("k").await;
    assert_eq!(got["result"]["value"], "two");
    assert_eq!(got["result"]["expires_at"], second);
    vox.stop().await;
}
