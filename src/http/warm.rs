//! The warm endpoints: the operator's `POST /api/cache/warm-models`, its
//! status, and the cron trigger.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::{self, Guard};
use super::gateway_state::GatewayState;
use super::{ApiError, json_body, select_gateways};
use crate::app::AppState;
use crate::cache::now_ms;
use crate::warm::{Trigger, WarmReport, full_selection};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/cache/warm-models", get(status).post(warm_models))
        .route("/api/cron/warm-cache", get(cron_warm))
}

/// Optional body of `POST /api/cache/warm-models`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarmRequest {
    gateways: Option<Vec<String>>,
}

async fn warm_models(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    auth::require(&headers, state.secrets.warming.as_ref(), Guard::Warming)?;
    let request = parse_body(body?)?;
    require_warming_on(&state)?;
    let selection = match request.gateways {
        Some(ids) if ids.is_empty() => {
            return Err(ApiError::BadRequest(
                "\"gateways\" is empty: list gateway ids, or omit it to warm every gateway".into(),
            ));
        }
        Some(ids) => select_gateways(&state.gateways, ids.iter().map(String::as_str))?,
        None => full_selection(&state.gateways, &state.runtime.get()),
    };
    let report = state.warmer.warm(&selection, Trigger::Manual).await;
    Ok(warm_response(report))
}

async fn cron_warm(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Only the bearer counts: `x-vercel-cron` can be sent by anyone.
    auth::require(&headers, state.secrets.cron.as_ref(), Guard::Cron)?;
    require_warming_on(&state)?;
    let selection = full_selection(&state.gateways, &state.runtime.get());
    let report = state.warmer.warm(&selection, Trigger::Cron).await;
    Ok(warm_response(report))
}

/// The last warm and each gateway's cache state. Public: it holds no secret.
async fn status(State(state): State<AppState>) -> Json<serde_json::Value> {
    let now = now_ms();
    let views = state.engine.inspect(&state.gateways.active).await;
    let gateways: BTreeMap<&str, GatewayState> = views
        .iter()
        .map(|v| (v.gateway.id.as_str(), GatewayState::of(v, now)))
        .collect();
    Json(json!({
        "running": state.warmer.is_running(),
        "last_warm": state.warmer.last().await,
        "gateways": gateways,
    }))
}

fn parse_body(body: Bytes) -> Result<WarmRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(WarmRequest::default());
    }
    json_body(&body, "{\"gateways\":[\"<id>\", …]} or no body")
}

/// 503 while the runtime config turns warming off.
pub fn require_warming_on(state: &AppState) -> Result<(), ApiError> {
    if state.runtime.get().enabled {
        Ok(())
    } else {
        Err(ApiError::Disabled(
            "warming is turned off in the runtime config: PUT /api/cache/config with {\"enabled\":true} to turn it on",
        ))
    }
}

/// 200 with the report, or 502 when every gateway failed.
pub fn warm_response(report: WarmReport) -> Response {
    let status = if report.all_failed() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    (status, Json(report)).into_response()
}
