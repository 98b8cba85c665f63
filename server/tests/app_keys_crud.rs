//! Create, get, update and delete of application keys: shapes, statuses and the secret rule.

mod app_keys_support;
mod common;

use app_keys_support::*;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn assert_rfc3339_millis(s: &Value) {
    let s = s.as_str().expect("a date string");
    // e.g. 2017-01-10T11:41:19.244Z
    assert_eq!(s.len(), 24, "{s}");
    assert!(
        s.ends_with('Z') && &s[10..11] == "T" && &s[19..20] == ".",
        "{s}"
    );
}

#[tokio::test]
async fn create_answers_201_with_the_seed_shape() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let r = api.create(&admin, "App Key", 10).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let top: Vec<_> = r.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(top, ["data"]);
    let d = &r.body["data"];
    let fields: Vec<_> = d.as_object().unwrap().keys().cloned().collect();
    let mut want = [
        "id",
        "name",
        "type",
        "client_id",
        "client_secret",
        "reserved_rate_limit",
        "meta",
        "links",
    ];
    let mut got = fields.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    let id = d["id"].as_str().unwrap();
    let uuid = uuid::Uuid::parse_str(id).expect("id is a UUID");
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(id, uuid.hyphenated().to_string());
    assert_eq!(d["name"], json!("App Key"));
    assert_eq!(d["type"], json!("application_key"));
    for field in ["client_id", "client_secret"] {
        let v = d[field].as_str().unwrap();
        assert_eq!(v.len(), 42, "{field}: {v}");
        assert!(v.chars().all(|c| c.is_ascii_alphanumeric()), "{field}: {v}");
    }
    assert_ne!(d["client_id"], d["client_secret"]);
    assert_eq!(d["reserved_rate_limit"], json!(10));
    let ts = &d["meta"]["timestamps"];
    assert_rfc3339_millis(&ts["created_at"]);
    assert_eq!(ts["created_at"], ts["updated_at"]);
    assert_eq!(ts["last_used_at"], json!(null));
    assert_eq!(
        d["links"]["self"],
        json!(format!("{}/v2/application-keys/{id}", srv.base))
    );

    // Defaults: reserved_rate_limit 0; unknown fields ignored.
    let r = api
        .post_raw(
            &admin,
            "/v2/application-keys",
            r#"{"data":{"type":"application_key","name":"plain","id":"mine","client_secret":"mine"}}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["data"]["reserved_rate_limit"], json!(0));
    assert_ne!(r.body["data"]["id"], json!("mine"));
    assert_ne!(r.body["data"]["client_secret"], json!("mine"));
    // Trailing slash on the collection.
    let r = api
        .post_raw(
            &admin,
            "/v2/application-keys/",
            r#"{"data":{"type":"application_key","name":"slash"}}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    srv.stop().await;
}

#[tokio::test]
async fn get_returns_the_key_without_its_secret_and_404s_unknown_ids() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let created = api.create_ok(&admin, "k", 3).await;
    let id = created["id"].as_str().unwrap();

    let r = api.get(&admin, &format!("/v2/application-keys/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut want = created.clone();
    want.as_object_mut().unwrap().remove("client_secret");
    assert_eq!(r.body, json!({ "data": want }));

    for unknown in [
        "0c45e4ec-26e0-4043-86e4-c15b9cf985a0".to_owned(),
        "not-a-uuid".to_owned(),
        "x".repeat(500),
    ] {
        let r = api
            .get(&admin, &format!("/v2/application-keys/{unknown}"))
            .await;
        assert_error(&r, 404, NOT_FOUND);
    }
    srv.stop().await;
}

#[tokio::test]
async fn put_updates_name_and_limit_and_keeps_the_rest() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let created = api.create_ok(&admin, "before", 5).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v2/application-keys/{id}");

    let r = api
        .put_raw(
            &admin,
            &path,
            r#"{"data":{"type":"application_key","name":"New Key Name","reserved_rate_limit":15}}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["name"], json!("New Key Name"));
    assert_eq!(d["reserved_rate_limit"], json!(15));
    assert!(d.get("client_secret").is_none(), "{d}");
    assert_eq!(d["id"], created["id"]);
    assert_eq!(d["client_id"], created["client_id"]);
    assert_eq!(d["links"], created["links"]);
    let (before, after) = (&created["meta"]["timestamps"], &d["meta"]["timestamps"]);
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(after["updated_at"].as_str().unwrap() >= before["updated_at"].as_str().unwrap());
    assert_rfc3339_millis(&after["updated_at"]);

    // Absent fields stay as they are.
    let r = api
        .put_raw(
            &admin,
            &path,
            r#"{"data":{"type":"application_key","name":"only name"}}"#,
        )
        .await;
    assert_eq!(r.body["data"]["reserved_rate_limit"], json!(15));
    let r = api
        .put_raw(
            &admin,
            &path,
            r#"{"data":{"type":"application_key","reserved_rate_limit":2}}"#,
        )
        .await;
    assert_eq!(r.body["data"]["name"], json!("only name"));
    assert_eq!(r.body["data"]["reserved_rate_limit"], json!(2));

    // The stored key reflects the update; the secret still works.
    let r = api.get(&admin, &path).await;
    assert_eq!(r.body["data"]["name"], json!("only name"));
    api.token((
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    ))
    .await;

    let r = api
        .put_raw(
            &admin,
            "/v2/application-keys/0c45e4ec-26e0-4043-86e4-c15b9cf985a0",
            r#"{"data":{"type":"application_key","name":"x"}}"#,
        )
        .await;
    assert_error(&r, 404, NOT_FOUND);
    srv.stop().await;
}

#[tokio::test]
async fn delete_answers_204_then_404() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let keep = api.create_ok(&admin, "keep", 1).await;
    let gone = api.create_ok(&admin, "gone", 2).await;
    let path = format!("/v2/application-keys/{}", gone["id"].as_str().unwrap());

    let r = api.delete(&admin, &path).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null);
    assert_error(&api.get(&admin, &path).await, 404, NOT_FOUND);
    assert_error(&api.delete(&admin, &path).await, 404, NOT_FOUND);
    let r = api
        .put_raw(
            &admin,
            &path,
            r#"{"data":{"type":"application_key","name":"x"}}"#,
        )
        .await;
    assert_error(&r, 404, NOT_FOUND);

    let keys = api.list_all(&admin).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], keep["id"]);
    let r = api.get(&admin, "/v2/application-keys").await;
    assert_eq!(r.body["meta"]["total_reserved_rate_limit"], json!(1));
    srv.stop().await;
}

#[tokio::test]
async fn the_secret_appears_only_in_the_create_response() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let created = api.create_ok(&admin, "secretive", 0).await;
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let path = format!("/v2/application-keys/{}", created["id"].as_str().unwrap());

    let responses = [
        api.get(&admin, &path).await,
        api.get(&admin, "/v2/application-keys").await,
        api.put_raw(
            &admin,
            &path,
            r#"{"data":{"type":"application_key","name":"n"}}"#,
        )
        .await,
    ];
    for r in responses {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let text = r.body.to_string();
        assert!(!text.contains("client_secret"), "{text}");
        assert!(!text.contains(&secret), "{text}");
    }

    // Nor is it stored in the clear.
    let state = &srv.running.as_ref().unwrap().state;
    let entries = state.db.scan_prefix(b"e", None, 1000).unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        let haystack = [e.key.as_ref(), e.value.as_ref()].concat();
        assert!(
            !haystack
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "secret stored in the clear"
        );
    }
    srv.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_in_the_errors_shape() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    for path in ["/v2/application-keys/a/b", "/v2/application-keys//"] {
        let r = api.get(&admin, path).await;
        assert_error(&r, 404, "the requested resource does not exist");
    }
    let r = api
        .send(
            api.http
                .patch(api.url("/v2/application-keys"))
                .bearer_auth(&admin),
        )
        .await;
    assert_error(
        &r,
        405,
        "method PATCH is not allowed here; allowed: GET, POST",
    );
    assert_eq!(r.headers["allow"], "GET, POST");
    let r = api
        .send(
            api.http
                .post(api.url("/v2/application-keys/abc"))
                .bearer_auth(&admin),
        )
        .await;
    assert_error(
        &r,
        405,
        "method POST is not allowed here; allowed: GET, PUT, DELETE",
    );
    assert_eq!(r.headers["allow"], "GET, PUT, DELETE");
    srv.stop().await;
}
