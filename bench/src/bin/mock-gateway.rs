//! N mock OpenAI/OpenRouter-shaped gateways in one process, on loopback.
//!
//! - `GET /g/<n>/models` — gateway `n`'s list (built once at start), after
//!   its latency; counted.
//! - `GET /stats` — per gateway: requests, body bytes, latency; requests in
//!   flight now.
//! - `POST /control` — `{"latency_ms":"2000"|"50..800","reset":true,"revise":n,"reprice":r}`:
//!   change latencies, zero the counters, change gateway `n`'s list (one
//!   more model, [`catalog::revised_id`]; `--distinct` only), give 5 % of
//!   every gateway's models round `r`'s prices ([`catalog::repriced_body`];
//!   not with `--distinct`).
//!
//! `--distinct` serves the catalog scenario's lists: every gateway its own
//! models, each name carrying a search code ([`catalog::catalog_model`]).
//!
//! Prints `listening <addr>` on stdout once bound.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use models_cache_bench::{LISTENING, catalog, latency};
use serde::Deserialize;
use serde_json::json;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    #[arg(long, default_value_t = 20)]
    gateways: usize,
    /// Models per gateway.
    #[arg(long, default_value_t = 500)]
    models: usize,
    /// `800` or `50..800` (spread from the first gateway to the last), in ms.
    #[arg(long, default_value = "0")]
    latency_ms: String,
    /// Every gateway lists models of its own, with search codes in their
    /// names (the catalog scenario).
    #[arg(long)]
    distinct: bool,
}

struct Upstream {
    body: Mutex<Bytes>,
    revision: AtomicUsize,
    requests: AtomicUsize,
    latency_ms: AtomicU64,
}

struct Mock {
    upstreams: Vec<Upstream>,
    models: usize,
    distinct: bool,
    in_flight: AtomicUsize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let latencies = latency::spread(&args.latency_ms, args.gateways).unwrap_or_else(|e| exit(&e));
    let upstreams = latencies
        .iter()
        .enumerate()
        .map(|(n, latency)| Upstream {
            body: Mutex::new(Bytes::from(if args.distinct {
                catalog::catalog_body(n, args.models, 0)
            } else {
                catalog::list_body(n, args.models)
            })),
            revision: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            latency_ms: AtomicU64::new(latency.as_millis() as u64),
        })
        .collect();
    let mock = Arc::new(Mock {
        upstreams,
        models: args.models,
        distinct: args.distinct,
        in_flight: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/g/{n}/models", get(models))
        .route("/stats", get(stats))
        .route("/control", post(control))
        .with_state(mock);
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .unwrap_or_else(|e| exit(&format!("cannot bind {}: {e}", args.bind)));
    let addr = listener
        .local_addr()
        .expect("BUG: a bound socket has an address");
    println!("{LISTENING} {addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .unwrap_or_else(|e| exit(&e.to_string()));
}

async fn models(State(mock): State<Arc<Mock>>, Path(n): Path<usize>) -> Response {
    let Some(upstream) = mock.upstreams.get(n) else {
        return (StatusCode::NOT_FOUND, "no such gateway").into_response();
    };
    upstream.requests.fetch_add(1, Ordering::SeqCst);
    mock.in_flight.fetch_add(1, Ordering::SeqCst);
    let latency = upstream.latency_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(latency)).await;
    mock.in_flight.fetch_sub(1, Ordering::SeqCst);
    (
        [(header::CONTENT_TYPE, "application/json")],
        upstream.body(),
    )
        .into_response()
}

async fn stats(State(mock): State<Arc<Mock>>) -> Json<serde_json::Value> {
    let gateways: Vec<_> = mock
        .upstreams
        .iter()
        .map(|u| {
            json!({
                "requests": u.requests.load(Ordering::SeqCst),
                "bytes": u.body().len(),
                "revision": u.revision.load(Ordering::SeqCst),
                "latency_ms": u.latency_ms.load(Ordering::SeqCst),
            })
        })
        .collect();
    Json(json!({"in_flight": mock.in_flight.load(Ordering::SeqCst), "gateways": gateways}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Control {
    latency_ms: Option<String>,
    #[serde(default)]
    reset: bool,
    /// Gateway whose list changes (its revision goes up by one).
    revise: Option<usize>,
    /// Round of new prices for 5 % of every gateway's models.
    reprice: Option<usize>,
}

impl Upstream {
    fn body(&self) -> Bytes {
        self.body
            .lock()
            .expect("BUG: a body lock is never poisoned")
            .clone()
    }
}

async fn control(State(mock): State<Arc<Mock>>, Json(control): Json<Control>) -> Response {
    if let Some(spec) = &control.latency_ms {
        match latency::spread(spec, mock.upstreams.len()) {
            Ok(latencies) => {
                for (upstream, latency) in mock.upstreams.iter().zip(latencies) {
                    upstream
                        .latency_ms
                        .store(latency.as_millis() as u64, Ordering::SeqCst);
                }
            }
            Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
        }
    }
    if let Some(n) = control.revise {
        if !mock.distinct {
            return (StatusCode::BAD_REQUEST, "revise needs --distinct").into_response();
        }
        let Some(upstream) = mock.upstreams.get(n) else {
            return (StatusCode::NOT_FOUND, "no such gateway").into_response();
        };
        let revision = upstream.revision.fetch_add(1, Ordering::SeqCst) + 1;
        let body = catalog::catalog_body(n, mock.models, revision);
        *upstream
            .body
            .lock()
            .expect("BUG: a body lock is never poisoned") = Bytes::from(body);
    }
    if let Some(round) = control.reprice {
        if mock.distinct {
            return (StatusCode::BAD_REQUEST, "reprice is not for --distinct").into_response();
        }
        for (n, upstream) in mock.upstreams.iter().enumerate() {
            let body = catalog::repriced_body(n, mock.models, round);
            *upstream
                .body
                .lock()
                .expect("BUG: a body lock is never poisoned") = Bytes::from(body);
        }
    }
    if control.reset {
        for upstream in &mock.upstreams {
            upstream.requests.store(0, Ordering::SeqCst);
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

fn exit(message: &str) -> ! {
    eprintln!("mock-gateway: {message}");
    std::process::exit(2)
}
