//! Invariants of the rule engine over random event streams (SPEC section 5).

use proptest::prelude::*;
use workhours::alert::{Alert, Amount};
use workhours::config::Config;
use workhours::engine::{Engine, State};
use workhours::event::{self, Kind};

const START: i64 = 1_772_409_600_000; // 2026-03-02T08:00:00+08:00

#[derive(Debug, Clone)]
struct Ev {
    worker: u8,
    kind: Kind,
    ts: i64,
    id: u32,
    order: u8,
    fee: Option<u16>,
}

impl Ev {
    fn line(&self) -> String {
        let mut line = format!(
            r#"{{"worker_id":"w{}","kind":"{}","ts":{},"event_id":"e{}","platform":"p{}","city":"c{}""#,
            self.worker,
            self.kind.as_str(),
            self.ts,
            self.id,
            self.worker % 2,
            self.order % 2
        );
        if self.kind.is_order() {
            line.push_str(&format!(r#","order_id":"o{}""#, self.order));
        }
        if let Some(fee) = self.fee {
            line.push_str(&format!(r#","fee_cents":{fee}"#));
        }
        line.push('}');
        line
    }
}

/// Streams in `ts` order over hours to days: a few workers, bursts at equal instants, gaps
/// from none to hours. Logins weigh more so that there is work to measure.
fn stream() -> impl Strategy<Value = Vec<Ev>> {
    let step = (
        0u8..4,
        prop_oneof![3 => Just(0usize), 1 => 1usize..9],
        // Gaps in seconds: none, under the lateness, minutes, hours.
        prop_oneof![2 => Just(0i64), 3 => 1i64..45, 3 => 60i64..2400, 2 => 2400i64..18_000],
        0u8..3,
        proptest::option::of(0u16..3000),
    );
    proptest::collection::vec(step, 1..60).prop_map(|steps| {
        let mut ts = START;
        steps
            .into_iter()
            .enumerate()
            .map(|(i, (worker, kind, gap_seconds, order, fee))| {
                ts += gap_seconds * 1000;
                Ev {
                    worker,
                    kind: Kind::ALL[kind],
                    ts,
                    id: i as u32,
                    order,
                    fee,
                }
            })
            .collect()
    })
}

fn config(timeout_minutes: i64) -> Config {
    let mut config = Config::default();
    config.rules.session_timeout = timeout_minutes * 60_000;
    config.rules.quota_min_workers = 1;
    config
}

fn push_all(engine: &mut Engine, lines: &[String], alerts: &mut Vec<Alert>) {
    for line in lines {
        let parsed = event::parse(line.as_bytes()).expect("generated events are valid");
        engine.push(&parsed);
        engine.advance();
        alerts.extend(engine.take_alerts());
    }
}

fn replay(config: Config, lines: &[String]) -> Vec<Alert> {
    let mut engine = Engine::new(config);
    let mut alerts = Vec::new();
    push_all(&mut engine, lines, &mut alerts);
    if let Some(end) = engine.max_ts() {
        engine.finish(end + 6 * 3_600_000);
    }
    alerts.extend(engine.take_alerts());
    alerts
}

fn lines(events: &[Ev]) -> Vec<String> {
    events.iter().map(Ev::line).collect()
}

/// Alerts as a comparable set: same-instant alerts of different workers may come in any order.
fn sorted(mut alerts: Vec<Alert>) -> Vec<(i64, String)> {
    let mut keyed: Vec<_> = alerts.drain(..).map(|a| (a.at, a.alert_id())).collect();
    keyed.sort();
    keyed
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn replay_is_deterministic(events in stream(), timeout in prop_oneof![Just(0i64), 10i64..90]) {
        let input = lines(&events);
        let a = replay(config(timeout), &input);
        let b = replay(config(timeout), &input);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn shuffling_within_the_lateness_changes_nothing(
        events in stream(),
        timeout in prop_oneof![Just(0i64), 10i64..90],
        jitter in proptest::collection::vec(0i64..=30_000, 60),
    ) {
        let expected = sorted(replay(config(timeout), &lines(&events)));
        // Emit in order of ts + a delay of at most the lateness (30 s); events of one worker
        // at one instant share their delay, so their input order stays.
        let mut shuffled = events.clone();
        shuffled.sort_by_key(|e| {
            let group = (e.ts / 1000 * 31 + i64::from(e.worker)) as usize % jitter.len();
            (e.ts + jitter[group], e.id)
        });
        let mut engine = Engine::new(config(timeout));
        let mut alerts = Vec::new();
        push_all(&mut engine, &lines(&shuffled), &mut alerts);
        prop_assert_eq!(engine.stats().late, 0);
        engine.finish(engine.max_ts().unwrap() + 6 * 3_600_000);
        alerts.extend(engine.take_alerts());
        prop_assert_eq!(sorted(alerts), expected);
    }

    #[test]
    fn duplicates_change_nothing(events in stream(), copies in proptest::collection::vec((0usize..60, 0usize..60), 0..20)) {
        let input = lines(&events);
        let expected = replay(config(0), &input);
        let mut with_copies = input.clone();
        for (from, offset) in copies {
            let line = &input[from % input.len()];
            // A copy anywhere after its original, even far later: within the dedup window it
            // is a duplicate, past it the copy is late (it carries its original ts).
            let original = with_copies.iter().position(|l| l == line).expect("present");
            let at = (original + 1 + offset).min(with_copies.len());
            with_copies.insert(at, line.clone());
        }
        let mut engine = Engine::new(config(0));
        let mut alerts = Vec::new();
        push_all(&mut engine, &with_copies, &mut alerts);
        if let Some(end) = engine.max_ts() {
            engine.finish(end + 6 * 3_600_000);
        }
        alerts.extend(engine.take_alerts());
        let stats = engine.stats();
        prop_assert_eq!((stats.duplicates + stats.late) as usize, with_copies.len() - input.len());
        prop_assert_eq!(alerts, expected);
    }

    #[test]
    fn worked_time_never_exceeds_elapsed_time(events in stream(), timeout in prop_oneof![Just(0i64), 10i64..90]) {
        let alerts = replay(config(timeout), &lines(&events));
        for alert in &alerts {
            if let (Amount::Seconds { value, .. }, true) = (alert.amount, alert.worker_id.is_some()) {
                if &*alert.rule != "weekly_rest" {
                    prop_assert!(value * 1000 <= alert.at - alert.period_start, "{:?}", alert);
                }
            }
            prop_assert!(alert.at >= alert.period_start);
        }
        let mut engine = Engine::new(config(timeout));
        push_all(&mut engine, &lines(&events), &mut Vec::new());
        engine.finish(engine.max_ts().unwrap() + 30 * 3_600_000);
        for worker in engine.workers() {
            prop_assert!(worker.day_work <= worker.since - worker.day.start);
            if let Some((Some(episode), _)) = worker.continuous() {
                prop_assert!(episode.work <= worker.since - episode.start);
            }
        }
    }

    #[test]
    fn a_split_run_with_saved_state_equals_one_run(events in stream(), split in 0usize..60, timeout in prop_oneof![Just(0i64), 10i64..90]) {
        let input = lines(&events);
        let expected = replay(config(timeout), &input);
        let split = split % (input.len() + 1);
        let mut engine = Engine::new(config(timeout));
        let mut alerts = Vec::new();
        push_all(&mut engine, &input[..split], &mut alerts);
        let saved = serde_json::to_vec(engine.state()).unwrap();
        drop(engine);
        let state: State = serde_json::from_slice(&saved).unwrap();
        let mut engine = Engine::with_state(config(timeout), state);
        push_all(&mut engine, &input[split..], &mut alerts);
        if let Some(end) = engine.max_ts() {
            engine.finish(end + 6 * 3_600_000);
        }
        alerts.extend(engine.take_alerts());
        prop_assert_eq!(alerts, expected);
    }
}
