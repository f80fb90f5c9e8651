//! The operator API: stats, runtime config, warm, invalidation. Every route
//! needs `Authorization: Bearer $CACHE_WARMING_SECRET`, and every answer is
//! `{"success": true, "data": …}` (errors: [`ApiError`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{self, Guard};
use super::error::ErrorBody;
use super::warm::{require_warming_on, warm_response};
use super::{ApiError, find_gateway, json_body, select_gateways};
use crate::app::AppState;
use crate::cache::{Freshness, now_ms};
use crate::runtime::{ConfigUpdateError, RuntimeConfig};
use crate::stats::{Counter, StatsReport};
use crate::telemetry::metrics;
use crate::warm::{Trigger, WarmReport, full_selection};

/// How long an invalidation waits for every instance to drop its copy.
const ACK_WAIT: Duration = Duration::from_secs(1);
const ACK_POLL: Duration = Duration::from_millis(5);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(get_config, put_config))
        .routes(routes!(warm))
        .routes(routes!(invalidate))
        .routes(routes!(invalidate_and_warm))
        .routes(routes!(reset_stats))
}

/// The operator API's answer: `{"success": true, "data": …}`.
#[derive(Serialize, ToSchema)]
struct Envelope<T> {
    success: bool,
    data: T,
}

fn ok<T: Serialize>(data: T) -> Json<Envelope<T>> {
    Json(Envelope {
        success: true,
        data,
    })
}

fn guard(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    auth::require(headers, state.secrets.warming.as_ref(), Guard::Warming)
}

/// The counters of every instance sharing the store.
#[utoipa::path(get, path = "/api/cache/stats", tag = "operator", security(("bearer" = [])),
    responses(
        (status = 200, description = "Stats", body = Envelope<StatsReport>),
        (status = 401, description = "Missing or wrong bearer", body = ErrorBody),
        (status = 503, description = "Store unreachable, or CACHE_WARMING_SECRET unset", body = ErrorBody),
    ))]
async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Envelope<StatsReport>>, ApiError> {
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

/// The runtime config in force.
#[utoipa::path(get, path = "/api/cache/config", tag = "operator", security(("bearer" = [])),
    responses(
        (status = 200, description = "Runtime config", body = Envelope<RuntimeConfig>),
        (status = 401, description = "Missing or wrong bearer", body = ErrorBody),
    ))]
async fn get_config(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Envelope<RuntimeConfig>>, ApiError> {
    guard(&state, &headers)?;
    Ok(ok(state.runtime.get()))
}

/// Merges a partial config into the runtime config of every instance.
#[utoipa::path(put, path = "/api/cache/config", tag = "operator", security(("bearer" = [])),
    request_body(content = Object, description = "Some fields of the runtime config, e.g. {\"ttl\":{\"freshMs\":3600000}}"),
    responses(
        (status = 200, description = "The new runtime config", body = Envelope<RuntimeConfig>),
        (status = 400, description = "A bad field (named); nothing changed", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer", body = ErrorBody),
        (status = 503, description = "Store unreachable; nothing changed", body = ErrorBody),
    ))]
async fn put_config(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Envelope<RuntimeConfig>>, ApiError> {
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
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WarmSelection {
    /// `{"<id>": true}` warms those; omitted: the runtime config's `warmGateways`.
    gateways: Option<BTreeMap<String, bool>>,
}

/// Same as `POST /api/cache/warm-models`, with a selection map.
#[utoipa::path(post, path = "/api/cache/warm", tag = "operator", security(("bearer" = [])),
    request_body(content = Option<WarmSelection>, description = "Optional: which gateways"),
    responses(
        (status = 200, description = "The warm's report", body = WarmReport),
        (status = 400, description = "Bad body, or nothing selected", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer", body = ErrorBody),
        (status = 404, description = "Unknown gateway", body = ErrorBody),
        (status = 502, description = "Every gateway failed", body = WarmReport),
        (status = 503, description = "Warming turned off in the runtime config", body = ErrorBody),
    ))]
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
            // Unknown ids are refused even when switched off.
            select_gateways(&state.gateways, map.keys().map(String::as_str))?;
            let on = map.iter().filter(|(_, on)| **on).map(|(id, _)| id.as_str());
            let selection = select_gateways(&state.gateways, on)?;
            if selection.is_empty() {
                return Err(ApiError::BadRequest(
                    "no gateway selected: set at least one to true, or omit \"gateways\" to warm them all".into(),
                ));
            }
            selection
        }
        None => full_selection(&state.gateways, &state.runtime.get()),
    };
    let report = state.warmer.warm(&selection, Trigger::Manual).await;
    Ok(warm_response(report))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InvalidateRequest {
    gateway: String,
}

/// What an invalidation did.
#[derive(Debug, Serialize, ToSchema)]
struct Dropped {
    gateway: String,
    /// Whether the store held an entry.
    dropped: bool,
    /// Other instances told to drop their copy, and how many confirmed.
    instances_notified: u64,
    instances_confirmed: u64,
}

/// Drops a gateway's entry, on every instance, before answering.
#[utoipa::path(post, path = "/api/cache/invalidate", tag = "operator", security(("bearer" = [])),
    request_body = InvalidateRequest,
    responses(
        (status = 200, description = "Dropped", body = Envelope<Dropped>),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer", body = ErrorBody),
        (status = 404, description = "Unknown gateway", body = ErrorBody),
        (status = 503, description = "Store unreachable; nothing dropped", body = ErrorBody),
    ))]
async fn invalidate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Envelope<Dropped>>, ApiError> {
    guard(&state, &headers)?;
    let request: InvalidateRequest = json_body(&body?, "{\"gateway\":\"<id>\"}")?;
    Ok(ok(drop_entry(&state, &request.gateway).await?))
}

/// Drops a gateway's entry everywhere, then fetches it again.
#[utoipa::path(post, path = "/api/cache/invalidate-and-warm", tag = "operator", security(("bearer" = [])),
    request_body = InvalidateRequest,
    responses(
        (status = 200, description = "Dropped and fetched again", body = Envelope<InvalidatedAndWarmed>),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer", body = ErrorBody),
        (status = 404, description = "Unknown gateway", body = ErrorBody),
        (status = 502, description = "Dropped, but the fetch failed", body = ErrorBody),
        (status = 503, description = "Store unreachable, or warming turned off", body = ErrorBody),
    ))]
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
    let answer = InvalidatedAndWarmed {
        invalidated: dropped,
        warm: report,
    };
    Ok(axum::response::IntoResponse::into_response(ok(answer)))
}

#[derive(Serialize, ToSchema)]
struct InvalidatedAndWarmed {
    invalidated: Dropped,
    warm: WarmReport,
}

/// Zeroes the shared counters.
#[utoipa::path(post, path = "/api/cache/reset-stats", tag = "operator", security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"success\":true,\"data\":{\"reset\":true}}`", body = Envelope<Object>),
        (status = 401, description = "Missing or wrong bearer", body = ErrorBody),
        (status = 503, description = "Store unreachable", body = ErrorBody),
    ))]
async fn reset_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Envelope<Value>>, ApiError> {
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
    let dropped = store.invalidate(&gateway.id).await.map_err(store_error)?;
    state.engine.invalidate(&gateway.id);
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
