//! `GET /api/status`: what the operator status page (`/status`) shows, in
//! one public read — each gateway's cache state and deadlines, the last
//! warms, and the read outcomes. It holds no secret, so it needs none.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::gateway_state::GatewayState;
use crate::app::AppState;
use crate::cache::{GatewayView, now_ms};
use crate::stats::StatsReport;
use crate::warm::WarmRecord;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

#[derive(Serialize, ToSchema)]
struct Status<'a> {
    /// The server's clock (ms since epoch): ages and deadlines are on it.
    now: u64,
    gateways: Vec<GatewayStatus<'a>>,
    warming: Warming,
    /// Read outcomes of every instance; `null` while the store is unreachable.
    reads: Option<Reads>,
}

#[derive(Serialize, ToSchema)]
struct GatewayStatus<'a> {
    id: &'a str,
    /// The adapter: `openai`, `openrouter`, `static`…
    kind: &'static str,
    #[serde(flatten)]
    cache: GatewayState<'a>,
    /// Until when the entry is fresh, then until when it may be served stale.
    fresh_until: Option<u64>,
    stale_until: Option<u64>,
    /// A recent fetch failed: readers leave the upstream alone for
    /// `REVALIDATE_BACKOFF` (`error` says why).
    backing_off: bool,
}

#[derive(Serialize, ToSchema)]
struct Warming {
    /// A warm is running on this instance.
    running: bool,
    /// The last warms of any instance, newest first.
    recent: Vec<WarmRecord>,
}

#[derive(Serialize, ToSchema)]
struct Reads {
    hits: u64,
    stale_hits: u64,
    misses: u64,
    /// (hits + stale hits) / reads; `null` before the first read.
    hit_rate: Option<f64>,
}

impl From<StatsReport> for Reads {
    fn from(report: StatsReport) -> Self {
        Self {
            hits: report.hits,
            stale_hits: report.stale_hits,
            misses: report.misses,
            hit_rate: report.hit_rate,
        }
    }
}

/// Everything the status page shows. Public: it holds no secret.
#[utoipa::path(get, path = "/api/status", tag = "operations",
    responses((status = 200, description = "Gateways, recent warms and read outcomes", body = Status)))]
async fn status(State(state): State<AppState>) -> Response {
    let views = state.engine.inspect(&state.gateways.active).await;
    let (recent, report) = tokio::join!(
        state.warmer.recent(),
        state.engine.stats().report(BTreeMap::new())
    );
    let now = now_ms();
    let status = Status {
        now,
        gateways: views.iter().map(|v| gateway_status(v, now)).collect(),
        warming: Warming {
            running: state.warmer.is_running(),
            recent,
        },
        reads: report.ok().map(Reads::from),
    };
    Json(status).into_response()
}

fn gateway_status(view: &GatewayView, now: u64) -> GatewayStatus<'_> {
    let entry = view.entry.as_ref();
    GatewayStatus {
        id: &view.gateway.id,
        kind: view.gateway.kind.as_str(),
        cache: GatewayState::of(view, now),
        fresh_until: entry.map(|e| e.fresh_until),
        stale_until: entry.map(|e| e.stale_until),
        backing_off: view.error.is_some(),
    }
}
