//! The chaos scenario's figures, its target rows and its section of
//! `results.md`.

use std::fmt::Write as _;

use serde::Serialize;

use super::super::report::{Target, ms};
use super::super::wrk::Measure;

#[derive(Debug, Serialize)]
pub struct ChaosResults {
    pub gateways: usize,
    pub models_per_gateway: usize,
    pub path: String,
    pub fresh_ttl: String,
    pub revalidate_backoff: String,
    pub gateway_timeout: String,
    /// `/proc/loadavg` (1, 5, 15 min) when the scenario started: on a
    /// shared machine the p99s move with whatever else runs.
    pub load_average: String,
    pub phases: Vec<Phase>,
}

#[derive(Debug, Serialize)]
pub struct Phase {
    pub name: String,
    pub fault: String,
    pub fault_s: u64,
    /// The load window: a second, the fault, then its recovery (module doc).
    pub window_s: u64,
    /// One wrk per instance.
    pub per_instance: Vec<Measure>,
    pub requests: u64,
    pub non_2xx: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
    /// The higher of the two instances' p99.
    pub p99_ms: f64,
    pub p99_vs_baseline: f64,
    /// Upstream requests during the window, per gateway, and those failed.
    pub upstream_per_gateway: Vec<usize>,
    pub failed_per_gateway: Vec<usize>,
    /// Gateways made to fail (fault (c)).
    pub failing: Vec<usize>,
    /// `/api/models?limit=1` samples during the window, and what was wrong in
    /// them (a gateway missing or short of models, an error answer).
    pub samples: usize,
    pub lapses: Vec<String>,
    /// Gateways served with the models they had on both instances, right
    /// after the window; what was wrong with the others.
    pub kept: usize,
    pub lost: Vec<String>,
    /// From the fault's end until both instances served every gateway from
    /// a list fetched after it.
    pub recovered_ms: Option<u64>,
    /// `models:<id>` entries in Redis then.
    pub redis_entries: usize,
}

impl Phase {
    /// No error answers.
    fn reads_ok(&self) -> bool {
        self.requests > 0 && self.non_2xx == 0 && self.socket_errors == 0
    }

    /// No lapse during the window, every gateway kept after it.
    fn data_kept(&self, gateways: usize) -> bool {
        self.lapses.is_empty() && self.lost.is_empty() && self.kept == gateways
    }
}

impl ChaosResults {
    pub fn targets(&self, targets: &mut Vec<Target>) {
        for phase in &self.phases {
            targets.push(Target::correctness(
                format!("chaos {}: reads", phase.name),
                "0 non-2xx, 0 socket errors",
                format!(
                    "{} non-2xx, {} socket errors in {} requests (p99 {}, {:.2}× baseline)",
                    phase.non_2xx,
                    phase.socket_errors,
                    phase.requests,
                    ms(phase.p99_ms),
                    phase.p99_vs_baseline
                ),
                phase.reads_ok(),
            ));
            targets.push(Target::correctness(
                format!("chaos {}: data kept", phase.name),
                "every gateway served with its models on both instances, during and after",
                format!(
                    "{}/{} kept, {} lapses in {} samples{}",
                    phase.kept,
                    self.gateways,
                    phase.lapses.len(),
                    phase.samples,
                    first(&phase.lost, &phase.lapses)
                ),
                phase.data_kept(self.gateways),
            ));
        }
    }

    pub fn markdown(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n## Chaos ({} gateways × {} models, two instances on one Redis, `{}`; fresh {}, backoff {}, upstream timeout {})\n",
            self.gateways,
            self.models_per_gateway,
            self.path,
            self.fresh_ttl,
            self.revalidate_backoff,
            self.gateway_timeout
        );
        let _ = writeln!(
            out,
            "One wrk per instance (half the connections each); p99 is the higher of the two. Load average when the scenario started: {}.\n",
            self.load_average
        );
        let _ = writeln!(
            out,
            "| phase | fault | window | requests | non-2xx | socket errors | p99 | p99 ÷ baseline | upstream requests per gateway (failed) | lapses | gateways kept | every gateway refetched after the fault, within | Redis entries then |"
        );
        let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|");
        for p in &self.phases {
            let _ = writeln!(
                out,
                "| {} | {} | {} s | {} | {} | {} | {} | **{:.2}×** | {} | {}/{} | {}/{} | {} | {} |",
                p.name,
                p.fault,
                p.window_s,
                p.requests,
                p.non_2xx,
                p.socket_errors,
                ms(p.p99_ms),
                p.p99_vs_baseline,
                upstream(p),
                p.lapses.len(),
                p.samples,
                p.kept,
                self.gateways,
                match p.recovered_ms {
                    _ if p.fault_s == 0 => "—".to_owned(),
                    Some(t) => format!("{t} ms"),
                    None => "**not within 30 s**".to_owned(),
                },
                p.redis_entries
            );
        }
        for p in &self.phases {
            for problem in p.lost.iter().chain(&p.lapses).take(5) {
                let _ = writeln!(out, "\n- {}: {problem}", p.name);
            }
        }
    }
}

/// Upstream requests per gateway: min–max of the healthy gateways, and of
/// the failing ones with their failed answers.
fn upstream(p: &Phase) -> String {
    let span = |values: Vec<usize>| {
        let (min, max) = (values.iter().min(), values.iter().max());
        match (min, max) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) => format!("{a}–{b}"),
            _ => "—".to_owned(),
        }
    };
    let pick = |failing: bool, of: &[usize]| -> Vec<usize> {
        of.iter()
            .enumerate()
            .filter(|(n, _)| p.failing.contains(n) == failing)
            .map(|(_, v)| *v)
            .collect()
    };
    let healthy = span(pick(false, &p.upstream_per_gateway));
    if p.failing.is_empty() {
        return healthy;
    }
    format!(
        "healthy {healthy}; failing {} ({} failed)",
        span(pick(true, &p.upstream_per_gateway)),
        span(pick(true, &p.failed_per_gateway))
    )
}

/// `; first: …` with the first problem, if any.
fn first(lost: &[String], lapses: &[String]) -> String {
    lost.iter()
        .chain(lapses)
        .next()
        .map_or_else(String::new, |p| format!("; first: {p}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(failing: Vec<usize>, requests: Vec<usize>, failed: Vec<usize>) -> Phase {
        Phase {
            name: "p".into(),
            fault: "f".into(),
            fault_s: 1,
            window_s: 4,
            per_instance: Vec::new(),
            requests: 10,
            non_2xx: 0,
            socket_errors: 0,
            p99_ms: 1.0,
            p99_vs_baseline: 1.0,
            upstream_per_gateway: requests,
            failed_per_gateway: failed,
            failing,
            samples: 4,
            lapses: Vec::new(),
            kept: 4,
            lost: Vec::new(),
            recovered_ms: Some(100),
            redis_entries: 4,
        }
    }

    #[test]
    fn upstream_requests_are_split_by_healthy_and_failing() {
        assert_eq!(upstream(&phase(vec![], vec![3, 3, 3, 3], vec![0; 4])), "3");
        assert_eq!(
            upstream(&phase(vec![0, 1], vec![5, 7, 4, 4], vec![4, 6, 0, 0])),
            "healthy 4; failing 5–7 (4–6 failed)"
        );
    }

    #[test]
    fn a_lapse_or_a_lost_gateway_misses_the_data_target() {
        let mut p = phase(vec![], vec![1; 4], vec![0; 4]);
        assert!(p.reads_ok() && p.data_kept(4));
        p.lapses
            .push("g00 on instance 1 at 5 ms: missing, 0 models".into());
        assert!(!p.data_kept(4));
        p.lapses.clear();
        p.kept = 3;
        assert!(!p.data_kept(4));
        p.non_2xx = 1;
        assert!(!p.reads_ok());
    }
}
