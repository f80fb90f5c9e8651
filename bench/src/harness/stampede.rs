//! A stampede: `n` reads released at the same instant (a barrier), spread
//! round-robin over several URLs (one per instance), each on its own
//! connection. What it proves is read from the mock's counters, not here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::Serialize;
use tokio::sync::Barrier;

#[derive(Debug, Clone, Serialize)]
pub struct Burst {
    pub requests: usize,
    /// Answers with a 2xx status.
    pub ok: usize,
    /// From the release to the last answer.
    pub elapsed_ms: u64,
    /// The slowest answer.
    pub max_ms: u64,
}

/// Sends `n` GETs at once over `urls`; every request bounded by `timeout`.
pub async fn burst(urls: &[String], n: usize, timeout: Duration) -> Burst {
    // Connections are not shared: a thousand readers are a thousand clients.
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .build()
        .expect("BUG: a default reqwest client builds");
    let barrier = Arc::new(Barrier::new(n + 1));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (client, barrier) = (client.clone(), Arc::clone(&barrier));
            let url = urls[i % urls.len()].clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let start = Instant::now();
                let ok = match client.get(&url).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                (ok, start.elapsed())
            })
        })
        .collect();
    barrier.wait().await;
    let start = Instant::now();
    let results: Vec<(bool, Duration)> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap_or((false, Duration::ZERO)))
        .collect();
    Burst {
        requests: n,
        ok: results.iter().filter(|(ok, _)| *ok).count(),
        elapsed_ms: start.elapsed().as_millis() as u64,
        max_ms: results
            .iter()
            .map(|(_, d)| d.as_millis() as u64)
            .max()
            .unwrap_or(0),
    }
}
