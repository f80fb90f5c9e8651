//! Webhooks: the changes of each fetch POSTed to every `WEBHOOK_URLS`
//! address, signed, at least once, in order, by one instance.
//!
//! Each URL has a consumer group on the change stream, so what was handed to
//! a deliverer and not acknowledged stays pending in the store: a restart or
//! a killed instance loses nothing. Every instance runs a deliverer per URL,
//! but only the holder of the URL's lease (a fetch-style lock, renewed while
//! it works) delivers; the others stand by and take over when the lease
//! lapses, claiming the previous holder's pending records first
//! (`XAUTOCLAIM`). One deliverer at a time keeps the order: a failing batch
//! is retried, with exponential backoff and jitter, until `WEBHOOK_RETRY_FOR`
//! after its changes were seen, and everything after it waits.
//!
//! A POST: `{"changes":[…]}`, `X-Models-Cache-Signature: sha256=<hex
//! HMAC-SHA256 of the body with WEBHOOK_SECRET>`, `X-Models-Cache-Delivery:
//! <seq of the first record>` (the same on every retry, so a receiver can
//! tell a retry from a new delivery). The secret itself is never sent or
//! logged; a URL is logged without its query or userinfo.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{ChangeLog, Stored};
use crate::cache::now_ms;
use crate::config::ChangesConfig;
use crate::gateways::redact;
use crate::secret::Secret;
use crate::stats::{Counter, Stats};
use crate::store::Store;
use crate::telemetry::metrics;

/// How long a deliverer holds a URL's lease without renewing it; it renews
/// every third of that.
const LEASE: Duration = Duration::from_secs(5);
/// How often a deliverer with nothing to do looks for new records (records
/// appended on this instance wake it at once).
const POLL: Duration = Duration::from_millis(500);
/// Records handed over per read.
const BATCH: usize = 200;
/// The first retry's delay, doubled each time up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// One POST's bound.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a deliverer needs; shared by the deliverers of every URL.
pub struct Webhooks {
    store: Arc<dyn Store>,
    log: Arc<ChangeLog>,
    stats: Arc<Stats>,
    client: reqwest::Client,
    secret: Secret,
    retry_for: Duration,
    /// This process's consumer name (a restart is a new consumer).
    consumer: String,
}

/// This instance's hold on a URL: renewed while it delivers.
struct Lease {
    name: String,
    token: String,
    renewed: Instant,
}

/// One URL and its names in the store.
struct Target {
    url: reqwest::Url,
    /// Consumer group and lease name: `webhook:<hash of the URL>`.
    name: String,
}

impl Webhooks {
    /// The deliverers of `config`'s URLs, each a task; none without URLs.
    /// Each URL's consumer group is created first (if new, from the end of
    /// the stream): what is recorded from then on is delivered, what was
    /// recorded before a URL was configured is not.
    pub async fn spawn(
        config: &ChangesConfig,
        store: Arc<dyn Store>,
        log: Arc<ChangeLog>,
        stats: Arc<Stats>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let Some(secret) = config.webhook_secret.clone() else {
            return Vec::new();
        };
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("models-cache/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("BUG: the webhook client builds");
        let webhooks = Arc::new(Self {
            store,
            log,
            stats,
            client,
            secret,
            retry_for: config.webhook_retry_for,
            consumer: format!("{:016x}", rand::random::<u64>()),
        });
        let mut tasks = Vec::new();
        for url in &config.webhook_urls {
            let target = Target {
                name: format!("webhook:{}", hex(&Sha256::digest(url.as_str())[..8])),
                url: url.clone(),
            };
            if let Err(e) = webhooks.store.create_group(&target.name).await {
                tracing::warn!(url = %redact(url), error = %e, "webhook consumer group not created yet; retrying when delivering");
            }
            tasks.push(tokio::spawn(Arc::clone(&webhooks).run(target)));
        }
        tasks
    }

    /// Stands by until this instance holds the URL's lease, then delivers
    /// until it loses it; forever.
    async fn run(self: Arc<Self>, target: Target) {
        loop {
            let token = format!("{:032x}", rand::random::<u128>());
            match self.store.try_lock(&target.name, &token, LEASE).await {
                Ok(true) => {
                    tracing::info!(url = %redact(&target.url), "delivering webhooks from this instance");
                    let mut lease = Lease {
                        name: target.name.clone(),
                        token,
                        renewed: Instant::now(),
                    };
                    if let Err(e) = self.deliver_all(&target, &mut lease).await {
                        tracing::warn!(url = %redact(&target.url), error = %e, "webhook deliveries paused");
                    }
                    let _ = self.store.unlock(&lease.name, &lease.token).await;
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "webhook lease not taken"),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Delivers pending then new records, batch by batch, while the lease
    /// holds. Returns when it lapses or the store fails.
    async fn deliver_all(&self, target: &Target, lease: &mut Lease) -> Result<(), String> {
        let store = &self.store;
        store.create_group(&target.name).await.map_err(|e| e.0)?;
        // What a previous holder was given and never acknowledged comes first.
        let mut backlog = store
            .claim_pending(&target.name, &self.consumer)
            .await
            .map_err(|e| e.0)?;
        loop {
            if backlog.is_empty() {
                backlog = store
                    .read_group(&target.name, &self.consumer, BATCH)
                    .await
                    .map_err(|e| e.0)?;
            }
            if backlog.is_empty() {
                let idle = async {
                    tokio::select! {
                        () = self.log.appended() => {}
                        () = tokio::time::sleep(POLL) => {}
                    }
                };
                self.holding(lease, idle).await.ok_or("lease lost")?;
                continue;
            }
            // A fetch's records may span reads: read on until the next
            // fetch shows (they are appended together, so all are there).
            while backlog.iter().all(|r| r.fetch == backlog[0].fetch) {
                let more = store
                    .read_group(&target.name, &self.consumer, BATCH)
                    .await
                    .map_err(|e| e.0)?;
                if more.is_empty() {
                    break;
                }
                backlog.extend(more);
            }
            let batch = one_fetch(&mut backlog);
            self.deliver(target, lease, &batch)
                .await
                .ok_or("lease lost")?;
            let seqs: Vec<_> = batch.iter().map(|r| r.seq).collect();
            store
                .ack_changes(&target.name, &seqs)
                .await
                .map_err(|e| e.0)?;
        }
    }

    /// POSTs one fetch's changes until delivered or given up; `None` when
    /// the lease was lost meanwhile (the batch stays pending).
    async fn deliver(&self, target: &Target, lease: &mut Lease, batch: &[Stored]) -> Option<()> {
        let body = body(batch);
        let delivery = batch[0].seq.to_string();
        let signature = format!("sha256={}", sign(self.secret.expose(), &body));
        let seen_at = batch.iter().filter_map(|r| r.change()).map(|c| c.at).min();
        let give_up_at = seen_at
            .unwrap_or_else(now_ms)
            .saturating_add(crate::cache::millis(self.retry_for));
        let mut backoff = FIRST_BACKOFF;
        loop {
            let post = self
                .client
                .post(target.url.clone())
                .header("content-type", "application/json")
                .header("x-models-cache-signature", &signature)
                .header("x-models-cache-delivery", &delivery)
                .body(body.clone())
                .send();
            let outcome = match self.holding(lease, post).await? {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("HTTP {}", response.status().as_u16())),
                Err(e) => Err(if e.is_timeout() {
                    "timeout".to_owned()
                } else {
                    "connection failed".to_owned()
                }),
            };
            match outcome {
                Ok(()) => {
                    self.count(Counter::WebhookDeliveries, "delivered");
                    return Some(());
                }
                Err(why)
                    if now_ms().saturating_add(crate::cache::millis(backoff)) >= give_up_at =>
                {
                    self.count(Counter::WebhookDrops, "dropped");
                    tracing::warn!(url = %redact(&target.url), delivery, error = why, "webhook delivery dropped after WEBHOOK_RETRY_FOR");
                    return Some(());
                }
                Err(why) => {
                    self.count(Counter::WebhookRetries, "retried");
                    tracing::info!(url = %redact(&target.url), delivery, error = why, retry_in = ?backoff, "webhook delivery failed; retrying");
                    self.holding(lease, tokio::time::sleep(jitter(backoff)))
                        .await?;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Runs `work` while renewing the lease every third of its length;
    /// `None` as soon as a renewal finds it gone (another instance may
    /// deliver now).
    async fn holding<T>(&self, lease: &mut Lease, work: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(work);
        loop {
            let due = lease.renewed + LEASE / 3;
            tokio::select! {
                done = &mut work => return Some(done),
                () = tokio::time::sleep_until(due.into()) => {
                    let renewed = self.store.renew(&lease.name, &lease.token, LEASE).await;
                    if !matches!(renewed, Ok(true)) {
                        return None;
                    }
                    lease.renewed = Instant::now();
                }
            }
        }
    }

    fn count(&self, counter: Counter, outcome: &'static str) {
        self.stats.count(counter);
        metrics::webhook(outcome);
    }
}

/// Takes from the front of `backlog` the records of the first one's fetch.
fn one_fetch(backlog: &mut Vec<Stored>) -> Vec<Stored> {
    let fetch = backlog[0].fetch.clone();
    let end = backlog
        .iter()
        .position(|r| r.fetch != fetch)
        .unwrap_or(backlog.len());
    backlog.drain(..end).collect()
}

/// `{"changes":[…]}`, each record with its seq.
fn body(batch: &[Stored]) -> String {
    let changes: Vec<_> = batch.iter().filter_map(Stored::change).collect();
    serde_json::json!({ "changes": changes }).to_string()
}

/// Hex HMAC-SHA256 of `body` keyed by `secret`.
pub fn sign(secret: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("BUG: HMAC takes any key length");
    mac.update(body.as_bytes());
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Half to all of `delay`, at random: retries of many deliverers spread out.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::Seq;

    #[test]
    fn the_signature_is_the_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_batch_is_the_records_of_one_fetch() {
        let record = |n, fetch: &str| Stored {
            seq: Seq { ms: 1, n },
            fetch: fetch.into(),
            json: "{}".into(),
        };
        let mut backlog = vec![
            record(0, "a"),
            record(1, "a"),
            record(2, "b"),
            record(3, "a"),
        ];
        assert_eq!(one_fetch(&mut backlog).len(), 2);
        assert_eq!(one_fetch(&mut backlog)[0].fetch, "b");
        assert_eq!(backlog.len(), 1);
    }

    #[test]
    fn jitter_stays_within_half_to_all_of_the_delay() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(2));
            assert!(d >= Duration::from_secs(1) && d <= Duration::from_secs(2));
        }
    }
}
