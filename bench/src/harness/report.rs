//! The figures of a run, the targets judged against them, and their
//! rendering as `results.json` and `results.md`.

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
pub struct Revalidation {
    pub service: Measure,
    pub nginx: Measure,
    pub hot_p99_ms: f64,
    pub limit_hot_p99_ms: f64,
    pub p99_vs_hot: f64,
    /// Upstream requests during the service's run: revalidations under way.
    pub service_upstream_requests: usize,
    pub nginx_upstream_requests: usize,
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
    fn correctness(name: String, target: &str, figure: String, met: bool) -> Self {
        Self::new(Kind::Correctness, name, target, figure, met)
    }

    fn performance(name: String, target: &str, figure: String, met: bool) -> Self {
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
    pub revalidation: Option<Revalidation>,
    pub stampedes: Vec<StampedeRow>,
    pub targets: Vec<Target>,
}

impl Results {
    /// The targets, judged on these figures.
    pub fn judge(&mut self) {
        let mut targets = Vec::new();
        for row in self.hot.iter().filter(|r| r.path == "/api/models") {
            let enc = if row.gzip { "gzip" } else { "identity" };
            targets.push(Target::performance(
                format!("hot full catalog ({enc}) vs limit"),
                "≥ 0.90× limit req/s",
                format!("{:.2}×", row.vs_limit),
                row.vs_limit >= 0.9,
            ));
            targets.push(Target::performance(
                format!("hot full catalog ({enc}) vs nginx"),
                "≥ 1.00× nginx req/s",
                format!("{:.2}×", row.vs_nginx),
                row.vs_nginx >= 1.0,
            ));
        }
        if let Some(r) = &self.revalidation {
            targets.push(Target::performance(
                "p99 during revalidation".into(),
                "≤ 1.2× hot p99",
                format!(
                    "{:.2}× ({:.1} ms vs {:.1} ms)",
                    r.p99_vs_hot, r.service.p99_ms, r.hot_p99_ms
                ),
                r.p99_vs_hot <= 1.2,
            ));
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
        let load_errors = self.load_errors();
        if !load_errors.is_empty() || !self.hot.is_empty() || self.revalidation.is_some() {
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
            runs.push(("during revalidation".into(), r.service.errors));
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
        if let Some(r) = &self.revalidation {
            let _ = writeln!(
                out,
                "\n## Reads while every entry is stale and upstreams take 2 s\n"
            );
            let _ = writeln!(
                out,
                "| server | req/s | p50 | p99 | p99 ÷ hot p99 | upstream requests during the run |"
            );
            let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|");
            let _ = writeln!(
                out,
                "| models-cache | {} | {} | {} | **{:.2}** (hot {}) | {} |",
                rps(&r.service),
                ms(r.service.p50_ms),
                ms(r.service.p99_ms),
                r.p99_vs_hot,
                ms(r.hot_p99_ms),
                r.service_upstream_requests
            );
            let _ = writeln!(
                out,
                "| nginx | {} | {} | {} | {:.2} (limit's hot {}) | {} |",
                rps(&r.nginx),
                ms(r.nginx.p50_ms),
                ms(r.nginx.p99_ms),
                r.nginx.p99_ms / r.limit_hot_p99_ms.max(0.001),
                ms(r.limit_hot_p99_ms),
                r.nginx_upstream_requests
            );
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
        let _ = writeln!(out, "\n## Targets (issue 5)\n");
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

fn rps(m: &Measure) -> String {
    let errors = if m.errors > 0 {
        format!(" ({} err)", m.errors)
    } else {
        String::new()
    };
    format!("{:.0}{errors}", m.rps)
}

fn ms(v: f64) -> String {
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
