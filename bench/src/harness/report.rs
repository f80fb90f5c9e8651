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
            targets.push(Target {
                name: format!("hot full catalog ({enc}) vs limit"),
                target: "≥ 0.90× limit req/s".into(),
                figure: format!("{:.2}×", row.vs_limit),
                met: row.vs_limit >= 0.9,
            });
            targets.push(Target {
                name: format!("hot full catalog ({enc}) vs nginx"),
                target: "≥ 1.00× nginx req/s".into(),
                figure: format!("{:.2}×", row.vs_nginx),
                met: row.vs_nginx >= 1.0,
            });
        }
        if let Some(r) = &self.revalidation {
            targets.push(Target {
                name: "p99 during revalidation".into(),
                target: "≤ 1.2× hot p99".into(),
                figure: format!(
                    "{:.2}× ({:.1} ms vs {:.1} ms)",
                    r.p99_vs_hot, r.service.p99_ms, r.hot_p99_ms
                ),
                met: r.p99_vs_hot <= 1.2,
            });
        }
        if let Some(w) = &self.warm {
            targets.push(Target {
                name: format!("warm of {} gateways", w.gateways),
                target: "wall ≤ slowest + 100 ms".into(),
                figure: format!(
                    "{} ms (slowest {} ms, sum {} ms)",
                    w.wall_ms, w.slowest_ms, w.sequential_sum_ms
                ),
                met: w.wall_ms <= w.slowest_ms + 100 && w.gateways_ok == w.gateways,
            });
        }
        for s in self
            .stampedes
            .iter()
            .filter(|s| s.server.starts_with("models-cache"))
        {
            targets.push(Target {
                name: format!("stampede, {} ({})", s.case, s.server),
                target: "1 upstream request per gateway".into(),
                figure: format!(
                    "min {} / max {} per gateway, {}/{} reads ok",
                    s.min, s.max, s.burst.ok, s.burst.requests
                ),
                met: s.min == 1 && s.max == 1 && s.burst.ok == s.burst.requests,
            });
        }
        if let Some(m) = &self.memory {
            targets.push(Target {
                name: "Redis bytes of the catalog".into(),
                target: "≤ 0.35× raw JSON".into(),
                figure: format!(
                    "{:.2}× ({} vs {})",
                    m.ratio,
                    mib(m.redis_entry_bytes),
                    mib(m.raw_json_bytes)
                ),
                met: m.ratio <= 0.35,
            });
        }
        self.targets = targets;
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
        let _ = writeln!(out, "| target | goal | figure | |");
        let _ = writeln!(out, "|---|---|---|---|");
        for t in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.name,
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
