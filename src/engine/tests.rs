//! Hand-computed scenarios for every rule, at the boundaries SPEC names.

use super::*;
use crate::event;
use crate::timefmt::{format_rfc3339, parse_rfc3339};

const DAY: &str = "2026-03-02"; // a Monday

/// A local Shanghai instant on `DAY` (`"08:00"`) or a full RFC 3339 instant.
fn t(text: &str) -> i64 {
    if !text.contains('T') {
        let full = if text.len() == 5 {
            format!("{text}:00")
        } else {
            text.to_owned()
        };
        parse_rfc3339(&format!("{DAY}T{full}+08:00")).unwrap()
    } else {
        parse_rfc3339(text).unwrap()
    }
}

#[derive(Clone)]
struct Ev {
    json: serde_json::Map<String, serde_json::Value>,
}

fn ev(worker: &str, kind: &str, ts: &str) -> Ev {
    let mut json = serde_json::Map::new();
    json.insert("worker_id".into(), worker.into());
    json.insert("kind".into(), kind.into());
    json.insert("ts".into(), t(ts).into());
    json.insert("platform".into(), "meituan".into());
    json.insert("city".into(), "371000".into());
    Ev { json }
}

impl Ev {
    fn order(mut self, id: &str) -> Ev {
        self.json.insert("order_id".into(), id.into());
        self
    }
    fn fee(mut self, fee: u64) -> Ev {
        self.json.insert("fee_cents".into(), fee.into());
        self
    }
    fn id(mut self, id: &str) -> Ev {
        self.json.insert("event_id".into(), id.into());
        self
    }
    fn set(mut self, key: &str, value: &str) -> Ev {
        self.json.insert(key.into(), value.into());
        self
    }
    fn without(mut self, key: &str) -> Ev {
        self.json.remove(key);
        self
    }
    fn line(&self) -> String {
        serde_json::Value::Object(self.json.clone()).to_string()
    }
}

/// An engine that took the events in order (advancing after each, as replay does) and ran
/// to `until`.
fn engine_after(config: Config, events: &[Ev], until: &str) -> Engine {
    fed(Engine::new(config), events, until)
}

/// `engine` after it took the events in order (advancing after each) and ran to `until`.
fn fed(mut engine: Engine, events: &[Ev], until: &str) -> Engine {
    for e in events {
        let line = e.line();
        let parsed = event::parse(line.as_bytes()).unwrap();
        engine.push(&parsed);
        engine.advance();
    }
    engine.finish(t(until));
    engine
}

/// The alerts and counts of [`engine_after`].
fn run_with(config: Config, events: &[Ev], until: &str) -> (Vec<Alert>, Stats) {
    let mut engine = engine_after(config, events, until);
    (engine.take_alerts(), engine.stats().clone())
}

/// The alerts of an engine that took the events all at once (as a block of replay's input is
/// read), before running to `until`.
fn read_at_once(config: Config, events: &[Ev], until: &str) -> Vec<Alert> {
    let mut engine = Engine::new(config);
    for e in events {
        let line = e.line();
        engine.push(&event::parse(line.as_bytes()).unwrap());
    }
    engine.finish(t(until));
    engine.take_alerts()
}

fn run(events: &[Ev], until: &str) -> Vec<Alert> {
    run_with(Config::default(), events, until).0
}

/// `(rule/phase, at, value)` with `at` in the engine's zone, for compact expectations.
fn brief(alerts: &[Alert], zone: &chrono_tz::Tz) -> Vec<(String, String, i64)> {
    alerts
        .iter()
        .map(|a| {
            let value = match a.amount {
                Amount::Seconds { value, .. } => value,
                Amount::CentsPerHour { value, .. } => value as i64,
            };
            (
                format!("{}/{}", &*a.rule, a.phase.as_str()),
                format_rfc3339(a.at, zone),
                value,
            )
        })
        .collect()
}

fn sh(alerts: &[Alert]) -> Vec<(String, String, i64)> {
    brief(alerts, &chrono_tz::Asia::Shanghai)
}

/// `rule/phase` and `at` of each alert (Shanghai), without the values.
fn rules_at(alerts: &[Alert]) -> Vec<(String, String)> {
    sh(alerts)
        .into_iter()
        .map(|(rule, at, _)| (rule, at))
        .collect()
}

fn at(local: &str) -> String {
    let fraction = if local.contains('.') { "" } else { ".000" };
    format!("{DAY}T{local}{fraction}+08:00")
}

fn exp(rule: &str, local: &str, value: i64) -> (String, String, i64) {
    (rule.to_owned(), at(local), value)
}

fn no_calendar_limits() -> Config {
    let mut config = Config::default();
    config.rules.daily_standard = 20 * 3_600_000;
    config.rules.daily_max = 22 * 3_600_000;
    config.rules.weekly_max = 100 * 3_600_000;
    config.rules.monthly_overtime_max = 100 * 3_600_000;
    config
}

#[test]
fn silent_worker_gets_warning_and_violation_from_timers() {
    let alerts = run(&[ev("w1", "login", "08:00")], "13:00");
    assert_eq!(
        sh(&alerts),
        vec![
            exp("continuous_work/warning", "11:45:00", 13_500),
            exp("continuous_work/violation", "12:00:00", 14_400)
        ]
    );
    assert_eq!(alerts[1].period_start, t("08:00"));
    assert_eq!(
        alerts[1].amount,
        Amount::Seconds {
            value: 14_400,
            limit: 14_400
        }
    );
    assert_eq!(
        alerts[0].amount,
        Amount::Seconds {
            value: 13_500,
            limit: 13_500
        }
    );
    assert_eq!(alerts[1].platform, "meituan");
    assert_eq!(alerts[1].role, "rider");
}

#[test]
fn replay_time_stops_at_the_end() {
    // Timers at the end fire; none after.
    assert_eq!(run(&[ev("w1", "login", "08:00")], "12:00").len(), 2);
    assert_eq!(run(&[ev("w1", "login", "08:00")], "11:59:59.999").len(), 1);
}

#[test]
fn a_rest_of_exactly_min_break_qualifies() {
    let events = [
        ev("w1", "login", "08:00"),
        ev("w1", "logout", "10:00"),
        ev("w1", "login", "10:20"),
    ];
    assert_eq!(run(&events, "14:00"), vec![]);
    // One millisecond short: the episode goes on (2 h + 1 h 45 m after 10:19:59.999).
    let events = [
        ev("w1", "login", "08:00"),
        ev("w1", "logout", "10:00"),
        ev("w1", "login", "10:19:59.999"),
    ];
    assert_eq!(
        sh(&run(&events, "14:00")),
        vec![
            exp("continuous_work/warning", "12:04:59.999", 13_500),
            exp("continuous_work/violation", "12:19:59.999", 14_400)
        ]
    );
}

#[test]
fn work_stopping_exactly_at_the_limit_fires_only_if_it_resumes_in_the_episode() {
    let stop = [ev("w1", "login", "08:00"), ev("w1", "logout", "12:00")];
    assert_eq!(
        sh(&run(&stop, "18:00")),
        vec![exp("continuous_work/warning", "11:45:00", 13_500)]
    );
    let resume = [
        ev("w1", "login", "08:00"),
        ev("w1", "logout", "12:00"),
        ev("w1", "login", "12:10"),
    ];
    assert_eq!(
        sh(&run(&resume, "12:30")),
        vec![
            exp("continuous_work/warning", "11:45:00", 13_500),
            exp("continuous_work/violation", "12:10:00", 14_400)
        ]
    );
    let after_break = [
        ev("w1", "login", "08:00"),
        ev("w1", "logout", "12:00"),
        ev("w1", "login", "12:20"),
    ];
    assert_eq!(
        sh(&run(&after_break, "13:00")),
        vec![exp("continuous_work/warning", "11:45:00", 13_500)]
    );
}

#[test]
fn resolved_fires_when_the_qualifying_break_completes() {
    let events = [ev("w1", "login", "08:00"), ev("w1", "logout", "12:30")];
    let alerts = run(&events, "18:00");
    assert_eq!(
        sh(&alerts),
        vec![
            exp("continuous_work/warning", "11:45:00", 13_500),
            exp("continuous_work/violation", "12:00:00", 14_400),
            exp("continuous_work/resolved", "12:50:00", 16_200),
        ]
    );
    assert_eq!(alerts[2].period_start, t("08:00"));
    // A resolution needs a violation in the episode.
    assert_eq!(
        run(
            &[ev("w1", "login", "08:00"), ev("w1", "logout", "11:50")],
            "18:00"
        )
        .len(),
        1
    );
    // The resolution waits for the break to complete: not at 12:49:59.
    assert_eq!(run(&events, "12:49:59").len(), 2);
}

#[test]
fn events_at_the_same_instant_take_effect_together() {
    // A login and a logout at the same instant are no work.
    let events = [ev("w1", "login", "08:00"), ev("w1", "logout", "08:00")];
    let (alerts, _) = run_with(Config::default(), &events, "13:00");
    assert!(alerts.is_empty());
    // A logout and a login at the same instant: no rest at all.
    let events = [
        ev("w1", "login", "08:00"),
        ev("w1", "logout", "10:00"),
        ev("w1", "login", "10:00"),
    ];
    assert_eq!(run(&events, "12:00").len(), 2);
    // The limit is reached exactly when a logout and a login happen: working at that instant.
    let events = [
        ev("w1", "login", "08:00"),
        ev("w1", "logout", "12:00"),
        ev("w1", "login", "12:00"),
    ];
    assert_eq!(
        sh(&run(&events, "12:00"))[1],
        exp("continuous_work/violation", "12:00:00", 14_400)
    );
}

#[test]
fn an_active_order_counts_as_work_after_logout_and_during_a_break() {
    let events = [
        ev("w1", "login", "08:00"),
        ev("w1", "order_accepted", "11:00").order("o1"),
        ev("w1", "logout", "11:30"),
        ev("w1", "order_delivered", "12:10").order("o1").fee(800),
    ];
    assert_eq!(
        sh(&run(&events, "18:00")),
        vec![
            exp("continuous_work/warning", "11:45:00", 13_500),
            exp("continuous_work/violation", "12:00:00", 14_400),
            exp("continuous_work/resolved", "12:30:00", 15_000),
        ]
    );
    let without = [ev("w1", "login", "08:00"), ev("w1", "logout", "11:30")];
    assert!(run(&without, "18:00").is_empty());
    let during_break = [
        ev("w1", "login", "08:00"),
        ev("w1", "order_accepted", "09:50").order("o1"),
        ev("w1", "break_start", "10:00"),
        ev("w1", "order_delivered", "10:05").order("o1"),
        ev("w1", "break_end", "10:25"),
    ];
    // 09:50-10:05 the order keeps working; rest 10:05-10:25 qualifies.
    assert!(run(&during_break, "14:00").is_empty());
    let order_spans_break = [
        ev("w1", "login", "08:00"),
        ev("w1", "order_accepted", "09:50").order("o1"),
        ev("w1", "break_start", "10:00"),
        ev("w1", "break_end", "10:20"),
        ev("w1", "order_delivered", "10:30").order("o1"),
    ];
    assert_eq!(run(&order_spans_break, "12:00").len(), 2);
}

#[test]
fn a_platform_break_is_a_rest_while_online() {
    let events = [
        ev("w1", "login", "08:00"),
        ev("w1", "break_start", "10:00"),
        ev("w1", "break_end", "10:20"),
    ];
    assert!(run(&events, "14:00").is_empty());
    let short = [
        ev("w1", "login", "08:00"),
        ev("w1", "break_start", "10:00"),
        ev("w1", "break_end", "10:19"),
    ];
    assert_eq!(
        sh(&run(&short, "14:00"))[1],
        exp("continuous_work/violation", "12:19:00", 14_400)
    );
    // A login ends a break too.
    let login = [
        ev("w1", "login", "08:00"),
        ev("w1", "break_start", "10:00"),
        ev("w1", "login", "10:10"),
    ];
    assert_eq!(
        sh(&run(&login, "14:00"))[1],
        exp("continuous_work/violation", "12:10:00", 14_400)
    );
}

#[test]
fn session_timeout_ends_a_silent_session() {
    let mut config = Config::default();
    config.rules.session_timeout = 30 * 60_000;
    // Worked 08:00-08:30 (timed out), rested until 10:00, then a new episode kept alive by
    // heartbeats: warning at 13:45.
    let mut events = vec![ev("w1", "login", "08:00"), ev("w1", "login", "10:00")];
    for minute in (25..=225).step_by(25) {
        events.push(ev(
            "w1",
            "heartbeat",
            &format!("{:02}:{:02}", 10 + minute / 60, minute % 60),
        ));
    }
    let (alerts, stats) = run_with(config.clone(), &events, "13:50");
    assert_eq!(
        sh(&alerts),
        vec![exp("continuous_work/warning", "13:45:00", 13_500)]
    );
    assert_eq!(stats.session_timeouts, 1);
    // Without heartbeats each silent login is timed out after 30 minutes: no alert at all.
    let events = [ev("w1", "login", "08:00"), ev("w1", "login", "10:00")];
    let (alerts, stats) = run_with(config.clone(), &events, "13:50");
    assert!(alerts.is_empty());
    assert_eq!(stats.session_timeouts, 2);
    // Off by default: one long episode.
    assert_eq!(
        sh(&run(&events, "12:00"))[1],
        exp("continuous_work/violation", "12:00:00", 14_400)
    );
    // Heartbeats (and any event at the instant itself) keep the session.
    let mut beats = vec![ev("w1", "login", "08:00")];
    for minute in (30..=240).step_by(30) {
        let stamp = format!("{:02}:{:02}", 8 + minute / 60, minute % 60);
        beats.push(ev("w1", "heartbeat", &stamp));
    }
    let (alerts, stats) = run_with(config.clone(), &beats, "12:00");
    assert_eq!(stats.session_timeouts, 0);
    assert_eq!(
        sh(&alerts)[1],
        exp("continuous_work/violation", "12:00:00", 14_400)
    );
    // A worker who is not working is not timed out.
    let resting = [ev("w1", "login", "08:00"), ev("w1", "break_start", "08:10")];
    let (_, stats) = run_with(config, &resting, "12:00");
    assert_eq!(stats.session_timeouts, 0);
}

#[test]
fn daily_hours_across_midnight_count_toward_both_days() {
    let config = {
        let mut c = Config::default();
        c.rules.continuous_limit = 20 * 3_600_000;
        c.rules.warn_before = 3_600_000;
        c
    };
    // 16:00 to 02:00 next day: 8 h on day 1 exactly at midnight (nothing: the next day starts
    // from zero), 2 h on day 2.
    let events = [
        ev("w1", "login", "16:00"),
        ev("w1", "logout", "2026-03-03T02:00:00+08:00"),
    ];
    let (alerts, _) = run_with(config.clone(), &events, "2026-03-03T23:00:00+08:00");
    assert!(alerts.is_empty(), "{:?}", sh(&alerts));
    // 15:59 to 02:00: the warning fires at 23:59 on day 1.
    let events = [
        ev("w1", "login", "15:59"),
        ev("w1", "logout", "2026-03-03T02:00:00+08:00"),
    ];
    let (alerts, _) = run_with(config.clone(), &events, "2026-03-03T23:00:00+08:00");
    assert_eq!(
        sh(&alerts),
        vec![exp("daily_hours/warning", "23:59:00", 28_800)]
    );
    assert_eq!(alerts[0].period_start, t("00:00"));
    // Day 2 continues: 00:00 to 11:00 reaches 8 h at 08:00 and 11 h at 11:00.
    let events = [
        ev("w1", "login", "22:00"),
        ev("w1", "logout", "2026-03-03T12:00:00+08:00"),
    ];
    let (alerts, _) = run_with(config, &events, "2026-03-03T23:00:00+08:00");
    assert_eq!(
        brief(&alerts, &chrono_tz::Asia::Shanghai),
        vec![
            (
                "daily_hours/warning".into(),
                "2026-03-03T08:00:00.000+08:00".into(),
                28_800
            ),
            (
                "daily_hours/violation".into(),
                "2026-03-03T11:00:00.000+08:00".into(),
                39_600
            ),
        ]
    );
}

#[test]
fn dst_days_last_23_and_25_hours() {
    let mut config = Config::default();
    config.time.zone = chrono_tz::Europe::Berlin;
    config.rules.continuous_limit = 30 * 3_600_000;
    config.rules.warn_before = 3_600_000;
    let berlin = chrono_tz::Europe::Berlin;
    // Spring: from local midnight, 8 h of work ends at 09:00 local (02:00-03:00 is skipped).
    let events = [ev("w1", "login", "2026-03-29T00:00:00+01:00")];
    let (alerts, _) = run_with(config.clone(), &events, "2026-03-29T10:00:00+02:00");
    assert_eq!(
        brief(&alerts, &berlin)[0],
        (
            "daily_hours/warning".into(),
            "2026-03-29T09:00:00.000+02:00".into(),
            28_800
        )
    );
    // Autumn: 11 h of work from local midnight ends at 10:00 local (02:00-03:00 happens twice).
    let events = [ev("w1", "login", "2026-10-25T00:00:00+02:00")];
    let (alerts, _) = run_with(config.clone(), &events, "2026-10-25T12:00:00+01:00");
    assert_eq!(
        brief(&alerts, &berlin)[1],
        (
            "daily_hours/violation".into(),
            "2026-10-25T10:00:00.000+01:00".into(),
            39_600
        )
    );
    // The 25-hour day ends at the next local midnight: all-day work is 25 h on the closed day.
    let mut engine = Engine::new(config);
    for e in [
        ev("w1", "login", "2026-10-25T00:00:00+02:00"),
        ev("w1", "logout", "2026-10-26T00:00:00+01:00"),
    ] {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
    }
    engine.finish(t("2026-10-26T00:00:00+01:00"));
    let worker = engine.worker("w1").unwrap();
    assert_eq!(worker.closed_work, 25 * 3_600_000);
    assert_eq!(worker.day_work, 0);
}

#[test]
fn weekly_hours_fire_in_the_iso_week() {
    let config = {
        let mut c = Config::default();
        c.rules.daily_max = 20 * 3_600_000;
        c
    };
    // Five days of 9 h (with a qualifying lunch break): 44 h are reached on Friday at 16:00+.
    let mut events = Vec::new();
    for day in 2..=6 {
        let d = |hm: &str| format!("2026-03-0{day}T{hm}:00+08:00");
        events.push(ev("w1", "login", &d("07:00")));
        events.push(ev("w1", "break_start", &d("11:00")));
        events.push(ev("w1", "break_end", &d("11:30")));
        events.push(ev("w1", "logout", &d("16:30")));
    }
    let (alerts, _) = run_with(config, &events, "2026-03-08T00:00:00+08:00");
    let weekly: Vec<_> = alerts
        .iter()
        .filter(|a| &*a.rule == "weekly_hours")
        .collect();
    assert_eq!(weekly.len(), 1);
    // 4 × 9 h = 36 h by Thursday; Friday needs 8 h: 07:00-11:00 (4 h) + 11:30-15:30.
    assert_eq!(weekly[0].at, t("2026-03-06T15:30:00+08:00"));
    assert_eq!(weekly[0].period_start, t("2026-03-02T00:00:00+08:00"));
    assert_eq!(
        alerts.iter().filter(|a| &*a.rule == "daily_hours").count(),
        5
    );
}

#[test]
fn monthly_overtime_sums_the_excess_over_the_standard_day() {
    let mut config = Config::default();
    config.rules.continuous_limit = 20 * 3_600_000;
    config.rules.warn_before = 60_000;
    config.rules.weekly_max = 200 * 3_600_000;
    config.rules.monthly_overtime_max = 10 * 3_600_000;
    // Every day 08:00-19:00: 3 h of overtime a day; 10 h are reached on the 4th day at 17:00
    // (9 h of earlier overtime, then 8 h + 1 h on day 4).
    let mut events = Vec::new();
    for day in 2..=5 {
        events.push(ev("w1", "login", &format!("2026-03-0{day}T08:00:00+08:00")));
        events.push(ev(
            "w1",
            "logout",
            &format!("2026-03-0{day}T19:00:00+08:00"),
        ));
    }
    let (alerts, _) = run_with(config, &events, "2026-03-06T00:00:00+08:00");
    let monthly: Vec<_> = alerts
        .iter()
        .filter(|a| &*a.rule == "monthly_overtime")
        .collect();
    assert_eq!(monthly.len(), 1);
    assert_eq!(monthly[0].at, t("2026-03-05T17:00:00+08:00"));
    assert_eq!(monthly[0].period_start, t("2026-03-01T00:00:00+08:00"));
    assert_eq!(
        monthly[0].amount,
        Amount::Seconds {
            value: 36_000,
            limit: 36_000
        }
    );
}

#[test]
fn weekly_rest_fires_on_the_7th_and_14th_consecutive_day() {
    let mut events = Vec::new();
    for day in 0..15 {
        let date =
            chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() + chrono::TimeDelta::days(day);
        events.push(ev("w1", "login", &format!("{date}T09:00:00+08:00")));
        events.push(ev("w1", "logout", &format!("{date}T10:00:00+08:00")));
    }
    let alerts = run(&events, "2026-03-20T00:00:00+08:00");
    let rest: Vec<_> = alerts
        .iter()
        .filter(|a| &*a.rule == "weekly_rest")
        .collect();
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].at, t("2026-03-08T09:00:00+08:00"));
    assert_eq!(rest[0].period_start, t("2026-03-08T00:00:00+08:00"));
    assert_eq!(rest[1].at, t("2026-03-15T09:00:00+08:00"));
    // A day off resets the count.
    let mut broken: Vec<Ev> = Vec::new();
    for day in [0, 1, 2, 4, 5, 6, 7, 8, 9] {
        let date =
            chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() + chrono::TimeDelta::days(day);
        broken.push(ev("w1", "login", &format!("{date}T09:00:00+08:00")));
        broken.push(ev("w1", "logout", &format!("{date}T10:00:00+08:00")));
    }
    assert!(
        run(&broken, "2026-03-20T00:00:00+08:00")
            .iter()
            .all(|a| &*a.rule != "weekly_rest")
    );
}

/// Consecutive local days are those of the calendar: Samoa (Pacific/Apia) skipped 2011-12-30,
/// so there the 31st follows the 29th (audit AO: the run broke over the date that never was).
#[test]
fn weekly_rest_counts_across_a_local_date_the_zone_skipped() {
    let mut config = Config::default();
    config.time.zone = chrono_tz::Pacific::Apia;
    let mut events = Vec::new();
    for date in [24, 25, 26, 27, 28, 29, 31] {
        // The zone's offset is -10:00 before the skip and +14:00 after it.
        let offset = if date < 30 { "-10:00" } else { "+14:00" };
        events.push(ev(
            "w1",
            "login",
            &format!("2011-12-{date}T10:00:00{offset}"),
        ));
        events.push(ev(
            "w1",
            "logout",
            &format!("2011-12-{date}T11:00:00{offset}"),
        ));
    }
    let (alerts, _) = run_with(config, &events, "2012-01-02T00:00:00+14:00");
    let rest: Vec<_> = alerts
        .iter()
        .filter(|a| &*a.rule == "weekly_rest")
        .map(|a| (a.at, a.period_start))
        .collect();
    assert_eq!(
        rest,
        vec![(
            t("2011-12-31T10:00:00+14:00"),
            t("2011-12-31T00:00:00+14:00")
        )]
    );
    // Before the first work of the 31st, the view shows the run of 6 days as going on.
    let mut config = Config::default();
    config.time.zone = chrono_tz::Pacific::Apia;
    let mut engine = engine_after(config, &events[..12], "2011-12-31T05:00:00+14:00");
    let view = engine.worker_view("w1").unwrap();
    assert_eq!(view["consecutive_work_days"], 6, "{view}");
}

#[test]
fn weekly_rest_counts_a_shift_across_midnight_at_the_midnight() {
    let mut events = Vec::new();
    for day in 0..6 {
        let date =
            chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() + chrono::TimeDelta::days(day);
        events.push(ev("w1", "login", &format!("{date}T22:00:00+08:00")));
        events.push(ev("w1", "logout", &format!("{date}T23:00:00+08:00")));
    }
    // Day 7 (Sunday 03-08) has its first working instant at midnight, inside a shift that
    // started on day 6.
    events.push(ev("w1", "login", "2026-03-07T23:30:00+08:00"));
    events.push(ev("w1", "logout", "2026-03-08T00:30:00+08:00"));
    let alerts = run(&events, "2026-03-09T00:00:00+08:00");
    let rest: Vec<_> = alerts
        .iter()
        .filter(|a| &*a.rule == "weekly_rest")
        .collect();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].at, t("2026-03-08T00:00:00+08:00"));
}

#[test]
fn minimum_wage_compares_exactly_at_midnight() {
    let day = |fee: u64, logout: &str| {
        vec![
            ev("w1", "login", "08:00"),
            ev("w1", "order_accepted", "08:10").order("o1"),
            ev("w1", "order_delivered", "08:40").order("o1").fee(fee),
            ev("w1", "logout", logout),
        ]
    };
    let end = "2026-03-03T00:00:00+08:00";
    // Exactly 1 h at exactly 21 yuan: not below.
    assert!(run(&day(2100, "09:00"), end).is_empty());
    // One fen less: below, at midnight, 2099 fen/h.
    let alerts = run(&day(2099, "09:00"), end);
    assert_eq!(
        brief(&alerts, &chrono_tz::Asia::Shanghai),
        vec![(
            "minimum_wage/violation".into(),
            "2026-03-03T00:00:00.000+08:00".into(),
            2099
        )]
    );
    assert_eq!(
        alerts[0].amount,
        Amount::CentsPerHour {
            value: 2099,
            limit: 2100
        }
    );
    assert_eq!(alerts[0].period_start, t("00:00"));
    // 2 h for 4199 fen: 2099.5 fen/h, rounded down in the alert.
    let alerts = run(&day(4199, "10:00"), end);
    assert_eq!(
        alerts[0].amount,
        Amount::CentsPerHour {
            value: 2099,
            limit: 2100
        }
    );
    // Under 1 h of work: no check. No fee at all: no check.
    assert!(run(&day(100, "08:59:59"), end).is_empty());
    let no_fee = [ev("w1", "login", "08:00"), ev("w1", "logout", "10:00")];
    assert!(run(&no_fee, end).is_empty());
    // Not before midnight.
    assert!(run(&day(100, "10:00"), "23:59:59").is_empty());
    // A second delivery of the same order does not count its fee again.
    let mut twice = day(1500, "09:00");
    twice.insert(
        3,
        ev("w1", "order_delivered", "08:50").order("o1").fee(1500),
    );
    assert_eq!(
        run(&twice, end)[0].amount,
        Amount::CentsPerHour {
            value: 1500,
            limit: 2100
        }
    );
}

fn quota_day(workers: &[(usize, &str)]) -> Vec<Ev> {
    let mut events = Vec::new();
    let mut n = 0;
    for &(count, logout) in workers {
        for _ in 0..count {
            let id = format!("q{n}");
            events.push(ev(&id, "login", "06:00").set("role", "rider"));
            events.push(ev(&id, "break_start", "09:00"));
            events.push(ev(&id, "break_end", "09:30"));
            events.push(ev(&id, "logout", logout));
            n += 1;
        }
    }
    events.sort_by_key(|e| e.json["ts"].as_i64());
    events
}

#[test]
fn quota_p90_uses_the_nearest_rank_and_skips_small_groups() {
    let end = "2026-03-03T00:00:00+08:00";
    let quota = |alerts: Vec<Alert>| {
        alerts
            .into_iter()
            .filter(|a| &*a.rule == "quota_p90")
            .collect::<Vec<_>>()
    };
    // 9 workers of 8 h and 1 of 9 h: the 9th of 10 is 8 h, not above the standard.
    assert!(quota(run(&quota_day(&[(9, "14:30"), (1, "15:30")]), end)).is_empty());
    // 8 of 8 h and 2 of 9 h: the 9th is 9 h.
    let alerts = quota(run(&quota_day(&[(8, "14:30"), (2, "15:30")]), end));
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert.worker_id, None);
    assert_eq!(
        (&*alert.platform, &*alert.role, &*alert.city),
        ("meituan", "rider", "371000")
    );
    assert_eq!(alert.at, t(end));
    assert_eq!(alert.period_start, t("00:00"));
    assert_eq!(
        alert.amount,
        Amount::Seconds {
            value: 9 * 3600,
            limit: 8 * 3600
        }
    );
    assert_eq!(alert.key(), "meituan/rider/371000");
    assert_eq!(
        alert.message,
        "90% of riders of meituan in 371000 worked up to 9h on 2026-03-02, above the standard working day of 8h (10 workers)."
    );
    // A p90 1 ms above the standard is above it, and the sentence says so in whole seconds.
    let alerts = quota(run(&quota_day(&[(10, "14:30:00.001")]), end));
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].amount,
        Amount::Seconds {
            value: 8 * 3600,
            limit: 8 * 3600
        }
    );
    assert_eq!(
        alerts[0].message,
        "90% of riders of meituan in 371000 worked up to more than 8h on 2026-03-02, above the standard working day of 8h (10 workers)."
    );
    // 9 workers, all long: fewer than quota_min_workers.
    assert!(quota(run(&quota_day(&[(9, "15:30")]), end)).is_empty());
    // With 11 workers the rank is ceil(9.9) = 10: one long worker of 11 is not enough.
    assert!(quota(run(&quota_day(&[(10, "14:30"), (1, "15:30")]), end)).is_empty());
    assert_eq!(
        quota(run(&quota_day(&[(9, "14:30"), (2, "15:30")]), end)).len(),
        1
    );
}

#[test]
fn quota_groups_by_the_last_event_before_midnight() {
    let end = "2026-03-03T00:00:00+08:00";
    let mut events = quota_day(&[(10, "15:30")]);
    // One worker moves to another city before midnight: the group has 9 workers left.
    events.push(ev("q0", "heartbeat", "23:00").set("city", "370100"));
    let alerts: Vec<_> = run(&events, end)
        .into_iter()
        .filter(|a| &*a.rule == "quota_p90")
        .collect();
    assert!(alerts.is_empty());
    // A move at midnight itself is too late to change the day's group.
    let mut events = quota_day(&[(10, "15:30")]);
    events.push(ev("q0", "heartbeat", end).set("city", "370100"));
    let alerts: Vec<_> = run(&events, end)
        .into_iter()
        .filter(|a| &*a.rule == "quota_p90")
        .collect();
    assert_eq!(alerts.len(), 1);
}

/// A sharded replay's engines report a day's working time by group ([`DayHours`]); merged,
/// they give the `quota_p90` alerts of the one named report of the same workers.
#[test]
fn day_hours_merged_give_the_quota_of_the_named_report() {
    let config = Config::default();
    let hour = 3_600_000;
    let (start, end) = (t("00:00"), t("2026-03-03T00:00:00+08:00"));
    let groups = [("meituan", "rider", "371000"), ("didi", "driver", "310000")];
    let mut report = DayReport {
        day: 20_514,
        start,
        end,
        entries: Vec::new(),
    };
    let mut shards = [DayHours::default(), DayHours::default()];
    for (g, &(platform, role, city)) in groups.iter().enumerate() {
        for i in 0..12usize {
            let work = (8 + i64::from(i % 4 == g)) * hour + i as i64 * 60_000;
            let id = format!("w{g}-{i}");
            report
                .entries
                .push((id, platform.into(), role.into(), city.into(), work));
            let shard = &mut shards[i % 2];
            (shard.day, shard.start, shard.end) = (report.day, start, end);
            shard
                .groups
                .entry((platform.into(), role.into(), city.into()))
                .or_default()
                .push(work);
        }
    }
    let [mut merged, other] = shards;
    merged.merge(other);
    let named = quota_alerts(&config, &report);
    assert_eq!(named.len(), 2, "{named:?}");
    assert_eq!(merged.quota_alerts(&config), named);
}

#[test]
fn duplicates_change_nothing_and_are_scoped_per_worker() {
    let events = [
        ev("w1", "login", "08:00").id("a"),
        ev("w1", "logout", "10:00").id("b"),
        ev("w1", "logout", "10:00").id("b"),
        // The same id from another worker is another event.
        ev("w2", "heartbeat", "10:00").id("a"),
        // A duplicate with a later ts moves no time (the id is remembered until the
        // watermark passes 10:00 + 1 h).
        ev("w1", "login", "10:40").id("b"),
    ];
    let (alerts, stats) = run_with(Config::default(), &events, "16:00");
    assert!(alerts.is_empty());
    assert_eq!(stats.duplicates, 2);
    assert_eq!(stats.applied, 3);
}

/// SPEC section 5: of copies of an event read within the lateness, the one with the earliest
/// `ts` counts, however many come and in whatever order; each replaced copy is dropped when
/// its instant comes, and nothing of them is left (the set of cancelled copies is bounded by
/// the reorder buffer). A copy that is late itself replaces nothing.
#[test]
fn of_many_copies_the_earliest_ts_counts_and_none_is_left_behind() {
    let mut events = vec![ev("w1", "login", "08:00").id("a")];
    // 08:00:29 down to 08:00:01, each read after the one stamped a second later.
    for second in (1..30).rev() {
        events.push(ev("w1", "logout", &format!("08:00:{second:02}")).id("x"));
    }
    let mut engine = Engine::new(Config::default());
    let mut pushed = Vec::new();
    for e in &events {
        pushed.push(engine.push(&event::parse(e.line().as_bytes()).unwrap()));
        engine.advance();
    }
    assert_eq!(pushed[1], Pushed::Accepted);
    assert!(
        pushed[2..].iter().all(|&p| p == Pushed::Replaced),
        "{pushed:?}"
    );
    assert_eq!(engine.cancelled.len(), 28);
    // A copy stamped before the watermark (08:00:29 - 30 s) is late itself: a duplicate.
    let late = ev("w1", "logout", "07:59:58").id("x");
    assert_eq!(
        engine.push(&event::parse(late.line().as_bytes()).unwrap()),
        Pushed::Duplicate
    );
    engine.finish(t("16:00"));
    assert!(engine.cancelled.is_empty());
    let stats = engine.stats();
    // The login and the logout at 08:00:01: one second of work, no alert.
    assert_eq!(
        (stats.accepted, stats.applied, stats.duplicates),
        (2, 2, 29)
    );
    assert!(engine.take_alerts().is_empty());
    let view = engine.worker_view("w1").unwrap();
    assert_eq!(view["online"], false, "{view}");
    assert_eq!(view["buffered_events"], 0, "{view}");
}

/// The worker view (`status`, `/v1/workers`) applies the events still waiting in the reorder
/// buffer, but not a copy that one with an earlier `ts` replaced: a login read before a logout
/// with its `event_id` and stamped 2 s after it does not show the worker online again.
#[test]
fn the_worker_view_leaves_out_a_replaced_copy() {
    let mut engine = Engine::new(Config::default());
    for e in [
        ev("w1", "login", "08:00").id("a"),
        ev("w1", "login", "08:00:06").id("x"),
        ev("w1", "logout", "08:00:04").id("x"),
    ] {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
        engine.advance();
    }
    let view = engine.worker_view("w1").unwrap();
    assert_eq!(view["online"], false, "{view}");
    assert_eq!(view["buffered_events"], 2, "{view}");
}

#[test]
fn ids_are_forgotten_once_the_watermark_passes_ts_plus_the_window() {
    // The watermark reaches exactly 08:00 + 1 h: not passed yet, so "a" is remembered.
    let kept = [
        ev("w1", "login", "08:00").id("a"),
        ev("w1", "logout", "08:10"),
        ev("w2", "heartbeat", "09:00:30"),
        ev("w1", "heartbeat", "09:00:10").id("a"),
    ];
    let (_, stats) = run_with(Config::default(), &kept, "10:00");
    assert_eq!((stats.duplicates, stats.applied), (1, 3));
    // One millisecond further and it is forgotten: the event is new.
    let forgotten = [
        ev("w1", "login", "08:00").id("a"),
        ev("w1", "logout", "08:10"),
        ev("w2", "heartbeat", "09:00:30.001"),
        ev("w1", "heartbeat", "09:00:10").id("a"),
    ];
    let (_, stats) = run_with(Config::default(), &forgotten, "10:00");
    assert_eq!((stats.duplicates, stats.applied), (0, 4));
    // A re-sent copy (same ts) of a forgotten id is late anyway.
    let copy = [
        ev("w1", "login", "08:00").id("a"),
        ev("w2", "heartbeat", "09:00:30.001"),
        ev("w1", "login", "08:00").id("a"),
    ];
    let (_, stats) = run_with(Config::default(), &copy, "10:00");
    assert_eq!((stats.duplicates, stats.late), (0, 1));
}

#[test]
fn an_order_start_beyond_the_active_order_cap_is_refused() {
    let mut events = vec![ev("w1", "login", "08:00")];
    for i in 0..MAX_ACTIVE_ORDERS {
        events.push(ev("w1", "order_accepted", "08:01").order(&format!("o{i}")));
    }
    // Re-accepting an active order is fine; a 65th is refused and changes nothing, not even
    // the last-seen time; once an order ends, a new one fits again.
    events.push(ev("w1", "order_picked_up", "08:02").order("o0"));
    events.push(ev("w1", "order_accepted", "08:30").order("o64"));
    events.push(ev("w1", "order_delivered", "08:40").order("o1"));
    events.push(ev("w1", "order_accepted", "08:41").order("o64"));
    let run = |events: &[Ev], until: &str| {
        let mut engine = Engine::new(Config::default());
        for (seq, e) in events.iter().enumerate() {
            let line = e.line();
            let parsed = event::parse(line.as_bytes()).unwrap();
            engine.push_at(&parsed, None, seq as u64 + 1);
            engine.advance();
        }
        engine.finish(t(until));
        engine
    };
    let mut engine = run(&events[..events.len() - 2], "08:35");
    assert_eq!(
        engine.take_rejected(),
        vec![(67, crate::event::BadReason::TooManyOrders)]
    );
    assert_eq!(engine.stats().rejected, 1);
    assert_eq!(engine.worker("w1").unwrap().last_event, t("08:02"));
    let mut engine = run(&events, "08:45");
    assert_eq!(engine.take_rejected().len(), 1);
    assert_eq!(engine.stats().applied, events.len() as u64 - 1);
    let w1 = engine.worker("w1").unwrap();
    assert_eq!(w1.active_orders(), MAX_ACTIVE_ORDERS);
    assert_eq!(w1.last_event, t("08:41"));
}

/// SPEC section 5: memory is bounded by the workers seen within `worker_ttl`, whatever the
/// input. Workers that come and go, each forgotten before the next round, leave nothing
/// behind in the engine (the list of changed workers grew by one for every worker created).
#[test]
fn workers_forgotten_and_seen_again_leave_nothing_behind() {
    let mut config = Config::default();
    config.time.worker_ttl = 3_600_000;
    for live in [false, true] {
        let mut engine = Engine::new(config.clone());
        if live {
            engine.track_changes();
        }
        let mut most = Sizes::default();
        for round in 0..60i64 {
            // 100 workers a round, 2 h apart; a third of the ids new each round.
            for i in 0..100 {
                let id = format!("w{}", i + round * 33);
                let ts = 1_772_409_600_000 + round * 7_200_000 + i * 1_000;
                let line = format!(r#"{{"worker_id":"{id}","kind":"heartbeat","ts":{ts}}}"#);
                engine.push(&event::parse(line.as_bytes()).unwrap());
                engine.advance();
            }
            if live {
                // A checkpoint takes the changed workers and the forgotten ones.
                engine.take_dirty();
                engine.take_evicted();
            }
            let now = engine.sizes();
            most.slots = most.slots.max(now.slots);
            most.timers = most.timers.max(now.timers);
            most.changed = most.changed.max(now.changed);
            most.workers = most.workers.max(now.workers);
        }
        assert_eq!(engine.stats().evicted, 59 * 100, "live {live}");
        assert!(most.workers <= 200, "live {live}: {most:?}");
        assert!(most.slots <= 200, "live {live}: {most:?}");
        assert!(most.timers <= 400, "live {live}: {most:?}");
        assert!(most.changed <= 200, "live {live}: {most:?}");
    }
}

/// SPEC section 5: memory follows the workers, not the events. A worker who logs in and out
/// every 100 ms moves its next crossing at every event; the timers left behind, each hours
/// ahead, are dropped (the heap held one per event until their instants). The alerts are
/// those of an engine that keeps them all.
#[test]
fn a_worker_busy_with_events_leaves_no_pile_of_timers() {
    let lines: Vec<String> = (0..300_000i64)
        .map(|k| {
            let kind = if k % 2 == 0 { "login" } else { "logout" };
            let ts = 1_772_409_600_000 + k * 100;
            format!(r#"{{"worker_id":"w","kind":"{kind}","ts":{ts}}}"#)
        })
        .collect();
    let run = |compact: bool| {
        let mut engine = Engine::new(Config::default());
        if !compact {
            engine.compact_timers_at = usize::MAX;
        }
        let mut most = 0;
        for line in &lines {
            engine.push(&event::parse(line.as_bytes()).unwrap());
            engine.advance();
            most = most.max(engine.sizes().timers);
        }
        engine.finish(1_772_409_600_000 + 300_000 * 100);
        let zone = engine.config().time.zone;
        let alerts: Vec<String> = engine
            .take_alerts()
            .iter()
            .map(|a| a.to_json(&zone))
            .collect();
        (alerts, most)
    };
    let (alerts, most) = run(true);
    let (kept, piled) = run(false);
    assert!(piled > 50_000, "the heap without compaction: {piled}");
    assert!(most <= 4096, "timers held at most: {most}");
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts, kept);
}

#[test]
fn silent_workers_are_forgotten_after_the_ttl_and_start_afresh() {
    let mut config = Config::default();
    config.time.worker_ttl = 2 * 86_400_000;
    let mut engine = Engine::new(config);
    engine.track_changes();
    let push = |engine: &mut Engine, e: Ev| {
        let line = e.line();
        engine.push(&event::parse(line.as_bytes()).unwrap());
        engine.advance();
    };
    push(&mut engine, ev("w1", "login", "08:00").set("city", "c1"));
    push(&mut engine, ev("w1", "logout", "09:00").set("city", "c1"));
    // An event exactly at the deadline keeps the worker.
    push(
        &mut engine,
        ev("w1", "heartbeat", "2026-03-04T09:00:00+08:00").set("city", "c1"),
    );
    push(&mut engine, ev("w2", "login", "2026-03-06T09:00:00+08:00"));
    push(&mut engine, ev("w2", "logout", "2026-03-06T10:00:00+08:00"));
    assert!(engine.worker("w1").is_none(), "w1 silent since 03-04 09:00");
    assert_eq!(engine.take_evicted(), vec!["w1".into()]);
    assert_eq!(engine.stats().evicted, 1);
    // Its names went with it: only w2's remain (plus the rule set's platform and role).
    assert!(!engine.state.names.index.contains_key("c1"));
    push(&mut engine, ev("w1", "login", "2026-03-06T11:00:00+08:00"));
    engine.finish(t("2026-03-06T11:30:00+08:00"));
    let w1 = engine.worker("w1").unwrap();
    assert_eq!(w1.since, t("2026-03-06T11:00:00+08:00"));
    assert_eq!(w1.closed_day, i32::MIN, "a fresh start: no day closed yet");
    let (episode, _) = w1.continuous().unwrap();
    assert_eq!(episode.unwrap().start, t("2026-03-06T11:00:00+08:00"));
    assert_eq!(engine.sizes().workers, 2);
}

#[test]
fn reordering_within_lateness_is_exact_and_later_events_are_late() {
    let in_order = [
        ev("w1", "login", "08:00:00"),
        ev("w2", "login", "08:00:20"),
        ev("w1", "logout", "08:30"),
    ];
    let shuffled = [
        ev("w2", "login", "08:00:20"),
        ev("w1", "login", "08:00:00"),
        ev("w1", "logout", "08:30"),
    ];
    let (a, sa) = run_with(Config::default(), &in_order, "13:00");
    let (b, sb) = run_with(Config::default(), &shuffled, "13:00");
    assert_eq!(a, b);
    assert_eq!((sa.late, sb.late), (0, 0));
    let late = [ev("w2", "login", "08:00:31"), ev("w1", "login", "08:00:00")];
    let (alerts, stats) = run_with(Config::default(), &late, "13:00");
    assert_eq!(stats.late, 1);
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.worker_id.as_deref() == Some("w1"))
            .count(),
        0
    );
    // Exactly at the bound is still in time.
    let edge = [ev("w2", "login", "08:00:30"), ev("w1", "login", "08:00:00")];
    assert_eq!(run_with(Config::default(), &edge, "13:00").1.late, 0);
}

/// A `resolved` alert at an instant with an event of its worker carries the platform, role and
/// city of that event, as a warning at such an instant does: the state from an instant on is
/// the state after its events (audit P; the rest itself completes before them).
#[test]
fn a_resolved_alert_carries_the_group_of_the_events_at_its_instant() {
    let text = "[rules]\ncontinuous_limit = \"30m\"\nwarn_before = \"5m\"\nmin_break = \"3m\"\n";
    let config = Config::from_toml_str(text, Vec::new()).unwrap();
    let events = [
        ev("w1", "login", "10:00").set("city", "A"),
        ev("w1", "heartbeat", "10:25").set("city", "X"),
        ev("w1", "break_start", "10:40").set("city", "B"),
        ev("w1", "heartbeat", "10:43").set("city", "C"),
        ev("w1", "heartbeat", "10:43").set("city", "E"),
        ev("w1", "heartbeat", "10:50").set("city", "D"),
    ];
    let alerts = run_with(config, &events, "11:00").0;
    let cities: Vec<(Phase, i64, &str)> = alerts
        .iter()
        .map(|a| (a.phase, a.at, a.city.as_str()))
        .collect();
    assert_eq!(
        cities,
        [
            (Phase::Warning, t("10:25"), "X"),
            (Phase::Violation, t("10:30"), "X"),
            (Phase::Resolved, t("10:43"), "E"),
        ]
    );
}

#[test]
fn noops_are_counted() {
    let events = [
        ev("w1", "login", "08:00"),
        ev("w1", "login", "08:01"),
        ev("w1", "order_delivered", "08:02").order("nope"),
        ev("w1", "break_end", "08:03"),
        ev("w1", "order_accepted", "08:03").order("o1"),
        ev("w1", "order_picked_up", "08:03").order("o1"),
        ev("w1", "order_accepted", "08:03").order("o1"),
        ev("w1", "order_delivered", "08:04").order("o1"),
        ev("w1", "logout", "08:04"),
        ev("w1", "logout", "08:05"),
    ];
    // A pick-up or an acceptance of an active order is a no-op too (SPEC section 3's state).
    assert_eq!(run_with(Config::default(), &events, "09:00").1.noops, 6);
    // A logout while offline is one, also when it returns a declared activity to rest (SPEC
    // section 3: "a `logout` while offline"; an activity is not section 3's state). A repeated
    // activity is one; a new activity is not.
    let activity = |ts: &str, what: &str| ev("w2", "activity", ts).set("activity", what);
    let events = [
        activity("08:00", "driving"),
        activity("08:01", "driving"),
        ev("w2", "logout", "08:02"),
        activity("08:03", "other_work"),
    ];
    assert_eq!(run_with(Config::default(), &events, "09:00").1.noops, 2);
}

#[test]
fn rules_come_from_the_first_event_and_labels_from_the_last() {
    let events = [
        ev("w1", "login", "08:00")
            .set("platform", "didi")
            .set("role", "driver"),
        ev("w1", "heartbeat", "09:00")
            .set("platform", "other")
            .set("city", "310000"),
    ];
    let alerts = run(&events, "13:00");
    assert_eq!(alerts[1].platform, "other");
    assert_eq!(alerts[1].role, "rider");
    assert_eq!(alerts[1].city, "310000");
}

#[test]
fn state_carries_over_between_engines() {
    let first = || [ev("w1", "login", "08:00"), ev("w2", "login", "09:00")];
    let second = || [ev("w1", "heartbeat", "11:00"), ev("w2", "logout", "13:30")];
    let whole = run(
        &first().into_iter().chain(second()).collect::<Vec<_>>(),
        "14:00",
    );
    let mut engine = Engine::new(Config::default());
    for e in &first() {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
        engine.advance();
    }
    let mut alerts = engine.take_alerts();
    let saved = serde_json::to_string(engine.state()).unwrap();
    let mut engine = Engine::with_state(Config::default(), serde_json::from_str(&saved).unwrap());
    for e in &second() {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
        engine.advance();
    }
    engine.finish(t("14:00"));
    alerts.extend(engine.take_alerts());
    assert_eq!(alerts, whole);
    assert_eq!(whole.len(), 4 + 1);
}

#[test]
fn no_calendar_limits_helper_is_quiet() {
    let (alerts, _) = run_with(
        no_calendar_limits(),
        &[ev("w1", "login", "08:00"), ev("w1", "logout", "11:00")],
        "23:00",
    );
    assert!(alerts.is_empty());
}

/// A config with the shipped Chinese holiday calendar and `holiday_pay_ratio`.
fn with_holidays(ratio: &str) -> Config {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/holidays/cn.toml");
    let text = format!("[rules]\nholiday_pay_ratio = {ratio}\n[time]\nholidays = {path:?}\n");
    Config::from_toml_str(&text, Vec::new()).unwrap()
}

/// Two hours of work on a local date with one delivered order paying `fee` fen.
fn paid_day(date: &str, order: &str, fee: u64) -> Vec<Ev> {
    vec![
        ev("w1", "login", &format!("{date}T08:00:00+08:00")),
        ev("w1", "order_accepted", &format!("{date}T08:10:00+08:00")).order(order),
        ev("w1", "order_delivered", &format!("{date}T08:40:00+08:00"))
            .order(order)
            .fee(fee),
        ev("w1", "logout", &format!("{date}T10:00:00+08:00")),
    ]
}

fn holiday_alerts(config: Config, days: &[(&str, u64)]) -> Vec<(String, String, i64, i64)> {
    let events: Vec<Ev> = days
        .iter()
        .enumerate()
        .flat_map(|(i, (date, fee))| paid_day(date, &format!("o{i}"), *fee))
        .collect();
    let (alerts, _) = run_with(config, &events, "2026-05-12T00:00:00+08:00");
    alerts
        .iter()
        .filter(|a| &*a.rule == "holiday_pay")
        .map(|a| {
            let Amount::CentsPerHour { value, limit } = a.amount else {
                panic!("holiday_pay is paid per hour");
            };
            (
                format_rfc3339(a.at, &chrono_tz::Asia::Shanghai),
                format_rfc3339(a.period_start, &chrono_tz::Asia::Shanghai),
                value as i64,
                limit as i64,
            )
        })
        .collect()
}

/// SPEC 8: `holiday_pay` is on when `holidays` is set, whatever the pack (audit AP: no
/// shipped pack but the default had it, so `[time] holidays` did nothing under them).
#[test]
fn holiday_pay_is_on_under_every_pack_when_holidays_are_set() {
    let days = [("2026-04-30", 6000), ("2026-05-01", 6000)];
    for pack in crate::pack::SHIPPED.iter().map(|(name, _)| *name) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/holidays/cn.toml");
        let text = format!("[rules]\npack = {pack:?}\n[time]\nholidays = {path:?}\n");
        let config = Config::from_toml_str(&text, Vec::new()).unwrap();
        assert_eq!(
            holiday_alerts(config, &days),
            vec![(
                "2026-05-02T00:00:00.000+08:00".to_owned(),
                "2026-05-01T00:00:00.000+08:00".to_owned(),
                3000,
                3000,
            )],
            "pack {pack}"
        );
        // Without a calendar, no pack judges holiday pay.
        let text = format!("[rules]\npack = {pack:?}\n");
        let config = Config::from_toml_str(&text, Vec::new()).unwrap();
        assert_eq!(holiday_alerts(config, &days), vec![], "pack {pack}");
    }
}

#[test]
fn holiday_pay_compares_a_statutory_holiday_with_the_28_days_before() {
    let cfg = || with_holidays("1.0");
    // 2026-05-01 is a statutory holiday (劳动节). Two hours for 6000 fen: 3000 fen an hour.
    // No ordinary paid day in the 28 days before: nothing to compare, no alert.
    assert_eq!(holiday_alerts(cfg(), &[("2026-05-01", 6000)]), vec![]);
    // 29 days before is outside the window.
    assert_eq!(
        holiday_alerts(cfg(), &[("2026-04-02", 6000), ("2026-05-01", 6000)]),
        vec![]
    );
    // The same rate as a normal day (2026-04-30): not above it, a violation at the midnight
    // ending the holiday.
    let equal = vec![(
        "2026-05-02T00:00:00.000+08:00".to_owned(),
        "2026-05-01T00:00:00.000+08:00".to_owned(),
        3000,
        3000,
    )];
    assert_eq!(
        holiday_alerts(cfg(), &[("2026-04-30", 6000), ("2026-05-01", 6000)]),
        equal
    );
    // One fen more on the holiday is above: no alert.
    assert_eq!(
        holiday_alerts(cfg(), &[("2026-04-30", 6000), ("2026-05-01", 6001)]),
        vec![]
    );
    // Pooled fees beyond 64 bits are summed exactly (they saturated, and the holiday's equal
    // rate looked twice the pooled one): two ordinary days and the holiday, each paid the
    // largest fee for 2 h, are one rate.
    let max = u64::MAX;
    assert_eq!(
        holiday_alerts(
            cfg(),
            &[
                ("2026-04-29", max),
                ("2026-04-30", max),
                ("2026-05-01", max)
            ]
        ),
        vec![(
            "2026-05-02T00:00:00.000+08:00".to_owned(),
            "2026-05-01T00:00:00.000+08:00".to_owned(),
            i64::MAX,
            i64::MAX,
        )]
    );
    // A swapped working Sunday (2026-04-26, 调休) is an ordinary day: it is the comparison.
    assert_eq!(
        holiday_alerts(cfg(), &[("2026-04-26", 6000), ("2026-05-01", 6000)]),
        equal
    );
    // The swapped rest days around the holiday (2026-05-03) are not statutory: no alert on
    // them, however little they pay.
    assert_eq!(
        holiday_alerts(cfg(), &[("2026-04-30", 6000), ("2026-05-03", 100)]),
        vec![]
    );
    // Labour Law art. 44: 300% on statutory holidays. Paying double is then a violation.
    assert_eq!(
        holiday_alerts(
            with_holidays("3.0"),
            &[("2026-04-30", 6000), ("2026-05-01", 12000)]
        ),
        vec![(
            "2026-05-02T00:00:00.000+08:00".to_owned(),
            "2026-05-01T00:00:00.000+08:00".to_owned(),
            6000,
            9000,
        )]
    );
    // Without a calendar the rule is off (the default output is unchanged).
    let (alerts, _) = run_with(
        Config::default(),
        &[
            paid_day("2026-04-30", "a", 6000),
            paid_day("2026-05-01", "b", 6000),
        ]
        .concat(),
        "2026-05-12T00:00:00+08:00",
    );
    assert!(alerts.iter().all(|a| &*a.rule != "holiday_pay"));
}

/// The config under `subject = "person"`, with `extra` lines under `[rules]`.
pub(super) fn persons_config(extra: &str) -> Config {
    Config::from_toml_str(
        &format!("[rules]\nsubject = \"person\"\n{extra}"),
        Vec::new(),
    )
    .unwrap()
}

/// A worker id whose person has been silent for `worker_ttl` starts afresh: its next event
/// naming another person joins that one, whether the eviction ran before the event was read
/// (an engine advanced after each event) or not yet (a block of events read at once, as
/// sharded replay reads them). Before, the second way kept it with the old person: which
/// person got the alerts depended on how far reading ran ahead (audit P D1).
#[test]
fn a_worker_id_whose_person_is_forgotten_joins_the_person_it_names_next() {
    let config = || {
        let mut config = persons_config(
            "continuous_limit = \"30m\"\nwarn_before = \"5m\"\nmin_break = \"3m\"\n",
        );
        config.time.worker_ttl = 2 * 3_600_000;
        config
    };
    let events = [
        ev("a", "login", "10:00").set("person_id", "P"),
        ev("a", "logout", "10:10"),
        ev("z", "heartbeat", "12:30"),
        ev("a", "login", "13:00").set("person_id", "Q"),
        ev("a", "logout", "13:40"),
    ];
    let persons = |alerts: Vec<Alert>| -> Vec<(Phase, i64, Option<String>)> {
        alerts
            .into_iter()
            .map(|a| (a.phase, a.at, a.person_id))
            .collect()
    };
    let expected = vec![
        (Phase::Warning, t("13:25"), Some("Q".to_owned())),
        (Phase::Violation, t("13:30"), Some("Q".to_owned())),
        (Phase::Resolved, t("13:43"), Some("Q".to_owned())),
    ];
    assert_eq!(persons(run_with(config(), &events, "14:00").0), expected);
    let alerts = read_at_once(config(), &events, "14:00");
    assert_eq!(persons(alerts), expected);
    // Within `worker_ttl` of the person's last event the worker id stays with it (an event
    // exactly at the end of the silence still finds it).
    let kept = [
        ev("a", "login", "10:00").set("person_id", "P"),
        ev("a", "logout", "10:10"),
        ev("a", "login", "12:10").set("person_id", "Q"),
        ev("a", "logout", "12:50"),
        ev("z", "heartbeat", "12:55"),
    ];
    let alerts = read_at_once(config(), &kept, "14:00");
    assert_eq!(
        persons(alerts),
        [
            (Phase::Warning, t("12:35"), Some("P".to_owned())),
            (Phase::Violation, t("12:40"), Some("P".to_owned())),
            (Phase::Resolved, t("12:53"), Some("P".to_owned())),
        ]
    );
}

/// A worker id that stood alone, then joined its person, starts afresh alone at an event
/// without `person_id` more than `worker_ttl` after the person's last one (docs/persons.md),
/// as one whose first event named the person does, also when the engine read that event
/// before it applied the join (a block read at once). Before, the join's move took every
/// event of the worker id waiting alone to the person, that one included, and a new life of
/// the person got its alerts (found by tests/model/test_person_admission.py).
#[test]
fn a_worker_id_that_joined_from_alone_starts_afresh_alone_after_its_person() {
    let config = || {
        let mut config = persons_config("continuous_limit = \"1h\"\nwarn_before = \"10m\"\n");
        config.time.worker_ttl = 2 * 3_600_000;
        config
    };
    let keys = |alerts: Vec<Alert>| -> Vec<(i64, Option<String>, Option<String>)> {
        alerts
            .into_iter()
            .filter(|a| a.at > t("14:00"))
            .map(|a| (a.at, a.person_id, a.worker_id))
            .collect()
    };
    let alone = |at: &str| (t(at), None, Some("a".to_owned()));
    let expected = vec![alone("14:50"), alone("15:00")];
    for first_named in [false, true] {
        let first = ev("a", "login", "10:00");
        let events = [
            if first_named {
                first.set("person_id", "P")
            } else {
                first
            },
            ev("a", "heartbeat", "11:00").set("person_id", "P"),
            ev("a", "login", "14:00"),
            ev("z", "heartbeat", "16:00"),
        ];
        assert_eq!(keys(run_with(config(), &events, "16:00").0), expected);
        let alerts = read_at_once(config(), &events, "16:00");
        assert_eq!(
            keys(alerts),
            expected,
            "read at once, first named: {first_named}"
        );
    }
}

/// A person forgotten after `worker_ttl` of silence takes every worker id of it along
/// (docs/persons.md): when another worker id names the person again, one that does not name
/// it starts afresh alone, whether the old person's eviction ran before those events were
/// read (an engine advanced after each) or not yet (a block read at once). Before, the second
/// way kept the worker id with the person's new life (found by
/// tests/model/test_person_admission.py).
#[test]
fn a_forgotten_persons_worker_ids_start_afresh_alone() {
    let config = || {
        let mut config = persons_config("continuous_limit = \"1h\"\nwarn_before = \"10m\"\n");
        config.time.worker_ttl = 2 * 3_600_000;
        config
    };
    let events = [
        ev("a", "heartbeat", "10:00").set("person_id", "P"),
        ev("b", "heartbeat", "10:00").set("person_id", "P"),
        ev("b", "heartbeat", "13:00").set("person_id", "P"),
        ev("a", "login", "13:10"),
        ev("b", "heartbeat", "15:00").set("person_id", "P"),
    ];
    let keys = |alerts: Vec<Alert>| -> Vec<(i64, Option<String>, Option<String>)> {
        alerts
            .into_iter()
            .map(|a| (a.at, a.person_id, a.worker_id))
            .collect()
    };
    let alone = |at: &str| (t(at), None, Some("a".to_owned()));
    let expected = vec![alone("14:00"), alone("14:10")];
    assert_eq!(keys(run_with(config(), &events, "15:00").0), expected);
    let alerts = read_at_once(config(), &events, "15:00");
    assert_eq!(keys(alerts), expected, "read at once");
}

fn person_ev(worker: &str, platform: &str, kind: &str, ts: &str) -> Ev {
    ev(worker, kind, ts)
        .set("platform", platform)
        .set("person_id", "P1")
}

/// (rule/phase, at, value, by_platform) of an alert.
type PersonAlert = (String, String, i64, Vec<(String, i64)>);

/// The alerts about person P1, briefly.
fn person_brief(alerts: &[Alert]) -> Vec<PersonAlert> {
    alerts
        .iter()
        .filter(|a| a.person_id.as_deref() == Some("P1"))
        .map(|a| {
            let value = match a.amount {
                Amount::Seconds { value, .. } => value,
                Amount::CentsPerHour { value, .. } => value as i64,
            };
            (
                format!("{}/{}", a.rule, a.phase.as_str()),
                format_rfc3339(a.at, &chrono_tz::Asia::Shanghai),
                value,
                a.by_platform.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn a_persons_worker_ids_on_two_platforms_have_orders_of_their_own() {
    // Two platforms both number an order "o1": two orders (SPEC section 2: order ids are
    // scoped per worker), so Ele.me's fee counts although Meituan's "o1" was delivered first,
    // without a fee. Taken for one order, the fee was not counted and the day was below the
    // minimum wage at midnight. Ele.me delivering its "o1" again counts its fee once.
    let day = |fee: u64, again: bool| {
        let mut events = vec![
            person_ev("m1", "meituan", "login", "08:00"),
            person_ev("e1", "eleme", "login", "08:00"),
            person_ev("m1", "meituan", "order_delivered", "09:00").order("o1"),
            person_ev("e1", "eleme", "order_delivered", "09:00")
                .order("o1")
                .fee(fee),
            person_ev("m1", "meituan", "logout", "10:00"),
            person_ev("e1", "eleme", "logout", "10:00"),
        ];
        if again {
            let copy = person_ev("e1", "eleme", "order_delivered", "09:30")
                .order("o1")
                .fee(fee);
            events.insert(4, copy);
        }
        let (alerts, _) = run_with(persons_config(""), &events, "2026-03-03T01:00:00+08:00");
        person_brief(&alerts)
    };
    // 5000 fen for 2 h: above the rate.
    assert_eq!(day(5000, false), vec![]);
    // 4000 fen for 2 h, delivered twice: 2000 fen/h, below.
    let below = vec![(
        "minimum_wage/violation".to_owned(),
        "2026-03-03T00:00:00.000+08:00".to_owned(),
        2000,
        vec![("eleme".to_owned(), 7200), ("meituan".to_owned(), 7200)],
    )];
    assert_eq!(day(4000, true), below);
}

#[test]
fn a_person_working_two_platforms_one_after_the_other_is_one_person() {
    // Meituan 08:00-12:00, then Ele.me from 12:10 to 16:00, with a standard day of 7 h: each
    // platform alone has an episode of at most 4 h that stops exactly at the limit (nothing)
    // and a day under 7 h.
    let events = [
        person_ev("m1", "meituan", "login", "08:00"),
        person_ev("m1", "meituan", "logout", "12:00"),
        person_ev("e1", "eleme", "login", "12:10"),
        person_ev("e1", "eleme", "logout", "16:00"),
    ];
    let mut seven = Config::default();
    seven.rules.daily_standard = 7 * 3_600_000;
    let (alone, _) = run_with(seven, &events, "23:00");
    assert!(
        alone
            .iter()
            .all(|a| a.phase != Phase::Violation && &*a.rule != "daily_hours"),
        "{:?}",
        sh(&alone)
    );
    let (alerts, _) = run_with(
        persons_config("daily_standard = \"7h\"\n"),
        &events,
        "23:00",
    );
    let m = |s: i64| ("meituan".to_owned(), s);
    let e = |s: i64| ("eleme".to_owned(), s);
    assert_eq!(
        person_brief(&alerts),
        vec![
            (
                "continuous_work/warning".into(),
                at("11:45:00"),
                13_500,
                vec![m(13_500)]
            ),
            // The 10-minute pause is no qualifying break: the episode goes on, and the
            // violation fires when work resumes on the other platform.
            (
                "continuous_work/violation".into(),
                at("12:10:00"),
                14_400,
                vec![m(14_400)]
            ),
            // 7 h of the day at 15:10: 4 h on Meituan and 3 h on Ele.me, adding up to the value.
            (
                "daily_hours/warning".into(),
                at("15:10:00"),
                25_200,
                vec![e(10_800), m(14_400)]
            ),
            // The break from 16:00 completes at 16:20; the episode had 7 h 50 min.
            (
                "continuous_work/resolved".into(),
                at("16:20:00"),
                28_200,
                vec![e(13_800), m(14_400)]
            ),
        ]
    );
    // The alerts name the person, not a worker, in their fields and in their messages.
    assert!(alerts.iter().all(|a| a.worker_id.is_none()));
    assert!(
        alerts.iter().all(|a| a.message.starts_with("Person P1 ")),
        "{:?}",
        alerts.iter().map(|a| &a.message).collect::<Vec<_>>()
    );
}

#[test]
fn concurrent_sessions_count_once_for_the_person_and_for_each_platform() {
    // Meituan 08:00-12:00 and Ele.me 10:00-14:00: the person works 08:00-14:00.
    let events = [
        person_ev("m1", "meituan", "login", "08:00"),
        person_ev("e1", "eleme", "login", "10:00"),
        person_ev("m1", "meituan", "logout", "12:00"),
        person_ev("e1", "eleme", "logout", "14:00"),
    ];
    let (alerts, _) = run_with(persons_config(""), &events, "23:00");
    let brief = person_brief(&alerts);
    // 4 h of the person at 12:00; Meituan had 4 h of it, Ele.me 2 h (time on both counts for
    // each).
    assert_eq!(
        brief[1],
        (
            "continuous_work/violation".into(),
            at("12:00:00"),
            14_400,
            vec![("eleme".into(), 7_200), ("meituan".into(), 14_400)]
        )
    );
    assert_eq!(brief.len(), 3, "{brief:?}");
}

#[test]
fn by_platform_keeps_the_names_of_platforms_a_worker_id_has_left() {
    // Ele.me's worker id works 09:00-12:00; its event at 12:00 names another platform (or
    // none, `unknown`), after which no one holds the name "eleme". The time before stays
    // Ele.me's, and a name interned later must not take its place.
    let events = [
        person_ev("m1", "meituan", "login", "08:00"),
        person_ev("e1", "eleme", "login", "09:00"),
        person_ev("m1", "meituan", "logout", "10:00"),
        person_ev("e1", "zzz", "heartbeat", "12:00"),
        ev("w2", "heartbeat", "12:00").set("platform", "didi"),
    ];
    let (alerts, _) = run_with(persons_config(""), &events, "12:00");
    assert_eq!(
        person_brief(&alerts),
        vec![
            (
                "continuous_work/warning".into(),
                at("11:45:00"),
                13_500,
                vec![("eleme".into(), 9_900), ("meituan".into(), 7_200)]
            ),
            (
                "continuous_work/violation".into(),
                at("12:00:00"),
                14_400,
                vec![("eleme".into(), 10_800), ("meituan".into(), 7_200)]
            ),
        ]
    );
}

/// P1's `minimum_wage` alerts for 2026-03-02 (a person `daily_standard` of 3 h; event time
/// run to just past the day's end).
fn minimum_wage_of_p1(events: &[Ev]) -> Vec<PersonAlert> {
    let config = persons_config("[rules.person]\ndaily_standard = \"3h\"\n");
    let (alerts, _) = run_with(config, events, "2026-03-03T00:00:01+08:00");
    person_brief(&alerts)
        .into_iter()
        .filter(|(rule, ..)| rule.starts_with("minimum_wage"))
        .collect()
}

/// The day-judging rules (`minimum_wage`, `holiday_pay`) split the day's time by the platform
/// each worker id had when it worked it, as the other rules do: an event without `platform`
/// moves the worker id's later time to `unknown`, not its whole day (audit V: the day went
/// whole to the platform at midnight, `{"unknown": 12600}`).
#[test]
fn a_days_by_platform_follows_the_platform_when_the_time_was_worked() {
    let events = [
        person_ev("a1", "meituan", "login", "08:00"),
        person_ev("a1", "meituan", "order_accepted", "09:00").order("o1"),
        person_ev("a1", "meituan", "order_delivered", "10:00")
            .order("o1")
            .fee(100),
        ev("a1", "heartbeat", "11:00").without("platform"),
        ev("a1", "logout", "11:30").without("platform"),
        person_ev("a1", "meituan", "heartbeat", "2026-03-03T00:00:01+08:00"),
    ];
    let wage = minimum_wage_of_p1(&events);
    assert_eq!(
        wage,
        vec![(
            "minimum_wage/violation".into(),
            "2026-03-03T00:00:00.000+08:00".into(),
            28,
            vec![("meituan".into(), 10_800), ("unknown".into(), 1_800)]
        )]
    );
}

/// A worker id whose every event names a new platform (a hostile producer): the day's
/// `by_platform` names at most 32 platforms and puts the rest under `other`, as the other
/// rules do (persons.md). Before, a worker id kept every platform it had left that day, by
/// name, searched one by one: replay time grew with the square of the events, the
/// `minimum_wage` alert listed every platform (1.1 MB with 80,000), and live, the person's
/// state record outgrew the producer's `message.max.bytes` (audit AI).
#[test]
fn a_days_by_platform_names_at_most_32_platforms_however_many_a_worker_id_left() {
    let mut events = vec![person_ev("a1", "p0", "login", "08:00")];
    for i in 1..100 {
        let ts = format!("2026-03-02T08:{:02}:{:02}+08:00", i / 2, (i % 2) * 30);
        let e = person_ev("a1", &format!("p{i}"), "heartbeat", &ts);
        events.push(match i {
            10 => e.set("kind", "order_accepted").order("o1"),
            20 => e.set("kind", "order_delivered").order("o1").fee(100),
            _ => e,
        });
    }
    events.push(person_ev("a1", "p100", "logout", "09:00"));
    events.push(person_ev(
        "a1",
        "p0",
        "heartbeat",
        "2026-03-03T00:00:01+08:00",
    ));
    let wage = minimum_wage_of_p1(&events);
    assert_eq!(wage.len(), 1, "{wage:?}");
    let split = &wage[0].3;
    let mut expected: Vec<(String, i64)> = (0..32).map(|i| (format!("p{i}"), 30)).collect();
    expected.push(("other".into(), 3_600 - 32 * 30));
    expected.sort();
    let mut got = split.clone();
    got.sort();
    assert_eq!(got, expected);
}

/// A worker id first named with a `person_id` in the middle of a day is one worker of that
/// day for `quota_p90`, with the whole day's time (audit V: it was two, 0.5 h alone and
/// 9.5 h as the person's, and a group of one worker fired with `quota_min_workers = 2`).
#[test]
fn a_worker_id_that_joins_its_person_mid_day_is_one_worker_for_quota() {
    let events = |person_at: &str| {
        let tag = |e: Ev, ts: &str| {
            if ts == person_at {
                e.set("person_id", "P1")
            } else {
                e
            }
        };
        vec![
            tag(
                ev("w1", "login", "08:00").set("platform", "meituan"),
                "08:00",
            ),
            tag(
                ev("w1", "heartbeat", "08:30").set("platform", "meituan"),
                "08:30",
            ),
            tag(
                ev("w1", "logout", "18:00").set("platform", "meituan"),
                "18:00",
            ),
            ev("w1", "heartbeat", "2026-03-03T00:00:01+08:00").set("platform", "meituan"),
        ]
    };
    let quota = |config: &str, person_at: &str| -> Vec<(i64, String)> {
        let config = persons_config(config);
        let (alerts, _) = run_with(config, &events(person_at), "2026-03-03T00:00:01+08:00");
        alerts
            .iter()
            .filter(|a| &*a.rule == "quota_p90")
            .map(|a| match a.amount {
                Amount::Seconds { value, .. } => (value, a.message.clone()),
                Amount::CentsPerHour { .. } => unreachable!(),
            })
            .collect()
    };
    assert_eq!(quota("quota_min_workers = 2\n", "08:30"), vec![]);
    let one = quota("quota_min_workers = 1\n", "08:30");
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0].0, 36_000, "{one:?}");
    assert!(one[0].1.ends_with("(1 worker)."), "{one:?}");
    // The same as when the person is named from the first event.
    assert_eq!(one, quota("quota_min_workers = 1\n", "08:00"));
    // 0 skips no group either, as 1 (it was refused at start, where "fewer than 0" is no
    // group: a config that meant "every group" did not load).
    assert_eq!(one, quota("quota_min_workers = 0\n", "08:30"));
}

#[test]
fn worker_ids_without_a_person_stand_alone_and_quota_stays_per_worker_id() {
    let events = vec![
        // w9 never carries a person_id: a person of its own, named by its worker id.
        ev("w9", "login", "08:00"),
        ev("w9", "logout", "12:30"),
        // m1 carries P1 once; its later event without one still belongs to P1.
        person_ev("m1", "meituan", "login", "13:00"),
        ev("m1", "logout", "13:30").set("platform", "meituan"),
    ];
    let config = persons_config("quota_min_workers = 1\ndaily_standard = \"4h\"\n");
    let (alerts, _) = run_with(config, &events, "2026-03-03T01:00:00+08:00");
    let w9: Vec<_> = alerts
        .iter()
        .filter(|a| a.worker_id.as_deref() == Some("w9"))
        .map(|a| format!("{}/{}", a.rule, a.phase.as_str()))
        .collect();
    assert!(
        w9.contains(&"continuous_work/violation".to_owned()),
        "{w9:?}"
    );
    // A worker id standing alone is named as a worker.
    assert!(
        alerts
            .iter()
            .filter(|a| a.worker_id.as_deref() == Some("w9"))
            .all(|a| a.message.starts_with("Worker w9 ")),
        "{alerts:?}"
    );
    // quota_p90 groups worker ids by their own platform: w9's 4.5 h on meituan (the test
    // events' default platform), m1's 30 min on meituan too: the nearest-rank P90 of two is
    // the larger.
    let quota: Vec<_> = alerts
        .iter()
        .filter(|a| &*a.rule == "quota_p90")
        .map(|a| (a.platform.clone(), a.amount))
        .collect();
    assert_eq!(
        quota,
        vec![(
            "meituan".to_owned(),
            Amount::Seconds {
                value: 16_200,
                limit: 14_400
            }
        )]
    );
}

#[test]
fn messages_of_a_rule_with_an_allowance_say_so() {
    // cn-mohrss-2024's daily rule counts order time plus up to 1 h of waiting: its 8 h warning
    // comes at 15:00 (7 h of orders from 08:00, the allowance's hour from 07:00), and its
    // message must not call all of it order time.
    let config = Config::parse("[rules]\npack = \"cn-mohrss-2024\"\n", Vec::new(), None).unwrap();
    let events = [
        ev("w1", "login", "07:00"),
        ev("w1", "order_accepted", "08:00").order("a"),
        ev("w1", "order_delivered", "15:30").order("a"),
        ev("w1", "logout", "15:30"),
    ];
    let (alerts, _) = run_with(config, &events, "23:00");
    let daily: Vec<_> = alerts
        .iter()
        .filter(|a| &*a.rule == "mohrss2024_daily")
        .map(|a| {
            (
                format_rfc3339(a.at, &chrono_tz::Asia::Shanghai),
                a.message.clone(),
            )
        })
        .collect();
    assert_eq!(
        daily,
        vec![(
            "2026-03-02T15:00:00.000+08:00".to_owned(),
            "Worker w1 has had orders (with allowance) for 8h today, reaching the standard \
             working day of 8h."
                .to_owned()
        )]
    );
    // The continuous rule has no allowance: order time it is.
    assert!(
        alerts
            .iter()
            .filter(|a| a.phase == Phase::Violation && &*a.rule != "mohrss2024_daily")
            .all(|a| a.message.contains("has had orders for ")),
        "{alerts:?}"
    );
}

#[test]
fn a_persons_holds_name_the_person_and_every_worker_id() {
    let config = persons_config("[rules.person]\npack = \"cn-mohrss-2024\"");
    let events = [
        person_ev("m1", "meituan", "order_accepted", "08:00").order("a"),
        person_ev("m1", "meituan", "order_delivered", "10:00").order("a"),
        person_ev("e1", "eleme", "order_accepted", "10:05").order("b"),
        person_ev("e1", "eleme", "order_delivered", "12:30").order("b"),
    ];
    let mut engine = engine_after(config, &events, "23:00");
    let holds = engine.take_holds();
    assert!(!holds.is_empty());
    let json: serde_json::Value =
        serde_json::from_str(&holds[0].to_json(&chrono_tz::Asia::Shanghai)).unwrap();
    assert_eq!(json["person_id"], "P1");
    // Sorted, not in the order the worker ids came (which lateness may swap: live and replay
    // then gave one hold_id two contents).
    assert_eq!(json["worker_ids"], serde_json::json!(["e1", "m1"]));
    assert!(json.get("worker_id").is_none());
    assert_eq!(holds[0].key(), "P1");
    // The view of either worker id is the person's.
    let view = engine.worker_view("e1").unwrap();
    assert_eq!(view["person_id"], "P1");
    assert_eq!(view["worker_ids"], serde_json::json!(["e1", "m1"]));
}

#[test]
fn a_persons_open_hold_in_the_view_is_the_hold_on_the_topic() {
    // The view listed the person's worker ids as they stand now, in arrival order: "u", "s"
    // and "v", who joined after the hold's `from`, where the holds topic has ["s", "u"].
    let config = persons_config("pack = \"didi-2018\"");
    let events = [
        person_ev("u", "meituan", "heartbeat", "07:00"),
        person_ev("s", "didi", "order_accepted", "08:00").order("x"),
        person_ev("u", "meituan", "order_accepted", "09:00").order("x"),
        person_ev("s", "didi", "order_delivered", "09:30").order("x"),
        person_ev("v", "didi", "heartbeat", "11:10"),
    ];
    let mut engine = engine_after(config, &events, "11:15");
    let holds = engine.take_holds();
    assert_eq!(holds.len(), 1, "{holds:?}");
    let zone = chrono_tz::Asia::Shanghai;
    let on_topic: serde_json::Value = serde_json::from_str(&holds[0].to_json(&zone)).unwrap();
    assert_eq!(on_topic["worker_ids"], serde_json::json!(["s", "u"]));
    let view = engine.worker_view("v").unwrap();
    assert_eq!(view["worker_ids"], serde_json::json!(["s", "u", "v"]));
    assert_eq!(view["holds"], serde_json::json!([on_topic]));
}

/// A person's view shows the events of their worker ids still waiting for the watermark.
#[test]
fn a_persons_view_shows_events_still_in_the_reorder_buffer() {
    let mut engine = Engine::new(persons_config(""));
    let events = [
        person_ev("u", "meituan", "login", "08:00"),
        person_ev("s", "didi", "order_accepted", "08:10").order("x"),
    ];
    for e in &events {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
        engine.advance();
    }
    // The watermark, 08:09:30, has passed the login only.
    assert_eq!(engine.stats().applied, 1);
    let view = engine.worker_view("s").unwrap();
    assert_eq!(view["person_id"], "P1");
    assert_eq!(view["worker_ids"], serde_json::json!(["s", "u"]));
    assert_eq!(view["active_orders"], 1);
    assert_eq!(view["buffered_events"], 1);
    assert_eq!(view["today_seconds"], 600);
    assert_eq!(view["platform"], "didi");
    assert_eq!(engine.worker_view("P1").unwrap(), view);
}

/// A worker id that stood alone and joins its person by an event still in the reorder buffer:
/// the person's view carries the state the worker id brings (online since its login).
#[test]
fn a_persons_view_takes_a_joining_worker_ids_state_from_the_buffer() {
    let mut engine = Engine::new(persons_config(""));
    let events = [
        ev("s", "login", "07:00"),
        ev("s", "heartbeat", "08:00"),
        person_ev("s", "didi", "heartbeat", "08:00:20"),
    ];
    for e in &events {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
        engine.advance();
    }
    // The watermark, 07:59:50, has passed the login only.
    assert_eq!(engine.stats().applied, 1);
    let view = engine
        .worker_view("s")
        .expect("the person, by the joining worker id");
    assert_eq!(view["person_id"], "P1");
    assert_eq!(view["online"], true);
    assert_eq!(view["working"], true);
    assert_eq!(view["buffered_events"], 1);
    assert_eq!(engine.worker_view("P1").unwrap(), view);
    // Once applied, the view is the same, bar `buffered_events`.
    engine.advance_to(t("08:00:20.001"));
    assert_eq!(engine.stats().applied, 3);
    let mut applied = engine.worker_view("s").unwrap();
    assert_eq!(applied["buffered_events"], 0);
    applied["buffered_events"] = 1.into();
    assert_eq!(applied, view);
}

/// What each worker costs bounds memory (bench/replay.sh memory, the live soak): these sizes
/// are held once per worker, or once per rule of its pack.
#[test]
fn per_worker_state_stays_small() {
    use crate::engine::rules::{KindState, RuleState};
    let sizes = [
        ("Worker", std::mem::size_of::<Worker>()),
        ("RuleState", std::mem::size_of::<RuleState>()),
        ("KindState", std::mem::size_of::<KindState>()),
        (
            "period",
            std::mem::size_of::<crate::engine::rules::period::State>(),
        ),
        (
            "continuous",
            std::mem::size_of::<crate::engine::rules::continuous::State>(),
        ),
        (
            "since_rest",
            std::mem::size_of::<crate::engine::rules::since_rest::State>(),
        ),
        (
            "rolling",
            std::mem::size_of::<crate::engine::rules::rolling::State>(),
        ),
        (
            "overtime",
            std::mem::size_of::<crate::engine::rules::overtime::State>(),
        ),
        ("Session", std::mem::size_of::<crate::engine::Session>()),
        ("Day", std::mem::size_of::<crate::calendar::Day>()),
    ];
    eprintln!("{sizes:?}");
    // Four cache lines: a worker's state for an event is read and prefetched whole. Whole
    // lines, so that each worker of the engine's `LineVec` starts a line (not: a worker of
    // 240 bytes would span five lines every fourth).
    assert!(sizes[0].1 <= 256 && sizes[0].1 % 64 == 0, "{sizes:?}");
    // A rule's state: 40 bytes, the kinds' own states at most 32 (the larger are boxed).
    assert!(sizes[1].1 <= 40, "{sizes:?}");
    assert!(sizes[2].1 <= 40, "{sizes:?}");
    assert!(sizes[3].1 <= 32 && sizes[4].1 <= 32, "{sizes:?}");
    // An event waiting in the reorder buffer: one cache line.
    assert_eq!(std::mem::size_of::<crate::engine::Pending>(), 64);
}

/// A worker's record in the state topic keeps its JSON, key for key and in order, whatever
/// the layout of `Worker` in memory: records written by one release restore in another.
#[test]
fn a_worker_saves_the_same_json() {
    let events = [
        ev("w1", "login", "08:00"),
        ev("w1", "heartbeat", "2026-03-03T07:00:00+08:00"),
        ev("w1", "order_accepted", "2026-03-03T08:10:00+08:00").order("o1"),
        ev("w1", "order_picked_up", "2026-03-03T08:20:00+08:00").order("o1"),
        ev("w1", "order_delivered", "2026-03-03T08:40:00+08:00")
            .order("o1")
            .fee(900),
        ev("w1", "order_accepted", "2026-03-03T08:50:00+08:00").order("o2"),
        ev("w1", "heartbeat", "2026-03-03T09:00:00+08:00"),
    ];
    // Brought to its last event (with the shortcuts, a worker to which nothing happened since
    // an instant stays there, as its record then says).
    let mut engine = Engine::new(Config::default()).without_shortcuts();
    for e in &events {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
        engine.advance();
    }
    let mut worker = engine.state.workers[0].clone();
    worker.holds.push(OpenHold {
        rule: "r".into(),
        from: 1,
        until: 2,
        reason: String::new(),
        worker_ids: Vec::new(),
    });
    worker.members.push(Member::new("m1"));
    let text = serde_json::to_string(&worker).unwrap();
    assert_eq!(text, SAVED_WORKER);
    let back: Worker = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
    // A hold's reason, kept since, is saved and read back.
    worker.holds.edit(|holds| holds[0].reason = "why".into());
    let text = serde_json::to_string(&worker).unwrap();
    assert!(text.contains(r#""until":2,"reason":"why"}"#), "{text}");
    let back: Worker = serde_json::from_str(&text).unwrap();
    assert_eq!(back.holds[0].reason, "why");
}

/// A worker's record as 162b341 saved it.
const SAVED_WORKER: &str = r#"{"id":"w1","rules":0,"platform":0,"role":1,"city":2,"session":{"online":true,"on_break":false,"orders":[{"id":16705460556331387278,"picked":false}],"activity":"rest"},"members":[{"id":"m1","platform":0,"role":0,"city":0,"grouped":false,"session":{"online":false,"on_break":false,"orders":[],"activity":"rest"},"last_event":-9223372036854775808,"day_work":0,"closed_work":0}],"person":false,"bits":3,"since":1772499000000,"last_event":1772499000000,"day":{"number":20515,"start":1772467200000,"end":1772553600000,"week":20514,"month":20513},"day_work":31800000,"day_has_work":true,"day_fees":900,"day_has_fee":true,"delivered":[4309528396637968591],"closed_day":20514,"closed_work":57600000,"states":[{"flags":3,"state":{"streak":{"streak":2,"last_day":20515}}},{"flags":3,"state":{"continuous":{"episode":{"start":1772409600000,"work":89400000,"warned":true,"violated":true,"first_part":false},"rest_start":-9223372036854775808}}},{"flags":3,"state":{"period":{"index":20515,"current":31800000,"fired":1,"rest_start":-9223372036854775808}}},{"flags":3,"state":{"period":{"index":20514,"current":89400000,"fired":0,"rest_start":-9223372036854775808}}},{"flags":3,"state":{"overtime":{"month":20513,"closed":28800000,"today":31800000,"fired":false}}}],"holds":[{"rule":"r","from":1,"until":2}],"wake_at":1772506800000,"last_applied":[1772499000000,6],"pending":1,"rank":1}"#;

/// A config whose `[rules]` pack is a user's file holding `pack` (read into the config, then
/// removed; `name` keeps the files of tests running at once apart).
fn pack_file_config(name: &str, pack: &str) -> Config {
    pack_file_config_with(name, pack, "")
}

/// A `period` rule fires again in its period after a reset rest (SPEC section 7): each alert
/// keeps the period's start, and the second one still has an id of its own, or a consumer
/// dropping repeated ids would drop a real violation.
#[test]
fn a_period_rule_firing_again_after_a_reset_rest_has_a_new_alert_id() {
    let config = pack_file_config(
        "reset",
        r#"
        name = "reset"
        title = "a day's work with a reset rest"
        source = "test"
        [[rules]]
        id = "day_reset"
        kind = "period"
        measure = "work"
        period = "day"
        limit = "2h"
        reset_rest = "1h"
        "#,
    );
    let events = [
        ev("w", "login", "08:00"),
        ev("w", "logout", "10:30"),
        ev("w", "login", "11:30"),
        ev("w", "logout", "14:00"),
    ];
    let (alerts, _) = run_with(config, &events, "23:00");
    assert_eq!(
        sh(&alerts),
        [
            exp("day_reset/violation", "10:00:00", 7200),
            exp("day_reset/violation", "13:30:00", 7200),
        ]
    );
    assert_eq!(alerts[0].period_start, alerts[1].period_start);
    assert_ne!(alerts[0].alert_id(), alerts[1].alert_id());
}

/// An allowance rule counts a person's waiting only while the person has no order (SPEC
/// section 7; docs/persons.md): a worker id logged in beside another's order is not idle, and
/// the time, order time, goes to the platform with the order alone in `by_platform`. It went
/// to the waiting worker id's platform too.
#[test]
fn an_allowance_rules_by_platform_gives_order_time_to_the_platform_with_the_order() {
    let config = persons_config("[rules.person]\npack = \"cn-mohrss-2024\"");
    let events = [
        person_ev("m1", "meituan", "order_accepted", "08:00").order("a"),
        person_ev("e1", "eleme", "login", "08:00"),
        person_ev("m1", "meituan", "order_delivered", "16:30").order("a"),
        person_ev("e1", "eleme", "logout", "16:30"),
    ];
    let (alerts, _) = run_with(config, &events, "23:00");
    let daily: Vec<_> = person_brief(&alerts)
        .into_iter()
        .filter(|a| a.0 == "mohrss2024_daily/warning")
        .collect();
    assert_eq!(
        daily,
        [(
            "mohrss2024_daily/warning".to_owned(),
            "2026-03-02T16:00:00.000+08:00".to_owned(),
            28_800,
            vec![("meituan".to_owned(), 28_800)],
        )]
    );
}

/// A person's day on one platform under two worker ids at once counts once in the day's
/// `by_platform` (SPEC section 8: concurrent sessions count once; only two platforms at once
/// count for each), as in the alert's value. It summed the worker ids' own time.
#[test]
fn two_worker_ids_on_one_platform_at_once_count_once_in_a_days_by_platform() {
    let day = "2026-03-03T00:00:00+08:00";
    let events = [
        person_ev("a1", "mt", "login", "08:00"),
        person_ev("a1", "mt", "order_accepted", "08:10").order("o1"),
        person_ev("a1", "mt", "order_delivered", "08:40")
            .order("o1")
            .fee(1000),
        person_ev("a2", "mt", "login", "10:00"),
        person_ev("e1", "el", "login", "10:30"),
        person_ev("a2", "mt", "logout", "11:00"),
        person_ev("a1", "mt", "logout", "11:00"),
        person_ev("e1", "el", "logout", "11:30"),
    ];
    let (alerts, _) = run_with(persons_config(""), &events, day);
    let brief = person_brief(&alerts);
    // 08:00-11:30 worked: 3.5 h, 1000 fen, 285 fen an hour; Meituan 08:00-11:00 (a2's hour
    // within a1's), Ele.me 10:30-11:30.
    assert_eq!(
        brief,
        [(
            "minimum_wage/violation".to_owned(),
            "2026-03-03T00:00:00.000+08:00".to_owned(),
            285,
            vec![("el".to_owned(), 3600), ("mt".to_owned(), 10800)],
        )]
    );
}

/// A person's hold names the worker ids of the person at its instant, not one whose first
/// event was read before the hold fired but comes later in event time: replay read it in the
/// same block and listed it, so the hold's bytes depended on later input.
#[test]
fn a_persons_hold_names_only_the_worker_ids_it_had_at_its_instant() {
    let config = persons_config("[rules.person]\npack = \"cn-mohrss-2024\"");
    let events = [
        person_ev("m1", "meituan", "order_accepted", "08:00").order("a"),
        person_ev("m1", "meituan", "order_delivered", "12:30").order("a"),
        person_ev("e1", "eleme", "heartbeat", "14:00"),
    ];
    let mut engine = Engine::new(config);
    for e in &events {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
    }
    engine.finish(t("23:00"));
    let holds = engine.take_holds();
    let json: serde_json::Value =
        serde_json::from_str(&holds[0].to_json(&chrono_tz::Asia::Shanghai)).unwrap();
    assert_eq!(json["from"], "2026-03-02T12:00:00.000+08:00");
    assert_eq!(json["worker_ids"], serde_json::json!(["m1"]));
}

/// Days with work in a year the holiday calendar has no table for are counted as such
/// (replay's summary and live's log name the year), not read as days without holidays.
#[test]
fn a_year_the_holiday_calendar_does_not_cover_is_reported() {
    let mut events = paid_day("2026-12-20", "o1", 5000);
    events.extend(paid_day("2027-01-01", "o2", 100));
    let (_, stats) = run_with(with_holidays("1.0"), &events, "2027-01-02T00:00:00+08:00");
    assert_eq!(stats.uncovered_years, BTreeSet::from([2027]));
}

/// A `rest_deadline` rule's standing through a rest (SPEC section 7, `left_seconds`): once the
/// rest under way has lasted `rest` it qualifies, and work resumed then has the whole of
/// `within` again. It went on counting from the last rest's end, `left_seconds` 0, as for a
/// worker who must stop now.
#[test]
fn a_rest_deadline_stands_reset_once_the_rest_under_way_qualifies() {
    let config = pack_file_config(
        "deadline",
        "name = \"deadline\"\n[[rules]]\nid = \"dead\"\nkind = \"rest_deadline\"\n\
         rest = \"5m\"\nwithin = \"8m\"\n",
    );
    let mut engine = Engine::new(config);
    for e in [ev("w", "login", "08:00"), ev("w", "logout", "08:04")] {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
    }
    engine.finish(t("08:04"));
    let dead = |engine: &mut Engine, at: &str| {
        let views = engine.views_at(t(at));
        let rules = views[0]["rules"].as_array().unwrap().clone();
        let rule = rules.into_iter().find(|r| r["rule"] == "dead").unwrap();
        (rule["used_seconds"].clone(), rule["left_seconds"].clone())
    };
    // 2 minutes into the rest: it does not qualify yet, the deadline (08:08) holds.
    assert_eq!(dead(&mut engine, "08:06"), (360.into(), 120.into()));
    // 16 minutes into it: it qualified at 08:09.
    assert_eq!(dead(&mut engine, "08:20"), (0.into(), 480.into()));
}

/// SPEC section 7: a worker's activity "returns to rest ... at a session timeout". A driver
/// whose device sends only `activity` events is not working in section 3's sense, and the
/// timeout, kept for working workers, never came: their `driving` went on for ever after the
/// device fell silent, and the 4 h continuous-driving violation fired at 12:00.
#[test]
fn an_activity_alone_returns_to_rest_at_a_session_timeout() {
    let text = "[rules]\npack = \"cn-road-traffic\"\nsession_timeout = \"1h\"\n";
    let config = Config::from_toml_str(text, Vec::new()).unwrap();
    let events = [ev("w", "activity", "08:00").set("activity", "driving")];
    let (alerts, stats) = run_with(config.clone(), &events, "13:00");
    assert_eq!(sh(&alerts), []);
    assert_eq!(stats.session_timeouts, 1);
    // Sending on, the driver drives on: 4 h of driving at 12:00.
    let events: Vec<Ev> = (0..=8)
        .map(|i| {
            let at = format!("{:02}:{:02}", 8 + i / 2, (i % 2) * 30);
            ev("w", "activity", &at).set("activity", "driving")
        })
        .collect();
    let (alerts, _) = run_with(config, &events, "13:00");
    assert_eq!(
        rules_at(&alerts),
        [("cnroad_continuous/violation".to_owned(), at("12:00:00"))]
    );
}

/// SPEC section 2: `activity` "does not change section 3's working time", and section 3 times
/// out a worker "who is working". A worker on a platform break whose activity was not `rest`
/// was timed out whole (logged out, off break): the `break_end` after it changed nothing and
/// the work that followed was not counted. The timeout only returns such a worker to rest.
#[test]
fn a_session_timeout_of_a_worker_not_working_only_returns_the_activity_to_rest() {
    let text = "[rules]\nsession_timeout = \"10m\"\ncontinuous_limit = \"1h\"\n\
                warn_before = \"10m\"\nmin_break = \"20m\"\n";
    let config = Config::from_toml_str(text, Vec::new()).unwrap();
    let mut events = vec![
        ev("w", "login", "08:00"),
        ev("w", "break_start", "08:10"),
        ev("w", "activity", "08:10").set("activity", "available"),
        ev("w", "break_end", "09:00"),
    ];
    events.extend((1..12).map(|i| ev("w", "heartbeat", &format!("09:{:02}", i * 5))));
    let (alerts, stats) = run_with(config, &events, "10:30");
    assert_eq!(
        rules_at(&alerts),
        [
            ("continuous_work/warning".to_owned(), at("09:50:00")),
            ("continuous_work/violation".to_owned(), at("10:00:00")),
            // The last heartbeat at 09:55, timed out at 10:05, 20 min of rest.
            ("continuous_work/resolved".to_owned(), at("10:25:00")),
        ]
    );
    assert_eq!(stats.noops, 0, "the break_end ends the break");
    assert_eq!(
        stats.session_timeouts, 2,
        "the activity's, then the heartbeats' end"
    );
}

/// SPEC section 7: `rolling` is the measure "summed over the sliding window". A rule kept 512
/// stretches per worker and joined the closest past that, counting the gap: a bus driving 20 s
/// of every minute (1,000 minutes from 06:00, 5 h 33 min of driving) got a `cnroad_24h`
/// violation and hold at 19:42 for "8h 40s in the last 24h".
#[test]
fn a_stop_and_go_driver_is_not_over_counted_by_a_rolling_rule() {
    let config =
        Config::from_toml_str("[rules]\npack = \"cn-road-traffic\"\n", Vec::new()).unwrap();
    let start = t("06:00");
    let at = |ms: i64| format_rfc3339(ms, &chrono_tz::Asia::Shanghai);
    let events: Vec<Ev> = (0..1000i64)
        .flat_map(|i| {
            let minute = start + i * 60_000;
            [
                ev("bus", "activity", &at(minute))
                    .set("activity", "driving")
                    .set("role", "driver"),
                ev("bus", "activity", &at(minute + 20_000))
                    .set("activity", "rest")
                    .set("role", "driver"),
            ]
        })
        .collect();
    let (alerts, _) = run_with(config, &events, "2026-03-03T06:00:00+08:00");
    assert_eq!(
        rules_at(&alerts),
        [
            ("cnroad_continuous/violation".to_owned(), at(t("18:00"))),
            // The last stretch ends at 22:39:20; 20 min later.
            ("cnroad_continuous/resolved".to_owned(), at(t("22:59:20"))),
        ],
        "4 h of driving without a 20 min stop at 18:00; never 8 h in 24 h"
    );
}

/// `weekly_rest` in the view: the days of the run, ended by a day without work (it showed the
/// broken run of 3 days until the next day of work), and the 7 days of the run on the day
/// whose violation fired (it showed 0 used there).
#[test]
fn the_views_weekly_rest_is_the_run_so_far() {
    let weekly_rest = |view: &serde_json::Value| {
        let rule = view["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == "weekly_rest")
            .unwrap()
            .clone();
        (
            rule["used_seconds"].as_i64().unwrap() / 86_400,
            rule["limit_seconds"].as_i64().unwrap() / 86_400,
            rule["left_seconds"].as_i64().unwrap() / 86_400,
            view["consecutive_work_days"].as_i64().unwrap(),
        )
    };
    let day = |d: u32, time: &str| format!("2026-03-{d:02}T{time}:00+08:00");
    let mut engine = Engine::new(Config::default());
    let push = |engine: &mut Engine, e: Ev| {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
        engine.advance();
    };
    for d in 2..=4 {
        push(&mut engine, ev("w", "login", &day(d, "08:00")));
        push(&mut engine, ev("w", "logout", &day(d, "09:00")));
    }
    push(&mut engine, ev("w", "heartbeat", &day(5, "12:00")));
    engine.finish(t(&day(5, "12:00")));
    // Thursday: the run of Monday to Wednesday goes on if Thursday has work.
    assert_eq!(weekly_rest(&engine.worker_view("w").unwrap()), (3, 7, 4, 3));
    push(&mut engine, ev("w", "heartbeat", &day(7, "12:00")));
    engine.finish(t(&day(7, "12:00")));
    // Saturday: Thursday and Friday had no work.
    assert_eq!(weekly_rest(&engine.worker_view("w").unwrap()), (0, 7, 7, 0));
    for d in 8..=14 {
        push(&mut engine, ev("w", "login", &day(d, "08:00")));
        push(&mut engine, ev("w", "logout", &day(d, "09:00")));
    }
    engine.finish(t(&day(14, "09:00")));
    let alerts = engine.take_alerts();
    let fired: Vec<_> = alerts
        .iter()
        .filter(|a| &*a.rule == "weekly_rest")
        .collect();
    assert_eq!(fired.len(), 1, "{alerts:?}");
    assert_eq!(
        format_rfc3339(fired[0].at, &chrono_tz::Asia::Shanghai),
        "2026-03-14T08:00:00.000+08:00"
    );
    // The 7th day of the run: the threshold reached.
    assert_eq!(weekly_rest(&engine.worker_view("w").unwrap()), (7, 7, 0, 7));
}

/// Live pushes events one by one (`Engine::push`): an event reusing the id of one more than
/// `dedup_window` + `allowed_lateness` before it is no duplicate, also with no event between
/// to move the watermark (it was dropped, where replay now applies it).
#[test]
fn an_id_reused_past_its_window_is_forgotten_by_the_event_itself() {
    let mut engine = Engine::new(Config::default());
    let events = [
        ev("a", "login", "08:00").id("x"),
        ev("a", "logout", "09:00").id("y"),
        // Within the window of "y" (1 h) plus the lateness (30 s): a duplicate.
        ev("a", "login", "10:00:30").id("y"),
        // Past it: a new event.
        ev("a", "login", "10:00:31").id("y"),
    ];
    let pushed: Vec<Pushed> = events
        .iter()
        .map(|e| engine.push(&event::parse(e.line().as_bytes()).unwrap()))
        .collect();
    assert_eq!(
        pushed,
        [
            Pushed::Accepted,
            Pushed::Accepted,
            Pushed::Duplicate,
            Pushed::Accepted
        ]
    );
}

/// A `streak` rule's hold: resting from its violation (the first working instant of the
/// `days`-th day), that day has no work and is itself the rest day, so work may resume at the
/// next midnight (it said the midnight after, a day late).
#[test]
fn a_streaks_hold_ends_at_the_midnight_after_its_violation() {
    let dir = std::env::temp_dir().join(format!("workhours-streak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("p.toml"),
        "name = \"p\"\n[[rules]]\nid = \"rest_day\"\nkind = \"streak\"\ndays = 2\nhold = true\n",
    )
    .unwrap();
    let config = Config::parse(
        "[rules]\npack_file = \"p.toml\"",
        Vec::new(),
        Some(dir.clone()),
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let events = [
        ev("w", "login", "2026-03-02T08:00:00+08:00"),
        ev("w", "logout", "2026-03-02T09:00:00+08:00"),
        ev("w", "login", "2026-03-03T08:00:00+08:00"),
    ];
    let mut engine = engine_after(config, &events, "2026-03-03T09:00:00+08:00");
    let holds = engine.take_holds();
    assert_eq!(holds.len(), 1, "{holds:?}");
    let zone = chrono_tz::Asia::Shanghai;
    assert_eq!(
        (
            format_rfc3339(holds[0].from, &zone),
            format_rfc3339(holds[0].until, &zone)
        ),
        (
            "2026-03-03T08:00:00.000+08:00".to_owned(),
            "2026-03-04T00:00:00.000+08:00".to_owned()
        )
    );
}

/// A `streak` on a measure that is not working time (driving: activity events only) goes on
/// at each midnight the measure spans: the new day's first instant of the measure is the
/// midnight, and its alert is due then, with no event to wake the worker (model test, seed
/// 1470: the worker was woken at midnight only while working, so the alerts of a driver's
/// midnights came with the driver's next event, after other workers' later alerts, or never
/// by `--until`).
#[test]
fn a_streak_on_driving_fires_at_the_midnights_the_driving_spans() {
    let pack =
        "name = \"p\"\n[[rules]]\nid = \"r\"\nkind = \"streak\"\nmeasure = \"driving\"\ndays = 1\n";
    let config = pack_file_config_with("streak-driving", pack, "");
    let events = [
        ev("w0", "activity", "2026-03-03T16:36:00+08:00").set("activity", "driving"),
        ev("w1", "activity", "2026-03-05T12:00:00+08:00").set("activity", "driving"),
        ev("w1", "activity", "2026-03-05T13:00:00+08:00").set("activity", "rest"),
    ];
    let (alerts, _) = run_with(config, &events, "2026-03-05T14:00:00+08:00");
    let got: Vec<(String, String, i64)> = sh(&alerts)
        .into_iter()
        .zip(&alerts)
        .map(|((_, at, value), alert)| (alert.worker_id.clone().unwrap_or_default(), at, value))
        .collect();
    let want = [
        ("w0", "2026-03-03T16:36:00.000+08:00", 86_400),
        ("w0", "2026-03-04T00:00:00.000+08:00", 172_800),
        ("w0", "2026-03-05T00:00:00.000+08:00", 259_200),
        ("w1", "2026-03-05T12:00:00.000+08:00", 86_400),
    ]
    .map(|(w, at, value)| (w.to_owned(), at.to_owned(), value));
    assert_eq!(got, want);
}

/// A `period` rule whose measure is not within its `rest_unless` (`work`, reset by a rest
/// from driving): the work in a rest counts while the rest is shorter than `reset_rest`, and
/// nothing once it has lasted that long, until driving resumes. Model test (tests/model,
/// test_period.py): replay reset the count whenever it looked at the worker in such a rest
/// (a warning every 20 minutes and never the violation, the count lost at midnight).
#[test]
fn a_period_counts_nothing_in_a_reset_rest_that_has_completed() {
    let pack = "name = \"p\"\n[[rules]]\nid = \"r\"\nkind = \"period\"\nperiod = \"week\"\nmeasure = \"work\"\nrest_unless = \"driving\"\nreset_rest = \"1h\"\nwarning = \"20m\"\nlimit = \"90m\"\n";
    let config = pack_file_config_with("period-rest", pack, "");
    let events = [
        ev("w", "login", "2026-03-02T07:00:00+08:00"),
        ev("w", "activity", "2026-03-02T07:00:00+08:00").set("activity", "driving"),
        ev("w", "activity", "2026-03-02T08:00:00+08:00").set("activity", "rest"),
        ev("w", "activity", "2026-03-02T10:00:00+08:00").set("activity", "driving"),
    ];
    let (alerts, _) = run_with(config, &events, "2026-03-02T12:00:00+08:00");
    assert_eq!(
        sh(&alerts),
        [
            exp("r/warning", "07:20:00", 1_200),
            exp("r/violation", "08:30:00", 5_400),
            exp("r/warning", "10:20:00", 1_200),
            exp("r/violation", "11:30:00", 5_400),
        ]
    );
}

/// A config whose pack is a user's file holding `pack`, with `extra` TOML after `[rules]`'s
/// `pack_file` line (read into the config, then removed).
fn pack_file_config_with(name: &str, pack: &str, extra: &str) -> Config {
    let dir = std::env::temp_dir().join(format!("workhours-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pack.toml");
    std::fs::write(&path, pack).unwrap();
    let text = format!(
        "[rules]\npack_file = {:?}\n{extra}",
        path.display().to_string()
    );
    let config = Config::from_toml_str(&text, Vec::new()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    config
}

/// The pay and quota rules with `hours` (SPEC 7: "any kind may add `hours`"; outside them the
/// rule's measure is false): `minimum_wage`, `quota_p90` and `holiday_pay` count the day's
/// working time within their hours only (the day's fees are the day's). Audit AV: a pack with
/// `hours` on any of the three was refused.
#[test]
fn pay_and_quota_rules_count_only_the_working_time_within_their_hours() {
    let pack = |hours: &str| {
        format!(
            r#"
            name = "hours"
            title = "pay and quota rules within hours"
            source = "test"
            [[rules]]
            id = "wage"
            kind = "minimum_wage"
            cents_per_hour = 2100
            {hours}
            [[rules]]
            id = "quota"
            kind = "quota_p90"
            standard = "1h"
            {hours}
            [[rules]]
            id = "holiday"
            kind = "holiday_pay"
            ratio = 1.0
            {hours}
            "#
        )
    };
    let holidays = concat!(env!("CARGO_MANIFEST_DIR"), "/config/holidays/cn.toml");
    let extra = format!("[time]\nholidays = {holidays:?}\n");
    let within = || pack_file_config_with("hours-on", &pack("hours = \"08:00-10:00\""), &extra);
    let without = || pack_file_config_with("hours-off", &pack(""), &extra);
    let end = "2026-03-03T00:00:00+08:00";
    // 07:00 to 12:00, 3000 fen: 5 h of work, 2 of them within the hours.
    let day = |fee: u64, login: &str| {
        vec![
            ev("w1", "login", login),
            ev("w1", "order_accepted", "10:10").order("o1"),
            ev("w1", "order_delivered", "10:40").order("o1").fee(fee),
            ev("w1", "logout", "12:00"),
        ]
    };
    let (alerts, _) = run_with(within(), &day(3000, "07:00"), end);
    assert_eq!(
        sh(&alerts),
        [(
            "wage/violation".to_owned(),
            "2026-03-03T00:00:00.000+08:00".to_owned(),
            1500
        )]
    );
    assert!(
        alerts[0].message.contains("(3000 fen for 2h)"),
        "{}",
        alerts[0].message
    );
    assert_eq!(
        sh(&run_with(without(), &day(3000, "07:00"), end).0)[0].2,
        600
    );
    // 4200 fen for the 2 h within the hours is 2100 an hour: not below.
    assert!(run_with(within(), &day(4200, "07:00"), end).0.is_empty());
    // No working time within the hours (10:00 to 12:00): under 1 h, no check.
    assert!(run_with(within(), &day(1, "10:00"), end).0.is_empty());

    // quota_p90: ten workers 07:00 to 11:30 work 2 h within the hours, 4.5 h in all.
    let quota = |config: Config, late: usize| {
        let mut events = Vec::new();
        for n in 0..10 {
            let id = format!("q{n}");
            // The `late` first ones work 10:00 to 11:30 only: no time within the hours.
            let login = if n < late { "10:00" } else { "07:00" };
            events.push(ev(&id, "login", login));
            events.push(ev(&id, "logout", "11:30"));
        }
        events.sort_by_key(|e| e.json["ts"].as_i64());
        run_with(config, &events, end)
            .0
            .iter()
            .filter(|a| &*a.rule == "quota")
            .map(|a| match a.amount {
                Amount::Seconds { value, .. } => value,
                Amount::CentsPerHour { .. } => panic!("quota_p90 is time"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(quota(within(), 0), [7200]);
    assert_eq!(quota(without(), 0), [16200]);
    // A worker without time within the hours did not work for the rule: 9 workers left,
    // fewer than `quota_min_workers`.
    assert_eq!(quota(within(), 1), Vec::<i64>::new());
    assert_eq!(quota(without(), 1), [16200]);

    // holiday_pay: 08:00 to 10:00 on an ordinary day and on a statutory holiday, within hours
    // of 08:00 to 09:00 one hour each; the holiday's 6000 fen are 6000 an hour, as the
    // ordinary day's: not above, a violation.
    let holiday = pack("hours = \"08:00-09:00\"");
    let config = pack_file_config_with("hours-holiday", &holiday, &extra);
    let events = [
        paid_day("2026-04-30", "a", 6000),
        paid_day("2026-05-01", "b", 6000),
    ]
    .concat();
    let alerts: Vec<_> = run_with(config, &events, "2026-05-12T00:00:00+08:00")
        .0
        .into_iter()
        .filter(|a| &*a.rule == "holiday")
        .map(|a| (a.amount, a.message))
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].0,
        Amount::CentsPerHour {
            value: 6000,
            limit: 6000
        }
    );
    assert!(alerts[0].1.contains("(6000 fen for 1h)"), "{}", alerts[0].1);
}

/// Under `subject = "person"`, `quota_p90` stays per worker id: with `hours`, each worker id's
/// working time within them.
#[test]
fn a_persons_worker_ids_count_for_quota_p90_with_their_time_within_its_hours() {
    let pack = r#"
        name = "hours"
        title = "quota within hours"
        source = "test"
        [[rules]]
        id = "quota"
        kind = "quota_p90"
        standard = "1h"
        hours = "08:00-10:00"
    "#;
    let config = pack_file_config_with("hours-person", pack, "subject = \"person\"\n");
    let end = "2026-03-03T00:00:00+08:00";
    let mut events = Vec::new();
    for n in 0..10 {
        // Ten persons, each with a worker id 07:00 to 11:30 (2 h within the hours).
        let id = format!("q{n}");
        events.push(ev(&id, "login", "07:00").set("person_id", &format!("P{n}")));
        events.push(ev(&id, "logout", "11:30"));
    }
    events.sort_by_key(|e| e.json["ts"].as_i64());
    let values: Vec<i64> = run_with(config, &events, end)
        .0
        .iter()
        .filter(|a| &*a.rule == "quota")
        .map(|a| match a.amount {
            Amount::Seconds { value, .. } => value,
            Amount::CentsPerHour { .. } => panic!("quota_p90 is time"),
        })
        .collect();
    assert_eq!(values, [7200]);
    // A worker id that joins its person in the day takes its time within the hours along:
    // counted once, where its day ends (audit AW: it also stayed where it stood alone, and
    // the group had 2 workers).
    let config = pack_file_config_with(
        "hours-joins",
        &pack
            .replace("08:00-10:00", "22:00-06:00")
            .replace("standard = \"1h\"", "standard = \"30m\"\nmin_workers = 1"),
        "subject = \"person\"\n",
    );
    let events = [
        ev("w3", "login", "22:00"),
        ev("w3", "heartbeat", "23:00").set("person_id", "Q"),
        ev("w3", "logout", "23:30"),
    ];
    let alerts: Vec<_> = run_with(config, &events, end)
        .0
        .into_iter()
        .filter(|a| &*a.rule == "quota")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].amount,
        Amount::Seconds {
            value: 5400,
            limit: 1800
        }
    );
    assert!(
        alerts[0].message.ends_with("(1 worker)."),
        "{}",
        alerts[0].message
    );
}

/// The working time within a rule's `hours` is saved with the worker (live restores it), and a
/// `holiday_pay` state saved before it existed reads as without it.
#[test]
fn the_working_time_within_hours_is_saved_and_read_back() {
    use crate::engine::rules::{HoursWork, KindState, RuleState, holiday_pay};
    let state = RuleState {
        state: KindState::Hours(
            1,
            0,
            HoursWork {
                today: 5,
                closed: 7,
                ..HoursWork::default()
            },
        ),
    };
    let text = serde_json::to_string(&state).unwrap();
    assert_eq!(
        text,
        r#"{"flags":1,"state":{"hours_work":{"today":5,"closed":7}}}"#
    );
    assert_eq!(serde_json::from_str::<RuleState>(&text).unwrap(), state);
    let old: holiday_pay::State =
        serde_json::from_str(r#"{"days":[[20000,3600000,100]]}"#).unwrap();
    assert_eq!(old.hours, None);
    assert_eq!(
        serde_json::to_string(&old).unwrap(),
        r#"{"days":[[20000,3600000,100]]}"#
    );
}

/// A replay's stretch of event time is a fixed number of worker-hours: an hour at the
/// least (many workers), 30 days at the most (few workers over years: not an hour at a time).
#[test]
fn a_stretch_of_event_time_is_worker_hours_over_the_workers() {
    let hour = 3_600_000;
    assert_eq!(
        super::stretch(50_000, super::STRETCH_WORKER_HOURS),
        2 * hour
    );
    assert_eq!(super::stretch(300_000, super::STRETCH_WORKER_HOURS), hour);
    assert_eq!(super::stretch(3, super::STRETCH_WORKER_HOURS), 720 * hour);
    assert_eq!(super::stretch(0, super::STRETCH_WORKER_HOURS), 720 * hour);
    assert_eq!(super::stretch(200, 200), hour);
    assert_eq!(super::stretch(1, i64::MAX), 720 * hour);
}

/// A producer sending ever new platform names: each name freed costs the engine's cache of
/// rule sets by (platform, role) O(1) on average, not a sweep of the whole cache (audit BJ:
/// with 200,000 names held, a worker changing its city at every event took about 1 ms an
/// event, 24 s for 20,000 events against 0.03 s alone). The entries visited by sweeps are
/// counted: before, every name freed swept every entry (here about 2,000 × 2,000).
#[test]
fn forgotten_names_cost_the_rule_cache_little() {
    let mut events = Vec::new();
    for i in 0..2_000 {
        let ts = format!("2026-03-02T08:00:{:02}.{:03}+08:00", i / 1000, i % 1000);
        events.push(ev(&format!("w{i}"), "heartbeat", &ts).set("platform", &format!("p{i}")));
    }
    for i in 0..2_000 {
        let ts = format!("2026-03-02T09:{:02}:{:02}+08:00", i / 60, i % 60);
        let platform = format!("flip{i}");
        events.push(ev("flipper", "heartbeat", &ts).set("platform", &platform));
    }
    let engine = engine_after(Config::default(), &events, "10:00");
    let index = &engine.rule_index;
    assert!(index.map.len() < 2_100, "{} entries", index.map.len());
    assert!(
        index.swept < 20_000,
        "{} entries swept for 2,000 names freed",
        index.swept
    );
}

/// A name forgotten gives its id to the next new name; the rule set cached for the first
/// name's (platform, role) ids is not the second's: `w2` on a platform with the default
/// rules (30 minutes) gets them, though its name took the id of `loose` (10 minutes).
#[test]
fn a_forgotten_names_id_never_lends_its_rules() {
    let text = "[rules]\ncontinuous_limit = \"30m\"\nwarn_before = \"5m\"\n\
                [rules.platform.strict]\ncontinuous_limit = \"10m\"\nwarn_before = \"5m\"\n\
                [rules.platform.loose]\ncontinuous_limit = \"10m\"\nwarn_before = \"5m\"\n";
    let config = Config::from_toml_str(text, Vec::new()).unwrap();
    let events = [
        // `strict` makes the 10-minute set and stays held by it; `loose` shares it.
        ev("w0", "heartbeat", "07:00").set("platform", "strict"),
        ev("w1", "login", "08:00").set("platform", "loose"),
        // `loose` is forgotten once this event is applied (`w1` held it alone).
        ev("w1", "logout", "08:01").set("platform", "plain"),
        // Moves the watermark past 08:01 (`allowed_lateness` 30 s): the logout is applied.
        ev("w0", "heartbeat", "08:02").set("platform", "strict"),
        ev("w2", "login", "08:02").set("platform", "fresh"),
        ev("w2", "heartbeat", "08:40").set("platform", "fresh"),
    ];
    let alerts = run_with(config, &events, "09:00").0;
    let w2: Vec<(String, String)> = rules_at(
        &alerts
            .into_iter()
            .filter(|a| a.worker_id.as_deref() == Some("w2"))
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        w2,
        [
            ("continuous_work/warning".to_owned(), at("08:27:00")),
            ("continuous_work/violation".to_owned(), at("08:32:00")),
        ]
    );
}

/// A fee counts on an order's first delivery of the local day (SPEC section 4), however many
/// orders the day's list holds as it grows; past the 256 it remembers, every delivery's fee
/// counts; the saved record lists the orders delivered, nothing else; a new day starts empty.
#[test]
fn a_days_deliveries_count_each_orders_first_fee_through_the_lists_growth() {
    let mut engine = Engine::new(Config::default());
    let push = |engine: &mut Engine, e: Ev| {
        engine.push(&event::parse(e.line().as_bytes()).unwrap());
        engine.advance();
    };
    push(&mut engine, ev("w1", "login", "2026-03-03T06:00:00+08:00"));
    let at = |n: u64| {
        format_rfc3339(
            t("2026-03-03T06:01:00+08:00") + n as i64 * 1_000,
            &chrono_tz::Asia::Shanghai,
        )
    };
    let mut n = 0;
    let mut expected = 0u64;
    for order in 0..300u64 {
        for copy in 0..2 {
            let fee = 100 + order;
            push(
                &mut engine,
                ev("w1", "order_delivered", &at(n))
                    .order(&format!("o{order}"))
                    .fee(fee),
            );
            n += 1;
            if copy == 0 || order >= 256 {
                expected += fee;
            }
        }
    }
    // Applied once event time is past them.
    push(
        &mut engine,
        ev("w1", "heartbeat", "2026-03-03T22:00:00+08:00"),
    );
    let worker = engine.state.workers[0].clone();
    assert_eq!(worker.day_fees, expected);
    let saved: serde_json::Value = serde_json::to_value(&worker).unwrap();
    let delivered = saved["delivered"].as_array().unwrap();
    assert_eq!(delivered.len(), 256);
    assert!(delivered.iter().all(|key| key.as_u64() != Some(0)));
    let back: Worker = serde_json::from_value(saved.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), saved);
    // Four orders, each but the first delivered twice: the list (room for 5) has one spare slot.
    push(
        &mut engine,
        ev("w1", "order_delivered", "2026-03-04T08:00:00+08:00")
            .order("o0")
            .fee(7),
    );
    for order in 1..4 {
        for _ in 0..2 {
            push(
                &mut engine,
                ev("w1", "order_delivered", "2026-03-04T08:01:00+08:00")
                    .order(&format!("o{order}"))
                    .fee(10),
            );
        }
    }
    push(
        &mut engine,
        ev("w1", "heartbeat", "2026-03-04T09:00:00+08:00"),
    );
    let worker = &engine.state.workers[0];
    assert_eq!(worker.day_fees, 7 + 3 * 10);
    assert_eq!(worker.delivered.len(), 5);
    let saved = serde_json::to_value(worker).unwrap();
    assert_eq!(saved["delivered"].as_array().unwrap().len(), 4);
}

/// Events that change none of the measures before the worker's next point read no rule (that
/// point stands for all of them); an event that changes one is read by every rule.
#[test]
fn events_that_change_no_measure_read_no_rule() {
    let read = |events: &[Ev]| {
        worker::RULES_READ.with(|read| read.set(0));
        let alerts = run(events, "08:30");
        (worker::RULES_READ.with(|read| read.get()), alerts)
    };
    let start = vec![ev("w1", "login", "08:00")];
    let mut busy = start.clone();
    for minute in 1..21 {
        let ts = format!("08:{minute:02}");
        busy.push(ev("w1", "heartbeat", &ts));
        // Orders and pickups change measures no rule of the default pack reads (`orders`,
        // `carrying`): work is on throughout.
        let order = format!("o{minute}");
        busy.push(ev("w1", "order_accepted", &format!("{ts}:20")).order(&order));
        busy.push(ev("w1", "order_picked_up", &format!("{ts}:40")).order(&order));
    }
    let (few, alerts) = read(&start);
    assert!(few > 0 && alerts.is_empty());
    let (many, alerts) = read(&busy);
    assert_eq!(
        many, few,
        "60 events that change no measure the rules read, read rules"
    );
    assert!(alerts.is_empty());
    // Logging out with orders: still working. Delivering them all: not working any more.
    busy.push(ev("w1", "logout", "08:25"));
    assert_eq!(read(&busy).0, few);
    for minute in 1..21 {
        busy.push(ev("w1", "order_delivered", "08:26").order(&format!("o{minute}")));
    }
    assert!(read(&busy).0 > few, "the end of work read no rule");
}

/// Events that change nothing leave the worker where it was: its time is integrated in one
/// step when something does change (here, at the end), and a view in between shows it
/// integrated to its instant, as without the shortcuts.
#[test]
fn events_that_change_nothing_are_integrated_in_one_step() {
    let mut events = vec![ev("w1", "login", "08:00")];
    for minute in 1..31 {
        events.push(ev("w1", "heartbeat", &format!("08:{minute:02}")));
    }
    let steps = |events: &[Ev], until: &str, shortcuts: bool| {
        worker::STEPS.with(|steps| steps.set(0));
        let engine = Engine::new(Config::default());
        let engine = if shortcuts {
            engine
        } else {
            engine.without_shortcuts()
        };
        let mut engine = fed(engine, events, until);
        let steps = worker::STEPS.with(|steps| steps.get());
        (steps, engine.worker_view("w1").unwrap())
    };
    let (few, view) = steps(&events[..1], "08:40", true);
    let (many, busy) = steps(&events, "08:40", true);
    assert_eq!(many, few, "30 heartbeats took steps of their own");
    assert_eq!(busy["today_seconds"], 40 * 60, "{busy}");
    assert_eq!(busy["episode"]["worked_seconds"], 40 * 60, "{busy}");
    assert_eq!(view["today_seconds"], 40 * 60, "{view}");
    let (each, plain) = steps(&events, "08:40", false);
    assert_eq!(each, 30, "one step a heartbeat without the shortcuts");
    assert_eq!(busy, plain);
    // The logout ends the work at 08:35: counted to there, in one step from 08:00.
    events.push(ev("w1", "logout", "08:35"));
    let (after, view) = steps(&events, "08:40", true);
    assert_eq!(after, few + 1);
    assert_eq!(view["today_seconds"], 35 * 60, "{view}");
    assert_eq!(view, steps(&events, "08:40", false).1);
}

/// Names compare equal exactly when their bytes do, whatever their length and wherever they
/// differ (the short ones are compared a word at a time).
#[test]
fn names_are_equal_when_their_bytes_are() {
    for n in 0..=20u8 {
        let a: String = (0..n).map(|i| char::from(b'a' + i)).collect();
        assert!(same_name(&a, &a.clone()), "{a}");
        assert!(!same_name(&a, &format!("{a}x")), "{a}");
        for at in 0..usize::from(n) {
            let mut b = a.clone().into_bytes();
            b[at] = b'Z';
            let b = String::from_utf8(b).unwrap();
            assert!(!same_name(&a, &b), "{a} {b}");
        }
    }
    assert!(same_name("城市", "城市") && !same_name("城市", "城巿"));
}

/// A slot hint is a candidate from the index alone ([`Engine::slot_hint_by`]): a push whose hint
/// names another worker's slot, or no slot at all, still reaches its own worker.
#[test]
fn a_wrong_slot_hint_reaches_the_right_worker() {
    let events = [
        ev("w1", "login", "08:00"),
        ev("w2", "login", "08:00"),
        ev("w1", "logout", "09:00"),
        ev("w2", "heartbeat", "09:30"),
        ev("w2", "heartbeat", "12:30"),
    ];
    let alerts = |hints: [Option<u32>; 5]| {
        let mut engine = Engine::new(Config::default()).sharded();
        for (seq, (e, hint)) in events.iter().zip(hints).enumerate() {
            let line = e.line();
            let parsed = event::parse(line.as_bytes()).unwrap();
            engine.push_admitted_to(&parsed, None, seq as u64 + 1, hint);
            engine.advance();
        }
        engine.finish(t("12:30"));
        engine.take_alerts()
    };
    let right = alerts([None, None, Some(0), Some(1), Some(1)]);
    // w2 works on past four hours, w1 does not.
    assert_eq!(
        sh(&right),
        [
            (
                "continuous_work/warning".into(),
                "2026-03-02T11:45:00.000+08:00".into(),
                13_500
            ),
            (
                "continuous_work/violation".into(),
                "2026-03-02T12:00:00.000+08:00".into(),
                14_400
            ),
        ]
    );
    assert!(right.iter().all(|a| a.worker_id.as_deref() == Some("w2")));
    assert_eq!(alerts([None, None, Some(1), Some(7), Some(0)]), right);
}
