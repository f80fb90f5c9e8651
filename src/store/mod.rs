//! Where entries, locks and shared state live: Redis for real deployments, an
//! embedded in-process map when `REDIS_URL` is unset.
//!
//! Both sides implement [`Store`] with the same semantics, so the cache engine
//! is written once. The guarantees that must hold across instances are the
//! store's job and are atomic there: `save` never replaces a newer entry nor a
//! non-empty list with an empty one, and a lock is taken and released by its
//! owner token only. Key names live in [`Keys`].

mod codec;
mod embedded;
mod pubsub;
mod redis;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use self::embedded::EmbeddedStore;
pub use self::redis::RedisStore;
use crate::cache::Entry;
use crate::changes::{Seq, Stored};

/// The store could not be reached or answered something unexpected.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// What `save` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved,
    /// The store already holds an entry fetched at or after this one.
    KeptNewer,
    /// The new list is empty and the store holds this many models: kept them.
    KeptNonEmpty(usize),
    /// The gateway was invalidated after the fetch began (its epoch moved):
    /// the list predates the invalidation and is never stored.
    Invalidated,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Where the data lives, for the start-up log (no password).
    fn describe(&self) -> String;
    /// The key naming `gateway`'s entry, for telemetry.
    fn entry_key(&self, gateway: &str) -> String;
    async fn ping(&self) -> Result<(), StoreError>;
    /// Each gateway's stored version (`fetched_at`), `None` if absent: the
    /// cheap question a reader asks before loading a whole list.
    async fn versions(&self, gateways: &[&str]) -> Result<Vec<Option<u64>>, StoreError>;
    async fn load(&self, gateway: &str) -> Result<Option<Entry>, StoreError>;
    /// `gateway`'s entry as [`Store::load`] gives it; when it holds the list
    /// of `held` (the same revision: another instance's fetch came back
    /// unchanged), that list is taken with the stored deadlines rather than
    /// read and decoded again.
    async fn load_over(
        &self,
        gateway: &str,
        held: Option<&Entry>,
    ) -> Result<Option<Entry>, StoreError> {
        let _ = held;
        self.load(gateway).await
    }
    /// Stores `entry` until its `stale_until`, unless refused (see
    /// [`SaveOutcome`]), whatever the gateway's epoch.
    async fn save(&self, gateway: &str, entry: &Entry) -> Result<SaveOutcome, StoreError> {
        self.save_at(gateway, entry, None).await
    }
    /// Stores `entry` like [`Store::save`], and only if the gateway's epoch
    /// is still `epoch` (read before the fetch began): a fetch that an
    /// invalidation overtook is refused, atomically with the write.
    async fn save_at(
        &self,
        gateway: &str,
        entry: &Entry,
        epoch: Option<u64>,
    ) -> Result<SaveOutcome, StoreError>;
    /// Saves `entry`, the list the store may hold already, fetched again
    /// unchanged: when the store holds that very list (same revision), only
    /// its new deadlines are written, not the list again; otherwise as
    /// [`Store::save_at`].
    async fn extend_at(
        &self,
        gateway: &str,
        entry: &Entry,
        epoch: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        self.save_at(gateway, entry, epoch).await
    }
    /// Drops the entry; whether there was one.
    async fn delete(&self, gateway: &str) -> Result<bool, StoreError>;
    /// The gateway's invalidation epoch: how many times it was invalidated
    /// (0 when never, or forgotten long after).
    async fn epoch(&self, gateway: &str) -> Result<u64, StoreError>;
    /// An operator's invalidation: moves the epoch (so no fetch begun before
    /// is ever stored), drops the entry and the fetch lock (so the next fetch
    /// does not wait for one whose result will be refused). Whether there
    /// was an entry.
    async fn invalidate(&self, gateway: &str) -> Result<bool, StoreError>;
    /// Takes the gateway's fetch lock for `ttl` if nobody holds it.
    async fn try_lock(&self, gateway: &str, token: &str, ttl: Duration)
    -> Result<bool, StoreError>;
    /// Extends the lock to `ttl` from now if `token` still owns it; whether it did.
    async fn renew(&self, gateway: &str, token: &str, ttl: Duration) -> Result<bool, StoreError>;
    async fn lock_held(&self, gateway: &str) -> Result<bool, StoreError>;
    /// Releases the lock if `token` still owns it (it may have expired).
    async fn unlock(&self, gateway: &str, token: &str) -> Result<(), StoreError>;
    /// Records a failed fetch: readers leave the gateway alone for `ttl`.
    async fn set_backoff(
        &self,
        gateway: &str,
        error: &str,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// The error of a failed fetch still within its backoff.
    async fn backoff(&self, gateway: &str) -> Result<Option<String>, StoreError>;
    async fn clear_backoff(&self, gateway: &str) -> Result<(), StoreError>;
    /// A small shared document (warm status…) by name.
    async fn put_doc(&self, name: &str, json: &str) -> Result<(), StoreError>;
    async fn get_doc(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Writes `json` as document `name` only if it still is `expected`
    /// (`None`: absent), atomically; whether it wrote.
    async fn swap_doc(
        &self,
        name: &str,
        expected: Option<&str>,
        json: &str,
    ) -> Result<bool, StoreError>;

    /// Adds `add` to the shared counters and sets `set`, in one step.
    async fn update_counters(
        &self,
        add: &[(&str, u64)],
        set: &[(&str, u64)],
    ) -> Result<(), StoreError>;
    /// Every shared counter (absent ones are 0).
    async fn counters(&self) -> Result<HashMap<String, u64>, StoreError>;
    async fn reset_counters(&self) -> Result<(), StoreError>;
    /// Claims `name` for `ttl`: true for exactly one caller across instances
    /// until the claim expires.
    async fn claim(&self, name: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Appends the records of one fetch (named `fetch`) to the change
    /// stream, all together, trimming it to about `max` records; their seqs.
    async fn append_changes(
        &self,
        fetch: &str,
        records: &[String],
        max: usize,
    ) -> Result<Vec<Seq>, StoreError>;
    /// Up to `count` records after `after` (from the oldest when `None`),
    /// oldest first.
    async fn changes_after(
        &self,
        after: Option<Seq>,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError>;
    /// Up to `count` records before `before` (from the newest when `None`),
    /// newest first.
    async fn changes_before(
        &self,
        before: Option<Seq>,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError>;
    /// Creates consumer group `group` of the change stream, starting after
    /// the records there now, unless it exists.
    async fn create_group(&self, group: &str) -> Result<(), StoreError>;
    /// Up to `count` records no consumer of `group` was given yet, oldest
    /// first, now pending for `consumer` until acknowledged.
    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError>;
    /// Every record pending in `group` (given to any consumer, never
    /// acknowledged), now pending for `consumer`, oldest first: how a dead
    /// consumer's records are taken over.
    async fn claim_pending(&self, group: &str, consumer: &str) -> Result<Vec<Stored>, StoreError>;
    /// Acknowledges records of `group`: done with, never given again.
    async fn ack_changes(&self, group: &str, seqs: &[Seq]) -> Result<(), StoreError>;
    /// When `gateway` first listed each id it ever listed (ms).
    async fn first_seen(&self, gateway: &str) -> Result<HashMap<String, u64>, StoreError>;
    /// Remembers when ids were first listed; an id already known keeps its time.
    async fn remember_first_seen(
        &self,
        gateway: &str,
        seen: &[(String, u64)],
    ) -> Result<(), StoreError>;

    /// Tells every instance listening on [`Store::notices`] that `gateway`
    /// was dropped; returns how many heard it.
    async fn notify_dropped(&self, gateway: &str, nonce: &str) -> Result<u64, StoreError>;
    /// A listener's receipt of notice `nonce`.
    async fn acknowledge(&self, nonce: &str) -> Result<(), StoreError>;
    /// How many listeners acknowledged `nonce`.
    async fn acknowledgements(&self, nonce: &str) -> Result<u64, StoreError>;
    /// A feed of drop notices from every instance, `(gateway, nonce)`, kept
    /// connected in the background; `None` where there is nobody else to hear
    /// from (the embedded store) or no channel (Redis Cluster, where the
    /// periodic sync alone propagates drops).
    fn notices(&self) -> Option<mpsc::Receiver<Notice>>;
}

/// An instance dropped a gateway's entry; listeners drop their copies and
/// acknowledge `nonce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub gateway: String,
    pub nonce: String,
}

impl Notice {
    pub(crate) fn encode(gateway: &str, nonce: &str) -> String {
        format!("dropped {gateway} {nonce}")
    }

    pub(crate) fn decode(text: &str) -> Option<Self> {
        let mut parts = text.strip_prefix("dropped ")?.split(' ');
        let (gateway, nonce) = (parts.next()?, parts.next()?);
        Some(Self {
            gateway: gateway.to_owned(),
            nonce: nonce.to_owned(),
        })
    }
}

/// Key names under the configured prefix. Gateway ids never contain `:`, so
/// `<prefix><id>` cannot collide with the `<prefix><kind>:<id>` keys.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// `models:<id>`: the entry (a hash: envelope fields + `models`).
    pub fn entry(&self, gateway: &str) -> String {
        format!("{}{gateway}", self.prefix)
    }

    /// `models:epoch:{models:<id>}`: how many times the gateway was
    /// invalidated. The hash tag puts it in the entry's cluster slot, so the
    /// save script may read it.
    pub fn epoch(&self, gateway: &str) -> String {
        format!("{0}epoch:{{{0}{gateway}}}", self.prefix)
    }

    /// `models:lock:<id>`: owner token of the fetch in flight.
    pub fn lock(&self, gateway: &str) -> String {
        format!("{}lock:{gateway}", self.prefix)
    }

    /// `models:backoff:<id>`: the last fetch error, expiring with the backoff.
    pub fn backoff(&self, gateway: &str) -> String {
        format!("{}backoff:{gateway}", self.prefix)
    }

    /// `models:doc:<name>`: shared documents such as `warm:last`.
    pub fn doc(&self, name: &str) -> String {
        format!("{}doc:{name}", self.prefix)
    }

    /// `models:stats:counters`: the shared counters (a hash).
    pub fn stats(&self) -> String {
        format!("{}stats:counters", self.prefix)
    }

    /// `models:claim:<name>`: one-off claims (background refresh slots).
    pub fn claim(&self, name: &str) -> String {
        format!("{}claim:{name}", self.prefix)
    }

    /// `models:changes`: the change records (a stream).
    pub fn changes(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// `models:seen:{models:<id>}`: when each id was first listed (a hash).
    pub fn first_seen(&self, gateway: &str) -> String {
        format!("{0}seen:{{{0}{gateway}}}", self.prefix)
    }

    /// `models:events:dropped`: the pub/sub channel of drop notices.
    pub fn events(&self) -> String {
        format!("{}events:dropped", self.prefix)
    }

    /// `models:ack:<nonce>`: receipts of one drop notice.
    pub fn ack(&self, nonce: &str) -> String {
        format!("{}ack:{nonce}", self.prefix)
    }
}
