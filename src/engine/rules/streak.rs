//! `streak`: consecutive local days with the measure (SPEC 4's `weekly_rest`, Labour Law
//! art. 38: at least one rest day a week). A violation at the first instant of the measure on
//! the `days`-th, 2×`days`-th, ... consecutive day; days before the worker's first event count
//! as rest.

use serde::{Deserialize, Serialize};

use super::{ON, RuleDef, Standing};
use crate::alert::{Amount, Phase};
use crate::calendar::Day;
use crate::engine::measure::Measure;
use crate::engine::{Cx, Me, NONE};
use crate::pack::{PackError, Reader};

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub days: u32,
}

impl Params {
    /// Reads `days` (default 7).
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        let days = r.integer("days")?.unwrap_or(7);
        if !(1..=366).contains(&days) {
            return Err(r.error("`days` must be 1 to 366"));
        }
        Ok(Params { days: days as u32 })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Consecutive local days with the measure, up to `last_day`.
    pub streak: u32,
    pub last_day: i32,
}

impl Default for State {
    fn default() -> Self {
        State {
            streak: 0,
            last_day: i32::MIN,
        }
    }
}

impl State {
    /// Due at `since` when the measure is true on a day not yet counted (the worker's timer).
    pub fn next_crossing(&self, on: bool, since: i64, day: &Day) -> i64 {
        if on && self.last_day != day.number {
            since
        } else {
            NONE
        }
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
        let day = me.day;
        if flags & ON == 0 || self.last_day == day.number {
            return;
        }
        // Consecutive local days: the day before, or the one before it where the day between
        // never began (a zone that skipped a date, Pacific/Apia on 2011-12-30: its start is
        // this day's).
        let consecutive = self.last_day == day.number - 1
            || (self.last_day == day.number - 2 && cx.cal.start_of(day.number - 1) == day.start);
        self.streak = if consecutive { self.streak + 1 } else { 1 };
        self.last_day = day.number;
        if self.streak % p.days != 0 {
            return;
        }
        let doing = match def.measure {
            Measure::Work => "working",
            Measure::Orders => "taking orders",
            Measure::Carrying => "carrying orders",
            Measure::Driving => "driving",
            Measure::Duty => "on duty",
        };
        let message = format!(
            "{} is {doing} a {} consecutive day without a rest day.",
            me.who(),
            ordinal(self.streak)
        );
        let amount = Amount::Seconds {
            value: i64::from(self.streak) * 86_400,
            limit: i64::from(p.days) * 86_400,
        };
        // Resting from `t`, the first working instant of the day, this day has no work: it
        // is the rest day, and work may resume at the next midnight.
        let until = cx.cal.start_of(day.number + 1);
        let split = Vec::new();
        cx.emit(
            me,
            def,
            Phase::Violation,
            t,
            amount,
            day.start,
            message.clone(),
            split,
        );
        cx.hold(me, def, t, until, message);
    }

    /// The days of the run on a local day whose day before is `yesterday` (in the zone's
    /// calendar: where the zone skipped a date, the one before it): the streak while its last
    /// day is that day or later, else 0 (a day without the measure ended it).
    pub fn run(&self, yesterday: i32) -> u32 {
        if self.last_day >= yesterday {
            self.streak
        } else {
            0
        }
    }

    /// The days of the run so far against the next multiple of `days` (SPEC section 7: "how
    /// much more of its measure reaches that threshold"), on local day `today`. Each day
    /// counts from its first instant with the measure, so the `days`-th fires as it begins:
    /// then used reaches the limit, as for every other rule. A run whose last day with the
    /// measure is before yesterday is over: 0 days.
    pub fn standing(&self, p: &Params, today: i32, yesterday: i32) -> Standing {
        let run = self.run(yesterday);
        // Today counted: the threshold reached today or the next; else the next one.
        let thresholds = if self.last_day == today && run > 0 {
            run.div_ceil(p.days)
        } else {
            run / p.days + 1
        };
        let used = i64::from(run) * DAY_MS;
        let limit = i64::from(thresholds) * i64::from(p.days) * DAY_MS;
        Standing {
            used,
            limit,
            left: (limit - used).max(0),
        }
    }
}

/// `n` as an English ordinal: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 22nd, 23rd, 111th.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is left is the days still to count: used and left make the limit, as for every
    /// other rule (it was a day short: 5 days left after the first of 7). On the `days`-th
    /// day used reaches the limit (it showed 0 days used at the violation); a run whose last
    /// day is before yesterday is over (it showed the broken run until the next day of work).
    #[test]
    fn the_days_left_and_the_days_used_make_the_limit() {
        let p = Params { days: 7 };
        let today = 20_000;
        // (streak, its last day, days used, days of the limit)
        let cases = [
            (0, today, 0, 7),
            (1, today, 1, 7),
            (6, today, 6, 7),
            (7, today, 7, 7),
            (8, today, 8, 14),
            (14, today, 14, 14),
            (6, today - 1, 6, 7),
            (7, today - 1, 7, 14),
            (3, today - 2, 0, 7),
            (7, today - 5, 0, 7),
        ];
        for (streak, last_day, used, limit) in cases {
            let state = State { streak, last_day };
            let standing = state.standing(&p, today, today - 1);
            assert_eq!(
                (standing.used, standing.limit, standing.left),
                (used * DAY_MS, limit * DAY_MS, (limit - used) * DAY_MS),
                "a streak of {streak} to day {}",
                last_day - today
            );
        }
    }

    #[test]
    fn ordinals_in_english() {
        let got: Vec<String> = [
            1, 2, 3, 4, 7, 11, 12, 13, 14, 21, 22, 23, 28, 101, 111, 112, 113, 121,
        ]
        .into_iter()
        .map(super::ordinal)
        .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "7th", "11th", "12th", "13th", "14th", "21st", "22nd",
                "23rd", "28th", "101st", "111th", "112th", "113th", "121st"
            ]
        );
    }
}
