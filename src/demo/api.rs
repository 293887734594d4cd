//! The demo's HTTP routes, merged into the monitor's server: the page at `/` with its
//! assets (embedded in the binary), and the JSON it polls under `/api/demo/`.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Offset, TimeZone};
use chrono_tz::Tz;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::board::{Board, HOUR_BUCKETS};
use super::feed::Tracks;
use crate::config::{Config, Rules};
use crate::engine::measure::Measure;
use crate::engine::rules::Params;
use crate::live::{Clock, Shared};
use crate::timefmt::format_rfc3339;

const INDEX_HTML: &str = include_str!("assets/index.html");
const STYLE_CSS: &str = include_str!("assets/style.css");
const APP_JS: &str = include_str!("assets/app.js");
const CHARTS_JS: &str = include_str!("assets/charts.js");

/// Points sent for the chart; the board thins its samples to this many.
const CHART_POINTS: usize = 600;
/// The worker timeline covers this much simulated time before now.
const TIMELINE_SPAN_MS: i64 = 24 * 3_600_000;

/// What the handlers share: cheap to clone.
#[derive(Clone)]
pub struct DemoState {
    pub board: Arc<Board>,
    pub tracks: Arc<Tracks>,
    pub shared: Arc<Shared>,
    pub clock: Clock,
    /// The config in force: its zone, `[rules]`, and each worker's rule set for the timeline.
    pub config: Arc<Config>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub speed: f64,
    pub workers: u32,
    pub seed: u64,
}

/// The page at `/` and its assets, for `mode` `demo` or `console` (`workhours run`): the
/// page reads its mode from `<body data-mode>` and polls the JSON of that mode. No data here.
pub fn pages(mode: &'static str) -> Router {
    index(mode).merge(assets())
}

/// The page at `/` alone ([`pages`]).
pub fn index(mode: &'static str) -> Router {
    Router::new().route(
        "/",
        get(move || async move {
            let html = INDEX_HTML.replacen(
                r#"<body data-mode="demo">"#,
                &format!(r#"<body data-mode="{mode}">"#),
                1,
            );
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }),
    )
}

/// The page's style and scripts ([`pages`]): code, no data, open to any request (a browser
/// sends no token for a script).
pub fn assets() -> Router {
    Router::new()
        .route(
            "/assets/style.css",
            get(|| async { page(STYLE_CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/assets/app.js",
            get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/charts.js",
            get(|| async { page(CHARTS_JS, "text/javascript; charset=utf-8") }),
        )
}

/// The page and its JSON.
pub fn routes(state: DemoState) -> Router {
    Router::new()
        .route("/api/demo/status", get(status))
        .route("/api/demo/series", get(series))
        .route("/api/demo/alerts", get(alerts))
        .route("/api/demo/hours", get(hours))
        .route("/api/demo/workers/{worker_id}/timeline", get(timeline))
        .with_state(state)
        .merge(pages("demo"))
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A JSON answer that no cache keeps (the page polls it). Also the console's.
pub(crate) fn no_store(body: Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// The zone's offset from UTC at `ms`, for the page to print local times.
pub(crate) fn utc_offset_ms(zone: &Tz, ms: i64) -> i64 {
    match zone.timestamp_millis_opt(ms).single() {
        Some(local) => i64::from(local.offset().fix().local_minus_utc()) * 1000,
        None => 0,
    }
}

/// The rule values the page prints (demo and console).
pub(crate) fn rules_json(zone: &Tz, rules: &Rules) -> Value {
    json!({
        "zone": zone.name(),
        "min_break_seconds": rules.min_break / 1000,
        "continuous_limit_seconds": rules.continuous_limit / 1000,
        "warn_before_seconds": rules.warn_before / 1000,
        "daily_standard_seconds": rules.daily_standard / 1000,
        "daily_max_seconds": rules.daily_max / 1000,
        "weekly_max_seconds": rules.weekly_max / 1000,
        "monthly_overtime_max_seconds": rules.monthly_overtime_max / 1000,
    })
}

impl DemoState {
    fn time(&self, ms: i64) -> String {
        format_rfc3339(ms, &self.config.time.zone)
    }

    fn utc_offset_ms(&self, ms: i64) -> i64 {
        utc_offset_ms(&self.config.time.zone, ms)
    }
}

async fn status(State(state): State<DemoState>) -> Response {
    let now = state.clock.now_ms();
    let last = state.board.last();
    let mut by_rule: serde_json::Map<String, Value> = serde_json::Map::new();
    let mut total = 0;
    for ((rule, phase), count) in state.board.counts() {
        total += count;
        let entry = by_rule.entry(rule).or_insert_with(|| json!({}));
        entry[phase] = count.into();
    }
    let rules = &state.config.rules;
    // Packs and holds as the monitor published them, as `workhours run`'s console shows them.
    let live = state.shared.views.summary();
    no_store(json!({
        "mode": "demo",
        "packs": live["packs"],
        "holds": live["holds"],
        "sim_time": state.time(now),
        "sim_time_ms": now,
        "utc_offset_ms": state.utc_offset_ms(now),
        "as_of": (last.at_ms > 0).then(|| state.time(last.at_ms)),
        "started": state.time(state.start_ms),
        "ends": state.end_ms.map(|end| state.time(end)),
        "simulated_hours": (now - state.start_ms) as f64 / 3_600_000.0,
        "speed": state.speed,
        "workers": state.workers,
        "seed": state.seed,
        "ready": state.shared.ready.load(Ordering::Relaxed),
        "events_produced": state.board.produced.load(Ordering::Relaxed),
        "events_per_second": state.board.events_per_second().round(),
        "online": last.online(),
        "working": last.working(),
        "platforms": last.platforms_json(),
        "continuous_work": {"warnings": last.warnings, "violations": last.violations},
        "alerts": {"total": total, "by_rule": by_rule},
        "rules": rules_json(&state.config.time.zone, rules),
    }))
}

async fn series(State(state): State<DemoState>) -> Response {
    let points: Vec<Value> = state
        .board
        .series(CHART_POINTS)
        .iter()
        .map(|sample| {
            json!({
                "t": sample.at_ms,
                "warnings": sample.warnings,
                "violations": sample.violations,
                "working": sample.working(),
            })
        })
        .collect();
    let now = state.clock.now_ms();
    no_store(json!({
        "utc_offset_ms": state.utc_offset_ms(now),
        "points": points,
    }))
}

#[derive(serde::Deserialize)]
struct AlertsQuery {
    limit: Option<usize>,
}

async fn alerts(State(state): State<DemoState>, Query(query): Query<AlertsQuery>) -> Response {
    let limit = query.limit.unwrap_or(30).min(200);
    no_store(json!({ "alerts": state.board.latest(limit) }))
}

async fn hours(State(state): State<DemoState>) -> Response {
    let last = state.board.last();
    let platforms: serde_json::Map<String, Value> = last
        .hours
        .iter()
        .map(|(platform, buckets)| {
            let (standard, max) = last.over.get(platform).copied().unwrap_or_default();
            (
                platform.clone(),
                json!({
                    "buckets": buckets.to_vec(),
                    "workers": buckets.iter().sum::<u64>(),
                    "at_or_over_standard": standard,
                    "at_or_over_max": max,
                }),
            )
        })
        .collect();
    no_store(json!({
        "as_of": (last.at_ms > 0).then(|| state.time(last.at_ms)),
        "bucket_hours": 1,
        "buckets": HOUR_BUCKETS,
        "standard_hours": state.config.rules.daily_standard as f64 / 3_600_000.0,
        "max_hours": state.config.rules.daily_max as f64 / 3_600_000.0,
        "platforms": platforms,
    }))
}

/// The first `continuous` rule of the worker's pack (`continuous_work` in the default pack,
/// `mohrss2024_continuous` on order time, `didi2018_continuous`, ...): its id, measure, limit,
/// warning lead and break. `None` when the pack has none.
fn continuous_rule(config: &Config, platform: &str, role: &str) -> Option<Continuous> {
    let set = config.rule_set(platform, role);
    set.rules().iter().find_map(|def| match &def.params {
        Params::Continuous(p) => Some(Continuous {
            id: def.id.to_string(),
            measure: def.measure,
            limit: p.limit,
            warn_before: p.warn_before,
            min_break: p.brk,
        }),
        _ => None,
    })
}

/// What the timeline draws of a `continuous` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Continuous {
    pub id: String,
    pub measure: Measure,
    pub limit: i64,
    pub warn_before: Option<i64>,
    pub min_break: i64,
}

impl Continuous {
    /// The default pack's `continuous_work` with `rules`' values.
    pub fn of(rules: &Rules) -> Continuous {
        Continuous {
            id: "continuous_work".into(),
            measure: Measure::Work,
            limit: rules.continuous_limit,
            warn_before: Some(rules.warn_before),
            min_break: rules.min_break,
        }
    }
}

/// One worker's time over the last day, as the produced events describe it, measured as their
/// pack's first `continuous` rule counts it (working time, order time, ...), with that rule's
/// episodes and the instants its limits are (or would be) reached, and the alerts the monitor
/// sent about the worker.
async fn timeline(State(state): State<DemoState>, Path(worker_id): Path<String>) -> Response {
    let now = state.clock.now_ms();
    let (track, platform, role) = {
        let tracks = state.tracks.lock();
        match tracks.get(&worker_id) {
            Some(track) => (
                [
                    track.work.to_vec(),
                    track.with_orders.to_vec(),
                    track.carrying.to_vec(),
                ],
                track.platform.clone(),
                track.role.clone(),
            ),
            None => {
                let body = json!({ "error": "unknown worker", "worker_id": worker_id });
                return (
                    StatusCode::NOT_FOUND,
                    [(header::CACHE_CONTROL, "no-store")],
                    axum::Json(body),
                )
                    .into_response();
            }
        }
    };
    let rule = continuous_rule(&state.config, &platform, &role);
    let [work, orders, carrying] = track;
    let changes = match rule.as_ref().map(|r| r.measure) {
        None | Some(Measure::Work) => work,
        Some(Measure::Orders) => orders,
        Some(Measure::Carrying) => carrying,
        // No `activity` in the demo's stream: never driving.
        Some(Measure::Driving | Measure::Duty) => Vec::new(),
    };
    let rule = rule.unwrap_or_else(|| Continuous::of(&state.config.rules));
    let plan = plan(&changes, now, &rule);
    let from = now - TIMELINE_SPAN_MS;
    let segments: Vec<Value> = plan
        .segments
        .iter()
        .filter(|segment| segment.end > from)
        .map(|segment| {
            json!({
                "start": segment.start.max(from),
                "end": segment.end,
                "kind": segment.kind,
                "minutes": (segment.end - segment.start) / 60_000,
            })
        })
        .collect();
    let episodes: Vec<Value> = plan
        .episodes
        .iter()
        .filter(|episode| episode.end > from)
        .map(|episode| {
            json!({
                "start": episode.start,
                "end": episode.end,
                "worked_seconds": episode.worked / 1000,
                "warn_at": episode.warn_at,
                "limit_at": episode.limit_at,
            })
        })
        .collect();
    let alerts: Vec<Value> = state
        .board
        .worker_alerts(&worker_id)
        .into_iter()
        .filter(|alert| alert.at_ms > from)
        .map(|alert| {
            json!({
                "at_ms": alert.at_ms,
                "at": alert.json["at"],
                "rule": alert.json["rule"],
                "phase": alert.json["phase"],
                "message": alert.json["message"],
            })
        })
        .collect();
    no_store(json!({
        "worker_id": worker_id,
        "platform": platform,
        "role": role,
        "from": from,
        "now": now,
        "utc_offset_ms": state.utc_offset_ms(now),
        "segments": segments,
        "episodes": episodes,
        "alerts": alerts,
        "rule": rule.id,
        "measure": rule.measure.as_str(),
        "limits": {
            "min_break_seconds": rule.min_break / 1000,
            "continuous_limit_seconds": rule.limit / 1000,
            "warn_before_seconds": rule.warn_before.map(|w| w / 1000),
        },
    }))
}

/// A stretch of a worker's time.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub start: i64,
    pub end: i64,
    /// `work`, `pause` (a rest shorter than the minimum break) or `break` (a qualifying one).
    pub kind: &'static str,
}

/// Work between qualifying breaks, with the instants its thresholds are reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub start: i64,
    pub end: i64,
    pub worked: i64,
    pub warn_at: Option<i64>,
    pub limit_at: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub segments: Vec<Segment>,
    pub episodes: Vec<Episode>,
}

/// Splits (instant, working) changes up to `now` into segments and episodes (SPEC section 3:
/// a rest shorter than `min_break` neither counts as work nor ends the episode).
pub fn plan(changes: &[(i64, bool)], now: i64, rule: &Continuous) -> Plan {
    let mut out = Plan::default();
    let warn = rule
        .warn_before
        .map_or(i64::MAX, |before| rule.limit - before);
    for (index, &(start, working)) in changes.iter().enumerate() {
        if start >= now {
            break;
        }
        let end = changes.get(index + 1).map_or(now, |next| next.0.min(now));
        if end <= start {
            continue;
        }
        if !working {
            let kind = if end - start >= rule.min_break {
                "break"
            } else {
                "pause"
            };
            out.segments.push(Segment { start, end, kind });
            continue;
        }
        out.segments.push(Segment {
            start,
            end,
            kind: "work",
        });
        let continues = out.segments.len() >= 2
            && out.segments[out.segments.len() - 2].kind == "pause"
            && !out.episodes.is_empty();
        if !continues {
            out.episodes.push(Episode {
                start,
                end,
                worked: 0,
                warn_at: None,
                limit_at: None,
            });
        }
        let episode = out.episodes.last_mut().expect("pushed above");
        let before = episode.worked;
        episode.worked += end - start;
        episode.end = end;
        if before < warn && episode.worked >= warn {
            episode.warn_at = Some(start + (warn - before));
        }
        if before < rule.limit && episode.worked >= rule.limit {
            episode.limit_at = Some(start + (rule.limit - before));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    #[test]
    fn short_pauses_do_not_end_an_episode() {
        let rules = Continuous::of(&Rules::default());
        // 3 h of work, a 10 min pause, 2 h of work, a 30 min break, 1 h of work.
        let changes = [
            (0, true),
            (3 * H, false),
            (3 * H + 10 * M, true),
            (5 * H + 10 * M, false),
            (5 * H + 40 * M, true),
            (6 * H + 40 * M, false),
        ];
        let plan = plan(&changes, 8 * H, &rules);
        let kinds: Vec<_> = plan.segments.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, ["work", "pause", "work", "break", "work", "break"]);
        assert_eq!(plan.episodes.len(), 2);
        let first = &plan.episodes[0];
        assert_eq!(first.worked, 5 * H);
        assert_eq!(first.warn_at, Some(3 * H + 10 * M + 45 * M));
        assert_eq!(first.limit_at, Some(4 * H + 10 * M));
        assert_eq!(plan.episodes[1].limit_at, None);
    }
}
