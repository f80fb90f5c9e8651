//! The stale-while-revalidate engine.
//!
//! A read looks each gateway up in this instance's memory (`local`, kept in
//! line with the store by [`Engine::sync`] every [`SYNC_INTERVAL`]; only a
//! gateway it holds nothing for is asked of the store) and then, per gateway:
//! - **fresh** → served as is;
//! - **stale** → served at once, and one background revalidation is started;
//! - **missing/expired** → fetched now, within the gateway's timeout.
//!
//! Every fetch goes through a *flight*: in-process single-flight joins
//! concurrent callers, and a store lock with an owner token and an expiry
//! makes other instances wait for the result instead of fetching too. A
//! failed or suspicious fetch never replaces cached data, and readers leave a
//! failing gateway alone for the backoff period.
//!
//! The store is never waited on for longer than a short bound (see
//! [`super::breaker`]): when it fails, reads go on being served from `local`,
//! fetching without the cross-instance lock if they must. A fetched list the
//! store did not take is kept as `unsaved` and written back by the sync: an
//! older stored entry never replaces it.
//!
//! An operator's invalidation ([`Engine::invalidate`]) moves the gateway's
//! epoch, here and in the store: a flight that began before it never lands
//! (the store's save script and this instance both check the epoch the
//! flight started under), and later callers start a flight of their own
//! instead of joining it.

mod aside;
mod fill;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use futures::future::join_all;

use super::breaker::Breaker;
use super::failures::Failures;
use super::flight::{Flight, Flights};
use super::{Entry, Freshness, ReadOutcome, now_ms};
use crate::changes::ChangeLog;
use crate::config::Ttl;
use crate::gateways::{FetchError, Fetcher, Gateway};
use crate::stats::Stats;
use crate::store::{Notice, SaveOutcome, Store};
use crate::telemetry::sentry::OpSpan;

/// Bound on a store read made for a reader.
const READ_BOUND: Duration = Duration::from_millis(250);
/// Bound on a store write or lock operation.
const WRITE_BOUND: Duration = Duration::from_secs(1);
/// The fetch lock's lease outlives the fetch timeout by this much; its holder
/// renews it every [`LEASE_RENEWAL`] for as long as the flight runs (version
/// check and save included), and it lapses this soon after a holder dies.
const LOCK_MARGIN: Duration = Duration::from_secs(1);
const LEASE_RENEWAL: Duration = Duration::from_millis(500);
/// How often the server re-reads the store's versions ([`Engine::sync`]).
pub const SYNC_INTERVAL: Duration = Duration::from_millis(250);
/// How often an instance waiting on another's fetch checks the lock.
const LOCK_POLL: Duration = Duration::from_millis(25);
/// How long lock operations keep retrying a store that fails before an
/// instance gives up on coordinating and fetches on its own.
const LOCK_PATIENCE: Duration = Duration::from_millis(500);

/// Who asks for a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A reader: respects the backoff after a failure.
    Read,
    /// An explicit warm: always fetches (or joins a fetch in flight).
    Warm,
}

/// Why a flight fetches, for the revalidation counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A stale entry's background revalidation.
    Revalidate,
    /// Anything else: a cold read, a warm.
    Fill,
}

/// What the caller already has. A fetch that lands in the store after it (by
/// another caller or instance) is taken as this caller's result instead of
/// fetching again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The entry version the caller saw (`None`: it saw no entry).
    Seen(Option<u64>),
    /// Whatever the store holds when the fetch starts (explicit warms).
    Current,
}

/// One gateway's part of a read.
#[derive(Debug, Clone)]
pub struct GatewayView {
    pub gateway: Arc<Gateway>,
    /// What is served; `None` when nothing servable is cached.
    pub entry: Option<Entry>,
    pub outcome: ReadOutcome,
    /// The last fetch error, while it is recent (within the backoff).
    pub error: Option<String>,
}

impl GatewayView {
    /// `fresh`, `stale` or `missing`, as the API reports it.
    pub fn state(&self, now: u64) -> &'static str {
        match self.entry.as_ref().map(|e| e.freshness(now)) {
            Some(Freshness::Fresh) => "fresh",
            Some(Freshness::Stale) => "stale",
            Some(Freshness::Expired) | None => "missing",
        }
    }
}

type FlightResult = Result<Entry, FetchError>;

pub struct Engine {
    store: Arc<dyn Store>,
    fetcher: Fetcher,
    /// Lifetimes given to entries written from now on (runtime-tunable).
    ttl: RwLock<Ttl>,
    backoff: Duration,
    stats: Arc<Stats>,
    /// This instance's copy of each gateway's entry: what reads are served
    /// from (also while the store is down), synced with the store.
    local: RwLock<HashMap<String, Entry>>,
    /// Gateways failing on this instance, until their next success.
    failures: Failures,
    /// See [`Engine::generation`].
    generation: AtomicU64,
    flights: Arc<Flights<FlightResult>>,
    /// Store lookups of gateways this instance holds nothing for: a cold
    /// stampede asks the store once per gateway, not once per reader.
    lookups: Arc<Flights<Option<Entry>>>,
    /// Bounds every store call and skips the store right after a failure.
    breaker: Breaker,
    /// Invalidations this instance has applied, per gateway: a flight that
    /// began under an older count never lands here.
    invalidations: Mutex<HashMap<String, u64>>,
    /// Fetched entries the store did not take (it failed, or was skipped):
    /// written back by [`Engine::sync`], never replaced by an older one.
    unsaved: Mutex<HashMap<String, Unsaved>>,
    /// Copies the store lost, served if fetching them again fails (see `aside`).
    aside: Mutex<HashMap<String, Entry>>,
    /// Where the stored lists' differences are recorded, once set.
    changes: OnceLock<Arc<ChangeLog>>,
}

/// A fetched entry waiting to be written back, with the store epoch its
/// flight began under.
#[derive(Clone)]
struct Unsaved {
    entry: Entry,
    epoch: Option<u64>,
}

/// The epochs a flight began under: the store's (`None` if it could not be
/// read) and this instance's.
#[derive(Debug, Clone, Copy)]
struct Epochs {
    store: Option<u64>,
    local: u64,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        fetcher: Fetcher,
        ttl: Ttl,
        backoff: Duration,
        stats: Arc<Stats>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            fetcher,
            ttl: RwLock::new(ttl),
            backoff,
            stats,
            local: RwLock::default(),
            failures: Failures::default(),
            generation: AtomicU64::new(0),
            flights: Flights::new(),
            lookups: Flights::new(),
            breaker: Breaker::default(),
            invalidations: Mutex::default(),
            unsaved: Mutex::default(),
            aside: Mutex::default(),
            changes: OnceLock::new(),
        })
    }

    /// From now on, every list this instance stores has its differences
    /// recorded in `log` (and its models' `first_seen` stamped).
    pub fn record_changes_in(&self, log: Arc<ChangeLog>) {
        let _ = self.changes.set(log);
    }

    pub fn change_log(&self) -> Option<&Arc<ChangeLog>> {
        self.changes.get()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    pub fn ttl(&self) -> Ttl {
        *self.ttl.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Entries written from now on get `ttl`; stored ones keep theirs.
    pub fn set_ttl(&self, ttl: Ttl) {
        *self.ttl.write().unwrap_or_else(|p| p.into_inner()) = ttl;
    }

    /// How long `gateway` has been failing on this instance, if it is.
    pub fn failing_for(&self, gateway: &str) -> Option<Duration> {
        self.failures.failing_for(gateway)
    }

    /// Serves `gateways` by the stale-while-revalidate rules (module doc).
    pub async fn read(self: &Arc<Self>, gateways: &[Arc<Gateway>]) -> Vec<GatewayView> {
        let now = now_ms();
        let entries = self.current_entries(gateways).await;
        let views = gateways
            .iter()
            .zip(entries)
            .map(|(gateway, entry)| self.serve(gateway, entry, now));
        let views = join_all(views).await;
        for view in &views {
            self.stats.read(&view.gateway.id, view.outcome);
        }
        views
    }

    /// The cache state of `gateways`, without fetching or revalidating.
    pub async fn inspect(self: &Arc<Self>, gateways: &[Arc<Gateway>]) -> Vec<GatewayView> {
        let now = now_ms();
        let entries = self.current_entries(gateways).await;
        let views = gateways
            .iter()
            .zip(entries)
            .map(|(gateway, entry)| async move {
                let outcome = match entry.as_ref().map(|e| e.freshness(now)) {
                    Some(Freshness::Fresh) => ReadOutcome::Hit,
                    Some(Freshness::Stale) => ReadOutcome::Stale,
                    _ => ReadOutcome::Miss,
                };
                GatewayView {
                    gateway: Arc::clone(gateway),
                    entry,
                    outcome,
                    error: self.backing_off(&gateway.id).await,
                }
            });
        join_all(views).await
    }

    /// Fetches `gateway` now, joining a fetch already in flight here or on
    /// another instance; an entry newer than `baseline` stored meanwhile
    /// counts as the result.
    pub async fn refresh(
        self: &Arc<Self>,
        gateway: &Arc<Gateway>,
        mode: Mode,
        baseline: Baseline,
    ) -> FlightResult {
        match self.start_flight(gateway, mode, baseline).await {
            // A warm always fetches: it joined a reader's flight that held
            // back during a backoff, so it starts its own.
            Err(FetchError::BackingOff(_)) if mode == Mode::Warm => {
                self.start_flight(gateway, mode, baseline).await
            }
            result => result,
        }
    }

    /// Drops this instance's copy of `gateway` (the store's is the caller's).
    pub fn forget(&self, gateway: &str) {
        let removed = self
            .local
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(gateway);
        if removed.is_some() {
            self.changed();
        }
    }

    /// A number that moves whenever what a read could serve changes on this
    /// instance (an entry replaced or dropped, a failure recorded or over):
    /// answers assembled at one generation hold until the next.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// An operator dropped `gateway` (on this instance or another): flights
    /// that began before never land here, later callers start their own
    /// instead of joining them, and this instance's copy goes.
    pub fn invalidate(&self, gateway: &str) {
        *lock(&self.invalidations)
            .entry(gateway.to_owned())
            .or_default() += 1;
        self.flights.detach(gateway);
        lock(&self.unsaved).remove(gateway);
        self.clear_aside(gateway);
        self.forget(gateway);
    }

    fn invalidations_of(&self, gateway: &str) -> u64 {
        lock(&self.invalidations).get(gateway).copied().unwrap_or(0)
    }

    /// Another instance dropped `notice.gateway`: invalidate it here too, and say so.
    pub async fn on_notice(&self, notice: &Notice) {
        self.invalidate(&notice.gateway);
        let _ = self
            .breaker
            .call(WRITE_BOUND, self.store.acknowledge(&notice.nonce))
            .await;
    }

    async fn serve(
        self: &Arc<Self>,
        gateway: &Arc<Gateway>,
        entry: Option<Entry>,
        now: u64,
    ) -> GatewayView {
        let view = |entry, outcome, error| GatewayView {
            gateway: Arc::clone(gateway),
            entry,
            outcome,
            error,
        };
        match entry.as_ref().map(|e| (e.freshness(now), e.fetched_at)) {
            Some((Freshness::Fresh, _)) => view(entry, ReadOutcome::Hit, None),
            Some((Freshness::Stale, version)) => {
                self.revalidate_in_background(gateway, version);
                let error = self.local_failure(&gateway.id);
                view(entry, ReadOutcome::Stale, error)
            }
            _ => match self
                .refresh(gateway, Mode::Read, Baseline::Seen(None))
                .await
            {
                Ok(fetched) => {
                    self.clear_aside(&gateway.id);
                    view(Some(fetched), ReadOutcome::Miss, None)
                }
                // Stale-if-error, also when the store lost the entry.
                Err(e) => match self.take_aside(&gateway.id) {
                    Some(kept) => {
                        let outcome = match kept.freshness(now) {
                            Freshness::Fresh => ReadOutcome::Hit,
                            _ => ReadOutcome::Stale,
                        };
                        view(Some(kept), outcome, Some(e.public()))
                    }
                    None => view(None, ReadOutcome::Miss, Some(e.public())),
                },
            },
        }
    }

    fn revalidate_in_background(self: &Arc<Self>, gateway: &Arc<Gateway>, seen: u64) {
        if !self.flights.is_running(&gateway.id) {
            // The flight runs in its own task; dropping the handle leaves it running.
            drop(self.start_flight(gateway, Mode::Read, Baseline::Seen(Some(seen))));
        }
    }

    fn start_flight(
        self: &Arc<Self>,
        gateway: &Arc<Gateway>,
        mode: Mode,
        baseline: Baseline,
    ) -> Flight<FlightResult> {
        let engine = Arc::clone(self);
        let owned = Arc::clone(gateway);
        let work = async move { engine.fly(&owned, mode, baseline).await };
        // The flight runs in its own task: it reports its spans to the
        // request that started it.
        let work = sentry::SentryFutureExt::bind_hub(work, sentry::Hub::current());
        let panicked = Err(FetchError::Request("BUG: the fetch task panicked".into()));
        self.flights.join_or_start(&gateway.id, work, panicked)
    }

    /// The error that keeps readers away from `gateway`, if any.
    async fn backing_off(&self, gateway: &str) -> Option<String> {
        if let Some(error) = self.local_failure(gateway) {
            return Some(error);
        }
        self.breaker
            .call(READ_BOUND, self.store.backoff(gateway))
            .await
            .ok()
            .flatten()
    }

    fn local_failure(&self, gateway: &str) -> Option<String> {
        self.failures.backing_off(gateway)
    }

    /// Brings this instance's copies in line with the store: versions that
    /// changed are loaded, entries gone from the store (expired, invalidated)
    /// are dropped. Run every [`SYNC_INTERVAL`] by the server, so what another
    /// instance stores is served here within that interval, without reads
    /// ever asking the store.
    pub async fn sync(&self, gateways: &[Arc<Gateway>]) {
        let ids: Vec<&str> = gateways.iter().map(|g| g.id.as_str()).collect();
        let versions = self
            .breaker
            .call(READ_BOUND, self.store.versions(&ids))
            .await;
        if let Ok(versions) = versions {
            join_all(ids.iter().zip(versions).map(|(id, v)| self.sync_one(id, v))).await;
        }
    }

    async fn sync_one(&self, gateway: &str, version: Option<u64>) {
        if let Some(unsaved) = self.unsaved_newer_than(gateway, version) {
            return self.write_back(gateway, unsaved).await;
        }
        match version {
            None => self.forget_lost(gateway).await,
            // Ours is that version, or newer: an older one never replaces it.
            Some(v) if self.local_entry(gateway).is_some_and(|e| e.fetched_at >= v) => {}
            Some(_) => {
                let held = self.local_entry(gateway);
                let load = self.store.load_over(gateway, held.as_ref());
                let loaded = self.breaker.call(READ_BOUND, load).await;
                match loaded {
                    Ok(Some(entry)) => self.remember(gateway, &entry),
                    Ok(None) => self.forget(gateway),
                    Err(_) => {}
                }
            }
        }
    }

    /// The unsaved entry of `gateway` if it is newer than the store's
    /// `version`; one that is not is dropped (the store moved past it).
    fn unsaved_newer_than(&self, gateway: &str, version: Option<u64>) -> Option<Unsaved> {
        let mut unsaved = lock(&self.unsaved);
        let newer = unsaved.get(gateway).filter(|u| {
            version.is_none_or(|v| u.entry.fetched_at > v)
                && u.entry.freshness(now_ms()) != Freshness::Expired
        });
        match newer {
            Some(u) => Some(u.clone()),
            None => {
                unsaved.remove(gateway);
                None
            }
        }
    }

    /// Offers an entry the store did not take to the store again.
    async fn write_back(&self, gateway: &str, unsaved: Unsaved) {
        let before = self.replaced_entry(gateway, None).await;
        let saved = self
            .breaker
            .call(
                WRITE_BOUND,
                self.store.save_at(gateway, &unsaved.entry, unsaved.epoch),
            )
            .await;
        let Ok(outcome) = saved else {
            return;
        };
        if outcome == SaveOutcome::Saved {
            let first_seen: Vec<(String, u64)> = unsaved
                .entry
                .models
                .iter()
                .filter(|m| m.first_seen.is_none_or(|at| at >= unsaved.entry.fetched_at))
                .map(|m| (m.id.clone(), unsaved.entry.fetched_at))
                .collect();
            self.record_changes(gateway, before, &unsaved.entry, &first_seen)
                .await;
        }
        tracing::info!(
            gateway,
            ?outcome,
            "wrote back a fetched list the store had not taken"
        );
        let mut pending = lock(&self.unsaved);
        if pending
            .get(gateway)
            .is_some_and(|u| u.entry.fetched_at == unsaved.entry.fetched_at)
        {
            pending.remove(gateway);
        }
        drop(pending);
        if outcome == SaveOutcome::Invalidated {
            self.forget(gateway);
        }
    }

    /// Each gateway's servable entry. The hot path is a memory lookup; only a
    /// gateway this instance holds nothing servable for is asked of the store.
    async fn current_entries(self: &Arc<Self>, gateways: &[Arc<Gateway>]) -> Vec<Option<Entry>> {
        let now = now_ms();
        let servable = |e: &Entry| e.freshness(now) != Freshness::Expired;
        let lookups = gateways.iter().map(|g| async move {
            let span = OpSpan::cache_get(|| self.store.entry_key(&g.id));
            let entry = match self.local_entry(&g.id).filter(servable) {
                Some(entry) => Some(entry),
                None => self.load_from_store(&g.id).await.filter(servable),
            };
            let size = span
                .is_recording()
                .then(|| entry.as_ref().map_or(0, Entry::byte_size));
            span.finish_get(entry.is_some(), size);
            entry
        });
        join_all(lookups).await
    }

    /// The store's entry (bounded), kept as this instance's copy. Concurrent
    /// callers share one lookup.
    async fn load_from_store(self: &Arc<Self>, gateway: &str) -> Option<Entry> {
        let engine = Arc::clone(self);
        let id = gateway.to_owned();
        let work = async move {
            let loaded = engine
                .breaker
                .call(READ_BOUND, engine.store.load(&id))
                .await;
            let entry = loaded.ok().flatten()?;
            engine.remember(&id, &entry);
            Some(entry)
        };
        self.lookups.join_or_start(gateway, work, None).await
    }

    async fn stored_version(&self, gateway: &str) -> Option<u64> {
        let versions = self
            .breaker
            .call(READ_BOUND, self.store.versions(&[gateway]))
            .await;
        versions.ok().and_then(|v| v.into_iter().next().flatten())
    }

    /// The stored entry if it is newer than `seen` (any entry if `seen` is None).
    async fn newer_than(&self, gateway: &str, seen: Option<u64>) -> Option<Entry> {
        let stored = self.stored_version(gateway).await;
        self.newer_than_version(gateway, seen, stored).await
    }

    /// [`Engine::newer_than`] with the stored version already read.
    async fn newer_than_version(
        &self,
        gateway: &str,
        seen: Option<u64>,
        stored: Option<u64>,
    ) -> Option<Entry> {
        let version = stored?;
        if seen.is_some_and(|s| version <= s) {
            return None;
        }
        let entry = self
            .breaker
            .call(READ_BOUND, self.store.load(gateway))
            .await
            .ok()
            .flatten()?;
        self.remember(gateway, &entry);
        Some(entry)
    }

    /// Whether this instance serves `revision` of `gateway`'s list.
    pub fn holds(&self, gateway: &str, revision: u64) -> bool {
        let local = self.local.read().unwrap_or_else(|p| p.into_inner());
        local.get(gateway).is_some_and(|e| e.revision == revision)
    }

    fn local_entry(&self, gateway: &str) -> Option<Entry> {
        let local = self.local.read().unwrap_or_else(|p| p.into_inner());
        local.get(gateway).cloned()
    }

    /// Keeps `entry` as this instance's copy unless ours is newer.
    fn remember(&self, gateway: &str, entry: &Entry) {
        let mut local = self.local.write().unwrap_or_else(|p| p.into_inner());
        if local
            .get(gateway)
            .is_none_or(|e| e.fetched_at <= entry.fetched_at)
        {
            local.insert(gateway.to_owned(), entry.clone());
            self.changed();
        }
    }
}

/// A std Mutex's guard: nothing is awaited while one is held, and every
/// change under them is a single map operation, so a poisoned one is usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
