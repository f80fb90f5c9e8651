//! Logging set-up: `RUST_LOG` filters, `LOG_FORMAT=json` gives one JSON
//! object per line for log shippers, anything else a readable format.
//! Logs go to stderr, so that stdout carries only command output
//! (`models-cache warm` prints its JSON report there).

pub mod metrics;
pub mod sentry;

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(log: &LogConfig) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&log.filter))
        .with_writer(std::io::stderr);
    let _ = if log.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
