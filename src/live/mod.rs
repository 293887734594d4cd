//! `workhours run`: the live pipeline (see docs/LIVE.md for the contract).
//!
//! - [`kafka`]: client configs, topic checks and creation, reading the state topic back;
//! - [`sink`]: the producer, with delivery tracked per record, retries and the delivery
//!   timeout;
//! - [`state`]: the state topic's record format (keys, version, zone), encoded and decoded in
//!   one place;
//! - [`pipeline`]: the consume loop, per-partition engines, checkpoints, rebalances, fencing;
//! - [`views`]: what HTTP reads (published snapshots, look-ups answered by the loop);
//! - [`aggregator`]: `quota_p90` across partitions;
//! - [`liveness`]: whether the brokers answer (a hang gives no error).

mod aggregator;
mod batch;
mod held;
mod kafka;
mod liveness;
pub mod pipeline;
mod sink;
pub mod state;
mod views;

use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::config::Config;
use crate::console::Console;
use crate::http::{AppState, Lookup, guarded, guarded_page, load_token, router, serve};
use crate::metrics::Metrics;
pub use kafka::{Logging, client_config, send_waiting, set_default, without_consumer_properties};
pub use pipeline::{Clock, Sampler, Shared};

/// Longest time from SIGTERM to exit; Kubernetes' default grace period is 30 s.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(9);

/// The tokio runtime of `run` and `demo`, two workers (the pipeline has a thread of its own).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// The `run` subcommand (and `run --reset-state`).
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    crate::telemetry::init();
    let runtime = runtime()?;
    if args.reset_state {
        let running = Arc::new(AtomicBool::new(true));
        let handle = runtime.handle().clone();
        return runtime.block_on(async move {
            tokio::task::spawn_blocking(move || pipeline::reset_state(&config, &handle, running))
                .await
                .context("the reset did not finish")?
        });
    }
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
    fn worker(
        &self,
        id: &str,
    ) -> Option<tokio::sync::oneshot::Receiver<Option<serde_json::Value>>> {
        self.views.ask(id)
    }

    fn blocked(&self) -> bool {
        self.views.blocked()
    }

    fn summary(&self) -> serde_json::Value {
        (*self.views.summary()).clone()
    }
}

/// Raises the soft limit on open files to the hard one (at most 2^20), as Go's runtime does
/// at start: HTTP connections and librdkafka's sockets are then bounded by the limit the
/// administrator set, not by a shell's default soft limit of 1,024, which a few hundred held
/// connections would exhaust. Returns the soft limit in force.
#[cfg(unix)]
fn raise_open_files_limit() -> Option<libc::rlim_t> {
    const CEILING: libc::rlim_t = 1 << 20;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let wanted = limit.rlim_max.min(CEILING);
    if limit.rlim_cur < wanted {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads only the struct it is given, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(wanted);
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn raise_open_files_limit() -> Option<u64> {
    None
}

/// What the demo brings to [`app`] instead of `run`'s console.
pub struct Pages {
    /// The demo's page and its JSON.
    pub routes: axum::Router,
    /// The state the pipeline publishes, which the routes read.
    pub shared: Arc<Shared>,
    /// Called once the listener is bound, so that an address is announced only when it serves.
    pub on_listening: Box<dyn FnOnce() + Send>,
}

/// The live service: HTTP and the pipeline, until `shutdown` is cancelled.
pub async fn app(
    config: Config,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    clock: Clock,
    extra: Option<Pages>,
) -> anyhow::Result<()> {
    // The demo brings its own page routes and wants the same shared state; `run` serves the
    // same page as its console, on what the pipeline publishes.
    let (pages, shared, console, on_listening) = match extra {
        Some(Pages {
            routes,
            shared,
            on_listening,
        }) => (routes, shared, None, Some(on_listening)),
        None => {
            let shared = Arc::new(Shared::new(metrics.clone()));
            let console = Console::new(&config, shared.clone(), shutdown.clone());
            (
                crate::demo::api::index("console"),
                shared,
                Some(console),
                None,
            )
        }
    };
    // The token first: a start refused for it must not have said it serves.
    let token = load_token(&config)?;
    if let Some(limit) = raise_open_files_limit() {
        tracing::debug!(limit, "Open files limit.");
    }
    // The demo serves on its `--listen` (put in `http.listen`): named as the user wrote it.
    let setting = if on_listening.is_some() {
        "--listen"
    } else {
        "http.listen ="
    };
    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {setting} {}", config.http.listen))?;
    tracing::info!(listen = %config.http.listen, "Serving HTTP.");
    if let Some(on_listening) = on_listening {
        on_listening();
    }
    let state = AppState::new(metrics, shared.ready.clone(), shared.clone(), token);
    let mut routes = router(state.clone());
    if let Some(console) = console {
        routes = routes
            .merge(guarded_page(&state, pages))
            .merge(crate::demo::api::assets())
            .merge(guarded(&state, console.routes()));
        tokio::spawn(console.sample());
    } else {
        routes = routes.merge(pages);
    }
    let http = tokio::spawn(serve(
        listener,
        routes,
        shutdown.clone(),
        state.metrics.clone(),
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
        let joined = pipeline.join().map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        });
        let _ = done_tx.send(joined);
    });
    tokio::pin!(done_rx);
    let result = tokio::select! {
        joined = &mut done_rx => joined,
        _ = shutdown.cancelled() => {
            running.store(false, Ordering::Relaxed);
            match tokio::time::timeout(SHUTDOWN_DEADLINE, &mut done_rx).await {
                Ok(joined) => joined,
                Err(_) => {
                    // Not a clean stop: the input since the last commit is read again at the
                    // next start, and a supervisor must be able to tell (LIVE.md "Signals").
                    tracing::error!("The pipeline did not stop in time; exiting without its last commit.");
                    std::process::exit(2);
                }
            }
        }
    };
    shutdown.cancel();
    let _ = http.await;
    match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panic)) => anyhow::bail!("the pipeline thread panicked: {panic}"),
        Err(_) => anyhow::bail!("the pipeline thread vanished"),
    }
}
