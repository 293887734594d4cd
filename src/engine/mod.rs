//! The pure rule engine: no I/O, no clock. Events come in with [`Engine::push`]; time moves
//! only when the caller moves the watermark ([`Engine::advance`], [`Engine::advance_to`],
//! [`Engine::finish`]), and every instant before it is processed in event-time order:
//!
//! 1. a local midnight that ends a day with work (`quota_p90`, `minimum_wage`, rollover),
//! 2. the events stamped with that instant, in arrival order,
//! 3. the settling of every worker those events touched, then the workers' timers.
//!
//! One engine holds the workers of one replay or of one Kafka partition; the watermark is that
//! partition's. The engine is deterministic: the same pushes and watermark moves give the same
//! alerts in the same order.

mod ids;
mod live;
mod worker;

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

use crate::alert::{Alert, Amount, Phase, Rule, human_duration};
use crate::calendar::Calendar;
use crate::config::{Config, Rules};
use crate::event::{Event, Kind};
use ids::IdSet;
pub use live::{NamedObservation, PartitionMeta, WorkerRecord};
pub use worker::{Episode, NEVER, NONE, Worker};

/// The digest of an `event_id` that duplicate detection keeps.
pub fn id_digest(id: &str) -> u128 {
    xxh3_128(id.as_bytes())
}

/// An accepted event waiting in the reorder buffer, ordered by (`ts`, arrival).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub ts: i64,
    pub seq: u64,
    pub worker: u32,
    pub kind: Kind,
    /// Rule set of this event's (platform, role), taken by a worker's first event.
    pub rules: u16,
    pub platform: u32,
    pub role: u32,
    pub city: u32,
    /// Hash of `order_id` (orders are scoped per worker).
    pub order: u64,
    pub fee: Option<u64>,
}

// Reversed, so that `BinaryHeap` pops the earliest first.
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.ts, other.seq).cmp(&(self.ts, self.seq))
    }
}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.ts, self.seq) == (other.ts, other.seq)
    }
}
impl Eq for Pending {}

/// A worker's timer; stale entries (not equal to `Worker::wake_at`) are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Timer {
    at: i64,
    worker: u32,
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.worker).cmp(&(self.at, self.worker))
    }
}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What became of a pushed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Accepted,
    /// An earlier valid event had the same `event_id`: nothing changed.
    Duplicate,
    /// Older than the watermark: dropped, counted.
    Late,
    /// Live, after a restore: the saved state already holds this event.
    AlreadyApplied,
}

/// Counters of what the engine did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub accepted: u64,
    pub applied: u64,
    pub duplicates: u64,
    pub late: u64,
    pub noops: u64,
    pub session_timeouts: u64,
    /// Indexed by `Rule::ALL` position, then `Phase::ALL` position.
    pub alerts: [[u64; 3]; 7],
}

impl Stats {
    pub fn alerts_of(&self, rule: Rule, phase: Phase) -> u64 {
        self.alerts[rule as usize][phase as usize]
    }
}

/// Interned platform, role and city names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Names {
    list: Vec<Box<str>>,
    #[serde(skip)]
    index: FxHashMap<Box<str>, u32>,
}

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.list.len() as u32;
        self.list.push(name.into());
        self.index.insert(name.into(), id);
        id
    }

    fn get(&self, id: u32) -> &str {
        &self.list[id as usize]
    }

    fn rebuild(&mut self) {
        self.index = self
            .list
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), i as u32))
            .collect();
    }
}

/// `event_id`s already seen. Without a window every id is kept (replay); with one, ids are
/// kept in two generations rotated every `window` of event time, so each is remembered for at
/// least `window` and at most twice that (live).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Seen {
    window: Option<i64>,
    current: IdSet,
    previous: IdSet,
    rotated_at: i64,
}

impl Seen {
    /// Records an id; false when it was already there.
    fn insert(&mut self, id: u128, now: i64) -> bool {
        if let Some(window) = self.window {
            if self.rotated_at == 0 {
                self.rotated_at = now;
            } else if now.saturating_sub(self.rotated_at) >= window {
                self.previous = std::mem::take(&mut self.current);
                self.rotated_at = now;
            }
            if self.previous.contains(id) {
                return false;
            }
        }
        self.current.insert(id)
    }
}

/// The engine's whole state, serialisable so that a run can stop and go on elsewhere.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    workers: Vec<Worker>,
    names: Names,
    /// (platform, role) of each rule set, resolved from the config on restore.
    rule_keys: Vec<(u32, u32)>,
    buffer: BinaryHeap<Pending>,
    timers: BinaryHeap<Timer>,
    /// Local days that have work, with the workers that worked on them.
    day_lists: BTreeMap<i32, Vec<u32>>,
    seen: Seen,
    seq: u64,
    max_ts: Option<i64>,
    /// Every instant before this one has been processed.
    frontier: i64,
    /// Live, several co-partitioned input topics: the largest `ts` read from each.
    #[serde(default)]
    source_max: Vec<Option<i64>>,
    stats: Stats,
}

/// Measurements for histograms (live only): a closed episode or day of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// A qualifying break ended an episode of `work` ms; `worker` is its interned group.
    EpisodeEnded { worker: (u32, u32, u32), work: i64 },
    /// A local day with `work` ms ended.
    DayClosed { worker: (u32, u32, u32), work: i64 },
}

/// One partition's working time of a closed local day, for `quota_p90` across partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayReport {
    pub day: i32,
    pub start: i64,
    pub end: i64,
    /// (worker, platform, role, city, working ms) of every worker with work that day.
    pub entries: Vec<(String, String, String, String, i64)>,
}

/// What the worker code may touch besides the worker itself.
pub struct Cx<'a> {
    pub cal: &'a mut Calendar,
    pub rules: &'a [Rules],
    names: &'a Names,
    pub day_lists: &'a mut BTreeMap<i32, Vec<u32>>,
    pub stats: &'a mut Stats,
    out: &'a mut Vec<Alert>,
    observations: Option<&'a mut Vec<Observation>>,
}

impl Cx<'_> {
    fn observe(&mut self, observation: Observation) {
        if let Some(list) = self.observations.as_deref_mut() {
            list.push(observation);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        worker: &Worker,
        rule: Rule,
        phase: Phase,
        at: i64,
        amount: Amount,
        period_start: i64,
        message: String,
    ) {
        self.stats.alerts[rule as usize][phase as usize] += 1;
        self.out.push(Alert {
            rule,
            phase,
            worker_id: Some(worker.id.to_string()),
            platform: self.names.get(worker.platform).to_owned(),
            role: self.names.get(worker.role).to_owned(),
            city: self.names.get(worker.city).to_owned(),
            at,
            amount,
            period_start,
            message,
        });
    }
}

enum Limit {
    Before(i64),
    Through(i64),
}

impl Limit {
    fn allows(&self, t: i64) -> bool {
        match *self {
            Limit::Before(w) => t < w,
            Limit::Through(end) => t <= end,
        }
    }
}

pub struct Engine {
    config: Config,
    cal: Calendar,
    rule_sets: Vec<Rules>,
    rule_index: FxHashMap<(u32, u32), u16>,
    worker_index: FxHashMap<Box<str>, u32>,
    state: State,
    out: Vec<Alert>,
    touched: Vec<u32>,
    /// The first day with work and its end, cached: `run` asks for it at every instant.
    next_day: (i32, i64),
    /// Live: day reports instead of `quota_p90` alerts (the aggregate spans partitions).
    external_quota: bool,
    reports: Vec<DayReport>,
    /// Live: measurements for histograms, when enabled.
    observations: Option<Vec<Observation>>,
    /// Workers changed since the last `take_dirty`.
    dirty: Vec<u32>,
    /// Live, several input topics: which of them hold the watermark back (the others have
    /// been silent for the idle timeout).
    source_active: Vec<bool>,
}

impl Engine {
    /// An engine for replay: every `event_id` is remembered.
    pub fn new(config: Config) -> Engine {
        Engine::with_state(
            config,
            State {
                frontier: NEVER,
                ..State::default()
            },
        )
    }

    /// An engine for live use: `event_id`s are remembered for at least `window` of event time.
    pub fn with_dedup_window(config: Config, window: i64) -> Engine {
        let mut engine = Engine::new(config);
        engine.state.seen.window = Some(window);
        engine
    }

    /// Carries on from a state taken with [`Engine::state`].
    pub fn with_state(config: Config, mut state: State) -> Engine {
        state.names.rebuild();
        let rule_sets = state
            .rule_keys
            .iter()
            .map(|&(platform, role)| {
                config.rules_for(state.names.get(platform), state.names.get(role))
            })
            .collect();
        let rule_index = state
            .rule_keys
            .iter()
            .enumerate()
            .map(|(i, &key)| (key, i as u16))
            .collect();
        let worker_index = state
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| (w.id.clone(), i as u32))
            .collect();
        Engine {
            cal: Calendar::new(config.time.zone),
            config,
            rule_sets,
            rule_index,
            worker_index,
            state,
            out: Vec::new(),
            touched: Vec::new(),
            next_day: (i32::MIN, NONE),
            external_quota: false,
            reports: Vec::new(),
            observations: None,
            dirty: Vec::new(),
            source_active: Vec::new(),
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn stats(&self) -> &Stats {
        &self.state.stats
    }

    /// The largest `ts` accepted so far.
    pub fn max_ts(&self) -> Option<i64> {
        self.state.max_ts
    }

    /// Instants before this one are final: the largest `ts` minus the allowed lateness, or
    /// further where [`Engine::advance_to`] moved it.
    pub fn watermark(&self) -> i64 {
        let lateness = self.config.time.allowed_lateness;
        let everywhere = self.state.max_ts.map_or(NEVER, |max| max - lateness);
        // Several input topics: event time is that of the one furthest behind, among those
        // not silent, so that a topic read ahead does not make the other's events late.
        let from_events = if self.state.source_max.len() > 1 {
            let active = self
                .state
                .source_max
                .iter()
                .enumerate()
                .filter(|&(i, _)| self.source_active.get(i).copied().unwrap_or(true));
            active
                .map(|(_, max)| max.map_or(NEVER, |max| max - lateness))
                .min()
                .unwrap_or(everywhere)
        } else {
            everywhere
        };
        from_events.max(self.state.frontier)
    }

    /// Alerts produced since the last call, in event-time order.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.out)
    }

    pub fn worker(&self, id: &str) -> Option<&Worker> {
        self.worker_index
            .get(id)
            .map(|&i| &self.state.workers[i as usize])
    }

    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.state.workers.iter()
    }

    pub fn name(&self, id: u32) -> &str {
        self.state.names.get(id)
    }

    /// Takes a valid event. It is applied once the watermark passes its `ts`.
    pub fn push(&mut self, event: &Event<'_>) -> Pushed {
        self.push_digested(event, event.event_id.as_deref().map(id_digest))
    }

    /// Hints that an event with this `event_id` digest comes soon (see [`IdSet::prefetch`]).
    pub fn prefetch_id(&self, digest: u128) {
        self.state.seen.current.prefetch(digest);
    }

    /// [`Engine::push`] with the digest of `event.event_id` already computed.
    pub fn push_digested(&mut self, event: &Event<'_>, id: Option<u128>) -> Pushed {
        self.push_inner(event, id, None)
    }

    fn push_inner(&mut self, event: &Event<'_>, id: Option<u128>, seq: Option<u64>) -> Pushed {
        if let Some(id) = id
            && !self
                .state
                .seen
                .insert(id, event.ts.max(self.state.max_ts.unwrap_or(NEVER)))
        {
            self.state.stats.duplicates += 1;
            return Pushed::Duplicate;
        }
        if event.ts < self.watermark() {
            self.state.stats.late += 1;
            return Pushed::Late;
        }
        self.state.max_ts = Some(self.state.max_ts.map_or(event.ts, |max| max.max(event.ts)));
        let worker = match self.worker_index.get(&*event.worker_id) {
            Some(&i) => i,
            None => {
                let i = self.state.workers.len() as u32;
                self.state.workers.push(Worker::new(&event.worker_id));
                self.worker_index.insert(event.worker_id.as_ref().into(), i);
                i
            }
        };
        let (platform, role, city, rules) = self.group_of(worker, event);
        let order = event
            .order_id
            .as_deref()
            .map_or(0, |id| xxh3_64(id.as_bytes()));
        self.state.seq += 1;
        self.state.buffer.push(Pending {
            ts: event.ts,
            seq: seq.unwrap_or(self.state.seq),
            worker,
            kind: event.kind,
            rules,
            platform,
            role,
            city,
            order,
            fee: event.fee_cents,
        });
        self.state.stats.accepted += 1;
        Pushed::Accepted
    }

    /// Interned (platform, role, city) and rule set of an event. A worker's events nearly
    /// always repeat the previous group, so that is compared first, without hashing.
    fn group_of(&mut self, worker: u32, event: &Event<'_>) -> (u32, u32, u32, u16) {
        let names = &self.state.names;
        if let Some(group @ (platform, role, city, _)) =
            self.state.workers[worker as usize].pushed_group
            && names.get(platform) == event.platform
            && names.get(role) == event.role
            && names.get(city) == event.city
        {
            return group;
        }
        let platform = self.state.names.intern(&event.platform);
        let role = self.state.names.intern(&event.role);
        let city = self.state.names.intern(&event.city);
        let group = (platform, role, city, self.rule_set(platform, role));
        self.state.workers[worker as usize].pushed_group = Some(group);
        group
    }

    fn rule_set(&mut self, platform: u32, role: u32) -> u16 {
        if let Some(&i) = self.rule_index.get(&(platform, role)) {
            return i;
        }
        let rules = self
            .config
            .rules_for(self.state.names.get(platform), self.state.names.get(role));
        // Distinct (platform, role) pairs share a set when their rules are equal.
        let i = match self.rule_sets.iter().position(|known| *known == rules) {
            Some(i) => i as u16,
            None => {
                self.rule_sets.push(rules);
                self.state.rule_keys.push((platform, role));
                (self.rule_sets.len() - 1) as u16
            }
        };
        self.rule_index.insert((platform, role), i);
        i
    }

    /// Processes every instant before the event watermark (largest `ts` - lateness).
    pub fn advance(&mut self) {
        let watermark = self.watermark();
        self.run(Limit::Before(watermark));
    }

    /// Processes every instant before `watermark` (live: the wall clock moves it when a
    /// partition is idle). Events older than it are late from now on.
    pub fn advance_to(&mut self, watermark: i64) {
        self.run(Limit::Before(watermark));
    }

    /// Processes every instant up to and including `end` (replay's end of time).
    pub fn finish(&mut self, end: i64) {
        self.run(Limit::Through(end));
    }

    fn cx(&mut self) -> (&mut Vec<Worker>, Cx<'_>) {
        let state = &mut self.state;
        (
            &mut state.workers,
            Cx {
                cal: &mut self.cal,
                rules: &self.rule_sets,
                names: &state.names,
                day_lists: &mut state.day_lists,
                stats: &mut state.stats,
                out: &mut self.out,
                observations: self.observations.as_mut(),
            },
        )
    }

    fn run(&mut self, limit: Limit) {
        loop {
            let next_event = self.state.buffer.peek().map_or(NONE, |p| p.ts);
            let next_timer = self.state.timers.peek().map_or(NONE, |t| t.at);
            let next_day = self.state.day_lists.first_key_value().map(|(&day, _)| day);
            let day_end = match next_day {
                Some(day) if day == self.next_day.0 => self.next_day.1,
                Some(day) => {
                    self.next_day = (day, self.cal.day(day).end);
                    self.next_day.1
                }
                None => NONE,
            };
            let t = next_event.min(next_timer).min(day_end);
            if t == NONE || !limit.allows(t) {
                break;
            }
            if day_end == t {
                // A midnight comes before the events stamped with it: the day it ends is
                // measured on [start, end) and its groups on the events before the end.
                self.close_day(next_day.expect("a day ends"));
                continue;
            }
            self.touched.clear();
            while self.state.buffer.peek().is_some_and(|p| p.ts == t) {
                let event = self.state.buffer.pop().expect("peeked");
                let index = event.worker;
                let (workers, mut cx) = self.cx();
                let worker = &mut workers[index as usize];
                worker.advance(index, t, &mut cx);
                worker.apply(&event, &mut cx);
                cx.stats.applied += 1;
                if worker.touched_at != t {
                    worker.touched_at = t;
                    self.touched.push(index);
                }
            }
            let touched = std::mem::take(&mut self.touched);
            for &index in &touched {
                self.settle(index, t);
            }
            self.touched = touched;
            while let Some(&timer) = self.state.timers.peek() {
                if timer.at != t {
                    break;
                }
                self.state.timers.pop();
                if self.state.workers[timer.worker as usize].wake_at == t {
                    self.settle(timer.worker, t);
                }
            }
        }
        self.state.frontier = match limit {
            Limit::Before(w) => self.state.frontier.max(w),
            Limit::Through(end) => self.state.frontier.max(end.saturating_add(1)),
        };
    }

    /// Advances a worker to `t`, settles it there and sets its next timer.
    fn settle(&mut self, index: u32, t: i64) {
        let (workers, mut cx) = self.cx();
        let worker = &mut workers[index as usize];
        worker.advance(index, t, &mut cx);
        worker.settle(index, t, &mut cx);
        self.mark_dirty(index);
        self.reschedule(index);
    }

    fn mark_dirty(&mut self, index: u32) {
        let worker = &mut self.state.workers[index as usize];
        if !worker.dirty {
            worker.dirty = true;
            self.dirty.push(index);
        }
    }

    fn reschedule(&mut self, index: u32) {
        let worker = &mut self.state.workers[index as usize];
        let wake = worker.next_wake(&self.rule_sets[usize::from(worker.rules)]);
        // While a worker keeps working its next crossing stays put, so most events push
        // no timer; a timer at `since` (a settle still due there) is always pushed.
        if wake != worker.wake_at || wake == worker.since {
            worker.wake_at = wake;
            if wake != NONE {
                self.state.timers.push(Timer {
                    at: wake,
                    worker: index,
                });
            }
        }
    }

    /// The local midnight ending `day`: bring every worker who worked that day to it (which
    /// closes their day: overtime, `minimum_wage`), then report the day for `quota_p90`.
    fn close_day(&mut self, day: i32) {
        let list = self.state.day_lists.remove(&day).unwrap_or_default();
        let info = self.cal.day(day);
        let mut entries = Vec::with_capacity(list.len());
        for &index in &list {
            let (workers, mut cx) = self.cx();
            let worker = &mut workers[index as usize];
            worker.advance(index, info.end, &mut cx);
            debug_assert_eq!(worker.closed_day, day);
            let names = &self.state.names;
            let worker = &self.state.workers[index as usize];
            entries.push((
                worker.id.to_string(),
                names.get(worker.platform).to_owned(),
                names.get(worker.role).to_owned(),
                names.get(worker.city).to_owned(),
                worker.closed_work,
            ));
            self.mark_dirty(index);
            self.reschedule(index);
        }
        let report = DayReport {
            day,
            start: info.start,
            end: info.end,
            entries,
        };
        if self.external_quota {
            self.reports.push(report);
        } else {
            for alert in quota_alerts(&self.config, &report) {
                self.state.stats.alerts[Rule::QuotaP90 as usize][Phase::Violation as usize] += 1;
                self.out.push(alert);
            }
        }
    }
}

/// `quota_p90` for one closed day: per (platform, role, city) of at least `quota_min_workers`
/// workers, a violation when the nearest-rank 90th percentile of the day's working time is
/// above `daily_standard`. Groups come out sorted by name.
pub fn quota_alerts(config: &Config, report: &DayReport) -> Vec<Alert> {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<i64>> = BTreeMap::new();
    for (_, platform, role, city, work) in &report.entries {
        groups
            .entry((platform, role, city))
            .or_default()
            .push(*work);
    }
    let mut alerts = Vec::new();
    for ((platform, role, city), mut hours) in groups {
        let rules = config.rules_for(platform, role);
        let n = hours.len();
        if n < rules.quota_min_workers as usize {
            continue;
        }
        hours.sort_unstable();
        // Nearest rank: the ceil(0.9 n)-th smallest value.
        let p90 = hours[(9 * n).div_ceil(10) - 1];
        if p90 > rules.daily_standard {
            let message = format!(
                "90% of {role}s of {platform} in {city} worked up to {} on {}, above the standard working day of {} ({n} workers).",
                human_duration(p90),
                Calendar::date(report.day),
                human_duration(rules.daily_standard)
            );
            alerts.push(Alert {
                rule: Rule::QuotaP90,
                phase: Phase::Violation,
                worker_id: None,
                platform: platform.to_owned(),
                role: role.to_owned(),
                city: city.to_owned(),
                at: report.end,
                amount: Amount::Seconds {
                    value: p90.div_euclid(1000),
                    limit: rules.daily_standard / 1000,
                },
                period_start: report.start,
                message,
            });
        }
    }
    alerts
}

#[cfg(test)]
mod tests;
