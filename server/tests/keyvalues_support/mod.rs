//! Helpers shared by the `keyvalues_*` integration tests: a config with two applications, a
//! client that logs in and speaks the dialect, and assertions on its shapes.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};

pub use crate::common::{Api, Resp};

/// App `demo` has alice (plain password) and hatter (argon2 hash of "teaparty");
/// app `other` has bob.
pub const CONFIG: &str = r#"
[[keyvalues.apps]]
api_key = "demo"
[[keyvalues.apps.users]]
username = "alice"
password = "wonderland"
[[keyvalues.apps.users]]
username = "hatter"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$HASH"

[[keyvalues.apps]]
api_key = "other"
[[keyvalues.apps.users]]
username = "bob"
password = "builder"
"#;

/// The argon2id PHC string of "teaparty" substituted for `$HASH`'s line in `CONFIG`.
pub fn config() -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"somesaltsomesalt").unwrap();
    let hash = argon2::Argon2::default()
        .hash_password(b"teaparty", &salt)
        .unwrap()
        .to_string();
    CONFIG.replace(
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$HASH",
        &hash,
    )
}

// Dialect helpers on the shared client.
impl Api {
    /// `POST /{app}/login` with a form body, as the Baasic SDK sends it.
    pub async fn login_form(&self, app: &str, form: &str) -> Resp {
        self.send(
            self.http
                .post(self.url(&format!("/{app}/login")))
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=UTF-8",
                )
                .body(form.to_owned()),
        )
        .await
    }

    /// Logs in and returns the access token.
    pub async fn token(&self, app: &str, username: &str, password: &str) -> String {
        let form = format!("grant_type=password&username={username}&password={password}");
        let r = self.login_form(app, &form).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn create(&self, app: &str, token: &str, key: &str, value: &str) -> Resp {
        let body = serde_json::json!({"key": key, "value": value}).to_string();
        self.call(
            Method::POST,
            &format!("/{app}/key-values"),
            Some(token),
            Some(&body),
        )
        .await
    }

    /// Creates and returns the new resource's id.
    pub async fn create_ok(&self, app: &str, token: &str, key: &str, value: &str) -> String {
        let r = self.create(app, token, key, value).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, app: &str, token: &str, id_or_key: &str) -> Resp {
        self.call(
            Method::GET,
            &format!("/{app}/key-values/{id_or_key}"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn put(&self, app: &str, token: &str, id: &str, body: &str) -> Resp {
        self.call(
            Method::PUT,
            &format!("/{app}/key-values/{id}"),
            Some(token),
            Some(body),
        )
        .await
    }

    pub async fn delete(&self, app: &str, token: &str, id: &str) -> Resp {
        self.call(
            Method::DELETE,
            &format!("/{app}/key-values/{id}"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn list(&self, app: &str, token: &str, query: &str) -> Resp {
        self.call(
            Method::GET,
            &format!("/{app}/key-values{query}"),
            Some(token),
            None,
        )
        .await
    }
}

/// Asserts an error `{message, error, errorCode, details}` with this status and errorCode.
pub fn assert_error(r: &Resp, status: u16, error_code: u64) {
    assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
    assert_eq!(
        r.body["errorCode"].as_u64(),
        Some(error_code),
        "{:?}",
        r.body
    );
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{:?}",
        r.body
    );
    assert!(r.body["error"].is_string(), "{:?}", r.body);
    let mut fields: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["details", "error", "errorCode", "message"],
        "{:?}",
        r.body
    );
}

/// Asserts a 401 with the RFC 6750 challenge.
pub fn assert_unauthorized(r: &Resp) {
    assert_error(r, 401, 4010);
    assert_eq!(r.body["error"], "invalid_token");
    assert_eq!(
        r.headers["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
}
