//! `rediss://`: the service talks to a TLS-only Redis (as managed Redis
//! offerings require), verifying its certificate.

use crate::common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn the_service_keeps_its_entries_in_a_tls_redis() {
    let redis = TlsRedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let toml = format!(
        "[[gateway]]\nid = \"gw\"\nkind = \"openai\"\nbase_url = \"{}\"\n",
        mock.base_url()
    );
    let (url, ca) = (redis.url(), redis.ca_file());
    let env = [("REDIS_URL", url.as_str()), ("SSL_CERT_FILE", ca.as_str())];

    let first = ServiceProcess::start(&env, &toml).await;
    let client = reqwest::Client::new();
    let ready = client.get(first.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "{}", first.log());
    // The start-up warm (or this read, joining it) stores the list in Redis.
    eventually(Duration::from_secs(10), "the list is cached", || async {
        let response = client.get(first.url("/api/models")).send().await.unwrap();
        response.headers()["x-cache"] == "HIT"
    })
    .await;
    assert_eq!(mock.hits(), 1);
    drop(first);

    // A second instance finds the entry in Redis: nothing is refetched.
    let second = ServiceProcess::start(&env, &toml).await;
    let response = client.get(second.url("/api/models")).send().await.unwrap();
    assert_eq!(response.headers()["x-cache"], "HIT");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(ids(&body), ["m1"]);
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let redis = TlsRedisServer::start();
    let mock = MockGateway::start(&["m1"]).await;
    let toml = format!(
        "[[gateway]]\nid = \"gw\"\nkind = \"openai\"\nbase_url = \"{}\"\n",
        mock.base_url()
    );
    let url = redis.url();
    let service = ServiceProcess::start(&[("REDIS_URL", &url)], &toml).await;
    let ready = reqwest::get(service.url("/readyz")).await.unwrap();
    assert_eq!(
        ready.status(),
        503,
        "the test CA is not trusted without SSL_CERT_FILE"
    );
}
