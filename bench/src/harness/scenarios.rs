//! The scenarios of issue 5, in the order they run: hot reads, memory, a
//! full warm, reads during revalidation, stampedes. Each returns figures; the
//! targets are judged in [`super::report`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::client::{wait_ok, wait_state};
use super::report::{HotRow, Memory, StampedeRow, Warm};
use super::rig::{Instance, Rig, SECRET, ServiceConfig, hot_paths};
use super::stampede::burst;
use super::wrk::{Load, Measure};

/// Mock latency during stampedes: long enough that every read lands while
/// the first fetch is still in flight.
const STAMPEDE_UPSTREAM: &str = "1000";
/// Mock latency the rest of the time.
pub(super) const FAST_UPSTREAM: &str = "50";
/// Latencies of the warm scenario, spread over the gateways.
const WARM_SPREAD: &str = "50..800";
const SETTLE: Duration = Duration::from_millis(300);
const STAMPEDE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on an instance's start and on its entries changing state.
pub(super) const START: Duration = Duration::from_secs(30);

pub(super) fn load_of(rig: &Rig) -> Load<'_> {
    Load {
        threads: rig.opts.threads,
        connections: rig.opts.connections,
        seconds: rig.opts.seconds(),
        cpus: rig.client_cpus.as_deref(),
        script: &rig.script,
    }
}

/// Hot reads of each path, identity then gzip, on the service, the limit and
/// nginx in turn (interleaved, so drifting noise hits all three alike).
pub async fn hot(rig: &Rig) -> Result<Vec<HotRow>, String> {
    let load = load_of(rig);
    let servers = [&rig.service.base, &rig.limit, &rig.nginx_hot];
    if !rig.opts.quick {
        // One second per server and path to fault in pages and fill pools.
        let warmup = Load {
            seconds: 1,
            ..load_of(rig)
        };
        for (_, path) in hot_paths() {
            for server in servers {
                warmup.run(&format!("{server}{path}"), false)?;
            }
        }
    }
    // Rounds of a third of the run's duration, the servers in turn: a
    // drift in the machine's speed during a row falls on all three alike.
    // (Quick mode, a correctness check, measures once.)
    let rounds_per_row = if rig.opts.quick { 1 } else { HOT_ROUNDS };
    let round = Load {
        seconds: (load.seconds / rounds_per_row as u64).max(1),
        ..load
    };
    let mut rows = Vec::new();
    for (name, path) in hot_paths() {
        for gzip in [false, true] {
            let mut rounds: [Vec<Measure>; 3] = Default::default();
            for _ in 0..rounds_per_row {
                for (server, measures) in servers.iter().zip(&mut rounds) {
                    measures.push(blocking(&round, format!("{server}{path}"), gzip).await?);
                }
            }
            let [service, limit, nginx] = rounds.map(median_by_rps);
            eprintln!(
                "bench: hot {name}{}: {:.0} req/s (limit {:.0}, nginx {:.0})",
                if gzip { " gzip" } else { "" },
                service.rps,
                limit.rps,
                nginx.rps
            );
            rows.push(HotRow::new(name, &path, gzip, service, limit, nginx));
        }
    }
    Ok(rows)
}

/// Each hot row measures every server this many times, in turn.
const HOT_ROUNDS: usize = 3;

/// The measure of median req/s among `rounds`.
fn median_by_rps(mut rounds: Vec<Measure>) -> Measure {
    rounds.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    rounds.swap_remove(rounds.len() / 2)
}

/// wrk blocks; it runs off the async workers.
pub(super) async fn blocking(load: &Load<'_>, url: String, gzip: bool) -> Result<Measure, String> {
    tokio::task::block_in_place(|| load.run(&url, gzip))
}

/// Redis bytes of the entries vs the upstreams' raw JSON; the service's RSS.
pub async fn memory(rig: &Rig) -> Result<Memory, String> {
    let keys = rig.redis_cli(0, &["--scan", "--pattern", "models:*"])?;
    let (mut entry_bytes, mut all_bytes, mut stored_json) = (0u64, 0u64, 0u64);
    for key in keys.lines().map(str::trim).filter(|k| !k.is_empty()) {
        let bytes: u64 = rig
            .redis_cli(0, &["MEMORY", "USAGE", key, "SAMPLES", "0"])?
            .trim()
            .parse()
            .unwrap_or(0);
        all_bytes += bytes;
        // `models:<id>` is an entry; `models:lock:…`, `models:doc:…` are not.
        if key.matches(':').count() == 1 {
            entry_bytes += bytes;
            stored_json += rig
                .redis_cli(0, &["HSTRLEN", key, "models"])?
                .trim()
                .parse::<u64>()
                .unwrap_or(0);
        }
    }
    let stats = rig.mock.stats().await?;
    let raw_json: u64 = stats.gateways.iter().map(|g| g.bytes as u64).sum();
    let (rss_kb, hwm_kb) = rss(rig.service.proc.pid());
    Ok(Memory {
        redis_entry_bytes: entry_bytes,
        redis_all_bytes: all_bytes,
        stored_json_bytes: stored_json,
        raw_json_bytes: raw_json,
        ratio: entry_bytes as f64 / raw_json.max(1) as f64,
        service_rss_kb: rss_kb,
        service_peak_rss_kb: hwm_kb,
    })
}

/// VmRSS and VmHWM of `pid`, in KiB (0 when unreadable).
pub(super) fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One full warm with latencies spread over the gateways.
pub async fn warm(rig: &Rig) -> Result<Warm, String> {
    rig.mock.control(Some(WARM_SPREAD), true).await?;
    let start = Instant::now();
    let response = rig
        .http
        .post(format!("{}/api/cache/warm-models", rig.service.base))
        .bearer_auth(SECRET)
        .send()
        .await
        .map_err(|e| format!("warm: {e}"))?;
    let status = response.status();
    let report: Value = response.json().await.map_err(|e| format!("warm: {e}"))?;
    let wall_ms = start.elapsed().as_millis() as u64;
    let stats = rig.mock.stats().await?;
    rig.mock.control(Some(FAST_UPSTREAM), false).await?;
    if !status.is_success() {
        return Err(format!("warm answered {status}: {report}"));
    }
    let latencies: Vec<u64> = stats.gateways.iter().map(|g| g.latency_ms).collect();
    let ok = report["gateways"]
        .as_object()
        .map_or(0, |g| g.values().filter(|v| v["ok"] == true).count());
    Ok(Warm {
        gateways: latencies.len(),
        gateways_ok: ok,
        upstream_requests: stats.gateways.iter().map(|g| g.requests).sum(),
        wall_ms,
        reported_ms: report["duration_ms"].as_u64().unwrap_or(0),
        slowest_ms: latencies.iter().copied().max().unwrap_or(0),
        sequential_sum_ms: latencies.iter().sum(),
    })
}

/// Stampedes on stale entries and on a cold cache: three models-cache
/// instances on one Redis database, then nginx; upstream requests counted.
pub async fn stampedes(rig: &Rig) -> Result<Vec<StampedeRow>, String> {
    const INSTANCES: usize = 3;
    let label = format!("models-cache ×{INSTANCES}");
    let mut rows = Vec::new();

    // Stale: instances that have warmed, once their entries have gone stale.
    let instances = start_instances(rig, "stale", 2, INSTANCES)?;
    for instance in &instances {
        wait_ok(&rig.http, &format!("{}/healthz", instance.base), START).await?;
        wait_state(&rig.http, &instance.base, "fresh", START).await?;
    }
    wait_state(&rig.http, &instances[0].base, "stale", START).await?;
    rows.push(count(rig, "stale", &label, &urls(&instances)).await?);
    drop(instances);

    // Cold: instances starting on an empty store (their start-up warms in
    // flight) and the readers arriving at once. Fresh processes rather than
    // a flushed store: what an instance drops after a flush is the sync's
    // business, not the stampede's.
    rig.mock.control(Some(STAMPEDE_UPSTREAM), true).await?;
    let instances = start_instances(rig, "cold", 3, INSTANCES)?;
    for instance in &instances {
        wait_ok(&rig.http, &format!("{}/healthz", instance.base), START).await?;
    }
    rows.push(count_now(rig, "cold", &label, &urls(&instances)).await?);
    drop(instances);

    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let stale_url = format!("{}/api/models?limit=1&stampede={nonce}", rig.nginx_swr);
    super::client::wait_ok(&rig.http, &stale_url, Duration::from_secs(30)).await?;
    // Past nginx's one-second validity, which it counts in whole seconds: stale.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    rows.push(count(rig, "stale", "nginx", &[stale_url]).await?);
    let cold_url = format!("{}/api/models?limit=1&stampede={nonce}", rig.nginx_hot);
    rows.push(count(rig, "cold", "nginx", &[cold_url]).await?);
    Ok(rows)
}

/// Three models-cache instances sharing Redis database `db`, fresh for 2 s.
fn start_instances(rig: &Rig, case: &str, db: u8, n: usize) -> Result<Vec<Instance>, String> {
    (0..n)
        .map(|i| {
            rig.service(&ServiceConfig {
                name: &format!("models-cache-{case}-{i}"),
                db,
                fresh: "2s",
                stale: "1h",
                env: &[],
            })
        })
        .collect()
}

/// The URL each reader asks: every gateway is read, the body stays small.
fn urls(instances: &[Instance]) -> Vec<String> {
    instances
        .iter()
        .map(|i| format!("{}/api/models?limit=1", i.base))
        .collect()
}

/// One burst with slow upstreams; upstream requests per gateway.
async fn count(
    rig: &Rig,
    case: &str,
    server: &str,
    urls: &[String],
) -> Result<StampedeRow, String> {
    rig.mock.control(Some(STAMPEDE_UPSTREAM), true).await?;
    count_now(rig, case, server, urls).await
}

/// The burst, counting upstream requests since the last reset.
async fn count_now(
    rig: &Rig,
    case: &str,
    server: &str,
    urls: &[String],
) -> Result<StampedeRow, String> {
    let burst = burst(urls, rig.opts.stampede_requests, STAMPEDE_TIMEOUT).await;
    let stats = rig.mock.quiet(SETTLE).await?;
    rig.mock.control(Some(FAST_UPSTREAM), false).await?;
    let per_gateway: Vec<usize> = stats.gateways.iter().map(|g| g.requests).collect();
    eprintln!(
        "bench: stampede {case} on {server}: {}/{} ok, upstream requests per gateway {:?}",
        burst.ok, burst.requests, per_gateway
    );
    Ok(StampedeRow::new(case, server, burst, per_gateway))
}
