//! `workhours`: a real-time monitor of the working hours of platform workers.
//!
//! # Layout
//!
//! - [`event`]: the wire type of input events, parsed and validated (SPEC section 2).
//! - [`timefmt`]: RFC 3339 parsing and formatting of event-time instants.
//! - [`calendar`]: local days, ISO weeks and months of the configured zone (DST aware).
//! - [`engine`]: the pure rule engine: per-worker state, timers driven by a watermark,
//!   reordering within the allowed lateness, duplicates, the aggregate quota rule.
//! - [`alert`]: the alert object and its JSON line.
//! - [`config`]: the TOML config tree, environment overrides and start-up checks.
//! - [`pack`]: rule packs (`config/packs/`): parsing and resolving a pack's rules.
//! - [`duration`]: human durations (`3h 45m`).
//! - [`replay`]: `workhours replay`, the engine over a JSON-lines file.
//! - [`live`]: `workhours run`, the Kafka pipeline: per-partition engines, checkpoints to the
//!   state topic, the cross-partition `quota_p90` aggregate.
//! - [`metrics`]: the Prometheus metrics, one struct over a private registry, bounded labels.
//! - [`console`]: `workhours run`'s page at `/`: the demo's page on live data, its JSON under
//!   `/v1/console/` read from the pipeline's published snapshots and the alerts topic.
//! - [`http`]: the HTTP routes (`/metrics`, `/healthz`, `/readyz`, `/v1/...`) and their server.
//! - [`telemetry`]: logs to stderr, filtered by `RUST_LOG`.
//! - [`report`]: `workhours report`: a month's figures per platform and city, rendered as CSV
//!   and as one self-contained HTML page with charts (SPEC section 8).
//! - [`simulate`]: `workhours simulate`, seeded synthetic event streams.
//! - [`demo`]: `workhours demo`, the whole pipeline in one process (in-process broker,
//!   simulator on a scaled clock, the live monitor) with a live page for regulators.
//! - [`pseudonymize`]: `workhours pseudonymize`, national ids to `person_id` (HMAC-SHA256) at
//!   the platform, before events leave it.
//! - [`holidays`]: the statutory-holiday calendar file (`config/holidays/cn.toml`): statutory
//!   days, the other days off of each break, the swapped working days.
//! - [`files`]: small files (config, pack, holidays, token, key) read with a bound, and outputs
//!   that would overwrite the input refused.
//! - [`cli`]: the command line.

pub mod alert;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod duration;
pub mod engine;
pub mod event;
pub mod files;
pub mod holidays;
pub mod http;
pub mod keyed;
pub mod live;
pub mod metrics;
pub mod pack;
pub mod progress;
pub mod pseudonymize;
pub mod replay;
pub mod report;
pub mod simulate;
pub mod telemetry;
pub mod timefmt;

/// Locks a mutex, ignoring poisoning: every critical section in this crate leaves its data
/// consistent, so a panic elsewhere must not take the monitor (metrics, pipeline, console)
/// down with it.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
