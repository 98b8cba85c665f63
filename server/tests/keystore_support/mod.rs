//! Helpers shared by the `keystore_*` integration tests: a config with two workspaces, a
//! client speaking the dialect, and assertions on its shapes.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use crate::common::{Api, Resp};

/// Alice and Bob share workspace `ws-one`; Carol is alone in `ws-two`.
pub const CONFIG: &str = r#"
[[keystore.users]]
token = "tok-alice"
user_id = "aaaaaaaaaaaaaaaaaaaaaaaa"
workspace = "ws-one"

[[keystore.users]]
token = "tok-bob"
user_id = "bbbbbbbbbbbbbbbbbbbbbbbb"
workspace = "ws-one"

[[keystore.users]]
token = "tok-carol"
user_id = "cccccccccccccccccccccccc"
workspace = "ws-two"
"#;

pub const ALICE: &str = "tok-alice";
pub const BOB: &str = "tok-bob";
pub const CAROL: &str = "tok-carol";
pub const ALICE_ID: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
pub const BOB_ID: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";
pub const CAROL_ID: &str = "cccccccccccccccccccccccc";

// Dialect helpers on the shared client.
impl Api {
    pub async fn create(&self, token: &str, body: &str) -> Resp {
        self.call(Method::POST, "/v1/key-store/", Some(token), Some(body))
            .await
    }

    pub async fn get(&self, token: &str, key: &str) -> Resp {
        self.call(
            Method::GET,
            &format!("/v1/key-store/{key}"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn put(&self, token: &str, key: &str, body: &str) -> Resp {
        self.call(
            Method::PUT,
            &format!("/v1/key-store/{key}"),
            Some(token),
            Some(body),
        )
        .await
    }

    pub async fn delete(&self, token: &str, key: &str) -> Resp {
        self.call(
            Method::DELETE,
            &format!("/v1/key-store/{key}"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn list(&self, token: &str, query: &str) -> Resp {
        self.call(
            Method::GET,
            &format!("/v1/key-store/{query}"),
            Some(token),
            None,
        )
        .await
    }
}

/// Asserts a success `{"status":true,"data":{"key","data","createdBy"}}` exactly.
pub fn assert_item(r: &Resp, key: &str, data: Value, created_by: &str) {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body,
        serde_json::json!({"status": true, "data": {"key": key, "data": data, "createdBy": created_by}})
    );
}

/// Asserts an error `{"status":false,"error":{"code","message"}}` with this status and code.
pub fn assert_error(r: &Resp, status: u16, code: u64) {
    assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
    assert_eq!(r.body["status"], Value::Bool(false), "{:?}", r.body);
    assert_eq!(r.body["error"]["code"].as_u64(), Some(code), "{:?}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{:?}",
        r.body
    );
    let mut fields: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["error", "status"], "{:?}", r.body);
}
