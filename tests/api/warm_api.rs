//! The warm endpoints: authorisation, selection, results, coalescing, the
//! cron trigger and the status record.

use crate::common;

use std::time::{Duration, Instant};

use common::test_app::{CRON_SECRET, WARM_SECRET};
use common::*;
use futures::future::join_all;

async fn app_with_two(redis: &RedisServer) -> (TestApp, MockGateway, MockGateway) {
    let a = MockGateway::start(&["a1", "a2"]).await;
    let b = MockGateway::start(&["b1"]).await;
    let app = TestApp::builder()
        .redis(redis)
        .gateway("a", &a)
        .gateway("b", &b)
        .spawn()
        .await;
    (app, a, b)
}

#[tokio::test]
async fn a_warm_fetches_every_gateway_and_reports_each() {
    let redis = RedisServer::start();
    let (app, a, b) = app_with_two(&redis).await;
    let (status, report) = app.warm(None).await;
    assert_eq!(status, 200);
    assert_eq!(report["success"], true);
    assert!(report["duration_ms"].is_u64());
    assert_eq!(report["gateways"]["a"]["ok"], true);
    assert_eq!(report["gateways"]["a"]["count"], 2);
    assert!(report["gateways"]["a"]["error"].is_null());
    assert_eq!(report["gateways"]["b"]["count"], 1);
    assert_eq!((a.hits(), b.hits()), (1, 1));
    assert_eq!(
        app.stored_ids("a").await,
        Some(vec!["a1".into(), "a2".into()])
    );
}

#[tokio::test]
async fn a_warm_can_target_a_subset() {
    let redis = RedisServer::start();
    let (app, a, b) = app_with_two(&redis).await;
    let (status, report) = app.warm(Some(r#"{"gateways":["b"]}"#)).await;
    assert_eq!(status, 200);
    assert!(report["gateways"]["a"].is_null());
    assert_eq!((a.hits(), b.hits()), (0, 1));
}

#[tokio::test]
async fn bad_warm_requests_get_clear_errors_and_fetch_nothing() {
    let redis = RedisServer::start();
    let (app, a, b) = app_with_two(&redis).await;
    let cases = [
        ("{not json", 400, "invalid JSON body"),
        (r#"{"gateway":["a"]}"#, 400, "unknown field `gateway`"),
        (r#"{"gateways":[]}"#, 400, "\"gateways\" is empty"),
        (
            r#"{"gateways":["a","nope"]}"#,
            404,
            "unknown gateway \"nope\"; configured gateways: a, b",
        ),
    ];
    for (body, status, message) in cases {
        let (got, answer) = app.warm(Some(body)).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(answer["success"], false);
        assert!(
            answer["error"].as_str().unwrap().contains(message),
            "{body}: {answer}"
        );
    }
    let oversized = format!(r#"{{"gateways":["{}"]}}"#, "a".repeat(1024 * 1024 + 1));
    let (got, answer) = app.warm(Some(&oversized)).await;
    assert_eq!(got, 413);
    assert_eq!(answer["error"], "request body is over the 1 MiB limit");
    assert_eq!((a.hits(), b.hits()), (0, 0));
}

#[tokio::test]
async fn the_warm_endpoint_needs_the_warming_secret() {
    let redis = RedisServer::start();
    let (app, a, _b) = app_with_two(&redis).await;
    let (status, body) = app.post("/api/cache/warm-models", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"],
        "missing bearer token: send Authorization: Bearer <secret>"
    );
    let (status, body) = app
        .post("/api/cache/warm-models", Some("wrong"), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid bearer token");
    let (status, _) = app
        .post("/api/cache/warm-models", Some(CRON_SECRET), None)
        .await;
    assert_eq!(
        status, 401,
        "the cron secret does not open the warm endpoint"
    );
    assert_eq!(a.hits(), 0);
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let redis = RedisServer::start();
    let (app, a, _b) = app_with_two(&redis).await;
    for scheme in ["BEARER", "bearer", "BeArEr"] {
        let response = app
            .client
            .post(app.url("/api/cache/warm-models"))
            .header("authorization", format!("{scheme} {WARM_SECRET}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
    assert!(a.hits() >= 1);
}

#[tokio::test]
async fn without_secrets_the_protected_endpoints_say_what_to_set() {
    let mock = MockGateway::start(&["a"]).await;
    let app = TestApp::builder()
        .env("CACHE_WARMING_SECRET", "")
        .env("CRON_SECRET", "")
        .gateway("a", &mock)
        .spawn()
        .await;
    let (status, body) = app
        .post("/api/cache/warm-models", Some("anything"), None)
        .await;
    assert_eq!(status, 503);
    assert_eq!(
        body["error"],
        "this endpoint is disabled: set CACHE_WARMING_SECRET to enable it"
    );
    let (status, _, body) = app.get_json("/api/cron/warm-cache").await;
    assert_eq!(status, 503);
    assert_eq!(
        body["error"],
        "this endpoint is disabled: set CRON_SECRET to enable it"
    );
    assert_eq!(mock.hits(), 0);
}

#[tokio::test]
async fn the_cron_endpoint_needs_the_cron_bearer_and_nothing_else() {
    let redis = RedisServer::start();
    let (app, a, _b) = app_with_two(&redis).await;
    let cron = |auth: Option<&str>, vercel_header: bool| {
        let mut request = app.client.get(app.url("/api/cron/warm-cache"));
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        if vercel_header {
            request = request
                .header("x-vercel-cron", "1")
                .header("user-agent", "vercel-cron/1.0");
        }
        request.send()
    };
    assert_eq!(
        cron(None, true).await.unwrap().status(),
        401,
        "x-vercel-cron alone never authorises"
    );
    assert_eq!(cron(Some(WARM_SECRET), false).await.unwrap().status(), 401);
    assert_eq!(cron(Some("wrong"), true).await.unwrap().status(), 401);
    assert_eq!(a.hits(), 0);

    let response = cron(Some(CRON_SECRET), false).await.unwrap();
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["gateways"]["a"]["ok"], true);
    let (_, _, status) = app.get_json("/api/cache/warm-models").await;
    assert_eq!(status["last_warm"]["trigger"], "cron");
}

#[tokio::test]
async fn every_gateway_failing_is_a_502_and_keeps_cached_data() {
    let redis = RedisServer::start();
    let (app, a, b) = app_with_two(&redis).await;
    app.warm(None).await;
    a.set(Behavior::Status(500));
    b.set(Behavior::Garbage);
    let (status, report) = app.warm(None).await;
    assert_eq!(status, 502);
    assert_eq!(report["success"], false);
    assert_eq!(report["gateways"]["a"]["ok"], false);
    assert!(
        report["gateways"]["a"]["error"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 500 from upstream")
    );
    assert!(
        report["gateways"]["b"]["error"]
            .as_str()
            .unwrap()
            .starts_with("unparseable response")
    );
    assert_eq!(
        app.stored_ids("a").await,
        Some(vec!["a1".into(), "a2".into()])
    );
    assert_eq!(app.stored_ids("b").await, Some(vec!["b1".into()]));

    b.set_models(&["b2"]);
    let (status, report) = app.warm(None).await;
    assert_eq!(status, 200, "one gateway succeeding is not a 502");
    assert_eq!(report["success"], false);
}

#[tokio::test]
async fn a_hanging_gateway_does_not_delay_a_warm_past_its_timeout() {
    let redis = RedisServer::start();
    let hanging = MockGateway::start(&[]).await;
    hanging.set(Behavior::Hang);
    let fast = MockGateway::start(&["ok"]).await;
    let app = TestApp::builder()
        .redis(&redis)
        .env("GATEWAY_TIMEOUT", "400ms")
        .gateway("hanging", &hanging)
        .gateway("fast", &fast)
        .spawn()
        .await;
    let started = Instant::now();
    let (status, report) = app.warm(None).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status, 200);
    assert_eq!(
        report["gateways"]["hanging"]["error"],
        "timed out after 400ms"
    );
    assert!(
        report["gateways"]["hanging"]["duration_ms"]
            .as_u64()
            .unwrap()
            < 1400
    );
    assert_eq!(report["gateways"]["fast"]["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_warms_join_one_fetch_per_gateway() {
    let redis = RedisServer::start();
    let (app, a, b) = app_with_two(&redis).await;
    a.set_delay(Duration::from_millis(300));
    b.set_delay(Duration::from_millis(300));
    let reports = join_all((0..5).map(|_| app.warm(None))).await;
    for (status, report) in &reports {
        assert_eq!(*status, 200);
        assert_eq!(report["gateways"]["a"]["count"], 2);
    }
    assert_eq!((a.hits(), b.hits()), (1, 1));
}

#[tokio::test]
async fn the_status_shows_the_last_warm_and_each_gateway() {
    let redis = RedisServer::start();
    let (app, _a, b) = app_with_two(&redis).await;
    let (status, _, body) = app.get_json("/api/cache/warm-models").await;
    assert_eq!(status, 200, "no secret needed");
    assert!(body["last_warm"].is_null());
    assert_eq!(body["gateways"]["a"]["status"], "missing");

    b.set(Behavior::Status(502));
    app.warm(None).await;
    let (_, _, body) = app.get_json("/api/cache/warm-models").await;
    let last = &body["last_warm"];
    assert_eq!(last["trigger"], "manual");
    assert!(last["started_at"].as_u64().unwrap() <= last["finished_at"].as_u64().unwrap());
    assert!(last["duration_ms"].is_u64());
    assert_eq!(last["gateways"]["a"]["ok"], true);
    assert_eq!(last["gateways"]["b"]["ok"], false);
    assert_eq!(body["gateways"]["a"]["status"], "fresh");
    assert_eq!(body["gateways"]["a"]["count"], 2);
    assert_eq!(body["running"], false);
    assert!(!body.to_string().contains(WARM_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_fetches_its_gateways_concurrently() {
    let gauge = std::sync::Arc::new(InFlight::default());
    let mut builder = TestApp::builder();
    let mut mocks = Vec::new();
    for id in ["a", "b", "c", "d"] {
        let mock = MockGateway::start_with_gauge(&["m"], gauge.clone()).await;
        mock.set_delay(Duration::from_millis(500));
        builder = builder.gateway(id, &mock);
        mocks.push(mock);
    }
    let app = builder.spawn().await;
    let (status, report) = app.warm(None).await;
    assert_eq!(status, 200);
    assert_eq!(report["success"], true);
    assert_eq!(
        gauge.most(),
        4,
        "all four upstream requests were in flight at once"
    );
}
