//! The console of `workhours run` (SPEC section 8): the page `workhours demo` shows, served
//! at `/` on live data. The page's HTML, CSS and JavaScript carry no data and are open; the
//! data is under `/v1/console/`, behind the same guard as `/v1/*` (the bearer token of
//! `http.token_file`), and answered from what the pipeline publishes ([`Shared`]'s summary)
//! or from the console's own reader of the alerts topic, never by waiting on the pipeline
//! or the broker.
//!
//! What the demo shows and the live service cannot (the simulator's clock and event rate,
//! the hours histogram, the worker timeline built from the produced events) is absent from
//! the console's JSON, and the page says so in place of those charts.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono_tz::Tz;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset as KafkaOffset, TopicPartitionList};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, KafkaConfig, Rules};
use crate::demo::api::{no_store, rules_json, utc_offset_ms};
use crate::live::Logging;
use crate::live::Shared;
use crate::lock;

/// How often the summary is sampled for the chart of continuous work over time.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Chart points kept: at one per 2 s, 4 hours of wall time.
const SERIES: usize = 7200;
/// Points sent for the chart.
const CHART_POINTS: usize = 600;
/// Alerts kept for the "latest alerts" list, and read back per partition at start.
const LATEST: usize = 200;
/// How long the alerts reader waits for the broker's metadata before it tries again.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// What the console's handlers share: cheap to clone.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    zone: Tz,
    rules: Rules,
    kafka: KafkaConfig,
    shutdown: CancellationToken,
    /// Samples of the summary: (event time, warnings, violations, working).
    series: Mutex<VecDeque<[i64; 4]>>,
    alerts: Mutex<Alerts>,
    /// Set once the alerts reader is started (on the first request that needs it, so that a
    /// monitor nobody watches opens no extra connection).
    reader_started: AtomicBool,
}

/// The alerts read back from the alerts topic, newest last.
#[derive(Default)]
struct Alerts {
    latest: VecDeque<Value>,
    counts: BTreeMap<(String, String), u64>,
    /// `starting`, `reading`, or why it cannot read.
    reader: String,
}

impl Console {
    pub fn new(config: &Config, shared: Arc<Shared>, shutdown: CancellationToken) -> Console {
        Console {
            inner: Arc::new(Inner {
                shared,
                zone: config.time.zone,
                rules: config.rules.clone(),
                kafka: config.kafka.clone(),
                shutdown,
                series: Mutex::new(VecDeque::new()),
                alerts: Mutex::new(Alerts {
                    reader: "not started".into(),
                    ..Alerts::default()
                }),
                reader_started: AtomicBool::new(false),
            }),
        }
    }

    /// The data routes, all under `/v1/console/`; give them to [`crate::http::guarded`].
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/v1/console/status", get(status))
            .route("/v1/console/series", get(series))
            .route("/v1/console/alerts", get(alerts))
            .with_state(self.clone())
    }

    /// Samples the published summary every [`SAMPLE_EVERY`] until shutdown.
    pub async fn sample(self) {
        let mut interval = tokio::time::interval(SAMPLE_EVERY);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = self.inner.shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            self.take_sample(&self.inner.shared.views.summary());
        }
    }

    fn take_sample(&self, summary: &Value) {
        let Some(at) = summary["as_of_ms"].as_i64() else {
            return;
        };
        let count = |value: &Value| value.as_i64().unwrap_or(0);
        let working = summary["platforms"].as_object().map_or(0, |rows| {
            rows.values().map(|row| count(&row["working"])).sum()
        });
        let point = [
            at,
            count(&summary["continuous_work"]["warnings"]),
            count(&summary["continuous_work"]["violations"]),
            working,
        ];
        let mut series = lock(&self.inner.series);
        if series.back().is_none_or(|last| last[0] < at) {
            if series.len() == SERIES {
                series.pop_front();
            }
            series.push_back(point);
        }
    }

    fn utc_offset_ms(&self, ms: i64) -> i64 {
        utc_offset_ms(&self.inner.zone, ms)
    }

    /// Starts the alerts reader once, on its own thread.
    fn start_reader(&self) {
        if self.inner.reader_started.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.inner.alerts).reader = "starting".into();
        let inner = self.inner.clone();
        let spawned = std::thread::Builder::new()
            .name("console-alerts".into())
            .spawn(move || read_alerts(&inner));
        if let Err(error) = spawned {
            lock(&self.inner.alerts).reader = format!("cannot start: {error}");
        }
    }

    #[cfg(test)]
    fn push_alert(&self, alert: Value) {
        push_alert(&self.inner, alert);
    }
}

fn push_alert(inner: &Inner, alert: Value) {
    let key = (
        alert["rule"].as_str().unwrap_or("?").to_owned(),
        alert["phase"].as_str().unwrap_or("?").to_owned(),
    );
    let mut alerts = lock(&inner.alerts);
    *alerts.counts.entry(key).or_default() += 1;
    if alerts.latest.len() == LATEST {
        alerts.latest.pop_front();
    }
    alerts.latest.push_back(alert);
}

fn set_reader(inner: &Inner, what: String) {
    lock(&inner.alerts).reader = what;
}

/// Reads the alerts topic, from the last [`LATEST`] alerts of each partition on, into the
/// console until shutdown. A broker that cannot be reached is retried; the status says so.
fn read_alerts(inner: &Inner) {
    let topic = inner.kafka.alerts_topic.clone();
    let mut client = crate::live::client_config(&inner.kafka);
    // Assigned partitions: the console joins no group and commits nothing; librdkafka still
    // wants a group id for `assign`, one apart from the pipeline's.
    client.set("group.id", format!("{}.console", inner.kafka.group_id));
    client.set("enable.auto.commit", "false");
    client.set("enable.partition.eof", "false");
    let consumer: BaseConsumer<Logging> = match client.create_with_context(Logging::default()) {
        Ok(consumer) => consumer,
        Err(error) => {
            tracing::warn!(%error, "Console: cannot create the alerts reader.");
            set_reader(inner, format!("cannot create a Kafka consumer: {error}"));
            return;
        }
    };
    // The partitions, and where to start in each.
    loop {
        if inner.shutdown.is_cancelled() {
            return;
        }
        match assignment(&consumer, &topic) {
            Ok(assignment) => match consumer.assign(&assignment) {
                Ok(()) => break,
                Err(error) => set_reader(inner, format!("cannot read {topic}: {error}")),
            },
            Err(error) => {
                tracing::warn!(%error, topic, "Console: cannot read the alerts topic yet.");
                set_reader(inner, format!("cannot read {topic}: {error}"));
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    set_reader(inner, "reading".into());
    while !inner.shutdown.is_cancelled() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                if let Some(alert) = message
                    .payload()
                    .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
                    .filter(Value::is_object)
                {
                    push_alert(inner, alert);
                }
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "Console: cannot read an alert.");
            }
            None => {}
        }
    }
}

/// Every partition of `topic`, each from its last [`LATEST`] records on.
fn assignment(consumer: &BaseConsumer<Logging>, topic: &str) -> anyhow::Result<TopicPartitionList> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        anyhow::bail!("the topic has no partition (does it exist?)");
    }
    let mut list = TopicPartitionList::new();
    for partition in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, METADATA_TIMEOUT)?;
        let from = (high - LATEST as i64).max(low);
        list.add_partition_offset(topic, partition, KafkaOffset::Offset(from))?;
    }
    Ok(list)
}

/// The key figures: the published summary, the alerts read so far, the rule values.
async fn status(State(console): State<Console>) -> Response {
    console.start_reader();
    let summary = console.inner.shared.views.summary();
    let (by_rule, total, reader) = {
        let alerts = lock(&console.inner.alerts);
        let mut by_rule = serde_json::Map::new();
        let mut total = 0;
        for ((rule, phase), count) in &alerts.counts {
            total += count;
            let entry = by_rule.entry(rule.clone()).or_insert_with(|| json!({}));
            entry[phase] = (*count).into();
        }
        (by_rule, total, alerts.reader.clone())
    };
    let as_of_ms = summary["as_of_ms"].as_i64();
    let platforms = &summary["platforms"];
    let sum = |field: &str| -> i64 {
        platforms.as_object().map_or(0, |rows| {
            rows.values()
                .map(|row| row[field].as_i64().unwrap_or(0))
                .sum()
        })
    };
    let rules = &console.inner.rules;
    no_store(json!({
        "mode": "console",
        "as_of": summary["as_of"],
        "as_of_ms": as_of_ms,
        "utc_offset_ms": console.utc_offset_ms(as_of_ms.unwrap_or(0)),
        "ready": console.inner.shared.ready.load(Ordering::Relaxed),
        "partitions": summary["partitions"],
        "online": sum("online"),
        "working": sum("working"),
        "platforms": platforms,
        "packs": summary["packs"],
        "holds": summary["holds"],
        "continuous_work": summary["continuous_work"],
        "alerts": {"total": total, "by_rule": by_rule, "reader": reader},
        "rules": rules_json(&console.inner.zone, rules),
    }))
}

/// Continuous work over event time, as sampled since the monitor started.
async fn series(State(console): State<Console>) -> Response {
    let points: Vec<Value> = {
        let series = lock(&console.inner.series);
        let step = series.len().div_ceil(CHART_POINTS).max(1);
        let mut points: Vec<&[i64; 4]> = series.iter().step_by(step).collect();
        if let Some(newest) = series.back()
            && points.last().is_some_and(|last| last[0] != newest[0])
        {
            points.push(newest);
        }
        points
            .into_iter()
            .map(|&[t, warnings, violations, working]| {
                json!({"t": t, "warnings": warnings, "violations": violations, "working": working})
            })
            .collect()
    };
    let at = points.last().and_then(|p| p["t"].as_i64()).unwrap_or(0);
    no_store(json!({ "utc_offset_ms": console.utc_offset_ms(at), "points": points }))
}

#[derive(serde::Deserialize)]
struct AlertsQuery {
    limit: Option<usize>,
}

/// The newest alerts read from the alerts topic, newest first.
async fn alerts(State(console): State<Console>, Query(query): Query<AlertsQuery>) -> Response {
    console.start_reader();
    let limit = query.limit.unwrap_or(30).min(LATEST);
    let (latest, reader) = {
        let alerts = lock(&console.inner.alerts);
        let latest: Vec<Value> = alerts.latest.iter().rev().take(limit).cloned().collect();
        (latest, alerts.reader.clone())
    };
    no_store(json!({ "alerts": latest, "reader": reader }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{AppState, guarded};
    use crate::metrics::Metrics;
    use axum::http::StatusCode;

    fn console() -> Console {
        let shared = Arc::new(Shared::new(Arc::new(Metrics::new())));
        let console = Console::new(&Config::default(), shared, CancellationToken::new());
        // No reader in unit tests: there is no broker.
        console.inner.reader_started.store(true, Ordering::Release);
        console
    }

    fn app(console: &Console, token: Option<&str>) -> Router {
        let shared = console.inner.shared.clone();
        let state = AppState::new(
            shared.metrics.clone(),
            shared.ready.clone(),
            shared.clone(),
            token.map(Into::into),
        );
        crate::http::router(state.clone()).merge(guarded(&state, console.routes()))
    }

    async fn get(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
        let bearer = token.map(|token| format!("Bearer {token}"));
        crate::http::tests::fetch_with(app, uri, bearer.as_deref()).await
    }

    #[tokio::test]
    async fn status_series_and_alerts_come_from_what_is_published() {
        let console = console();
        let summary = json!({
            "partitions": 2,
            "as_of": "2026-03-02T10:00:00+08:00",
            "as_of_ms": 1_772_416_800_000_i64,
            "platforms": {"didi": {"online": 3, "working": 2}, "meituan": {"online": 1, "working": 1}},
            "packs": {"didi": ["didi-2018"]},
            "continuous_work": {"warnings": 1, "violations": 2},
            "holds": {"workers": 1, "by_platform": {"didi": 1}, "sample": ["dd-1"]},
        });
        console.take_sample(&summary);
        console.take_sample(&summary); // same instant: one point
        console.push_alert(
            json!({"rule": "continuous_work", "phase": "violation", "worker_id": "dd-1"}),
        );
        console.push_alert(
            json!({"rule": "continuous_work", "phase": "warning", "worker_id": "dd-1"}),
        );
        let app = app(&console, None);

        let (status, body) = get(&app, "/v1/console/status", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["mode"], "console");
        assert_eq!(body["alerts"]["total"], 2);
        assert_eq!(body["alerts"]["by_rule"]["continuous_work"]["violation"], 1);
        // Nothing published yet by a pipeline: the empty summary, not an error.
        assert_eq!(body["partitions"], 0);
        assert_eq!(body["holds"]["workers"], 0);

        let (_, body) = get(&app, "/v1/console/series", None).await;
        let points = body["points"].as_array().unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0]["violations"], 2);
        assert_eq!(points[0]["working"], 3);

        let (_, body) = get(&app, "/v1/console/alerts?limit=1", None).await;
        assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(body["alerts"][0]["phase"], "warning", "newest first");
    }

    #[tokio::test]
    async fn the_token_guards_the_console_data() {
        let console = console();
        let app = app(&console, Some("s3cret"));
        for uri in [
            "/v1/console/status",
            "/v1/console/series",
            "/v1/console/alerts",
        ] {
            assert_eq!(get(&app, uri, None).await.0, StatusCode::UNAUTHORIZED);
            assert_eq!(
                get(&app, uri, Some("wrong")).await.0,
                StatusCode::UNAUTHORIZED
            );
            assert_eq!(get(&app, uri, Some("s3cret")).await.0, StatusCode::OK);
        }
    }
}
