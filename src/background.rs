//! CPU work that no read is waiting for runs at a lower scheduling priority.
//!
//! A revalidation parses the gateway's list, digests it and compresses it
//! for the store; a reused page is recompressed at the best level. On a busy
//! instance that work lands in the middle of reads, and on the async threads
//! or tokio's blocking pool it competes with them as an equal: twenty lists
//! revalidating at once stall every read for the ~100 ms they take. Here it
//! runs on a few threads of their own at nice [`NICE`], so the kernel gives a
//! read the CPU first and the background a bounded share of a busy CPU
//! (about a tenth at nice 10 against nice 0), all of an idle one.
//!
//! Priority is per thread on Linux (`setpriority` on the thread id); on other
//! systems these are plain threads.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

/// The nice value of background threads (0 is the default, 19 the lowest).
pub const NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// Runs `work` on a background thread; its result once done. A panic in
/// `work` is a bug, and panics the caller too.
pub async fn run<T, F>(work: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(work());
    });
    pool()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(job)
        .expect("BUG: the background threads never stop");
    rx.await
        .expect("BUG: background work panicked (see the log)")
}

/// The queue of the background threads, started on first use: as many
/// threads as CPUs (two at least, so that one long recompression does not
/// hold up a revalidation), each running only what the CPUs have to spare.
fn pool() -> &'static Mutex<Sender<Job>> {
    static POOL: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        for n in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("background-{n}"))
                .spawn(move || work_through(&rx))
                .expect("BUG: a background thread starts");
        }
        Mutex::new(tx)
    })
}

fn work_through(jobs: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = match jobs.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // A panicking job drops its result sender: its caller panics, this
        // thread goes on with the next.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
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
