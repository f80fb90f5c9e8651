//! The scenario runner: starts Redis, the mock gateways, models-cache, the
//! limit server, the aggregator and nginx on loopback ([`rig`]), runs the
//! scenarios ([`scenarios`], [`catalog`], [`changes`], [`page`], [`chaos`])
//! and writes the report ([`report`]).
//!
//! Everything it starts is a [`procs::Proc`], stopped when dropped; every
//! wait is bounded.

pub mod catalog;
pub mod changes;
pub mod chaos;
pub mod client;
pub mod page;
pub mod procs;
pub mod report;
pub mod revalidation;
pub mod rig;
pub mod scenarios;
pub mod stampede;
pub mod wrk;

use std::path::PathBuf;

use clap::Parser;

/// `bench-harness` options; `bench/run.sh` passes its arguments through.
#[derive(Parser, Debug, Clone)]
#[command(
    about = "Benchmarks models-cache against the physical limit and against nginx",
    // `bench/run.sh` passes --bin-dir, --out, --commit and --deadline first:
    // the caller's own come later and win.
    args_override_self = true
)]
pub struct Options {
    /// About a second per scenario, fewer models; only the correctness
    /// targets are asserted (not the speed ones).
    #[arg(long)]
    pub quick: bool,
    /// Exit 1 when any target of the issue is not met, speed included (full
    /// runs; a missed correctness target fails every run).
    #[arg(long)]
    pub strict: bool,
    /// Adapter kind of the mock gateways in `gateways.toml` (`openrouter`:
    /// full records; `openai`: ids only).
    #[arg(long, default_value = "openrouter")]
    pub kind: String,
    #[arg(long, default_value_t = 20)]
    pub gateways: usize,
    /// Models per gateway [default: 500, quick: 50].
    #[arg(long)]
    pub models: Option<usize>,
    /// Seconds per load run [default: 10, quick: 1].
    #[arg(long)]
    pub seconds: Option<u64>,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Concurrent reads of each stampede.
    #[arg(long, default_value_t = 1000)]
    pub stampede_requests: usize,
    /// CPUs of the servers under test (`taskset -c` list; `none` = unpinned)
    /// [default: every CPU but the first, when there are two or more].
    #[arg(long)]
    pub server_cpus: Option<String>,
    /// CPUs of wrk [default: the first CPU, when there are two or more].
    #[arg(long)]
    pub client_cpus: Option<String>,
    /// Where `models-cache`, `mock-gateway`, `limit-server` and `aggregator` are.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// Where `results.md` and `results.json` go.
    #[arg(long, default_value = "bench")]
    pub out: PathBuf,
    /// Seconds after which the run is abandoned and everything stopped.
    #[arg(long, default_value_t = 1800)]
    pub deadline: u64,
    /// Scenarios to run, comma-separated: hot, memory, warm, revalidation,
    /// stampede, catalog, changes, page, chaos [default: all]. Revalidation
    /// compares with hot's p99.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Path of the unified catalog, asked by the catalog scenario's row (c)
    /// (`?limit=50`); a 404 reports the row as not available.
    #[arg(long, default_value = "/api/catalog")]
    pub catalog_path: String,
    /// Cold loads of each page in the page scenario [default: 20, quick: 3].
    #[arg(long)]
    pub page_loads: Option<usize>,
    /// The browser driver of the page scenario (`load` scenario).
    #[arg(long, default_value = "tests/browser/drive.py")]
    pub drive: PathBuf,
    /// PYTHONPATH of the driver (Playwright) [default:
    /// `$MODELS_CACHE_PYDEPS`, which `scripts/browser-deps.sh` exports].
    #[arg(long)]
    pub pydeps: Option<PathBuf>,
    /// Keep the run's temporary directory (logs of every process).
    #[arg(long)]
    pub keep_logs: bool,
    /// Commit measured, for the report (`git rev-parse --short HEAD`).
    #[arg(long, default_value = "unknown")]
    pub commit: String,
}

impl Options {
    pub fn models(&self) -> usize {
        self.models.unwrap_or(if self.quick { 50 } else { 500 })
    }

    /// Whether `scenario` is selected by `--only` (all are by default).
    pub fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }

    pub fn page_loads(&self) -> usize {
        self.page_loads.unwrap_or(if self.quick { 3 } else { 20 })
    }

    pub fn seconds(&self) -> u64 {
        self.seconds.unwrap_or(if self.quick { 1 } else { 10 })
    }

    /// (server CPUs, client CPUs): by default the client gets CPU 0 and the
    /// servers the rest, so load generation and serving do not share a core.
    pub fn cpus(&self) -> (Option<String>, Option<String>) {
        let cores = cores();
        let pick = |given: &Option<String>, default: Option<String>| match given.as_deref() {
            Some("none") => None,
            Some(list) => Some(list.to_owned()),
            None => default,
        };
        let (server, client) = if cores >= 2 {
            (Some(format!("1-{}", cores - 1)), Some("0".to_owned()))
        } else {
            (None, None)
        };
        (
            pick(&self.server_cpus, server),
            pick(&self.client_cpus, client),
        )
    }
}

/// CPUs this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How many CPUs a `taskset -c` list names (`1-3,5` → 4).
pub fn count_cpus(list: &str) -> usize {
    list.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.trim().parse().unwrap_or(0), b.trim().parse().unwrap_or(0));
                (b as usize).saturating_sub(a) + 1
            }
            None => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cpu_lists() {
        assert_eq!(count_cpus("1"), 1);
        assert_eq!(count_cpus("1-3,5"), 4);
    }
}
