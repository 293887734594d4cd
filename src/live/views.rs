//! What HTTP reads of the live state, without ever waiting on the pipeline: the loop
//! publishes a summary snapshot ([`tokio::sync::watch`]) and answers worker look-ups handed
//! to it over a bounded channel. A look-up wakes the loop (it does not wait for the loop's
//! next poll), which answers it at its next iteration, and every 20 ms while a checkpoint
//! waits for the broker's acknowledgements. A handler never takes a lock the loop holds. What
//! still stops the loop from answering, the producer's queue full while the broker is away,
//! shows in [`Views::blocked`] once it has lasted [`BLOCKED_AFTER`], and `/v1/workers/{id}`
//! is then refused at once (503).

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

use crate::engine::{Engine, NEVER};
use crate::metrics;

/// How long the loop must have waited for room to send before look-ups are refused: waits
/// shorter than this (a busy broker) end before a look-up would notice.
pub const BLOCKED_AFTER: Duration = Duration::from_millis(250);
/// Worker look-ups waiting for the loop; more are refused at once (503).
const QUERY_QUEUE: usize = 64;
/// Worker ids on hold named in the summary (the console links them); the count is exact.
const HELD_SAMPLE: usize = 12;

/// The producer's sends waiting for room in its queue now, and since when the first of them
/// has waited.
#[derive(Default)]
pub struct Blocked(Mutex<(usize, Option<Instant>)>);

impl Blocked {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, Option<Instant>)> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A send starts waiting.
    pub fn enter(&self) {
        let mut state = self.lock();
        if state.0 == 0 {
            state.1 = Some(Instant::now());
        }
        state.0 += 1;
    }

    /// A send that waited is done.
    pub fn leave(&self) {
        let mut state = self.lock();
        state.0 = state.0.saturating_sub(1);
        if state.0 == 0 {
            state.1 = None;
        }
    }

    /// How long sends have waited without a pause, if one waits now.
    pub fn waited(&self) -> Option<Duration> {
        self.lock().1.map(|since| since.elapsed())
    }
}

/// One `/v1/workers/{id}` look-up, answered by the loop.
pub struct WorkerQuery {
    pub id: String,
    pub reply: oneshot::Sender<Option<Value>>,
}

/// The loop's side and the handlers' side of the views.
pub struct Views {
    summary: watch::Sender<Arc<Value>>,
    queries: mpsc::Sender<WorkerQuery>,
    /// The loop's end of `queries`.
    inbox: Mutex<mpsc::Receiver<WorkerQuery>>,
    /// Wakes the loop when a look-up is handed to it (set by the pipeline).
    wake: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
    /// The producer's sends waiting for room in its queue: while one does, the loop cannot
    /// answer.
    blocked: Arc<Blocked>,
}

impl Default for Views {
    fn default() -> Self {
        let (summary, _) = watch::channel(Arc::new(empty_summary()));
        let (queries, inbox) = mpsc::channel(QUERY_QUEUE);
        Views {
            summary,
            queries,
            inbox: Mutex::new(inbox),
            wake: Mutex::new(None),
            blocked: Arc::new(Blocked::default()),
        }
    }
}

fn empty_summary() -> Value {
    json!({
        "partitions": 0,
        "as_of": null,
        "as_of_ms": null,
        "platforms": {},
        "cities": {},
        "packs": {},
        "continuous_work": {"warnings": 0, "violations": 0},
        "holds": {"workers": 0, "by_platform": {}, "sample": []},
    })
}

impl Views {
    /// The latest summary the loop published.
    pub fn summary(&self) -> Arc<Value> {
        self.summary.borrow().clone()
    }

    /// Hands a look-up to the loop and wakes it; `None` when its queue is full or it is gone.
    pub fn ask(&self, id: &str) -> Option<oneshot::Receiver<Option<Value>>> {
        let (reply, answer) = oneshot::channel();
        self.queries
            .try_send(WorkerQuery {
                id: id.to_owned(),
                reply,
            })
            .ok()?;
        if let Some(wake) = &*self.wake.lock().unwrap_or_else(|p| p.into_inner()) {
            wake();
        }
        Some(answer)
    }

    /// Sets what wakes the loop when a look-up is handed to it.
    pub fn on_ask(&self, wake: impl Fn() + Send + Sync + 'static) {
        *self.wake.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(wake));
    }

    /// Where the producer counts its sends waiting for room in its queue.
    pub fn blocked_flag(&self) -> Arc<Blocked> {
        self.blocked.clone()
    }

    /// Whether the loop has waited for room to send (the broker away) for [`BLOCKED_AFTER`] or
    /// more: a look-up handed to it now would wait.
    pub fn blocked(&self) -> bool {
        self.blocked
            .waited()
            .is_some_and(|waited| waited >= BLOCKED_AFTER)
    }

    /// Answers every look-up waiting from `engines` (the loop's side), with events up to
    /// `now` (the wall clock) shown.
    pub fn answer(&self, engines: &mut [&mut Engine], now: i64) {
        let mut inbox = self
            .inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while let Ok(query) = inbox.try_recv() {
            let view = engines
                .iter_mut()
                .find_map(|engine| engine.worker_view_until(&query.id, now));
            // The handler may have timed out and gone: nothing to do then.
            let _ = query.reply.send(view);
        }
    }

    /// Publishes the summary of `engines`.
    pub fn publish(&self, engines: &[&Engine]) {
        let _ = self.summary.send_replace(Arc::new(summary_of(engines)));
    }
}

/// Workers online and working by platform and by city, over every partition held; the pack
/// in force per platform (several when roles differ); workers near or over the first
/// `continuous` rule; workers on a dispatch hold (SPEC section 7) now; and the event time
/// all this is as of (the partitions' smallest watermark).
fn summary_of(engines: &[&Engine]) -> Value {
    let mut platforms: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut cities: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for engine in engines {
        for ((platform, _role, city), (online, working)) in engine.group_counts() {
            let entry = platforms.entry(platform).or_default();
            entry.0 += online;
            entry.1 += working;
            let entry = cities.entry(city).or_default();
            entry.0 += online;
            entry.1 += working;
        }
    }
    let table = |rows: BTreeMap<String, (u64, u64)>,
                 cap: usize|
     -> serde_json::Map<String, Value> {
        capped(rows, cap)
            .into_iter()
            .map(|(name, (online, working))| (name, json!({"online": online, "working": working})))
            .collect()
    };
    let standing = standing_of(engines);
    let zone = engines.first().map(|engine| engine.config().time.zone);
    let as_of = standing
        .as_of
        .zip(zone)
        .map(|(ms, zone)| crate::timefmt::format_rfc3339(ms, &zone));
    json!({
        "partitions": engines.len(),
        "as_of": as_of,
        "as_of_ms": standing.as_of,
        "platforms": table(platforms, metrics::PLATFORM_CAP),
        "cities": table(cities, metrics::CITY_CAP),
        "packs": standing.packs,
        "continuous_work": {"warnings": standing.warnings, "violations": standing.violations},
        "holds": {
            "workers": standing.held,
            "by_platform": standing.held_by_platform,
            "sample": standing.held_sample,
        },
    })
}

/// The `cap` rows with the most workers online (then working, then by name), and the rest
/// summed under `other`: a producer naming ever-new cities made the summary megabytes,
/// rebuilt every second (audit AI: 7.9 MB with 100,000 cities). The bounds are those of the
/// metrics' labels.
fn capped(rows: BTreeMap<String, (u64, u64)>, cap: usize) -> BTreeMap<String, (u64, u64)> {
    if rows.len() <= cap {
        return rows;
    }
    let mut ranked: Vec<(String, (u64, u64))> = rows.into_iter().collect();
    ranked.sort_by(|(a, (a_online, a_working)), (b, (b_online, b_working))| {
        (b_online, b_working)
            .cmp(&(a_online, a_working))
            .then_with(|| a.cmp(b))
    });
    let rest = ranked.split_off(cap);
    let mut kept: BTreeMap<String, (u64, u64)> = ranked.into_iter().collect();
    let other = kept.entry(metrics::OTHER.to_owned()).or_default();
    for (_, (online, working)) in rest {
        other.0 += online;
        other.1 += working;
    }
    kept
}

/// Where the workers stand, for [`summary_of`]. Names are borrowed from the engines: one pass
/// over every worker each publish, without an allocation per worker.
#[derive(Default)]
struct Standing<'a> {
    as_of: Option<i64>,
    packs: BTreeMap<&'a str, BTreeSet<&'a str>>,
    warnings: u64,
    violations: u64,
    held: u64,
    held_by_platform: BTreeMap<&'a str, u64>,
    held_sample: Vec<&'a str>,
}

fn standing_of<'a>(engines: &[&'a Engine]) -> Standing<'a> {
    let mut out = Standing::default();
    for &engine in engines {
        let now = engine.watermark();
        if now == NEVER {
            continue;
        }
        out.as_of = Some(out.as_of.map_or(now, |as_of| as_of.min(now)));
        let mut last_platform = None;
        for worker in engine.workers() {
            if worker.since == NEVER {
                continue;
            }
            let platform = engine.name(worker.platform);
            let pack: &str = &engine.rule_set_of(worker).pack;
            // Workers of a platform mostly share its pack: skip the look-up then.
            if last_platform != Some((worker.platform, pack)) {
                out.packs.entry(platform).or_default().insert(pack);
                last_platform = Some((worker.platform, pack));
            }
            if let Some((Some(episode), _)) = worker.continuous() {
                if episode.violated {
                    out.violations += 1;
                } else if episode.warned {
                    out.warnings += 1;
                }
            }
            if worker
                .holds
                .iter()
                .any(|hold| hold.from <= now && now < hold.until)
            {
                out.held += 1;
                *out.held_by_platform.entry(platform).or_default() += 1;
                if out.held_sample.len() < HELD_SAMPLE {
                    out.held_sample.push(&worker.id);
                }
            }
        }
    }
    out.held_sample.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::event;

    /// A look-up wakes the loop, so that it is answered without waiting for the loop's idle
    /// poll; and the loop counts as blocked only while a send waits for room.
    #[test]
    fn a_look_up_wakes_the_loop_and_blocked_follows_the_waiting_sends() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let views = Views::default();
        let rung = Arc::new(AtomicUsize::new(0));
        let counter = rung.clone();
        views.on_ask(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let _answer = views.ask("w1").unwrap();
        assert_eq!(rung.load(Ordering::Relaxed), 1);

        let blocked = views.blocked_flag();
        assert_eq!(blocked.waited(), None);
        blocked.enter();
        blocked.enter();
        blocked.leave();
        // One send still waits: the wait goes on from the first one's start.
        assert!(blocked.waited().is_some());
        blocked.leave();
        assert_eq!(blocked.waited(), None);
        assert!(!views.blocked());
    }

    #[test]
    fn lookups_are_answered_by_the_loop_and_refused_when_the_queue_is_full() {
        let views = Views::default();
        let mut engine = Engine::live(Config::default());
        let line = br#"{"worker_id":"w1","kind":"login","ts":"2026-03-02T08:00:00+08:00","platform":"meituan","city":"371000"}"#;
        engine.push_live(&event::parse(line).unwrap(), 0, 0, i64::MAX);
        engine.advance_to(crate::timefmt::parse_rfc3339("2026-03-02T09:00:00+08:00").unwrap());

        let mut known = views.ask("w1").unwrap();
        let mut unknown = views.ask("nobody").unwrap();
        views.answer(&mut [&mut engine], i64::MAX);
        assert_eq!(known.try_recv().unwrap().unwrap()["worker_id"], "w1");
        assert_eq!(unknown.try_recv().unwrap(), None);

        let waiting: Vec<_> = (0..QUERY_QUEUE).map(|_| views.ask("w1").unwrap()).collect();
        assert!(views.ask("w1").is_none(), "a full queue refuses at once");
        drop(waiting);

        assert_eq!(views.summary()["partitions"], 0);
        views.publish(&[&engine]);
        let summary = views.summary();
        assert_eq!(summary["partitions"], 1);
        assert_eq!(summary["platforms"]["meituan"]["working"], 1);
        assert_eq!(summary["cities"]["371000"]["online"], 1);
        assert_eq!(summary["packs"], json!({"meituan": ["cn-weihai-2022"]}));
        assert_eq!(summary["holds"]["workers"], 0);
        assert_eq!(summary["continuous_work"]["violations"], 0);
        assert_eq!(summary["as_of"], "2026-03-02T09:00:00.000+08:00");
    }

    /// A producer naming ever-new cities: the summary names the 256 with the most workers
    /// online and sums the rest under `other` (audit AI: 7.9 MB with 100,000 cities).
    #[test]
    fn the_summary_names_at_most_256_cities_and_32_platforms() {
        let views = Views::default();
        let mut engine = Engine::live(Config::default());
        let mut pushed = 0;
        for i in 0..400 {
            // City c0 has 3 workers, c1 to c9 two, the rest one each; platforms p0 to p39.
            let copies = match i {
                0 => 3,
                1..10 => 2,
                _ => 1,
            };
            for k in 0..copies {
                let line = format!(
                    r#"{{"worker_id":"w{i}-{k}","kind":"login","ts":"2026-03-02T08:00:00+08:00","platform":"p{}","city":"c{i}"}}"#,
                    i % 40
                );
                engine.push_live(&event::parse(line.as_bytes()).unwrap(), pushed, 0, i64::MAX);
                pushed += 1;
            }
        }
        engine.advance_to(crate::timefmt::parse_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
        views.publish(&[&engine]);
        let summary = views.summary();
        let cities = summary["cities"].as_object().unwrap();
        assert_eq!(cities.len(), metrics::CITY_CAP + 1);
        assert_eq!(cities["c0"]["online"], 3);
        assert_eq!(cities["c9"]["online"], 2);
        let total: u64 = cities.values().map(|c| c["online"].as_u64().unwrap()).sum();
        assert_eq!(total, 400 + 2 + 9);
        // Named: c0 to c9 (the most online), then the first 246 by name of those with one.
        assert_eq!(cities["other"]["online"], 400 - 256);
        let platforms = summary["platforms"].as_object().unwrap();
        assert_eq!(platforms.len(), metrics::PLATFORM_CAP + 1);
        let total: u64 = platforms
            .values()
            .map(|c| c["online"].as_u64().unwrap())
            .sum();
        assert_eq!(total, 411);
    }

    #[test]
    fn the_summary_counts_workers_on_hold_and_in_violation() {
        let views = Views::default();
        let config = Config::from_toml_str(
            "[rules.platform.didi]\npack = \"didi-2018\"\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        let mut engine = Engine::live(config);
        // Three hours and ten minutes of continuous service: over Didi's 3 h (a hold for its
        // 20 min break, 11:00 to 11:20), under the default's 4 h for Meituan.
        for (n, (worker, platform, role)) in [("d1", "didi", "driver"), ("m1", "meituan", "rider")]
            .into_iter()
            .enumerate()
        {
            for (kind, at, extra) in [
                ("login", "08:00", ""),
                ("order_accepted", "08:00", r#","order_id":"o1""#),
                ("order_picked_up", "08:01", r#","order_id":"o1""#),
            ] {
                let text = format!(
                    r#"{{"worker_id":"{worker}","kind":"{kind}","ts":"2026-03-02T{at}:00+08:00","platform":"{platform}","role":"{role}","city":"371000","event_id":"{worker}-{kind}"{extra}}}"#
                );
                let event = event::parse(text.as_bytes()).unwrap();
                engine.push_live(&event, n as u64, 0, i64::MAX);
            }
        }
        engine.advance_to(crate::timefmt::parse_rfc3339("2026-03-02T11:10:00+08:00").unwrap());
        views.publish(&[&engine]);
        let summary = views.summary();
        assert_eq!(summary["packs"]["didi"], json!(["didi-2018"]));
        assert_eq!(summary["packs"]["meituan"], json!(["cn-weihai-2022"]));
        assert_eq!(summary["holds"]["workers"], 1, "{summary}");
        assert_eq!(summary["holds"]["by_platform"], json!({"didi": 1}));
        assert_eq!(summary["holds"]["sample"], json!(["d1"]));
        assert_eq!(summary["continuous_work"]["violations"], 1, "{summary}");
    }
}
