//! Sentry (`SENTRY_DSN`): error events for failed warms, a transaction per
//! request, and spans for store and upstream operations.
//!
//! Spans follow Sentry's cache-monitoring conventions — `cache.get` /
//! `cache.put` with `cache.key`, `cache.hit` and `cache.item_size` — so the
//! Caches view works out of the box. Everything here is a no-op unless a
//! transaction is being sampled, so the read path pays nothing otherwise.
//!
//! Events: one per gateway a warm failed to fetch, tagged with the gateway,
//! the trigger and the error kind. Failures met by readers are not events:
//! they repeat with every read and are covered by logs and metrics.

use sentry::protocol::{SpanStatus, Value};
use sentry::{ClientInitGuard, Level, TransactionOrSpan};

/// Starts the client; `None` when no DSN is set. Call before the runtime starts.
pub fn init(dsn: Option<&str>, traces_sample_rate: f32) -> Option<ClientInitGuard> {
    let options = sentry::ClientOptions::new()
        .dsn(dsn?)
        .release(sentry::release_name!().unwrap_or_default())
        .traces_sample_rate(traces_sample_rate);
    Some(sentry::init(options))
}

/// Whether a Sentry client is installed (decides whether the router gets the
/// per-request hub and transaction layers).
pub fn is_enabled() -> bool {
    sentry::Hub::main().client().is_some_and(|c| c.is_enabled())
}

pub fn warm_failed(gateway: &str, trigger: &str, kind: Option<&str>, error: &str) {
    sentry::with_scope(
        |scope| {
            scope.set_tag("gateway", gateway);
            scope.set_tag("trigger", trigger);
            scope.set_tag("error.kind", kind.unwrap_or("unknown"));
            scope.set_fingerprint(Some(&["warm-failed", gateway, kind.unwrap_or("unknown")]));
        },
        || {
            sentry::capture_message(
                &format!("warm of gateway {gateway} failed: {error}"),
                Level::Error,
            )
        },
    );
}

/// Gives each request its own hub and a transaction named after its route.
pub fn layer(router: axum::Router) -> axum::Router {
    use sentry::integrations::tower::{NewSentryLayer, SentryHttpLayer};
    // The hub layer must wrap the transaction layer: axum applies the last
    // `.layer` outermost.
    router
        .layer(SentryHttpLayer::new().enable_transaction())
        .layer(NewSentryLayer::<axum::extract::Request>::new_from_top())
}

/// The span of the sampled transaction this task works for, if any.
fn current() -> Option<TransactionOrSpan> {
    sentry::configure_scope(|scope| scope.get_span())
}

/// A span under way; finished by its `finish_*` method or on drop.
pub struct OpSpan(Option<sentry::Span>);

impl OpSpan {
    /// `describe` runs only when a transaction is being sampled.
    fn start(op: &str, describe: impl FnOnce() -> String) -> Self {
        Self(current().map(|parent| parent.start_child(op, &describe())))
    }

    fn set(&self, key: &str, value: impl Into<Value>) {
        if let Some(span) = &self.0 {
            span.set_data(key, value.into());
        }
    }

    /// Whether anything is recorded: callers skip costly measurements otherwise.
    pub fn is_recording(&self) -> bool {
        self.0.is_some()
    }

    /// `cache.get` of the store key `key()` (e.g. `models:openai`).
    pub fn cache_get(key: impl FnOnce() -> String) -> Self {
        Self::cache_op("cache.get", key)
    }

    fn cache_op(op: &str, key: impl FnOnce() -> String) -> Self {
        let mut key_text = String::new();
        let span = Self::start(op, || {
            key_text = key();
            key_text.clone()
        });
        span.set("cache.key", vec![Value::from(key_text)]);
        span
    }

    pub fn finish_get(self, hit: bool, item_size: Option<usize>) {
        self.set("cache.hit", hit);
        if let Some(size) = item_size {
            self.set("cache.item_size", size as u64);
        }
    }

    /// `cache.put` of the store key `key()`.
    pub fn cache_put(key: impl FnOnce() -> String) -> Self {
        Self::cache_op("cache.put", key)
    }

    pub fn finish_put(self, item_size: Option<usize>, ok: bool) {
        if let Some(size) = item_size {
            self.set("cache.item_size", size as u64);
        }
        self.finish_status(ok);
    }

    /// `http.client`: one upstream fetch (the URL never carries a key).
    pub fn upstream(gateway: &str, location: impl FnOnce() -> String) -> Self {
        let span = Self::start("http.client", || format!("GET {}", location()));
        span.set("gateway", gateway);
        span
    }

    pub fn finish_status(self, ok: bool) {
        if let Some(span) = &self.0 {
            span.set_status(if ok {
                SpanStatus::Ok
            } else {
                SpanStatus::InternalError
            });
        }
    }
}

impl Drop for OpSpan {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            span.finish();
        }
    }
}
