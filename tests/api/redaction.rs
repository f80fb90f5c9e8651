//! What anyone may read says what kind of failure happened, never what
//! only operators should see: no credentials or query of a gateway's URL
//! anywhere (public answers, logs), and no upstream bytes, connection
//! details or file paths in public `error` fields. The bearer-protected
//! answers and the log keep the detail.

use crate::common;

use common::test_app::WARM_SECRET;
use common::*;
use serde_json::Value;

const PASSWORD: &str = "hunter2";
const QUERY_KEY: &str = "zzz";
/// In the mock's HTML error page (`Behavior::Status`).
const UPSTREAM_BYTES: &str = "Upstream error";

/// `mock`'s gateway entry, its URL carrying a userinfo and a query key.
fn credentialed_toml(id: &str, mock_base: &str) -> String {
    let base = mock_base.replacen("http://", &format!("http://admin:{PASSWORD}@"), 1);
    format!(
        "[[gateway]]\nid = \"{id}\"\nkind = \"openai\"\nbase_url = \"{base}?key={QUERY_KEY}\"\ntimeout = \"5s\"\n"
    )
}

fn assert_no_credentials(what: &str, text: &str) {
    for secret in [PASSWORD, QUERY_KEY, "admin:"] {
        assert!(!text.contains(secret), "{secret} in {what}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_urls_credentials_reach_no_answer_and_no_log() {
    let good = MockGateway::start(&["m1"]).await;
    let failing = MockGateway::start(&[]).await;
    failing.set(Behavior::Status(500));
    // Nothing listens there: the connection is refused.
    let closed = format!("http://127.0.0.1:{}/v1", free_port());
    let toml = [
        credentialed_toml("good", &good.base_url()),
        credentialed_toml("failing", &failing.base_url()),
        credentialed_toml("closed", &closed),
    ]
    .concat();
    let redis = RedisServer::start();
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("CACHE_WARMING_SECRET", WARM_SECRET),
        ("RUST_LOG", "debug"),
    ];
    let mut service = ServiceProcess::start(&env, &toml).await;
    let (status, warm) = service.admin("POST", "/api/cache/warm-models", None).await;

    let mut public = String::new();
    for path in [
        "/api/gateways",
        "/api/models",
        "/api/models/failing",
        "/api/models/closed/m1",
        "/api/cache/warm-models",
    ] {
        let (_, body) = service.get_json(path).await;
        assert_no_credentials(path, &body.to_string());
        public.push_str(&body.to_string());
    }
    let (_, gateways) = service.get_json("/api/gateways").await;
    let sources: Vec<&str> = gateways["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["source"].as_str())
        .collect();
    assert_eq!(sources.len(), 3, "{gateways}");
    assert!(sources.contains(&good.base_url().as_str()), "{sources:?}");
    assert!(!public.contains(UPSTREAM_BYTES), "{public}");
    // Had the query swallowed the path (`/v1?key=zzz/models`), the mock
    // would not have answered.
    assert_eq!(status, 200, "{warm}");
    assert_eq!(warm["gateways"]["good"]["ok"], true, "{warm}");

    // The detail stays with operators: the warm's protected answer…
    let failing_detail = warm["gateways"]["failing"]["error"].as_str().unwrap();
    assert!(failing_detail.contains(UPSTREAM_BYTES), "{warm}");
    assert_no_credentials("the warm answer", &warm.to_string());

    // …and the log, read once the process has stopped.
    service.terminate();
    let log = service.log();
    assert_no_credentials("the log", &log);
    assert!(
        log.contains(UPSTREAM_BYTES),
        "the log keeps the detail:\n{log}"
    );
}

/// Each failing gateway's `error`, from a JSON object of gateway states.
fn errors(states: &Value) -> Vec<(String, String)> {
    let mut errors: Vec<_> = states
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(id, s)| Some((id.clone(), s["error"].as_str()?.to_owned())))
        .collect();
    errors.sort();
    errors
}

#[tokio::test]
async fn public_errors_name_the_kind_and_operators_get_the_detail() {
    let status = MockGateway::start(&[]).await;
    status.set(Behavior::Status(500));
    let garbage = MockGateway::start(&[]).await;
    garbage.set(Behavior::Body("{\"data\": \"not-a-list-7c1e\"}".into()));
    let hanging = MockGateway::start(&[]).await;
    hanging.set(Behavior::Hang);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("private-list-5d2a.json");
    std::fs::write(&file, "[]").unwrap();
    let toml = format!(
        "{}{}[[gateway]]\nid = \"hanging\"\nkind = \"openai\"\nbase_url = \"{}\"\ntimeout = \"300ms\"\n\
         [[gateway]]\nid = \"file\"\nkind = \"static\"\npath = \"{}\"\n",
        status.gateway_toml("status"),
        garbage.gateway_toml("garbage"),
        hanging.base_url(),
        file.display(),
    );
    let app = TestApp::builder().gateway_toml(&toml).spawn().await;
    // The file goes away after start-up, which checks that it exists.
    std::fs::remove_file(&file).unwrap();
    let expected = [
        ("file", "cannot read the models file"),
        ("garbage", "bad JSON"),
        ("hanging", "timeout after 300ms"),
        ("status", "HTTP 500"),
    ]
    .map(|(id, e)| (id.to_owned(), e.to_owned()))
    .to_vec();

    let (_, _, read) = app.get_json("/api/models").await;
    assert_eq!(errors(&read["gateways"]), expected, "{read}");

    let (code, warm) = app.warm(None).await;
    assert_eq!(code, 502);
    let detail = |id: &str| warm["gateways"][id]["error"].as_str().unwrap().to_owned();
    assert!(detail("status").contains(UPSTREAM_BYTES), "{warm}");
    assert!(
        detail("garbage").starts_with("unparseable response"),
        "{warm}"
    );
    assert!(detail("file").contains("private-list-5d2a.json"), "{warm}");
    assert!(detail("hanging").contains("300ms"), "{warm}");

    let (_, _, status_page) = app.get_json("/api/cache/warm-models").await;
    assert_eq!(errors(&status_page["last_warm"]["gateways"]), expected);
    // The cache state after the warm: within the backoff, each error shown
    // is the public text the failure record holds.
    assert_eq!(errors(&status_page["gateways"]), expected, "{status_page}");
    let (_, _, read) = app.get_json("/api/models").await;
    let text = read.to_string();
    for hidden in [UPSTREAM_BYTES, "private-list-5d2a", "not-a-list-7c1e"] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_said_so_without_the_address() {
    let closed = format!("http://127.0.0.1:{}/v1", free_port());
    let app = TestApp::builder()
        .gateway_toml(&format!(
            "[[gateway]]\nid = \"gw\"\nkind = \"openai\"\nbase_url = \"{closed}\"\n"
        ))
        .spawn()
        .await;
    let (_, _, read) = app.get_json("/api/models").await;
    assert_eq!(
        read["gateways"]["gw"]["error"], "connection refused",
        "{read}"
    );
    let (_, warm) = app.warm(None).await;
    let detail = warm["gateways"]["gw"]["error"].as_str().unwrap();
    assert!(detail.starts_with("cannot connect: "), "{detail}");
}
