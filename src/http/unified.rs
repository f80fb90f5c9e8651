//! The unified catalog: one record per model with every gateway's offer
//! (`/api/catalog`, `/api/catalog/<id>`), and the same catalog in the list
//! shapes existing clients read: OpenAI's (`/v1/models`) and OpenRouter's
//! (`/api/v1/models`). Each takes the query parameters of the model lists
//! and answers from the views cache like them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::catalog::{list_tail, not_modified, parse_query, spliced_in};
use super::error::ErrorBody;
use super::negotiate::accepts_gzip;
use super::views::{self, JsonView, Summary};
use super::{ApiError, select_gateways};
use crate::app::AppState;
use crate::cache::now_ms;
use crate::catalog::unified::{Match, Offer, Unified};
use crate::catalog::{self, Versioned};
use crate::gateways::Model;
use crate::gateways::model::{Architecture, Pricing, TopProvider};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(unified_catalog))
        .routes(routes!(openai_list))
        .routes(routes!(openrouter_list))
        // Ids contain `/`: routed by hand, documented as `{id}`.
        .route("/api/catalog/{*id}", get(one_unified))
}

/// The hand-routed paths' documentation (see [`routes`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(one_unified))]
pub struct HandRouted;

/// Which list shape an answer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"data":[UnifiedModel…],"gateways":{…},"total":N}`.
    Catalog,
    /// `{"object":"list","data":[{"id","object":"model","created","owned_by"}]}`.
    OpenAi,
    /// `{"data":[OpenRouter record…]}`.
    OpenRouter,
}

impl Shape {
    fn head(self) -> &'static [u8] {
        match self {
            Shape::OpenAi => b"{\"object\":\"list\",\"data\":",
            Shape::Catalog | Shape::OpenRouter => views::head(),
        }
    }
}

/// One model, with every gateway's offer (cheapest first).
#[derive(Serialize, ToSchema)]
struct UnifiedModel<'a> {
    /// Canonical, lowercase `author/slug`.
    id: &'a str,
    author: Option<&'a str>,
    name: Option<&'a str>,
    description: Option<&'a str>,
    /// The earliest any offer gives.
    created: Option<i64>,
    /// The largest of the offers'.
    context_length: Option<u64>,
    /// Union of the offers' modalities.
    architecture: Option<&'a Architecture>,
    supported_parameters: Option<&'a [String]>,
    /// When the first offer was first seen (ms); kept once changes are recorded.
    first_seen: Option<u64>,
    offers: Vec<OfferJson<'a>>,
    /// The offer with the lowest prompt + completion price; null when none has one.
    cheapest: Option<Cheapest<'a>>,
}

#[derive(Serialize, ToSchema)]
struct OfferJson<'a> {
    gateway: &'a str,
    /// Exactly what to send as `model` to that gateway.
    id: &'a str,
    /// `free`, `thinking`… from OpenRouter's `:variant` suffix.
    variant: Option<&'a str>,
    /// Why it is grouped here: `canonical`, `hugging_face_id`, `alias`, `normalized`.
    #[serde(rename = "match")]
    #[schema(value_type = String)]
    matched: Match,
    pricing: Option<&'a Pricing>,
    context_length: Option<u64>,
    max_completion_tokens: Option<u64>,
    /// `fresh` or `stale`.
    status: &'a str,
    first_seen: Option<u64>,
}

#[derive(Serialize, ToSchema)]
struct Cheapest<'a> {
    gateway: &'a str,
    id: &'a str,
    prompt: Option<&'a str>,
    completion: Option<&'a str>,
}

/// OpenAI's list record.
#[derive(Serialize, ToSchema)]
struct OpenAiModel<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    owned_by: &'a str,
}

/// OpenRouter's list record, priced at the cheapest offer.
#[derive(Serialize, ToSchema)]
struct OpenRouterModel<'a> {
    id: &'a str,
    canonical_slug: &'a str,
    name: &'a str,
    created: i64,
    description: &'a str,
    context_length: Option<u64>,
    /// Objects always, as OpenRouter gives them (their fields null when unknown).
    architecture: Cow<'a, Architecture>,
    pricing: Cow<'a, Pricing>,
    top_provider: Cow<'a, TopProvider>,
    /// Empty when unknown, as OpenRouter gives it.
    supported_parameters: &'a [String],
    hugging_face_id: Option<&'a str>,
    /// Never known here: null, as OpenRouter gives it for most models.
    per_request_limits: Option<()>,
}

/// `/api/catalog`'s answer (spliced from cached views; this type gives its
/// shape to the API document).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct UnifiedCatalog<'a> {
    data: Vec<UnifiedModel<'a>>,
    /// Each gateway's state, as in `/api/models`.
    #[schema(value_type = Object)]
    gateways: (),
    /// Matches before paging.
    total: usize,
    /// With `facets=true`: counts over every match, by value.
    #[schema(value_type = Option<Object>)]
    facets: Option<()>,
}

/// `/api/catalog/<id>`'s answer.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct OneUnified<'a> {
    data: UnifiedModel<'a>,
    #[schema(value_type = Object)]
    gateways: (),
}

/// OpenAI's list: `{"object":"list","data":[…]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct OpenAiList<'a> {
    object: &'static str,
    data: Vec<OpenAiModel<'a>>,
}

/// OpenRouter's list: `{"data":[…]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct OpenRouterList<'a> {
    data: Vec<OpenRouterModel<'a>>,
}

use super::catalog::CATALOG_HEADERS as HEADERS;

/// Every model once, with every gateway's offer.
#[utoipa::path(get, path = "/api/catalog", tag = "catalog",
    params(super::catalog::CatalogParams),
    responses(
        (status = 200, description = HEADERS, body = UnifiedCatalog),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "Unknown gateway in `gateway=`", body = ErrorBody),
    ))]
async fn unified_catalog(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list(state, raw, headers, Shape::Catalog).await
}

/// OpenAI's `/v1/models` over the unified catalog (canonical ids).
#[utoipa::path(get, path = "/v1/models", tag = "catalog",
    params(super::catalog::CatalogParams),
    responses(
        (status = 200, description = HEADERS, body = OpenAiList),
        (status = 400, description = "Bad query", body = ErrorBody),
    ))]
async fn openai_list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list(state, raw, headers, Shape::OpenAi).await
}

/// OpenRouter's `/api/v1/models` over the unified catalog.
#[utoipa::path(get, path = "/api/v1/models", tag = "catalog",
    params(super::catalog::CatalogParams),
    responses(
        (status = 200, description = HEADERS, body = OpenRouterList),
        (status = 400, description = "Bad query", body = ErrorBody),
    ))]
async fn openrouter_list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list(state, raw, headers, Shape::OpenRouter).await
}

/// One model of the unified catalog, by canonical id, offer id or alias.
#[utoipa::path(get, path = "/api/catalog/{id}", tag = "catalog",
    params(("id" = String, Path, description = "A canonical id, an offer's own id, or an alias (slashes included)")),
    responses(
        (status = 200, description = HEADERS, body = OneUnified),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No model has that id", body = ErrorBody),
    ))]
async fn one_unified(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let snapshot = state
        .snapshots
        .read(&state, "*", &state.gateways.active)
        .await;
    let catalog = snapshot.unified(&state).await;
    let Some(position) = catalog.unified.find(&id, &state.aliases) else {
        return Err(ApiError::NotFound(format!(
            "no model {id:?} in the catalog: give a canonical id (author/slug), an offer's id or an alias"
        )));
    };
    let statuses = Arc::clone(&snapshot.statuses);
    let key = format!("unified-one|{position}|{statuses:?}{}", snapshot.versions);
    let cache = snapshot.headers.for_query(&key);
    if cache.not_modified(&headers) {
        return Ok(not_modified(&cache));
    }
    let source: views::Source = Box::new(move || {
        let json = serialize_one(&catalog.unified, position, None, &statuses)
            .expect("BUG: a record serialises");
        JsonView {
            data: Bytes::from(json),
            summary: Summary::default(),
        }
    });
    let tail = |_: &Summary| format!(",\"gateways\":{}}}", snapshot.states);
    let gzip = accepts_gzip(&headers);
    let answer = spliced_in(&state, views::head(), gzip, &key, source, tail, cache).await;
    Ok(answer.respond(&headers))
}

/// A list answer in `shape`: the unified catalog of every gateway (so that
/// grouping never depends on the query), `gateway=` filtering its offers.
async fn list(
    state: AppState,
    raw: Option<String>,
    headers: HeaderMap,
    shape: Shape,
) -> Result<Response, ApiError> {
    let mut query = parse_query(raw.as_deref())?;
    // The catalog has no gateway order to keep: by name unless asked.
    query.sort.get_or_insert(catalog::Sort::Name);
    if let Some(ids) = &query.gateways {
        select_gateways(&state.gateways, ids.iter().map(String::as_str))?;
    }
    let now = now_ms();
    let gzip = accepts_gzip(&headers);
    let answer_key = format!(
        "{shape:?}|{}|{}|{}|{gzip}",
        raw.as_deref().unwrap_or(""),
        state.engine.generation(),
        now / views::ANSWER_TTL_MS
    );
    if let Some(answer) = state.views.answer(&answer_key, now) {
        answer.count_reads(state.engine.stats());
        return Ok(answer.respond(&headers));
    }
    let snapshot = state
        .snapshots
        .read(&state, "*", &state.gateways.active)
        .await;
    let catalog = snapshot.unified(&state).await;
    query.clamp_paging(catalog.unified.segment.len() as usize);
    let statuses = Arc::clone(&snapshot.statuses);
    let query_key = format!("{shape:?}|{}|{statuses:?}", query.key());
    let key = format!("{query_key}{}", snapshot.versions);
    let cache = snapshot.headers.for_query(&query_key);
    if cache.not_modified(&headers) {
        return Ok(not_modified(&cache));
    }
    let source: views::Source = Box::new(move || page(&catalog, &query, shape, &statuses));
    let tail = |summary: &Summary| match shape {
        Shape::Catalog => list_tail(&snapshot.states, summary),
        Shape::OpenAi | Shape::OpenRouter => "}".to_owned(),
    };
    let answer = spliced_in(&state, shape.head(), gzip, &key, source, tail, cache).await;
    let answer = answer.reusable(snapshot.valid_until, Arc::clone(&snapshot.reads));
    let answer = Arc::new(answer);
    state.views.keep_answer(answer_key, Arc::clone(&answer));
    Ok(answer.respond(&headers))
}

/// The page of `query` in `shape`, serialised.
fn page(
    catalog: &Versioned,
    query: &catalog::Query,
    shape: Shape,
    statuses: &BTreeMap<String, &'static str>,
) -> JsonView {
    let unified = &catalog.unified;
    let segments = [("catalog", Arc::clone(&unified.segment))];
    let found = catalog::search(&segments, query);
    let only = query.gateways.as_deref();
    let mut data = Vec::with_capacity(found.page.len() * 512 + 2);
    data.push(b'[');
    for (n, (_, position)) in found.positions.iter().enumerate() {
        if n > 0 {
            data.push(b',');
        }
        let model = &unified.segment.models[*position as usize];
        let bytes = match shape {
            Shape::Catalog => serialize_one(unified, *position, only, statuses),
            Shape::OpenAi => serde_json::to_vec(&openai_record(model)),
            Shape::OpenRouter => serde_json::to_vec(&openrouter_record(model)),
        }
        .expect("BUG: a record serialises");
        data.extend(bytes);
    }
    data.push(b']');
    let facets = found
        .facets
        .as_ref()
        .map(|f| Bytes::from(serde_json::to_vec(f).expect("BUG: facets serialise")));
    JsonView {
        data: Bytes::from(data),
        summary: Summary {
            total: found.total,
            facets,
        },
    }
}

/// One unified model as JSON; `only` keeps the offers of those gateways.
fn serialize_one<'a>(
    unified: &'a Unified,
    position: u32,
    only: Option<&[String]>,
    statuses: &'a BTreeMap<String, &'static str>,
) -> Result<Vec<u8>, serde_json::Error> {
    let model = &unified.segment.models[position as usize];
    let offers: Vec<&'a Offer> = unified.offers[position as usize]
        .iter()
        .filter(|o| only.is_none_or(|ids| ids.iter().any(|g| g == unified.gateway_id(o))))
        .collect();
    let offer_json = |o: &&'a Offer| -> OfferJson<'a> {
        let record = unified.record(o);
        let gateway = unified.gateway_id(o);
        OfferJson {
            gateway,
            id: &record.id,
            variant: o.variant.as_deref(),
            matched: o.matched,
            pricing: record.pricing.as_ref(),
            context_length: record.context_length,
            max_completion_tokens: record
                .top_provider
                .as_ref()
                .and_then(|t| t.max_completion_tokens),
            status: statuses.get(gateway).copied().unwrap_or("missing"),
            first_seen: record.first_seen,
        }
    };
    let cheapest = offers
        .iter()
        .find(|o| has_price(unified.record(o)))
        .map(|o| {
            let record = unified.record(o);
            let pricing = record.pricing.as_ref();
            Cheapest {
                gateway: unified.gateway_id(o),
                id: &record.id,
                prompt: pricing.and_then(|p| p.prompt.as_deref()),
                completion: pricing.and_then(|p| p.completion.as_deref()),
            }
        });
    serde_json::to_vec(&UnifiedModel {
        id: &model.id,
        author: model.owned_by.as_deref(),
        name: model.name.as_deref(),
        description: model.description.as_deref(),
        created: model.created,
        context_length: model.context_length,
        architecture: model.architecture.as_ref(),
        supported_parameters: model.supported_parameters.as_deref(),
        first_seen: model.first_seen,
        offers: offers.iter().map(offer_json).collect(),
        cheapest,
    })
}

fn has_price(model: &Model) -> bool {
    model
        .pricing
        .as_ref()
        .is_some_and(|p| p.prompt.is_some() && p.completion.is_some())
}

fn openai_record(model: &Model) -> OpenAiModel<'_> {
    OpenAiModel {
        id: &model.id,
        object: "model",
        created: model.created.unwrap_or(0),
        owned_by: model.owned_by.as_deref().unwrap_or("unknown"),
    }
}

fn openrouter_record(model: &Model) -> OpenRouterModel<'_> {
    OpenRouterModel {
        id: &model.id,
        canonical_slug: &model.id,
        name: model.name.as_deref().unwrap_or(&model.id),
        created: model.created.unwrap_or(0),
        description: model.description.as_deref().unwrap_or(""),
        context_length: model.context_length,
        architecture: object(model.architecture.as_ref()),
        pricing: object(model.pricing.as_ref()),
        top_provider: object(model.top_provider.as_ref()),
        supported_parameters: model.supported_parameters.as_deref().unwrap_or_default(),
        hugging_face_id: model.hugging_face_id.as_deref(),
        per_request_limits: None,
    }
}

/// `value`, or its type's empty object.
fn object<T: Clone + Default>(value: Option<&T>) -> Cow<'_, T> {
    value.map_or_else(|| Cow::Owned(T::default()), Cow::Borrowed)
}
