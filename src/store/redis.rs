//! The Redis store, over one server or a cluster, through deadpool-redis.
//!
//! An entry is a hash at `models:<id>` — `fetched_at`, `fresh_until`,
//! `stale_until` (ms since epoch), `count`, `models` (the list, as JSON
//! compressed by [`super::codec`]) and its `encoding` —
//! whose TTL ends at `stale_until`, so Redis drops it once it may no longer be
//! served. Readers ask `HGET fetched_at` first and load `models` only when the
//! version changed. Every operation is bounded by [`OP_TIMEOUT`]; a slow or
//! stopped Redis returns an error, never a hang.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamRangeReply, StreamReadOptions,
    StreamReadReply,
};
use deadpool_redis::redis::{self, AsyncCommands, RedisFuture, Script, Value, aio::ConnectionLike};
use deadpool_redis::{PoolConfig, Runtime, Timeouts};

use tokio::sync::mpsc;

use super::{Keys, Notice, SaveOutcome, Store, StoreError, codec};
use crate::cache::{Entry, now_ms};
use crate::changes::{Seq, Stored};

/// [`EXTEND_SCRIPT`]'s answer when the stored entry is not the list extended.
const EXTEND_ABSENT: u8 = 4;

/// The keys and arguments an entry's write shares between [`SAVE_SCRIPT`]
/// and [`EXTEND_SCRIPT`]: an empty `epoch` skips the epoch check.
struct EntryWrite {
    key: String,
    epoch_key: String,
    epoch: String,
    ttl_ms: u64,
}

/// What [`SAVE_SCRIPT`] or [`EXTEND_SCRIPT`] answered.
fn save_outcome(outcome: u8, stored_count: usize) -> SaveOutcome {
    match outcome {
        1 => SaveOutcome::Saved,
        2 => SaveOutcome::KeptNonEmpty(stored_count),
        3 => SaveOutcome::Invalidated,
        _ => SaveOutcome::KeptNewer,
    }
}

/// Bound on any one Redis operation, connection checkout included.
const OP_TIMEOUT: Duration = Duration::from_millis(1000);
const POOL_SIZE: usize = 16;

/// Writes an entry unless the gateway was invalidated since the fetch began
/// (its epoch, KEYS[2], is no longer ARGV[8]; an empty ARGV[8] skips the
/// check), the stored one is newer, or non-empty while the new list is empty.
/// Returns `{outcome, stored count}`: 1 saved, 0 kept newer, 2 kept
/// non-empty, 3 invalidated. Atomic, so two instances racing cannot interleave.
/// The list's revision (ARGV[9]) is kept for [`EXTEND_SCRIPT`].
const SAVE_SCRIPT: &str = r"
if ARGV[8] ~= '' and (redis.call('GET', KEYS[2]) or '0') ~= ARGV[8] then return {3, 0} end
local cur = redis.call('HMGET', KEYS[1], 'fetched_at', 'count')
if cur[1] and tonumber(cur[1]) >= tonumber(ARGV[1]) then return {0, tonumber(cur[2] or 0)} end
if tonumber(ARGV[4]) == 0 and cur[2] and tonumber(cur[2]) > 0 then return {2, tonumber(cur[2])} end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'fetched_at', ARGV[1], 'fresh_until', ARGV[2], 'stale_until', ARGV[3], 'count', ARGV[4], 'models', ARGV[5], 'encoding', ARGV[7], 'revision', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {1, 0}
";

/// Moves a stored entry's deadlines to ARGV[1..3] and its expiry to ARGV[6]
/// when it holds the list of revision ARGV[4]; the epoch check and the
/// outcomes are [`SAVE_SCRIPT`]'s, and 4 means the stored entry is not that
/// list (absent, replaced, or written before revisions were kept).
const EXTEND_SCRIPT: &str = r"
if ARGV[5] ~= '' and (redis.call('GET', KEYS[2]) or '0') ~= ARGV[5] then return {3, 0} end
local cur = redis.call('HMGET', KEYS[1], 'fetched_at', 'revision')
if not cur[1] then return {4, 0} end
if tonumber(cur[1]) >= tonumber(ARGV[1]) then return {0, 0} end
if cur[2] ~= ARGV[4] then return {4, 0} end
redis.call('HSET', KEYS[1], 'fetched_at', ARGV[1], 'fresh_until', ARGV[2], 'stale_until', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {1, 0}
";

/// How long a drop notice's receipts are kept.
const ACK_TTL: Duration = Duration::from_secs(30);

/// Takes the lock for `token` unless someone else holds it. Taking it again
/// with the same token succeeds: a try whose answer was lost (a timeout) may
/// have taken it.
const LOCK_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
";

/// Extends the lock only if `token` still owns it.
const RENEW_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// Moves the epoch (kept a day: longer than any fetch lives) and drops the
/// entry; whether there was one.
const INVALIDATE_SCRIPT: &str = r"
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
";

/// Sets KEYS[1] to ARGV[3] if it holds ARGV[2] (ARGV[1] = '1') or nothing
/// (ARGV[1] = '0'); whether it did.
const SWAP_SCRIPT: &str = r"
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
";

/// How long an epoch outlives its last invalidation.
const EPOCH_TTL: Duration = Duration::from_secs(24 * 3600);

/// Deletes the lock only if `token` still owns it.
const UNLOCK_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

pub struct RedisStore {
    pool: Pool,
    keys: Keys,
    description: String,
    save: Arc<Script>,
    extend: Arc<Script>,
    unlock: Arc<Script>,
    lock: Arc<Script>,
    renew: Arc<Script>,
    invalidate: Arc<Script>,
    swap: Arc<Script>,
    /// The single server's URL, for the pub/sub connection (none on a cluster).
    pubsub_url: Option<String>,
}

enum Pool {
    Single(deadpool_redis::Pool),
    Cluster(deadpool_redis::cluster::Pool),
}

/// A pooled connection to either kind of deployment.
enum Conn {
    Single(deadpool_redis::Connection),
    Cluster(deadpool_redis::cluster::Connection),
}

impl RedisStore {
    /// Builds the pool; connections are made lazily, so this does not fail
    /// when Redis is down (readiness says so instead).
    pub fn single(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let mut config = deadpool_redis::Config::from_url(url);
        config.pool = Some(pool_config());
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| StoreError(format!("cannot configure the Redis pool: {e}")))?;
        let mut store = Self::with_pool(Pool::Single(pool), prefix, redacted(url));
        store.pubsub_url = Some(url.to_owned());
        Ok(store)
    }

    pub fn cluster(urls: &[String], prefix: &str) -> Result<Self, StoreError> {
        let mut config = deadpool_redis::cluster::Config::from_urls(urls.to_vec());
        config.pool = Some(pool_config());
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| StoreError(format!("cannot configure the Redis Cluster pool: {e}")))?;
        let nodes: Vec<String> = urls.iter().map(|u| redacted(u)).collect();
        Ok(Self::with_pool(
            Pool::Cluster(pool),
            prefix,
            format!("cluster {}", nodes.join(",")),
        ))
    }

    fn with_pool(pool: Pool, prefix: &str, location: String) -> Self {
        Self {
            pool,
            keys: Keys::new(prefix),
            description: format!("Redis at {location} (key prefix {prefix:?})"),
            save: Arc::new(Script::new(SAVE_SCRIPT)),
            extend: Arc::new(Script::new(EXTEND_SCRIPT)),
            unlock: Arc::new(Script::new(UNLOCK_SCRIPT)),
            lock: Arc::new(Script::new(LOCK_SCRIPT)),
            renew: Arc::new(Script::new(RENEW_SCRIPT)),
            invalidate: Arc::new(Script::new(INVALIDATE_SCRIPT)),
            swap: Arc::new(Script::new(SWAP_SCRIPT)),
            pubsub_url: None,
        }
    }

    /// What the save and extend scripts are given for `entry`, or `None`
    /// when it is past its `stale_until` (nothing to store).
    fn write_of(&self, gateway: &str, entry: &Entry, epoch: Option<u64>) -> Option<EntryWrite> {
        let ttl_ms = entry.stale_until.saturating_sub(now_ms());
        (ttl_ms > 0).then(|| EntryWrite {
            key: self.keys.entry(gateway),
            epoch_key: self.keys.epoch(gateway),
            epoch: epoch.map_or_else(String::new, |e| e.to_string()),
            ttl_ms,
        })
    }

    /// Runs `op` on a pooled connection within [`OP_TIMEOUT`].
    async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: AsyncFnOnce(&mut Conn) -> redis::RedisResult<T>,
    {
        let work = async {
            let mut conn = self.conn().await?;
            op(&mut conn).await.map_err(|e| StoreError(e.to_string()))
        };
        tokio::time::timeout(OP_TIMEOUT, work)
            .await
            .map_err(|_| StoreError(format!("Redis did not answer within {OP_TIMEOUT:?}")))?
    }

    /// Runs `script` (taking or renewing) on `gateway`'s lock for `token`
    /// and `ttl`; whether it answered 1.
    async fn lock_script(
        &self,
        script: &Script,
        gateway: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = self.keys.lock(gateway);
        let ttl_ms = crate::cache::millis(ttl).max(1);
        let done: u8 = self
            .run(async |c| {
                script
                    .key(&key)
                    .arg(token)
                    .arg(ttl_ms)
                    .invoke_async(c)
                    .await
            })
            .await?;
        Ok(done == 1)
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| StoreError(format!("Redis unavailable: {e}"));
        match &self.pool {
            Pool::Single(p) => p.get().await.map(Conn::Single).map_err(|e| unavailable(&e)),
            Pool::Cluster(p) => p
                .get()
                .await
                .map(Conn::Cluster)
                .map_err(|e| unavailable(&e)),
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn entry_key(&self, gateway: &str) -> String {
        self.keys.entry(gateway)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(async |c| redis::cmd("PING").query_async::<String>(c).await)
            .await
            .map(drop)
    }

    async fn versions(&self, gateways: &[&str]) -> Result<Vec<Option<u64>>, StoreError> {
        if let Pool::Cluster(_) = self.pool {
            // A cluster refuses pipelines whose keys span slots: ask each key
            // on its own, concurrently, over the multiplexed connections.
            let each = gateways.iter().map(|g| {
                let key = self.keys.entry(g);
                async move { self.run(async |c| c.hget(&key, "fetched_at").await).await }
            });
            return futures::future::join_all(each).await.into_iter().collect();
        }
        let mut pipe = redis::pipe();
        for g in gateways {
            pipe.hget(self.keys.entry(g), "fetched_at");
        }
        self.run(async |c| pipe.query_async(c).await).await
    }

    async fn load(&self, gateway: &str) -> Result<Option<Entry>, StoreError> {
        self.load_over(gateway, None).await
    }

    async fn load_over(
        &self,
        gateway: &str,
        held: Option<&Entry>,
    ) -> Result<Option<Entry>, StoreError> {
        let key = self.keys.entry(gateway);
        type Fields = (
            Option<u64>,
            Option<u64>,
            Option<u64>,
            Option<Vec<u8>>,
            Option<String>,
            Option<u64>,
        );
        let fields: Fields = self
            .run(async |c| {
                c.hmget(
                    &key,
                    &[
                        "fetched_at",
                        "fresh_until",
                        "stale_until",
                        "models",
                        "encoding",
                        "revision",
                    ],
                )
                .await
            })
            .await?;
        let (
            Some(fetched_at),
            Some(fresh_until),
            Some(stale_until),
            Some(models),
            encoding,
            revision,
        ) = fields
        else {
            return Ok(None);
        };
        if let Some(held) = held.filter(|held| revision == Some(held.revision)) {
            return Ok(Some(held.moved_to(fetched_at, fresh_until, stale_until)));
        }
        let models = codec::decode(key, models, encoding).await?;
        // Digesting the list is per record: off the async threads too.
        let entry = move || Entry::at(fetched_at, fresh_until, stale_until, models);
        Ok(Some(crate::background::run(entry).await))
    }

    async fn save_at(
        &self,
        gateway: &str,
        entry: &Entry,
        epoch: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        let Some(write) = self.write_of(gateway, entry, epoch) else {
            return Ok(SaveOutcome::KeptNewer);
        };
        let models = codec::encode(Arc::clone(&entry.models)).await?;
        let script = self.save.clone();
        let (outcome, count): (u8, usize) = self
            .run(async |c| {
                script
                    .key(&write.key)
                    .key(&write.epoch_key)
                    .arg(entry.fetched_at)
                    .arg(entry.fresh_until)
                    .arg(entry.stale_until)
                    .arg(entry.models.len())
                    .arg(models.as_slice())
                    .arg(write.ttl_ms)
                    .arg(codec::GZIP)
                    .arg(&write.epoch)
                    .arg(entry.revision)
                    .invoke_async(c)
                    .await
            })
            .await?;
        Ok(save_outcome(outcome, count))
    }

    async fn extend_at(
        &self,
        gateway: &str,
        entry: &Entry,
        epoch: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        let Some(write) = self.write_of(gateway, entry, epoch) else {
            return Ok(SaveOutcome::KeptNewer);
        };
        let script = self.extend.clone();
        let (outcome, count): (u8, usize) = self
            .run(async |c| {
                script
                    .key(&write.key)
                    .key(&write.epoch_key)
                    .arg(entry.fetched_at)
                    .arg(entry.fresh_until)
                    .arg(entry.stale_until)
                    .arg(entry.revision)
                    .arg(&write.epoch)
                    .arg(write.ttl_ms)
                    .invoke_async(c)
                    .await
            })
            .await?;
        match outcome {
            EXTEND_ABSENT => self.save_at(gateway, entry, epoch).await,
            outcome => Ok(save_outcome(outcome, count)),
        }
    }

    async fn delete(&self, gateway: &str) -> Result<bool, StoreError> {
        let key = self.keys.entry(gateway);
        let removed: u32 = self.run(async |c| c.del(&key).await).await?;
        Ok(removed > 0)
    }

    async fn epoch(&self, gateway: &str) -> Result<u64, StoreError> {
        let key = self.keys.epoch(gateway);
        let epoch: Option<u64> = self.run(async |c| c.get(&key).await).await?;
        Ok(epoch.unwrap_or(0))
    }

    async fn invalidate(&self, gateway: &str) -> Result<bool, StoreError> {
        let (key, epoch_key) = (self.keys.entry(gateway), self.keys.epoch(gateway));
        let script = self.invalidate.clone();
        let removed: u32 = self
            .run(async |c| {
                script
                    .key(&key)
                    .key(&epoch_key)
                    .arg(crate::cache::millis(EPOCH_TTL))
                    .invoke_async(c)
                    .await
            })
            .await?;
        // Another slot on a cluster: a command of its own. A fetch holding
        // the lock until then is refused by the epoch when it saves.
        let lock = self.keys.lock(gateway);
        self.run(async |c| c.del::<_, ()>(&lock).await).await?;
        Ok(removed > 0)
    }

    async fn renew(&self, gateway: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.lock_script(&self.renew, gateway, token, ttl).await
    }

    async fn try_lock(
        &self,
        gateway: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.lock_script(&self.lock, gateway, token, ttl).await
    }

    async fn lock_held(&self, gateway: &str) -> Result<bool, StoreError> {
        let key = self.keys.lock(gateway);
        self.run(async |c| c.exists(&key).await).await
    }

    async fn unlock(&self, gateway: &str, token: &str) -> Result<(), StoreError> {
        let key = self.keys.lock(gateway);
        let script = self.unlock.clone();
        self.run(async |c| script.key(&key).arg(token).invoke_async::<u32>(c).await)
            .await
            .map(drop)
    }

    async fn set_backoff(
        &self,
        gateway: &str,
        error: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.keys.backoff(gateway);
        let ttl_ms = crate::cache::millis(ttl);
        if ttl_ms == 0 {
            return Ok(());
        }
        self.run(async |c| c.pset_ex::<_, _, ()>(&key, error, ttl_ms).await)
            .await
    }

    async fn backoff(&self, gateway: &str) -> Result<Option<String>, StoreError> {
        let key = self.keys.backoff(gateway);
        self.run(async |c| c.get(&key).await).await
    }

    async fn clear_backoff(&self, gateway: &str) -> Result<(), StoreError> {
        let key = self.keys.backoff(gateway);
        self.run(async |c| c.del::<_, ()>(&key).await).await
    }

    async fn put_doc(&self, name: &str, json: &str) -> Result<(), StoreError> {
        let key = self.keys.doc(name);
        self.run(async |c| c.set::<_, _, ()>(&key, json).await)
            .await
    }

    async fn get_doc(&self, name: &str) -> Result<Option<String>, StoreError> {
        let key = self.keys.doc(name);
        self.run(async |c| c.get(&key).await).await
    }

    async fn swap_doc(
        &self,
        name: &str,
        expected: Option<&str>,
        json: &str,
    ) -> Result<bool, StoreError> {
        let key = self.keys.doc(name);
        let script = self.swap.clone();
        let swapped: u8 = self
            .run(async |c| {
                script
                    .key(&key)
                    .arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or(""))
                    .arg(json)
                    .invoke_async(c)
                    .await
            })
            .await?;
        Ok(swapped == 1)
    }

    async fn update_counters(
        &self,
        add: &[(&str, u64)],
        set: &[(&str, u64)],
    ) -> Result<(), StoreError> {
        let key = self.keys.stats();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (field, delta) in add.iter().filter(|(_, d)| *d > 0) {
            pipe.hincr(&key, field, *delta).ignore();
        }
        for (field, value) in set {
            pipe.hset(&key, field, *value).ignore();
        }
        self.run(async |c| pipe.query_async::<()>(c).await).await
    }

    async fn counters(&self) -> Result<HashMap<String, u64>, StoreError> {
        let key = self.keys.stats();
        self.run(async |c| c.hgetall(&key).await).await
    }

    async fn reset_counters(&self) -> Result<(), StoreError> {
        let key = self.keys.stats();
        self.run(async |c| c.del::<_, ()>(&key).await).await
    }

    async fn claim(&self, name: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = self.keys.claim(name);
        let ttl_ms = crate::cache::millis(ttl).max(1);
        let set: Option<String> = self
            .run(async |c| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(crate::cache::now_ms())
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(c)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }

    async fn append_changes(
        &self,
        fetch: &str,
        records: &[String],
        max: usize,
    ) -> Result<Vec<Seq>, StoreError> {
        let key = self.keys.changes();
        let mut pipe = redis::pipe();
        // One transaction: a fetch's records are contiguous in the stream.
        pipe.atomic();
        for json in records {
            pipe.cmd("XADD")
                .arg(&key)
                .arg("MAXLEN")
                .arg("~")
                .arg(max)
                .arg("*")
                .arg("f")
                .arg(fetch)
                .arg("r")
                .arg(json);
        }
        let ids: Vec<String> = self.run(async |c| pipe.query_async(c).await).await?;
        ids.iter()
            .map(|id| id.parse().map_err(StoreError))
            .collect()
    }

    async fn changes_after(
        &self,
        after: Option<Seq>,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let key = self.keys.changes();
        let start = after.map_or("-".to_owned(), |seq| format!("({seq}"));
        let reply: StreamRangeReply = self
            .run(async |c| c.xrange_count(&key, &start, "+", count).await)
            .await?;
        Ok(stored(reply))
    }

    async fn changes_before(
        &self,
        before: Option<Seq>,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let key = self.keys.changes();
        let end = before.map_or("+".to_owned(), |seq| format!("({seq}"));
        let reply: StreamRangeReply = self
            .run(async |c| c.xrevrange_count(&key, &end, "-", count).await)
            .await?;
        Ok(stored(reply))
    }

    async fn create_group(&self, group: &str) -> Result<(), StoreError> {
        let key = self.keys.changes();
        let created: Result<(), StoreError> = self
            .run(async |c| {
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&key)
                    .arg(group)
                    .arg("$")
                    .arg("MKSTREAM")
                    .query_async(c)
                    .await
            })
            .await;
        match created {
            Err(e) if e.0.contains("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let key = self.keys.changes();
        let options = StreamReadOptions::default()
            .group(group, consumer)
            .count(count);
        let reply: Option<StreamReadReply> = self
            .run(async |c| c.xread_options(&[&key], &[">"], &options).await)
            .await?;
        let ids = reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .collect();
        Ok(stored(StreamRangeReply { ids }))
    }

    async fn claim_pending(&self, group: &str, consumer: &str) -> Result<Vec<Stored>, StoreError> {
        let key = self.keys.changes();
        let mut claimed = Vec::new();
        let mut start = "0-0".to_owned();
        // XAUTOCLAIM walks the pending list in pages; `0-0` back means done.
        for _ in 0..CLAIM_PAGES {
            let options = StreamAutoClaimOptions::default().count(CLAIM_PAGE);
            let reply: StreamAutoClaimReply = self
                .run(async |c| {
                    c.xautoclaim_options(&key, group, consumer, 0, &start, options)
                        .await
                })
                .await?;
            claimed.extend(stored(StreamRangeReply { ids: reply.claimed }));
            if reply.next_stream_id == "0-0" {
                break;
            }
            start = reply.next_stream_id;
        }
        Ok(claimed)
    }

    async fn ack_changes(&self, group: &str, seqs: &[Seq]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let key = self.keys.changes();
        let ids: Vec<String> = seqs.iter().map(Seq::to_string).collect();
        self.run(async |c| c.xack::<_, _, _, ()>(&key, group, &ids).await)
            .await
    }

    async fn first_seen(&self, gateway: &str) -> Result<HashMap<String, u64>, StoreError> {
        let key = self.keys.first_seen(gateway);
        self.run(async |c| c.hgetall(&key).await).await
    }

    async fn remember_first_seen(
        &self,
        gateway: &str,
        seen: &[(String, u64)],
    ) -> Result<(), StoreError> {
        let key = self.keys.first_seen(gateway);
        for chunk in seen.chunks(FIRST_SEEN_CHUNK) {
            let mut pipe = redis::pipe();
            for (id, at) in chunk {
                pipe.hset_nx(&key, id, *at).ignore();
            }
            self.run(async |c| pipe.query_async::<()>(c).await).await?;
        }
        Ok(())
    }

    async fn notify_dropped(&self, gateway: &str, nonce: &str) -> Result<u64, StoreError> {
        if self.pubsub_url.is_none() {
            return Ok(0);
        }
        let channel = self.keys.events();
        let message = Notice::encode(gateway, nonce);
        self.run(async |c| c.publish(&channel, &message).await)
            .await
    }

    async fn acknowledge(&self, nonce: &str) -> Result<(), StoreError> {
        let key = self.keys.ack(nonce);
        let ttl_ms = crate::cache::millis(ACK_TTL);
        let mut pipe = redis::pipe();
        pipe.incr(&key, 1)
            .ignore()
            .pexpire(&key, ttl_ms as i64)
            .ignore();
        self.run(async |c| pipe.query_async::<()>(c).await).await
    }

    async fn acknowledgements(&self, nonce: &str) -> Result<u64, StoreError> {
        let key = self.keys.ack(nonce);
        let count: Option<u64> = self.run(async |c| c.get(&key).await).await?;
        Ok(count.unwrap_or(0))
    }

    fn notices(&self) -> Option<mpsc::Receiver<Notice>> {
        let url = self.pubsub_url.clone()?;
        Some(super::pubsub::feed(url, self.keys.events()))
    }
}

fn pool_config() -> PoolConfig {
    let mut config = PoolConfig::new(POOL_SIZE);
    config.timeouts = Timeouts {
        wait: Some(OP_TIMEOUT),
        create: Some(OP_TIMEOUT),
        recycle: Some(OP_TIMEOUT),
    };
    config
}

/// The URL without its password, for logs.
fn redacted(url: &str) -> String {
    match redis::parse_redis_url(url) {
        Some(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Some(u) => u.to_string(),
        None => "(unparseable URL)".into(),
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Pending records claimed per round trip, and round trips at most.
const CLAIM_PAGE: usize = 100;
const CLAIM_PAGES: usize = 1000;

/// How many first-seen times one round trip writes.
const FIRST_SEEN_CHUNK: usize = 1000;

/// Stream entries as change records; an entry missing a field is skipped
/// (nothing but this service writes the stream).
fn stored(reply: StreamRangeReply) -> Vec<Stored> {
    reply
        .ids
        .into_iter()
        .filter_map(|entry| {
            Some(Stored {
                seq: entry.id.parse().ok()?,
                fetch: entry.get("f")?,
                json: entry.get("r")?,
            })
        })
        .collect()
}
