//! A real `redis-server` on a free loopback port, owned by one test.
//!
//! Every launch waits until the server answers *and* checks, by the
//! `process_id` of `INFO server`, that the server answering on the port is the
//! child it started: a stray server left on a reused port would otherwise
//! stand in for it, and a test would pass against the wrong data.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        // Another test may take a free port between its pick and the bind:
        // the server then exits at start, and another port is tried.
        for _ in 0..5 {
            let mut server = Self {
                port: super::free_port(),
                child: None,
            };
            if server.try_launch() {
                return server;
            }
            server.child = None;
        }
        panic!("redis-server could not bind any of 5 free ports");
    }

    /// A server on `port`; panics unless it is the one answering there.
    pub fn start_on(port: u16) -> Self {
        let mut server = Self { port, child: None };
        server.launch();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The server process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A direct connection, to look at what the service wrote.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("a valid URL")
            .get_multiplexed_async_connection()
            .await
            .expect("redis-server answers")
    }

    /// Starts recording every command the server runs (Redis `MONITOR`),
    /// from the moment this returns.
    pub async fn monitor(&self) -> CommandLog {
        let client = redis::Client::open(self.url()).expect("a valid URL");
        let monitor = client.get_async_monitor().await.expect("MONITOR accepted");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let task = tokio::spawn(async move {
            let mut stream = monitor.into_on_message::<String>();
            while let Some(line) = stream.next().await {
                sink.lock().unwrap().push(line);
            }
        });
        CommandLog {
            client,
            lines,
            task,
        }
    }

    /// Kills the server (its data is lost: nothing is persisted).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts an empty server on the same port again.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self
            .child
            .as_ref()
            .expect("server running")
            .id()
            .to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    fn launch(&mut self) {
        let port = self.port;
        assert!(
            self.try_launch(),
            "redis-server for port {port} exited at start: is the port taken?"
        );
    }

    /// Starts the server; false when it exited at start (its port was taken).
    fn try_launch(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (the README's test command installs it)");
        let child = self.child.insert(child);
        wait_until_ours(child, self.port, &[]).is_ok()
    }
}

/// A `redis-server` that exited before answering: it could not bind.
struct ExitedAtStart;

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A frozen server would ignore SIGKILL's siblings; wake it first.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.stop();
    }
}

/// The commands a server ran since [`RedisServer::monitor`], each as its
/// arguments (command name first), in the order the server ran them.
pub struct CommandLog {
    client: redis::Client,
    lines: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CommandLog {
    /// Every command run so far: a marker command is sent and awaited in the
    /// log, so everything the server ran before it is there too.
    pub async fn commands(&self) -> Vec<Vec<String>> {
        let marker = format!("command-log-marker-{:016x}", rand::random::<u64>());
        let mut conn = self
            .client
            .get_multiplexed_async_connection()
            .await
            .expect("redis-server answers");
        let _: String = redis::cmd("ECHO")
            .arg(&marker)
            .query_async(&mut conn)
            .await
            .expect("ECHO answered");
        let quoted = format!("\"{marker}\"");
        super::eventually(Duration::from_secs(10), "the marker in MONITOR", || {
            let seen = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(&quoted));
            async move { seen }
        })
        .await;
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .take_while(|l| !l.contains(&quoted))
            .map(|l| monitor_args(l))
            .collect()
    }
}

impl Drop for CommandLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The arguments of a `MONITOR` line: `<time> [<db> <client>] "CMD" "arg"…`,
/// each unquoted (escapes other than `\"` and `\\` are kept as they are).
fn monitor_args(line: &str) -> Vec<String> {
    let Some(start) = line.find("] ") else {
        return Vec::new();
    };
    let mut args = Vec::new();
    let mut chars = line[start + 2..].chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut arg = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => arg.push(chars.next().unwrap_or('\\')),
                c => arg.push(c),
            }
        }
        args.push(arg);
    }
    args
}

/// A three-node Redis Cluster (no replicas) on free loopback ports.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| cluster_port()).collect();
        let mut children: Vec<Child> = ports
            .iter()
            .map(|port| {
                Command::new("redis-server")
                    .current_dir(dir.path())
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args([
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &format!("nodes-{port}.conf"),
                    ])
                    .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server is installed")
            })
            .collect();
        for (child, port) in children.iter_mut().zip(&ports) {
            let started = wait_until_ours(child, *port, &[]);
            assert!(
                started.is_ok(),
                "redis-server for port {port} exited at start: is the port taken?"
            );
        }
        let cluster = Self {
            ports,
            children,
            _dir: dir,
        };
        cluster.create();
        cluster
    }

    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    fn create(&self) {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli is installed with redis-server");
        assert!(status.success(), "redis-cli --cluster create failed");
        // Every node must see the whole cluster, or the first commands get
        // CLUSTERDOWN while the gossip converges.
        let start = Instant::now();
        for port in &self.ports {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .unwrap();
                let info = String::from_utf8_lossy(&info.stdout);
                if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "the cluster did not form"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A free port whose cluster bus port (+10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = super::free_port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Waits (at most 10 s) until `child`, a `redis-server` just spawned, answers
/// on `port`. Panics if another process answers there instead: a server that
/// cannot bind its port exits, and one that is not ours has another pid.
/// `cli_args` are extra `redis-cli` options (TLS).
fn wait_until_ours(child: &mut Child, port: u16, cli_args: &[&str]) -> Result<(), ExitedAtStart> {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("the child's status").is_some() {
            return Err(ExitedAtStart);
        }
        let answering = answering_pid(port, cli_args);
        if answering == Some(child.id()) {
            return Ok(());
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server {} did not answer on port {port} (answering: {answering:?})",
            child.id()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `process_id` of the Redis server answering on `port`, if one does.
pub fn answering_pid(port: u16, cli_args: &[&str]) -> Option<u32> {
    std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(cli_args)
        .args(["INFO", "server"])
        .stderr(Stdio::null())
        .output()
        .expect("redis-cli is installed with redis-server");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.trim().strip_prefix("process_id:")?.parse().ok())
}

/// A `redis-server` accepting only TLS, with a certificate signed by a test
/// CA made with `openssl` (clients trust it through `SSL_CERT_FILE`).
pub struct TlsRedisServer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl TlsRedisServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        make_certificates(dir.path());
        let port = super::free_port();
        let file = |name: &str| dir.path().join(name).display().to_string();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                &file("server.pem"),
                "--tls-key-file",
                &file("server.key"),
            ])
            .args([
                "--tls-ca-cert-file",
                &file("ca.pem"),
                "--tls-auth-clients",
                "no",
            ])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let ca = file("ca.pem");
        let started = wait_until_ours(&mut child, port, &["--tls", "--cacert", &ca]);
        assert!(
            started.is_ok(),
            "redis-server for port {port} exited at start: is the port taken?"
        );
        Self { port, child, dir }
    }

    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.port)
    }

    /// The CA certificate clients must trust.
    pub fn ca_file(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }
}

impl Drop for TlsRedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn make_certificates(dir: &std::path::Path) {
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=models-cache test CA",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    ];
    for args in steps {
        let status = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed (the README's test command installs it)");
        assert!(status.success(), "openssl {args:?} failed");
    }
}
