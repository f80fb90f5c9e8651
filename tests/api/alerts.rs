//! `deploy/prometheus/alerts.yml`: valid rules (`promtool check rules`), each
//! alert proven by `promtool test rules` on synthetic series, and every metric
//! it uses really exported by the service.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;

const RULES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus");

fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(RULES_DIR)
        .output()
        .expect("promtool runs (scripts/test.sh installs Debian's prometheus package)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_alert_rules_are_valid() {
    let text = promtool(&["check", "rules", "alerts.yml"]);
    assert!(text.contains("SUCCESS: 4 rules found"), "{text}");
}

#[test]
fn each_alert_fires_on_its_symptom_and_stays_quiet_on_a_healthy_cache() {
    let text = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(text.contains("SUCCESS"), "{text}");
}

#[tokio::test]
async fn every_metric_the_alerts_use_is_exported() {
    let rules = std::fs::read_to_string(Path::new(RULES_DIR).join("alerts.yml")).unwrap();
    let used: BTreeSet<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("models_cache_"))
        .collect();
    assert!(used.len() >= 5, "{used:?}");

    let redis = RedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let failing = MockGateway::start(&["m1"]).await;
    failing.set(Behavior::Status(500));
    let app = TestApp::builder()
        .redis(&redis)
        .gateway("alerts-ok", &mock)
        .gateway("alerts-failing", &failing)
        .spawn()
        .await;
    app.get("/api/models").await;
    app.client
        .get(app.url("/api/cron/warm-cache"))
        .bearer_auth(test_app::CRON_SECRET)
        .send()
        .await
        .unwrap();
    let scrape = app.get("/metrics").await.text().await.unwrap();
    for name in used {
        let base = name.trim_end_matches("_total");
        assert!(
            scrape
                .lines()
                .any(|l| l.starts_with(name) || l.starts_with(&format!("# TYPE {base}"))),
            "{name} is used by an alert but not exported:\n{scrape}"
        );
    }
}
