//! Finding models over HTTP: the query parameters of SPEC "Finding models"
//! on `/api/models`, answered from the entries' indexes, against a real
//! OpenRouter list (the capture of 2025-07-25) and an OpenAI-compatible one.

use std::collections::BTreeSet;
use std::io::Read;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::provider_mock::{Provider, ProviderMock};
use crate::common::*;

async fn app() -> (TestApp, ProviderMock, MockGateway) {
    let openrouter =
        ProviderMock::start(Provider::OpenRouter, "openrouter-capture-2025-07-25", None).await;
    let groq = MockGateway::start(&["llama-3.3-70b-versatile", "whisper-large-v3"]).await;
    let app = TestApp::builder()
        .gateway_toml(&openrouter.gateway_toml("openrouter", None))
        .gateway("groq", &groq)
        .spawn()
        .await;
    (app, openrouter, groq)
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, _, body) = app.get_json(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn data(body: &Value) -> &Vec<Value> {
    body["data"].as_array().expect("a data array")
}

/// USD per 1M tokens of a per-token decimal string, for checks only.
fn per_million(price: &Value) -> Option<f64> {
    price.as_str().map(|p| p.parse::<f64>().unwrap() * 1e6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_hold_for_every_model_they_return_from_a_real_list() {
    let (app, _or, _groq) = app().await;
    let all = get(&app, "/api/models").await;
    assert_eq!(
        all["total"], 321,
        "319 OpenRouter records and 2 from the other gateway"
    );

    let body = get(
        &app,
        "/api/models?q=claude+sonnet&supported_parameters=tools&input_modalities=image",
    )
    .await;
    assert!(!data(&body).is_empty());
    for m in data(&body) {
        let text = format!("{} {}", m["id"], m["name"]).to_lowercase();
        assert!(text.contains("claude") && text.contains("sonnet"), "{text}");
        let params = m["supported_parameters"].as_array().unwrap();
        assert!(params.contains(&Value::from("tools")), "{}", m["id"]);
        assert!(
            m["architecture"]["input_modalities"]
                .as_array()
                .unwrap()
                .contains(&Value::from("image"))
        );
    }

    let body = get(&app, "/api/models?author=openai&context=100000&max_price=1").await;
    assert!(!data(&body).is_empty());
    for m in data(&body) {
        assert!(m["id"].as_str().unwrap().starts_with("openai/"));
        assert!(m["context_length"].as_u64().unwrap() >= 100_000);
        assert!(
            per_million(&m["pricing"]["prompt"]).unwrap() <= 1.0,
            "{}",
            m["id"]
        );
    }

    let free = get(&app, "/api/models?free=true").await;
    assert!(
        data(&free).len() > 10,
        "OpenRouter lists dozens of :free models"
    );
    for m in data(&free) {
        assert_eq!(
            (
                m["pricing"]["prompt"].as_str(),
                m["pricing"]["completion"].as_str()
            ),
            (Some("0"), Some("0"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorts_and_pages_agree_with_the_whole_result() {
    let (app, _or, _groq) = app().await;
    let sorted = get(
        &app,
        "/api/models?gateway=openrouter&sort=pricing-low-to-high",
    )
    .await;
    let prices: Vec<Option<f64>> = data(&sorted)
        .iter()
        .map(|m| per_million(&m["pricing"]["prompt"]))
        .collect();
    let known: Vec<f64> = prices.iter().map_while(|p| *p).collect();
    assert!(known.windows(2).all(|w| w[0] <= w[1]), "cheapest first");
    assert!(
        prices[known.len()..].iter().all(Option::is_none),
        "unknown prices last"
    );

    let page = get(
        &app,
        "/api/models?gateway=openrouter&sort=pricing-low-to-high&offset=40&limit=10",
    )
    .await;
    let ids = |body: &Value| {
        data(body)
            .iter()
            .map(|m| m["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&page), ids(&sorted)[40..50]);
    assert_eq!(page["total"], sorted["total"]);

    let newest = get(&app, "/api/models?sort=newest&limit=5").await;
    let created: Vec<i64> = data(&newest)
        .iter()
        .map(|m| m["created"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facets_count_every_match_in_both_encodings() {
    let (app, _or, _groq) = app().await;
    let body = get(&app, "/api/models?q=llama&facets=true&limit=3").await;
    assert_eq!(data(&body).len(), 3);
    let total = body["total"].as_u64().unwrap();
    let facets = &body["facets"];
    let by_gateway: u64 = facets["gateway"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_gateway, total, "{facets}");
    assert_eq!(facets["gateway"]["groq"], 1);
    assert!(
        facets["author"]["meta-llama"].as_u64().unwrap() > 5,
        "{facets}"
    );
    for family in [
        "input_modalities",
        "output_modalities",
        "supported_parameters",
    ] {
        assert!(facets[family].is_object(), "{family}");
    }

    let gzip = app
        .client
        .get(app.url("/api/models?q=llama&facets=true&limit=3"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    let bytes = gzip.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    let decoded: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(decoded["facets"], body["facets"]);
    assert_eq!(decoded["total"], body["total"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_price_and_a_zero_context_are_null() {
    let (app, _or, _groq) = app().await;
    let (status, _, body) = app.get_json("/api/models/openrouter/openrouter/auto").await;
    assert_eq!(status, StatusCode::OK);
    // The capture gives "-1" ("varies by request") for the router's prices.
    assert_eq!(body["data"]["pricing"]["prompt"], Value::Null, "{body}");
    assert_eq!(body["data"]["pricing"]["completion"], Value::Null);
    let bounded = get(&app, "/api/models?max_price=1000000&q=auto").await;
    assert!(
        data(&bounded).iter().all(|m| m["id"] != "openrouter/auto"),
        "an unknown price matches no bound"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_parameter_or_a_bad_value_is_a_400_naming_it() {
    let (app, _or, _groq) = app().await;
    for (query, named) in [
        ("qq=gpt", "qq"),
        ("limit=-1", "limit"),
        ("context=big", "context"),
        ("max_price=cheap", "max_price"),
        ("sort=cheapest", "sort"),
        ("facets=yes", "facets"),
        ("free=1&free=0", "free"),
    ] {
        let (status, _, body) = app.get_json(&format!("/api/models?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        let error = body["error"].as_str().unwrap();
        assert!(error.starts_with(&format!("{named}:")), "{query}: {error}");
    }
    let (status, _, body) = app.get_json("/api/models?gateway=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, body) = app.get_json("/api/models/groq?gateway=openrouter").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().starts_with("gateway:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_query_has_its_etag_and_equivalent_ones_share_it() {
    let (app, _or, _groq) = app().await;
    let etag = |path: &'static str| {
        let app = &app;
        async move {
            app.get(path).await.headers()["etag"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let plain = etag("/api/models?author=openai,anthropic").await;
    assert_eq!(plain, etag("/api/models?author=Anthropic,OpenAI").await);
    assert_ne!(plain, etag("/api/models?author=openai").await);
    let response = app
        .get_if_none_match("/api/models?author=anthropic,openai", &plain)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let distinct: BTreeSet<String> = [
        etag("/api/models?sort=name").await,
        etag("/api/models?sort=newest").await,
        etag("/api/models?facets=true").await,
    ]
    .into();
    assert_eq!(distinct.len(), 3);
}
