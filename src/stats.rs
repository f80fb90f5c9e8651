//! The operator's counters (`GET /api/cache/stats`), shared by every instance.
//!
//! Counting must not slow the read path, and the numbers must add up across
//! instances: so each instance counts in atomics and [`Stats::flush`] adds
//! what it counted since the last flush to the store's counters (a Redis hash,
//! `HINCRBY`), every second and before any stats answer. Per-gateway read
//! tallies are also kept for the life of the process, monotonic, for the
//! Prometheus counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::cache::ReadOutcome;
use crate::store::{Store, StoreError};

/// The shared counters, by their field name in the store and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    TotalWarms,
    BackgroundRefreshCount,
    InvalidationCount,
    Hits,
    StaleHits,
    Misses,
    Revalidations,
    RevalidationFailures,
    WebhookDeliveries,
    WebhookRetries,
    WebhookDrops,
}

impl Counter {
    const ALL: [Counter; 11] = [
        Self::TotalWarms,
        Self::BackgroundRefreshCount,
        Self::InvalidationCount,
        Self::Hits,
        Self::StaleHits,
        Self::Misses,
        Self::Revalidations,
        Self::RevalidationFailures,
        Self::WebhookDeliveries,
        Self::WebhookRetries,
        Self::WebhookDrops,
    ];

    pub fn field(self) -> &'static str {
        match self {
            Self::TotalWarms => "totalWarms",
            Self::BackgroundRefreshCount => "backgroundRefreshCount",
            Self::InvalidationCount => "invalidationCount",
            Self::Hits => "hits",
            Self::StaleHits => "staleHits",
            Self::Misses => "misses",
            Self::Revalidations => "revalidations",
            Self::RevalidationFailures => "revalidationFailures",
            Self::WebhookDeliveries => "webhookDeliveries",
            Self::WebhookRetries => "webhookRetries",
            Self::WebhookDrops => "webhookDrops",
        }
    }

    fn of(outcome: ReadOutcome) -> Self {
        match outcome {
            ReadOutcome::Hit => Self::Hits,
            ReadOutcome::Stale => Self::StaleHits,
            ReadOutcome::Miss => Self::Misses,
        }
    }
}

const LAST_WARM_TIME: &str = "lastWarmTime";
const LAST_WARM_DURATION: &str = "lastWarmDuration";

/// What `GET /api/cache/stats` answers (field names are the SPEC's).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsReport {
    pub total_warms: u64,
    /// When the last warm finished, ms since epoch.
    pub last_warm_time: Option<u64>,
    /// How long the last warm took, ms.
    pub last_warm_duration: Option<u64>,
    /// Models cached per gateway.
    pub items_cached: BTreeMap<String, usize>,
    pub background_refresh_count: u64,
    pub invalidation_count: u64,
    /// Gateway reads served fresh.
    pub hits: u64,
    /// Gateway reads served stale (while revalidating).
    pub stale_hits: u64,
    /// Gateway reads that found nothing servable.
    pub misses: u64,
    /// (hits + staleHits) / all reads; `null` before the first read.
    pub hit_rate: Option<f64>,
    /// Background revalidation fetches, and how many of them failed.
    pub revalidations: u64,
    pub revalidation_failures: u64,
    /// Webhook POSTs answered 2xx; failed attempts retried; deliveries
    /// given up after `WEBHOOK_RETRY_FOR`.
    pub webhook_deliveries: u64,
    pub webhook_retries: u64,
    pub webhook_drops: u64,
}

pub struct Stats {
    store: Arc<dyn Store>,
    /// Counted here since the last flush, by [`Counter`] position.
    pending: [AtomicU64; Counter::ALL.len()],
    /// The last warm (finished at, duration), until flushed.
    last_warm: Mutex<Option<(u64, u64)>>,
    /// Per gateway, by [`ReadSlot`]: hit, stale, miss since start (never
    /// reset).
    reads: Vec<[AtomicU64; 3]>,
    slots: HashMap<String, ReadSlot>,
}

/// Where a gateway's reads are tallied ([`Stats::slot`]): resolved once
/// when an answer is assembled, so that each reuse of it counts its reads
/// without looking a gateway up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSlot(usize);

impl Stats {
    pub fn new<'a>(store: Arc<dyn Store>, gateways: impl IntoIterator<Item = &'a str>) -> Self {
        let gateways: Vec<&str> = gateways.into_iter().collect();
        Self {
            store,
            pending: Default::default(),
            last_warm: Mutex::default(),
            reads: gateways.iter().map(|_| Default::default()).collect(),
            slots: gateways
                .iter()
                .enumerate()
                .map(|(i, g)| ((*g).to_owned(), ReadSlot(i)))
                .collect(),
        }
    }

    /// Where `gateway`'s reads are tallied (`None`: not a configured one).
    pub fn slot(&self, gateway: &str) -> Option<ReadSlot> {
        self.slots.get(gateway).copied()
    }

    pub fn count(&self, counter: Counter) {
        self.pending[counter as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// One gateway's part of a read.
    pub fn read(&self, gateway: &str, outcome: ReadOutcome) {
        self.read_all(&[(self.slot(gateway), outcome)]);
    }

    /// The gateways' parts of one read, by slot: the totals by outcome
    /// summed first, so a read of twenty gateways is a few additions.
    pub fn read_all(&self, reads: &[(Option<ReadSlot>, ReadOutcome)]) {
        let mut by_outcome = [0u64; 3];
        for &(slot, outcome) in reads {
            by_outcome[outcome as usize] += 1;
            if let Some(tally) = slot.and_then(|s| self.reads.get(s.0)) {
                tally[outcome as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
        for outcome in [ReadOutcome::Hit, ReadOutcome::Stale, ReadOutcome::Miss] {
            let n = by_outcome[outcome as usize];
            if n > 0 {
                self.pending[Counter::of(outcome) as usize].fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub fn warm_finished(&self, finished_at: u64, duration_ms: u64) {
        self.count(Counter::TotalWarms);
        *self.lock_last_warm() = Some((finished_at, duration_ms));
    }

    /// Reads of `gateway` by outcome since this process started.
    pub fn reads_of(&self, gateway: &str) -> [(ReadOutcome, u64); 3] {
        let load = |o: ReadOutcome| {
            let n = self
                .slot(gateway)
                .and_then(|s| self.reads.get(s.0))
                .map(|t| t[o as usize].load(Ordering::Relaxed));
            (o, n.unwrap_or(0))
        };
        [
            load(ReadOutcome::Hit),
            load(ReadOutcome::Stale),
            load(ReadOutcome::Miss),
        ]
    }

    /// Adds what this instance counted to the shared counters. On failure the
    /// counts are kept for the next flush.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let taken: Vec<(Counter, u64)> = Counter::ALL
            .iter()
            .map(|&c| (c, self.pending[c as usize].swap(0, Ordering::Relaxed)))
            .collect();
        let last_warm = self.lock_last_warm().take();
        if taken.iter().all(|(_, n)| *n == 0) && last_warm.is_none() {
            return Ok(());
        }
        let add: Vec<(&str, u64)> = taken.iter().map(|(c, n)| (c.field(), *n)).collect();
        let set: Vec<(&str, u64)> = last_warm
            .map(|(at, took)| vec![(LAST_WARM_TIME, at), (LAST_WARM_DURATION, took)])
            .unwrap_or_default();
        let result = self.store.update_counters(&add, &set).await;
        if result.is_err() {
            for (c, n) in taken {
                self.pending[c as usize].fetch_add(n, Ordering::Relaxed);
            }
            let mut kept = self.lock_last_warm();
            if kept.is_none() {
                *kept = last_warm;
            }
        }
        result
    }

    /// Every instance's counts, this one's included up to now.
    pub async fn report(
        &self,
        items_cached: BTreeMap<String, usize>,
    ) -> Result<StatsReport, StoreError> {
        self.flush().await?;
        let shared = self.store.counters().await?;
        let get = |c: Counter| shared.get(c.field()).copied().unwrap_or(0);
        let (hits, stale_hits, misses) = (
            get(Counter::Hits),
            get(Counter::StaleHits),
            get(Counter::Misses),
        );
        let reads = hits + stale_hits + misses;
        Ok(StatsReport {
            total_warms: get(Counter::TotalWarms),
            last_warm_time: shared.get(LAST_WARM_TIME).copied(),
            last_warm_duration: shared.get(LAST_WARM_DURATION).copied(),
            items_cached,
            background_refresh_count: get(Counter::BackgroundRefreshCount),
            invalidation_count: get(Counter::InvalidationCount),
            hits,
            stale_hits,
            misses,
            hit_rate: (reads > 0).then(|| (hits + stale_hits) as f64 / reads as f64),
            revalidations: get(Counter::Revalidations),
            revalidation_failures: get(Counter::RevalidationFailures),
            webhook_deliveries: get(Counter::WebhookDeliveries),
            webhook_retries: get(Counter::WebhookRetries),
            webhook_drops: get(Counter::WebhookDrops),
        })
    }

    /// Zeroes the shared counters and what this instance has not flushed.
    pub async fn reset(&self) -> Result<(), StoreError> {
        for pending in &self.pending {
            pending.store(0, Ordering::Relaxed);
        }
        self.lock_last_warm().take();
        self.store.reset_counters().await
    }

    fn lock_last_warm(&self) -> std::sync::MutexGuard<'_, Option<(u64, u64)>> {
        self.last_warm.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EmbeddedStore;

    #[tokio::test]
    async fn a_read_of_many_gateways_counts_each_and_the_totals() {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new());
        let stats = Stats::new(store, ["a", "b", "c"]);
        let (a, b) = (stats.slot("a"), stats.slot("b"));
        assert_ne!(a, b);
        assert_eq!(stats.slot("zzz"), None);
        let read = [
            (a, ReadOutcome::Hit),
            (b, ReadOutcome::Stale),
            (stats.slot("c"), ReadOutcome::Hit),
        ];
        stats.read_all(&read);
        stats.read_all(&read);
        let report = stats.report(BTreeMap::new()).await.unwrap();
        assert_eq!((report.hits, report.stale_hits, report.misses), (4, 2, 0));
        assert_eq!(stats.reads_of("a")[0], (ReadOutcome::Hit, 2));
        assert_eq!(stats.reads_of("b")[1], (ReadOutcome::Stale, 2));
        assert_eq!(stats.reads_of("b")[0], (ReadOutcome::Hit, 0));
    }

    #[tokio::test]
    async fn counts_add_up_across_flushes_and_reset_zeroes_them() {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new());
        let stats = Stats::new(Arc::clone(&store), ["a"]);
        stats.read("a", ReadOutcome::Hit);
        stats.read("a", ReadOutcome::Hit);
        stats.read("a", ReadOutcome::Stale);
        stats.flush().await.unwrap();
        stats.read("a", ReadOutcome::Miss);
        stats.warm_finished(1234, 56);
        let report = stats.report(BTreeMap::new()).await.unwrap();
        assert_eq!((report.hits, report.stale_hits, report.misses), (2, 1, 1));
        assert_eq!(report.hit_rate, Some(0.75));
        assert_eq!(
            (
                report.total_warms,
                report.last_warm_time,
                report.last_warm_duration
            ),
            (1, Some(1234), Some(56))
        );

        stats.reset().await.unwrap();
        let report = stats.report(BTreeMap::new()).await.unwrap();
        assert_eq!(
            (report.hits, report.total_warms, report.hit_rate),
            (0, 0, None)
        );
        assert_eq!(
            stats.reads_of("a")[0],
            (ReadOutcome::Hit, 2),
            "process tallies are never reset"
        );
    }
}
