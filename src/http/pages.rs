//! Pages for people: the models page (`/`) and the operator status page
//! (`/status`).
//!
//! They are plain HTML, CSS and JavaScript from `web/`, compiled into the
//! binary, so the service works offline and needs no build step. The pages
//! read only the public API, like any other frontend would. Each file is
//! digested and gzipped once, on its first request; after that a page costs
//! what replaying its bytes costs (or a 304). The `Content-Security-Policy`
//! allows nothing but this origin: no inline script or style, no other host.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, REFERRER_POLICY,
    VARY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::ApiError;
use super::caching::names_etag;
use super::negotiate::accepts_gzip;
use crate::app::AppState;

/// Only this origin, for everything; no inline code, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One file of a page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../../web/", $name)),
        }
    };
}

/// A page's script: the shared helpers, then its own code, in one file
/// (each file a cold page fetches costs it a round of the browser's own).
macro_rules! script {
    ($name:literal) => {
        Asset {
            name: $name,
            content_type: JS,
            bytes: concat!(
                include_str!("../../web/common.js"),
                "\n",
                include_str!(concat!("../../web/", $name))
            )
            .as_bytes(),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// Where `index.html` may say what to fetch first.
const PRELOAD_MARK: &str = "<!--preload-->";
/// The first request of the models page opened without a query: asked for
/// while the page's script is still loading.
const DEFAULT_PRELOAD: &str = r#"<link rel="preload" href="/api/catalog?limit=50&amp;facets=true" as="fetch" crossorigin="anonymous">"#;

const ASSETS: [Asset; 6] = [
    asset!("index.html", HTML),
    asset!("status.html", HTML),
    asset!("style.css", "text/css; charset=utf-8"),
    script!("models.js"),
    script!("status.js"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// An asset ready to send: its tag, and its bytes in both encodings.
struct Prepared {
    content_type: &'static str,
    etag: HeaderValue,
    identity: &'static [u8],
    gzip: Vec<u8>,
}

static PREPARED: LazyLock<Vec<(&'static str, Prepared)>> = LazyLock::new(|| {
    let mut prepared: Vec<_> = ASSETS
        .iter()
        .map(|a| (a.name, prepare(a.content_type, unmarked(a.bytes))))
        .collect();
    // `/` without a query: its first catalog request is preloaded.
    let index = std::str::from_utf8(ASSETS[0].bytes).expect("BUG: index.html is UTF-8");
    let preloading = index.replacen(PRELOAD_MARK, DEFAULT_PRELOAD, 1);
    prepared.push(("index.html?", prepare(HTML, leak(preloading))));
    prepared
});

/// Built once per process, kept for its life.
fn leak(text: String) -> &'static [u8] {
    Box::leak(text.into_bytes().into_boxed_slice())
}

/// The page without its preload mark.
fn unmarked(bytes: &'static [u8]) -> &'static [u8] {
    let text = std::str::from_utf8(bytes).expect("BUG: the pages are UTF-8");
    match text.split_once(PRELOAD_MARK) {
        Some((head, tail)) => leak(format!("{head}{}", tail.trim_start())),
        None => bytes,
    }
}

fn prepare(content_type: &'static str, bytes: &'static [u8]) -> Prepared {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    Prepared {
        content_type,
        etag: HeaderValue::from_str(&format!("\"{hex}\"")).expect("BUG: hex is ASCII"),
        identity: bytes,
        gzip: gzip(bytes),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(bytes)
        .expect("BUG: writing to memory cannot fail");
    encoder
        .finish()
        .expect("BUG: writing to memory cannot fail")
}

fn find(name: &str) -> Option<&'static Prepared> {
    PREPARED.iter().find(|(n, _)| *n == name).map(|(_, p)| p)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(models_page))
        .route(
            "/status",
            get(|h: HeaderMap| async move { page("status.html", &h) }),
        )
        .route(
            "/favicon.svg",
            get(|h: HeaderMap| async move { page("favicon.svg", &h) }),
        )
        .route("/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    // Only the page's own files: HTML is served at its route, not here.
    match find(&name).filter(|p| p.content_type != HTML) {
        Some(prepared) => send(prepared, &headers),
        None => ApiError::NotFound(format!(
            "no asset {name:?}; the pages' files are style.css, models.js, status.js"
        ))
        .into_response(),
    }
}

/// The models page; opened without a query, the variant that preloads its
/// first catalog request (with one, the script asks what the query says).
async fn models_page(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    match query.as_deref() {
        None | Some("") => page("index.html?", &headers),
        Some(_) => page("index.html", &headers),
    }
}

fn page(name: &str, headers: &HeaderMap) -> Response {
    send(find(name).expect("BUG: every page is in ASSETS"), headers)
}

/// The file, gzipped when the client takes it, or 304 when it has it.
/// Browsers revalidate (`no-cache`) so a new release shows at once; the
/// revalidation costs a 304.
fn send(prepared: &'static Prepared, request: &HeaderMap) -> Response {
    let etag = prepared.etag.to_str().expect("BUG: ETag is ASCII");
    let mut response = if names_etag(request, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(request) {
        let gzip: &'static [u8] = &prepared.gzip;
        let mut response = gzip.into_response();
        response
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        prepared.identity.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(prepared.content_type),
    );
    headers.insert(ETAG, prepared.etag.clone());
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_file_is_small_once_gzipped() {
        let total: usize = PREPARED.iter().map(|(_, p)| p.gzip.len()).sum();
        assert!(total < 50 * 1024, "the pages weigh {total} bytes gzipped");
    }

    #[test]
    fn no_page_holds_inline_script_or_style() {
        for asset in ASSETS.iter().filter(|a| a.content_type == HTML) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            for inline in ["<script>", "style=", "onclick=", "onload=", "<style"] {
                assert!(!text.contains(inline), "{} holds {inline}", asset.name);
            }
        }
    }
}
