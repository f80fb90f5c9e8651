//! Redis trouble never makes a read hang: with Redis stopped or frozen the
//! service answers from what it holds (or by fetching), and it recovers by
//! itself when Redis returns.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use redis::AsyncCommands;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_keep_answering_while_redis_is_stopped_and_it_recovers() {
    let mut redis = RedisServer::start();
    let cached = MockGateway::start(&["c1"]).await;
    let app = TestApp::builder()
        .redis(&redis)
        .gateway("cached", &cached)
        .spawn()
        .await;
    assert_eq!(ids(&app.get_json("/api/models").await.2), ["c1"]);

    redis.stop();
    for _ in 0..20 {
        let started = Instant::now();
        let (status, _, body) = app.get_json("/api/models").await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "read took {:?}",
            started.elapsed()
        );
        assert_eq!(status, 200);
        assert_eq!(ids(&body), ["c1"], "served from the instance's memory");
    }
    assert_eq!(cached.hits(), 1);
    let (status, _, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503);
    assert!(body["error"].as_str().unwrap().starts_with("not ready"));

    // Redis comes back empty (nothing was persisted): the service notices,
    // refetches once and writes to Redis again.
    redis.restart();
    eventually(Duration::from_secs(10), "ready again", || async {
        app.get_json("/readyz").await.0 == 200
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "the entry is back in Redis",
        || async {
            app.get_json("/api/models").await;
            let mut conn = redis.conn().await;
            conn.exists::<_, bool>("models:cached").await.unwrap()
        },
    )
    .await;
    assert_eq!(ids(&app.get_json("/api/models").await.2), ["c1"]);
    assert_eq!(cached.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_never_cached_is_fetched_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let app = TestApp::builder()
        .redis(&redis)
        .gateway("gw", &mock)
        .spawn()
        .await;
    redis.stop();
    let (status, headers, body) = app.get_json("/api/models").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-cache"], "MISS");
    assert_eq!(ids(&body), ["m1"]);
    let (_, headers, body) = app.get_json("/api/models").await;
    assert_eq!(
        headers["x-cache"], "HIT",
        "kept in memory while Redis is down"
    );
    assert_eq!(ids(&body), ["m1"]);
    assert_eq!(mock.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_costs_reads_a_short_bounded_wait() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let app = TestApp::builder()
        .redis(&redis)
        .gateway("gw", &mock)
        .spawn()
        .await;
    assert_eq!(ids(&app.get_json("/api/models").await.2), ["m1"]);

    redis.freeze();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let (status, _, body) = app.get_json("/api/models").await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(status, 200);
        assert_eq!(ids(&body), ["m1"]);
    }
    assert!(slowest < Duration::from_secs(2), "slowest read {slowest:?}");
    redis.thaw();
    eventually(Duration::from_secs(10), "ready again", || async {
        app.get_json("/readyz").await.0 == 200
    })
    .await;
    assert_eq!(mock.hits(), 1);
}
