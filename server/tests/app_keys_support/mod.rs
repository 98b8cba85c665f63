//! Helpers shared by the `app_keys_*` integration tests: a two-store config, an HTTP client
//! speaking the dialect, and assertions on its error shape.
#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::{json, Value};

pub use crate::common::{Api, Resp};

/// Two stores with different budgets.
pub const CONFIG: &str = r#"
[[app_keys.stores]]
store_id = "store-1"
rate_limit = 100
client_id = "admin-client"
client_secret = "admin-secret"

[[app_keys.stores]]
store_id = "store-2"
rate_limit = 50
client_id = "admin-client-2"
client_secret = "admin-secret-2"
"#;

pub const ADMIN_1: (&str, &str) = ("admin-client", "admin-secret");
pub const ADMIN_2: (&str, &str) = ("admin-client-2", "admin-secret-2");

// Dialect helpers on the shared client.
impl Api {
    /// `POST /oauth/access_token` with a form body.
    pub async fn token_request(&self, form: &str) -> Resp {
        self.send(
            self.http
                .post(self.url("/oauth/access_token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.to_owned()),
        )
        .await
    }

    /// A client-credentials token (asserts success).
    pub async fn token(&self, (client_id, secret): (&str, &str)) -> String {
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            enc(client_id),
            enc(secret)
        );
        let r = self.token_request(&form).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.send(self.http.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.send(self.http.delete(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post_raw(&self, token: &str, path: &str, body: &str) -> Resp {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }

    pub async fn put_raw(&self, token: &str, path: &str, body: &str) -> Resp {
        self.send(
            self.http
                .put(self.url(path))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }

    /// `POST /v2/application-keys` with `name` and `reserved_rate_limit`.
    pub async fn create(&self, token: &str, name: &str, rrl: u64) -> Resp {
        let body =
            json!({"data": {"type": "application_key", "name": name, "reserved_rate_limit": rrl}});
        self.post_raw(token, "/v2/application-keys", &body.to_string())
            .await
    }

    /// Creates a key and returns its `data` (asserts 201).
    pub async fn create_ok(&self, token: &str, name: &str, rrl: u64) -> Value {
        let r = self.create(token, name, rrl).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["data"].clone()
    }

    /// Every key of the caller's store, following `links.next`.
    pub async fn list_all(&self, token: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = "/v2/application-keys?page[limit]=100".to_owned();
        loop {
            let r = self.get(token, &path).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            out.extend(
                r.body["data"]
                    .as_array()
                    .expect("data array")
                    .iter()
                    .cloned(),
            );
            match r.body["links"]["next"].as_str() {
                Some(next) => path = next.to_owned(),
                None => return out,
            }
        }
    }
}

/// Percent-encodes a form value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Asserts the dialect's error shape: exactly one error with this status and detail.
pub fn assert_error(r: &Resp, status: u16, detail: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    let errors = r.body["errors"].as_array().expect("errors array");
    assert_eq!(errors.len(), 1, "{}", r.body);
    let e = &errors[0];
    assert_eq!(e["status"], json!(status.to_string()), "{}", r.body);
    let reason = StatusCode::from_u16(status)
        .unwrap()
        .canonical_reason()
        .unwrap();
    assert_eq!(e["title"], json!(reason), "{}", r.body);
    assert_eq!(e["detail"], json!(detail), "{}", r.body);
}

/// Asserts the error shape and status, and that `detail` starts with `prefix`.
pub fn assert_error_prefix(r: &Resp, status: u16, prefix: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    let e = &r.body["errors"][0];
    assert_eq!(e["status"], json!(status.to_string()), "{}", r.body);
    let detail = e["detail"].as_str().expect("detail");
    assert!(detail.starts_with(prefix), "{detail:?} vs {prefix:?}");
}

pub const OVER_BUDGET: &str = "requested reserved rate limit will exceed the maximum";
pub const NOT_FOUND: &str = "application key not found";
