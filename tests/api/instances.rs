//! Several real service processes sharing one Redis: one upstream request per
//! gateway however many instances read or warm, and restarts served from Redis.

use crate::common;

use std::time::Duration;

use common::test_app::WARM_SECRET;
use common::*;
use futures::future::join_all;
use models_cache::store::{RedisStore, Store};

async fn start_instances(
    redis: &RedisServer,
    mock: &MockGateway,
    count: usize,
) -> Vec<ServiceProcess> {
    start_instances_with(redis, &mock.gateway_toml("gw"), &[], count).await
}

/// `count` processes on `redis` serving `toml`, with `env` added.
async fn start_instances_with(
    redis: &RedisServer,
    toml: &str,
    env: &[(&str, &str)],
    count: usize,
) -> Vec<ServiceProcess> {
    let url = redis.url();
    let mut env = env.to_vec();
    env.extend([
        ("REDIS_URL", url.as_str()),
        ("CACHE_WARMING_SECRET", WARM_SECRET),
    ]);
    join_all((0..count).map(|_| ServiceProcess::start(&env, toml))).await
}

/// Turns the start-up warm off in the shared runtime config, so that only
/// reads fetch: instances started after this call do not warm.
async fn no_start_up_warm(store: &RedisStore) {
    store
        .put_doc("config:runtime", r#"{"warmOnStartup":false}"#)
        .await
        .unwrap();
}

/// Waits until each instance has logged that it skipped its start-up warm.
async fn start_up_warms_skipped(instances: &[ServiceProcess]) {
    for instance in instances {
        eventually(Duration::from_secs(10), "start-up warm skipped", || async {
            instance.log().contains("start-up warm skipped")
        })
        .await;
    }
}

/// Waits until every instance answers `/api/models` with `expected`, fresh.
async fn all_serve_fresh(instances: &[ServiceProcess], expected: &[&str]) {
    let client = reqwest::Client::new();
    for instance in instances {
        let url = instance.url("/api/models");
        eventually(Duration::from_secs(10), "a fresh answer", || async {
            let response = client.get(&url).send().await.unwrap();
            let hit = response.headers()["x-cache"] == "HIT";
            hit && ids(&response.json().await.unwrap()) == expected
        })
        .await;
    }
}

/// `reads` concurrent GETs of `/api/models`, spread over the instances.
async fn read_everywhere(instances: &[ServiceProcess], reads: usize) -> Vec<serde_json::Value> {
    let client = reqwest::Client::new();
    let requests = (0..reads).map(|i| {
        let url = instances[i % instances.len()].url("/api/models");
        let client = client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    });
    join_all(requests).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_a_stale_entry_make_one_upstream_request() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["new"]).await;
    // Long enough that every read below lands while the revalidation runs.
    mock.set_delay(Duration::from_secs(2));
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    store.save("gw", &stale_entry(&["old"])).await.unwrap();
    // No start-up warm: the stale readers of both instances revalidate, and
    // only the cross-instance lock keeps it to one fetch.
    no_start_up_warm(&store).await;
    let instances = start_instances(&redis, &mock, 2).await;
    start_up_warms_skipped(&instances).await;
    assert_eq!(mock.hits(), 0);

    for body in read_everywhere(&instances, 100).await {
        assert_eq!(ids(&body), ["old"], "stale data served at once");
        assert_eq!(body["gateways"]["gw"]["status"], "stale");
    }
    // Every revalidation started with the reads, long before the first one
    // (held 2 s by the upstream) landed and both instances took it up.
    all_serve_fresh(&instances, &["new"]).await;
    assert_eq!(mock.hits(), 1, "one revalidation for both instances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_on_one_instance_keeps_the_others_readers_off_the_upstream() {
    let redis = RedisServer::start();
    let failing = MockGateway::start(&[]).await;
    failing.set(Behavior::Status(500));
    // A healthy stale gateway read alongside: its revalidation landing on B
    // is the sign that B's revalidations of that read have run.
    let canary = MockGateway::start(&["canary-new"]).await;
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    store.save("gw", &stale_entry(&["kept"])).await.unwrap();
    store
        .save("canary", &stale_entry(&["canary-old"]))
        .await
        .unwrap();
    no_start_up_warm(&store).await;
    let toml = [failing.gateway_toml("gw"), canary.gateway_toml("canary")].concat();
    let env = [("REVALIDATE_BACKOFF", "60s")];
    let instances = start_instances_with(&redis, &toml, &env, 2).await;
    let (a, b) = (&instances[0], &instances[1]);
    start_up_warms_skipped(&instances).await;

    // A stale read on A: its revalidation fails and records the backoff.
    let (_, body) = a.get_json("/api/models/gw").await;
    assert_eq!(ids(&body), ["kept"]);
    let conn = redis.conn().await;
    eventually(Duration::from_secs(10), "A recorded the backoff", || {
        let mut conn = conn.clone();
        async move {
            use redis::AsyncCommands;
            conn.exists::<_, bool>("models:backoff:gw").await.unwrap()
        }
    })
    .await;
    assert_eq!(failing.hits(), 1);

    // Stale reads on B, which never failed itself.
    for _ in 0..10 {
        let (status, body) = b.get_json("/api/models").await;
        assert_eq!(status, 200);
        assert!(ids(&body).contains(&"kept".to_owned()), "{body}");
    }
    eventually(
        Duration::from_secs(10),
        "B revalidated the canary",
        || async {
            canary.hits() >= 1 && ids(&b.get_json("/api/models/canary").await.1) == ["canary-new"]
        },
    )
    .await;
    assert_eq!(
        failing.hits(),
        1,
        "B's readers left the gateway alone during A's backoff"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_a_cold_cache_make_one_upstream_request() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1", "m2"]).await;
    mock.set_delay(Duration::from_millis(400));
    let instances = start_instances(&redis, &mock, 2).await;
    // Start-up warms would fetch too: wait until they are done, then empty the cache.
    eventually(Duration::from_secs(10), "start-up warms done", || async {
        mock.hits() >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(mock.hits(), 1, "the two start-up warms shared one fetch");
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    store.delete("gw").await.unwrap();
    for instance in &instances {
        let url = instance.url("/api/gateways");
        eventually(
            Duration::from_secs(5),
            "the instance synced the deletion",
            || async {
                let body: serde_json::Value =
                    reqwest::get(&url).await.unwrap().json().await.unwrap();
                body["data"][0]["cache"]["status"] == "missing"
            },
        )
        .await;
    }

    for body in read_everywhere(&instances, 100).await {
        assert_eq!(ids(&body), ["m1", "m2"]);
    }
    assert_eq!(
        mock.hits(),
        2,
        "one more request for 100 cold reads on two instances"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warms_on_two_instances_at_once_share_one_fetch() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let instances = start_instances(&redis, &mock, 2).await;
    eventually(Duration::from_secs(10), "start-up warm done", || async {
        mock.hits() == 1
    })
    .await;
    mock.set_delay(Duration::from_millis(500));

    let client = reqwest::Client::new();
    let warms = instances.iter().map(|i| {
        client
            .post(i.url("/api/cache/warm-models"))
            .bearer_auth(WARM_SECRET)
            .send()
    });
    for response in join_all(warms).await {
        let report: serde_json::Value = response.unwrap().json().await.unwrap();
        assert_eq!(report["gateways"]["gw"]["ok"], true, "{report}");
        assert_eq!(report["gateways"]["gw"]["count"], 1);
    }
    assert_eq!(
        mock.hits(),
        2,
        "one fetch for the start-up, one for both warms"
    );
}

#[tokio::test]
async fn a_restarted_instance_serves_from_redis_without_refetching() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1", "m2"]).await;
    let mut first = start_instances(&redis, &mock, 1).await.remove(0);
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    eventually(Duration::from_secs(10), "start-up warm stored", || async {
        matches!(store.load("gw").await, Ok(Some(_)))
    })
    .await;
    assert_eq!(mock.hits(), 1);
    assert!(first.terminate().success());

    let second = start_instances(&redis, &mock, 1).await.remove(0);
    let body = read_everywhere(std::slice::from_ref(&second), 1)
        .await
        .remove(0);
    assert_eq!(ids(&body), ["m1", "m2"]);
    assert_eq!(body["gateways"]["gw"]["status"], "fresh");
    eventually(
        Duration::from_secs(10),
        "the start-up warm found nothing to do",
        || async {
            second
                .log()
                .contains("every gateway is fresh; nothing to warm")
        },
    )
    .await;
    assert_eq!(
        mock.hits(),
        1,
        "neither the start-up warm nor the read refetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_instance_stores_the_other_serves_from_memory_soon_after() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["v1"]).await;
    let instances = start_instances(&redis, &mock, 2).await;
    eventually(
        Duration::from_secs(10),
        "both instances serve v1",
        || async {
            read_everywhere(&instances, 2)
                .await
                .iter()
                .all(|b| ids(b) == ["v1"])
        },
    )
    .await;

    mock.set_models(&["v2"]);
    let client = reqwest::Client::new();
    let warm = client
        .post(instances[0].url("/api/cache/warm-models"))
        .bearer_auth(WARM_SECRET)
        .send();
    assert_eq!(warm.await.unwrap().status(), 200);
    let other = instances[1].url("/api/models");
    eventually(
        Duration::from_secs(2),
        "the other instance serves v2",
        || async {
            let response = client.get(&other).send().await.unwrap();
            let hit = response.headers()["x-cache"] == "HIT";
            hit && ids(&response.json().await.unwrap()) == ["v2"]
        },
    )
    .await;
    assert_eq!(mock.hits(), 2, "the other instance did not fetch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_under_a_cold_burst_of_600_reads_make_one_upstream_request() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    mock.set_delay(Duration::from_millis(500));
    // No start-up warm: the burst itself finds the cache cold.
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    no_start_up_warm(&store).await;
    let instances = start_instances(&redis, &mock, 3).await;
    start_up_warms_skipped(&instances).await;
    assert_eq!(mock.hits(), 0);

    // Every read waited for its fetch: once all have answered, every fetch
    // they caused has reached the upstream.
    for body in read_everywhere(&instances, 600).await {
        assert_eq!(ids(&body), ["m1"]);
    }
    assert_eq!(mock.hits(), 1);
}
