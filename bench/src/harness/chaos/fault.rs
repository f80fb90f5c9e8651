//! The faults of the chaos scenario, and the order they come in.

use std::ops::Range;
use std::time::Duration;

use super::{LEAD, TAIL, TIMEOUT};

/// What happens to Redis in a phase.
#[derive(Clone, Copy)]
pub(super) enum RedisFault {
    /// SIGKILL, then an empty server on the same port.
    Killed,
    /// SIGSTOP, then SIGCONT.
    Frozen,
}

/// Gateways failing in a phase: the first range answers 500, the second
/// hangs (the service's upstream timeout cuts it).
#[derive(Clone)]
pub(super) struct FailingGateways {
    pub errors: Range<usize>,
    pub hangs: Range<usize>,
    pub length: Duration,
}

/// One phase's fault: to Redis, to gateways, or both at once (starting
/// together).
pub(super) struct Fault {
    pub name: &'static str,
    pub redis: Option<(RedisFault, Duration)>,
    pub gateways: Option<FailingGateways>,
}

impl Fault {
    /// Until the last of its parts ends.
    pub(super) fn length(&self) -> Duration {
        let redis = self.redis.map_or(Duration::ZERO, |(_, d)| d);
        let gateways = self.gateways.as_ref().map_or(Duration::ZERO, |g| g.length);
        redis.max(gateways)
    }

    pub(super) fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.redis {
            Some((RedisFault::Killed, d)) => parts.push(format!(
                "Redis SIGKILLed, an empty redis-server on the same port {} s later",
                d.as_secs()
            )),
            Some((RedisFault::Frozen, d)) => {
                parts.push(format!("Redis SIGSTOPped, SIGCONT {} s later", d.as_secs()))
            }
            None => {}
        }
        if let Some(g) = &self.gateways {
            parts.push(format!(
                "gateways {}–{} answer 500 and {}–{} hang (cut by the {TIMEOUT} upstream timeout) for {} s",
                g.errors.start,
                g.errors.end - 1,
                g.hangs.start,
                g.hangs.end - 1,
                g.length.as_secs()
            ));
        }
        if parts.is_empty() {
            return "none".into();
        }
        parts.join("; meanwhile ")
    }

    /// Gateways the fault makes fail.
    pub(super) fn failing(&self) -> Vec<usize> {
        self.gateways
            .as_ref()
            .map(|g| g.errors.clone().chain(g.hangs.clone()).collect())
            .unwrap_or_default()
    }
}

/// The phases, in order, each with its load window in seconds: a baseline,
/// the three faults, then (d), the first and the third at once (a
/// Redis back empty while gateways still fail: what stale-if-error must
/// survive). In quick mode every fault lasts a second, (d)'s gateways two.
pub(super) fn plan(quick: bool, gateways: usize, baseline_s: u64) -> Vec<(Fault, u64)> {
    let secs = |full: u64, quick_s: u64| Duration::from_secs(if quick { quick_s } else { full });
    let (quarter, half) = (gateways / 4, gateways / 2);
    let failing = |length| FailingGateways {
        errors: 0..quarter,
        hangs: quarter..half,
        length,
    };
    let faults = [
        Fault {
            name: "(a) Redis killed, back empty",
            redis: Some((RedisFault::Killed, secs(5, 1))),
            gateways: None,
        },
        Fault {
            name: "(b) Redis frozen",
            redis: Some((RedisFault::Frozen, secs(3, 1))),
            gateways: None,
        },
        Fault {
            name: "(c) half the gateways fail",
            redis: None,
            gateways: Some(failing(secs(10, 1))),
        },
        Fault {
            name: "(d) Redis killed, back empty, while half the gateways fail",
            redis: Some((RedisFault::Killed, secs(5, 1))),
            gateways: Some(failing(secs(10, 2))),
        },
    ];
    let baseline = Fault {
        name: "baseline (no fault)",
        redis: None,
        gateways: None,
    };
    let mut phases = vec![(baseline, baseline_s)];
    for fault in faults {
        let window = LEAD + fault.length().as_secs() + TAIL;
        phases.push((fault, window));
    }
    phases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_runs_in_both_modes_with_its_window() {
        let windows = |quick| -> Vec<u64> { plan(quick, 20, 10).iter().map(|p| p.1).collect() };
        assert_eq!(windows(false), [10, 8, 6, 13, 13]);
        assert_eq!(windows(true), [10, 4, 4, 4, 5]);
        let phases = plan(false, 20, 10);
        assert_eq!(phases[3].0.failing(), (0..10).collect::<Vec<_>>());
        assert_eq!(phases[4].0.length(), Duration::from_secs(10));
        assert!(phases[0].0.failing().is_empty());
    }
}
