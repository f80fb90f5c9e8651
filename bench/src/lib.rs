//! The benchmark harness of models-cache (issue 5): everything `bench/run.sh`
//! starts, and the scenario runner.
//!
//! # Layout
//!
//! - [`catalog`] — synthetic OpenRouter-shaped model lists, deterministic.
//! - [`latency`] — `50..800`: one latency per gateway, spread evenly.
//! - [`harness`] — the runner: child processes, wrk, scenarios, report.
//!
//! Binaries (`src/bin/`): `mock-gateway` (N upstreams in one process, with
//! request counters and a control endpoint), `limit-server` (the physical
//! limit: the service's own response bytes, replayed from memory),
//! `aggregator` (what a user would build instead, put behind nginx: asks
//! every gateway on every request), and `bench-harness` (the runner).

pub mod catalog;
pub mod harness;
pub mod latency;

/// The line every server of the harness prints first on stdout, followed by
/// the address it bound (`listening 127.0.0.1:4242`): how the runner learns
/// ports without racing for them.
pub const LISTENING: &str = "listening";
