//! Finding models: the query parameters of the list endpoints, and the
//! in-memory indexes that answer them.
//!
//! - [`query`] — the parameters, parsed strictly and normalised.
//! - [`price`] — prices as exact integers.
//! - [`identity`] — who made a model.
//! - [`aliases`] — the alias table (`aliases.toml`, `ALIASES_FILE`).
//! - [`index`] — one gateway entry's index ([`Segment`]), built once per
//!   entry version off the async threads.
//! - [`search`] — a query run over the segments of the gateways read.
//! - [`unified`] — every gateway's offers grouped into one record per model.
//!
//! The HTTP handlers stay thin: they read the entries (the SWR engine),
//! ask [`Indexes`] for their segments, and hand [`search`]'s page to the
//! view cache, which serialises it once per query and entry versions.
//!
//! An entry's version, here and in the view cache, is its `revision`: the
//! digest of its list ([`crate::cache::Entry::revision_of`]). A revalidation
//! that brings the same list back keeps every index and page built from it.

pub mod aliases;
pub mod identity;
pub mod index;
pub mod price;
pub mod query;
pub mod search;
pub mod unified;

use std::sync::Arc;

use quick_cache::sync::Cache;

use self::aliases::Aliases;
use self::unified::Unified;

pub use self::index::Segment;
pub use self::query::{Query, QueryError, Sort};
pub use self::search::{Facets, Found, search};
use crate::cache::Entry;

/// Segments kept at most; the sweep ([`Indexes::keep_only`]) drops those of
/// versions no longer served long before.
const SEGMENTS: usize = 512;

/// Unified catalogs kept: the current one, and the last while a change lands.
const UNIFIED: usize = 2;

/// The segments of the entries being served, by gateway and version, the
/// segment of all of them together, and the unified catalog.
pub struct Indexes {
    segments: Cache<(String, u64), Arc<Segment>>,
    unified: Cache<String, Arc<Versioned>>,
    merged: Cache<String, Arc<Merged>>,
    /// Merged segments being built, by key.
    building: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Every gateway's entry in one segment, and the versions it holds.
pub struct Merged {
    pub segment: Arc<Segment>,
    versions: Vec<(String, u64)>,
}

/// A unified catalog and the entry versions it groups.
pub struct Versioned {
    pub unified: Unified,
    versions: Vec<(String, u64)>,
}

impl Default for Indexes {
    fn default() -> Self {
        Self {
            segments: Cache::new(SEGMENTS),
            unified: Cache::new(UNIFIED),
            merged: Cache::new(UNIFIED),
            building: Default::default(),
        }
    }
}

impl Indexes {
    /// `gateway`'s segment for `entry`, built off the async threads the
    /// first time that version is asked for (concurrent askers share the
    /// build).
    pub async fn segment(&self, gateway: &str, entry: &Entry) -> Arc<Segment> {
        let key = (gateway.to_owned(), entry.revision);
        let models = Arc::clone(&entry.models);
        let build = async move {
            let segment = tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                let segment = Arc::new(Segment::build(models));
                crate::telemetry::metrics::index_built("segment", started.elapsed());
                segment
            })
            .await
            .expect("BUG: indexing a list panicked");
            Ok::<_, std::convert::Infallible>(segment)
        };
        let Ok(segment) = self.segments.get_or_insert_async(&key, build).await;
        segment
    }

    /// The unified catalog of `entries` (every gateway read, in order),
    /// grouped off the async threads once per set of versions.
    pub async fn unified(
        &self,
        entries: Vec<(Arc<crate::gateways::Gateway>, Entry)>,
        aliases: Arc<Aliases>,
    ) -> Arc<Versioned> {
        let versions: Vec<(String, u64)> = entries
            .iter()
            .map(|(g, e)| (g.id.clone(), e.revision))
            .collect();
        let key = format!("{versions:?}");
        let build = async move {
            let built = tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                let sources = entries
                    .into_iter()
                    .map(|(gateway, entry)| unified::Source {
                        gateway,
                        models: entry.models,
                    })
                    .collect();
                let unified = Unified::build(sources, &aliases);
                crate::telemetry::metrics::index_built("unified", started.elapsed());
                Arc::new(Versioned { unified, versions })
            })
            .await
            .expect("BUG: grouping the catalog panicked");
            Ok::<_, std::convert::Infallible>(built)
        };
        let Ok(unified) = self.unified.get_or_insert_async(&key, build).await;
        unified
    }

    /// One segment over every entry of `entries` (in gateway order), if one
    /// was built for exactly these versions (named `key`). If not, it starts
    /// building one off the async threads and answers `None`: the caller
    /// searches the entries' own segments meanwhile (the same answers, at a
    /// cost per gateway instead of once).
    pub fn merged(
        self: &Arc<Self>,
        key: &str,
        entries: Vec<(String, Entry)>,
    ) -> Option<Arc<Segment>> {
        if let Some(merged) = self.merged.get(key) {
            return Some(Arc::clone(&merged.segment));
        }
        let starts = self
            .building
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned());
        if starts {
            let indexes = Arc::clone(self);
            let key = key.to_owned();
            tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                let versions = entries
                    .iter()
                    .map(|(g, e)| (g.clone(), e.revision))
                    .collect();
                let parts = entries.into_iter().map(|(g, e)| (g, e.models)).collect();
                let segment = Arc::new(Segment::build_merged(parts));
                crate::telemetry::metrics::index_built("merged", started.elapsed());
                indexes
                    .merged
                    .insert(key.clone(), Arc::new(Merged { segment, versions }));
                indexes
                    .building
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
            });
        }
        None
    }

    /// Drops the indexes of versions `current` says are no longer served
    /// (each holds its entries' models).
    pub fn keep_only(&self, current: impl Fn(&str, u64) -> bool) {
        self.segments
            .retain(|(gateway, version), _| current(gateway, *version));
        self.unified
            .retain(|_, v| v.versions.iter().all(|(g, version)| current(g, *version)));
        self.merged
            .retain(|_, m| m.versions.iter().all(|(g, version)| current(g, *version)));
    }
}

#[cfg(test)]
mod tests;
