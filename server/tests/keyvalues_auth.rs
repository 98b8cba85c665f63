//! Every key-values endpoint refuses missing, unknown and malformed bearer tokens with 401 and
//! `WWW-Authenticate: Bearer error="invalid_token"`, and changes nothing.

mod common;
mod keyvalues_support;

use common::TestServer;
use keyvalues_support::*;
use reqwest::Method;

#[tokio::test]
async fn missing_and_invalid_tokens_are_refused_everywhere() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let id = api.create_ok("demo", &token, "guarded", "v").await;
    let item = format!("/demo/key-values/{id}");
    let endpoints: Vec<(Method, &str, Option<&str>)> = vec![
        (
            Method::POST,
            "/demo/key-values",
            Some(r#"{"key":"k2","value":"v"}"#),
        ),
        (Method::GET, "/demo/key-values", None),
        (Method::GET, &item, None),
        (Method::GET, "/demo/key-values/guarded", None),
        (Method::PUT, &item, Some(r#"{"value":"changed"}"#)),
        (Method::DELETE, &item, None),
        (Method::DELETE, "/demo/login", None),
    ];
    let long = "x".repeat(300);
    for (method, path, body) in &endpoints {
        for bad in [None, Some("unknown-token"), Some(long.as_str())] {
            let r = api.call(method.clone(), path, bad, *body).await;
            assert_unauthorized(&r);
        }
        // Another scheme carrying a valid token is not a bearer token.
        let mut req = api
            .http
            .request(method.clone(), api.url(path))
            .header("authorization", format!("Basic {token}"));
        if let Some(body) = body {
            req = req.body(*body);
        }
        assert_unauthorized(&api.send(req).await);
    }
    let r = api.get("demo", &token, &id).await;
    assert_eq!(r.body["value"], "v");
    assert_eq!(api.list("demo", &token, "").await.body["totalRecords"], 1);
    srv.stop().await;
}
