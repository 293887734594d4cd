//! One worker's state and the per-worker rules of SPEC sections 3 and 4.
//!
//! Time only moves forward, through two steps the engine calls in this order at an instant:
//! [`Worker::advance`] integrates the state that held before the instant (firing thresholds
//! crossed strictly inside, midnights, session timeouts, completed breaks), events at the
//! instant change the raw state ([`Worker::apply`]), then [`Worker::settle`] reads the state
//! that holds from the instant on and fires what is due at the instant itself. Because a
//! threshold reached exactly when work stops is only checked after the events of that instant,
//! work that stops at a limit fires nothing, as SPEC says.

use serde::{Deserialize, Serialize};

use super::{Cx, Observation, Pending};
use crate::alert::{Amount, Phase, Rule, human_duration};
use crate::calendar::{Calendar, Day};
use crate::config::Rules;
use crate::event::Kind;

const HOUR: i64 = 3_600_000;
/// Most active orders a worker may have (SPEC section 5); an order start beyond it is bad.
pub const MAX_ACTIVE_ORDERS: usize = 64;
/// Most orders remembered as delivered in a local day (a fee counts on an order's first
/// delivery of the day). Beyond it every delivery's fee counts: no honest worker delivers
/// this many orders a day, and memory stays bounded whatever the input.
const MAX_DELIVERED_PER_DAY: usize = 256;
/// Days of work in a row that call for a rest day (Labour Law art. 38).
pub const REST_DAY_EVERY: u32 = 7;

/// Bits of `Worker::fired` for the calendar rules; reset when their period rolls over.
const DAY_WARNED: u8 = 1;
const DAY_VIOLATED: u8 = 2;
const WEEK_VIOLATED: u8 = 4;
const MONTH_VIOLATED: u8 = 8;

/// A continuous-work episode: from the first working instant after a qualifying break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    pub start: i64,
    /// Working time in the episode, ms (short rests do not count).
    pub work: i64,
    pub warned: bool,
    pub violated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Worker {
    pub id: Box<str>,
    /// Index of the rule set, fixed by the first applied event.
    pub rules: u16,
    /// Interned platform, role and city of the last applied event.
    pub platform: u32,
    pub role: u32,
    pub city: u32,

    pub online: bool,
    pub on_break: bool,
    /// Hashes of the active orders.
    pub orders: Vec<u64>,

    /// Whether the worker works from `since` on (the settled state).
    pub working: bool,
    /// Every counter is integrated up to this instant; `NEVER` before the first event.
    pub since: i64,
    pub last_event: i64,
    /// Start of the current rest, when not working.
    pub rest_start: i64,
    pub episode: Option<Episode>,

    /// The local day that contains `since`.
    pub day: i32,
    pub day_start: i64,
    pub day_end: i64,
    pub week: i32,
    pub month: i32,
    pub day_work: i64,
    pub week_work: i64,
    /// Overtime of the month's closed days, ms.
    pub month_overtime: i64,
    pub fired: u8,
    pub day_has_work: bool,
    /// Consecutive local days with work, up to `last_work_day`.
    pub streak: u32,
    pub last_work_day: i32,
    pub day_fees: u64,
    pub day_has_fee: bool,
    /// Orders delivered on the current local day: a fee counts on an order's first delivery
    /// of the day only (SPEC: "the first order_delivered of each order on the local day").
    pub delivered: Vec<u64>,

    /// The instant of this worker's live timer, `NONE` when none.
    pub wake_at: i64,
    /// The instant whose events last touched this worker (transient: marks it for settling
    /// once per instant).
    #[serde(skip, default = "never")]
    pub touched_at: i64,
    /// Group and rule set of the last pushed event (transient: a cache for `Engine::push`).
    #[serde(skip)]
    pub pushed_group: Option<(u32, u32, u32, u16)>,
    /// (`ts`, sequence) of the last applied event. Events are applied in that order, so after a
    /// restore an event at or below it has been applied already (live re-reads are idempotent).
    #[serde(default)]
    pub last_applied: Option<(i64, u64)>,
    /// Changed since the state was last saved (transient).
    #[serde(skip)]
    pub dirty: bool,
    /// Events of this worker waiting in the reorder buffer.
    #[serde(default)]
    pub pending: u32,
    /// The last closed day and its working time, for `quota_p90`.
    pub closed_day: i32,
    pub closed_work: i64,
}

pub const NEVER: i64 = i64::MIN;

fn never() -> i64 {
    NEVER
}
pub const NONE: i64 = i64::MAX;

impl Worker {
    pub fn new(id: &str) -> Worker {
        Worker {
            id: id.into(),
            rules: 0,
            platform: 0,
            role: 0,
            city: 0,
            online: false,
            on_break: false,
            orders: Vec::new(),
            working: false,
            since: NEVER,
            last_event: NEVER,
            rest_start: NEVER,
            episode: None,
            day: i32::MIN,
            day_start: NEVER,
            day_end: NEVER,
            week: i32::MIN,
            month: i32::MIN,
            day_work: 0,
            week_work: 0,
            month_overtime: 0,
            fired: 0,
            day_has_work: false,
            streak: 0,
            last_work_day: i32::MIN,
            day_fees: 0,
            day_has_fee: false,
            delivered: Vec::new(),
            wake_at: NONE,
            touched_at: NEVER,
            pushed_group: None,
            last_applied: None,
            dirty: false,
            pending: 0,
            closed_day: i32::MIN,
            closed_work: 0,
        }
    }

    /// The placeholder of a freed slot.
    pub fn free() -> Worker {
        Worker::new("")
    }

    /// A freed slot: no id, no state, nothing waiting.
    pub fn is_free(&self) -> bool {
        self.since == NEVER && self.pending == 0 && self.id.is_empty()
    }

    /// Whether applying `event` would break a bound of SPEC section 5 (an order start beyond
    /// the most active orders allowed): the event is then bad and changes nothing.
    pub fn refuses(&self, event: &Pending) -> bool {
        matches!(event.kind, Kind::OrderAccepted | Kind::OrderPickedUp)
            && self.orders.len() >= MAX_ACTIVE_ORDERS
            && !self.orders.contains(&event.order)
    }

    /// Interned (platform, role, city) of the last applied event.
    pub fn group(&self) -> (u32, u32, u32) {
        (self.platform, self.role, self.city)
    }

    fn raw_working(&self) -> bool {
        (self.online && !self.on_break) || !self.orders.is_empty()
    }

    /// Integrates the settled state from `since` up to `to` (exclusive of what events at
    /// `to` will change).
    pub fn advance(&mut self, index: u32, to: i64, cx: &mut Cx<'_>) {
        if self.since == NEVER || to <= self.since {
            return;
        }
        // The table outlives `cx`'s borrow: no copy of the rules per call.
        let table = cx.rules;
        let rules = &table[usize::from(self.rules)];
        while self.since < to {
            let from = self.since;
            if self.working {
                let timeout_at = if rules.session_timeout > 0 {
                    self.last_event.saturating_add(rules.session_timeout)
                } else {
                    NONE
                };
                let mut x = to.min(self.day_end).min(timeout_at);
                if let Some(crossing) = self.next_crossing(rules) {
                    x = x.min(crossing);
                }
                let span = x - from;
                if let Some(episode) = &mut self.episode {
                    episode.work += span;
                }
                self.day_work += span;
                self.week_work += span;
                self.since = x;
                if x == self.day_end {
                    let next = cx.cal.day(self.day + 1);
                    self.rollover(next, rules, cx);
                }
                // At `to` itself the events of that instant come first (they may postpone
                // the timeout or stop the work), so only instants strictly inside count here.
                if x < to {
                    if x == timeout_at {
                        self.time_out(x, cx);
                    } else {
                        self.working_instant(index, x, rules, cx);
                    }
                }
            } else {
                if self.episode.is_some() && self.rest_start.saturating_add(rules.min_break) <= to {
                    let completed = self.rest_start + rules.min_break;
                    self.close_episode(completed.max(from), rules, cx);
                }
                if to >= self.day_end {
                    let day = cx.cal.day_at(to);
                    self.rollover(day, rules, cx);
                }
                self.since = to;
            }
        }
    }

    /// The first instant after `since` at which a threshold not yet fired is reached, if
    /// the worker keeps working.
    fn next_crossing(&self, rules: &Rules) -> Option<i64> {
        let mut best = NONE;
        let mut consider = |counter: i64, threshold: i64| {
            if counter < threshold {
                best = best.min(self.since + (threshold - counter));
            }
        };
        if let Some(episode) = &self.episode {
            if !episode.warned {
                consider(episode.work, rules.continuous_limit - rules.warn_before);
            }
            if !episode.violated {
                consider(episode.work, rules.continuous_limit);
            }
        }
        if self.fired & DAY_WARNED == 0 {
            consider(self.day_work, rules.daily_standard);
        }
        if self.fired & DAY_VIOLATED == 0 {
            consider(self.day_work, rules.daily_max);
        }
        if self.fired & WEEK_VIOLATED == 0 {
            consider(self.week_work, rules.weekly_max);
        }
        if self.fired & MONTH_VIOLATED == 0 {
            let now = self.month_overtime + (self.day_work - rules.daily_standard).max(0);
            if now < rules.monthly_overtime_max {
                // Overtime grows only once the day passes the standard.
                let to_standard = (rules.daily_standard - self.day_work).max(0);
                best = best.min(self.since + to_standard + (rules.monthly_overtime_max - now));
            }
        }
        (best != NONE).then_some(best)
    }

    /// What is due at an instant at which the worker is working.
    fn working_instant(&mut self, index: u32, at: i64, rules: &Rules, cx: &mut Cx<'_>) {
        if !self.day_has_work {
            self.mark_day_work(index, at, cx);
        }
        if let Some(mut episode) = self.episode {
            let warn_at = rules.continuous_limit - rules.warn_before;
            if !episode.warned && episode.work >= warn_at {
                episode.warned = true;
                let message = format!(
                    "Worker {} has worked {} without a break of at least {}; the limit is {}.",
                    self.id,
                    human_duration(episode.work),
                    human_duration(rules.min_break),
                    human_duration(rules.continuous_limit)
                );
                let amount = seconds(episode.work, warn_at);
                cx.emit(
                    self,
                    Rule::ContinuousWork,
                    Phase::Warning,
                    at,
                    amount,
                    episode.start,
                    message,
                );
            }
            if !episode.violated && episode.work >= rules.continuous_limit {
                episode.violated = true;
                let message = format!(
                    "Worker {} has worked {} without a break of at least {} (limit {}).",
                    self.id,
                    human_duration(episode.work),
                    human_duration(rules.min_break),
                    human_duration(rules.continuous_limit)
                );
                let amount = seconds(episode.work, rules.continuous_limit);
                cx.emit(
                    self,
                    Rule::ContinuousWork,
                    Phase::Violation,
                    at,
                    amount,
                    episode.start,
                    message,
                );
            }
            self.episode = Some(episode);
        }
        if self.fired & DAY_WARNED == 0 && self.day_work >= rules.daily_standard {
            self.fired |= DAY_WARNED;
            let message = format!(
                "Worker {} has worked {} today, reaching the standard working day of {}.",
                self.id,
                human_duration(self.day_work),
                human_duration(rules.daily_standard)
            );
            let amount = seconds(self.day_work, rules.daily_standard);
            cx.emit(
                self,
                Rule::DailyHours,
                Phase::Warning,
                at,
                amount,
                self.day_start,
                message,
            );
        }
        if self.fired & DAY_VIOLATED == 0 && self.day_work >= rules.daily_max {
            self.fired |= DAY_VIOLATED;
            let message = format!(
                "Worker {} has worked {} today, reaching the daily maximum of {}.",
                self.id,
                human_duration(self.day_work),
                human_duration(rules.daily_max)
            );
            let amount = seconds(self.day_work, rules.daily_max);
            cx.emit(
                self,
                Rule::DailyHours,
                Phase::Violation,
                at,
                amount,
                self.day_start,
                message,
            );
        }
        if self.fired & WEEK_VIOLATED == 0 && self.week_work >= rules.weekly_max {
            self.fired |= WEEK_VIOLATED;
            let message = format!(
                "Worker {} has worked {} this week, reaching the weekly maximum of {}.",
                self.id,
                human_duration(self.week_work),
                human_duration(rules.weekly_max)
            );
            let week_start = cx.cal.week_start(self.week);
            let amount = seconds(self.week_work, rules.weekly_max);
            cx.emit(
                self,
                Rule::WeeklyHours,
                Phase::Violation,
                at,
                amount,
                week_start,
                message,
            );
        }
        let overtime = self.month_overtime + (self.day_work - rules.daily_standard).max(0);
        if self.fired & MONTH_VIOLATED == 0 && overtime >= rules.monthly_overtime_max {
            self.fired |= MONTH_VIOLATED;
            let message = format!(
                "Worker {} has {} of overtime this month, reaching the monthly maximum of {}.",
                self.id,
                human_duration(overtime),
                human_duration(rules.monthly_overtime_max)
            );
            let month_start = cx.cal.start_of(self.month);
            let amount = seconds(overtime, rules.monthly_overtime_max);
            cx.emit(
                self,
                Rule::MonthlyOvertime,
                Phase::Violation,
                at,
                amount,
                month_start,
                message,
            );
        }
    }

    /// The first working instant of a local day: the day has work; count the streak.
    fn mark_day_work(&mut self, index: u32, at: i64, cx: &mut Cx<'_>) {
        self.streak = if self.last_work_day == self.day - 1 {
            self.streak + 1
        } else {
            1
        };
        self.last_work_day = self.day;
        self.day_has_work = true;
        cx.day_lists.entry(self.day).or_default().push(index);
        if self.streak % REST_DAY_EVERY == 0 {
            let message = format!(
                "Worker {} is working a {}th consecutive day without a rest day.",
                self.id, self.streak
            );
            let amount = Amount::Seconds {
                value: i64::from(self.streak) * 86_400,
                limit: i64::from(REST_DAY_EVERY) * 86_400,
            };
            cx.emit(
                self,
                Rule::WeeklyRest,
                Phase::Violation,
                at,
                amount,
                self.day_start,
                message,
            );
        }
    }

    /// Closes the current local day at its end and opens `next`.
    fn rollover(&mut self, next: Day, rules: &Rules, cx: &mut Cx<'_>) {
        if self.day_work > 0 {
            self.month_overtime += (self.day_work - rules.daily_standard).max(0);
            if self.day_work >= HOUR && self.day_has_fee {
                let rate = rules.minimum_wage_cents_per_hour;
                let earned = u128::from(self.day_fees) * 3_600_000;
                let due = u128::from(rate) * self.day_work as u128;
                if earned < due {
                    let per_hour = (earned / self.day_work as u128) as u64;
                    let message = format!(
                        "Worker {} earned {}.{:02} yuan per hour on {} ({} fen for {}), below the minimum wage of {}.{:02} yuan per hour.",
                        self.id,
                        per_hour / 100,
                        per_hour % 100,
                        Calendar::date(self.day),
                        self.day_fees,
                        human_duration(self.day_work),
                        rate / 100,
                        rate % 100
                    );
                    let amount = Amount::CentsPerHour {
                        value: per_hour,
                        limit: rate,
                    };
                    let (at, start) = (self.day_end, self.day_start);
                    cx.emit(
                        self,
                        Rule::MinimumWage,
                        Phase::Violation,
                        at,
                        amount,
                        start,
                        message,
                    );
                }
            }
        }
        if self.day_work > 0 {
            cx.observe(Observation::DayClosed {
                worker: self.group(),
                work: self.day_work,
            });
        }
        self.closed_day = self.day;
        self.closed_work = self.day_work;
        self.open_day(next);
    }

    fn open_day(&mut self, day: Day) {
        self.day = day.number;
        self.day_start = day.start;
        self.day_end = day.end;
        self.day_work = 0;
        self.day_has_work = false;
        self.day_fees = 0;
        self.day_has_fee = false;
        // Freed, not cleared: a worker who stops working keeps no allocation.
        self.delivered = Vec::new();
        self.fired &= !(DAY_WARNED | DAY_VIOLATED);
        if day.week != self.week {
            self.week = day.week;
            self.week_work = 0;
            self.fired &= !WEEK_VIOLATED;
        }
        if day.month != self.month {
            self.month = day.month;
            self.month_overtime = 0;
            self.fired &= !MONTH_VIOLATED;
        }
    }

    /// `session_timeout` after the last event: offline, off break, no active orders.
    fn time_out(&mut self, at: i64, cx: &mut Cx<'_>) {
        self.online = false;
        self.on_break = false;
        self.orders.clear();
        self.working = false;
        self.rest_start = at;
        cx.stats.session_timeouts += 1;
    }

    /// A qualifying break completed at `at`: the episode ends.
    fn close_episode(&mut self, at: i64, rules: &Rules, cx: &mut Cx<'_>) {
        if let Some(episode) = self.episode {
            cx.observe(Observation::EpisodeEnded {
                worker: self.group(),
                work: episode.work,
            });
        }
        if let Some(episode) = self.episode.take()
            && episode.violated
        {
            let message = format!(
                "Worker {} completed a break of {} after working {} without one.",
                self.id,
                human_duration(rules.min_break),
                human_duration(episode.work)
            );
            let amount = seconds(episode.work, rules.continuous_limit);
            cx.emit(
                self,
                Rule::ContinuousWork,
                Phase::Resolved,
                at,
                amount,
                episode.start,
                message,
            );
        }
    }

    /// Applies one event at `event.ts`; the caller has advanced the worker to that instant
    /// (or this is the worker's first event) and settles after the instant's last event.
    pub fn apply(&mut self, event: &Pending, cx: &mut Cx<'_>) {
        if self.since == NEVER {
            self.rules = event.rules;
            self.since = event.ts;
            let day = cx.cal.day_at(event.ts);
            self.open_day(day);
        }
        self.last_applied = Some((event.ts, event.seq));
        self.platform = event.platform;
        self.role = event.role;
        self.city = event.city;
        self.last_event = event.ts;
        let changed = match event.kind {
            Kind::Login => {
                let changed = !self.online || self.on_break;
                self.online = true;
                self.on_break = false;
                changed
            }
            Kind::Logout => {
                let changed = self.online || self.on_break;
                self.online = false;
                self.on_break = false;
                changed
            }
            Kind::BreakStart => !std::mem::replace(&mut self.on_break, true),
            Kind::BreakEnd => std::mem::replace(&mut self.on_break, false),
            Kind::OrderAccepted | Kind::OrderPickedUp => {
                let fresh = !self.orders.contains(&event.order);
                if fresh {
                    self.orders.push(event.order);
                }
                fresh
            }
            Kind::OrderDelivered | Kind::OrderCancelled => {
                if event.kind == Kind::OrderDelivered {
                    self.count_delivery(event);
                }
                match self.orders.iter().position(|&order| order == event.order) {
                    Some(at) => {
                        self.orders.swap_remove(at);
                        true
                    }
                    None => false,
                }
            }
            Kind::Heartbeat | Kind::Activity => true,
        };
        if !changed {
            cx.stats.noops += 1;
        }
    }

    fn count_delivery(&mut self, event: &Pending) {
        let first = !self.delivered.contains(&event.order);
        if first && self.delivered.len() < MAX_DELIVERED_PER_DAY {
            self.delivered.push(event.order);
        }
        if let Some(fee) = event.fee {
            self.day_has_fee = true;
            if first {
                self.day_fees = self.day_fees.saturating_add(fee);
            }
        }
    }

    /// Reads the state that holds from `at` on (after every event at `at`) and fires what is
    /// due at `at`. Idempotent at the same instant.
    pub fn settle(&mut self, index: u32, at: i64, cx: &mut Cx<'_>) {
        if self.since == NEVER {
            return;
        }
        // The table outlives `cx`'s borrow: no copy of the rules per call.
        let table = cx.rules;
        let rules = &table[usize::from(self.rules)];
        if self.working
            && rules.session_timeout > 0
            && self.last_event.saturating_add(rules.session_timeout) <= at
        {
            self.time_out(at, cx);
        }
        let working = self.raw_working();
        if working != self.working {
            if !working {
                self.rest_start = at;
            }
            self.working = working;
        }
        if working {
            if self.episode.is_none() {
                self.episode = Some(Episode {
                    start: at,
                    work: 0,
                    warned: false,
                    violated: false,
                });
            }
            self.working_instant(index, at, rules, cx);
        }
    }

    /// The next instant at which this worker needs the engine without a new event.
    pub fn next_wake(&self, rules: &Rules) -> i64 {
        if self.since == NEVER {
            return NONE;
        }
        if self.working {
            if !self.day_has_work {
                // Rolled into a new day at `since` and not settled there yet.
                return self.since;
            }
            let mut wake = self.next_crossing(rules).unwrap_or(NONE);
            if rules.session_timeout > 0 {
                wake = wake.min(self.last_event.saturating_add(rules.session_timeout));
            }
            wake
        } else {
            match self.episode {
                Some(episode) if episode.violated => {
                    self.rest_start.saturating_add(rules.min_break)
                }
                _ => NONE,
            }
        }
    }
}

fn seconds(value_ms: i64, limit_ms: i64) -> Amount {
    Amount::Seconds {
        value: value_ms.div_euclid(1000),
        limit: limit_ms.div_euclid(1000),
    }
}
