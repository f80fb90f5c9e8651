//! models-cache: a stale-while-revalidate cache of AI gateways' model lists.
//!
//! # Layout
//!
//! - [`config`] — start-up settings from the environment; bad values stop start-up.
//! - [`gateways`] — `gateways.toml`, one adapter per provider kind, the
//!   normalised [`gateways::Model`], and bounded upstream fetches.
//! - [`store`] — the [`store::Store`] trait, over Redis or an embedded map.
//! - [`catalog`] — finding models: strict query parameters, per-entry
//!   indexes, and the unified catalog (one record per model).
//! - [`cache`] — the SWR engine — freshness, single-flight, cross-instance
//!   locks, stale-if-error, backoff. The read path lives in `cache::engine`.
//! - [`warm`] — full warms, their recorded status, the background refresh.
//! - [`runtime`] — the operator's runtime config, shared through the store.
//! - [`stats`] — the operator's counters, shared through the store.
//! - [`http`] — the API, one module per route group, one error type.
//! - [`app`] — wires the above together and serves; `main` stays thin.
//! - [`server`] — the accept loop: connection cap, header and idle timeouts.
//! - [`telemetry`] — logging set-up.
//! - [`background`] — low-priority threads for CPU work no read waits for.

pub mod app;
pub mod background;
pub mod cache;
pub mod catalog;
pub mod changes;
pub mod config;
pub mod gateways;
pub mod http;
pub mod runtime;
pub mod secret;
pub mod server;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod warm;

pub use app::App;
pub use config::Config;
