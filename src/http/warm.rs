//! The warm endpoints: the operator's `POST /api/cache/warm-models`, its
//! status, and the cron trigger.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{self, Guard};
use super::error::ErrorBody;
use super::gateway_state::GatewayState;
use super::{ApiError, json_body, select_gateways};
use crate::app::AppState;
use crate::cache::now_ms;
use crate::warm::{Trigger, WarmRecord, WarmReport, full_selection};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status, warm_models))
        .routes(routes!(cron_warm))
}

/// Optional body of `POST /api/cache/warm-models`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WarmRequest {
    /// Gateway ids to warm; omitted: every gateway the runtime config's
    /// `warmGateways` includes.
    gateways: Option<Vec<String>>,
}

/// What `GET /api/cache/warm-models` answers.
#[derive(Serialize, ToSchema)]
struct WarmStatus<'a> {
    /// A warm is running on this instance.
    running: bool,
    /// The last warm of any instance.
    last_warm: Option<WarmRecord>,
    gateways: BTreeMap<&'a str, GatewayState<'a>>,
}

const WARM_ANSWER: &str = "The warm's report (`success` is true when every gateway succeeded)";

/// Fetches every selected gateway now, concurrently; joins a warm under way.
#[utoipa::path(post, path = "/api/cache/warm-models", tag = "warming",
    request_body(content = Option<WarmRequest>, description = "Optional: a subset of gateways"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = WARM_ANSWER, body = WarmReport),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer", body = ErrorBody),
        (status = 404, description = "Unknown gateway", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 502, description = "Every gateway failed", body = WarmReport),
        (status = 503, description = "CACHE_WARMING_SECRET unset, or warming turned off", body = ErrorBody),
    ))]
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

/// The cron trigger: the same full warm, for `Authorization: Bearer $CRON_SECRET`.
#[utoipa::path(get, path = "/api/cron/warm-cache", tag = "warming",
    security(("bearer" = [])),
    responses(
        (status = 200, description = WARM_ANSWER, body = WarmReport),
        (status = 401, description = "Missing or wrong bearer (x-vercel-cron alone never passes)", body = ErrorBody),
        (status = 502, description = "Every gateway failed", body = WarmReport),
        (status = 503, description = "CRON_SECRET unset, or warming turned off", body = ErrorBody),
    ))]
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
#[utoipa::path(get, path = "/api/cache/warm-models", tag = "warming",
    responses((status = 200, description = "Warming status", body = WarmStatus)))]
async fn status(State(state): State<AppState>) -> Response {
    let now = now_ms();
    let views = state.engine.inspect(&state.gateways.active).await;
    let gateways = views
        .iter()
        .map(|v| (v.gateway.id.as_str(), GatewayState::of(v, now)))
        .collect();
    let status = WarmStatus {
        running: state.warmer.is_running(),
        last_warm: state.warmer.last().await,
        gateways,
    };
    Json(status).into_response()
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
