//! Each adapter end to end: the real service, real Redis, and a mock of the
//! provider serving its fixture over real HTTP at the provider's path, with
//! its pagination and its auth header. A warm stores the list; the catalog
//! shows the normalised fields.

use crate::common;

use common::provider_mock::{Provider, ProviderMock};
use common::*;
use serde_json::Value;

const KEY: &str = "sk-test-4f1c9a";

/// The app on a fresh Redis, reading `mocks` (id, mock, key variable).
async fn app_reading(mocks: &[(&str, &ProviderMock, Option<&str>)]) -> (TestApp, RedisServer) {
    let redis = RedisServer::start();
    let mut builder = TestApp::builder().redis(&redis);
    for (id, mock, key_env) in mocks {
        builder = builder.gateway_toml(&mock.gateway_toml(id, *key_env));
        if let Some(var) = key_env {
            builder = builder.env(var, KEY);
        }
    }
    (builder.spawn().await, redis)
}

/// Warms everything, asserts it all succeeded, returns the catalog body at
/// `path`.
async fn warm_then_get(app: &TestApp, path: &str) -> Value {
    let (status, report) = app.warm(None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["success"], true, "{report}");
    let (status, _, body) = app.get_json(path).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Warms everything, then reads one gateway's list.
async fn warm_then_read(app: &TestApp, gateway: &str) -> Value {
    warm_then_get(app, &format!("/api/models/{gateway}")).await
}

fn model<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["data"]
        .as_array()
        .expect("a data array")
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {body}"))
}

#[tokio::test]
async fn openrouter_is_served_in_its_own_shape_with_normalised_prices() {
    let mock = ProviderMock::start(Provider::OpenRouter, "openrouter", None).await;
    let (app, _redis) = app_reading(&[("openrouter", &mock, None)]).await;

    let body = warm_then_read(&app, "openrouter").await;

    assert_eq!(body["gateways"]["openrouter"]["count"], 4);
    let m = model(&body, "openai/gpt-4o");
    assert_eq!(m["gateway"], "openrouter");
    assert_eq!(m["name"], "OpenAI: GPT-4o");
    assert_eq!(m["context_length"], 128000);
    assert_eq!(m["pricing"]["prompt"], "0.0000025");
    assert_eq!(m["pricing"]["input_cache_read"], "0.00000125");
    assert_eq!(m["top_provider"]["max_completion_tokens"], 16384);
    assert_eq!(m["architecture"]["input_modalities"][1], "image");
    assert!(m["owned_by"].is_null());
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn anthropic_pages_are_followed_by_after_id_with_its_headers() {
    let mock = ProviderMock::start(Provider::Anthropic, "anthropic", Some(KEY)).await;
    mock.set_page_size(2);
    let (app, _redis) = app_reading(&[("anthropic", &mock, Some("ANTHROPIC_API_KEY"))]).await;

    let body = warm_then_read(&app, "anthropic").await;

    assert_eq!(ids(&body).len(), 5, "all five models over three pages");
    assert_eq!(mock.hits(), 3);
    let queries = mock.queries();
    assert_eq!(queries[0].get("limit").map(String::as_str), Some("1000"));
    assert_eq!(queries[0].get("after_id"), None);
    assert_eq!(queries[1]["after_id"], "claude-opus-4-20250514");
    assert_eq!(queries[2]["after_id"], "claude-3-5-haiku-20241022");
    let m = model(&body, "claude-sonnet-4-20250514");
    assert_eq!(m["name"], "Claude Sonnet 4");
    assert_eq!(m["created"], 1_747_872_000);
    assert!(m["pricing"].is_null() && m["context_length"].is_null());
}

#[tokio::test]
async fn gemini_pages_are_followed_by_page_token_and_ids_lose_the_models_prefix() {
    let mock = ProviderMock::start(Provider::Gemini, "gemini", Some(KEY)).await;
    mock.set_page_size(3);
    let (app, _redis) = app_reading(&[("gemini", &mock, Some("GEMINI_API_KEY"))]).await;

    let body = warm_then_read(&app, "gemini").await;

    assert_eq!(
        ids(&body),
        [
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.0-flash",
            "text-embedding-004"
        ]
    );
    assert_eq!(mock.hits(), 2);
    assert_eq!(mock.queries()[1]["pageToken"], "offset-3");
    let m = model(&body, "gemini-2.0-flash");
    assert_eq!(m["name"], "Gemini 2.0 Flash");
    assert_eq!(m["context_length"], 1048576);
    assert_eq!(m["top_provider"]["max_completion_tokens"], 8192);
    assert!(m["created"].is_null());
}

#[tokio::test]
async fn cohere_pages_are_followed_by_page_token() {
    let mock = ProviderMock::start(Provider::Cohere, "cohere", Some(KEY)).await;
    mock.set_page_size(3);
    let (app, _redis) = app_reading(&[("cohere", &mock, Some("COHERE_API_KEY"))]).await;

    let body = warm_then_read(&app, "cohere").await;

    assert_eq!(ids(&body).len(), 4);
    assert_eq!(mock.hits(), 2);
    assert_eq!(mock.queries()[0]["page_size"], "1000");
    assert_eq!(model(&body, "command-a-03-2025")["context_length"], 256000);
}

#[tokio::test]
async fn together_prices_per_million_become_usd_per_token() {
    let mock = ProviderMock::start(Provider::Together, "together", Some(KEY)).await;
    let (app, _redis) = app_reading(&[("together", &mock, Some("TOGETHER_API_KEY"))]).await;

    let body = warm_then_read(&app, "together").await;

    let m = model(&body, "Qwen/Qwen2.5-7B-Instruct-Turbo");
    assert_eq!(m["pricing"]["prompt"], "0.00000015");
    assert_eq!(m["pricing"]["completion"], "0.0000003");
    assert_eq!(m["name"], "Qwen2.5 7B Instruct Turbo");
    assert_eq!(m["owned_by"], "Qwen");
    assert_eq!(m["context_length"], 32768);
    assert_eq!(m["created"], 1726704000);
}

#[tokio::test]
async fn ollama_tags_are_read_without_a_key() {
    let mock = ProviderMock::start(Provider::Ollama, "ollama", None).await;
    let (app, _redis) = app_reading(&[("ollama", &mock, None)]).await;

    let body = warm_then_read(&app, "ollama").await;

    assert_eq!(
        ids(&body),
        [
            "llama3.2:latest",
            "qwen2.5-coder:7b",
            "nomic-embed-text:latest"
        ]
    );
    let m = model(&body, "llama3.2:latest");
    assert!(m["name"].is_null() && m["created"].is_null() && m["pricing"].is_null());
}

#[tokio::test]
async fn xai_language_models_prices_in_cents_per_100m_become_usd_per_token() {
    let mock = ProviderMock::start(Provider::Xai, "xai", Some(KEY)).await;
    let (app, _redis) = app_reading(&[("xai", &mock, Some("XAI_API_KEY"))]).await;

    let body = warm_then_read(&app, "xai").await;

    let m = model(&body, "grok-3");
    assert_eq!(m["pricing"]["prompt"], "0.000003");
    assert_eq!(m["pricing"]["completion"], "0.000015");
    assert_eq!(m["pricing"]["input_cache_read"], "0.00000075");
    let vision = model(&body, "grok-2-vision-1212");
    assert_eq!(vision["architecture"]["input_modalities"][1], "image");
}

#[tokio::test]
async fn openai_compatible_servers_are_read_with_their_extra_fields() {
    let names = [
        "openai",
        "groq",
        "mistral",
        "vllm",
        "fireworks",
        "deepinfra",
        "vercel",
        "huggingface",
    ];
    let mut mocks = Vec::new();
    for name in names {
        mocks.push(ProviderMock::start(Provider::OpenAi, name, Some(KEY)).await);
    }
    let vars: Vec<String> = names
        .iter()
        .map(|n| format!("{}_KEY", n.to_uppercase()))
        .collect();
    let gateways: Vec<_> = names
        .iter()
        .zip(&mocks)
        .zip(&vars)
        .map(|((name, mock), var)| (*name, mock, Some(var.as_str())))
        .collect();
    let (app, _redis) = app_reading(&gateways).await;

    let body = warm_then_get(&app, "/api/models").await;

    let get = |gw: &str, id: &str| -> Value {
        let found = body["data"]
            .as_array()
            .expect("a data array")
            .iter()
            .find(|m| m["gateway"] == gw && m["id"] == id);
        found.cloned().unwrap_or_else(|| panic!("{id} from {gw}"))
    };
    assert_eq!(get("openai", "gpt-4o")["created"], 1715367049);
    let groq = get("groq", "llama-3.3-70b-versatile");
    assert_eq!(groq["context_length"], 131072);
    assert_eq!(groq["top_provider"]["max_completion_tokens"], 32768);
    let mistral = get("mistral", "codestral-latest");
    assert_eq!(
        (mistral["context_length"].clone(), mistral["name"].clone()),
        (262144.into(), "codestral-2501".into())
    );
    assert_eq!(get("vllm", "sql-lora")["context_length"], 32768);
    assert_eq!(
        get("fireworks", "accounts/fireworks/models/deepseek-r1")["context_length"],
        163840
    );
    let deepinfra = get("deepinfra", "deepseek-ai/DeepSeek-V3");
    assert_eq!(deepinfra["pricing"]["prompt"], "0.00000038");
    let vercel = get("vercel", "openai/gpt-4o-mini");
    assert_eq!(vercel["pricing"]["prompt"], "0.00000015");
    assert_eq!(vercel["top_provider"]["max_completion_tokens"], 16384);
    let hf = get("huggingface", "Qwen/Qwen2.5-VL-7B-Instruct");
    assert_eq!(hf["pricing"]["completion"], "0.0000002");
    assert_eq!(hf["context_length"], 32768);
    for mock in &mocks {
        assert_eq!(mock.hits(), 1);
    }
}
