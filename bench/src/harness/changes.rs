//! The changes scenario (issue 11): what recording changes costs a warm, and
//! how fast `/api/changes` answers.
//!
//! Two fresh instances read the rig's mock (20 gateways × 500 models by
//! default), one recording changes (the default) and one with
//! `CHANGES_MAX=0`. After a first warm of each, every round gives 5 % of
//! every gateway's models new prices and warms both, in alternating order,
//! with the mock answering at once so that the warm's own work is what is
//! timed. The recording instance must record exactly the repriced models,
//! once, every round. Then wrk reads `/api/changes?limit=100` from it.

use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::client::{self, get_json, wait_ok};
use super::report::{Target, ms, rps};
use super::rig::{Instance, Rig, SECRET, ServiceConfig};
use super::scenarios::{FAST_UPSTREAM, START, blocking, load_of};
use super::wrk::Measure;
use crate::catalog::REPRICED_EVERY;

/// Redis databases of the two instances (the rig, catalog and stampedes
/// use 0 to 5).
const DB_ON: u8 = 12;
const DB_OFF: u8 = 13;
/// Recording may cost a warm this much more wall time (issue 11: 10 %).
const GOAL: f64 = 1.10;

#[derive(Debug, Serialize)]
pub struct ChangesResults {
    pub models: usize,
    pub rounds: usize,
    /// Models repriced per round, and the `changed` records each round made.
    pub repriced_per_round: usize,
    pub records_per_round: Vec<usize>,
    /// Warm wall times, ms, per round.
    pub warm_on_ms: Vec<f64>,
    pub warm_off_ms: Vec<f64>,
    /// Medians, and on ÷ off.
    pub median_on_ms: f64,
    pub median_off_ms: f64,
    pub ratio: f64,
    /// wrk on `/api/changes?limit=100`.
    pub feed: Measure,
}

pub async fn changes(rig: &Rig) -> Result<ChangesResults, String> {
    let rounds = if rig.opts.quick { 2 } else { 15 };
    let on = start(rig, "models-cache-changes-on", DB_ON, &[])?;
    let off = start(
        rig,
        "models-cache-changes-off",
        DB_OFF,
        &[("CHANGES_MAX", "0")],
    )?;
    for instance in [&on, &off] {
        wait_ok(&rig.http, &format!("{}/healthz", instance.base), START).await?;
        client::warm(&rig.http, &instance.base, SECRET).await?;
    }
    rig.mock.control(Some("0"), false).await?;
    let (mut warm_on_ms, mut warm_off_ms, mut records_per_round) = (vec![], vec![], vec![]);
    for round in 1..=rounds {
        let since = newest_seq(rig, &on).await?;
        rig.mock.reprice(round).await?;
        let order = if round % 2 == 0 {
            [&on, &off]
        } else {
            [&off, &on]
        };
        for instance in order {
            let started = Instant::now();
            client::warm(&rig.http, &instance.base, SECRET).await?;
            let took = started.elapsed().as_secs_f64() * 1000.0;
            if std::ptr::eq(instance, &on) {
                warm_on_ms.push(took);
            } else {
                warm_off_ms.push(took);
            }
        }
        records_per_round.push(changed_since(rig, &on, &since).await?);
    }
    rig.mock.reprice(0).await?;
    rig.mock.control(Some(FAST_UPSTREAM), false).await?;
    let feed = blocking(
        &load_of(rig),
        format!("{}/api/changes?limit=100", on.base),
        false,
    )
    .await?;
    let (median_on_ms, median_off_ms) = (median(&warm_on_ms), median(&warm_off_ms));
    let models = rig.opts.gateways * rig.opts.models();
    Ok(ChangesResults {
        models,
        rounds,
        repriced_per_round: rig.opts.gateways * rig.opts.models().div_ceil(REPRICED_EVERY),
        records_per_round,
        warm_on_ms,
        warm_off_ms,
        median_on_ms,
        median_off_ms,
        ratio: median_on_ms / median_off_ms.max(0.001),
        feed,
    })
}

fn start(rig: &Rig, name: &str, db: u8, env: &[(&str, &str)]) -> Result<Instance, String> {
    rig.service(&ServiceConfig {
        name,
        db,
        fresh: "4h",
        stale: "12h",
        env,
    })
}

/// The newest record's seq (`0-0` when none).
async fn newest_seq(rig: &Rig, instance: &Instance) -> Result<String, String> {
    let page: Value =
        get_json(&rig.http, &format!("{}/api/changes?limit=1", instance.base)).await?;
    Ok(page["next"].as_str().unwrap_or("0-0").to_owned())
}

/// `changed` records after `since`, following `next` to the end.
async fn changed_since(rig: &Rig, instance: &Instance, since: &str) -> Result<usize, String> {
    let (mut count, mut since) = (0, since.to_owned());
    for _ in 0..1000 {
        let url = format!(
            "{}/api/changes?type=changed&limit=1000&since={since}",
            instance.base
        );
        let page: Value = get_json(&rig.http, &url).await?;
        let found = page["data"].as_array().map_or(0, Vec::len);
        let next = page["next"].as_str().unwrap_or_default().to_owned();
        count += found;
        if next == since {
            return Ok(count);
        }
        since = next;
    }
    Err("/api/changes never reached its end".into())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

impl ChangesResults {
    pub fn targets(&self, targets: &mut Vec<Target>) {
        targets.push(Target::correctness(
            "changes: each repriced model recorded once per round".into(),
            "records = repriced models, every round",
            format!(
                "{:?} records for {} repriced",
                self.records_per_round, self.repriced_per_round
            ),
            self.records_per_round
                .iter()
                .all(|&n| n == self.repriced_per_round),
        ));
        targets.push(Target::correctness(
            "changes: /api/changes under load".into(),
            "no errors",
            format!(
                "{} errors in {} requests",
                self.feed.errors, self.feed.requests
            ),
            self.feed.errors == 0 && self.feed.requests > 0,
        ));
        targets.push(Target::performance(
            format!(
                "changes: warm of {} models, 5 % repriced, recording ÷ not",
                self.models
            ),
            "≤ 1.10× wall time (median)",
            format!(
                "{:.2}× ({:.1} ms vs {:.1} ms)",
                self.ratio, self.median_on_ms, self.median_off_ms
            ),
            self.ratio <= GOAL,
        ));
    }

    pub fn markdown(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Changes ({} models, 5 % repriced per round, {} rounds, upstream answering at once)\n",
            self.models, self.rounds
        );
        let _ = writeln!(
            out,
            "| warm | median wall | each round | records per round |\n|---|--:|---|---|"
        );
        let each = |v: &[f64]| {
            v.iter()
                .map(|t| format!("{t:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| recording changes | {} | {} ms | {:?} (of {} repriced) |",
            ms(self.median_on_ms),
            each(&self.warm_on_ms),
            self.records_per_round,
            self.repriced_per_round
        );
        let _ = writeln!(
            out,
            "| `CHANGES_MAX=0` | {} | {} ms | — |",
            ms(self.median_off_ms),
            each(&self.warm_off_ms)
        );
        let _ = writeln!(
            out,
            "\nRecording ÷ not: **{:.2}×**. `/api/changes?limit=100`: {} req/s, p50 {}, p99 {}.\n",
            self.ratio,
            rps(&self.feed),
            ms(self.feed.p50_ms),
            ms(self.feed.p99_ms)
        );
    }
}
