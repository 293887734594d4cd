//! `overtime`: the month's sum over days of max(0, the day's measure - `standard`) (SPEC 4's
//! `monthly_overtime`, Labour Law art. 41: at most 36 h a month).

use serde::{Deserialize, Serialize};

use super::{ON, RuleDef, Split, Standing, label, seconds};
use crate::alert::{Phase, human_duration, human_limit};
use crate::calendar::Day;
use crate::engine::{Cx, Me, NONE};
use crate::pack::{PackError, Reader};

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub standard: i64,
    pub limit: i64,
}

impl Params {
    /// Reads `standard` (default `$daily_standard`) and `limit` (`$monthly_overtime_max`).
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        let standard = r.duration_or_key("standard", "daily_standard")?;
        let limit = r.duration_or_key("limit", "monthly_overtime_max")?;
        if standard <= 0 || limit <= 0 {
            return Err(r.error("`standard` and `limit` must be longer than 0s"));
        }
        Ok(Params { standard, limit })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// First day of the current month; `i32::MIN` before the worker's first day.
    pub month: i32,
    /// Overtime of the month's closed days, ms.
    pub closed: i64,
    /// The measure today, ms.
    pub today: i64,
    pub fired: bool,
    /// Persons: the month's time of the measure per platform.
    #[serde(default, skip_serializing_if = "Split::is_empty")]
    pub split: Split,
}

impl Default for State {
    fn default() -> Self {
        State {
            month: i32::MIN,
            closed: 0,
            today: 0,
            fired: false,
            split: Split::default(),
        }
    }
}

impl State {
    fn overtime(&self, p: &Params) -> i64 {
        self.closed + (self.today - p.standard).max(0)
    }

    pub fn open(&mut self, day: &Day) {
        self.month = day.month;
    }

    #[inline]
    pub fn integrate(&mut self, on: bool, span: i64, platforms: &[&str]) {
        if on {
            self.today += span;
            self.split.add(platforms, span);
        }
    }

    pub fn rollover(&mut self, p: &Params, new: &Day) {
        if self.today > 0 {
            self.closed += (self.today - p.standard).max(0);
        }
        self.today = 0;
        if new.month != self.month {
            self.month = new.month;
            self.closed = 0;
            self.fired = false;
            self.split.clear();
        }
    }

    pub fn next_crossing(&self, p: &Params, on: bool, since: i64) -> i64 {
        let now = self.overtime(p);
        if !on || self.fired || now >= p.limit {
            return NONE;
        }
        // Overtime grows only once the day passes the standard.
        let to_standard = (p.standard - self.today).max(0);
        since + to_standard + (p.limit - now)
    }

    pub fn instant(
        &mut self,
        def: &RuleDef,
        p: &Params,
        flags: u8,
        t: i64,
        me: &Me<'_>,
        cx: &mut Cx<'_>,
    ) {
        let overtime = self.overtime(p);
        if flags & ON == 0 || self.fired || overtime < p.limit {
            return;
        }
        self.fired = true;
        let message = format!(
            "{} has {} of overtime this month, reaching {} of {}.",
            me.who(),
            human_duration(overtime),
            label(def, Phase::Violation, "the monthly maximum"),
            human_limit(p.limit)
        );
        let start = cx.cal.start_of(self.month);
        let amount = seconds(overtime, p.limit);
        let next_month = {
            use chrono::Datelike;
            let date = crate::calendar::Calendar::date(self.month);
            let (y, m) = if date.month() == 12 {
                (i64::from(date.year()) + 1, 1)
            } else {
                (i64::from(date.year()), date.month() + 1)
            };
            crate::timefmt::days_from_civil(y, m, 1) as i32
        };
        let until = cx.cal.start_of(next_month);
        let split = self.split.parts();
        cx.emit(
            me,
            def,
            Phase::Violation,
            t,
            amount,
            start,
            message.clone(),
            split,
        );
        cx.hold(me, def, t, until, message);
    }

    pub fn standing(&self, p: &Params) -> Standing {
        let used = self.overtime(p);
        Standing {
            used,
            limit: p.limit,
            left: (p.limit - used).max(0),
        }
    }
}
