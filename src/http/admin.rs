//! The operator API: stats, runtime config, warm, invalidation. Every route
//! needs `Authorization: Bearer $CACHE_WARMING_SECRET`, and every answer is
//! `{"success": true, "data": …}` (errors: [`ApiError`]).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::{self, Guard};
use super::warm::{require_warming_on, warm_response};
use super::{ApiError, find_gateway, json_body, select_gateways};
use crate::app::AppState;
use crate::cache::{Freshness, now_ms};
use crate::runtime::ConfigUpdateError;
use crate::stats::Counter;
use crate::telemetry::metrics;
use crate::warm::{Trigger, full_selection};

/// How long an invalidation waits for every instance to drop its copy.
const ACK_WAIT: Duration = Duration::from_secs(1);
const ACK_POLL: Duration = Duration::from_millis(5);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/cache/stats", get(stats))
        .route("/api/cache/config", get(get_config).put(put_config))
        .route("/api/cache/warm", post(warm))
        .route("/api/cache/invalidate", post(invalidate))
        .route("/api/cache/invalidate-and-warm", post(invalidate_and_warm))
        .route("/api/cache/reset-stats", post(reset_stats))
}

/// `{"success": true, "data": data}`.
fn ok(data: impl Serialize) -> Json<Value> {
    Json(json!({"success": true, "data": data}))
}

fn guard(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    auth::require(headers, state.secrets.warming.as_ref(), Guard::Warming)
}

async fn stats(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    guard(&state, &headers)?;
    let now = now_ms();
    let items_cached: BTreeMap<String, usize> = state
        .engine
        .inspect(&state.gateways.active)
        .await
        .into_iter()
        .map(|v| {
            let live = v.entry.filter(|e| e.freshness(now) != Freshness::Expired);
            (v.gateway.id.clone(), live.map_or(0, |e| e.models.len()))
        })
        .collect();
    let report = state
        .engine
        .stats()
        .report(items_cached)
        .await
        .map_err(store_error)?;
    Ok(ok(report))
}

async fn get_config(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    guard(&state, &headers)?;
    Ok(ok(state.runtime.get()))
}

async fn put_config(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    guard(&state, &headers)?;
    let patch: Value = json_body(
        &body?,
        "a JSON object, e.g. {\"ttl\":{\"freshMs\":3600000}}",
    )?;
    let store = state.engine.store().as_ref();
    let config = state
        .runtime
        .update(store, patch)
        .await
        .map_err(|e| match e {
            ConfigUpdateError::Invalid(why) => {
                ApiError::BadRequest(format!("{why}; nothing was changed"))
            }
            ConfigUpdateError::Store(e) => store_error(e),
        })?;
    state.engine.set_ttl(config.ttl.ttl());
    Ok(ok(config))
}

/// Optional body of `POST /api/cache/warm`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarmSelection {
    /// `{"<id>": true}` warms those; omitted: the runtime config's `warmGateways`.
    gateways: Option<HashMap<String, bool>>,
}

/// Same as `POST /api/cache/warm-models`, with a selection map.
async fn warm(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    guard(&state, &headers)?;
    let request: WarmSelection = optional_body(&body?, "{\"gateways\":{\"<id>\":true}}")?;
    require_warming_on(&state)?;
    let selection = match request.gateways {
        Some(map) => {
            let mut ids: Vec<&str> = map
                .iter()
                .filter(|(_, on)| **on)
                .map(|(id, _)| id.as_str())
                .collect();
            // Unknown ids are refused even when switched off.
            select_gateways(&state.gateways, map.keys().map(String::as_str))?;
            ids.sort_unstable();
            if ids.is_empty() {
                return Err(ApiError::BadRequest(
                    "no gateway selected: set at least one to true, or omit \"gateways\" to warm them all".into(),
                ));
            }
            select_gateways(&state.gateways, ids)?
        }
        None => full_selection(&state.gateways, &state.runtime.get()),
    };
    let report = state.warmer.warm(&selection, Trigger::Manual).await;
    Ok(warm_response(report))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidateRequest {
    gateway: String,
}

/// What an invalidation did.
#[derive(Debug, Serialize)]
struct Dropped {
    gateway: String,
    /// Whether the store held an entry.
    dropped: bool,
    /// Other instances told to drop their copy, and how many confirmed.
    instances_notified: u64,
    instances_confirmed: u64,
}

async fn invalidate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    guard(&state, &headers)?;
    let request: InvalidateRequest = json_body(&body?, "{\"gateway\":\"<id>\"}")?;
    Ok(ok(drop_entry(&state, &request.gateway).await?))
}

async fn invalidate_and_warm(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    guard(&state, &headers)?;
    let request: InvalidateRequest = json_body(&body?, "{\"gateway\":\"<id>\"}")?;
    require_warming_on(&state)?;
    let gateway = find_gateway(&state.gateways, &request.gateway)?;
    let dropped = drop_entry(&state, &gateway.id).await?;
    let report = state.warmer.warm(&[gateway], Trigger::Manual).await;
    if report.all_failed() {
        let why = report
            .gateways
            .values()
            .find_map(|g| g.error.clone())
            .unwrap_or_default();
        return Err(ApiError::BadGateway(format!(
            "dropped {:?}, but fetching it again failed: {why}",
            dropped.gateway
        )));
    }
    Ok(axum::response::IntoResponse::into_response(ok(json!({
        "invalidated": dropped,
        "warm": report,
    }))))
}

async fn reset_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    guard(&state, &headers)?;
    state.engine.stats().reset().await.map_err(store_error)?;
    Ok(ok(json!({"reset": true})))
}

/// Drops `gateway`'s entry from the store and from every instance's memory:
/// answers once every instance that heard the notice confirmed (or after
/// [`ACK_WAIT`]).
async fn drop_entry(state: &AppState, id: &str) -> Result<Dropped, ApiError> {
    let gateway = find_gateway(&state.gateways, id)?;
    let store = state.engine.store();
    let dropped = store.delete(&gateway.id).await.map_err(store_error)?;
    state.engine.forget(&gateway.id);
    state.engine.stats().count(Counter::InvalidationCount);
    metrics::invalidated(&gateway.id);
    let nonce = format!("{:032x}", rand::random::<u128>());
    let notified = store.notify_dropped(&gateway.id, &nonce).await.unwrap_or(0);
    let deadline = Instant::now() + ACK_WAIT;
    let mut confirmed = 0;
    while notified > 0 && Instant::now() < deadline {
        confirmed = store.acknowledgements(&nonce).await.unwrap_or(0);
        if confirmed >= notified {
            break;
        }
        tokio::time::sleep(ACK_POLL).await;
    }
    tracing::info!(gateway = %gateway.id, dropped, notified, confirmed, "invalidated");
    Ok(Dropped {
        gateway: gateway.id.clone(),
        dropped,
        instances_notified: notified,
        instances_confirmed: confirmed,
    })
}

/// An empty body is the default request.
fn optional_body<T: Default + serde::de::DeserializeOwned>(
    body: &Bytes,
    expected: &str,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json_body(body, expected)
}

fn store_error(e: crate::store::StoreError) -> ApiError {
    ApiError::NotReady(format!("{e}; nothing was changed, try again"))
}
