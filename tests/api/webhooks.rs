//! Change webhooks: signed POSTs to a real receiver on loopback, delivered at
//! least once, in order, by one of several real processes sharing a Redis,
//! through a receiver's outage and the delivering instance's death.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::changes::{openrouter_list, openrouter_toml};
use crate::common::process::run_async;
use crate::common::receiver::{Delivery, Mode, Receiver};
use crate::common::test_app::WARM_SECRET;
use crate::common::*;

const SECRET: &str = "whsec-test-5f1c0a";
/// Long enough for a lease to lapse (5 s) and the next holder to deliver.
const DELIVERED: Duration = Duration::from_secs(30);

async fn instances(
    redis: &RedisServer,
    receiver: &Receiver,
    mock: &MockGateway,
    count: usize,
    extra: &[(&str, &str)],
) -> Vec<ServiceProcess> {
    let (redis_url, hook) = (redis.url(), receiver.url());
    let mut env = vec![
        ("REDIS_URL", redis_url.as_str()),
        ("CACHE_WARMING_SECRET", WARM_SECRET),
        ("WEBHOOK_URLS", hook.as_str()),
        ("WEBHOOK_SECRET", SECRET),
    ];
    env.extend_from_slice(extra);
    let toml = openrouter_toml("or", mock);
    join_all((0..count).map(|_| ServiceProcess::start(&env, &toml))).await
}

async fn warm(instance: &ServiceProcess) {
    let (status, body) = instance.admin("POST", "/api/cache/warm-models", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn delivered(receiver: &Receiver, count: usize) -> Vec<Delivery> {
    eventually(DELIVERED, &format!("{count} deliveries"), || async {
        receiver.accepted().len() >= count
    })
    .await;
    receiver.accepted()
}

fn records(deliveries: &[Delivery]) -> Vec<(String, String)> {
    deliveries
        .iter()
        .flat_map(|d| &d.changes)
        .map(|c| {
            let model = c["model"].as_str().unwrap_or("").to_owned();
            (c["type"].as_str().unwrap().to_owned(), model)
        })
        .collect()
}

/// A fetch's list: `n` models `acme/m<k>` priced `price`.
fn list(n: usize, price: &str) -> String {
    let ids: Vec<String> = (0..n).map(|k| format!("acme/m{k}")).collect();
    let models: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), price)).collect();
    openrouter_list(&models)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_deliver_each_change_once_signed() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(SECRET).await;
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Body(list(2, "0.000001")));
    let all = instances(&redis, &receiver, &mock, 3, &[]).await;
    join_all(all.iter().map(warm)).await;
    mock.set(Behavior::Body(list(2, "0.000002")));
    for _ in 0..3 {
        join_all(all.iter().map(warm)).await;
    }
    let deliveries = delivered(&receiver, 2).await;
    // Time for any duplicate to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deliveries_after = receiver.accepted();
    assert_eq!(deliveries_after.len(), 2, "{deliveries_after:?}");
    assert_eq!(
        records(&deliveries),
        [
            ("listed".to_owned(), String::new()),
            ("changed".to_owned(), "acme/m0".to_owned()),
            ("changed".to_owned(), "acme/m1".to_owned()),
        ],
        "the changes of one fetch in one POST"
    );
    assert_eq!(deliveries[1].changes.len(), 2);
    assert_eq!(
        deliveries[1].id, deliveries[1].changes[0]["seq"],
        "delivery id"
    );
    assert_eq!(receiver.bad_signatures(), 0);
    assert!(
        !receiver.headers_seen().contains(SECRET),
        "the secret is never sent"
    );
    let (_, stats) = all[0].admin("GET", "/api/cache/stats", None).await;
    assert_eq!(stats["data"]["webhookDeliveries"], 2, "{stats}");
    for instance in all {
        let (_, log) = instance.stop().await;
        assert!(!log.contains(SECRET), "the secret is never logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_every_change_in_order_once() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(SECRET).await;
    receiver.set(Mode::Fail(503));
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Body(list(1, "0.000001")));
    let all = instances(&redis, &receiver, &mock, 2, &[]).await;
    let prices = ["0.000001", "0.000002", "0.000003", "0.000004"];
    for (n, price) in prices.iter().enumerate() {
        mock.set(Behavior::Body(list(1, price)));
        warm(&all[n % 2]).await;
    }
    eventually(DELIVERED, "a few failed attempts", || async {
        receiver.attempts() >= 3
    })
    .await;
    receiver.set(Mode::Accept);
    delivered(&receiver, 4).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let deliveries = receiver.accepted();
    assert_eq!(deliveries.len(), 4, "each once: {deliveries:?}");
    let tos: Vec<&Value> = deliveries[1..]
        .iter()
        .map(|d| &d.changes[0]["fields"]["pricing.prompt"]["to"])
        .collect();
    assert_eq!(tos, ["0.000002", "0.000003", "0.000004"], "in order");
    let ids: Vec<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(ids, sorted, "no delivery twice");
    let (_, stats) = all[0].admin("GET", "/api/cache/stats", None).await;
    assert!(
        stats["data"]["webhookRetries"].as_u64() >= Some(3),
        "{stats}"
    );
    assert_eq!(stats["data"]["webhookDrops"], 0);
    let metrics = reqwest::get(all[0].url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let holder_metrics = reqwest::get(all[1].url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        format!("{metrics}{holder_metrics}")
            .contains("models_cache_webhook_deliveries_total{outcome=\"retried\"}"),
        "retries in the metrics"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_delivering_instance_is_killed_another_delivers_its_pending_changes() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(SECRET).await;
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Body(list(1, "0.000001")));
    let mut all = instances(&redis, &receiver, &mock, 2, &[]).await;
    warm(&all[0]).await;
    delivered(&receiver, 1).await;
    // The holder is stuck in a POST when it dies.
    receiver.set(Mode::Hang);
    mock.set(Behavior::Body(list(1, "0.000002")));
    warm(&all[1]).await;
    eventually(DELIVERED, "a POST in flight", || async {
        receiver.attempts() >= 2
    })
    .await;
    let holder = all
        .iter()
        .position(|i| i.log().contains("delivering webhooks from this instance"))
        .expect("one instance delivers");
    all[holder].kill();
    receiver.set(Mode::Accept);
    let deliveries = delivered(&receiver, 2).await;
    let survivor = &all[1 - holder];
    assert!(
        survivor
            .log()
            .contains("delivering webhooks from this instance")
    );
    assert_eq!(
        deliveries[1].changes[0]["fields"]["pricing.prompt"]["to"], "0.000002",
        "{deliveries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_failing_for_longer_than_webhook_retry_for_is_dropped_and_the_next_goes_on() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(SECRET).await;
    receiver.set(Mode::Fail(500));
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Body(list(1, "0.000001")));
    let all = instances(&redis, &receiver, &mock, 1, &[("WEBHOOK_RETRY_FOR", "2s")]).await;
    warm(&all[0]).await;
    eventually(DELIVERED, "the delivery dropped", || async {
        let (_, stats) = all[0].admin("GET", "/api/cache/stats", None).await;
        stats["data"]["webhookDrops"] == 1
    })
    .await;
    receiver.set(Mode::Accept);
    mock.set(Behavior::Body(list(1, "0.000002")));
    warm(&all[0]).await;
    let deliveries = delivered(&receiver, 1).await;
    assert_eq!(
        records(&deliveries),
        [("changed".to_owned(), "acme/m0".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_another_host_or_a_missing_secret_stops_start_up() {
    let toml = "";
    for (env, named) in [
        (
            vec![
                ("WEBHOOK_URLS", "http://hooks.example.com/x"),
                ("WEBHOOK_SECRET", "s"),
            ],
            "WEBHOOK_URLS",
        ),
        (
            vec![("WEBHOOK_URLS", "https://hooks.example.com/x")],
            "WEBHOOK_SECRET",
        ),
        (
            vec![
                ("WEBHOOK_URLS", "ftp://hooks.example.com/x"),
                ("WEBHOOK_SECRET", "s"),
            ],
            "WEBHOOK_URLS",
        ),
    ] {
        let output = run_async(&["serve"], &env, toml).await;
        assert_eq!(output.status.code(), Some(2), "{env:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
        assert!(
            !stderr.contains("hooks.example.com"),
            "no URL echoed: {stderr}"
        );
    }
    let allowed = [
        ("WEBHOOK_URLS", "http://hooks.example.com/x"),
        ("WEBHOOK_SECRET", "s"),
        ("WEBHOOK_ALLOW_HTTP", "true"),
    ];
    let service = ServiceProcess::start(&allowed, toml).await;
    let (status, _) = service.get_json("/healthz").await;
    assert_eq!(status, StatusCode::OK);
}
