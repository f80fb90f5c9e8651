//! CPU work that no read is waiting for runs at a lower scheduling
//! priority, and the time spent waiting for it is not counted against
//! timeouts meant for Redis or an upstream.
//!
//! A revalidation that brings a changed list parses it, digests it and
//! compresses it for the store (an unchanged one is not parsed at all:
//! `gateways::unchanged`); a reused page is recompressed at the best level.
//! On a busy instance that work lands in the middle of reads, and on the
//! async threads or tokio's blocking pool it competes with them as an
//! equal: twenty lists revalidating at once stall every read for the
//! ~100 ms they take. Here it
//! runs on threads of its own at nice [`NICE`], so the kernel gives a read
//! the CPU first and the background a bounded share of a busy CPU (about a
//! tenth at nice 10 against nice 0), all of an idle one. The pool grows as
//! tokio's blocking pool does, so a long job never holds up a short one.
//!
//! On a CPU saturated by reads that work advances slowly, by design. So a
//! bound meant for another party — the store's, an upstream's — is measured
//! with [`timeout`], whose clock stops while the bounded work waits for a
//! background job: a store that answered in time is not judged dead
//! because this instance's own CPU was busy.
//!
//! Tried and not kept (`perf sched timehist` of a revalidating instance
//! under load): `SCHED_IDLE`, under which a read's thread takes the CPU
//! back at once (its scheduling delays fell from ~5 ms to ~0.03 ms). The
//! revalidation scenario's p99 ratios went from 2.12, 1.53, 1.40 and 4.27
//! to 1.51, 1.13, 0.75 and 5.25 — mixed — while the background starved:
//! half as many revalidations in the same run, and a change-feed test
//! failed under the test suite's load. A short custom slice
//! (`sched_setattr`) changed nothing measurable.
//!
//! Priority is per thread on Linux (`setpriority` on the thread id); on
//! other systems these are plain threads.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// The nice value of background threads (0 is the default, 19 the lowest).
pub const NICE: i32 = 10;
/// Threads at most: like tokio's blocking pool, the pool grows rather than
/// queue work behind long jobs (a caller's timeout would then expire in the
/// queue, and its retry queue up again).
const MAX_THREADS: usize = 64;
/// Threads kept when idle, and how long an extra one waits for work.
const KEPT_THREADS: usize = 2;
const IDLE_EXIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// Runs `work` on a background thread; its result once done. Work whose
/// caller gave up (dropped this future, e.g. on a timeout) before it started
/// is skipped. A panic in `work` is a bug, and panics the caller too.
pub async fn run<T, F>(work: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        if !tx.is_closed() {
            let _ = tx.send(work());
        }
    });
    let _off_the_clock = Waiting::start();
    pool().submit(job);
    rx.await
        .expect("BUG: background work panicked (see the log)")
}

/// `work`'s output, or `Err` once it has taken longer than `bound` — not
/// counting the time it spent waiting for background jobs ([`run`]): the
/// bound of a call to Redis or an upstream, not of this instance's CPU.
pub async fn timeout<F: Future>(bound: Duration, work: F) -> Result<F::Output, TimedOut> {
    if WAITED.try_with(|_| ()).is_ok() {
        bounded(bound, work).await
    } else {
        WAITED
            .scope(Cell::new(Waited::default()), bounded(bound, work))
            .await
    }
}

/// `work` took longer than its bound (see [`timeout`]).
#[derive(Debug, PartialEq, Eq)]
pub struct TimedOut;

async fn bounded<F: Future>(bound: Duration, work: F) -> Result<F::Output, TimedOut> {
    let mut work = pin!(work);
    let mut deadline = Instant::now() + bound;
    let mut waited = Waited::so_far();
    loop {
        tokio::select! {
            biased;
            output = &mut work => return Ok(output),
            () = tokio::time::sleep_until(deadline) => {
                // The deadline moves by the time waited for background
                // jobs meanwhile; without any, it has passed.
                let now_waited = Waited::so_far();
                if now_waited <= waited {
                    return Err(TimedOut);
                }
                deadline += now_waited - waited;
                waited = now_waited;
            }
        }
    }
}

tokio::task_local! {
    /// How long the task has waited for background jobs, for [`timeout`].
    static WAITED: Cell<Waited>;
}

/// Time during which at least one background job was awaited.
#[derive(Clone, Copy, Default)]
struct Waited {
    total: Duration,
    /// Jobs awaited now, and since when some were.
    awaited: u32,
    since: Option<Instant>,
}

impl Waited {
    /// The task's total so far (zero outside a [`timeout`]).
    fn so_far() -> Duration {
        WAITED
            .try_with(|w| {
                let w = w.get();
                w.total + w.since.map_or(Duration::ZERO, |since| since.elapsed())
            })
            .unwrap_or_default()
    }
}

/// A wait for one background job, counted while it lasts.
struct Waiting;

impl Waiting {
    fn start() -> Self {
        let _ = WAITED.try_with(|w| {
            let mut waited = w.get();
            if waited.awaited == 0 {
                waited.since = Some(Instant::now());
            }
            waited.awaited += 1;
            w.set(waited);
        });
        Self
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = WAITED.try_with(|w| {
            let mut waited = w.get();
            waited.awaited = waited.awaited.saturating_sub(1);
            if waited.awaited == 0
                && let Some(since) = waited.since.take()
            {
                waited.total += since.elapsed();
            }
            w.set(waited);
        });
    }
}

struct Pool {
    queue: Mutex<Sender<Job>>,
    jobs: Arc<Mutex<Receiver<Job>>>,
    threads: AtomicUsize,
    idle: Arc<AtomicUsize>,
}

/// The background threads, started on first use.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        Pool {
            queue: Mutex::new(tx),
            jobs: Arc::new(Mutex::new(rx)),
            threads: AtomicUsize::new(0),
            idle: Arc::new(AtomicUsize::new(0)),
        }
    })
}

impl Pool {
    /// Queues `job`, and starts a thread for it when none is idle.
    fn submit(&self, job: Job) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .expect("BUG: the background queue is never closed");
        let idle = self.idle.load(Ordering::Acquire);
        let threads = self.threads.load(Ordering::Acquire);
        if idle == 0 && threads < MAX_THREADS {
            self.start_thread(threads);
        }
    }

    fn start_thread(&self, n: usize) {
        self.threads.fetch_add(1, Ordering::AcqRel);
        let (jobs, idle) = (Arc::clone(&self.jobs), Arc::clone(&self.idle));
        let started = std::thread::Builder::new()
            .name(format!("background-{n}"))
            .spawn(move || work_through(&jobs, &idle));
        if let Err(e) = started {
            self.threads.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(error = %e, "no background thread started; the queued work waits for one");
        }
    }
}

/// Runs jobs until none came for [`IDLE_EXIT`] (the first [`KEPT_THREADS`]
/// stay).
fn work_through(jobs: &Mutex<Receiver<Job>>, idle: &AtomicUsize) {
    lower_priority();
    let pool = pool();
    loop {
        idle.fetch_add(1, Ordering::AcqRel);
        let next = jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(IDLE_EXIT);
        idle.fetch_sub(1, Ordering::AcqRel);
        match next {
            // A panicking job drops its result sender: its caller panics,
            // this thread goes on with the next.
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(RecvTimeoutError::Timeout) => {
                let threads = pool.threads.load(Ordering::Acquire);
                if threads > KEPT_THREADS
                    && pool
                        .threads
                        .compare_exchange(threads, threads - 1, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: gettid takes no argument; setpriority on this thread's own id
    // only raises its nice value, which any thread may do.
    let result = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICE)
    };
    if result != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "background threads run at the default priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_a_background_thread_at_the_lower_priority() {
        let (name, nice) = run(|| {
            let name = std::thread::current().name().map(str::to_owned);
            (name, current_nice())
        })
        .await;
        assert!(name.unwrap().starts_with("background-"));
        if cfg!(target_os = "linux") {
            assert_eq!(nice, NICE);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_does_not_count_the_wait_for_background_work() {
        let work = async {
            // Longer than the bound, but on this instance's own CPU.
            run(|| std::thread::sleep(Duration::from_millis(300))).await;
            7
        };
        assert_eq!(timeout(Duration::from_millis(100), work).await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_cuts_off_what_waits_elsewhere_after_background_work() {
        let work = async {
            run(|| std::thread::sleep(Duration::from_millis(200))).await;
            tokio::time::sleep(Duration::from_millis(150)).await; // Redis, say
        };
        let started = Instant::now();
        assert_eq!(
            timeout(Duration::from_millis(100), work).await,
            Err(TimedOut)
        );
        let late = started.elapsed();
        assert!(late >= Duration::from_millis(300), "cut off at {late:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_nested_timeout_counts_the_same_waits() {
        let inner = timeout(
            Duration::from_millis(100),
            run(|| std::thread::sleep(Duration::from_millis(300))),
        );
        let outer = timeout(Duration::from_millis(100), inner).await;
        assert_eq!(outer, Ok(Ok(())));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_job_holds_up_no_other() {
        // As many long jobs as the threads kept when idle, at least.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let long: Vec<_> = (0..KEPT_THREADS)
            .map(|_| {
                let wait = Arc::clone(&wait);
                tokio::spawn(run(move || {
                    let wait = wait.lock().unwrap();
                    wait.recv_timeout(Duration::from_secs(10))
                }))
            })
            .collect();
        let started = std::time::Instant::now();
        for _ in 0..4 {
            let another = tokio::spawn(run(move || {
                std::thread::sleep(Duration::from_millis(300));
            }));
            tokio::time::timeout(Duration::from_secs(5), another)
                .await
                .expect("ran beside the long job")
                .unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        for job in long {
            let _ = release.send(());
            let _ = job.await;
        }
    }

    #[tokio::test]
    async fn a_panicking_job_panics_its_caller_and_the_threads_go_on() {
        let failed = tokio::spawn(run(|| -> u8 { panic!("on purpose") })).await;
        assert!(failed.is_err());
        assert_eq!(run(|| 7).await, 7);
    }

    fn current_nice() -> i32 {
        #[cfg(target_os = "linux")]
        // SAFETY: as in `lower_priority`, reading only.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        }
        #[cfg(not(target_os = "linux"))]
        0
    }
}
