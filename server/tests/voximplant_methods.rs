//! The five methods through every way of addressing them: path or `cmd`, parameters in the
//! query string, a form body or a multipart body; and the routing errors.

mod common;
mod voximplant_support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use voximplant_support::*;

const APP: &str = "1"; // APP_A1

#[tokio::test]
async fn each_method_by_path_with_a_form_body() {
    let vox = Vox::start().await;
    let t = token_a();

    let before = now();
    let (status, set) = vox
        .call(
            &t,
            "SetKeyValueItem",
            &[("key", "ns:one"), ("value", "1"), ("application_id", APP)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["result"]["key"], "ns:one");
    assert_eq!(set["result"]["value"], "1");
    let expires_at = set["result"]["expires_at"].as_u64().unwrap();
    assert!((before + 2_592_000..=now() + 2_592_000).contains(&expires_at));
    assert_eq!(set.as_object().unwrap().len(), 1, "only `result`: {set}");

    let (status, got) = vox
        .call(
            &t,
            "GetKeyValueItem",
            &[("key", "ns:one"), ("application_id", APP)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        got, set,
        "GetKeyValueItem returns what SetKeyValueItem stored"
    );

    let (status, items) = vox
        .call(
            &t,
            "GetKeyValueItems",
            &[("key", "ns"), ("application_id", APP)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        items,
        json!({"result": [{"key": "ns:one", "value": "1", "expires_at": expires_at}]})
    );

    let (status, keys) = vox
        .call(&t, "GetKeyValueKeys", &[("application_id", APP)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        keys,
        json!({"result": [{"key": "ns:one", "expires_at": expires_at}]})
    );

    let (status, del) = vox
        .call(
            &t,
            "DelKeyValueItem",
            &[("key", "ns:one"), ("application_id", APP)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(del, json!({"result": 1}));

    let gone = vox.get_a1("ns:one").await;
    assert_error(&gone, 404, 902);
    let again = vox
        .call(
            &t,
            "DelKeyValueItem",
            &[("key", "ns:one"), ("application_id", APP)],
        )
        .await;
    assert_error(&again, 404, 902);
    vox.stop().await;
}

#[tokio::test]
async fn each_method_by_cmd_as_the_python_sdk_sends_it() {
    let vox = Vox::start().await;
    let t = token_a();
    let (status, set) = vox
        .cmd(
            &t,
            "SetKeyValueItem",
            &[
                ("key", "sdk"),
                ("value", "v"),
                ("application_id", APP),
                ("ttl", "60"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["result"]["value"], "v");

    let (_, got) = vox
        .cmd(
            &t,
            "GetKeyValueItem",
            &[("key", "sdk"), ("application_id", APP)],
        )
        .await;
    assert_eq!(got, set);
    let (_, items) = vox
        .cmd(
            &t,
            "GetKeyValueItems",
            &[
                ("key", "sd"),
                ("application_id", APP),
                ("count", "5"),
                ("offset", "0"),
            ],
        )
        .await;
    assert_eq!(items["result"][0], set["result"]);
    let (_, keys) = vox
        .cmd(
            &t,
            "GetKeyValueKeys",
            &[("application_id", APP), ("key", "sdk")],
        )
        .await;
    assert_eq!(keys["result"][0]["key"], "sdk");
    let (status, del) = vox
        .cmd(
            &t,
            "DelKeyValueItem",
            &[("key", "sdk"), ("application_id", APP)],
        )
        .await;
    assert_eq!((status, del), (StatusCode::OK, json!({"result": 1})));
    assert_error(&vox.get_a1("sdk").await, 404, 902);
    vox.stop().await;
}

#[tokio::test]
async fn query_string_parameters_with_get_and_post() {
    let vox = Vox::start().await;
    let t = token_a();
    // The seed's own example: POST with everything in the query string and no body.
    let (status, set) = vox
        .query(
            Method::POST,
            "/platform_api/SetKeyValueItem",
            &t,
            &[("key", "key"), ("value", "value"), ("application_id", APP)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let (status, got) = vox
        .query(
            Method::GET,
            "/platform_api/GetKeyValueItem",
            &t,
            &[("key", "key"), ("application_id", APP)],
        )
        .await;
    assert_eq!((status, &got), (StatusCode::OK, &set));
    let (status, got) = vox
        .query(
            Method::GET,
            "/platform_api",
            &t,
            &[
                ("cmd", "GetKeyValueItem"),
                ("key", "key"),
                ("application_id", APP),
            ],
        )
        .await;
    assert_eq!((status, &got), (StatusCode::OK, &set));
    let (_, keys) = vox
        .query(
            Method::GET,
            "/platform_api/GetKeyValueKeys",
            &t,
            &[("application_id", APP)],
        )
        .await;
    assert_eq!(keys["result"][0]["key"], "key");
    let (status, _) = vox
        .query(
            Method::GET,
            "/platform_api/DelKeyValueItem",
            &t,
            &[("key", "key"), ("application_id", APP)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(&vox.get_a1("key").await, 404, 902);
    vox.stop().await;
}

#[tokio::test]
async fn multipart_parameters_by_path_and_by_cmd() {
    let vox = Vox::start().await;
    let t = token_a();
    let (status, set) = vox
        .multipart(
            "/platform_api/SetKeyValueItem",
            &t,
            &[
                ("key", "мульти:1"),
                ("value", "a\r\nb & c"),
                ("application_id", APP),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["result"]["value"], "a\r\nb & c");
    let (status, got) = vox
        .multipart(
            "/platform_api",
            &t,
            &[
                ("cmd", "GetKeyValueItem"),
                ("key", "мульти:1"),
                ("application_id", APP),
            ],
        )
        .await;
    assert_eq!((status, &got), (StatusCode::OK, &set));
    let (_, items) = vox
        .multipart(
            "/platform_api/GetKeyValueItems",
            &t,
            &[("key", "мульти"), ("application_id", APP)],
        )
        .await;
    assert_eq!(items["result"][0], set["result"]);
    let (status, del) = vox
        .multipart(
            "/platform_api/",
            &t,
            &[
                ("cmd", "DelKeyValueItem"),
                ("key", "мульти:1"),
                ("application_id", APP),
            ],
        )
        .await;
    assert_eq!((status, del), (StatusCode::OK, json!({"result": 1})));
    vox.stop().await;
}

#[tokio::test]
async fn trailing_slashes_are_tolerated() {
    let vox = Vox::start().await;
    let t = token_a();
    let (status, _) = vox
        .query(
            Method::POST,
            "/platform_api/SetKeyValueItem/",
            &t,
            &[("key", "slash"), ("value", "v"), ("application_id", APP)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, got) = vox
        .query(
            Method::POST,
            "/platform_api/",
            &t,
            &[
                ("cmd", "GetKeyValueItem"),
                ("key", "slash"),
                ("application_id", APP),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["result"]["value"], "v");
    vox.stop().await;
}

#[tokio::test]
async fn body_parameters_override_query_parameters() {
    let vox = Vox::start().await;
    let resp = vox
        .http
        .post(
            vox.srv
                .url("/platform_api/SetKeyValueItem?key=k&value=from-query&application_id=1"),
        )
        .bearer_auth(token_a())
        .form(&[("value", "from-body")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, got) = vox.get_a1("k").await;
    assert_eq!(got["result"]["value"], "from-body");
    vox.stop().await;
}

#[tokio::test]
async fn a_method_in_the_path_wins_over_cmd() {
    let vox = Vox::start().await;
    vox.set_a1("k", "v").await;
    let (status, got) = vox
        .call(
            &token_a(),
            "GetKeyValueItem",
            &[
                ("cmd", "DelKeyValueItem"),
                ("key", "k"),
                ("application_id", APP),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["result"]["value"], "v");
    assert_eq!(vox.get_a1("k").await.0, StatusCode::OK, "not deleted");
    vox.stop().await;
}

#[tokio::test]
async fn routing_errors_are_in_the_dialect_shape() {
    let vox = Vox::start().await;
    let t = token_a();

    // Unknown method in the path: 404 / 103, even before authorization.
    assert_error(&vox.call(&t, "GetAccountInfo", &[]).await, 404, 103);
    assert_error(&vox.call("garbage", "setkeyvalueitem", &[]).await, 404, 103);
    // Unknown or missing cmd.
    assert_error(
        &vox.cmd(&t, "GetAccountInfo", &[("application_id", APP)])
            .await,
        404,
        103,
    );
    assert_error(
        &vox.query(
            Method::POST,
            "/platform_api",
            &t,
            &[("application_id", APP)],
        )
        .await,
        400,
        102,
    );
    assert_error(
        &vox.query(Method::POST, "/platform_api", &t, &[("cmd", "")])
            .await,
        400,
        102,
    );
    // A deeper path than /platform_api/{Method}.
    assert_error(
        &vox.query(Method::GET, "/platform_api/SetKeyValueItem/x", &t, &[])
            .await,
        404,
        103,
    );
    // HTTP methods other than GET and POST.
    for m in [Method::PUT, Method::DELETE, Method::PATCH] {
        let path = "/platform_api/GetKeyValueItem";
        assert_error(&vox.query(m, path, &t, &[]).await, 405, 903);
    }
    // A body that is neither a form nor multipart.
    let resp = vox
        .http
        .post(vox.srv.url("/platform_api/SetKeyValueItem"))
        .bearer_auth(&t)
        .json(&json!({"key": "k", "value": "v", "application_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 905);
    assert_error(&vox.get_a1("k").await, 404, 902);
    vox.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_a_413_in_the_dialect_shape() {
    let vox = Vox::start_with("[limits]\nbody_bytes_max = 4096\n").await;
    let big = "x".repeat(5000);
    let answer = vox
        .call(
            &token_a(),
            "SetKeyValueItem",
            &[("key", "big"), ("value", &big), ("application_id", APP)],
        )
        .await;
    assert_error(&answer, 413, 904);
    assert_error(&vox.get_a1("big").await, 404, 902);
    vox.stop().await;
}
