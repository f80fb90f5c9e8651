//! The operator API on one instance against a real Redis: stats, runtime
//! config, warm with a selection map, invalidation, the warming switch, and
//! the Prometheus scrape.

use crate::common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN_ROUTES: [(&str, &str); 7] = [
    ("GET", "/api/cache/stats"),
    ("GET", "/api/cache/config"),
    ("PUT", "/api/cache/config"),
    ("POST", "/api/cache/warm"),
    ("POST", "/api/cache/invalidate"),
    ("POST", "/api/cache/invalidate-and-warm"),
    ("POST", "/api/cache/reset-stats"),
];

async fn app_with(redis: &RedisServer, gateways: &[(&str, &MockGateway)]) -> TestApp {
    let mut builder = TestApp::builder().redis(redis);
    for (id, mock) in gateways {
        builder = builder.gateway(id, mock);
    }
    builder.spawn().await
}

#[tokio::test]
async fn every_operator_route_needs_the_warming_secret() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let app = app_with(&redis, &[("gw", &mock)]).await;
    for (method, path) in ADMIN_ROUTES {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        let wrong = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(test_app::CRON_SECRET)
            .send()
            .await
            .unwrap();
        assert_eq!(
            wrong.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with the cron secret"
        );
        let body: Value = wrong.json().await.unwrap();
        assert_eq!(body["success"], false);
    }
    assert_eq!(mock.hits(), 0, "nothing ran");
}

#[tokio::test]
async fn stats_count_reads_warms_and_cached_items_and_reset_zeroes_them() {
    let redis = RedisServer::start();
    let (a, b) = (
        MockGateway::start(&["a1", "a2"]).await,
        MockGateway::start(&["b1"]).await,
    );
    let app = app_with(&redis, &[("a", &a), ("b", &b)]).await;

    app.seed("b", stale_entry(&["old"])).await;
    app.get("/api/models").await; // a: miss (fetched); b: stale, revalidated
    eventually(Duration::from_secs(5), "the revalidation", || async {
        app.stored_ids("b").await == Some(vec!["b1".to_string()])
    })
    .await;
    app.sync().await;
    app.get("/api/models").await; // two hits
    let (status, _) = app.warm(None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app.admin("GET", "/api/cache/stats", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    let stats = &body["data"];
    assert_eq!(
        (
            stats["hits"].as_u64(),
            stats["staleHits"].as_u64(),
            stats["misses"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(stats["hitRate"].as_f64(), Some(3.0 / 4.0));
    assert_eq!(stats["totalWarms"], 1);
    assert!(
        stats["lastWarmTime"].as_u64().is_some() && stats["lastWarmDuration"].as_u64().is_some()
    );
    assert_eq!(stats["itemsCached"], json!({"a": 2, "b": 1}));
    assert_eq!(
        (
            stats["revalidations"].as_u64(),
            stats["revalidationFailures"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(
        (
            stats["invalidationCount"].as_u64(),
            stats["backgroundRefreshCount"].as_u64()
        ),
        (Some(0), Some(0))
    );

    let (status, _) = app.admin("POST", "/api/cache/reset-stats", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = app.admin("GET", "/api/cache/stats", None).await;
    let stats = &body["data"];
    assert_eq!(
        (stats["hits"].as_u64(), stats["totalWarms"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(stats["hitRate"], Value::Null, "no reads since the reset");
    assert_eq!(stats["lastWarmTime"], Value::Null);
    assert_eq!(
        stats["itemsCached"],
        json!({"a": 2, "b": 1}),
        "the cache itself is untouched"
    );
}

#[tokio::test]
async fn a_failed_revalidation_is_counted() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    mock.set(Behavior::Status(500));
    let app = app_with(&redis, &[("gw", &mock)]).await;
    app.seed("gw", stale_entry(&["old"])).await;
    app.get("/api/models").await;
    eventually(Duration::from_secs(5), "a failed revalidation", || async {
        let (_, body) = app.admin("GET", "/api/cache/stats", None).await;
        body["data"]["revalidationFailures"] == 1
    })
    .await;
    let (_, body) = app.admin("GET", "/api/cache/stats", None).await;
    assert_eq!(body["data"]["revalidations"], 1);
}

#[tokio::test]
async fn the_runtime_config_has_the_spec_defaults_and_a_put_merges_into_them() {
    let redis = RedisServer::start();
    let (a, b) = (
        MockGateway::start(&["a1"]).await,
        MockGateway::start(&["b1"]).await,
    );
    let app = TestApp::builder()
        .redis(&redis)
        .env("CACHE_FRESH_TTL", "4h")
        .env("CACHE_STALE_TTL", "12h")
        .gateway("a", &a)
        .gateway("b", &b)
        .spawn()
        .await;
    let (status, body) = app.admin("GET", "/api/cache/config", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!({
            "enabled": true,
            "warmOnStartup": true,
            "warmGateways": {"a": true, "b": true},
            "backgroundRefresh": {"enabled": false, "intervalMs": 10_800_000},
            "ttl": {"freshMs": 14_400_000, "staleMs": 43_200_000},
        })
    );

    let patch = json!({"warmGateways": {"b": false}, "ttl": {"staleMs": 60_000}});
    let (status, body) = app.admin("PUT", "/api/cache/config", Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["warmGateways"], json!({"a": true, "b": false}));
    assert_eq!(
        body["data"]["ttl"],
        json!({"freshMs": 14_400_000, "staleMs": 60_000})
    );
    let (_, again) = app.admin("GET", "/api/cache/config", None).await;
    assert_eq!(again["data"], body["data"]);

    // A full warm now skips b.
    let (status, report) = app.warm(None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        report["gateways"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!((a.hits(), b.hits()), (1, 0));
}

#[tokio::test]
async fn a_bad_config_field_is_a_400_naming_it_and_changes_nothing() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let app = app_with(&redis, &[("gw", &mock)]).await;
    let (_, before) = app.admin("GET", "/api/cache/config", None).await;
    for (patch, named) in [
        (json!({"ttl": {"freshMs": -5}}), "ttl.freshMs"),
        (
            json!({"ttl": {"staleMs": -1}, "enabled": false}),
            "ttl.staleMs",
        ),
        (
            json!({"backgroundRefresh": {"enabled": true, "intervalMs": 5000}}),
            "intervalMs",
        ),
        (json!({"warmGateways": {"nope": true}}), "nope"),
        (json!({"surprise": 1}), "surprise"),
        (json!({"warmOnStartup": "yes"}), "warmOnStartup"),
        // Past what `fetched_at + ttl` can hold: refused, not wrapped.
        (
            json!({"ttl": {"freshMs": 18_446_744_073_709_551_615_u64}}),
            "ttl.freshMs: must be at most",
        ),
        (
            json!({"ttl": {"staleMs": 31_536_000_001_u64}}),
            "ttl.staleMs: must be at most",
        ),
        (
            json!({"backgroundRefresh": {"intervalMs": 2_592_000_001_u64}}),
            "intervalMs",
        ),
    ] {
        let (status, body) = app
            .admin("PUT", "/api/cache/config", Some(patch.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(named), "{error:?} should name {named}");
    }
    let response = app
        .client
        .put(app.url("/api/cache/config"))
        .bearer_auth(test_app::WARM_SECRET)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, after) = app.admin("GET", "/api/cache/config", None).await;
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_ttl_change_applies_to_the_next_write() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let app = app_with(&redis, &[("gw", &mock)]).await;
    app.warm(None).await;
    let first = app.store().load("gw").await.unwrap().unwrap();
    assert_eq!(
        first.fresh_until - first.fetched_at,
        4 * 3_600_000,
        "the default"
    );

    let patch = json!({"ttl": {"freshMs": 90_000, "staleMs": 30_000}});
    let (status, _) = app.admin("PUT", "/api/cache/config", Some(patch)).await;
    assert_eq!(status, StatusCode::OK);
    let unchanged = app.store().load("gw").await.unwrap().unwrap();
    assert_eq!(unchanged, first, "stored entries keep their lifetimes");

    app.warm(None).await;
    let next = app.store().load("gw").await.unwrap().unwrap();
    assert_eq!(
        (
            next.fresh_until - next.fetched_at,
            next.stale_until - next.fresh_until
        ),
        (90_000, 30_000)
    );
    let mut conn = redis.conn().await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg("models:gw")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 100_000 && ttl <= 120_000,
        "Redis TTL = fresh + stale, got {ttl} ms"
    );
}

#[tokio::test]
async fn warm_takes_a_selection_map() {
    let redis = RedisServer::start();
    let (a, b) = (
        MockGateway::start(&["a1"]).await,
        MockGateway::start(&["b1"]).await,
    );
    let app = app_with(&redis, &[("a", &a), ("b", &b)]).await;
    let (status, report) = app
        .admin(
            "POST",
            "/api/cache/warm",
            Some(json!({"gateways": {"a": false, "b": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["success"], true);
    assert_eq!(
        report["gateways"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["b"]
    );
    assert_eq!((a.hits(), b.hits()), (0, 1));

    let (status, _) = app.admin("POST", "/api/cache/warm", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((a.hits(), b.hits()), (1, 2), "no body: every gateway");

    let (status, body) = app
        .admin(
            "POST",
            "/api/cache/warm",
            Some(json!({"gateways": {"zzz": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("zzz"));
    let (status, _) = app
        .admin(
            "POST",
            "/api/cache/warm",
            Some(json!({"gateways": {"a": false}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .admin("POST", "/api/cache/warm", Some(json!({"gateways": ["a"]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn invalidate_drops_the_entry_and_the_next_read_fetches_again() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["v1"]).await;
    let app = app_with(&redis, &[("gw", &mock)]).await;
    app.warm(None).await;
    mock.set_models(&["v2"]);

    let (status, body) = app
        .admin(
            "POST",
            "/api/cache/invalidate",
            Some(json!({"gateway": "gw"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["dropped"], true);
    assert_eq!(app.stored_ids("gw").await, None);

    let (_, headers, body) = app.get_json("/api/models/gw").await;
    assert_eq!(headers["x-cache"], "MISS");
    assert_eq!(ids(&body), ["v2"]);
    assert_eq!(mock.hits(), 2);

    let (_, stats) = app.admin("GET", "/api/cache/stats", None).await;
    assert_eq!(stats["data"]["invalidationCount"], 1);
}

#[tokio::test]
async fn invalidate_refuses_unknown_gateways_and_bad_bodies() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["v1"]).await;
    let app = app_with(&redis, &[("gw", &mock)]).await;
    for path in ["/api/cache/invalidate", "/api/cache/invalidate-and-warm"] {
        let (status, body) = app
            .admin("POST", path, Some(json!({"gateway": "nope"})))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body["error"].as_str().unwrap().contains("\"nope\""));
        let (status, body) = app.admin("POST", path, Some(json!({"id": "gw"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(body["error"].as_str().unwrap().contains("gateway"));
        let (status, _) = app.admin("POST", path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} without a body");
    }
}

#[tokio::test]
async fn invalidate_and_warm_refetches_at_once() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["v1"]).await;
    let app = app_with(&redis, &[("gw", &mock)]).await;
    app.warm(None).await;
    mock.set_models(&["v2"]);
    let (status, body) = app
        .admin(
            "POST",
            "/api/cache/invalidate-and-warm",
            Some(json!({"gateway": "gw"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["invalidated"]["dropped"], true);
    assert_eq!(body["data"]["warm"]["gateways"]["gw"]["count"], 1);
    assert_eq!(app.stored_ids("gw").await, Some(vec!["v2".to_string()]));

    mock.set(Behavior::Status(500));
    let (status, body) = app
        .admin(
            "POST",
            "/api/cache/invalidate-and-warm",
            Some(json!({"gateway": "gw"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body["error"].as_str().unwrap().contains("HTTP 500"),
        "{body}"
    );
}

#[tokio::test]
async fn turning_warming_off_stops_every_warm_but_not_reads() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let app = app_with(&redis, &[("gw", &mock)]).await;
    let (status, _) = app
        .admin("PUT", "/api/cache/config", Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app.warm(None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"].as_str().unwrap().contains("\"enabled\":true"),
        "{body}"
    );
    let (status, _) = app.admin("POST", "/api/cache/warm", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let cron = app
        .client
        .get(app.url("/api/cron/warm-cache"))
        .bearer_auth(test_app::CRON_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(cron.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(mock.hits(), 0);

    let (status, _, body) = app.get_json("/api/models").await;
    assert_eq!(
        (status, ids(&body)),
        (StatusCode::OK, vec!["m1".to_string()]),
        "reads still fetch"
    );
}

#[tokio::test]
async fn the_metrics_endpoint_reports_reads_warms_fetches_and_entry_ages() {
    let redis = RedisServer::start();
    let good = MockGateway::start(&["m1"]).await;
    let bad = MockGateway::start(&["x"]).await;
    bad.set(Behavior::Status(503));
    let app = app_with(&redis, &[("metrics-good", &good), ("metrics-bad", &bad)]).await;
    app.warm(None).await;
    app.warm(None).await; // metrics-good's list comes back unchanged
    app.get("/api/models/metrics-good").await;
    app.admin(
        "POST",
        "/api/cache/invalidate",
        Some(json!({"gateway": "metrics-good"})),
    )
    .await;

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"models_cache_reads_total{gateway="metrics-good",outcome="hit"} 1"#,
        r#"models_cache_fetch_errors_total{gateway="metrics-bad",kind="status"}"#,
        r#"models_cache_fetch_duration_seconds_bucket{gateway="metrics-good",le="#,
        r#"models_cache_warms_total{trigger="manual"}"#,
        r#"models_cache_warm_failures_total{trigger="manual"}"#,
        r#"models_cache_warm_duration_seconds_count{trigger="manual"}"#,
        r#"models_cache_invalidations_total{gateway="metrics-good"} 1"#,
        r#"models_cache_fetches_unchanged_total{gateway="metrics-good"} 1"#,
        r#"models_cache_gateway_cached{gateway="metrics-bad"} 0"#,
        r#"models_cache_entry_age_seconds{gateway="metrics-good"}"#,
        r#"models_cache_entry_stale_expiry_seconds{gateway="metrics-good"}"#,
        r#"models_cache_ttl_seconds{window="fresh"} 14400"#,
        "# HELP models_cache_gateway_failing_seconds",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let failing = text
        .lines()
        .find(|l| l.starts_with(r#"models_cache_gateway_failing_seconds{gateway="metrics-bad"}"#))
        .expect("the failing gauge");
    assert!(!failing.ends_with(" 0"), "{failing}");
}

/// The value of the sample `name` (labels included) in a Prometheus scrape.
fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// In a process of its own: the metrics registry is process-wide, and these
/// counters must be this test's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revalidations_and_redis_errors_are_counted_in_the_metrics() {
    let mut redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let env = [
        ("REDIS_URL", redis.url()),
        ("CACHE_FRESH_TTL", "1s".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let service = ServiceProcess::start(&env, &mock.gateway_toml("gw")).await;
    let scrape = || async {
        let response = reqwest::get(service.url("/metrics")).await.unwrap();
        response.text().await.unwrap()
    };
    eventually(Duration::from_secs(5), "the start-up warm", || async {
        mock.hits() == 1
    })
    .await;
    let errors =
        || async { sample(&scrape().await, "models_cache_store_errors_total").unwrap_or(0.0) };
    let errors_before = errors().await;

    tokio::time::sleep(Duration::from_millis(1_200)).await;
    service.get_json("/api/models").await; // stale: one revalidation
    let revalidated = r#"models_cache_revalidations_total{gateway="gw",result="ok"}"#;
    eventually(
        Duration::from_secs(5),
        "the revalidation counted",
        || async { sample(&scrape().await, revalidated) == Some(1.0) },
    )
    .await;

    redis.stop();
    service.get_json("/api/models").await;
    eventually(Duration::from_secs(5), "Redis errors counted", || async {
        errors().await > errors_before
    })
    .await;
}
