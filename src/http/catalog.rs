//! The public catalog: every gateway merged, one gateway, one model, and the
//! list of gateways. CORS-enabled, with caching headers.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
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
use super::views::{self, Answer, JsonView, Summary};
use super::{ApiError, find_gateway, select_gateways};
use crate::app::AppState;
use crate::cache::{GatewayView, now_ms};
use crate::catalog;
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

/// What [`cors`] adds to the answer of a request that is not a preflight,
/// for answers replayed before routing ([`super::replay`]): the same
/// headers, so that an answer is the same whichever way it went.
pub fn cors_headers(headers: &mut HeaderMap) {
    use axum::http::HeaderValue;
    headers.append(
        header::VARY,
        HeaderValue::from_static(
            "origin, access-control-request-method, access-control-request-headers",
        ),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("etag,x-cache"),
    );
}

/// The query parameters of the list endpoints (SPEC "Finding models"), for
/// the API document: they are read strictly by [`catalog::Query::parse`].
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct CatalogParams {
    /// `a,b`: offers from these gateways only (404 for an unknown id).
    gateway: Option<String>,
    /// Case-insensitive; every whitespace-separated word must occur in the id or name.
    q: Option<String>,
    /// `openai,meta-llama`: the model's author is one of these.
    author: Option<String>,
    /// `text,image`: accepts every one of these inputs.
    input_modalities: Option<String>,
    /// Produces every one of these outputs.
    output_modalities: Option<String>,
    /// `tools,response_format`: supports every one of these.
    supported_parameters: Option<String>,
    /// `context_length` ≥ this.
    context: Option<u64>,
    /// Prompt price bounds, USD per 1M tokens (an unknown price matches no bound).
    min_price: Option<String>,
    max_price: Option<String>,
    /// Completion price bounds, USD per 1M tokens.
    min_output_price: Option<String>,
    max_output_price: Option<String>,
    /// `true`: prompt and completion price both 0.
    free: Option<bool>,
    /// `name`, `newest`, `pricing-low-to-high`, `pricing-high-to-low`, `context-high-to-low`.
    sort: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    /// `true` adds `facets`: counts over every match by gateway, author, modalities, parameters.
    facets: Option<bool>,
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
    /// With `facets=true`: counts over every match (before paging), by value.
    #[schema(value_type = Option<Object>)]
    facets: Option<()>,
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

pub(super) const CATALOG_HEADERS: &str =
    "ETag, Cache-Control (s-maxage, stale-while-revalidate) and X-Cache: HIT|STALE|MISS";

/// Every gateway's models, merged.
#[utoipa::path(get, path = "/api/models", tag = "catalog", params(CatalogParams),
    responses(
        (status = 200, description = CATALOG_HEADERS, body = Catalog),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "Unknown gateway in `gateway=`", body = ErrorBody),
    ))]
async fn all_models(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let reuse = Reuse::new(&state, "", raw.as_deref(), &headers);
    if let Some(response) = reuse.answer(&state, &headers) {
        return Ok(response);
    }
    let query = models_query(raw.as_deref())?;
    let selected;
    let selection = match &query.gateways {
        Some(ids) => {
            selected = select_gateways(&state.gateways, ids.iter().map(String::as_str))?;
            &selected
        }
        None => &state.gateways.active,
    };
    let scope = match &query.gateways {
        Some(_) => selection
            .iter()
            .map(|g| g.id.as_str())
            .collect::<Vec<_>>()
            .join(","),
        None => "*".to_owned(),
    };
    Ok(catalog_response(&state, selection, query, (&scope, reuse), &headers).await)
}

/// One gateway's models.
#[utoipa::path(get, path = "/api/models/{gateway}", tag = "catalog",
    params(("gateway" = String, Path, description = "Gateway id"), CatalogParams),
    responses(
        (status = 200, description = CATALOG_HEADERS, body = Catalog),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "Unknown gateway", body = ErrorBody),
    ))]
async fn gateway_models(
    State(state): State<AppState>,
    Path(gateway): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let reuse = Reuse::new(&state, &gateway, raw.as_deref(), &headers);
    if let Some(response) = reuse.answer(&state, &headers) {
        return Ok(response);
    }
    let query = models_query(raw.as_deref())?;
    if query.gateways.is_some() {
        return Err(ApiError::BadRequest(
            "gateway: not taken here, the path names the gateway; use /api/models?gateway=a,b for several".into(),
        ));
    }
    let gateway = find_gateway(&state.gateways, &gateway)?;
    let scope = gateway.id.clone();
    Ok(catalog_response(&state, &[gateway], query, (&scope, reuse), &headers).await)
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
    let now = now_ms();
    let gzip = accepts_gzip(&headers);
    // An answer assembled moments ago is reused (and replayed before
    // routing, `super::replay`); else built once for every request asking.
    let answer_key = model_answer_key(&gateway.id, &model, state.engine.generation(), now, gzip);
    let build = one_model_answer(&state, &gateway, &model, now, gzip);
    let stats = state.engine.stats();
    let answer = (state.views)
        .answer_or_build(&answer_key, now, stats, build)
        .await?;
    Ok(answer.respond(&headers))
}

/// `model`'s answer, to keep for reuse: its bytes cached like a page's.
async fn one_model_answer(
    state: &AppState,
    gateway: &Arc<Gateway>,
    model: &str,
    now: u64,
    gzip: bool,
) -> Result<Arc<Answer>, ApiError> {
    let selection = std::slice::from_ref(gateway);
    let snapshot = state.snapshots.read(state, &gateway.id, selection).await;
    let view = &snapshot.views[0];
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
    let cache = snapshot.headers.for_query(model);
    // Shaped as [`OneModel`].
    let key = format!("model|{}|{}|{model}", gateway.id, entry.revision);
    let models = Arc::clone(&entry.models);
    let source: views::Source = Box::new(move || JsonView::of_one(&models[index]));
    let state_json = serde_json::to_string(&GatewayState::of(view, now))
        .expect("BUG: a gateway state serialises");
    let tail = |_: &Summary| format!(",\"gateway\":{state_json}}}");
    let answer = spliced(state, gzip, &key, source, tail, cache).await;
    let answer = answer.reusable(snapshot.valid_until, Arc::clone(&snapshot.reads));
    Ok(Arc::new(answer))
}

/// `{"data":<cached view><tail>`, gzip-encoded or not.
async fn spliced(
    state: &AppState,
    gzip: bool,
    key: &str,
    source: views::Source,
    tail: impl FnOnce(&Summary) -> String,
    cache: CacheHeaders,
) -> Answer {
    spliced_in(state, views::head(), gzip, key, source, tail, cache).await
}

/// `<head><cached view><tail>`, gzip-encoded or not.
pub(super) async fn spliced_in(
    state: &AppState,
    head: &'static [u8],
    gzip: bool,
    key: &str,
    source: views::Source,
    tail: impl FnOnce(&Summary) -> String,
    cache: CacheHeaders,
) -> Answer {
    if gzip {
        let page = state.views.gzip(key, source).await;
        let parts = views::gzip_parts(head, &page, tail(&page.summary).as_bytes());
        Answer::new(parts.to_vec(), true, cache)
    } else {
        let page = state.views.json(key, source).await;
        let head = Bytes::from_static(head);
        let parts = vec![head, page.data.clone(), Bytes::from(tail(&page.summary))];
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

/// Where a list's answer is kept for reuse: by path and raw query, so that
/// the hot path — an answer assembled moments ago from the same state —
/// costs a lookup, before the query is even parsed (an answer is only ever
/// kept for a query that parsed).
struct Reuse {
    key: String,
    now: u64,
    gzip: bool,
}

impl Reuse {
    fn new(state: &AppState, gateway: &str, raw: Option<&str>, headers: &HeaderMap) -> Self {
        let now = now_ms();
        let gzip = accepts_gzip(headers);
        let key = list_answer_key(gateway, raw, state.engine.generation(), now, gzip);
        Self { key, now, gzip }
    }

    fn answer(&self, state: &AppState, headers: &HeaderMap) -> Option<Response> {
        let answer = state.views.answer(&self.key, self.now)?;
        answer.count_reads(state.engine.stats());
        Some(answer.respond(headers))
    }
}

/// Where a list's answer is kept: by the gateway in its path (`""` for
/// every gateway), the raw query, and the moment it holds for. The front
/// door ([`super::replay`]) looks answers up by the same key.
pub(super) fn list_answer_key(
    gateway: &str,
    raw: Option<&str>,
    generation: u64,
    now: u64,
    gzip: bool,
) -> String {
    let slot = now / views::ANSWER_TTL_MS;
    format!(
        "list|{gateway}?{}|{generation}|{slot}|{gzip}",
        raw.unwrap_or_default()
    )
}

/// Where one model's answer is kept (see [`list_answer_key`]).
pub(super) fn model_answer_key(
    gateway: &str,
    model: &str,
    generation: u64,
    now: u64,
    gzip: bool,
) -> String {
    let slot = now / views::ANSWER_TTL_MS;
    format!("model|{gateway}|{model}|{generation}|{slot}|{gzip}")
}

/// A catalog answer: the page of models comes from the views cache (built
/// once per query and entry versions, from the entries' indexes), spliced
/// with a fresh `gateways` state, and kept for reuse. `selection_scope`
/// names the selection (its read is shared for a moment by every query over
/// it).
async fn catalog_response(
    state: &AppState,
    selection: &[Arc<Gateway>],
    mut query: catalog::Query,
    (selection_scope, reuse): (&str, Reuse),
    headers: &HeaderMap,
) -> Response {
    let build = async {
        let snapshot = state
            .snapshots
            .read(state, selection_scope, selection)
            .await;
        query.clamp_paging(snapshot.available);
        let query_key = query.key();
        let key = format!("{query_key}{}", snapshot.versions);
        let cache = snapshot.headers.for_query(&query_key);
        let segments = snapshot
            .search_segments(state, selection_scope == "*")
            .await;
        let source = page_source(segments, query);
        let tail = |summary: &Summary| list_tail(&snapshot.states, summary);
        let answer = spliced(state, reuse.gzip, &key, source, tail, cache).await;
        let answer = answer.reusable(snapshot.valid_until, Arc::clone(&snapshot.reads));
        Ok::<_, std::convert::Infallible>(Arc::new(answer))
    };
    let stats = state.engine.stats();
    let Ok(answer) = (state.views)
        .answer_or_build(&reuse.key, reuse.now, stats, build)
        .await;
    answer.respond(headers)
}

/// `,"gateways":…,"total":N[,"facets":…]}`: what follows a list's `data`.
pub(super) fn list_tail(states: &str, summary: &Summary) -> String {
    let mut tail = format!(",\"gateways\":{states},\"total\":{}", summary.total);
    if let Some(facets) = &summary.facets {
        tail.push_str(",\"facets\":");
        tail.push_str(std::str::from_utf8(facets).expect("BUG: facets are JSON"));
    }
    tail.push('}');
    tail
}

/// Builds the page off the request path: the query over the entries'
/// indexes (each built once per entry version), then serialised.
fn page_source(segments: super::snapshot::Segments, query: catalog::Query) -> views::Source {
    Box::new(move || {
        let segments: Vec<(&str, _)> = segments
            .iter()
            .map(|(g, s)| (g.as_str(), Arc::clone(s)))
            .collect();
        let found = catalog::search(&segments, &query);
        let facets = found
            .facets
            .as_ref()
            .map(|f| Bytes::from(serde_json::to_vec(f).expect("BUG: facets serialise")));
        let summary = Summary {
            total: found.total,
            facets,
        };
        JsonView::of(&found.page, summary)
    })
}

/// The query of `/api/models`: offers are listed one by one there.
fn models_query(raw: Option<&str>) -> Result<catalog::Query, ApiError> {
    let query = parse_query(raw)?;
    if query.sort == Some(catalog::Sort::Offers) {
        return Err(ApiError::BadRequest(
            "sort: offers orders the unified catalog (/api/catalog); here each offer is listed on its own"
                .into(),
        ));
    }
    Ok(query)
}

/// The query string, read strictly (a bad one is a 400 naming the parameter).
pub(super) fn parse_query(raw: Option<&str>) -> Result<catalog::Query, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("unreadable query string: {e}")))?;
    catalog::Query::parse(&pairs).map_err(|e| ApiError::BadRequest(e.to_string()))
}

pub(super) fn not_modified(cache: &CacheHeaders) -> Response {
    with_cache_headers(StatusCode::NOT_MODIFIED.into_response(), cache)
}

fn with_cache_headers(mut response: Response, cache: &CacheHeaders) -> Response {
    cache.apply(response.headers_mut());
    response
}
