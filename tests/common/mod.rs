//! Shared test helpers: a real `redis-server` per test on a free port, mock
//! gateways on loopback whose hit counters tests read, the app in-process on
//! port 0, and the real binary as a child process.
#![allow(dead_code, unused_imports)]

pub mod mock;
pub mod process;
pub mod provider_mock;
pub mod receiver;
pub mod redis_server;
pub mod slow_store;
pub mod test_app;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use models_cache::cache::{Entry, now_ms};
use models_cache::gateways::Model;

pub use mock::{Behavior, InFlight, MockGateway};
pub use process::ServiceProcess;
pub use redis_server::{RedisCluster, RedisServer, TlsRedisServer};
pub use test_app::{Backend, TestApp};

/// Serves `app` on a free loopback port until the task is aborted.
pub async fn serve_on_loopback(
    app: axum::Router,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, task)
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Polls `check` every 20 ms until it holds; panics with `what` after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn model(id: &str) -> Model {
    Model {
        id: id.into(),
        ..Model::default()
    }
}

/// An entry fetched two hours ago, stale for another hour.
pub fn stale_entry(ids: &[&str]) -> Entry {
    let now = now_ms();
    Entry::at(
        now - 2 * 3_600_000,
        now - 3_600_000,
        now + 3_600_000,
        ids.iter().map(|id| model(id)).collect(),
    )
}

/// An entry fetched a second ago, fresh for an hour.
pub fn fresh_entry(ids: &[&str]) -> Entry {
    let now = now_ms();
    Entry::at(
        now - 1000,
        now + 3_600_000,
        now + 7_200_000,
        ids.iter().map(|id| model(id)).collect(),
    )
}

/// The ids of a catalog response's `data`.
pub fn ids(body: &serde_json::Value) -> Vec<String> {
    body["data"]
        .as_array()
        .expect("a data array")
        .iter()
        .map(|m| m["id"].as_str().expect("an id").to_owned())
        .collect()
}
