//! Reads while every entry revalidates (issue 10, point 3): is a read's
//! latency untouched by the revalidations under way?
//!
//! Each row reads one path in one encoding with the same load from the
//! long-TTL instance (hot: nothing revalidates) and from the instance whose
//! entries are fresh for one second while every upstream takes 2 s (so each
//! gateway revalidates about every 3 s, the whole run long), alternately,
//! [`ROUNDS`] times. The figure is p99 during revalidation ÷ hot p99, each
//! the median round's.
//!
//! A p99 compared must be the server's and not a queue's: at 64 connections
//! a full catalog of 10 MiB is limited by copying bytes, and its p99 is the
//! wait behind 63 others (over a second, for the limit server too). So the
//! full catalog is read at the largest connection count (16, 8, 4 or 2) at
//! which the limit server's p99 stays under 50 ms, measured first; pages of
//! 100 at the run's connection count. nginx, as a reverse proxy with
//! stale-while-revalidate, reads the full catalog (identity) alongside.

use std::fmt::Write as _;

use serde::Serialize;

use super::client::wait_state;
use super::report::{Target, ms, rps};
use super::rig::{Rig, hot_paths};
use super::scenarios::{FAST_UPSTREAM, START, blocking, load_of};
use super::wrk::{Load, Measure};

/// Mock latency while revalidating (the "upstreams take 2 s").
const SLOW_UPSTREAM: &str = "2000";
/// The limit's p99 under which a full-catalog read is not queueing.
const NOT_QUEUEING_MS: f64 = 50.0;
const FULL_CONNECTIONS: [usize; 4] = [16, 8, 4, 2];
/// Each row alternates hot and revalidating loads this many times, half the
/// run's duration each, so that a drift in the machine's speed during the
/// row falls on both sides alike; each side's figures are its median round
/// (by p99).
const ROUNDS: usize = 3;
/// Goal of issue 10, point 3.
pub const GOAL: f64 = 1.2;

#[derive(Debug, Serialize)]
pub struct Revalidation {
    pub rows: Vec<RevalidationRow>,
    /// Connections of the full-catalog rows, by encoding, and the limit's
    /// p99 there.
    pub full: Vec<NotQueueing>,
    /// nginx reading the full catalog during its own revalidations.
    pub nginx: Measure,
    pub nginx_upstream_requests: usize,
}

/// The connection count at which the limit server reads the full catalog
/// in one encoding without queueing, and its p99 there.
#[derive(Debug, Serialize)]
pub struct NotQueueing {
    pub gzip: bool,
    pub connections: usize,
    pub limit_p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct RevalidationRow {
    pub name: String,
    pub gzip: bool,
    pub connections: usize,
    pub hot: Measure,
    pub during: Measure,
    pub p99_vs_hot: f64,
    /// Upstream requests during the run: revalidations under way.
    pub upstream_requests: usize,
}

pub async fn revalidation(rig: &Rig) -> Result<Revalidation, String> {
    let [(full_name, full_path), (page_name, page_path), _] = hot_paths();
    let mut rows = Vec::new();
    for gzip in [false, true] {
        let connections = rig.opts.connections;
        rows.push(row(rig, page_name, &page_path, gzip, connections).await?);
    }
    let mut full = Vec::new();
    for gzip in [false, true] {
        let probe = not_queueing(rig, &full_path, gzip).await?;
        rows.push(row(rig, full_name, &full_path, gzip, probe.connections).await?);
        full.push(probe);
    }
    let full_connections = full[0].connections;
    rig.mock.control(Some(SLOW_UPSTREAM), true).await?;
    let nginx = blocking(
        &load(rig, full_connections),
        format!("{}{full_path}", rig.nginx_swr),
        false,
    )
    .await?;
    let nginx_upstream_requests = upstream_requests(rig).await?;
    rig.mock.control(Some(FAST_UPSTREAM), false).await?;
    rig.mock
        .quiet(std::time::Duration::from_millis(300))
        .await?;
    Ok(Revalidation {
        rows,
        full,
        nginx,
        nginx_upstream_requests,
    })
}

/// The largest of [`FULL_CONNECTIONS`] at which the limit server reads
/// `path` in that encoding with a p99 under [`NOT_QUEUEING_MS`] (else the
/// smallest). Per encoding: a compressed catalog is a twentieth of the
/// bytes, and at the identity's count its p99 would be a near-idle
/// server's, a millisecond that any scheduling hiccup doubles.
async fn not_queueing(rig: &Rig, path: &str, gzip: bool) -> Result<NotQueueing, String> {
    let mut last = None;
    for connections in FULL_CONNECTIONS {
        let probe = Load {
            seconds: 2,
            ..load(rig, connections)
        };
        let measure = blocking(&probe, format!("{}{path}", rig.limit), gzip).await?;
        let quiet = measure.p99_ms < NOT_QUEUEING_MS;
        last = Some(NotQueueing {
            gzip,
            connections,
            limit_p99_ms: measure.p99_ms,
        });
        if quiet {
            break;
        }
    }
    Ok(last.expect("BUG: FULL_CONNECTIONS is not empty"))
}

async fn row(
    rig: &Rig,
    name: &str,
    path: &str,
    gzip: bool,
    connections: usize,
) -> Result<RevalidationRow, String> {
    let load = Load {
        seconds: (rig.opts.seconds() / 2).max(1),
        ..load(rig, connections)
    };
    rig.mock.control(Some(SLOW_UPSTREAM), true).await?;
    let base = &rig.revalidating.base;
    wait_state(&rig.http, base, "stale", START).await?;
    let (mut hot, mut during) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        hot.push(blocking(&load, format!("{}{path}", rig.service.base), gzip).await?);
        during.push(blocking(&load, format!("{base}{path}"), gzip).await?);
    }
    let upstream_requests = upstream_requests(rig).await?;
    rig.mock.control(Some(FAST_UPSTREAM), false).await?;
    let (hot, during) = (median_by_p99(hot), median_by_p99(during));
    let encoding = if gzip { " gzip" } else { "" };
    eprintln!(
        "bench: revalidation {name}{encoding} at {connections} connections: p99 {:.2} ms (hot {:.2} ms), {upstream_requests} upstream requests",
        during.p99_ms, hot.p99_ms
    );
    Ok(RevalidationRow {
        name: name.to_owned(),
        gzip,
        connections,
        p99_vs_hot: during.p99_ms / hot.p99_ms.max(0.001),
        hot,
        during,
        upstream_requests,
    })
}

/// The measure of median p99 among `rounds`.
fn median_by_p99(mut rounds: Vec<Measure>) -> Measure {
    rounds.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
    rounds.swap_remove(rounds.len() / 2)
}

fn load(rig: &Rig, connections: usize) -> Load<'_> {
    Load {
        // wrk needs a connection per thread at least.
        threads: rig.opts.threads.min(connections),
        connections,
        ..load_of(rig)
    }
}

async fn upstream_requests(rig: &Rig) -> Result<usize, String> {
    Ok(rig
        .mock
        .stats()
        .await?
        .gateways
        .iter()
        .map(|g| g.requests)
        .sum())
}

impl Revalidation {
    pub fn targets(&self, targets: &mut Vec<Target>) {
        for row in &self.rows {
            let enc = if row.gzip { "gzip" } else { "identity" };
            targets.push(Target::performance(
                format!(
                    "p99 during revalidation, {} ({enc}), {} connections",
                    row.name, row.connections
                ),
                "≤ 1.2× hot p99",
                format!(
                    "{:.2}× ({} vs {})",
                    row.p99_vs_hot,
                    ms(row.during.p99_ms),
                    ms(row.hot.p99_ms)
                ),
                row.p99_vs_hot <= GOAL,
            ));
        }
    }

    pub fn markdown(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n## Reads while every entry revalidates (fresh 1 s, upstreams take 2 s)\n"
        );
        let _ = writeln!(
            out,
            "Full catalog at the largest connection count (of 16, 8, 4, 2) where the limit server's p99 is under 50 ms (not a queue): {}; pages of 100 at the run's connections. Hot: the same load on the long-TTL instance, alternated with the revalidating one {} times (half the run's duration each); each side's figures are its median round's (by p99). Upstreams and Redis run on the client's CPUs.\n",
            self.full
                .iter()
                .map(|f| format!(
                    "{} for {} (limit p99 {})",
                    f.connections,
                    if f.gzip { "gzip" } else { "identity" },
                    ms(f.limit_p99_ms)
                ))
                .collect::<Vec<_>>()
                .join(", "),
            ROUNDS
        );
        let _ = writeln!(
            out,
            "| read | encoding | connections | hot req/s | hot p99 | during req/s | p50 | p99 | p99 ÷ hot p99 | upstream requests during the run |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | **{:.2}** | {} |",
                r.name,
                if r.gzip { "gzip" } else { "identity" },
                r.connections,
                rps(&r.hot),
                ms(r.hot.p99_ms),
                rps(&r.during),
                ms(r.during.p50_ms),
                ms(r.during.p99_ms),
                r.p99_vs_hot,
                r.upstream_requests
            );
        }
        let _ = writeln!(
            out,
            "\nnginx (stale-while-revalidate proxy), full catalog at {} connections: {} req/s, p50 {}, p99 {}, {} upstream requests.",
            self.full[0].connections,
            rps(&self.nginx),
            ms(self.nginx.p50_ms),
            ms(self.nginx.p99_ms),
            self.nginx_upstream_requests
        );
    }
}
