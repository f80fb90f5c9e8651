//! The figures of a run, the targets judged against them, and their
//! rendering as `results.json` and `results.md`.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::stampede::Burst;
use super::wrk::Measure;

#[derive(Debug, Serialize)]
pub struct Meta {
    pub date: String,
    pub commit: String,
    pub mode: &'static str,
    pub cores: usize,
    pub cpu: String,
    pub server_cpus: Option<String>,
    pub client_cpus: Option<String>,
    pub kind: String,
    pub gateways: usize,
    pub models_per_gateway: usize,
    pub load: String,
}

#[derive(Debug, Serialize)]
pub struct HotRow {
    pub name: String,
    pub path: String,
    pub gzip: bool,
    pub service: Measure,
    pub limit: Measure,
    pub nginx: Measure,
    /// Service req/s ÷ limit req/s.
    pub vs_limit: f64,
    /// Service req/s ÷ nginx req/s.
    pub vs_nginx: f64,
}

impl HotRow {
    pub fn new(
        name: &str,
        path: &str,
        gzip: bool,
        service: Measure,
        limit: Measure,
        nginx: Measure,
    ) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            gzip,
            vs_limit: service.rps / limit.rps.max(f64::MIN_POSITIVE),
            vs_nginx: service.rps / nginx.rps.max(f64::MIN_POSITIVE),
            service,
            limit,
            nginx,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Memory {
    /// `MEMORY USAGE` of the `models:<id>` entries, summed.
    pub redis_entry_bytes: u64,
    /// Every `models:*` key (locks, warm record…).
    pub redis_all_bytes: u64,
    /// Length of the stored `models` JSON fields, summed.
    pub stored_json_bytes: u64,
    /// The upstreams' raw `GET /models` bodies, summed.
    pub raw_json_bytes: u64,
    /// `redis_entry_bytes / raw_json_bytes`.
    pub ratio: f64,
    pub service_rss_kb: u64,
    pub service_peak_rss_kb: u64,
}

#[derive(Debug, Serialize)]
pub struct Warm {
    pub gateways: usize,
    pub gateways_ok: usize,
    pub upstream_requests: usize,
    /// Measured by the caller, request to answer.
    pub wall_ms: u64,
    /// The warm's own `duration_ms`.
    pub reported_ms: u64,
    pub slowest_ms: u64,
    pub sequential_sum_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct StampedeRow {
    pub case: String,
    pub server: String,
    pub burst: Burst,
    pub upstream_per_gateway: Vec<usize>,
    pub min: usize,
    pub max: usize,
}

impl StampedeRow {
    pub fn new(case: &str, server: &str, burst: Burst, per_gateway: Vec<usize>) -> Self {
        Self {
            case: case.into(),
            server: server.into(),
            burst,
            min: per_gateway.iter().copied().min().unwrap_or(0),
            max: per_gateway.iter().copied().max().unwrap_or(0),
            upstream_per_gateway: per_gateway,
        }
    }
}

/// The catalog scenario (issue 9): the same queries on two catalog sizes.
#[derive(Debug, Serialize)]
pub struct CatalogResults {
    /// Row (c)'s path.
    pub catalog_path: String,
    /// The smaller catalog first.
    pub sizes: Vec<CatalogSize>,
    pub rows: Vec<CatalogRow>,
    /// See [`CatalogResults::marginal_rss_per_100k_mib`].
    pub marginal_rss_per_100k_mib: Option<f64>,
    /// Row (a)'s one-off queries on the smaller catalog at
    /// [`super::catalog::ONE_OFF_CONNECTIONS`]: what one costs, unqueued.
    pub one_off: Option<Measure>,
    /// Connections of the rows' runs.
    pub connections: usize,
}

#[derive(Debug, Serialize)]
pub struct CatalogSize {
    pub gateways: usize,
    pub models_per_gateway: usize,
    pub models: usize,
    /// The first full warm, request to answer.
    pub warm_ms: u64,
    /// Increase of `models_cache_index_build_seconds_sum{kind="segment"}`
    /// over the first query after the warm: every gateway's index.
    pub index_build_s: f64,
    pub segments_built: u64,
    pub first_query_ms: f64,
    /// Generated `q` values asked before the load, and how many matched.
    pub q_sampled: usize,
    pub q_matched: usize,
    pub q_mean_matches: f64,
    /// Warmed and indexed, after the first query of row (a): the catalog,
    /// not yet the views that later queries leave in the view caches.
    pub rss_kb: u64,
    /// After the load runs (the view and answer caches filled by them:
    /// bounded, see `src/http/views.rs`).
    pub rss_after_load_kb: u64,
    pub peak_rss_kb: u64,
    /// `rss_kb` scaled to 100,000 models (the fixed part included).
    pub rss_per_100k_mib: f64,
    pub rebuild: Option<Rebuild>,
}

impl CatalogResults {
    /// RSS per 100,000 models at the margin: the instances' RSS difference
    /// over their models' difference, so the process's fixed part drops out
    /// (MiB; `None` with fewer than two sizes).
    pub fn marginal_rss_per_100k_mib(&self) -> Option<f64> {
        let (small, large) = (self.sizes.first()?, self.sizes.last()?);
        let models = large.models.checked_sub(small.models).filter(|m| *m > 0)?;
        let kb = large.rss_kb as f64 - small.rss_kb as f64;
        Some(kb / 1024.0 * 100_000.0 / models as f64)
    }
}

/// One gateway's list changed upstream, then that gateway alone was warmed.
#[derive(Debug, Serialize)]
pub struct Rebuild {
    pub gateway: String,
    /// Models in its new list.
    pub models: usize,
    pub warm_ms: f64,
    /// Increase of the segment build histogram's sum (seconds) and count,
    /// from before the warm to the first answer showing the change.
    pub segment_build_s: f64,
    pub segments_built: u64,
    /// Other kinds of index that were rebuilt meanwhile, if any.
    pub other_builds_s: BTreeMap<String, f64>,
    pub visible: bool,
    /// From the warm's answer to the first query answer showing the change.
    pub visible_ms: f64,
    /// Queries asked until then (the first one, unless it did not show yet).
    pub queries: usize,
}

#[derive(Debug, Serialize)]
pub struct CatalogRow {
    pub name: String,
    /// Its URL path (row (a): with the first request's `q`).
    pub path: String,
    /// `false` when the server answered 404 for the path.
    pub available: bool,
    pub small: Option<Measure>,
    pub large: Option<Measure>,
    /// Cost per request, large ÷ small: small req/s ÷ large req/s.
    pub cost_by_rps: f64,
    /// Large p50 ÷ small p50.
    pub cost_by_p50: f64,
}

impl CatalogRow {
    pub fn new(name: &str, path: &str, small: Measure, large: Measure) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            available: true,
            cost_by_rps: small.rps / large.rps.max(f64::MIN_POSITIVE),
            cost_by_p50: large.p50_ms / small.p50_ms.max(f64::MIN_POSITIVE),
            small: Some(small),
            large: Some(large),
        }
    }

    pub fn unavailable(name: &str, path: &str) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            available: false,
            small: None,
            large: None,
            cost_by_rps: f64::NAN,
            cost_by_p50: f64::NAN,
        }
    }
}

/// The page scenario (issue 12): cold loads of models-cache's models page
/// and of the baseline page in headless Chromium.
#[derive(Debug, Serialize)]
pub struct PageResults {
    pub gateways: usize,
    pub models_per_gateway: usize,
    pub models: usize,
    /// Cold loads of each page.
    pub runs: usize,
    /// Rows each page must show first.
    pub rows_expected: usize,
    /// `/proc/loadavg` (1, 5, 15 min) when the scenario started: the
    /// browser's figures move with whatever else the machine runs.
    pub load_average: String,
    pub ours: PageLoads,
    pub baseline: PageLoads,
    /// No data: the browser's own cost of a page whose rows a script writes.
    pub floor: PageLoads,
    /// Baseline ÷ ours.
    pub ratio_p50: f64,
    pub ratio_p95: f64,
}

impl PageResults {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gateways: usize,
        models_per_gateway: usize,
        runs: usize,
        rows_expected: usize,
        load_average: String,
        ours: PageLoads,
        baseline: PageLoads,
        floor: PageLoads,
    ) -> Self {
        Self {
            gateways,
            models_per_gateway,
            models: gateways * models_per_gateway,
            runs,
            rows_expected,
            load_average,
            floor,
            ratio_p50: baseline.p50_ms / ours.p50_ms.max(f64::MIN_POSITIVE),
            ratio_p95: baseline.p95_ms / ours.p95_ms.max(f64::MIN_POSITIVE),
            ours,
            baseline,
        }
    }
}

/// One page's loads: ms from navigation start to its `rows-painted` mark.
#[derive(Debug, Serialize)]
pub struct PageLoads {
    pub page: String,
    pub url: String,
    /// What the page asks the API for its first rows (empty: nothing).
    pub api: String,
    /// That answer's body as sent, identity and gzip (Chromium asks gzip).
    pub api_bytes: u64,
    pub api_gzip_bytes: u64,
    /// Each load that set the mark, in order.
    pub ms: Vec<f64>,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    /// Loads that set the mark with the expected rows shown.
    pub painted: usize,
    /// Loads that did not (drive.py's error, or the rows shown).
    pub errors: Vec<String>,
    /// Where the time went: the median of each phase over the loads.
    pub median: Phases,
    /// The phases of the load whose time is the p95.
    pub p95_load: Option<Phases>,
}

impl PageLoads {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        page: &str,
        url: &str,
        api: &str,
        api_bytes: u64,
        api_gzip_bytes: u64,
        ms: Vec<f64>,
        painted: usize,
        errors: Vec<String>,
        phases: &[Phases],
    ) -> Self {
        let p95_load = rank(ms.len(), 0.95).map(|i| {
            let mut order: Vec<usize> = (0..ms.len()).collect();
            order.sort_by(|&a, &b| ms[a].total_cmp(&ms[b]));
            phases[order[i]].clone()
        });
        let column = |f: fn(&Phases) -> Option<f64>| {
            percentile(&phases.iter().filter_map(f).collect::<Vec<_>>(), 0.5)
        };
        let median = Phases {
            html_ms: column(|p| Some(p.html_ms)).unwrap_or(f64::NAN),
            scripts_ms: column(|p| p.scripts_ms),
            api_start_ms: column(|p| p.api_start_ms),
            api_end_ms: column(|p| p.api_end_ms),
            first_contentful_paint_ms: column(|p| p.first_contentful_paint_ms),
            rows_painted_ms: column(|p| Some(p.rows_painted_ms)).unwrap_or(f64::NAN),
        };
        Self {
            page: page.into(),
            url: url.into(),
            api: api.into(),
            api_bytes,
            api_gzip_bytes,
            p50_ms: percentile(&ms, 0.5).unwrap_or(f64::NAN),
            p95_ms: percentile(&ms, 0.95).unwrap_or(f64::NAN),
            max_ms: percentile(&ms, 1.0).unwrap_or(f64::NAN),
            ms,
            painted,
            errors,
            median,
            p95_load,
        }
    }
}

/// One load's timeline, ms from navigation start (Navigation, Resource and
/// Paint Timing); `None` where the load had no such entry.
#[derive(Debug, Clone, Serialize)]
pub struct Phases {
    /// The HTML's `responseEnd`.
    pub html_ms: f64,
    /// The last script's `responseEnd`.
    pub scripts_ms: Option<f64>,
    /// The API request's start and `responseEnd`.
    pub api_start_ms: Option<f64>,
    pub api_end_ms: Option<f64>,
    pub first_contentful_paint_ms: Option<f64>,
    /// The page's `rows-painted` mark.
    pub rows_painted_ms: f64,
}

/// Index of the `q` percentile (nearest rank) among `n` sorted values.
fn rank(n: usize, q: f64) -> Option<usize> {
    (n > 0).then(|| ((q * n as f64).ceil() as usize).clamp(1, n) - 1)
}

/// The `q` percentile (nearest rank) of `values`.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    rank(sorted.len(), q).map(|i| sorted[i])
}

/// Rows (a) and (b) carry the goal on the cost ratio.
const CATALOG_GOAL: f64 = 1.5;

#[derive(Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub target: String,
    pub figure: String,
    pub met: bool,
    pub kind: Kind,
}

/// What a target is about, which decides when a miss fails the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// What the service must do however fast the machine is (one upstream
    /// request per gateway, every read and warm ok, no load errors): a miss
    /// fails every run, quick ones included.
    Correctness,
    /// Speed, latency and size figures, which only a full run on a quiet
    /// machine measures: a miss fails strict full runs only.
    Performance,
}

impl Target {
    pub(super) fn correctness(name: String, target: &str, figure: String, met: bool) -> Self {
        Self::new(Kind::Correctness, name, target, figure, met)
    }

    pub(super) fn performance(name: String, target: &str, figure: String, met: bool) -> Self {
        Self::new(Kind::Performance, name, target, figure, met)
    }

    fn new(kind: Kind, name: String, target: &str, figure: String, met: bool) -> Self {
        Self {
            name,
            target: target.into(),
            figure,
            met,
            kind,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub meta: Meta,
    pub hot: Vec<HotRow>,
    /// `None` when the scenario was not selected (`--only`).
    pub memory: Option<Memory>,
    pub warm: Option<Warm>,
    pub revalidation: Option<super::revalidation::Revalidation>,
    pub stampedes: Vec<StampedeRow>,
    pub catalog: Option<CatalogResults>,
    pub changes: Option<super::changes::ChangesResults>,
    pub page: Option<PageResults>,
    pub chaos: Option<super::chaos::ChaosResults>,
    pub targets: Vec<Target>,
}

impl Results {
    /// The targets, judged on these figures.
    pub fn judge(&mut self) {
        let mut targets = Vec::new();
        // Issue 5 (the full catalog) and issue 10, points 1 and 2 (every
        // read, both encodings).
        for row in &self.hot {
            let enc = if row.gzip { "gzip" } else { "identity" };
            targets.push(Target::performance(
                format!("hot {} ({enc}) vs limit", row.name),
                "≥ 0.90× limit req/s",
                format!("{:.2}×", row.vs_limit),
                row.vs_limit >= 0.9,
            ));
            targets.push(Target::performance(
                format!("hot {} ({enc}) vs nginx", row.name),
                "≥ 1.00× nginx req/s",
                format!("{:.2}×", row.vs_nginx),
                row.vs_nginx >= 1.0,
            ));
        }
        if let Some(r) = &self.revalidation {
            r.targets(&mut targets);
        }
        if let Some(w) = &self.warm {
            targets.push(Target::correctness(
                format!("warm of {} gateways", w.gateways),
                "every gateway ok",
                format!("{}/{} ok", w.gateways_ok, w.gateways),
                w.gateways > 0 && w.gateways_ok == w.gateways,
            ));
            targets.push(Target::performance(
                format!("warm of {} gateways, wall time", w.gateways),
                "wall ≤ slowest + 100 ms",
                format!(
                    "{} ms (slowest {} ms, sum {} ms)",
                    w.wall_ms, w.slowest_ms, w.sequential_sum_ms
                ),
                w.wall_ms <= w.slowest_ms + 100,
            ));
        }
        for s in self
            .stampedes
            .iter()
            .filter(|s| s.server.starts_with("models-cache"))
        {
            targets.push(Target::correctness(
                format!("stampede, {} ({}), upstream", s.case, s.server),
                "1 upstream request per gateway",
                format!("min {} / max {} per gateway", s.min, s.max),
                s.min == 1 && s.max == 1,
            ));
            targets.push(Target::correctness(
                format!("stampede, {} ({}), reads", s.case, s.server),
                "every read ok",
                format!("{}/{} reads ok", s.burst.ok, s.burst.requests),
                s.burst.requests > 0 && s.burst.ok == s.burst.requests,
            ));
        }
        if let Some(c) = &self.catalog {
            self.judge_catalog(c, &mut targets);
        }
        if let Some(c) = &self.changes {
            c.targets(&mut targets);
        }
        if let Some(p) = &self.page {
            judge_page(p, &mut targets);
        }
        if let Some(c) = &self.chaos {
            c.targets(&mut targets);
        }
        let load_errors = self.load_errors();
        if !load_errors.is_empty()
            || !self.hot.is_empty()
            || self.revalidation.is_some()
            || self.catalog.is_some()
        {
            let total: u64 = load_errors.iter().map(|(_, n)| n).sum();
            let figure = if load_errors.is_empty() {
                "none".to_owned()
            } else {
                let runs: Vec<String> = load_errors
                    .iter()
                    .map(|(run, n)| format!("{run}: {n}"))
                    .collect();
                format!("{total} ({})", runs.join(", "))
            };
            targets.push(Target::correctness(
                "load runs on models-cache (wrk)".into(),
                "no errors (socket, timeout, non-2xx/3xx)",
                figure,
                total == 0,
            ));
        }
        if let Some(m) = &self.memory {
            targets.push(Target::performance(
                "Redis bytes of the catalog".into(),
                "≤ 0.35× raw JSON",
                format!(
                    "{:.2}× ({} vs {})",
                    m.ratio,
                    mib(m.redis_entry_bytes),
                    mib(m.raw_json_bytes)
                ),
                m.ratio <= 0.35,
            ));
        }
        self.targets = targets;
    }

    fn judge_catalog(&self, c: &CatalogResults, targets: &mut Vec<Target>) {
        let (Some(small), Some(large)) = (c.sizes.first(), c.sizes.last()) else {
            return;
        };
        for row in c.rows.iter().filter(|r| r.available).take(2) {
            targets.push(Target::performance(
                format!(
                    "catalog {}: {} ÷ {} models, cost",
                    row.name,
                    count(large.models),
                    count(small.models)
                ),
                "≤ 1.5× (by req/s)",
                format!(
                    "{:.2}× by req/s, {:.2}× by p50",
                    row.cost_by_rps, row.cost_by_p50
                ),
                row.cost_by_rps <= CATALOG_GOAL,
            ));
        }
        // Issue 10, point 4: a different `q` on every request stays cheap.
        // Judged unqueued: at 64 connections p50 is 64 ÷ req/s, a queue.
        if let (Some(m), Some(busy)) = (&c.one_off, c.rows.first().and_then(|r| r.small.as_ref())) {
            targets.push(Target::performance(
                format!(
                    "catalog (a): one-off queries (a new q each) over {} models, p50 at {} connections",
                    count(small.models),
                    super::catalog::ONE_OFF_CONNECTIONS
                ),
                "≤ 5 ms",
                format!(
                    "{} ({:.0} req/s; at {} connections p50 {}, {:.0} req/s)",
                    ms(m.p50_ms),
                    m.rps,
                    c.connections,
                    ms(busy.p50_ms),
                    busy.rps
                ),
                m.p50_ms <= 5.0,
            ));
        }
        for size in &c.sizes {
            targets.push(Target::correctness(
                format!("catalog {} models: generated q match", count(size.models)),
                "≥ 80 % of sampled q match a model",
                format!(
                    "{}/{} ({:.1} models each)",
                    size.q_matched, size.q_sampled, size.q_mean_matches
                ),
                size.q_matched * 5 >= size.q_sampled * 4,
            ));
            if let Some(r) = &size.rebuild {
                targets.push(Target::correctness(
                    format!(
                        "catalog {} models: a changed gateway shows after its warm",
                        count(size.models)
                    ),
                    "shown within 30 s",
                    format!("{:.1} ms, {}", r.visible_ms, queries(r.queries)),
                    r.visible,
                ));
            }
        }
    }

    /// The load runs on models-cache in which wrk counted errors. (Those of
    /// the comparison servers show in their tables; they say nothing of the
    /// service.)
    fn load_errors(&self) -> Vec<(String, u64)> {
        let mut runs: Vec<(String, u64)> = self
            .hot
            .iter()
            .map(|row| {
                let enc = if row.gzip { "gzip" } else { "identity" };
                (format!("{} ({enc})", row.name), row.service.errors)
            })
            .collect();
        if let Some(r) = &self.revalidation {
            for row in &r.rows {
                let enc = if row.gzip { "gzip" } else { "identity" };
                runs.push((
                    format!("{} ({enc}) during revalidation", row.name),
                    row.during.errors,
                ));
            }
        }
        if let Some(c) = &self.catalog {
            for row in &c.rows {
                for (size, m) in c.sizes.iter().zip([&row.small, &row.large]) {
                    if let Some(m) = m {
                        runs.push((
                            format!("catalog {} on {} models", row.name, count(size.models)),
                            m.errors,
                        ));
                    }
                }
            }
        }
        runs.retain(|(_, errors)| *errors > 0);
        runs
    }

    /// The targets missed that fail this run: correctness ones always,
    /// performance ones only when `strict` (never in quick mode, whose
    /// figures come from a debug build and one-second runs).
    pub fn failed(&self, quick: bool, strict: bool) -> Vec<&Target> {
        self.targets
            .iter()
            .filter(|t| !t.met)
            .filter(|t| t.kind == Kind::Correctness || (strict && !quick))
            .collect()
    }

    pub fn markdown(&self) -> String {
        let m = &self.meta;
        let mut out = String::new();
        let _ = writeln!(out, "# models-cache benchmark results\n");
        let _ = writeln!(
            out,
            "{} · commit `{}` · {} mode · {} cores ({}) · servers on CPUs {} · wrk on CPUs {} · `{}` · {} gateways × {} models (`kind = \"{}\"`)\n",
            m.date,
            m.commit,
            m.mode,
            m.cores,
            m.cpu,
            m.server_cpus.as_deref().unwrap_or("any"),
            m.client_cpus.as_deref().unwrap_or("any"),
            m.load,
            m.gateways,
            m.models_per_gateway,
            m.kind
        );
        if !self.hot.is_empty() {
            let _ = writeln!(out, "## Hot reads\n");
            let _ = writeln!(
                out,
                "| read | encoding | models-cache req/s | p50 | p99 | limit req/s | p50 | p99 | nginx req/s | p50 | p99 | × limit | × nginx | body |"
            );
            let _ = writeln!(
                out,
                "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
            );
            for r in &self.hot {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | **{:.2}** | **{:.2}** | {} |",
                    r.name,
                    if r.gzip { "gzip" } else { "identity" },
                    rps(&r.service),
                    ms(r.service.p50_ms),
                    ms(r.service.p99_ms),
                    rps(&r.limit),
                    ms(r.limit.p50_ms),
                    ms(r.limit.p99_ms),
                    rps(&r.nginx),
                    ms(r.nginx.p50_ms),
                    ms(r.nginx.p99_ms),
                    r.vs_limit,
                    r.vs_nginx,
                    kib(r.service.bytes_per_request)
                );
            }
        }
        if let Some(r) = &self.revalidation {
            r.markdown(&mut out);
        }
        if let Some(w) = &self.warm {
            let _ = writeln!(
                out,
                "\n## Full warm ({} gateways, latencies 50–800 ms)\n",
                w.gateways
            );
            let _ = writeln!(
                out,
                "| wall | reported | slowest gateway | sequential sum | wall − slowest | gateways ok | upstream requests |"
            );
            let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|");
            let _ = writeln!(
                out,
                "| {} ms | {} ms | {} ms | {} ms | {} ms | {}/{} | {} |",
                w.wall_ms,
                w.reported_ms,
                w.slowest_ms,
                w.sequential_sum_ms,
                w.wall_ms as i64 - w.slowest_ms as i64,
                w.gateways_ok,
                w.gateways,
                w.upstream_requests
            );
        }
        if !self.stampedes.is_empty() {
            let _ = writeln!(
                out,
                "\n## Stampedes ({} concurrent reads, upstreams take 1 s)\n",
                self.stampedes.first().map_or(0, |s| s.burst.requests)
            );
            let _ = writeln!(
                out,
                "| case | server | reads ok | slowest read | upstream requests per gateway (min–max) |"
            );
            let _ = writeln!(out, "|---|---|--:|--:|--:|");
            for s in &self.stampedes {
                let _ = writeln!(
                    out,
                    "| {} | {} | {}/{} | {} ms | {}–{} |",
                    s.case, s.server, s.burst.ok, s.burst.requests, s.burst.max_ms, s.min, s.max
                );
            }
        }
        if let Some(mem) = &self.memory {
            let _ = writeln!(out, "\n## Memory\n");
            let _ = writeln!(
                out,
                "| Redis (entries) | raw upstream JSON | ratio | stored `models` JSON | Redis (all keys) | service RSS | peak RSS |"
            );
            let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|");
            let _ = writeln!(
                out,
                "| {} | {} | **{:.2}** | {} | {} | {} | {} |",
                mib(mem.redis_entry_bytes),
                mib(mem.raw_json_bytes),
                mem.ratio,
                mib(mem.stored_json_bytes),
                mib(mem.redis_all_bytes),
                mib(mem.service_rss_kb * 1024),
                mib(mem.service_peak_rss_kb * 1024)
            );
        }
        if let Some(c) = &self.catalog {
            catalog_markdown(&mut out, c);
        }
        if let Some(c) = &self.changes {
            c.markdown(&mut out);
        }
        if let Some(p) = &self.page {
            page_markdown(&mut out, p);
        }
        if let Some(c) = &self.chaos {
            c.markdown(&mut out);
        }
        let _ = writeln!(out, "\n## Targets (issues 5, 9, 10, 11, 12)\n");
        let _ = writeln!(out, "| target | kind | goal | figure | |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for t in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                t.name,
                match t.kind {
                    Kind::Correctness => "correctness",
                    Kind::Performance => "performance",
                },
                t.target,
                t.figure,
                if t.met { "met" } else { "**not met**" }
            );
        }
        out
    }
}

fn catalog_markdown(out: &mut String, c: &CatalogResults) {
    let (Some(small), Some(large)) = (c.sizes.first(), c.sizes.last()) else {
        return;
    };
    let (s, l) = (count(small.models), count(large.models));
    let _ = writeln!(
        out,
        "\n## Catalog queries ({s} models: {} gateways × {}; {l}: {} × {})\n",
        small.gateways, small.models_per_gateway, large.gateways, large.models_per_gateway
    );
    let _ = writeln!(
        out,
        "| query | {s} req/s | p50 | p99 | {l} req/s | p50 | p99 | cost {l} ÷ {s} (req/s) | (p50) |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in &c.rows {
        match (&r.small, &r.large) {
            (Some(a), Some(b)) => {
                let _ = writeln!(
                    out,
                    "| {} `{}` | {} | {} | {} | {} | {} | {} | **{:.2}×** | {:.2}× |",
                    r.name,
                    r.path,
                    rps(a),
                    ms(a.p50_ms),
                    ms(a.p99_ms),
                    rps(b),
                    ms(b.p50_ms),
                    ms(b.p99_ms),
                    r.cost_by_rps,
                    r.cost_by_p50
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "| {} `{}` | not available (404) | | | | | | | |",
                    r.name, r.path
                );
            }
        }
    }
    if let Some(m) = &c.one_off {
        let _ = writeln!(
            out,
            "\nOne-off queries (row (a), a new `q` each) at {} connections on {s} models, unqueued: {} req/s, p50 {}, p99 {}.",
            super::catalog::ONE_OFF_CONNECTIONS,
            rps(m),
            ms(m.p50_ms),
            ms(m.p99_ms)
        );
    }
    let _ = writeln!(
        out,
        "\n| catalog | first warm | index build, all gateways | sampled q matching | RSS indexed | per 100,000 models | RSS after the loads | peak RSS | one gateway changed: warm | its segment rebuilt | change shown after the warm |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for size in &c.sizes {
        let rebuild = size.rebuild.as_ref().map_or_else(
            || "| | |".to_owned(),
            |r| {
                let others: Vec<String> = r
                    .other_builds_s
                    .iter()
                    .map(|(kind, s)| format!(", {kind} {:.2} ms", s * 1000.0))
                    .collect();
                format!(
                    "{:.1} ms | {:.2} ms ({} segment{}, {} models{}) | {} |",
                    r.warm_ms,
                    r.segment_build_s * 1000.0,
                    r.segments_built,
                    if r.segments_built == 1 { "" } else { "s" },
                    r.models,
                    others.concat(),
                    if r.visible {
                        format!("{:.1} ms ({})", r.visible_ms, queries(r.queries))
                    } else {
                        "**not shown**".to_owned()
                    }
                )
            },
        );
        let _ = writeln!(
            out,
            "| {} models | {} ms | {:.1} ms ({} segments) | {}/{} ({:.1} models each) | {} | {:.1} MiB | {} | {} | {rebuild}",
            count(size.models),
            size.warm_ms,
            size.index_build_s * 1000.0,
            size.segments_built,
            size.q_matched,
            size.q_sampled,
            size.q_mean_matches,
            mib(size.rss_kb * 1024),
            size.rss_per_100k_mib,
            mib(size.rss_after_load_kb * 1024),
            mib(size.peak_rss_kb * 1024),
        );
    }
    if let Some(m) = c.marginal_rss_per_100k_mib {
        let _ = writeln!(
            out,
            "\nRSS per 100,000 models at the margin (the two instances' RSS difference over their models' difference): **{m:.1} MiB**."
        );
    }
}

/// The page's goal: first rows painted within 100 ms of navigation start.
const PAGE_GOAL_MS: f64 = 100.0;

fn judge_page(p: &PageResults, targets: &mut Vec<Target>) {
    targets.push(Target::performance(
        format!(
            "page load, {} models, models-cache's page p95",
            count(p.models)
        ),
        "< 100 ms (navigation start → rows painted)",
        format!(
            "{} (p50 {}; baseline p95 {}, {:.1}×; no-data floor p95 {})",
            ms(p.ours.p95_ms),
            ms(p.ours.p50_ms),
            ms(p.baseline.p95_ms),
            p.ratio_p95,
            ms(p.floor.p95_ms)
        ),
        p.ours.painted == p.runs && p.ours.p95_ms < PAGE_GOAL_MS,
    ));
    for (name, loads) in [
        ("models-cache's page", &p.ours),
        ("baseline page", &p.baseline),
    ] {
        let mut figure = format!("{}/{} loads", loads.painted, p.runs);
        if let Some(e) = loads.errors.first() {
            figure.push_str(&format!(" (first failure: {e})"));
        }
        targets.push(Target::correctness(
            format!("page load, {name}: rows painted"),
            &format!("every load shows {} rows", p.rows_expected),
            figure,
            p.runs > 0 && loads.painted == p.runs,
        ));
    }
}

fn page_markdown(out: &mut String, p: &PageResults) {
    let _ = writeln!(
        out,
        "\n## Page load ({} models: {} gateways × {})\n",
        count(p.models),
        p.gateways,
        p.models_per_gateway
    );
    let _ = writeln!(
        out,
        "Headless Chromium, {} cold loads of each page (a new browser context each, the pages interleaved), warm cache: ms from navigation start to the page's `rows-painted` mark (its first {} rows painted). Load average when the scenario started: {}.\n",
        p.runs, p.rows_expected, p.load_average
    );
    let _ = writeln!(
        out,
        "| page | first rows from | answer (gzip / identity) | loads painted | p50 | p95 | max |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|");
    for l in [&p.ours, &p.baseline, &p.floor] {
        let (api, size) = if l.api.is_empty() {
            ("no request".to_owned(), "—".to_owned())
        } else {
            (
                format!("`{}`", l.api),
                format!("{} / {}", kib(l.api_gzip_bytes), kib(l.api_bytes)),
            )
        };
        let _ = writeln!(
            out,
            "| {} | {api} | {size} | {}/{} | {} | **{}** | {} |",
            l.page,
            l.painted,
            p.runs,
            ms(l.p50_ms),
            ms(l.p95_ms),
            ms(l.max_ms)
        );
    }
    let _ = writeln!(
        out,
        "\nBaseline ÷ models-cache: **{:.1}×** at p50, **{:.1}×** at p95.",
        p.ratio_p50, p.ratio_p95
    );
    let _ = writeln!(
        out,
        "\nWhere the time goes (ms from navigation start; Navigation, Resource and Paint Timing):\n"
    );
    let _ = writeln!(
        out,
        "| page | load | HTML received | scripts received | API request sent | API answer received | first contentful paint | rows painted |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|");
    for l in [&p.ours, &p.baseline, &p.floor] {
        let rows = [
            ("median of each phase", Some(&l.median)),
            ("the p95 load", l.p95_load.as_ref()),
        ];
        for (which, phases) in rows {
            let Some(ph) = phases else { continue };
            let _ = writeln!(
                out,
                "| {} | {which} | {} | {} | {} | {} | {} | {} |",
                l.page,
                ms(ph.html_ms),
                opt_ms(ph.scripts_ms),
                opt_ms(ph.api_start_ms),
                opt_ms(ph.api_end_ms),
                opt_ms(ph.first_contentful_paint_ms),
                ms(ph.rows_painted_ms)
            );
        }
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), ms)
}

fn queries(n: usize) -> String {
    format!("{n} quer{}", if n == 1 { "y" } else { "ies" })
}

/// `100000` → `100,000`.
fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn rps(m: &Measure) -> String {
    let errors = if m.errors > 0 {
        format!(" ({} err)", m.errors)
    } else {
        String::new()
    };
    format!("{:.0}{errors}", m.rps)
}

pub(super) fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn kib(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        mib(bytes)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let twenty: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        assert_eq!(percentile(&twenty, 0.5), Some(10.0));
        assert_eq!(percentile(&twenty, 0.95), Some(19.0));
        assert_eq!(percentile(&twenty, 1.0), Some(20.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.95), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn the_p95_load_is_the_one_at_the_p95() {
        let phases: Vec<Phases> = [30.0, 10.0, 20.0]
            .map(|t| Phases {
                html_ms: t / 10.0,
                scripts_ms: None,
                api_start_ms: Some(t / 2.0),
                api_end_ms: None,
                first_contentful_paint_ms: None,
                rows_painted_ms: t,
            })
            .to_vec();
        let ms = phases.iter().map(|p| p.rows_painted_ms).collect();
        let loads = PageLoads::new("p", "u", "/a", 0, 0, ms, 3, Vec::new(), &phases);
        assert_eq!(loads.p50_ms, 20.0);
        assert_eq!(loads.p95_ms, 30.0);
        assert_eq!(loads.p95_load.unwrap().html_ms, 3.0);
        assert_eq!(loads.median.api_start_ms, Some(10.0));
        assert_eq!(loads.median.api_end_ms, None);
    }
}
