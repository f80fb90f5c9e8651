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
use crate::catalog::aliases::Aliases;
use crate::changes::ChangeLog;
use crate::changes::webhooks::Webhooks;
use crate::config::{ChangesConfig, Config, ConfigError, ConnectionLimits, StoreConfig};
use crate::gateways::{self, Fetcher, Gateways};
use crate::runtime::{RELOAD_INTERVAL, Runtime};
use crate::secret::Secret;
use crate::stats::Stats;
use crate::store::{EmbeddedStore, RedisStore, Store};
use crate::warm::{Trigger, WarmReport, Warmer, background, full_selection};

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub warmer: Arc<Warmer>,
    pub gateways: Arc<Gateways>,
    pub secrets: Arc<Secrets>,
    /// The operator's runtime config, shared through the store.
    pub runtime: Arc<Runtime>,
    /// Catalog pages already serialised and compressed.
    pub views: Arc<crate::http::Views>,
    /// The entries' indexes, by gateway and version.
    pub indexes: Arc<crate::catalog::Indexes>,
    /// Reads of gateway selections, shared within a 100 ms slot.
    pub snapshots: Arc<crate::http::Snapshots>,
    /// What the unified catalog groups by besides the rules.
    pub aliases: Arc<Aliases>,
    /// The change records (`/api/changes`, webhooks).
    pub changes: Arc<ChangeLog>,
}

/// Bearer secrets of the protected endpoints; `None` disables an endpoint.
pub struct Secrets {
    pub warming: Option<Secret>,
    pub cron: Option<Secret>,
}

pub struct App {
    state: AppState,
    warm_on_startup: bool,
    /// Where change webhooks go (delivered while serving).
    changes: ChangesConfig,
    connections: ConnectionLimits,
}

impl App {
    /// Loads `GATEWAYS_FILE` (keys from the environment) and opens the store.
    pub fn build(config: &Config) -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let gateways = gateways::file::load(&config.gateways_file, config.gateway_timeout, env)?;
        Self::with_gateways(config, gateways)
    }

    pub fn with_gateways(config: &Config, gateways: Gateways) -> Result<Self, ConfigError> {
        // Every setting is checked before anything is opened (or logged).
        let aliases = load_aliases(config)?;
        let store = open_store(config)?;
        Ok(Self::assemble(config, gateways, store, aliases))
    }

    /// The app over a store the caller opened (tests wrap one to slow it).
    pub fn with_store(
        config: &Config,
        gateways: Gateways,
        store: Arc<dyn Store>,
    ) -> Result<Self, ConfigError> {
        Ok(Self::assemble(
            config,
            gateways,
            store,
            load_aliases(config)?,
        ))
    }

    fn assemble(
        config: &Config,
        gateways: Gateways,
        store: Arc<dyn Store>,
        aliases: Aliases,
    ) -> Self {
        tracing::info!(aliases = aliases.len(), "alias table loaded");
        // Turned off on purpose is news; enabled without its key is a mistake.
        for skipped in &gateways.skipped {
            if skipped.reason == gateways::file::DISABLED {
                tracing::info!(gateway = %skipped.id, reason = %skipped.reason, "gateway skipped");
            } else {
                tracing::warn!(gateway = %skipped.id, reason = %skipped.reason, "gateway skipped");
            }
        }
        tracing::info!(store = %store.describe(), gateways = gateways.active.len(), "cache ready");
        let ids: Vec<String> = gateways.ids().map(str::to_owned).collect();
        let stats = Arc::new(Stats::new(
            Arc::clone(&store),
            ids.iter().map(String::as_str),
        ));
        let engine = Engine::new(
            store,
            Fetcher::new(),
            config.ttl,
            config.revalidate_backoff,
            stats,
        );
        let aliases = Arc::new(aliases);
        let changes = Arc::new(ChangeLog::new(
            Arc::clone(engine.store()),
            Arc::clone(&aliases),
            &gateways.active,
            config.changes.max,
        ));
        if config.changes.max > 0 {
            engine.record_changes_in(Arc::clone(&changes));
        }
        // Installed before anything is recorded.
        crate::telemetry::metrics::handle();
        let state = AppState {
            changes,
            runtime: Arc::new(Runtime::new(config.ttl, ids)),
            views: Arc::default(),
            indexes: Arc::default(),
            aliases,
            snapshots: Arc::default(),
            warmer: Arc::new(Warmer::new(Arc::clone(&engine))),
            engine,
            gateways: Arc::new(gateways),
            secrets: Arc::new(Secrets {
                warming: config.warming_secret.clone(),
                cron: config.cron_secret.clone(),
            }),
        };
        Self {
            state,
            warm_on_startup: config.warm_on_startup,
            changes: config.changes.clone(),
            connections: config.connections,
        }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn router(&self) -> Router {
        let router = crate::http::router(self.state.clone());
        if crate::telemetry::sentry::is_enabled() {
            crate::telemetry::sentry::layer(router)
        } else {
            router
        }
    }

    /// The router, and the catalog's front door unless Sentry is on (which
    /// makes a transaction of every request, in the router's layers).
    fn routes(&self) -> crate::server::Routes {
        let sentry = crate::telemetry::sentry::is_enabled();
        crate::server::Routes {
            router: self.router(),
            front: (!sentry).then(|| {
                Arc::new(crate::http::Replay::new(self.state.clone()))
                    as Arc<dyn crate::server::FrontDoor>
            }),
        }
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish
    /// (see [`crate::server`] for the connection limits).
    /// Missing or stale gateways are warmed in the background at start.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.load_runtime_config().await;
        // Before anything is fetched: the first changes go to the webhooks too.
        let deliverers = Webhooks::spawn(
            &self.changes,
            Arc::clone(self.state.engine.store()),
            Arc::clone(&self.state.changes),
            Arc::clone(self.state.engine.stats()),
        )
        .await;
        if self.warm_on_startup {
            tokio::spawn(warm_at_start(self.state.clone()));
        }
        let tasks = [
            tokio::spawn(sync_with_store(self.state.clone())),
            tokio::spawn(housekeeping(self.state.clone())),
            tokio::spawn(listen_for_drops(self.state.clone())),
            tokio::spawn(background::run(self.state.clone())),
        ];

        tracing::info!(addr = %listener.local_addr()?, "listening");
        let served =
            crate::server::serve(listener, self.routes(), self.connections, shutdown).await;
        for task in tasks.into_iter().chain(deliverers) {
            task.abort();
        }
        let _ = self.state.engine.stats().flush().await;
        served
    }

    /// The runtime config as stored (or the defaults), applied before serving.
    async fn load_runtime_config(&self) {
        let state = &self.state;
        if let Err(e) = state.runtime.reload(state.engine.store().as_ref()).await {
            tracing::warn!(error = %e, "runtime config not loaded; using the defaults until the store answers");
        }
        state.engine.set_ttl(state.runtime.get().ttl.ttl());
    }

    /// One full warm of every gateway (`models-cache warm`).
    pub async fn warm(&self, trigger: Trigger) -> WarmReport {
        self.load_runtime_config().await;
        let selection = full_selection(&self.state.gateways, &self.state.runtime.get());
        let report = self.state.warmer.warm(&selection, trigger).await;
        let _ = self.state.engine.stats().flush().await;
        report
    }
}

/// Warms the missing or stale gateways, unless the runtime config says not to.
async fn warm_at_start(state: AppState) {
    let config = state.runtime.get();
    if !(config.enabled && config.warm_on_startup) {
        tracing::info!("start-up warm skipped: turned off in the runtime config");
        return;
    }
    let selection = full_selection(&state.gateways, &config);
    state
        .warmer
        .warm_outdated(&selection, Trigger::Startup)
        .await;
}

/// Every second: picks up runtime config changes made on any instance, and
/// adds this instance's counts to the shared stats.
async fn housekeeping(state: AppState) {
    let mut every = tokio::time::interval(RELOAD_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let store = state.engine.store().as_ref();
        if state.runtime.reload(store).await.is_ok() {
            state.engine.set_ttl(state.runtime.get().ttl.ttl());
        }
        let _ = state.engine.stats().flush().await;
    }
}

/// Drops this instance's copy of whatever another instance invalidated.
async fn listen_for_drops(state: AppState) {
    let Some(mut notices) = state.engine.store().notices() else {
        return;
    };
    while let Some(notice) = notices.recv().await {
        state.engine.on_notice(&notice).await;
    }
}

/// Keeps this instance's copies in line with the store, so reads stay memory
/// lookups and still see what other instances store within a sync interval;
/// and sweeps out the answers nobody may reuse any more.
async fn sync_with_store(state: AppState) {
    let mut every = tokio::time::interval(SYNC_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        state.views.evict_expired(crate::cache::now_ms());
        let engine = &state.engine;
        state
            .indexes
            .keep_only(|gateway, version| engine.holds(gateway, version));
        state.engine.sync(&state.gateways.active).await;
    }
}

/// The shipped alias table with the operator's `ALIASES_FILE` over it.
fn load_aliases(config: &Config) -> Result<Aliases, ConfigError> {
    Aliases::load(config.aliases_file.as_deref()).map_err(|e| ConfigError::new("ALIASES_FILE", e))
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
