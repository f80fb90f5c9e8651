//! Prometheus metrics (`GET /metrics`), through the `metrics` facade and its
//! Prometheus exporter.
//!
//! Events are recorded where they happen (fetches, warms, revalidations,
//! invalidations, store errors). Two families are filled in at scrape time
//! instead, so the read path pays nothing for them: read outcomes, copied from
//! the per-gateway tallies of [`crate::stats::Stats`], and the per-gateway
//! entry gauges, computed from what the instance holds.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::cache::{Freshness, GatewayView, ReadOutcome};

pub const READS: &str = "models_cache_reads_total";
pub const WARMS: &str = "models_cache_warms_total";
pub const WARM_DURATION: &str = "models_cache_warm_duration_seconds";
pub const WARM_FAILURES: &str = "models_cache_warm_failures_total";
pub const FETCH_DURATION: &str = "models_cache_fetch_duration_seconds";
pub const FETCH_ERRORS: &str = "models_cache_fetch_errors_total";
pub const FETCHES_UNCHANGED: &str = "models_cache_fetches_unchanged_total";
pub const REVALIDATIONS: &str = "models_cache_revalidations_total";
pub const INVALIDATIONS: &str = "models_cache_invalidations_total";
pub const STORE_ERRORS: &str = "models_cache_store_errors_total";
pub const ENTRY_AGE: &str = "models_cache_entry_age_seconds";
pub const ENTRY_STALE_IN: &str = "models_cache_entry_stale_expiry_seconds";
pub const ENTRY_MODELS: &str = "models_cache_entry_models";
pub const GATEWAY_CACHED: &str = "models_cache_gateway_cached";
pub const GATEWAY_FAILING: &str = "models_cache_gateway_failing_seconds";
pub const TTL: &str = "models_cache_ttl_seconds";
pub const VIEWS_BUILT: &str = "models_cache_views_built_total";
pub const INDEX_BUILD: &str = "models_cache_index_build_seconds";
pub const VIEW_CACHE_BYTES: &str = "models_cache_view_cache_bytes";
pub const ANSWERS_REPLAYED: &str = "models_cache_answers_replayed_total";
pub const CHANGES: &str = "models_cache_changes_recorded_total";
pub const WEBHOOK_DELIVERIES: &str = "models_cache_webhook_deliveries_total";

/// Upstream fetches and warms: from tens of milliseconds to the longest timeouts.
const DURATION_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0,
];

/// The process's exporter, installed on first use (one global recorder per
/// process, shared by every app a test process builds).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &DURATION_BUCKETS)
            .expect("BUG: the buckets are not empty")
            .install_recorder()
            .expect("BUG: nothing else installs a metrics recorder");
        describe();
        handle
    })
}

fn describe() {
    describe_counter!(READS, "Gateway reads by outcome (hit, stale, miss)");
    describe_counter!(WARMS, "Warms run, by trigger");
    describe_histogram!(WARM_DURATION, "Wall time of warms, by trigger");
    describe_counter!(
        WARM_FAILURES,
        "Warms in which at least one gateway failed, by trigger"
    );
    describe_histogram!(FETCH_DURATION, "Upstream fetch time, by gateway");
    describe_counter!(
        FETCH_ERRORS,
        "Failed upstream fetches, by gateway and error kind"
    );
    describe_counter!(
        FETCHES_UNCHANGED,
        "Fetches whose answer came back byte for byte: not parsed, the entry extended"
    );
    describe_counter!(
        REVALIDATIONS,
        "Background revalidation fetches, by gateway and result"
    );
    describe_counter!(INVALIDATIONS, "Entries dropped by operators, by gateway");
    describe_counter!(CHANGES, "Change records appended, by gateway and type");
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook POSTs, by outcome: delivered, retried (a failed attempt), dropped (given up)"
    );
    describe_counter!(STORE_ERRORS, "Store (Redis) calls that failed or timed out");
    describe_gauge!(ENTRY_AGE, "Age of the served entry, by gateway");
    describe_gauge!(
        ENTRY_STALE_IN,
        "Time until the served entry may no longer be served"
    );
    describe_gauge!(ENTRY_MODELS, "Models in the served entry, by gateway");
    describe_gauge!(
        GATEWAY_CACHED,
        "1 while the gateway has a servable entry, else 0"
    );
    describe_gauge!(
        GATEWAY_FAILING,
        "How long the gateway's fetches have been failing (0: healthy)"
    );
    describe_gauge!(TTL, "Entry lifetimes in force, by window (fresh, stale)");
    describe_counter!(
        VIEWS_BUILT,
        "Catalog pages serialised (json), compressed fast (gzip) once per query and entry version while cached, recompressed at the best level once reused (gzip-best)"
    );
    describe_histogram!(
        INDEX_BUILD,
        "Time to index an entry's models (segment) or to group every gateway's offers (unified)"
    );
    describe_gauge!(
        VIEW_CACHE_BYTES,
        "Bytes held by the answer caches, by cache (json, gzip, answers)"
    );
    describe_counter!(
        ANSWERS_REPLAYED,
        "Catalog reads answered before routing, from an answer assembled moments ago"
    );
}

pub fn index_built(kind: &'static str, took: Duration) {
    histogram!(INDEX_BUILD, "kind" => kind).record(took.as_secs_f64());
}

pub fn view_built(encoding: &'static str) {
    counter!(VIEWS_BUILT, "encoding" => encoding).increment(1);
}

/// Answers replayed before routing since start, set at scrape time.
pub fn answers_replayed(replays: u64) {
    counter!(ANSWERS_REPLAYED).absolute(replays);
}

/// The view caches' weights, `[json, gzip, answers]`, set at scrape time.
pub fn view_cache_bytes(weights: [u64; 3]) {
    for (cache, bytes) in ["json", "gzip", "answers"].into_iter().zip(weights) {
        gauge!(VIEW_CACHE_BYTES, "cache" => cache).set(bytes as f64);
    }
}

pub fn fetched(gateway: &str, took: Duration, error_kind: Option<&'static str>) {
    histogram!(FETCH_DURATION, "gateway" => gateway.to_owned()).record(took.as_secs_f64());
    if let Some(kind) = error_kind {
        counter!(FETCH_ERRORS, "gateway" => gateway.to_owned(), "kind" => kind).increment(1);
    }
}

pub fn unchanged(gateway: &str) {
    counter!(FETCHES_UNCHANGED, "gateway" => gateway.to_owned()).increment(1);
}

pub fn warmed(trigger: &'static str, took: Duration, any_failed: bool) {
    counter!(WARMS, "trigger" => trigger).increment(1);
    histogram!(WARM_DURATION, "trigger" => trigger).record(took.as_secs_f64());
    if any_failed {
        counter!(WARM_FAILURES, "trigger" => trigger).increment(1);
    }
}

pub fn revalidated(gateway: &str, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    counter!(REVALIDATIONS, "gateway" => gateway.to_owned(), "result" => result).increment(1);
}

pub fn invalidated(gateway: &str) {
    counter!(INVALIDATIONS, "gateway" => gateway.to_owned()).increment(1);
}

pub fn change_recorded(gateway: &str, kind: &'static str) {
    counter!(CHANGES, "gateway" => gateway.to_owned(), "type" => kind).increment(1);
}

pub fn webhook(outcome: &'static str) {
    counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
}

pub fn store_error() {
    counter!(STORE_ERRORS).increment(1);
}

/// What the scrape needs to know of one gateway.
pub struct GatewaySample<'a> {
    pub view: &'a GatewayView,
    pub reads: [(ReadOutcome, u64); 3],
    pub failing_for: Option<Duration>,
}

/// Sets the scrape-time families, then renders every metric.
pub fn render(samples: &[GatewaySample], ttl: crate::config::Ttl, now_ms: u64) -> String {
    for sample in samples {
        record_gateway(sample, now_ms);
    }
    gauge!(TTL, "window" => "fresh").set(ttl.fresh.as_secs_f64());
    gauge!(TTL, "window" => "stale").set(ttl.stale.as_secs_f64());
    let handle = handle();
    handle.run_upkeep();
    handle.render()
}

fn record_gateway(sample: &GatewaySample, now_ms: u64) {
    let id = sample.view.gateway.id.clone();
    for (outcome, n) in sample.reads {
        counter!(READS, "gateway" => id.clone(), "outcome" => outcome.as_str()).absolute(n);
    }
    let failing = sample.failing_for.unwrap_or_default();
    gauge!(GATEWAY_FAILING, "gateway" => id.clone()).set(failing.as_secs_f64());
    let entry = sample
        .view
        .entry
        .as_ref()
        .filter(|e| e.freshness(now_ms) != Freshness::Expired);
    gauge!(GATEWAY_CACHED, "gateway" => id.clone()).set(if entry.is_some() { 1.0 } else { 0.0 });
    let seconds = |ms: u64| ms as f64 / 1000.0;
    let (age, stale_in, models) = entry.map_or((0.0, 0.0, 0.0), |e| {
        (
            seconds(now_ms.saturating_sub(e.fetched_at)),
            seconds(e.stale_until.saturating_sub(now_ms)),
            e.models.len() as f64,
        )
    });
    gauge!(ENTRY_AGE, "gateway" => id.clone()).set(age);
    gauge!(ENTRY_STALE_IN, "gateway" => id.clone()).set(stale_in);
    gauge!(ENTRY_MODELS, "gateway" => id).set(models);
}
