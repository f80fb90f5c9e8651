//! The page scenario (issue 12, point 5): how long a person waits for the
//! models page's first rows, in a real browser, against a warm cache of
//! 10,000 models (10 gateways × 1,000 of the catalog mock's distinct
//! models; quick: 10 × 50), and the same for the page a frontend has today.
//!
//! - **Ours**: models-cache's own page (`/`, `web/`), whose first rows come
//!   from one `/api/catalog?limit=50&facets=true`.
//! - **Baseline**: `bench/page-baseline/index.html` and `baseline.js`
//!   (compiled into the harness), served by a small axum server the harness
//!   runs on another loopback port. It fetches the whole `/api/models` from
//!   the same models-cache instance, cross-origin (the catalog answers
//!   `Access-Control-Allow-Origin: *`, checked before the loads; the page is
//!   opened as `/?api=<instance>`), then filters (by nothing), sorts by name
//!   and renders the first 50 rows in the browser. Both pages read the same
//!   warm cache through the same server; only where the query is answered
//!   differs.
//! - **Floor**: `floor.html` and `floor.js` from the same server: one script
//!   that writes 50 placeholder rows, no data. What any page whose rows a
//!   script writes costs this browser on this machine: the part of the
//!   figures no server can remove.
//!
//! Each page sets `performance.mark("rows-painted")` after the frame that
//! shows its first rows. `tests/browser/drive.py load <url> <runs> <url>…`
//! (Python Playwright driving Debian's Chromium, headless) makes `runs` cold
//! loads of each page, interleaved, each in a new browser context (no HTTP
//! cache), and reads the mark's time from navigation start, the rows shown,
//! and the Navigation, Resource and Paint Timing entries: where the time
//! went (HTML, scripts, the API answer, first paint). Chromium's own start-up
//! is outside the figures: the mark is measured inside the page.
//!
//! "Warm cache": every gateway warmed and fresh, and each API URL the pages
//! ask read before the loads (identity, then gzip twice, waiting for the
//! background recompression at the best level), so the indexes, views and
//! compressed answers exist, as on a service in use.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header;
use axum::routing::get;
use serde::Deserialize;

use super::client::{self, wait_ok, wait_state};
use super::procs;
use super::report::{PageLoads, PageResults, Phases};
use super::rig::{Rig, SECRET, ServiceConfig};

/// (gateways, models per gateway).
const FULL: (usize, usize) = (10, 1000);
const QUICK: (usize, usize) = (10, 50);
/// Redis database of the scenario's instance (the rig uses 0 to 3, the
/// catalog scenario 4 and 5).
const DB: u8 = 6;
/// Rows the pages show first.
const PAGE_SIZE: usize = 50;
/// What models-cache's page asks for its first rows (`web/models.js`,
/// no filter set).
const OURS_API: &str = "/api/catalog?limit=50&facets=true";
/// What the baseline asks: every model.
const BASELINE_API: &str = "/api/models";
const START: Duration = Duration::from_secs(60);
/// Bound on the wait for the primed answers' best-level recompression.
const RECOMPRESSED: Duration = Duration::from_secs(10);
const BASELINE_HTML: &str = include_str!("../../page-baseline/index.html");
const BASELINE_JS: &str = include_str!("../../page-baseline/baseline.js");
const FLOOR_HTML: &str = include_str!("../../page-baseline/floor.html");
const FLOOR_JS: &str = include_str!("../../page-baseline/floor.js");
/// Rows the floor page writes.
const FLOOR_ROWS: usize = 50;

pub async fn page(rig: &Rig) -> Result<PageResults, String> {
    let o = &rig.opts;
    let (gateways, per_gateway) = if o.quick { QUICK } else { FULL };
    let runs = o.page_loads();
    let drive =
        std::fs::canonicalize(&o.drive).map_err(|e| format!("page: {}: {e}", o.drive.display()))?;

    let (_mock_proc, mock) = super::catalog::start_mock(rig, gateways, per_gateway)?;
    let file = super::catalog::write_gateways(&rig.dir, "page", &mock.base, gateways)?;
    let instance = rig.service_with(
        &ServiceConfig {
            name: &format!("models-cache-page-{}", gateways * per_gateway),
            db: DB,
            fresh: "4h",
            stale: "12h",
            env: &[],
        },
        &file,
    )?;
    let base = &instance.base;
    wait_ok(&rig.http, &format!("{base}/healthz"), START).await?;
    client::warm(&rig.http, base, SECRET).await?;
    wait_state(&rig.http, base, "fresh", START).await?;

    let server = BaselineServer::start().await?;
    check_cors(rig, base, &server.base).await?;
    let sizes = prime(rig, base, &[OURS_API, BASELINE_API]).await?;

    let models = gateways * per_gateway;
    let rows_expected = models.min(PAGE_SIZE);
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let pages = [
        (
            "models-cache `/`",
            format!("{base}/"),
            OURS_API,
            sizes[0],
            rows_expected,
        ),
        (
            "baseline: every model, filtered in the browser",
            format!("{}/?api={}", server.base, encode(base)),
            BASELINE_API,
            sizes[1],
            rows_expected,
        ),
        (
            "floor: no data, 50 rows written by a script",
            format!("{}/floor.html", server.base),
            "",
            (0, 0),
            FLOOR_ROWS,
        ),
    ];
    let urls: Vec<&str> = pages.iter().map(|p| p.1.as_str()).collect();
    let driven = drive_loads(rig, &drive, &urls, runs)?;
    drop(server);
    let mut loads = Vec::new();
    for ((name, url, api, (bytes, gzip_bytes), rows), page) in pages.iter().zip(driven.pages) {
        let l = page_loads(page, name, url, api, (*bytes, *gzip_bytes), *rows);
        eprintln!(
            "bench: page {name}: {}/{runs} loads painted, p50 {:.1} ms, p95 {:.1} ms",
            l.painted, l.p50_ms, l.p95_ms
        );
        loads.push(l);
    }
    eprintln!(
        "bench: page: {} loads in {:.1} s of Chromium (load average {load_average})",
        runs * pages.len(),
        driven.seconds
    );
    let [ours, baseline, floor]: [PageLoads; 3] = loads.try_into().expect("BUG: three pages");
    Ok(PageResults::new(
        gateways,
        per_gateway,
        runs,
        rows_expected,
        load_average,
        ours,
        baseline,
        floor,
    ))
}

/// The baseline page, served on loopback by the harness's own runtime;
/// stopped when dropped.
struct BaselineServer {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl BaselineServer {
    async fn start() -> Result<Self, String> {
        let file = |kind: &'static str, body: &'static str| {
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, kind),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                    body,
                )
            })
        };
        let app = Router::new()
            .route("/", file("text/html; charset=utf-8", BASELINE_HTML))
            .route("/baseline.js", file("text/javascript", BASELINE_JS))
            .route("/floor.html", file("text/html; charset=utf-8", FLOOR_HTML))
            .route("/floor.js", file("text/javascript", FLOOR_JS));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("baseline page server: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("baseline page server: {e}"))?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("bench: baseline page server: {e}");
            }
        });
        Ok(Self {
            base: format!("http://{addr}"),
            task,
        })
    }
}

impl Drop for BaselineServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The baseline reads the catalog cross-origin: the answer must allow it.
async fn check_cors(rig: &Rig, base: &str, origin: &str) -> Result<(), String> {
    let url = format!("{base}{BASELINE_API}?limit=1");
    let response = rig
        .http
        .get(&url)
        .header(header::ORIGIN, origin)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let allowed = response
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match allowed.as_deref() {
        Some("*") => Ok(()),
        Some(o) if o == origin => Ok(()),
        _ => Err(format!(
            "GET {url} with Origin {origin}: Access-Control-Allow-Origin is {allowed:?}; the baseline page could not read the catalog"
        )),
    }
}

/// Reads each of `urls` as is and twice with gzip (the first read
/// compresses the page at the fastest level, its reuse has it recompressed
/// at the best level in the background), waits for those recompressions
/// (`models_cache_views_built_total{encoding="gzip-best"}`, bounded), and
/// returns each answer's (identity, gzip) bytes as the browser will get it.
async fn prime(rig: &Rig, base: &str, urls: &[&str]) -> Result<Vec<(u64, u64)>, String> {
    let before = gzip_best(rig, base).await?;
    let mut identity = Vec::new();
    for url in urls {
        identity.push(body_len(rig, &format!("{base}{url}"), false).await?);
        for _ in 0..2 {
            body_len(rig, &format!("{base}{url}"), true).await?;
            // Past the 100 ms for which an assembled answer is reused as
            // is, so the next read reuses the page itself.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    let deadline = Instant::now() + RECOMPRESSED;
    let mut built = gzip_best(rig, base).await?;
    while built < before + urls.len() as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        built = gzip_best(rig, base).await?;
    }
    if built < before + urls.len() as u64 {
        eprintln!(
            "bench: page: {} of {} answers recompressed at the best level after {RECOMPRESSED:?}; going on",
            built - before,
            urls.len()
        );
    }
    let mut sizes = Vec::new();
    for (url, identity) in urls.iter().zip(identity) {
        sizes.push((
            identity,
            body_len(rig, &format!("{base}{url}"), true).await?,
        ));
    }
    Ok(sizes)
}

/// `models_cache_views_built_total{encoding="gzip-best"}` at `/metrics`.
async fn gzip_best(rig: &Rig, base: &str) -> Result<u64, String> {
    let text = super::client::get_text(&rig.http, &format!("{base}/metrics")).await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("models_cache_views_built_total{encoding=\"gzip-best\"}"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64))
}

/// Bytes of `url`'s body as sent (the harness's client never decompresses).
async fn body_len(rig: &Rig, url: &str, gzip: bool) -> Result<u64, String> {
    let mut request = rig.http.get(url);
    if gzip {
        request = request.header(header::ACCEPT_ENCODING, "gzip");
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: {}", response.status()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    Ok(body.len() as u64)
}

/// What `drive.py load` prints.
#[derive(Debug, Deserialize)]
struct Driven {
    pages: Vec<DrivenPage>,
    seconds: f64,
}

/// One page's loads.
#[derive(Debug, Deserialize)]
struct DrivenPage {
    #[serde(default)]
    runs: Vec<Load>,
    #[serde(default)]
    errors: Vec<String>,
}

/// One load, as `drive.py`'s `TIMINGS` reads it (ms from navigation start).
#[derive(Debug, Deserialize)]
struct Load {
    painted: f64,
    html: f64,
    #[serde(default)]
    paint: std::collections::BTreeMap<String, f64>,
    resources: Vec<Resource>,
    rows: usize,
}

#[derive(Debug, Deserialize)]
struct Resource {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    start: f64,
    end: f64,
}

impl Load {
    /// Its timeline; `api`: the path of the page's data request, if any.
    fn phases(&self, api: &str) -> Phases {
        let scripts = self
            .resources
            .iter()
            .filter(|r| r.kind == "script" || r.name.ends_with(".js"))
            .map(|r| r.end)
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
        let path = api.split('?').next().unwrap_or(api);
        let answer = self
            .resources
            .iter()
            .filter(|r| !path.is_empty() && r.name.contains(path))
            .min_by(|a, b| a.start.total_cmp(&b.start));
        Phases {
            html_ms: self.html,
            scripts_ms: scripts,
            api_start_ms: answer.map(|r| r.start),
            api_end_ms: answer.map(|r| r.end),
            first_contentful_paint_ms: self.paint.get("first-contentful-paint").copied(),
            rows_painted_ms: self.painted,
        }
    }
}

/// `runs` cold loads of each of `urls`, interleaved, in one headless
/// Chromium. Not pinned: the browser is several processes (browser,
/// renderer, network service), which a user's machine runs on several
/// cores; the one load at a time costs the servers next to nothing.
fn drive_loads(rig: &Rig, drive: &Path, urls: &[&str], runs: usize) -> Result<Driven, String> {
    let mut command = std::process::Command::new("python3");
    command
        .arg(drive)
        .arg("load")
        .arg(urls[0])
        .arg(runs.to_string())
        .args(&urls[1..])
        .env("PYTHONPATH", pydeps(rig));
    // Each load is bounded by drive.py (15 s); Chromium's start on top.
    let timeout = Duration::from_secs(60 + 16 * (runs * urls.len()) as u64);
    let out = tokio::task::block_in_place(|| procs::output(command, timeout))
        .map_err(|e| format!("page: {e}"))?;
    let driven: Driven = serde_json::from_str(out.trim())
        .map_err(|e| format!("page: drive.py printed {out:?}: {e}"))?;
    if driven.pages.len() != urls.len() {
        return Err(format!(
            "page: drive.py answered for {} pages, not {}",
            driven.pages.len(),
            urls.len()
        ));
    }
    Ok(driven)
}

/// One page's figures from its loads.
fn page_loads(
    driven: DrivenPage,
    page: &str,
    url: &str,
    api: &str,
    (api_bytes, api_gzip_bytes): (u64, u64),
    rows_expected: usize,
) -> PageLoads {
    let ms: Vec<f64> = driven.runs.iter().map(|l| l.painted).collect();
    let painted = driven
        .runs
        .iter()
        .filter(|l| l.rows == rows_expected)
        .count();
    let mut errors = driven.errors;
    for l in driven.runs.iter().filter(|l| l.rows != rows_expected) {
        errors.push(format!("{} rows shown, not {rows_expected}", l.rows));
    }
    let phases: Vec<Phases> = driven.runs.iter().map(|l| l.phases(api)).collect();
    PageLoads::new(
        page,
        url,
        api,
        api_bytes,
        api_gzip_bytes,
        ms,
        painted,
        errors,
        &phases,
    )
}

/// PYTHONPATH for drive.py: `--pydeps`, else `$MODELS_CACHE_PYDEPS`.
fn pydeps(rig: &Rig) -> PathBuf {
    rig.opts
        .pydeps
        .clone()
        .or_else(|| std::env::var_os("MODELS_CACHE_PYDEPS").map(PathBuf::from))
        .unwrap_or_default()
}

/// `http://127.0.0.1:8080` as a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_base_url_as_a_query_value() {
        assert_eq!(encode("http://127.0.0.1:80"), "http%3A%2F%2F127.0.0.1%3A80");
    }

    #[test]
    fn reads_where_the_time_went() {
        let load: Load = serde_json::from_str(
            r#"{"painted": 60.5, "html": 10, "dom_content_loaded": 30,
                "paint": {"first-paint": 20, "first-contentful-paint": 21},
                "resources": [
                  {"name": "http://h/assets/common.js", "type": "script", "start": 11, "end": 18},
                  {"name": "http://h/assets/models.js", "type": "script", "start": 11, "end": 25},
                  {"name": "http://h/api/catalog?limit=50&facets=true", "type": "fetch", "start": 31, "end": 40}
                ],
                "rows": 50}"#,
        )
        .unwrap();
        let p = load.phases(OURS_API);
        assert_eq!(p.scripts_ms, Some(25.0));
        assert_eq!(p.api_start_ms, Some(31.0));
        assert_eq!(p.api_end_ms, Some(40.0));
        assert_eq!(p.first_contentful_paint_ms, Some(21.0));
        assert_eq!(p.rows_painted_ms, 60.5);
    }
}
