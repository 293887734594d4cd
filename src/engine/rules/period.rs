//! `period`: the measure summed over the current local day, ISO week or month and the
//! `count - 1` before it (SPEC 4's `daily_hours` and `weekly_hours`; EU 561's 56 h a week and
//! 90 h a fortnight; FMCSA's 60 h in 7 days or 70 h in 8 days with a 34 h restart).
//!
//! The sums of the periods in the window are a small ring, oldest first; the current period
//! is the last. A rest of at least `reset_rest` empties the ring.

use serde::{Deserialize, Serialize};

use super::{
    ByPlatform, ON, PlatformName, REST_ON, RuleDef, Standing, Threshold, crossing, label, seconds,
};

/// Persons: per platform, its sums of the window's periods (aligned with the ring).
type RingSplit = Option<Box<Vec<(PlatformName, Vec<i64>)>>>;
use crate::alert::{Phase, human_duration, human_limit};
use crate::calendar::{Calendar, Day};
use crate::engine::{Cx, Me, NEVER, NONE};
use crate::pack::{PackError, Reader};
use crate::timefmt::days_from_civil;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(text: &str) -> Option<Period> {
        match text {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The period containing `day`, as the day number of its first day.
    fn index(self, day: &Day) -> i32 {
        match self {
            Period::Day => day.number,
            Period::Week => day.week,
            Period::Month => day.month,
        }
    }

    /// The first day of the period after the one starting on day `index`.
    fn next(self, index: i32) -> i32 {
        match self {
            Period::Day => index + 1,
            Period::Week => index + 7,
            Period::Month => {
                let (y, m) = year_month(index);
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) as i32
            }
        }
    }

    /// Periods from the one starting on `from` to the one starting on `to`.
    fn between(self, from: i32, to: i32) -> i64 {
        match self {
            Period::Day => i64::from(to - from),
            Period::Week => i64::from(to - from) / 7,
            Period::Month => {
                let ((y1, m1), (y2, m2)) = (year_month(from), year_month(to));
                (y2 * 12 + i64::from(m2)) - (y1 * 12 + i64::from(m1))
            }
        }
    }

    fn words(self, count: u32) -> String {
        match (self, count) {
            (Period::Day, 1) => "today".into(),
            (Period::Week, 1) => "this week".into(),
            (Period::Month, 1) => "this month".into(),
            (Period::Day, n) => format!("in the last {n} days"),
            (Period::Week, n) => format!("in the last {n} weeks"),
            (Period::Month, n) => format!("in the last {n} months"),
        }
    }
}

fn year_month(day: i32) -> (i64, u32) {
    use chrono::Datelike;
    let date = Calendar::date(day);
    (i64::from(date.year()), date.month())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub period: Period,
    pub count: u32,
    pub limit: i64,
    pub warning: Option<i64>,
    pub reset_rest: Option<i64>,
    pub table: Vec<Threshold>,
}

impl Params {
    /// Reads `period`, `count`, `limit`, `warning` and `reset_rest`.
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        let period = match r.string("period")? {
            Some(text) => Period::parse(&text).ok_or_else(|| {
                r.error(format!(
                    "`period` must be `day`, `week` or `month`, not `{text}`"
                ))
            })?,
            None => return Err(r.error("`period` is required (`day`, `week` or `month`)")),
        };
        let count = r.integer("count")?.unwrap_or(1);
        if !(1..=400).contains(&count) {
            return Err(r.error("`count` must be 1 to 400"));
        }
        let limit = r.positive("limit")?;
        let warning = r.positive_opt("warning")?;
        if warning.is_some_and(|w| w > limit) {
            return Err(r.error("`warning` must not exceed `limit`"));
        }
        let reset_rest = r.positive_opt("reset_rest")?;
        Ok(Params::new(
            period,
            count as u32,
            limit,
            warning,
            reset_rest,
        ))
    }

    pub fn new(
        period: Period,
        count: u32,
        limit: i64,
        warning: Option<i64>,
        reset_rest: Option<i64>,
    ) -> Params {
        let mut table = Vec::new();
        if let Some(amount) = warning {
            table.push(Threshold {
                phase: Phase::Warning,
                amount,
            });
        }
        table.push(Threshold {
            phase: Phase::Violation,
            amount: limit,
        });
        Params {
            period,
            count: count.max(1),
            limit,
            warning,
            reset_rest,
            table,
        }
    }
}

const WARNED: u8 = 1;
const VIOLATED: u8 = 2;

/// What a `count > 1` rule or a person adds to the state, behind one pointer (every worker
/// holds a state per rule, and most rules count one period).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Parts {
    /// The sums of the `count - 1` periods before the current one, oldest first.
    older: Box<[i64]>,
    /// Persons: the window's time per platform.
    split: RingSplit,
}

/// The sums of the periods before the current one (saved as `older`, a list) and, for persons,
/// the window's time per platform (saved as `split`), behind one pointer: the state takes 32
/// bytes instead of 40 with a pointer for each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Older(Option<Box<Parts>>);

impl Older {
    fn new(older: Vec<i64>, split: RingSplit) -> Older {
        Older((!older.is_empty() || split.is_some()).then(|| {
            Box::new(Parts {
                older: older.into_boxed_slice(),
                split,
            })
        }))
    }

    fn split(&self) -> Option<&Vec<(PlatformName, Vec<i64>)>> {
        self.0.as_ref().and_then(|parts| parts.split.as_deref())
    }

    fn split_mut(&mut self) -> Option<&mut Vec<(PlatformName, Vec<i64>)>> {
        self.0.as_mut().and_then(|parts| parts.split.as_deref_mut())
    }

    fn split_or_insert(&mut self) -> &mut Vec<(PlatformName, Vec<i64>)> {
        let parts = self.0.get_or_insert_with(Default::default);
        parts.split.get_or_insert_with(Default::default)
    }

    fn clear_split(&mut self) {
        if let Some(parts) = &mut self.0 {
            parts.split = None;
            if parts.older.is_empty() {
                self.0 = None;
            }
        }
    }
}

impl std::ops::Deref for Older {
    type Target = [i64];
    fn deref(&self) -> &[i64] {
        self.0.as_deref().map_or(&[], |parts| &parts.older)
    }
}

impl std::ops::DerefMut for Older {
    fn deref_mut(&mut self) -> &mut [i64] {
        self.0
            .as_deref_mut()
            .map_or(&mut [], |parts| &mut parts.older)
    }
}

/// The rule's state: 32 bytes. Saved as `{"index", "current", "older", "fired", "rest_start",
/// "resets", "rested", "split"}` (`older`, `resets`, `rested` and `split` when not empty,
/// zero, false and absent).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "Saved")]
pub struct State {
    /// First day of the current period; `i32::MIN` before the worker's first day.
    pub index: i32,
    /// The current period's sum, ms.
    pub current: i64,
    /// The sums of the `count - 1` periods before, oldest first; persons' split.
    older: Older,
    /// Phases fired in the current period (since the last reset rest).
    pub fired: u8,
    pub rest_start: i64,
    /// The reset rests completed in the current period after one of its alerts: the alerts
    /// after them carry the count in their id ([`Alert::resets`]). Two bytes of what was
    /// padding: the state does not grow (memory per worker is a target).
    ///
    /// [`Alert::resets`]: crate::alert::Alert::resets
    pub resets: u16,
    /// In a reset rest that has completed and goes on (with `reset_rest`; the time before the
    /// worker's first instant of the rest's measure is one, as for `since_rest`): the measure
    /// counts nothing until the rest ends. It is true in such a rest only where the rule's
    /// measure is not within its `rest_unless` (`work` with `rest_unless = "driving"`). The
    /// last byte of padding.
    pub rested: bool,
}

/// The saved shape of [`State`].
#[derive(Deserialize)]
struct Saved {
    index: i32,
    current: i64,
    #[serde(default)]
    older: Vec<i64>,
    fired: u8,
    rest_start: i64,
    #[serde(default)]
    resets: u16,
    #[serde(default)]
    rested: bool,
    #[serde(default)]
    split: RingSplit,
}

impl From<Saved> for State {
    fn from(saved: Saved) -> State {
        State {
            index: saved.index,
            current: saved.current,
            older: Older::new(saved.older, saved.split),
            fired: saved.fired,
            rest_start: saved.rest_start,
            resets: saved.resets,
            rested: saved.rested,
        }
    }
}

#[derive(Serialize)]
struct SavedRef<'a> {
    index: i32,
    current: i64,
    #[serde(skip_serializing_if = "<[i64]>::is_empty")]
    older: &'a [i64],
    fired: u8,
    rest_start: i64,
    #[serde(skip_serializing_if = "is_zero")]
    resets: u16,
    #[serde(skip_serializing_if = "is_false")]
    rested: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    split: Option<&'a Vec<(PlatformName, Vec<i64>)>>,
}

impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SavedRef {
            index: self.index,
            current: self.current,
            older: &self.older,
            fired: self.fired,
            rest_start: self.rest_start,
            resets: self.resets,
            rested: self.rested,
            split: self.older.split(),
        }
        .serialize(serializer)
    }
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl State {
    pub fn new(p: &Params) -> State {
        State {
            index: i32::MIN,
            current: 0,
            older: Older::new(vec![0; p.count as usize - 1], None),
            fired: 0,
            rest_start: NEVER,
            resets: 0,
            rested: p.reset_rest.is_some(),
        }
    }

    fn amount(&self) -> i64 {
        self.current + self.older.iter().sum::<i64>()
    }

    fn is_fired(&self, phase: Phase) -> bool {
        self.fired & bit(phase) != 0
    }

    /// The violation fired in the current period (since its last reset rest).
    pub fn violated(&self) -> bool {
        self.is_fired(Phase::Violation)
    }

    /// The worker's first day.
    pub fn open(&mut self, p: &Params, day: &Day) {
        self.index = p.period.index(day);
    }

    #[inline]
    pub fn integrate(&mut self, on: bool, span: i64, platforms: &[&str]) {
        if !on || self.rested {
            return;
        }
        self.current += span;
        if !platforms.is_empty() {
            self.integrate_split(span, platforms);
        }
    }

    /// Persons: `span` ms for each of `platforms` in the current slot of their rings.
    fn integrate_split(&mut self, span: i64, platforms: &[&str]) {
        let slots = self.older.len() + 1;
        let split = self.older.split_or_insert();
        for &platform in platforms {
            match super::split_entry(platform, split.len(), |name| {
                split.iter().position(|(p, _)| **p == *name)
            }) {
                Ok(i) => *split[i].1.last_mut().expect("a ring has a slot") += span,
                Err(name) => {
                    let mut ring = vec![0; slots];
                    ring[slots - 1] = span;
                    split.push((name.into(), ring));
                }
            }
        }
    }

    /// Persons: the window's time per platform.
    fn split_parts(&self) -> ByPlatform {
        self.older
            .split()
            .map(|split| {
                split
                    .iter()
                    .map(|(p, ring)| (p.clone(), ring.iter().sum::<i64>()))
                    .filter(|&(_, ms)| ms > 0)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn next_crossing(&self, p: &Params, on: bool, since: i64) -> i64 {
        if !on || self.rested {
            return NONE;
        }
        crossing(&p.table, |phase| self.is_fired(phase), self.amount(), since)
    }

    /// When the current rest completes as a reset rest, if that changes anything: the count or
    /// the phases fired start again, or the measure, `on` in the rest (a measure not within
    /// `rest_unless`), counts nothing from then on.
    pub fn next_completion(&self, p: &Params, on: bool) -> i64 {
        match p.reset_rest {
            Some(rest) if !self.rested && (self.fired != 0 || self.amount() > 0 || on) => {
                self.rest_start.saturating_add(rest)
            }
            _ => NONE,
        }
    }

    /// A reset rest completed: time before it no longer counts, and the phases may fire again
    /// (with ids of their own, when one had fired).
    pub fn complete(&mut self) {
        if self.fired != 0 {
            self.resets = self.resets.saturating_add(1);
        }
        self.current = 0;
        self.older.iter_mut().for_each(|sum| *sum = 0);
        self.fired = 0;
        self.older.clear_split();
        self.rested = true;
    }

    pub fn rollover(&mut self, p: &Params, old: &Day, new: &Day) {
        let index = p.period.index(new);
        if self.index == i32::MIN {
            self.index = p.period.index(old);
        }
        if index == self.index {
            return;
        }
        let shift = p.period.between(self.index, index).max(0) as usize;
        self.index = index;
        self.fired = 0;
        self.resets = 0;
        if shift == 0 {
            return;
        }
        if self.older.is_empty() {
            self.current = 0;
        } else {
            let mut ring: Vec<i64> = self.older.to_vec();
            ring.push(self.current);
            shift_ring(&mut ring, shift);
            self.current = ring.pop().unwrap_or(0);
            self.older.copy_from_slice(&ring);
        }
        if let Some(split) = self.older.split_mut() {
            for (_, ring) in split.iter_mut() {
                shift_ring(ring, shift);
            }
            split.retain(|(_, ring)| ring.iter().any(|&ms| ms > 0));
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn instant(
        &mut self,
        def: &RuleDef,
        p: &Params,
        before: u8,
        flags: u8,
        t: i64,
        me: &Me<'_>,
        cx: &mut Cx<'_>,
    ) {
        if before & REST_ON != 0 && flags & REST_ON == 0 {
            self.rest_start = t;
        }
        if flags & REST_ON != 0 {
            self.rested = false;
        }
        if flags & ON == 0 {
            return;
        }
        let amount = self.amount();
        for threshold in &p.table {
            if self.is_fired(threshold.phase) || amount < threshold.amount {
                continue;
            }
            self.fired |= bit(threshold.phase);
            let default = match threshold.phase {
                Phase::Warning => "the warning threshold",
                _ => "the limit",
            };
            let message = format!(
                "{} has {} {} {}, reaching {} of {}.",
                me.who(),
                def.done(),
                human_duration(amount),
                p.period.words(p.count),
                label(def, threshold.phase, default),
                human_limit(threshold.amount)
            );
            let start = (cx.cal.start_of(self.index), self.resets);
            let value = seconds(amount, threshold.amount);
            if threshold.phase == Phase::Violation {
                let until = self.until(p, t, cx.cal);
                let split = self.split_parts();
                cx.emit_after(
                    me,
                    def,
                    Phase::Violation,
                    t,
                    value,
                    start,
                    message.clone(),
                    split,
                );
                cx.hold(me, def, t, until, message);
            } else {
                let split = self.split_parts();
                cx.emit_after(me, def, threshold.phase, t, value, start, message, split);
            }
        }
    }

    /// When the worker, resting from `from`, could work again under this rule: the first
    /// period boundary at which the window's sum is below the limit, or a reset rest's end.
    fn until(&self, p: &Params, from: i64, cal: &mut Calendar) -> i64 {
        let mut ring = self.older.to_vec();
        ring.push(self.current);
        let mut index = self.index;
        let mut at = NONE;
        for dropped in 1..=ring.len() {
            index = p.period.next(index);
            if ring[dropped..].iter().sum::<i64>() < p.limit {
                at = cal.start_of(index);
                break;
            }
        }
        match p.reset_rest {
            Some(rest) => at.min(from + rest),
            None => at,
        }
    }

    pub fn standing(&self, p: &Params) -> Standing {
        let used = self.amount();
        Standing {
            used,
            limit: p.limit,
            left: (p.limit - used).max(0),
        }
    }
}

/// Moves a window of sums (oldest first) `shift` periods on: the oldest leave, zeros enter.
fn shift_ring(ring: &mut Vec<i64>, shift: usize) {
    let len = ring.len();
    let keep = len.saturating_sub(shift);
    ring.drain(..len - keep);
    ring.resize(len, 0);
}

fn bit(phase: Phase) -> u8 {
    match phase {
        Phase::Warning => WARNED,
        _ => VIOLATED,
    }
}
