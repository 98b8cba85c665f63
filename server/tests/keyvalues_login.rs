//! `POST /{apiKey}/login`: the OAuth password grant as Baasic SDKs send it (form) and as JSON,
//! plain and argon2 passwords, OAuth errors; `DELETE /{apiKey}/login` revokes a token.

mod common;
mod keyvalues_support;

use common::TestServer;
use keyvalues_support::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn form_login_issues_a_working_bearer_token() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let r = api
        .login_form(
            "demo",
            "grant_type=password&username=alice&password=wonderland",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert_eq!(
        r.body,
        json!({"access_token": token, "token_type": "bearer", "expires_in": 3600})
    );
    let r = api.list("demo", &token, "").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Every login issues a new token; both work.
    let second = api.token("demo", "alice", "wonderland").await;
    assert_ne!(second, token);
    assert_eq!(api.list("demo", &second, "").await.status, 200);
    assert_eq!(api.list("demo", &token, "").await.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn json_login_and_argon2_passwords() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let body = r#"{"grant_type":"password","username":"hatter","password":"teaparty"}"#;
    let r = api
        .call(Method::POST, "/demo/login", None, Some(body))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["access_token"].as_str().unwrap();
    assert_eq!(api.list("demo", token, "").await.status, 200);
    let r = api
        .login_form(
            "demo",
            "grant_type=password&username=hatter&password=teapart",
        )
        .await;
    assert_error(&r, 400, 4005);
    srv.stop().await;
}

#[tokio::test]
async fn bad_logins_are_oauth_errors() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let cases = [
        (
            "grant_type=password&username=alice&password=wrong",
            4005,
            "invalid_grant",
        ),
        (
            "grant_type=password&username=alice&password=",
            4005,
            "invalid_grant",
        ),
        (
            "grant_type=password&username=nobody&password=wonderland",
            4005,
            "invalid_grant",
        ),
        (
            "grant_type=password&username=ALICE&password=wonderland",
            4005,
            "invalid_grant",
        ),
        (
            "grant_type=password&username=alice",
            4003,
            "invalid_request",
        ),
        (
            "grant_type=password&password=wonderland",
            4003,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&username=alice&password=wonderland",
            4004,
            "unsupported_grant_type",
        ),
        (
            "username=alice&password=wonderland",
            4004,
            "unsupported_grant_type",
        ),
        ("", 4004, "unsupported_grant_type"),
    ];
    for (form, code, error) in cases {
        let r = api.login_form("demo", form).await;
        assert_error(&r, 400, code);
        assert_eq!(r.body["error"], error, "{form}");
    }
    let r = api
        .call(Method::POST, "/demo/login", None, Some("{not json"))
        .await;
    assert_error(&r, 400, 4000);
    srv.stop().await;
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let other = api.token("demo", "alice", "wonderland").await;
    // Used once first, so the server remembers the session: the logout must forget it.
    assert_eq!(api.list("demo", &token, "").await.status, 200);
    assert_eq!(srv.state().keyvalues_sessions.len(), 1);
    let r = api
        .call(Method::DELETE, "/demo/login", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(srv.state().keyvalues_sessions.len(), 0);
    assert_unauthorized(&api.list("demo", &token, "").await);
    assert_unauthorized(
        &api.call(Method::DELETE, "/demo/login", Some(&token), None)
            .await,
    );
    // Only that token.
    assert_eq!(api.list("demo", &other, "").await.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn a_user_removed_from_the_config_loses_a_remembered_session() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let alice = api.token("demo", "alice", "wonderland").await;
    let hatter = api.token("demo", "hatter", "teaparty").await;
    assert_eq!(api.list("demo", &alice, "").await.status, 200);
    assert_eq!(api.list("demo", &hatter, "").await.status, 200);
    assert_eq!(srv.state().keyvalues_sessions.len(), 2);

    // SIGHUP does this: the same config without alice.
    let mut config = (*srv.config()).clone();
    config.keyvalues.apps[0]
        .users
        .retain(|u| u.username != "alice");
    srv.state().set_config(config);

    assert_unauthorized(&api.list("demo", &alice, "").await);
    assert_eq!(api.list("demo", &hatter, "").await.status, 200);
    srv.stop().await;
}
