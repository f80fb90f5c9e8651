//! The in-process store used when no Redis is configured: one instance,
//! nothing survives a restart, same semantics as Redis otherwise.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Notice, SaveOutcome, Store, StoreError};
use crate::cache::{Entry, now_ms};
use crate::changes::{Seq, Stored};

#[derive(Default)]
pub struct EmbeddedStore {
    // A std Mutex: nothing is awaited while it is held.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    locks: HashMap<String, (String, Instant)>,
    backoffs: HashMap<String, (String, Instant)>,
    docs: HashMap<String, String>,
    counters: HashMap<String, u64>,
    claims: HashMap<String, (String, Instant)>,
    epochs: HashMap<String, u64>,
    changes: VecDeque<Stored>,
    last_seq: Seq,
    first_seen: HashMap<String, HashMap<String, u64>>,
    groups: HashMap<String, Group>,
}

/// A consumer group of the change stream, as Redis keeps one.
struct Group {
    /// The last record given to a consumer.
    delivered: Seq,
    /// Records given and not acknowledged, and to whom.
    pending: std::collections::BTreeMap<Seq, String>,
}

impl EmbeddedStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated (every
        // change is a single map operation), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// The entry if it has not expired; expired ones are dropped, as Redis would.
    fn live_entry(&mut self, gateway: &str, now: u64) -> Option<&Entry> {
        if self
            .entries
            .get(gateway)
            .is_some_and(|e| e.stale_until <= now)
        {
            self.entries.remove(gateway);
        }
        self.entries.get(gateway)
    }
}

fn live<'a>(map: &'a mut HashMap<String, (String, Instant)>, key: &str) -> Option<&'a String> {
    if map
        .get(key)
        .is_some_and(|(_, until)| *until <= Instant::now())
    {
        map.remove(key);
    }
    map.get(key).map(|(value, _)| value)
}

#[async_trait]
impl Store for EmbeddedStore {
    fn describe(&self) -> String {
        "embedded in-process store (single instance, not persisted)".into()
    }

    fn entry_key(&self, gateway: &str) -> String {
        format!("models:{gateway}")
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn versions(&self, gateways: &[&str]) -> Result<Vec<Option<u64>>, StoreError> {
        let now = now_ms();
        let mut state = self.state();
        Ok(gateways
            .iter()
            .map(|g| state.live_entry(g, now).map(|e| e.fetched_at))
            .collect())
    }

    async fn load(&self, gateway: &str) -> Result<Option<Entry>, StoreError> {
        Ok(self.state().live_entry(gateway, now_ms()).cloned())
    }

    async fn save_at(
        &self,
        gateway: &str,
        entry: &Entry,
        epoch: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        let mut state = self.state();
        let current_epoch = state.epochs.get(gateway).copied().unwrap_or(0);
        if epoch.is_some_and(|e| e != current_epoch) {
            return Ok(SaveOutcome::Invalidated);
        }
        if entry.stale_until <= now_ms() {
            return Ok(SaveOutcome::KeptNewer);
        }
        if let Some(current) = state.live_entry(gateway, now_ms()) {
            if current.fetched_at >= entry.fetched_at {
                return Ok(SaveOutcome::KeptNewer);
            }
            if entry.models.is_empty() && !current.models.is_empty() {
                return Ok(SaveOutcome::KeptNonEmpty(current.models.len()));
            }
        }
        state.entries.insert(gateway.to_owned(), entry.clone());
        Ok(SaveOutcome::Saved)
    }

    async fn delete(&self, gateway: &str) -> Result<bool, StoreError> {
        Ok(self.state().entries.remove(gateway).is_some())
    }

    async fn epoch(&self, gateway: &str) -> Result<u64, StoreError> {
        Ok(self.state().epochs.get(gateway).copied().unwrap_or(0))
    }

    async fn invalidate(&self, gateway: &str) -> Result<bool, StoreError> {
        let mut state = self.state();
        *state.epochs.entry(gateway.to_owned()).or_default() += 1;
        state.locks.remove(gateway);
        Ok(state.entries.remove(gateway).is_some())
    }

    async fn renew(&self, gateway: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut state = self.state();
        if live(&mut state.locks, gateway).is_none_or(|owner| owner != token) {
            return Ok(false);
        }
        state
            .locks
            .insert(gateway.to_owned(), (token.to_owned(), Instant::now() + ttl));
        Ok(true)
    }

    async fn try_lock(
        &self,
        gateway: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        if let Some(owner) = live(&mut state.locks, gateway) {
            return Ok(owner == token);
        }
        let until = Instant::now() + ttl;
        state
            .locks
            .insert(gateway.to_owned(), (token.to_owned(), until));
        Ok(true)
    }

    async fn lock_held(&self, gateway: &str) -> Result<bool, StoreError> {
        Ok(live(&mut self.state().locks, gateway).is_some())
    }

    async fn unlock(&self, gateway: &str, token: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        if live(&mut state.locks, gateway).is_some_and(|owner| owner == token) {
            state.locks.remove(gateway);
        }
        Ok(())
    }

    async fn set_backoff(
        &self,
        gateway: &str,
        error: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let until = Instant::now() + ttl;
        self.state()
            .backoffs
            .insert(gateway.to_owned(), (error.to_owned(), until));
        Ok(())
    }

    async fn backoff(&self, gateway: &str) -> Result<Option<String>, StoreError> {
        Ok(live(&mut self.state().backoffs, gateway).cloned())
    }

    async fn clear_backoff(&self, gateway: &str) -> Result<(), StoreError> {
        self.state().backoffs.remove(gateway);
        Ok(())
    }

    async fn put_doc(&self, name: &str, json: &str) -> Result<(), StoreError> {
        self.state().docs.insert(name.to_owned(), json.to_owned());
        Ok(())
    }

    async fn get_doc(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.state().docs.get(name).cloned())
    }

    async fn swap_doc(
        &self,
        name: &str,
        expected: Option<&str>,
        json: &str,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.docs.get(name).map(String::as_str) != expected {
            return Ok(false);
        }
        state.docs.insert(name.to_owned(), json.to_owned());
        Ok(true)
    }

    async fn update_counters(
        &self,
        add: &[(&str, u64)],
        set: &[(&str, u64)],
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        for (field, delta) in add {
            *state.counters.entry((*field).to_owned()).or_default() += delta;
        }
        for (field, value) in set {
            state.counters.insert((*field).to_owned(), *value);
        }
        Ok(())
    }

    async fn counters(&self) -> Result<HashMap<String, u64>, StoreError> {
        Ok(self.state().counters.clone())
    }

    async fn reset_counters(&self) -> Result<(), StoreError> {
        self.state().counters.clear();
        Ok(())
    }

    async fn claim(&self, name: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut state = self.state();
        if live(&mut state.claims, name).is_some() {
            return Ok(false);
        }
        let until = Instant::now() + ttl;
        state.claims.insert(name.to_owned(), (String::new(), until));
        Ok(true)
    }

    /// One instance: the caller dropped its own copy, nobody else to tell.
    async fn append_changes(
        &self,
        fetch: &str,
        records: &[String],
        max: usize,
    ) -> Result<Vec<Seq>, StoreError> {
        let mut state = self.state();
        let mut seqs = Vec::with_capacity(records.len());
        for json in records {
            let now = now_ms();
            let last = state.last_seq;
            // As Redis numbers stream entries: by millisecond, then in order.
            let seq = if now > last.ms {
                Seq { ms: now, n: 0 }
            } else {
                Seq {
                    ms: last.ms,
                    n: last.n + 1,
                }
            };
            state.last_seq = seq;
            state.changes.push_back(Stored {
                seq,
                fetch: fetch.to_owned(),
                json: json.clone(),
            });
            seqs.push(seq);
        }
        while state.changes.len() > max {
            state.changes.pop_front();
        }
        Ok(seqs)
    }

    async fn changes_after(
        &self,
        after: Option<Seq>,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let state = self.state();
        let start = after.map_or(0, |after| state.changes.partition_point(|c| c.seq <= after));
        Ok(state.changes.range(start..).take(count).cloned().collect())
    }

    async fn changes_before(
        &self,
        before: Option<Seq>,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let state = self.state();
        let end = before.map_or(state.changes.len(), |before| {
            state.changes.partition_point(|c| c.seq < before)
        });
        Ok(state
            .changes
            .range(..end)
            .rev()
            .take(count)
            .cloned()
            .collect())
    }

    async fn create_group(&self, group: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        let delivered = state.last_seq;
        state.groups.entry(group.to_owned()).or_insert(Group {
            delivered,
            pending: Default::default(),
        });
        Ok(())
    }

    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let mut state = self.state();
        let state = &mut *state;
        let Some(group) = state.groups.get_mut(group) else {
            return Err(StoreError(format!("no consumer group {group}")));
        };
        let start = state.changes.partition_point(|c| c.seq <= group.delivered);
        let given: Vec<Stored> = state.changes.range(start..).take(count).cloned().collect();
        for record in &given {
            group.pending.insert(record.seq, consumer.to_owned());
            group.delivered = record.seq;
        }
        Ok(given)
    }

    async fn claim_pending(&self, group: &str, consumer: &str) -> Result<Vec<Stored>, StoreError> {
        let mut state = self.state();
        let state = &mut *state;
        let Some(group) = state.groups.get_mut(group) else {
            return Err(StoreError(format!("no consumer group {group}")));
        };
        let changes = &state.changes;
        // Records trimmed from the stream meanwhile are no longer pending.
        group
            .pending
            .retain(|seq, _| changes.binary_search_by(|c| c.seq.cmp(seq)).is_ok());
        let mut claimed = Vec::new();
        for (seq, owner) in group.pending.iter_mut() {
            *owner = consumer.to_owned();
            if let Ok(i) = changes.binary_search_by(|c| c.seq.cmp(seq)) {
                claimed.push(changes[i].clone());
            }
        }
        Ok(claimed)
    }

    async fn ack_changes(&self, group: &str, seqs: &[Seq]) -> Result<(), StoreError> {
        if let Some(group) = self.state().groups.get_mut(group) {
            for seq in seqs {
                group.pending.remove(seq);
            }
        }
        Ok(())
    }

    async fn first_seen(&self, gateway: &str) -> Result<HashMap<String, u64>, StoreError> {
        Ok(self
            .state()
            .first_seen
            .get(gateway)
            .cloned()
            .unwrap_or_default())
    }

    async fn remember_first_seen(
        &self,
        gateway: &str,
        seen: &[(String, u64)],
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let known = state.first_seen.entry(gateway.to_owned()).or_default();
        for (id, at) in seen {
            known.entry(id.clone()).or_insert(*at);
        }
        Ok(())
    }

    async fn notify_dropped(&self, _gateway: &str, _nonce: &str) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn acknowledge(&self, _nonce: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn acknowledgements(&self, _nonce: &str) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn notices(&self) -> Option<mpsc::Receiver<Notice>> {
        None
    }
}
