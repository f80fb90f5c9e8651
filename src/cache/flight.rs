//! In-process single-flight: concurrent callers asking for the same key share
//! one running future instead of starting their own.
//!
//! The work runs in its own task, so it completes (and stores its result) even
//! when every caller has gone away — a stale read starts a revalidation and
//! returns at once. The key is removed by the task itself once the work is
//! done, so a caller arriving later starts afresh and sees the stored result.
//! A flight can also be detached before it is done ([`Flights::detach`]):
//! it runs on, but later callers start a new one (after an invalidation, a
//! warm must not join a fetch that began before it).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

pub struct Flights<T: Clone> {
    // A std Mutex: only map operations happen under it, never an await.
    running: Mutex<HashMap<String, Running<T>>>,
    /// Tells flights apart, so a detached one finishing never removes its
    /// successor under the same key.
    next_id: AtomicU64,
}

struct Running<T: Clone> {
    id: u64,
    flight: Flight<T>,
}

/// A handle on a flight; await it for the result, or drop it.
pub type Flight<T> = Shared<BoxFuture<'static, T>>;

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            running: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        })
    }

    /// Joins the flight running for `key`, or spawns `work` as a new one.
    /// `on_panic` is the result joiners get if the work panics.
    pub fn join_or_start<F>(self: &Arc<Self>, key: &str, work: F, on_panic: T) -> Flight<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let mut running = self.lock();
        if let Some(running) = running.get(key) {
            return running.flight.clone();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let flights = Arc::clone(self);
        let owned_key = key.to_owned();
        let task = tokio::spawn(async move {
            let out = work.await;
            flights.finish(&owned_key, id);
            out
        });
        let flight = async move { task.await.unwrap_or(on_panic) }
            .boxed()
            .shared();
        let entry = Running {
            id,
            flight: flight.clone(),
        };
        running.insert(key.to_owned(), entry);
        flight
    }

    pub fn is_running(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// Later callers of `key` start a new flight; the running one goes on.
    pub fn detach(&self, key: &str) {
        self.lock().remove(key);
    }

    fn finish(&self, key: &str, id: u64) {
        let mut running = self.lock();
        if running.get(key).is_some_and(|r| r.id == id) {
            running.remove(key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running<T>>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_later_ones_start_anew() {
        let flights = Flights::<usize>::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let start = || {
            let runs = runs.clone();
            flights.join_or_start(
                "k",
                async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    runs.fetch_add(1, Ordering::SeqCst) + 1
                },
                0,
            )
        };
        let results = futures::future::join_all((0..10).map(|_| start())).await;
        assert!(results.iter().all(|&r| r == 1));
        assert!(!flights.is_running("k"));
        assert_eq!(start().await, 2);
    }

    #[tokio::test]
    async fn after_a_detach_callers_start_anew_and_the_old_flight_never_removes_the_new() {
        let flights = Flights::<&'static str>::new();
        let (release_old, old_gate) = tokio::sync::oneshot::channel::<()>();
        let old = flights.join_or_start(
            "k",
            async move { old_gate.await.map_or("old", |()| "old") },
            "",
        );
        flights.detach("k");
        let (release_new, new_gate) = tokio::sync::oneshot::channel::<()>();
        let new = flights.join_or_start(
            "k",
            async move { new_gate.await.map_or("new", |()| "new") },
            "",
        );
        release_old.send(()).unwrap();
        assert_eq!(old.await, "old");
        let joined = flights.join_or_start("k", async { "third" }, "");
        release_new.send(()).unwrap();
        assert_eq!((new.await, joined.await), ("new", "new"));
    }

    #[tokio::test]
    async fn the_work_finishes_when_every_caller_dropped_it() {
        let flights = Flights::<()>::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        drop(flights.join_or_start("k", async move { tx.send(()).unwrap() }, ()));
        rx.await.expect("the flight ran to completion");
    }
}
