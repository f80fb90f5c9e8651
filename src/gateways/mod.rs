//! Upstream gateways: their configuration, the adapters that read each
//! provider's models list, and the normalised [`Model`] they all produce.
//!
//! An adapter only turns one upstream's answer into `Vec<Model>`; it knows
//! nothing of caching. [`Fetcher::fetch`] bounds the whole fetch (every page,
//! every byte) by the gateway's timeout, caps the body size, and stamps each
//! record with its gateway id, so the cache engine gets either a clean list or
//! a [`FetchError`] that says what went wrong.

mod anthropic;
mod cohere;
mod error;
pub mod file;
mod gemini;
mod http;
mod json;
pub mod model;
mod ollama;
mod openai;
mod openai_extras;
mod openrouter;
mod paging;
#[cfg(test)]
mod parsers;
mod price;
mod static_list;
mod together;
mod unchanged;
mod xai;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;

pub use error::FetchError;
pub use file::{Gateways, Skipped};
pub use model::Model;
pub use unchanged::Bodies;

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
    /// Who made the models this gateway serves when their ids and
    /// `owned_by` do not say (`author = "anthropic"`), for the unified catalog.
    pub author: Option<String>,
}

/// Which adapter reads the gateway (one module each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any OpenAI-compatible `GET {base}/models`, with its providers' extras.
    OpenAi,
    /// OpenRouter's `/models`: the normalised shape itself.
    OpenRouter,
    /// Anthropic's `/models`, cursor-paginated.
    Anthropic,
    /// Google Gemini's `/models`, token-paginated.
    Gemini,
    /// Together AI's `/models`: a bare array.
    Together,
    /// Ollama's `/api/tags`.
    Ollama,
    /// Cohere's `/models`, token-paginated.
    Cohere,
    /// xAI's `/language-models`, with prices.
    Xai,
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
    pub const ALL: [Kind; 9] = [
        Kind::OpenAi,
        Kind::OpenRouter,
        Kind::Anthropic,
        Kind::Gemini,
        Kind::Together,
        Kind::Ollama,
        Kind::Cohere,
        Kind::Xai,
        Kind::Static,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OpenAi => "openai",
            Kind::OpenRouter => "openrouter",
            Kind::Anthropic => "anthropic",
            Kind::Gemini => "gemini",
            Kind::Together => "together",
            Kind::Ollama => "ollama",
            Kind::Cohere => "cohere",
            Kind::Xai => "xai",
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
    /// Where the list comes from, as shown to anyone (`GET /api/gateways`),
    /// in logs and in spans: a URL without its credentials or query.
    pub fn location(&self) -> String {
        match &self.source {
            Source::Http(url) => redact(url),
            Source::File(path) => path.display().to_string(),
        }
    }
}

/// `url` fit to be shown: without its userinfo (`admin:hunter2@`), query
/// (`?key=…`) or fragment, the parts that may carry a credential. The one
/// place a gateway's URL is turned into text.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    // Fails only for URLs that cannot have a userinfo (`mailto:`…).
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// Fetches models lists; one per process, sharing its connection pool.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    /// Per gateway, the bodies of its last list and that list's revision
    /// ([`unchanged`]).
    made: Arc<Mutex<HashMap<String, (Bodies, u64)>>>,
}

/// What a fetch brought.
#[derive(Debug)]
pub enum Fetched {
    /// The gateway's normalised list, and the bodies it was read from (for
    /// [`Fetcher::made`]).
    List(Vec<Model>, Bodies),
    /// The very bodies that made the revision the caller holds: the list
    /// is that one, and was not parsed again.
    Same,
}

impl Fetcher {
    pub fn new() -> Self {
        Self {
            client: http::client(),
            made: Arc::default(),
        }
    }

    /// The gateway's normalised list, within its timeout. `holding`: the
    /// revision of the list the caller holds, if any; when the upstream
    /// answers with the bodies that made it (see [`Fetcher::made`]), the
    /// answer is [`Fetched::Same`].
    pub async fn fetch(
        &self,
        gateway: &Gateway,
        holding: Option<u64>,
    ) -> Result<Fetched, FetchError> {
        let work = async {
            match &gateway.source {
                Source::Http(base) => self.fetch_http(gateway, base).await,
                Source::File(path) => static_list::read(path, gateway.max_body_bytes).await,
            }
        };
        let previous = holding.and_then(|revision| self.bodies_of(&gateway.id, revision));
        let (read, bodies) =
            crate::background::timeout(gateway.timeout, unchanged::noting(previous, work))
                .await
                .map_err(|_| FetchError::Timeout(gateway.timeout))?;
        let mut models = match read {
            Err(FetchError::Unchanged) => return Ok(Fetched::Same),
            read => read?,
        };
        let id = gateway.id.clone();
        // Per record, so off the async threads like the parsing.
        let models = crate::background::run(move || {
            for m in &mut models {
                m.gateway.clone_from(&id);
                m.sanitize();
            }
            model::dedup_by_id(&mut models);
            models
        })
        .await;
        Ok(Fetched::List(models, bodies))
    }

    /// The gateway's normalised list, parsed whatever came before: for a
    /// caller that keeps no list of its own.
    pub async fn fetch_list(&self, gateway: &Gateway) -> Result<Vec<Model>, FetchError> {
        match self.fetch(gateway, None).await? {
            Fetched::List(models, _) => Ok(models),
            Fetched::Same => unreachable!("BUG: a fetch that holds nothing got the same list"),
        }
    }

    /// Notes that `bodies` made the list of `revision` for `gateway`: a
    /// later fetch by a caller holding that revision stops at the same
    /// bodies.
    pub fn made(&self, gateway: &str, bodies: Bodies, revision: u64) {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        made.insert(gateway.to_owned(), (bodies, revision));
    }

    fn bodies_of(&self, gateway: &str, revision: u64) -> Option<Bodies> {
        let made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        made.get(gateway)
            .filter(|(_, made)| *made == revision)
            .map(|(bodies, _)| bodies.clone())
    }
}

impl Fetcher {
    async fn fetch_http(&self, gateway: &Gateway, base: &Url) -> Result<Vec<Model>, FetchError> {
        let client = &self.client;
        match gateway.kind {
            Kind::OpenAi => openai::fetch(client, gateway, base).await,
            Kind::OpenRouter => openrouter::fetch(client, gateway, base).await,
            Kind::Anthropic => anthropic::fetch(client, gateway, base).await,
            Kind::Gemini => gemini::fetch(client, gateway, base).await,
            Kind::Together => together::fetch(client, gateway, base).await,
            Kind::Ollama => ollama::fetch(client, gateway, base).await,
            Kind::Cohere => cohere::fetch(client, gateway, base).await,
            Kind::Xai => xai::fetch(client, gateway, base).await,
            Kind::Static => unreachable!("BUG: gateways::file gives kind static a file source"),
        }
    }
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_credentials_query_and_fragment() {
        let url = Url::parse("http://admin:hunter2@127.0.0.1:8080/v1?key=zzz#frag").unwrap();
        assert_eq!(redact(&url), "http://127.0.0.1:8080/v1");
        let user_only = Url::parse("https://token@api.example.com/v1/").unwrap();
        assert_eq!(redact(&user_only), "https://api.example.com/v1/");
        let odd = Url::parse("mailto:someone@example.com?key=zzz").unwrap();
        assert_eq!(redact(&odd), "mailto:someone@example.com");
    }
}
