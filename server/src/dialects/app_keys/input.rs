//! Parsing and validation of request input: pure functions, no I/O. Every failure is the
//! `detail` of a 400 in the dialect's error shape.

use serde_json::{Map, Value};

/// The only accepted `data.type`.
pub const KEY_TYPE: &str = "application_key";
/// Longest `name`, in characters (Unicode scalar values).
pub const NAME_CHARS_MAX: usize = 255;
/// Page size when `page[limit]` is absent.
pub const PAGE_LIMIT_DEFAULT: u64 = 25;
/// Largest `page[limit]`.
pub const PAGE_LIMIT_MAX: u64 = 100;
/// Largest `page[offset]` (Elastic Path's documented maximum).
pub const PAGE_OFFSET_MAX: u64 = 10_000;

/// A validated `POST /v2/application-keys` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateInput {
    pub name: String,
    pub reserved_rate_limit: u64,
}

/// A validated `PUT /v2/application-keys/{id}` body: absent fields stay unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateInput {
    pub name: Option<String>,
    pub reserved_rate_limit: Option<u64>,
}

/// Validates a create body: `{"data":{"type":"application_key","name":..,"reserved_rate_limit"?:..}}`.
pub fn parse_create(body: &[u8]) -> Result<CreateInput, String> {
    let data = parse_data(body)?;
    let name = name_field(&data)?.ok_or_else(|| required("name"))?;
    let reserved_rate_limit = rate_limit_field(&data)?.unwrap_or(0);
    Ok(CreateInput {
        name,
        reserved_rate_limit,
    })
}

/// Validates an update body: `{"data":{"type":"application_key","name"?:..,"reserved_rate_limit"?:..}}`.
pub fn parse_update(body: &[u8]) -> Result<UpdateInput, String> {
    let data = parse_data(body)?;
    Ok(UpdateInput {
        name: name_field(&data)?,
        reserved_rate_limit: rate_limit_field(&data)?,
    })
}

fn required(field: &str) -> String {
    format!("The field '{field}' is required.")
}

/// The `data` object of a JSON:API-style body, with its `type` checked.
fn parse_data(body: &[u8]) -> Result<Map<String, Value>, String> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| format!("The request body is not valid JSON: {e}."))?;
    let Value::Object(mut root) = root else {
        return Err("The request body must be a JSON object.".into());
    };
    let data = match root.remove("data") {
        None | Some(Value::Null) => return Err(required("data")),
        Some(Value::Object(data)) => data,
        Some(_) => return Err("The field 'data' must be an object.".into()),
    };
    match data.get("type") {
        None | Some(Value::Null) => Err(required("type")),
        Some(Value::String(t)) if t == KEY_TYPE => Ok(data),
        Some(_) => Err(format!("The field 'type' must be '{KEY_TYPE}'.")),
    }
}

/// `name`: absent or null → `None`; otherwise a string of 1..=255 characters.
fn name_field(data: &Map<String, Value>) -> Result<Option<String>, String> {
    match data.get("name") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => {
            if name.is_empty() {
                return Err("The field 'name' must not be empty.".into());
            }
            if name.chars().count() > NAME_CHARS_MAX {
                return Err(format!(
                    "The field 'name' must be at most {NAME_CHARS_MAX} characters."
                ));
            }
            Ok(Some(name.clone()))
        }
        Some(_) => Err("The field 'name' must be a string.".into()),
    }
}

/// `reserved_rate_limit`: absent or null → `None`; otherwise an integer ≥ 0.
fn rate_limit_field(data: &Map<String, Value>) -> Result<Option<u64>, String> {
    match data.get("reserved_rate_limit") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(Some(v))
            } else if n.is_i64() {
                Err("The field 'reserved_rate_limit' must be greater than or equal to 0.".into())
            } else {
                Err("The field 'reserved_rate_limit' must be an integer.".into())
            }
        }
        Some(_) => Err("The field 'reserved_rate_limit' must be an integer.".into()),
    }
}

/// Validated pagination of `GET /v2/application-keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u64,
    pub offset: u64,
}

/// Reads `page[limit]` (1..=100, default 25) and `page[offset]` (0..=10000, default 0) from a
/// query string. Other parameters are ignored.
pub fn parse_page(query: &str) -> Result<Page, String> {
    let mut page = Page {
        limit: PAGE_LIMIT_DEFAULT,
        offset: 0,
    };
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "page[limit]" => {
                page.limit = v
                    .parse::<u64>()
                    .ok()
                    .filter(|l| (1..=PAGE_LIMIT_MAX).contains(l))
                    .ok_or_else(|| {
                        format!("page[limit] must be an integer between 1 and {PAGE_LIMIT_MAX}.")
                    })?;
            }
            "page[offset]" => {
                page.offset = v
                    .parse::<u64>()
                    .ok()
                    .filter(|o| *o <= PAGE_OFFSET_MAX)
                    .ok_or_else(|| {
                        format!("page[offset] must be an integer between 0 and {PAGE_OFFSET_MAX}.")
                    })?;
            }
            _ => {}
        }
    }
    Ok(page)
}

/// The fields of a `POST /oauth/access_token` request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// Reads a token request. Elastic Path documents form fields (and its own curl example sends
/// them under a JSON content type), so the body is read as a form unless it is declared JSON
/// *and* is a JSON object, in which case its string fields are used.
pub fn parse_token_request(media_type: Option<&str>, body: &[u8]) -> TokenRequest {
    let looks_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if media_type == Some("application/json") && looks_json {
        #[derive(serde::Deserialize)]
        struct JsonTokenRequest {
            grant_type: Option<String>,
            client_id: Option<String>,
            client_secret: Option<String>,
        }
        if let Ok(j) = serde_json::from_slice::<JsonTokenRequest>(body) {
            return TokenRequest {
                grant_type: j.grant_type,
                client_id: j.client_id,
                client_secret: j.client_secret,
            };
        }
    }
    let mut req = TokenRequest::default();
    for (k, v) in form_urlencoded::parse(body) {
        let slot = match k.as_ref() {
            "grant_type" => &mut req.grant_type,
            "client_id" => &mut req.client_id,
            "client_secret" => &mut req.client_secret,
            _ => continue,
        };
        // The first occurrence wins, as with `http::param`.
        if slot.is_none() {
            *slot = Some(v.into_owned());
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(body: &str) -> Result<CreateInput, String> {
        parse_create(body.as_bytes())
    }

    #[test]
    fn create_accepts_the_documented_body() {
        assert_eq!(
            create(
                r#"{"data":{"type":"application_key","name":"App Key","reserved_rate_limit":10}}"#
            ),
            Ok(CreateInput {
                name: "App Key".into(),
                reserved_rate_limit: 10
            })
        );
        assert_eq!(
            create(r#"{"data":{"type":"application_key","name":"k","extra":[1,2]}}"#),
            Ok(CreateInput {
                name: "k".into(),
                reserved_rate_limit: 0
            })
        );
        let max_name = "é".repeat(NAME_CHARS_MAX);
        let body = format!(r#"{{"data":{{"type":"application_key","name":"{max_name}"}}}}"#);
        assert_eq!(create(&body).unwrap().name, max_name);
    }

    #[test]
    fn create_validation_table() {
        let long = "a".repeat(NAME_CHARS_MAX + 1);
        let long_body = format!(r#"{{"data":{{"type":"application_key","name":"{long}"}}}}"#);
        let cases: &[(&str, &str)] = &[
            ("", "The request body is not valid JSON"),
            ("{", "The request body is not valid JSON"),
            ("[]", "The request body must be a JSON object."),
            ("{}", "The field 'data' is required."),
            (r#"{"data":null}"#, "The field 'data' is required."),
            (r#"{"data":"x"}"#, "The field 'data' must be an object."),
            (r#"{"data":{"name":"k"}}"#, "The field 'type' is required."),
            (
                r#"{"data":{"type":"app_key","name":"k"}}"#,
                "The field 'type' must be 'application_key'.",
            ),
            (
                r#"{"data":{"type":1,"name":"k"}}"#,
                "The field 'type' must be 'application_key'.",
            ),
            (
                r#"{"data":{"type":"application_key"}}"#,
                "The field 'name' is required.",
            ),
            (
                r#"{"data":{"type":"application_key","name":null}}"#,
                "The field 'name' is required.",
            ),
            (
                r#"{"data":{"type":"application_key","name":""}}"#,
                "The field 'name' must not be empty.",
            ),
            (
                &long_body,
                "The field 'name' must be at most 255 characters.",
            ),
            (
                r#"{"data":{"type":"application_key","name":7}}"#,
                "The field 'name' must be a string.",
            ),
            (
                r#"{"data":{"type":"application_key","name":"k","reserved_rate_limit":-1}}"#,
                "The field 'reserved_rate_limit' must be greater than or equal to 0.",
            ),
            (
                r#"{"data":{"type":"application_key","name":"k","reserved_rate_limit":1.5}}"#,
                "The field 'reserved_rate_limit' must be an integer.",
            ),
            (
                r#"{"data":{"type":"application_key","name":"k","reserved_rate_limit":"5"}}"#,
                "The field 'reserved_rate_limit' must be an integer.",
            ),
            (
                r#"{"data":{"type":"application_key","name":"k","reserved_rate_limit":true}}"#,
                "The field 'reserved_rate_limit' must be an integer.",
            ),
        ];
        for (body, want) in cases {
            let got = create(body).expect_err(body);
            assert!(got.starts_with(want), "{body}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn update_keeps_absent_fields() {
        assert_eq!(
            parse_update(br#"{"data":{"type":"application_key"}}"#),
            Ok(UpdateInput {
                name: None,
                reserved_rate_limit: None
            })
        );
        assert_eq!(
            parse_update(br#"{"data":{"type":"application_key","reserved_rate_limit":3}}"#),
            Ok(UpdateInput {
                name: None,
                reserved_rate_limit: Some(3)
            })
        );
        assert!(parse_update(br#"{"data":{"name":"x"}}"#).is_err());
        assert!(parse_update(br#"{"data":{"type":"application_key","name":""}}"#).is_err());
    }

    #[test]
    fn pages() {
        assert_eq!(
            parse_page(""),
            Ok(Page {
                limit: PAGE_LIMIT_DEFAULT,
                offset: 0
            })
        );
        assert_eq!(
            parse_page("page[limit]=100&page[offset]=10000"),
            Ok(Page {
                limit: 100,
                offset: 10_000
            })
        );
        assert_eq!(
            parse_page("page%5Blimit%5D=3&filter=eq(name,x)"),
            Ok(Page {
                limit: 3,
                offset: 0
            })
        );
        for bad in [
            "page[limit]=101",
            "page[limit]=0",
            "page[limit]=-1",
            "page[limit]=x",
            "page[limit]=",
            "page[offset]=10001",
            "page[offset]=-5",
            "page[offset]=1.5",
        ] {
            assert!(parse_page(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_requests_from_forms_and_json() {
        let want = TokenRequest {
            grant_type: Some("client_credentials".into()),
            client_id: Some("a b".into()),
            client_secret: Some("s&t".into()),
        };
        let form = b"grant_type=client_credentials&client_id=a+b&client_secret=s%26t";
        assert_eq!(
            parse_token_request(Some("application/x-www-form-urlencoded"), form),
            want
        );
        // Elastic Path's own curl example: form fields under a JSON content type.
        assert_eq!(parse_token_request(Some("application/json"), form), want);
        let json =
            br#" {"grant_type":"client_credentials","client_id":"a b","client_secret":"s&t"}"#;
        assert_eq!(parse_token_request(Some("application/json"), json), want);
        assert_eq!(parse_token_request(None, b""), TokenRequest::default());
    }
}
