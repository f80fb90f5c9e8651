//! A mock of one provider's models endpoint on loopback, serving a fixture
//! from `tests/fixtures/` at the provider's own path, split into pages by the
//! provider's own cursor parameters, and answering 401 unless the request
//! carries the key in the header that provider expects.
//!
//! Included by path (`#[path = "common/provider_mock.rs"]`) from the test
//! files that use it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    OpenRouter,
    Anthropic,
    Gemini,
    Together,
    Ollama,
    Cohere,
    Xai,
}

impl Provider {
    /// The `kind` of gateways.toml.
    pub fn kind(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::OpenRouter => "openrouter",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Together => "together",
            Self::Ollama => "ollama",
            Self::Cohere => "cohere",
            Self::Xai => "xai",
        }
    }

    /// The path of `base_url` (as in the real provider's documentation).
    fn base_path(self) -> &'static str {
        match self {
            Self::Gemini => "/v1beta",
            Self::Ollama => "",
            _ => "/v1",
        }
    }

    /// What the adapter appends to `base_url`.
    fn list_path(self) -> &'static str {
        match self {
            Self::Ollama => "/api/tags",
            Self::Xai => "/language-models",
            _ => "/models",
        }
    }

    /// Whether `headers` carry `key` the way this provider expects it.
    fn authorised(self, headers: &HeaderMap, key: &str) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match self {
            Self::Anthropic => {
                header("x-api-key") == Some(key)
                    && header("anthropic-version") == Some("2023-06-01")
            }
            Self::Gemini => header("x-goog-api-key") == Some(key),
            _ => header("authorization") == Some(&format!("Bearer {key}")),
        }
    }
}

pub struct ProviderMock {
    pub addr: SocketAddr,
    pub provider: Provider,
    state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

struct MockState {
    provider: Provider,
    fixture: Value,
    key: Option<String>,
    /// The most records one page holds, whatever the client asks for (real
    /// providers cap their pages too).
    page_size: AtomicUsize,
    /// Hand back the same cursor on every page.
    repeat_cursor: AtomicBool,
    hits: AtomicUsize,
    queries: Mutex<Vec<HashMap<String, String>>>,
}

impl ProviderMock {
    /// Serves `tests/fixtures/<fixture>.json`; requires `key` when given.
    pub async fn start(provider: Provider, fixture: &str, key: Option<&str>) -> Self {
        let path = format!(
            "{}/tests/fixtures/{fixture}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("the fixture exists");
        let state = Arc::new(MockState {
            provider,
            fixture: serde_json::from_str(&text).expect("the fixture is JSON"),
            key: key.map(str::to_owned),
            page_size: AtomicUsize::new(usize::MAX),
            repeat_cursor: AtomicBool::new(false),
            hits: AtomicUsize::new(0),
            queries: Mutex::new(Vec::new()),
        });
        let route = format!("{}{}", provider.base_path(), provider.list_path());
        let app = Router::new()
            .route(&route, get(list))
            .with_state(Arc::clone(&state));
        let (addr, task) = super::serve_on_loopback(app).await;
        Self {
            addr,
            provider,
            state,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.provider.base_path())
    }

    /// A `[[gateway]]` table reading this mock, its key from `key_env`.
    pub fn gateway_toml(&self, id: &str, key_env: Option<&str>) -> String {
        let mut toml = format!(
            "[[gateway]]\nid = \"{id}\"\nkind = \"{}\"\nbase_url = \"{}\"\n",
            self.provider.kind(),
            self.base_url()
        );
        if let Some(var) = key_env {
            toml.push_str(&format!("api_key_env = \"{var}\"\n"));
        }
        toml
    }

    /// Pages hold at most `n` records.
    pub fn set_page_size(&self, n: usize) {
        self.state.page_size.store(n, Ordering::SeqCst);
    }

    /// Every page names the same next cursor.
    pub fn repeat_cursor(&self) {
        self.state.repeat_cursor.store(true, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// The query parameters of each request, in order.
    pub fn queries(&self) -> Vec<HashMap<String, String>> {
        self.state.queries.lock().unwrap().clone()
    }
}

impl Drop for ProviderMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn list(
    State(state): State<Arc<MockState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    state.queries.lock().unwrap().push(query.clone());
    if let Some(key) = &state.key
        && !state.provider.authorised(&headers, key)
    {
        let error =
            json!({"error": {"message": "invalid API key", "type": "authentication_error"}});
        return (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response();
    }
    let page = match state.provider {
        Provider::Anthropic => anthropic_page(&state, &query),
        Provider::Gemini => token_page(
            &state,
            &query,
            ("pageSize", "pageToken", "nextPageToken", "models"),
        ),
        Provider::Cohere => token_page(
            &state,
            &query,
            ("page_size", "page_token", "next_page_token", "models"),
        ),
        _ => state.fixture.clone(),
    };
    axum::Json(page).into_response()
}

fn records<'a>(state: &'a MockState, key: &str) -> &'a Vec<Value> {
    state.fixture[key]
        .as_array()
        .expect("the fixture has its list")
}

/// `limit` records after `after_id`, with `has_more` and `last_id`.
fn anthropic_page(state: &MockState, query: &HashMap<String, String>) -> Value {
    let all = records(state, "data");
    let start = match query.get("after_id") {
        Some(after) => all
            .iter()
            .position(|m| m["id"] == after.as_str())
            .map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let size = page_size(state, query.get("limit"), 20);
    let end = (start + size).min(all.len());
    let page = &all[start..end];
    let last_id = if state.repeat_cursor.load(Ordering::SeqCst) {
        all[0]["id"].clone()
    } else {
        page.last().map_or(Value::Null, |m| m["id"].clone())
    };
    json!({
        "data": page,
        "has_more": end < all.len() || state.repeat_cursor.load(Ordering::SeqCst),
        "first_id": page.first().map_or(Value::Null, |m| m["id"].clone()),
        "last_id": last_id,
    })
}

/// A page after an opaque offset token, with the next token while more remain.
fn token_page(
    state: &MockState,
    query: &HashMap<String, String>,
    names: (&str, &str, &str, &str),
) -> Value {
    let (size_param, token_param, next_field, list_key) = names;
    let all = records(state, list_key);
    let start: usize = query
        .get(token_param)
        .and_then(|t| t.strip_prefix("offset-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let size = page_size(state, query.get(size_param), 50);
    let end = (start + size).min(all.len());
    let mut page = json!({ list_key: &all[start.min(end)..end] });
    if state.repeat_cursor.load(Ordering::SeqCst) {
        page[next_field] = json!("offset-1");
    } else if end < all.len() {
        page[next_field] = json!(format!("offset-{end}"));
    }
    page
}

fn page_size(state: &MockState, asked: Option<&String>, default: usize) -> usize {
    let asked = asked.and_then(|s| s.parse().ok()).unwrap_or(default);
    asked.min(state.page_size.load(Ordering::SeqCst)).max(1)
}
