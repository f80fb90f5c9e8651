//! Changes: each fetch that differs from the stored entry is recorded once,
//! in a Redis Stream, read back by `/api/changes` and `/api/changes.atom`;
//! `first_seen` is kept in the store. Real `redis-server`, real processes.

use std::process::Command;
use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::test_app::WARM_SECRET;
use crate::common::*;

/// An OpenRouter-format list: (id, prompt price per token).
pub fn openrouter_list(models: &[(&str, &str)]) -> String {
    let data: Vec<Value> = models
        .iter()
        .map(|(id, prompt)| {
            json!({"id": id, "name": id.to_uppercase(), "context_length": 8192,
                   "pricing": {"prompt": prompt, "completion": "0.00001"}})
        })
        .collect();
    json!({ "data": data }).to_string()
}

pub fn openrouter_toml(id: &str, mock: &MockGateway) -> String {
    format!(
        "[[gateway]]\nid = \"{id}\"\nkind = \"openrouter\"\nbase_url = \"{}\"\ntimeout = \"5s\"\n",
        mock.base_url()
    )
}

async fn changes(app: &TestApp, query: &str) -> Value {
    let (status, _, body) = app.get_json(&format!("/api/changes{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// (type, model) of each record.
fn kinds(body: &Value) -> Vec<(String, String)> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let model = c["model"].as_str().unwrap_or("").to_owned();
            (c["type"].as_str().unwrap().to_owned(), model)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repriced_an_added_and_a_removed_model_give_exactly_those_records() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Body(openrouter_list(&[
        ("acme/kept", "0.000001"),
        ("acme/repriced", "0.000001"),
        ("acme/gone", "0.000003"),
    ])));
    let app = TestApp::builder()
        .redis(&redis)
        .gateway_toml(&openrouter_toml("or", &mock))
        .spawn()
        .await;
    assert_eq!(app.warm(None).await.0, StatusCode::OK);
    let first = changes(&app, "").await;
    assert_eq!(kinds(&first), pairs(&[("listed", "")]));
    assert_eq!(first["data"][0]["count"], 3);

    mock.set(Behavior::Body(openrouter_list(&[
        ("acme/new", "0.000005"),
        ("acme/kept", "0.0000010"),
        ("acme/repriced", "0.000002"),
    ])));
    assert_eq!(app.warm(None).await.0, StatusCode::OK);
    let since = first["next"].as_str().unwrap();
    let second = changes(&app, &format!("?since={since}")).await;
    assert_eq!(
        kinds(&second),
        pairs(&[
            ("added", "acme/new"),
            ("changed", "acme/repriced"),
            ("removed", "acme/gone")
        ]),
        "the same price written differently is no change"
    );
    let repriced = &second["data"][1];
    assert_eq!(
        repriced["fields"],
        json!({"pricing.prompt": {"from": "0.000001", "to": "0.000002"}})
    );
    assert_eq!(repriced["canonical"], "acme/repriced");
    assert_eq!(repriced["gateway"], "or");
    let seqs: Vec<&str> = second["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seq"].as_str().unwrap())
        .collect();
    assert_eq!(
        second["next"],
        *seqs.last().unwrap(),
        "next is the last seq"
    );

    // The same list again records nothing; what comes after `next` is empty.
    assert_eq!(app.warm(None).await.0, StatusCode::OK);
    let after = changes(
        &app,
        &format!("?since={}", second["next"].as_str().unwrap()),
    )
    .await;
    assert_eq!(after["data"], json!([]));
    assert_eq!(after["next"], second["next"], "next stays where it was");

    // Filters, and the latest records without `since`.
    let all = changes(&app, "").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    assert_eq!(
        kinds(&changes(&app, "?type=added,removed").await),
        pairs(&[("added", "acme/new"), ("removed", "acme/gone")])
    );
    assert_eq!(
        kinds(&changes(&app, "?model=acme/repriced").await),
        pairs(&[("changed", "acme/repriced")]),
        "a model's price history"
    );
    assert_eq!(
        kinds(&changes(&app, "?limit=2").await),
        pairs(&[("changed", "acme/repriced"), ("removed", "acme/gone")]),
        "the latest two, oldest first"
    );
    assert_eq!(
        changes(&app, "?gateway=or&limit=1000").await["data"],
        all["data"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_seen_is_kept_across_fetches_and_shown_on_offers_and_models() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Body(openrouter_list(&[("acme/old", "0.000001")])));
    let app = TestApp::builder()
        .redis(&redis)
        .gateway_toml(&openrouter_toml("or", &mock))
        .spawn()
        .await;
    app.warm(None).await;
    let (_, _, before) = app.get_json("/api/catalog/acme/old").await;
    let old_seen = before["data"]["first_seen"].as_u64().expect("first_seen");
    tokio::time::sleep(Duration::from_millis(20)).await;
    mock.set(Behavior::Body(openrouter_list(&[
        ("acme/old", "0.000002"),
        ("acme/new", "0.000001"),
    ])));
    app.warm(None).await;
    let (_, _, old) = app.get_json("/api/catalog/acme/old").await;
    let (_, _, new) = app.get_json("/api/catalog/acme/new").await;
    assert_eq!(old["data"]["first_seen"], old_seen, "kept across fetches");
    assert_eq!(old["data"]["offers"][0]["first_seen"], old_seen);
    let new_seen = new["data"]["first_seen"].as_u64().unwrap();
    assert!(new_seen > old_seen, "{new_seen} after {old_seen}");
    let (_, _, listed) = app.get_json("/api/models/or").await;
    let seen: Vec<&Value> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["first_seen"])
        .collect();
    assert_eq!(seen, [&json!(old_seen), &json!(new_seen)]);
    // An invalidation drops the entry, not what was seen when.
    let (status, _) = app
        .admin(
            "POST",
            "/api/cache/invalidate-and-warm",
            Some(json!({"gateway": "or"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, again) = app.get_json("/api/catalog/acme/old").await;
    assert_eq!(again["data"]["first_seen"], old_seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_since_limit_or_type_is_a_400_naming_it() {
    let app = TestApp::builder().spawn().await;
    for (query, named) in [
        ("since=yesterday", "since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("type=repriced", "type"),
        ("colour=red", "colour"),
    ] {
        for path in ["/api/changes", "/api/changes.atom"] {
            let (status, _, body) = app.get_json(&format!("{path}?{query}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{query}");
            let error = body["error"].as_str().unwrap();
            assert!(error.starts_with(named), "{query}: {error}");
        }
    }
    let (status, _, _) = app.get_json("/api/changes?gateway=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Three processes sharing a Redis; each warms the same gateway at once, again
/// and again, and reads it meanwhile: the one real change is one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_record_one_change_once() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Body(openrouter_list(&[("acme/a", "0.000001")])));
    let toml = openrouter_toml("or", &mock);
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("CACHE_WARMING_SECRET", WARM_SECRET),
        ("CACHE_FRESH_TTL", "1s"),
    ];
    let instances = join_all((0..3).map(|_| ServiceProcess::start(&env, &toml))).await;
    let warm_all = || {
        join_all(
            instances
                .iter()
                .map(|i| i.admin("POST", "/api/cache/warm-models", None)),
        )
    };
    for _ in 0..3 {
        for (status, body) in warm_all().await {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    mock.set(Behavior::Body(openrouter_list(&[("acme/a", "0.000002")])));
    for _ in 0..3 {
        warm_all().await;
        // Stale reads revalidate too (fresh for 1 s).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        join_all(instances.iter().map(|i| i.get_json("/api/models"))).await;
    }
    let (_, body) = instances[0].get_json("/api/changes").await;
    assert_eq!(
        kinds(&body),
        pairs(&[("listed", ""), ("changed", "acme/a")]),
        "{body}"
    );
    for instance in &instances[1..] {
        assert_eq!(
            instance.get_json("/api/changes").await.1,
            body,
            "the same on every instance"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_first_seen_and_the_records_and_changes_max_trims() {
    let redis = RedisServer::start();
    let mock = MockGateway::start(&[]).await;
    let many: Vec<String> = (0..300).map(|n| format!("acme/m{n:03}")).collect();
    let list = |from: usize| -> String {
        let ids: Vec<(&str, &str)> = many[from..from + 150]
            .iter()
            .map(|id| (id.as_str(), "0.000001"))
            .collect();
        openrouter_list(&ids)
    };
    mock.set(Behavior::Body(list(0)));
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("CACHE_WARMING_SECRET", WARM_SECRET),
        ("CHANGES_MAX", "20"),
    ];
    let toml = openrouter_toml("or", &mock);
    let mut first = ServiceProcess::start(&env, &toml).await;
    first.admin("POST", "/api/cache/warm-models", None).await;
    let (_, models) = first.get_json("/api/models/or").await;
    let seen = models["data"][0]["first_seen"].clone();
    assert!(seen.is_u64(), "{}", models["data"][0]);
    // 150 removed and 150 added: 301 records, trimmed to about CHANGES_MAX.
    mock.set(Behavior::Body(list(150)));
    first.admin("POST", "/api/cache/warm-models", None).await;
    let (_, before) = first.get_json("/api/changes?limit=1000").await;
    first.terminate();

    let second = ServiceProcess::start(&env, &toml).await;
    let (_, after) = second.get_json("/api/changes?limit=1000").await;
    assert_eq!(after, before, "the records outlive the process");
    let kept = after["data"].as_array().unwrap().len();
    assert!(
        (20..=200).contains(&kept),
        "trimmed from 301 to about 20 (Redis trims whole nodes of 100): {kept}"
    );
    let (_, models) = second.get_json("/api/models/or").await;
    let m150 = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "acme/m150")
        .unwrap();
    assert!(
        m150["first_seen"].as_u64() > seen.as_u64(),
        "first listed by the second fetch: {m150}"
    );
    // Listed again by a third process: its first_seen is the one remembered.
    second
        .admin(
            "POST",
            "/api/cache/invalidate",
            Some(json!({"gateway": "or"})),
        )
        .await;
    mock.set(Behavior::Body(list(0)));
    second.admin("POST", "/api/cache/warm-models", None).await;
    let (_, models) = second.get_json("/api/models/or").await;
    assert_eq!(models["data"][0]["id"], "acme/m000");
    assert_eq!(
        models["data"][0]["first_seen"], seen,
        "remembered, not re-stamped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_atom_feed_is_read_by_a_real_feed_parser() {
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Body(openrouter_list(&[("acme/a", "0.000001")])));
    let app = TestApp::builder()
        .gateway_toml(&openrouter_toml("or", &mock))
        .spawn()
        .await;
    app.warm(None).await;
    mock.set(Behavior::Body(openrouter_list(&[
        ("acme/a", "0.000002"),
        ("acme/b&c", "0.000001"),
    ])));
    app.warm(None).await;
    let response = app.get("/api/changes.atom").await;
    assert_eq!(
        response.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let (_, _, records) = app.get_json("/api/changes").await;
    let pydeps = std::env::var("MODELS_CACHE_PYDEPS")
        .expect("run the tests with `bash scripts/test.sh`, which installs feedparser");
    let script = r#"
import json, os, sys, feedparser
feed = feedparser.parse(os.environ["FEED_URL"])
print(json.dumps({
    "bozo": bool(feed.bozo), "version": feed.version, "title": feed.feed.get("title"),
    "entries": [{"id": e.id, "title": e.title, "updated": e.updated,
                 "parsed": list(e.updated_parsed)[:6]} for e in feed.entries],
}))
"#;
    let url = app.url("/api/changes.atom");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", script])
            .env("PYTHONPATH", pydeps)
            .env("FEED_URL", url)
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let feed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(feed["bozo"], false, "well-formed: {feed}");
    assert_eq!(feed["version"], "atom10");
    let entries = feed["entries"].as_array().unwrap();
    let data = records["data"].as_array().unwrap();
    assert_eq!(entries.len(), data.len());
    for (entry, record) in entries.iter().zip(data.iter().rev()) {
        let seq = record["seq"].as_str().unwrap();
        assert_eq!(entry["id"], format!("urn:models-cache:changes:{seq}"));
        let at = record["at"].as_u64().unwrap() as i64;
        let date = chrono::DateTime::from_timestamp_millis(at).unwrap();
        let parsed: Vec<i64> = entry["parsed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        use chrono::{Datelike, Timelike};
        assert_eq!(
            parsed,
            [
                i64::from(date.year()),
                i64::from(date.month()),
                i64::from(date.day()),
                i64::from(date.hour()),
                i64::from(date.minute()),
                i64::from(date.second())
            ],
            "{entry}"
        );
    }
    let titles: Vec<&str> = entries
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "or: acme/a changed pricing.prompt",
            "or: added acme/b&c",
            "or: listed 1 models"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_max_zero_records_nothing() {
    let mock = MockGateway::start(&[]).await;
    mock.set(Behavior::Body(openrouter_list(&[("acme/a", "0.000001")])));
    let app = TestApp::builder()
        .env("CHANGES_MAX", "0")
        .gateway_toml(&openrouter_toml("or", &mock))
        .spawn()
        .await;
    app.warm(None).await;
    mock.set(Behavior::Body(openrouter_list(&[("acme/a", "0.000002")])));
    app.warm(None).await;
    assert_eq!(changes(&app, "").await["data"], json!([]));
    let (_, _, models) = app.get_json("/api/models/or").await;
    assert_eq!(models["data"][0]["first_seen"], Value::Null);
}
