//! Hostile upstreams: each misbehaviour ends as a clear, per-gateway error in
//! the warm result, never leaks the key, and leaves the cached list in Redis
//! and in the catalog exactly as it was.

use crate::common;

use std::time::Duration;

use common::provider_mock::{Provider, ProviderMock};
use common::*;

const KEY: &str = "sk-hostile-9d2e7b";

/// A gateway "gw" reading `mock` with a key, on a fresh Redis, its cache
/// seeded with the list `["kept"]`. `extra` adds lines to its table.
async fn cached_app(base_url: &str, kind: &str, extra: &str) -> (TestApp, RedisServer) {
    let redis = RedisServer::start();
    let toml = format!(
        "[[gateway]]\nid = \"gw\"\nkind = \"{kind}\"\nbase_url = \"{base_url}\"\napi_key_env = \"GW_KEY\"\n{extra}"
    );
    let app = TestApp::builder()
        .redis(&redis)
        .env("GW_KEY", KEY)
        .gateway_toml(&toml)
        .spawn()
        .await;
    app.seed("gw", fresh_entry(&["kept"])).await;
    (app, redis)
}

/// Warms; asserts the gateway failed, the key is not in the error, and the
/// cached list survived. Returns the error.
async fn warm_fails_keeping_the_cache(app: &TestApp) -> String {
    let (status, report) = app.warm(None).await;
    assert_eq!(status, 502, "the only gateway failed: {report}");
    let outcome = &report["gateways"]["gw"];
    assert_eq!(outcome["ok"], false, "{report}");
    let error = outcome["error"].as_str().expect("an error").to_owned();
    assert!(!error.contains(KEY), "the key leaked: {error}");
    assert_eq!(app.stored_ids("gw").await, Some(vec!["kept".into()]));
    let (status, _, body) = app.get_json("/api/models/gw").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), ["kept"], "{body}");
    error
}

/// An OpenAI-compatible mock misbehaving as told, and the app reading it.
async fn openai_failing_with(
    behavior: Behavior,
    extra: &str,
) -> (MockGateway, TestApp, RedisServer) {
    let mock = MockGateway::start(&["new"]).await;
    mock.set(behavior);
    let (app, redis) = cached_app(&mock.base_url(), "openai", extra).await;
    (mock, app, redis)
}

#[tokio::test]
async fn an_html_error_page_is_an_http_status_error() {
    let (_mock, app, _redis) = openai_failing_with(Behavior::Status(502), "").await;
    let error = warm_fails_keeping_the_cache(&app).await;
    assert!(
        error.starts_with("HTTP 502 from upstream: <html>"),
        "{error}"
    );
}

#[tokio::test]
async fn an_html_page_answered_with_200_is_a_parse_error() {
    let (_mock, app, _redis) = openai_failing_with(Behavior::Status(200), "").await;
    let error = warm_fails_keeping_the_cache(&app).await;
    assert_eq!(
        error,
        "unparseable response: expected JSON, got an HTML page"
    );
}

#[tokio::test]
async fn truncated_json_is_a_parse_error() {
    let (_mock, app, _redis) = openai_failing_with(Behavior::Garbage, "").await;
    let error = warm_fails_keeping_the_cache(&app).await;
    assert!(
        error.starts_with("unparseable response: EOF while parsing"),
        "{error}"
    );
}

#[tokio::test]
async fn a_200_carrying_an_error_object_reports_its_message() {
    let body = r#"{"error":{"message":"Rate limit reached for requests","type":"requests"}}"#;
    let (_mock, app, _redis) = openai_failing_with(Behavior::Body(body.into()), "").await;
    let error = warm_fails_keeping_the_cache(&app).await;
    assert_eq!(
        error,
        "unparseable response: the upstream answered with an error: Rate limit reached for requests"
    );
}

#[tokio::test]
async fn a_body_over_the_size_cap_is_refused() {
    let (_mock, app, _redis) =
        openai_failing_with(Behavior::Oversized(64 * 1024), "max_body_bytes = 4096\n").await;
    let error = warm_fails_keeping_the_cache(&app).await;
    assert_eq!(error, "response body is over the 4096-byte limit");
}

#[tokio::test]
async fn a_body_that_drips_forever_is_cut_by_the_gateway_timeout() {
    let (mock, app, _redis) =
        openai_failing_with(Behavior::SlowDrip, "timeout = \"600ms\"\n").await;
    let started = std::time::Instant::now();
    let error = warm_fails_keeping_the_cache(&app).await;
    assert_eq!(error, "timed out after 600ms");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeout"
    );
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_with_the_key() {
    let elsewhere = MockGateway::start(&["stolen"]).await;
    // Same machine, other host name: "localhost" is not "127.0.0.1".
    let target = format!("http://localhost:{}/v1/models", elsewhere.addr.port());
    let (_mock, app, _redis) = openai_failing_with(Behavior::RedirectTo(target.clone()), "").await;
    let error = warm_fails_keeping_the_cache(&app).await;
    assert_eq!(
        error,
        format!("redirected to {target}; redirects to another host are not followed")
    );
    assert_eq!(elsewhere.hits(), 0);
    assert_eq!(elsewhere.last_authorization(), None);
}

#[tokio::test]
async fn a_401_or_403_is_a_bad_api_key_for_the_gateway() {
    for status in [401, 403] {
        let (_mock, app, _redis) = openai_failing_with(Behavior::Status(status), "").await;
        let error = warm_fails_keeping_the_cache(&app).await;
        assert_eq!(error, format!("bad API key for gw (HTTP {status})"));
    }
}

#[tokio::test]
async fn a_wrong_key_is_not_retried_by_readers_during_the_backoff() {
    let mock = MockGateway::start(&["new"]).await;
    mock.set(Behavior::Status(401));
    let redis = RedisServer::start();
    let app = TestApp::builder()
        .redis(&redis)
        .env("GW_KEY", KEY)
        .env("REVALIDATE_BACKOFF", "60s")
        .gateway_toml(&format!(
            "[[gateway]]\nid = \"gw\"\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"GW_KEY\"\n",
            mock.base_url()
        ))
        .spawn()
        .await;
    app.seed("gw", stale_entry(&["kept"])).await;

    for _ in 0..20 {
        let (_, _, body) = app.get_json("/api/models/gw").await;
        assert_eq!(ids(&body), ["kept"]);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    assert_eq!(
        mock.hits(),
        1,
        "one revalidation, then the readers backed off"
    );
    let (_, _, body) = app.get_json("/api/models/gw").await;
    assert_eq!(body["gateways"]["gw"]["error"], "HTTP 401: API key refused");
}

#[tokio::test]
async fn an_empty_list_does_not_replace_a_cached_one() {
    let (_mock, app, _redis) = openai_failing_with(Behavior::Empty, "").await;
    let error = warm_fails_keeping_the_cache(&app).await;
    assert!(
        error.starts_with("upstream returned an empty list while 1 models are cached"),
        "{error}"
    );
}

#[tokio::test]
async fn a_repeating_pagination_cursor_stops_with_an_error() {
    for provider in [Provider::Anthropic, Provider::Gemini, Provider::Cohere] {
        let fixture = provider.kind();
        let mock = ProviderMock::start(provider, fixture, Some(KEY)).await;
        mock.set_page_size(1);
        mock.repeat_cursor();
        let (app, _redis) = cached_app(&mock.base_url(), provider.kind(), "").await;
        let error = warm_fails_keeping_the_cache(&app).await;
        assert!(error.contains("came back twice"), "{provider:?}: {error}");
        assert_eq!(mock.hits(), 2, "{provider:?}: stopped at the first repeat");
    }
}

#[tokio::test]
async fn records_without_an_id_are_skipped_and_duplicates_keep_the_first() {
    let body = r#"{"object":"list","data":[
        {"object":"model","owned_by":"no id"},
        {"id":"a","owned_by":"first"},
        {"id":null},
        {"id":"b","owned_by":"only"},
        {"id":"a","owned_by":"second"}
    ]}"#;
    let (_mock, app, _redis) = openai_failing_with(Behavior::Body(body.into()), "").await;

    let (status, report) = app.warm(None).await;

    assert_eq!(status, 200, "{report}");
    assert_eq!(report["gateways"]["gw"]["count"], 2);
    assert_eq!(
        app.stored_ids("gw").await,
        Some(vec!["a".into(), "b".into()])
    );
    let (_, _, body) = app.get_json("/api/models/gw/a").await;
    assert_eq!(body["data"]["owned_by"], "first", "{body}");
}
