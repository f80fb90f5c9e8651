//! The real binary and the scheduler loop against a real HTTP server on loopback.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use vercel_like_cron::{Caller, Job, run};

const BINARY: &str = env!("CARGO_BIN_EXE_vercel-like-cron");

/// One request the server saw: (path, authorization, user-agent).
type Call = (String, Option<String>, Option<String>);

#[derive(Default)]
struct Seen {
    calls: Mutex<Vec<Call>>,
    count: AtomicUsize,
}

/// `/ok` answers 200, `/fail` 500, `/flaky` 500 the first time then 200.
async fn server() -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    async fn handle(
        State(seen): State<Arc<Seen>>,
        OriginalUri(uri): OriginalUri,
        headers: HeaderMap,
    ) -> StatusCode {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let path = uri.path().to_owned();
        seen.calls.lock().unwrap().push((
            path.clone(),
            header("authorization"),
            header("user-agent"),
        ));
        let n = seen.count.fetch_add(1, Ordering::SeqCst);
        match path.as_str() {
            "/fail" => StatusCode::INTERNAL_SERVER_ERROR,
            "/flaky" if n == 0 => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::OK,
        }
    }
    let app = Router::new()
        .route("/ok", get(handle))
        .route("/fail", get(handle))
        .route("/flaky", get(handle))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

/// Runs `--once` with a vercel.json of `crons` against `base_url`.
async fn once(base_url: String, crons: &str) -> std::process::ExitStatus {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vercel.json");
    std::fs::write(&config, format!(r#"{{"crons":[{crons}]}}"#)).unwrap();
    tokio::task::spawn_blocking(move || {
        Command::new(BINARY)
            .args([
                "--once",
                "--timeout",
                "5s",
                "--base-url",
                &base_url,
                "--config",
            ])
            .arg(&config)
            .env("CRON_SECRET", "cron-s3cret")
            .status()
            .unwrap()
    })
    .await
    .unwrap()
}

const OK: &str = r#"{"path":"/ok","schedule":"0 */3 * * *"}"#;
const FAIL: &str = r#"{"path":"/fail","schedule":"0 */3 * * *"}"#;

#[tokio::test]
async fn once_calls_the_path_as_vercel_does() {
    let (addr, seen) = server().await;
    let status = once(format!("http://{addr}"), OK).await;
    assert!(status.success());
    let calls = seen.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [(
            "/ok".to_owned(),
            Some("Bearer cron-s3cret".to_owned()),
            Some("vercel-cron/1.0".to_owned())
        )]
    );
}

#[tokio::test]
async fn once_fails_when_a_call_fails_but_still_makes_every_call() {
    let (addr, seen) = server().await;
    let status = once(format!("http://{addr}"), &format!("{FAIL},{OK}")).await;
    assert_eq!(status.code(), Some(1));
    let mut paths: Vec<String> = seen
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.0.clone())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/fail", "/ok"]);
}

#[tokio::test]
async fn once_fails_when_nothing_listens() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let status = once(format!("http://127.0.0.1:{port}"), OK).await;
    assert_eq!(status.code(), Some(1));
}

#[tokio::test]
async fn a_bad_config_stops_start_up_with_exit_code_2() {
    let status = once(
        "http://127.0.0.1:9".into(),
        r#"{"path":"/x","schedule":"every hour"}"#,
    )
    .await;
    assert_eq!(status.code(), Some(2));
}

#[tokio::test]
async fn the_scheduler_keeps_firing_after_a_failed_call() {
    let (addr, seen) = server().await;
    let caller = Arc::new(Caller::new(
        &format!("http://{addr}"),
        None,
        Duration::from_secs(2),
    ));
    let job = Job::every("/flaky", Duration::from_millis(300));
    let stop = async {
        for _ in 0..100 {
            if seen.count.load(Ordering::SeqCst) >= 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    run(vec![job], caller, stop).await;
    assert!(
        seen.count.load(Ordering::SeqCst) >= 2,
        "a call followed the failed one"
    );
    assert!(
        seen.calls.lock().unwrap().iter().all(|c| c.1.is_none()),
        "no secret, no header"
    );
}
