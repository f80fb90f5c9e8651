//! What a user would build instead of models-cache, and put behind nginx's
//! `proxy_cache`: on every request it asks every gateway concurrently and
//! merges the lists into the same envelope models-cache serves
//! (`{"data","gateways","total"}`, same query parameters).
//!
//! It reads the same `gateways.toml` and fetches through models-cache's own
//! adapters ([`models_cache::gateways::Fetcher`]), so both sides carry the
//! same normalised records: the comparison is of the caching, not of the
//! payload. Prints `listening <addr>` on stdout once bound.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use futures::future::join_all;
use models_cache::gateways::{Fetcher, Gateway, Gateways, Model};
use models_cache_bench::LISTENING;
use serde::Deserialize;
use serde_json::json;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    #[arg(long)]
    gateways_file: PathBuf,
    /// Per-gateway fetch timeout where the file sets none.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

struct Aggregator {
    gateways: Gateways,
    fetcher: Fetcher,
}

#[derive(Deserialize, Default)]
struct CatalogQuery {
    gateway: Option<String>,
    q: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let env = |name: &str| std::env::var(name).ok();
    let gateways = models_cache::gateways::file::load(&args.gateways_file, args.timeout, env)
        .unwrap_or_else(|e| exit(&e.to_string()));
    let state = Arc::new(Aggregator {
        gateways,
        fetcher: Fetcher::new(),
    });
    let app = Router::new()
        .route("/api/models", get(all_models))
        .route("/api/models/{gateway}", get(gateway_models))
        .route("/api/models/{gateway}/{*model}", get(one_model))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .unwrap_or_else(|e| exit(&format!("cannot bind {}: {e}", args.bind)));
    let addr = listener
        .local_addr()
        .expect("BUG: a bound socket has an address");
    println!("{LISTENING} {addr}");
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| exit(&e.to_string()));
}

async fn all_models(
    State(state): State<Arc<Aggregator>>,
    Query(query): Query<CatalogQuery>,
) -> Response {
    let wanted: Option<Vec<&str>> = query
        .gateway
        .as_deref()
        .filter(|g| !g.trim().is_empty())
        .map(|g| g.split(',').map(str::trim).collect());
    let selection: Vec<&Gateway> = state
        .gateways
        .active
        .iter()
        .map(AsRef::as_ref)
        .filter(|g| wanted.as_ref().is_none_or(|w| w.contains(&g.id.as_str())))
        .collect();
    envelope(&fetch_all(&state.fetcher, &selection).await, &query)
}

async fn gateway_models(
    State(state): State<Arc<Aggregator>>,
    Path(id): Path<String>,
    Query(query): Query<CatalogQuery>,
) -> Response {
    let Some(gateway) = state.gateways.get(&id) else {
        return (StatusCode::NOT_FOUND, "unknown gateway").into_response();
    };
    envelope(&fetch_all(&state.fetcher, &[gateway]).await, &query)
}

async fn one_model(
    State(state): State<Arc<Aggregator>>,
    Path((id, model)): Path<(String, String)>,
) -> Response {
    let Some(gateway) = state.gateways.get(&id) else {
        return (StatusCode::NOT_FOUND, "unknown gateway").into_response();
    };
    let fetched = fetch_all(&state.fetcher, &[gateway]).await;
    let (_, result, fetched_at) = &fetched[0];
    let found = result
        .as_ref()
        .ok()
        .and_then(|models| models.iter().find(|m| m.id == model));
    match found {
        Some(found) => Json(json!({
            "data": found,
            "gateway": state_of(result, *fetched_at),
        }))
        .into_response(),
        None => (StatusCode::NOT_FOUND, "no such model").into_response(),
    }
}

type Fetched<'a> = (&'a str, Result<Vec<Model>, String>, u64);

/// Every gateway at once; each result with the time it was fetched.
async fn fetch_all<'a>(fetcher: &Fetcher, gateways: &[&'a Gateway]) -> Vec<Fetched<'a>> {
    join_all(gateways.iter().map(|gateway| async move {
        let result = fetcher.fetch_list(gateway).await.map_err(|e| e.to_string());
        (gateway.id.as_str(), result, now_ms())
    }))
    .await
}

fn envelope(fetched: &[Fetched<'_>], query: &CatalogQuery) -> Response {
    let needle = query.q.as_deref().map(str::to_lowercase);
    let matches = fetched
        .iter()
        .filter_map(|(_, result, _)| result.as_ref().ok())
        .flatten()
        .filter(|m| needle.as_deref().is_none_or(|n| m.matches(n)));
    let (offset, limit) = (query.offset.unwrap_or(0), query.limit.unwrap_or(usize::MAX));
    let mut total = 0;
    let mut data = Vec::new();
    for model in matches {
        if total >= offset && data.len() < limit {
            data.push(model);
        }
        total += 1;
    }
    let gateways: BTreeMap<&str, serde_json::Value> = fetched
        .iter()
        .map(|(id, result, at)| (*id, state_of(result, *at)))
        .collect();
    Json(json!({"data": data, "gateways": gateways, "total": total})).into_response()
}

fn state_of(result: &Result<Vec<Model>, String>, fetched_at: u64) -> serde_json::Value {
    match result {
        Ok(models) => json!({"status": "fresh", "count": models.len(),
            "fetched_at": fetched_at, "age_ms": 0, "error": null}),
        Err(e) => json!({"status": "missing", "count": 0,
            "fetched_at": null, "age_ms": null, "error": e}),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn exit(message: &str) -> ! {
    eprintln!("aggregator: {message}");
    std::process::exit(2)
}
