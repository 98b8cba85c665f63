//! Helpers shared by the `keystore_*` integration tests: a config with two workspaces, a
//! client speaking the dialect, and assertions on its shapes.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::TestServer;

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

/// A response: status, headers and the JSON body.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// A client for one test server.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(srv: &TestServer) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: srv.base.clone(),
        }
    }

    /// Sends `method path` with `Authorization: Bearer token` (if any) and a raw JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("body is JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        Resp {
            status,
            headers,
            body,
        }
    }

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
