//! A cached models list with its envelope, and what it is worth at an instant.
//!
//! An entry has two versions. `fetched_at` orders fetches: a store keeps the
//! newest. `revision` digests the list itself, so a revalidation that brings
//! the same list back (most do: catalogs change a few times a day, entries
//! revalidate every few minutes) keeps it: whatever is built from a list —
//! indexes, serialised and compressed pages, ETags — is keyed by revision
//! and survives such a revalidation untouched, on every instance alike.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::config::Ttl;
use crate::gateways::Model;

/// One gateway's list as stored. Cheap to clone: the models are shared.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// When the fetch that produced it started (ms since epoch). Also the
    /// entry's version: a store keeps the highest and refuses older ones.
    pub fetched_at: u64,
    pub fresh_until: u64,
    pub stale_until: u64,
    pub models: Arc<Vec<Model>>,
    /// Digest of `models` ([`Entry::revision_of`]).
    pub revision: u64,
    /// Each model's digest, in order: what a diff compares first, so that
    /// it looks into the few models that changed only.
    pub digests: Arc<[u64]>,
}

/// What an entry is worth at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it as is.
    Fresh,
    /// Serve it, and revalidate in the background.
    Stale,
    /// Past `stale_until`: must not be served.
    Expired,
}

impl Entry {
    pub fn new(fetched_at: u64, ttl: Ttl, models: Vec<Model>) -> Self {
        let (fresh_until, stale_until) = deadlines(fetched_at, ttl);
        Self::at(fetched_at, fresh_until, stale_until, models)
    }

    /// An entry with these deadlines (as stored).
    pub fn at(fetched_at: u64, fresh_until: u64, stale_until: u64, models: Vec<Model>) -> Self {
        let digests = Self::digests_of(&models);
        Self {
            fetched_at,
            fresh_until,
            stale_until,
            revision: Self::revision_of(&digests),
            digests: digests.into(),
            models: Arc::new(models),
        }
    }

    /// The digest of a list, from its models' digests: equal lists, equal
    /// digests, in every process (XXH3 with its fixed default seed over the
    /// records' fields, not the process-seeded std hasher). Tens of
    /// microseconds per thousand models.
    pub fn revision_of(digests: &[u64]) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        digests.hash(&mut hasher);
        hasher.finish()
    }

    /// Each model's digest (see [`Entry::revision_of`]).
    pub fn digests_of(models: &[Model]) -> Vec<u64> {
        models
            .iter()
            .map(|model| {
                let mut hasher = xxhash_rust::xxh3::Xxh3::new();
                model.hash(&mut hasher);
                hasher.finish()
            })
            .collect()
    }

    /// This list, fetched again at `fetched_at` and unchanged: the same
    /// models (shared, not copied) with new deadlines.
    pub fn renewed(&self, fetched_at: u64, ttl: Ttl) -> Self {
        let (fresh_until, stale_until) = deadlines(fetched_at, ttl);
        self.moved_to(fetched_at, fresh_until, stale_until)
    }

    /// This list with other deadlines (as stored by another fetch of it).
    pub fn moved_to(&self, fetched_at: u64, fresh_until: u64, stale_until: u64) -> Self {
        Self {
            fetched_at,
            fresh_until,
            stale_until,
            ..self.clone()
        }
    }

    /// The clock is passed in so that callers (and tests) decide what "now" is.
    pub fn freshness(&self, now_ms: u64) -> Freshness {
        if now_ms < self.fresh_until {
            Freshness::Fresh
        } else if now_ms < self.stale_until {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }

    pub fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.fetched_at)
    }

    /// The models list's size as JSON, in bytes (telemetry only: it
    /// serialises the list to count).
    pub fn byte_size(&self) -> usize {
        serde_json::to_vec(&*self.models).map_or(0, |v| v.len())
    }
}

/// When a list fetched at `fetched_at` stops being fresh, then servable.
/// Saturating: lifetimes are bounded (`config::MAX_TTL`), and a deadline
/// that cannot be written is "never", not a wrap into the past.
fn deadlines(fetched_at: u64, ttl: Ttl) -> (u64, u64) {
    let fresh_until = fetched_at.saturating_add(millis(ttl.fresh));
    (fresh_until, fresh_until.saturating_add(millis(ttl.stale)))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_entry_is_fresh_then_stale_then_expired() {
        let ttl = Ttl {
            fresh: Duration::from_secs(10),
            stale: Duration::from_secs(20),
        };
        let e = Entry::new(1_000, ttl, vec![]);
        assert_eq!((e.fresh_until, e.stale_until), (11_000, 31_000));
        assert_eq!(e.freshness(10_999), Freshness::Fresh);
        assert_eq!(e.freshness(11_000), Freshness::Stale);
        assert_eq!(e.freshness(30_999), Freshness::Stale);
        assert_eq!(e.freshness(31_000), Freshness::Expired);
        assert_eq!(e.age_ms(1_500), 500);
    }

    #[test]
    fn the_revision_follows_the_list_not_the_fetch() {
        let ttl = Ttl {
            fresh: Duration::from_secs(10),
            stale: Duration::from_secs(20),
        };
        let model = |id: &str, prompt: &str| {
            let mut m = Model {
                id: id.into(),
                ..Model::default()
            };
            m.pricing = Some(crate::gateways::model::Pricing {
                prompt: Some(prompt.into()),
                ..Default::default()
            });
            m
        };
        let list = vec![model("a", "0.1"), model("b", "0.2")];
        let first = Entry::new(1_000, ttl, list.clone());
        let again = Entry::new(9_000, ttl, list.clone());
        assert_eq!(first.revision, again.revision, "the same list, refetched");
        let repriced = Entry::new(9_000, ttl, vec![model("a", "0.1"), model("b", "0.3")]);
        assert_ne!(first.revision, repriced.revision);
        let reordered = Entry::new(9_000, ttl, list.into_iter().rev().collect());
        assert_ne!(first.revision, reordered.revision, "the order is served");
    }
}
