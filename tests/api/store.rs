//! The store contract, checked against a real Redis, a real three-node Redis
//! Cluster and the embedded store:
//! envelope and TTL, older-never-overwrites, empty-never-replaces, locks.

use crate::common;

use std::time::Duration;

use common::*;
use models_cache::cache::{Entry, now_ms};
use models_cache::store::{EmbeddedStore, RedisStore, SaveOutcome, Store};
use redis::AsyncCommands;

fn entry_at(fetched_at: u64, ids: &[&str]) -> Entry {
    Entry::at(
        fetched_at,
        fetched_at + 60_000,
        fetched_at + 180_000,
        ids.iter().map(|id| model(id)).collect(),
    )
}

async fn saves_and_loads_an_entry(store: &dyn Store) {
    let entry = entry_at(now_ms(), &["a", "b"]);
    assert_eq!(
        store.versions(&["gw", "other"]).await.unwrap(),
        [None, None]
    );
    assert_eq!(store.save("gw", &entry).await.unwrap(), SaveOutcome::Saved);
    assert_eq!(store.load("gw").await.unwrap(), Some(entry.clone()));
    assert_eq!(
        store.versions(&["gw", "other"]).await.unwrap(),
        [Some(entry.fetched_at), None]
    );
    assert!(store.delete("gw").await.unwrap());
    assert_eq!(store.load("gw").await.unwrap(), None);
}

async fn an_older_fetch_never_overwrites_a_newer_one(store: &dyn Store) {
    let now = now_ms();
    let newer = entry_at(now, &["newer"]);
    store.save("gw", &newer).await.unwrap();
    let older = entry_at(now - 5_000, &["older"]);
    assert_eq!(
        store.save("gw", &older).await.unwrap(),
        SaveOutcome::KeptNewer
    );
    assert_eq!(
        store.save("gw", &newer).await.unwrap(),
        SaveOutcome::KeptNewer,
        "same version"
    );
    assert_eq!(store.load("gw").await.unwrap(), Some(newer));
}

async fn an_empty_list_never_replaces_cached_models(store: &dyn Store) {
    let now = now_ms();
    store
        .save("gw", &entry_at(now - 1_000, &["a", "b"]))
        .await
        .unwrap();
    assert_eq!(
        store.save("gw", &entry_at(now, &[])).await.unwrap(),
        SaveOutcome::KeptNonEmpty(2)
    );
    assert_eq!(store.load("gw").await.unwrap().unwrap().models.len(), 2);
    // Where nothing is cached, an empty list is a valid answer.
    assert_eq!(
        store.save("empty", &entry_at(now, &[])).await.unwrap(),
        SaveOutcome::Saved
    );
}

async fn a_lock_has_one_owner_and_expires(store: &dyn Store) {
    assert!(
        store
            .try_lock("gw", "owner-1", Duration::from_secs(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_lock("gw", "owner-2", Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(
        store
            .try_lock("gw", "owner-1", Duration::from_secs(10))
            .await
            .unwrap(),
        "taking it again with the same token (a retry) succeeds"
    );
    assert!(store.lock_held("gw").await.unwrap());
    store.unlock("gw", "owner-2").await.unwrap();
    assert!(
        store.lock_held("gw").await.unwrap(),
        "only the owner releases the lock"
    );
    store.unlock("gw", "owner-1").await.unwrap();
    assert!(!store.lock_held("gw").await.unwrap());

    assert!(
        store
            .try_lock("gw", "owner-3", Duration::from_millis(200))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !store.lock_held("gw").await.unwrap(),
        "a dead holder's lock expires"
    );
    assert!(
        store
            .try_lock("gw", "owner-4", Duration::from_secs(5))
            .await
            .unwrap()
    );
}

async fn a_backoff_expires(store: &dyn Store) {
    store
        .set_backoff("gw", "HTTP 500", Duration::from_millis(600))
        .await
        .unwrap();
    assert_eq!(
        store.backoff("gw").await.unwrap().as_deref(),
        Some("HTTP 500")
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(store.backoff("gw").await.unwrap(), None);
}

async fn an_expired_entry_is_gone(store: &dyn Store) {
    let now = now_ms();
    let short = Entry::at(now, now + 200, now + 600, vec![model("a")]);
    assert_eq!(store.save("gw", &short).await.unwrap(), SaveOutcome::Saved);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(store.versions(&["gw"]).await.unwrap(), [None]);
    assert_eq!(store.load("gw").await.unwrap(), None);
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod on_redis {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let redis = RedisServer::start();
                    let store = RedisStore::single(&redis.url(), "models:").unwrap();
                    super::$name(&store).await;
                }
            )*
        }
        mod on_redis_cluster {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let cluster = RedisCluster::start();
                    let store = RedisStore::cluster(&cluster.urls(), "models:").unwrap();
                    // The cluster client's first connection maps the slots.
                    eventually(Duration::from_secs(20), "the cluster answers", || async {
                        store.ping().await.is_ok()
                    })
                    .await;
                    super::$name(&store).await;
                }
            )*
        }
        mod on_embedded_store {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() { super::$name(&EmbeddedStore::new()).await }
            )*
        }
    };
}

on_both_stores!(
    saves_and_loads_an_entry,
    an_older_fetch_never_overwrites_a_newer_one,
    an_empty_list_never_replaces_cached_models,
    a_lock_has_one_owner_and_expires,
    a_backoff_expires,
    an_expired_entry_is_gone,
);

#[tokio::test]
async fn redis_holds_the_envelope_under_the_prefix_with_ttl_fresh_plus_stale() {
    let redis = RedisServer::start();
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    let entry = entry_at(now_ms(), &["openai/gpt-4o"]);
    store.save("openrouter", &entry).await.unwrap();

    let mut conn = redis.conn().await;
    let (fetched_at, fresh_until, stale_until, models, encoding): (u64, u64, u64, Vec<u8>, String) =
        conn.hmget(
            "models:openrouter",
            &[
                "fetched_at",
                "fresh_until",
                "stale_until",
                "models",
                "encoding",
            ],
        )
        .await
        .unwrap();
    assert_eq!(encoding, "gzip", "stored compressed");
    let mut json = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&models[..]), &mut json)
        .unwrap();
    let models = json;
    assert_eq!(
        (fetched_at, fresh_until, stale_until),
        (entry.fetched_at, entry.fresh_until, entry.stale_until)
    );
    let models: serde_json::Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models[0]["id"], "openai/gpt-4o");
    let ttl_ms: i64 = conn.pttl("models:openrouter").await.unwrap();
    let fresh_plus_stale = (entry.stale_until - entry.fetched_at) as i64;
    assert!(
        ttl_ms <= fresh_plus_stale && ttl_ms > fresh_plus_stale - 5_000,
        "TTL {ttl_ms} ms"
    );
}

#[tokio::test]
async fn a_stopped_redis_gives_errors_not_hangs() {
    let mut redis = RedisServer::start();
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    store.ping().await.unwrap();
    redis.stop();
    let started = std::time::Instant::now();
    assert!(store.versions(&["gw"]).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
    redis.restart();
    common::eventually(Duration::from_secs(10), "the pool reconnects", || async {
        store.ping().await.is_ok()
    })
    .await;
}

#[tokio::test]
async fn an_entry_stored_as_plain_json_is_still_read() {
    let redis = RedisServer::start();
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    let now = now_ms();
    let mut conn = redis.conn().await;
    let _: () = redis::cmd("HSET")
        .arg("models:older")
        .arg(&[
            "fetched_at",
            &now.to_string(),
            "fresh_until",
            &(now + 60_000).to_string(),
        ])
        .arg(&["stale_until", &(now + 120_000).to_string(), "count", "1"])
        .arg(&["models", r#"[{"id":"plain/one"}]"#])
        .query_async(&mut conn)
        .await
        .unwrap();
    let entry = store.load("older").await.unwrap().expect("the entry");
    assert_eq!(entry.models[0].id, "plain/one");

    let _: () = conn
        .hset("models:older", "encoding", "brotli")
        .await
        .unwrap();
    let err = store.load("older").await.unwrap_err();
    assert!(
        err.to_string().contains("unknown encoding \"brotli\""),
        "{err}"
    );
}
