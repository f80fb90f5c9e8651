//! Builds the service from its [`Config`] and serves it.
//!
//! `main` and the tests both go through [`App`]: tests build it with a
//! listener on port 0 and their own gateways, so what they exercise is what
//! runs in production.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::cache::Engine;
use crate::cache::engine::SYNC_INTERVAL;
use crate::config::{Config, ConfigError, StoreConfig};
use crate::gateways::{self, Fetcher, Gateways};
use crate::secret::Secret;
use crate::store::{EmbeddedStore, RedisStore, Store};
use crate::warm::{Trigger, WarmReport, Warmer};

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub warmer: Arc<Warmer>,
    pub gateways: Arc<Gateways>,
    pub secrets: Arc<Secrets>,
}

/// Bearer secrets of the protected endpoints; `None` disables an endpoint.
pub struct Secrets {
    pub warming: Option<Secret>,
    pub cron: Option<Secret>,
}

pub struct App {
    state: AppState,
    warm_on_startup: bool,
}

impl App {
    /// Loads `GATEWAYS_FILE` (keys from the environment) and opens the store.
    pub fn build(config: &Config) -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let gateways = gateways::file::load(&config.gateways_file, config.gateway_timeout, env)?;
        Self::with_gateways(config, gateways)
    }

    pub fn with_gateways(config: &Config, gateways: Gateways) -> Result<Self, ConfigError> {
        for skipped in &gateways.skipped {
            tracing::warn!(gateway = %skipped.id, reason = %skipped.reason, "gateway skipped");
        }
        let store = open_store(config)?;
        tracing::info!(store = %store.describe(), gateways = gateways.active.len(), "cache ready");
        let engine = Engine::new(store, Fetcher::new(), config.ttl, config.revalidate_backoff);
        let state = AppState {
            warmer: Arc::new(Warmer::new(Arc::clone(&engine))),
            engine,
            gateways: Arc::new(gateways),
            secrets: Arc::new(Secrets {
                warming: config.warming_secret.clone(),
                cron: config.cron_secret.clone(),
            }),
        };
        Ok(Self {
            state,
            warm_on_startup: config.warm_on_startup,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn router(&self) -> Router {
        crate::http::router(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish.
    /// Missing or stale gateways are warmed in the background at start.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if self.warm_on_startup {
            let state = self.state.clone();
            tokio::spawn(async move {
                let gateways = &state.gateways.active;
                state.warmer.warm_outdated(gateways, Trigger::Startup).await;
            });
        }
        let sync = tokio::spawn(sync_with_store(self.state.clone()));
        tracing::info!(addr = %listener.local_addr()?, "listening");
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        sync.abort();
        served
    }

    /// One full warm of every gateway (`models-cache warm`).
    pub async fn warm(&self, trigger: Trigger) -> WarmReport {
        self.state
            .warmer
            .warm(&self.state.gateways.active, trigger)
            .await
    }
}

/// Keeps this instance's copies in line with the store, so reads stay memory
/// lookups and still see what other instances store within a sync interval.
async fn sync_with_store(state: AppState) {
    let mut every = tokio::time::interval(SYNC_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        state.engine.sync(&state.gateways.active).await;
    }
}

fn open_store(config: &Config) -> Result<Arc<dyn Store>, ConfigError> {
    let prefix = &config.key_prefix;
    Ok(match &config.store {
        StoreConfig::Embedded => {
            tracing::info!(
                "REDIS_URL is not set: using the embedded in-process store (one instance, lost on restart)"
            );
            Arc::new(EmbeddedStore::new())
        }
        StoreConfig::Redis { url } => Arc::new(
            RedisStore::single(url, prefix).map_err(|e| ConfigError::new("REDIS_URL", e.0))?,
        ),
        StoreConfig::Cluster { urls } => Arc::new(
            RedisStore::cluster(urls, prefix)
                .map_err(|e| ConfigError::new("REDIS_CLUSTER_URLS", e.0))?,
        ),
    })
}
