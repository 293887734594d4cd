//! Prometheus metrics of the monitor: one [`Metrics`] value owning a private registry, with a
//! method per thing that happens, so the pipeline never touches metric names or labels.
//!
//! Every label set is bounded (the bounds are in `docs/metrics.md`): the first `cap` distinct
//! values of a label in a metric family keep their name, later ones become [`OTHER`], and so
//! do values longer than [`MAX_VALUE_LEN`] bytes. A first-come bound is stable between scrapes
//! (a platform never moves in and out of `other`); platforms and cities are few and long-lived,
//! so the caps are far above what a deployment sees and exist to survive a misbehaving
//! producer, not to rank values. There is never a `worker_id` label (SPEC section 6): worker
//! state is served by `/v1/workers/{worker_id}` instead.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::alert::Rule;
use crate::event::BadReason;
use crate::lock;

/// The label value that stands for every value beyond a label's cap.
pub const OTHER: &str = "other";
/// Label values longer than this many bytes become [`OTHER`]: no real platform, city, role,
/// kind or reason name is this long, and a garbage value must not bloat every scrape.
pub const MAX_VALUE_LEN: usize = 64;

/// Distinct `platform` values per metric family (SPEC: a handful of platforms per city).
pub const PLATFORM_CAP: usize = 32;
/// Distinct `city` values per metric family (China has about 300 prefecture-level cities).
pub const CITY_CAP: usize = 256;
/// Distinct `role` values per metric family (rider, driver, courier, trucker, ...).
pub const ROLE_CAP: usize = 16;
/// Distinct (platform, role, city) combinations per metric family: the label bounds alone
/// allowed 33 x 17 x 257 (144,177) of them, which a producer spreading workers over many
/// groups reached (audit AI: a `/metrics` of 514 to 685 MB and 1.5 to 2.7 GB of memory with
/// 150,000 to 200,000 workers). A national deployment has a few thousand groups.
pub const GROUP_CAP: usize = 4_096;
/// Distinct `topic` values per metric family; topics come from the config, a few at most.
pub const TOPIC_CAP: usize = 16;
/// Distinct `kind` values: the ten event kinds of SPEC section 2 fit.
pub const KIND_CAP: usize = 16;
/// Distinct `reason` values: the bad-event codes of `event::BadReason` fit.
pub const REASON_CAP: usize = 32;
/// Distinct `rule` values: the seven rules of SPEC section 4 and the shipped packs' (25 ids in
/// all), with room for packs of one's own.
pub const RULE_CAP: usize = 64;
/// Distinct `phase` values: warning, violation, resolved.
pub const PHASE_CAP: usize = 8;

/// Continuous-work episode lengths, 15 min to 8 h. 3 h 45 min (the warning) and 4 h (the
/// limit) are edges, so the share of episodes beyond the limit is one bucket ratio.
pub const EPISODE_BUCKETS: [f64; 14] = [
    900.0, 1800.0, 3600.0, 5400.0, 7200.0, 9000.0, 10800.0, 12600.0, 13500.0, 14400.0, 16200.0,
    18000.0, 21600.0, 28800.0,
];

/// Daily working time, 1 h to 16 h. 8 h (`daily_standard`) and 11 h (`daily_max`) are edges,
/// and the hours between are dense enough for a useful `histogram_quantile(0.9, ...)`.
pub const DAILY_BUCKETS: [f64; 16] = [
    3600.0, 7200.0, 10800.0, 14400.0, 18000.0, 21600.0, 25200.0, 27000.0, 28800.0, 30600.0,
    32400.0, 36000.0, 39600.0, 43200.0, 50400.0, 57600.0,
];

/// Time to process one batch of consumed messages, 0.5 ms to 10 s.
pub const BATCH_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The (rule, phase) pairs that SPEC section 4 can emit; their alert counters start at zero
/// for every platform seen, so that "no violations" reads as 0, not as no data.
const RULE_PHASES: &[(Rule, &str)] = &[
    (Rule::ContinuousWork, "warning"),
    (Rule::ContinuousWork, "violation"),
    (Rule::ContinuousWork, "resolved"),
    (Rule::DailyHours, "warning"),
    (Rule::DailyHours, "violation"),
    (Rule::WeeklyHours, "violation"),
    (Rule::MonthlyOvertime, "violation"),
    (Rule::WeeklyRest, "violation"),
    (Rule::MinimumWage, "violation"),
    (Rule::QuotaP90, "violation"),
];

/// The bound on one label of one metric family: the first `cap` distinct values pass.
struct Bound {
    cap: usize,
    seen: Mutex<HashSet<String>>,
    /// Whether [`Bound::admit_new`] has given `other` yet.
    other_given: AtomicBool,
}

impl Bound {
    fn new(cap: usize) -> Self {
        Bound {
            cap,
            seen: Mutex::new(HashSet::new()),
            other_given: AtomicBool::new(false),
        }
    }

    /// `value` itself if it is admitted (already seen, or a free slot remains), else `other`.
    fn admit<'a>(&self, value: &'a str) -> &'a str {
        if value == OTHER {
            return OTHER;
        }
        if value.len() > MAX_VALUE_LEN {
            return OTHER;
        }
        let mut seen = lock(&self.seen);
        if seen.contains(value) {
            return value;
        }
        if seen.len() >= self.cap {
            return OTHER;
        }
        seen.insert(value.to_owned());
        value
    }

    /// Like [`Bound::admit`], and also says whether the value is given for the first time
    /// (`other` included, the first time a value becomes it), so that its series can start.
    fn admit_new<'a>(&self, value: &'a str) -> (&'a str, bool) {
        let other = || (OTHER, !self.other_given.swap(true, Ordering::Relaxed));
        if value == OTHER || value.len() > MAX_VALUE_LEN {
            return other();
        }
        let mut seen = lock(&self.seen);
        if seen.contains(value) {
            return (value, false);
        }
        if seen.len() >= self.cap {
            return other();
        }
        seen.insert(value.to_owned());
        (value, true)
    }
}

/// Bounds of a (platform, role, city) family: each label's, then [`GROUP_CAP`] combinations,
/// beyond which a group's series is `other` in all three.
struct GroupBounds {
    platform: Bound,
    role: Bound,
    city: Bound,
    /// Hashes of the combinations admitted.
    groups: Mutex<HashSet<u64>>,
}

impl GroupBounds {
    fn new() -> Self {
        GroupBounds {
            platform: Bound::new(PLATFORM_CAP),
            role: Bound::new(ROLE_CAP),
            city: Bound::new(CITY_CAP),
            groups: Mutex::new(HashSet::new()),
        }
    }

    fn admit<'a>(&self, platform: &'a str, role: &'a str, city: &'a str) -> [&'a str; 3] {
        let key = [
            self.platform.admit(platform),
            self.role.admit(role),
            self.city.admit(city),
        ];
        if key == [OTHER; 3] {
            return key;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        let hash = hasher.finish();
        let mut groups = lock(&self.groups);
        if groups.contains(&hash) {
            return key;
        }
        if groups.len() >= GROUP_CAP {
            return [OTHER; 3];
        }
        groups.insert(hash);
        key
    }
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The monitor's metrics. Cheap to share as `Arc<Metrics>`: every method takes `&self`, the
/// metric handles are atomic, and the few mutexes (label bounds, per-partition bookkeeping)
/// are held for a hash lookup, never across an `.await`.
pub struct Metrics {
    registry: Registry,

    events: IntCounterVec,
    events_topic: Bound,
    events_kind: Bound,
    bad_events: IntCounterVec,
    bad_topic: Bound,
    bad_reason: Bound,
    duplicate_events: IntCounter,
    noop_events: IntCounter,
    late_events: IntCounter,
    alerts: IntCounterVec,
    holds: IntCounterVec,
    alerts_rule: Bound,
    alerts_phase: Bound,
    alerts_platform: Bound,
    /// The (rule, phase) pairs and the holding rules of the configured packs beyond SPEC
    /// section 4's ([`Metrics::rules_known`]): their counters start at 0 too.
    pack_phases: Mutex<Vec<(String, &'static str)>>,
    hold_rules: Mutex<Vec<String>>,

    workers_online: IntGaugeVec,
    workers_working: IntGaugeVec,
    workers_bounds: GroupBounds,
    /// Label sets currently set in the two worker gauges, to remove the ones that vanish.
    workers_keys: Mutex<HashSet<[String; 3]>>,
    open_violations: IntGaugeVec,
    open_violations_platform: Bound,
    open_violations_keys: Mutex<HashSet<String>>,
    episode_seconds: HistogramVec,
    episode_bounds: GroupBounds,
    daily_seconds: HistogramVec,
    daily_bounds: GroupBounds,

    watermark_lag: GaugeVec,
    /// Per partition, the watermark as unix seconds, so that the lag is "now minus watermark"
    /// at scrape time even when the run loop has stopped updating it.
    watermarks: Mutex<BTreeMap<i32, f64>>,
    consumer_lag: IntGaugeVec,
    consumer_lag_topic: Bound,
    /// Topics with a consumer-lag series per partition, for [`Metrics::forget_partition`].
    consumer_lag_keys: Mutex<HashMap<i32, HashSet<String>>>,
    batch_seconds: Histogram,
    producer_queue: IntGauge,
    delivery_errors: IntCounterVec,
    delivery_topic: Bound,
    restore_records: IntCounterVec,
    restoring: IntGaugeVec,
    last_event: GaugeVec,
    last_event_platform: Bound,
    ready: IntGauge,
    partitions_assigned: IntGauge,

    workers_held: IntGauge,
    names_held: IntGauge,
    event_ids_held: IntGauge,
    reorder_buffer: IntGauge,
    reorder_limit: IntGauge,
    input_paused: IntGauge,
    late_held: IntGauge,
    order_starts_held: IntGauge,
    order_start_bytes_held: IntGauge,
    late_held_limit: IntGauge,
    late_unheld: IntCounter,
    workers_evicted: IntCounter,
    undelivered: IntGauge,
    undelivered_oldest: prometheus::Gauge,
    fenced: IntCounterVec,
    commit_failures: IntCounter,
    http_rejected: IntCounterVec,
}

fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("metric");
    registry
        .register(Box::new(gauge.clone()))
        .expect("metric registration");
    gauge
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics in a registry of their own (never the global default registry,
    /// so tests and several instances in one process do not collide).
    pub fn new() -> Self {
        let registry = Registry::new();

        // Registration only fails on a duplicate or malformed name, which are constants here:
        // a panic is a programming error caught by every test.
        fn reg<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
            registry
                .register(Box::new(c.clone()))
                .expect("metric registration");
            c
        }
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("metric"),
            )
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("metric"),
            )
        };
        let histogram_vec = |name: &str, help: &str, labels: &[&str], buckets: &[f64]| {
            let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
            reg(&registry, HistogramVec::new(opts, labels).expect("metric"))
        };
        const GROUP: &[&str] = &["platform", "role", "city"];

        let build_info = reg(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "workhours_build_info",
                    "Always 1; the version of the running binary.",
                ),
                &["version"],
            )
            .expect("metric"),
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        let metrics = Metrics {
            events: counter_vec(
                "workhours_events_total",
                "Valid input events read, by input topic and event kind (duplicates and late events included).",
                &["topic", "kind"],
            ),
            events_topic: Bound::new(TOPIC_CAP),
            events_kind: Bound::new(KIND_CAP),
            bad_events: counter_vec(
                "workhours_bad_events_total",
                "Bad input messages sent to the dead-letter topic, by input topic and reason code.",
                &["topic", "reason"],
            ),
            bad_topic: Bound::new(TOPIC_CAP),
            bad_reason: Bound::new(REASON_CAP),
            duplicate_events: reg(
                &registry,
                IntCounter::new(
                    "workhours_duplicate_events_total",
                    "Valid events dropped as duplicates: their event_id was seen with an earlier ts (or the same ts, read before).",
                )
                .expect("metric"),
            ),
            noop_events: reg(
                &registry,
                IntCounter::new(
                    "workhours_noop_events_total",
                    "Valid events applied that changed nothing (a login while online, a logout while offline, delivery of an unknown order, ...).",
                )
                .expect("metric"),
            ),
            late_events: reg(
                &registry,
                IntCounter::new(
                    "workhours_late_events_total",
                    "Events older than their partition's watermark (dead-lettered with reason late).",
                )
                .expect("metric"),
            ),
            alerts: counter_vec(
                "workhours_alerts_total",
                "Alerts emitted, by rule, phase and platform.",
                &["rule", "phase", "platform"],
            ),
            holds: counter_vec(
                "workhours_holds_total",
                "Dispatch holds emitted to the holds topic, by rule and platform.",
                &["rule", "platform"],
            ),
            alerts_rule: Bound::new(RULE_CAP),
            alerts_phase: Bound::new(PHASE_CAP),
            alerts_platform: Bound::new(PLATFORM_CAP),
            pack_phases: Mutex::default(),
            hold_rules: Mutex::default(),

            workers_online: gauge_vec(
                "workhours_workers_online",
                "Workers currently online (logged in), by platform, role and city.",
                GROUP,
            ),
            workers_working: gauge_vec(
                "workhours_workers_working",
                "Workers currently working (online and not on a break, or with an active order), by platform, role and city.",
                GROUP,
            ),
            workers_bounds: GroupBounds::new(),
            workers_keys: Mutex::new(HashSet::new()),
            open_violations: gauge_vec(
                "workhours_continuous_work_open_violations",
                "Workers currently in a continuous_work violation not yet resolved by a break, by platform.",
                &["platform"],
            ),
            open_violations_platform: Bound::new(PLATFORM_CAP),
            open_violations_keys: Mutex::new(HashSet::new()),
            episode_seconds: histogram_vec(
                "workhours_continuous_work_episode_seconds",
                "Worked time of continuous-work episodes, observed when the episode ends with a qualifying break.",
                GROUP,
                &EPISODE_BUCKETS,
            ),
            episode_bounds: GroupBounds::new(),
            daily_seconds: histogram_vec(
                "workhours_daily_work_seconds",
                "Working time of a worker in a local day, observed at the local midnight ending a day with work.",
                GROUP,
                &DAILY_BUCKETS,
            ),
            daily_bounds: GroupBounds::new(),

            watermark_lag: reg(
                &registry,
                GaugeVec::new(
                    Opts::new(
                        "workhours_watermark_lag_seconds",
                        "Wall clock minus the partition's event-time watermark, at scrape time.",
                    ),
                    &["partition"],
                )
                .expect("metric"),
            ),
            watermarks: Mutex::new(BTreeMap::new()),
            consumer_lag: gauge_vec(
                "workhours_consumer_lag_messages",
                "Messages between the consumer position and the end of the partition (librdkafka statistics).",
                &["topic", "partition"],
            ),
            consumer_lag_topic: Bound::new(TOPIC_CAP),
            consumer_lag_keys: Mutex::new(HashMap::new()),
            batch_seconds: reg(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "workhours_batch_processing_seconds",
                        "Wall time to process one batch of consumed messages.",
                    )
                    .buckets(BATCH_BUCKETS.to_vec()),
                )
                .expect("metric"),
            ),
            producer_queue: reg(
                &registry,
                IntGauge::new(
                    "workhours_producer_queue_messages",
                    "Messages waiting in the producer queue for delivery.",
                )
                .expect("metric"),
            ),
            delivery_errors: counter_vec(
                "workhours_producer_delivery_errors_total",
                "Failed delivery attempts, by destination topic (a record sent again counts again).",
                &["topic"],
            ),
            delivery_topic: Bound::new(TOPIC_CAP),
            restore_records: counter_vec(
                "workhours_state_restore_records_total",
                "State records read back from the state topic, by partition.",
                &["partition"],
            ),
            restoring: gauge_vec(
                "workhours_partition_restoring",
                "1 while the partition's state is being restored, 0 once it is done.",
                &["partition"],
            ),
            last_event: reg(
                &registry,
                GaugeVec::new(
                    Opts::new(
                        "workhours_last_event_timestamp_seconds",
                        "Event time (unix seconds) of the newest event of the platform; freshness is time() minus it.",
                    ),
                    &["platform"],
                )
                .expect("metric"),
            ),
            last_event_platform: Bound::new(PLATFORM_CAP),
            ready: reg(
                &registry,
                IntGauge::new(
                    "workhours_ready",
                    "1 when partitions are assigned and their state restored (as /readyz), else 0.",
                )
                .expect("metric"),
            ),
            partitions_assigned: reg(
                &registry,
                IntGauge::new(
                    "workhours_partitions_assigned",
                    "Input partitions this instance consumes: assigned and restored.",
                )
                .expect("metric"),
            ),
            workers_held: int_gauge(
                &registry,
                "workhours_workers_held",
                "Workers held in memory over the assigned partitions (bounded by the workers seen within time.worker_ttl).",
            ),
            names_held: int_gauge(
                &registry,
                "workhours_names_held",
                "Distinct platform, role and city names held in memory over the assigned partitions.",
            ),
            event_ids_held: int_gauge(
                &registry,
                "workhours_event_ids_held",
                "event_ids held in memory for duplicate detection over the assigned partitions: those within time.dedup_window, and expired ones whose slots are not reclaimed yet.",
            ),
            reorder_buffer: int_gauge(
                &registry,
                "workhours_reorder_buffer_events",
                "Events read and waiting for the watermark in the reorder buffers of the assigned partitions.",
            ),
            reorder_limit: int_gauge(
                &registry,
                "workhours_reorder_buffer_limit_events",
                "Reorder-buffer events per partition at which the input topics ahead of the others are paused (several input topics).",
            ),
            input_paused: int_gauge(
                &registry,
                "workhours_input_partitions_paused",
                "Input topic partitions paused because their partition's reorder buffer reached its limit.",
            ),
            late_held: int_gauge(
                &registry,
                "workhours_late_dead_letters_held",
                "Dead letters of late events held until a partition record names them (events late only against an idle partition's advance of event time).",
            ),
            order_starts_held: int_gauge(
                &registry,
                "workhours_order_starts_held",
                "Order starts held with their bytes for a too_many_orders dead letter until the watermark passes them, over the assigned partitions.",
            ),
            order_start_bytes_held: int_gauge(
                &registry,
                "workhours_order_starts_held_bytes",
                "Keys' and payloads' bytes of the order starts held for a too_many_orders dead letter, over the assigned partitions.",
            ),
            late_held_limit: int_gauge(
                &registry,
                "workhours_late_dead_letters_held_limit",
                "Late events' dead letters one partition holds at most (and 1 MiB of their bytes); past it they go out at once.",
            ),
            late_unheld: reg(
                &registry,
                IntCounter::new(
                    "workhours_late_dead_letters_unheld_total",
                    "Late events' dead letters sent at once because their partition's hold was full: a crash before its next partition record can have such an event both dead-lettered and applied.",
                )
                .expect("metric"),
            ),
            workers_evicted: reg(
                &registry,
                IntCounter::new(
                    "workhours_workers_evicted_total",
                    "Workers forgotten after time.worker_ttl without an event (a tombstone each in the state topic).",
                )
                .expect("metric"),
            ),
            undelivered: int_gauge(
                &registry,
                "workhours_producer_undelivered_messages",
                "Records whose delivery failed and that wait to be sent again; nothing is committed past them.",
            ),
            undelivered_oldest: reg(
                &registry,
                prometheus::Gauge::new(
                    "workhours_producer_undelivered_oldest_seconds",
                    "How long ago the oldest record not yet acknowledged by the broker was first sent, in flight or failed (0 when all are acknowledged); the monitor exits when a failed record reaches live.delivery_timeout.",
                )
                .expect("metric"),
            ),
            fenced: counter_vec(
                "workhours_fenced_total",
                "Times this instance gave its partitions up without writing for them: reason stall (its loop stopped longer than the group session) or lost (the group took them).",
                &["reason"],
            ),
            commit_failures: reg(
                &registry,
                IntCounter::new(
                    "workhours_commit_failures_total",
                    "Offset commits of the input that failed (refused by the broker, or no answer); their offsets are committed again.",
                )
                .expect("metric"),
            ),
            http_rejected: counter_vec(
                "workhours_http_rejected_requests_total",
                "HTTP requests answered with an error before reaching the data: reason unauthorized (401), overloaded (503, too many at once), blocked (503, the pipeline waiting for room to send while the broker is away), timeout (503 or 504).",
                &["reason"],
            ),
            registry,
        };
        // Known reasons exist at zero from the start: `increase()` then sees a first increment.
        for reason in ["stall", "lost"] {
            metrics.fenced.with_label_values(&[reason]);
        }
        for reason in ["unauthorized", "overloaded", "blocked", "timeout"] {
            metrics.http_rejected.with_label_values(&[reason]);
        }
        metrics
    }

    /// The registry, to register more collectors (e.g. process metrics) next to these.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    // ---- Events and alerts ----

    /// `n` valid input events of `kind` read from `topic` (the pipeline counts a poll batch at
    /// once), before duplicate and lateness checks (so duplicates and late events are counted
    /// here and in their own counters).
    pub fn events_received(&self, topic: &str, kind: &str, n: u64) {
        let (topic, new_topic) = self.events_topic.admit_new(topic);
        let kind = self.events_kind.admit(kind);
        self.events.with_label_values(&[topic, kind]).inc_by(n);
        if new_topic {
            // Start every bad-event reason of this topic at 0, so that the dead-letter rate
            // reads 0 rather than no data while nothing is bad.
            for reason in BadReason::ALL {
                let topic = self.bad_topic.admit(topic);
                let reason = self.bad_reason.admit(reason.code());
                self.bad_events.with_label_values(&[topic, reason]);
            }
        }
    }

    /// Starts at 0, for every input topic, the events of each kind and the bad events of each
    /// reason, and for every output topic the failed deliveries: so that a rate reads 0 rather
    /// than no data before the first of them, and `increase()` sees the first ones (it
    /// ignores a series' first sample). The dead-letter share is then defined also when no
    /// valid event has come yet, which is when a platform's payload changed.
    pub fn topics_known(&self, inputs: &[String], outputs: &[&String]) {
        for topic in inputs {
            for kind in crate::event::Kind::ALL {
                self.events_received(topic, kind.as_str(), 0);
            }
        }
        for topic in outputs {
            let topic = self.delivery_topic.admit(topic);
            self.delivery_errors.with_label_values(&[topic]);
        }
    }

    /// One bad message from `topic`, dead-lettered with `reason` (an `event::BadReason`
    /// code). Late events are counted by [`Metrics::late_event`] instead, not here.
    pub fn bad_event(&self, topic: &str, reason: &str) {
        let topic = self.bad_topic.admit(topic);
        let reason = self.bad_reason.admit(reason);
        self.bad_events.with_label_values(&[topic, reason]).inc();
    }

    /// One valid event dropped as a duplicate (its `event_id` seen with an earlier `ts`).
    pub fn duplicate_event(&self) {
        self.duplicate_events.inc();
    }

    /// `n` events applied that changed nothing of their worker's state (SPEC section 3).
    pub fn noop_events(&self, n: u64) {
        self.noop_events.inc_by(n);
    }

    /// One event older than its partition's watermark.
    pub fn late_event(&self) {
        self.late_events.inc();
    }

    /// One alert written to the alerts topic.
    pub fn alert_emitted(&self, rule: &str, phase: &str, platform: &str) {
        let platform = self.platform_seen(platform);
        let rule = self.alerts_rule.admit(rule);
        let phase = self.alerts_phase.admit(phase);
        self.alerts
            .with_label_values(&[rule, phase, platform])
            .inc();
    }

    pub fn hold_emitted(&self, rule: &str, platform: &str) {
        let platform = self.platform_seen(platform);
        let rule = self.alerts_rule.admit(rule);
        self.holds.with_label_values(&[rule, platform]).inc();
    }

    /// The rules of the configured packs (`Config::alert_kinds`): every (rule, phase) pair
    /// an alert can carry and the rules that hold. Their alert and hold counters start at 0
    /// for every platform seen, as section 4's pairs do, so that `increase()` sees the first
    /// alert of a pack's rule after a restart. Call it before the first platform is seen.
    pub fn rules_known(&self, phases: Vec<(String, &'static str)>, holds: Vec<String>) {
        *lock(&self.pack_phases) = phases
            .into_iter()
            .filter(|(rule, phase)| {
                !RULE_PHASES
                    .iter()
                    .any(|&(r, p)| r.as_str() == rule && p == *phase)
            })
            .collect();
        *lock(&self.hold_rules) = holds;
    }

    /// Admits `platform` to the alert family; the first time, starts its alert counters at 0.
    fn platform_seen<'a>(&self, platform: &'a str) -> &'a str {
        let (platform, new) = self.alerts_platform.admit_new(platform);
        if new {
            for &(rule, phase) in RULE_PHASES {
                let rule = self.alerts_rule.admit(rule.as_str());
                let phase = self.alerts_phase.admit(phase);
                self.alerts.with_label_values(&[rule, phase, platform]);
            }
            for (rule, phase) in lock(&self.pack_phases).iter() {
                let rule = self.alerts_rule.admit(rule);
                let phase = self.alerts_phase.admit(phase);
                self.alerts.with_label_values(&[rule, phase, platform]);
            }
            for rule in lock(&self.hold_rules).iter() {
                let rule = self.alerts_rule.admit(rule);
                self.holds.with_label_values(&[rule, platform]);
            }
        }
        platform
    }

    // ---- Worker state (regulator views) ----

    /// Replaces the worker gauges with `rows` of (platform, role, city, online, working).
    /// Groups absent from `rows` disappear; rows beyond the caps are summed into `other`.
    pub fn set_workers(&self, rows: &[(String, String, String, u64, u64)]) {
        let mut totals: HashMap<[&str; 3], (u64, u64)> = HashMap::new();
        for (platform, role, city, online, working) in rows {
            self.platform_seen(platform);
            let key = self.workers_bounds.admit(platform, role, city);
            let entry = totals.entry(key).or_default();
            entry.0 += online;
            entry.1 += working;
        }
        // Set the new values first and remove the vanished groups after, so that a scrape
        // in between never sees an empty family.
        let mut keys = lock(&self.workers_keys);
        let mut now = HashSet::with_capacity(totals.len());
        for (key, (online, working)) in &totals {
            self.workers_online
                .with_label_values(key)
                .set(clamp(*online));
            self.workers_working
                .with_label_values(key)
                .set(clamp(*working));
            now.insert(key.map(str::to_owned));
        }
        for gone in keys.difference(&now) {
            let _ = self.workers_online.remove_label_values(gone);
            let _ = self.workers_working.remove_label_values(gone);
        }
        *keys = now;
    }

    /// Replaces the open continuous_work violation counts with `rows` of (platform, count).
    pub fn set_open_violations(&self, rows: &[(String, u64)]) {
        let mut totals: HashMap<&str, u64> = HashMap::new();
        for (platform, count) in rows {
            *totals
                .entry(self.open_violations_platform.admit(platform))
                .or_default() += count;
        }
        let mut keys = lock(&self.open_violations_keys);
        let mut now = HashSet::with_capacity(totals.len());
        for (platform, count) in &totals {
            self.open_violations
                .with_label_values(&[*platform])
                .set(clamp(*count));
            now.insert((*platform).to_owned());
        }
        for gone in keys.difference(&now) {
            let _ = self.open_violations.remove_label_values(&[gone]);
        }
        *keys = now;
    }

    /// A continuous-work episode of `seconds` worked time ended with a qualifying break.
    pub fn episode_ended(&self, platform: &str, role: &str, city: &str, seconds: f64) {
        let key = self.episode_bounds.admit(platform, role, city);
        self.episode_seconds
            .with_label_values(&key)
            .observe(seconds);
    }

    /// A worker's local day closed with `seconds` of work (days without work are not observed).
    pub fn day_closed(&self, platform: &str, role: &str, city: &str, seconds: f64) {
        let key = self.daily_bounds.admit(platform, role, city);
        self.daily_seconds.with_label_values(&key).observe(seconds);
    }

    /// A group's workers are watched: its histogram series exist from now on, at zero, so
    /// that `increase()` over the first day or episode observed counts it (a series created by
    /// its first observation starts at that count, which `increase()` does not see).
    pub fn group_seen(&self, platform: &str, role: &str, city: &str) {
        let key = self.episode_bounds.admit(platform, role, city);
        self.episode_seconds.with_label_values(&key);
        let key = self.daily_bounds.admit(platform, role, city);
        self.daily_seconds.with_label_values(&key);
    }

    // ---- Pipeline health (operator views) ----

    /// The partition's watermark is `seconds` behind the wall clock now. The metric keeps
    /// growing between calls (it is recomputed at each scrape from the implied watermark),
    /// so a stalled run loop shows as a growing lag rather than a frozen one.
    pub fn set_watermark_lag(&self, partition: i32, seconds: f64) {
        lock(&self.watermarks).insert(partition, now_unix() - seconds);
        self.watermark_lag
            .with_label_values(&[partition.to_string()])
            .set(seconds);
    }

    /// Consumer lag of one input partition, in messages (from librdkafka statistics).
    pub fn set_consumer_lag(&self, topic: &str, partition: i32, messages: i64) {
        let topic = self.consumer_lag_topic.admit(topic);
        lock(&self.consumer_lag_keys)
            .entry(partition)
            .or_default()
            .insert(topic.to_owned());
        self.consumer_lag
            .with_label_values(&[topic, &partition.to_string()])
            .set(messages);
    }

    /// One batch of consumed messages took `seconds` of wall time to process.
    pub fn observe_batch(&self, seconds: f64) {
        self.batch_seconds.observe(seconds);
    }

    /// Messages waiting in the producer queue.
    pub fn set_producer_queue(&self, messages: i64) {
        self.producer_queue.set(messages);
    }

    /// The producer failed to deliver one message to `topic`.
    pub fn delivery_error(&self, topic: &str) {
        let topic = self.delivery_topic.admit(topic);
        self.delivery_errors.with_label_values(&[topic]).inc();
    }

    /// `records` more state records of `partition` were read back from the state topic.
    pub fn restore_progress(&self, partition: i32, records: u64) {
        self.restore_records
            .with_label_values(&[partition.to_string()])
            .inc_by(records);
    }

    /// The partition's state restore started (`true`) or finished (`false`).
    pub fn set_restoring(&self, partition: i32, restoring: bool) {
        let p = partition.to_string();
        self.restoring
            .with_label_values(&[&p])
            .set(i64::from(restoring));
        // Make the restore counter exist from the start, so progress reads 0, not no data.
        self.restore_records.with_label_values(&[&p]);
    }

    /// An event of `platform` with event time `unix_seconds` was read. Keeps the newest, so an
    /// out-of-order event does not make a platform look staler than it is.
    pub fn last_event(&self, platform: &str, unix_seconds: f64) {
        self.platform_seen(platform);
        let platform = self.last_event_platform.admit(platform);
        // The bound's lock also serialises the read-compare-set below.
        let _guard = lock(&self.last_event_platform.seen);
        let gauge = self.last_event.with_label_values(&[platform]);
        if unix_seconds > gauge.get() {
            gauge.set(unix_seconds);
        }
    }

    /// Whether the instance is ready (partitions assigned, state restored), as `/readyz`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// Number of input partitions assigned to this instance.
    pub fn set_partitions_assigned(&self, n: usize) {
        self.partitions_assigned
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Removes every per-partition series of `partition` (on revocation), so that another
    /// instance's numbers for it are not shadowed by stale ones from this one.
    pub fn forget_partition(&self, partition: i32) {
        let p = partition.to_string();
        lock(&self.watermarks).remove(&partition);
        let _ = self.watermark_lag.remove_label_values(&[&p]);
        let _ = self.restore_records.remove_label_values(&[&p]);
        let _ = self.restoring.remove_label_values(&[&p]);
        if let Some(topics) = lock(&self.consumer_lag_keys).remove(&partition) {
            for topic in topics {
                let _ = self.consumer_lag.remove_label_values(&[topic.as_str(), &p]);
            }
        }
    }

    // ---- Bounds of memory (SPEC section 5) ----

    /// What the assigned partitions hold now: workers, names, event ids, buffered events.
    pub fn set_held(&self, workers: usize, names: usize, event_ids: usize, buffered: usize) {
        self.workers_held.set(clamp(workers as u64));
        self.names_held.set(clamp(names as u64));
        self.event_ids_held.set(clamp(event_ids as u64));
        self.reorder_buffer.set(clamp(buffered as u64));
    }

    /// The reorder buffer's limit per partition.
    pub fn set_reorder_limit(&self, events: usize) {
        self.reorder_limit.set(clamp(events as u64));
    }

    /// Input topic partitions paused for a full reorder buffer, now.
    pub fn set_input_paused(&self, n: usize) {
        self.input_paused.set(clamp(n as u64));
    }

    /// Late events' dead letters held until a partition record names them, now.
    pub fn set_late_held(&self, n: usize) {
        self.late_held.set(clamp(n as u64));
    }

    /// Order starts held for a `too_many_orders` dead letter, and their bytes, now.
    pub fn set_order_starts_held(&self, n: usize, bytes: usize) {
        self.order_starts_held.set(clamp(n as u64));
        self.order_start_bytes_held.set(clamp(bytes as u64));
    }

    /// The late events' dead letters one partition holds at most.
    pub fn set_late_held_limit(&self, n: usize) {
        self.late_held_limit.set(clamp(n as u64));
    }

    /// One late event's dead letter sent at once because its partition's hold was full.
    pub fn late_dead_letter_unheld(&self) {
        self.late_unheld.inc();
    }

    /// `n` workers were forgotten after `worker_ttl`.
    pub fn workers_evicted(&self, n: usize) {
        self.workers_evicted.inc_by(n as u64);
    }

    // ---- Delivery and fencing ----

    /// Records waiting to be sent again, and the age of the oldest.
    pub fn set_undelivered(&self, records: usize, oldest_seconds: f64) {
        self.undelivered.set(clamp(records as u64));
        self.undelivered_oldest.set(oldest_seconds);
    }

    /// The instance gave its partitions up without writing: `stall` or `lost`.
    pub fn fenced(&self, reason: &'static str) {
        self.fenced.with_label_values(&[reason]).inc();
    }

    /// An offset commit failed (it is sent again).
    pub fn commit_failed(&self) {
        self.commit_failures.inc();
    }

    /// An HTTP request refused: `unauthorized`, `overloaded` or `timeout`.
    pub fn http_rejected(&self, reason: &'static str) {
        self.http_rejected.with_label_values(&[reason]).inc();
    }

    /// The metrics in the Prometheus text format 0.0.4 ([`TEXT_CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let now = now_unix();
        for (partition, watermark) in lock(&self.watermarks).iter() {
            self.watermark_lag
                .with_label_values(&[partition.to_string()])
                .set(now - watermark);
        }
        let mut buf = Vec::new();
        // Encoding only fails on a malformed family (impossible here) or a writer error
        // (impossible for a Vec); an empty scrape is the honest fallback.
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Content type of [`Metrics::render`]: the text format 0.0.4, in UTF-8 (label values may be
/// any text, e.g. a city's name), as Prometheus's own Go client sends it.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family, one call each.
    fn exercised() -> Metrics {
        let m = Metrics::new();
        m.events_received("workhours.events", "login", 1);
        m.bad_event("workhours.events", "not_json");
        m.duplicate_event();
        m.noop_events(2);
        m.late_event();
        m.alert_emitted("continuous_work", "violation", "meituan");
        m.set_workers(&[("meituan".into(), "rider".into(), "weihai".into(), 10, 7)]);
        m.set_open_violations(&[("meituan".into(), 2)]);
        m.episode_ended("meituan", "rider", "weihai", 15_000.0);
        m.day_closed("meituan", "rider", "weihai", 30_000.0);
        m.set_watermark_lag(0, 31.0);
        m.set_consumer_lag("workhours.events", 0, 42);
        m.observe_batch(0.003);
        m.set_producer_queue(5);
        m.delivery_error("workhours.alerts");
        m.restore_progress(0, 100);
        m.set_restoring(0, false);
        m.last_event("meituan", 1_772_409_600.0);
        m.set_ready(true);
        m.set_partitions_assigned(3);
        m.set_held(10, 5, 100, 7);
        m.set_reorder_limit(100_000);
        m.set_input_paused(0);
        m.set_late_held(2);
        m.set_order_starts_held(3, 300);
        m.set_late_held_limit(1_000);
        m.late_dead_letter_unheld();
        m.workers_evicted(1);
        m.set_undelivered(0, 0.0);
        m.fenced("stall");
        m.commit_failed();
        m.http_rejected("unauthorized");
        m.hold_emitted("continuous_work", "meituan");
        m
    }

    const FAMILIES: [&str; 40] = [
        "workhours_build_info",
        "workhours_events_total",
        "workhours_bad_events_total",
        "workhours_duplicate_events_total",
        "workhours_noop_events_total",
        "workhours_late_events_total",
        "workhours_alerts_total",
        "workhours_holds_total",
        "workhours_workers_online",
        "workhours_workers_working",
        "workhours_continuous_work_open_violations",
        "workhours_continuous_work_episode_seconds",
        "workhours_daily_work_seconds",
        "workhours_watermark_lag_seconds",
        "workhours_consumer_lag_messages",
        "workhours_batch_processing_seconds",
        "workhours_producer_queue_messages",
        "workhours_producer_delivery_errors_total",
        "workhours_state_restore_records_total",
        "workhours_partition_restoring",
        "workhours_last_event_timestamp_seconds",
        "workhours_ready",
        "workhours_partitions_assigned",
        "workhours_workers_held",
        "workhours_names_held",
        "workhours_event_ids_held",
        "workhours_reorder_buffer_events",
        "workhours_reorder_buffer_limit_events",
        "workhours_input_partitions_paused",
        "workhours_late_dead_letters_held",
        "workhours_order_starts_held",
        "workhours_order_starts_held_bytes",
        "workhours_late_dead_letters_held_limit",
        "workhours_late_dead_letters_unheld_total",
        "workhours_workers_evicted_total",
        "workhours_producer_undelivered_messages",
        "workhours_producer_undelivered_oldest_seconds",
        "workhours_fenced_total",
        "workhours_commit_failures_total",
        "workhours_http_rejected_requests_total",
    ];

    /// The families declared in the text, by their `# TYPE` lines.
    fn families(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect()
    }

    /// The value of the series whose line starts with `series` (name and labels verbatim).
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .map(|v| v.parse().unwrap())
    }

    /// The rules of a pack beyond section 4 start at 0 for every platform, alerts and holds,
    /// as section 4's do: a pack rule's first alert after a restart was invisible to
    /// `increase()`.
    #[test]
    fn the_configured_packs_rules_start_at_zero() {
        let config = crate::config::Config::from_toml_str(
            "[rules.role.driver]\npack = \"eu-561\"",
            Vec::new(),
        )
        .unwrap();
        let (phases, holds) = config.alert_kinds();
        let m = Metrics::new();
        m.rules_known(phases, holds);
        m.hold_emitted("eu561_daily", "didi");
        let text = m.render();
        for (series, want) in [
            (
                r#"workhours_alerts_total{phase="violation",platform="didi",rule="eu561_break"}"#,
                0.0,
            ),
            (
                r#"workhours_alerts_total{phase="resolved",platform="didi",rule="eu561_daily"}"#,
                0.0,
            ),
            (
                r#"workhours_alerts_total{phase="violation",platform="didi",rule="daily_hours"}"#,
                0.0,
            ),
            (
                r#"workhours_holds_total{platform="didi",rule="eu561_weekly_rest"}"#,
                0.0,
            ),
            (
                r#"workhours_holds_total{platform="didi",rule="eu561_daily"}"#,
                1.0,
            ),
        ] {
            assert_eq!(value(&text, series), Some(want), "{series}\n{text}");
        }
        // No phase a rule cannot emit: eu-561's breaks have no warning.
        assert!(
            !text.contains(r#"phase="warning",platform="didi",rule="eu561_break""#),
            "{text}"
        );
    }

    /// The default pack's rules and phases are section 4's, which start at 0 already.
    #[test]
    fn the_default_packs_alert_kinds_are_section_4s() {
        let (phases, holds) = crate::config::Config::default().alert_kinds();
        let section_4: Vec<(String, &str)> = RULE_PHASES
            .iter()
            .map(|&(rule, phase)| (rule.as_str().to_owned(), phase))
            .collect();
        let mut sorted = phases.clone();
        sorted.sort();
        let mut want = section_4.clone();
        want.sort();
        assert_eq!(sorted, want);
        assert!(holds.is_empty());
    }

    /// The topics of the config known at start: every input series and every output topic's
    /// failed deliveries read 0 before anything happened (the dead-letter share was no data
    /// while every message was bad; the first failed deliveries were invisible to increase()).
    #[test]
    fn the_configured_topics_start_at_zero() {
        let m = Metrics::new();
        let (alerts, state) = ("workhours.alerts".to_owned(), "workhours.state".to_owned());
        m.topics_known(&["in".to_owned()], &[&alerts, &state]);
        m.bad_event("in", "not_json");
        let text = m.render();
        for kind in crate::event::Kind::ALL {
            let series = format!(
                r#"workhours_events_total{{kind="{}",topic="in"}}"#,
                kind.as_str()
            );
            assert_eq!(value(&text, &series), Some(0.0), "{series}\n{text}");
        }
        for reason in BadReason::ALL {
            let series = format!(
                r#"workhours_bad_events_total{{reason="{}",topic="in"}}"#,
                reason.code()
            );
            let want = if reason.code() == "not_json" {
                1.0
            } else {
                0.0
            };
            assert_eq!(value(&text, &series), Some(want), "{series}\n{text}");
        }
        for topic in [&alerts, &state] {
            let series = format!(r#"workhours_producer_delivery_errors_total{{topic="{topic}"}}"#);
            assert_eq!(value(&text, &series), Some(0.0), "{series}\n{text}");
        }
    }

    #[test]
    fn every_family_present_after_one_call_each() {
        let text = exercised().render();
        let mut found = families(&text);
        found.sort();
        let mut expected: Vec<String> = FAMILIES.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(found, expected, "{text}");
        assert_eq!(
            value(
                &text,
                r#"workhours_events_total{kind="login",topic="workhours.events"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                r#"workhours_workers_working{city="weihai",platform="meituan",role="rider"}"#
            ),
            Some(7.0)
        );
        assert_eq!(value(&text, "workhours_partitions_assigned"), Some(3.0));
        assert_eq!(value(&text, "workhours_noop_events_total"), Some(2.0));
    }

    #[test]
    fn names_follow_conventions() {
        let text = exercised().render();
        for family in families(&text) {
            assert!(family.starts_with("workhours_"), "{family}");
            let kind = text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("# TYPE {family} ")))
                .unwrap();
            assert_eq!(
                family.ends_with("_total"),
                kind == "counter",
                "{family} is a {kind}"
            );
        }
    }

    #[test]
    fn no_worker_id_anywhere() {
        let text = exercised().render();
        assert!(!text.contains("worker_id"));
        assert!(!text.contains("worker="));
    }

    #[test]
    fn histogram_edges_for_the_regulator_views() {
        let text = exercised().render();
        for edge in ["14400", "13500", "900", "28800"] {
            let series = format!(
                r#"workhours_continuous_work_episode_seconds_bucket{{city="weihai",platform="meituan",role="rider",le="{edge}"}}"#
            );
            assert!(value(&text, &series).is_some(), "{series}");
        }
        for edge in ["3600", "28800", "39600", "57600"] {
            let series = format!(
                r#"workhours_daily_work_seconds_bucket{{city="weihai",platform="meituan",role="rider",le="{edge}"}}"#
            );
            assert!(value(&text, &series).is_some(), "{series}");
        }
    }

    /// The platforms past the cap share `other`, whose alert counters start at 0 as any
    /// platform's do, so that `increase()` counts the first alert of such a platform.
    #[test]
    fn other_starts_its_alert_counters_at_zero() {
        let m = Metrics::new();
        for i in 0..=PLATFORM_CAP {
            m.last_event(&format!("p{i}"), 1.0);
        }
        let text = m.render();
        for series in [
            r#"workhours_alerts_total{phase="violation",platform="other",rule="continuous_work"}"#,
            r#"workhours_alerts_total{phase="violation",platform="other",rule="quota_p90"}"#,
            r#"workhours_alerts_total{phase="violation",platform="p0",rule="quota_p90"}"#,
        ] {
            assert_eq!(value(&text, series), Some(0.0), "{series}");
        }
    }

    #[test]
    fn platform_cap_folds_the_rest_into_other() {
        let m = Metrics::new();
        for i in 0..PLATFORM_CAP + 10 {
            m.alert_emitted("daily_hours", "warning", &format!("p{i}"));
        }
        let text = m.render();
        let platforms: HashSet<&str> = text
            .lines()
            .filter(|l| l.starts_with("workhours_alerts_total{"))
            .filter_map(|l| l.split("platform=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(platforms.len(), PLATFORM_CAP + 1);
        assert!(platforms.contains(OTHER));
        assert!(!platforms.contains(format!("p{PLATFORM_CAP}").as_str()));
        assert_eq!(
            value(
                &text,
                r#"workhours_alerts_total{phase="warning",platform="other",rule="daily_hours"}"#
            ),
            Some(10.0)
        );
        // A platform admitted first keeps its own series afterwards.
        m.alert_emitted("daily_hours", "warning", "p0");
        assert_eq!(
            value(
                &m.render(),
                r#"workhours_alerts_total{phase="warning",platform="p0",rule="daily_hours"}"#
            ),
            Some(2.0)
        );
    }

    #[test]
    fn group_cap_sums_the_workers_of_later_groups_into_other() {
        let m = Metrics::new();
        // Every combination distinct, each label within its own bound.
        let rows: Vec<_> = (0..GROUP_CAP + 100)
            .map(|i| {
                (
                    format!("p{}", i % 16),
                    format!("r{}", i / 16 % 8),
                    format!("c{}", i / 128),
                    2,
                    1,
                )
            })
            .collect();
        m.set_workers(&rows);
        let text = m.render();
        let online: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("workhours_workers_online{"))
            .collect();
        assert_eq!(online.len(), GROUP_CAP + 1);
        assert_eq!(
            value(
                &text,
                r#"workhours_workers_online{city="other",platform="other",role="other"}"#
            ),
            Some(200.0)
        );
        // Stable: the groups admitted first keep their series.
        m.set_workers(&rows[..10]);
        let text = m.render();
        assert_eq!(
            value(
                &text,
                r#"workhours_workers_online{city="c0",platform="p1",role="r0"}"#
            ),
            Some(2.0)
        );
        // The histograms' groups are bounded too.
        for (platform, role, city, ..) in &rows {
            m.day_closed(platform, role, city, 3600.0);
        }
        let text = m.render();
        let days = text
            .lines()
            .filter(|l| l.starts_with("workhours_daily_work_seconds_count{"))
            .count();
        assert_eq!(days, GROUP_CAP + 1);
    }

    #[test]
    fn city_cap_sums_workers_into_other() {
        let m = Metrics::new();
        let rows: Vec<_> = (0..CITY_CAP + 44)
            .map(|i| {
                (
                    "meituan".to_string(),
                    "rider".to_string(),
                    format!("c{i}"),
                    1,
                    1,
                )
            })
            .collect();
        m.set_workers(&rows);
        let text = m.render();
        let online = text
            .lines()
            .filter(|l| l.starts_with("workhours_workers_online{"))
            .count();
        assert_eq!(online, CITY_CAP + 1);
        assert_eq!(
            value(
                &text,
                r#"workhours_workers_online{city="other",platform="meituan",role="rider"}"#
            ),
            Some(44.0)
        );
        // Day-histogram cities are bounded too, independently of the gauges.
        for i in 0..CITY_CAP + 3 {
            m.day_closed("meituan", "rider", &format!("x{i}"), 3600.0);
        }
        let text = m.render();
        let counts = text
            .lines()
            .filter(|l| l.starts_with("workhours_daily_work_seconds_count{"))
            .count();
        assert_eq!(counts, CITY_CAP + 1);
    }

    #[test]
    fn long_values_become_other() {
        let m = Metrics::new();
        m.bad_event("t", &"x".repeat(MAX_VALUE_LEN + 1));
        assert_eq!(
            value(
                &m.render(),
                r#"workhours_bad_events_total{reason="other",topic="t"}"#
            ),
            Some(1.0)
        );
    }

    #[test]
    fn set_workers_replaces_the_previous_groups() {
        let m = Metrics::new();
        m.set_workers(&[
            ("a".into(), "rider".into(), "c1".into(), 3, 2),
            ("b".into(), "rider".into(), "c1".into(), 1, 1),
        ]);
        m.set_workers(&[("a".into(), "rider".into(), "c1".into(), 5, 4)]);
        let text = m.render();
        assert_eq!(
            value(
                &text,
                r#"workhours_workers_online{city="c1",platform="a",role="rider"}"#
            ),
            Some(5.0)
        );
        assert!(!text.contains(r#"platform="b",role"#), "{text}");
        m.set_open_violations(&[("a".into(), 1)]);
        m.set_open_violations(&[]);
        assert!(
            !m.render()
                .contains("workhours_continuous_work_open_violations{")
        );
    }

    #[test]
    fn counters_start_at_zero_for_known_values() {
        let m = Metrics::new();
        m.events_received("in", "login", 1);
        m.last_event("didi", 1.0);
        let text = m.render();
        assert_eq!(
            value(
                &text,
                r#"workhours_bad_events_total{reason="wrong_type",topic="in"}"#
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                &text,
                r#"workhours_alerts_total{phase="violation",platform="didi",rule="minimum_wage"}"#
            ),
            Some(0.0)
        );
        // Counters whose reasons are known exist at zero from the start, so that `increase()`
        // sees their first increment (and an alert rule on them needs no `or vector(0)`).
        let fresh = Metrics::new().render();
        for reason in ["stall", "lost"] {
            let series = format!(r#"workhours_fenced_total{{reason="{reason}"}}"#);
            assert_eq!(value(&fresh, &series), Some(0.0), "{series}");
        }
        for reason in ["unauthorized", "overloaded", "blocked", "timeout"] {
            let series = format!(r#"workhours_http_rejected_requests_total{{reason="{reason}"}}"#);
            assert_eq!(value(&fresh, &series), Some(0.0), "{series}");
        }
    }

    #[test]
    fn forget_partition_removes_its_series() {
        let m = exercised();
        m.set_watermark_lag(1, 2.0);
        m.forget_partition(0);
        let text = m.render();
        assert!(!text.contains(r#"partition="0""#), "{text}");
        assert!(text.contains(r#"workhours_watermark_lag_seconds{partition="1"}"#));
    }

    #[test]
    fn watermark_lag_is_recomputed_at_scrape() {
        let m = Metrics::new();
        m.set_watermark_lag(3, 10.0);
        let lag = value(
            &m.render(),
            r#"workhours_watermark_lag_seconds{partition="3"}"#,
        )
        .unwrap();
        assert!((10.0..11.0).contains(&lag), "{lag}");
    }

    #[test]
    fn last_event_keeps_the_newest() {
        let m = Metrics::new();
        m.last_event("a", 200.0);
        m.last_event("a", 100.0);
        assert_eq!(
            value(
                &m.render(),
                r#"workhours_last_event_timestamp_seconds{platform="a"}"#
            ),
            Some(200.0)
        );
    }
}
