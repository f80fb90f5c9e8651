//! Liveness and readiness.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::error::ErrorBody;
use crate::app::AppState;

const PING_BOUND: Duration = Duration::from_secs(1);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = Object)))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The store answers (and the config loaded, or the process would not run).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "`{\"status\":\"ready\",\"store\":…}`", body = Object),
        (status = 503, description = "The store does not answer", body = ErrorBody),
    ))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.engine.store();
    match tokio::time::timeout(PING_BOUND, store.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({"status": "ready", "store": store.describe()}))),
        Ok(Err(e)) => Err(ApiError::NotReady(format!("not ready: {e}"))),
        Err(_) => Err(ApiError::NotReady(format!(
            "not ready: the store did not answer within {}ms",
            PING_BOUND.as_millis()
        ))),
    }
}
