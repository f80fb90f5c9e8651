//! The runtime config (`GET`/`PUT /api/cache/config`): what operators tune
//! without a redeploy, shared by every instance and kept across restarts.
//!
//! The store holds only the operator's *overrides* (`models:doc:config:runtime`);
//! the effective config is the start-up defaults with those applied. So a
//! setting nobody touched keeps following the environment (`CACHE_FRESH_TTL`…),
//! and a `PUT` merges into the overrides, is validated as a whole against the
//! configured gateways, and only then written: a bad field changes nothing.
//! The write is a compare-and-set against the overrides the `PUT` merged
//! into ([`Store::swap_doc`]), retried on a fresh read when another instance
//! wrote meanwhile, so concurrent `PUT`s on several instances all land.
//! Every instance re-reads the overrides every [`RELOAD_INTERVAL`].

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{MAX_TTL, Ttl};
use crate::store::{Store, StoreError};

/// Store document holding the overrides.
const OVERRIDES_DOC: &str = "config:runtime";
/// How often an instance picks up another's changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest background refresh interval accepted.
pub const MIN_REFRESH_INTERVAL_MS: u64 = 10_000;
/// The longest background refresh interval accepted (30 days).
pub const MAX_REFRESH_INTERVAL_MS: u64 = 30 * 24 * 3600 * 1000;
/// How many times a `PUT` re-reads and retries when other instances keep
/// writing between its read and its write.
const UPDATE_TRIES: usize = 16;
/// Background refresh interval until an operator sets one (the cron's 3 h).
const DEFAULT_REFRESH_INTERVAL_MS: u64 = 3 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Warming on/off: when off, no warm runs (start-up, background, cron,
    /// operator); reads are still served and revalidated as usual.
    pub enabled: bool,
    /// At start, warm the gateways whose entry is missing or stale.
    pub warm_on_startup: bool,
    /// Which gateways a full warm covers (every configured gateway is listed).
    pub warm_gateways: BTreeMap<String, bool>,
    pub background_refresh: BackgroundRefresh,
    pub ttl: TtlConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackgroundRefresh {
    /// A full warm every `intervalMs`, by one instance per interval.
    pub enabled: bool,
    pub interval_ms: u64,
}

/// Applies to entries written from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TtlConfig {
    pub fresh_ms: u64,
    pub stale_ms: u64,
}

impl TtlConfig {
    pub fn ttl(self) -> Ttl {
        Ttl {
            fresh: Duration::from_millis(self.fresh_ms),
            stale: Duration::from_millis(self.stale_ms),
        }
    }
}

/// A `PUT` that cannot be applied; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigUpdateError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The effective config of this instance, kept in line with the store.
pub struct Runtime {
    defaults: Value,
    gateways: Vec<String>,
    installed: RwLock<Installed>,
    /// One `PUT` at a time per instance: each merges into what the last wrote.
    updates: tokio::sync::Mutex<()>,
}

struct Installed {
    overrides: Value,
    config: RuntimeConfig,
    /// Bumped by every `PUT` this instance applies, so that a reload which
    /// read the store before the `PUT` wrote does not put the old overrides
    /// back (until the next reload).
    version: u64,
}

impl Runtime {
    pub fn new(ttl: Ttl, gateways: Vec<String>) -> Self {
        let defaults = RuntimeConfig {
            enabled: true,
            warm_on_startup: true,
            warm_gateways: gateways.iter().map(|g| (g.clone(), true)).collect(),
            background_refresh: BackgroundRefresh {
                enabled: false,
                interval_ms: DEFAULT_REFRESH_INTERVAL_MS,
            },
            ttl: TtlConfig {
                fresh_ms: crate::cache::millis(ttl.fresh),
                stale_ms: crate::cache::millis(ttl.stale),
            },
        };
        Self {
            defaults: serde_json::to_value(&defaults).expect("BUG: the config serialises"),
            gateways,
            installed: RwLock::new(Installed {
                overrides: Value::Object(Map::new()),
                config: defaults,
                version: 0,
            }),
            updates: tokio::sync::Mutex::new(()),
        }
    }

    pub fn get(&self) -> RuntimeConfig {
        self.installed().config.clone()
    }

    fn installed(&self) -> std::sync::RwLockReadGuard<'_, Installed> {
        self.installed.read().unwrap_or_else(|p| p.into_inner())
    }

    fn installed_mut(&self) -> std::sync::RwLockWriteGuard<'_, Installed> {
        self.installed.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-reads the overrides from the store. Stored overrides that no longer
    /// validate (a gateway removed from the file) are dropped field by field.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let seen = self.installed().version;
        let stored = store.get_doc(OVERRIDES_DOC).await?;
        self.apply_stored(seen, stored.as_deref());
        Ok(())
    }

    /// The overrides of a stored document, those that still apply.
    fn overrides_of(&self, stored: Option<&str>) -> Value {
        let overrides = stored
            .and_then(|doc| serde_json::from_str::<Value>(doc).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::Object(Map::new()));
        self.keep_valid(overrides)
    }

    /// Installs the overrides read from the store, unless a `PUT` was applied
    /// here since the read began (version `seen`): that one is newer.
    fn apply_stored(&self, seen: u64, stored: Option<&str>) {
        let overrides = self.overrides_of(stored);
        let Ok(config) = self.effective(&overrides) else {
            return;
        };
        let mut installed = self.installed_mut();
        if installed.version == seen {
            installed.overrides = overrides;
            installed.config = config;
        }
    }

    /// Merges `patch` into the stored overrides, validates, stores (only if
    /// nobody wrote meanwhile, else again from a fresh read), applies.
    pub async fn update(
        &self,
        store: &dyn Store,
        patch: Value,
    ) -> Result<RuntimeConfig, ConfigUpdateError> {
        if !patch.is_object() {
            return Err(ConfigUpdateError::Invalid(
                "the body must be a JSON object with some of: enabled, warmOnStartup, warmGateways, backgroundRefresh, ttl".into(),
            ));
        }
        let _one_at_a_time = self.updates.lock().await;
        for _ in 0..UPDATE_TRIES {
            let stored = store.get_doc(OVERRIDES_DOC).await?;
            let mut overrides = self.overrides_of(stored.as_deref());
            merge(&mut overrides, patch.clone());
            let config = self
                .effective(&overrides)
                .map_err(ConfigUpdateError::Invalid)?;
            let written = overrides.to_string();
            if store
                .swap_doc(OVERRIDES_DOC, stored.as_deref(), &written)
                .await?
            {
                let mut installed = self.installed_mut();
                installed.overrides = overrides;
                installed.config = config.clone();
                installed.version += 1;
                return Ok(config);
            }
        }
        Err(ConfigUpdateError::Store(StoreError(
            "the runtime config kept changing under this update".into(),
        )))
    }

    /// The defaults with `overrides` applied, or what is wrong with them.
    fn effective(&self, overrides: &Value) -> Result<RuntimeConfig, String> {
        let mut value = self.defaults.clone();
        merge(&mut value, overrides.clone());
        let config: RuntimeConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner())
        })?;
        self.check(&config)?;
        Ok(config)
    }

    fn check(&self, config: &RuntimeConfig) -> Result<(), String> {
        if let Some(unknown) = config
            .warm_gateways
            .keys()
            .find(|g| !self.gateways.contains(g))
        {
            return Err(format!(
                "warmGateways: unknown gateway {unknown:?}; configured gateways: {}",
                self.gateways.join(", ")
            ));
        }
        let interval = config.background_refresh.interval_ms;
        if !(MIN_REFRESH_INTERVAL_MS..=MAX_REFRESH_INTERVAL_MS).contains(&interval) {
            return Err(format!(
                "backgroundRefresh.intervalMs: must be from {MIN_REFRESH_INTERVAL_MS} (10 s) to {MAX_REFRESH_INTERVAL_MS} (30 days)"
            ));
        }
        if config.ttl.fresh_ms == 0 {
            return Err("ttl.freshMs: must be more than 0".into());
        }
        let max_ttl_ms = crate::cache::millis(MAX_TTL);
        for (name, value) in [
            ("ttl.freshMs", config.ttl.fresh_ms),
            ("ttl.staleMs", config.ttl.stale_ms),
        ] {
            if value > max_ttl_ms {
                return Err(format!("{name}: must be at most {max_ttl_ms} (365 days)"));
            }
        }
        Ok(())
    }

    /// Drops the stored overrides that no longer apply, one field at a time.
    fn keep_valid(&self, overrides: Value) -> Value {
        let Value::Object(fields) = overrides else {
            return Value::Object(Map::new());
        };
        let mut kept = Value::Object(Map::new());
        for (name, value) in fields {
            let mut candidate = kept.clone();
            merge(
                &mut candidate,
                Value::Object(Map::from_iter([(name.clone(), value.clone())])),
            );
            if self.effective(&candidate).is_ok() {
                kept = candidate;
            } else if name == "warmGateways"
                && let Value::Object(ids) = value
            {
                let known = ids.into_iter().filter(|(id, _)| self.gateways.contains(id));
                merge(
                    &mut kept,
                    serde_json::json!({ "warmGateways": Map::from_iter(known) }),
                );
            }
        }
        kept
    }
}

/// JSON merge: objects merge key by key, anything else replaces.
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EmbeddedStore;
    use serde_json::json;

    fn runtime() -> Runtime {
        let ttl = Ttl {
            fresh: Duration::from_secs(60),
            stale: Duration::from_secs(120),
        };
        Runtime::new(ttl, vec!["a".into(), "b".into()])
    }

    #[tokio::test]
    async fn a_partial_put_merges_into_the_defaults() {
        let (rt, store) = (runtime(), EmbeddedStore::new());
        let config = rt
            .update(
                &store,
                json!({"ttl": {"freshMs": 5000}, "warmGateways": {"b": false}}),
            )
            .await
            .unwrap();
        assert_eq!(
            config.ttl,
            TtlConfig {
                fresh_ms: 5000,
                stale_ms: 120_000
            }
        );
        assert_eq!(
            config.warm_gateways,
            BTreeMap::from([("a".into(), true), ("b".into(), false)])
        );
        assert!(config.enabled && !config.background_refresh.enabled);
    }

    #[tokio::test]
    async fn any_bad_field_is_refused_and_changes_nothing() {
        let (rt, store) = (runtime(), EmbeddedStore::new());
        for (patch, names) in [
            (json!({"ttl": {"freshMs": -1}}), "ttl.freshMs"),
            (json!({"enabled": true, "colour": "red"}), "colour"),
            (json!({"warmGateways": {"nope": true}}), "nope"),
            (
                json!({"backgroundRefresh": {"intervalMs": 9999}}),
                "intervalMs",
            ),
            (json!({"enabled": "yes"}), "enabled"),
            (
                json!({"ttl": {"freshMs": 18_446_744_073_709_551_615_u64}}),
                "ttl.freshMs: must be at most",
            ),
            (
                json!({"ttl": {"staleMs": 31_536_000_001_u64}}),
                "ttl.staleMs: must be at most",
            ),
            (
                json!({"backgroundRefresh": {"intervalMs": 2_592_000_001_u64}}),
                "intervalMs",
            ),
            (json!([1]), "JSON object"),
        ] {
            let err = rt.update(&store, patch).await.unwrap_err().to_string();
            assert!(err.contains(names), "{err:?} should name {names}");
        }
        assert_eq!(store.get_doc(OVERRIDES_DOC).await.unwrap(), None);
        assert_eq!(rt.get(), runtime().get());
    }

    #[tokio::test]
    async fn a_reload_that_read_the_store_before_a_put_does_not_undo_it() {
        let (rt, store) = (runtime(), EmbeddedStore::new());
        let seen = rt.installed().version;
        // The periodic reload reads the store (nothing stored yet)…
        let read_before_the_put = store.get_doc(OVERRIDES_DOC).await.unwrap();
        // …a PUT is applied meanwhile…
        rt.update(&store, json!({"enabled": false})).await.unwrap();
        // …and the reload finishes with what it read.
        rt.apply_stored(seen, read_before_the_put.as_deref());
        assert!(!rt.get().enabled, "the PUT stands");

        rt.reload(&store).await.unwrap();
        assert!(!rt.get().enabled, "a later reload reads the PUT back");
    }

    #[tokio::test]
    async fn overrides_for_a_removed_gateway_are_dropped_on_reload() {
        let store = EmbeddedStore::new();
        let doc = json!({"warmGateways": {"a": false, "gone": false}, "enabled": false});
        store
            .put_doc(OVERRIDES_DOC, &doc.to_string())
            .await
            .unwrap();
        let rt = runtime();
        rt.reload(&store).await.unwrap();
        let config = rt.get();
        assert!(!config.enabled);
        assert_eq!(
            config.warm_gateways,
            BTreeMap::from([("a".into(), false), ("b".into(), true)])
        );
    }
}
