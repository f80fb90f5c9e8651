//! The binary itself: refusing bad settings in one line, the embedded store
//! with the example gateways, warm-on-startup, `models-cache warm`, SIGTERM.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::process::{self, ServiceProcess};
use common::*;
use models_cache::store::{RedisStore, Store};

/// Runs the server with `env` and `toml`, expecting it to refuse to start.
fn refusal(env: &[(&str, &str)], toml: &str) -> String {
    let output = process::run(&[], env, toml);
    assert_eq!(
        output.status.code(),
        Some(2),
        "exit code of a refused start"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    stderr
}

#[test]
fn bad_settings_stop_start_up_with_one_line_naming_them() {
    let ok = "[[gateway]]\nid = \"a\"\nkind = \"static\"\npath = \"/dev/null\"\n";
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 7] = [
        (
            &[("CACHE_FRESH_TTL", "soon")],
            ok,
            "models-cache: CACHE_FRESH_TTL: invalid duration \"soon\"",
        ),
        (
            &[("GATEWAY_TIMEOUT", "1.5 parsecs")],
            ok,
            "models-cache: GATEWAY_TIMEOUT: invalid duration",
        ),
        (
            &[("HTTP_MAX_CONNECTIONS", "0")],
            ok,
            "models-cache: HTTP_MAX_CONNECTIONS: invalid count \"0\"",
        ),
        (
            &[("REDIS_URL", "http://x")],
            ok,
            "models-cache: REDIS_URL: not a redis:// or rediss:// URL",
        ),
        (
            &[("LOG_FORMAT", "xml")],
            ok,
            "models-cache: LOG_FORMAT: unknown format \"xml\"",
        ),
        (
            &[("GATEWAYS_FILE", "missing.toml")],
            ok,
            "models-cache: missing.toml: cannot read the gateways file",
        ),
        (
            &[],
            "[[gateway]]\nid = \"a\"\nkind = \"grpc\"\n",
            "models-cache: gateways.toml: gateway \"a\": unknown kind \"grpc\"",
        ),
    ];
    for (env, toml, expected) in cases {
        let line = refusal(env, toml);
        assert!(
            line.starts_with(expected),
            "{line:?} should start with {expected:?}"
        );
    }
}

#[tokio::test]
async fn the_first_readme_command_serves_the_example_gateways_on_the_embedded_store() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let logs = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start_in(repo, logs, &[]).await;
    let client = reqwest::Client::new();
    let body: serde_json::Value = client
        .get(service.url("/api/models/curated"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["gateways"]["curated"]["count"], 6, "{body}");
    assert_eq!(body["data"][0]["pricing"]["prompt"], "0.0000025");
    let ready: serde_json::Value = client
        .get(service.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["store"],
        "embedded in-process store (single instance, not persisted)"
    );
    assert!(
        service
            .log()
            .contains("REDIS_URL is not set: using the embedded in-process store")
    );
}

#[tokio::test]
async fn start_up_warms_only_missing_or_stale_gateways() {
    let redis = RedisServer::start();
    let fresh = MockGateway::start(&["f"]).await;
    let stale = MockGateway::start(&["s-new"]).await;
    let missing = MockGateway::start(&["m"]).await;
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    store.save("fresh", &fresh_entry(&["f"])).await.unwrap();
    store.save("stale", &stale_entry(&["s-old"])).await.unwrap();
    let toml = [
        fresh.gateway_toml("fresh"),
        stale.gateway_toml("stale"),
        missing.gateway_toml("missing"),
    ]
    .concat();

    let url = redis.url();
    let service = ServiceProcess::start(&[("REDIS_URL", &url)], &toml).await;
    let last_warm = || async {
        let status: serde_json::Value = reqwest::get(service.url("/api/cache/warm-models"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["last_warm"].clone()
    };
    // The start-up warm is over once it is recorded: nothing fetches after.
    eventually(
        Duration::from_secs(10),
        "the start-up warm recorded",
        || async { last_warm().await["trigger"] == "startup" },
    )
    .await;
    assert_eq!((stale.hits(), missing.hits()), (1, 1));
    assert_eq!(
        fresh.hits(),
        0,
        "a fresh gateway is not refetched at start-up"
    );
    let status = serde_json::json!({ "last_warm": last_warm().await });
    assert!(status["last_warm"]["gateways"]["fresh"].is_null());
}

#[tokio::test]
async fn the_warm_command_warms_once_and_fails_only_when_every_gateway_failed() {
    let redis = RedisServer::start();
    let good = MockGateway::start(&["g1", "g2"]).await;
    let bad = MockGateway::start(&[]).await;
    bad.set(Behavior::Status(500));
    let url = redis.url();
    let env = [("REDIS_URL", url.as_str())];

    let both = [good.gateway_toml("good"), bad.gateway_toml("bad")].concat();
    let output = process::run_async(&["warm"], &env, &both).await;
    assert!(output.status.success(), "one gateway succeeded");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["gateways"]["good"]["count"], 2);
    let store = RedisStore::single(&redis.url(), "models:").unwrap();
    assert_eq!(store.load("good").await.unwrap().unwrap().models.len(), 2);

    let output = process::run_async(&["warm"], &env, &bad.gateway_toml("bad")).await;
    assert_eq!(output.status.code(), Some(1), "every gateway failed");
    let status: serde_json::Value =
        serde_json::from_str(&store.get_doc("warm:last").await.unwrap().unwrap()).unwrap();
    assert_eq!(status["trigger"], "cli");
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let mock = MockGateway::start(&["a"]).await;
    let service = ServiceProcess::start(&[], &mock.gateway_toml("gw")).await;
    let (status, log) = service.stop().await;
    assert!(status.success(), "exit status {status:?}");
    assert!(log.contains("shutting down"));
}

#[test]
fn settings_are_read_from_a_dot_env_file() {
    let dir = process::workdir("");
    std::fs::write(
        dir.path().join(".env"),
        "# comment\nCACHE_STALE_TTL=tomorrow\n",
    )
    .unwrap();
    let output = process::command(dir.path(), &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("models-cache: CACHE_STALE_TTL: invalid duration \"tomorrow\""),
        "{stderr}"
    );

    std::fs::write(dir.path().join(".env"), "NOT A VALID LINE\n").unwrap();
    let output = process::command(dir.path(), &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .starts_with("models-cache: .env: ")
    );
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish() {
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Status(500));
    let toml = mock.gateway_toml("gw");
    let mut service = ServiceProcess::start(&[("REVALIDATE_BACKOFF", "0s")], &toml).await;
    eventually(
        Duration::from_secs(5),
        "the start-up warm failed",
        || async { mock.hits() == 1 },
    )
    .await;
    mock.set_models(&["slow"]);
    mock.set_delay(Duration::from_millis(1000));

    let request = tokio::spawn(reqwest::get(service.url("/api/models")));
    eventually(
        Duration::from_secs(5),
        "the read reached the upstream",
        || async { mock.hits() == 2 },
    )
    .await;
    let exit = tokio::task::spawn_blocking(move || service.terminate())
        .await
        .unwrap();
    let response = request
        .await
        .unwrap()
        .expect("the request in flight was answered");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(ids(&body), ["slow"]);
    assert!(exit.success());
}

#[tokio::test]
async fn log_format_json_gives_one_json_object_per_line() {
    let mock = MockGateway::start(&["a"]).await;
    let service = ServiceProcess::start(&[("LOG_FORMAT", "json")], &mock.gateway_toml("gw")).await;
    eventually(
        Duration::from_secs(5),
        "the start-up warm logged",
        || async { service.log().contains("warm result") },
    )
    .await;
    let log = service.log();
    for line in log.lines() {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            object["level"].is_string() && object["message"].is_string(),
            "{line}"
        );
    }
    assert!(log.lines().any(|l| l.contains("\"message\":\"listening\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_api_key_ever_reaches_the_log() {
    const WARMING: &str = "warm-s3cret-7f3a9";
    const CRON: &str = "cron-s3cret-c41e2";
    const GOOD_KEY: &str = "sk-live-good-9d8e7";
    const BAD_KEY: &str = "sk-live-bad-1b2c3";
    const DSN_KEY: &str = "dsnkey0a1b2c3d4";
    let good = MockGateway::start(&["m1"]).await;
    let bad = MockGateway::start(&["m1"]).await;
    bad.set(Behavior::Status(401));
    let toml = format!(
        "{}api_key_env = \"GOOD_KEY\"\n{}api_key_env = \"BAD_KEY\"\n",
        good.gateway_toml("good"),
        bad.gateway_toml("bad")
    );
    let redis = RedisServer::start();
    let url = redis.url();
    let dsn = format!("http://{DSN_KEY}@127.0.0.1:{}/1", free_port());
    let env = [
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "debug"),
        ("REDIS_URL", url.as_str()),
        ("CACHE_WARMING_SECRET", WARMING),
        ("CRON_SECRET", CRON),
        ("GOOD_KEY", GOOD_KEY),
        ("BAD_KEY", BAD_KEY),
        ("SENTRY_DSN", dsn.as_str()),
    ];
    let service = ServiceProcess::start(&env, &toml).await;
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, bearer: &str| {
        client
            .request(method, service.url(path))
            .bearer_auth(bearer)
            .send()
    };
    let warmed = call(reqwest::Method::POST, "/api/cache/warm-models", WARMING)
        .await
        .unwrap();
    assert_eq!(warmed.status(), 200);
    call(reqwest::Method::GET, "/api/cron/warm-cache", CRON)
        .await
        .unwrap();
    // Wrong secrets, each close to a real one.
    call(
        reqwest::Method::POST,
        "/api/cache/warm-models",
        &format!("{WARMING}x"),
    )
    .await
    .unwrap();
    call(reqwest::Method::GET, "/api/cron/warm-cache", WARMING)
        .await
        .unwrap();
    call(reqwest::Method::GET, "/api/cache/config", WARMING)
        .await
        .unwrap();
    call(reqwest::Method::GET, "/api/models", GOOD_KEY)
        .await
        .unwrap();
    assert_eq!(
        good.last_authorization().as_deref(),
        Some(&*format!("Bearer {GOOD_KEY}"))
    );

    // The whole log, shutdown output included: read once the process is gone.
    let (status, log) = service.stop().await;
    assert!(status.success(), "exit status {status:?}");
    assert!(log.contains("shutting down"), "{log}");
    for secret in [WARMING, CRON, GOOD_KEY, BAD_KEY, DSN_KEY] {
        assert!(!log.contains(secret), "{secret} appears in the log:\n{log}");
    }
    // Every warm logs one summary line per gateway.
    let summaries: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "warm result")
        .collect();
    let of = |trigger: &str, gateway: &str| {
        summaries
            .iter()
            .filter(|l| l["trigger"] == trigger && l["gateway"] == gateway)
            .count()
    };
    assert_eq!(
        (of("manual", "good"), of("manual", "bad")),
        (1, 1),
        "{summaries:#?}"
    );
    assert_eq!((of("cron", "good"), of("cron", "bad")), (1, 1));
    let bad_line = summaries.iter().find(|l| l["gateway"] == "bad").unwrap();
    assert_eq!(bad_line["ok"], false);
    assert_eq!(bad_line["level"], "WARN", "a failed gateway is a warning");
    let good_line = summaries.iter().find(|l| l["gateway"] == "good").unwrap();
    assert_eq!(good_line["level"], "INFO");
    assert!(
        bad_line["error"]
            .as_str()
            .unwrap()
            .contains("bad API key for bad")
    );
}

#[test]
fn a_bad_aliases_file_stops_start_up_with_one_line_naming_it() {
    let ok = format!(
        "[[gateway]]\nid = \"a\"\nkind = \"static\"\npath = \"{}/examples/curated-models.json\"\n",
        env!("CARGO_MANIFEST_DIR")
    );
    let ok = ok.as_str();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("aliases.toml");
    std::fs::write(&bad, "[[alias]]\nid = \"x\"\ncanonical = \"no-author\"\n").unwrap();
    let bad = bad.display().to_string();
    let stderr = refusal(&[("ALIASES_FILE", &bad)], ok);
    assert!(
        stderr.starts_with("models-cache: ALIASES_FILE: "),
        "{stderr}"
    );
    assert!(
        stderr.contains(&bad) && stderr.contains("author/slug"),
        "{stderr}"
    );

    let stderr = refusal(&[("ALIASES_FILE", "/nonexistent/aliases.toml")], ok);
    assert!(
        stderr.contains("cannot read /nonexistent/aliases.toml"),
        "{stderr}"
    );
}
