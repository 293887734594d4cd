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

mod buffer;
mod hint;
mod ids;
mod index;
mod key;
mod lines;
mod live;
pub mod measure;
pub mod rules;
mod worker;

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_64;

use std::sync::Arc;

use crate::alert::{Alert, Amount, Hold, Phase, human_duration, human_limit, role_plural};
use crate::calendar::{Calendar, Day};
use crate::config::Subject;
use crate::config::{Config, PackSource, Rules};
use crate::event::{Activity, BadEvent, BadReason, Event, Kind};
use crate::keyed::KeyedMap;
use crate::pack::{DEFAULT_PACK, PackError};
pub use ids::{Admit, Dedup, id_digest};
use key::IdKey;
use lines::LineVec;
pub use live::{NamedObservation, PartitionMeta, SavedWorkers, WorkerRecord};
pub use rules::continuous::Episode;
use rules::{Params, RuleDef};
pub use worker::{
    MAX_ACTIVE_ORDERS, MAX_MEMBERS, Member, NEVER, NONE, OpenHold, Order, Session, Worker,
};

/// How many events ahead of the one applied [`Engine::prefetch_ahead`] asks for a worker's
/// own struct, and for what it points to.
const PREFETCH_FAR: usize = 8;
const PREFETCH_NEAR: usize = 3;

/// The shortest stretch of event time a replay runs past the engines' next instant before it
/// hands on the outputs ([`Engine::slice_end`], [`stretch`]).
pub const SLICE: i64 = 3_600_000;
/// The longest such stretch.
const LONGEST_STRETCH: i64 = 30 * 86_400_000;
/// Worker-hours of event time in a stretch: a stretch is this many hours over the workers
/// held, between [`SLICE`] and [`LONGEST_STRETCH`].
pub const STRETCH_WORKER_HOURS: i64 = 100_000;

/// The length of a replay's stretch of event time with `workers` workers held, and
/// `worker_hours` worker-hours a stretch ([`STRETCH_WORKER_HOURS`]; tests take fewer). The
/// alerts a stretch holds grow with its worker-hours (a worker's rules fire a few times a day
/// at most), so they stay about the same whatever the workers, while few workers over a long
/// time (an event an hour for years) still run in few stretches.
pub fn stretch(workers: usize, worker_hours: i64) -> i64 {
    let workers = i64::try_from(workers.max(1)).unwrap_or(i64::MAX);
    (SLICE.saturating_mul(worker_hours) / workers).clamp(SLICE, LONGEST_STRETCH)
}

/// Where a stretch that starts at `next` (the engines' next instant) ends, with `workers`
/// held: a [`stretch`] later, at most `to`.
pub fn stretch_end(next: i64, workers: usize, worker_hours: i64, to: i64) -> i64 {
    next.saturating_add(stretch(workers, worker_hours)).min(to)
}

/// Persons: the sort key of a subject, by namespace (a person id and a worker id never meet).
fn subject_key(person: bool, id: &str) -> String {
    format!("{}\u{1f}{id}", if person { 'p' } else { 'w' })
}

/// The rules of one (platform, role): the pack in force, resolved with the rule keys in force.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// The pack's name.
    pub pack: Arc<str>,
    /// The rules, in the pack's order: private, so that `stateful`, derived from them, cannot
    /// go stale ([`RuleSet::rules`] reads them).
    rules: Vec<RuleDef>,
    /// Section 3's `session_timeout` (not a rule: it changes the working time itself).
    pub session_timeout: i64,
    /// `daily_standard` and `daily_max` in force (reports).
    pub daily_standard: i64,
    pub daily_max: i64,
    /// The measures any rule reads (its measure, `rest_unless`, `elapsed_from`, `work` and
    /// `orders` for an allowance): a change of the others concerns no rule.
    pub relevant: measure::Bits,
    /// The rules of `rules` that keep a state ([`rules::stateful`]), in order: a worker's
    /// states are theirs, one each. Found once here, not at each of an event's passes over
    /// the rules.
    stateful: Vec<RuleDef>,
}

impl RuleSet {
    /// The rules, in the pack's order.
    pub fn rules(&self) -> &[RuleDef] {
        &self.rules
    }

    /// The rules that keep a state, in order ([`rules::stateful`]).
    #[inline]
    pub fn stateful(&self) -> std::slice::Iter<'_, RuleDef> {
        self.stateful.iter()
    }

    /// The pack of `rules.pack_source()` resolved for `role`.
    pub fn resolve(config: &Config, rules: &Rules, role: &str) -> Result<RuleSet, PackError> {
        let source = rules.pack_source();
        let pack = config
            .pack(&source)
            .ok_or_else(|| PackError::Unknown(rules.pack.clone()))?;
        let mut defs = pack.resolve(rules, role)?;
        // SPEC 8: `holiday_pay` is on when `holidays` is set, whatever the pack. A pack with
        // no rule of that kind (every shipped pack but the default) gets the default pack's,
        // last, unless a rule of its own already has that id.
        if config.holidays.is_some()
            && !defs
                .iter()
                .any(|def| matches!(def.params, Params::HolidayPay(_)) || &*def.id == "holiday_pay")
        {
            // The default pack is always loaded ([`Config`]'s packs): not parsed again for
            // every new (platform, role).
            let default = config
                .pack(&PackSource::Shipped(DEFAULT_PACK.into()))
                .ok_or_else(|| PackError::Unknown(DEFAULT_PACK.into()))?;
            defs.extend(default.resolve_where(rules, role, |spec| spec.kind == "holiday_pay")?);
        }
        for def in &mut defs {
            def.configure(config.holidays.is_some());
        }
        let relevant = defs.iter().fold(measure::Measure::Work.bit(), |bits, def| {
            bits | def.measure.bit()
                | def.rest_unless.map_or(0, measure::Measure::bit)
                | def.elapsed_from.map_or(0, measure::Measure::bit)
                | def.allowance.map_or(0, |_| {
                    measure::Measure::Work.bit() | measure::Measure::Orders.bit()
                })
        });
        Ok(RuleSet {
            pack: Arc::from(pack.name.as_str()),
            stateful: rules::stateful(&defs).cloned().collect(),
            rules: defs,
            session_timeout: rules.session_timeout,
            daily_standard: rules.daily_standard,
            daily_max: rules.daily_max,
            relevant,
        })
    }

    /// The `quota_p90` rule, when the pack has one.
    pub fn quota(&self) -> Option<(&RuleDef, &rules::quota::Params)> {
        self.rules.iter().find_map(|def| match &def.params {
            Params::QuotaP90(p) => Some((def, p)),
            _ => None,
        })
    }
}

/// A worker's closed local day with work (reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedWorkerDay {
    pub worker_id: String,
    pub platform: String,
    pub role: String,
    pub city: String,
    /// Local day number (days since 1970-01-01).
    pub day: i32,
    /// Working time (section 3) that day, ms.
    pub work: i64,
    /// The worker's rule set (its `daily_standard` and `daily_max`).
    pub rules: u16,
    /// Persons: the person, and the person's working time that day over all worker ids.
    pub person_id: Option<String>,
    pub person_work: Option<i64>,
}

/// The worker a rule speaks for, at an instant.
#[derive(Debug, Clone, Copy)]
pub struct Me<'a> {
    pub index: u32,
    /// Not a `&str`: its bytes are checked as UTF-8 only when an alert names it, not at every
    /// instant of every worker.
    pub id: &'a IdKey,
    /// Interned (platform, role, city).
    pub group: (u32, u32, u32),
    /// The local day of the instant.
    pub day: Day,
    /// `id` is a `person_id` (SPEC section 8): alerts name the person, not a worker.
    pub person: bool,
    /// Persons: the subject's worker ids.
    pub members: &'a [Member],
}

impl Me<'_> {
    /// The subject as an alert's message names it: "Worker w1", or "Person P1" under
    /// `subject = "person"` (SPEC section 8).
    pub fn who(&self) -> impl std::fmt::Display + '_ {
        struct Who<'b>(&'b str, &'b IdKey);
        impl std::fmt::Display for Who<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{} {}", self.0, self.1)
            }
        }
        Who(if self.person { "Person" } else { "Worker" }, self.id)
    }
}

/// The digest of an event's (`worker_id`, `event_id`), when it has an id.
pub fn event_digest(event: &Event<'_>) -> Option<u64> {
    event
        .event_id
        .as_deref()
        .map(|id| id_digest(&event.worker_id, id))
}

/// Whether two names are equal: the usual short ones (a platform, a role, a city code) word by
/// word in line, without a call to `memcmp` (three an event).
#[inline]
/// Raises a running maximum (event time read so far) to `ts`.
fn raise(max: &mut Option<i64>, ts: i64) {
    *max = Some(max.map_or(ts, |m| m.max(ts)));
}

fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let half = |bytes: &[u8], at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    match n {
        // Two words that overlap cover the whole name.
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
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
    /// `fee_cents` when [`Pending::has_fee`] (apart, so that the event fits a cache line).
    pub fee_cents: u64,
    pub has_fee: bool,
    /// `activity` events: the activity declared.
    #[serde(default)]
    pub activity: Activity,
    /// Persons: the index of the event's worker id among the person's (0 for a worker), or
    /// [`MOVES`].
    #[serde(default)]
    pub member: u16,
    /// The digest of (`worker_id`, `event_id`), 0 when the event has no `event_id`: a copy
    /// of the event with an earlier `ts` may cancel it ([`Engine::cancel`]).
    #[serde(default)]
    pub id: u64,
}

/// [`Pending::member`] of a move, not an event: a worker id leaving the subject it stood alone
/// in (`worker`, its only member) for the person it now belongs to (`order`: that subject's
/// slot in the high 32 bits, the worker id's index among its worker ids in the low ones),
/// just before the event that says so ([`Engine::push_move`]). A marker rather than a field.
pub const MOVES: u16 = u16::MAX;

impl Pending {
    pub fn moves(&self) -> bool {
        self.member == MOVES
    }

    /// The event's `fee_cents`, when it has one.
    pub fn fee(&self) -> Option<u64> {
        self.has_fee.then_some(self.fee_cents)
    }
}

impl buffer::Keyed for Pending {
    /// A move comes before the event it was pushed with (same `ts` and `seq`).
    type Key = (i64, u64, bool);
    fn key(&self) -> (i64, u64, bool) {
        (self.ts, self.seq, !self.moves())
    }
}

// Reversed, so that `BinaryHeap` pops the earliest first.
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        use buffer::Keyed;
        other.key().cmp(&self.key())
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

/// A worker's timer; stale entries (not equal to `Worker::wake_at`) are skipped. Timers at
/// one instant run in the order of the workers' first events (`rank`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Timer {
    at: i64,
    #[serde(default)]
    rank: u64,
    worker: u32,
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.rank, other.worker).cmp(&(self.at, self.rank, self.worker))
    }
}

/// A worker's `worker_ttl` deadline; stale entries are re-pushed. Deadlines at one instant run
/// in worker order. 16 bytes where a [`Timer`] takes 24 (one per worker; memory per worker is a
/// target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Eviction {
    at: i64,
    worker: u32,
}
impl Ord for Eviction {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.worker).cmp(&(self.at, self.worker))
    }
}
impl PartialOrd for Eviction {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A worker marked as working on a local day and the step that marked it, which places it
/// among the day's workers at midnight (`Step::mark`). 24 bytes where `(Step, u32)` took 56
/// (one per worker and day with work; memory per worker is a target).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayMark {
    t: i64,
    key: u64,
    pub worker: u32,
    class: u8,
}

impl DayMark {
    pub fn new(step: Step, worker: u32) -> DayMark {
        DayMark {
            t: step.t,
            key: step.key,
            worker,
            class: step.class,
        }
    }
}

/// The marks of one day's list that no longer count: per slot, how many of that slot's first
/// marks in the list (a slot reused the same day marks the day again, after them). They are
/// passed over when the day closes, or taken out in one pass once they are half the list, so
/// that forgetting a worker costs a constant on average and the list stays within twice the
/// day's workers still held (a worker forgotten and back again and again within a day left a
/// mark each time).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Unmarked {
    total: usize,
    by_slot: FxHashMap<u32, u32>,
}

impl Unmarked {
    /// Whether `index`'s next mark in the list is one that no longer counts (then it is
    /// counted as passed over).
    fn pass(&mut self, index: u32) -> bool {
        if self.total == 0 {
            return false;
        }
        match self.by_slot.get_mut(&index) {
            Some(count) if *count > 0 => {
                *count -= 1;
                self.total -= 1;
                true
            }
            _ => false,
        }
    }
}

/// A step of the engine's processing, in its order: at instant `t`, first the day that ends
/// (`DAY`: its workers in the order they were marked as working that day, `mark`, then the
/// `quota_p90` groups), then each event (`EVENT`, by arrival `key`), then each worker those
/// events touched (`TOUCHED`, by the first such event), then the workers' timers (`TIMER`, by
/// rank). An output's place is its step and its number within the step: an engine sharded by
/// worker gives the same outputs, merged by it, as one engine in its emission order.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Step {
    pub t: i64,
    pub class: u8,
    pub mark: (i64, u8, u64),
    pub key: u64,
}

impl Step {
    /// No step (a [`Cx`] that emits nothing in order).
    pub const NONE: Step = Step {
        t: 0,
        class: 0,
        mark: (0, 0, 0),
        key: 0,
    };
    pub const DAY: u8 = 0;
    pub const EVENT: u8 = 1;
    pub const TOUCHED: u8 = 2;
    pub const TIMER: u8 = 3;

    fn plain(t: i64, class: u8, key: u64) -> Step {
        Step {
            t,
            class,
            mark: (0, 0, 0),
            key,
        }
    }

    /// The step of the `quota_p90` alerts of the day ending at `t`: after its workers.
    pub fn quota(t: i64) -> Step {
        Step {
            t,
            class: Step::DAY,
            mark: (i64::MAX, u8::MAX, u64::MAX),
            key: 0,
        }
    }
}

/// An output's place in the processing order: its step and its number within the step.
///
/// It is bookkeeping, not content: two places are always equal, so alerts and holds compare
/// by what is written; a merge orders by [`Place::key`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Place(pub Step, pub u32);

impl Place {
    /// The key a merge sorts outputs by.
    pub fn key(&self) -> (Step, u32) {
        (self.0, self.1)
    }
}

impl PartialEq for Place {
    fn eq(&self, _: &Place) -> bool {
        true
    }
}

impl Eq for Place {}
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
    /// Accepted in place of a copy (same `event_id`) with a later `ts` that waits in the
    /// reorder buffer: that copy is now the duplicate, dropped when its instant comes.
    Replaced,
}

impl Pushed {
    /// The event is in the reorder buffer.
    pub fn accepted(self) -> bool {
        matches!(self, Pushed::Accepted | Pushed::Replaced)
    }
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
    /// Valid events refused when applied (`too_many_orders`): bad events, no state change.
    #[serde(default)]
    pub rejected: u64,
    /// Workers forgotten after `worker_ttl` without an event.
    #[serde(default)]
    pub evicted: u64,
    /// Alerts per rule id, by `Phase::ALL` position.
    pub alerts: BTreeMap<String, [u64; 3]>,
    /// Dispatch holds emitted.
    #[serde(default)]
    pub holds: u64,
    /// Years of days with work that the holiday calendar (`[time] holidays`) has no table for:
    /// `holiday_pay` judged none of their days (reported, not read as years without holidays).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub uncovered_years: BTreeSet<i32>,
}

impl Stats {
    /// Adds another engine's counts (a sharded replay).
    pub fn merge(&mut self, other: &Stats) {
        self.accepted += other.accepted;
        self.applied += other.applied;
        self.duplicates += other.duplicates;
        self.late += other.late;
        self.noops += other.noops;
        self.session_timeouts += other.session_timeouts;
        self.rejected += other.rejected;
        self.evicted += other.evicted;
        self.holds += other.holds;
        self.uncovered_years.extend(&other.uncovered_years);
        for (rule, counts) in &other.alerts {
            let mine = self.alerts.entry(rule.clone()).or_default();
            for (a, b) in mine.iter_mut().zip(counts) {
                *a += b;
            }
        }
    }

    pub fn alerts_of(&self, rule: &str, phase: Phase) -> u64 {
        self.alerts
            .get(rule)
            .map_or(0, |counts| counts[phase as usize])
    }
}

/// Interned platform, role and city names, counted by their holders (workers, buffered
/// events, rule sets), so that a name no one holds is forgotten: memory follows the workers
/// seen within `worker_ttl`, not every name ever sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Names {
    list: Vec<Box<str>>,
    refs: Vec<u32>,
    #[serde(skip)]
    index: KeyedMap<Box<str>, u32>,
    #[serde(skip)]
    free: Vec<u32>,
    /// Per id, how many times it was freed: a cache keyed by ids ([`RuleIndex`]) tells an
    /// entry of a name since forgotten, whose id may now be another name's, by it.
    #[serde(skip)]
    gens: Vec<u32>,
}

impl Names {
    /// The id of `name`, with one more reference to it.
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            self.refs[id as usize] += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.list[id as usize] = name.into();
                self.refs[id as usize] = 1;
                id
            }
            None => {
                self.list.push(name.into());
                self.refs.push(1);
                self.gens.push(0);
                (self.list.len() - 1) as u32
            }
        };
        self.index.insert(name.into(), id);
        id
    }

    /// One more reference to a name already held.
    fn hold(&mut self, id: u32) {
        self.refs[id as usize] += 1;
    }

    /// Drops one reference; true when that was the last (the id is free from now on).
    #[inline]
    fn release(&mut self, id: u32) -> bool {
        let refs = &mut self.refs[id as usize];
        *refs -= 1;
        if *refs > 0 {
            return false;
        }
        self.free_id(id);
        true
    }

    /// Forgets the name of `id`, released for the last time. Out of line: every event releases
    /// the names its pending entry held, and nearly always others still hold them.
    #[cold]
    #[inline(never)]
    fn free_id(&mut self, id: u32) {
        let name = std::mem::take(&mut self.list[id as usize]);
        self.index.remove(&name);
        self.free.push(id);
        self.gens[id as usize] = self.gens[id as usize].wrapping_add(1);
    }

    /// How many times `id` was freed (see `gens`).
    fn generation(&self, id: u32) -> u32 {
        self.gens[id as usize]
    }

    fn get(&self, id: u32) -> &str {
        &self.list[id as usize]
    }

    /// Names held now.
    fn len(&self) -> usize {
        self.index.len()
    }

    fn rebuild(&mut self) {
        self.index.clear();
        self.free.clear();
        for (i, name) in self.list.iter().enumerate() {
            if self.refs.get(i).copied().unwrap_or(0) > 0 {
                self.index.insert(name.clone(), i as u32);
            } else {
                self.free.push(i as u32);
            }
        }
        self.refs.resize(self.list.len(), 0);
        self.gens.resize(self.list.len(), 0);
    }
}

/// The rule set of each (platform, role) pair of name ids seen, a cache in front of
/// resolving the pair's rules from the config. An entry records the generations its ids had
/// ([`Names::generation`]): once either name has been forgotten (and its id perhaps given to
/// another name) the entry no longer matches. Entries left so are dropped in one sweep once
/// as many names have been freed as the cache holds entries, or once it has doubled since
/// the last sweep: a sweep costs its size, so each name freed costs O(1) on average (a sweep
/// at every name freed cost the whole cache each time, about 1 ms with 200,000 names held:
/// a producer sending ever new platform names slowed the engine a hundredfold, audit BJ).
#[derive(Debug, Default)]
struct RuleIndex {
    map: FxHashMap<(u32, u32), (u16, u32, u32)>,
    /// Names freed since the last sweep.
    freed: usize,
    /// Entries after the last sweep.
    kept: usize,
    /// Entries visited by sweeps, in all (tests: that sweeps cost O(1) a name freed).
    #[cfg(test)]
    swept: usize,
}

/// A sweep waits for at least this many names freed or entries added.
const RULE_INDEX_SLACK: usize = 64;

impl RuleIndex {
    fn of(keys: &[(u32, u32)], names: &Names) -> RuleIndex {
        let mut index = RuleIndex::default();
        for (i, &(platform, role)) in keys.iter().enumerate() {
            index.insert(platform, role, i as u16, names);
        }
        index.kept = index.map.len();
        index
    }

    /// The set of `(platform, role)`, if the entry is of these names.
    fn get(&self, platform: u32, role: u32, names: &Names) -> Option<u16> {
        let &(set, p, r) = self.map.get(&(platform, role))?;
        Self::current(platform, role, (p, r), names).then_some(set)
    }

    /// Whether an entry made when its ids had generations `made` is still of their names.
    /// An entry is made for names held, so a name freed since has another generation.
    fn current(platform: u32, role: u32, made: (u32, u32), names: &Names) -> bool {
        made == (names.generation(platform), names.generation(role))
    }

    fn insert(&mut self, platform: u32, role: u32, set: u16, names: &Names) {
        let entry = (set, names.generation(platform), names.generation(role));
        self.map.insert((platform, role), entry);
        if self.map.len() > 2 * self.kept.max(RULE_INDEX_SLACK) {
            self.sweep(names);
        }
    }

    /// Counts `count` names freed; sweeps when they are as many as the entries.
    fn freed(&mut self, count: usize, names: &Names) {
        self.freed += count;
        if self.freed >= self.map.len().max(RULE_INDEX_SLACK) {
            self.sweep(names);
        }
    }

    /// Drops the entries of names no longer held.
    fn sweep(&mut self, names: &Names) {
        #[cfg(test)]
        {
            self.swept += self.map.len();
        }
        self.map.retain(|&(platform, role), &mut (_, p, r)| {
            Self::current(platform, role, (p, r), names)
        });
        self.freed = 0;
        self.kept = self.map.len();
    }
}

/// The engine's whole state, serialisable so that a run can stop and go on elsewhere.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Each worker's state at a cache line's start ([`LineVec`]).
    workers: LineVec<Worker>,
    names: Names,
    /// (platform, role) of each rule set, resolved from the config on restore.
    rule_keys: Vec<(u32, u32)>,
    buffer: buffer::MinQueue<Pending>,
    timers: BinaryHeap<Timer>,
    /// Local days that have work, with the workers that worked on them and the step that
    /// marked each.
    day_lists: BTreeMap<i32, Vec<DayMark>>,
    /// Marks in `day_lists` that no longer count: workers forgotten (`worker_ttl`) on a day
    /// they had marked ([`Unmarked`]). Taking each mark out of the list when its worker was
    /// forgotten scanned the list: with a `worker_ttl` under a day, time quadratic in the
    /// workers of a day.
    #[serde(default)]
    unmarked: BTreeMap<i32, Unmarked>,
    /// `event_id`s within the `dedup_window`.
    #[serde(default)]
    dedup: Dedup,
    /// Each worker's `worker_ttl` deadline (last event + ttl); stale entries are re-pushed.
    #[serde(default)]
    evictions: BinaryHeap<Eviction>,
    /// Slots of forgotten workers, for reuse.
    #[serde(default)]
    free: Vec<u32>,
    /// Persons: the person of each worker id seen with one.
    #[serde(default)]
    person_of: KeyedMap<Box<str>, Box<str>>,
    seq: u64,
    max_ts: Option<i64>,
    /// Every instant before this one has been processed.
    frontier: i64,
    /// Live, several co-partitioned input topics: the largest `ts` read from each.
    #[serde(default)]
    source_max: Vec<Option<i64>>,
    stats: Stats,
}

/// Measurements for histograms (live only): a closed episode or day of one worker, named
/// with its group when made ([`NamedObservation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// A qualifying break ended an episode of `work` ms.
    EpisodeEnded { work: i64 },
    /// A local day with `work` ms ended.
    DayClosed { work: i64 },
    /// A worker's events (or its saved state, at a restore) name this group: its histogram
    /// series exist from now on, at zero, so that `increase()` counts the first day closed.
    GroupSeen,
}

/// What bounds an engine's memory (SPEC section 5), for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    pub workers: usize,
    pub names: usize,
    pub ids: usize,
    pub buffered: usize,
    /// Worker slots, free ones included.
    pub slots: usize,
    /// Timer and `worker_ttl` deadline entries, stale ones included.
    pub timers: usize,
    /// Workers listed as changed for the state topic (live).
    pub changed: usize,
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

/// A group's names: platform, role, city.
pub type GroupNames = (Box<str>, Box<str>, Box<str>);

/// One engine's working time of a closed local day by group, which is all `quota_p90` reads:
/// 8 bytes a worker, where a [`DayReport`] entry holds the worker's id and names as strings
/// (about 230 bytes with their allocations). A sharded replay holds a day's of every worker at
/// once, when its memory peaks (memory per worker is a target).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayHours {
    pub day: i32,
    pub start: i64,
    pub end: i64,
    /// The working ms of every worker with work that day, by (platform, role, city).
    pub groups: BTreeMap<GroupNames, Vec<i64>>,
}

impl DayHours {
    /// Adds another engine's working time of the same day.
    pub fn merge(&mut self, other: DayHours) {
        for (group, mut hours) in other.groups {
            self.groups.entry(group).or_default().append(&mut hours);
        }
    }

    /// `quota_p90` of the day, as [`quota_alerts`] of a report with these groups (each group's
    /// hours are sorted on the way).
    pub fn quota_alerts(&mut self, config: &Config) -> Vec<Alert> {
        let groups = self
            .groups
            .iter_mut()
            .map(|((p, r, c), hours)| ((&**p, &**r, &**c), hours.as_mut_slice()));
        group_quota_alerts(config, self.day, self.start, self.end, groups)
    }
}

/// A closing day's working times as they are gathered: named per worker (live), or by group.
enum DayTally {
    Named(Vec<(String, String, String, String, i64)>),
    Grouped(FxHashMap<(u32, u32, u32), Vec<i64>>),
}

impl DayTally {
    fn add(&mut self, names: &Names, id: &str, group: (u32, u32, u32), work: i64) {
        match self {
            DayTally::Named(entries) => entries.push((
                id.to_owned(),
                names.get(group.0).to_owned(),
                names.get(group.1).to_owned(),
                names.get(group.2).to_owned(),
                work,
            )),
            DayTally::Grouped(groups) => groups.entry(group).or_default().push(work),
        }
    }
}

/// What the worker code may touch besides the worker itself.
pub struct Cx<'a> {
    pub cal: &'a mut Calendar,
    pub sets: &'a [RuleSet],
    names: &'a Names,
    pub day_lists: &'a mut BTreeMap<i32, Vec<DayMark>>,
    pub stats: &'a mut Stats,
    out: &'a mut Vec<Alert>,
    pub holds: &'a mut Vec<Hold>,
    observations: Option<&'a mut Vec<NamedObservation>>,
    days: Option<&'a mut Vec<ClosedWorkerDay>>,
    /// The statutory-holiday calendar, when configured (`holiday_pay`).
    pub holidays: Option<&'a crate::holidays::Holidays>,
    /// Workers may skip work known to change nothing (their cached next point); off only to
    /// test that it changes nothing.
    pub shortcuts: bool,
    /// The instant from which the rules hold: a restored worker may have been saved as of an
    /// instant before its engine's saved frontier (nothing was due for it), and the rule values
    /// may have changed at the restart (SPEC section 5: they apply from the restart on). A
    /// threshold the worker's state reached before this instant under the current values is
    /// reached at it ([`rules::RuleState::crossing_from`]). Under unchanged values no such
    /// threshold exists (it was the worker's timer, run before the save). [`NEVER`] but live,
    /// restored.
    pub rules_from: i64,
    /// The step being processed, and the outputs emitted in it so far. Borrowed: a copy
    /// loaded the step in 16-byte pieces just after [`Engine::enter`] stored it field by
    /// field, which the processor cannot forward (a stall at every event).
    pub step: &'a Step,
    emitted: &'a mut u32,
}

impl Cx<'_> {
    /// Whether the engine keeps closed worker-days (reports).
    pub fn tracks_days(&self) -> bool {
        self.days.is_some()
    }

    /// A worker's day with work closed (kept when the engine tracks days, for reports); for a
    /// person's worker id, the person and the person's working time that day.
    pub fn day_closed(
        &mut self,
        worker_id: &str,
        group: (u32, u32, u32),
        rules: u16,
        day: i32,
        work: i64,
        person: Option<(&str, i64)>,
    ) {
        if let Some(days) = self.days.as_deref_mut() {
            let (platform, role, city) = group;
            days.push(ClosedWorkerDay {
                worker_id: worker_id.to_owned(),
                platform: self.names.get(platform).to_owned(),
                role: self.names.get(role).to_owned(),
                city: self.names.get(city).to_owned(),
                day,
                work,
                rules,
                person_id: person.map(|(id, _)| id.to_owned()),
                person_work: person.map(|(_, work)| work),
            });
        }
    }

    /// A measurement of the worker of interned `group`.
    pub fn observe(&mut self, group: (u32, u32, u32), observation: Observation) {
        if let Some(list) = self.observations.as_deref_mut() {
            list.push(NamedObservation::new(self.names, group, observation));
        }
    }

    /// An alert of rule `def` about the worker `me`; `split` is a person's measured time per
    /// platform (empty for a worker).
    #[allow(clippy::too_many_arguments)]
    pub fn emit(
        &mut self,
        me: &Me<'_>,
        def: &RuleDef,
        phase: Phase,
        at: i64,
        amount: Amount,
        period_start: i64,
        message: String,
        split: rules::ByPlatform,
    ) {
        self.emit_after(
            me,
            def,
            phase,
            at,
            amount,
            (period_start, 0),
            message,
            split,
        );
    }

    /// [`Cx::emit`] with the count of reset rests after which a `period` rule fires again
    /// within its period ([`Alert::resets`]), beside the period start.
    #[allow(clippy::too_many_arguments)]
    pub fn emit_after(
        &mut self,
        me: &Me<'_>,
        def: &RuleDef,
        phase: Phase,
        at: i64,
        amount: Amount,
        (period_start, resets): (i64, u16),
        message: String,
        split: rules::ByPlatform,
    ) {
        match self.stats.alerts.get_mut(&*def.id) {
            Some(counts) => counts[phase as usize] += 1,
            None => {
                let mut counts = [0; 3];
                counts[phase as usize] = 1;
                self.stats.alerts.insert(def.id.to_string(), counts);
            }
        }
        let order = Place(*self.step, *self.emitted);
        *self.emitted += 1;
        let (platform, role, city) = me.group;
        let by_platform = me.person.then(|| {
            let mut parts: Vec<(String, i64)> = split
                .into_iter()
                .map(|(p, ms)| (p.into(), ms.div_euclid(1000)))
                .collect();
            parts.sort();
            parts
        });
        self.out.push(Alert {
            rule: def.id.clone(),
            kind: def.params.kind(),
            phase,
            worker_id: (!me.person).then(|| me.id.as_str().to_owned()),
            person_id: me.person.then(|| me.id.as_str().to_owned()),
            by_platform,
            order,
            platform: self.names.get(platform).to_owned(),
            role: self.names.get(role).to_owned(),
            city: self.names.get(city).to_owned(),
            at,
            amount,
            period_start,
            resets,
            message,
        });
    }

    /// A dispatch hold of rule `def` (when the rule has `hold = true`) from `from` to `until`.
    pub fn hold(&mut self, me: &Me<'_>, def: &RuleDef, from: i64, until: i64, reason: String) {
        if !def.hold {
            return;
        }
        self.stats.holds += 1;
        let order = Place(*self.step, *self.emitted);
        *self.emitted += 1;
        self.holds.push(Hold {
            order,
            rule: def.id.clone(),
            worker_id: me.id.as_str().to_owned(),
            person_id: me.person.then(|| me.id.as_str().to_owned()),
            // The person's worker ids at `from`: not one whose first event, read already, is
            // still to come in event time (its content would depend on where a block ends).
            // Sorted: the members' order is that of arrival, which lateness may swap.
            worker_ids: {
                let mut ids: Vec<String> = me
                    .members
                    .iter()
                    .filter(|m| m.last_event != NEVER)
                    .map(|m| m.id.to_string())
                    .collect();
                ids.sort_unstable();
                ids
            },
            from,
            until: until.max(from),
            reason,
            platform: self.names.get(me.group.0).to_owned(),
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
    rule_sets: Vec<RuleSet>,
    rule_index: RuleIndex,
    worker_index: index::WorkerIndex,
    state: State,
    out: Vec<Alert>,
    holds: Vec<Hold>,
    /// Workers touched by the events of the current instant, with the first such event's seq.
    touched: Vec<(u32, u64)>,
    /// The first day with work and its end, cached: `run` asks for it at every instant.
    next_day: (i32, i64),
    /// Live: day reports instead of `quota_p90` alerts (the aggregate spans partitions).
    external_quota: bool,
    reports: Vec<DayReport>,
    /// Sharded replay: the working time of closed days by group, for the caller to merge.
    day_hours: Vec<DayHours>,
    /// Live: measurements for histograms, when enabled.
    observations: Option<Vec<NamedObservation>>,
    /// The timer heap's length at which its stale entries are dropped next
    /// ([`Engine::compact_timers`]).
    compact_timers_at: usize,
    /// Tests: entries of the day lists read, to close the days and to forget workers.
    #[cfg(test)]
    day_marks_read: usize,
    /// Worker-hours of event time a replay's stretch covers ([`Engine::slice_end`]).
    stretch_worker_hours: i64,
    /// Live: workers changed since the last `take_dirty` (their records go to the state topic).
    /// `None` elsewhere: a replay takes no records, and the list grew by a slot for every
    /// worker (and again each time a forgotten worker's slot was reused).
    dirty: Option<Vec<u32>>,
    /// Live, several input topics: which of them hold the watermark back (the others have
    /// been silent for the idle timeout).
    source_active: Vec<bool>,
    /// Events refused when applied: (sequence, reason). Replay's sequence is the line number.
    rejected: Vec<(u64, BadReason)>,
    /// Live: ids of workers forgotten since the last `take_evicted` (for tombstones).
    evicted: Option<Vec<Box<str>>>,
    /// Reports: the workers' closed days with work, when tracked.
    days: Option<Vec<ClosedWorkerDay>>,
    /// See [`Cx::shortcuts`].
    shortcuts: bool,
    /// See [`Cx::rules_from`]: live, restored, the saved frontier; else [`NEVER`].
    rules_from: i64,
    /// The step being processed and the outputs emitted in it ([`Step`]).
    step: Step,
    emitted: u32,
    /// Sharded replay: events arrive admitted (duplicates and lateness decided before).
    admitted: bool,
    /// Buffered copies of events that a copy with an earlier `ts` replaced, by (`ts`, id
    /// digest): dropped as duplicates when their instant comes (none but in that rare case).
    /// Ordered by `ts`, so that those behind the frontier go without a walk over the rest.
    cancelled: BTreeSet<(i64, u64)>,
    /// The `ts` of the last event applied (or refused) from the buffer, none dropped as a
    /// replaced copy: with the buffer's, replay's end of time ([`Engine::end_of_input`]).
    last_event: Option<i64>,
    /// The sequence of the event being pushed (a new worker's rank).
    rank: u64,
    /// `stats.noops` when [`Engine::take_noops`] was last called (or the state restored).
    noops_taken: u64,
    /// Live, restored: the largest `ts` read before the checkpoint (each capped at the wall
    /// clock of its first read). Input read again moves event time no further.
    reread_cap: Option<i64>,
    /// Live, restored: the watermark of the checkpoint. Input read again with a `ts` before
    /// it was applied or dead-lettered as late before the checkpoint.
    reread_floor: i64,
    /// Live without reading input again (`live.reread_input = false`): the ids remembered
    /// since the last [`Engine::take_ids`], as (sequence, digest, expiry), for the state topic.
    id_log: Option<Vec<(u64, u64, i64)>>,
    /// Persons: where each worker id joined its person, as (`ts`, sequence) of its first event
    /// with a `person_id` in event time so far, while events before it may still come (its
    /// `ts` is not below the watermark); in `joined`'s order, roughly by `ts`. Not saved: after
    /// a restore every join counts as past.
    joins: KeyedMap<Box<str>, (i64, u64)>,
    joined: VecDeque<(i64, Box<str>)>,
}

/// Persons: a worker id's state moves from the subject where it stood alone to member
/// `member` of subject `to`, at (`ts`, `seq`) ([`Engine::push_move`]).
#[derive(Debug, Clone, Copy)]
struct Move {
    alone: u32,
    to: u32,
    member: u32,
    ts: i64,
    seq: u64,
}

impl Engine {
    /// A fresh engine.
    pub fn new(config: Config) -> Engine {
        Engine::with_state(
            config,
            State {
                frontier: NEVER,
                ..State::default()
            },
        )
    }

    /// Carries on from a state taken with [`Engine::state`].
    pub fn with_state(config: Config, mut state: State) -> Engine {
        state.names.rebuild();
        let rule_sets: Vec<RuleSet> = state
            .rule_keys
            .iter()
            .map(|&(platform, role)| {
                config.rule_set(state.names.get(platform), state.names.get(role))
            })
            .collect();
        // The config's rules apply from now on: restored rule states fit the current packs.
        for worker in &mut state.workers {
            if let Some(set) = rule_sets.get(usize::from(worker.rules)) {
                worker.fit_states(set);
            }
        }
        let rule_index = RuleIndex::of(&state.rule_keys, &state.names);
        let persons = config.subject == Subject::Person;
        let held =
            (0..state.workers.len() as u32).filter(|&i| !state.workers[i as usize].is_free());
        let worker_index = index::WorkerIndex::of(persons, &state.workers, held);
        let noops_taken = state.stats.noops;
        Engine {
            cal: Calendar::new(config.time.zone),
            config,
            rule_sets,
            rule_index,
            worker_index,
            state,
            out: Vec::new(),
            holds: Vec::new(),
            touched: Vec::new(),
            next_day: (i32::MIN, NONE),
            external_quota: false,
            reports: Vec::new(),
            day_hours: Vec::new(),
            observations: None,
            compact_timers_at: 1024,
            #[cfg(test)]
            day_marks_read: 0,
            stretch_worker_hours: STRETCH_WORKER_HOURS,
            dirty: None,
            source_active: Vec::new(),
            rejected: Vec::new(),
            evicted: None,
            days: None,
            shortcuts: true,
            rules_from: NEVER,
            step: Step::default(),
            emitted: 0,
            admitted: false,
            cancelled: BTreeSet::new(),
            last_event: None,
            rank: 0,
            noops_taken,
            reread_cap: None,
            reread_floor: NEVER,
            id_log: None,
            joins: KeyedMap::default(),
            joined: VecDeque::new(),
        }
    }

    /// Sharded replay: this engine holds some workers of a replay whose duplicates, late events
    /// and watermark are decided by the caller over the whole input
    /// ([`Engine::push_admitted_to`], [`Engine::advance_to`]); its `quota_p90` days are reported
    /// ([`Engine::take_reports`]) for the caller to merge.
    pub fn sharded(mut self) -> Engine {
        self.admitted = true;
        self.external_quota = true;
        self
    }

    /// Sharded replay: takes an event the caller admitted (not a duplicate, not late), at
    /// sequence `seq` (its line number), with its id digest, and its worker slot when looked
    /// up beforehand ([`Engine::slot_hint_by`], with no push in between that could remove it; a
    /// new worker since is looked up again).
    pub fn push_admitted_to(
        &mut self,
        event: &Event<'_>,
        id: Option<u64>,
        seq: u64,
        slot: Option<u32>,
    ) {
        let pushed = self.push_slot(event, id, Some(seq), event.ts, slot);
        debug_assert_eq!(pushed, Pushed::Accepted);
    }

    /// Drops, as a duplicate, the buffered event with id digest `id` and this `ts` when its
    /// instant comes: a copy with an earlier `ts` was accepted in its place (sharded replay:
    /// the admission decided so; see [`Pushed::Replaced`]).
    pub fn cancel(&mut self, id: u64, ts: i64) {
        self.cancelled.insert((ts, id));
    }

    /// The first half of a look-up of a worker id already held, for a batch: the id's hash in
    /// the index (none for persons, whose subject is decided at the push), after asking the
    /// cache for the index's bucket where its look-up starts. A batch hashes all its ids
    /// first, so that those misses overlap, then looks them up ([`Engine::slot_hint_by`]).
    pub fn hint_hash(&self, worker_id: &str) -> Option<u64> {
        if self.persons() {
            return None;
        }
        let hash = self.worker_index.hash(false, worker_id);
        self.worker_index.prefetch(hash);
        Some(hash)
    }

    /// The second half: the slot of the worker id whose [`Engine::hint_hash`] is `hash`, as
    /// the index alone gives it ([`index::WorkerIndex::candidate_by`]). The push confirms it
    /// against the worker's id, and looks the worker up if it was wrong. Pushes only add
    /// workers (they are forgotten while time runs), so the slots of a batch of events looked
    /// up before pushing them stay right; such a look-up reads the index only.
    pub fn slot_hint_by(&self, hash: Option<u64>) -> Option<u32> {
        self.worker_index.candidate_by(hash?)
    }

    /// Asks the cache for what pushing an event reads of its worker, when it is held, given
    /// the worker id's [`Engine::hint_hash`]: live hashes a batch's ids in one loop, then looks
    /// their workers up in another before pushing their events (each push looks its worker up
    /// again; a hint is only early or late, or wrong by chance).
    pub fn prefetch_worker_by(&self, hash: Option<u64>) {
        if let Some(slot) = self.slot_hint_by(hash) {
            self.prefetch_push(slot);
            if let Some(worker) = self.state.workers.get(slot as usize) {
                hint::prefetch(&worker.last_applied);
            }
        }
    }

    /// Sharded replay: the working time of the days closed since the last call, by group.
    pub fn take_day_hours(&mut self) -> Vec<DayHours> {
        std::mem::take(&mut self.day_hours)
    }

    /// Enters step `step` of the processing order.
    fn enter(&mut self, step: Step) {
        if step != self.step {
            self.step = step;
            self.emitted = 0;
        }
    }

    /// Turns off the shortcuts of [`Cx::shortcuts`] (tests compare both ways).
    #[doc(hidden)]
    pub fn without_shortcuts(mut self) -> Engine {
        self.shortcuts = false;
        self
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

    /// Replay's end of time: the largest `ts` among the events accepted, leaving out the
    /// copies that a copy with an earlier `ts` replaced (a duplicate changes nothing, not even
    /// the end of time, SPEC section 5; [`Engine::max_ts`] counts the copy read first).
    pub fn end_of_input(&self) -> Option<i64> {
        let waiting = self
            .state
            .buffer
            .iter()
            .filter(|p| !p.moves() && !self.replaced(p))
            .map(|p| p.ts)
            .max();
        waiting.max(self.last_event)
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

    /// The part of the watermark that the events read give by themselves, which a restore
    /// gives again: the largest `ts` less the lateness. Not event time that moved by itself
    /// (an idle partition's advance). With several input topics, none ([`NEVER`]): the largest
    /// `ts` of each is not saved, and a restore may read one topic's events again before the
    /// other's (audit AU).
    pub fn events_watermark(&self) -> i64 {
        if self.state.source_max.len() > 1 {
            return NEVER;
        }
        let lateness = self.config.time.allowed_lateness;
        self.state.max_ts.map_or(NEVER, |max| max - lateness)
    }

    /// Alerts produced since the last call, in event-time order.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.out)
    }

    /// Dispatch holds produced since the last call, in event-time order.
    pub fn take_holds(&mut self) -> Vec<Hold> {
        std::mem::take(&mut self.holds)
    }

    /// The config the engine runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The rule set of a worker.
    pub fn rule_set_of(&self, worker: &Worker) -> &RuleSet {
        &self.rule_sets[usize::from(worker.rules)]
    }

    pub fn worker(&self, id: &str) -> Option<&Worker> {
        self.slot_of(id).map(|i| &self.state.workers[i as usize])
    }

    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.state.workers.iter().filter(|w| !w.is_free())
    }

    /// What bounds memory, now: workers held, interned names, `event_id`s within the
    /// `dedup_window`, events waiting in the reorder buffer.
    pub fn sizes(&self) -> Sizes {
        Sizes {
            workers: self.worker_index.len(),
            names: self.state.names.len(),
            ids: self.state.dedup.len(),
            buffered: self.state.buffer.len(),
            slots: self.state.workers.len(),
            timers: self.state.timers.len() + self.state.evictions.len(),
            changed: self.dirty.as_ref().map_or(0, Vec::len),
        }
    }

    /// Events refused when applied since the last call: (sequence, reason).
    pub fn take_rejected(&mut self) -> Vec<(u64, BadReason)> {
        std::mem::take(&mut self.rejected)
    }

    pub fn name(&self, id: u32) -> &str {
        self.state.names.get(id)
    }

    /// Takes a valid event. It is applied once the watermark passes its `ts`.
    pub fn push(&mut self, event: &Event<'_>) -> Pushed {
        self.push_inner(event, event_digest(event), None, event.ts)
    }

    /// Parses an event read ahead of its push (replay's and live's batches) and asks the
    /// cache for its `event_id` slot ([`Dedup::prefetch`]): the event and its id's digest, for
    /// the push.
    pub fn parse_ahead<'a>(&self, bytes: &'a [u8]) -> Result<(Event<'a>, Option<u64>), BadEvent> {
        crate::event::parse(bytes).map(|event| {
            let digest = event_digest(&event);
            if let Some(digest) = digest {
                self.state.dedup.prefetch(digest);
            }
            (event, digest)
        })
    }

    /// [`Engine::push`] with the event's digest already computed, at sequence `seq` (replay:
    /// the line number, which reports of refused events name). Sequences must grow.
    pub fn push_at(&mut self, event: &Event<'_>, id: Option<u64>, seq: u64) -> Pushed {
        self.push_inner(event, id, Some(seq), event.ts)
    }

    /// The watermark `watermark` as an event whose `ts` moves it as `advance_ts` leaves it:
    /// what a duplicate's own id is judged with.
    fn watermark_after(&self, watermark: i64, advance_ts: i64) -> i64 {
        watermark.max(advance_ts.saturating_sub(self.config.time.allowed_lateness))
    }

    /// `advance_ts` is the event's `ts` as it moves the watermark: the `ts` itself in replay,
    /// capped at the wall clock live.
    fn push_inner(
        &mut self,
        event: &Event<'_>,
        id: Option<u64>,
        seq: Option<u64>,
        advance_ts: i64,
    ) -> Pushed {
        self.push_slot(event, id, seq, advance_ts, None)
    }

    /// [`Engine::push_inner`] with the worker's slot when known ([`Engine::slot_hint_by`]).
    fn push_slot(
        &mut self,
        event: &Event<'_>,
        id: Option<u64>,
        seq: Option<u64>,
        advance_ts: i64,
        slot: Option<u32>,
    ) -> Pushed {
        let watermark = self.watermark();
        let mut pushed = Pushed::Accepted;
        if let Some(id) = id.filter(|_| !self.admitted) {
            let window = self.config.time.dedup_window;
            let expiry = event.ts.saturating_add(window);
            // Judged with the watermark as the event leaves it (a copy, with its original
            // `ts`, never moves it): an id reused past its window is forgotten, whether an
            // idle partition's watermark moved on with the wall clock first or not.
            let after = self.watermark_after(watermark, advance_ts);
            // Of two copies within the lateness, the one with the earlier `ts` counts (SPEC
            // section 5: the events sorted by `ts`); a copy that is late itself counts never.
            let earlier_wins = event.ts >= watermark;
            match self
                .state
                .dedup
                .admit(id, expiry, watermark, after, earlier_wins)
            {
                Admit::Duplicate => {
                    self.state.stats.duplicates += 1;
                    return Pushed::Duplicate;
                }
                Admit::New => {}
                Admit::Replaces(held) => {
                    // The copy read first is still buffered (its `ts` is later than this
                    // one's, which is not late).
                    self.cancelled.insert((held.saturating_sub(window), id));
                    self.state.stats.duplicates += 1;
                    pushed = Pushed::Replaced;
                }
            }
            if let Some(log) = self.id_log.as_mut() {
                log.push((seq.unwrap_or(0), id, expiry));
            }
        }
        if event.ts < watermark && !self.admitted {
            self.state.stats.late += 1;
            return Pushed::Late;
        }
        // The first event of a new worker ranks it (its timers' order at an instant).
        self.rank = seq.unwrap_or(self.state.seq + 1);
        raise(&mut self.state.max_ts, advance_ts);
        let (worker, member, moving) = if self.persons() {
            self.person_slot(event, seq.unwrap_or(self.state.seq + 1), watermark)
        } else {
            let workers = &self.state.workers;
            // A hint is confirmed here, where the worker's line is read anyway.
            let known = match slot {
                Some(i) if self.worker_index.holds(workers, i, false, &event.worker_id) => Some(i),
                _ => self.worker_index.get(workers, false, &event.worker_id),
            };
            debug_assert_eq!(
                known,
                self.worker_index.get(workers, false, &event.worker_id),
                "a stale slot hint"
            );
            let worker = match known {
                Some(i) => i,
                None => self.new_slot(Worker::new(&event.worker_id)),
            };
            (worker, 0, None)
        };
        self.state.workers[worker as usize].pending += 1;
        let (platform, role, city, rules) = self.group_of(worker, event);
        for name in [platform, role, city] {
            self.state.names.hold(name);
        }
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
            fee_cents: event.fee_cents.unwrap_or_default(),
            has_fee: event.fee_cents.is_some(),
            activity: event.activity.unwrap_or_default(),
            // A member index is below MAX_MEMBERS.
            member: member as u16,
            id: id.unwrap_or(0),
        });
        if let Some(moving) = moving.filter(|m| m.alone != m.to) {
            self.push_move(moving, event);
        }
        // A copy that replaced another takes its place in the count.
        if pushed == Pushed::Accepted {
            self.state.stats.accepted += 1;
        }
        pushed
    }

    /// Counts persons, not workers (`[rules] subject = "person"`).
    fn persons(&self) -> bool {
        self.config.subject == Subject::Person
    }

    /// A slot for a new subject, indexed by its id (and whether it is a person).
    fn new_slot(&mut self, mut fresh: Worker) -> u32 {
        fresh.rank = self.rank;
        let i = match self.state.free.pop() {
            Some(i) => {
                self.state.workers[i as usize] = fresh;
                i
            }
            None => {
                self.state.workers.push(fresh);
                (self.state.workers.len() - 1) as u32
            }
        };
        self.worker_index.insert(&self.state.workers, i);
        i
    }

    /// Persons: the event's subject (its person, or its worker id standing for a person of
    /// its own) and the index of its worker id among the subject's. A `worker_id` belongs to
    /// the person of its first event with a `person_id` (in arrival order), also for its later
    /// events without one; but an event without one whose `ts` is before that first event's
    /// (arrived after it, within the lateness) is still the worker id's alone, as in event
    /// time.
    ///
    /// Also the move of the worker id's state from where it stood alone to the person, when
    /// this event is the first to name the person or the first to stand alone before the
    /// join ([`Engine::push_move`]).
    fn person_slot(
        &mut self,
        event: &Event<'_>,
        seq: u64,
        watermark: i64,
    ) -> (u32, u32, Option<Move>) {
        let worker_id: &str = &event.worker_id;
        self.forget_joins(watermark);
        // Its person: the one it belongs to, else the one it names.
        let person = match self.state.person_of.get(worker_id) {
            Some(known) => Some(&**known),
            None => event.person_id.as_deref(),
        };
        if let Some(known) = person
            && let Some(gone) = self.person_forgotten_by(known, event.ts)
        {
            // The person is forgotten before this event in event time (`worker_ttl`), though
            // its eviction may not have run yet: the worker id starts afresh, as it would have
            // had the eviction run first (which depends on how far reading ran ahead of it),
            // and so does every other worker id of the person ([`Engine::forget_worker`]):
            // the person's new life, if this event names it, is not theirs. Not one that
            // joined after that instant (by an event a copy with an earlier `ts` replaced,
            // which is no event of the person's): it is of the new life already.
            let known: Box<str> = known.into();
            let state = &mut self.state;
            let joins = &mut self.joins;
            let mut lapse = |id: &str| {
                if state.person_of.get(id) == Some(&known)
                    && joins.get(id).is_none_or(|&(ts, _)| ts <= gone)
                {
                    state.person_of.remove(id);
                    joins.remove(id);
                }
            };
            if let Some(slot) = self.worker_index.get(&state.workers, true, &known) {
                for member in &state.workers[slot as usize].members {
                    lapse(&member.id);
                }
            }
            lapse(worker_id);
        }
        let mut alone = None;
        let mut before_join = None;
        let person: Option<Box<str>> = match (&event.person_id, self.state.person_of.get(worker_id))
        {
            (named, Some(known)) => match self.joins.get_mut(worker_id) {
                Some(join) if event.ts < join.0 && named.is_some() => {
                    // The person named before the join in event time: it joined here, and
                    // the worker id's move from where it stood alone, queued at the join,
                    // comes here too.
                    let before = std::mem::replace(join, (event.ts, seq));
                    let known = known.clone();
                    if let Some(alone) =
                        self.worker_index.get(&self.state.workers, false, worker_id)
                    {
                        self.state.buffer.update(|p| {
                            let queued = p.moves() && p.worker == alone && (p.ts, p.seq) == before;
                            if queued {
                                (p.ts, p.seq) = (event.ts, seq);
                            }
                            queued
                        });
                    }
                    Some(known)
                }
                Some(join) if event.ts < join.0 => {
                    before_join = Some((known.clone(), *join));
                    None
                }
                _ => Some(known.clone()),
            },
            (Some(person), None) => {
                let person: Box<str> = person.as_ref().into();
                self.state
                    .person_of
                    .insert(worker_id.into(), person.clone());
                self.joins.insert(worker_id.into(), (event.ts, seq));
                self.joined.push_back((event.ts, worker_id.into()));
                alone = self.worker_index.get(&self.state.workers, false, worker_id);
                Some(person)
            }
            (None, None) => None,
        };
        if let Some((person, (ts, join_seq))) = before_join {
            let workers = &self.state.workers;
            let to = self.worker_index.get(workers, true, &person);
            let member = to.and_then(|to| {
                let members = &workers[to as usize].members;
                members.iter().position(|m| &*m.id == worker_id)
            });
            if let (Some(to), Some(member)) = (to, member) {
                // A slot standing alone already has its move queued (at the join, or at the
                // first event that made it).
                let fresh = self.worker_index.get(workers, false, worker_id).is_none();
                let (slot, at, _) = self.alone_member(worker_id);
                let moving = fresh.then_some(Move {
                    alone: slot,
                    to,
                    member: member as u32,
                    ts,
                    seq: join_seq,
                });
                return (slot, at, moving);
            }
            // The person is not held (cannot be while the join waits): as if joined already.
            return self.person_member(worker_id, &person, None, event.ts, seq);
        }
        match person {
            Some(person) => self.person_member(worker_id, &person, alone, event.ts, seq),
            None => self.alone_member(worker_id),
        }
    }

    /// Persons: when person `person` is forgotten, if it has had no event for `worker_ttl` by
    /// `ts` (its last event, applied or waiting in the buffer, more than `worker_ttl` before
    /// it): that last event's instant plus `worker_ttl`, before `ts` in event time.
    fn person_forgotten_by(&self, person: &str, ts: i64) -> Option<i64> {
        let ttl = self.config.time.worker_ttl;
        let slot = self.worker_index.get(&self.state.workers, true, person)?;
        let worker = &self.state.workers[slot as usize];
        let mut last = worker.last_event;
        if last != NEVER && last.saturating_add(ttl) >= ts {
            return None;
        }
        if worker.pending > 0 {
            // Rare: only past a silence of `worker_ttl`. A copy replaced by an earlier one is
            // no event of the person's.
            let waiting = self
                .state
                .buffer
                .iter()
                .filter(|p| p.worker == slot && !self.replaced(p));
            last = waiting.map(|p| p.ts).fold(last, i64::max);
        }
        let gone = last.saturating_add(ttl);
        (last != NEVER && gone < ts).then_some(gone)
    }

    /// Persons: forgets the joins the watermark has passed: no event can come before them.
    fn forget_joins(&mut self, watermark: i64) {
        while let Some((ts, _)) = self.joined.front()
            && *ts < watermark
        {
            let (_, id) = self.joined.pop_front().expect("a front");
            if self.joins.get(&id).is_some_and(|&(ts, _)| ts < watermark) {
                self.joins.remove(&id);
            }
        }
    }

    /// Persons: the slot of `worker_id` standing alone and its index among the slot's members
    /// (the only one).
    fn alone_member(&mut self, worker_id: &str) -> (u32, u32, Option<Move>) {
        let slot = match self.worker_index.get(&self.state.workers, false, worker_id) {
            Some(slot) => slot,
            None => self.new_slot(Worker::new(worker_id)),
        };
        let members = &mut self.state.workers[slot as usize].members;
        match members.iter().position(|m| &*m.id == worker_id) {
            Some(at) => (slot, at as u32, None),
            None => {
                members.push(Member::new(worker_id));
                (slot, (members.len() - 1) as u32, None)
            }
        }
    }

    /// Persons: the slot of `person` and the index of `worker_id` among its members, and the
    /// move from `alone` where the worker id stood alone until (`ts`, `seq`).
    fn person_member(
        &mut self,
        worker_id: &str,
        person: &str,
        alone: Option<u32>,
        ts: i64,
        seq: u64,
    ) -> (u32, u32, Option<Move>) {
        let slot = match self.worker_index.get(&self.state.workers, true, person) {
            Some(slot) => slot,
            None => {
                let mut fresh = Worker::new(person);
                fresh.person = true;
                self.new_slot(fresh)
            }
        };
        let moving = |member: usize| {
            alone.map(|alone| Move {
                alone,
                to: slot,
                member: member as u32,
                ts,
                seq,
            })
        };
        let members = &mut self.state.workers[slot as usize].members;
        if let Some(at) = members.iter().position(|m| &*m.id == worker_id) {
            return (slot, at as u32, moving(at));
        }
        if members.len() >= MAX_MEMBERS {
            // A person with too many worker ids: this one stands for a person of its own.
            // It stays where it stood alone: nothing to leave.
            self.state.person_of.remove(worker_id);
            self.joins.remove(worker_id);
            return self.alone_member(worker_id);
        }
        members.push(Member::new(worker_id));
        let at = members.len() - 1;
        (slot, at as u32, moving(at))
    }

    /// Persons: worker id `event.worker_id`, which stood alone in subject `moving.alone`,
    /// belongs from (`moving.ts`, `moving.seq`) on to its person, member `moving.member` of
    /// subject `moving.to`. There, after the events before it and just before the event that
    /// joined, its state (online, on break, active orders, activity, last event) moves to the
    /// person: it works on as the person's, and no longer alone. What it did alone before
    /// stays with `alone` (its alerts are out already).
    fn push_move(&mut self, moving: Move, event: &Event<'_>) {
        let worker = &mut self.state.workers[moving.alone as usize];
        // Standing alone, the worker id is its subject's only member.
        if worker
            .members
            .first()
            .is_none_or(|m| *m.id != *event.worker_id)
        {
            return;
        }
        // Nothing pushed since a restore (its events read again were applied before): the
        // group of its last applied event. (The move was dropped: a join read again after a
        // restore left the worker id's session alone, and the person never worked.)
        let (platform, role, city, rules) = worker.pushed_group().unwrap_or((
            worker.platform,
            worker.role,
            worker.city,
            worker.rules,
        ));
        worker.pending += 1;
        for name in [platform, role, city] {
            self.state.names.hold(name);
        }
        self.state.buffer.push(Pending {
            ts: moving.ts,
            seq: moving.seq,
            worker: moving.alone,
            kind: event.kind,
            rules,
            platform,
            role,
            city,
            order: (u64::from(moving.to) << 32) | u64::from(moving.member),
            fee_cents: 0,
            has_fee: false,
            activity: Activity::Rest,
            member: MOVES,
            id: 0,
        });
    }

    /// Applies a move of [`Engine::push_move`] at `t`.
    fn apply_move(&mut self, moving: &Pending, t: i64) {
        let index = moving.worker;
        let (to, member) = ((moving.order >> 32) as u32, moving.order as u32);
        let (workers, mut cx) = self.cx();
        let worker = &mut workers[index as usize];
        let taken = (worker.since != NEVER).then(|| {
            worker.advance(index, t, &mut cx);
            worker.take_member(0)
        });
        if let Some(Some(taken)) = taken {
            let target = &mut workers[to as usize];
            target.advance(to, t, &mut cx);
            target.give_member(member, taken);
            for slot in [index, to] {
                let worker = &mut self.state.workers[slot as usize];
                if !worker.touched {
                    worker.touched = true;
                    self.touched.push((slot, moving.seq));
                }
            }
        }
        self.release_names([moving.platform, moving.role, moving.city]);
        if self.state.workers[index as usize].pending > 0 {
            // Events of the worker id queued alone before the event that joined arrived, but
            // stamped after the join: from the join on the worker id is the person's, whatever
            // the order of arrival (SPEC 5: the alerts of the events sorted by `ts`). Not those
            // that arrived after it: they were queued alone on purpose, the person being past
            // its `worker_ttl` by then ([`Engine::person_slot`]).
            let mut moved = 0;
            self.state.buffer.update(|p| {
                let stays = p.worker != index || p.moves() || p.seq > moving.seq;
                if !stays {
                    (p.worker, p.member) = (to, member as u16);
                    moved += 1;
                }
                !stays
            });
            self.state.workers[index as usize].pending -= moved;
            self.state.workers[to as usize].pending += moved;
        }
        let worker = &self.state.workers[index as usize];
        if worker.since == NEVER && worker.pending == 0 {
            self.forget_worker(index);
        }
    }

    /// Persons: the person a worker id belongs to, when this engine has seen it with one.
    pub fn person_of(&self, worker_id: &str) -> Option<&str> {
        self.state.person_of.get(worker_id).map(|person| &**person)
    }

    /// The slot of a worker id (persons: of the subject it belongs to) or a person id.
    fn slot_of(&self, id: &str) -> Option<u32> {
        let workers = &self.state.workers;
        if !self.persons() {
            return self.worker_index.get(workers, false, id);
        }
        if let Some(person) = self.state.person_of.get(id) {
            return self.worker_index.get(workers, true, person);
        }
        self.worker_index
            .get(workers, false, id)
            .or_else(|| self.worker_index.get(workers, true, id))
    }

    /// Interned (platform, role, city) and rule set of an event. A worker's events nearly
    /// always repeat the previous group, so that is compared first, without hashing. The
    /// worker's cached group holds one reference to each of its names.
    fn group_of(&mut self, worker: u32, event: &Event<'_>) -> (u32, u32, u32, u16) {
        let names = &self.state.names;
        let cached = self.state.workers[worker as usize].pushed_group();
        if let Some(group @ (platform, role, city, _)) = cached
            && same_name(names.get(platform), &event.platform)
            && same_name(names.get(role), &event.role)
            && same_name(names.get(city), &event.city)
        {
            return group;
        }
        let platform = self.state.names.intern(&event.platform);
        let role = self.state.names.intern(&event.role);
        let city = self.state.names.intern(&event.city);
        let group = (platform, role, city, self.rule_set(platform, role));
        self.state.workers[worker as usize].set_pushed_group(Some(group));
        if let Some(list) = self.observations.as_mut() {
            let group = (platform, role, city);
            let seen = NamedObservation::new(&self.state.names, group, Observation::GroupSeen);
            list.push(seen);
        }
        if let Some((p, r, c, _)) = cached {
            self.release_names([p, r, c]);
        }
        group
    }

    /// Drops references to names; forgets rule-set look-ups of names no longer held.
    fn release_names(&mut self, ids: [u32; 3]) {
        let mut freed = 0;
        for id in ids {
            freed += usize::from(self.state.names.release(id));
        }
        if freed > 0 {
            self.rule_index.freed(freed, &self.state.names);
        }
    }

    fn rule_set(&mut self, platform: u32, role: u32) -> u16 {
        if let Some(i) = self.rule_index.get(platform, role, &self.state.names) {
            return i;
        }
        let (platform_name, role_name) =
            (self.state.names.get(platform), self.state.names.get(role));
        let rules = if self.persons() {
            // Persons: `[rules.person]` over `[rules]`, whatever the platform.
            RuleSet::resolve(&self.config, &self.config.person_rules(), role_name)
                .expect("rule sets are checked at start-up")
        } else {
            self.config.rule_set(platform_name, role_name)
        };
        // Distinct (platform, role) pairs share a set when their rules are equal.
        let i = match self.rule_sets.iter().position(|known| *known == rules) {
            Some(i) => i as u16,
            None => {
                self.rule_sets.push(rules);
                // The names of a rule set stay held: their number is bounded by the config.
                self.state.names.hold(platform);
                self.state.names.hold(role);
                self.state.rule_keys.push((platform, role));
                (self.rule_sets.len() - 1) as u16
            }
        };
        self.rule_index.insert(platform, role, i, &self.state.names);
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

    /// The first instant at which the engine has something to do: its next buffered event,
    /// timer, day's end or eviction; `NONE` when nothing waits. Timers left behind by a
    /// reschedule, which would be skipped when they came, are dropped on the way (as
    /// [`Engine::compact_timers`] drops them), so that the answer depends on the workers'
    /// state only, not on how the engine's timers were compacted.
    pub fn next_instant(&mut self) -> i64 {
        while let Some(&timer) = self.state.timers.peek() {
            if self.state.workers[timer.worker as usize].wake_at == timer.at {
                break;
            }
            self.state.timers.pop();
        }
        self.next_due().0
    }

    /// The first instant at which something is due: a buffered event, a timer, a day's end
    /// or an eviction (`NONE`: nothing); and the first day with workers to close, with its end
    /// (kept in `next_day`: its end is looked up once). Inlined: [`Engine::run`] calls it at
    /// every instant (not inlined, one core ran 1 to 4 % slower in 7 of 8 alternating rounds).
    #[inline(always)]
    fn next_due(&mut self) -> (i64, Option<(i32, i64)>) {
        let next_event = self.state.buffer.peek().map_or(NONE, |p| p.ts);
        let next_timer = self.state.timers.peek().map_or(NONE, |t| t.at);
        let next_eviction = self.state.evictions.peek().map_or(NONE, |t| t.at);
        let day = match self.state.day_lists.first_key_value() {
            Some((&day, _)) if day == self.next_day.0 => Some(self.next_day),
            Some((&day, _)) => {
                self.next_day = (day, self.cal.day(day).end);
                Some(self.next_day)
            }
            None => None,
        };
        let day_end = day.map_or(NONE, |(_, end)| end);
        (
            next_event.min(next_timer).min(day_end).min(next_eviction),
            day,
        )
    }

    /// Where a replay's run of event time toward `to` stops next: a [`stretch`] past the
    /// engine's next instant, at most `to`. A replay hands on what each stretch produced
    /// before it runs the next, so that the alerts held at once are those of one stretch of
    /// event time with something in it, however far event time jumps (a late line, `--until`
    /// weeks past the input), not of the whole jump.
    pub fn slice_end(&mut self, to: i64) -> i64 {
        let next = self.next_instant();
        stretch_end(next, self.held(), self.stretch_worker_hours, to)
    }

    /// Workers held now (subjects: persons count once).
    pub fn held(&self) -> usize {
        self.worker_index.len()
    }

    /// Tests: stretches of `worker_hours` worker-hours ([`stretch`]).
    #[doc(hidden)]
    pub fn with_stretch(mut self, worker_hours: i64) -> Engine {
        self.stretch_worker_hours = worker_hours;
        self
    }

    /// Reports: collect every worker's closed days with work ([`Engine::take_days`]).
    pub fn track_days(&mut self) {
        self.days.get_or_insert_with(Vec::new);
    }

    /// The closed worker-days since the last call.
    pub fn take_days(&mut self) -> Vec<ClosedWorkerDay> {
        self.days.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The rule sets met so far, by index.
    pub fn rule_sets(&self) -> &[RuleSet] {
        &self.rule_sets
    }

    /// Every worker's view at instant `at` (at or after the frontier's last instant), sorted by
    /// worker id (`workhours status`).
    pub fn views_at(&mut self, at: i64) -> Vec<serde_json::Value> {
        let mut views = Vec::new();
        let _ = self.each_view_at(at, |view| {
            views.push(view);
            Ok::<(), std::convert::Infallible>(())
        });
        views
    }

    /// [`Engine::views_at`], each view handed to `each` as soon as it is made (`status` writes
    /// them one by one: held together, a view's JSON tree costs ten times its text).
    pub fn each_view_at<E>(
        &mut self,
        at: i64,
        mut each: impl FnMut(serde_json::Value) -> Result<(), E>,
    ) -> Result<usize, E> {
        // Sorted as the subjects' keys: persons', then worker ids', when keyed by subject.
        let persons = self.persons();
        let mut ids: Vec<(Box<str>, u32)> = self
            .worker_index
            .slots()
            .map(|index| {
                let worker = &self.state.workers[index as usize];
                let key: Box<str> = if persons {
                    subject_key(worker.person, &worker.id).into()
                } else {
                    worker.id.as_str().into()
                };
                (key, index)
            })
            .collect();
        ids.sort_unstable();
        let mut made = 0;
        for (_, index) in ids {
            let since = self.state.workers[index as usize].since;
            if let Some(view) = self.view_at(index, at.max(since)) {
                each(view)?;
                made += 1;
            }
        }
        Ok(made)
    }

    /// Live: collect the changed workers for [`Engine::take_dirty`] and the ids of forgotten
    /// ones for [`Engine::take_evicted`] (records and tombstones for the state topic).
    pub fn track_changes(&mut self) {
        self.dirty.get_or_insert_with(Vec::new);
        self.evicted.get_or_insert_with(Vec::new);
    }

    /// No-op state changes (SPEC section 3) since the last call, or since the engine took its
    /// state over (live: the metric's increments; a restored count was reported by the process
    /// that saved it).
    pub fn take_noops(&mut self) -> u64 {
        let noops = self.state.stats.noops;
        noops.saturating_sub(std::mem::replace(&mut self.noops_taken, noops))
    }

    /// Ids of workers forgotten since the last call (live: tombstones for the state topic).
    pub fn take_evicted(&mut self) -> Vec<Box<str>> {
        self.evicted
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn cx(&mut self) -> (&mut LineVec<Worker>, Cx<'_>) {
        let state = &mut self.state;
        (
            &mut state.workers,
            Cx {
                cal: &mut self.cal,
                sets: &self.rule_sets,
                names: &state.names,
                day_lists: &mut state.day_lists,
                stats: &mut state.stats,
                out: &mut self.out,
                holds: &mut self.holds,
                observations: self.observations.as_mut(),
                days: self.days.as_mut(),
                holidays: self.config.holidays.as_deref(),
                shortcuts: self.shortcuts,
                rules_from: self.rules_from,
                step: &self.step,
                emitted: &mut self.emitted,
            },
        )
    }

    fn run(&mut self, limit: Limit) {
        loop {
            let (t, day) = self.next_due();
            if t == NONE || !limit.allows(t) {
                break;
            }
            if let Some((day, end)) = day
                && end == t
            {
                // A midnight comes before the events stamped with it: the day it ends is
                // measured on [start, end) and its groups on the events before the end.
                self.close_day(day);
                continue;
            }
            self.touched.clear();
            let mark = self.out.len();
            while self.state.buffer.peek().is_some_and(|p| p.ts == t) {
                let event = self.state.buffer.pop().expect("peeked");
                if !self.cancelled.is_empty() && self.drop_cancelled(&event) {
                    continue;
                }
                if !event.moves() {
                    self.last_event = Some(t);
                }
                self.prefetch_ahead();
                self.enter(Step::plain(t, Step::EVENT, event.seq));
                self.apply(&event, t);
            }
            let touched = std::mem::take(&mut self.touched);
            let applied = self.out.len();
            for &(index, first) in &touched {
                self.state.workers[index as usize].touched = false;
                self.enter(Step::plain(t, Step::TOUCHED, first));
                self.settle(index, t);
            }
            if applied > mark {
                self.regroup(&touched, mark..applied, t);
            }
            self.touched = touched;
            while let Some(&timer) = self.state.timers.peek() {
                if timer.at != t {
                    break;
                }
                self.state.timers.pop();
                if self.state.workers[timer.worker as usize].wake_at == t {
                    self.enter(Step::plain(t, Step::TIMER, timer.rank));
                    self.settle(timer.worker, t);
                }
            }
            while let Some(&entry) = self.state.evictions.peek() {
                if entry.at != t {
                    break;
                }
                self.state.evictions.pop();
                self.expire_worker(entry.worker, t);
            }
        }
        self.state.frontier = match limit {
            Limit::Before(w) => self.state.frontier.max(w),
            Limit::Through(end) => self.state.frontier.max(end.saturating_add(1)),
        };
        // Each went with its event; one whose event was not there (never expected) goes now,
        // so that the set stays bounded by the buffer.
        while self
            .cancelled
            .first()
            .is_some_and(|&(ts, _)| ts < self.state.frontier)
        {
            self.cancelled.pop_first();
        }
    }

    /// Gives the alerts at `t` that the events of `t` found due (`out[range]`: a rest that
    /// completes at `t` completes before them, so that work resuming at `t` starts a new
    /// episode) the platform, role and city of their subject's last event at `t`, as every
    /// other alert at `t` has: the state from an instant on is the state after its events
    /// (SPEC section 3), and DESIGN.md settles a worker after the events of its instant.
    #[cold]
    fn regroup(&mut self, touched: &[(u32, u64)], range: std::ops::Range<usize>, t: i64) {
        for &(index, _) in touched {
            let worker = &self.state.workers[index as usize];
            let names = &self.state.names;
            let (platform, role, city) = (
                names.get(worker.platform),
                names.get(worker.role),
                names.get(worker.city),
            );
            for alert in &mut self.out[range.clone()] {
                let subject = if worker.person {
                    alert.person_id.as_deref()
                } else {
                    alert.worker_id.as_deref()
                };
                if alert.at == t && subject == Some(worker.id.as_str()) {
                    if alert.platform != platform {
                        alert.platform = platform.to_owned();
                    }
                    if alert.role != role {
                        alert.role = role.to_owned();
                    }
                    if alert.city != city {
                        alert.city = city.to_owned();
                    }
                }
            }
        }
    }

    /// Asks the cache for the state of the workers whose events come next: their fixed part
    /// [`PREFETCH_FAR`] events ahead, then, once that has arrived, what it points to (rule
    /// states, active orders) [`PREFETCH_NEAR`] events ahead.
    fn prefetch_ahead(&self) {
        let workers = &self.state.workers;
        let buffer = &self.state.buffer;
        if let Some(worker) = buffer
            .ahead(PREFETCH_FAR)
            .and_then(|p| workers.get(p.worker as usize))
        {
            hint::prefetch(worker);
        }
        if let Some(worker) = buffer
            .ahead(PREFETCH_NEAR)
            .and_then(|p| workers.get(p.worker as usize))
        {
            hint::prefetch_slice(&worker.states, 8);
            let kind = buffer.ahead(PREFETCH_NEAR).map(|p| p.kind);
            if kind.is_some_and(Kind::is_order) {
                hint::prefetch_slice(worker.session.more_orders(), 1);
            }
            if kind == Some(Kind::OrderDelivered) {
                // A fee counts on an order's first delivery of the day: the day's list is read.
                hint::prefetch_slice(&worker.delivered, 4);
            }
        }
    }

    /// Asks the cache for what pushing an event reads of its worker (sharded replay: the
    /// slots of the events to come are known, [`Engine::slot_hint_by`]).
    pub fn prefetch_push(&self, slot: u32) {
        if let Some(worker) = self.state.workers.get(slot as usize) {
            hint::prefetch(&worker.pending);
            hint::prefetch(worker.pushed_line());
            // The push compares the ids (a slot hint is confirmed there).
            hint::prefetch(&worker.id);
        }
    }

    /// Whether a copy with an earlier `ts` replaced the buffered `event` ([`Engine::cancel`]):
    /// it is dropped when its instant comes ([`Engine::drop_cancelled`]).
    fn replaced(&self, event: &Pending) -> bool {
        event.id != 0 && self.cancelled.contains(&(event.ts, event.id))
    }

    /// Drops `event` when a copy with an earlier `ts` replaced it ([`Pushed::Replaced`]):
    /// what its push held is let go, nothing else changes.
    #[cold]
    fn drop_cancelled(&mut self, event: &Pending) -> bool {
        if event.id == 0 || !self.cancelled.remove(&(event.ts, event.id)) {
            return false;
        }
        let index = event.worker;
        let worker = &mut self.state.workers[index as usize];
        worker.pending -= 1;
        self.release_names([event.platform, event.role, event.city]);
        let worker = &self.state.workers[index as usize];
        if worker.since == NEVER && worker.pending == 0 {
            self.forget_worker(index);
        }
        true
    }

    /// Applies one event from the buffer at its instant `t`, or refuses it.
    ///
    /// The event's references to its names pass to the worker, whose group they become; the
    /// worker's previous group is released.
    fn apply(&mut self, event: &Pending, t: i64) {
        let index = event.worker;
        let (workers, mut cx) = self.cx();
        let worker = &mut workers[index as usize];
        worker.pending -= 1;
        if event.moves() {
            self.apply_move(event, t);
            return;
        }
        if worker.refuses(event) {
            cx.stats.rejected += 1;
            self.rejected.push((event.seq, BadReason::TooManyOrders));
            self.release_names([event.platform, event.role, event.city]);
            let worker = &self.state.workers[index as usize];
            if worker.since == NEVER && worker.pending == 0 {
                // Its only event was refused and nothing else waits: nothing to remember.
                self.forget_worker(index);
            }
            return;
        }
        let first = worker.since == NEVER;
        let previous = [worker.platform, worker.role, worker.city];
        if !worker.may_skip_advance(t, &cx) {
            worker.advance(index, t, &mut cx);
        }
        worker.apply(event, &mut cx);
        let group = [event.platform, event.role, event.city];
        let member_previous = worker.group_member(event, cx.names);
        cx.stats.applied += 1;
        if !worker.touched {
            worker.touched = true;
            self.touched.push((index, event.seq));
        }
        if let Some(before) = member_previous {
            // A person's worker id holds its own group's names too.
            for name in group {
                self.state.names.hold(name);
            }
            if let Some(before) = before {
                self.release_names(before);
            }
        }
        if first {
            // One `worker_ttl` deadline per worker, pushed at its first event; later events
            // only move it, which the deadline notices when it comes (`expire_worker`).
            let at = t.saturating_add(self.config.time.worker_ttl);
            self.state.evictions.push(Eviction { at, worker: index });
        } else {
            self.release_names(previous);
        }
    }

    /// A worker's `worker_ttl` deadline came: forget it if no event came since.
    fn expire_worker(&mut self, index: u32, t: i64) {
        let worker = &self.state.workers[index as usize];
        if worker.is_free() || worker.last_event == NEVER {
            return;
        }
        let deadline = worker
            .last_event
            .saturating_add(self.config.time.worker_ttl);
        if deadline > t {
            self.state.evictions.push(Eviction {
                at: deadline,
                worker: index,
            });
            return;
        }
        let day = worker.day.number;
        if worker.day_has_work
            && let Some(list) = self.state.day_lists.get_mut(&day)
        {
            let unmarked = self.state.unmarked.entry(day).or_default();
            *unmarked.by_slot.entry(index).or_default() += 1;
            unmarked.total += 1;
            if unmarked.total * 2 > list.len() {
                #[cfg(test)]
                {
                    self.day_marks_read += list.len();
                }
                list.retain(|mark| !unmarked.pass(mark.worker));
                debug_assert_eq!(unmarked.total, 0);
                self.state.unmarked.remove(&day);
            }
        }
        self.state.stats.evicted += 1;
        if let Some(evicted) = self.evicted.as_mut() {
            evicted.push(worker.id.as_str().into());
        }
        if worker.pending > 0 {
            // Later events of this worker wait in the buffer: they start afresh in this slot.
            let worker = &mut self.state.workers[index as usize];
            let applied = [worker.platform, worker.role, worker.city];
            let (id, pending, group) = (worker.id.clone(), worker.pending, worker.pushed_group());
            let person = worker.person;
            let members: worker::Members =
                worker.members.iter().map(|m| Member::new(&m.id)).collect();
            let grouped: Vec<[u32; 3]> = worker
                .members
                .iter()
                .filter(|m| m.grouped)
                .map(|m| [m.platform, m.role, m.city])
                .collect();
            *worker = Worker::new(&id);
            // Ranked by the first of its waiting events to arrive, as a worker forgotten
            // before they came would be: not by how far the pushes ran ahead of the evictions.
            worker.rank = self
                .state
                .buffer
                .iter()
                .filter(|p| p.worker == index)
                .map(|p| p.seq)
                .min()
                .unwrap_or(self.rank);
            worker.pending = pending;
            worker.set_pushed_group(group);
            worker.person = person;
            worker.members = members;
            self.release_names(applied);
            for names in grouped {
                self.release_names(names);
            }
        } else {
            self.forget_worker(index);
        }
    }

    /// Frees a worker's slot and its names.
    fn forget_worker(&mut self, index: u32) {
        let worker = std::mem::replace(&mut self.state.workers[index as usize], Worker::free());
        self.worker_index.remove(&worker, index);
        if self.persons() {
            for member in &worker.members {
                // A worker id that left the person for another (the person was past its
                // `worker_ttl` when the worker id came back) keeps its new person.
                if worker.person
                    && self
                        .state
                        .person_of
                        .get(&*member.id)
                        .is_some_and(|p| **p == *worker.id.as_str())
                {
                    self.state.person_of.remove(&member.id);
                }
                if member.grouped {
                    self.release_names([member.platform, member.role, member.city]);
                }
            }
        }
        if let Some((p, r, c, _)) = worker.pushed_group() {
            self.release_names([p, r, c]);
        }
        if worker.since != NEVER {
            self.release_names([worker.platform, worker.role, worker.city]);
        }
        self.state.free.push(index);
    }

    /// Advances a worker to `t`, settles it there and sets its next timer.
    fn settle(&mut self, index: u32, t: i64) {
        let (workers, mut cx) = self.cx();
        let worker = &mut workers[index as usize];
        let unchanged = worker.settle(index, t, &mut cx);
        self.mark_dirty(index);
        if !unchanged {
            self.reschedule(index);
        }
    }

    fn mark_dirty(&mut self, index: u32) {
        let Some(dirty) = self.dirty.as_mut() else {
            return;
        };
        let worker = &mut self.state.workers[index as usize];
        if !worker.dirty {
            worker.dirty = true;
            dirty.push(index);
        }
    }

    fn reschedule(&mut self, index: u32) {
        self.reschedule_by(index, NONE);
    }

    /// [`Engine::reschedule`], with the worker's timer no later than `by`.
    fn reschedule_by(&mut self, index: u32, by: i64) {
        let (workers, mut cx) = self.cx();
        let worker = &mut workers[index as usize];
        let wake = worker
            .next_wake(&cx.sets[usize::from(worker.rules)], &mut cx)
            .min(by);
        // While a worker keeps working its next crossing stays put, so most events push
        // no timer; a timer at `since` (a settle still due there) is always pushed.
        if wake != worker.wake_at || wake == worker.since {
            worker.wake_at = wake;
            if wake != NONE {
                let rank = worker.rank;
                self.state.timers.push(Timer {
                    at: wake,
                    rank,
                    worker: index,
                });
                if self.state.timers.len() > self.compact_timers_at {
                    self.compact_timers();
                }
            }
        }
    }

    /// Drops the stale timers: those not at their worker's `wake_at`, which would be skipped
    /// when they come. A worker whose next crossing moves at every event leaves one behind
    /// each time, until its instant (hours ahead, days in some packs): without this, memory
    /// grew with the events of that horizon, not with the workers (SPEC section 5). A timer
    /// at the worker's `wake_at` stays, so the timers that run are those that ran before
    /// (whenever `wake_at` changes a timer is pushed for it, so one dropped here is never
    /// needed again). Runs when the heap has doubled since the last time, so its cost per
    /// push stays constant.
    fn compact_timers(&mut self) {
        let workers = &self.state.workers;
        self.state
            .timers
            .retain(|timer| workers[timer.worker as usize].wake_at == timer.at);
        self.compact_timers_at = (2 * self.state.timers.len()).max(2 * workers.len()) + 1024;
    }

    /// Whether a rule of the worker's watches the clock now: its measure is on, or it has
    /// hours. A worker brought to a midnight by its day's close, which looks at no instant
    /// there, is then settled at it after the events stamped with it: a threshold reached at
    /// midnight itself would go unseen, the rule's next crossing being computed past what it
    /// has reached. (A worker still working has its timer there already,
    /// [`Worker::next_wake`].)
    fn watches_the_clock(&self, index: u32) -> bool {
        let worker = &self.state.workers[index as usize];
        let set = &self.rule_sets[usize::from(worker.rules)];
        set.stateful()
            .zip(worker.states.iter())
            .any(|(def, state)| state.on() || def.hours.is_some())
    }

    /// The local midnight ending `day`: bring every worker who worked that day to it (which
    /// closes their day: overtime, `minimum_wage`), then report the day for `quota_p90`.
    fn close_day(&mut self, day: i32) {
        let list = self.state.day_lists.remove(&day).unwrap_or_default();
        let mut unmarked = self.state.unmarked.remove(&day).unwrap_or_default();
        #[cfg(test)]
        {
            self.day_marks_read += list.len();
        }
        let info = self.cal.day(day);
        // Live saves a partition's report, worker by worker (`src/live/state.rs`); elsewhere
        // only the groups' working times are read.
        let mut tally = if self.external_quota && !self.admitted {
            DayTally::Named(Vec::with_capacity(list.len()))
        } else {
            DayTally::Grouped(FxHashMap::default())
        };
        for &DayMark {
            t,
            key,
            worker: index,
            class,
        } in &list
        {
            if unmarked.pass(index) {
                continue;
            }
            self.enter(Step {
                t: info.end,
                class: Step::DAY,
                mark: (t, class, key),
                key: 0,
            });
            let (workers, mut cx) = self.cx();
            let worker = &mut workers[index as usize];
            worker.advance(index, info.end, &mut cx);
            debug_assert_eq!(worker.closed_day, day, "{}", worker.id);
            let names = &self.state.names;
            let worker = &self.state.workers[index as usize];
            let set = &self.rule_sets[usize::from(worker.rules)];
            // With `hours`, a worker counts with the work within them, if any (SPEC 7).
            let hours = set.quota().is_some_and(|(def, _)| def.hours.is_some());
            if worker.members.is_empty() {
                let work = if hours {
                    worker.closed_hours_work(set)
                } else {
                    i64::from(worker.closed_work)
                };
                if work > 0 || !hours {
                    tally.add(names, &worker.id, worker.group(), work);
                }
            } else {
                // `quota_p90` stays per worker id, about each platform's quotas.
                for member in &worker.members {
                    let work = if hours {
                        member.closed_hours_work
                    } else {
                        member.closed_work
                    };
                    if member.grouped && work > 0 {
                        let group = (member.platform, member.role, member.city);
                        tally.add(names, &member.id, group, work);
                    }
                }
            }
            self.mark_dirty(index);
            let by = if self.watches_the_clock(index) {
                info.end
            } else {
                NONE
            };
            self.reschedule_by(index, by);
        }
        let (start, end) = (info.start, info.end);
        let groups = match tally {
            DayTally::Named(entries) => {
                let report = DayReport {
                    day,
                    start,
                    end,
                    entries,
                };
                self.reports.push(report);
                return;
            }
            DayTally::Grouped(groups) => groups,
        };
        // No name is released while a day closes: the tally's are all still held.
        let names = &self.state.names;
        let mut hours = DayHours {
            day,
            start,
            end,
            groups: groups
                .into_iter()
                .map(|((p, r, c), hours)| {
                    (
                        (
                            names.get(p).into(),
                            names.get(r).into(),
                            names.get(c).into(),
                        ),
                        hours,
                    )
                })
                .collect(),
        };
        if self.admitted {
            self.day_hours.push(hours);
            return;
        }
        for mut alert in hours.quota_alerts(&self.config) {
            self.enter(Step::quota(end));
            alert.order = Place(self.step, self.emitted);
            self.emitted += 1;
            let counts = self
                .state
                .stats
                .alerts
                .entry(alert.rule.to_string())
                .or_default();
            counts[Phase::Violation as usize] += 1;
            self.out.push(alert);
        }
    }
}

/// `quota_p90` for one closed day: per (platform, role, city) of at least `min_workers`
/// workers, a violation when the nearest-rank 90th percentile of the day's working time is
/// above `standard` (the pack's `quota_p90` rule of that platform and role; groups whose pack
/// has none are skipped). Groups come out sorted by name.
pub fn quota_alerts(config: &Config, report: &DayReport) -> Vec<Alert> {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<i64>> = BTreeMap::new();
    for (_, platform, role, city, work) in &report.entries {
        groups
            .entry((platform, role, city))
            .or_default()
            .push(*work);
    }
    let groups = groups
        .iter_mut()
        .map(|(&group, hours)| (group, hours.as_mut_slice()));
    group_quota_alerts(config, report.day, report.start, report.end, groups)
}

/// [`quota_alerts`] of the groups of a day, sorted by name, each with its working times.
fn group_quota_alerts<'a>(
    config: &Config,
    day: i32,
    start: i64,
    end: i64,
    groups: impl Iterator<Item = ((&'a str, &'a str, &'a str), &'a mut [i64])>,
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let mut sets: BTreeMap<(&str, &str), RuleSet> = BTreeMap::new();
    for ((platform, role, city), hours) in groups {
        let set = sets
            .entry((platform, role))
            .or_insert_with(|| config.rule_set(platform, role));
        let Some((def, quota)) = set.quota() else {
            continue;
        };
        let n = hours.len();
        if n < quota.min_workers as usize {
            continue;
        }
        hours.sort_unstable();
        // Nearest rank: the ceil(0.9 n)-th smallest value.
        let p90 = hours[(9 * n).div_ceil(10) - 1];
        if p90 > quota.standard {
            // Whole seconds: a p90 less than a second above the standard reads as "up to
            // more than" it, not as "up to" the standard itself; "more than" alone said that
            // 90% worked beyond it (audit AL: 8 of 10 had worked 1 h).
            let worked = if p90 / 1000 == quota.standard / 1000 {
                format!("up to more than {}", human_limit(quota.standard))
            } else {
                format!("up to {}", human_duration(p90))
            };
            let message = format!(
                "90% of {} of {platform} in {city} worked {worked} on {}, above the standard working day of {} ({n} worker{}).",
                role_plural(role),
                Calendar::date(day),
                human_limit(quota.standard),
                if n == 1 { "" } else { "s" }
            );
            alerts.push(Alert {
                rule: def.id.clone(),
                kind: def.params.kind(),
                phase: Phase::Violation,
                worker_id: None,
                person_id: None,
                by_platform: None,
                order: Place(Step::quota(end), 0),
                platform: platform.to_owned(),
                role: role.to_owned(),
                city: city.to_owned(),
                at: end,
                amount: Amount::Seconds {
                    value: p90.div_euclid(1000),
                    limit: quota.standard / 1000,
                },
                period_start: start,
                resets: 0,
                message,
            });
        }
    }
    alerts
}

#[cfg(test)]
mod tests;
