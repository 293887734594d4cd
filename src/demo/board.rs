//! What the page shows, kept in memory: the latest alerts (read back from the alerts topic),
//! counts by rule, and samples of the engines' state taken twice a second (workers working,
//! open `continuous_work` warnings and violations, hours worked today).
//!
//! The board is a cheap-clone handle (`Arc<Board>`); every lock is a `std` mutex held only
//! to copy or append a few values, never across `.await`.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::Engine;

/// Alerts kept for the "latest alerts" list.
const LATEST: usize = 200;
/// Alerts kept per worker for the worker timeline.
const PER_WORKER: usize = 24;
/// Points kept for the chart; at two a second that is 50 minutes of wall time.
const SERIES: usize = 6000;
/// Daily-hours histogram buckets: [0,1), [1,2), ... [13, inf) hours.
pub const HOUR_BUCKETS: usize = 14;

/// One alert as the page shows it.
#[derive(Debug, Clone)]
pub struct SeenAlert {
    pub at_ms: i64,
    pub json: Value,
}

/// One sample of the engines' state.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Simulated time of the sample (the smallest watermark of the partitions).
    pub at_ms: i64,
    /// Per platform: (online, working).
    pub platforms: BTreeMap<String, (u64, u64)>,
    /// Workers between the warning and the limit of `continuous_work` in an open episode.
    pub warnings: u64,
    /// Workers in a `continuous_work` violation whose qualifying break has not completed.
    pub violations: u64,
    /// Per platform: today's working time of each worker who worked today, in hour buckets.
    pub hours: BTreeMap<String, [u64; HOUR_BUCKETS]>,
    /// Per platform: workers at or above the daily standard / the daily maximum today.
    pub over: BTreeMap<String, (u64, u64)>,
}

#[derive(Default)]
struct Inner {
    latest: VecDeque<SeenAlert>,
    per_worker: HashMap<String, VecDeque<SeenAlert>>,
    counts: BTreeMap<(String, String), u64>,
    series: VecDeque<Sample>,
    last: Sample,
    /// (wall instant, events produced) of the previous rate sample, and the rate.
    rate: Option<(std::time::Instant, u64)>,
    events_per_second: f64,
}

/// The page's data.
#[derive(Default)]
pub struct Board {
    inner: Mutex<Inner>,
    /// Events produced to the input topic so far.
    pub produced: AtomicU64,
}

impl Board {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one alert read from the alerts topic.
    pub fn push_alert(&self, json: Value) {
        let Some(at_ms) = json["at"].as_str().and_then(crate::timefmt::parse_rfc3339) else {
            return;
        };
        let key = (
            json["rule"].as_str().unwrap_or("?").to_owned(),
            json["phase"].as_str().unwrap_or("?").to_owned(),
        );
        let alert = SeenAlert { at_ms, json };
        let mut inner = self.lock();
        *inner.counts.entry(key).or_default() += 1;
        if let Some(worker) = alert.json["worker_id"].as_str() {
            let list = inner.per_worker.entry(worker.to_owned()).or_default();
            if list.len() == PER_WORKER {
                list.pop_front();
            }
            list.push_back(alert.clone());
        }
        if inner.latest.len() == LATEST {
            inner.latest.pop_front();
        }
        inner.latest.push_back(alert);
    }

    /// Alert counts by (rule, phase).
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        self.lock().counts.clone()
    }

    /// The newest `limit` alerts, newest first.
    pub fn latest(&self, limit: usize) -> Vec<Value> {
        let inner = self.lock();
        inner
            .latest
            .iter()
            .rev()
            .take(limit)
            .map(|alert| alert.json.clone())
            .collect()
    }

    pub fn worker_alerts(&self, worker: &str) -> Vec<SeenAlert> {
        self.lock()
            .per_worker
            .get(worker)
            .map(|list| list.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn last(&self) -> Sample {
        self.lock().last.clone()
    }

    pub fn events_per_second(&self) -> f64 {
        self.lock().events_per_second
    }

    /// Samples for the chart, at most `points` of them, evenly thinned.
    pub fn series(&self, points: usize) -> Vec<Sample> {
        let inner = self.lock();
        let step = inner.series.len().div_ceil(points.max(1)).max(1);
        let mut out: Vec<Sample> = inner.series.iter().step_by(step).cloned().collect();
        // Always end on the newest sample, so the chart reaches "now".
        if let Some(newest) = inner.series.back()
            && out.last().is_some_and(|last| last.at_ms != newest.at_ms)
        {
            out.push(newest.clone());
        }
        out
    }

    /// Measures the event rate (the page's "events/s").
    pub fn sample_rate(&self) {
        let produced = self.produced.load(Ordering::Relaxed);
        let now = std::time::Instant::now();
        let mut inner = self.lock();
        if let Some((then, before)) = inner.rate {
            let seconds = now.duration_since(then).as_secs_f64();
            if seconds > 0.0 {
                inner.events_per_second = produced.saturating_sub(before) as f64 / seconds;
            }
        }
        inner.rate = Some((now, produced));
    }

    /// Samples the engines; called by the pipeline's loop, which owns them.
    pub fn sample(&self, engines: &[&Engine], min_break: i64, standard: i64, max: i64) {
        let Some(sample) = take_sample(engines, min_break, standard, max) else {
            return;
        };
        let mut inner = self.lock();
        if inner
            .series
            .back()
            .is_none_or(|last| last.at_ms < sample.at_ms)
        {
            if inner.series.len() == SERIES {
                inner.series.pop_front();
            }
            inner.series.push_back(sample.clone());
        }
        inner.last = sample;
    }
}

/// Reads every partition's workers; `None` before any partition has event time.
fn take_sample(engines: &[&Engine], min_break: i64, standard: i64, max: i64) -> Option<Sample> {
    let mut sample = Sample {
        at_ms: i64::MAX,
        ..Sample::default()
    };
    for &engine in engines {
        let now = engine.watermark();
        if now == crate::engine::NEVER {
            continue;
        }
        sample.at_ms = sample.at_ms.min(now);
        for worker in engine.workers() {
            if worker.since == crate::engine::NEVER {
                continue;
            }
            let platform = engine.name(worker.platform);
            let extra = if worker.working() {
                (now - worker.since).max(0)
            } else {
                0
            };
            // Every platform seen, zeros included: a quiet night shows 0, not a missing bar.
            let entry = sample.platforms.entry(platform.to_owned()).or_default();
            entry.0 += u64::from(worker.online());
            entry.1 += u64::from(worker.working());
            // A qualifying break that has completed closes the episode, whether or not the
            // engine has noticed it yet.
            let (episode, rest_start) = worker.continuous().unwrap_or((None, now));
            let resting = !worker.working() && now.saturating_sub(rest_start) >= min_break;
            if let Some(episode) = episode
                && !resting
            {
                if episode.violated {
                    sample.violations += 1;
                } else if episode.warned {
                    sample.warnings += 1;
                }
            }
            if worker.day.start <= now && now < worker.day.end {
                let today = i64::from(worker.day_work) + extra;
                if today > 0 {
                    let bucket = ((today / 3_600_000) as usize).min(HOUR_BUCKETS - 1);
                    let hours = sample.hours.entry(platform.to_owned()).or_default();
                    hours[bucket] += 1;
                    let over = sample.over.entry(platform.to_owned()).or_default();
                    over.0 += u64::from(today >= standard);
                    over.1 += u64::from(today >= max);
                }
            }
        }
    }
    (sample.at_ms != i64::MAX).then_some(sample)
}

impl Sample {
    pub fn working(&self) -> u64 {
        self.platforms.values().map(|&(_, working)| working).sum()
    }

    pub fn online(&self) -> u64 {
        self.platforms.values().map(|&(online, _)| online).sum()
    }

    pub fn platforms_json(&self) -> Value {
        self.platforms
            .iter()
            .map(|(platform, &(online, working))| {
                (
                    platform.clone(),
                    json!({"online": online, "working": working}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}
