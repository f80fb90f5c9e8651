//! The fetching side of the engine: one flight per gateway takes the
//! cross-instance lock (or waits for the instance holding it), fetches,
//! stores what may be stored, and records the outcome. The read side, in the
//! parent module, only decides *when* to start a flight.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{
    Baseline, Engine, FlightResult, LOCK_MARGIN, LOCK_PATIENCE, LOCK_POLL, Mode, Purpose,
    READ_BOUND, WRITE_BOUND,
};
use crate::cache::{Entry, Freshness, now_ms};
use crate::gateways::{FetchError, Gateway};
use crate::stats::Counter;
use crate::store::{SaveOutcome, StoreError};
use crate::telemetry::metrics;
use crate::telemetry::sentry::OpSpan;

impl Engine {
    /// One flight: take the cross-instance lock, fetch, store, release.
    pub(super) async fn fly(
        &self,
        gateway: &Gateway,
        mode: Mode,
        baseline: Baseline,
    ) -> FlightResult {
        let id = gateway.id.as_str();
        if mode == Mode::Read
            && let Some(error) = self.backing_off(id).await
        {
            return Err(FetchError::BackingOff(error));
        }
        let seen = match baseline {
            Baseline::Seen(version) => version,
            Baseline::Current => self.stored_version(id).await,
        };
        // A stale reader's flight is a revalidation; counted where it fetches.
        let purpose = match (mode, baseline) {
            (Mode::Read, Baseline::Seen(Some(_))) => Purpose::Revalidate,
            _ => Purpose::Fill,
        };
        let token = format!("{:032x}", rand::random::<u128>());
        let lock_ttl = gateway.timeout + LOCK_MARGIN;
        let locked = self
            .patiently(|| self.store.try_lock(id, &token, lock_ttl))
            .await;
        match locked {
            Ok(true) => {
                let result = match self.newer_than(id, seen).await {
                    Some(landed_meanwhile) => Ok(landed_meanwhile),
                    None => self.fetch_and_store(gateway, purpose).await,
                };
                let _ = self
                    .breaker
                    .call(WRITE_BOUND, self.store.unlock(id, &token))
                    .await;
                result
            }
            Ok(false) => {
                self.await_other_instance(gateway, seen, lock_ttl, purpose)
                    .await
            }
            // No store to coordinate through: fetch anyway (in-process
            // single-flight still holds) rather than leave readers empty.
            Err(e) => {
                tracing::warn!(gateway = id, error = %e, "fetching without the cross-instance lock: the store does not answer");
                self.fetch_and_store(gateway, purpose).await
            }
        }
    }

    /// Another instance holds the lock: wait for it to finish, then take
    /// what it stored.
    async fn await_other_instance(
        &self,
        gateway: &Gateway,
        seen: Option<u64>,
        max_wait: Duration,
        purpose: Purpose,
    ) -> FlightResult {
        let id = gateway.id.as_str();
        let deadline = Instant::now() + max_wait;
        loop {
            tokio::time::sleep(LOCK_POLL).await;
            match self.patiently(|| self.store.lock_held(id)).await {
                Ok(false) => break,
                Ok(true) if Instant::now() < deadline => continue,
                Ok(true) => return Err(FetchError::LockWait),
                Err(_) => return self.fetch_and_store(gateway, purpose).await,
            }
        }
        let stored = self.patiently(|| self.store.load(id)).await;
        if let Ok(Some(entry)) = stored
            && seen.is_none_or(|s| entry.fetched_at > s)
        {
            self.remember(id, &entry);
            return Ok(entry);
        }
        let error = self.breaker.call(READ_BOUND, self.store.backoff(id)).await;
        Err(FetchError::Elsewhere(
            error
                .ok()
                .flatten()
                .unwrap_or_else(|| "it stored nothing new".into()),
        ))
    }

    /// A store call on which cross-instance coordination depends: tried
    /// again (each try bounded) until it answers or [`LOCK_PATIENCE`] has
    /// passed. It does not go through the breaker: under a burst the store
    /// can be slow enough to open it while still perfectly there, and giving
    /// up on the lock then would mean one upstream fetch per instance.
    async fn patiently<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let deadline = Instant::now() + LOCK_PATIENCE;
        loop {
            let error = match tokio::time::timeout(WRITE_BOUND, op()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => e,
                Err(_) => StoreError(format!("no answer within {}ms", WRITE_BOUND.as_millis())),
            };
            if Instant::now() >= deadline {
                return Err(error);
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    async fn fetch_and_store(&self, gateway: &Gateway, purpose: Purpose) -> FlightResult {
        let started = now_ms();
        let clock = Instant::now();
        let span = OpSpan::upstream(&gateway.id, || gateway.location());
        let fetched = self.fetcher.fetch(gateway).await;
        let took = clock.elapsed();
        span.finish_status(fetched.is_ok());
        let result = match fetched {
            Ok(models) => {
                self.store_fetched(gateway, Entry::new(started, self.ttl(), models))
                    .await
            }
            Err(e) => Err(e),
        };
        metrics::fetched(
            &gateway.id,
            took,
            result.as_ref().err().map(FetchError::kind),
        );
        if purpose == Purpose::Revalidate {
            self.stats.count(Counter::Revalidations);
            if result.is_err() {
                self.stats.count(Counter::RevalidationFailures);
            }
            metrics::revalidated(&gateway.id, result.is_ok());
        }
        match &result {
            Ok(entry) => self.clear_failure(gateway, entry).await,
            Err(e) => self.record_failure(&gateway.id, e).await,
        }
        result
    }

    /// Saves a fetched entry unless it must not replace what is cached.
    async fn store_fetched(&self, gateway: &Gateway, entry: Entry) -> FlightResult {
        let id = gateway.id.as_str();
        if entry.models.is_empty()
            && let Some(cached) = self.local_entry(id)
            && cached.freshness(now_ms()) != Freshness::Expired
            && !cached.models.is_empty()
        {
            return Err(FetchError::EmptyList(cached.models.len()));
        }
        let span = OpSpan::cache_put(|| self.store.entry_key(id));
        let saved = self
            .breaker
            .call(WRITE_BOUND, self.store.save(id, &entry))
            .await;
        let size = span.is_recording().then(|| entry.byte_size());
        span.finish_put(size, saved.is_ok());
        match saved {
            Ok(SaveOutcome::Saved) => {
                self.remember(id, &entry);
                Ok(entry)
            }
            Ok(SaveOutcome::KeptNonEmpty(count)) => Err(FetchError::EmptyList(count)),
            // An older fetch never overwrites a newer one: serve the newer.
            Ok(SaveOutcome::KeptNewer) => Ok(self
                .newer_than(id, Some(entry.fetched_at))
                .await
                .unwrap_or(entry)),
            Err(e) => {
                tracing::warn!(gateway = id, error = %e, "serving the fetched list from memory: the store did not take it");
                self.remember(id, &entry);
                Ok(entry)
            }
        }
    }

    async fn clear_failure(&self, gateway: &Gateway, entry: &Entry) {
        let had_failed = self.failures.clear(&gateway.id);
        if had_failed {
            self.changed();
        }
        let _ = self
            .breaker
            .call(WRITE_BOUND, self.store.clear_backoff(&gateway.id))
            .await;
        tracing::info!(gateway = %gateway.id, models = entry.models.len(), recovered = had_failed, "fetched");
    }

    async fn record_failure(&self, gateway: &str, error: &FetchError) {
        let message = error.public(); // what readers see; the log below keeps the detail
        self.failures.record(gateway, &message, self.backoff);
        self.changed();
        let _ = self
            .breaker
            .call(
                WRITE_BOUND,
                self.store.set_backoff(gateway, &message, self.backoff),
            )
            .await;
        tracing::warn!(gateway, kind = error.kind(), error = %error, "fetch failed; cached data left untouched");
    }
}
