//! A webhook receiver on loopback: checks each POST's signature with the
//! shared secret (HMAC-SHA256, computed here independently of the service),
//! and answers as told: accept, fail with a status, or hang.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    Fail(u16),
    /// The answer never comes (the sender's timeout ends the request).
    Hang,
}

/// One accepted POST.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub changes: Vec<Value>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

struct ReceiverState {
    secret: String,
    mode: Mutex<Mode>,
    accepted: Mutex<Vec<Delivery>>,
    attempts: AtomicUsize,
    bad_signatures: AtomicUsize,
    /// Headers of every request, to look for leaked secrets.
    headers: Mutex<Vec<String>>,
}

impl Receiver {
    pub async fn start(secret: &str) -> Self {
        let state = Arc::new(ReceiverState {
            secret: secret.to_owned(),
            mode: Mutex::new(Mode::Accept),
            accepted: Mutex::default(),
            attempts: AtomicUsize::new(0),
            bad_signatures: AtomicUsize::new(0),
            headers: Mutex::default(),
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(Arc::clone(&state));
        let (addr, task) = super::serve_on_loopback(app).await;
        Self { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn accepted(&self) -> Vec<Delivery> {
        self.state.accepted.lock().unwrap().clone()
    }

    /// POSTs received, accepted or not.
    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    pub fn bad_signatures(&self) -> usize {
        self.state.bad_signatures.load(Ordering::SeqCst)
    }

    pub fn headers_seen(&self) -> String {
        self.state.headers.lock().unwrap().join("\n")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.attempts.fetch_add(1, Ordering::SeqCst);
    state.headers.lock().unwrap().push(format!("{headers:?}"));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(state.secret.as_bytes()).unwrap();
    mac.update(&body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if header("x-models-cache-signature") != format!("sha256={expected}") {
        state.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let mode = *state.mode.lock().unwrap();
    match mode {
        Mode::Fail(status) => return StatusCode::from_u16(status).unwrap(),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            return StatusCode::OK;
        }
        Mode::Accept => {}
    }
    let parsed: Value = serde_json::from_slice(&body).expect("a JSON body");
    state.accepted.lock().unwrap().push(Delivery {
        id: header("x-models-cache-delivery").to_owned(),
        changes: parsed["changes"].as_array().cloned().unwrap_or_default(),
    });
    StatusCode::OK
}
