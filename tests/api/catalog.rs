//! The public catalog endpoints: envelope, filters, paging, one model, HTTP
//! caching headers, CORS, and clear errors.

use crate::common;

use std::time::Duration;

use common::*;

/// An app (embedded store) with gateways "alpha" and "beta".
async fn two_gateways() -> (TestApp, MockGateway, MockGateway) {
    let alpha = MockGateway::start(&["openai/gpt-4o", "openai/gpt-4o-mini", "meta/llama-3"]).await;
    let beta = MockGateway::start(&["accounts/fireworks/models/qwen3", "GPT-OSS-120B"]).await;
    let app = TestApp::builder()
        .gateway("alpha", &alpha)
        .gateway("beta", &beta)
        .spawn()
        .await;
    (app, alpha, beta)
}

#[tokio::test]
async fn the_catalog_merges_every_gateway_with_its_state() {
    let (app, _alpha, _beta) = two_gateways().await;
    let (status, headers, body) = app.get_json("/api/models").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["total"], 5);
    assert_eq!(ids(&body).len(), 5);
    let alpha = &body["gateways"]["alpha"];
    assert_eq!(alpha["status"], "fresh");
    assert_eq!(alpha["count"], 3);
    assert!(alpha["fetched_at"].is_u64() && alpha["age_ms"].is_u64());
    assert!(alpha["error"].is_null());
    let first = &body["data"][0];
    assert_eq!(first["gateway"], "alpha");
    assert_eq!(first["owned_by"], "mock");
    assert_eq!(first["created"], 1_700_000_000);
    assert!(first["pricing"].is_null(), "never invented");
}

#[tokio::test]
async fn gateway_subset_search_and_paging() {
    let (app, _alpha, _beta) = two_gateways().await;
    let (_, _, body) = app.get_json("/api/models?gateway=beta").await;
    assert_eq!(
        ids(&body),
        ["accounts/fireworks/models/qwen3", "GPT-OSS-120B"]
    );
    assert!(body["gateways"]["alpha"].is_null());

    let (_, _, body) = app.get_json("/api/models?gateway=").await;
    assert_eq!(body["total"], 5, "an empty subset means every gateway");

    let (_, _, body) = app.get_json("/api/models?q=GPT").await;
    assert_eq!(
        ids(&body),
        ["openai/gpt-4o", "openai/gpt-4o-mini", "GPT-OSS-120B"]
    );
    assert_eq!(body["total"], 3);

    let (_, _, body) = app.get_json("/api/models?q=gpt&limit=1&offset=1").await;
    assert_eq!(ids(&body), ["openai/gpt-4o-mini"]);
    assert_eq!(body["total"], 3, "total counts the matches before paging");

    let (_, _, body) = app.get_json("/api/models/alpha?limit=2").await;
    assert_eq!(ids(&body), ["openai/gpt-4o", "openai/gpt-4o-mini"]);
    assert_eq!(body["total"], 3);
}

#[tokio::test]
async fn one_model_by_an_id_with_slashes() {
    let (app, _alpha, _beta) = two_gateways().await;
    let (status, _, body) = app
        .get_json("/api/models/beta/accounts/fireworks/models/qwen3")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["id"], "accounts/fireworks/models/qwen3");
    assert_eq!(body["gateway"]["status"], "fresh");

    let (status, _, body) = app.get_json("/api/models/alpha/openai/gpt-5").await;
    assert_eq!(status, 404);
    assert_eq!(body["success"], false);
    assert_eq!(
        body["error"],
        "no model \"openai/gpt-5\" in gateway \"alpha\""
    );
}

#[tokio::test]
async fn unknown_gateways_and_bad_queries_get_clear_errors() {
    let (app, _alpha, _beta) = two_gateways().await;
    for path in [
        "/api/models/nope",
        "/api/models?gateway=alpha,nope",
        "/api/models/nope/x",
    ] {
        let (status, _, body) = app.get_json(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            body["error"],
            "unknown gateway \"nope\"; configured gateways: alpha, beta"
        );
    }
    let (status, _, body) = app.get_json("/api/models?limit=-1").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("limit"));

    let (status, _, body) = app.get_json("/api/nothing-here").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no endpoint GET /api/nothing-here");
    let response = app
        .client
        .delete(app.url("/api/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["success"],
        false
    );
}

#[tokio::test]
async fn etag_gives_304_until_the_catalog_changes() {
    let (app, alpha, _beta) = two_gateways().await;
    let (_, headers, _) = app.get_json("/api/models").await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\""));

    let cached = app.get_if_none_match("/api/models", &etag).await;
    assert_eq!(cached.status(), 304);
    assert_eq!(cached.headers()["etag"], etag.as_str());
    assert_eq!(cached.headers()["x-cache"], "HIT");

    let other_query = app.get_if_none_match("/api/models?q=gpt", &etag).await;
    assert_eq!(
        other_query.status(),
        200,
        "another query is another response"
    );

    alpha.set_models(&["openai/gpt-5"]);
    app.warm(None).await;
    let changed = app.get_if_none_match("/api/models", &etag).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn an_etag_on_any_if_none_match_line_gives_304() {
    let (app, _alpha, _beta) = two_gateways().await;
    let (_, headers, _) = app.get_json("/api/models").await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let response = app
        .client
        .get(app.url("/api/models"))
        .header("if-none-match", "\"someone-else\"")
        .header("if-none-match", etag.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304, "the second line names our tag");
}

#[tokio::test]
async fn cache_control_follows_the_entries_deadlines() {
    let mock = MockGateway::start(&["a"]).await;
    let app = TestApp::builder()
        .env("CACHE_FRESH_TTL", "1h")
        .env("CACHE_STALE_TTL", "2h")
        .gateway("gw", &mock)
        .spawn()
        .await;
    let (_, headers, _) = app.get_json("/api/models").await;
    let value = headers["cache-control"].to_str().unwrap();
    let number = |name: &str| -> u64 {
        let part = value
            .split(", ")
            .find_map(|p| p.strip_prefix(name))
            .unwrap();
        part.trim_start_matches('=').parse().unwrap()
    };
    assert!(value.starts_with("public, max-age=0"), "{value}");
    assert!((3590..=3600).contains(&number("s-maxage")), "{value}");
    assert!(
        (7190..=7200).contains(&number("stale-while-revalidate")),
        "{value}"
    );

    // Gone from the store (as when it expires), then an older one stored:
    // the instance drops its copy at the first sync and takes the new one.
    app.store().delete("gw").await.unwrap();
    app.sync().await;
    app.seed("gw", stale_entry(&["a"])).await;
    let (_, headers, _) = app.get_json("/api/models").await;
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("s-maxage=0,")
    );
    assert_eq!(headers["x-cache"], "STALE");
}

#[tokio::test]
async fn a_missing_gateway_makes_the_response_uncacheable() {
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Status(500));
    let app = TestApp::builder().gateway("gw", &mock).spawn().await;
    let (status, headers, body) = app.get_json("/api/models").await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-cache"], "MISS");
    assert_eq!(body["gateways"]["gw"]["status"], "missing");
    assert_eq!(body["gateways"]["gw"]["error"], "HTTP 500");

    let (status, _, body) = app.get_json("/api/models/gw/some-model").await;
    assert_eq!(status, 502);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("no models cached for gateway \"gw\"")
    );
}

#[tokio::test]
async fn the_catalog_is_cors_enabled() {
    let (app, _alpha, _beta) = two_gateways().await;
    let response = app
        .client
        .get(app.url("/api/models"))
        .header("origin", "https://example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("etag") && exposed.contains("x-cache"));

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/models"))
        .header("origin", "https://example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
}

/// One answer as a client sees it, and whether the front door replayed it.
struct Seen {
    replayed: bool,
    status: reqwest::StatusCode,
    headers: Vec<(String, String)>,
    body: bytes::Bytes,
}

/// GETs `path` with `headers` until one answer went through the router and
/// one was replayed before routing (the front door keeps an answer 100 ms).
async fn routed_and_replayed(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> [Seen; 2] {
    let (mut routed, mut replayed) = (None, None);
    for _ in 0..200 {
        let before = app.state.views.replayed();
        let mut request = app.client.get(app.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let mut seen_headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        seen_headers.sort();
        let seen = Seen {
            replayed: app.state.views.replayed() > before,
            status: response.status(),
            headers: seen_headers,
            body: response.bytes().await.unwrap(),
        };
        match seen.replayed {
            true => replayed = replayed.or(Some(seen)),
            false => routed = Some(seen),
        }
        if let (Some(_), Some(_)) = (&routed, &replayed) {
            return [routed.unwrap(), replayed.unwrap()];
        }
    }
    panic!("{path}: no routed and replayed pair in 200 requests");
}

#[tokio::test]
async fn a_replayed_answer_is_the_one_the_router_gives_cors_headers_included() {
    let (app, _alpha, _beta) = two_gateways().await;
    app.get("/api/models").await; // both gateways fetched
    let cors = [("origin", "https://example.com")];
    let gzip = [
        ("origin", "https://example.com"),
        ("accept-encoding", "gzip"),
    ];
    for path in [
        "/api/models?limit=2",
        "/api/models/alpha?sort=name",
        "/api/models/alpha/openai/gpt-4o",
    ] {
        for headers in [&cors[..], &gzip[..]] {
            let [routed, replayed] = routed_and_replayed(&app, path, headers).await;
            assert_eq!(routed.status, 200, "{path}");
            // The replay is of the answer the routed request kept (the same
            // key), so everything but `Date` is the same.
            assert_eq!(replayed.status, routed.status, "{path} {headers:?}");
            assert_eq!(replayed.headers, routed.headers, "{path} {headers:?}");
            assert_eq!(replayed.body, routed.body, "{path} {headers:?}");
        }
    }
}

#[tokio::test]
async fn a_replayed_not_modified_has_the_routers_headers() {
    let (app, _alpha, _beta) = two_gateways().await;
    let (_, headers, _) = app.get_json("/api/models/alpha?limit=1").await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let conditional = [("origin", "https://example.com"), ("if-none-match", &etag)];
    let [routed, replayed] =
        routed_and_replayed(&app, "/api/models/alpha?limit=1", &conditional).await;
    assert_eq!(routed.status, 304);
    assert_eq!(replayed.status, 304);
    // Two answers, assembled at different moments: `Cache-Control` counts
    // down, every other header is the same.
    let names =
        |seen: &Seen| -> Vec<String> { seen.headers.iter().map(|(n, _)| n.clone()).collect() };
    assert_eq!(names(&replayed), names(&routed));
    let timeless = |seen: &Seen| -> Vec<(String, String)> {
        seen.headers
            .iter()
            .filter(|(name, _)| name != "cache-control")
            .cloned()
            .collect()
    };
    assert_eq!(timeless(&replayed), timeless(&routed));
}

#[tokio::test]
async fn the_gateways_endpoint_lists_active_and_skipped_gateways() {
    let mock = MockGateway::start(&["a"]).await;
    let app = TestApp::builder()
        .gateway("gw", &mock)
        .gateway_toml("[[gateway]]\nid = \"keyed\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"UNSET_KEY_FOR_TEST\"\n")
        .spawn()
        .await;
    let (_, _, body) = app.get_json("/api/gateways").await;
    assert_eq!(body["data"][0]["id"], "gw");
    assert_eq!(
        body["data"][0]["cache"]["status"], "missing",
        "inspecting does not fetch"
    );
    assert_eq!(mock.hits(), 0);
    assert_eq!(body["skipped"][0]["id"], "keyed");
    assert_eq!(
        body["skipped"][0]["reason"],
        "its API key variable UNSET_KEY_FOR_TEST is not set"
    );
}

#[tokio::test]
async fn the_api_key_is_sent_only_where_api_key_env_names_one() {
    let keyed = MockGateway::start(&["a"]).await;
    let open = MockGateway::start(&["b"]).await;
    let toml = format!(
        "[[gateway]]\nid = \"keyed\"\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"TEST_GATEWAY_KEY\"\n",
        keyed.base_url()
    );
    let app = TestApp::builder()
        .env("TEST_GATEWAY_KEY", "sk-test-123")
        .gateway_toml(&toml)
        .gateway("open", &open)
        .spawn()
        .await;
    app.get_json("/api/models").await;
    assert_eq!(
        keyed.last_authorization().as_deref(),
        Some("Bearer sk-test-123")
    );
    assert_eq!(open.hits(), 1);
    assert_eq!(open.last_authorization(), None);
}

async fn get_with_encoding(app: &TestApp, path: &str, accept: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("accept-encoding", accept)
        .send()
        .await
        .unwrap()
}

fn gunzip(bytes: &[u8]) -> serde_json::Value {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a valid gzip body");
    serde_json::from_str(&text).expect("JSON inside")
}

#[tokio::test]
async fn gzip_answers_carry_the_same_catalog_as_plain_ones() {
    let (a, b) = (
        MockGateway::start(&["a/one", "a/two", "a/three"]).await,
        MockGateway::start(&["b/one"]).await,
    );
    let app = TestApp::builder()
        .gateway("a", &a)
        .gateway("b", &b)
        .spawn()
        .await;
    for path in [
        "/api/models",
        "/api/models?q=one&limit=1&offset=1",
        "/api/models/a",
    ] {
        let plain = get_with_encoding(&app, path, "identity").await;
        assert_eq!(plain.headers().get("content-encoding"), None);
        assert_eq!(plain.headers()["vary"], "accept-encoding");
        let plain_len = plain.headers()["content-length"]
            .to_str()
            .unwrap()
            .to_owned();
        let plain_body = plain.bytes().await.unwrap();
        assert_eq!(
            plain_len,
            plain_body.len().to_string(),
            "exact length, not chunked"
        );
        let plain: serde_json::Value = serde_json::from_slice(&plain_body).unwrap();

        let zipped = get_with_encoding(&app, path, "br;q=1.0, gzip, deflate").await;
        assert_eq!(zipped.headers()["content-encoding"], "gzip", "{path}");
        let zipped = gunzip(&zipped.bytes().await.unwrap());
        assert_eq!(zipped["data"], plain["data"], "{path}");
        assert_eq!(zipped["total"], plain["total"], "{path}");
        assert_eq!(
            zipped["gateways"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            plain["gateways"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>()
        );
    }
    let refused = get_with_encoding(&app, "/api/models", "gzip;q=0").await;
    assert_eq!(refused.headers().get("content-encoding"), None);
}

#[tokio::test]
async fn an_explicit_gzip_refusal_wins_in_any_spelling() {
    let mock = MockGateway::start(&["a/one"]).await;
    let app = TestApp::builder().gateway("a", &mock).spawn().await;
    for accept in ["gzip;q=0, *", "gzip;Q=0", "gzip; q=0.000", "*, gzip ;q=0"] {
        let answer = get_with_encoding(&app, "/api/models", accept).await;
        assert_eq!(answer.headers().get("content-encoding"), None, "{accept:?}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["total"], 1, "{accept:?}");
    }
    let wildcard = get_with_encoding(&app, "/api/models", "identity, *").await;
    assert_eq!(wildcard.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn a_cached_page_follows_the_entries_it_was_built_from() {
    let mock = MockGateway::start(&["v1"]).await;
    let app = TestApp::builder().gateway("gw", &mock).spawn().await;
    for encoding in ["identity", "gzip"] {
        let first = get_with_encoding(&app, "/api/models", encoding).await;
        assert_eq!(first.status(), reqwest::StatusCode::OK);
    }
    mock.set_models(&["v2", "v3"]);
    app.warm(None).await;
    let plain: serde_json::Value = get_with_encoding(&app, "/api/models", "identity")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&plain), ["v2", "v3"]);
    let zipped = get_with_encoding(&app, "/api/models", "gzip").await;
    assert_eq!(ids(&gunzip(&zipped.bytes().await.unwrap())), ["v2", "v3"]);
}

#[tokio::test]
async fn age_ms_keeps_up_with_the_clock_while_answers_are_reused() {
    let mock = MockGateway::start(&["m1"]).await;
    let app = TestApp::builder().gateway("gw", &mock).spawn().await;
    app.get("/api/models").await;
    let age = |body: &serde_json::Value| body["gateways"]["gw"]["age_ms"].as_u64().unwrap();
    let (_, _, first) = app.get_json("/api/models").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, _, later) = app.get_json("/api/models").await;
    // Answers are reused for at most 100 ms: the age lags the clock by no more.
    assert!(
        age(&later) >= age(&first) + 300,
        "{} then {}",
        age(&first),
        age(&later)
    );
}
