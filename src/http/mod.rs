//! The HTTP API. Each route group owns its `router()`; this module merges
//! them, sets the body limit and the JSON fallbacks, and holds the lookups
//! every group shares.

mod admin;
mod auth;
mod caching;
mod catalog;
mod changes;
mod error;
mod gateway_state;
mod health;
mod metrics;
mod negotiate;
mod openapi;
mod pages;
mod replay;
mod snapshot;
mod status;
mod unified;
mod views;
mod warm;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;
pub use replay::Replay;
pub use snapshot::Snapshots;
pub use views::Views;

use crate::app::AppState;
use crate::gateways::{Gateway, Gateways};

/// Request bodies over this size get 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let (router, _) = router_and_api();
    router.with_state(state)
}

/// The API document of every route [`router`] serves.
pub fn api() -> utoipa::openapi::OpenApi {
    router_and_api().1
}

/// Routes and their documentation come from the same `#[utoipa::path]`
/// annotations, so the two cannot drift apart.
fn router_and_api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let mut api = openapi::base();
    // The 405 fallback is set per group, before CORS wraps the catalog: set
    // on the merged router it would replace the layered fallbacks and answer
    // CORS preflights with 405.
    let mut group = |routes: OpenApiRouter<AppState>| {
        let (router, part) = routes.split_for_parts();
        api.merge(part);
        router.method_not_allowed_fallback(error::method_not_allowed)
    };
    let catalog = group(
        catalog::routes()
            .merge(unified::routes())
            .merge(changes::routes()),
    )
    .layer(catalog::cors());
    let router = Router::new()
        .merge(catalog)
        .merge(group(warm::routes()))
        .merge(group(admin::routes()))
        .merge(group(health::routes()))
        .merge(group(metrics::routes()))
        .merge(group(openapi::routes()))
        .merge(group(status::routes()))
        .merge(pages::routes().method_not_allowed_fallback(error::method_not_allowed))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    api.merge(<catalog::HandRouted as utoipa::OpenApi>::openapi());
    api.merge(<unified::HandRouted as utoipa::OpenApi>::openapi());
    (router, api)
}

/// The active gateway `id`, or 404 naming the known ones.
fn find_gateway(gateways: &Gateways, id: &str) -> Result<Arc<Gateway>, ApiError> {
    gateways.get(id).cloned().ok_or_else(|| {
        let known: Vec<&str> = gateways.ids().collect();
        ApiError::NotFound(format!(
            "unknown gateway {id:?}; configured gateways: {}",
            known.join(", ")
        ))
    })
}

/// The gateways named in `ids` (duplicates and blanks ignored), in order.
fn select_gateways<'a>(
    gateways: &Gateways,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Arc<Gateway>>, ApiError> {
    let mut selection: Vec<Arc<Gateway>> = Vec::new();
    for id in ids.into_iter().map(str::trim).filter(|id| !id.is_empty()) {
        let gateway = find_gateway(gateways, id)?;
        if !selection.iter().any(|g| g.id == gateway.id) {
            selection.push(gateway);
        }
    }
    Ok(selection)
}

/// Parses a JSON request body; the error says what was expected.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body ({e}); expected {expected}")))
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(format!(
                "cannot read the request body: {}",
                rejection.body_text()
            ))
        }
    }
}
