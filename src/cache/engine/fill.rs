//! The fetching side of the engine: one flight per gateway takes the
//! cross-instance lock (or waits for the instance holding it), fetches,
//! stores what may be stored, and records the outcome. The read side, in the
//! parent module, only decides *when* to start a flight.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{
    Baseline, Engine, Epochs, FlightResult, LEASE_RENEWAL, LOCK_MARGIN, LOCK_PATIENCE, LOCK_POLL,
    Mode, Purpose, READ_BOUND, Unsaved, WRITE_BOUND, lock,
};
use crate::cache::{Entry, Freshness, now_ms};
use crate::gateways::{FetchError, Fetched, Gateway};
use crate::stats::Counter;
use crate::store::{SaveOutcome, StoreError};
use crate::telemetry::metrics;
use crate::telemetry::sentry::OpSpan;

/// How a fetched entry goes to the store.
#[derive(Debug, Clone, Copy)]
enum Save {
    /// A list fetched and parsed: all of it.
    Whole,
    /// The list held, whose fetch came back byte for byte: its new
    /// deadlines, and the list itself only if the store lost it.
    Extend,
}

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
        let local_epoch = self.invalidations_of(id);
        let first = self
            .take_lock_or_wait(gateway, purpose, seen, local_epoch)
            .await;
        match first {
            // The holder stored nothing newer than this warm saw, and no
            // failure: it found an entry stored meanwhile and took that, so
            // nobody fetched for this warm. Its turn now. (A reader takes
            // what is there: it has no fetch to insist on.)
            Err(FetchError::Elsewhere(why)) if why.is_empty() && mode == Mode::Warm => {
                let again = self
                    .take_lock_or_wait(gateway, purpose, seen, local_epoch)
                    .await;
                match again {
                    Err(FetchError::Elsewhere(why)) if why.is_empty() => {
                        Err(FetchError::Elsewhere("it stored nothing new".into()))
                    }
                    result => result,
                }
            }
            Err(FetchError::Elsewhere(why)) if why.is_empty() => {
                Err(FetchError::Elsewhere("it stored nothing new".into()))
            }
            result => result,
        }
    }

    /// Takes the cross-instance lock and fetches, or waits for the instance
    /// holding it and takes what it stored.
    async fn take_lock_or_wait(
        &self,
        gateway: &Gateway,
        purpose: Purpose,
        seen: Option<u64>,
        local_epoch: u64,
    ) -> FlightResult {
        let id = gateway.id.as_str();
        let token = format!("{:032x}", rand::random::<u128>());
        let lease = gateway.timeout + LOCK_MARGIN;
        let locked = self
            .patiently(|| self.store.try_lock(id, &token, lease))
            .await;
        match locked {
            Ok(true) => {
                let work = async {
                    let epochs = self.epochs(id, local_epoch).await;
                    // Read once under the lock: whether a newer entry landed
                    // meanwhile, and else which version a save would replace.
                    let stored = self.stored_version(id).await;
                    match self.newer_than_version(id, seen, stored).await {
                        Some(landed_meanwhile) => Ok(landed_meanwhile),
                        None => {
                            self.fetch_and_store(gateway, purpose, epochs, Some(stored))
                                .await
                        }
                    }
                };
                let result = self.holding_lease(id, &token, lease, work).await;
                // Past the breaker: a lock left behind would stall every
                // other instance until its lease ran out.
                let _ = self.patiently(|| self.store.unlock(id, &token)).await;
                result
            }
            Ok(false) => {
                self.await_other_instance(gateway, seen, purpose, local_epoch)
                    .await
            }
            // No store to coordinate through: fetch anyway (in-process
            // single-flight still holds) rather than leave readers empty.
            Err(e) => {
                tracing::warn!(gateway = id, error = %e, "fetching without the cross-instance lock: the store does not answer");
                let epochs = self.epochs(id, local_epoch).await;
                self.fetch_and_store(gateway, purpose, epochs, None).await
            }
        }
    }

    /// The epochs a flight begins under, read before it asks the upstream.
    async fn epochs(&self, gateway: &str, local: u64) -> Epochs {
        let store = self
            .breaker
            .call(READ_BOUND, self.store.epoch(gateway))
            .await
            .ok();
        Epochs { store, local }
    }

    /// Runs `work` while renewing `token`'s lease on the lock every
    /// [`LEASE_RENEWAL`], so that the lock covers the whole flight however
    /// long its bounded steps take together, and lapses soon after a holder
    /// dies. A lease found lost (invalidated, or lapsed and taken) is left be.
    async fn holding_lease<T>(
        &self,
        gateway: &str,
        token: &str,
        lease: Duration,
        work: impl Future<Output = T>,
    ) -> T {
        let renewals = async {
            loop {
                tokio::time::sleep(LEASE_RENEWAL).await;
                let renewed = crate::background::timeout(
                    WRITE_BOUND,
                    self.store.renew(gateway, token, lease),
                );
                if let Ok(Ok(false)) = renewed.await {
                    tracing::debug!(gateway, "fetch lock lost while fetching");
                    return std::future::pending().await;
                }
            }
        };
        tokio::pin!(work, renewals);
        match futures::future::select(work, renewals).await {
            futures::future::Either::Left((out, _)) => out,
            futures::future::Either::Right((never, _)) => never,
        }
    }

    /// Another instance holds the lock: wait for it to finish, then take
    /// what it stored.
    async fn await_other_instance(
        &self,
        gateway: &Gateway,
        seen: Option<u64>,
        purpose: Purpose,
        local_epoch: u64,
    ) -> FlightResult {
        let id = gateway.id.as_str();
        // The holder renews its lease until it is done: wait as long as its
        // flight may last, every bounded step included.
        let deadline = Instant::now() + gateway.timeout + LOCK_MARGIN + 2 * WRITE_BOUND;
        loop {
            tokio::time::sleep(LOCK_POLL).await;
            match self.patiently(|| self.store.lock_held(id)).await {
                Ok(false) => break,
                Ok(true) if Instant::now() < deadline => continue,
                Ok(true) => return Err(FetchError::LockWait),
                Err(_) => {
                    let epochs = self.epochs(id, local_epoch).await;
                    return self.fetch_and_store(gateway, purpose, epochs, None).await;
                }
            }
        }
        let stored = self.patiently(|| self.store.load(id)).await;
        if let Ok(Some(entry)) = stored
            && seen.is_none_or(|s| entry.fetched_at > s)
        {
            self.remember(id, &entry);
            return Ok(entry);
        }
        // An empty reason: nothing new and no failure recorded (see `fly`).
        let error = self.breaker.call(READ_BOUND, self.store.backoff(id)).await;
        Err(FetchError::Elsewhere(
            error.ok().flatten().unwrap_or_default(),
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
            let error = match crate::background::timeout(WRITE_BOUND, op()).await {
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

    /// `stored`: the store's version of the entry as read under the lock
    /// (`None` when it was not read: no lock to read it under).
    async fn fetch_and_store(
        &self,
        gateway: &Gateway,
        purpose: Purpose,
        epochs: Epochs,
        stored: Option<Option<u64>>,
    ) -> FlightResult {
        let started = now_ms();
        let clock = Instant::now();
        let span = OpSpan::upstream(&gateway.id, || gateway.location());
        let held = self.local_entry(&gateway.id);
        let fetched = self
            .fetcher
            .fetch(gateway, held.as_ref().map(|e| e.revision))
            .await;
        let took = clock.elapsed();
        span.finish_status(fetched.is_ok());
        let result = match fetched {
            Ok(Fetched::List(mut models, bodies)) => {
                let before = self.replaced_entry(&gateway.id, stored).await;
                let known = before.as_ref().and_then(Option::as_ref);
                let first_seen = self
                    .stamp_first_seen(&gateway.id, &mut models, started, known)
                    .await;
                let ttl = self.ttl();
                // Digesting the list is per record: off the async threads.
                let entry = crate::background::run(move || Entry::new(started, ttl, models)).await;
                self.fetcher.made(&gateway.id, bodies, entry.revision);
                self.store_fetched(gateway, entry, epochs, (before, &first_seen), Save::Whole)
                    .await
            }
            Ok(Fetched::Same) => {
                metrics::unchanged(&gateway.id);
                let held = held.expect("BUG: a fetch comes back the same only as a list held");
                let before = self.replaced_entry(&gateway.id, stored).await;
                let entry = held.renewed(started, self.ttl());
                self.store_fetched(gateway, entry, epochs, (before, &[]), Save::Extend)
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
            // The upstream answered; its answer was merely overtaken.
            Err(FetchError::Invalidated) => {
                tracing::info!(gateway = %gateway.id, "fetched list discarded: the gateway was invalidated meanwhile");
            }
            Err(e) => self.record_failure(&gateway.id, e).await,
        }
        result
    }

    /// Saves a fetched entry unless it must not replace what is cached;
    /// `how`: [`Save::Extend`] for the list held, fetched again unchanged.
    async fn store_fetched(
        &self,
        gateway: &Gateway,
        entry: Entry,
        epochs: Epochs,
        (before, first_seen): (Option<Option<Entry>>, &[(String, u64)]),
        how: Save,
    ) -> FlightResult {
        let id = gateway.id.as_str();
        if entry.models.is_empty()
            && let Some(cached) = self.local_entry(id)
            && cached.freshness(now_ms()) != Freshness::Expired
            && !cached.models.is_empty()
        {
            return Err(FetchError::EmptyList(cached.models.len()));
        }
        let span = OpSpan::cache_put(|| self.store.entry_key(id));
        let save = async {
            match how {
                Save::Whole => self.store.save_at(id, &entry, epochs.store).await,
                Save::Extend => self.store.extend_at(id, &entry, epochs.store).await,
            }
        };
        let saved = self.breaker.call(WRITE_BOUND, save).await;
        let size = span.is_recording().then(|| entry.byte_size());
        span.finish_put(size, saved.is_ok());
        match saved {
            Ok(SaveOutcome::Saved) => {
                self.record_changes(id, before, &entry, first_seen).await;
                self.land(id, entry, epochs.local)
            }
            Ok(SaveOutcome::Invalidated) => Err(FetchError::Invalidated),
            Ok(SaveOutcome::KeptNonEmpty(count)) => Err(FetchError::EmptyList(count)),
            // An older fetch never overwrites a newer one: serve the newer.
            Ok(SaveOutcome::KeptNewer) => Ok(self
                .newer_than(id, Some(entry.fetched_at))
                .await
                .unwrap_or(entry)),
            Err(e) => {
                tracing::warn!(gateway = id, error = %e, "serving the fetched list from memory until the store takes it");
                let result = self.land(id, entry.clone(), epochs.local);
                if result.is_ok() {
                    let unsaved = Unsaved {
                        entry,
                        epoch: epochs.store,
                    };
                    lock(&self.unsaved).insert(id.to_owned(), unsaved);
                }
                result
            }
        }
    }

    /// Stamps the fetched models' `first_seen` (when a change log is set);
    /// the ids seen for the first time. Without the store's memory of them
    /// the models go unstamped rather than claim to be new.
    async fn stamp_first_seen(
        &self,
        gateway: &str,
        models: &mut [crate::gateways::Model],
        now: u64,
        before: Option<&Entry>,
    ) -> Vec<(String, u64)> {
        let Some(log) = self.changes.get() else {
            return Vec::new();
        };
        let stamped = self
            .breaker
            .call(READ_BOUND, log.stamp(gateway, models, now, before))
            .await;
        stamped.unwrap_or_else(|e| {
            tracing::warn!(gateway, error = %e, "first_seen not stamped: the store did not answer");
            Vec::new()
        })
    }

    /// The entry a save would replace: the store's (at version `stored`
    /// when known, else asked), from this instance's copy when it is that
    /// version. `None` without a change log; `Some(None)` when the store
    /// holds none.
    pub(super) async fn replaced_entry(
        &self,
        gateway: &str,
        stored: Option<Option<u64>>,
    ) -> Option<Option<Entry>> {
        self.changes.get()?;
        let stored = match stored {
            Some(known) => known,
            None => self.stored_version(gateway).await,
        };
        let Some(version) = stored else {
            return Some(None);
        };
        if let Some(local) = self
            .local_entry(gateway)
            .filter(|e| e.fetched_at == version)
        {
            return Some(Some(local));
        }
        let loaded = self
            .breaker
            .call(READ_BOUND, self.store.load(gateway))
            .await;
        Some(loaded.ok().flatten())
    }

    /// Records what the stored `entry` changed (see [`crate::changes`]).
    pub(super) async fn record_changes(
        &self,
        gateway: &str,
        before: Option<Option<Entry>>,
        entry: &Entry,
        first_seen: &[(String, u64)],
    ) {
        let (Some(log), Some(before)) = (self.changes.get(), before) else {
            return;
        };
        let recorded = self
            .breaker
            .call(
                WRITE_BOUND,
                log.record(gateway, before.as_ref(), entry, first_seen),
            )
            .await;
        match recorded {
            Ok(0) => {}
            Ok(count) => tracing::info!(gateway, count, "changes recorded"),
            Err(e) => tracing::warn!(gateway, error = %e, "changes of a stored list not recorded"),
        }
    }

    /// Keeps a fetched entry as this instance's copy, unless the gateway was
    /// invalidated here since the flight began.
    fn land(&self, gateway: &str, entry: Entry, local_epoch: u64) -> FlightResult {
        if self.invalidations_of(gateway) != local_epoch {
            return Err(FetchError::Invalidated);
        }
        self.remember(gateway, &entry);
        Ok(entry)
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
