//! A cached models list with its envelope, and what it is worth at an instant.

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
        // Saturating: lifetimes are bounded (`config::MAX_TTL`), and a
        // deadline that cannot be written is "never", not a wrap into the past.
        let fresh_until = fetched_at.saturating_add(millis(ttl.fresh));
        Self {
            fetched_at,
            fresh_until,
            stale_until: fresh_until.saturating_add(millis(ttl.stale)),
            models: Arc::new(models),
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
}
