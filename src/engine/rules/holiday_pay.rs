//! `holiday_pay` (SPEC 8; Weihai measure 2 and Labour Law art. 44: work on statutory holidays
//! is paid more than normal working time). At the local midnight ending a statutory holiday
//! (from `[time] holidays`; not the swapped rest days around it) on which the worker worked at
//! least 1 h and had paid deliveries: a violation when the day's fees per hour worked are not
//! above `ratio` times the pooled rate of the 28 days before (their fees over their hours,
//! counting the days that are not statutory holidays and have at least 1 h of work and fees).
//! No such day before: no alert. Off when no calendar is configured.

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use super::{ClosedDay, RuleDef};
use crate::alert::{Amount, Phase, human_duration};
use crate::calendar::{Calendar, Day};
use crate::engine::{Cx, Me};
use crate::pack::{KeyValue, PackError, Reader};

const HOUR: i64 = 3_600_000;
/// The days before a holiday whose pay it is compared with.
pub const LOOKBACK_DAYS: i32 = 28;

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// `holiday_pay_ratio`, in millionths (1.0 = 1,000,000), so that rule sets compare exactly.
    pub ratio_ppm: u64,
    /// A holiday calendar is configured (`[time] holidays`): without one the rule is off and
    /// keeps no state.
    pub calendar: bool,
}

/// Why `ratio` cannot be a holiday pay ratio (a pack's `ratio`, `[rules] holiday_pay_ratio`).
pub fn ratio_problem(ratio: f64) -> Option<String> {
    if !(0.0..=100.0).contains(&ratio) {
        return Some(format!("must be 0 to 100, got {ratio}"));
    }
    // Compared exactly (SPEC section 8) in millionths: a finer ratio would be rounded.
    let shown = ratio.to_string();
    if shown.contains('e') || shown.split_once('.').is_some_and(|(_, d)| d.len() > 6) {
        return Some(format!(
            "{shown} has more than 6 decimal places (it is compared exactly, in millionths)"
        ));
    }
    None
}

impl Params {
    /// Reads `ratio` (default `$holiday_pay_ratio`).
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        let ratio = match r.number("ratio")? {
            Some(ratio) => ratio,
            None => match r.key("holiday_pay_ratio")? {
                KeyValue::Number(n) => n,
                KeyValue::Integer(n) => n as f64,
                _ => return Err(r.error("rule key `holiday_pay_ratio` is not a number")),
            },
        };
        if let Some(problem) = ratio_problem(ratio) {
            return Err(r.error(format!("`ratio` {problem}")));
        }
        Ok(Params {
            ratio_ppm: (ratio * 1_000_000.0).round() as u64,
            calendar: true,
        })
    }
}

/// The ordinary paid days of the last four weeks: (day number, work ms, fees fen).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub days: Vec<(i32, i64, u64)>,
    /// With `hours`: today's working time within them (boxed: every rule's state stays small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<Box<super::HoursWork>>,
}

impl State {
    /// The local day `day` closed with `closed`.
    pub fn close_day(
        &mut self,
        def: &RuleDef,
        p: &Params,
        day: &Day,
        closed: &ClosedDay,
        me: &Me<'_>,
        cx: &mut Cx<'_>,
    ) {
        let Some(holidays) = cx.holidays else {
            return;
        };
        self.days
            .retain(|&(number, _, _)| number >= day.number - LOOKBACK_DAYS);
        let paid = closed.work >= HOUR && closed.has_fee;
        let date = Calendar::date(day.number);
        if closed.work > 0 && !holidays.covers(date.year()) {
            cx.stats.uncovered_years.insert(date.year());
        }
        if !holidays.is_statutory(date) {
            if paid {
                self.days.push((day.number, closed.work, closed.fees));
            }
            return;
        }
        if !paid {
            return;
        }
        let (work, fees) = self
            .days
            .iter()
            .filter(|&&(number, _, _)| number < day.number)
            .fold((0i64, 0u128), |(w, f), &(_, work, fees)| {
                (w + work, f + u128::from(fees))
            });
        if work == 0 {
            return;
        }
        // Not above ratio × the pooled rate: fees_h / work_h <= ratio × fees_p / work_p,
        // compared exactly in integers (the ratio in millionths).
        // The pooled fees are summed in 128 bits (28 days of fees near 2^64 each); the ratio is
        // at most 100 (10^8 millionths) and a day's work about 2^27 ms, so no product
        // overflows. Rates beyond 64 bits are shown as the largest.
        let holiday = u128::from(closed.fees) * work as u128 * 1_000_000;
        let normal = u128::from(p.ratio_ppm) * fees * closed.work as u128;
        if holiday > normal {
            return;
        }
        let rate = |n: u128| u64::try_from(n).unwrap_or(u64::MAX);
        let per_hour = rate(u128::from(closed.fees) * 3_600_000 / closed.work as u128);
        let limit = rate(u128::from(p.ratio_ppm) * fees * 3_600_000 / (work as u128 * 1_000_000));
        let pooled = rate(fees * 3_600_000 / work as u128);
        let message = format!(
            "{} earned {}.{:02} yuan per hour on the statutory holiday {} ({} fen for {}), not above {} times the {}.{:02} yuan per hour of the {} days before.",
            me.who(),
            per_hour / 100,
            per_hour % 100,
            Calendar::date(day.number),
            closed.fees,
            human_duration(closed.work),
            p.ratio_ppm as f64 / 1_000_000.0,
            pooled / 100,
            pooled % 100,
            LOOKBACK_DAYS
        );
        let amount = Amount::CentsPerHour {
            value: per_hour,
            limit,
        };
        let split = closed.by_platform.clone();
        cx.emit(
            me,
            def,
            Phase::Violation,
            day.end,
            amount,
            day.start,
            message,
            split,
        );
    }
}
