//! The service in-process on port 0, built from a config and gateways that a
//! test chooses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use models_cache::app::AppState;
use models_cache::cache::Entry;
use models_cache::store::{SaveOutcome, Store};
use models_cache::{App, Config};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::oneshot;

use super::{MockGateway, RedisServer};

/// Which store the app runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Redis,
    Embedded,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

#[derive(Default)]
pub struct Builder {
    env: HashMap<String, String>,
    gateways: String,
    warm_on_startup: bool,
    store: Option<Arc<dyn Store>>,
}

pub const WARM_SECRET: &str = "warm-secret-for-tests";
pub const CRON_SECRET: &str = "cron-secret-for-tests";

impl TestApp {
    /// Secrets set, startup warm off, TTLs of the defaults.
    pub fn builder() -> Builder {
        Builder::default()
            .env("CACHE_WARMING_SECRET", WARM_SECRET)
            .env("CRON_SECRET", CRON_SECRET)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET answered")
    }

    /// A conditional GET carrying `If-None-Match: <etag>`.
    pub async fn get_if_none_match(&self, path: &str, etag: &str) -> reqwest::Response {
        let request = self
            .client
            .get(self.url(path))
            .header("if-none-match", etag);
        request.send().await.expect("GET answered")
    }

    /// Status, headers and JSON body of a GET.
    pub async fn get_json(&self, path: &str) -> (StatusCode, HeaderMap, Value) {
        let response = self.get(path).await;
        let (status, headers) = (response.status(), response.headers().clone());
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// POSTs `body` with `Authorization: Bearer <bearer>` when given.
    pub async fn post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.post(self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("POST answered");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// An operator call: `method path` with the warming secret and a JSON body.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(WARM_SECRET);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the operator call answered");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn warm(&self, body: Option<&str>) -> (StatusCode, Value) {
        self.post(
            "/api/cache/warm-models",
            Some(WARM_SECRET),
            body.map(str::to_owned),
        )
        .await
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.state.engine.store()
    }

    /// Writes an entry straight into the app's store, and syncs the app with
    /// it (as its background sync would within a quarter of a second).
    pub async fn seed(&self, gateway: &str, entry: Entry) {
        let outcome = self
            .store()
            .save(gateway, &entry)
            .await
            .expect("store reachable");
        assert_eq!(outcome, SaveOutcome::Saved);
        self.sync().await;
    }

    /// Syncs the app's in-memory copies with its store now.
    pub async fn sync(&self) {
        self.state.engine.sync(&self.state.gateways.active).await;
    }

    /// The stored entry's model ids, if any.
    pub async fn stored_ids(&self, gateway: &str) -> Option<Vec<String>> {
        let entry = self.store().load(gateway).await.expect("store reachable")?;
        Some(entry.models.iter().map(|m| m.id.clone()).collect())
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Builder {
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    pub fn backend(self, backend: Backend, redis: Option<&RedisServer>) -> Self {
        match backend {
            Backend::Redis => self.redis(redis.expect("a Redis server for the Redis backend")),
            Backend::Embedded => self,
        }
    }

    pub fn redis(self, redis: &RedisServer) -> Self {
        self.env("REDIS_URL", &redis.url())
    }

    /// An `openai` gateway reading `mock`.
    pub fn gateway(self, id: &str, mock: &MockGateway) -> Self {
        let toml = format!(
            "[[gateway]]\nid = \"{id}\"\nkind = \"openai\"\nbase_url = \"{}\"\n",
            mock.base_url()
        );
        self.gateway_toml(&toml)
    }

    /// Raw `[[gateway]]` tables.
    pub fn gateway_toml(mut self, toml: &str) -> Self {
        self.gateways.push_str(toml);
        self.gateways.push('\n');
        self
    }

    /// Runs on this store instead of the one the environment names.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    pub fn warm_on_startup(mut self) -> Self {
        self.warm_on_startup = true;
        self
    }

    pub async fn spawn(self) -> TestApp {
        let env = self.env;
        let mut config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid test config");
        config.warm_on_startup = self.warm_on_startup;
        let gateways = models_cache::gateways::file::parse(
            &self.gateways,
            Path::new("."),
            config.gateway_timeout,
            |k| env.get(k).cloned(),
        )
        .expect("valid test gateways");
        let app = match self.store {
            Some(store) => App::with_store(&config, gateways, store).expect("the app builds"),
            None => App::with_gateways(&config, gateways).expect("the app builds"),
        };
        let state = app.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.serve(listener, async {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            state,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            shutdown: Some(tx),
            task: Some(task),
        }
    }
}
