//! The per-gateway cache state reported by the catalog and status endpoints.

use serde::Serialize;

use crate::cache::GatewayView;

#[derive(Serialize, utoipa::ToSchema)]
pub struct GatewayState<'a> {
    /// `fresh`, `stale` or `missing`.
    pub status: &'static str,
    pub count: usize,
    pub fetched_at: Option<u64>,
    pub age_ms: Option<u64>,
    pub error: Option<&'a str>,
}

impl<'a> GatewayState<'a> {
    pub fn of(view: &'a GatewayView, now: u64) -> Self {
        let entry = view.entry.as_ref();
        Self {
            status: view.state(now),
            count: entry.map_or(0, |e| e.models.len()),
            fetched_at: entry.map(|e| e.fetched_at),
            age_ms: entry.map(|e| e.age_ms(now)),
            error: view.error.as_deref(),
        }
    }
}
