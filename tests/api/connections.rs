//! SPEC "Connections", on the real binary: clients that never finish their
//! headers or sit idle are closed by the server after `HTTP_HEADER_TIMEOUT`
//! or `HTTP_IDLE_TIMEOUT` and cost nothing once gone, and thousands of them
//! never slow a read; clients that stop reading an answer or stop sending a
//! body are cut off too, a slow download never; `HTTP_MAX_CONNECTIONS` holds
//! new connections back; SIGTERM does not wait for slow clients; running out
//! of file descriptors (`EMFILE`) does not stop the server. The clients speak
//! raw HTTP/1.1 over TCP, so that what each sends is exact.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::{MockGateway, ServiceProcess, eventually};

/// Clients of each kind in the first test (the 5,000 + 5,000).
const SLOW_CLIENTS: usize = 5_000;
/// What a read may take, connect included, while the slow clients are there.
const READ_BOUND: Duration = Duration::from_millis(100);
/// Connections being opened at once by the tests (the listen backlog is 1024).
const OPENING_AT_ONCE: usize = 64;
/// Open files a process may gain or lose meanwhile (a pooled upstream
/// connection, a probe's socket not closed yet…).
const FD_SLACK: usize = 5;
/// A gateway for the tests that read nothing from one.
const STATIC_GATEWAY: &str = concat!(
    "[[gateway]]\nid = \"curated\"\nkind = \"static\"\npath = \"",
    env!("CARGO_MANIFEST_DIR"),
    "/examples/curated-models.json\"\n"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_slow_and_idle_clients_delay_no_read_and_are_closed_after_their_timeouts() {
    // Both processes hold one socket per client, plus their own files.
    allow_open_files(2 * SLOW_CLIENTS as u64 + 2_000);
    let mock = MockGateway::start(&["m1", "m2"]).await;
    // Long enough for every client to be open at once on a busy machine
    // (opening them all takes one to five seconds here).
    let (header_timeout, idle_timeout) = (Duration::from_secs(8), Duration::from_secs(10));
    let env = [
        ("HTTP_HEADER_TIMEOUT", "8s"),
        ("HTTP_IDLE_TIMEOUT", "10s"),
        // The default (10,000) would be filled by the slow clients alone.
        ("HTTP_MAX_CONNECTIONS", "20000"),
    ];
    let service = ServiceProcess::start(&env, &mock.gateway_toml("gw")).await;
    let pid = service.pid();
    eventually(Duration::from_secs(10), "the gateway warmed", || async {
        get(service.addr, "/api/models").await.contains("\"m2\"")
    })
    .await;
    let baseline = open_files(pid);

    let opening = Instant::now();
    let idle = open_held(SLOW_CLIENTS, pid, baseline, || idle_client(service.addr)).await;
    let held = baseline + SLOW_CLIENTS;
    let partial = open_held(SLOW_CLIENTS, pid, held, || partial_client(service.addr)).await;
    eprintln!(
        "{} slow clients opened in {:?}",
        2 * SLOW_CLIENTS,
        opening.elapsed()
    );
    let idle = Closes::watch(idle, opening);
    let partial = Closes::watch(partial, opening);

    for path in ["/healthz", "/api/models", "/healthz", "/api/models"] {
        let (answer, took) = timed_get(service.addr, path).await;
        eprintln!("GET {path} among the slow clients: {took:?}");
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        assert!(
            took < READ_BOUND,
            "{path} took {took:?} among the slow clients"
        );
    }
    assert_eq!(
        (idle.count(), partial.count()),
        (0, 0),
        "every slow client was still open while the reads were made"
    );

    eventually(
        Duration::from_secs(30),
        "the server closed every slow client",
        || async { idle.count() == SLOW_CLIENTS && partial.count() == SLOW_CLIENTS },
    )
    .await;
    let (partial_closed, idle_closed) = (partial.range(), idle.range());
    eprintln!("since the first opened, closed: partial {partial_closed:?}, idle {idle_closed:?}");
    // Each timeout runs from the server's accept, or its answer, which
    // both came after `opening`.
    assert!(
        partial_closed.0 >= header_timeout,
        "partial heads closed before HTTP_HEADER_TIMEOUT: {partial_closed:?}"
    );
    assert!(
        idle_closed.0 >= idle_timeout,
        "idle connections closed before HTTP_IDLE_TIMEOUT: {idle_closed:?}"
    );
    eventually(
        Duration::from_secs(10),
        "the server's open files back to their baseline",
        || async { open_files(pid) <= baseline + FD_SLACK },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_client_has_the_header_timeout_to_finish_its_next_request() {
    let env = [("HTTP_HEADER_TIMEOUT", "1s"), ("HTTP_IDLE_TIMEOUT", "30s")];
    let service = ServiceProcess::start(&env, STATIC_GATEWAY).await;
    let mut idle = idle_client(service.addr).await;
    let mut dripping = idle_client(service.addr).await;
    // Both sit idle past the header timeout, which does not apply between
    // requests; then one begins a request and stops.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let started = Instant::now();
    dripping.write_all(b"GET /heal").await.unwrap();

    let closed = tokio::time::timeout(Duration::from_secs(10), read_to_end(&mut dripping)).await;
    let took = started.elapsed();
    assert!(
        closed.is_ok(),
        "a begun request's head outlived the header timeout"
    );
    assert!(took >= Duration::from_secs(1), "closed after {took:?}");
    assert!(took < Duration::from_secs(5), "closed only after {took:?}");
    // The idle one is within its idle timeout still: served on.
    idle.write_all(request("/healthz").as_bytes())
        .await
        .unwrap();
    let answer = read_answer(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_http_max_connections_a_new_connection_waits_until_one_closes() {
    const MAX: usize = 50;
    let service = ServiceProcess::start(&[("HTTP_MAX_CONNECTIONS", "50")], STATIC_GATEWAY).await;
    let mut idle = open(MAX, || idle_client(service.addr)).await;

    // The kernel completes the handshake (the listen backlog), but the
    // server does not take the connection: no answer comes.
    let mut waiting = TcpStream::connect(service.addr).await.unwrap();
    waiting
        .write_all(request("/healthz").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_secs(1), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "answered at the limit: {early:?}");

    idle.pop();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut waiting))
        .await
        .expect("answered once a connection closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_timeout_cuts_off_stalled_clients_but_never_a_slow_download() {
    // About 7 MB of catalog: more than the socket buffers hold, so a client
    // that reads none of it leaves the server waiting to write.
    let ids: Vec<String> = (0..6_000)
        .map(|i| format!("model-{i}-{}", "x".repeat(1_000)))
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mock = MockGateway::start(&ids).await;
    let idle_timeout = Duration::from_secs(2);
    let env = [("HTTP_IDLE_TIMEOUT", "2s")];
    let service = ServiceProcess::start(&env, &mock.gateway_toml("gw")).await;
    eventually(Duration::from_secs(10), "the gateway warmed", || async {
        service.get_json("/api/models").await.1["data"]
            .as_array()
            .is_some_and(|models| models.len() == ids.len())
    })
    .await;

    // One client asks for the catalog and reads none of it; another
    // announces a body and sends a few bytes of it.
    let mut stalled_reader = small_window_client(service.addr).await;
    stalled_reader
        .write_all(request("/api/models").as_bytes())
        .await
        .unwrap();
    let mut stalled_body = TcpStream::connect(service.addr).await.unwrap();
    let head = "POST /api/cache/warm-models HTTP/1.1\r\nHost: models-cache\r\n";
    let started = Instant::now();
    stalled_body
        .write_all(format!("{head}Content-Length: 100\r\n\r\n{{\"gate").as_bytes())
        .await
        .unwrap();
    let stalled_body = tokio::spawn(async move {
        let answer = read_to_end(&mut stalled_body).await;
        (started.elapsed(), answer)
    });

    // Meanwhile, a download at about 1.6 MB/s: several idle timeouts long.
    let (download, took) = slow_download(service.addr, "/api/models").await;
    assert!(
        took > 2 * idle_timeout,
        "meant to outlast the idle timeout: {took:?}"
    );
    assert!(
        answer_complete(&download),
        "a download still being read was cut off after {} bytes and {took:?}",
        download.len()
    );
    let body = &download[head_length(&download).unwrap()..];
    let catalog: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(catalog["data"].as_array().unwrap().len(), ids.len());

    let (closed_after, answer) = tokio::time::timeout(Duration::from_secs(10), stalled_body)
        .await
        .expect("a body that stopped coming was cut off")
        .unwrap();
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(
        closed_after >= idle_timeout,
        "cut off after {closed_after:?}"
    );
    let unread = tokio::time::timeout(Duration::from_secs(10), read_to_end(&mut stalled_reader))
        .await
        .expect("a client that stopped reading was cut off");
    assert!(
        unread.len() < download.len(),
        "a client that read nothing for {took:?} was still sent the whole answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_slow_and_idle_clients_at_once() {
    // The default timeouts (10 s, 60 s): stopping must not wait for them.
    let service = ServiceProcess::start(&[], STATIC_GATEWAY).await;
    let _idle = open(10, || idle_client(service.addr)).await;
    let _partial = open(10, || partial_client(service.addr)).await;
    let _silent = open(10, || async {
        TcpStream::connect(service.addr).await.unwrap()
    })
    .await;
    let started = Instant::now();
    let (status, _) = service.stop().await;
    assert!(status.success(), "{status:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_does_not_stop_the_server() {
    let service = ServiceProcess::start(&[], STATIC_GATEWAY).await;
    let pid = service.pid();
    // Room for a few more files only: accepting past that fails (EMFILE).
    set_open_files_limit(pid, open_files(pid) as u64 + 5);
    let clients = open(20, || partial_client(service.addr)).await;
    eventually(
        Duration::from_secs(10),
        "the accept error logged",
        || async { service.log().contains("accept failed") },
    )
    .await;

    // Closing them frees the server's descriptors; it accepts again.
    drop(clients);
    eventually(Duration::from_secs(10), "served again", || async {
        get(service.addr, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    })
    .await;
}

/// `count` connections made by `connect`, a few at a time.
async fn open<F, Fut>(count: usize, connect: F) -> Vec<TcpStream>
where
    F: Fn() -> Fut,
    Fut: Future<Output = TcpStream>,
{
    futures::stream::iter(0..count)
        .map(|_| connect())
        .buffer_unordered(OPENING_AT_ONCE)
        .collect()
        .await
}

/// [`open`], a batch at a time, each batch once the server holds the ones
/// before (`held_before` open files, then one more per client): the clients
/// would otherwise outpace its accepts, and a full listen backlog delays a
/// connection by a SYN retry (1 s).
async fn open_held<F, Fut>(count: usize, pid: u32, held_before: usize, connect: F) -> Vec<TcpStream>
where
    F: Fn() -> Fut,
    Fut: Future<Output = TcpStream>,
{
    const BATCH: usize = 500;
    let mut clients = Vec::with_capacity(count);
    while clients.len() < count {
        let batch = BATCH.min(count - clients.len());
        clients.extend(open(batch, &connect).await);
        let held = held_before + clients.len();
        eventually(
            Duration::from_secs(5),
            "the server holds the clients",
            || async { open_files(pid) + FD_SLACK >= held },
        )
        .await;
    }
    clients
}

/// A client whose small receive window the server fills at once.
async fn small_window_client(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A GET read 16 KB at a time, 10 ms apart: the answer, and how long it took.
async fn slow_download(addr: SocketAddr, path: &str) -> (Vec<u8>, Duration) {
    let mut stream = small_window_client(addr).await;
    stream.write_all(request(path).as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    while !answer_complete(&received) {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (received, started.elapsed())
}

/// Everything a stream gives until its end (or a reset).
async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = stream.read(&mut chunk).await {
        received.extend_from_slice(&chunk[..n]);
    }
    received
}

/// A client that sends half a request line and then nothing.
async fn partial_client(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /api/mod").await.unwrap();
    stream
}

/// A keep-alive client that made one request, got its answer, and stays.
async fn idle_client(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(request("/healthz").as_bytes())
        .await
        .unwrap();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stream
}

/// When the server closed each of a set of connections (end of stream or
/// reset), from a start.
struct Closes(Arc<Mutex<Vec<Duration>>>);

impl Closes {
    fn watch(streams: Vec<TcpStream>, start: Instant) -> Self {
        let closes = Arc::new(Mutex::new(Vec::with_capacity(streams.len())));
        for mut stream in streams {
            let closes = Arc::clone(&closes);
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                while let Ok(1..) = stream.read(&mut buf).await {}
                closes.lock().unwrap().push(start.elapsed());
            });
        }
        Self(closes)
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The first and the last close.
    fn range(&self) -> (Duration, Duration) {
        let closes = self.0.lock().unwrap();
        let first = closes.iter().min().copied().unwrap_or_default();
        (first, closes.iter().max().copied().unwrap_or_default())
    }
}

fn request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: models-cache\r\n\r\n")
}

/// A GET on a fresh connection: the whole answer, as text.
async fn get(addr: SocketAddr, path: &str) -> String {
    timed_get(addr, path).await.0
}

/// A GET on a fresh connection, and how long it took, connect included.
async fn timed_get(addr: SocketAddr, path: &str) -> (String, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request(path).as_bytes()).await.unwrap();
        read_answer(&mut stream).await
    })
    .await
    .unwrap_or_else(|_| panic!("GET {path} not answered within 10 s"));
    (answer, started.elapsed())
}

/// Reads one answer (head and `Content-Length` body) off a keep-alive stream.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    while !answer_complete(&received) {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed mid-answer: {received:?}");
        received.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// The length of the head, blank line included, once it is all in.
fn head_length(received: &[u8]) -> Option<usize> {
    received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

fn answer_complete(received: &[u8]) -> bool {
    let Some(head) = head_length(received) else {
        return false;
    };
    let length = String::from_utf8_lossy(&received[..head])
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .expect("answers carry a Content-Length");
    received.len() >= head + length
}

/// Entries of `/proc/<pid>/fd`: the process's open files and sockets.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/<pid>/fd is readable")
        .count()
}

/// Raises this process's soft limit on open files to `needed` if it is lower
/// (the server inherits it when it is spawned).
fn allow_open_files(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` only writes the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur >= needed {
        return;
    }
    assert!(
        limit.rlim_max >= needed,
        "this test needs {needed} open files; the hard limit is {} (raise `ulimit -Hn`)",
        limit.rlim_max
    );
    limit.rlim_cur = needed;
    // SAFETY: `setrlimit` only reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}

/// Sets the soft limit on open files of process `pid`.
fn set_open_files_limit(pid: u32, soft: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: `prlimit` reads and writes only the structs it is given.
    assert_eq!(
        unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut limit) },
        0
    );
    limit.rlim_cur = soft.min(limit.rlim_max);
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()) },
        0
    );
}
