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

/// How long any read may take while Redis is frozen: the service bounds each
/// store call (250 ms for a read, 1 s for a lock or a write) and skips the
/// store for a second after a failure, so a read that must fetch costs at
/// most a couple of bounded waits, never the length of the outage.
const FROZEN_READ_BOUND: Duration = Duration::from_millis(2_500);

/// How long the first look at the store may take once Redis froze: one
/// store read, cut off at 250 ms (the store's own 1 s limit is not enough).
const FROZEN_LOOKUP_BOUND: Duration = Duration::from_millis(750);

/// A GET timed; panics when it takes `bound` or longer.
async fn bounded_read(app: &TestApp, path: &str, bound: Duration) -> serde_json::Value {
    let started = Instant::now();
    let (status, _, body) = app.get_json(path).await;
    let took = started.elapsed();
    assert!(took < bound, "{path} took {took:?} (bound {bound:?})");
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_and_stale_gateways_answer_within_a_bound_while_redis_is_frozen() {
    let redis = RedisServer::start();
    let hot = MockGateway::start(&["h1"]).await;
    let stale = MockGateway::start(&["s-new"]).await;
    let cold = MockGateway::start(&["c1"]).await;
    let app = TestApp::builder()
        .redis(&redis)
        .gateway("hot", &hot)
        .gateway("stale", &stale)
        .gateway("cold", &cold)
        .spawn()
        .await;
    assert_eq!(ids(&app.get_json("/api/models/hot").await.2), ["h1"]);
    app.seed("stale", stale_entry(&["s-old"])).await;

    // Frozen for the whole test: every store call the reads make hangs
    // until the service's own bounds cut it off.
    redis.freeze();
    // The cold gateway is looked up in the store (a read the service cuts
    // off at 250 ms); the others are in memory.
    let body = bounded_read(&app, "/api/gateways", FROZEN_LOOKUP_BOUND).await;
    assert_eq!(body["data"].as_array().map(Vec::len), Some(3), "{body}");
    let body = bounded_read(&app, "/api/models/stale", FROZEN_READ_BOUND).await;
    assert_eq!(ids(&body), ["s-old"], "the stale entry served at once");
    let body = bounded_read(&app, "/api/models/cold", FROZEN_READ_BOUND).await;
    assert_eq!(ids(&body), ["c1"], "the cold gateway fetched without Redis");
    let body = bounded_read(&app, "/api/models", FROZEN_READ_BOUND).await;
    for id in ["h1", "c1"] {
        assert!(ids(&body).contains(&id.to_owned()), "{body}");
    }
    // The stale gateway's revalidation gets through without Redis too.
    eventually(
        Duration::from_secs(10),
        "the revalidated list served",
        || async {
            let body = bounded_read(&app, "/api/models/stale", FROZEN_READ_BOUND).await;
            ids(&body) == ["s-new"]
        },
    )
    .await;
    assert_eq!((hot.hits(), stale.hits(), cold.hits()), (1, 1, 1));

    redis.thaw();
    eventually(Duration::from_secs(10), "ready again", || async {
        app.get_json("/readyz").await.0 == 200
    })
    .await;
}
