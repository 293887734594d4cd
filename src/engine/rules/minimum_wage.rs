//! `minimum_wage`: at the local midnight ending a day with at least 1 h of work and at least
//! one delivery carrying `fee_cents`, the day's fees per hour worked below the rate (SPEC 4;
//! Weihai measure 2). Compared exactly: fees × 3600 s < rate × seconds worked.

use super::{ClosedDay, RuleDef};
use crate::alert::{Amount, Phase, human_duration};
use crate::calendar::{Calendar, Day};
use crate::engine::{Cx, Me};
use crate::pack::{PackError, Reader};

const HOUR: i64 = 3_600_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub cents_per_hour: u64,
}

impl Params {
    /// Reads `cents_per_hour` (default `$minimum_wage_cents_per_hour`).
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        let cents = r.integer_or_key("cents_per_hour", "minimum_wage_cents_per_hour")?;
        if cents < 0 {
            return Err(r.error("`cents_per_hour` must be at least 0"));
        }
        Ok(Params {
            cents_per_hour: cents as u64,
        })
    }
}

/// The local day `day` closed with `closed`.
pub fn close_day(
    def: &RuleDef,
    p: &Params,
    day: &Day,
    closed: &ClosedDay,
    me: &Me<'_>,
    cx: &mut Cx<'_>,
) {
    if closed.work < HOUR || !closed.has_fee {
        return;
    }
    let rate = p.cents_per_hour;
    let earned = u128::from(closed.fees) * 3_600_000;
    let due = u128::from(rate) * closed.work as u128;
    if earned >= due {
        return;
    }
    let per_hour = (earned / closed.work as u128) as u64;
    let message = format!(
        "{} earned {}.{:02} yuan per hour on {} ({} fen for {}), below the minimum wage of {}.{:02} yuan per hour.",
        me.who(),
        per_hour / 100,
        per_hour % 100,
        Calendar::date(day.number),
        closed.fees,
        human_duration(closed.work),
        rate / 100,
        rate % 100
    );
    let amount = Amount::CentsPerHour {
        value: per_hour,
        limit: rate,
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
