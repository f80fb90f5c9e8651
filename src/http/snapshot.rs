//! A read of a selection of gateways, shared by every list answer of the
//! same 100 ms slot and engine generation.
//!
//! An answer needs, besides its query, what the read gives: each gateway's
//! entry and state, the states as JSON (`age_ms` included, hence the slot),
//! the states' part of the caching headers, the entries' versions for the
//! view keys, and the entries' indexes. All of that costs in proportion to
//! the number of gateways; a stream of distinct queries (no answer reusable)
//! over 100 gateways would pay it on every request. A snapshot pays it once
//! per slot, so such a query costs what its own search and page cost.
//!
//! Reusing a read within its slot is what answer reuse already does: a stale
//! gateway's revalidation starts on the slot's first read, and reuses count
//! as reads in the stats.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use futures::StreamExt;
use quick_cache::sync::Cache;
use tokio::sync::OnceCell;

use super::caching::StateHeaders;
use super::gateway_state::GatewayState;
use super::views::ANSWER_TTL_MS;
use crate::app::AppState;
use crate::cache::{Entry, GatewayView, ReadOutcome, now_ms};
use crate::catalog::{Segment, Versioned};
use crate::gateways::Gateway;
use crate::stats::{ReadSlot, Stats};

/// Each entry's index, with its gateway id, in gateway order.
pub type Segments = Arc<Vec<(String, Arc<Segment>)>>;

/// Segments a first read builds at once.
const SEGMENT_BUILDS: usize = 2;

/// Snapshots kept: a few selections × the current and previous slots.
const SNAPSHOTS: usize = 64;

pub struct Snapshot {
    pub views: Vec<GatewayView>,
    /// The gateways' states as JSON: `{"<id>":{"status":…},…}`.
    pub states: Arc<str>,
    pub headers: StateHeaders,
    /// `|<id>=<version>…`: what a view key adds to its query.
    pub versions: String,
    /// Models held by the entries read (before any filter).
    pub available: usize,
    /// Reusable until then (ms since epoch).
    pub valid_until: u64,
    pub reads: Arc<[(Option<ReadSlot>, ReadOutcome)]>,
    /// `fresh` or `stale` by gateway, as offers report it.
    pub statuses: Arc<BTreeMap<String, &'static str>>,
    segments: OnceCell<Segments>,
    /// The merged segment, once it is found built.
    merged: std::sync::OnceLock<Segments>,
    unified: OnceCell<Arc<Versioned>>,
}

#[derive(Default)]
pub struct Snapshots {
    cache: SnapshotCache,
}

struct SnapshotCache(Cache<String, Arc<Snapshot>>);

impl Default for SnapshotCache {
    fn default() -> Self {
        Self(Cache::new(SNAPSHOTS))
    }
}

impl Snapshots {
    /// The read of `selection` (named `scope`) for this slot: reused when
    /// one was made in it at the current generation, else read now.
    pub async fn read(
        &self,
        state: &AppState,
        scope: &str,
        selection: &[Arc<Gateway>],
    ) -> Arc<Snapshot> {
        let now = now_ms();
        let key = format!(
            "{scope}|{}|{}",
            state.engine.generation(),
            now / ANSWER_TTL_MS
        );
        if let Some(snapshot) = self.cache.0.get(&key).filter(|s| now < s.valid_until) {
            state.engine.stats().read_all(&snapshot.reads);
            return snapshot;
        }
        let views = state.engine.read(selection).await;
        let snapshot = Arc::new(Snapshot::of(views, now, state.engine.stats()));
        self.cache.0.insert(key, Arc::clone(&snapshot));
        snapshot
    }
}

impl Snapshot {
    fn of(views: Vec<GatewayView>, now: u64, stats: &Stats) -> Self {
        let mut versions = String::with_capacity(views.len() * 24);
        for view in &views {
            let version = view.entry.as_ref().map_or(0, |e| e.revision);
            let _ = write!(versions, "|{}={version}", view.gateway.id);
        }
        Self {
            states: states_json(&views, now).into(),
            headers: StateHeaders::new(&views, now),
            available: views
                .iter()
                .filter_map(|v| v.entry.as_ref())
                .map(|e| e.models.len())
                .sum(),
            valid_until: valid_until(&views, now),
            reads: reads(&views, stats).into(),
            statuses: Arc::new(
                views
                    .iter()
                    .map(|v| (v.gateway.id.clone(), v.state(now)))
                    .collect(),
            ),
            versions,
            views,
            segments: OnceCell::new(),
            merged: std::sync::OnceLock::new(),
            unified: OnceCell::new(),
        }
    }

    /// What a query over the whole selection searches: the merged segment
    /// of every entry when `merge` (the selection is every gateway) and it
    /// is built for these versions, else each entry's own.
    pub async fn search_segments(&self, state: &AppState, merge: bool) -> Segments {
        if merge && self.views.len() > 1 {
            if let Some(merged) = self.merged.get() {
                return Arc::clone(merged);
            }
            let entries = self
                .views
                .iter()
                .filter_map(|v| Some((v.gateway.id.clone(), v.entry.clone()?)))
                .collect();
            if let Some(merged) = state.indexes.merged(&self.versions, entries) {
                let merged = Arc::new(vec![("*".to_owned(), merged)]);
                return Arc::clone(self.merged.get_or_init(|| merged));
            }
        }
        self.segments(state).await
    }

    /// Each entry's index, in gateway order (built once per entry version).
    pub async fn segments(&self, state: &AppState) -> Segments {
        // The first query after a start or a change may build many
        // segments: two at a time (the machine's share for it, not one
        // blocking thread per gateway), in gateway order.
        if let Some(segments) = self.segments.get() {
            return Arc::clone(segments);
        }
        let entries: Vec<(String, Entry)> = self
            .views
            .iter()
            .filter_map(|v| Some((v.gateway.id.clone(), v.entry.clone()?)))
            .collect();
        let indexes = Arc::clone(&state.indexes);
        let build = async move {
            let segments = futures::stream::iter(entries)
                .map(|(id, entry)| {
                    let indexes = Arc::clone(&indexes);
                    async move {
                        let segment = indexes.segment(&id, &entry).await;
                        (id, segment)
                    }
                })
                .buffered(SEGMENT_BUILDS);
            Arc::new(segments.collect::<Vec<_>>().await)
        };
        Arc::clone(self.segments.get_or_init(|| build).await)
    }

    /// The unified catalog of the entries read.
    pub async fn unified(&self, state: &AppState) -> Arc<Versioned> {
        let build = async {
            let entries = self
                .views
                .iter()
                .filter_map(|v| Some((Arc::clone(&v.gateway), v.entry.clone()?)))
                .collect();
            state
                .indexes
                .unified(entries, Arc::clone(&state.aliases))
                .await
        };
        Arc::clone(self.unified.get_or_init(|| build).await)
    }
}

/// Each gateway's state, as JSON: `{"<id>":{"status":…},…}`.
fn states_json(views: &[GatewayView], now: u64) -> String {
    let states: BTreeMap<&str, GatewayState> = views
        .iter()
        .map(|v| (v.gateway.id.as_str(), GatewayState::of(v, now)))
        .collect();
    serde_json::to_string(&states).expect("BUG: gateway states serialise")
}

/// Until when an answer assembled `now` may be reused: the end of its time
/// slot, or sooner when an entry in it turns stale or expires.
fn valid_until(views: &[GatewayView], now: u64) -> u64 {
    let slot_end = (now / ANSWER_TTL_MS + 1) * ANSWER_TTL_MS;
    views
        .iter()
        .filter_map(|v| v.entry.as_ref())
        .map(|e| {
            if now < e.fresh_until {
                e.fresh_until
            } else {
                e.stale_until
            }
        })
        .fold(slot_end, u64::min)
}

/// Each gateway's read outcome, counted again whenever the answer is reused.
fn reads(views: &[GatewayView], stats: &Stats) -> Vec<(Option<ReadSlot>, ReadOutcome)> {
    views
        .iter()
        .map(|v| (stats.slot(&v.gateway.id), v.outcome))
        .collect()
}
