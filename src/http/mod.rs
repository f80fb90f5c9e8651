//! The HTTP API. Each route group owns its `router()`; this module merges
//! them, sets the body limit and the JSON fallbacks, and holds the lookups
//! every group shares.

mod admin;
mod auth;
mod caching;
mod catalog;
mod error;
mod gateway_state;
mod health;
mod metrics;
mod warm;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;

pub use error::ApiError;

use crate::app::AppState;
use crate::gateways::{Gateway, Gateways};

/// Request bodies over this size get 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    // The 405 fallback is set per group, before CORS wraps the catalog: set
    // on the merged router it would replace the layered fallbacks and answer
    // CORS preflights with 405.
    let json_405 =
        |group: Router<AppState>| group.method_not_allowed_fallback(error::method_not_allowed);
    Router::new()
        .merge(json_405(catalog::router()).layer(catalog::cors()))
        .merge(json_405(warm::router()))
        .merge(json_405(admin::router()))
        .merge(json_405(health::router()))
        .merge(json_405(metrics::router()))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
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
