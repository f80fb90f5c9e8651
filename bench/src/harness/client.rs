//! The harness's HTTP calls: to the mock's control and stats endpoints, and
//! to the service's health, status and warm endpoints. All bounded.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

/// One HTTP client for the harness's own calls (not the load).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("BUG: a default reqwest client builds")
}

/// The mock gateways' counters.
#[derive(Debug, Deserialize)]
pub struct MockStats {
    pub in_flight: usize,
    pub gateways: Vec<MockGateway>,
}

#[derive(Debug, Deserialize)]
pub struct MockGateway {
    pub requests: usize,
    /// Answered 500 or 504 by a fault (`Mock::fail`).
    #[serde(default)]
    pub failed: usize,
    pub bytes: usize,
    pub latency_ms: u64,
}

pub struct Mock {
    pub base: String,
    http: reqwest::Client,
}

impl Mock {
    pub fn new(base: String) -> Self {
        Self {
            base,
            http: client(),
        }
    }

    /// `latency`: `"2000"` or `"50..800"`; `reset` zeroes the counters.
    pub async fn control(&self, latency: Option<&str>, reset: bool) -> Result<(), String> {
        let body = json!({"latency_ms": latency, "reset": reset});
        let response = self
            .http
            .post(format!("{}/control", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("mock control: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("mock control answered {}", response.status()));
        }
        Ok(())
    }

    /// Changes gateway `n`'s list (one more model; `--distinct` mocks only).
    pub async fn revise(&self, n: usize) -> Result<(), String> {
        self.command(json!({"revise": n})).await
    }

    /// Gives 5 % of every gateway's models round `round`'s prices.
    pub async fn reprice(&self, round: usize) -> Result<(), String> {
        self.command(json!({"reprice": round})).await
    }

    /// Gateways `gateways` answer `mode` (`"500"`, `"hang"`, `"ok"`) for
    /// `for_ms`.
    pub async fn fail(
        &self,
        gateways: std::ops::Range<usize>,
        mode: &str,
        for_ms: u64,
    ) -> Result<(), String> {
        let range = format!("{}..{}", gateways.start, gateways.end);
        self.command(json!({"fail": {"gateways": range, "mode": mode, "for_ms": for_ms}}))
            .await
    }

    async fn command(&self, body: Value) -> Result<(), String> {
        let response = self
            .http
            .post(format!("{}/control", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("mock control: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "mock control {body} answered {}",
                response.status()
            ));
        }
        Ok(())
    }

    pub async fn stats(&self) -> Result<MockStats, String> {
        get_json(&self.http, &format!("{}/stats", self.base)).await
    }

    /// Waits until no upstream request is in flight, plus `settle` (so
    /// requests about to be sent are counted too); the counters then.
    pub async fn quiet(&self, settle: Duration) -> Result<MockStats, String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            tokio::time::sleep(settle).await;
            let stats = self.stats().await?;
            if stats.in_flight == 0 {
                return Ok(stats);
            }
            if Instant::now() > deadline {
                return Err("upstream requests still in flight after 60 s".into());
            }
        }
    }
}

pub async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: {}", response.status()));
    }
    response.json().await.map_err(|e| format!("GET {url}: {e}"))
}

/// The body of `url` as text (`/metrics`).
pub async fn get_text(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    response.text().await.map_err(|e| format!("GET {url}: {e}"))
}

/// Polls `url` until it answers 2xx, for at most `timeout`.
pub async fn wait_ok(http: &reqwest::Client, url: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{url} did not answer 2xx within {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the service's status endpoint (which neither fetches nor
/// revalidates) until every gateway is in `state`, for at most `timeout`.
pub async fn wait_state(
    http: &reqwest::Client,
    base: &str,
    state: &str,
    timeout: Duration,
) -> Result<(), String> {
    wait_states(http, base, &[state], timeout).await
}

/// Like [`wait_state`], every gateway in one of `states`.
pub async fn wait_states(
    http: &reqwest::Client,
    base: &str,
    states_wanted: &[&str],
    timeout: Duration,
) -> Result<(), String> {
    let state = states_wanted.join(" or ");
    let url = format!("{base}/api/cache/warm-models");
    let deadline = Instant::now() + timeout;
    loop {
        let status: Value = get_json(http, &url).await?;
        let states: Vec<&str> = status["gateways"]
            .as_object()
            .map(|g| g.values().filter_map(|v| v["status"].as_str()).collect())
            .unwrap_or_default();
        if !states.is_empty() && states.iter().all(|s| states_wanted.contains(s)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{base}: gateways not all {state} within {timeout:?}: {states:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `POST /api/cache/warm-models`; its report. Fails unless every gateway is ok.
pub async fn warm(http: &reqwest::Client, base: &str, secret: &str) -> Result<Value, String> {
    let response = http
        .post(format!("{base}/api/cache/warm-models"))
        .bearer_auth(secret)
        .send()
        .await
        .map_err(|e| format!("warm {base}: {e}"))?;
    let status = response.status();
    let report: Value = response
        .json()
        .await
        .map_err(|e| format!("warm {base}: {e}"))?;
    if !status.is_success() || report["success"] != true {
        return Err(format!("warm {base} answered {status}: {report}"));
    }
    Ok(report)
}
