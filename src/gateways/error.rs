//! What can go wrong when reading an upstream, by kind.

use std::time::Duration;

/// A failed fetch. Cloneable because one fetch's outcome is shared by every
/// reader and warm that joined it. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("timed out after {}ms", .0.as_millis())]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("bad API key for {gateway} (HTTP {status})")]
    Auth { gateway: String, status: u16 },
    #[error("HTTP {status} from upstream: {snippet}")]
    Status { status: u16, snippet: String },
    #[error("redirected to {0}; redirects to another host are not followed")]
    Redirect(String),
    #[error("response body is over the {0}-byte limit")]
    TooLarge(usize),
    #[error("unparseable response: {0}")]
    Parse(String),
    #[error("upstream returned an empty list while {0} models are cached; keeping the cached list")]
    EmptyList(usize),
    #[error("cannot read the models file: {0}")]
    File(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("not retried yet after a recent failure: {0}")]
    BackingOff(String),
    #[error("another instance was fetching and did not finish in time")]
    LockWait,
    #[error("the concurrent fetch by another instance failed: {0}")]
    Elsewhere(String),
    #[error(
        "an operator invalidated the gateway while this fetch was in flight; its list was discarded"
    )]
    Invalidated,
}

impl FetchError {
    /// A short label for logs, metrics and the warm result.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Connect(_) => "connect",
            Self::Auth { .. } => "auth",
            Self::Status { .. } => "status",
            Self::Redirect(_) => "redirect",
            Self::TooLarge(_) => "size",
            Self::Parse(_) => "parse",
            Self::EmptyList(_) => "empty",
            Self::File(_) => "file",
            Self::Request(_) => "request",
            Self::BackingOff(_) => "backoff",
            Self::LockWait => "lock_wait",
            Self::Elsewhere(_) => "elsewhere",
            Self::Invalidated => "invalidated",
        }
    }
}
