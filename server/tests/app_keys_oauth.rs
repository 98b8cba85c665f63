//! `POST /oauth/access_token` and bearer authentication of `/v2/application-keys`.

mod app_keys_support;
mod common;

use app_keys_support::*;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn admin_client_gets_a_token_in_elastic_paths_shape() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let before = now_secs();
    let r = api
        .token_request(
            "grant_type=client_credentials&client_id=admin-client&client_secret=admin-secret",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["token_type"], json!("Bearer"));
    assert_eq!(b["expires_in"], json!(3600));
    assert_eq!(b["identifier"], json!("client_credentials"));
    let token = b["access_token"].as_str().unwrap();
    assert_eq!(token.len(), 40);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    let expires = b["expires"].as_u64().unwrap();
    assert!(expires >= before + 3600 && expires <= now_secs() + 3600);
    let fields: Vec<_> = b.as_object().unwrap().keys().cloned().collect();
    assert_eq!(fields.len(), 5, "{fields:?}");

    // The token opens the API.
    let r = api.get(token, "/v2/application-keys").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    srv.stop().await;
}

#[tokio::test]
async fn created_key_gets_a_token_that_works_like_the_admins_and_stamps_last_used_at() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let key = api.create_ok(&admin, "storefront", 10).await;
    assert_eq!(key["meta"]["timestamps"]["last_used_at"], json!(null));
    let id = key["id"].as_str().unwrap();
    let client_id = key["client_id"].as_str().unwrap();
    let secret = key["client_secret"].as_str().unwrap();

    let token = api.token((client_id, secret)).await;
    let r = api.get(&admin, &format!("/v2/application-keys/{id}")).await;
    let used = r.body["data"]["meta"]["timestamps"]["last_used_at"]
        .as_str()
        .expect("last_used_at set after a token was issued")
        .to_owned();
    assert!(used.ends_with('Z') && used.len() == 24, "{used}");
    assert!(used.as_str() >= key["meta"]["timestamps"]["created_at"].as_str().unwrap());

    // The key's token can do what the admin's can: list, create, read, update, delete.
    let r = api.get(&token, "/v2/application-keys").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["meta"]["results"]["total"], json!(1));
    let other = api.create_ok(&token, "made-by-key", 5).await;
    let other_path = format!("/v2/application-keys/{}", other["id"].as_str().unwrap());
    let r = api
        .put_raw(
            &token,
            &other_path,
            r#"{"data":{"type":"application_key","name":"renamed"}}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api.delete(&token, &other_path).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // A second token request moves last_used_at forward (or keeps it within the same ms).
    api.token((client_id, secret)).await;
    let r = api.get(&admin, &format!("/v2/application-keys/{id}")).await;
    let used2 = r.body["data"]["meta"]["timestamps"]["last_used_at"]
        .as_str()
        .unwrap();
    assert!(used2 >= used.as_str());
    srv.stop().await;
}

#[tokio::test]
async fn token_request_errors() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let key = api.create_ok(&admin, "k", 0).await;
    let client_id = key["client_id"].as_str().unwrap();

    let cases: &[(&str, u16, &str)] = &[
        ("", 400, "The field 'grant_type' is required."),
        (
            "client_id=admin-client&client_secret=admin-secret",
            400,
            "The field 'grant_type' is required.",
        ),
        (
            "grant_type=implicit&client_id=admin-client",
            400,
            "unsupported grant_type 'implicit': only 'client_credentials' is supported",
        ),
        (
            "grant_type=password&client_id=admin-client&client_secret=admin-secret",
            400,
            "unsupported grant_type 'password': only 'client_credentials' is supported",
        ),
        (
            "grant_type=client_credentials&client_secret=admin-secret",
            400,
            "The field 'client_id' is required.",
        ),
        (
            "grant_type=client_credentials&client_id=admin-client",
            400,
            "The field 'client_secret' is required.",
        ),
        (
            "grant_type=client_credentials&client_id=admin-client&client_secret=",
            400,
            "The field 'client_secret' is required.",
        ),
        (
            "grant_type=client_credentials&client_id=admin-client&client_secret=wrong",
            401,
            "invalid client_id or client_secret",
        ),
        (
            "grant_type=client_credentials&client_id=nobody&client_secret=admin-secret",
            401,
            "invalid client_id or client_secret",
        ),
        // Another store's admin secret does not open this store's admin client.
        (
            "grant_type=client_credentials&client_id=admin-client&client_secret=admin-secret-2",
            401,
            "invalid client_id or client_secret",
        ),
    ];
    for (form, status, detail) in cases {
        let r = api.token_request(form).await;
        assert_error(&r, *status, detail);
    }
    // A created key with a wrong secret.
    let r = api
        .token_request(&format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret=nope"
        ))
        .await;
    assert_error(&r, 401, "invalid client_id or client_secret");
    // A failed attempt does not count as a use.
    let r = api
        .get(
            &admin,
            &format!("/v2/application-keys/{}", key["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        r.body["data"]["meta"]["timestamps"]["last_used_at"],
        json!(null)
    );

    // Only POST.
    let r = api.send(api.http.get(api.url("/oauth/access_token"))).await;
    assert_error(&r, 405, "method GET is not allowed here; allowed: POST");
    assert_eq!(r.headers["allow"], "POST");
    srv.stop().await;
}

#[tokio::test]
async fn token_request_body_encodings() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let form = "grant_type=client_credentials&client_id=admin-client&client_secret=admin-secret";
    // Elastic Path's own curl example sends form fields with a JSON content type.
    let r = api
        .send(
            api.http
                .post(api.url("/oauth/access_token"))
                .header("content-type", "application/json")
                .body(form),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A JSON object is accepted too.
    let body = json!({"grant_type":"client_credentials","client_id":"admin-client","client_secret":"admin-secret"});
    let r = api
        .send(api.http.post(api.url("/oauth/access_token")).json(&body))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // No content type at all: read as a form.
    let r = api
        .send(api.http.post(api.url("/oauth/access_token")).body(form))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    srv.stop().await;
}

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_are_401() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let token = api.token(ADMIN_1).await;
    let url = api.url("/v2/application-keys");

    let r = api.send(api.http.get(&url)).await;
    assert_error(
        &r,
        401,
        "an access token is required: send 'Authorization: Bearer <token>'",
    );
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    for header in [
        format!("Basic {token}"),
        token.clone(),
        "Bearer ".to_owned(),
    ] {
        let r = api
            .send(api.http.get(&url).header("authorization", header))
            .await;
        assert_error(
            &r,
            401,
            "an access token is required: send 'Authorization: Bearer <token>'",
        );
    }
    for bad in [
        "0000000000000000000000000000000000000000",
        "x",
        &token[..39],
    ] {
        let r = api.get(bad, "/v2/application-keys").await;
        assert_error(&r, 401, "the access token is invalid or has expired");
    }
    // Every endpoint is guarded, and nothing is created without a token.
    let r = api
        .send(
            api.http
                .post(&url)
                .body(r#"{"data":{"type":"application_key","name":"x"}}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for (method, path) in [
        (reqwest::Method::GET, "/v2/application-keys/abc"),
        (reqwest::Method::PUT, "/v2/application-keys/abc"),
        (reqwest::Method::DELETE, "/v2/application-keys/abc"),
    ] {
        let r = api.send(api.http.request(method, api.url(path))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = api.get(&token, "/v2/application-keys").await;
    assert_eq!(r.body["meta"]["results"]["total"], json!(0));

    // Case-insensitive scheme and the legacy "Bearer:" form of early moltin SDKs.
    for header in [format!("bearer {token}"), format!("Bearer: {token}")] {
        let r = api
            .send(api.http.get(&url).header("authorization", header))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    srv.stop().await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let token = api.token(ADMIN_1).await;
    // Not used before its TTL moves: a token read once is remembered with the expiry it
    // had then (tokens never change in storage; `checked_tokens` tests that remembered
    // tokens expire).

    // Move the stored token's engine TTL to now: the engine stops returning it.
    let state = &srv.running.as_ref().unwrap().state;
    let key = strata_server::dialects::app_keys::layout::token_key(&token);
    let entry = state.db.get(&key).unwrap().expect("token stored");
    assert!(
        entry.expires_at.is_some_and(|t| t > now_secs() + 3500),
        "token carries a TTL"
    );
    state
        .write(
            strata_engine::Op::overwrite(key, entry.value)
                .expires_at(Some(now_secs()))
                .into(),
        )
        .await
        .unwrap();

    let r = api.get(&token, "/v2/application-keys").await;
    assert_error(&r, 401, "the access token is invalid or has expired");
    srv.stop().await;
}

#[tokio::test]
async fn a_deleted_keys_token_stops_working() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let key = api.create_ok(&admin, "doomed", 0).await;
    let creds = (
        key["client_id"].as_str().unwrap(),
        key["client_secret"].as_str().unwrap(),
    );
    let token = api.token(creds).await;
    assert_eq!(
        api.get(&token, "/v2/application-keys").await.status,
        StatusCode::OK
    );
    // Both tokens are remembered now: the key's deletion must still refuse its token.
    assert_eq!(srv.state().app_keys_tokens.len(), 2);

    let path = format!("/v2/application-keys/{}", key["id"].as_str().unwrap());
    assert_eq!(
        api.delete(&admin, &path).await.status,
        StatusCode::NO_CONTENT
    );

    let r = api.get(&token, "/v2/application-keys").await;
    assert_error(&r, 401, "the access token is invalid or has expired");
    // Its credentials no longer issue tokens.
    let r = api
        .token_request(&format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            creds.0, creds.1
        ))
        .await;
    assert_error(&r, 401, "invalid client_id or client_secret");
    // The admin is unaffected.
    assert_eq!(
        api.get(&admin, "/v2/application-keys").await.status,
        StatusCode::OK
    );
    srv.stop().await;
}
