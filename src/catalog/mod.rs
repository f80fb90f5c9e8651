//! Finding models: the query parameters of the list endpoints, and the
//! in-memory indexes that answer them.
//!
//! - [`query`] — the parameters, parsed strictly and normalised.
//! - [`price`] — prices as exact integers.
//! - [`identity`] — who made a model.
//! - [`index`] — one gateway entry's index ([`Segment`]), built once per
//!   entry version off the async threads.
//! - [`search`] — a query run over the segments of the gateways read.
//!
//! The HTTP handlers stay thin: they read the entries (the SWR engine),
//! ask [`Indexes`] for their segments, and hand [`search`]'s page to the
//! view cache, which serialises it once per query and entry versions.

pub mod identity;
pub mod index;
pub mod price;
pub mod query;
pub mod search;

use std::sync::Arc;

use quick_cache::sync::Cache;

pub use self::index::Segment;
pub use self::query::{Query, QueryError, Sort};
pub use self::search::{Facets, Found, search};
use crate::cache::Entry;

/// Segments kept at most; the sweep ([`Indexes::keep_only`]) drops those of
/// versions no longer served long before.
const SEGMENTS: usize = 512;

/// The segments of the entries being served, by gateway and version.
pub struct Indexes {
    segments: Cache<(String, u64), Arc<Segment>>,
}

impl Default for Indexes {
    fn default() -> Self {
        Self {
            segments: Cache::new(SEGMENTS),
        }
    }
}

impl Indexes {
    /// `gateway`'s segment for `entry`, built off the async threads the
    /// first time that version is asked for (concurrent askers share the
    /// build).
    pub async fn segment(&self, gateway: &str, entry: &Entry) -> Arc<Segment> {
        let key = (gateway.to_owned(), entry.fetched_at);
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

    /// Drops the segments of versions `current` says are no longer served
    /// (each holds its entry's models).
    pub fn keep_only(&self, current: impl Fn(&str, u64) -> bool) {
        self.segments
            .retain(|(gateway, version), _| current(gateway, *version));
    }
}

#[cfg(test)]
mod tests;
