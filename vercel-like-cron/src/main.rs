//! `vercel-like-cron --base-url http://localhost:3000 [--config vercel.json] [--once]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use vercel_like_cron::{Caller, fire_all, load_config, run};

/// Calls the paths of a vercel.json's crons on their UTC schedules, as Vercel
/// Cron does: GET with `Authorization: Bearer $CRON_SECRET` and
/// `User-Agent: vercel-cron/1.0`.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The vercel.json holding the crons.
    #[arg(long, default_value = "vercel.json")]
    config: PathBuf,
    /// Where the paths are called, e.g. http://localhost:3000.
    #[arg(long, env = "CRON_BASE_URL")]
    base_url: String,
    /// Bound on each call, e.g. 60s or 1500ms.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Fire every cron now and exit: 0 if every call got a 2xx, 1 otherwise.
    #[arg(long)]
    once: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let jobs = match load_config(&args.config) {
        Ok(jobs) => jobs,
        Err(e) => {
            eprintln!("vercel-like-cron: {e}");
            return ExitCode::from(2);
        }
    };
    let secret = std::env::var("CRON_SECRET").ok().filter(|s| !s.is_empty());
    if secret.is_none() {
        tracing::warn!("CRON_SECRET is not set: calls carry no Authorization header");
    }
    let caller = Arc::new(Caller::new(&args.base_url, secret, args.timeout));
    let runtime = tokio::runtime::Runtime::new().expect("BUG: cannot start the tokio runtime");
    runtime.block_on(async {
        if args.once {
            return if fire_all(&jobs, &caller).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        for job in &jobs {
            tracing::info!(path = %job.path, schedule = %job.expression, "scheduled (UTC)");
        }
        run(jobs, caller, shutdown_signal()).await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
