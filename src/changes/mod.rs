//! Changes: what each gateway added, removed or repriced, and when.
//!
//! The instance that stores a fetched list compares it with the entry it
//! replaces ([`diff`]) and appends the differences to the change stream
//! (`models:changes`, a Redis Stream; in memory on the embedded store).
//! Fetches are single-flight across instances (the fetch lock), so each real
//! change is recorded once, however many instances, readers and warms there
//! are. When each id was first listed is kept per gateway in the store
//! (`models:seen:{models:<id>}`), stamped on the models as `first_seen`
//! before they are saved: the same on every instance and across restarts,
//! and kept when an entry is invalidated.

pub mod atom;
pub mod diff;
pub mod query;
pub mod record;
pub mod webhooks;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::Notify;

pub use self::record::{Change, ChangeKind, FromTo, Seq, Stored};
use crate::cache::Entry;
use crate::catalog::aliases::Aliases;
use crate::catalog::unified::canonical_of;
use crate::gateways::{Gateway, Model};
use crate::store::{Store, StoreError};
use crate::telemetry::metrics;

/// How many records a read scans at most, whatever its filter: a filter that
/// matches little answers with what it found and a `next` to go on from.
pub const SCAN_LIMIT: usize = 20_000;
const SCAN_BATCH: usize = 1_000;

pub struct ChangeLog {
    store: Arc<dyn Store>,
    aliases: Arc<Aliases>,
    gateways: HashMap<String, Arc<Gateway>>,
    /// Records kept (`CHANGES_MAX`).
    max: usize,
    appended: Notify,
}

/// A page of records and where to go on from.
pub struct Page {
    pub data: Vec<Change>,
    /// Pass as `since` for what comes after.
    pub next: Seq,
}

impl ChangeLog {
    pub fn new(
        store: Arc<dyn Store>,
        aliases: Arc<Aliases>,
        gateways: &[Arc<Gateway>],
        max: usize,
    ) -> Self {
        Self {
            store,
            aliases,
            gateways: gateways
                .iter()
                .map(|g| (g.id.clone(), Arc::clone(g)))
                .collect(),
            max,
            appended: Notify::new(),
        }
    }

    /// Gives each model the time its id was first listed by `gateway`
    /// (`now` for ids never seen); the ids seen for the first time, to
    /// remember once the list is stored. The entry `before` it already says
    /// for the ids it holds: the store's memory is read only for the others.
    pub async fn stamp(
        &self,
        gateway: &str,
        models: &mut [Model],
        now: u64,
        before: Option<&Entry>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        // Most of a list is the same offers in the same order: those take
        // their `first_seen` from the list they replace, unhashed.
        let old = before.map_or(&[][..], |e| e.models.as_slice());
        let mut unknown = false;
        for (i, model) in models.iter_mut().enumerate() {
            model.first_seen = old
                .get(i)
                .filter(|o| o.id == model.id)
                .and_then(|o| o.first_seen);
            unknown |= model.first_seen.is_none();
        }
        if !unknown {
            return Ok(Vec::new());
        }
        let mut known: FxHashMap<&str, u64> = old
            .iter()
            .filter_map(|m| Some((m.id.as_str(), m.first_seen?)))
            .collect();
        let remembered;
        if models
            .iter()
            .any(|m| m.first_seen.is_none() && !known.contains_key(m.id.as_str()))
        {
            remembered = self.store.first_seen(gateway).await?;
            for (id, at) in &remembered {
                known.entry(id.as_str()).or_insert(*at);
            }
        }
        let mut new = Vec::new();
        let mut new_ids = HashSet::new();
        for model in models.iter_mut().filter(|m| m.first_seen.is_none()) {
            model.first_seen = Some(match known.get(model.id.as_str()) {
                Some(at) => *at,
                None => {
                    if new_ids.insert(model.id.clone()) {
                        new.push((model.id.clone(), now));
                    }
                    now
                }
            });
        }
        Ok(new)
    }

    /// Records what changed from `before` (the entry `stored` replaced;
    /// `None` for a gateway's first list) and remembers `first_seen` of the
    /// ids new to it. Returns how many records were appended.
    pub async fn record(
        &self,
        gateway: &str,
        before: Option<&Entry>,
        stored: &Entry,
        first_seen: &[(String, u64)],
    ) -> Result<usize, StoreError> {
        self.store.remember_first_seen(gateway, first_seen).await?;
        let changes = self.changes_of(gateway, before, stored).await;
        if changes.is_empty() {
            return Ok(0);
        }
        let records: Vec<String> = changes
            .iter()
            .map(|c| serde_json::to_string(c).expect("BUG: a change serialises"))
            .collect();
        let fetch = format!("{gateway}@{}", stored.fetched_at);
        self.store
            .append_changes(&fetch, &records, self.max)
            .await?;
        for change in &changes {
            metrics::change_recorded(gateway, change.kind.as_str());
        }
        self.appended.notify_waiters();
        Ok(records.len())
    }

    /// The differences from `before` to `stored`, canonical ids named: per
    /// record, so on the background threads.
    async fn changes_of(
        &self,
        gateway: &str,
        before: Option<&Entry>,
        stored: &Entry,
    ) -> Vec<Change> {
        let before = before.map(|e| (Arc::clone(&e.models), Arc::clone(&e.digests)));
        let (after, digests) = (Arc::clone(&stored.models), Arc::clone(&stored.digests));
        let at = stored.fetched_at;
        let gw = self.gateways.get(gateway).cloned();
        let (aliases, gateway) = (Arc::clone(&self.aliases), gateway.to_owned());
        crate::background::run(move || {
            let was = before.as_ref().map(|(m, d)| diff::Digested::new(m, d));
            let is = diff::Digested::new(&after, &digests);
            let mut changes = diff::diff_digested(&gateway, was, is, at);
            if let Some(gw) = gw {
                let before = before.as_ref().map(|(m, _)| m.as_slice());
                name_canonicals(&gw, &aliases, &mut changes, before, &after);
            }
            changes
        })
        .await
    }

    /// Resolves when records are appended on this instance.
    pub async fn appended(&self) {
        self.appended.notified().await;
    }

    /// Up to `limit` records matching `keep`: after `since`, oldest first;
    /// or without `since`, the latest ones (still oldest first).
    pub async fn read(
        &self,
        since: Option<Seq>,
        limit: usize,
        keep: impl Fn(&Change) -> bool,
    ) -> Result<Page, StoreError> {
        match since {
            Some(since) => self.read_after(since, limit, keep).await,
            None => self.read_latest(limit, keep).await,
        }
    }

    async fn read_after(
        &self,
        since: Seq,
        limit: usize,
        keep: impl Fn(&Change) -> bool,
    ) -> Result<Page, StoreError> {
        let mut scan = Scan::new(limit);
        let mut next = since;
        while scan.wants_more() {
            let size = scan.batch();
            let batch = self.store.changes_after(Some(next), size).await?;
            let exhausted = batch.len() < size;
            for stored in batch {
                next = stored.seq;
                if !scan.take(stored, &keep) {
                    break;
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(Page {
            data: scan.found,
            next,
        })
    }

    async fn read_latest(
        &self,
        limit: usize,
        keep: impl Fn(&Change) -> bool,
    ) -> Result<Page, StoreError> {
        let mut scan = Scan::new(limit);
        let (mut before, mut newest) = (None, None);
        while scan.wants_more() {
            let size = scan.batch();
            let batch = self.store.changes_before(before, size).await?;
            let exhausted = batch.len() < size;
            for stored in batch {
                newest.get_or_insert(stored.seq);
                before = Some(stored.seq);
                if !scan.take(stored, &keep) {
                    break;
                }
            }
            if exhausted {
                break;
            }
        }
        let mut data = scan.found;
        data.reverse();
        Ok(Page {
            data,
            next: newest.unwrap_or_default(),
        })
    }
}

/// Names each change's canonical id (the catalog's grouping), from the
/// model as it was or as it is.
fn name_canonicals(
    gw: &Gateway,
    aliases: &Aliases,
    changes: &mut [Change],
    before: Option<&[Model]>,
    after: &[Model],
) {
    // Only the changed ids are looked up: most of a list did not change.
    let wanted: FxHashSet<&str> = changes.iter().filter_map(|c| c.model.as_deref()).collect();
    if wanted.is_empty() {
        return;
    }
    let mut models: FxHashMap<&str, &Model> = FxHashMap::default();
    for model in before.unwrap_or_default().iter().chain(after) {
        if wanted.contains(model.id.as_str()) {
            models.insert(model.id.as_str(), model);
        }
    }
    drop(wanted);
    for change in changes {
        let model = change.model.as_deref().and_then(|id| models.get(id));
        change.canonical = model.map(|m| canonical_of(gw, m, aliases));
    }
}

/// A read's progress: the records kept so far, within [`SCAN_LIMIT`].
struct Scan {
    found: Vec<Change>,
    limit: usize,
    scanned: usize,
    /// Records asked of the store next: `limit` at first (enough when every
    /// record is kept), doubling up to [`SCAN_BATCH`] while a filter skips.
    next_batch: usize,
}

impl Scan {
    fn new(limit: usize) -> Self {
        Self {
            found: Vec::new(),
            limit,
            scanned: 0,
            next_batch: limit.clamp(1, SCAN_BATCH),
        }
    }

    fn batch(&mut self) -> usize {
        let size = self.next_batch;
        self.next_batch = (size * 2).min(SCAN_BATCH);
        size
    }

    fn wants_more(&self) -> bool {
        self.found.len() < self.limit && self.scanned < SCAN_LIMIT
    }

    /// Looks at one more record; whether to go on.
    fn take(&mut self, stored: Stored, keep: impl Fn(&Change) -> bool) -> bool {
        self.scanned += 1;
        if let Some(change) = stored.change().filter(|c| keep(c)) {
            self.found.push(change);
        }
        self.found.len() < self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EmbeddedStore;

    /// A log over an embedded store holding `n` records, alternately of
    /// gateways `a` and `b`, one fetch each.
    async fn log_with(n: usize) -> ChangeLog {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new());
        for i in 0..n {
            let gateway = if i % 2 == 0 { "a" } else { "b" };
            let change = Change::new(i as u64, gateway, Some(&format!("m{i}")), ChangeKind::Added);
            let json = serde_json::to_string(&change).unwrap();
            store
                .append_changes(&format!("f{i}"), &[json], 100_000)
                .await
                .unwrap();
        }
        ChangeLog::new(store, Arc::new(Aliases::default()), &[], 100_000)
    }

    fn models(page: &Page) -> Vec<&str> {
        page.data
            .iter()
            .map(|c| c.model.as_deref().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn the_latest_matches_come_oldest_first_with_the_newest_seq_as_next() {
        let log = log_with(2500).await;
        let page = log.read(None, 3, |c| c.gateway == "a").await.unwrap();
        assert_eq!(models(&page), ["m2494", "m2496", "m2498"]);
        let newest = log.read(None, 1, |_| true).await.unwrap();
        assert_eq!(models(&newest), ["m2499"]);
        assert_eq!(
            page.next, newest.next,
            "next: the stream's newest, to poll from"
        );
    }

    #[tokio::test]
    async fn after_since_a_full_page_ends_at_its_last_record_and_a_scan_at_its_limit() {
        let log = log_with(2500).await;
        let all = log.read(None, 1000, |_| true).await.unwrap();
        let since: Seq = all.data[0].seq.parse().unwrap();
        let page = log
            .read(Some(since), 2, |c| c.gateway == "b")
            .await
            .unwrap();
        assert_eq!(models(&page), ["m1501", "m1503"]);
        assert_eq!(
            page.next.to_string(),
            page.data[1].seq,
            "resume after the last given"
        );
        let none = log
            .read(Some(since), 5, |c| c.gateway == "zzz")
            .await
            .unwrap();
        assert!(none.data.is_empty());
        assert_eq!(none.next, newest_seq(&log).await, "scanned to the end");
    }

    async fn newest_seq(log: &ChangeLog) -> Seq {
        log.read(None, 1, |_| true).await.unwrap().next
    }
}
