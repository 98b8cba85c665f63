//! Bad input gets a 400 in the errors shape, and nothing stored changes.

mod app_keys_support;
mod common;

use app_keys_support::*;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

fn table() -> Vec<(String, &'static str)> {
    let long_name = "a".repeat(256);
    vec![
        ("".into(), "The request body is not valid JSON"),
        ("{\"data\":".into(), "The request body is not valid JSON"),
        ("[1]".into(), "The request body must be a JSON object."),
        ("{}".into(), "The field 'data' is required."),
        (
            r#"{"data":[]}"#.into(),
            "The field 'data' must be an object.",
        ),
        (
            r#"{"data":{"name":"k"}}"#.into(),
            "The field 'type' is required.",
        ),
        (
            r#"{"data":{"type":"application_keys","name":"k"}}"#.into(),
            "The field 'type' must be 'application_key'.",
        ),
        (
            r#"{"data":{"type":"application_key","name":""}}"#.into(),
            "The field 'name' must not be empty.",
        ),
        (
            format!(r#"{{"data":{{"type":"application_key","name":"{long_name}"}}}}"#),
            "The field 'name' must be at most 255 characters.",
        ),
        (
            r#"{"data":{"type":"application_key","name":42}}"#.into(),
            "The field 'name' must be a string.",
        ),
        (
            r#"{"data":{"type":"application_key","name":["k"]}}"#.into(),
            "The field 'name' must be a string.",
        ),
        (
            r#"{"data":{"type":"application_key","name":"k","reserved_rate_limit":-1}}"#.into(),
            "The field 'reserved_rate_limit' must be greater than or equal to 0.",
        ),
        (
            r#"{"data":{"type":"application_key","name":"k","reserved_rate_limit":2.5}}"#.into(),
            "The field 'reserved_rate_limit' must be an integer.",
        ),
        (
            r#"{"data":{"type":"application_key","name":"k","reserved_rate_limit":"5"}}"#.into(),
            "The field 'reserved_rate_limit' must be an integer.",
        ),
    ]
}

#[tokio::test]
async fn create_validation_table() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let mut cases = table();
    cases.push((
        r#"{"data":{"type":"application_key"}}"#.into(),
        "The field 'name' is required.",
    ));
    cases.push((
        r#"{"data":{"type":"application_key","name":null,"reserved_rate_limit":1}}"#.into(),
        "The field 'name' is required.",
    ));
    for (body, detail) in &cases {
        let r = api.post_raw(&admin, "/v2/application-keys", body).await;
        assert_error_prefix(&r, 400, detail);
        assert_eq!(r.body["errors"][0]["title"], json!("Bad Request"));
    }
    // Exactly as in seed 001.
    let r = api
        .post_raw(
            &admin,
            "/v2/application-keys",
            r#"{"data":{"type":"application_key"}}"#,
        )
        .await;
    assert_eq!(
        r.body,
        json!({"errors":[{"title":"Bad Request","status":"400","detail":"The field 'name' is required."}]})
    );
    // 255 characters (not bytes) is fine.
    let name = "ü".repeat(255);
    let r = api.create(&admin, &name, 0).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["data"]["name"], json!(name));

    let r = api.get(&admin, "/v2/application-keys").await;
    assert_eq!(
        r.body["meta"]["results"]["total"],
        json!(1),
        "only the valid key was stored"
    );
    srv.stop().await;
}

#[tokio::test]
async fn update_validation_table_changes_nothing() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let created = api.create_ok(&admin, "original", 7).await;
    let path = format!("/v2/application-keys/{}", created["id"].as_str().unwrap());
    let before = api.get(&admin, &path).await.body;

    for (body, detail) in &table() {
        let r = api.put_raw(&admin, &path, body).await;
        assert_error_prefix(&r, 400, detail);
    }
    assert_eq!(api.get(&admin, &path).await.body, before);
    let r = api.get(&admin, "/v2/application-keys").await;
    assert_eq!(r.body["meta"]["total_reserved_rate_limit"], json!(7));
    srv.stop().await;
}

#[tokio::test]
async fn page_parameters_are_validated() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    for query in [
        "page[limit]=101",
        "page[limit]=0",
        "page[limit]=ten",
        "page[limit]=-1",
    ] {
        let r = api
            .get(&admin, &format!("/v2/application-keys?{query}"))
            .await;
        assert_error(&r, 400, "page[limit] must be an integer between 1 and 100.");
    }
    for query in [
        "page[offset]=10001",
        "page[offset]=-1",
        "page%5Boffset%5D=x",
    ] {
        let r = api
            .get(&admin, &format!("/v2/application-keys?{query}"))
            .await;
        assert_error(
            &r,
            400,
            "page[offset] must be an integer between 0 and 10000.",
        );
    }
    for query in [
        "page[limit]=100",
        "page%5Blimit%5D=1&page%5Boffset%5D=10000",
        "filter=eq(name,x)",
    ] {
        let r = api
            .get(&admin, &format!("/v2/application-keys?{query}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    }
    srv.stop().await;
}
