//! The unified catalog and its compatible list endpoints, read as their
//! clients read them: `/api/catalog` as a models page does, `/v1/models`
//! through the official `openai` Python SDK, `/api/v1/models` against the
//! fields of a real OpenRouter record.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::provider_mock::{Provider, ProviderMock};
use crate::common::*;

const CAPTURE: &str = "openrouter-capture-2025-07-25";

/// OpenRouter's real list, and an OpenAI-compatible gateway of one author.
async fn app() -> (TestApp, ProviderMock, MockGateway) {
    let openrouter = ProviderMock::start(Provider::OpenRouter, CAPTURE, None).await;
    // As OpenAI's own list gives them: no author in the id, none in `owned_by`.
    let openai = MockGateway::start(&[]).await;
    let records: Vec<Value> = ["gpt-4o", "gpt-4o-mini", "gpt-4o-2024-08-06"]
        .iter()
        .map(|id| serde_json::json!({"id": id, "object": "model", "created": 1_715_367_049, "owned_by": "system"}))
        .collect();
    openai.set(Behavior::Body(
        serde_json::json!({"object": "list", "data": records}).to_string(),
    ));
    let openai_toml = format!(
        "[[gateway]]\nid = \"openai\"\nkind = \"openai\"\nbase_url = \"{}\"\nauthor = \"openai\"\n",
        openai.base_url()
    );
    let app = TestApp::builder()
        .gateway_toml(&openrouter.gateway_toml("openrouter", None))
        .gateway_toml(&openai_toml)
        .spawn()
        .await;
    (app, openrouter, openai)
}

fn offer<'a>(model: &'a Value, gateway: &str) -> Option<&'a Value> {
    model["offers"]
        .as_array()?
        .iter()
        .find(|o| o["gateway"] == gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_lists_each_model_once_with_every_offer() {
    let (app, _or, _openai) = app().await;
    let (status, headers, body) = app.get_json("/api/catalog?q=gpt-4o&limit=1000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers.contains_key("etag") && headers.contains_key("x-cache"));
    let models = body["data"].as_array().unwrap();
    let gpt4o = models
        .iter()
        .find(|m| m["id"] == "openai/gpt-4o")
        .expect("openai/gpt-4o");
    assert_eq!(offer(gpt4o, "openrouter").unwrap()["match"], "canonical");
    let direct = offer(gpt4o, "openai").expect("the OpenAI offer, by normalisation");
    assert_eq!(
        (direct["id"].as_str(), direct["match"].as_str()),
        (Some("gpt-4o"), Some("normalized"))
    );
    assert_eq!(direct["status"], "fresh");
    assert_eq!(gpt4o["author"], "openai");
    assert_eq!(
        gpt4o["cheapest"]["gateway"], "openrouter",
        "the only priced offer"
    );
    // Hard negatives: a smaller model and a dated snapshot stay apart.
    let mini = models
        .iter()
        .find(|m| m["id"] == "openai/gpt-4o-mini")
        .unwrap();
    assert!(offer(mini, "openai").is_some_and(|o| o["id"] == "gpt-4o-mini"));
    let dated = models
        .iter()
        .find(|m| m["id"] == "openai/gpt-4o-2024-08-06")
        .unwrap();
    assert!(offer(dated, "openai").is_some());
    assert_eq!(offer(gpt4o, "openai").unwrap()["id"], "gpt-4o");

    let names: Vec<String> = models
        .iter()
        .map(|m| m["name"].as_str().unwrap_or("").to_lowercase())
        .collect();
    assert!(
        names.windows(2).all(|w| w[0] <= w[1]),
        "by name unless asked"
    );
    let ids: Vec<&str> = models.iter().map(|m| m["id"].as_str().unwrap()).collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "each model once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_model_by_canonical_id_offer_id_or_variant() {
    let (app, _or, _openai) = app().await;
    let (status, _, canonical) = app.get_json("/api/catalog/openai/gpt-4o").await;
    assert_eq!(status, StatusCode::OK, "{canonical}");
    for id in ["gpt-4o", "OpenAI/GPT-4o"] {
        let (status, _, body) = app.get_json(&format!("/api/catalog/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{id}");
        assert_eq!(body["data"]["id"], canonical["data"]["id"], "{id}");
    }
    let (_, _, free) = app
        .get_json("/api/catalog/meta-llama/llama-3.3-70b-instruct:free")
        .await;
    assert_eq!(free["data"]["id"], "meta-llama/llama-3.3-70b-instruct");
    let variants: Vec<&Value> = free["data"]["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["variant"])
        .collect();
    assert!(variants.contains(&&Value::from("free")), "{variants:?}");
    let (status, _, body) = app.get_json("/api/catalog/no/such-model").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("no/such-model"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_queries_filter_sort_facet_and_refuse_bad_parameters() {
    let (app, _or, _openai) = app().await;
    let (_, _, body) = app
        .get_json("/api/catalog?sort=offers&limit=3&facets=true")
        .await;
    let gateways = |model: &Value| {
        let mut ids: Vec<String> = model["offers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["gateway"].to_string())
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    assert_eq!(gateways(&body["data"][0]), 2, "most gateways first");
    assert_eq!(gateways(&body["data"][2]), 2);
    assert_eq!(body["facets"]["gateway"]["openai"], 3);
    let (_, _, body) = app.get_json("/api/catalog?gateway=openai").await;
    assert_eq!(body["total"], 3);
    for model in body["data"].as_array().unwrap() {
        let gateways: Vec<&Value> = model["offers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| &o["gateway"])
            .collect();
        assert_eq!(
            gateways,
            [&Value::from("openai")],
            "only the asked gateway's offers"
        );
    }
    for (query, named) in [
        ("sort=cheap", "sort"),
        ("colour=red", "colour"),
        ("limit=x", "limit"),
    ] {
        let (status, _, body) = app.get_json(&format!("/api/catalog?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body["error"].as_str().unwrap().starts_with(named), "{body}");
    }
    let (status, _, _) = app.get_json("/api/catalog?gateway=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = app.get_json("/api/models?sort=offers").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "offers order the catalog only: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_lists_the_canonical_ids() {
    let (app, _or, _openai) = app().await;
    let pydeps = std::env::var("MODELS_CACHE_PYDEPS")
        .expect("run the tests with `bash scripts/test.sh`, which installs the openai SDK");
    let script = r#"
import os, openai
client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key="unused")
ids = [m.id for m in client.models.list()]
owners = {m.id: m.owned_by for m in client.models.list()}
print(len(ids)); print(ids[0]); print(owners["openai/gpt-4o"])
print("openai/gpt-4o" in ids, "gpt-4o" in ids)
"#;
    let output = tokio::task::spawn_blocking({
        let base = app.url("/v1");
        move || {
            Command::new("python3")
                .args(["-c", script])
                .env("PYTHONPATH", pydeps)
                .env("BASE_URL", base)
                .output()
                .expect("python3 runs")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let (_, _, catalog) = app.get_json("/api/catalog?limit=100000").await;
    assert_eq!(
        lines[0],
        catalog["total"].to_string(),
        "every model of the catalog"
    );
    assert_eq!(
        lines[1],
        catalog["data"][0]["id"].as_str().unwrap(),
        "sorted by name as the catalog"
    );
    assert_eq!(lines[2], "openai");
    assert_eq!(lines[3], "True False", "canonical ids, not offer ids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openrouter_shaped_records_carry_every_top_level_field_of_a_real_one() {
    let (app, _or, _openai) = app().await;
    let capture: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/{CAPTURE}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let real_records = capture["data"].as_array().unwrap();
    let real = real_records
        .iter()
        .find(|m| m["id"] == "openai/gpt-4o")
        .unwrap();
    let (status, _, body) = app.get_json("/api/v1/models?q=gpt-4o").await;
    assert_eq!(status, StatusCode::OK);
    let ours = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "openai/gpt-4o")
        .unwrap();
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    // Every top-level field any real record carries, with a type real
    // records give it, on every record answered.
    let mut real_kinds: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for record in real_records {
        for (field, value) in record.as_object().unwrap() {
            real_kinds.entry(field).or_default().insert(kind(value));
        }
    }
    let (_, _, all) = app.get_json("/api/v1/models?limit=100000").await;
    let all = all["data"].as_array().unwrap();
    assert!(all.len() > 200, "{}", all.len());
    for record in all {
        for (field, kinds) in &real_kinds {
            let value = record
                .get(*field)
                .unwrap_or_else(|| panic!("{} lacks {field}", record["id"]));
            assert!(
                kinds.contains(kind(value)),
                "{}: {field} is {} (real: {kinds:?})",
                record["id"],
                kind(value)
            );
        }
    }
    for field in ["name", "context_length", "supported_parameters"] {
        assert_eq!(ours[field], real[field], "{field}");
    }
    assert_eq!(
        ours["pricing"]["prompt"], real["pricing"]["prompt"],
        "the cheapest offer's price"
    );
}

/// Found by the models page's browser test: the same query with and without
/// `gateway=` shared one cached page, so whichever came first answered both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_filter_is_part_of_what_a_cached_page_answers() {
    let (app, _or, _openai) = app().await;
    let (_, _, everyone) = app.get_json("/api/catalog?q=gpt-4o&facets=true").await;
    let (_, _, openai) = app
        .get_json("/api/catalog?q=gpt-4o&facets=true&gateway=openai")
        .await;
    let (_, _, openrouter) = app
        .get_json("/api/catalog?q=gpt-4o&facets=true&gateway=openrouter")
        .await;
    assert_eq!(openai["total"], 3, "{}", openai["facets"]);
    assert!(everyone["total"].as_u64() > openai["total"].as_u64());
    assert_eq!(
        openrouter["total"], everyone["facets"]["gateway"]["openrouter"],
        "the openrouter offers only"
    );
}
