//! Gateways whose fetches are failing on this instance: what keeps readers
//! away during the backoff, and how long a gateway has been failing (for the
//! metrics). The store keeps its own copy of the backoff for other instances;
//! this one answers without asking it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Failures {
    // A std Mutex: held for one map operation, never across an await.
    by_gateway: Mutex<HashMap<String, Failure>>,
}

struct Failure {
    /// Readers leave the gateway alone until then.
    retry_at: Instant,
    error: String,
    /// The first failure since the last success.
    since: Instant,
}

impl Failures {
    /// Records a failure: readers back off for `backoff`.
    pub fn record(&self, gateway: &str, error: &str, backoff: Duration) {
        let now = Instant::now();
        self.lock()
            .entry(gateway.to_owned())
            .and_modify(|f| {
                f.retry_at = now + backoff;
                error.clone_into(&mut f.error);
            })
            .or_insert_with(|| Failure {
                retry_at: now + backoff,
                error: error.to_owned(),
                since: now,
            });
    }

    /// A success: whether the gateway had been failing.
    pub fn clear(&self, gateway: &str) -> bool {
        self.lock().remove(gateway).is_some()
    }

    /// The error that keeps readers away, while the backoff lasts.
    pub fn backing_off(&self, gateway: &str) -> Option<String> {
        let failures = self.lock();
        let failure = failures.get(gateway)?;
        (Instant::now() < failure.retry_at).then(|| failure.error.clone())
    }

    /// How long `gateway` has been failing, if it is.
    pub fn failing_for(&self, gateway: &str) -> Option<Duration> {
        self.lock().get(gateway).map(|f| f.since.elapsed())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failure>> {
        self.by_gateway.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_blocks_readers_for_the_backoff_and_counts_from_the_first() {
        let failures = Failures::default();
        failures.record("gw", "first", Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
        failures.record("gw", "second", Duration::ZERO);
        assert_eq!(failures.backing_off("gw"), None, "the last backoff is over");
        assert!(failures.failing_for("gw").unwrap() >= Duration::from_millis(20));
        assert!(failures.clear("gw"));
        assert_eq!(failures.failing_for("gw"), None);
        assert!(!failures.clear("gw"));
    }
}
