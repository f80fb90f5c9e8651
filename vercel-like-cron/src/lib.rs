//! vercel-like-cron: Vercel Cron for self-hosted deployments.
//!
//! Vercel reads the `crons` of a project's `vercel.json` and, on each 5-field
//! UTC schedule, sends `GET <path>` to the deployment with
//! `Authorization: Bearer $CRON_SECRET` and `User-Agent: vercel-cron/1.0`.
//! This crate does the same against any `--base-url`, so the service's cron
//! endpoint works identically on Vercel and off it.
//!
//! A failed call is logged and the schedule goes on; a call still running
//! when its cron is due again makes that run skip (calls never pile up).

use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use croner::Cron;
use futures::future::join_all;
use serde::Deserialize;

pub const USER_AGENT: &str = "vercel-cron/1.0";

/// A `vercel.json` that cannot be used; `Display` is the one line printed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{file}: {problem}")]
    File { file: String, problem: String },
    #[error("cron {index} ({path:?}): {problem}")]
    Cron {
        index: usize,
        path: String,
        problem: String,
    },
}

/// When a job fires.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A 5-field cron expression, evaluated in UTC (Vercel's semantics).
    Cron(Box<Cron>),
    /// A fixed interval: for tests and local experiments, not in `vercel.json`.
    Every(Duration),
}

/// One cron of the file: a path and when to call it.
#[derive(Debug, Clone)]
pub struct Job {
    pub path: String,
    pub expression: String,
    pub schedule: Schedule,
}

#[derive(Deserialize)]
struct VercelJson {
    #[serde(default)]
    crons: Vec<RawCron>,
}

#[derive(Deserialize)]
struct RawCron {
    path: String,
    schedule: String,
}

impl Job {
    /// A job from a 5-field expression such as `0 */3 * * *`.
    pub fn new(path: &str, expression: &str) -> Result<Self, String> {
        if !path.starts_with('/') {
            return Err("path must start with /".into());
        }
        let fields = expression.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "schedule {expression:?} has {fields} fields; Vercel crons have 5 (minute hour day month weekday)"
            ));
        }
        let cron = Cron::from_str(expression)
            .map_err(|e| format!("schedule {expression:?} is not a valid cron expression: {e}"))?;
        Ok(Self {
            path: path.to_owned(),
            expression: expression.to_owned(),
            schedule: Schedule::Cron(Box::new(cron)),
        })
    }

    /// A job firing every `interval` (not expressible in `vercel.json`).
    pub fn every(path: &str, interval: Duration) -> Self {
        Self {
            path: path.to_owned(),
            expression: format!("every {interval:?}"),
            schedule: Schedule::Every(interval),
        }
    }

    /// The first firing strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.schedule {
            Schedule::Cron(cron) => cron.find_next_occurrence(&after, false).ok(),
            Schedule::Every(interval) => Some(after + chrono::Duration::from_std(*interval).ok()?),
        }
    }
}

/// Parses a `vercel.json`'s text; other top-level keys are ignored.
pub fn parse_config(text: &str, file: &str) -> Result<Vec<Job>, ConfigError> {
    let parsed: VercelJson = serde_json::from_str(text).map_err(|e| ConfigError::File {
        file: file.to_owned(),
        problem: format!("invalid JSON: {e}"),
    })?;
    parsed
        .crons
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            Job::new(&raw.path, &raw.schedule).map_err(|problem| ConfigError::Cron {
                index,
                path: raw.path.clone(),
                problem,
            })
        })
        .collect()
}

pub fn load_config(path: &Path) -> Result<Vec<Job>, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        file: file.clone(),
        problem: format!("cannot read: {e}"),
    })?;
    parse_config(&text, &file)
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    pub status: Option<u16>,
    pub duration: Duration,
    /// Set when the call failed (transport error or non-2xx).
    pub error: Option<String>,
}

impl CallOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Sends the cron requests.
pub struct Caller {
    client: reqwest::Client,
    base_url: String,
    secret: Option<String>,
}

impl Caller {
    pub fn new(base_url: &str, secret: Option<String>, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .build()
            .expect("BUG: a reqwest client with static settings always builds");
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret,
        }
    }

    /// `GET <base><path>` as Vercel sends it; logs the outcome.
    pub async fn fire(&self, path: &str) -> CallOutcome {
        let started = Instant::now();
        let mut request = self.client.get(format!("{}{path}", self.base_url));
        if let Some(secret) = &self.secret {
            request = request.bearer_auth(secret);
        }
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status();
                CallOutcome {
                    status: Some(status.as_u16()),
                    duration: started.elapsed(),
                    error: (!status.is_success()).then(|| format!("HTTP {status}")),
                }
            }
            Err(e) => CallOutcome {
                status: None,
                duration: started.elapsed(),
                error: Some(error_chain(&e.without_url())),
            },
        };
        log(path, &outcome);
        outcome
    }
}

fn log(path: &str, outcome: &CallOutcome) {
    let duration_ms = outcome.duration.as_millis() as u64;
    match &outcome.error {
        None => tracing::info!(
            method = "GET",
            path,
            status = outcome.status,
            duration_ms,
            "cron call"
        ),
        Some(error) => {
            tracing::error!(method = "GET", path, status = outcome.status, duration_ms, error = %error, "cron call failed")
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `--once`: fires every job now, concurrently; whether all succeeded.
pub async fn fire_all(jobs: &[Job], caller: &Caller) -> bool {
    let calls = jobs.iter().map(|job| caller.fire(&job.path));
    join_all(calls).await.iter().all(CallOutcome::ok)
}

/// Runs every job on its schedule until `shutdown` resolves.
pub async fn run(jobs: Vec<Job>, caller: Arc<Caller>, shutdown: impl Future<Output = ()>) {
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|job| tokio::spawn(run_job(job, Arc::clone(&caller))))
        .collect();
    shutdown.await;
    for task in tasks {
        task.abort();
    }
}

/// One job's loop: sleep until due, fire in the background, repeat.
async fn run_job(job: Job, caller: Arc<Caller>) {
    let running = Arc::new(AtomicBool::new(false));
    loop {
        let now = Utc::now();
        let Some(next) = job.next_after(now) else {
            tracing::error!(path = %job.path, schedule = %job.expression, "schedule has no next run; stopping it");
            return;
        };
        tracing::debug!(path = %job.path, next = %next, "next run");
        tokio::time::sleep((next - now).to_std().unwrap_or_default()).await;
        if running.swap(true, Ordering::SeqCst) {
            tracing::warn!(path = %job.path, "previous call still running; this run is skipped");
            continue;
        }
        let (caller, running, path) = (Arc::clone(&caller), Arc::clone(&running), job.path.clone());
        tokio::spawn(async move {
            caller.fire(&path).await;
            running.store(false, Ordering::SeqCst);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn parses_the_crons_of_a_vercel_json() {
        let jobs = parse_config(
            r#"{"crons":[{"path":"/api/cron/warm-cache","schedule":"0 */3 * * *"}],"rewrites":[]}"#,
            "vercel.json",
        )
        .unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].path, "/api/cron/warm-cache");
        assert!(parse_config("{}", "vercel.json").unwrap().is_empty());
    }

    #[test]
    fn refuses_bad_crons_naming_them() {
        let bad = |schedule: &str, path: &str| {
            let text = format!(r#"{{"crons":[{{"path":"{path}","schedule":"{schedule}"}}]}}"#);
            parse_config(&text, "vercel.json").unwrap_err().to_string()
        };
        assert!(bad("0 */3 * *", "/a").contains("has 4 fields"));
        assert!(bad("0 0 */3 * * *", "/a").contains("has 6 fields"));
        assert!(bad("61 * * * *", "/a").contains("not a valid cron expression"));
        assert!(
            bad("0 * * * *", "api/x").starts_with("cron 0 (\"api/x\"): path must start with /")
        );
        assert!(
            parse_config("{nope", "v.json")
                .unwrap_err()
                .to_string()
                .starts_with("v.json: invalid JSON")
        );
    }

    #[test]
    fn every_three_hours_in_utc() {
        let job = Job::new("/x", "0 */3 * * *").unwrap();
        assert_eq!(
            job.next_after(utc("2026-01-01T01:30:00Z")),
            Some(utc("2026-01-01T03:00:00Z"))
        );
        assert_eq!(
            job.next_after(utc("2026-01-01T03:00:00Z")),
            Some(utc("2026-01-01T06:00:00Z"))
        );
        assert_eq!(
            job.next_after(utc("2026-01-01T22:00:00Z")),
            Some(utc("2026-01-02T00:00:00Z"))
        );
    }

    #[test]
    fn fixed_intervals_add_up() {
        let job = Job::every("/x", Duration::from_secs(2));
        assert_eq!(
            job.next_after(utc("2026-01-01T00:00:00Z")),
            Some(utc("2026-01-01T00:00:02Z"))
        );
    }
}
