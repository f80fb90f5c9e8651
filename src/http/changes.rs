//! `GET /api/changes` (the change records: a feed to poll, and a model's
//! price history) and `GET /api/changes.atom` (the same as an Atom feed).
//! Public and CORS-enabled, like the catalog.

use std::collections::HashSet;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{ApiError, find_gateway};
use crate::app::AppState;
use crate::changes::query::ChangesQuery;
use crate::changes::{Change, ChangeKind, Page, atom};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_changes))
        .routes(routes!(atom_feed))
}

/// The query parameters (for the API document; read strictly by
/// [`ChangesQuery::parse`]).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ChangesParams {
    /// Records after this `seq` (a record's, or a previous answer's `next`);
    /// without it, the latest `limit` records.
    since: Option<String>,
    /// Comma-separated gateway ids.
    gateway: Option<String>,
    /// A canonical model id (`openai/gpt-4o`) or an offer's id: that model's
    /// history, every gateway's offer of it included.
    model: Option<String>,
    /// Comma-separated: `added`, `removed`, `changed`, `listed`.
    r#type: Option<String>,
    /// At most 1000; default 100.
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
struct ChangesPage {
    /// Oldest first.
    data: Vec<Change>,
    /// Pass as `since` to get what comes after.
    next: String,
}

/// Change records, oldest first.
#[utoipa::path(get, path = "/api/changes", tag = "changes", params(ChangesParams),
    responses(
        (status = 200, description = "`{\"data\":[…],\"next\":\"<seq>\"}`", body = ChangesPage),
        (status = 400, description = "Bad parameter (named)", body = ErrorBody),
        (status = 404, description = "Unknown gateway", body = ErrorBody),
        (status = 503, description = "The store does not answer", body = ErrorBody),
    ))]
async fn list_changes(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let page = read(&state, raw.as_deref()).await?;
    let body = ChangesPage {
        data: page.data,
        next: page.next.to_string(),
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The latest change records as an Atom 1.0 feed (same parameters).
#[utoipa::path(get, path = "/api/changes.atom", tag = "changes", params(ChangesParams),
    responses(
        (status = 200, description = "An Atom feed (application/atom+xml), newest first", content_type = "application/atom+xml", body = String),
        (status = 400, description = "Bad parameter (named)", body = ErrorBody),
    ))]
async fn atom_feed(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let page = read(&state, raw.as_deref()).await?;
    let self_url = match raw.as_deref() {
        Some(q) if !q.is_empty() => format!("/api/changes.atom?{q}"),
        _ => "/api/changes.atom".to_owned(),
    };
    let mut response = atom::feed(&page.data, &self_url).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/atom+xml; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The records the query string `raw` asks for.
async fn read(state: &AppState, raw: Option<&str>) -> Result<Page, ApiError> {
    let query = parse(raw)?;
    let keep = Filter::new(state, &query).await?;
    state
        .changes
        .read(query.since, query.limit, |c| keep.keeps(c))
        .await
        .map_err(unreachable_store)
}

fn parse(raw: Option<&str>) -> Result<ChangesQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("unreadable query string: {e}")))?;
    ChangesQuery::parse(&pairs).map_err(ApiError::BadRequest)
}

fn unreachable_store(e: crate::store::StoreError) -> ApiError {
    ApiError::NotReady(format!("{e}; try again"))
}

/// Which records a query keeps.
struct Filter {
    gateways: Option<Vec<String>>,
    kinds: Option<Vec<ChangeKind>>,
    model: Option<ModelFilter>,
}

/// A model by its canonical id, or by any of its offers (as the unified
/// catalog groups them now), or by the id given.
struct ModelFilter {
    given: String,
    canonical: Option<String>,
    offers: HashSet<(String, String)>,
}

impl Filter {
    async fn new(state: &AppState, query: &ChangesQuery) -> Result<Self, ApiError> {
        for id in query.gateways.iter().flatten() {
            find_gateway(&state.gateways, id)?;
        }
        let model = match &query.model {
            Some(given) => Some(ModelFilter::resolve(state, given).await),
            None => None,
        };
        Ok(Self {
            gateways: query.gateways.clone(),
            kinds: query.kinds.clone(),
            model,
        })
    }

    fn keeps(&self, change: &Change) -> bool {
        self.gateways
            .as_ref()
            .is_none_or(|g| g.contains(&change.gateway))
            && self.kinds.as_ref().is_none_or(|k| k.contains(&change.kind))
            && self.model.as_ref().is_none_or(|m| m.keeps(change))
    }
}

impl ModelFilter {
    async fn resolve(state: &AppState, given: &str) -> Self {
        let snapshot = state
            .snapshots
            .read(state, "*", &state.gateways.active)
            .await;
        let catalog = snapshot.unified(state).await;
        let unified = &catalog.unified;
        let Some(position) = unified.find(given, &state.aliases) else {
            return Self {
                given: given.to_owned(),
                canonical: None,
                offers: HashSet::new(),
            };
        };
        let offers = unified.offers[position as usize]
            .iter()
            .map(|o| {
                let gateway = unified.gateway_id(o).to_owned();
                (gateway, unified.record(o).id.clone())
            })
            .collect();
        Self {
            given: given.to_owned(),
            canonical: Some(unified.segment.models[position as usize].id.clone()),
            offers,
        }
    }

    fn keeps(&self, change: &Change) -> bool {
        let Some(model) = change.model.as_deref() else {
            return false;
        };
        let canonical = change.canonical.as_deref();
        model == self.given
            || canonical.is_some_and(|c| c.eq_ignore_ascii_case(&self.given))
            || canonical.is_some_and(|c| Some(c) == self.canonical.as_deref())
            || self
                .offers
                .contains(&(change.gateway.clone(), model.to_owned()))
    }
}
