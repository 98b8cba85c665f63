//! Races through HTTP: concurrent plain creates of one key (exactly one wins) and concurrent
//! `createOrUpdate`s (the first creator stays the creator).

mod common;
mod keystore_support;

use common::TestServer;
use keystore_support::*;
use serde_json::json;

/// Concurrent requests per race.
const RACERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_key_have_one_winner() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let api = api.clone();
            let token = if i % 2 == 0 { ALICE } else { BOB };
            tokio::spawn(async move {
                let body = json!({"key": "contended", "data": {"writer": i}}).to_string();
                (i, api.create(token, &body).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r.status.as_u16() {
            200 => winners.push((i, r)),
            409 => assert_eq!(r.body["error"]["code"], 5001),
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins");
    let (i, won) = &winners[0];
    // The stored item is the winner's.
    assert_eq!(api.get(ALICE, "contended").await.body, won.body);
    assert_eq!(won.body["data"]["data"]["writer"], *i);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_keep_the_first_creator() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    api.create(ALICE, r#"{"key":"upsert-race","data":{"writer":-1}}"#)
        .await;
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                let body =
                    json!({"key": "upsert-race", "data": {"writer": i}, "createOrUpdate": true})
                        .to_string();
                api.create(BOB, &body).await
            })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["data"]["createdBy"], ALICE_ID);
    }
    let r = api.get(ALICE, "upsert-race").await;
    assert_eq!(r.body["data"]["createdBy"], ALICE_ID);
    let writer = r.body["data"]["data"]["writer"].as_i64().unwrap();
    assert!(
        (0..RACERS as i64).contains(&writer),
        "one of the upserts is last: {writer}"
    );
    srv.stop().await;
}
