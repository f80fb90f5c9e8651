//! A real store with a slow network in front of some of its calls: a lock
//! taken at once but known to its taker a while later, a save that reaches
//! the store (Redis) a while after it was sent. For the races only such
//! delays open.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use models_cache::cache::Entry;
use models_cache::changes::{Seq, Stored};
use models_cache::store::{Notice, SaveOutcome, Store, StoreError};
use tokio::sync::mpsc;

pub struct SlowAnswers {
    inner: Arc<dyn Store>,
    /// How late `try_lock`'s answer comes back.
    pub lock: Duration,
    /// How late a save reaches the store.
    pub save: Duration,
}

impl SlowAnswers {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            lock: Duration::ZERO,
            save: Duration::ZERO,
        }
    }
}

async fn late<T>(delay: Duration, answer: T) -> T {
    tokio::time::sleep(delay).await;
    answer
}

#[async_trait]
impl Store for SlowAnswers {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn entry_key(&self, gateway: &str) -> String {
        self.inner.entry_key(gateway)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn versions(&self, gateways: &[&str]) -> Result<Vec<Option<u64>>, StoreError> {
        self.inner.versions(gateways).await
    }
    async fn load(&self, gateway: &str) -> Result<Option<Entry>, StoreError> {
        self.inner.load(gateway).await
    }
    async fn save_at(
        &self,
        gateway: &str,
        entry: &Entry,
        epoch: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        tokio::time::sleep(self.save).await;
        self.inner.save_at(gateway, entry, epoch).await
    }
    async fn delete(&self, gateway: &str) -> Result<bool, StoreError> {
        self.inner.delete(gateway).await
    }
    async fn epoch(&self, gateway: &str) -> Result<u64, StoreError> {
        self.inner.epoch(gateway).await
    }
    async fn invalidate(&self, gateway: &str) -> Result<bool, StoreError> {
        self.inner.invalidate(gateway).await
    }
    async fn try_lock(
        &self,
        gateway: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        late(self.lock, self.inner.try_lock(gateway, token, ttl).await).await
    }
    async fn renew(&self, gateway: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.renew(gateway, token, ttl).await
    }
    async fn lock_held(&self, gateway: &str) -> Result<bool, StoreError> {
        self.inner.lock_held(gateway).await
    }
    async fn unlock(&self, gateway: &str, token: &str) -> Result<(), StoreError> {
        self.inner.unlock(gateway, token).await
    }
    async fn set_backoff(
        &self,
        gateway: &str,
        error: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.inner.set_backoff(gateway, error, ttl).await
    }
    async fn backoff(&self, gateway: &str) -> Result<Option<String>, StoreError> {
        self.inner.backoff(gateway).await
    }
    async fn clear_backoff(&self, gateway: &str) -> Result<(), StoreError> {
        self.inner.clear_backoff(gateway).await
    }
    async fn put_doc(&self, name: &str, json: &str) -> Result<(), StoreError> {
        self.inner.put_doc(name, json).await
    }
    async fn get_doc(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.inner.get_doc(name).await
    }
    async fn swap_doc(
        &self,
        name: &str,
        expected: Option<&str>,
        json: &str,
    ) -> Result<bool, StoreError> {
        self.inner.swap_doc(name, expected, json).await
    }
    async fn update_counters(
        &self,
        add: &[(&str, u64)],
        set: &[(&str, u64)],
    ) -> Result<(), StoreError> {
        self.inner.update_counters(add, set).await
    }
    async fn counters(&self) -> Result<HashMap<String, u64>, StoreError> {
        self.inner.counters().await
    }
    async fn reset_counters(&self) -> Result<(), StoreError> {
        self.inner.reset_counters().await
    }
    async fn claim(&self, name: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.claim(name, ttl).await
    }
    async fn append_changes(
        &self,
        fetch: &str,
        records: &[String],
        max: usize,
    ) -> Result<Vec<Seq>, StoreError> {
        self.inner.append_changes(fetch, records, max).await
    }
    async fn changes_after(
        &self,
        after: Option<Seq>,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        self.inner.changes_after(after, count).await
    }
    async fn changes_before(
        &self,
        before: Option<Seq>,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        self.inner.changes_before(before, count).await
    }
    async fn create_group(&self, group: &str) -> Result<(), StoreError> {
        self.inner.create_group(group).await
    }
    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        self.inner.read_group(group, consumer, count).await
    }
    async fn claim_pending(&self, group: &str, consumer: &str) -> Result<Vec<Stored>, StoreError> {
        self.inner.claim_pending(group, consumer).await
    }
    async fn ack_changes(&self, group: &str, seqs: &[Seq]) -> Result<(), StoreError> {
        self.inner.ack_changes(group, seqs).await
    }
    async fn first_seen(&self, gateway: &str) -> Result<HashMap<String, u64>, StoreError> {
        self.inner.first_seen(gateway).await
    }
    async fn remember_first_seen(
        &self,
        gateway: &str,
        seen: &[(String, u64)],
    ) -> Result<(), StoreError> {
        self.inner.remember_first_seen(gateway, seen).await
    }
    async fn notify_dropped(&self, gateway: &str, nonce: &str) -> Result<u64, StoreError> {
        self.inner.notify_dropped(gateway, nonce).await
    }
    async fn acknowledge(&self, nonce: &str) -> Result<(), StoreError> {
        self.inner.acknowledge(nonce).await
    }
    async fn acknowledgements(&self, nonce: &str) -> Result<u64, StoreError> {
        self.inner.acknowledgements(nonce).await
    }
    fn notices(&self) -> Option<mpsc::Receiver<Notice>> {
        self.inner.notices()
    }
}
