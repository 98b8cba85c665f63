//! The budget rule: the sum of `reserved_rate_limit` over a store's keys never exceeds its
//! `rate_limit` — sequentially and under concurrent creates and updates.

mod app_keys_support;
mod common;

use app_keys_support::*;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

/// The listing's `total_reserved_rate_limit` (the budget record) and the sum and count of
/// the stored keys.
async fn totals(api: &Api, token: &str) -> (u64, u64, u64) {
    let r = api.get(token, "/v2/application-keys").await;
    let budget = r.body["meta"]["total_reserved_rate_limit"]
        .as_u64()
        .unwrap();
    let keys = api.list_all(token).await;
    let sum = keys
        .iter()
        .map(|k| k["reserved_rate_limit"].as_u64().unwrap())
        .sum();
    assert_eq!(
        r.body["meta"]["results"]["total"].as_u64().unwrap(),
        keys.len() as u64
    );
    (budget, sum, keys.len() as u64)
}

#[tokio::test]
async fn sequential_creates_updates_and_deletes_respect_the_budget() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;

    let a = api.create_ok(&admin, "a", 60).await;
    let b = api.create_ok(&admin, "b", 40).await;
    // Full: any positive reservation is refused, exactly as in seed 001; zero still fits.
    let r = api.create(&admin, "c", 1).await;
    assert_eq!(
        r.body,
        json!({"errors":[{"detail":"requested reserved rate limit will exceed the maximum","status":"409","title":"Conflict"}]})
    );
    assert_eq!(r.status, StatusCode::CONFLICT);
    api.create_ok(&admin, "zero", 0).await;
    assert_error(
        &api.create(&admin, "huge", u64::MAX).await,
        409,
        OVER_BUDGET,
    );
    assert_eq!(totals(&api, &admin).await, (100, 100, 3));

    // Raising a key past the budget is refused and changes nothing; lowering frees room.
    let path_a = format!("/v2/application-keys/{}", a["id"].as_str().unwrap());
    let r = api
        .put_raw(
            &admin,
            &path_a,
            r#"{"data":{"type":"application_key","reserved_rate_limit":61}}"#,
        )
        .await;
    assert_error(&r, 409, OVER_BUDGET);
    assert_eq!(
        api.get(&admin, &path_a).await.body["data"]["reserved_rate_limit"],
        json!(60)
    );
    let r = api
        .put_raw(
            &admin,
            &path_a,
            r#"{"data":{"type":"application_key","reserved_rate_limit":50}}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    api.create_ok(&admin, "ten", 10).await;
    assert_eq!(totals(&api, &admin).await, (100, 100, 4));

    // Deleting returns a key's reservation to the store.
    let path_b = format!("/v2/application-keys/{}", b["id"].as_str().unwrap());
    assert_eq!(
        api.delete(&admin, &path_b).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(totals(&api, &admin).await, (60, 60, 3));
    api.create_ok(&admin, "forty", 40).await;
    assert_eq!(totals(&api, &admin).await, (100, 100, 4));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_never_exceed_the_budget() {
    const REQUESTS: u64 = 40;
    const EACH: u64 = 7;
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;

    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let (api, admin) = (api.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            api.create(&admin, &format!("concurrent-{i}"), EACH).await
        }));
    }
    let (mut created, mut refused) = (0u64, 0u64);
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_error(&r, 409, OVER_BUDGET);
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    // A create is refused only when the budget is already too full for it, so exactly as many
    // as fit are accepted.
    let fit = 100 / EACH;
    assert_eq!((created, refused), (fit, REQUESTS - fit));
    let (budget, sum, count) = totals(&api, &admin).await;
    assert_eq!((budget, sum, count), (fit * EACH, fit * EACH, fit));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_and_creates_never_exceed_the_budget() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let mut paths = Vec::new();
    for i in 0..10 {
        let k = api.create_ok(&admin, &format!("k{i}"), 0).await;
        paths.push(format!(
            "/v2/application-keys/{}",
            k["id"].as_str().unwrap()
        ));
    }

    let mut tasks = Vec::new();
    for path in paths {
        let (api, admin) = (api.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            api.put_raw(
                &admin,
                &path,
                r#"{"data":{"type":"application_key","reserved_rate_limit":15}}"#,
            )
            .await
        }));
    }
    for i in 0..10 {
        let (api, admin) = (api.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            api.create(&admin, &format!("new{i}"), 15).await
        }));
    }
    let (mut accepted, mut created) = (0u64, 0u64);
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::OK => accepted += 1,
            StatusCode::CREATED => {
                accepted += 1;
                created += 1;
            }
            StatusCode::CONFLICT => assert_error(&r, 409, OVER_BUDGET),
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(accepted, 100 / 15);
    let (budget, sum, count) = totals(&api, &admin).await;
    assert_eq!(budget, sum);
    assert_eq!(sum, accepted * 15);
    assert_eq!(count, 10 + created);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_token_requests_for_one_key_all_succeed() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let k = api.create_ok(&admin, "busy", 0).await;
    let creds = (
        k["client_id"].as_str().unwrap().to_owned(),
        k["client_secret"].as_str().unwrap().to_owned(),
    );
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (api, creds) = (api.clone(), creds.clone());
        tasks.push(tokio::spawn(async move {
            api.token((&creds.0, &creds.1)).await
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 20, "every token is distinct");
    for t in &tokens {
        assert_eq!(
            api.get(t, "/v2/application-keys").await.status,
            StatusCode::OK
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_and_deletes_keep_the_budget_record_exact() {
    const KEPT: usize = 10;
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    // Full: 20 keys of 5.
    let mut paths = Vec::new();
    for i in 0..20 {
        let k = api.create_ok(&admin, &format!("old{i}"), 5).await;
        paths.push(format!(
            "/v2/application-keys/{}",
            k["id"].as_str().unwrap()
        ));
    }

    // Delete 10 of them while 30 creates of 5 race for the room they free.
    let mut deletes = Vec::new();
    for path in paths.split_off(KEPT) {
        let (api, admin) = (api.clone(), admin.clone());
        deletes.push(tokio::spawn(async move { api.delete(&admin, &path).await }));
    }
    let mut creates = Vec::new();
    for i in 0..30 {
        let (api, admin) = (api.clone(), admin.clone());
        creates.push(tokio::spawn(async move {
            api.create(&admin, &format!("new{i}"), 5).await
        }));
    }
    for t in deletes {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }
    let mut created = 0u64;
    for t in creates {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert_error(&r, 409, OVER_BUDGET),
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    // At most the freed room is taken; the record matches the keys exactly.
    assert!(created <= 10, "{created} creates fit into 50");
    let (budget, sum, count) = totals(&api, &admin).await;
    assert_eq!((budget, sum), (50 + created * 5, 50 + created * 5));
    assert_eq!(count, KEPT as u64 + created);
    // Once the deletes are done, the rest of the room is there to take.
    for i in created..10 {
        api.create_ok(&admin, &format!("late{i}"), 5).await;
    }
    assert_error(
        &api.create(&admin, "one-too-many", 5).await,
        409,
        OVER_BUDGET,
    );
    assert_eq!(totals(&api, &admin).await, (100, 100, 20));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_of_one_key_apply_one_after_another() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let k = api.create_ok(&admin, "contended", 0).await;
    let path = format!("/v2/application-keys/{}", k["id"].as_str().unwrap());

    // Ten updates of one key: each reads what the one before wrote, so all succeed and the
    // budget ends at exactly the last one's reservation.
    let mut tasks = Vec::new();
    for limit in 1..=10u64 {
        let (api, admin, path) = (api.clone(), admin.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let body =
                format!(r#"{{"data":{{"type":"application_key","reserved_rate_limit":{limit}}}}}"#);
            api.put_raw(&admin, &path, &body).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let last = api.get(&admin, &path).await.body["data"]["reserved_rate_limit"]
        .as_u64()
        .unwrap();
    assert_eq!(totals(&api, &admin).await, (last, last, 1));

    // Ten deletes of it: exactly one succeeds, the others find it gone.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (api, admin, path) = (api.clone(), admin.clone(), path.clone());
        tasks.push(tokio::spawn(async move { api.delete(&admin, &path).await }));
    }
    let mut deleted = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::NO_CONTENT => deleted += 1,
            _ => assert_error(&r, 404, NOT_FOUND),
        }
    }
    assert_eq!(deleted, 1);
    assert_eq!(totals(&api, &admin).await, (0, 0, 0));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_racing_updates_and_deletes_of_their_key_lose_nothing() {
    let srv = TestServer::start(CONFIG).await;
    let api = Api::new(&srv);
    let admin = api.token(ADMIN_1).await;
    let mut keys = Vec::new();
    for i in 0..5 {
        keys.push(api.create_ok(&admin, &format!("k{i}"), 0).await);
    }
    // Token requests stamp `last_used_at` on the key records the updates and deletes change.
    let mut tokens = Vec::new();
    let mut changes = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let creds = (
            k["client_id"].as_str().unwrap().to_owned(),
            k["client_secret"].as_str().unwrap().to_owned(),
        );
        for _ in 0..4 {
            let (api, creds) = (api.clone(), creds.clone());
            tokens.push(tokio::spawn(async move {
                let form = format!(
                    "grant_type=client_credentials&client_id={}&client_secret={}",
                    enc(&creds.0),
                    enc(&creds.1)
                );
                api.token_request(&form).await
            }));
        }
        let (api, admin) = (api.clone(), admin.clone());
        let path = format!("/v2/application-keys/{}", k["id"].as_str().unwrap());
        changes.push(tokio::spawn(async move {
            if i % 2 == 0 {
                api.put_raw(
                    &admin,
                    &path,
                    r#"{"data":{"type":"application_key","reserved_rate_limit":3}}"#,
                )
                .await
            } else {
                api.delete(&admin, &path).await
            }
        }));
    }
    for t in changes {
        let r = t.await.unwrap();
        assert!(
            r.status == StatusCode::OK || r.status == StatusCode::NO_CONTENT,
            "{}: {}",
            r.status,
            r.body
        );
    }
    for t in tokens {
        // A token request either wins or finds its key deleted.
        let r = t.await.unwrap();
        assert!(
            r.status == StatusCode::OK || r.status == StatusCode::UNAUTHORIZED,
            "{}: {}",
            r.status,
            r.body
        );
    }
    // Keys 0, 2, 4 updated to 3; keys 1, 3 deleted.
    assert_eq!(totals(&api, &admin).await, (9, 9, 3));
    srv.stop().await;
}
