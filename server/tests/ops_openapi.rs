//! `GET /openapi.json` is an OpenAPI 3.1 document listing every endpoint of the contract, with
//! each dialect's own error schema, and every `$ref` in it resolves.

mod common;

use std::collections::HashSet;

use common::TestServer;
use serde_json::Value;

/// (path, methods) of every endpoint in CONTRACT §3-§4.
const ENDPOINTS: &[(&str, &[&str])] = &[
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/metrics", &["get"]),
    ("/openapi.json", &["get"]),
    ("/admin/checkpoint", &["post"]),
    ("/{apiKey}/key-values", &["post", "get"]),
    ("/{apiKey}/key-values/{id}", &["get", "put", "delete"]),
    ("/{apiKey}/login", &["post"]),
    ("/v2/application-keys", &["post", "get"]),
    ("/v2/application-keys/{id}", &["get", "put", "delete"]),
    ("/oauth/access_token", &["post"]),
    ("/v1/key-store/", &["post", "get"]),
    ("/v1/key-store/{key}", &["get", "put", "delete"]),
    ("/platform_api/SetKeyValueItem", &["get", "post"]),
    ("/platform_api/GetKeyValueItem", &["get", "post"]),
    ("/platform_api/GetKeyValueItems", &["get", "post"]),
    ("/platform_api/GetKeyValueKeys", &["get", "post"]),
    ("/platform_api/DelKeyValueItem", &["get", "post"]),
    ("/platform_api", &["post"]),
];

/// The error schema each dialect's paths must use.
fn error_schema(path: &str) -> Option<&'static str> {
    if path.starts_with("/v1/key-store") {
        Some("KeyStoreError")
    } else if path.starts_with("/v2/") || path.starts_with("/oauth/") {
        Some("AppKeysErrors")
    } else if path.starts_with("/platform_api") {
        Some("VoximplantError")
    } else if path.starts_with("/{apiKey}") {
        Some("KeyValuesError")
    } else {
        None
    }
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Every `$ref` string under `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_covers_every_endpoint() {
    let srv = TestServer::start_default().await;
    let resp = common::client()
        .get(srv.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.expect("valid JSON");
    srv.stop().await;

    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");

    let mut operation_ids = HashSet::new();
    for (path, methods) in ENDPOINTS {
        let item = paths.get(*path).unwrap_or_else(|| panic!("{path} missing"));
        for method in *methods {
            let op = &item[*method];
            assert!(op.is_object(), "{method} {path} missing");
            let id = op["operationId"].as_str().expect("operationId");
            assert!(
                operation_ids.insert(id.to_owned()),
                "duplicate operationId {id}"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|code| code.starts_with('2')),
                "{method} {path} has no success response"
            );
            if let Some(schema) = error_schema(path) {
                // Every error response is in the dialect's own shape.
                let mut errors = 0;
                for (code, r) in responses.iter().filter(|(c, _)| !c.starts_with('2')) {
                    let r = match r.get("$ref").and_then(Value::as_str) {
                        Some(reference) => resolve(&doc, reference).expect("resolves"),
                        None => r,
                    };
                    let mut found = Vec::new();
                    refs(r, &mut found);
                    assert!(
                        found.contains(&format!("#/components/schemas/{schema}")),
                        "{method} {path} {code} is not a {schema}"
                    );
                    errors += 1;
                }
                assert!(errors >= 2, "{method} {path} documents no errors");
            }
        }
    }
    // Nothing undocumented sneaks in either.
    assert_eq!(paths.len(), ENDPOINTS.len());

    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for reference in all {
        assert!(resolve(&doc, &reference).is_some(), "dangling {reference}");
    }
}

#[test]
fn the_embedded_document_is_the_file() {
    let file = include_str!("../openapi.json");
    assert_eq!(strata_server::ops::OPENAPI_JSON, file);
    let _: Value = serde_json::from_str(file).expect("valid JSON");
}
