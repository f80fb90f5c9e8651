//! Catalog views kept already serialised — and already compressed — so that
//! a hot read of a large catalog costs what sending bytes from memory costs.
//!
//! A catalog answer is `{"data":[…],"gateways":{…},"total":N}`. `data` is the
//! heavy part (tens of thousands of models for a real aggregator) and changes
//! only when an entry does; `gateways` is small but holds `age_ms`, which
//! changes every millisecond. So a view caches the `data` bytes, keyed by the
//! query and by the revisions of the entries it was built from (a list that
//! changes — here or, through the store sync, on another instance — makes a
//! new key; a revalidation that brings the same list back keeps it), and each
//! answer is spliced together around it: head, cached view, fresh tail.
//!
//! For `Accept-Encoding: gzip` the view is kept as raw DEFLATE ending on a
//! byte boundary (a sync flush) together with its CRC-32. An answer is one
//! valid gzip member made of the gzip header, the head as a *stored* DEFLATE
//! block, the cached DEFLATE, the tail as a stored block marked final, and a
//! trailer whose CRC-32 is combined from the three parts. DEFLATE allows
//! this: blocks may follow one another at any byte boundary, each compressed
//! part only refers back into itself, and only the last block is final.
//! Stored blocks cost no compressor per request: the head and tail are a few
//! kilobytes, the view is where the bytes are. A view is compressed at the
//! fastest level first and at the best level only once it is reused (in the
//! background, one at a time): a one-off query never pays the best level.
//!
//! Every cache here is bounded by the bytes it really holds (an assembled
//! answer counts the view it sends, since it keeps it alive), and each has a
//! single shard: a shard admits no item above its own share of the capacity,
//! and the full catalog of 100,000 models (about 100 MB of JSON) must fit.
//! A key that stops being asked for (an old version, a one-off query) is
//! evicted by weight; answers past their reuse time are swept out by
//! [`Views::evict_expired`]. Together: the memory a deployment plans for is
//! the entries themselves plus at most [`JSON_CAPACITY`] + [`GZIP_CAPACITY`]
//! + [`ANSWER_CAPACITY`], whatever the queries.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use crc32fast::Hasher as Crc;
use flate2::Compression;
use flate2::write::DeflateEncoder;
use http_body::{Frame, SizeHint};
use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};

use super::caching::CacheHeaders;
use crate::cache::ReadOutcome;
use crate::gateways::Model;
use crate::stats::{ReadSlot, Stats};

/// Bytes of serialised views kept, and of compressed ones.
pub const JSON_CAPACITY: u64 = 192 * 1024 * 1024;
pub const GZIP_CAPACITY: u64 = 64 * 1024 * 1024;
/// Views expected at once (queries × versions), to size the cache's tables.
const EXPECTED_VIEWS: usize = 256;

/// A page of models, serialised: `[…]`.
pub struct JsonView {
    pub data: Bytes,
    pub summary: Summary,
}

/// What an answer says about its page besides the page itself.
#[derive(Clone, Default)]
pub struct Summary {
    /// Matches before paging.
    pub total: usize,
    /// The facet counts, serialised, when asked for.
    pub facets: Option<Bytes>,
}

impl Summary {
    fn bytes(&self) -> usize {
        self.facets.as_ref().map_or(0, Bytes::len)
    }
}

/// The same page as raw DEFLATE, sync-flushed, with what the gzip trailer needs.
pub struct GzipView {
    pub deflate: Bytes,
    pub crc: Crc,
    pub len: u64,
    pub summary: Summary,
    /// Compressed at the best level (else the fastest, until it is reused).
    best: bool,
    /// A recompression at the best level was started.
    upgrading: std::sync::atomic::AtomicBool,
}

type BytesCache<V> =
    Cache<String, Arc<V>, ByBytes, DefaultHashBuilder, DefaultLifecycle<String, Arc<V>>>;

pub struct Views {
    json: Arc<BytesCache<JsonView>>,
    gzip: Arc<BytesCache<GzipView>>,
    answers: BytesCache<Answer>,
    /// Recompressions at the best level run one at a time, in the
    /// background: a bounded share of the CPU, never on a request's path.
    upgrades: Arc<tokio::sync::Semaphore>,
    /// Answers replayed before routing ([`Views::replay`]).
    replays: AtomicU64,
}

/// How long an assembled answer is reused: what `age_ms` may lag by.
pub const ANSWER_TTL_MS: u64 = 100;
/// Bytes of assembled answers kept, the views they send included (shared
/// with the view caches, so this bounds what answers keep alive after their
/// views were evicted).
pub const ANSWER_CAPACITY: u64 = 128 * 1024 * 1024;
/// What an answer weighs beyond its body: its headers and bookkeeping.
const ANSWER_OVERHEAD: usize = 1024;

/// A whole answer, assembled once and sent by every request that asks for
/// the same page, states and encoding within [`ANSWER_TTL_MS`].
pub struct Answer {
    headers: HeaderMap,
    parts: Vec<Bytes>,
    /// Bytes of the body, the shared view included.
    body_bytes: usize,
    cache: CacheHeaders,
    /// Reused until then (ms since epoch); 0: not reusable.
    valid_until: u64,
    /// Each gateway's read outcome, counted again on reuse.
    reads: Arc<[(Option<ReadSlot>, ReadOutcome)]>,
    /// `headers` and those the router's layers add, made by the first
    /// replay ([`Answer::replay`]) for every one after it.
    replayed: OnceLock<HeaderMap>,
}

impl Answer {
    /// `parts` sent as JSON (gzip-encoded when `gzip`), with `cache`'s headers.
    pub fn new(parts: Vec<Bytes>, gzip: bool, cache: CacheHeaders) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        cache.apply(&mut headers);
        Self {
            headers,
            body_bytes: parts.iter().map(Bytes::len).sum(),
            parts,
            cache,
            valid_until: 0,
            reads: Arc::new([]),
            replayed: OnceLock::new(),
        }
    }

    /// This answer, reusable until `valid_until`.
    pub fn reusable(self, valid_until: u64, reads: Arc<[(Option<ReadSlot>, ReadOutcome)]>) -> Self {
        Self {
            valid_until,
            reads,
            ..self
        }
    }

    /// A reuse is a read like any other for the stats and metrics.
    pub fn count_reads(&self, stats: &Stats) {
        stats.read_all(&self.reads);
    }

    /// The answer, or 304 when the client already has it.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        match self.not_modified(request) {
            Some(response) => response,
            None => self.with_headers(self.headers.clone()),
        }
    }

    /// [`Answer::respond`] for a request that skipped the router: `layered`
    /// adds what the router's layers would have added to the response.
    pub fn replay(&self, request: &HeaderMap, layered: fn(&mut HeaderMap)) -> Response {
        if let Some(mut response) = self.not_modified(request) {
            layered(response.headers_mut());
            return response;
        }
        let headers = self.replayed.get_or_init(|| {
            let mut headers = self.headers.clone();
            layered(&mut headers);
            headers
        });
        self.with_headers(headers.clone())
    }

    /// 304, when the request's `If-None-Match` names this answer.
    fn not_modified(&self, request: &HeaderMap) -> Option<Response> {
        let seen = self.cache.not_modified(request);
        seen.then(|| super::catalog::not_modified(&self.cache))
    }

    fn with_headers(&self, headers: HeaderMap) -> Response {
        let mut response = Response::new(body(self.parts.iter().cloned()));
        *response.headers_mut() = headers;
        response
    }
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<String, Arc<JsonView>> for ByBytes {
    fn weight(&self, key: &String, view: &Arc<JsonView>) -> u64 {
        (key.len() + view.data.len() + view.summary.bytes()) as u64
    }
}

impl Weighter<String, Arc<Answer>> for ByBytes {
    fn weight(&self, key: &String, answer: &Arc<Answer>) -> u64 {
        (key.len() + answer.body_bytes + ANSWER_OVERHEAD) as u64
    }
}

impl Weighter<String, Arc<GzipView>> for ByBytes {
    fn weight(&self, key: &String, view: &Arc<GzipView>) -> u64 {
        (key.len() + view.deflate.len() + view.summary.bytes()) as u64
    }
}

impl Default for Views {
    fn default() -> Self {
        Self {
            json: Arc::new(bytes_cache(JSON_CAPACITY)),
            gzip: Arc::new(bytes_cache(GZIP_CAPACITY)),
            answers: bytes_cache(ANSWER_CAPACITY),
            upgrades: Arc::new(tokio::sync::Semaphore::new(1)),
            replays: AtomicU64::new(0),
        }
    }
}

/// A cache of at most `capacity` bytes in one shard, so that any item up to
/// nearly `capacity` is admitted (a sharded cache refuses items above one
/// shard's share: the full catalog would then be rebuilt on every read).
/// Lookups take the shard's lock for reading only; inserts are rare (once
/// per query and version, or per answer slot).
fn bytes_cache<V>(capacity: u64) -> BytesCache<V>
where
    ByBytes: Weighter<String, Arc<V>>,
{
    let options = OptionsBuilder::new()
        .shards(1)
        .estimated_items_capacity(EXPECTED_VIEWS)
        .weight_capacity(capacity)
        .build()
        .expect("BUG: the cache options are complete");
    Cache::with_options(
        options,
        ByBytes,
        DefaultHashBuilder::default(),
        DefaultLifecycle::default(),
    )
}

/// Builds a view when it is not cached: selects the page and serialises it.
pub type Source = Box<dyn FnOnce() -> JsonView + Send>;

impl JsonView {
    /// One model, serialised.
    pub fn of_one(model: &Model) -> Self {
        let data = serde_json::to_vec(model).expect("BUG: a model serialises");
        Self {
            data: Bytes::from(data),
            summary: Summary {
                total: 1,
                facets: None,
            },
        }
    }

    /// `page` serialised, with what is said about it.
    pub fn of(page: &[&Model], summary: Summary) -> Self {
        let data = serde_json::to_vec(page).expect("BUG: models serialise");
        Self {
            data: Bytes::from(data),
            summary,
        }
    }
}

impl Views {
    /// The answer kept for `key`, if it still holds at `now`.
    pub fn answer(&self, key: &str, now: u64) -> Option<Arc<Answer>> {
        self.answers.get(key).filter(|a| now < a.valid_until)
    }

    /// [`Views::answer`], for the front door (`super::replay`): a hit is
    /// counted as a replay.
    pub fn replay(&self, key: &str, now: u64) -> Option<Arc<Answer>> {
        let answer = self.answer(key, now)?;
        self.replays.fetch_add(1, Ordering::Relaxed);
        Some(answer)
    }

    /// Answers replayed before routing since start.
    pub fn replayed(&self) -> u64 {
        self.replays.load(Ordering::Relaxed)
    }

    /// Keeps `answer` for the requests that follow within [`ANSWER_TTL_MS`].
    pub fn keep_answer(&self, key: String, answer: Arc<Answer>) {
        self.answers.insert(key, answer);
    }

    /// The answer kept for `key` if it still holds at `now` (its reads
    /// counted again in `stats`), else the one `build` makes, kept for the
    /// requests that follow within [`ANSWER_TTL_MS`]. Requests asking at
    /// the same moment wait for that one build instead of each making their
    /// own: when an entry lands (a new generation), every connection's next
    /// request misses at once.
    pub async fn answer_or_build<E>(
        &self,
        key: &str,
        now: u64,
        stats: &Stats,
        build: impl Future<Output = Result<Arc<Answer>, E>>,
    ) -> Result<Arc<Answer>, E> {
        match self.answers.get_value_or_guard_async(key).await {
            Ok(answer) if now < answer.valid_until => {
                answer.count_reads(stats);
                Ok(answer)
            }
            Ok(_) => {
                let answer = build.await?;
                self.answers.insert(key.to_owned(), Arc::clone(&answer));
                Ok(answer)
            }
            Err(guard) => {
                let answer = build.await?;
                let _ = guard.insert(Arc::clone(&answer));
                Ok(answer)
            }
        }
    }

    /// Drops the answers no request may reuse any more (past `valid_until`),
    /// so that they stop holding the views they send.
    pub fn evict_expired(&self, now: u64) {
        self.answers.retain(|_, answer| now < answer.valid_until);
    }

    /// Bytes held by each cache: serialised views, compressed views, answers.
    pub fn weights(&self) -> [u64; 3] {
        [
            self.json.weight(),
            self.gzip.weight(),
            self.answers.weight(),
        ]
    }

    /// The serialised page for `key`; `source` is called (off the async
    /// threads) only when it is not cached. Concurrent callers of one key
    /// share one build.
    pub async fn json(&self, key: &str, source: Source) -> Arc<JsonView> {
        let build = async {
            crate::telemetry::metrics::view_built("json");
            let view = tokio::task::spawn_blocking(move || Arc::new(source()))
                .await
                .expect("BUG: serialising a view panicked");
            Ok::<_, std::convert::Infallible>(view)
        };
        let Ok(view) = self.json.get_or_insert_async(key, build).await;
        view
    }

    /// The compressed page for `key`, built from its JSON view. A page is
    /// first compressed at the fastest level: most one-off queries are never
    /// asked again, and must not pay the best level. The first reuse starts
    /// its recompression at the best level in the background, which then
    /// replaces it for the many requests that follow.
    pub async fn gzip(&self, key: &str, source: Source) -> Arc<GzipView> {
        if let Some(view) = self.gzip.get(key) {
            self.upgrade(key, &view);
            return view;
        }
        let build = async {
            let json = self.json(key, source).await;
            crate::telemetry::metrics::view_built("gzip");
            let view = tokio::task::spawn_blocking(move || {
                Arc::new(GzipView::of(&json, Compression::fast()))
            })
            .await
            .expect("BUG: compressing a view panicked");
            Ok::<_, std::convert::Infallible>(view)
        };
        let Ok(view) = self.gzip.get_or_insert_async(key, build).await;
        view
    }

    /// Recompresses a reused fast-level view at the best level, off the
    /// request path and at the background threads' priority, one at a time
    /// (a busy recompressor skips: the next reuse tries again).
    fn upgrade(&self, key: &str, view: &GzipView) {
        use std::sync::atomic::Ordering;
        if view.best || view.upgrading.load(Ordering::Relaxed) {
            return;
        }
        let Some(json) = self.json.get(key) else {
            return;
        };
        let Ok(permit) = Arc::clone(&self.upgrades).try_acquire_owned() else {
            return;
        };
        if view.upgrading.swap(true, Ordering::AcqRel) {
            return;
        }
        let (gzip, key) = (Arc::clone(&self.gzip), key.to_owned());
        tokio::spawn(crate::background::run(move || {
            let best = GzipView::of(&json, Compression::best());
            crate::telemetry::metrics::view_built("gzip-best");
            // Unless the page was dropped meanwhile (a newer version).
            if gzip.get(&key).is_some() {
                gzip.insert(key, Arc::new(GzipView { best: true, ..best }));
            }
            drop(permit);
        }));
    }
}

impl GzipView {
    fn of(json: &JsonView, level: Compression) -> Self {
        let mut crc = Crc::new();
        crc.update(&json.data);
        Self {
            deflate: Bytes::from(deflate(&json.data, level)),
            crc,
            len: json.data.len() as u64,
            summary: json.summary.clone(),
            best: level == Compression::best(),
            upgrading: Default::default(),
        }
    }
}

/// The answer's parts around the cached view.
pub fn head() -> &'static [u8] {
    b"{\"data\":"
}

/// Splices one gzip member around a cached view: header, `head` stored,
/// the view, `tail` stored as the final block, trailer.
pub fn gzip_parts(head: &[u8], view: &GzipView, tail: &[u8]) -> [Bytes; 3] {
    /// ID1 ID2, CM = deflate, no flags, no mtime, no extra flags, OS unknown.
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut first = Vec::with_capacity(HEADER.len() + head.len() + 5);
    first.extend(HEADER);
    stored_blocks(&mut first, head, false);
    let mut last = Vec::with_capacity(tail.len() + 13);
    stored_blocks(&mut last, tail, true);
    let mut crc = Crc::new();
    crc.update(head);
    crc.combine(&view.crc);
    let mut tail_crc = Crc::new();
    tail_crc.update(tail);
    crc.combine(&tail_crc);
    let len = head.len() as u64 + view.len + tail.len() as u64;
    last.extend(crc.finalize().to_le_bytes());
    // ISIZE is the length modulo 2^32.
    last.extend((len as u32).to_le_bytes());
    [Bytes::from(first), view.deflate.clone(), Bytes::from(last)]
}

/// A body sent as these parts in turn, without copying them, with its exact
/// length known (so it goes out with `Content-Length`, not chunked).
pub fn body(parts: impl IntoIterator<Item = Bytes>) -> axum::body::Body {
    let parts: VecDeque<Bytes> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    let remaining = parts.iter().map(|p| p.len() as u64).sum();
    axum::body::Body::new(Parts { parts, remaining })
}

struct Parts {
    parts: VecDeque<Bytes>,
    remaining: u64,
}

impl http_body::Body for Parts {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(this.parts.pop_front().map(|part| {
            this.remaining -= part.len() as u64;
            Ok(Frame::data(part))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// `bytes` as stored (uncompressed) DEFLATE blocks of at most 65535 bytes,
/// starting at a byte boundary; the last one final when `last`.
fn stored_blocks(out: &mut Vec<u8>, bytes: &[u8], last: bool) {
    const MAX: usize = u16::MAX as usize;
    let count = bytes.len().div_ceil(MAX).max(1);
    for (i, chunk) in bytes
        .chunks(MAX)
        .chain(bytes.is_empty().then_some(&[][..]))
        .enumerate()
    {
        // BFINAL in bit 0, BTYPE = 00 (stored), then padding to the byte.
        out.push(u8::from(last && i + 1 == count));
        let len = chunk.len() as u16;
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(chunk);
    }
}

/// Raw DEFLATE of `input` ending with a sync flush (no final block), on a
/// byte boundary, so more DEFLATE may follow.
fn deflate(input: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(input.len() / 4 + 64), level);
    encoder
        .write_all(input)
        .expect("BUG: writing to a Vec cannot fail");
    encoder.flush().expect("BUG: writing to a Vec cannot fail");
    // Taken before the encoder is dropped (which would finish the stream).
    std::mem::take(encoder.get_mut())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn view_of(data: &[u8]) -> GzipView {
        let mut crc = Crc::new();
        crc.update(data);
        GzipView {
            deflate: Bytes::from(deflate(data, Compression::default())),
            crc,
            len: data.len() as u64,
            summary: Summary::default(),
            best: false,
            upgrading: Default::default(),
        }
    }

    #[test]
    fn a_spliced_gzip_member_decodes_to_the_whole_answer() {
        let data = br#"[{"id":"a","name":"A model"},{"id":"b","name":"B model"}]"#.repeat(500);
        let tail = br#","gateways":{"g":{"status":"fresh","age_ms":12}},"total":1000}"#;
        let parts = gzip_parts(head(), &view_of(&data), tail);
        let gzip: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        assert!(
            gzip.len() < data.len() / 10,
            "compressed: {} bytes",
            gzip.len()
        );

        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut decoded)
            .expect("a valid gzip stream (CRC and length checked)");
        let expected = [head(), &data[..], &tail[..]].concat();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn heads_and_tails_over_a_stored_block_are_split_into_several() {
        let long_tail = format!(",\"pad\":\"{}\"}}", "x".repeat(200_000));
        let parts = gzip_parts(head(), &view_of(b"[1]"), long_tail.as_bytes());
        let gzip: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, format!("{{\"data\":[1]{long_tail}"));
    }

    #[test]
    fn an_empty_view_splices_too() {
        let parts = gzip_parts(head(), &view_of(b"[]"), b",\"total\":0}");
        let gzip: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, "{\"data\":[],\"total\":0}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_miss_the_same_answer_share_one_build() {
        use std::sync::atomic::AtomicUsize;
        let views = Arc::new(Views::default());
        let store: Arc<dyn crate::store::Store> = Arc::new(crate::store::EmbeddedStore::new());
        let stats = Arc::new(Stats::new(store, ["g"]));
        let builds = Arc::new(AtomicUsize::new(0));
        let now = 1_000;
        let requests: Vec<_> = (0..16)
            .map(|_| {
                let (views, stats, builds) = (views.clone(), stats.clone(), builds.clone());
                tokio::spawn(async move {
                    let build = async {
                        builds.fetch_add(1, Ordering::SeqCst);
                        // Long enough for every request to arrive meanwhile.
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        let cache = CacheHeaders::new(&[], now, "q");
                        let answer = Answer::new(vec![Bytes::from_static(b"{}")], false, cache);
                        Ok::<_, Infallible>(Arc::new(answer.reusable(now + 100, Arc::new([]))))
                    };
                    let answer = views.answer_or_build("list|?q", now, &stats, build).await;
                    answer.unwrap()
                })
            })
            .collect();
        let answers: Vec<Arc<Answer>> = futures::future::join_all(requests)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            builds.load(Ordering::SeqCst),
            1,
            "one build for 16 requests"
        );
        assert!(answers.iter().all(|a| Arc::ptr_eq(a, &answers[0])));
    }
}
