//! What the cache holds is what an operator and the upstream last said: an
//! invalidation is never undone by a fetch that began before it, a newer
//! fetch is never replaced by an older stored entry, and the fetch lock is
//! held for as long as its fetch runs.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::common::slow_store::SlowAnswers;
use crate::common::*;
use models_cache::store::RedisStore;

/// Long enough to act while the upstream "thinks", short against the 5 s timeout.
const UPSTREAM_DELAY: Duration = Duration::from_millis(1500);

/// A mock whose answers are what its list was when their request came.
async fn slow_upstream(ids: &[&str]) -> MockGateway {
    let mock = MockGateway::start(ids).await;
    mock.answer_as_at_request();
    mock
}

async fn wait_for_hits(mock: &MockGateway, hits: usize) {
    eventually(Duration::from_secs(10), "the upstream request", || async {
        mock.hits() >= hits
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_and_warm_during_a_warm_stores_what_the_upstream_says_after_it() {
    let redis = RedisServer::start();
    let mock = slow_upstream(&["before"]).await;
    let app = TestApp::builder()
        .redis(&redis)
        .gateway_toml(&mock.gateway_toml("gw"))
        .spawn()
        .await;
    mock.set_delay(UPSTREAM_DELAY);

    let warm = tokio::spawn({
        let url = app.url("/api/cache/warm-models");
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(test_app::WARM_SECRET)
                .send()
                .await
                .unwrap()
        }
    });
    wait_for_hits(&mock, 1).await;
    // The upstream changes while the warm's request is in flight, and the
    // operator asks for the new list.
    mock.set_models(&["after"]);
    let (status, body) = app
        .admin(
            "POST",
            "/api/cache/invalidate-and-warm",
            Some(json!({"gateway": "gw"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["warm"]["gateways"]["gw"]["count"], 1);
    warm.await.unwrap();

    assert_eq!(mock.hits(), 2, "the invalidate-and-warm fetched on its own");
    assert_eq!(app.stored_ids("gw").await, Some(vec!["after".to_owned()]));
    let (_, headers, body) = app.get_json("/api/models").await;
    assert_eq!(ids(&body), ["after"]);
    assert_eq!(headers["x-cache"], "HIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_on_another_instance_is_not_undone_by_a_revalidation_in_flight() {
    let redis = RedisServer::start();
    let mock = slow_upstream(&["revalidated"]).await;
    let toml = mock.gateway_toml("gw");
    let reader = TestApp::builder()
        .redis(&redis)
        .gateway_toml(&toml)
        .spawn()
        .await;
    let operator = TestApp::builder()
        .redis(&redis)
        .gateway_toml(&toml)
        .spawn()
        .await;
    reader.seed("gw", stale_entry(&["stale"])).await;
    mock.set_delay(UPSTREAM_DELAY);

    // A stale read starts a revalidation; the operator drops the entry
    // while its upstream request is in flight.
    assert_eq!(reader.get_json("/api/models").await.1["x-cache"], "STALE");
    wait_for_hits(&mock, 1).await;
    mock.set_models(&["current"]);
    let (status, _) = operator
        .admin(
            "POST",
            "/api/cache/invalidate",
            Some(json!({"gateway": "gw"})),
        )
        .await;
    assert_eq!(status, 200);

    // The revalidation ends (and is counted) without storing its list.
    eventually(
        Duration::from_secs(10),
        "the revalidation ended",
        || async {
            let (_, stats) = operator.admin("GET", "/api/cache/stats", None).await;
            stats["data"]["revalidations"] == 1
        },
    )
    .await;
    assert_eq!(
        reader.stored_ids("gw").await,
        None,
        "the invalidation stands"
    );
    reader.sync().await;
    mock.set_delay(Duration::ZERO);
    for app in [&reader, &operator] {
        let (_, headers, body) = app.get_json("/api/models").await;
        assert_eq!(ids(&body), ["current"], "{}", app.url(""));
        assert_ne!(headers["x-cache"], "STALE");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_the_store_did_not_take_is_written_back_not_replaced_by_the_older_one() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["v1"]).await;
    let app = TestApp::builder()
        .redis(&redis)
        .gateway("gw", &mock)
        .spawn()
        .await;
    assert_eq!(app.warm(None).await.0, 200);
    assert_eq!(app.stored_ids("gw").await, Some(vec!["v1".to_owned()]));

    // Redis stops answering during a warm: the lock and the epoch time out,
    // the store is skipped for a moment, and the new list stays in memory.
    mock.set_models(&["v2"]);
    redis.freeze();
    let (status, body) = app.warm(None).await;
    redis.thaw();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["gateways"]["gw"]["ok"], true);

    // Every sync from here on finds the older v1 in the store.
    eventually(
        Duration::from_secs(10),
        "v2 written back to Redis",
        || async {
            let (_, _, body) = app.get_json("/api/models").await;
            assert_eq!(
                ids(&body),
                ["v2"],
                "an older stored entry replaced the newer fetch"
            );
            app.store()
                .load("gw")
                .await
                .ok()
                .flatten()
                .is_some_and(|e| e.models[0].id == "v2")
        },
    )
    .await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(ids(&app.get_json("/api/models").await.2), ["v2"]);
    }
    assert_eq!(mock.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fetch_lock_is_held_until_the_fetched_list_is_stored() {
    let redis = RedisServer::start();
    // The holder learns late that it took the lock, and its save is slow to
    // answer: together more than the fetch timeout's margin (each still
    // within the service's own bound on a store call).
    let mut slow = SlowAnswers::new(Arc::new(
        RedisStore::single(&redis.url(), "models:").unwrap(),
    ));
    slow.lock = Duration::from_millis(900);
    slow.save = Duration::from_millis(800);
    let mock = MockGateway::start(&["m"]).await;
    let toml = format!(
        "[[gateway]]\nid = \"gw\"\nkind = \"openai\"\nbase_url = \"{}\"\ntimeout = \"2s\"\n",
        mock.base_url()
    );
    let holder = TestApp::builder()
        .store(Arc::new(slow))
        .gateway_toml(&toml)
        .spawn()
        .await;
    let waiter = TestApp::builder()
        .redis(&redis)
        .gateway_toml(&toml)
        .spawn()
        .await;
    // 0.9 s + 1.7 s + 0.8 s: past the 3 s a lock of timeout + 1 s lasts.
    mock.set_delay(Duration::from_millis(1700));

    let first = tokio::spawn({
        let url = holder.url("/api/models");
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    });
    eventually(
        Duration::from_secs(5),
        "the holder took the lock",
        || async {
            let mut conn = redis.conn().await;
            redis::AsyncCommands::exists::<_, bool>(&mut conn, "models:lock:gw")
                .await
                .unwrap()
        },
    )
    .await;
    // A cold read on another instance waits for the holder, then serves
    // what it stored: the lock did not lapse before the save.
    let t = std::time::Instant::now();
    let (status, _, body) = waiter.get_json("/api/models").await;
    let first = first.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        ids(&body),
        ["m"],
        "the waiter saw after {:?}: {body}; the holder {first}",
        t.elapsed()
    );
    assert_eq!(ids(&first), ["m"]);
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn a_warm_whose_lock_holder_stored_nothing_new_fetches_itself() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let app = TestApp::builder()
        .redis(&redis)
        .gateway("g", &mock)
        .spawn()
        .await;
    // Another instance holds g's fetch lock…
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let lock = "models:lock:g";
    let _: () = redis::cmd("SET")
        .arg(lock)
        .arg("another-instance")
        .arg("PX")
        .arg(30_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    let base = app.url("");
    let warm = tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(format!("{base}/api/cache/warm-models"))
            .bearer_auth(test_app::WARM_SECRET)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json::<serde_json::Value>().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mock.hits(), 0, "the warm waits for the holder");
    // …and lets it go having stored nothing (it took an entry stored
    // meanwhile, say): nobody fetched for this warm.
    let _: () = redis::cmd("DEL")
        .arg(lock)
        .query_async(&mut conn)
        .await
        .unwrap();
    let (status, report) = warm.await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["gateways"]["g"]["ok"], true, "{report}");
    assert_eq!(report["gateways"]["g"]["count"], 1, "{report}");
    assert_eq!(mock.hits(), 1, "the warm fetched itself");
}
