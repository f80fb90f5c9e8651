//! Full warms: every selected gateway fetched concurrently, each within its
//! own timeout, and a report of what happened.
//!
//! A warm is a set of [`Engine::refresh`] calls in `Warm` mode, so warms
//! coalesce with each other and with readers per gateway (in-process and across
//! instances): two warms at once cost one upstream request per gateway. The
//! last warm's record is kept in the store for `GET /api/cache/warm-models`,
//! and the last [`RECENT_WARMS`] for the status page.
//! Every warm is counted in the shared stats and the metrics, and each gateway
//! it failed to fetch is one Sentry event.

pub mod background;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures::future::join_all;
use serde::{Deserialize, Serialize};

use crate::cache::{Baseline, Engine, Freshness, Mode, now_ms};
use crate::gateways::{FetchError, Gateway, Gateways};
use crate::runtime::RuntimeConfig;
use crate::telemetry;

/// Store document holding the last warm's [`WarmRecord`].
const LAST_WARM_DOC: &str = "warm:last";
/// Store document holding the last [`RECENT_WARMS`] records, newest first.
const RECENT_WARMS_DOC: &str = "warm:recent";
/// How many warms the status page lists.
pub const RECENT_WARMS: usize = 10;
/// How many times a record re-reads the list when other instances keep
/// adding to it between its read and its write.
const RECORD_TRIES: usize = 8;

/// What started a warm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Manual,
    Cron,
    Startup,
    Background,
    Cli,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Cron => "cron",
            Self::Startup => "startup",
            Self::Background => "background",
            Self::Cli => "cli",
        }
    }
}

/// The answer of a warm endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WarmReport {
    /// Every gateway succeeded.
    pub success: bool,
    pub duration_ms: u64,
    pub gateways: BTreeMap<String, GatewayOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GatewayOutcome {
    pub ok: bool,
    /// Models now cached for the gateway (0 when it failed).
    pub count: usize,
    pub duration_ms: u64,
    /// The failure in detail: the warm's bearer-protected answer shows it;
    /// the recorded last warm, which anyone can read, holds its public text.
    pub error: Option<String>,
    /// The failure itself, for its kind and public text; not serialised.
    #[serde(skip)]
    pub failure: Option<FetchError>,
}

impl WarmReport {
    /// Every gateway failed (a warm of nothing did not fail).
    pub fn all_failed(&self) -> bool {
        !self.gateways.is_empty() && self.gateways.values().all(|g| !g.ok)
    }

    /// The report as anyone may read it: each error as its public text
    /// ([`FetchError::public`]), the detail left to logs and operators.
    pub fn public(&self) -> WarmReport {
        let mut report = self.clone();
        for outcome in report.gateways.values_mut() {
            if let Some(failure) = &outcome.failure {
                outcome.error = Some(failure.public());
            }
        }
        report
    }
}

/// A finished warm, as recorded in the store.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WarmRecord {
    pub trigger: Trigger,
    pub started_at: u64,
    pub finished_at: u64,
    #[serde(flatten)]
    pub report: WarmReport,
}

pub struct Warmer {
    engine: Arc<Engine>,
    /// Warms running on this instance.
    running: AtomicUsize,
}

impl Warmer {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            running: AtomicUsize::new(0),
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed) > 0
    }

    /// Fetches every gateway of `selection` now, concurrently.
    pub async fn warm(&self, selection: &[Arc<Gateway>], trigger: Trigger) -> WarmReport {
        let targets: Vec<_> = selection
            .iter()
            .map(|g| (Arc::clone(g), Baseline::Current))
            .collect();
        self.warm_targets(&targets, trigger).await
    }

    /// Warms each gateway unless an entry newer than its baseline lands meanwhile.
    async fn warm_targets(
        &self,
        targets: &[(Arc<Gateway>, Baseline)],
        trigger: Trigger,
    ) -> WarmReport {
        self.running.fetch_add(1, Ordering::Relaxed);
        let started_at = now_ms();
        let clock = Instant::now();
        let outcomes = join_all(
            targets
                .iter()
                .map(|(g, baseline)| self.warm_one(g, *baseline)),
        )
        .await;
        let report = WarmReport {
            success: outcomes.iter().all(|(_, o)| o.ok),
            duration_ms: clock.elapsed().as_millis() as u64,
            gateways: outcomes.into_iter().collect(),
        };
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.record(trigger, started_at, &report).await;
        report
    }

    /// Warms only the gateways whose entry is missing or stale (start-up).
    pub async fn warm_outdated(
        &self,
        gateways: &[Arc<Gateway>],
        trigger: Trigger,
    ) -> Option<WarmReport> {
        let now = now_ms();
        // What was seen is the baseline, so instances starting together
        // fetch each gateway once: the later ones take the first one's result.
        let outdated: Vec<(Arc<Gateway>, Baseline)> = self
            .engine
            .inspect(gateways)
            .await
            .into_iter()
            .filter(|v| {
                v.entry
                    .as_ref()
                    .is_none_or(|e| e.freshness(now) != Freshness::Fresh)
            })
            .map(|v| (v.gateway, Baseline::Seen(v.entry.map(|e| e.fetched_at))))
            .collect();
        if outdated.is_empty() {
            tracing::info!(
                trigger = trigger.as_str(),
                "every gateway is fresh; nothing to warm"
            );
            return None;
        }
        Some(self.warm_targets(&outdated, trigger).await)
    }

    /// The last warm recorded by any instance sharing the store.
    pub async fn last(&self) -> Option<WarmRecord> {
        let doc = self
            .engine
            .store()
            .get_doc(LAST_WARM_DOC)
            .await
            .ok()
            .flatten()?;
        serde_json::from_str(&doc).ok()
    }

    async fn warm_one(
        &self,
        gateway: &Arc<Gateway>,
        baseline: Baseline,
    ) -> (String, GatewayOutcome) {
        let clock = Instant::now();
        let result = self.engine.refresh(gateway, Mode::Warm, baseline).await;
        let duration_ms = clock.elapsed().as_millis() as u64;
        let outcome = match result {
            Ok(entry) => GatewayOutcome {
                ok: true,
                count: entry.models.len(),
                duration_ms,
                error: None,
                failure: None,
            },
            Err(e) => GatewayOutcome {
                ok: false,
                count: 0,
                duration_ms,
                error: Some(e.to_string()),
                failure: Some(e),
            },
        };
        (gateway.id.clone(), outcome)
    }

    async fn record(&self, trigger: Trigger, started_at: u64, report: &WarmReport) {
        let finished_at = now_ms();
        self.engine
            .stats()
            .warm_finished(finished_at, report.duration_ms);
        let took = std::time::Duration::from_millis(report.duration_ms);
        telemetry::metrics::warmed(trigger.as_str(), took, !report.success);
        for (gateway, o) in &report.gateways {
            log_result(trigger, gateway, o);
        }
        let record = WarmRecord {
            trigger,
            started_at,
            finished_at,
            // `GET /api/cache/warm-models` shows it to anyone.
            report: report.public(),
        };
        let json = serde_json::to_string(&record).expect("BUG: a warm record always serialises");
        if let Err(e) = self.engine.store().put_doc(LAST_WARM_DOC, &json).await {
            tracing::warn!(error = %e, "could not record the warm status");
        }
        if let Err(e) = self.add_to_recent(record).await {
            tracing::warn!(error = %e, "could not record the warm in the recent list");
        }
    }

    /// The last [`RECENT_WARMS`] warms of any instance, newest first.
    pub async fn recent(&self) -> Vec<WarmRecord> {
        let doc = self.engine.store().get_doc(RECENT_WARMS_DOC).await;
        doc.ok()
            .flatten()
            .and_then(|doc| serde_json::from_str(&doc).ok())
            .unwrap_or_default()
    }

    /// Puts `record` first in the shared list (a compare-and-set, so warms
    /// finishing at once on several instances are all kept).
    async fn add_to_recent(&self, record: WarmRecord) -> Result<(), crate::store::StoreError> {
        let store = self.engine.store();
        for _ in 0..RECORD_TRIES {
            let stored = store.get_doc(RECENT_WARMS_DOC).await?;
            let mut recent: Vec<WarmRecord> = stored
                .as_deref()
                .and_then(|doc| serde_json::from_str(doc).ok())
                .unwrap_or_default();
            recent.insert(0, record.clone());
            recent.truncate(RECENT_WARMS);
            let json = serde_json::to_string(&recent).expect("BUG: warm records serialise");
            if store
                .swap_doc(RECENT_WARMS_DOC, stored.as_deref(), &json)
                .await?
            {
                return Ok(());
            }
        }
        Err(crate::store::StoreError(
            "the recent warms kept changing under this record".into(),
        ))
    }
}

/// The gateways a full warm covers: the active ones the runtime config's
/// `warmGateways` does not turn off.
pub fn full_selection(gateways: &Gateways, config: &RuntimeConfig) -> Vec<Arc<Gateway>> {
    gateways
        .active
        .iter()
        .filter(|g| config.warm_gateways.get(&g.id).copied().unwrap_or(true))
        .cloned()
        .collect()
}

/// One summary line per gateway of a warm: info when it fetched, a warning
/// (and a Sentry event) when it did not.
fn log_result(trigger: Trigger, gateway: &str, o: &GatewayOutcome) {
    let trigger = trigger.as_str();
    let Some(error) = &o.error else {
        tracing::info!(
            trigger,
            gateway,
            ok = true,
            count = o.count,
            duration_ms = o.duration_ms,
            "warm result"
        );
        return;
    };
    let kind = o.failure.as_ref().map(FetchError::kind);
    telemetry::sentry::warm_failed(gateway, trigger, kind, error);
    tracing::warn!(
        trigger,
        gateway,
        ok = false,
        count = o.count,
        duration_ms = o.duration_ms,
        error = error.as_str(),
        "warm result"
    );
}
