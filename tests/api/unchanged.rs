//! A list fetched again byte for byte: the entry held is extended (new
//! deadlines in the store, the list itself not written again), a store that
//! lost the list gets it whole, and a list that changed by one model lands.

use crate::common;

use common::*;
use redis::AsyncCommands;

const KEY: &str = "models:gw";

async fn app_on(redis: &RedisServer, mock: &MockGateway) -> TestApp {
    TestApp::builder()
        .redis(redis)
        .gateway("gw", mock)
        .spawn()
        .await
}

async fn warm(app: &TestApp) {
    let (status, body) = app.warm(None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["gateways"]["gw"]["ok"], true, "{body}");
}

async fn stored_fetched_at(redis: &RedisServer) -> u64 {
    let fetched_at: Option<u64> = redis.conn().await.hget(KEY, "fetched_at").await.unwrap();
    fetched_at.expect("the entry is stored")
}

/// Replaces the stored models by `[marked]` (plain JSON), keeping the
/// entry's revision and deadlines: whoever writes or reads the list again
/// afterwards shows it.
async fn mark_stored_list(redis: &RedisServer) {
    let mut conn = redis.conn().await;
    let marked = serde_json::json!([{"id": "marked"}]).to_string();
    let _: () = conn.hset(KEY, "models", marked).await.unwrap();
    let _: () = conn.hdel(KEY, "encoding").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_fetched_again_unchanged_only_moves_the_stored_deadlines() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["a", "b"]).await;
    let app = app_on(&redis, &mock).await;
    warm(&app).await;
    let first = stored_fetched_at(&redis).await;
    mark_stored_list(&redis).await;

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    warm(&app).await;
    assert_eq!(mock.hits(), 2, "the warm fetched");
    assert!(
        stored_fetched_at(&redis).await > first,
        "the stored entry took the new fetch's deadlines"
    );
    assert_eq!(
        app.stored_ids("gw").await,
        Some(vec!["marked".to_owned()]),
        "the list was not written again"
    );
    let (_, _, body) = app.get_json("/api/models").await;
    assert_eq!(
        ids(&body),
        ["a", "b"],
        "this instance serves the list it holds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_the_store_lost_is_written_whole_when_fetched_again_unchanged() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["a", "b"]).await;
    let app = app_on(&redis, &mock).await;
    warm(&app).await;
    let _: () = redis.conn().await.del(KEY).await.unwrap();

    warm(&app).await;
    assert_eq!(
        app.stored_ids("gw").await,
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_changed_by_one_model_is_parsed_and_lands() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["a", "b"]).await;
    let app = app_on(&redis, &mock).await;
    warm(&app).await;
    warm(&app).await;

    mock.set_models(&["a", "c"]);
    warm(&app).await;
    let (_, _, body) = app.get_json("/api/models").await;
    assert_eq!(ids(&body), ["a", "c"]);
    assert_eq!(
        app.stored_ids("gw").await,
        Some(vec!["a".to_owned(), "c".to_owned()])
    );
    mock.set_models(&["a", "b"]);
    warm(&app).await;
    let (_, _, body) = app.get_json("/api/models").await;
    assert_eq!(
        ids(&body),
        ["a", "b"],
        "back to a list seen two fetches ago"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_takes_the_new_deadlines_of_an_unchanged_list_without_reading_it_again() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["a", "b"]).await;
    let fetching = app_on(&redis, &mock).await;
    let peer = app_on(&redis, &mock).await;
    warm(&fetching).await;
    peer.sync().await;
    let (_, _, before) = peer.get_json("/api/models").await;
    assert_eq!(ids(&before), ["a", "b"]);
    // A peer that read the stored list again would serve the mark.
    mark_stored_list(&redis).await;

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    warm(&fetching).await;
    let moved = stored_fetched_at(&redis).await;
    peer.sync().await;
    let (_, _, after) = peer.get_json("/api/models").await;
    assert_eq!(ids(&after), ["a", "b"], "the peer kept the list it holds");
    assert_eq!(after["gateways"]["gw"]["fetched_at"], moved, "{after}");
    assert_eq!(mock.hits(), 2, "the peer did not fetch");
}
