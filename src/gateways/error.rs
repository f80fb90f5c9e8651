//! What can go wrong when reading an upstream, by kind.
//!
//! Each error has two texts. Its `Display` is the detail, for operators: the
//! logs, Sentry events and the bearer-protected warm answers (an upstream's
//! error body, the connection error chain, the file path). [`FetchError::public`]
//! is what anyone may read (the catalog's `error` fields, the public warm
//! status): the kind of failure only, never upstream bytes, hosts or paths.
//! Neither ever holds a URL's credentials or query string.

use std::time::Duration;

/// A failed fetch. Cloneable because one fetch's outcome is shared by every
/// reader and warm that joined it. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("timed out after {}ms", .0.as_millis())]
    Timeout(Duration),
    /// `refused`: the host answered that nothing listens on the port.
    #[error("cannot connect: {detail}")]
    Connect { refused: bool, detail: String },
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
    /// Holds the public text of the failure that started the backoff.
    #[error("not retried yet after a recent failure: {0}")]
    BackingOff(String),
    #[error("another instance was fetching and did not finish in time")]
    LockWait,
    /// Holds the public text the other instance recorded.
    #[error("the concurrent fetch by another instance failed: {0}")]
    Elsewhere(String),
    #[error(
        "an operator invalidated the gateway while this fetch was in flight; its list was discarded"
    )]
    Invalidated,
    /// Not a failure: the fetch stopped at a body that made the list the
    /// caller holds (`gateways::unchanged`). Never leaves `Fetcher::fetch`,
    /// which answers `Fetched::Same` instead.
    #[error("the list came back unchanged")]
    Unchanged,
}

impl FetchError {
    /// A short label for logs, metrics and the warm result.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Connect { .. } => "connect",
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
            Self::Unchanged => "unchanged",
        }
    }

    /// What happened, for public answers: the kind of failure, with no
    /// upstream bytes, connection details or file paths.
    pub fn public(&self) -> String {
        match self {
            Self::Timeout(after) => format!("timeout after {}ms", after.as_millis()),
            Self::Connect { refused: true, .. } => "connection refused".into(),
            Self::Connect { refused: false, .. } => "cannot connect".into(),
            Self::Auth { status, .. } => format!("HTTP {status}: API key refused"),
            Self::Status { status, .. } => format!("HTTP {status}"),
            Self::Redirect(_) => "redirected to another host".into(),
            Self::TooLarge(limit) => format!("body too large (over {limit} bytes)"),
            Self::Parse(_) => "bad JSON".into(),
            Self::File(_) => "cannot read the models file".into(),
            Self::Request(_) => "request failed".into(),
            // Their texts are already public: counts, or a recorded public text.
            Self::EmptyList(_)
            | Self::BackingOff(_)
            | Self::LockWait
            | Self::Elsewhere(_)
            | Self::Invalidated
            | Self::Unchanged => self.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_texts_name_the_kind_and_leave_out_the_detail() {
        let cases = [
            (
                FetchError::Timeout(Duration::from_secs(5)),
                "timeout after 5000ms",
            ),
            (
                FetchError::Connect {
                    refused: true,
                    detail: "tcp connect error: 10.0.0.7:443".into(),
                },
                "connection refused",
            ),
            (
                FetchError::Status {
                    status: 502,
                    snippet: "<h1>MARKER internal</h1>".into(),
                },
                "HTTP 502",
            ),
            (
                FetchError::Parse("invalid type: string \"MARKER\"".into()),
                "bad JSON",
            ),
            (
                FetchError::TooLarge(1024),
                "body too large (over 1024 bytes)",
            ),
            (
                FetchError::File("/srv/secret/MARKER.json: No such file".into()),
                "cannot read the models file",
            ),
            (
                FetchError::Redirect("https://elsewhere.example/MARKER".into()),
                "redirected to another host",
            ),
            (FetchError::Request("hyper MARKER".into()), "request failed"),
        ];
        for (error, public) in cases {
            assert_eq!(error.public(), public, "{error}");
        }
    }

    #[test]
    fn recorded_texts_stay_as_they_are() {
        let backing_off = FetchError::BackingOff("HTTP 500".into());
        assert_eq!(
            backing_off.public(),
            "not retried yet after a recent failure: HTTP 500"
        );
    }
}
