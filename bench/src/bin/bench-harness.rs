//! Runs the benchmark of issues 5, 9, 10, 11 and 12 and writes `results.md` and `results.json`.
//! Meant to be started by `bench/run.sh`, which installs wrk and nginx,
//! builds the binaries and bounds the run in time.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Parser;
use models_cache_bench::harness::report::{Meta, Results};
use models_cache_bench::harness::rig::{self, Rig};
use models_cache_bench::harness::{self, Options, cores, scenarios};
use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    let opts = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("BUG: cannot start the tokio runtime");
    match runtime.block_on(bounded(opts.clone())) {
        Ok(results) => finish(&opts, &results),
        Err(e) => {
            eprintln!("bench-harness: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The run, abandoned at the deadline or on SIGTERM/SIGINT: dropping it
/// drops the rig, which stops every process it started.
async fn bounded(opts: Options) -> Result<Results, String> {
    let deadline = Duration::from_secs(opts.deadline);
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let keep_logs = opts.keep_logs;
    let results = tokio::select! {
        results = run(opts) => results,
        () = tokio::time::sleep(deadline) => Err(format!("not done within the {deadline:?} deadline")),
        _ = terminate.recv() => Err("terminated".into()),
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    if !keep_logs {
        let _ = std::fs::remove_dir_all(rig::run_dir());
    }
    results
}

async fn run(opts: Options) -> Result<Results, String> {
    let rig = Rig::start(opts.clone()).await?;
    eprintln!("bench: everything started in {}", rig.dir.display());
    let o = &rig.opts;
    let hot = if o.runs("hot") {
        scenarios::hot(&rig).await?
    } else {
        Vec::new()
    };
    let memory = if o.runs("memory") {
        Some(scenarios::memory(&rig).await?)
    } else {
        None
    };
    let warm = if o.runs("warm") {
        Some(scenarios::warm(&rig).await?)
    } else {
        None
    };
    let revalidation = if o.runs("revalidation") {
        Some(harness::revalidation::revalidation(&rig).await?)
    } else {
        None
    };
    let stampedes = if o.runs("stampede") {
        scenarios::stampedes(&rig).await?
    } else {
        Vec::new()
    };
    let catalog = if o.runs("catalog") {
        Some(harness::catalog::catalog(&rig).await?)
    } else {
        None
    };
    let changes = if o.runs("changes") {
        Some(harness::changes::changes(&rig).await?)
    } else {
        None
    };
    let page = if o.runs("page") {
        Some(harness::page::page(&rig).await?)
    } else {
        None
    };
    let chaos = if o.runs("chaos") {
        Some(harness::chaos::chaos(&rig).await?)
    } else {
        None
    };
    let mut results = Results {
        meta: meta(&rig),
        hot,
        memory,
        warm,
        revalidation,
        stampedes,
        catalog,
        changes,
        page,
        chaos,
        targets: Vec::new(),
    };
    results.judge();
    Ok(results)
}

fn meta(rig: &Rig) -> Meta {
    let o = &rig.opts;
    Meta {
        date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        commit: o.commit.clone(),
        mode: if o.quick { "quick" } else { "full" },
        cores: cores(),
        cpu: cpu_model(),
        server_cpus: rig.server_cpus.clone(),
        client_cpus: rig.client_cpus.clone(),
        kind: o.kind.clone(),
        gateways: o.gateways,
        models_per_gateway: o.models(),
        load: format!("wrk -t{} -c{} -d{}s", o.threads, o.connections, o.seconds()),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Writes the report; fails when a correctness target is missed (quick runs
/// included), or any target in a strict full run.
fn finish(opts: &Options, results: &Results) -> ExitCode {
    let markdown = results.markdown();
    let json = serde_json::to_string_pretty(results).expect("BUG: results serialise");
    let written = std::fs::create_dir_all(&opts.out)
        .and_then(|()| std::fs::write(opts.out.join("results.md"), &markdown))
        .and_then(|()| std::fs::write(opts.out.join("results.json"), json + "\n"));
    if let Err(e) = written {
        eprintln!("bench-harness: cannot write to {}: {e}", opts.out.display());
        return ExitCode::FAILURE;
    }
    println!("{markdown}");
    eprintln!("bench: results in {}", opts.out.display());
    let failed = results.failed(opts.quick, opts.strict);
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("bench-harness: {} target(s) not met:", failed.len());
    for t in failed {
        eprintln!("  {}: {} — {}", t.name, t.target, t.figure);
    }
    ExitCode::FAILURE
}
