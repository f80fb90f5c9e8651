//! The public catalog: every gateway merged, one gateway, one model, and the
//! list of gateways. CORS-enabled, with caching headers.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

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
use super::negotiate::accepts_gzip;
use super::views::{self, Answer, JsonView};
use super::{ApiError, find_gateway, select_gateways};
use crate::app::AppState;
use crate::cache::{GatewayView, ReadOutcome, now_ms};
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
    /// Tells apart the answers to different queries (the hot-path key).
    fn fingerprint(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}",
            self.gateway, self.q, self.limit, self.offset
        )
    }
}

/// The page a query asks for, in its one canonical form: queries that
/// select the same models share it, so they share one cached view (`q` is
/// matched case-insensitively and trimmed; an `offset` past the end is the
/// end; a `limit` reaching past the end is no limit).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Page {
    needle: Option<String>,
    offset: usize,
    limit: Option<usize>,
}

impl Page {
    /// `query`'s page over `available` models (before filtering).
    fn of(query: &CatalogQuery, available: usize) -> Self {
        let needle = query
            .q
            .as_deref()
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty());
        let offset = query.offset.unwrap_or(0).min(available);
        let limit = query.limit.filter(|&l| l < available - offset);
        Self {
            needle,
            offset,
            limit,
        }
    }

    fn key(&self) -> String {
        format!("{:?}|{}|{:?}", self.needle, self.offset, self.limit)
    }
}

/// The catalog: models of every selected gateway, and each gateway's state.
/// Answers are spliced from cached views ([`catalog_response`]); this type
/// gives their shape to the API document.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
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
    let selected;
    let selection = match query.gateway.as_deref().filter(|l| !l.trim().is_empty()) {
        Some(list) => {
            selected = select_gateways(&state.gateways, list.split(','))?;
            &selected
        }
        None => &state.gateways.active,
    };
    Ok(catalog_response(&state, selection, &query, "*", &headers).await)
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
    let scope = gateway.id.clone();
    Ok(catalog_response(&state, &[gateway], &query, &scope, &headers).await)
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
    let Some(index) = entry.models.iter().position(|m| m.id == model) else {
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
    // Shaped as [`OneModel`]: the model's bytes are cached like a page.
    let key = format!("model|{}|{}|{model}", gateway.id, entry.fetched_at);
    let models = Arc::clone(&entry.models);
    let source: views::Source = Box::new(move || JsonView::of_one(&models[index]));
    let state_json = serde_json::to_string(&GatewayState::of(view, now))
        .expect("BUG: a gateway state serialises");
    let tail = |_| format!(",\"gateway\":{state_json}}}");
    let gzip = accepts_gzip(&headers);
    let answer = spliced(&state, gzip, &key, source, tail, cache).await;
    Ok(answer.respond(&headers))
}

/// `{"data":<cached view><tail>`, gzip-encoded or not.
async fn spliced(
    state: &AppState,
    gzip: bool,
    key: &str,
    source: views::Source,
    tail: impl FnOnce(usize) -> String,
    cache: CacheHeaders,
) -> Answer {
    if gzip {
        let page = state.views.gzip(key, source).await;
        let parts = views::gzip_parts(views::head(), &page, tail(page.total).as_bytes());
        Answer::new(parts.to_vec(), true, cache)
    } else {
        let page = state.views.json(key, source).await;
        let head = Bytes::from_static(views::head());
        let parts = vec![head, page.data.clone(), Bytes::from(tail(page.total))];
        Answer::new(parts, false, cache)
    }
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

/// A catalog answer: the page of models comes from the views cache (built
/// once per query and entry versions), spliced with a fresh `gateways` state.
async fn catalog_response(
    state: &AppState,
    selection: &[Arc<Gateway>],
    query: &CatalogQuery,
    scope: &str,
    headers: &HeaderMap,
) -> Response {
    let now = now_ms();
    let fingerprint = query.fingerprint();
    let gzip = accepts_gzip(headers);
    // The hot path: an answer assembled moments ago from the same state.
    let generation = state.engine.generation();
    let answer_key = format!(
        "{scope}|{fingerprint}|{generation}|{}|{gzip}",
        now / views::ANSWER_TTL_MS
    );
    if let Some(answer) = state.views.answer(&answer_key, now) {
        answer.count_reads(state.engine.stats());
        return answer.respond(headers);
    }
    let views = state.engine.read(selection).await;
    let views = &views[..];
    let available = views
        .iter()
        .filter_map(|v| v.entry.as_ref())
        .map(|e| e.models.len())
        .sum();
    let page = Page::of(query, available);
    let page_key = page.key();
    let key = view_key(&page_key, views);
    let cache = CacheHeaders::new(views, now, &page_key);
    if cache.not_modified(headers) {
        return not_modified(&cache);
    }
    let source = page_source(views, page);
    let states: BTreeMap<&str, GatewayState> = views
        .iter()
        .map(|v| (v.gateway.id.as_str(), GatewayState::of(v, now)))
        .collect();
    let states = serde_json::to_string(&states).expect("BUG: gateway states serialise");
    let tail = |total: usize| format!(",\"gateways\":{states},\"total\":{total}}}");
    let answer = spliced(state, gzip, &key, source, tail, cache).await;
    let answer = Arc::new(answer.reusable(valid_until(views, now), reads(views)));
    state.views.keep_answer(answer_key, Arc::clone(&answer));
    answer.respond(headers)
}

/// Until when an answer assembled `now` may be reused: the end of its time
/// slot, or sooner when an entry in it turns stale or expires.
fn valid_until(views: &[GatewayView], now: u64) -> u64 {
    let slot_end = (now / views::ANSWER_TTL_MS + 1) * views::ANSWER_TTL_MS;
    views
        .iter()
        .filter_map(|v| v.entry.as_ref())
        .map(|e| {
            if now < e.fresh_until {
                e.fresh_until
            } else {
                e.stale_until
            }
        })
        .fold(slot_end, u64::min)
}

/// Each gateway's read outcome, counted again whenever the answer is reused.
fn reads(views: &[GatewayView]) -> Vec<(String, ReadOutcome)> {
    views
        .iter()
        .map(|v| (v.gateway.id.clone(), v.outcome))
        .collect()
}

/// What a page depends on: the page asked for and each entry's version.
fn view_key(page: &str, views: &[GatewayView]) -> String {
    use std::fmt::Write;
    let mut key = String::with_capacity(page.len() + views.len() * 24);
    key.push_str(page);
    for view in views {
        let version = view.entry.as_ref().map_or(0, |e| e.fetched_at);
        let _ = write!(key, "|{}={version}", view.gateway.id);
    }
    key
}

/// Builds the page off the request path: filter by `q`, then `offset`/`limit`.
fn page_source(views: &[GatewayView], page: Page) -> views::Source {
    let lists: Vec<_> = views
        .iter()
        .filter_map(|v| v.entry.as_ref().map(|e| Arc::clone(&e.models)))
        .collect();
    let Page {
        needle,
        offset,
        limit,
    } = page;
    let limit = limit.unwrap_or(usize::MAX);
    Box::new(move || {
        let matches = lists
            .iter()
            .flat_map(|list| list.iter())
            .filter(|m| needle.as_deref().is_none_or(|n| m.matches(n)));
        let mut total = 0;
        let mut page = Vec::new();
        for model in matches {
            if total >= offset && page.len() < limit {
                page.push(model);
            }
            total += 1;
        }
        JsonView::of(&page, total)
    })
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
