//! `GET /metrics`: Prometheus text. Public, like the catalog: it holds no
//! secret, only counts, durations and ages (see [`crate::telemetry::metrics`]).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::cache::now_ms;
use crate::telemetry::metrics::{self, GatewaySample};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(scrape))
}

/// Prometheus text exposition (names in the README).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    let views = state.engine.inspect(&state.gateways.active).await;
    let stats = state.engine.stats();
    let samples: Vec<GatewaySample> = views
        .iter()
        .map(|view| GatewaySample {
            view,
            reads: stats.reads_of(&view.gateway.id),
            failing_for: state.engine.failing_for(&view.gateway.id),
        })
        .collect();
    metrics::view_cache_bytes(state.views.weights());
    metrics::answers_replayed(state.views.replayed());
    let body = metrics::render(&samples, state.engine.ttl(), now_ms());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
