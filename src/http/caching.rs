//! HTTP caching headers of catalog responses: a weak `ETag` (so a browser
//! revalidates with `If-None-Match` and gets a 304), `Cache-Control` derived
//! from the entries' own deadlines (so a CDN in front caches exactly as long
//! as the entries are fresh, then serves stale while revalidating), and
//! `X-Cache`.

use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

use crate::cache::{GatewayView, ReadOutcome};

pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// The caching headers of one response.
pub struct CacheHeaders {
    etag: String,
    cache_control: String,
    x_cache: &'static str,
}

/// What every answer read from the same gateway states shares: the states'
/// part of the ETag (digested once), `Cache-Control` and `X-Cache`. Answers
/// to many queries over one read each add their query to it.
#[derive(Clone)]
pub struct StateHeaders {
    digest: [u8; 32],
    cache_control: String,
    x_cache: &'static str,
}

impl StateHeaders {
    pub fn new(views: &[GatewayView], now: u64) -> Self {
        Self {
            digest: states_digest(views, now),
            cache_control: cache_control(views, now),
            x_cache: ReadOutcome::header_value(views.iter().map(|v| v.outcome)),
        }
    }

    /// The headers of the answer to `fingerprint` (the query: filter,
    /// page…) over these states.
    pub fn for_query(&self, fingerprint: &str) -> CacheHeaders {
        let mut hash = Sha256::new();
        hash.update(self.digest);
        hash.update(fingerprint.as_bytes());
        let digest = hash.finalize();
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        CacheHeaders {
            etag: format!("W/\"{hex}\""),
            cache_control: self.cache_control.clone(),
            x_cache: self.x_cache,
        }
    }
}

impl CacheHeaders {
    /// `fingerprint` distinguishes responses built from the same entries
    /// (the query: filter, page…).
    pub fn new(views: &[GatewayView], now: u64, fingerprint: &str) -> Self {
        StateHeaders::new(views, now).for_query(fingerprint)
    }

    /// Whether the client's `If-None-Match` already names this response.
    pub fn not_modified(&self, request: &HeaderMap) -> bool {
        names_etag(request, &self.etag)
    }

    pub fn apply(&self, headers: &mut HeaderMap) {
        let value = |v: &str| HeaderValue::from_str(v).expect("BUG: cache headers are ASCII");
        headers.insert(ETAG, value(&self.etag));
        headers.insert(CACHE_CONTROL, value(&self.cache_control));
        headers.insert(X_CACHE, HeaderValue::from_static(self.x_cache));
    }
}

/// The ETag is weak, because `age_ms` in the body changes every millisecond
/// while the catalog itself does not: the tag follows the entries' revisions
/// and states (digested here) and the query.
fn states_digest(views: &[GatewayView], now: u64) -> [u8; 32] {
    let mut hash = Sha256::new();
    for view in views {
        hash.update(view.gateway.id.as_bytes());
        hash.update(view.entry.as_ref().map_or(0, |e| e.revision).to_le_bytes());
        hash.update(view.state(now).as_bytes());
        hash.update(view.error.as_deref().unwrap_or("").as_bytes());
        hash.update([0]);
    }
    hash.finalize().into()
}

/// `s-maxage` runs to the earliest `fresh_until`, `stale-while-revalidate`
/// from there to the earliest `stale_until`. A response missing a gateway is
/// not stored by shared caches: it would pin the gap.
fn cache_control(views: &[GatewayView], now: u64) -> String {
    let entries: Option<Vec<_>> = views.iter().map(|v| v.entry.as_ref()).collect();
    let Some(entries) = entries.filter(|e| !e.is_empty()) else {
        return "no-store".into();
    };
    let fresh_until = entries.iter().map(|e| e.fresh_until).min().unwrap_or(now);
    let stale_until = entries.iter().map(|e| e.stale_until).min().unwrap_or(now);
    let s_maxage = fresh_until.saturating_sub(now) / 1000;
    let swr = (stale_until.saturating_sub(now) / 1000).saturating_sub(s_maxage);
    format!("public, max-age=0, s-maxage={s_maxage}, stale-while-revalidate={swr}")
}

/// Whether `request`'s `If-None-Match` names `etag` (weakly compared).
/// Every line of the header counts: a list may be split over several.
pub fn names_etag(request: &HeaderMap, etag: &str) -> bool {
    let ours = strip_weak(etag);
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || strip_weak(tag) == ours)
}

fn strip_weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> CacheHeaders {
        CacheHeaders {
            etag: "W/\"abc\"".into(),
            cache_control: "no-store".into(),
            x_cache: "HIT",
        }
    }

    fn request(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(IF_NONE_MATCH, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    #[test]
    fn any_listed_tag_matches_weak_or_strong() {
        assert!(ours().not_modified(&request(&["W/\"abc\""])));
        assert!(ours().not_modified(&request(&["\"x\", \"abc\""])));
        assert!(ours().not_modified(&request(&["*"])));
        assert!(!ours().not_modified(&request(&["\"x\", W/\"abcd\""])));
        assert!(!ours().not_modified(&request(&[])));
    }

    #[test]
    fn every_header_line_counts() {
        assert!(ours().not_modified(&request(&["\"x\"", "W/\"abc\""])));
        assert!(ours().not_modified(&request(&["\"x\", \"y\"", "\"abc\""])));
        assert!(!ours().not_modified(&request(&["\"x\"", "\"y\""])));
    }
}
