//! Sentry through the sentry crate's test transport: one event per gateway a
//! warm failed to fetch (none for reads), a transaction per request, and
//! cache spans following Sentry's cache-monitoring conventions; a gateway
//! URL's credentials and query appear in none of it.
//!
//! One test in its own binary: the Sentry client is process-wide, and must be
//! installed before the runtime's threads start.

mod common;

use std::time::Duration;

use common::*;
use sentry::protocol::{EnvelopeItem, Span, Transaction, Value};
use sentry::test::TestTransport;

#[test]
fn warm_failures_are_events_and_requests_are_transactions_with_cache_spans() {
    let transport = TestTransport::new();
    let options = sentry::ClientOptions::new()
        .dsn("https://public@sentry.invalid/1")
        .traces_sample_rate(1.0)
        .transport(transport.clone());
    let _guard = sentry::init(options);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let creds_port = runtime.block_on(async {
        let redis = RedisServer::start();
        let good = MockGateway::start(&["m1", "m2"]).await;
        let bad = MockGateway::start(&[]).await;
        bad.set(Behavior::Status(500));
        let creds = MockGateway::start(&["m3"]).await;
        let creds_url = creds
            .base_url()
            .replacen("http://", "http://admin:hunter2@", 1);
        let app = TestApp::builder()
            .redis(&redis)
            .gateway("good", &good)
            .gateway("bad", &bad)
            .gateway_toml(&format!(
                "[[gateway]]\nid = \"creds\"\nkind = \"openai\"\nbase_url = \"{creds_url}?key=zzz\"\n"
            ))
            .spawn()
            .await;
        app.get("/api/models/good").await; // cold: get (miss), fetch, put
        app.get("/api/models/good").await; // hot: get (hit)
        for _ in 0..3 {
            app.get("/api/models/bad").await; // failing reads: no events
        }
        app.get("/api/models/creds").await; // cold: its URL in a span
        app.warm(None).await; // one event, for bad
        creds.addr.port()
    });
    let client = sentry::Hub::main().client().expect("a client");
    client.flush(Some(Duration::from_secs(5)));
    let envelopes = transport.fetch_and_clear_envelopes();
    for envelope in &envelopes {
        let mut sent = Vec::new();
        envelope.to_writer(&mut sent).unwrap();
        let sent = String::from_utf8_lossy(&sent);
        for secret in ["hunter2", "zzz"] {
            assert!(!sent.contains(secret), "{secret} sent to Sentry: {sent}");
        }
    }

    let events: Vec<_> = envelopes
        .iter()
        .filter_map(|e| e.event().cloned())
        .collect();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.tags.get("gateway").map(String::as_str), Some("bad"));
    assert_eq!(
        event.tags.get("trigger").map(String::as_str),
        Some("manual")
    );
    assert_eq!(
        event.tags.get("error.kind").map(String::as_str),
        Some("status")
    );
    assert!(event.message.as_deref().unwrap_or("").contains("HTTP 500"));

    let transactions: Vec<Transaction> = envelopes
        .iter()
        .flat_map(|e| e.items())
        .filter_map(|item| match item {
            EnvelopeItem::Transaction(t) => Some((**t).clone()),
            _ => None,
        })
        .collect();
    let reads: Vec<&Transaction> = transactions
        .iter()
        .filter(|t| t.name.as_deref() == Some("GET /api/models/{gateway}"))
        .collect();
    assert_eq!(
        reads.len(),
        6,
        "a transaction per request: {:?}",
        names(&transactions)
    );

    let cold = &reads[0].spans;
    let get = span(cold, "cache.get");
    assert_eq!(get.data.get("cache.hit"), Some(&Value::Bool(false)));
    assert_eq!(
        get.data.get("cache.key"),
        Some(&serde_json::json!(["models:good"]))
    );
    let upstream = span(cold, "http.client");
    assert!(
        upstream
            .description
            .as_deref()
            .unwrap()
            .starts_with("GET http://127.0.0.1:")
    );
    let put = span(cold, "cache.put");
    assert!(
        put.data
            .get("cache.item_size")
            .and_then(Value::as_u64)
            .unwrap()
            > 0
    );

    let hot = span(&reads[1].spans, "cache.get");
    assert_eq!(hot.data.get("cache.hit"), Some(&Value::Bool(true)));
    assert_eq!(
        hot.data.get("cache.item_size"),
        put.data.get("cache.item_size"),
        "the size of what was stored"
    );
    assert!(
        reads[1]
            .spans
            .iter()
            .all(|s| s.op.as_deref() != Some("http.client"))
    );

    let credentialed = span(&reads[5].spans, "http.client");
    assert_eq!(
        credentialed.description.as_deref(),
        Some(&*format!("GET http://127.0.0.1:{}/v1", creds_port))
    );
}

fn span<'a>(spans: &'a [Span], op: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.op.as_deref() == Some(op))
        .unwrap_or_else(|| panic!("no {op} span in {spans:#?}"))
}

fn names<'a>(transactions: &'a [Transaction<'a>]) -> Vec<Option<&'a str>> {
    transactions.iter().map(|t| t.name.as_deref()).collect()
}
