//! The stale-while-revalidate read path, on Redis and on the embedded store:
//! fresh, stale and missing entries, single-flight, stale-if-error, backoff.

use crate::common;

use std::time::{Duration, Instant};

use common::test_app::Builder;
use common::*;
use futures::future::join_all;

/// The app on `backend` (with its Redis server, if any) and one mock gateway "gw".
async fn app_with(
    backend: Backend,
    mock: &MockGateway,
    extra: impl FnOnce(Builder) -> Builder,
) -> (TestApp, Option<RedisServer>) {
    let redis = matches!(backend, Backend::Redis).then(RedisServer::start);
    let builder = TestApp::builder()
        .backend(backend, redis.as_ref())
        .gateway("gw", mock);
    (extra(builder).spawn().await, redis)
}

async fn fresh_entries_are_served_without_an_upstream_request(backend: Backend) {
    let mock = MockGateway::start(&["a", "b"]).await;
    let (app, _redis) = app_with(backend, &mock, |b| b).await;

    let (status, headers, body) = app.get_json("/api/models").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-cache"], "MISS");
    assert_eq!(ids(&body), ["a", "b"]);
    assert_eq!(body["gateways"]["gw"]["status"], "fresh");

    let (_, headers, body) = app.get_json("/api/models").await;
    assert_eq!(headers["x-cache"], "HIT");
    assert_eq!(ids(&body), ["a", "b"]);
    assert_eq!(mock.hits(), 1, "the second read came from the cache");
}

async fn a_stale_read_returns_at_once_and_exactly_one_fetch_follows(backend: Backend) {
    let mock = MockGateway::start(&["new"]).await;
    let upstream_delay = Duration::from_secs(2);
    mock.set_delay(upstream_delay);
    let (app, _redis) = app_with(backend, &mock, |b| b.env("GATEWAY_TIMEOUT", "5s")).await;
    app.seed("gw", stale_entry(&["old"])).await;

    let started = Instant::now();
    let (_, headers, body) = app.get_json("/api/models").await;
    assert!(
        started.elapsed() < upstream_delay,
        "the read did not wait for the upstream"
    );
    assert_eq!(headers["x-cache"], "STALE");
    assert_eq!(body["gateways"]["gw"]["status"], "stale");
    assert_eq!(ids(&body), ["old"]);

    eventually(
        Duration::from_secs(10),
        "the revalidation stored the new list",
        || async { app.stored_ids("gw").await == Some(vec!["new".into()]) },
    )
    .await;
    let (_, headers, body) = app.get_json("/api/models").await;
    assert_eq!(headers["x-cache"], "HIT");
    assert_eq!(ids(&body), ["new"]);
    assert_eq!(mock.hits(), 1);
}

async fn two_hundred_concurrent_stale_reads_make_one_upstream_request(backend: Backend) {
    let mock = MockGateway::start(&["new"]).await;
    mock.set_delay(Duration::from_millis(300));
    let (app, _redis) = app_with(backend, &mock, |b| b).await;
    app.seed("gw", stale_entry(&["old"])).await;

    let reads = join_all((0..200).map(|_| app.get_json("/api/models/gw"))).await;
    for (status, headers, body) in &reads {
        assert_eq!(*status, 200);
        assert_eq!(headers["x-cache"], "STALE");
        assert_eq!(ids(body), ["old"]);
    }
    eventually(
        Duration::from_secs(10),
        "the revalidation landed",
        || async { app.stored_ids("gw").await == Some(vec!["new".into()]) },
    )
    .await;
    assert_eq!(mock.hits(), 1);
}

async fn a_cold_cache_under_100_concurrent_reads_makes_one_upstream_request(backend: Backend) {
    let mock = MockGateway::start(&["m1", "m2", "m3"]).await;
    mock.set_delay(Duration::from_millis(200));
    let (app, _redis) = app_with(backend, &mock, |b| b).await;

    let reads = join_all((0..100).map(|_| app.get_json("/api/models"))).await;
    for (status, _, body) in &reads {
        assert_eq!(*status, 200);
        assert_eq!(ids(body), ["m1", "m2", "m3"]);
    }
    assert_eq!(mock.hits(), 1);
}

async fn a_failing_upstream_never_replaces_the_cached_list(backend: Backend) {
    for failure in [
        Behavior::Status(500),
        Behavior::Garbage,
        Behavior::Empty,
        Behavior::Status(403),
    ] {
        let mock = MockGateway::start(&[]).await;
        mock.set(failure.clone());
        let (app, _redis) = app_with(backend, &mock, |b| b).await;
        app.seed("gw", stale_entry(&["kept"])).await;

        let (_, _, body) = app.get_json("/api/models").await;
        assert_eq!(ids(&body), ["kept"], "{failure:?}");
        eventually(
            Duration::from_secs(5),
            "the revalidation failed",
            || async {
                mock.hits() == 1
                    && app.get_json("/api/models").await.2["gateways"]["gw"]["error"].is_string()
            },
        )
        .await;

        let (status, _, body) = app.get_json("/api/models").await;
        assert_eq!(status, 200);
        assert_eq!(ids(&body), ["kept"], "{failure:?} kept the cached list");
        assert_eq!(body["gateways"]["gw"]["status"], "stale");
        assert_eq!(
            app.stored_ids("gw").await,
            Some(vec!["kept".into()]),
            "{failure:?}"
        );
    }
}

async fn readers_back_off_from_a_failing_gateway_but_a_warm_always_fetches(backend: Backend) {
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Status(503));
    let (app, _redis) = app_with(backend, &mock, |b| b.env("REVALIDATE_BACKOFF", "60s")).await;
    app.seed("gw", stale_entry(&["kept"])).await;

    app.get("/api/models").await;
    eventually(
        Duration::from_secs(5),
        "one failed revalidation, recorded",
        || async {
            mock.hits() == 1
                && app.get_json("/api/models").await.2["gateways"]["gw"]["error"].is_string()
        },
    )
    .await;
    for _ in 0..20 {
        let (_, headers, body) = app.get_json("/api/models").await;
        assert_eq!(headers["x-cache"], "STALE");
        assert_eq!(ids(&body), ["kept"]);
    }
    assert_eq!(mock.hits(), 1, "no reader retried during the backoff");

    // The warm's own fetch is the second request: a reader's retry still
    // running would have made it the third, or (joined by the warm) failed it.
    mock.set_models(&["fixed"]);
    let (status, report) = app.warm(None).await;
    assert_eq!(status, 200);
    assert_eq!(report["gateways"]["gw"]["ok"], true);
    assert_eq!(mock.hits(), 2, "the warm fetched despite the backoff");
    assert_eq!(ids(&app.get_json("/api/models").await.2), ["fixed"]);
}

async fn readers_retry_a_failing_gateway_once_the_backoff_is_over(backend: Backend) {
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Status(500));
    let (app, _redis) = app_with(backend, &mock, |b| b.env("REVALIDATE_BACKOFF", "300ms")).await;
    app.seed("gw", stale_entry(&["kept"])).await;

    app.get("/api/models").await;
    eventually(
        Duration::from_secs(5),
        "a first failed revalidation",
        || async { mock.hits() == 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    mock.set_models(&["fixed"]);
    app.get("/api/models").await;
    eventually(
        Duration::from_secs(5),
        "a second revalidation stored the list",
        || async { app.stored_ids("gw").await == Some(vec!["fixed".into()]) },
    )
    .await;
    assert_eq!(mock.hits(), 2);
}

async fn a_hanging_gateway_is_reported_missing_within_its_timeout(backend: Backend) {
    let hanging = MockGateway::start(&[]).await;
    hanging.set(Behavior::Hang);
    let healthy = MockGateway::start(&["ok"]).await;
    let (app, _redis) = app_with(backend, &hanging, |b| {
        b.env("GATEWAY_TIMEOUT", "300ms")
            .gateway("healthy", &healthy)
    })
    .await;

    let started = Instant::now();
    let (status, headers, body) = app.get_json("/api/models").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the 300 ms timeout"
    );
    assert_eq!(status, 200);
    assert_eq!(headers["x-cache"], "MISS");
    assert_eq!(ids(&body), ["ok"]);
    assert_eq!(body["gateways"]["gw"]["status"], "missing");
    assert_eq!(body["gateways"]["gw"]["error"], "timeout after 300ms");
    assert_eq!(body["gateways"]["healthy"]["status"], "fresh");
}

async fn an_oversized_body_is_refused_and_keeps_the_cached_list(backend: Backend) {
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Oversized(200_000));
    let redis = matches!(backend, Backend::Redis).then(RedisServer::start);
    let toml = format!(
        "[[gateway]]\nid = \"gw\"\nkind = \"openai\"\nbase_url = \"{}\"\nmax_body_bytes = 100000\n",
        mock.base_url()
    );
    let app = TestApp::builder()
        .backend(backend, redis.as_ref())
        .gateway_toml(&toml)
        .spawn()
        .await;
    app.seed("gw", stale_entry(&["kept"])).await;

    let (status, report) = app.warm(None).await;
    assert_eq!(status, 502);
    assert_eq!(
        report["gateways"]["gw"]["error"],
        "response body is over the 100000-byte limit"
    );
    assert_eq!(app.stored_ids("gw").await, Some(vec!["kept".into()]));
}

/// The tokens with which the cross-instance lock of `gateway` was asked for:
/// one per flight (each flight draws its own; retries reuse it).
fn lock_tokens(commands: &[Vec<String>], gateway: &str) -> std::collections::BTreeSet<String> {
    let key = format!("models:lock:{gateway}");
    commands
        .iter()
        // EVALSHA|EVAL <script> 1 <key> <token> [<ttl>]: the lock script
        // and the unlock script both carry the flight's token.
        .filter(|args| args.len() >= 5)
        .filter(|args| matches!(args[0].to_ascii_uppercase().as_str(), "EVAL" | "EVALSHA"))
        .filter(|args| args[3] == key)
        .map(|args| args[4].clone())
        .collect()
}

/// In-process single-flight, seen from outside: a cold burst on one
/// instance is one flight, so one lock attempt in the store. (The
/// cross-instance lock alone would still keep the upstream at one request.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_burst_on_one_instance_is_one_flight_and_one_lock_attempt() {
    let mock = MockGateway::start(&["m1", "m2", "m3"]).await;
    mock.set_delay(Duration::from_millis(500));
    let redis = RedisServer::start();
    let app = TestApp::builder()
        .redis(&redis)
        .gateway("gw", &mock)
        .spawn()
        .await;
    let monitor = redis.monitor().await;

    let reads = join_all((0..100).map(|_| app.get_json("/api/models"))).await;
    for (status, _, body) in &reads {
        assert_eq!(*status, 200);
        assert_eq!(ids(body), ["m1", "m2", "m3"]);
    }
    assert_eq!(mock.hits(), 1);
    let tokens = lock_tokens(&monitor.commands().await, "gw");
    assert_eq!(tokens.len(), 1, "flights that asked for the lock");
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod on_redis {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(Backend::Redis).await }
            )*
        }
        mod on_embedded_store {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(Backend::Embedded).await }
            )*
        }
    };
}

on_both_stores!(
    fresh_entries_are_served_without_an_upstream_request,
    a_stale_read_returns_at_once_and_exactly_one_fetch_follows,
    two_hundred_concurrent_stale_reads_make_one_upstream_request,
    a_cold_cache_under_100_concurrent_reads_makes_one_upstream_request,
    a_failing_upstream_never_replaces_the_cached_list,
    readers_back_off_from_a_failing_gateway_but_a_warm_always_fetches,
    readers_retry_a_failing_gateway_once_the_backoff_is_over,
    a_hanging_gateway_is_reported_missing_within_its_timeout,
    an_oversized_body_is_refused_and_keeps_the_cached_list,
);
