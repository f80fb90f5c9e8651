//! The pages for people (`/` and `/status`): how they are sent, and what a
//! person sees in a real headless Chromium (Debian's, driven through
//! Playwright by `tests/browser/drive.py`) over real captured lists, checked
//! against the API's own answers.

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde_json::Value;

use crate::common::provider_mock::{Provider, ProviderMock};
use crate::common::test_app::WARM_SECRET;
use crate::common::*;

/// How long one browser scenario may run before the test fails.
const SCENARIO_BOUND: Duration = Duration::from_secs(120);

/// OpenRouter's, Together's and Groq's real lists, warmed.
async fn catalog() -> (TestApp, [ProviderMock; 3]) {
    let openrouter = ProviderMock::start(
        Provider::OpenRouter,
        "captures/openrouter__lc-2025-07-25",
        None,
    )
    .await;
    let together =
        ProviderMock::start(Provider::Together, "captures/together__lc-2025-07-25", None).await;
    let groq = ProviderMock::start(Provider::OpenAi, "captures/groq__lc-2025-07-25", None).await;
    let app = TestApp::builder()
        .gateway_toml(&openrouter.gateway_toml("openrouter", None))
        .gateway_toml(&together.gateway_toml("together", None))
        .gateway_toml(&groq.gateway_toml("groq", None))
        .spawn()
        .await;
    let (status, report) = app.warm(None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    (app, [openrouter, together, groq])
}

/// Runs one scenario of `tests/browser/drive.py` against `base`: what the
/// browser showed, as JSON.
async fn drive(scenario: &str, base: String) -> Value {
    let pydeps = std::env::var("MODELS_CACHE_PYDEPS").expect(
        "run the tests with `bash scripts/test.sh`, which installs Chromium and Playwright",
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/drive.py");
    let scenario = scenario.to_owned();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .arg(SCENARIO_BOUND.as_secs().to_string())
            .args(["python3", script, &scenario, &base])
            .env("PYTHONPATH", pydeps)
            .output()
            .expect("python3 runs")
    });
    let output = run.await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser scenario failed ({}):\n{}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).expect("the driver prints one JSON object")
}

fn row_ids(view: &Value) -> Vec<&str> {
    view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

/// The ids of the first page (50) the API gives for `query`.
async fn api_ids(app: &TestApp, query: &str) -> (Vec<String>, u64) {
    let (status, _, body) = app
        .get_json(&format!("/api/catalog?{query}&limit=50"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (ids(&body), body["total"].as_u64().unwrap())
}

fn assert_shows(view: &Value, (expected, total): &(Vec<String>, u64), what: &str) {
    assert_eq!(row_ids(view), *expected, "{what}: the API's page, in order");
    let summary = view["summary"].as_str().unwrap();
    assert!(
        summary.ends_with(&format!("of {total} models")) || (*total == 1),
        "{what}: {summary:?} gives the API's total {total}"
    );
    assert_eq!(view["error"], Value::Null, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_models_page_searches_filters_sorts_and_links_as_the_api_answers() {
    let (app, _mocks) = catalog().await;
    let seen = drive("models", app.url("")).await;

    assert_shows(&seen["initial"], &api_ids(&app, "").await, "at first");
    let searched = &seen["searched"];
    assert!(searched["url"].as_str().unwrap().ends_with("/?q=llama"));
    assert_eq!(seen["search_focused"], true, "`/` focuses the search box");
    assert_shows(searched, &api_ids(&app, "q=llama").await, "typing llama");
    let filtered = &seen["filtered"];
    assert!(
        filtered["url"]
            .as_str()
            .unwrap()
            .ends_with("?q=llama&gateway=together")
    );
    let together = api_ids(&app, "q=llama&gateway=together").await;
    assert!(
        together.1 < api_ids(&app, "q=llama").await.1,
        "a filter narrows"
    );
    assert_shows(filtered, &together, "the together filter");
    assert_eq!(seen["gateway_facet_checked"], true);
    let sorted = &seen["sorted"];
    let query = "q=llama&gateway=together&sort=pricing-high-to-low";
    assert!(
        sorted["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("?{query}"))
    );
    assert_eq!(sorted["sort"], "pricing-high-to-low");
    assert_shows(sorted, &api_ids(&app, query).await, "sorted by price");
    assert_ne!(
        row_ids(sorted),
        row_ids(filtered),
        "the sort changes the order"
    );

    assert_shows(&seen["back"], &together, "back to before the sort");
    let linked = &seen["linked"];
    assert_eq!(linked["url"], sorted["url"]);
    assert_shows(
        linked,
        &api_ids(&app, query).await,
        "the same link opened anew",
    );
    assert_eq!(
        (&linked["search"], &linked["sort"]),
        (&Value::from("llama"), &Value::from("pricing-high-to-low")),
        "the controls show the link's query"
    );
    assert_eq!(seen["linked_facet_checked"], true);
    let misspelt = seen["misspelt"]["error"].as_str().unwrap_or("");
    assert!(
        misspelt.contains("sortt: unknown parameter"),
        "a misspelt link shows the API's 400, not everything: {misspelt:?}"
    );

    assert_eq!(seen["problems"], serde_json::json!([]), "console errors");
    assert_eq!(seen["csp_violations"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_models_page_shows_each_offer_with_its_price_per_million_and_the_cheapest_marked() {
    let (app, _mocks) = catalog().await;
    let seen = drive("models", app.url("")).await;
    let id = seen["offers_of"].as_str().unwrap();
    let (_, _, model) = app.get_json(&format!("/api/catalog/{id}")).await;
    let offers = model["data"]["offers"].as_array().unwrap();
    let shown = seen["offers"].as_array().unwrap();
    assert!(offers.len() >= 3, "the view's first model has many offers");
    assert_eq!(shown.len(), offers.len(), "one row per offer: {shown:?}");
    for (row, offer) in shown.iter().zip(offers) {
        let cells: Vec<&str> = row["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let what = format!("{} {}", offer["gateway"], offer["id"]);
        assert!(
            cells[0].starts_with(offer["gateway"].as_str().unwrap()),
            "{what}"
        );
        assert!(
            cells[1].starts_with(offer["id"].as_str().unwrap()),
            "{what}"
        );
        assert_price(cells[2], &offer["pricing"]["prompt"], &what);
        assert_price(cells[3], &offer["pricing"]["completion"], &what);
        let cheapest = &model["data"]["cheapest"];
        let is_cheapest = cheapest["gateway"] == offer["gateway"] && cheapest["id"] == offer["id"];
        assert_eq!(row["cheapest"], is_cheapest, "{what}: marked cheapest");
        assert_eq!(cells[0].ends_with("cheapest"), is_cheapest, "{what}");
    }
    assert_eq!(
        shown.iter().filter(|r| r["cheapest"] == true).count(),
        1,
        "exactly one offer is marked cheapest"
    );
}

/// `shown` is the per-token `price` per million tokens: `free` for 0, `—`
/// when unknown, else dollars within rounding.
fn assert_price(shown: &str, price: &Value, what: &str) {
    let Some(per_token) = price.as_str() else {
        assert_eq!(shown, "—", "{what}: an unknown price");
        return;
    };
    let per_million = per_token.parse::<f64>().unwrap() * 1e6;
    if per_million == 0.0 {
        assert_eq!(shown, "free", "{what}");
        return;
    }
    let dollars: f64 = shown
        .strip_prefix('$')
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{what}: {shown:?} is not a price"));
    assert!(
        (dollars - per_million).abs() <= per_million * 0.01,
        "{what}: {shown} per 1M for {per_token} per token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_a_failing_gateways_error_and_a_stale_gateways_age() {
    let failing = MockGateway::start(&[]).await;
    failing.set(Behavior::Status(500));
    let stale = MockGateway::start(&["kept-a", "kept-b"]).await;
    let changing = MockGateway::start(&["m-1", "m-2"]).await;
    let app = TestApp::builder()
        .gateway("failing", &failing)
        .gateway("stale", &stale)
        .gateway("changing", &changing)
        .spawn()
        .await;
    app.seed("stale", stale_entry(&["kept-a", "kept-b"])).await;
    let (status, _) = app.warm(Some(r#"{"gateways":["changing"]}"#)).await;
    assert_eq!(status, StatusCode::OK);
    changing.set_models(&["m-1", "m-3"]);
    let (status, _) = app.warm(Some(r#"{"gateways":["changing"]}"#)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.warm(Some(r#"{"gateways":["failing"]}"#)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);

    let seen = drive("status", app.url("")).await;
    let row = |id: &str| -> Vec<String> {
        let cells = seen["gateways"][id].as_array();
        let cells = cells.unwrap_or_else(|| panic!("a row for {id}: {seen}"));
        cells
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    let headers = seen["headers"].as_array().unwrap();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let failing_row = row("failing");
    assert_eq!(failing_row[column("State")], "missing");
    assert_eq!(failing_row[column("Backoff")], "backing off");
    assert_eq!(failing_row[column("Last error")], "HTTP 500");
    let stale_row = row("stale");
    assert_eq!(stale_row[column("State")], "stale");
    assert_eq!(stale_row[column("Models")], "2");
    assert_eq!(stale_row[column("Age")], "2 h", "seeded two hours ago");
    assert!(
        stale_row[column("Stale expiry in")].ends_with("min"),
        "an hour left: {stale_row:?}"
    );
    let warm = seen["warms"][0].as_str().unwrap();
    assert!(
        warm.contains("manual") && warm.contains("failing failed") && warm.contains("HTTP 500"),
        "the last warm and its outcome: {warm}"
    );
    assert!(seen["reads"].as_str().unwrap().contains("Hit rate"));
    let changes: Vec<&str> = seen["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(changes.len(), 3, "newest first: {changes:?}");
    assert!(changes[0].ends_with("changing: removed m-2"), "{changes:?}");
    assert!(changes[1].ends_with("changing: added m-3"), "{changes:?}");
    assert!(
        changes[2].ends_with("changing: listed 2 models"),
        "{changes:?}"
    );
    assert_eq!(seen["refreshed"], true, "it refreshes itself");
    assert!(!seen["page_text"].as_str().unwrap().contains(WARM_SECRET));
    assert_eq!(seen["problems"], serde_json::json!([]), "console errors");
    assert_eq!(seen["csp_violations"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_are_sent_with_a_strict_csp_an_etag_and_gzip() {
    let app = TestApp::builder().spawn().await;
    let client = reqwest::Client::new();
    let mut gzipped_total = 0;
    let mut files = vec!["/".to_owned(), "/status".to_owned()];
    let index = app.get("/").await.text().await.unwrap();
    let status = app.get("/status").await.text().await.unwrap();
    files.extend(linked_files(&index).chain(linked_files(&status)));
    files.sort();
    files.dedup();
    assert!(files.len() >= 6, "{files:?}");
    for path in &files {
        let response = client
            .get(app.url(path))
            .header(ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers[CONTENT_ENCODING], "gzip", "{path}");
        let body = response.bytes().await.unwrap();
        gzipped_total += body.len();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        assert!(!text.is_empty(), "{path}");
        let etag = headers[ETAG].to_str().unwrap();
        let again = client
            .get(app.url(path))
            .header(IF_NONE_MATCH, etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        let plain = app.get(path).await;
        assert!(plain.headers().get(CONTENT_ENCODING).is_none());
        assert_eq!(plain.headers()[CONTENT_TYPE], headers[CONTENT_TYPE]);
    }
    assert!(
        gzipped_total < 50 * 1024,
        "the pages weigh {gzipped_total} bytes gzipped"
    );
    let index_type = app.get("/").await.headers()[CONTENT_TYPE].clone();
    assert_eq!(index_type, "text/html; charset=utf-8");
    let (status, _, body) = app.get_json("/assets/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].as_str().unwrap().contains("models.js"),
        "{body}"
    );
}

/// The same-origin files a page links (`src="/…"`, `href="/…"`), but not
/// the API or other pages.
fn linked_files(html: &str) -> impl Iterator<Item = String> + '_ {
    html.split(['"', '\''])
        .filter(|part| part.starts_with("/assets/") || part.ends_with(".svg"))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_api_holds_what_the_status_page_shows_and_no_secret() {
    let failing = MockGateway::start(&[]).await;
    failing.set(Behavior::Status(500));
    let ok = MockGateway::start(&["m-1"]).await;
    let app = TestApp::builder()
        .gateway("failing", &failing)
        .gateway("ok", &ok)
        .spawn()
        .await;
    for _ in 0..12 {
        let (status, _) = app.warm(None).await;
        assert_eq!(status, StatusCode::OK);
    }
    app.get_json("/api/models").await;
    let (status, _, body) = app.get_json("/api/status").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let gateways = body["gateways"].as_array().unwrap();
    let failing = gateways.iter().find(|g| g["id"] == "failing").unwrap();
    assert_eq!(
        (
            &failing["status"],
            &failing["backing_off"],
            &failing["error"]
        ),
        (
            &Value::from("missing"),
            &Value::from(true),
            &Value::from("HTTP 500")
        )
    );
    let ok = gateways.iter().find(|g| g["id"] == "ok").unwrap();
    assert!(ok["stale_until"].as_u64() > ok["fresh_until"].as_u64());
    assert!(ok["fresh_until"].as_u64() > body["now"].as_u64());
    let recent = body["warming"]["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 10, "the last ten warms");
    assert!(recent[0]["finished_at"].as_u64() >= recent[9]["finished_at"].as_u64());
    assert_eq!(recent[0]["gateways"]["failing"]["error"], "HTTP 500");
    assert!(body["reads"]["hit_rate"].is_number(), "{body}");
    assert!(!body.to_string().contains(WARM_SECRET));
}
