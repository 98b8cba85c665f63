//! Keys are unique per application: a duplicate create and a PUT renaming onto a used key are
//! 409 and change nothing; a rename frees the old key. Concurrent creates of one key through
//! HTTP have exactly one winner.

mod common;
mod keyvalues_support;

use common::TestServer;
use keyvalues_support::*;
use reqwest::StatusCode;

/// Concurrent requests in the race.
const RACERS: usize = 16;

#[tokio::test]
async fn duplicate_create_is_409() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let id = api.create_ok("demo", &token, "taken", "first").await;
    let r = api.create("demo", &token, "taken", "second").await;
    assert_error(&r, 409, 4090);
    assert_eq!(r.body["error"], "conflict");
    let r = api.get("demo", &token, "taken").await;
    assert_eq!(
        (r.body["id"].as_str(), r.body["value"].as_str()),
        (Some(id.as_str()), Some("first"))
    );
    assert_eq!(api.list("demo", &token, "").await.body["totalRecords"], 1);
    srv.stop().await;
}

#[tokio::test]
async fn renaming_onto_a_used_key_is_409_and_changes_nothing() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let a = api.create_ok("demo", &token, "key-a", "va").await;
    let b = api.create_ok("demo", &token, "key-b", "vb").await;
    let before_a = api.get("demo", &token, &a).await.body;

    let r = api
        .put("demo", &token, &a, r#"{"key":"key-b","value":"changed"}"#)
        .await;
    assert_error(&r, 409, 4090);
    assert_eq!(api.get("demo", &token, &a).await.body, before_a);
    assert_eq!(api.get("demo", &token, "key-a").await.body, before_a);
    assert_eq!(
        api.get("demo", &token, "key-b").await.body["id"],
        b.as_str()
    );
    srv.stop().await;
}

#[tokio::test]
async fn renaming_frees_the_old_key() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let a = api.create_ok("demo", &token, "old-name", "v").await;
    let r = api
        .put("demo", &token, &a, r#"{"key":"new-name","value":"v2"}"#)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_error(&api.get("demo", &token, "old-name").await, 404, 4040);
    let r = api.get("demo", &token, "new-name").await;
    assert_eq!(
        (r.body["id"].as_str(), r.body["value"].as_str()),
        (Some(a.as_str()), Some("v2"))
    );
    // The old key can be created again; renaming to its own key is no conflict.
    api.create_ok("demo", &token, "old-name", "w").await;
    let r = api
        .put("demo", &token, &a, r#"{"key":"new-name","value":"v3"}"#)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(api.list("demo", &token, "").await.body["totalRecords"], 2);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_key_have_one_winner() {
    let srv = TestServer::start(&config()).await;
    let api = Api::new(&srv);
    let token = api.token("demo", "alice", "wonderland").await;
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let (api, token) = (api.clone(), token.clone());
            tokio::spawn(async move {
                (
                    i,
                    api.create("demo", &token, "contended", &i.to_string())
                        .await,
                )
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r.status.as_u16() {
            201 => winners.push((i, r.body)),
            409 => assert_eq!(r.body["errorCode"], 4090),
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins");
    let (i, won) = &winners[0];
    let stored = api.get("demo", &token, "contended").await.body;
    assert_eq!(&stored, won);
    assert_eq!(stored["value"], i.to_string());
    assert_eq!(api.list("demo", &token, "").await.body["totalRecords"], 1);
    srv.stop().await;
}
