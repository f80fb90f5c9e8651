//! Bounded store calls behind a short circuit breaker.
//!
//! Every store call the engine makes goes through [`Breaker::call`]: it is
//! cut off after its bound, and after any failure the store is not asked at
//! all for [`RETRY_AFTER`]. A dead or frozen Redis therefore costs readers one
//! bounded wait per second, not one per request, and the engine falls back to
//! what the instance holds. The first call after the pause probes the store
//! again, so recovery needs no one's help.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::StoreError;

/// How long the store is skipped after a failure.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Breaker {
    // A std Mutex: held only to read or write the instant, never across an await.
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    /// Runs `op` within `bound` (its waits for background work, such as
    /// decoding, not counted), unless the store failed less than
    /// [`RETRY_AFTER`] ago.
    pub async fn call<T>(
        &self,
        bound: Duration,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.is_open() {
            return Err(StoreError("skipped after a recent failure".into()));
        }
        let result = match crate::background::timeout(bound, op).await {
            Ok(result) => result,
            Err(_) => Err(StoreError(format!(
                "no answer within {}ms",
                bound.as_millis()
            ))),
        };
        match &result {
            Ok(_) => self.close(),
            Err(e) => self.open(e),
        }
        result
    }

    fn is_open(&self) -> bool {
        self.state().is_some_and(|until| Instant::now() < until)
    }

    fn open(&self, error: &StoreError) {
        crate::telemetry::metrics::store_error();
        let was_closed = self.state().replace(Instant::now() + RETRY_AFTER).is_none();
        if was_closed {
            tracing::warn!(%error, "store unavailable; serving from memory until it answers");
        }
    }

    fn close(&self) {
        if self.state().take().is_some() {
            tracing::info!("store reachable again");
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.open_until.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn counted(calls: &AtomicUsize, ok: bool) -> Result<(), StoreError> {
        calls.fetch_add(1, Ordering::SeqCst);
        if ok {
            Ok(())
        } else {
            Err(StoreError("down".into()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_skips_the_store_until_the_retry_time() {
        let breaker = Breaker::default();
        let calls = AtomicUsize::new(0);
        let bound = Duration::from_millis(250);
        assert!(breaker.call(bound, counted(&calls, false)).await.is_err());
        assert!(breaker.call(bound, counted(&calls, true)).await.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the second call was skipped"
        );

        tokio::time::advance(RETRY_AFTER).await;
        assert!(breaker.call(bound, counted(&calls, true)).await.is_ok());
        assert!(breaker.call(bound, counted(&calls, true)).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_hangs_is_cut_off_at_its_bound() {
        let breaker = Breaker::default();
        let started = Instant::now();
        let hang = std::future::pending::<Result<(), StoreError>>();
        let err = breaker
            .call(Duration::from_millis(250), hang)
            .await
            .unwrap_err();
        assert_eq!(err.0, "no answer within 250ms");
        assert_eq!(started.elapsed(), Duration::from_millis(250));
        assert!(breaker.is_open());
    }
}
