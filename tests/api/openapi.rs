//! `GET /openapi.json`: an OpenAPI 3 document, generated from the handlers,
//! that lists every route the router serves — and only those.

use crate::common;

use std::collections::BTreeSet;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

/// Every route of the SPEC, and the service's own document.
const ROUTES: [(&str, &str); 25] = [
    ("get", "/api/models"),
    ("get", "/api/models/{gateway}"),
    ("get", "/api/models/{gateway}/{model}"),
    ("get", "/api/catalog"),
    ("get", "/api/catalog/{id}"),
    ("get", "/v1/models"),
    ("get", "/api/v1/models"),
    ("get", "/api/gateways"),
    ("get", "/api/cache/warm-models"),
    ("post", "/api/cache/warm-models"),
    ("get", "/api/cron/warm-cache"),
    ("get", "/api/cache/stats"),
    ("get", "/api/cache/config"),
    ("put", "/api/cache/config"),
    ("post", "/api/cache/warm"),
    ("post", "/api/cache/invalidate"),
    ("post", "/api/cache/invalidate-and-warm"),
    ("post", "/api/cache/reset-stats"),
    ("get", "/healthz"),
    ("get", "/api/status"),
    ("get", "/api/changes"),
    ("get", "/api/changes.atom"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("a JSON document")
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_served() {
    let mock = MockGateway::start(&["org/model-1"]).await;
    let app = TestApp::builder().gateway("gw", &mock).spawn().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "models-cache");

    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(operations(&doc), expected);

    // Each documented operation is served: never the router's own 404 or 405.
    for (method, path) in &expected {
        let url = app.url(
            &path
                .replace("{gateway}", "gw")
                .replace("{model}", "org/model-1"),
        );
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && !body.contains("no endpoint"),
            "{method} {path} is documented but not served: {status} {body}"
        );
    }
    // The probe can tell: an undocumented path gets the router's 404.
    let response = app.get("/api/nothing-here").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("no endpoint"));
}

#[tokio::test]
async fn the_document_describes_bodies_parameters_and_security() {
    let app = TestApp::builder().spawn().await;
    let doc = document(&app).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Model",
        "Pricing",
        "Catalog",
        "WarmReport",
        "RuntimeConfig",
        "StatsReport",
        "ErrorBody",
    ] {
        assert!(
            schemas.contains_key(name),
            "no {name} schema: {:?}",
            schemas.keys()
        );
    }
    let stats = &schemas["StatsReport"]["properties"];
    for field in [
        "totalWarms",
        "lastWarmTime",
        "itemsCached",
        "hitRate",
        "revalidationFailures",
    ] {
        assert!(stats.get(field).is_some(), "StatsReport lacks {field}");
    }
    let params = doc["paths"]["/api/models"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: BTreeSet<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    // The document lists exactly what the handlers read.
    assert_eq!(names, BTreeSet::from(models_cache::catalog::query::KNOWN));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["paths"]["/api/cache/stats"]["get"]["security"].is_array());
    assert!(
        doc["paths"]["/api/models"]["get"]["security"].is_null(),
        "the catalog is public"
    );
}
