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
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("CACHE_WARMING_SECRET", WARM_SECRET),
    ];
    let toml = mock.gateway_toml("gw");
    join_all((0..count).map(|_| ServiceProcess::start(&env, &toml))).await
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
    let instances = start_instances(&redis, &mock, 2).await;

    for body in read_everywhere(&instances, 100).await {
        assert_eq!(ids(&body), ["old"], "stale data served at once");
    }
    eventually(
        Duration::from_secs(10),
        "the revalidation landed",
        || async {
            store
                .load("gw")
                .await
                .unwrap()
                .is_some_and(|e| e.models[0].id == "new")
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mock.hits(), 1);
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
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    store
        .put_doc("config:runtime", r#"{"warmOnStartup":false}"#)
        .await
        .unwrap();
    let instances = start_instances(&redis, &mock, 3).await;
    assert_eq!(mock.hits(), 0);

    for body in read_everywhere(&instances, 600).await {
        assert_eq!(ids(&body), ["m1"]);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mock.hits(), 1);
}
