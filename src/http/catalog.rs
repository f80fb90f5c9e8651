//! The public catalog: every gateway merged, one gateway, one model, and the
//! list of gateways. CORS-enabled, with caching headers.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tower_http::cors::{Any, CorsLayer};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caching::{CacheHeaders, X_CACHE};
use super::error::ErrorBody;
use super::gateway_state::GatewayState;
use super::{ApiError, find_gateway, select_gateways};
use crate::app::AppState;
use crate::cache::{GatewayView, now_ms};
use crate::gateways::{Gateway, Model};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(all_models))
        .routes(routes!(gateway_models))
        .routes(routes!(list_gateways))
        // Model ids contain `/`: axum needs a wildcard, which OpenAPI cannot
        // spell, so this route is documented as `{model}` and routed by hand.
        .route("/api/models/{gateway}/{*model}", get(one_model))
}

/// The hand-routed paths' documentation (see [`routes`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(one_model))]
pub struct HandRouted;

/// Any origin may read the catalog: it is public, and no cookies are involved.
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers([header::ETAG, X_CACHE])
        .max_age(std::time::Duration::from_secs(86400))
}

/// Query of the list endpoints. Unknown parameters (cache busters) are ignored.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CatalogQuery {
    /// `a,b`: a subset of gateways.
    gateway: Option<String>,
    /// Case-insensitive substring of id or name.
    q: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

impl CatalogQuery {
    fn fingerprint(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}",
            self.gateway, self.q, self.limit, self.offset
        )
    }
}

/// The catalog: models of every selected gateway, and each gateway's state.
#[derive(Serialize, ToSchema)]
struct Catalog<'a> {
    data: Vec<&'a Model>,
    gateways: BTreeMap<&'a str, GatewayState<'a>>,
    /// Matches before paging.
    total: usize,
}

/// One model, and its gateway's state.
#[derive(Serialize, ToSchema)]
struct OneModel<'a> {
    data: &'a Model,
    gateway: GatewayState<'a>,
}

/// The configured gateways, and those skipped (with why).
#[derive(Serialize, ToSchema)]
struct GatewayList<'a> {
    data: Vec<GatewayInfo<'a>>,
    skipped: Vec<SkippedInfo<'a>>,
}

#[derive(Serialize, ToSchema)]
struct GatewayInfo<'a> {
    id: &'a str,
    /// The adapter: `openai`, `openrouter`, `static`…
    kind: &'static str,
    /// Where the list is read from (never includes a key).
    source: String,
    timeout_ms: u64,
    cache: GatewayState<'a>,
    fresh_until: Option<u64>,
    stale_until: Option<u64>,
}

#[derive(Serialize, ToSchema)]
struct SkippedInfo<'a> {
    id: &'a str,
    kind: &'a str,
    reason: &'a str,
}

const CATALOG_HEADERS: &str =
    "ETag, Cache-Control (s-maxage, stale-while-revalidate) and X-Cache: HIT|STALE|MISS";

/// Every gateway's models, merged.
#[utoipa::path(get, path = "/api/models", tag = "catalog", params(CatalogQuery),
    responses(
        (status = 200, description = CATALOG_HEADERS, body = Catalog),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "Unknown gateway in `gateway=`", body = ErrorBody),
    ))]
async fn all_models(
    State(state): State<AppState>,
    query: Result<Query<CatalogQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(bad_query)?;
    // `gateway=` (empty) means every gateway, as its absence does.
    let selection = match query.gateway.as_deref().filter(|l| !l.trim().is_empty()) {
        Some(list) => select_gateways(&state.gateways, list.split(','))?,
        None => state.gateways.active.clone(),
    };
    let views = state.engine.read(&selection).await;
    Ok(catalog_response(&views, &query, &headers))
}

/// One gateway's models.
#[utoipa::path(get, path = "/api/models/{gateway}", tag = "catalog",
    params(("gateway" = String, Path, description = "Gateway id"), CatalogQuery),
    responses(
        (status = 200, description = CATALOG_HEADERS, body = Catalog),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "Unknown gateway", body = ErrorBody),
    ))]
async fn gateway_models(
    State(state): State<AppState>,
    Path(gateway): Path<String>,
    query: Result<Query<CatalogQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(bad_query)?;
    let gateway = find_gateway(&state.gateways, &gateway)?;
    let views = state.engine.read(&[gateway]).await;
    Ok(catalog_response(&views, &query, &headers))
}

/// One model by id (ids may contain `/`).
#[utoipa::path(get, path = "/api/models/{gateway}/{model}", tag = "catalog",
    params(
        ("gateway" = String, Path, description = "Gateway id"),
        ("model" = String, Path, description = "Model id, slashes included"),
    ),
    responses(
        (status = 200, description = CATALOG_HEADERS, body = OneModel),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "Unknown gateway or model", body = ErrorBody),
        (status = 502, description = "Nothing cached and the upstream failed", body = ErrorBody),
    ))]
async fn one_model(
    State(state): State<AppState>,
    Path((gateway, model)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let gateway = find_gateway(&state.gateways, &gateway)?;
    let views = state.engine.read(std::slice::from_ref(&gateway)).await;
    let view = &views[0];
    let Some(entry) = &view.entry else {
        let why = view.error.as_deref().unwrap_or("nothing cached yet");
        return Err(ApiError::BadGateway(format!(
            "no models cached for gateway {:?}: {why}",
            gateway.id
        )));
    };
    let Some(found) = entry.models.iter().find(|m| m.id == model) else {
        return Err(ApiError::NotFound(format!(
            "no model {model:?} in gateway {:?}",
            gateway.id
        )));
    };
    let now = now_ms();
    let cache = CacheHeaders::new(&views, now, &model);
    if cache.not_modified(&headers) {
        return Ok(not_modified(&cache));
    }
    let body = OneModel {
        data: found,
        gateway: GatewayState::of(view, now),
    };
    Ok(with_cache_headers(Json(body).into_response(), &cache))
}

/// The configured gateways and their cache state (no fetch, no revalidation).
#[utoipa::path(get, path = "/api/gateways", tag = "catalog",
    responses((status = 200, description = "Gateways", body = GatewayList)))]
async fn list_gateways(State(state): State<AppState>) -> Response {
    let now = now_ms();
    let views = state.engine.inspect(&state.gateways.active).await;
    let data = views.iter().map(|v| describe(&v.gateway, v, now)).collect();
    let skipped = state
        .gateways
        .skipped
        .iter()
        .map(|s| SkippedInfo {
            id: &s.id,
            kind: &s.kind,
            reason: &s.reason,
        })
        .collect();
    Json(GatewayList { data, skipped }).into_response()
}

fn describe<'a>(gateway: &'a Gateway, view: &'a GatewayView, now: u64) -> GatewayInfo<'a> {
    let entry = view.entry.as_ref();
    GatewayInfo {
        id: &gateway.id,
        kind: gateway.kind.as_str(),
        source: gateway.location(),
        timeout_ms: gateway.timeout.as_millis() as u64,
        cache: GatewayState::of(view, now),
        fresh_until: entry.map(|e| e.fresh_until),
        stale_until: entry.map(|e| e.stale_until),
    }
}

fn catalog_response(views: &[GatewayView], query: &CatalogQuery, headers: &HeaderMap) -> Response {
    let now = now_ms();
    let cache = CacheHeaders::new(views, now, &query.fingerprint());
    if cache.not_modified(headers) {
        return not_modified(&cache);
    }
    let body = Json(catalog(views, query, now)).into_response();
    with_cache_headers(body, &cache)
}

fn catalog<'a>(views: &'a [GatewayView], query: &CatalogQuery, now: u64) -> Catalog<'a> {
    let needle = query
        .q
        .as_deref()
        .map(str::to_lowercase)
        .filter(|q| !q.is_empty());
    let matches = views
        .iter()
        .filter_map(|v| v.entry.as_ref())
        .flat_map(|e| e.models.iter())
        .filter(|m| needle.as_deref().is_none_or(|n| m.matches(n)));
    let mut total = 0;
    let offset = query.offset.unwrap_or(0);
    let limit = query.limit.unwrap_or(usize::MAX);
    let mut data = Vec::new();
    for model in matches {
        if total >= offset && data.len() < limit {
            data.push(model);
        }
        total += 1;
    }
    let gateways = views
        .iter()
        .map(|v| (v.gateway.id.as_str(), GatewayState::of(v, now)))
        .collect();
    Catalog {
        data,
        gateways,
        total,
    }
}

fn not_modified(cache: &CacheHeaders) -> Response {
    with_cache_headers(StatusCode::NOT_MODIFIED.into_response(), cache)
}

fn with_cache_headers(mut response: Response, cache: &CacheHeaders) -> Response {
    cache.apply(response.headers_mut());
    response
}

fn bad_query(rejection: QueryRejection) -> ApiError {
    ApiError::BadRequest(format!(
        "{}; limit and offset take non-negative integers",
        rejection.body_text()
    ))
}
