//! The real `models-cache` binary as a child process, in a temporary
//! directory holding its `gateways.toml`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const BINARY: &str = env!("CARGO_BIN_EXE_models-cache");

pub struct ServiceProcess {
    pub addr: SocketAddr,
    child: Child,
    dir: TempDir,
}

/// A command for the binary with only `env` set (plus PATH), run in `dir`.
pub fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info,models_cache=debug")
        .envs(env.iter().copied());
    command
}

/// A temporary directory holding `gateways.toml`.
pub fn workdir(gateways_toml: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gateways.toml"), gateways_toml).unwrap();
    dir
}

/// Runs the binary to completion (at most 30 s).
pub fn run(args: &[&str], env: &[(&str, &str)], gateways_toml: &str) -> Output {
    let dir = workdir(gateways_toml);
    let mut child = command(dir.path(), env)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("models-cache {args:?} did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

impl ServiceProcess {
    /// Starts the server and waits until `/healthz` answers.
    pub async fn start(env: &[(&str, &str)], gateways_toml: &str) -> Self {
        let dir = workdir(gateways_toml);
        let cwd = dir.path().to_owned();
        Self::start_in(&cwd, dir, env).await
    }

    /// Starts the server in `cwd`; `dir` keeps its log.
    pub async fn start_in(cwd: &Path, dir: TempDir, env: &[(&str, &str)]) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", super::free_port()).parse().unwrap();
        let bind = addr.to_string();
        let log = std::fs::File::create(dir.path().join("service.log")).unwrap();
        let mut env = env.to_vec();
        env.push(("BIND_ADDR", &bind));
        let child = command(cwd, &env)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut service = Self { addr, child, dir };
        service.wait_healthy().await;
        service
    }

    /// The child's process id (to read its `/proc` entries).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Status and JSON body of a GET.
    pub async fn get_json(&self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        let response = reqwest::get(self.url(path)).await.expect("GET answered");
        let status = response.status();
        (status, response.json().await.unwrap_or_default())
    }

    /// An operator call with the warming secret of the test apps.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(super::test_app::WARM_SECRET);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the operator call answered");
        let status = response.status();
        (status, response.json().await.unwrap_or_default())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("service.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (at most 10 s) for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no exit 10 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: the process dies where it stands, nothing flushed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server with SIGTERM (off the async runtime, so mocks of the
    /// same test keep serving) and returns its exit status and its whole log,
    /// shutdown output included.
    pub async fn stop(mut self) -> (ExitStatus, String) {
        tokio::task::spawn_blocking(move || {
            let status = self.terminate();
            (status, self.log())
        })
        .await
        .expect("the stop ran")
    }

    async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("models-cache exited ({status}) at start:\n{}", self.log());
            }
            let health = client.get(self.url("/healthz")).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "not healthy:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// [`run`] off the async runtime, so mock gateways of the same test keep serving.
pub async fn run_async(args: &[&str], env: &[(&str, &str)], gateways_toml: &str) -> Output {
    let owned = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let args = owned(args);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let toml = gateways_toml.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run(&args, &env, &toml)
    })
    .await
    .expect("the command ran")
}
