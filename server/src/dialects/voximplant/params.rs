//! Request parameters: the query string plus an `application/x-www-form-urlencoded` or
//! `multipart/form-data` body.
//!
//! Precedence: a parameter in the body overrides the same parameter in the query string
//! (PHP's `$_REQUEST` order, which Voximplant's `platform_api` follows for form posts). Within
//! one source the first occurrence of a name wins. Unknown names are ignored: SDKs send more
//! than a method needs.
//!
//! Decoding is strict: a value that is not UTF-8 after percent-decoding is a 400, never a
//! silently replaced character (`form_urlencoded::parse` would substitute U+FFFD, so this
//! module splits and percent-decodes itself).

use std::borrow::Cow;
use std::convert::Infallible;

use bytes::Bytes;
use hyper::header::CONTENT_TYPE;
use hyper::StatusCode;
use multer::{Constraints, Multipart, SizeLimit};

use super::error::{VoxError, CODE_UNSUPPORTED_MEDIA_TYPE};
use crate::http::{self, Req};

/// Most parameters read from one source (query string or body).
pub const PARAMS_MAX: usize = 64;
/// Largest multipart field, in bytes. The largest legitimate field is a 2000-character
/// value (at most 8000 bytes of UTF-8).
pub const MULTIPART_FIELD_BYTES_MAX: u64 = 16 * 1024;

/// The decoded parameters of one request.
#[derive(Debug, Default)]
pub struct Params {
    query: Vec<(String, String)>,
    body: Vec<(String, String)>,
}

impl Params {
    /// Reads the query string and, if the body is not empty, the form or multipart body.
    pub async fn from_request(req: &Req) -> Result<Params, VoxError> {
        let query = decode_form(req.query.as_bytes())?;
        let body = if req.body.is_empty() {
            Vec::new()
        } else {
            match http::media_type(&req.headers).as_deref() {
                Some("application/x-www-form-urlencoded") => decode_form(&req.body)?,
                Some("multipart/form-data") => {
                    // The boundary is a parameter of the full header value.
                    let content_type = req
                        .headers
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    decode_multipart(content_type, req.body.clone()).await?
                }
                other => {
                    return Err(VoxError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        CODE_UNSUPPORTED_MEDIA_TYPE,
                        format!(
                            "unsupported Content-Type {:?}: send application/x-www-form-urlencoded or multipart/form-data",
                            other.unwrap_or("")
                        ),
                    ))
                }
            }
        };
        Ok(Params { query, body })
    }

    /// Builds parameters directly (tests).
    #[cfg(test)]
    pub fn from_pairs(query: &[(&str, &str)], body: &[(&str, &str)]) -> Params {
        let own = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Params {
            query: own(query),
            body: own(body),
        }
    }

    /// The value of `name`: from the body if it is there, else from the query string.
    pub fn get(&self, name: &str) -> Option<&str> {
        http::param(&self.body, name).or_else(|| http::param(&self.query, name))
    }
}

/// Decodes `name=value&...` (a query string or a form body) strictly.
fn decode_form(input: &[u8]) -> Result<Vec<(String, String)>, VoxError> {
    let mut pairs = Vec::new();
    for piece in input.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        if pairs.len() == PARAMS_MAX {
            return Err(too_many_params());
        }
        let (name, value) = match piece.iter().position(|b| *b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &[][..]),
        };
        pairs.push((decode_component(name)?, decode_component(value)?));
    }
    Ok(pairs)
}

/// `+` is a space, `%XX` a byte; the result must be UTF-8.
fn decode_component(raw: &[u8]) -> Result<String, VoxError> {
    let spaced: Cow<[u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let bytes: Cow<[u8]> = percent_encoding::percent_decode(&spaced).into();
    String::from_utf8(bytes.into_owned())
        .map_err(|_| VoxError::invalid("parameters must be UTF-8 after percent-decoding"))
}

async fn decode_multipart(
    content_type: &str,
    body: Bytes,
) -> Result<Vec<(String, String)>, VoxError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| VoxError::invalid("multipart/form-data without a boundary"))?;
    let whole = body.len() as u64;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    // The router already bounded the body; these limits bound each field and the field count.
    let constraints = Constraints::new().size_limit(
        SizeLimit::new()
            .whole_stream(whole)
            .per_field(MULTIPART_FIELD_BYTES_MAX),
    );
    let mut multipart = Multipart::with_constraints(stream, boundary, constraints);
    let mut pairs = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e)),
        };
        if pairs.len() == PARAMS_MAX {
            return Err(too_many_params());
        }
        let name = field
            .name()
            .ok_or_else(|| VoxError::invalid("multipart field without a name"))?
            .to_owned();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        let value = String::from_utf8(bytes.to_vec())
            .map_err(|_| VoxError::invalid(format!("parameter {name:?} is not UTF-8")))?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

fn multipart_error(e: multer::Error) -> VoxError {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. } => VoxError::invalid(format!(
            "multipart field {:?} is larger than {MULTIPART_FIELD_BYTES_MAX} bytes",
            field_name.unwrap_or_default()
        )),
        other => VoxError::invalid(format!("malformed multipart body: {other}")),
    }
}

fn too_many_params() -> VoxError {
    VoxError::invalid(format!("more than {PARAMS_MAX} parameters"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;
    use hyper::{HeaderMap, Method};

    fn req(query: &str, content_type: Option<&str>, body: &[u8]) -> Req {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        Req {
            method: Method::POST,
            path: "/platform_api".into(),
            query: query.into(),
            headers,
            body: Bytes::copy_from_slice(body),
        }
    }

    #[tokio::test]
    async fn query_string_is_decoded() {
        let p = Params::from_request(&req("key=a%3Ab+c&value=%D1%91&empty=&flag", None, b""))
            .await
            .unwrap();
        assert_eq!(p.get("key"), Some("a:b c"));
        assert_eq!(p.get("value"), Some("ё"));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.get("missing"), None);
    }

    #[tokio::test]
    async fn body_overrides_query_and_first_occurrence_wins() {
        let p = Params::from_request(&req(
            "key=from-query&ttl=5",
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"key=from-body&key=second",
        ))
        .await
        .unwrap();
        assert_eq!(p.get("key"), Some("from-body"));
        assert_eq!(p.get("ttl"), Some("5"));
    }

    #[tokio::test]
    async fn invalid_utf8_is_refused_not_replaced() {
        let err = Params::from_request(&req("key=%FF", None, b""))
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.code, 101);
        let err = Params::from_request(&req(
            "",
            Some("application/x-www-form-urlencoded"),
            b"value=%C3",
        ))
        .await
        .unwrap_err();
        assert_eq!(err.code, 101);
    }

    #[tokio::test]
    async fn multipart_body_is_read() {
        let body = b"--XyZ\r\n\
Content-Disposition: form-data; name=\"key\"\r\n\r\n\
\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"value\"\r\n\r\n\
line1\r\nline2\r\n\
--XyZ--\r\n";
        let p = Params::from_request(&req(
            "key=query",
            Some("multipart/form-data; boundary=XyZ"),
            body,
        ))
        .await
        .unwrap();
        assert_eq!(p.get("key"), Some("ключ"));
        assert_eq!(p.get("value"), Some("line1\r\nline2"));
    }

    #[tokio::test]
    async fn malformed_multipart_is_a_400() {
        let err = Params::from_request(&req("", Some("multipart/form-data"), b"whatever"))
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let err = Params::from_request(&req(
            "",
            Some("multipart/form-data; boundary=XyZ"),
            b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nno end",
        ))
        .await
        .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn oversized_multipart_field_is_refused() {
        let mut body = b"--B\r\nContent-Disposition: form-data; name=\"value\"\r\n\r\n".to_vec();
        body.extend(std::iter::repeat_n(
            b'a',
            MULTIPART_FIELD_BYTES_MAX as usize + 1,
        ));
        body.extend_from_slice(b"\r\n--B--\r\n");
        let err = Params::from_request(&req("", Some("multipart/form-data; boundary=B"), &body))
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.msg.contains("value"), "{}", err.msg);
    }

    #[tokio::test]
    async fn too_many_parameters_are_refused() {
        let query: Vec<String> = (0..=PARAMS_MAX).map(|i| format!("p{i}=1")).collect();
        let err = Params::from_request(&req(&query.join("&"), None, b""))
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let ok: Vec<String> = (0..PARAMS_MAX).map(|i| format!("p{i}=1")).collect();
        assert!(Params::from_request(&req(&ok.join("&"), None, b""))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn other_content_types_are_refused_but_empty_bodies_are_fine() {
        let err = Params::from_request(&req("", Some("application/json"), b"{\"key\":1}"))
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(err.code, CODE_UNSUPPORTED_MEDIA_TYPE);
        let err = Params::from_request(&req("", None, b"key=a"))
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let p = Params::from_request(&req("key=a", Some("application/json"), b""))
            .await
            .unwrap();
        assert_eq!(p.get("key"), Some("a"));
    }
}
