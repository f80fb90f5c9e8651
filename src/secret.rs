//! Secrets (bearer tokens, API keys) that must never be logged or compared in
//! variable time.
//!
//! `Debug` prints `Secret(***)`, so a secret inside a config struct cannot leak
//! through a `{:?}`. Comparison hashes both sides with SHA-256 first and then
//! compares the digests in constant time: the time taken says nothing about
//! the secret's content nor its length.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Whether `candidate` equals the secret, in constant time.
    pub fn matches(&self, candidate: &str) -> bool {
        let expected = Sha256::digest(self.0.as_bytes());
        let given = Sha256::digest(candidate.as_bytes());
        expected.ct_eq(&given).into()
    }

    /// The value itself, for the one place that must send it (an upstream
    /// request header). Never pass it to a log or an error message.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_value() {
        let s = Secret::new("s3cret");
        assert!(s.matches("s3cret"));
        assert!(!s.matches("s3cre"));
        assert!(!s.matches("s3cret "));
        assert!(!s.matches(""));
    }

    #[test]
    fn debug_never_shows_the_value() {
        assert_eq!(format!("{:?}", Secret::new("s3cret")), "Secret(***)");
    }
}
