//! Copies the store lost, set aside for stale-if-error.
//!
//! The sync drops an instance's copy of an entry gone from the store
//! (expired, deleted, or the whole store restarted empty), and the next read
//! fetches the gateway again. If that fetch fails, the reader would get
//! nothing although this instance held good data a moment ago: a Redis that
//! came back empty while a gateway was down lost that gateway for every
//! instance. So a copy still servable when the store lost it is set aside,
//! and served (and written back to the store) if fetching again fails.
//!
//! Not when an operator dropped the entry: an invalidation moves the
//! gateway's epoch in the store (a copy is not set aside once the epoch is
//! past 0; a store that never saw an invalidation, or restarted empty, has
//! 0) and clears what was set aside here; the write-back is made under
//! epoch 0, so the store refuses it once an invalidation happened meanwhile.

use super::{Engine, READ_BOUND, Unsaved, lock};
use crate::cache::{Entry, Freshness, now_ms};

impl Engine {
    /// Drops this instance's copy of `gateway`, which the store lost,
    /// keeping it aside if it is still servable and no invalidation dropped it.
    pub(super) async fn forget_lost(&self, gateway: &str) {
        let servable = self
            .local_entry(gateway)
            .filter(|e| e.freshness(now_ms()) != Freshness::Expired);
        if let Some(entry) = servable {
            let epoch = self
                .breaker
                .call(READ_BOUND, self.store.epoch(gateway))
                .await;
            // An epoch that cannot be read does not stop it: the write-back
            // is still checked against the epoch, atomically.
            if !matches!(epoch, Ok(e) if e > 0) {
                lock(&self.aside).insert(gateway.to_owned(), entry);
            }
        }
        self.forget(gateway);
    }

    /// The copy set aside for `gateway`, if still servable: kept as this
    /// instance's copy again and written back to the store by the next sync.
    /// It stays aside (concurrent readers whose fetch failed take it too)
    /// until a fetch succeeds or the gateway is invalidated.
    pub(super) fn take_aside(&self, gateway: &str) -> Option<Entry> {
        let entry = lock(&self.aside)
            .get(gateway)
            .filter(|e| e.freshness(now_ms()) != Freshness::Expired)
            .cloned()?;
        self.remember(gateway, &entry);
        let unsaved = Unsaved {
            entry: entry.clone(),
            epoch: Some(0),
        };
        lock(&self.unsaved)
            .entry(gateway.to_owned())
            .or_insert(unsaved);
        tracing::warn!(
            gateway,
            "fetching failed after the store lost the entry: serving the copy this instance held"
        );
        Some(entry)
    }

    /// Nothing to fall back on for `gateway` any more (fetched, or dropped).
    pub(super) fn clear_aside(&self, gateway: &str) {
        lock(&self.aside).remove(gateway);
    }
}
