//! The processes of a run, started on loopback: Redis, the mock gateways,
//! models-cache instances, the limit server, the aggregator and nginx.
//!
//! A [`Rig`] owns them; dropping it stops them all and removes the run's
//! temporary directory.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::client::{self, Mock};
use super::procs::{self, Proc};
use super::{Options, count_cpus};
use crate::catalog;

/// Bearer of the warm endpoint in every instance the harness starts.
pub const SECRET: &str = "bench-secret";
/// nginx's workers run as this user and group when the harness is root.
const NOBODY: u32 = 65534;
const START: Duration = Duration::from_secs(60);

/// Paths of the hot-read scenarios: full catalog, a page of 100, one model.
pub fn hot_paths() -> [(&'static str, String); 3] {
    [
        ("full catalog", "/api/models".into()),
        ("page of 100", "/api/models?limit=100".into()),
        (
            "one model",
            format!("/api/models/g00/{}", catalog::model_id(0)),
        ),
    ]
}

/// A models-cache process.
pub struct Instance {
    pub base: String,
    pub proc: Proc,
}

/// How a models-cache instance is configured.
pub struct ServiceConfig<'a> {
    pub name: &'a str,
    /// Redis database: instances sharing one share their entries.
    pub db: u8,
    pub fresh: &'a str,
    pub stale: &'a str,
    /// More environment (e.g. `CHANGES_MAX=0`).
    pub env: &'a [(&'a str, &'a str)],
}

pub struct Rig {
    pub opts: Options,
    pub dir: PathBuf,
    pub http: reqwest::Client,
    pub server_cpus: Option<String>,
    pub client_cpus: Option<String>,
    pub redis_port: u16,
    pub mock: Mock,
    /// Long TTLs: hot reads, warm, memory.
    pub service: Instance,
    /// `CACHE_FRESH_TTL=1s`: reads during revalidation.
    pub revalidating: Instance,
    pub limit: String,
    pub nginx_hot: String,
    pub nginx_swr: String,
    /// wrk's reporter script.
    pub script: PathBuf,
    /// Dropped last (fields drop in order): Redis, mock, peers.
    _procs: Vec<Proc>,
}

impl Rig {
    /// Starts everything and fills every cache once (mock latency 50 ms).
    pub async fn start(mut opts: Options) -> Result<Self, String> {
        // Children run in the temporary directory: their paths must not be relative.
        opts.bin_dir = std::fs::canonicalize(&opts.bin_dir)
            .map_err(|e| format!("{}: {e}", opts.bin_dir.display()))?;
        let dir = run_dir();
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (server_cpus, client_cpus) = opts.cpus();
        let script = dir.join("wrk-report.lua");
        std::fs::write(&script, super::wrk::REPORT_LUA)
            .map_err(|e| format!("{}: {e}", script.display()))?;
        let mut procs = Vec::new();

        let redis_port = procs::free_port()?;
        procs.push(start_redis(
            &dir,
            redis_port,
            "redis",
            client_cpus.as_deref(),
        )?);

        // The upstreams, like Redis, on the client's CPUs.
        let mut mock_cmd =
            procs::pinned(&opts.bin_dir.join("mock-gateway"), client_cpus.as_deref());
        mock_cmd
            .arg(format!("--gateways={}", opts.gateways))
            .arg(format!("--models={}", opts.models()))
            .arg("--latency-ms=50");
        let (mock_proc, mock_addr) = Proc::spawn_listening("mock-gateway", mock_cmd, &dir, START)?;
        procs.push(mock_proc);
        let mock = Mock::new(format!("http://{mock_addr}"));
        let gateways_file = write_gateways(&dir, &opts, mock_addr)?;

        let http = client::client();
        let mut rig_start = RigStart {
            opts: &opts,
            dir: &dir,
            gateways_file: &gateways_file,
            redis_port,
            server_cpus: server_cpus.as_deref(),
        };
        let service = rig_start.service(&ServiceConfig {
            name: "models-cache",
            db: 0,
            fresh: "4h",
            stale: "12h",
            env: &[],
        })?;
        let revalidating = rig_start.service(&ServiceConfig {
            name: "models-cache-swr",
            db: 1,
            fresh: "1s",
            stale: "1h",
            env: &[],
        })?;
        for instance in [&service, &revalidating] {
            client::wait_ok(&http, &format!("{}/healthz", instance.base), START).await?;
        }
        for instance in [&service, &revalidating] {
            // An explicit warm, not only the start-up one: the figures must
            // not depend on how a start-up warm went.
            client::warm(&http, &instance.base, SECRET).await?;
        }
        client::wait_state(&http, &service.base, "fresh", START).await?;
        // Fresh for a second only: by the time it is asked, it may be stale.
        client::wait_states(&http, &revalidating.base, &["fresh", "stale"], START).await?;

        let mut limit_cmd =
            procs::pinned(&opts.bin_dir.join("limit-server"), server_cpus.as_deref());
        limit_cmd.arg(format!("--capture-from={}", service.base));
        for (_, path) in hot_paths() {
            limit_cmd.arg(format!("--path={path}"));
        }
        let (limit_proc, limit_addr) =
            Proc::spawn_listening("limit-server", limit_cmd, &dir, START)?;
        procs.push(limit_proc);

        let mut aggregator_cmd = Command::new(opts.bin_dir.join("aggregator"));
        aggregator_cmd.arg("--gateways-file").arg(&gateways_file);
        let (aggregator_proc, aggregator_addr) =
            Proc::spawn_listening("aggregator", aggregator_cmd, &dir, START)?;
        procs.push(aggregator_proc);

        let (nginx_proc, hot_port, swr_port) =
            start_nginx(&dir, aggregator_addr, server_cpus.as_deref())?;
        procs.push(nginx_proc);
        let nginx_hot = format!("http://127.0.0.1:{hot_port}");
        let nginx_swr = format!("http://127.0.0.1:{swr_port}");
        for (_, path) in hot_paths() {
            client::wait_ok(&http, &format!("{nginx_hot}{path}"), START).await?;
        }
        client::wait_ok(&http, &format!("{nginx_swr}/api/models"), START).await?;

        Ok(Self {
            opts,
            dir,
            http,
            server_cpus,
            client_cpus,
            redis_port,
            mock,
            service,
            revalidating,
            limit: format!("http://{limit_addr}"),
            nginx_hot,
            nginx_swr,
            script,
            _procs: procs,
        })
    }

    /// Starts another models-cache instance (the stampede's three).
    pub fn service(&self, config: &ServiceConfig<'_>) -> Result<Instance, String> {
        self.service_with(config, &self.dir.join("gateways.toml"))
    }

    /// Starts a models-cache instance on another gateways file (the catalog
    /// scenario's).
    pub fn service_with(
        &self,
        config: &ServiceConfig<'_>,
        gateways_file: &Path,
    ) -> Result<Instance, String> {
        RigStart {
            opts: &self.opts,
            dir: &self.dir,
            gateways_file,
            redis_port: self.redis_port,
            server_cpus: self.server_cpus.as_deref(),
        }
        .service(config)
    }

    /// `redis-cli -n db args…`, bounded.
    pub fn redis_cli(&self, db: u8, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new("redis-cli");
        command
            .args(["-h", "127.0.0.1", "-p", &self.redis_port.to_string()])
            .args(["-n", &db.to_string()])
            .args(args);
        procs::output(command, Duration::from_secs(30))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.service.proc.stop();
        self.revalidating.proc.stop();
        while let Some(mut proc) = self._procs.pop() {
            proc.stop();
        }
        if !self.opts.keep_logs {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The run's temporary directory (removed when the rig is dropped, and by
/// the harness after a failed start).
pub fn run_dir() -> PathBuf {
    std::env::temp_dir().join(format!("models-cache-bench-{}", std::process::id()))
}

/// What starting a models-cache instance needs.
struct RigStart<'a> {
    opts: &'a Options,
    dir: &'a Path,
    gateways_file: &'a Path,
    redis_port: u16,
    server_cpus: Option<&'a str>,
}

impl RigStart<'_> {
    fn service(&mut self, config: &ServiceConfig<'_>) -> Result<Instance, String> {
        let port = procs::free_port()?;
        let mut command = procs::pinned(&self.opts.bin_dir.join("models-cache"), self.server_cpus);
        // Its own working directory, so no `.env` of the checkout is read.
        command
            .current_dir(self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "REDIS_URL",
                format!("redis://127.0.0.1:{}/{}", self.redis_port, config.db),
            )
            .env("GATEWAYS_FILE", self.gateways_file)
            .env("CACHE_FRESH_TTL", config.fresh)
            .env("CACHE_STALE_TTL", config.stale)
            // Above the slowest mock (2 s), so latency never turns into failure.
            .env("GATEWAY_TIMEOUT", "10s")
            .env("CACHE_WARMING_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .envs(config.env.iter().copied());
        let proc = Proc::spawn(config.name, command, self.dir)?;
        Ok(Instance {
            base: format!("http://127.0.0.1:{port}"),
            proc,
        })
    }
}

/// An empty `redis-server` on `port` (nothing persisted), logging to `<name>.log`.
/// Starts `redis-server` on `port`, pinned to `cpus` (the client's: the
/// server's CPUs run only the servers measured).
pub(super) fn start_redis(
    dir: &Path,
    port: u16,
    name: &str,
    cpus: Option<&str>,
) -> Result<Proc, String> {
    let mut command = procs::pinned(Path::new("redis-server"), cpus);
    command
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .arg("--dir")
        .arg(dir);
    let proc = Proc::spawn(name, command, dir)?;
    wait_tcp(port, START)?;
    Ok(proc)
}

/// `gateways.toml`: gateway `gNN` at the mock's `/g/NN`.
fn write_gateways(dir: &Path, opts: &Options, mock: SocketAddr) -> Result<PathBuf, String> {
    let mut toml = String::from("# Written by bench-harness.\n");
    for n in 0..opts.gateways {
        toml.push_str(&format!(
            "\n[[gateway]]\nid = \"g{n:02}\"\nkind = \"{}\"\nbase_url = \"http://{mock}/g/{n}\"\n",
            opts.kind
        ));
    }
    let path = dir.join("gateways.toml");
    std::fs::write(&path, toml).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// nginx from `bench/nginx.conf.tmpl`, under its own prefix, unprivileged
/// (as `nobody` when the harness is root). Returns its two ports.
fn start_nginx(
    dir: &Path,
    aggregator: SocketAddr,
    cpus: Option<&str>,
) -> Result<(Proc, u16, u16), String> {
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(&prefix).map_err(|e| format!("{}: {e}", prefix.display()))?;
    let (hot, swr) = (procs::free_port()?, procs::free_port()?);
    let workers = cpus.map_or(1, count_cpus);
    let conf = include_str!("../../nginx.conf.tmpl")
        .replace("@PREFIX@", &prefix.display().to_string())
        .replace("@WORKERS@", &workers.to_string())
        .replace("@AGGREGATOR@", &aggregator.to_string())
        .replace("@LISTEN_HOT@", &format!("127.0.0.1:{hot}"))
        .replace("@LISTEN_SWR@", &format!("127.0.0.1:{swr}"));
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf).map_err(|e| format!("{}: {e}", conf_path.display()))?;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let mut argv: Vec<String> = Vec::new();
    if root {
        std::os::unix::fs::chown(&prefix, Some(NOBODY), Some(NOBODY))
            .map_err(|e| format!("chown {}: {e}", prefix.display()))?;
        argv.extend(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
            ]
            .map(String::from),
        );
    }
    if let Some(cpus) = cpus {
        argv.extend(["taskset".into(), "-c".into(), cpus.into()]);
    }
    argv.push(nginx_binary());
    let prefix_text = prefix.display().to_string();
    argv.extend([
        "-p".into(),
        prefix_text.clone(),
        "-c".into(),
        conf_path.display().to_string(),
    ]);
    argv.extend(["-e".into(), format!("{prefix_text}/error.log")]);
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    let proc = Proc::spawn("nginx", command, dir)?;
    wait_tcp(hot, START).map_err(|e| format!("nginx: {e}: {}", proc.log_tail()))?;
    wait_tcp(swr, START)?;
    Ok((proc, hot, swr))
}

/// `nginx` on the PATH, or Debian's `/usr/sbin/nginx` (not on a user's PATH).
fn nginx_binary() -> String {
    let on_path = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join("nginx").is_file());
    if on_path { "nginx" } else { "/usr/sbin/nginx" }.into()
}

fn wait_tcp(port: u16, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("nothing listens on port {port} after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
