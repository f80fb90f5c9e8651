//! Child processes of the harness: started with their output in a log file,
//! stopped (SIGTERM, then SIGKILL after a grace period) when dropped, so an
//! error or a panic anywhere still stops everything that was started.
//! `bench/run.sh` kills the harness's whole process group as a last resort.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::LISTENING;

/// How long a stopped process may take to exit before it is killed.
const GRACE: Duration = Duration::from_secs(3);

pub struct Proc {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `command` with stdout and stderr in `<dir>/<name>.log`.
    pub fn spawn(name: &str, mut command: Command, dir: &Path) -> Result<Self, String> {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name} ({command:?}): {e}"))?;
        Ok(Self {
            name: name.into(),
            child,
            log,
        })
    }

    /// Starts one of the harness's servers and waits (at most `timeout`) for
    /// its `listening <addr>` line.
    pub fn spawn_listening(
        name: &str,
        mut command: Command,
        dir: &Path,
        timeout: Duration,
    ) -> Result<(Self, SocketAddr), String> {
        let log = dir.join(format!("{name}.log"));
        let err = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {name} ({command:?}): {e}"))?;
        let stdout = child.stdout.take().expect("BUG: stdout is piped");
        let (tx, rx) = mpsc::channel();
        // Reads the address, then drains stdout so the child never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix(LISTENING) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let mut proc = Self {
            name: name.into(),
            child,
            log,
        };
        match rx.recv_timeout(timeout) {
            Ok(addr) => {
                let addr = addr
                    .parse()
                    .map_err(|_| format!("{name} printed a bad address {addr:?}"))?;
                Ok((proc, addr))
            }
            Err(_) => {
                proc.stop();
                Err(format!(
                    "{name} did not start within {timeout:?}: {}",
                    proc.log_tail()
                ))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The end of its log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join(" | ")
    }

    /// SIGKILL at once: the process dies where it stands (the chaos
    /// scenario's Redis crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (`STOP`, `CONT`…) with `kill`.
    pub fn signal(&self, signal: &str) -> Result<(), String> {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("kill -{signal} {}: {e}", self.name))?;
        if !status.success() {
            return Err(format!("kill -{signal} {} failed ({status})", self.name));
        }
        Ok(())
    }

    /// SIGTERM (nginx's master then stops its workers), SIGKILL after [`GRACE`].
    pub fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A command for `program`, pinned to `cpus` (a `taskset -c` list) if given.
pub fn pinned(program: &Path, cpus: Option<&str>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut command = Command::new("taskset");
            command.args(["-c", cpus]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// A loopback port free right now (for programs that must be told one).
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Runs `program args` to completion, bounded by `timeout`; its stdout.
pub fn output(mut command: Command, timeout: Duration) -> Result<String, String> {
    let described = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {described}: {e}"))?;
    let stdout = child.stdout.take().expect("BUG: stdout is piped");
    let stderr = child.stderr.take().expect("BUG: stderr is piped");
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{described} did not finish within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    if !status.success() {
        return Err(format!("{described} failed ({status}): {}", err.trim()));
    }
    Ok(out)
}
