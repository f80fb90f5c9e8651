//! N mock OpenAI/OpenRouter-shaped gateways in one process, on loopback.
//!
//! - `GET /g/<n>/models` — gateway `n`'s list (built once at start), after
//!   its latency; counted.
//! - `GET /stats` — per gateway: requests, body bytes, latency; requests in
//!   flight now.
//! - `POST /control` — `{"latency_ms":"2000"|"50..800","reset":true,"revise":n,"reprice":r,
//!   "fail":{…}}`: change latencies, zero the counters, change gateway `n`'s
//!   list (one more model, [`catalog::revised_id`]; `--distinct` only), give
//!   5 % of every gateway's models round `r`'s prices
//!   ([`catalog::repriced_body`]; not with `--distinct`), make gateways fail
//!   (below).
//! - `fail`: `{"gateways":"0..10","mode":"500"|"hang"|"ok","for_ms":10000}`
//!   — those gateways (a range, end excluded, or one number) answer 500, or
//!   hang (hold the request without a byte until the fault ends, then answer
//!   504: the client's own timeout is what cuts it), or answer again (`ok`),
//!   for `for_ms` (absent: until the next `fail`). Their requests are still
//!   counted; `/stats` also counts the failed ones.
//!
//! `--distinct` serves the catalog scenario's lists: every gateway its own
//! models, each name carrying a search code ([`catalog::catalog_model`]).
//!
//! Prints `listening <addr>` on stdout once bound.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use models_cache_bench::{LISTENING, catalog, latency};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

/// How long a hang without `for_ms` holds a request at most: every wait of
/// the harness is bounded, this one too.
const LONGEST_HANG: Duration = Duration::from_secs(60);

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    #[arg(long, default_value_t = 20)]
    gateways: usize,
    /// Models per gateway.
    #[arg(long, default_value_t = 500)]
    models: usize,
    /// `800` or `50..800` (spread from the first gateway to the last), in ms.
    #[arg(long, default_value = "0")]
    latency_ms: String,
    /// Every gateway lists models of its own, with search codes in their
    /// names (the catalog scenario).
    #[arg(long)]
    distinct: bool,
}

struct Upstream {
    body: Mutex<Bytes>,
    revision: AtomicUsize,
    requests: AtomicUsize,
    /// Requests answered 500 or 504 by a fault.
    failed: AtomicUsize,
    latency_ms: AtomicU64,
    /// The fault in force, if any (`ok` clears it).
    fault: Mutex<Option<Fault>>,
}

/// How a failing gateway answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FailMode {
    /// `500` with a short text body, at once.
    #[serde(rename = "500")]
    Status500,
    /// Nothing until the fault ends, then `504`.
    Hang,
    /// Answers again.
    Ok,
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    mode: FailMode,
    /// When it ends by itself (`None`: at the next `fail`).
    until: Option<Instant>,
}

impl Fault {
    fn active(&self, now: Instant) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

struct Mock {
    upstreams: Vec<Upstream>,
    models: usize,
    distinct: bool,
    in_flight: AtomicUsize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let latencies = latency::spread(&args.latency_ms, args.gateways).unwrap_or_else(|e| exit(&e));
    let upstreams = latencies
        .iter()
        .enumerate()
        .map(|(n, latency)| Upstream {
            body: Mutex::new(Bytes::from(if args.distinct {
                catalog::catalog_body(n, args.models, 0)
            } else {
                catalog::list_body(n, args.models)
            })),
            revision: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            latency_ms: AtomicU64::new(latency.as_millis() as u64),
            fault: Mutex::new(None),
        })
        .collect();
    let mock = Arc::new(Mock {
        upstreams,
        models: args.models,
        distinct: args.distinct,
        in_flight: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/g/{n}/models", get(models))
        .route("/stats", get(stats))
        .route("/control", post(control))
        .with_state(mock);
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .unwrap_or_else(|e| exit(&format!("cannot bind {}: {e}", args.bind)));
    let addr = listener
        .local_addr()
        .expect("BUG: a bound socket has an address");
    println!("{LISTENING} {addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .unwrap_or_else(|e| exit(&e.to_string()));
}

async fn models(State(mock): State<Arc<Mock>>, Path(n): Path<usize>) -> Response {
    let Some(upstream) = mock.upstreams.get(n) else {
        return (StatusCode::NOT_FOUND, "no such gateway").into_response();
    };
    upstream.requests.fetch_add(1, Ordering::SeqCst);
    // Counted out however the request ends, a client hanging up included
    // (the service cuts hung requests at its timeout).
    let _in_flight = InFlight::enter(&mock.in_flight);
    if let Some(fault) = upstream.fault_now() {
        return fail(upstream, fault).await;
    }
    let latency = upstream.latency_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(latency)).await;
    (
        [(header::CONTENT_TYPE, "application/json")],
        upstream.body(),
    )
        .into_response()
}

/// The answer of a failing gateway: a 500 at once, or a 504 once a hang is
/// over. Counted failed at once: the client usually hangs up first.
async fn fail(upstream: &Upstream, fault: Fault) -> Response {
    upstream.failed.fetch_add(1, Ordering::SeqCst);
    if fault.mode == FailMode::Hang {
        let longest = Instant::now() + LONGEST_HANG;
        tokio::time::sleep_until(fault.until.map_or(longest, |until| until.min(longest))).await;
    }
    let status = match fault.mode {
        FailMode::Hang => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, "mock gateway failing on purpose").into_response()
}

/// One request in flight, for `/stats`, until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn stats(State(mock): State<Arc<Mock>>) -> Json<serde_json::Value> {
    let gateways: Vec<_> = mock
        .upstreams
        .iter()
        .map(|u| {
            json!({
                "requests": u.requests.load(Ordering::SeqCst),
                "failed": u.failed.load(Ordering::SeqCst),
                "bytes": u.body().len(),
                "revision": u.revision.load(Ordering::SeqCst),
                "latency_ms": u.latency_ms.load(Ordering::SeqCst),
            })
        })
        .collect();
    Json(json!({"in_flight": mock.in_flight.load(Ordering::SeqCst), "gateways": gateways}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Control {
    latency_ms: Option<String>,
    #[serde(default)]
    reset: bool,
    /// Gateway whose list changes (its revision goes up by one).
    revise: Option<usize>,
    /// Round of new prices for 5 % of every gateway's models.
    reprice: Option<usize>,
    fail: Option<FailControl>,
}

/// `{"gateways":"0..10","mode":"500","for_ms":10000}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailControl {
    /// `"0..10"` (end excluded) or `"3"`.
    gateways: String,
    mode: FailMode,
    /// How long the fault lasts; absent: until the next `fail`.
    for_ms: Option<u64>,
}

impl Upstream {
    /// The fault in force now, if any.
    fn fault_now(&self) -> Option<Fault> {
        let fault = *self
            .fault
            .lock()
            .expect("BUG: a fault lock is never poisoned");
        fault.filter(|f| f.mode != FailMode::Ok && f.active(Instant::now()))
    }

    fn body(&self) -> Bytes {
        self.body
            .lock()
            .expect("BUG: a body lock is never poisoned")
            .clone()
    }
}

async fn control(State(mock): State<Arc<Mock>>, Json(control): Json<Control>) -> Response {
    if let Some(spec) = &control.latency_ms {
        match latency::spread(spec, mock.upstreams.len()) {
            Ok(latencies) => {
                for (upstream, latency) in mock.upstreams.iter().zip(latencies) {
                    upstream
                        .latency_ms
                        .store(latency.as_millis() as u64, Ordering::SeqCst);
                }
            }
            Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
        }
    }
    if let Some(n) = control.revise {
        if !mock.distinct {
            return (StatusCode::BAD_REQUEST, "revise needs --distinct").into_response();
        }
        let Some(upstream) = mock.upstreams.get(n) else {
            return (StatusCode::NOT_FOUND, "no such gateway").into_response();
        };
        let revision = upstream.revision.fetch_add(1, Ordering::SeqCst) + 1;
        let body = catalog::catalog_body(n, mock.models, revision);
        *upstream
            .body
            .lock()
            .expect("BUG: a body lock is never poisoned") = Bytes::from(body);
    }
    if let Some(round) = control.reprice {
        if mock.distinct {
            return (StatusCode::BAD_REQUEST, "reprice is not for --distinct").into_response();
        }
        for (n, upstream) in mock.upstreams.iter().enumerate() {
            let body = catalog::repriced_body(n, mock.models, round);
            *upstream
                .body
                .lock()
                .expect("BUG: a body lock is never poisoned") = Bytes::from(body);
        }
    }
    if let Some(fail) = &control.fail {
        let gateways = match gateway_range(&fail.gateways, mock.upstreams.len()) {
            Ok(range) => range,
            Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
        };
        let fault = Fault {
            mode: fail.mode,
            until: fail
                .for_ms
                .map(|ms| Instant::now() + Duration::from_millis(ms)),
        };
        for upstream in &mock.upstreams[gateways] {
            *upstream
                .fault
                .lock()
                .expect("BUG: a fault lock is never poisoned") = Some(fault);
        }
    }
    if control.reset {
        for upstream in &mock.upstreams {
            upstream.requests.store(0, Ordering::SeqCst);
            upstream.failed.store(0, Ordering::SeqCst);
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `"0..10"` → `0..10`, `"3"` → `3..4`; within the `count` gateways.
fn gateway_range(spec: &str, count: usize) -> Result<Range<usize>, String> {
    let number = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("bad gateway range {spec:?}: use \"0..10\" or \"3\""))
    };
    let range = match spec.split_once("..") {
        Some((start, end)) => number(start)?..number(end)?,
        None => number(spec).map(|n| n..n + 1)?,
    };
    if range.start > range.end || range.end > count {
        return Err(format!("gateway range {spec:?} is not within 0..{count}"));
    }
    Ok(range)
}

fn exit(message: &str) -> ! {
    eprintln!("mock-gateway: {message}");
    std::process::exit(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gateway_ranges() {
        assert_eq!(gateway_range("0..10", 20), Ok(0..10));
        assert_eq!(gateway_range("3", 20), Ok(3..4));
        assert_eq!(gateway_range("15..20", 20), Ok(15..20));
        assert!(gateway_range("15..21", 20).is_err());
        assert!(gateway_range("5..2", 20).is_err());
        assert!(gateway_range("a..b", 20).is_err());
    }

    #[test]
    fn a_fault_ends_by_itself_or_at_the_next_one() {
        let now = Instant::now();
        let timed = Fault {
            mode: FailMode::Status500,
            until: Some(now + Duration::from_secs(1)),
        };
        assert!(timed.active(now));
        assert!(!timed.active(now + Duration::from_secs(2)));
        let open = Fault {
            mode: FailMode::Hang,
            until: None,
        };
        assert!(open.active(now + Duration::from_secs(3600)));
    }
}
