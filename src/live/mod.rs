//! `workhours run`: the live pipeline (see docs/LIVE.md for the contract).
//!
//! - [`kafka`]: client configs, topic checks, the producer, reading state back;
//! - [`pipeline`]: the consume loop, per-partition engines, checkpoints, rebalances;
//! - [`aggregator`]: `quota_p90` across partitions.

mod aggregator;
mod kafka;
pub mod pipeline;

use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::config::Config;
use crate::http::{AppState, Lookup, router, serve};
use crate::metrics::Metrics;
pub use kafka::send_waiting;
pub use pipeline::{Clock, Shared};

/// State-topic key of a partition's own record.
pub const PARTITION_KEY: &str = "\u{0}partition";
/// State-topic key prefix of a partition's report of a closed day (`quota_p90`).
pub const DAY_PREFIX: &str = "\u{0}day/";
/// State-topic key prefix marking a day whose `quota_p90` alerts were emitted.
pub const DONE_PREFIX: &str = "\u{0}quota-done/";

/// Longest time from SIGTERM to exit; Kubernetes' default grace period is 30 s.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(9);

/// The tokio runtime of `run` and `demo`, two workers (the pipeline has a thread of its own).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// The `run` subcommand.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    crate::telemetry::init();
    let runtime = runtime()?;
    runtime.block_on(async {
        app(
            config,
            Arc::new(Metrics::new()),
            shutdown_on_signals(),
            Clock::Wall,
            None,
        )
        .await
    })
}

/// A token cancelled by SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut terminate =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(signal) => signal,
                    Err(error) => {
                        tracing::error!(%error, "Cannot listen for SIGTERM.");
                        let _ = interrupt.await;
                        cancel.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = interrupt.await;
        tracing::info!("Signal received: shutting down.");
        cancel.cancel();
    });
    token
}

impl Lookup for Shared {
    fn worker(&self, id: &str) -> Option<serde_json::Value> {
        self.parts()
            .values_mut()
            .find_map(|part| part.engine.worker_view(id))
    }

    fn summary(&self) -> serde_json::Value {
        let parts = self.parts();
        let mut platforms: std::collections::BTreeMap<String, serde_json::Value> =
            Default::default();
        let mut cities: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for part in parts.values() {
            for ((platform, _role, city), (online, working)) in part.engine.group_counts() {
                let entry = platforms
                    .entry(platform)
                    .or_insert_with(|| serde_json::json!({"online": 0, "working": 0}));
                entry["online"] = (entry["online"].as_u64().unwrap_or(0) + online).into();
                entry["working"] = (entry["working"].as_u64().unwrap_or(0) + working).into();
                let city = cities.entry(city).or_default();
                city.0 += online;
                city.1 += working;
            }
        }
        let cities: serde_json::Map<String, serde_json::Value> = cities
            .into_iter()
            .map(|(city, (online, working))| {
                (
                    city,
                    serde_json::json!({"online": online, "working": working}),
                )
            })
            .collect();
        serde_json::json!({"partitions": parts.len(), "platforms": platforms, "cities": cities})
    }
}

/// The live service: HTTP and the pipeline, until `shutdown` is cancelled.
pub async fn app(
    config: Config,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    clock: Clock,
    extra: Option<(axum::Router, Arc<Shared>)>,
) -> anyhow::Result<()> {
    // The demo brings its own page routes and wants the same shared state.
    let (pages, shared) = match extra {
        Some((pages, shared)) => (pages, shared),
        None => (axum::Router::new(), Arc::new(Shared::new(metrics.clone()))),
    };
    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .with_context(|| format!("cannot listen on http.listen = {}", config.http.listen))?;
    tracing::info!(listen = %config.http.listen, "Serving HTTP.");
    let state = AppState {
        metrics,
        ready: shared.ready.clone(),
        lookup: shared.clone(),
    };
    let http = tokio::spawn(serve(
        listener,
        router(state).merge(pages),
        shutdown.clone(),
    ));

    let running = Arc::new(AtomicBool::new(true));
    let handle = tokio::runtime::Handle::current();
    let pipeline = {
        let (shared, running) = (shared.clone(), running.clone());
        std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || pipeline::run(config, shared, running, handle, clock))
            .context("cannot start the pipeline thread")?
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(pipeline.join());
    });
    tokio::pin!(done_rx);
    let result = tokio::select! {
        joined = &mut done_rx => joined,
        _ = shutdown.cancelled() => {
            running.store(false, Ordering::Relaxed);
            match tokio::time::timeout(SHUTDOWN_DEADLINE, &mut done_rx).await {
                Ok(joined) => joined,
                Err(_) => {
                    tracing::error!("The pipeline did not stop in time; exiting without its last commit.");
                    std::process::exit(0);
                }
            }
        }
    };
    shutdown.cancel();
    let _ = http.await;
    match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => anyhow::bail!("the pipeline thread panicked"),
        Err(_) => anyhow::bail!("the pipeline thread vanished"),
    }
}
