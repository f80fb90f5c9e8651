//! The catalog scenario (issue 9): the same queries on two catalogs, 10,000
//! models (10 gateways × 1,000) and 100,000 (100 × 1,000), each on its own
//! models-cache instance, to see how a query's cost grows with the catalog;
//! their RSS; and how long one gateway's index takes to rebuild after its
//! list changes.
//!
//! The lists come from a mock of their own (`mock-gateway --distinct`):
//! every gateway lists models of its own, and each name carries a search
//! code shared by [`catalog::CODE_GROUP`] models, so the `q` of every
//! request can differ and still match a few models
//! (`bench/catalog-query.lua`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::{self, Mock, wait_ok, wait_state};
use super::procs::Proc;
use super::report::{CatalogResults, CatalogRow, CatalogSize, Rebuild};
use super::rig::{Instance, Rig, SECRET, ServiceConfig};
use super::scenarios::{blocking, load_of, rss};
use super::wrk::{Load, Measure, REPORT_LUA};
use crate::catalog;

/// (gateways, models per gateway) of the two catalogs.
const FULL: [(usize, usize); 2] = [(10, 1000), (100, 1000)];
const QUICK: [(usize, usize); 2] = [(10, 50), (20, 50)];
/// Redis databases of the two instances (the rig uses 0 to 3).
const FIRST_DB: u8 = 4;
const START: Duration = Duration::from_secs(60);
/// Bound on a change showing in a query after its warm.
const VISIBLE: Duration = Duration::from_secs(30);
/// `q` values asked once each before the load, to check they match models.
const SAMPLES: usize = 40;
/// The gateway whose list changes.
const REVISED: usize = 0;
const GENERATOR: &str = include_str!("../../catalog-query.lua");

/// Row (a): its URL without the `q` value.
const Q_HEAD: &str = "/api/models?q=";
const Q_TAIL: &str = "&supported_parameters=tools&sort=pricing-low-to-high&limit=50";
const FACETS: &str = "/api/models?facets=true&limit=50";

struct Sized {
    gateways: usize,
    per_gateway: usize,
    instance: Instance,
}

impl Sized {
    fn models(&self) -> usize {
        self.gateways * self.per_gateway
    }

    fn groups(&self) -> usize {
        self.models().div_ceil(catalog::CODE_GROUP)
    }
}

pub async fn catalog(rig: &Rig) -> Result<CatalogResults, String> {
    let shapes = if rig.opts.quick { QUICK } else { FULL };
    let per_gateway = shapes[0].1;
    let most = shapes.iter().map(|s| s.0).max().unwrap_or(1);
    let (_mock_proc, mock) = start_mock(rig, most, per_gateway)?;

    let mut sizes = Vec::new();
    for (i, &(gateways, per_gateway)) in shapes.iter().enumerate() {
        let file = write_gateways(&rig.dir, "catalog", &mock.base, gateways)?;
        let instance = rig.service_with(
            &ServiceConfig {
                name: &format!("models-cache-catalog-{}", gateways * per_gateway),
                db: FIRST_DB + i as u8,
                fresh: "4h",
                stale: "12h",
                env: &[],
            },
            &file,
        )?;
        sizes.push(Sized {
            gateways,
            per_gateway,
            instance,
        });
    }
    let mut figures = Vec::new();
    for size in &sizes {
        figures.push(prepare(rig, size).await?);
    }

    let path = &rig.opts.catalog_path;
    let unified = format!("{path}?limit=50");
    let mut unified_available = true;
    for size in &sizes {
        let url = format!("{}{unified}", size.instance.base);
        let status = rig
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
            .status();
        if status == reqwest::StatusCode::NOT_FOUND {
            unified_available = false;
        } else if !status.is_success() {
            return Err(format!("GET {url} answered {status}"));
        }
    }

    let mut rows = Vec::new();
    let example_q = catalog::catalog_q(0, sizes[0].groups()).replace(' ', "%20");
    rows.push(
        measure_row(
            rig,
            &sizes,
            "(a) different q + filter + sort, page of 50",
            &format!("{Q_HEAD}{example_q}{Q_TAIL}"),
            Target::Queries,
        )
        .await?,
    );
    rows.push(
        measure_row(
            rig,
            &sizes,
            "(b) facets, page of 50",
            FACETS,
            Target::Url(FACETS),
        )
        .await?,
    );
    rows.push(if unified_available {
        measure_row(
            rig,
            &sizes,
            "(c) unified catalog, page of 50",
            &unified,
            Target::Url(&unified),
        )
        .await?
    } else {
        eprintln!("bench: catalog {unified}: 404, not available");
        CatalogRow::unavailable("(c) unified catalog, page of 50", &unified)
    });

    for (size, figure) in sizes.iter().zip(&mut figures) {
        let (rss_kb, peak_kb) = rss(size.instance.proc.pid());
        figure.rss_after_load_kb = rss_kb;
        figure.peak_rss_kb = peak_kb;
    }
    let one_off = one_off(rig, &sizes[0]).await?;
    mock.revise(REVISED).await?;
    for (size, figure) in sizes.iter().zip(&mut figures) {
        figure.rebuild = Some(rebuild(rig, size).await?);
    }
    let mut results = CatalogResults {
        catalog_path: path.clone(),
        sizes: figures,
        rows,
        marginal_rss_per_100k_mib: None,
        one_off: Some(one_off),
        connections: rig.opts.connections,
    };
    results.marginal_rss_per_100k_mib = results.marginal_rss_per_100k_mib();
    Ok(results)
}

/// The catalog mock: `gateways` lists of `per_gateway` models of their own.
pub(super) fn start_mock(
    rig: &Rig,
    gateways: usize,
    per_gateway: usize,
) -> Result<(Proc, Mock), String> {
    let mut command = super::procs::pinned(
        &rig.opts.bin_dir.join("mock-gateway"),
        rig.client_cpus.as_deref(),
    );
    command
        .arg(format!("--gateways={gateways}"))
        .arg(format!("--models={per_gateway}"))
        .arg("--distinct")
        .arg("--latency-ms=0");
    let name = format!("mock-gateway-distinct-{gateways}x{per_gateway}");
    let (proc, addr) = Proc::spawn_listening(&name, command, &rig.dir, START)?;
    Ok((proc, Mock::new(format!("http://{addr}"))))
}

/// `<scenario>-<n>.toml`: gateways `g00`… at the catalog mock.
pub(super) fn write_gateways(
    dir: &Path,
    scenario: &str,
    mock: &str,
    gateways: usize,
) -> Result<PathBuf, String> {
    let mut toml = format!("# Written by bench-harness ({scenario} scenario).\n");
    for n in 0..gateways {
        toml.push_str(&format!(
            "\n[[gateway]]\nid = \"g{n:02}\"\nkind = \"openrouter\"\nbase_url = \"{mock}/g/{n}\"\n"
        ));
    }
    let path = dir.join(format!("{scenario}-{gateways}.toml"));
    std::fs::write(&path, toml).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Warms an instance, builds its indexes with a first query, and checks
/// that the generated `q` values match models.
async fn prepare(rig: &Rig, size: &Sized) -> Result<CatalogSize, String> {
    let base = &size.instance.base;
    wait_ok(&rig.http, &format!("{base}/healthz"), START).await?;
    let started = Instant::now();
    client::warm(&rig.http, base, SECRET).await?;
    let warm_ms = started.elapsed().as_millis() as u64;
    wait_state(&rig.http, base, "fresh", START).await?;

    let before = index_builds(rig, base).await?;
    let started = Instant::now();
    total_of(rig, &format!("{base}/api/models?limit=1")).await?;
    let first_query_ms = started.elapsed().as_secs_f64() * 1000.0;
    let after = index_builds(rig, base).await?;
    let (build_s, built) = increase(&before, &after, "segment");

    let groups = size.groups();
    let mut rss_kb = 0;
    let mut matched = 0;
    let mut matches = 0;
    for sample in 0..SAMPLES {
        // Spread over the groups, each with another pair of words.
        let lap = sample % catalog::code_pairs().len();
        let k = lap * groups + sample * groups / SAMPLES;
        let q = catalog::catalog_q(k, groups).replace(' ', "%20");
        let total = total_of(rig, &format!("{base}{Q_HEAD}{q}{Q_TAIL}")).await?;
        if sample == 0 {
            // Before any other query's views: what the catalog itself holds.
            (rss_kb, _) = rss(size.instance.proc.pid());
        }
        matched += usize::from(total > 0);
        matches += total;
    }
    eprintln!(
        "bench: catalog {} models: warm {warm_ms} ms, indexes {:.1} ms over {built} segments, {matched}/{SAMPLES} sampled q match ({:.1} models each)",
        size.models(),
        build_s * 1000.0,
        matches as f64 / SAMPLES as f64
    );
    Ok(CatalogSize {
        gateways: size.gateways,
        models_per_gateway: size.per_gateway,
        models: size.models(),
        warm_ms,
        index_build_s: build_s,
        segments_built: built,
        first_query_ms,
        q_sampled: SAMPLES,
        q_matched: matched,
        q_mean_matches: matches as f64 / SAMPLES as f64,
        rss_kb,
        rss_after_load_kb: 0,
        peak_rss_kb: 0,
        rss_per_100k_mib: rss_kb as f64 / 1024.0 * 100_000.0 / size.models().max(1) as f64,
        rebuild: None,
    })
}

/// What a row's load asks.
enum Target<'a> {
    /// Row (a): a generated `q` on every request.
    Queries,
    /// The same path on every request.
    Url(&'a str),
}

/// One row: the same load on each catalog in turn (a one-second warm-up
/// each first in full runs).
async fn measure_row(
    rig: &Rig,
    sizes: &[Sized],
    name: &str,
    path: &str,
    target: Target<'_>,
) -> Result<CatalogRow, String> {
    let mut measures = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let mut offset = 0u64;
        if !rig.opts.quick {
            let warmup = run(
                rig,
                size,
                &target,
                (1, offset),
                &format!("w{i}"),
                rig.opts.connections,
            )
            .await?;
            // Past every request number the warm-up may have used.
            offset = 2 * warmup.requests + 1000;
        }
        let measure = run(
            rig,
            size,
            &target,
            (rig.opts.seconds(), offset),
            &i.to_string(),
            rig.opts.connections,
        )
        .await?;
        eprintln!(
            "bench: catalog {name} on {} models: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms{}",
            size.models(),
            measure.rps,
            measure.p50_ms,
            measure.p99_ms,
            if measure.errors > 0 {
                format!(", {} errors", measure.errors)
            } else {
                String::new()
            }
        );
        measures.push(measure);
    }
    let [small, large]: [Measure; 2] = measures.try_into().expect("BUG: two catalogs");
    Ok(CatalogRow::new(name, path, small, large))
}

/// Connections of the one-off row: few enough that a request does not
/// wait behind others, so that its p50 is what one query costs.
pub const ONE_OFF_CONNECTIONS: usize = 4;
/// Request numbers of the one-off row start here, past any the rows used:
/// every `q` it asks is new to the instance.
const ONE_OFF_OFFSET: u64 = 1_000_000;

/// Row (a)'s queries, each new, on the smaller catalog at
/// [`ONE_OFF_CONNECTIONS`] (issue 10, point 4).
async fn one_off(rig: &Rig, size: &Sized) -> Result<Measure, String> {
    let seconds = rig.opts.seconds();
    let measure = run(
        rig,
        size,
        &Target::Queries,
        (seconds, ONE_OFF_OFFSET),
        "one-off",
        ONE_OFF_CONNECTIONS,
    )
    .await?;
    eprintln!(
        "bench: catalog one-off queries at {ONE_OFF_CONNECTIONS} connections on {} models: {:.0} req/s, p50 {:.2} ms",
        size.models(),
        measure.rps,
        measure.p50_ms
    );
    Ok(measure)
}

/// One wrk run of `target` on `size`'s instance.
async fn run(
    rig: &Rig,
    size: &Sized,
    target: &Target<'_>,
    (seconds, offset): (u64, u64),
    tag: &str,
    connections: usize,
) -> Result<Measure, String> {
    let base = &size.instance.base;
    match target {
        Target::Url(path) => {
            let load = Load {
                seconds,
                connections,
                ..load_of(rig)
            };
            blocking(&load, format!("{base}{path}"), false).await
        }
        Target::Queries => {
            let script = rig
                .dir
                .join(format!("catalog-query-{}-{tag}.lua", size.models()));
            let text = format!(
                "groups = {}\nstride = {}\noffset = {offset}\npath_head = {:?}\npath_tail = {:?}\n{GENERATOR}\n{REPORT_LUA}",
                size.groups(),
                rig.opts.threads,
                Q_HEAD,
                Q_TAIL
            );
            std::fs::write(&script, text).map_err(|e| format!("{}: {e}", script.display()))?;
            let load = Load {
                seconds,
                connections,
                script: &script,
                ..load_of(rig)
            };
            blocking(&load, format!("{base}/"), false).await
        }
    }
}

/// Gateway [`REVISED`]'s list has changed upstream: warm it alone, then
/// query until an answer shows the change.
async fn rebuild(rig: &Rig, size: &Sized) -> Result<Rebuild, String> {
    let base = &size.instance.base;
    let gateway = format!("g{REVISED:02}");
    let before = index_builds(rig, base).await?;
    let started = Instant::now();
    let response = rig
        .http
        .post(format!("{base}/api/cache/warm-models"))
        .bearer_auth(SECRET)
        .json(&json!({"gateways": [gateway]}))
        .send()
        .await
        .map_err(|e| format!("warm {gateway}: {e}"))?;
    let status = response.status();
    let report: Value = response
        .json()
        .await
        .map_err(|e| format!("warm {gateway}: {e}"))?;
    let warmed = Instant::now();
    let warm_ms = warmed.duration_since(started).as_secs_f64() * 1000.0;
    if !status.is_success() || report["success"] != true {
        return Err(format!("warm of {gateway} answered {status}: {report}"));
    }
    let id = catalog::revised_id(REVISED, 1);
    let url = format!("{base}/api/models?q={id}&limit=1");
    let mut queries = 0;
    let visible = loop {
        queries += 1;
        if total_of(rig, &url).await? > 0 {
            break true;
        }
        if warmed.elapsed() > VISIBLE {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let visible_ms = warmed.elapsed().as_secs_f64() * 1000.0;
    let after = index_builds(rig, base).await?;
    let (segment_s, segments) = increase(&before, &after, "segment");
    let others = after
        .keys()
        .filter(|kind| kind.as_str() != "segment")
        .map(|kind| (kind.clone(), increase(&before, &after, kind).0))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    eprintln!(
        "bench: catalog {} models: {gateway} changed; warm {warm_ms:.1} ms, segment rebuilt in {:.2} ms ({segments} built), visible {visible_ms:.1} ms after the warm ({queries} request(s))",
        size.models(),
        segment_s * 1000.0
    );
    Ok(Rebuild {
        gateway,
        models: size.per_gateway + 1,
        warm_ms,
        segment_build_s: segment_s,
        segments_built: segments,
        other_builds_s: others,
        visible,
        visible_ms,
        queries,
    })
}

/// `"total"` of a catalog answer.
async fn total_of(rig: &Rig, url: &str) -> Result<usize, String> {
    let answer: Value = client::get_json(&rig.http, url).await?;
    answer["total"]
        .as_u64()
        .map(|t| t as usize)
        .ok_or_else(|| format!("GET {url}: no total in the answer"))
}

/// `models_cache_index_build_seconds` by kind: (sum, count).
async fn index_builds(rig: &Rig, base: &str) -> Result<BTreeMap<String, (f64, u64)>, String> {
    let text = super::client::get_text(&rig.http, &format!("{base}/metrics")).await?;
    Ok(parse_index_builds(&text))
}

fn parse_index_builds(text: &str) -> BTreeMap<String, (f64, u64)> {
    let mut builds: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("models_cache_index_build_seconds_") else {
            continue;
        };
        let Some((field, rest)) = rest.split_once('{') else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let Some(kind) = labels.split(',').find_map(|l| {
            l.trim()
                .strip_prefix("kind=\"")
                .and_then(|k| k.strip_suffix('"'))
        }) else {
            continue;
        };
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        let entry = builds.entry(kind.to_owned()).or_default();
        match field {
            "sum" => entry.0 = value,
            "count" => entry.1 = value as u64,
            _ => {}
        }
    }
    builds
}

/// Increase of `kind`'s (sum, count) from `before` to `after`.
fn increase(
    before: &BTreeMap<String, (f64, u64)>,
    after: &BTreeMap<String, (f64, u64)>,
    kind: &str,
) -> (f64, u64) {
    let (s0, c0) = before.get(kind).copied().unwrap_or_default();
    let (s1, c1) = after.get(kind).copied().unwrap_or_default();
    ((s1 - s0).max(0.0), c1.saturating_sub(c0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_index_build_histogram() {
        let text = "# TYPE models_cache_index_build_seconds histogram\n\
            models_cache_index_build_seconds_bucket{kind=\"segment\",le=\"0.01\"} 3\n\
            models_cache_index_build_seconds_sum{kind=\"segment\"} 0.0421\n\
            models_cache_index_build_seconds_count{kind=\"segment\"} 3\n\
            models_cache_index_build_seconds_sum{kind=\"unified\"} 0.5\n\
            models_cache_reads_total{gateway=\"g00\"} 9\n";
        let builds = parse_index_builds(text);
        assert_eq!(builds["segment"], (0.0421, 3));
        assert_eq!(builds["unified"].0, 0.5);
        let mut later = builds.clone();
        later.insert("segment".into(), (0.0521, 4));
        let (s, c) = increase(&builds, &later, "segment");
        assert!((s - 0.01).abs() < 1e-9);
        assert_eq!(c, 1);
    }
}
