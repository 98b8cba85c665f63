//! The key-values dialect in browsers: CORS (preflights and the headers on every answer,
//! `[keyvalues] cors_allowed_origins`) and Baasic's version prefix `/v1/{apiKey}/...`, which
//! the SDK calls with its default `apiVersion`.

mod common;
mod keyvalues_support;

use common::TestServer;
use keyvalues_support::*;
use reqwest::{Method, StatusCode};

const PAGE: &str = "http://app.example.test";

/// A preflight as a browser sends it before the SDK's JSON calls.
async fn preflight(api: &Api, path: &str, origin: &str, method: &str, headers: &str) -> Resp {
    api.send(
        api.http
            .request(Method::OPTIONS, api.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers),
    )
    .await
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn by_default_any_origin_may_call_the_api_from_a_browser() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);

    // The preflight of a JSON POST with a token: no token needed, the route's methods and the
    // requested headers come back.
    let r = preflight(
        &api,
        "/demo/key-values/",
        PAGE,
        "POST",
        "authorization,content-type",
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(PAGE));
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(&r, "access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    let allowed = header(&r, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in ["authorization", "content-type"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert_eq!(header(&r, "access-control-max-age"), Some("600"));
    let r = preflight(&api, "/demo/key-values/some-id", PAGE, "DELETE", "id,value").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        header(&r, "access-control-allow-methods"),
        Some("GET, PUT, DELETE, OPTIONS")
    );
    let allowed = header(&r, "access-control-allow-headers").unwrap();
    assert!(allowed.ends_with(", id, value"), "{allowed}");
    let r = preflight(&api, "/demo/login", PAGE, "POST", "content-type").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        header(&r, "access-control-allow-methods"),
        Some("POST, DELETE, OPTIONS")
    );

    // The answers themselves carry the origin: login, a create, and errors (401, 404, 413).
    let r = api
        .send(
            api.http
                .post(api.url("/demo/login"))
                .header("origin", PAGE)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=password&username=alice&password=wonderland"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(PAGE));
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
    assert_eq!(header(&r, "vary"), Some("Origin"));
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let create = |token: &str, body: String| {
        api.http
            .post(api.url("/demo/key-values"))
            .header("origin", PAGE)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
    };
    let r = api
        .send(create(&token, r#"{"key":"k","value":"v"}"#.into()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(PAGE));
    let exposed = header(&r, "access-control-expose-headers").unwrap();
    assert!(exposed.contains("Location"), "{exposed}");
    let r = api.send(create("not-a-token", "{}".into())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(PAGE));
    let r = api
        .send(
            api.http
                .get(api.url("/demo/key-values/nope"))
                .header("origin", PAGE)
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(PAGE));
    let r = api.send(create(&token, "x".repeat(2 * 1024 * 1024))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(PAGE));

    // Without `Origin` (not a browser): no CORS headers but `Vary`; a plain OPTIONS is
    // answered with `Allow`.
    let r = api
        .call(Method::GET, "/demo/key-values", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(header(&r, "vary"), Some("Origin"));
    let r = api
        .call(Method::OPTIONS, "/demo/key-values", None, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "allow"), Some("GET, POST, OPTIONS"));
    assert_eq!(header(&r, "access-control-allow-methods"), None);

    // `null` origins (sandboxed frames, files) are not "any origin".
    let r = preflight(&api, "/demo/key-values", "null", "POST", "authorization").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(header(&r, "access-control-allow-origin"), None);

    // Other dialects are untouched.
    let r = api
        .send(
            api.http
                .request(Method::OPTIONS, api.url("/v1/key-store/"))
                .header("origin", PAGE)
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    srv.stop().await;
}

#[tokio::test]
async fn only_the_configured_origins_may_call_the_api() {
    let config = format!(
        "{CONFIG}\n[keyvalues]\ncors_allowed_origins = [\"{PAGE}\", \"https://admin.example.test:8443\"]\n"
    );
    let srv = TestServer::start(&config).await;
    let api = Api::new(&srv);
    for origin in [PAGE, "https://admin.example.test:8443"] {
        let r = preflight(&api, "/demo/key-values", origin, "POST", "authorization").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{origin}");
        assert_eq!(header(&r, "access-control-allow-origin"), Some(origin));
    }
    let evil = "http://evil.example.test";
    let r = preflight(&api, "/demo/key-values", evil, "POST", "authorization").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["errorCode"], 4030);
    assert_eq!(r.body["error"], "forbidden");
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    // A simple request from it is still answered (CORS is the browser's rule), but without
    // the header the browser would need to show the answer to the page.
    let r = api
        .send(
            api.http
                .post(api.url("/demo/login"))
                .header("origin", evil)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=password&username=alice&password=wonderland"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(header(&r, "vary"), Some("Origin"));
    srv.stop().await;
}

#[tokio::test]
async fn an_empty_origin_list_turns_cors_off() {
    let config = format!("{CONFIG}\n[keyvalues]\ncors_allowed_origins = []\n");
    let srv = TestServer::start(&config).await;
    let api = Api::new(&srv);
    let r = preflight(&api, "/demo/key-values", PAGE, "POST", "authorization").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    let r = api
        .send(
            api.http
                .post(api.url("/demo/login"))
                .header("origin", PAGE)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=password&username=alice&password=wonderland"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(header(&r, "vary"), None);
    srv.stop().await;
}

#[tokio::test]
async fn the_sdk_default_version_prefix_reaches_the_same_application() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    // Login and every call through `/v1/{apiKey}/...`, with the SDK's trailing slashes.
    let r = api
        .send(
            api.http
                .post(api.url("/v1/demo/login/"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=password&username=alice&password=wonderland"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let r = api
        .call(
            Method::POST,
            "/v1/demo/key-values/",
            Some(&token),
            Some(r#"{"key":"through-v1","value":"x"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();

    // The same data without the prefix, and the other way round.
    let r = api
        .call(
            Method::GET,
            &format!("/demo/key-values/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["key"], "through-v1");
    api.create_ok("demo", &token, "direct", "y").await;
    let r = api
        .call(
            Method::GET,
            "/v1/demo/key-values/direct/",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["value"], "y");
    let r = api
        .call(
            Method::GET,
            "/v1/demo/key-values?rpp=10",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalRecords"], 2);
    let r = api
        .call(
            Method::PUT,
            &format!("/v1/demo/key-values/{id}/"),
            Some(&token),
            Some(r#"{"key":"through-v1","value":"z"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = api
        .call(
            Method::DELETE,
            &format!("/v1/demo/key-values/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // Errors keep the dialect's shape; unknown apps and paths too.
    let r = api
        .call(
            Method::GET,
            &format!("/v1/demo/key-values/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_error(&r, 404, 4040);
    let r = api
        .call(Method::GET, "/v1/nope/key-values", Some(&token), None)
        .await;
    assert_error(&r, 404, 4041);
    let r = api.call(Method::GET, "/v1/demo/other", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, serde_json::json!({"message": "not found"}));
    // The prefix is the key store's: `/v1/key-store` stays there.
    let r = api.call(Method::GET, "/v1/key-store/x", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["status"], false);
    srv.stop().await;
}

#[tokio::test]
async fn an_application_named_v1_keeps_its_direct_paths() {
    let config = r#"
[[keyvalues.apps]]
api_key = "v1"
[[keyvalues.apps.users]]
username = "alice"
password = "wonderland"
"#;
    let srv = TestServer::start(config).await;
    let api = Api::new(&srv);
    let token = api.token("v1", "alice", "wonderland").await;
    api.create_ok("v1", &token, "k", "v").await;
    // `/v1/key-values/k` is app `v1`'s item `k`, and `/v1/v1/...` the same app prefixed.
    for path in ["/v1/key-values/k", "/v1/v1/key-values/k"] {
        let r = api.call(Method::GET, path, Some(&token), None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        assert_eq!(r.body["value"], "v");
    }
    srv.stop().await;
}
