//! Liveness and readiness.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::ApiError;
use crate::app::AppState;

const PING_BOUND: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving HTTP.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The store answers (and the config loaded, or the process would not run).
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
