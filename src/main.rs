//! `models-cache` (serve) and `models-cache warm` (one warm, then exit).

use std::process::ExitCode;

use models_cache::warm::Trigger;
use models_cache::{App, Config, telemetry};
use tokio::net::TcpListener;

const USAGE: &str = "usage: models-cache [serve | warm]";

fn main() -> ExitCode {
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        return fail(&format!(".env: {e}"));
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => return fail(&e.to_string()),
    };
    telemetry::init(&config.log);
    // Before the runtime starts, so that every worker thread reports to it.
    let _sentry = telemetry::sentry::init(
        config.sentry_dsn.as_deref(),
        config.sentry_traces_sample_rate,
    );
    let runtime = tokio::runtime::Runtime::new().expect("BUG: cannot start the tokio runtime");
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => runtime.block_on(serve(config)),
        Some("warm") => runtime.block_on(warm(config)),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => fail(&format!("unknown command {other:?}; {USAGE}")),
    }
}

async fn serve(config: Config) -> ExitCode {
    let app = match App::build(&config) {
        Ok(app) => app,
        Err(e) => return fail(&e.to_string()),
    };
    let listener = match TcpListener::bind(config.bind_addr).await {
        Ok(listener) => listener,
        Err(e) => {
            return fail(&format!(
                "BIND_ADDR: cannot listen on {}: {e}",
                config.bind_addr
            ));
        }
    };
    match app.serve(listener, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("server error: {e}")),
    }
}

/// Exits non-zero when every gateway failed.
async fn warm(config: Config) -> ExitCode {
    let app = match App::build(&config) {
        Ok(app) => app,
        Err(e) => return fail(&e.to_string()),
    };
    let report = app.warm(Trigger::Cli).await;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("BUG: report serialises")
    );
    if report.all_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One line on stderr, exit code 2: how start-up refuses a bad setting.
fn fail(message: &str) -> ExitCode {
    eprintln!("models-cache: {message}");
    ExitCode::from(2)
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
    tracing::info!("shutting down: finishing requests in flight");
}
