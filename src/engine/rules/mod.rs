//! The rule kinds of SPEC section 7, one module each, and their registry.
//!
//! A kind module holds its parameters (parsed from a pack's TOML, one place for its keys),
//! its per-worker state, and its thresholds in one table that both firing and the next-timer
//! computation read. Adding a kind touches its module and the registry below (the `Params`
//! and `KindState` enums and the dispatch in [`RuleState`]), nothing else.
//!
//! Every kind follows the same protocol, driven by the worker (`worker.rs`):
//!
//! - `integrate(span)`: the flags (measure on, rest measure on) held over `span` ms;
//! - `next_crossing`: the first instant after `since` at which something is due if nothing
//!   changes (a threshold, an hour-window edge, an allowance running out); handled strictly
//!   inside an advance, or by `settle` after the events of that instant;
//! - `next_completion`: the instant a rest completes (a qualifying break, a reset rest);
//!   handled at that instant, before the events stamped with it;
//! - `rollover`: the local day changed (period rings shift, calendar flags reset);
//! - `instant`: the flags at an instant after its events (rest starts and ends), then the
//!   thresholds due at it, which fire at the first instant at which the measure is true and the
//!   amount has already reached them;
//! - `wake`: the next instant at which an alert may be due without a new event (the worker's
//!   timer).

pub mod continuous;
pub mod holiday_pay;
pub mod minimum_wage;
pub mod overtime;
pub mod period;
pub mod quota;
pub mod rest_deadline;
pub mod rolling;
pub mod since_rest;
pub mod streak;

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::measure::{Bits, Hours, Measure};
use super::{Cx, Me, NONE};
use crate::alert::{Amount, Phase};
use crate::calendar::{Calendar, Day};

/// The rule's measure is true (from `since` on).
pub const ON: u8 = 1;
/// The rule's rest measure is true: the worker is not resting for this rule.
pub const REST_ON: u8 = 2;
/// The `elapsed_from` measure is true (`since_rest`).
pub const AUX: u8 = 4;

/// A rule of a pack, resolved for one (platform, role): every `$KEY` replaced by its value.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    /// The alert's `rule`.
    pub id: Arc<str>,
    pub measure: Measure,
    /// `rest_unless`; `None`: a rest is the absence of the (effective) measure.
    pub rest_unless: Option<Measure>,
    /// `elapsed_from` of `since_rest`.
    pub elapsed_from: Option<Measure>,
    pub hours: Option<Hours>,
    /// `period` / `since_rest` on `orders`: waiting time that counts too, per local day, ms.
    pub allowance: Option<i64>,
    pub hold: bool,
    /// Words for the violation and warning thresholds in messages.
    pub label: Option<Arc<str>>,
    pub warning_label: Option<Arc<str>>,
    /// Feeds the episode histogram of the live metrics (the pack's first `continuous` rule).
    pub observe: bool,
    pub params: Params,
}

impl RuleDef {
    /// "has had orders for 4h": the measure's past participle for messages, naming the
    /// allowance where the rule counts one (its amount is not order time alone).
    pub fn done(&self) -> &'static str {
        match (self.measure, self.allowance) {
            (Measure::Orders, Some(_)) => "had orders (with allowance) for",
            (measure, _) => measure.done(),
        }
    }

    /// "after having orders for 4h": as [`RuleDef::done`], the present participle.
    pub fn doing(&self) -> &'static str {
        match (self.measure, self.allowance) {
            (Measure::Orders, Some(_)) => "having orders (with allowance) for",
            (measure, _) => measure.doing(),
        }
    }

    /// Whether a worker keeps a [`RuleState`] for this rule. Pay and aggregate kinds that keep
    /// nothing per worker (`minimum_wage`, `quota_p90`, `holiday_pay` without a holiday
    /// calendar) measure working time only, with no `hours` or allowance (the pack reader
    /// refuses them), so their flags matter to nothing either: a worker holds no state for
    /// them (memory per worker is a target).
    pub fn keeps_state(&self) -> bool {
        match &self.params {
            // With `hours`, the day's working time within them is the rule's own.
            Params::MinimumWage(_) | Params::QuotaP90(_) => self.hours.is_some(),
            Params::HolidayPay(p) => p.calendar,
            _ => true,
        }
    }

    /// Resolves what depends on the configuration besides the rule keys: whether a holiday
    /// calendar is configured (`holiday_pay`).
    pub fn configure(&mut self, calendar: bool) {
        if let Params::HolidayPay(p) = &mut self.params {
            p.calendar = calendar;
        }
    }
}

/// The rules of `rules` that keep a state, in order: a worker's states are theirs, one each.
pub fn stateful(rules: &[RuleDef]) -> impl Iterator<Item = &RuleDef> {
    rules.iter().filter(|def| def.keeps_state())
}

/// A rule without state (not [`RuleDef::keeps_state`]) at the end of the worker's local day
/// `old` (see [`RuleState::rollover`]).
pub fn rollover_stateless(
    def: &RuleDef,
    old: &Day,
    me: &Me<'_>,
    closed: &ClosedDay,
    cx: &mut Cx<'_>,
) {
    if let Params::MinimumWage(p) = &def.params {
        minimum_wage::close_day(def, p, old, closed, me, cx);
    }
}

/// A worker's rule states, one per rule that keeps one ([`stateful`]), in order. Saved as a
/// list; a `none` entry of a record written before stateless rules held no state is dropped
/// on reading, so that those records restore as they were.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct States(Box<[RuleState]>);

impl States {
    pub fn new(states: impl IntoIterator<Item = RuleState>) -> States {
        States(states.into_iter().collect())
    }
}

impl std::ops::Deref for States {
    type Target = [RuleState];
    fn deref(&self) -> &[RuleState] {
        &self.0
    }
}

impl std::ops::DerefMut for States {
    fn deref_mut(&mut self) -> &mut [RuleState] {
        &mut self.0
    }
}

impl<'de> Deserialize<'de> for States {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let states = Vec::<RuleState>::deserialize(deserializer)?;
        Ok(States::new(states.into_iter().filter(|state| {
            !matches!(state.state, KindState::None(..))
        })))
    }
}

impl RuleDef {
    /// The phases its alerts can have.
    pub fn phases(&self) -> Vec<Phase> {
        let table = |table: &[Threshold]| table.iter().map(|t| t.phase).collect::<Vec<_>>();
        match &self.params {
            Params::Continuous(p) => {
                let mut phases = table(&p.table);
                phases.push(Phase::Resolved);
                phases
            }
            Params::Period(p) => table(&p.table),
            Params::Rolling(p) => table(&p.table),
            Params::SinceRest(p) => {
                let mut phases = Vec::new();
                if p.warning.is_some() {
                    phases.push(Phase::Warning);
                }
                phases.extend([Phase::Violation, Phase::Resolved]);
                phases
            }
            Params::HolidayPay(p) if !p.calendar => Vec::new(),
            _ => vec![Phase::Violation],
        }
    }
}

/// Per-kind parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    Continuous(continuous::Params),
    Period(period::Params),
    Rolling(rolling::Params),
    SinceRest(since_rest::Params),
    RestDeadline(rest_deadline::Params),
    Streak(streak::Params),
    Overtime(overtime::Params),
    MinimumWage(minimum_wage::Params),
    QuotaP90(quota::Params),
    HolidayPay(holiday_pay::Params),
}

/// The kind names of pack files, in the order of [`Params`].
pub const KINDS: [&str; 10] = [
    "continuous",
    "period",
    "rolling",
    "since_rest",
    "rest_deadline",
    "streak",
    "overtime",
    "minimum_wage",
    "quota_p90",
    "holiday_pay",
];

impl Params {
    /// How far back in event time the rule sums a worker's time (0: no window): a worker
    /// forgotten after a shorter silence (`worker_ttl`) loses part of a window. A calendar
    /// period counts at its longest (31 days a month); a day's 25 hours at a DST change are
    /// the caller's margin.
    pub fn lookback(&self) -> i64 {
        const DAY: i64 = 86_400_000;
        match self {
            Params::Period(params) => {
                let period = match params.period {
                    period::Period::Day => DAY,
                    period::Period::Week => 7 * DAY,
                    period::Period::Month => 31 * DAY,
                };
                period.saturating_mul(i64::from(params.count))
            }
            Params::Rolling(params) => params.window,
            Params::RestDeadline(params) => params.within,
            Params::Overtime(_) => 31 * DAY,
            // Streaks and episodes end with a silent day or rest; the rest are per day.
            _ => 0,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Params::Continuous(_) => KINDS[0],
            Params::Period(_) => KINDS[1],
            Params::Rolling(_) => KINDS[2],
            Params::SinceRest(_) => KINDS[3],
            Params::RestDeadline(_) => KINDS[4],
            Params::Streak(_) => KINDS[5],
            Params::Overtime(_) => KINDS[6],
            Params::MinimumWage(_) => KINDS[7],
            Params::QuotaP90(_) => KINDS[8],
            Params::HolidayPay(_) => KINDS[9],
        }
    }
}

/// One worker's state for one rule: the flags held from the worker's `since` on
/// ([`RuleState::flags`]), the allowance used in the current local day, and the kind's own
/// state, all in [`KindState`]. Saved as `{"flags", "allowance_used", "state": {kind: ...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleState {
    pub state: KindState,
}

/// Per-kind state, each variant led by the rule's flags and the allowance used in the current
/// local day, ms (a day's at most: 32 bits hold it). Being fields of the variants, they sit in
/// the bytes after the enum's tag: 40 bytes a rule instead of 48 as fields of [`RuleState`]
/// (every worker holds one per rule that keeps state, and every event reads them; memory per
/// worker is a target). So every kind's own state is at most 32 bytes: the larger are boxed,
/// and `continuous` and `period` are packed (their saved form is not their layout).
///
/// Kinds without per-worker state (`quota_p90`, and `minimum_wage` without `hours`) have no
/// [`RuleState`] at all; `None` is what records written before that held for them.
#[derive(Debug, Clone, PartialEq)]
pub enum KindState {
    Continuous(u8, u32, continuous::State),
    Period(u8, u32, period::State),
    // Boxed: rarer kinds with larger states, so that every other rule's state stays small.
    Rolling(u8, u32, Box<rolling::State>),
    SinceRest(u8, u32, Box<since_rest::State>),
    RestDeadline(u8, u32, rest_deadline::State),
    Streak(u8, u32, streak::State),
    Overtime(u8, u32, overtime::State),
    HolidayPay(u8, u32, holiday_pay::State),
    /// `minimum_wage` and `quota_p90` with `hours`.
    Hours(u8, u32, HoursWork),
    None(u8, u32),
}

impl KindState {
    fn head(&self) -> (u8, u32) {
        match *self {
            KindState::Continuous(flags, used, _)
            | KindState::Period(flags, used, _)
            | KindState::Rolling(flags, used, _)
            | KindState::SinceRest(flags, used, _)
            | KindState::RestDeadline(flags, used, _)
            | KindState::Streak(flags, used, _)
            | KindState::Overtime(flags, used, _)
            | KindState::HolidayPay(flags, used, _)
            | KindState::Hours(flags, used, _)
            | KindState::None(flags, used) => (flags, used),
        }
    }

    fn head_mut(&mut self) -> (&mut u8, &mut u32) {
        match self {
            KindState::Continuous(flags, used, _)
            | KindState::Period(flags, used, _)
            | KindState::Rolling(flags, used, _)
            | KindState::SinceRest(flags, used, _)
            | KindState::RestDeadline(flags, used, _)
            | KindState::Streak(flags, used, _)
            | KindState::Overtime(flags, used, _)
            | KindState::HolidayPay(flags, used, _)
            | KindState::Hours(flags, used, _)
            | KindState::None(flags, used) => (flags, used),
        }
    }
}

/// The saved shape of a [`RuleState`] (the layout of memory is not that of the record).
#[derive(Serialize)]
struct SavedRef<'a> {
    flags: u8,
    #[serde(skip_serializing_if = "is_zero")]
    allowance_used: u32,
    state: KindRef<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum KindRef<'a> {
    Continuous(&'a continuous::State),
    Period(&'a period::State),
    Rolling(&'a rolling::State),
    SinceRest(&'a since_rest::State),
    RestDeadline(&'a rest_deadline::State),
    Streak(&'a streak::State),
    Overtime(&'a overtime::State),
    HolidayPay(&'a holiday_pay::State),
    HoursWork(&'a HoursWork),
    None,
}

#[derive(Deserialize)]
struct Saved {
    #[serde(default)]
    flags: u8,
    #[serde(default)]
    allowance_used: u32,
    state: KindSaved,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindSaved {
    Continuous(continuous::State),
    Period(period::State),
    Rolling(Box<rolling::State>),
    SinceRest(Box<since_rest::State>),
    RestDeadline(rest_deadline::State),
    Streak(streak::State),
    Overtime(overtime::State),
    HolidayPay(holiday_pay::State),
    HoursWork(HoursWork),
    None,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl Serialize for RuleState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (flags, allowance_used) = self.state.head();
        let state = match &self.state {
            KindState::Continuous(_, _, s) => KindRef::Continuous(s),
            KindState::Period(_, _, s) => KindRef::Period(s),
            KindState::Rolling(_, _, s) => KindRef::Rolling(s),
            KindState::SinceRest(_, _, s) => KindRef::SinceRest(s),
            KindState::RestDeadline(_, _, s) => KindRef::RestDeadline(s),
            KindState::Streak(_, _, s) => KindRef::Streak(s),
            KindState::Overtime(_, _, s) => KindRef::Overtime(s),
            KindState::HolidayPay(_, _, s) => KindRef::HolidayPay(s),
            KindState::Hours(_, _, s) => KindRef::HoursWork(s),
            KindState::None(..) => KindRef::None,
        };
        SavedRef {
            flags,
            allowance_used,
            state,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RuleState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Saved {
            flags: f,
            allowance_used: a,
            state,
        } = Saved::deserialize(deserializer)?;
        let state = match state {
            KindSaved::Continuous(s) => KindState::Continuous(f, a, s),
            KindSaved::Period(s) => KindState::Period(f, a, s),
            KindSaved::Rolling(s) => KindState::Rolling(f, a, s),
            KindSaved::SinceRest(s) => KindState::SinceRest(f, a, s),
            KindSaved::RestDeadline(s) => KindState::RestDeadline(f, a, s),
            KindSaved::Streak(s) => KindState::Streak(f, a, s),
            KindSaved::Overtime(s) => KindState::Overtime(f, a, s),
            KindSaved::HolidayPay(s) => KindState::HolidayPay(f, a, s),
            KindSaved::HoursWork(s) => KindState::Hours(f, a, s),
            KindSaved::None => KindState::None(f, a),
        };
        Ok(RuleState { state })
    }
}

/// Where one rule stands now, for `/v1/workers/{id}` and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The amount the rule measures now, ms (for `streak`: days × 24 h).
    pub used: i64,
    /// Its violation threshold, ms.
    pub limit: i64,
    /// How much more of its measure (or wall time, for `elapsed_from` rules) reaches the
    /// threshold; never below 0.
    pub left: i64,
}

/// A check of one saved value: `Err` names it when it is out of range.
pub type Check<'a, T> = &'a dyn Fn(&str, T) -> Result<(), String>;

impl RuleState {
    /// Whether a restored state holds only instants and day numbers that valid input can
    /// produce (the calendar must never be asked about a day out of range).
    pub fn check(&self, instant: Check<'_, i64>, day: Check<'_, i32>) -> Result<(), String> {
        match &self.state {
            KindState::Continuous(_, _, s) => {
                instant("continuous.rest_start", s.rest_start)?;
                if let Some(episode) = &s.episode() {
                    instant("continuous.episode.start", episode.start)?;
                }
            }
            KindState::Period(_, _, s) => {
                day("period.index", s.index)?;
                instant("period.rest_start", s.rest_start)?;
            }
            KindState::Rolling(_, _, s) => {
                let splits = s.split.iter().flat_map(|v| v.iter().map(|(_, s)| s));
                for state in std::iter::once(&**s).chain(splits) {
                    for &(start, end) in &state.intervals {
                        instant("rolling.intervals", start)?;
                        instant("rolling.intervals", end)?;
                    }
                }
            }
            KindState::SinceRest(_, _, s) => {
                instant("since_rest.rest_start", s.rest_start)?;
                day("since_rest.ext_week", s.ext_week)?;
                if let Some(shift) = &s.shift {
                    instant("since_rest.shift.start", shift.start)?;
                }
            }
            KindState::RestDeadline(_, _, s) => {
                instant("rest_deadline.last_end", s.last_end)?;
                instant("rest_deadline.rest_start", s.rest_start)?;
            }
            KindState::Streak(_, _, s) => day("streak.last_day", s.last_day)?,
            KindState::Overtime(_, _, s) => day("overtime.month", s.month)?,
            KindState::HolidayPay(_, _, s) => {
                for &(d, _, _) in &s.days {
                    day("holiday_pay.days", d)?;
                }
            }
            KindState::Hours(..) | KindState::None(..) => {}
        }
        Ok(())
    }

    pub fn new(def: &RuleDef) -> RuleState {
        let state = match &def.params {
            Params::Continuous(_) => KindState::Continuous(0, 0, continuous::State::default()),
            Params::Period(p) => KindState::Period(0, 0, period::State::new(p)),
            Params::Rolling(_) => KindState::Rolling(0, 0, Box::default()),
            Params::SinceRest(_) => KindState::SinceRest(0, 0, Box::default()),
            Params::RestDeadline(_) => {
                KindState::RestDeadline(0, 0, rest_deadline::State::default())
            }
            Params::Streak(_) => KindState::Streak(0, 0, streak::State::default()),
            Params::Overtime(_) => KindState::Overtime(0, 0, overtime::State::default()),
            Params::HolidayPay(_) => KindState::HolidayPay(0, 0, holiday_pay::State::default()),
            Params::MinimumWage(_) | Params::QuotaP90(_) if def.hours.is_some() => {
                KindState::Hours(0, 0, HoursWork::default())
            }
            Params::MinimumWage(_) | Params::QuotaP90(_) => KindState::None(0, 0),
        };
        RuleState { state }
    }

    /// Whether this state belongs to a rule of `def`'s kind (restored state, changed packs).
    pub fn fits(&self, def: &RuleDef) -> bool {
        matches!(
            (&self.state, &def.params),
            (KindState::Continuous(_, _, _), Params::Continuous(_))
                | (KindState::Period(_, _, _), Params::Period(_))
                | (KindState::Rolling(_, _, _), Params::Rolling(_))
                | (KindState::SinceRest(_, _, _), Params::SinceRest(_))
                | (KindState::RestDeadline(_, _, _), Params::RestDeadline(_))
                | (KindState::Streak(_, _, _), Params::Streak(_))
                | (KindState::Overtime(_, _, _), Params::Overtime(_))
                | (KindState::HolidayPay(_, _, _), Params::HolidayPay(_))
                | (
                    KindState::Hours(_, _, _),
                    Params::MinimumWage(_) | Params::QuotaP90(_)
                )
        )
    }

    /// The rule's flags from the worker's `since` on ([`ON`], [`REST_ON`], [`AUX`]).
    pub fn flags(&self) -> u8 {
        self.state.head().0
    }

    /// Allowance used in the current local day, ms.
    fn allowance_used(&self) -> u32 {
        self.state.head().1
    }

    pub fn on(&self) -> bool {
        self.flags() & ON != 0
    }

    pub fn rest_on(&self) -> bool {
        self.flags() & REST_ON != 0
    }

    /// The rule's flags at instant `t` given the worker's measures `bits`.
    #[inline]
    pub fn eval(&self, def: &RuleDef, bits: Bits, t: i64, cal: &mut Calendar) -> u8 {
        if def.hours.is_some_and(|hours| !hours.contains(cal, t)) {
            return 0;
        }
        let mut on = def.measure.is_on(bits);
        if let Some(allowance) = def.allowance {
            on |= Measure::Work.is_on(bits) && i64::from(self.allowance_used()) < allowance;
        }
        let rest_on = match def.rest_unless {
            Some(m) => m.is_on(bits),
            None => on,
        };
        let aux = def.elapsed_from.is_some_and(|m| m.is_on(bits));
        let bit = |on: bool, bit: u8| if on { bit } else { 0 };
        bit(on, ON) | bit(rest_on, REST_ON) | bit(aux, AUX)
    }

    /// The worker's first day (calendar periods start counting from it).
    pub fn open(&mut self, def: &RuleDef, day: &Day) {
        match (&mut self.state, &def.params) {
            (KindState::Period(_, _, s), Params::Period(p)) => s.open(p, day),
            (KindState::Overtime(_, _, s), _) => s.open(day),
            _ => {}
        }
    }

    /// Adds the flags held from `from` (the worker's `since`) to `to`. `platforms`: for a
    /// person, the platforms whose worker ids have the rule's measure (empty for a worker).
    #[inline]
    pub fn integrate(&mut self, def: &RuleDef, bits: Bits, from: i64, to: i64, platforms: &[&str]) {
        let span = to - from;
        if span <= 0 {
            return;
        }
        let on = self.on();
        if on
            && def.allowance.is_some()
            && !Measure::Orders.is_on(bits)
            && Measure::Work.is_on(bits)
        {
            let span = u32::try_from(span).unwrap_or(u32::MAX);
            let used = self.state.head_mut().1;
            *used = used.saturating_add(span);
        }
        match (&mut self.state, &def.params) {
            (KindState::Continuous(_, _, s), Params::Continuous(_)) => {
                s.integrate(on, span, platforms)
            }
            (KindState::Period(_, _, s), Params::Period(_)) => s.integrate(on, span, platforms),
            (KindState::Rolling(_, _, s), Params::Rolling(p)) => {
                s.integrate(p.window, on, from, to, platforms)
            }
            (KindState::SinceRest(_, _, s), Params::SinceRest(p)) => {
                s.integrate(p, on, span, platforms)
            }
            (KindState::RestDeadline(_, _, s), Params::RestDeadline(_)) => {
                s.integrate(on, span, platforms)
            }
            (KindState::Overtime(_, _, s), Params::Overtime(_)) => s.integrate(on, span, platforms),
            (KindState::Hours(_, _, s), Params::MinimumWage(_) | Params::QuotaP90(_)) => {
                s.integrate(on, span, platforms)
            }
            (KindState::HolidayPay(_, _, s), Params::HolidayPay(_))
                if def.hours.is_some() && on =>
            {
                s.hours
                    .get_or_insert_with(Box::default)
                    .integrate(on, span, platforms)
            }
            _ => {}
        }
    }

    /// The first instant after `since` at which this rule needs the engine if nothing
    /// changes; `NONE` when none. `bits` are the worker's measures from `since` on.
    pub fn next_crossing(
        &self,
        def: &RuleDef,
        bits: Bits,
        since: i64,
        day: &Day,
        cal: &mut Calendar,
    ) -> i64 {
        let mut best = NONE;
        if let Some(hours) = def.hours {
            let relevant = def.measure.bit()
                | def.rest_unless.map_or(0, Measure::bit)
                | def.elapsed_from.map_or(0, Measure::bit)
                | def.allowance.map_or(0, |_| Measure::Work.bit());
            if bits & relevant != 0 {
                best = best.min(hours.next_boundary(cal, since));
            }
        }
        if let Some(allowance) = def.allowance
            && self.on()
            && !Measure::Orders.is_on(bits)
            && i64::from(self.allowance_used()) < allowance
        {
            best = best.min(since + (allowance - i64::from(self.allowance_used())));
        }
        let on = self.on();
        let kind = match (&self.state, &def.params) {
            (KindState::Continuous(_, _, s), Params::Continuous(p)) => {
                s.next_crossing(p, on, since)
            }
            (KindState::Period(_, _, s), Params::Period(p)) => s.next_crossing(p, on, since),
            (KindState::Rolling(_, _, s), Params::Rolling(p)) => s.next_crossing(p, on, since),
            (KindState::SinceRest(_, _, s), Params::SinceRest(p)) => {
                s.next_crossing(p, self.flags(), since)
            }
            (KindState::RestDeadline(_, _, s), Params::RestDeadline(p)) => {
                s.next_crossing(p, on, since)
            }
            (KindState::Streak(_, _, s), Params::Streak(_)) => s.next_crossing(on, since, day),
            (KindState::Overtime(_, _, s), Params::Overtime(p)) => s.next_crossing(p, on, since),
            _ => NONE,
        };
        best.min(kind)
    }

    /// The instant at which the current rest completes something (`NONE` when nothing).
    pub fn next_completion(&self, def: &RuleDef) -> i64 {
        if self.rest_on() {
            return NONE;
        }
        match (&self.state, &def.params) {
            (KindState::Continuous(_, _, s), Params::Continuous(p)) => s.next_completion(p),
            (KindState::Period(_, _, s), Params::Period(p)) => s.next_completion(p, self.on()),
            (KindState::SinceRest(_, _, s), Params::SinceRest(p)) => s.next_completion(p),
            _ => NONE,
        }
    }

    /// A rest completes at `t` (from [`RuleState::next_completion`]).
    pub fn complete(&mut self, def: &RuleDef, t: i64, me: &Me<'_>, cx: &mut Cx<'_>) {
        match (&mut self.state, &def.params) {
            (KindState::Continuous(_, _, s), Params::Continuous(p)) => {
                s.complete(def, p, t, me, cx)
            }
            (KindState::Period(_, _, s), Params::Period(_)) => s.complete(),
            (KindState::SinceRest(_, _, s), Params::SinceRest(p)) => s.complete(def, p, t, me, cx),
            _ => {}
        }
    }

    /// The worker's local day changed from `old` to `new` (possibly several days later), at
    /// `old.end`: close the old day, open the new one.
    pub fn rollover(
        &mut self,
        def: &RuleDef,
        old: &Day,
        new: &Day,
        me: &Me<'_>,
        closed: &ClosedDay,
        cx: &mut Cx<'_>,
    ) {
        *self.state.head_mut().1 = 0;
        match (&mut self.state, &def.params) {
            (KindState::Period(_, _, s), Params::Period(p)) => s.rollover(p, old, new),
            (KindState::Overtime(_, _, s), Params::Overtime(p)) => s.rollover(p, new),
            (KindState::HolidayPay(_, _, s), Params::HolidayPay(p)) => {
                if def.hours.is_some() {
                    let mut hours = s.hours.take().map(|hours| *hours).unwrap_or_default();
                    let closed = hours.close(closed);
                    s.close_day(def, p, old, &closed, me, cx)
                } else {
                    s.close_day(def, p, old, closed, me, cx)
                }
            }
            (KindState::Hours(_, _, s), Params::MinimumWage(p)) => {
                let closed = s.close(closed);
                minimum_wage::close_day(def, p, old, &closed, me, cx)
            }
            // Read by the engine when the day closes (`Worker::closed_hours_work`).
            (KindState::Hours(_, _, s), Params::QuotaP90(_)) => {
                s.close(closed);
            }
            _ => {}
        }
    }

    /// The flags become `flags` at instant `t` (after the events of `t`); fires what is due.
    pub fn instant(&mut self, def: &RuleDef, flags: u8, t: i64, me: &Me<'_>, cx: &mut Cx<'_>) {
        let before = std::mem::replace(self.state.head_mut().0, flags);
        match (&mut self.state, &def.params) {
            (KindState::Continuous(_, _, s), Params::Continuous(p)) => {
                s.instant(def, p, before, flags, t, me, cx)
            }
            (KindState::Period(_, _, s), Params::Period(p)) => {
                s.instant(def, p, before, flags, t, me, cx)
            }
            (KindState::Rolling(_, _, s), Params::Rolling(p)) => {
                s.instant(def, p, flags, t, me, cx)
            }
            (KindState::SinceRest(_, _, s), Params::SinceRest(p)) => {
                s.instant(def, p, before, flags, t, me, cx)
            }
            (KindState::RestDeadline(_, _, s), Params::RestDeadline(p)) => {
                s.instant(def, p, before, flags, t, me, cx)
            }
            (KindState::Streak(_, _, s), Params::Streak(p)) => s.instant(def, p, flags, t, me, cx),
            (KindState::Overtime(_, _, s), Params::Overtime(p)) => {
                s.instant(def, p, flags, t, me, cx)
            }
            _ => {}
        }
    }

    /// Whether the rule's next crossing wakes the worker (a timer): else it is only looked at
    /// on the way to the worker's next event or timer.
    fn wakes(&self, def: &RuleDef) -> bool {
        self.on() || def.hours.is_some()
    }

    /// The next crossing (from [`RuleState::next_crossing`]) as the engine takes it for a
    /// worker restored from a save: one that wakes the worker is not before `rules_from`
    /// ([`super::Cx::rules_from`]).
    pub fn crossing_from(&self, def: &RuleDef, crossing: i64, rules_from: i64) -> i64 {
        if self.wakes(def) {
            crossing.max(rules_from)
        } else {
            crossing
        }
    }

    /// At `since`: the next crossing and completion the worker's advance would stop at, and
    /// the next instant at which an alert may be due (the worker's timer), in one pass. When
    /// `observing` (live: the episode histogram), the completion of an observed rule's break
    /// is such an instant too, so that the episode is observed when it ends.
    pub fn points(
        &self,
        def: &RuleDef,
        bits: Bits,
        since: i64,
        day: &Day,
        cal: &mut Calendar,
        observing: bool,
    ) -> (i64, i64, i64) {
        let crossing = if self.flags() != 0 || def.hours.is_some() {
            self.next_crossing(def, bits, since, day, cal)
        } else {
            NONE
        };
        let completion = self.next_completion(def).max(since);
        let mut wake = if self.wakes(def) { crossing } else { NONE };
        match &self.state {
            KindState::Continuous(_, _, s) if s.resolves() || (observing && def.observe) => {
                wake = wake.min(completion)
            }
            KindState::SinceRest(_, _, s) if s.resolves() => wake = wake.min(completion),
            // A phase fired in this period fires again in the next one while the sum stays at
            // its threshold, and a sum of one period starts again from zero: either way, at
            // the period's end the crossings are new. Period ends are midnights.
            KindState::Period(_, _, s) if s.fired != 0 && self.on() => {
                wake = wake.min(day.end);
            }
            // A measure that is on at the midnight makes the midnight the next day's first
            // instant of it: the run counts that day then, and its alert may be due. Working
            // workers are woken at midnight anyway; a driver's `driving` is not working time.
            KindState::Streak(..) if self.on() => wake = wake.min(day.end),
            _ => {}
        }
        (crossing, completion, wake)
    }

    /// Where the rule stands after integrating to the worker's `since`, on local day `today`
    /// (`since`'s), whose day before is `yesterday` (`None` for rules that measure no time:
    /// pay, aggregates).
    pub fn standing(
        &self,
        def: &RuleDef,
        since: i64,
        today: &Day,
        yesterday: i32,
    ) -> Option<Standing> {
        match (&self.state, &def.params) {
            (KindState::Continuous(_, _, s), Params::Continuous(p)) => Some(s.standing(p)),
            (KindState::Period(_, _, s), Params::Period(p)) => Some(s.standing(p)),
            (KindState::Rolling(_, _, s), Params::Rolling(p)) => Some(s.standing(p, since)),
            (KindState::SinceRest(_, _, s), Params::SinceRest(p)) => {
                Some(s.standing(p, since, today.week))
            }
            (KindState::RestDeadline(flags, _, s), Params::RestDeadline(p)) => {
                Some(s.standing(p, *flags, since))
            }
            (KindState::Streak(_, _, s), Params::Streak(p)) => {
                Some(s.standing(p, today.number, yesterday))
            }
            (KindState::Overtime(_, _, s), Params::Overtime(p)) => Some(s.standing(p)),
            _ => None,
        }
    }

    /// Whether the rule is in a violation that fired and holds (an open episode or shift, a
    /// period, month or deadline whose violation fired), for the kinds whose state knows it;
    /// `None` for the others, whose caller compares the amount with the limit. `since`: the
    /// worker's settled instant.
    pub fn in_violation(&self, def: &RuleDef, since: i64) -> Option<bool> {
        match (&self.state, &def.params) {
            (KindState::Continuous(_, _, s), _) => Some(s.episode().is_some_and(|e| e.violated)),
            (KindState::SinceRest(_, _, s), _) => Some(s.shift.is_some_and(|e| e.violated)),
            (KindState::Period(_, _, s), _) => Some(s.violated()),
            (KindState::Overtime(_, _, s), _) => Some(s.fired),
            (KindState::RestDeadline(flags, _, s), Params::RestDeadline(p)) => {
                Some(s.in_violation(p, *flags, since))
            }
            _ => None,
        }
    }
}

/// Persons: a platform's name in a rule's time per platform. Spelled out rather than interned:
/// once a worker id has left a platform (an event naming another, or none), no one may hold
/// the interned name while its time still counts, and a saved state is read back into another
/// engine's table.
pub type PlatformName = Box<str>;

/// Persons: the measured time per platform, for an alert's `by_platform` (platforms with time
/// only).
pub type ByPlatform = Vec<(PlatformName, i64)>;

/// Persons: the most platforms a rule's time per platform names; the time of any further one
/// goes to [`OTHER_PLATFORMS`]. A person works for a few platforms, but each event may name
/// another, and memory must not grow with the events of a rule's period (SPEC section 5).
pub const MAX_SPLIT_PLATFORMS: usize = 32;
/// Where the time of platforms beyond [`MAX_SPLIT_PLATFORMS`] goes in `by_platform`.
pub const OTHER_PLATFORMS: &str = "other";

/// The entry of `platform` in a time per platform of `len` entries, where `find` gives the
/// position of a name: `Ok` with its own, or, beside [`MAX_SPLIT_PLATFORMS`] others,
/// [`OTHER_PLATFORMS`]'; `Err(name)` when a new entry is to be made under `name`.
fn split_entry(
    platform: &str,
    len: usize,
    find: impl Fn(&str) -> Option<usize>,
) -> Result<usize, &str> {
    if let Some(i) = find(platform) {
        return Ok(i);
    }
    if len < MAX_SPLIT_PLATFORMS {
        return Err(platform);
    }
    find(OTHER_PLATFORMS).ok_or(OTHER_PLATFORMS)
}

/// Adds `ms` to `platform`'s entry of `parts`, made if missing, or beside
/// [`MAX_SPLIT_PLATFORMS`] others to [`OTHER_PLATFORMS`]'.
pub fn add_platform_time(parts: &mut ByPlatform, platform: &str, ms: i64) {
    match split_entry(platform, parts.len(), |name| {
        parts.iter().position(|(p, _)| **p == *name)
    }) {
        Ok(i) => parts[i].1 += ms,
        Err(name) => parts.push((name.into(), ms)),
    }
}

/// Persons (SPEC section 8): a rule's measured time per platform, for an alert's
/// `by_platform`. Time during which two platforms had the measure counts for each. Empty (and
/// 8 bytes) for workers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
// Boxed: 8 bytes in every worker's rule state, where a `Vec` would take 24 (memory per
// worker is a target); only persons allocate.
#[allow(clippy::box_collection)]
pub struct Split(Option<Box<ByPlatform>>);

impl Split {
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `span` ms for each of `platforms`.
    #[inline]
    pub fn add(&mut self, platforms: &[&str], span: i64) {
        if !platforms.is_empty() && span > 0 {
            self.add_parts(platforms, span);
        }
    }

    fn add_parts(&mut self, platforms: &[&str], span: i64) {
        let parts = self.0.get_or_insert_with(Default::default);
        for &platform in platforms {
            add_platform_time(parts, platform, span);
        }
    }

    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// The parts, platforms with time only.
    pub fn parts(&self) -> ByPlatform {
        self.0
            .as_deref()
            .map(|parts| parts.iter().filter(|&(_, ms)| *ms > 0).cloned().collect())
            .unwrap_or_default()
    }
}

/// What the worker's base state knows of a day it closes (for pay rules).
#[derive(Debug, Clone)]
pub struct ClosedDay {
    /// Working time (section 3) of the day, ms.
    pub work: i64,
    /// Fees of the day's first deliveries of each order, fen.
    pub fees: u64,
    /// Whether any delivery of the day carried `fee_cents`.
    pub has_fee: bool,
    /// Persons: the day's working time per platform.
    pub by_platform: ByPlatform,
}

/// The working time of the current local day within a rule's `hours` (SPEC 7: outside them
/// the rule's measure is false), for the kinds that otherwise read the day's working time
/// ([`ClosedDay::work`]): `minimum_wage`, `holiday_pay` and (a worker's, not a person's: it
/// stays per worker id) `quota_p90`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoursWork {
    /// Ms of the day so far.
    #[serde(default, skip_serializing_if = "is_zero_ms")]
    pub today: i64,
    /// Persons: the same per platform.
    #[serde(default, skip_serializing_if = "Split::is_empty")]
    pub split: Split,
    /// Ms of the last day closed (`quota_p90` reads it once that day has closed).
    #[serde(default, skip_serializing_if = "is_zero_ms")]
    pub closed: i64,
}

fn is_zero_ms(v: &i64) -> bool {
    *v == 0
}

impl HoursWork {
    pub fn integrate(&mut self, on: bool, span: i64, platforms: &[&str]) {
        if on {
            self.today += span;
            self.split.add(platforms, span);
        }
    }

    /// The day `closed` with its working time (and its split) within the hours; starts the
    /// next day at zero. Fees are the day's, whenever paid: only time is measured.
    pub fn close(&mut self, closed: &ClosedDay) -> ClosedDay {
        let day = ClosedDay {
            work: self.today,
            fees: closed.fees,
            has_fee: closed.has_fee,
            by_platform: self.split.parts(),
        };
        *self = HoursWork {
            closed: self.today,
            ..HoursWork::default()
        };
        day
    }
}

/// A threshold of a kind's table: the phase it fires and the amount it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub phase: Phase,
    pub amount: i64,
}

/// The first instant at which `amount` (growing by 1 ms per ms from `since`) reaches a
/// threshold of `table` not yet fired.
pub fn crossing(
    table: &[Threshold],
    fired: impl Fn(Phase) -> bool,
    amount: i64,
    since: i64,
) -> i64 {
    table
        .iter()
        .filter(|t| !fired(t.phase) && amount < t.amount)
        .map(|t| since + (t.amount - amount))
        .min()
        .unwrap_or(NONE)
}

/// Whole seconds of a measured amount and its threshold.
pub fn seconds(value_ms: i64, limit_ms: i64) -> Amount {
    Amount::Seconds {
        value: value_ms.div_euclid(1000),
        limit: limit_ms.div_euclid(1000),
    }
}

/// The label of a phase's threshold in messages: the pack's words, or `default`.
pub fn label<'a>(def: &'a RuleDef, phase: Phase, default: &'a str) -> &'a str {
    let own = match phase {
        Phase::Warning => def.warning_label.as_deref(),
        _ => def.label.as_deref(),
    };
    own.unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The saved form of the two most common states is theirs, not their layout's (each is
    /// packed into 32 bytes): every field, persons' splits, a period's older sums and resets
    /// and a continuous episode's flags come back byte for byte and read as written.
    #[test]
    fn packed_states_keep_their_saved_json() {
        let records = [
            r#"{"flags":3,"state":{"continuous":{"episode":{"start":1772409600000,"work":89400000,"warned":true,"violated":false,"first_part":true},"rest_start":1772409000000,"split":[["meituan",3000],["eleme",86400000]]}}}"#,
            r#"{"flags":1,"allowance_used":600000,"state":{"continuous":{"episode":{"start":-5,"work":0,"warned":false,"violated":true,"first_part":false},"rest_start":-9223372036854775808}}}"#,
            r#"{"flags":0,"state":{"continuous":{"episode":null,"rest_start":-9223372036854775808}}}"#,
            r#"{"flags":3,"state":{"period":{"index":20515,"current":31800000,"older":[0,7,9],"fired":2,"rest_start":1772409000000,"resets":4,"split":[["meituan",[1,2,3,4]],["eleme",[0,0,0,5]]]}}}"#,
            r#"{"flags":3,"state":{"period":{"index":20515,"current":31800000,"fired":1,"rest_start":-9223372036854775808,"split":[["meituan",[60000]]]}}}"#,
            r#"{"flags":3,"state":{"period":{"index":20515,"current":0,"older":[5],"fired":0,"rest_start":-9223372036854775808,"split":[]}}}"#,
            r#"{"flags":3,"state":{"period":{"index":-2147483648,"current":0,"fired":0,"rest_start":-9223372036854775808}}}"#,
        ];
        for record in records {
            let state: RuleState = serde_json::from_str(record).expect(record);
            assert_eq!(serde_json::to_string(&state).unwrap(), record);
            assert_eq!(state.clone(), state);
        }
        let state: RuleState = serde_json::from_str(records[0]).unwrap();
        let KindState::Continuous(3, 0, s) = &state.state else {
            panic!("{state:?}")
        };
        let episode = s.episode().unwrap();
        assert_eq!((episode.start, episode.work), (1772409600000, 89400000));
        assert!(episode.warned && !episode.violated && episode.first_part);
        assert!(!s.resolves());
        assert_eq!(
            s.standing(&continuous::Params::new(3_600_000, None, 1_200_000, None))
                .used,
            89400000
        );
        let state: RuleState = serde_json::from_str(records[1]).unwrap();
        let KindState::Continuous(1, 600000, s) = &state.state else {
            panic!("{state:?}")
        };
        assert!(s.resolves());
        // Written before `first_part` existed: false.
        let old = r#"{"flags":3,"state":{"continuous":{"episode":{"start":1,"work":2,"warned":true,"violated":true},"rest_start":0}}}"#;
        let state: RuleState = serde_json::from_str(old).unwrap();
        let KindState::Continuous(_, _, s) = &state.state else {
            panic!("{state:?}")
        };
        let episode = s.episode().unwrap();
        assert!(episode.warned && episode.violated && !episode.first_part);
    }

    /// A record whose episode cannot be held (negative time, or more than the packed field
    /// holds) is refused with a reason, not wrapped into another value.
    #[test]
    fn an_episode_out_of_range_is_refused() {
        for work in ["-1", "1152921504606846976", "9223372036854775807"] {
            let record = format!(
                r#"{{"flags":3,"state":{{"continuous":{{"episode":{{"start":1,"work":{work},"warned":true,"violated":true}},"rest_start":0}}}}}}"#
            );
            let error = serde_json::from_str::<RuleState>(&record).unwrap_err();
            assert!(error.to_string().contains("out of range"), "{error}");
        }
        let record = r#"{"flags":3,"state":{"continuous":{"episode":{"start":1,"work":1152921504606846975,"warned":true,"violated":true},"rest_start":0}}}"#;
        assert!(serde_json::from_str::<RuleState>(record).is_ok());
    }

    /// A person's time per platform names at most [`MAX_SPLIT_PLATFORMS`] platforms and
    /// [`OTHER_PLATFORMS`]: events that each name a new platform no longer grow it (it held
    /// one entry per name seen in the rule's period), and no time is lost.
    #[test]
    fn time_per_platform_is_bounded() {
        let names: Vec<String> = (0..100).map(|i| format!("p{i}")).collect();
        let mut split = Split::default();
        for (i, name) in names.iter().enumerate() {
            split.add(&[name, "meituan"], 1_000 + i as i64);
        }
        let parts = split.parts();
        assert_eq!(parts.len(), MAX_SPLIT_PLATFORMS + 1, "{parts:?}");
        let total: i64 = parts.iter().map(|(_, ms)| ms).sum();
        let sent: i64 = (0..100).map(|i| 2 * (1_000 + i)).sum();
        assert_eq!(total, sent);
        let get = |name: &str| parts.iter().find(|(p, _)| &**p == name).map(|&(_, ms)| ms);
        assert_eq!(get("meituan"), Some((0..100).map(|i| 1_000 + i).sum()));
        assert_eq!(get("p0"), Some(1_000));
        assert_eq!(get("p30"), Some(1_030));
        assert_eq!(get("p31"), None);
        assert_eq!(
            get(OTHER_PLATFORMS),
            Some((31..100).map(|i| 1_000 + i).sum())
        );
    }
}
