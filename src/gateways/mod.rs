//! Upstream gateways: their configuration, the adapters that read each
//! provider's models list, and the normalised [`Model`] they all produce.
//!
//! An adapter only turns one upstream's answer into `Vec<Model>`; it knows
//! nothing of caching. [`Fetcher::fetch`] bounds the whole fetch (every page,
//! every byte) by the gateway's timeout, caps the body size, and stamps each
//! record with its gateway id, so the cache engine gets either a clean list or
//! a [`FetchError`] that says what went wrong.

mod error;
pub mod file;
mod http;
pub mod model;
mod openai;
mod static_list;

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

pub use error::FetchError;
pub use file::{Gateways, Skipped};
pub use model::Model;

use crate::secret::Secret;

/// One configured, enabled gateway whose key (if it needs one) is present.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// `[a-z0-9_-]+`, unique; used in store keys and URLs.
    pub id: String,
    pub kind: Kind,
    pub source: Source,
    /// Sent only when `api_key_env` named a variable.
    pub api_key: Option<Secret>,
    /// Bound on the whole fetch, all pages included.
    pub timeout: Duration,
    pub max_body_bytes: usize,
}

/// Which adapter reads the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any OpenAI-compatible `GET {base}/models`.
    OpenAi,
    /// A JSON file of models: curated lists, offline use.
    Static,
}

/// Where an adapter reads from.
#[derive(Debug, Clone)]
pub enum Source {
    Http(Url),
    File(PathBuf),
}

impl Kind {
    const ALL: [Kind; 2] = [Kind::OpenAi, Kind::Static];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OpenAi => "openai",
            Kind::Static => "static",
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown kind {raw:?} (known kinds: {})", known.join(", "))
            })
    }
}

impl Gateway {
    /// Where the list comes from, for operators (never includes the key).
    pub fn location(&self) -> String {
        match &self.source {
            Source::Http(url) => url.to_string(),
            Source::File(path) => path.display().to_string(),
        }
    }
}

/// Fetches models lists; one per process, sharing its connection pool.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
}

impl Fetcher {
    pub fn new() -> Self {
        Self {
            client: http::client(),
        }
    }

    /// The gateway's normalised list, within its timeout.
    pub async fn fetch(&self, gateway: &Gateway) -> Result<Vec<Model>, FetchError> {
        let work = async {
            match (&gateway.kind, &gateway.source) {
                (Kind::OpenAi, Source::Http(base)) => {
                    openai::fetch(&self.client, gateway, base).await
                }
                (Kind::Static, Source::File(path)) => {
                    static_list::read(path, gateway.max_body_bytes).await
                }
                _ => unreachable!("BUG: gateways::file pairs each kind with its source"),
            }
        };
        let mut models = tokio::time::timeout(gateway.timeout, work)
            .await
            .map_err(|_| FetchError::Timeout(gateway.timeout))??;
        for m in &mut models {
            m.gateway.clone_from(&gateway.id);
        }
        model::dedup_by_id(&mut models);
        Ok(models)
    }
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::new()
    }
}
