//! The alert object of SPEC section 4 and the dispatch hold of section 7, and their JSON
//! lines.

use chrono_tz::Tz;
use serde::Serialize;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_128;

use crate::timefmt::format_rfc3339;

/// The rule ids of the default pack (SPEC section 4), for metrics that start at zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    ContinuousWork,
    DailyHours,
    WeeklyHours,
    MonthlyOvertime,
    WeeklyRest,
    MinimumWage,
    QuotaP90,
}

impl Rule {
    pub const ALL: [Rule; 7] = [
        Rule::ContinuousWork,
        Rule::DailyHours,
        Rule::WeeklyHours,
        Rule::MonthlyOvertime,
        Rule::WeeklyRest,
        Rule::MinimumWage,
        Rule::QuotaP90,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ContinuousWork => "continuous_work",
            Rule::DailyHours => "daily_hours",
            Rule::WeeklyHours => "weekly_hours",
            Rule::MonthlyOvertime => "monthly_overtime",
            Rule::WeeklyRest => "weekly_rest",
            Rule::MinimumWage => "minimum_wage",
            Rule::QuotaP90 => "quota_p90",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Warning,
    Violation,
    Resolved,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Warning, Phase::Violation, Phase::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Warning => "warning",
            Phase::Violation => "violation",
            Phase::Resolved => "resolved",
        }
    }
}

/// What an alert measured: time (seconds) or pay (fen per hour, `minimum_wage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Seconds { value: i64, limit: i64 },
    CentsPerHour { value: u64, limit: u64 },
}

/// One alert. Instants are epoch milliseconds; the zone is applied when it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The pack rule's id.
    pub rule: Arc<str>,
    /// The rule's kind (`continuous`, `period`, ...), for reports; not written.
    pub kind: &'static str,
    pub phase: Phase,
    /// Absent for aggregates and persons.
    pub worker_id: Option<String>,
    /// Persons (SPEC section 8): the person instead of a worker.
    pub person_id: Option<String>,
    /// Persons: the measured seconds per platform up to `at`, platforms with time only.
    pub by_platform: Option<Vec<(String, i64)>>,
    /// Its place in the engine's processing order (not written): a sharded replay merges by it.
    pub order: crate::engine::Place,
    pub platform: String,
    pub role: String,
    pub city: String,
    pub at: i64,
    pub amount: Amount,
    pub period_start: i64,
    /// A `period` rule firing again within its period after reset rests: how many completed
    /// in the period after one of its alerts (0 for every other alert). It enters the
    /// `alert_id` (not written), so that the second alert of a phase in one period has an id
    /// of its own.
    pub resets: u16,
    pub message: String,
}

#[derive(Serialize)]
struct Wire<'a> {
    alert_id: String,
    rule: &'a str,
    phase: Phase,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    person_id: Option<&'a str>,
    platform: &'a str,
    role: &'a str,
    city: &'a str,
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_cents_per_hour: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_cents_per_hour: Option<u64>,
    period_start: String,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    by_platform: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Alert {
    /// The Kafka key: the worker (the person, under `subject = "person"`), or
    /// `platform/role/city` for aggregates.
    pub fn key(&self) -> String {
        match (&self.worker_id, &self.person_id) {
            (Some(worker), _) => worker.clone(),
            (None, Some(person)) => person.clone(),
            (None, None) => format!("{}/{}/{}", self.platform, self.role, self.city),
        }
    }

    /// The order of replay's output at one instant: by key, and for subjects that share a key
    /// (a `person_id` spelled as a stand-alone worker id, a worker id spelled as a group's
    /// `platform/role/city`) the worker id's first, then the person's, then the group's, so
    /// that the order never depends on which subject's events arrived first.
    pub fn output_key(&self) -> (String, u8) {
        let kind = match (&self.worker_id, &self.person_id) {
            (Some(_), _) => 0,
            (None, Some(_)) => 1,
            (None, None) => 2,
        };
        (self.key(), kind)
    }

    /// Deterministic id from (rule, phase, worker or group, episode or period start): the
    /// same input always gives the same id, so consumers can drop repeats. A `period` rule's
    /// alert after a reset rest in its period adds the count of such rests ([`Alert::resets`]):
    /// with the period start alone it would repeat the id of the alert before the rest.
    pub fn alert_id(&self) -> String {
        let subject = match (&self.worker_id, &self.person_id) {
            (Some(worker), _) => format!("w:{worker}"),
            (None, Some(person)) => format!("p:{person}"),
            (None, None) => format!("g:{}/{}/{}", self.platform, self.role, self.city),
        };
        let mut material = format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.rule,
            self.phase.as_str(),
            subject,
            self.period_start
        );
        if self.resets > 0 {
            material.push_str(&format!("\u{1f}resets {}", self.resets));
        }
        format!("{:032x}", xxh3_128(material.as_bytes()))
    }

    /// The alert as one JSON object (no newline), instants in `zone`.
    pub fn to_json(&self, zone: &Tz) -> String {
        let (value_seconds, limit_seconds, value_cents_per_hour, limit_cents_per_hour) =
            match self.amount {
                Amount::Seconds { value, limit } => (Some(value), Some(limit), None, None),
                Amount::CentsPerHour { value, limit } => (None, None, Some(value), Some(limit)),
            };
        let wire = Wire {
            alert_id: self.alert_id(),
            rule: &self.rule,
            phase: self.phase,
            worker_id: self.worker_id.as_deref(),
            person_id: self.person_id.as_deref(),
            platform: &self.platform,
            role: &self.role,
            city: &self.city,
            at: format_rfc3339(self.at, zone),
            value_seconds,
            limit_seconds,
            value_cents_per_hour,
            limit_cents_per_hour,
            period_start: format_rfc3339(self.period_start, zone),
            message: &self.message,
            by_platform: self.by_platform.as_ref().map(|parts| {
                parts
                    .iter()
                    .map(|(platform, seconds)| (platform.clone(), (*seconds).into()))
                    .collect()
            }),
        };
        serde_json::to_string(&wire).expect("alerts always serialise")
    }
}

/// A dispatch hold (SPEC section 7): the platform sends the worker no order before `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Its place in the engine's processing order (not written).
    pub order: crate::engine::Place,
    pub rule: Arc<str>,
    /// The worker (a person's id for a person).
    pub worker_id: String,
    /// Persons (SPEC section 8): the person, and every worker id of the person.
    pub person_id: Option<String>,
    pub worker_ids: Vec<String>,
    /// The violation's instant.
    pub from: i64,
    /// When the rule would let the worker work again if they rest from `from`.
    pub until: i64,
    /// The violation's message.
    pub reason: String,
    /// The platform of the worker's (person's) last event: a metric label, not written.
    pub platform: String,
}

#[derive(Serialize)]
struct HoldWire<'a> {
    hold_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    person_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_ids: Option<Vec<&'a str>>,
    rule: &'a str,
    from: String,
    until: String,
    reason: &'a str,
}

/// What a hold's object is made of: the holds topic's records ([`Hold::to_json`]) and the
/// open holds of `/v1/workers/{id}` ([`HoldFields::to_value`]) are one shape.
pub struct HoldFields<'a> {
    pub rule: &'a str,
    /// The worker, or the person's id for a person.
    pub worker: &'a str,
    /// A person's hold: every worker id of the person.
    pub person: Option<Vec<&'a str>>,
    pub from: i64,
    pub until: i64,
    pub reason: &'a str,
}

impl<'a> HoldFields<'a> {
    fn wire(self, zone: &Tz) -> HoldWire<'a> {
        let person = self.person.is_some().then_some(self.worker);
        HoldWire {
            hold_id: hold_id(self.rule, self.worker, person, self.from),
            worker_id: person.is_none().then_some(self.worker),
            person_id: person,
            worker_ids: self.person,
            rule: self.rule,
            from: format_rfc3339(self.from, zone),
            until: format_rfc3339(self.until, zone),
            reason: self.reason,
        }
    }

    /// The hold's object, instants in `zone`.
    pub fn to_value(self, zone: &Tz) -> serde_json::Value {
        serde_json::to_value(self.wire(zone)).expect("holds always serialise")
    }
}

impl Hold {
    /// Deterministic from (rule, worker, `from`): the same input gives the same ids.
    pub fn hold_id(&self) -> String {
        hold_id(
            &self.rule,
            &self.worker_id,
            self.person_id.as_deref(),
            self.from,
        )
    }

    /// The Kafka key: the worker, or the person.
    pub fn key(&self) -> &str {
        self.person_id.as_deref().unwrap_or(&self.worker_id)
    }

    /// The hold as one JSON object (no newline), instants in `zone`.
    pub fn to_json(&self, zone: &Tz) -> String {
        let fields = HoldFields {
            rule: &self.rule,
            worker: &self.worker_id,
            person: self
                .person_id
                .is_some()
                .then(|| self.worker_ids.iter().map(String::as_str).collect()),
            from: self.from,
            until: self.until,
            reason: &self.reason,
        };
        serde_json::to_string(&fields.wire(zone)).expect("holds always serialise")
    }
}

/// A hold's id, from its rule, its worker (or person, when `person` is set) and `from`.
fn hold_id(rule: &str, worker: &str, person: Option<&str>, from: i64) -> String {
    let subject = match person {
        Some(person) => format!("p:{person}"),
        None => format!("w:{worker}"),
    };
    let material = format!("hold\u{1f}{rule}\u{1f}{subject}\u{1f}{from}");
    format!("{:032x}", xxh3_128(material.as_bytes()))
}

/// `4h 5m`, `45m`, `3h 45m 10s`: durations in messages, whole seconds.
pub fn human_duration(ms: i64) -> String {
    let total = ms / 1000;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}

/// A configured limit in a message: [`human_duration`], and the milliseconds when the config
/// gave some (`min_break = "500ms"` reads `500ms`, not `0s`). Measured amounts stay in whole
/// seconds.
pub fn human_limit(ms: i64) -> String {
    let rest = ms % 1000;
    match (ms - rest, rest) {
        (_, 0) => human_duration(ms),
        (0, _) => format!("{rest}ms"),
        (whole, _) => format!("{} {rest}ms", human_duration(whole)),
    }
}

/// A role named in a sentence for its group: `riders`, `buses`, `deliveries`; a name
/// English plural rules cannot be applied to (empty, not lowercase letters, or ending in a
/// vowel but `e`) reads `workers with role "..."` (audit AL: `buss`, and `s` for an empty
/// role).
pub fn role_plural(role: &str) -> String {
    let letters = !role.is_empty() && role.bytes().all(|b| b.is_ascii_lowercase());
    let vowel = |b: u8| b"aeiou".contains(&b);
    let bytes = role.as_bytes();
    let last = bytes.last().copied().unwrap_or(b'a');
    let before = bytes.len().checked_sub(2).map(|i| bytes[i]);
    if !letters || (vowel(last) && last != b'e') {
        format!("workers with role {role:?}")
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| role.ends_with(end))
    {
        format!("{role}es")
    } else if last == b'y' && before.is_some_and(|b| !vowel(b)) {
        format!("{}ies", &role[..role.len() - 1])
    } else {
        format!("{role}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_in_the_plural() {
        for (role, plural) in [
            ("rider", "riders"),
            ("driver", "drivers"),
            ("trucker", "truckers"),
            ("courier", "couriers"),
            ("bus", "buses"),
            ("coach", "coaches"),
            ("delivery", "deliveries"),
            ("day", "days"),
            ("bike", "bikes"),
            ("", "workers with role \"\""),
            ("taxi", "workers with role \"taxi\""),
            ("Rider", "workers with role \"Rider\""),
            ("骑手", "workers with role \"骑手\""),
        ] {
            assert_eq!(role_plural(role), plural, "{role}");
        }
    }

    fn sample() -> Alert {
        Alert {
            rule: "continuous_work".into(),
            kind: "continuous",
            phase: Phase::Violation,
            worker_id: Some("w1".into()),
            person_id: None,
            by_platform: None,
            order: Default::default(),
            platform: "meituan".into(),
            role: "rider".into(),
            city: "371000".into(),
            at: 1_772_424_000_000,
            amount: Amount::Seconds {
                value: 14_400,
                limit: 14_400,
            },
            period_start: 1_772_409_600_000,
            resets: 0,
            message: "Worker w1 has worked 4h without a break.".into(),
        }
    }

    #[test]
    fn writes_the_spec_fields() {
        let json: serde_json::Value =
            serde_json::from_str(&sample().to_json(&chrono_tz::Asia::Shanghai)).unwrap();
        assert_eq!(json["rule"], "continuous_work");
        assert_eq!(json["phase"], "violation");
        assert_eq!(json["worker_id"], "w1");
        assert_eq!(json["at"], "2026-03-02T12:00:00.000+08:00");
        assert_eq!(json["period_start"], "2026-03-02T08:00:00.000+08:00");
        assert_eq!(json["value_seconds"], 14_400);
        assert_eq!(json["limit_seconds"], 14_400);
        assert!(json.get("value_cents_per_hour").is_none());
        assert_eq!(json["alert_id"].as_str().unwrap().len(), 32);
    }

    #[test]
    fn ids_depend_on_rule_phase_subject_and_period_only() {
        let a = sample();
        let mut b = sample();
        b.at += 1000;
        b.message = "other".into();
        b.city = "other".into();
        assert_eq!(a.alert_id(), b.alert_id());
        let mut c = sample();
        c.phase = Phase::Warning;
        assert_ne!(a.alert_id(), c.alert_id());
        let mut d = sample();
        d.period_start += 1;
        assert_ne!(a.alert_id(), d.alert_id());
        let mut e = sample();
        e.worker_id = Some("w2".into());
        assert_ne!(a.alert_id(), e.alert_id());
    }

    #[test]
    fn aggregates_have_no_worker_and_a_group_key() {
        let mut alert = sample();
        alert.worker_id = None;
        alert.rule = "quota_p90".into();
        assert_eq!(alert.key(), "meituan/rider/371000");
        let json: serde_json::Value =
            serde_json::from_str(&alert.to_json(&chrono_tz::Asia::Shanghai)).unwrap();
        assert!(json.get("worker_id").is_none());
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(14_400_000), "4h");
        assert_eq!(human_duration(13_500_000), "3h 45m");
        assert_eq!(human_duration(1_500), "1s");
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_limit(14_400_000), "4h");
        assert_eq!(human_limit(500), "500ms");
        assert_eq!(human_limit(3_600_500), "1h 500ms");
        assert_eq!(human_limit(1), "1ms");
    }
}
