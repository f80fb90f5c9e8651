//! The operator API across several real service processes sharing one Redis:
//! stats add up, the runtime config is shared and survives restarts, the
//! background refresh runs once per interval, and an invalidation reaches
//! every instance.

use crate::common;

use std::time::Duration;

use common::test_app::WARM_SECRET;
use common::*;
use futures::future::join_all;
use models_cache::cache::now_ms;
use models_cache::store::{RedisStore, Store};
use reqwest::StatusCode;
use serde_json::json;

/// `count` instances on `redis`, whose runtime config turns the start-up
/// warm off so that every upstream request below is one a test made.
async fn start_instances(
    redis: &RedisServer,
    mock: &MockGateway,
    count: usize,
) -> Vec<ServiceProcess> {
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    store
        .put_doc("config:runtime", r#"{"warmOnStartup":false}"#)
        .await
        .unwrap();
    start_more(redis, mock, count).await
}

/// `count` instances on `redis`, with whatever runtime config it holds.
async fn start_more(redis: &RedisServer, mock: &MockGateway, count: usize) -> Vec<ServiceProcess> {
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("CACHE_WARMING_SECRET", WARM_SECRET),
    ];
    let toml = mock.gateway_toml("gw");
    join_all((0..count).map(|_| ServiceProcess::start(&env, &toml))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_add_up_across_instances() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let instances = start_instances(&redis, &mock, 2).await;
    let (a, b) = (&instances[0], &instances[1]);
    let (status, _) = a.admin("POST", "/api/cache/warm-models", None).await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(a.get_json("/api/models").await.0, StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(b.get_json("/api/models").await.0, StatusCode::OK);
    }
    // Each instance adds its counts to Redis every second.
    eventually(Duration::from_secs(5), "five hits counted", || async {
        b.admin("GET", "/api/cache/stats", None).await.1["data"]["hits"] == 5
    })
    .await;
    let (_, body) = a.admin("GET", "/api/cache/stats", None).await;
    let stats = &body["data"];
    assert_eq!(
        (stats["hits"].as_u64(), stats["misses"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(stats["totalWarms"], 1);
    assert_eq!(stats["itemsCached"], json!({"gw": 1}));
    assert_eq!(mock.hits(), 1);

    let (status, _) = b.admin("POST", "/api/cache/reset-stats", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = a.admin("GET", "/api/cache/stats", None).await;
    assert_eq!(
        (
            body["data"]["hits"].as_u64(),
            body["data"]["totalWarms"].as_u64()
        ),
        (Some(0), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_config_is_shared_and_survives_restarts() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let mut instances = start_instances(&redis, &mock, 2).await;
    let patch = json!({"ttl": {"freshMs": 60_000}, "warmGateways": {"gw": false}});
    let (status, body) = instances[0]
        .admin("PUT", "/api/cache/config", Some(patch))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected = body["data"].clone();

    let b = &instances[1];
    eventually(
        Duration::from_secs(3),
        "the other instance sees the change",
        || async { b.admin("GET", "/api/cache/config", None).await.1["data"] == expected },
    )
    .await;
    // Its next write uses the new TTL.
    let (status, _) = b
        .admin(
            "POST",
            "/api/cache/warm",
            Some(json!({"gateways": {"gw": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    let entry = store.load("gw").await.unwrap().unwrap();
    assert_eq!(entry.fresh_until - entry.fetched_at, 60_000);

    for instance in &mut instances {
        instance.terminate();
    }
    let restarted = start_more(&redis, &mock, 1).await;
    let (_, body) = restarted[0].admin("GET", "/api/cache/config", None).await;
    assert_eq!(body["data"]["ttl"]["freshMs"], 60_000);
    assert_eq!(body["data"]["warmGateways"], json!({"gw": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_config_puts_on_two_instances_all_land() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m"]).await;
    let ids: Vec<String> = (0..12).map(|i| format!("g{i}")).collect();
    let toml: String = ids.iter().map(|id| mock.gateway_toml(id)).collect();
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("CACHE_WARMING_SECRET", WARM_SECRET),
    ];
    let instances = join_all((0..2).map(|_| ServiceProcess::start(&env, &toml))).await;

    // Each gateway switched off by its own PUT, all at once, half of them
    // on each instance: every PUT merges into what the others wrote.
    let puts = ids.iter().enumerate().map(|(i, id)| {
        let patch = json!({"warmGateways": {id.as_str(): false}});
        instances[i % 2].admin("PUT", "/api/cache/config", Some(patch))
    });
    for (status, body) in join_all(puts).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for instance in &instances {
        eventually(Duration::from_secs(5), "every PUT in force", || async {
            let (_, config) = instance.admin("GET", "/api/cache/config", None).await;
            let off = config["data"]["warmGateways"]
                .as_object()
                .unwrap()
                .values()
                .filter(|on| **on == json!(false))
                .count();
            off == ids.len()
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_refresh_runs_once_per_interval_however_many_instances() {
    const INTERVAL: u64 = 10_000;
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let instances = start_instances(&redis, &mock, 3).await;
    let enable = json!({"backgroundRefresh": {"enabled": true, "intervalMs": INTERVAL}});
    let (status, _) = instances[0]
        .admin("PUT", "/api/cache/config", Some(enable))
        .await;
    assert_eq!(status, StatusCode::OK);
    let enabled_at = now_ms();

    tokio::time::sleep(Duration::from_millis(2 * INTERVAL + 2_500)).await;
    let disable = json!({"backgroundRefresh": {"enabled": false}});
    let (status, _) = instances[1]
        .admin("PUT", "/api/cache/config", Some(disable))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The others stop once they pick the change up (within a reload interval).
    for instance in &instances {
        eventually(Duration::from_secs(5), "every instance sees the disable", || async {
            instance.admin("GET", "/api/cache/config", None).await.1["data"]["backgroundRefresh"]
                ["enabled"]
                == false
        })
        .await;
    }
    let disabled_at = now_ms();
    tokio::time::sleep(Duration::from_millis(2_500)).await; // a refresh under way lands

    // Slots are wall-clock multiples of the interval: those the run touched.
    // Never more refreshes than slots; the first and last slot may be cut too
    // short for a refresh (instances look once a second).
    let slots = disabled_at / INTERVAL - enabled_at / INTERVAL + 1;
    let (_, body) = instances[2].admin("GET", "/api/cache/stats", None).await;
    let refreshes = body["data"]["backgroundRefreshCount"].as_u64().unwrap();
    assert!(
        refreshes >= 2 && refreshes + 2 >= slots && refreshes <= slots,
        "{refreshes} refreshes over {slots} slots"
    );
    assert_eq!(
        mock.hits() as u64,
        refreshes,
        "one warm, one fetch, per refresh"
    );
    assert_eq!(body["data"]["totalWarms"].as_u64(), Some(refreshes));
    let (_, status) = instances[2].get_json("/api/cache/warm-models").await;
    assert_eq!(status["last_warm"]["trigger"], "background");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_reaches_every_instance_before_it_answers() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["v0"]).await;
    let instances = start_instances(&redis, &mock, 2).await;
    let (a, b) = (&instances[0], &instances[1]);
    for round in 1..=3 {
        let version = format!("v{round}");
        mock.set_models(&[&version]);
        let (status, _) = a.admin("POST", "/api/cache/warm-models", None).await;
        assert_eq!(status, StatusCode::OK);
        eventually(Duration::from_secs(3), "b serves the warm", || async {
            ids(&b.get_json("/api/models").await.1) == [version.clone()]
        })
        .await;

        mock.set_models(&["after-invalidation"]);
        let (status, body) = a
            .admin(
                "POST",
                "/api/cache/invalidate",
                Some(json!({"gateway": "gw"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["instances_notified"], 2, "{body}");
        assert_eq!(body["data"]["instances_confirmed"], 2, "{body}");
        let (_, served) = b.get_json("/api/models").await;
        assert_eq!(
            ids(&served),
            ["after-invalidation"],
            "round {round}: b dropped {version}"
        );
    }
}
