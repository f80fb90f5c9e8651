//! Chaos on two real instances sharing one real Redis (issue 10, point 6,
//! the benchmark's `chaos` scenario turned into a test): Redis killed and
//! restarted empty while half the gateways answer 500. Reads keep answering,
//! and afterwards every gateway is still served with the models it had, on
//! both instances: stale-if-error holds even when the store lost everything.
//! And the copy an instance keeps for that never undoes an invalidation.

use crate::common;

use std::time::{Duration, Instant};

use common::test_app::WARM_SECRET;
use common::*;
use futures::future::join_all;
use serde_json::Value;

/// Gateways of the test: the first half will fail.
const GATEWAYS: [&str; 4] = ["g0", "g1", "g2", "g3"];

/// Fresh for a second, so every entry goes stale while Redis is away and
/// while the gateways fail: reads then revalidate, and that must not cost
/// them their data.
const ENV: [(&str, &str); 4] = [
    ("CACHE_FRESH_TTL", "1s"),
    ("CACHE_STALE_TTL", "1h"),
    ("REVALIDATE_BACKOFF", "1s"),
    ("CACHE_WARMING_SECRET", WARM_SECRET),
];

/// The models of gateway `n`.
fn models_of(n: usize) -> Vec<String> {
    (0..3).map(|i| format!("{}-m{i}", GATEWAYS[n])).collect()
}

/// Both instances answer 200, with every gateway's models, `fresh` or `stale`.
async fn assert_every_gateway_served(instances: &[ServiceProcess], when: &str) {
    for (i, instance) in instances.iter().enumerate() {
        let (status, body) = instance.get_json("/api/models").await;
        assert_eq!(status, 200, "{when}, instance {i}: {body}");
        let served = ids(&body);
        for (n, id) in GATEWAYS.iter().enumerate() {
            let state = &body["gateways"][id];
            assert!(
                matches!(state["status"].as_str(), Some("fresh" | "stale")),
                "{when}, instance {i}: {id} lost its data: {state}"
            );
            for model in models_of(n) {
                assert!(
                    served.contains(&model),
                    "{when}, instance {i}: {model} missing from {served:?}"
                );
            }
        }
    }
}

/// Reads both instances for `length`, checking every answer.
async fn keep_reading(instances: &[ServiceProcess], length: Duration, when: &str) {
    let started = Instant::now();
    while started.elapsed() < length {
        assert_every_gateway_served(instances, when).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_back_empty_while_half_the_gateways_fail_loses_no_data() {
    let mut redis = RedisServer::start();
    let mocks = join_all(GATEWAYS.iter().enumerate().map(|(n, _)| async move {
        let ids = models_of(n);
        MockGateway::start(&ids.iter().map(String::as_str).collect::<Vec<_>>()).await
    }))
    .await;
    let toml: String = mocks
        .iter()
        .zip(GATEWAYS)
        .map(|(mock, id)| mock.gateway_toml(id))
        .collect();
    let url = redis.url();
    let mut env = ENV.to_vec();
    env.push(("REDIS_URL", &url));
    let instances = join_all((0..2).map(|_| ServiceProcess::start(&env, &toml))).await;
    for instance in &instances {
        let (status, report) = instance.admin("POST", "/api/cache/warm-models", None).await;
        assert_eq!(status, 200, "{report}");
    }
    assert_every_gateway_served(&instances, "before the faults").await;

    // Half the gateways fail, and Redis dies; it comes back empty.
    for mock in &mocks[..2] {
        mock.set(Behavior::Status(500));
    }
    redis.stop();
    keep_reading(&instances, Duration::from_millis(2500), "Redis down").await;
    redis.restart();
    keep_reading(&instances, Duration::from_secs(3), "Redis back empty").await;

    // The healthy gateways are stored again; the failing ones keep their
    // models, stale, with their error shown.
    let conn = redis.conn().await;
    for id in &GATEWAYS[2..] {
        let key = format!("models:{id}");
        eventually(
            Duration::from_secs(10),
            "a healthy gateway stored again",
            || {
                let (mut conn, key) = (conn.clone(), key.clone());
                async move {
                    use redis::AsyncCommands;
                    conn.exists::<_, bool>(key).await.unwrap()
                }
            },
        )
        .await;
    }
    for instance in &instances {
        let (_, body) = instance.get_json("/api/models").await;
        for id in &GATEWAYS[..2] {
            let state: &Value = &body["gateways"][id];
            assert_eq!(state["status"], "stale", "{id}: {state}");
        }
    }

    // The gateways answer again: every gateway fresh on both instances.
    for (n, mock) in mocks[..2].iter().enumerate() {
        let ids = models_of(n);
        mock.set_models(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    }
    for instance in &instances {
        eventually(
            Duration::from_secs(15),
            "every gateway fresh again",
            || async {
                let (_, body) = instance.get_json("/api/models").await;
                GATEWAYS
                    .iter()
                    .all(|id| body["gateways"][id]["status"] == "fresh")
            },
        )
        .await;
    }
    assert_every_gateway_served(&instances, "after recovery").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_drops_the_copy_kept_after_redis_came_back_empty() {
    let mut redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let app = TestApp::builder()
        .redis(&redis)
        .gateway("gw", &mock)
        .spawn()
        .await;
    assert_eq!(ids(&app.get_json("/api/models/gw").await.2), ["m1"]);

    // Redis comes back empty: the instance drops its copy (its sync sees
    // the entry gone) and keeps it aside.
    redis.restart();
    eventually(Duration::from_secs(10), "the copy dropped", || async {
        let (_, _, body) = app.get_json("/api/gateways").await;
        body["data"][0]["cache"]["status"] == "missing"
    })
    .await;
    // The gateway fails: the copy set aside is served.
    mock.set(Behavior::Status(500));
    let (status, _, body) = app.get_json("/api/models/gw").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), ["m1"], "stale-if-error: {body}");

    // The operator drops the gateway: nothing brings the old copy back.
    let (status, body) = app
        .admin(
            "POST",
            "/api/cache/invalidate",
            Some(serde_json::json!({"gateway": "gw"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, _, body) = app.get_json("/api/models/gw").await;
    assert_eq!(body["gateways"]["gw"]["status"], "missing", "{body}");
    assert!(ids(&body).is_empty(), "{body}");
    app.sync().await;
    assert_eq!(app.stored_ids("gw").await, None, "not written back");
}
