//! Load runs with `wrk` (fixed threads and connections, pinned to the
//! client CPUs), reported by `bench/wrk-report.lua` as one JSON line.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::procs;

/// The reporter script, written next to the run's other files.
pub const REPORT_LUA: &str = include_str!("../../wrk-report.lua");

/// How one load run went.
#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub requests: u64,
    /// Response bytes per request, headers included.
    pub bytes_per_request: u64,
    /// Socket errors, timeouts and non-2xx/3xx answers.
    pub errors: u64,
    /// Of those, the answers with a status of 400 or more.
    pub non_2xx: u64,
}

#[derive(Deserialize)]
struct Report {
    requests: u64,
    duration_us: u64,
    bytes: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    errors: u64,
    status_errors: u64,
}

/// The fixed shape of every run.
pub struct Load<'a> {
    pub threads: usize,
    pub connections: usize,
    pub seconds: u64,
    pub cpus: Option<&'a str>,
    pub script: &'a Path,
}

impl Load<'_> {
    /// Runs wrk against `url`, with `Accept-Encoding: gzip` when `gzip`.
    pub fn run(&self, url: &str, gzip: bool) -> Result<Measure, String> {
        let mut command = procs::pinned(Path::new("wrk"), self.cpus);
        command
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.seconds))
            .args(["--timeout", "10s", "-s"])
            .arg(self.script);
        if gzip {
            command.args(["-H", "Accept-Encoding: gzip"]);
        }
        command.arg(url);
        let bound = Duration::from_secs(self.seconds + 30);
        let out = procs::output(command, bound)?;
        parse(&out).ok_or_else(|| format!("wrk printed no report for {url}: {out}"))
    }
}

fn parse(out: &str) -> Option<Measure> {
    let line = out.lines().rev().find(|l| l.starts_with('{'))?;
    let r: Report = serde_json::from_str(line).ok()?;
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Measure {
        rps: r.requests as f64 / (r.duration_us.max(1) as f64 / 1e6),
        p50_ms: ms(r.p50_us),
        p99_ms: ms(r.p99_us),
        max_ms: ms(r.max_us),
        requests: r.requests,
        bytes_per_request: r.bytes / r.requests.max(1),
        errors: r.errors + r.status_errors,
        non_2xx: r.status_errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reporter_line() {
        let out = "Running 1s test\n{\"requests\":2000,\"duration_us\":1000000,\"bytes\":4000,\
                   \"p50_us\":1500,\"p99_us\":9000,\"max_us\":12000,\"errors\":0,\"status_errors\":1}\n";
        let m = parse(out).unwrap();
        assert_eq!(m.rps, 2000.0);
        assert_eq!(m.p99_ms, 9.0);
        assert_eq!(m.bytes_per_request, 2);
        assert_eq!(m.errors, 1);
        assert_eq!(m.non_2xx, 1);
    }
}
