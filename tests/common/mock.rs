//! A mock OpenAI-compatible gateway on loopback: serves `GET /v1/models`,
//! counts requests, and misbehaves on demand.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// What the next requests get.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// A valid list with these ids.
    Models(Vec<String>),
    /// This status, with an HTML error page.
    Status(u16),
    /// A 200 whose body is not JSON.
    Garbage,
    /// A valid, empty list.
    Empty,
    /// Headers never come.
    Hang,
    /// A valid list padded to about this many bytes.
    Oversized(usize),
    /// A 200 with this body as `application/json` (error objects, records
    /// without ids, duplicates…).
    Body(String),
    /// A 200 whose body starts a valid list and then drips one byte every
    /// 50 ms, forever.
    SlowDrip,
    /// A 302 to this URL.
    RedirectTo(String),
}

pub struct MockGateway {
    pub addr: SocketAddr,
    state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

struct MockState {
    hits: AtomicUsize,
    /// Shared by the mocks of one test: requests in flight now, and the most seen.
    gauge: Arc<InFlight>,
    delay_ms: AtomicU64,
    /// Whether an answer is what the behaviour was when the request came
    /// (else: when the delay is over).
    answer_at_request: AtomicBool,
    behavior: Mutex<Behavior>,
    last_authorization: Mutex<Option<String>>,
}

/// Requests in flight across several mocks.
#[derive(Default)]
pub struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl InFlight {
    /// The most requests that were in flight at once.
    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

impl MockGateway {
    pub async fn start(ids: &[&str]) -> Self {
        Self::start_with_gauge(ids, Arc::default()).await
    }

    /// A mock counting its requests in flight in `gauge` (shared with others).
    pub async fn start_with_gauge(ids: &[&str], gauge: Arc<InFlight>) -> Self {
        let state = Arc::new(MockState {
            hits: AtomicUsize::new(0),
            gauge,
            delay_ms: AtomicU64::new(0),
            answer_at_request: AtomicBool::new(false),
            behavior: Mutex::new(Behavior::Models(
                ids.iter().map(|s| s.to_string()).collect(),
            )),
            last_authorization: Mutex::new(None),
        });
        let app = Router::new()
            .route("/v1/models", get(models))
            .with_state(Arc::clone(&state));
        let (addr, task) = super::serve_on_loopback(app).await;
        Self { addr, state, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// A `gateways.toml` entry reading this mock as gateway `id` (`openai`
    /// kind, a 5 s timeout so a busy machine does not fail a fetch).
    pub fn gateway_toml(&self, id: &str) -> String {
        format!(
            "[[gateway]]\nid = \"{id}\"\nkind = \"openai\"\nbase_url = \"{}\"\ntimeout = \"5s\"\n",
            self.base_url()
        )
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub fn set(&self, behavior: Behavior) {
        *self.state.behavior.lock().unwrap() = behavior;
    }

    pub fn set_models(&self, ids: &[&str]) {
        self.set(Behavior::Models(
            ids.iter().map(|s| s.to_string()).collect(),
        ));
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Answers hold the list as it was when their request came, as a real
    /// upstream's do: a change made during the delay is in later answers only.
    pub fn answer_as_at_request(&self) {
        self.state.answer_at_request.store(true, Ordering::SeqCst);
    }

    pub fn last_authorization(&self) -> Option<String> {
        self.state.last_authorization.lock().unwrap().clone()
    }
}

impl Drop for MockGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn models(State(state): State<Arc<MockState>>, headers: HeaderMap) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    *state.last_authorization.lock().unwrap() = auth;
    let at_request = state.answer_at_request.load(Ordering::SeqCst);
    let taken = at_request.then(|| state.behavior.lock().unwrap().clone());
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        let now = state.gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
        state.gauge.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        state.gauge.now.fetch_sub(1, Ordering::SeqCst);
    }
    let behavior = taken.unwrap_or_else(|| state.behavior.lock().unwrap().clone());
    match behavior {
        Behavior::Models(ids) => list(&ids).into_response(),
        Behavior::Empty => list(&[]).into_response(),
        Behavior::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            [("content-type", "text/html")],
            "<html><body><h1>Upstream error</h1></body></html>",
        )
            .into_response(),
        Behavior::Garbage => (
            [("content-type", "application/json")],
            "{\"data\": [{\"id\": \"truncat",
        )
            .into_response(),
        Behavior::Hang => std::future::pending().await,
        Behavior::Body(body) => ([("content-type", "application/json")], body).into_response(),
        Behavior::SlowDrip => slow_drip(),
        Behavior::RedirectTo(url) => (StatusCode::FOUND, [("location", url)]).into_response(),
        Behavior::Oversized(bytes) => {
            let ids: Vec<String> = (0..bytes / 64 + 1)
                .map(|i| format!("model-{i:0>50}"))
                .collect();
            list(&ids).into_response()
        }
    }
}

fn list(ids: &[String]) -> axum::Json<serde_json::Value> {
    let data: Vec<_> = ids
        .iter()
        .map(
            |id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "mock"}),
        )
        .collect();
    axum::Json(json!({"object": "list", "data": data}))
}

/// `{"data":[` and then a space every 50 ms: the body never ends.
fn slow_drip() -> Response {
    let start = futures::stream::once(async {
        Ok::<_, std::convert::Infallible>("{\"data\":[".to_owned())
    });
    let drip = futures::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((Ok(" ".to_owned()), ()))
    });
    let body = axum::body::Body::from_stream(futures::StreamExt::chain(start, drip));
    ([("content-type", "application/json")], body).into_response()
}
