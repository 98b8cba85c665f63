//! Every key-values endpoint on its happy path, with the exact resource shape (HAL links,
//! server-assigned id and dates), lookup by id or key, and durability across a restart.

mod common;
mod keyvalues_support;

use common::TestServer;
use keyvalues_support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Parses an RFC 3339 UTC date with milliseconds (`...T..:..:..sssZ`).
fn date(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let s = v.as_str().expect("a date string");
    assert_eq!(s.len(), "2024-01-01T00:00:00.000Z".len(), "{s}");
    assert!(s.ends_with('Z'), "{s}");
    chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[tokio::test]
async fn create_get_update_delete() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;

    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let r = api.create("demo", &token, "greeting", "hello").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let href = format!("/demo/key-values/{id}");
    assert_eq!(r.headers["location"], href.as_str());
    let created = date(&r.body["dateCreated"]);
    assert!(created >= before && created <= chrono::Utc::now());
    assert_eq!(r.body["dateUpdated"], r.body["dateCreated"]);
    let link = json!({"href": href, "templated": false});
    assert_eq!(
        r.body,
        json!({
            "id": id, "key": "greeting", "value": "hello",
            "dateCreated": r.body["dateCreated"], "dateUpdated": r.body["dateUpdated"],
            "_links": {"self": link, "put": link, "delete": link}
        })
    );
    let resource = r.body;

    // By id and by key: the same resource.
    let r = api.get("demo", &token, &id).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, resource);
    let r = api.get("demo", &token, "greeting").await;
    assert_eq!(r.body, resource);

    // PUT with the whole resource, as Baasic SDKs send it: 204, value and dateUpdated change.
    let mut edited = resource.clone();
    edited["value"] = json!("bonjour");
    let r = api.put("demo", &token, &id, &edited.to_string()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null);
    let r = api.get("demo", &token, &id).await;
    assert_eq!(r.body["value"], "bonjour");
    assert_eq!(r.body["key"], "greeting");
    assert_eq!(r.body["dateCreated"], resource["dateCreated"]);
    assert!(date(&r.body["dateUpdated"]) >= created);

    // PUT with only a value keeps the key.
    let r = api.put("demo", &token, &id, r#"{"value":"hola"}"#).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("demo", &token, "greeting").await.body["value"],
        "hola"
    );

    let r = api.delete("demo", &token, &id).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null);
    assert_error(&api.get("demo", &token, &id).await, 404, 4040);
    assert_error(&api.get("demo", &token, "greeting").await, 404, 4040);
    assert_error(&api.delete("demo", &token, &id).await, 404, 4040);
    assert_error(
        &api.put("demo", &token, &id, r#"{"value":"x"}"#).await,
        404,
        4040,
    );
    // The key is free again.
    api.create_ok("demo", &token, "greeting", "again").await;
    srv.stop().await;
}

#[tokio::test]
async fn keys_with_reserved_characters_are_addressable() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let id = api.create_ok("demo", &token, "a/b c?d%é", "v").await;
    let r = api.get("demo", &token, "a%2Fb%20c%3Fd%25%C3%A9").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["key"], "a/b c?d%é");
    srv.stop().await;
}

#[tokio::test]
async fn put_and_delete_address_by_id_only() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    api.create_ok("demo", &token, "by-key", "v").await;
    assert_error(
        &api.put("demo", &token, "by-key", r#"{"value":"w"}"#).await,
        404,
        4040,
    );
    assert_error(&api.delete("demo", &token, "by-key").await, 404, 4040);
    assert_eq!(api.get("demo", &token, "by-key").await.body["value"], "v");
    // Longer than any key or id: simply absent.
    assert_error(&api.get("demo", &token, &"k".repeat(2000)).await, 404, 4040);
    srv.stop().await;
}

#[tokio::test]
async fn writes_survive_a_restart() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let kept = api.create_ok("demo", &token, "kept", "1").await;
    let gone = api.create_ok("demo", &token, "gone", "2").await;
    api.put("demo", &token, &kept, r#"{"key":"renamed","value":"3"}"#)
        .await;
    api.delete("demo", &token, &gone).await;

    let srv = srv.restart().await;
    let api = Api::new(&srv);
    // Tokens are stored in the engine too.
    let r = api.get("demo", &token, "renamed").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (r.body["id"].as_str(), r.body["value"].as_str()),
        (Some(kept.as_str()), Some("3"))
    );
    assert_error(&api.get("demo", &token, "kept").await, 404, 4040);
    assert_error(&api.get("demo", &token, &gone).await, 404, 4040);
    srv.stop().await;
}
