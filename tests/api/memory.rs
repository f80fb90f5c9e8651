//! Memory stays bounded whatever anonymous clients ask, and large catalogs
//! are still cached: the answer caches weigh what they really hold, evict
//! what expired, and admit a page as large as a whole big catalog.
//! These run the real binary, so that its resident memory and its
//! `/metrics` are its own.

use std::io::Read;
use std::time::Duration;

use crate::common::ServiceProcess;

/// A static gateway of `count` models, about 1 KB each as OpenRouter's are.
fn big_catalog(dir: &std::path::Path, count: usize) -> String {
    let description = "A capable general-purpose model with long context. ".repeat(14);
    let models: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            serde_json::json!({
                "id": format!("vendor-{}/model-{i}", i % 50),
                "name": format!("Vendor {} Model {i}", i % 50),
                "description": description,
                "created": 1_700_000_000 + i,
                "context_length": 128_000,
                "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
                "pricing": {"prompt": "0.000003", "completion": "0.000015"},
                "top_provider": {"context_length": 128_000, "max_completion_tokens": 16_384},
                "supported_parameters": ["tools", "temperature", "top_p", "max_tokens"],
            })
        })
        .collect();
    let path = dir.join("big.json");
    std::fs::write(&path, serde_json::to_vec(&models).unwrap()).unwrap();
    format!(
        "[[gateway]]\nid = \"big\"\nkind = \"static\"\npath = {:?}\nmax_body_bytes = 1000000000\n",
        path.display().to_string()
    )
}

async fn start_over(count: usize) -> (ServiceProcess, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let toml = big_catalog(data.path(), count);
    let service = ServiceProcess::start(&[], &toml).await;
    (service, data)
}

/// Resident memory of `pid`, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib / 1024
}

/// A counter's value in the service's `/metrics` (0 when absent).
async fn metric(service: &ServiceProcess, line_prefix: &str) -> f64 {
    let text = reqwest::get(service.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn get_ok(client: &reqwest::Client, url: String) {
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().await.unwrap();
}

/// The bound the README gives: the caches' capacities (384 MiB) over what
/// the process holds once the catalog is loaded and served once, plus room
/// for the allocator and the requests in flight.
const PLANNED_MIB: u64 = 384 + 128;
/// Distinct pages asked for, each about 10 MB: over three times what the
/// caches may hold.
const DISTINCT: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_distinct_queries_keep_resident_memory_within_the_planned_bound() {
    let (service, _data) = start_over(10_000).await;
    let client = reqwest::Client::new();
    get_ok(&client, service.url("/api/models")).await;
    let baseline = rss_mib(service.pid());

    // Every `offset` is a different, nearly whole-catalog page (≈10 MB each);
    // every `limit` past the end is the same page as no limit at all.
    for i in 1..=DISTINCT {
        get_ok(&client, service.url(&format!("/api/models?offset={i}"))).await;
        get_ok(
            &client,
            service.url(&format!("/api/models?limit={}", 100_000 + i)),
        )
        .await;
    }
    let after = rss_mib(service.pid());
    eprintln!(
        "resident memory: {baseline} MiB after the first read, {after} MiB after {} distinct queries",
        2 * DISTINCT
    );
    assert!(
        after < baseline + PLANNED_MIB,
        "resident memory went from {baseline} MiB to {after} MiB"
    );
    let json_views = metric(
        &service,
        "models_cache_views_built_total{encoding=\"json\"}",
    )
    .await;
    assert_eq!(
        json_views,
        (DISTINCT + 1) as f64,
        "one view per distinct page: the whole catalog once, each offset once; limits past the end share the first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_larger_than_a_cache_shard_is_built_once_per_change() {
    // About 30 MB of JSON: more than one shard of a sharded cache admits.
    let (service, _data) = start_over(30_000).await;
    let client = reqwest::Client::new();
    for _ in 0..4 {
        get_ok(&client, service.url("/api/models")).await;
        // Past the reuse time of an assembled answer: the view cache answers.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let built = metric(
        &service,
        "models_cache_views_built_total{encoding=\"json\"}",
    )
    .await;
    assert_eq!(
        built, 1.0,
        "the full catalog was serialised {built} times for 4 reads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_pages_are_built_once_per_query_and_version() {
    // Several gateways: the states keyed with a view must come in one order.
    let data = tempfile::tempdir().unwrap();
    let mut toml = String::new();
    for id in ["a", "b", "c", "d"] {
        let dir = data.path().join(id);
        std::fs::create_dir(&dir).unwrap();
        toml.push_str(&big_catalog(&dir, 250).replace("\"big\"", &format!("\"{id}\"")));
    }
    let service = ServiceProcess::start(&[], &toml).await;
    let client = reqwest::Client::new();
    for path in [
        "/api/catalog?limit=50",
        "/v1/models",
        "/api/catalog/vendor-1/model-1",
    ] {
        let before = metric(
            &service,
            "models_cache_views_built_total{encoding=\"json\"}",
        )
        .await;
        for _ in 0..3 {
            get_ok(&client, service.url(path)).await;
            // Past the reuse time of an assembled answer: the view cache answers.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let built = metric(
            &service,
            "models_cache_views_built_total{encoding=\"json\"}",
        )
        .await;
        assert_eq!(
            built - before,
            1.0,
            "{path} was serialised {} times for 3 reads",
            built - before
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_compressed_fast_once_and_at_the_best_level_only_when_reused() {
    let (service, _data) = start_over(2_000).await;
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let gzip_of = |path: &'static str| {
        let (client, url) = (client.clone(), service.url(path));
        async move {
            let response = client
                .get(url)
                .header("accept-encoding", "gzip")
                .send()
                .await
                .unwrap();
            assert_eq!(response.headers()["content-encoding"], "gzip");
            let bytes = response.bytes().await.unwrap();
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap();
            (bytes.len(), text)
        }
    };
    let built = |encoding: &'static str| {
        let service = &service;
        async move {
            let line = format!("models_cache_views_built_total{{encoding=\"{encoding}\"}}");
            metric(service, &line).await
        }
    };
    // A one-off query pays the fastest level only.
    let (fast, first) = gzip_of("/api/models?q=vendor-1").await;
    gzip_of("/api/models?q=vendor-2").await;
    assert_eq!((built("gzip").await, built("gzip-best").await), (2.0, 0.0));

    // Its first reuse starts the best level in the background…
    tokio::time::sleep(Duration::from_millis(150)).await;
    gzip_of("/api/models?q=vendor-1").await;
    crate::common::eventually(Duration::from_secs(10), "the recompression", || async {
        built("gzip-best").await == 1.0
    })
    .await;
    // …which the requests after it get: smaller, the same document.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (best, again) = gzip_of("/api/models?q=vendor-1").await;
    assert!(best < fast, "best level {best} bytes, fastest {fast}");
    let strip_ages = |text: &str| {
        let mut doc: serde_json::Value = serde_json::from_str(text).unwrap();
        doc["gateways"] = serde_json::Value::Null;
        doc
    };
    assert_eq!(strip_ages(&again), strip_ages(&first));
    assert_eq!(built("gzip-best").await, 1.0, "vendor-2 was never reused");
}

/// Views and indexes are keyed by each list's revision (its digest), not by
/// when it was fetched: a revalidation that brings the same list back (the
/// common case) rebuilds nothing and keeps the ETag; a changed list does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revalidation_that_brings_the_same_list_back_rebuilds_nothing_and_keeps_the_etag() {
    let mock = crate::common::MockGateway::start(&["m1", "m2"]).await;
    let service =
        ServiceProcess::start(&[("CACHE_FRESH_TTL", "1s")], &mock.gateway_toml("gw")).await;
    let client = reqwest::Client::new();
    let paths = ["/api/models", "/api/catalog?limit=50", "/api/models/gw/m1"];
    let builds = || async {
        let views = metric(
            &service,
            "models_cache_views_built_total{encoding=\"json\"}",
        )
        .await;
        let segments = metric(
            &service,
            "models_cache_index_build_seconds_count{kind=\"segment\"}",
        )
        .await;
        (views, segments)
    };
    // Fresh reads of every path; `revalidated` waits for the fetch a stale
    // read starts and returns the ETag of `/api/models` once fresh again.
    let read_all = || async {
        for path in paths {
            get_ok(&client, service.url(path)).await;
        }
    };
    let revalidated = |hits: usize| {
        let (mock, service) = (&mock, &service);
        async move {
            tokio::time::sleep(Duration::from_millis(1_100)).await;
            service.get_json("/api/models").await; // stale: one revalidation
            crate::common::eventually(Duration::from_secs(5), "the revalidation", || async {
                mock.hits() == hits
                    && service.get_json("/api/gateways").await.1["data"][0]["cache"]["status"]
                        == "fresh"
            })
            .await;
            etag_of(&service.url("/api/models")).await
        }
    };
    crate::common::eventually(Duration::from_secs(5), "the start-up warm", || async {
        mock.hits() == 1
    })
    .await;
    read_all().await;
    let etag = etag_of(&service.url("/api/models")).await;
    let built = builds().await;
    assert!(built.0 >= 3.0 && built.1 >= 1.0, "{built:?}");

    let same = revalidated(2).await;
    read_all().await;
    assert_eq!(builds().await, built, "nothing rebuilt for the same list");
    assert_eq!(same, etag, "the same list keeps its ETag");

    mock.set_models(&["m1", "m3"]);
    let changed = revalidated(3).await;
    read_all().await;
    let rebuilt = builds().await;
    assert!(
        rebuilt.0 >= built.0 + 3.0 && rebuilt.1 > built.1,
        "a changed list is indexed and served anew: {built:?} → {rebuilt:?}"
    );
    assert_ne!(changed, etag);
}

async fn etag_of(url: &str) -> String {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.headers()["etag"].to_str().unwrap().to_owned()
}
