//! `GET /{apiKey}/key-values`: paging (`page`, `rpp`), `sort`, `searchQuery`, the HAL links of
//! the list, and 400 on bad parameters.

mod common;
mod keyvalues_support;

use common::TestServer;
use keyvalues_support::*;
use serde_json::{json, Value};

fn keys(list: &Value) -> Vec<&str> {
    list["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect()
}

fn link(list: &Value, rel: &str) -> Option<String> {
    let l = &list["_links"][rel];
    if l.is_null() {
        return None;
    }
    assert_eq!(l["templated"], false);
    Some(l["href"].as_str().unwrap().to_owned())
}

/// Creates `(key, value)` pairs in this order (so `dateCreated` follows it).
async fn seed(api: &Api, token: &str, items: &[(&str, &str)]) {
    for (key, value) in items {
        api.create_ok("demo", token, key, value).await;
        // Distinct creation milliseconds, so dateCreated orders them.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
}

#[tokio::test]
async fn pages_with_defaults_and_links() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let items: Vec<(String, String)> = (0..12)
        .map(|i| (format!("k{i:02}"), format!("v{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = items
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    seed(&api, &token, &refs).await;

    // Defaults: page 1, 10 per page, key order.
    let r = api.list("demo", &token, "").await;
    assert_eq!(r.status, 200);
    let l = &r.body;
    assert_eq!(
        keys(l),
        ["k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09"]
    );
    assert_eq!(
        (
            l["page"].clone(),
            l["recordsPerPage"].clone(),
            l["totalRecords"].clone()
        ),
        (json!(1), json!(10), json!(12))
    );
    assert_eq!(
        (l["searchQuery"].clone(), l["sort"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(link(l, "self").unwrap(), "/demo/key-values?page=1&rpp=10");
    assert_eq!(link(l, "first").unwrap(), "/demo/key-values?page=1&rpp=10");
    assert_eq!(link(l, "next").unwrap(), "/demo/key-values?page=2&rpp=10");
    assert_eq!(link(l, "last").unwrap(), "/demo/key-values?page=2&rpp=10");
    assert_eq!(link(l, "previous"), None);
    // Items are whole resources with their own links.
    let first = &l["item"][0];
    let id = first["id"].as_str().unwrap();
    assert_eq!(
        first["_links"]["self"]["href"],
        format!("/demo/key-values/{id}")
    );
    assert_eq!(first, &api.get("demo", &token, id).await.body);

    // Following `next` gives the rest.
    let r = api.list("demo", &token, "?page=2&rpp=10").await;
    assert_eq!(keys(&r.body), ["k10", "k11"]);
    assert_eq!(
        link(&r.body, "previous").unwrap(),
        "/demo/key-values?page=1&rpp=10"
    );
    assert_eq!(link(&r.body, "next"), None);

    let r = api.list("demo", &token, "?page=3&rpp=5").await;
    assert_eq!(keys(&r.body), ["k10", "k11"]);
    // Past the end: empty, still 200.
    let r = api.list("demo", &token, "?page=7&rpp=5").await;
    assert_eq!(r.status, 200);
    assert!(keys(&r.body).is_empty());
    assert_eq!(r.body["totalRecords"], 12);
    srv.stop().await;
}

#[tokio::test]
async fn sorts_by_each_field_and_direction() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    seed(
        &api,
        &token,
        &[("b", "2"), ("c", "1"), ("a", "3"), ("d", "1")],
    )
    .await;

    let cases: &[(&str, &[&str])] = &[
        ("key|asc", &["a", "b", "c", "d"]),
        ("key|desc", &["d", "c", "b", "a"]),
        ("dateCreated|asc", &["b", "c", "a", "d"]),
        ("dateCreated|desc", &["d", "a", "c", "b"]),
        ("value|desc,key|desc", &["a", "b", "d", "c"]),
        ("value,key|desc", &["d", "c", "b", "a"]),
        ("DATECREATED|DESC", &["d", "a", "c", "b"]),
    ];
    for (sort, expected) in cases {
        let r = api
            .list(
                "demo",
                &token,
                &format!("?sort={}", sort.replace('|', "%7C")),
            )
            .await;
        assert_eq!(r.status, 200, "{sort}: {:?}", r.body);
        assert_eq!(&keys(&r.body), expected, "{sort}");
        assert_eq!(r.body["sort"], *sort);
    }

    // Updating `c` makes it the most recently updated.
    let c = api.get("demo", &token, "c").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.put("demo", &token, &c, r#"{"value":"1"}"#).await;
    let r = api
        .list("demo", &token, "?sort=dateUpdated|desc&rpp=1")
        .await;
    assert_eq!(keys(&r.body), ["c"]);
    assert_eq!(
        link(&r.body, "next").unwrap(),
        "/demo/key-values?page=2&rpp=1&sort=dateUpdated%7Cdesc"
    );
    srv.stop().await;
}

#[tokio::test]
async fn search_matches_key_or_value_ignoring_case() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    seed(
        &api,
        &token,
        &[
            ("theme-color", "blue"),
            ("font", "Serif"),
            ("Colour-scheme", "dark"),
            ("size", "COLORFUL"),
        ],
    )
    .await;
    let r = api.list("demo", &token, "?searchQuery=color").await;
    assert_eq!(keys(&r.body), ["size", "theme-color"]);
    assert_eq!(r.body["totalRecords"], 2);
    assert_eq!(r.body["searchQuery"], "color");
    assert_eq!(
        link(&r.body, "self").unwrap(),
        "/demo/key-values?searchQuery=color&page=1&rpp=10"
    );

    let r = api.list("demo", &token, "?searchQuery=SERIF").await;
    assert_eq!(keys(&r.body), ["font"]);
    let r = api
        .list(
            "demo",
            &token,
            "?searchQuery=col&rpp=2&page=2&sort=key|desc",
        )
        .await;
    assert_eq!(r.body["totalRecords"], 3);
    assert_eq!(keys(&r.body), ["Colour-scheme"]);
    let r = api
        .list("demo", &token, "?searchQuery=nothing-matches")
        .await;
    assert!(keys(&r.body).is_empty());
    assert_eq!(r.body["totalRecords"], 0);
    srv.stop().await;
}

#[tokio::test]
async fn bad_parameters_are_400() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let long_search = format!("?searchQuery={}", "q".repeat(257));
    for query in [
        "?page=0",
        "?page=abc",
        "?rpp=0",
        "?rpp=1001",
        "?page=11&rpp=1000",
        "?sort=color",
        "?sort=key|sideways",
        long_search.as_str(),
    ] {
        assert_error(&api.list("demo", &token, query).await, 400, 4002);
    }
    // Accepted and ignored, as Baasic SDKs may send them.
    let r = api.list("demo", &token, "?embed=x&fields=key").await;
    assert_eq!(r.status, 200);
    srv.stop().await;
}
