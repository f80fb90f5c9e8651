//! CPU work that no read is waiting for runs at a lower scheduling priority.
//!
//! A revalidation parses the gateway's list, digests it and compresses it
//! for the store; a reused page is recompressed at the best level. On a busy
//! instance that work lands in the middle of reads, and on the async threads
//! or tokio's blocking pool it competes with them as an equal: twenty lists
//! revalidating at once stall every read for the ~100 ms they take. Here it
//! runs on threads of its own at nice [`NICE`], so the kernel gives a read
//! the CPU first and the background a bounded share of a busy CPU (about a
//! tenth at nice 10 against nice 0), all of an idle one. The pool grows as
//! tokio's blocking pool does, so a long job never holds up a short one.
//!
//! Priority is per thread on Linux (`setpriority` on the thread id); on other
//! systems these are plain threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

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
    pool().submit(job);
    rx.await
        .expect("BUG: background work panicked (see the log)")
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
