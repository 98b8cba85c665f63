//! Parameter validation: keys, values, required parameters, applications. A refused request
//! changes nothing that is stored.

mod common;
mod voximplant_support;

use reqwest::StatusCode;
use voximplant_support::*;

const APP: &str = "1"; // APP_A1

#[tokio::test]
async fn keys_follow_the_documented_pattern_and_length() {
    let vox = Vox::start().await;
    let t = token_a();
    // Accepted: the whole class, Cyrillic included, up to 200 characters (not bytes).
    let cyrillic_200 = "ж".repeat(200);
    for key in [
        "test:1234",
        "aZ09_-:;.#+",
        "Привет:мир",
        "ёЁ",
        "АЯая",
        cyrillic_200.as_str(),
    ] {
        let stored = vox.set_a1(key, "v").await;
        assert_eq!(stored["result"]["key"], key);
        let (status, got) = vox.get_a1(key).await;
        assert_eq!(status, StatusCode::OK, "{key}");
        assert_eq!(got["result"]["key"], key);
    }

    // Refused: too long, outside the class, empty, missing.
    let long = "a".repeat(201);
    let cyrillic_201 = "ж".repeat(201);
    for key in [
        long.as_str(),
        cyrillic_201.as_str(),
        "has space",
        "slash/",
        "q?",
        "pct%",
        "amp&",
        "eq=",
        "star*",
        "quote\"",
        "ukrainian-і",
        "é",
        "中文",
        "😀",
        "new\nline",
        "",
    ] {
        for method in ["SetKeyValueItem", "GetKeyValueItem", "DelKeyValueItem"] {
            let answer = vox
                .call(
                    &t,
                    method,
                    &[("key", key), ("value", "v"), ("application_id", APP)],
                )
                .await;
            assert_error(&answer, 400, 101);
        }
    }
    for method in ["SetKeyValueItem", "GetKeyValueItem", "DelKeyValueItem"] {
        let answer = vox
            .call(&t, method, &[("value", "v"), ("application_id", APP)])
            .await;
        assert_error(&answer, 400, 101);
    }
    // Nothing but the accepted keys was stored.
    let (_, keys) = vox
        .call(
            &t,
            "GetKeyValueKeys",
            &[("application_id", APP), ("count", "50")],
        )
        .await;
    assert_eq!(keys["result"].as_array().unwrap().len(), 6);
    vox.stop().await;
}

#[tokio::test]
async fn values_are_up_to_two_thousand_characters() {
    let vox = Vox::start().await;
    let t = token_a();
    let stored = vox.set_a1("k", "original").await;

    let cyrillic_2000 = "ё".repeat(2000);
    let answer = vox
        .call(
            &t,
            "SetKeyValueItem",
            &[
                ("key", "long"),
                ("value", &cyrillic_2000),
                ("application_id", APP),
            ],
        )
        .await;
    assert_eq!(answer.0, StatusCode::OK);
    let (_, got) = vox.get_a1("long").await;
    assert_eq!(got["result"]["value"], cyrillic_2000.as_str());

    // Any characters, empty included.
    for value in ["", "{\"json\": [1, 2]}", "a&b=c%d+e", "中文 😀\ttab\nline"] {
        let answer = vox
            .call(
                &t,
                "SetKeyValueItem",
                &[("key", "any"), ("value", value), ("application_id", APP)],
            )
            .await;
        assert_eq!(answer.0, StatusCode::OK, "{value:?}");
        assert_eq!(vox.get_a1("any").await.1["result"]["value"], value);
    }

    let too_long = "x".repeat(2001);
    let cyrillic_2001 = "ё".repeat(2001);
    for value in [too_long.as_str(), cyrillic_2001.as_str()] {
        let answer = vox
            .call(
                &t,
                "SetKeyValueItem",
                &[("key", "k"), ("value", value), ("application_id", APP)],
            )
            .await;
        assert_error(&answer, 400, 101);
    }
    let missing = vox
        .call(
            &t,
            "SetKeyValueItem",
            &[("key", "k"), ("application_id", APP)],
        )
        .await;
    assert_error(&missing, 400, 101);
    assert_eq!(
        vox.get_a1("k").await.1,
        stored,
        "refused writes change nothing"
    );
    vox.stop().await;
}

#[tokio::test]
async fn parameters_must_be_utf8() {
    let vox = Vox::start().await;
    vox.set_a1("k", "original").await;
    for body in [
        "key=k&value=%FF&application_id=1",
        "key=%C3&value=v&application_id=1",
    ] {
        let resp = vox
            .http
            .post(vox.srv.url("/platform_api/SetKeyValueItem"))
            .bearer_auth(token_a())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["error"]["code"], 101);
    }
    assert_eq!(vox.get_a1("k").await.1["result"]["value"], "original");
    vox.stop().await;
}

#[tokio::test]
async fn the_application_must_be_named_and_exist() {
    let vox = Vox::start().await;
    let t = token_a();
    let set = |app: Vec<(&'static str, &'static str)>| {
        let mut params = vec![("key", "k"), ("value", "v")];
        params.extend(app);
        params
    };
    // Missing / malformed / unknown id; unknown name; id and name of different applications.
    assert_error(
        &vox.call(&t, "SetKeyValueItem", &set(vec![])).await,
        400,
        101,
    );
    assert_error(
        &vox.call(&t, "SetKeyValueItem", &set(vec![("application_id", "one")]))
            .await,
        400,
        101,
    );
    assert_error(
        &vox.call(&t, "SetKeyValueItem", &set(vec![("application_id", "99")]))
            .await,
        404,
        901,
    );
    assert_error(
        &vox.call(
            &t,
            "SetKeyValueItem",
            &set(vec![("application_name", "nope.acc.voximplant.com")]),
        )
        .await,
        404,
        107,
    );
    assert_error(
        &vox.call(
            &t,
            "SetKeyValueItem",
            &set(vec![
                ("application_id", "1"),
                ("application_name", APP_A2_NAME),
            ]),
        )
        .await,
        400,
        107,
    );
    for method in [
        "GetKeyValueItem",
        "GetKeyValueItems",
        "GetKeyValueKeys",
        "DelKeyValueItem",
    ] {
        assert_error(&vox.call(&t, method, &[("key", "k")]).await, 400, 101);
        assert_error(
            &vox.call(&t, method, &[("key", "k"), ("application_id", "99")])
                .await,
            404,
            901,
        );
    }
    let (_, keys) = vox
        .call(&t, "GetKeyValueKeys", &[("application_id", APP)])
        .await;
    assert_eq!(keys["result"], serde_json::json!([]));
    vox.stop().await;
}
