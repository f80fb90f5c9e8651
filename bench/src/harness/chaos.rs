//! The chaos scenario (issue 10, point 6): steady reads of a page of 100
//! over two instances sharing one Redis while (a) Redis is killed and comes
//! back empty, (b) Redis is frozen, (c) half the gateways fail, and (d) the
//! first and the third at once (Redis back empty while gateways still fail:
//! before `src/cache/engine/aside.rs` the failing gateways were lost). What
//! it checks is that readers never see an error and that no gateway's data
//! is lost or replaced by a failure; what it measures is what the faults
//! cost the readers' p99 and the upstreams.
//!
//! Its own processes, so that killing things harms no other scenario: a
//! `redis-server` on a port of its own (restarted empty on the same port
//! after the kill: nothing is persisted), a `mock-gateway` (the rig's lists,
//! 50 ms latency) and two models-cache instances reading both. Their
//! settings are what make the faults bite:
//!
//! - fresh for 3 s (1 s in quick mode, whose faults last 1 s; stale for an
//!   hour after): every gateway goes stale during every fault, so reads
//!   start revalidations, which need Redis (the cross-instance lock, the
//!   save) and the upstreams, exactly while those are failing;
//! - [`BACKOFF`] after a failed revalidation, so failing gateways are retried
//!   during fault (c) (the upstream counts show at what rate) and recover
//!   within seconds of its end;
//! - an upstream timeout of [`TIMEOUT`], which is what cuts a hung gateway.
//!
//! Each phase is one window of load: one `wrk` per instance on [`PAGE`]
//! (half the connections each), the fault starting [`LEAD`] into it and the
//! window going on for [`TAIL`] after it ends (recovery is part of the
//! fault). Meanwhile every [`SAMPLE_EVERY`] each instance is asked
//! `/api/models?limit=1`, whose `gateways` map must show every gateway with
//! all its models ("lapses" otherwise). After the window every gateway's
//! list is read from both instances and compared with the one it had before
//! the first fault; then the phase waits until both instances serve every
//! gateway from a list fetched after the fault ended (recovery, timed), so
//! that each fault starts from a healthy cache.

mod fault;
mod report;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use fault::{Fault, RedisFault, plan};
pub use report::{ChaosResults, Phase};

use super::catalog::write_gateways;
use super::client::{self, Mock, get_json, wait_ok, wait_state};
use super::procs::{self, Proc};
use super::report::ms;
use super::rig::{Instance, Rig, SECRET, ServiceConfig, start_redis};
use super::scenarios::START;
use super::wrk::{Load, Measure};

/// What the readers ask, on both instances.
const PAGE: &str = "/api/models?limit=100";
/// Fresh TTL: see the module doc.
fn fresh(quick: bool) -> &'static str {
    if quick { "1s" } else { "3s" }
}
const STALE: &str = "1h";
const BACKOFF: &str = "2s";
const TIMEOUT: &str = "1s";
/// Seconds of load before a fault starts, and after it ends.
const LEAD: u64 = 1;
const TAIL: u64 = 2;
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// Bound on the recovery after a fault (see [`Setup::recovered`]).
const RECOVERY: Duration = Duration::from_secs(30);

/// What the phases run against.
struct Setup<'a> {
    rig: &'a Rig,
    redis_port: u16,
    redis: Proc,
    mock: Mock,
    instances: Vec<Instance>,
    /// Each gateway's model ids before the first fault.
    before: Vec<BTreeSet<String>>,
    _mock_proc: Proc,
}

pub async fn chaos(rig: &Rig) -> Result<ChaosResults, String> {
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut setup = Setup::start(rig).await?;
    let mut phases: Vec<Phase> = Vec::new();
    for (fault, window_s) in plan(rig.opts.quick, rig.opts.gateways, rig.opts.seconds()) {
        let mut phase = setup.phase(&fault, window_s).await?;
        let baseline = phases.first().map_or(phase.p99_ms, |p| p.p99_ms);
        phase.p99_vs_baseline = phase.p99_ms / baseline.max(0.001);
        eprintln!(
            "bench: chaos {}: {} requests, {} non-2xx, {} socket errors, p99 {} ({:.2}× baseline), {} lapses, {}/{} gateways kept",
            phase.name,
            phase.requests,
            phase.non_2xx,
            phase.socket_errors,
            ms(phase.p99_ms),
            phase.p99_vs_baseline,
            phase.lapses.len(),
            phase.kept,
            rig.opts.gateways
        );
        phases.push(phase);
    }
    Ok(ChaosResults {
        gateways: rig.opts.gateways,
        models_per_gateway: rig.opts.models(),
        path: PAGE.into(),
        fresh_ttl: fresh(rig.opts.quick).into(),
        revalidate_backoff: BACKOFF.into(),
        gateway_timeout: TIMEOUT.into(),
        load_average,
        phases,
    })
}

impl<'a> Setup<'a> {
    /// Redis, the mock and two instances, warmed, every gateway fresh.
    async fn start(rig: &'a Rig) -> Result<Self, String> {
        let redis_port = procs::free_port()?;
        let redis = start_redis(
            &rig.dir,
            redis_port,
            "redis-chaos",
            rig.client_cpus.as_deref(),
        )?;
        let mut command = super::procs::pinned(
            &rig.opts.bin_dir.join("mock-gateway"),
            rig.client_cpus.as_deref(),
        );
        command
            .arg(format!("--gateways={}", rig.opts.gateways))
            .arg(format!("--models={}", rig.opts.models()))
            .arg("--latency-ms=50");
        let (mock_proc, addr) =
            Proc::spawn_listening("mock-gateway-chaos", command, &rig.dir, START)?;
        let mock = Mock::new(format!("http://{addr}"));
        let file = write_gateways(&rig.dir, "chaos", &mock.base, rig.opts.gateways)?;
        let redis_url = format!("redis://127.0.0.1:{redis_port}/0");
        let env = [
            // Wins over the rig's own Redis (set before).
            ("REDIS_URL", redis_url.as_str()),
            ("GATEWAY_TIMEOUT", TIMEOUT),
            ("REVALIDATE_BACKOFF", BACKOFF),
        ];
        let mut instances = Vec::new();
        for i in 1..=2 {
            let config = ServiceConfig {
                name: &format!("models-cache-chaos-{i}"),
                db: 0,
                fresh: fresh(rig.opts.quick),
                stale: STALE,
                env: &env,
            };
            instances.push(rig.service_with(&config, &file)?);
        }
        for instance in &instances {
            wait_ok(&rig.http, &format!("{}/healthz", instance.base), START).await?;
            client::warm(&rig.http, &instance.base, SECRET).await?;
            wait_state(&rig.http, &instance.base, "fresh", START).await?;
        }
        let mut setup = Self {
            rig,
            redis_port,
            redis,
            mock,
            instances,
            before: Vec::new(),
            _mock_proc: mock_proc,
        };
        setup.before = setup.lists(&setup.instances[0]).await?;
        for (n, ids) in setup.before.iter().enumerate() {
            if ids.len() != rig.opts.models() {
                return Err(format!(
                    "chaos: g{n:02} has {} models before any fault",
                    ids.len()
                ));
            }
        }
        Ok(setup)
    }

    /// One window of load with `fault` in it, then the checks and the wait
    /// for recovery.
    async fn phase(&mut self, fault: &Fault, window_s: u64) -> Result<Phase, String> {
        let rig = self.rig;
        let load = Load {
            threads: 1,
            connections: (rig.opts.connections / 2).max(1),
            seconds: window_s,
            cpus: rig.client_cpus.as_deref(),
            script: &rig.script,
        };
        let urls: Vec<String> = self
            .instances
            .iter()
            .map(|i| format!("{}{PAGE}", i.base))
            .collect();
        let bases: Vec<String> = self.instances.iter().map(|i| i.base.clone()).collect();
        let upstream_before = self.mock.stats().await?;
        let window = Duration::from_secs(window_s);
        let handle = tokio::runtime::Handle::current();
        let (started, started_ms) = (Instant::now(), wall_ms());
        // wrk blocks: one thread each, while this one injects the fault and
        // samples the instances.
        let (measures, injected, (samples, lapses)) = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let runs: Vec<_> = urls
                    .iter()
                    .map(|url| s.spawn(|| load.run(url, false)))
                    .collect();
                let (injected, sampled) = handle.block_on(async {
                    tokio::join!(
                        self.inject(fault),
                        sample(&rig.http, &bases, rig.opts.models(), window)
                    )
                });
                let measures: Result<Vec<Measure>, String> = runs
                    .into_iter()
                    .map(|run| {
                        run.join()
                            .unwrap_or_else(|_| Err("wrk thread panicked".into()))
                    })
                    .collect();
                (measures, injected, sampled)
            })
        });
        injected?;
        let measures = measures?;
        let fault_ended = started + Duration::from_secs(LEAD) + fault.length();
        let ended_ms = started_ms + (LEAD * 1000) + fault.length().as_millis() as u64;
        let upstream = self.mock.stats().await?;
        let delta = |f: fn(&client::MockGateway) -> usize| -> Vec<usize> {
            upstream
                .gateways
                .iter()
                .zip(&upstream_before.gateways)
                .map(|(after, before)| f(after).saturating_sub(f(before)))
                .collect()
        };
        let (kept, lost) = self.kept().await?;
        let recovered_ms = self.recovered(fault_ended, ended_ms).await?;
        let requests = measures.iter().map(|m| m.requests).sum();
        let non_2xx = measures.iter().map(|m| m.non_2xx).sum();
        let errors: u64 = measures.iter().map(|m| m.errors).sum();
        Ok(Phase {
            name: fault.name.into(),
            fault: fault.describe(),
            fault_s: fault.length().as_secs(),
            window_s,
            requests,
            non_2xx,
            socket_errors: errors - non_2xx,
            p99_ms: measures.iter().map(|m| m.p99_ms).fold(0.0, f64::max),
            p99_vs_baseline: f64::NAN,
            per_instance: measures,
            upstream_per_gateway: delta(|g| g.requests),
            failed_per_gateway: delta(|g| g.failed),
            failing: fault.failing(),
            samples,
            lapses,
            kept,
            lost,
            recovered_ms,
            redis_entries: self.redis_entries()?,
        })
    }

    /// Waits [`LEAD`], then the fault: the gateways' part first (the mock
    /// ends it by itself), then Redis's, until the longest part is over.
    async fn inject(&mut self, fault: &Fault) -> Result<(), String> {
        tokio::time::sleep(Duration::from_secs(LEAD)).await;
        let started = Instant::now();
        if let Some(g) = &fault.gateways {
            let ms = g.length.as_millis() as u64;
            self.mock.fail(g.errors.clone(), "500", ms).await?;
            self.mock.fail(g.hangs.clone(), "hang", ms).await?;
        }
        match fault.redis {
            Some((RedisFault::Killed, down)) => {
                self.redis.kill();
                tokio::time::sleep(down).await;
                self.redis = start_redis(
                    &self.rig.dir,
                    self.redis_port,
                    "redis-chaos",
                    self.rig.client_cpus.as_deref(),
                )?;
            }
            Some((RedisFault::Frozen, down)) => {
                self.redis.signal("STOP")?;
                tokio::time::sleep(down).await;
                self.redis.signal("CONT")?;
            }
            None => {}
        }
        tokio::time::sleep(fault.length().saturating_sub(started.elapsed())).await;
        Ok(())
    }

    /// Every gateway's model ids, as `instance` serves them.
    async fn lists(&self, instance: &Instance) -> Result<Vec<BTreeSet<String>>, String> {
        let mut lists = Vec::new();
        for n in 0..self.rig.opts.gateways {
            let url = format!("{}/api/models/g{n:02}", instance.base);
            let body: Value = get_json(&self.rig.http, &url).await?;
            lists.push(ids(&body));
        }
        Ok(lists)
    }

    /// Gateways that both instances serve with the models they had before
    /// the first fault, and what was wrong with the others.
    async fn kept(&self) -> Result<(usize, Vec<String>), String> {
        let mut lost = Vec::new();
        let mut kept = 0;
        for n in 0..self.rig.opts.gateways {
            let mut whole = true;
            for (i, instance) in self.instances.iter().enumerate() {
                let id = format!("g{n:02}");
                let url = format!("{}/api/models/{id}", instance.base);
                let response = self.rig.http.get(&url).send().await;
                let problem = match response {
                    Err(e) => Some(format!("GET failed: {e}")),
                    Ok(r) if !r.status().is_success() => Some(format!("answered {}", r.status())),
                    Ok(r) => {
                        let body: Value = r.json().await.map_err(|e| format!("GET {url}: {e}"))?;
                        let status = body["gateways"][&id]["status"].as_str().unwrap_or("absent");
                        let served = ids(&body);
                        if !matches!(status, "fresh" | "stale") {
                            Some(format!("{status} ({})", body["gateways"][&id]["error"]))
                        } else if served != self.before[n] {
                            Some(format!(
                                "{} models, not the {} it had",
                                served.len(),
                                self.before[n].len()
                            ))
                        } else {
                            None
                        }
                    }
                };
                if let Some(problem) = problem {
                    lost.push(format!("{id} on instance {}: {problem}", i + 1));
                    whole = false;
                }
            }
            kept += usize::from(whole);
        }
        Ok((kept, lost))
    }

    /// Reads both instances until each serves every gateway from a list
    /// fetched after the fault ended (`fault_ended`, and `ended_ms` on the
    /// wall clock): ms from then (`None` if not within [`RECOVERY`]).
    async fn recovered(&self, fault_ended: Instant, ended_ms: u64) -> Result<Option<u64>, String> {
        let deadline = Instant::now() + RECOVERY;
        while Instant::now() < deadline {
            let mut all = true;
            for instance in &self.instances {
                let url = format!("{}/api/models?limit=1", instance.base);
                let body: Value = get_json(&self.rig.http, &url).await?;
                let gateways = body["gateways"].as_object().cloned().unwrap_or_default();
                all &= !gateways.is_empty()
                    && gateways
                        .values()
                        .all(|g| g["fetched_at"].as_u64().is_some_and(|at| at >= ended_ms));
            }
            if all {
                return Ok(Some(fault_ended.elapsed().as_millis() as u64));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(None)
    }

    /// `models:<id>` keys in the chaos Redis.
    fn redis_entries(&self) -> Result<usize, String> {
        let mut command = std::process::Command::new("redis-cli");
        command
            .args(["-h", "127.0.0.1", "-p", &self.redis_port.to_string()])
            .args(["--scan", "--pattern", "models:g*"]);
        let keys = procs::output(command, Duration::from_secs(30))?;
        Ok(keys
            .lines()
            .filter(|k| k.trim().matches(':').count() == 1)
            .count())
    }
}

/// Asks each instance `/api/models?limit=1` every [`SAMPLE_EVERY`] for
/// `window`: how many samples, and every gateway found missing or without
/// its `models`, or an answer that was not 2xx.
async fn sample(
    http: &reqwest::Client,
    bases: &[String],
    models: usize,
    window: Duration,
) -> (usize, Vec<String>) {
    let started = Instant::now();
    let (mut samples, mut lapses) = (0, Vec::new());
    while started.elapsed() < window {
        for (i, base) in bases.iter().enumerate() {
            let at = started.elapsed().as_millis();
            samples += 1;
            let url = format!("{base}/api/models?limit=1");
            match get_json::<Value>(http, &url).await {
                Err(e) => lapses.push(format!("instance {} at {at} ms: {e}", i + 1)),
                Ok(body) => {
                    for (id, status, count) in statuses(&body) {
                        if !matches!(status.as_str(), "fresh" | "stale") || count != models as u64 {
                            lapses.push(format!(
                                "{id} on instance {} at {at} ms: {status}, {count} models",
                                i + 1
                            ));
                        }
                    }
                }
            }
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    (samples, lapses)
}

/// (gateway, status, count) of a catalog answer's `gateways` map.
fn statuses(body: &Value) -> Vec<(String, String, u64)> {
    body["gateways"]
        .as_object()
        .map(|gateways| {
            gateways
                .iter()
                .map(|(id, g)| {
                    let status = g["status"].as_str().unwrap_or("absent").to_owned();
                    (id.clone(), status, g["count"].as_u64().unwrap_or(0))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Now, ms since the Unix epoch (the service's `fetched_at` clock).
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn ids(body: &Value) -> BTreeSet<String> {
    body["data"]
        .as_array()
        .map(|models| {
            models
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
